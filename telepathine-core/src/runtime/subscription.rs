//! Bounded, never-blocking subscription queues.
//!
//! # Policy
//! Each subscription buffers up to its capacity ([`DEFAULT_SUBSCRIPTION_CAPACITY`] unless the
//! builder says otherwise). The driver never waits for a subscriber: when a queue is full, the
//! *oldest* buffered item is dropped to make room and the subscription's
//! [`lagged`](Subscription::lagged) count grows (and a `tracing` warning is emitted), so a slow
//! consumer sees the most recent items and can tell exactly how many it missed.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_lite::Stream;

use super::error::Error;
use super::updates::Heard;

/// Items a subscription buffers before it starts dropping the oldest.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 4096;

struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    lagged: u64,
    waker: Option<Waker>,
    /// No more items will come: the node was shut down for good.
    closed: bool,
    /// The receiving [`Subscription`] was dropped; the registry forgets the queue.
    detached: bool,
}

/// The queue shared by the registry (producer) and one [`Subscription`] (consumer).
pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
}

/// What [`Queue::push`] did.
pub(crate) enum Pushed {
    /// Buffered.
    Ok,
    /// Buffered after dropping the oldest item.
    Lagged,
    /// The subscriber is gone; forget the queue.
    Detached,
}

impl<T> Queue<T> {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                capacity: capacity.max(1),
                lagged: 0,
                waker: None,
                closed: false,
                detached: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the queue inconsistent (every critical
        // section is a few field updates), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Buffers `item` without ever waiting.
    pub(crate) fn push(&self, item: T) -> Pushed {
        let mut s = self.lock();
        if s.detached {
            return Pushed::Detached;
        }
        let mut result = Pushed::Ok;
        if s.items.len() >= s.capacity {
            s.items.pop_front();
            s.lagged += 1;
            result = Pushed::Lagged;
        }
        s.items.push_back(item);
        let waker = s.waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
        result
    }

    /// Whether the receiving [`Subscription`] was dropped.
    pub(crate) fn is_detached(&self) -> bool {
        self.lock().detached
    }

    /// Ends the stream once buffered items are consumed.
    pub(crate) fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        let waker = s.waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = self.lock();
        if let Some(item) = s.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A stream of items a node delivers: [`Heard`] events, [`KeyUpdate`](super::KeyUpdate)s or
/// core [`Event`](crate::Event)s. It implements [`futures_lite::Stream`] (the `futures-core`
/// trait, so `StreamExt` of `futures`, `futures-lite` or `tokio-stream` all work) and offers
/// [`recv`](Subscription::recv) for use without any extension trait.
///
/// It survives `stop()` and `start()`, and ends only when the node is shut down for good.
/// Dropping it unsubscribes.
///
/// # When the subscriber lags
/// It buffers up to its capacity ([`DEFAULT_SUBSCRIPTION_CAPACITY`] unless the builder's
/// `subscription_capacity` says otherwise). The node never waits for a subscriber: when the
/// buffer is full, the *oldest* item is dropped to make room and [`lagged`](Self::lagged)
/// grows (a `tracing` warning is also emitted), so a slow consumer sees the most recent items
/// and knows exactly how many it missed.
pub struct Subscription<T> {
    queue: Arc<Queue<T>>,
}

impl<T> Subscription<T> {
    pub(crate) fn new(queue: Arc<Queue<T>>) -> Self {
        Subscription { queue }
    }

    /// The next item; `None` once the node is shut down and everything buffered was read.
    pub async fn recv(&mut self) -> Option<T> {
        futures_lite::future::poll_fn(|cx| self.queue.poll_pop(cx)).await
    }

    /// The next buffered item, if one is ready now.
    pub fn try_recv(&mut self) -> Option<T> {
        self.queue.lock().items.pop_front()
    }

    /// How many items were dropped so far because this subscriber fell more than its capacity
    /// behind. Zero means nothing was missed.
    pub fn lagged(&self) -> u64 {
        self.queue.lock().lagged
    }
}

impl<T> Stream for Subscription<T> {
    type Item = T;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.queue.poll_pop(cx)
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        let mut s = self.queue.lock();
        s.detached = true;
        s.items.clear();
    }
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.queue.lock();
        f.debug_struct("Subscription")
            .field("buffered", &s.items.len())
            .field("lagged", &s.lagged)
            .finish()
    }
}

/// The future returned by [`Telepathine::hear_once`](super::Telepathine::hear_once): the
/// subscription is made when `hear_once` is called, so nothing said afterwards is missed even
/// if the future is polled later. Resolves to the first matching event, to
/// [`Error::Pattern`] for a refused pattern, or to [`Error::Closed`] if the node is shut down
/// first.
#[derive(Debug)]
pub struct HearOnce {
    state: Option<Result<Subscription<Heard>, Error>>,
}

impl HearOnce {
    pub(crate) fn new(subscription: Result<Subscription<Heard>, Error>) -> Self {
        HearOnce {
            state: Some(subscription),
        }
    }
}

impl Future for HearOnce {
    type Output = Result<Heard, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let poll = match &self.state {
            None => return Poll::Ready(Err(Error::Closed)),
            Some(Err(_)) => Poll::Ready(None),
            Some(Ok(sub)) => sub.queue.poll_pop(cx),
        };
        let Poll::Ready(item) = poll else {
            return Poll::Pending;
        };
        // Unsubscribe at once (the registry forgets a dropped subscription), so this fires once.
        match self.state.take() {
            Some(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(item.ok_or(Error::Closed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_its_oldest_and_counts_it() {
        let queue = Queue::new(3);
        let mut sub = Subscription::new(Arc::clone(&queue));
        let pushed: Vec<bool> = (0..5)
            .map(|i| matches!(queue.push(i), Pushed::Lagged))
            .collect();
        assert_eq!(pushed, [false, false, false, true, true]);
        assert_eq!(sub.lagged(), 2);
        assert_eq!(
            [
                sub.try_recv(),
                sub.try_recv(),
                sub.try_recv(),
                sub.try_recv()
            ],
            [Some(2), Some(3), Some(4), None]
        );
        queue.close();
        assert_eq!(futures_lite::future::block_on(sub.recv()), None);
    }

    #[test]
    fn dropping_the_subscription_detaches_the_queue() {
        let queue = Queue::new(3);
        drop(Subscription::new(Arc::clone(&queue)));
        assert!(queue.is_detached());
        assert!(matches!(queue.push(1), Pushed::Detached));
    }
}
