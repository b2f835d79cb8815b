//! Wake-up signals for the driver and its tasks: a coalescing wake flag, a one-way latch, and a
//! runtime-agnostic timeout.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use event_listener::Event;

use super::traits::Runtime;

/// `Some(output)` if `fut` completes within `limit`, `None` otherwise.
pub(crate) async fn timeout<R: Runtime, F: Future>(
    rt: &R,
    limit: Duration,
    fut: F,
) -> Option<F::Output> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        rt.sleep(limit).await;
        None
    })
    .await
}

/// A level-triggered wake-up: [`Wake::notify`] sets a flag, [`Wake::wait`] returns as soon as
/// the flag is set and clears it. Notifications between two waits coalesce into one, which is
/// what a "something changed, look again" signal needs.
#[derive(Default)]
pub(crate) struct Wake {
    flag: AtomicBool,
    event: Event,
}

impl Wake {
    pub(crate) fn notify(&self) {
        self.flag.store(true, Ordering::Release);
        self.event.notify(usize::MAX);
    }

    pub(crate) async fn wait(&self) {
        loop {
            if self.flag.swap(false, Ordering::AcqRel) {
                return;
            }
            let listener = self.event.listen();
            // Re-check after registering, so a notify between the check and `listen` is seen.
            if self.flag.swap(false, Ordering::AcqRel) {
                return;
            }
            listener.await;
        }
    }
}

/// A one-way latch many tasks can wait for (shutdown, "all tasks ended").
#[derive(Default)]
pub(crate) struct Latch {
    set: AtomicBool,
    event: Event,
}

impl Latch {
    pub(crate) fn set(&self) {
        self.set.store(true, Ordering::Release);
        self.event.notify(usize::MAX);
    }

    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    pub(crate) async fn wait(&self) {
        while !self.is_set() {
            let listener = self.event.listen();
            if self.is_set() {
                return;
            }
            listener.await;
        }
    }
}
