//! Time as the core sees it: plain numbers handed in by the driver.
//!
//! The core never reads a clock. Drivers pass a monotonic [`Timestamp`] with every input, and
//! separately tell the node what the wall clock says (see `Node::handle_wall_clock`) because key
//! expiry is expressed in Unix milliseconds, which peers must agree on.

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the driver's monotonic clock, in milliseconds since an arbitrary origin.
///
/// Simulators build these from virtual time; adapters from `Instant` relative to their start.
/// The node clamps every timestamp it is given to the largest one seen, so a clock that steps
/// backwards only makes time stand still.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The origin of the monotonic clock.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp `ms` milliseconds after the clock's origin.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the clock's origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms(rhs)))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(duration_ms(rhs)))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Whole milliseconds in `d`, saturating at `u64::MAX`.
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_millis(10);
        assert_eq!((t - Duration::from_millis(20)).as_millis(), 0);
        assert_eq!(
            (Timestamp::from_millis(u64::MAX) + Duration::from_millis(1)).as_millis(),
            u64::MAX
        );
        assert_eq!(
            Timestamp::from_millis(5).saturating_since(t),
            Duration::ZERO
        );
        assert_eq!(
            t.saturating_since(Timestamp::from_millis(4)),
            Duration::from_millis(6)
        );
    }
}
