//! `after` and `every`: callbacks scheduled against a node, as in the original.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::handle::Telepathine;
use super::traits::Runtime;

/// A scheduled callback. Dropping it leaves the callback scheduled; [`Timer::cancel`] stops it.
/// Callbacks also stop when the node is shut down for good.
#[derive(Clone, Debug, Default)]
pub struct Timer {
    cancelled: Arc<AtomicBool>,
}

impl Timer {
    /// Stops future runs (a run in progress completes).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

impl<R: Runtime> Telepathine<R> {
    /// Runs `callback` with this node once, `delay` from now. Skipped if the node is stopped or
    /// gone by then.
    pub fn after<F, Fut>(&self, delay: Duration, callback: F) -> Timer
    where
        F: FnOnce(Telepathine<R>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let timer = Timer::default();
        let t = timer.clone();
        let weak = self.downgrade();
        let rt = self.runtime().clone();
        self.runtime().spawn(async move {
            rt.sleep(delay).await;
            if let Some(node) =
                Telepathine::upgrade(&weak).filter(|n| n.is_running() && !t.is_cancelled())
            {
                callback(node).await;
            }
        });
        timer
    }

    /// Runs `callback` with this node every `interval` while it is started (ticks while stopped
    /// are skipped; runs never overlap). Never fails: a zero interval is raised to 1 ms.
    pub fn every<F, Fut>(&self, interval: Duration, mut callback: F) -> Timer
    where
        F: FnMut(Telepathine<R>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let interval = interval.max(Duration::from_millis(1));
        let timer = Timer::default();
        let t = timer.clone();
        let weak = self.downgrade();
        let rt = self.runtime().clone();
        self.runtime().spawn(async move {
            loop {
                rt.sleep(interval).await;
                if t.is_cancelled() {
                    return;
                }
                // Hold the handle only while the callback runs, so the timer never keeps the
                // node alive.
                let Some(node) = Telepathine::upgrade(&weak) else {
                    return;
                };
                if node.is_running() {
                    callback(node).await;
                }
            }
        });
        timer
    }
}
