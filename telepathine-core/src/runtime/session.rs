//! One running period of a node, from `start()` to `stop()`: its sockets, its tasks and the
//! signals that end them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use event_listener::Event;

use super::outbound::Outbound;
use super::signal::Latch;
use super::traits::Runtime;

/// How a session is asked to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopRequest {
    /// Keep running.
    None,
    /// Leave gracefully: tell peers, flush, close.
    Leave,
    /// Vanish as a crash would: send nothing more.
    Halt,
}

/// The sockets and tasks of one start-to-stop period.
pub(crate) struct Session<R: Runtime> {
    /// The UDP socket, absent with `udp(false)`.
    pub udp: Option<Arc<R::UdpSocket>>,
    /// Outbound TCP connections.
    pub outbound: Outbound,
    stop: AtomicU8,
    shutdown: Latch,
    tasks: Arc<TaskCount>,
    /// The `telepathine{peer=...}` span every task of the session runs in, so that logs of
    /// several nodes in one process can be told apart.
    span: tracing::Span,
    /// Open inbound connections, bounded by the builder's `max_connections`.
    pub inbound: AtomicUsize,
}

impl<R: Runtime> Session<R> {
    pub(crate) fn new(udp: Option<Arc<R::UdpSocket>>, span: tracing::Span) -> Arc<Self> {
        Arc::new(Session {
            udp,
            span,
            outbound: Outbound::default(),
            stop: AtomicU8::new(0),
            shutdown: Latch::default(),
            tasks: Arc::default(),
            inbound: AtomicUsize::new(0),
        })
    }

    pub(crate) fn request_stop(&self, request: StopRequest) {
        let code = match request {
            StopRequest::None => 0,
            StopRequest::Leave => 1,
            StopRequest::Halt => 2,
        };
        // The first request wins: a halt does not turn into a leave or back.
        let _ = self
            .stop
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn stop_request(&self) -> StopRequest {
        match self.stop.load(Ordering::Acquire) {
            0 => StopRequest::None,
            1 => StopRequest::Leave,
            _ => StopRequest::Halt,
        }
    }

    /// Tells every task of the session to finish (writers first flush what is queued).
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.set();
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_set()
    }

    /// Completes when the session is shutting down.
    pub(crate) async fn until_shutdown(&self) {
        self.shutdown.wait().await
    }

    /// Spawns `task` as part of the session; [`Session::until_idle`] waits for it.
    pub(crate) fn spawn(self: &Arc<Self>, rt: &R, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.running.fetch_add(1, Ordering::AcqRel);
        let guard = TaskGuard(Arc::clone(&self.tasks));
        let task = tracing::Instrument::instrument(task, self.span.clone());
        rt.spawn(async move {
            let _guard = guard;
            task.await;
        });
    }

    /// Waits until every task of the session has ended, or `limit` passed. Returns whether all
    /// ended.
    pub(crate) async fn until_idle(&self, rt: &R, limit: Duration) -> bool {
        let all_ended = async {
            while self.tasks.running.load(Ordering::Acquire) > 0 {
                let listener = self.tasks.changed.listen();
                if self.tasks.running.load(Ordering::Acquire) == 0 {
                    break;
                }
                listener.await;
            }
        };
        super::signal::timeout(rt, limit, all_ended).await.is_some()
    }
}

/// The number of running tasks of a session. Kept apart from the [`Session`] so that a task's
/// guard does not own the session: when the count reaches zero every task has dropped its
/// session handle, so the sockets close as soon as the caller drops its own.
#[derive(Default)]
struct TaskCount {
    running: AtomicUsize,
    changed: Event,
}

/// Counts a running task; dropping it (after the task's future, which is dropped first)
/// uncounts it.
struct TaskGuard(Arc<TaskCount>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify(usize::MAX);
    }
}
