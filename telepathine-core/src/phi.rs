//! The phi-accrual failure detector (Hayashibara et al., 2004).

use alloc::collections::VecDeque;
use core::time::Duration;

use crate::time::Timestamp;

/// Judges one peer from the arrival times of its heartbeats.
///
/// Instead of a yes/no timeout it yields `phi`, the negative decimal logarithm of the
/// probability that a heartbeat would still be this late if the peer were alive, from a normal
/// fit of recent inter-arrival times. The approximation of the normal CDF is the logistic one
/// used by Akka and Cassandra.
#[derive(Clone, Debug)]
pub struct PhiDetector {
    intervals: VecDeque<u64>,
    capacity: usize,
    sum: u64,
    sum_sq: u128,
    last: Option<Timestamp>,
    min_std_dev_ms: f64,
}

impl PhiDetector {
    /// A detector that remembers `capacity` intervals, seeded with one `expected` interval so the
    /// first judgements are sane.
    pub fn new(capacity: usize, expected: Duration, min_std_dev: Duration) -> Self {
        let mut d = PhiDetector {
            intervals: VecDeque::with_capacity(capacity.max(2)),
            capacity: capacity.max(2),
            sum: 0,
            sum_sq: 0,
            last: None,
            min_std_dev_ms: min_std_dev.as_millis() as f64,
        };
        d.push(crate::time::duration_ms(expected).max(1));
        d
    }

    fn push(&mut self, interval: u64) {
        if self.intervals.len() == self.capacity
            && let Some(old) = self.intervals.pop_front()
        {
            self.sum -= old;
            self.sum_sq -= u128::from(old) * u128::from(old);
        }
        self.intervals.push_back(interval);
        self.sum += interval;
        self.sum_sq += u128::from(interval) * u128::from(interval);
    }

    /// Records a heartbeat that arrived at `now`.
    pub fn heartbeat(&mut self, now: Timestamp) {
        if let Some(last) = self.last {
            let interval = now.as_millis().saturating_sub(last.as_millis());
            if interval > 0 {
                self.push(interval);
            }
        }
        self.last = Some(now);
    }

    /// Forgets when the last heartbeat came, as after a local pause: judging resumes from `now`
    /// as if a heartbeat had just arrived, and the pause is not counted as an interval.
    pub fn restart_clock(&mut self, now: Timestamp) {
        if self.last.is_some() {
            self.last = Some(now);
        }
    }

    /// When the last heartbeat arrived.
    pub fn last_heartbeat(&self) -> Option<Timestamp> {
        self.last
    }

    /// Whether at least one heartbeat has arrived.
    pub fn has_heard(&self) -> bool {
        self.last.is_some()
    }

    /// Mean of the remembered intervals, in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        self.sum as f64 / self.intervals.len() as f64
    }

    /// Suspicion level at `now`; 0 before the first heartbeat.
    pub fn phi(&self, now: Timestamp) -> f64 {
        let Some(last) = self.last else { return 0.0 };
        let elapsed = now.as_millis().saturating_sub(last.as_millis()) as f64;
        let n = self.intervals.len() as f64;
        let mean = self.mean_ms();
        let variance = (self.sum_sq as f64 / n - mean * mean).max(0.0);
        let std_dev = variance.sqrt().max(self.min_std_dev_ms).max(1.0);
        let y = (elapsed - mean) / std_dev;
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        let phi = if elapsed > mean {
            -(e / (1.0 + e)).log10()
        } else {
            -(1.0 - 1.0 / (1.0 + e)).log10()
        };
        if phi.is_finite() {
            phi.max(0.0)
        } else {
            f64::MAX
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_millis(v)
    }

    fn regular(every: u64, beats: u64) -> PhiDetector {
        let mut d = PhiDetector::new(100, Duration::from_millis(every), Duration::from_millis(50));
        for i in 0..beats {
            d.heartbeat(ms(i * every));
        }
        d
    }

    #[test]
    fn phi_grows_with_silence() {
        let d = regular(1000, 20);
        let last = 19 * 1000;
        let on_time = d.phi(ms(last + 1000));
        let late = d.phi(ms(last + 1500));
        let very_late = d.phi(ms(last + 3000));
        assert!(on_time < 1.0, "on time phi {on_time}");
        assert!(late > on_time);
        assert!(very_late > 8.0, "3x late phi {very_late}");
    }

    #[test]
    fn jittery_peer_is_judged_leniently() {
        let mut d = PhiDetector::new(100, Duration::from_millis(1000), Duration::from_millis(50));
        let mut t = 0;
        for i in 0..40 {
            t += if i % 2 == 0 { 600 } else { 1400 };
            d.heartbeat(ms(t));
        }
        let steady = regular(1000, 40);
        let at = 1800;
        assert!(d.phi(ms(t + at)) < steady.phi(ms(39 * 1000 + at)));
    }

    #[test]
    fn restart_clock_forgives_a_local_pause() {
        let mut d = regular(1000, 10);
        assert!(d.phi(ms(9000 + 60_000)) > 8.0);
        d.restart_clock(ms(69_000));
        assert!(d.phi(ms(69_500)) < 1.0);
        assert_eq!(d.intervals.len(), 10, "the pause is not an interval");
    }

    #[test]
    fn silent_detector_never_convicts() {
        let d = PhiDetector::new(10, Duration::from_millis(1000), Duration::from_millis(50));
        assert_eq!(d.phi(ms(1_000_000)), 0.0);
        assert!(!d.has_heard());
    }

    #[test]
    fn window_is_bounded() {
        let d = regular(10, 1000);
        assert_eq!(d.intervals.len(), 100);
        assert!((d.mean_ms() - 10.0).abs() < 1e-9);
    }
}
