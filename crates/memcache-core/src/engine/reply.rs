//! The channel a caller's [`Outcome`] travels on: a oneshot channel whose shared slot is
//! recycled. Whichever end is dropped last puts the slot on a small per-thread free list,
//! and the next request made on that thread takes it from there, so in steady state a
//! request allocates nothing for its reply.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::engine::request::Outcome;

/// Slots a thread keeps for reuse; beyond this, freed slots are deallocated.
const FREE_SLOTS: usize = 256;

thread_local! {
    static FREE: RefCell<Vec<Arc<Slot>>> = const { RefCell::new(Vec::new()) };
}

/// The receiving end was dropped, or the sending end was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Canceled;

#[derive(Debug, Default)]
struct Slot {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    outcome: Option<Outcome>,
    waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section below leaves the state consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A sender and receiver sharing one slot, reused when this thread has one free.
pub(crate) fn channel() -> (ReplySender, ReplyReceiver) {
    let slot = FREE
        .try_with(|free| free.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default();
    (
        ReplySender {
            slot: Some(slot.clone()),
        },
        ReplyReceiver { slot: Some(slot) },
    )
}

/// Puts `slot` on this thread's free list if nothing else refers to it.
fn recycle(mut slot: Arc<Slot>) {
    let Some(unique) = Arc::get_mut(&mut slot) else {
        return;
    };
    *unique
        .state
        .get_mut()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = State::default();
    // During thread teardown the list may be gone: the slot is then simply freed.
    let _ = FREE.try_with(|free| {
        if let Ok(mut free) = free.try_borrow_mut() {
            if free.len() < FREE_SLOTS {
                free.push(slot);
            }
        }
    });
}

/// Completes one caller.
#[derive(Debug)]
pub(crate) struct ReplySender {
    /// Taken only when the sender is dropped.
    slot: Option<Arc<Slot>>,
}

impl ReplySender {
    /// Hands `outcome` to the receiver; gives it back if the receiver is gone.
    pub(crate) fn send(self, outcome: Outcome) -> Result<(), Outcome> {
        let Some(slot) = &self.slot else {
            return Err(outcome);
        };
        let waker = {
            let mut state = slot.lock();
            if state.receiver_gone {
                return Err(outcome);
            }
            state.outcome = Some(outcome);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone (its caller gave up).
    pub(crate) fn is_canceled(&self) -> bool {
        self.slot
            .as_ref()
            .is_none_or(|slot| slot.lock().receiver_gone)
    }
}

impl Drop for ReplySender {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        let waker = {
            let mut state = slot.lock();
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        recycle(slot);
    }
}

/// Waits for one caller's outcome.
#[derive(Debug)]
pub(crate) struct ReplyReceiver {
    /// `None` once the outcome was taken or the wait ended.
    slot: Option<Arc<Slot>>,
}

impl ReplyReceiver {
    /// The outcome if it has arrived, without waiting.
    ///
    /// # Errors
    /// [`Canceled`] when the sender is gone without sending.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn try_recv(&mut self) -> Result<Option<Outcome>, Canceled> {
        let Some(slot) = &self.slot else {
            return Err(Canceled);
        };
        let mut state = slot.lock();
        match state.outcome.take() {
            Some(outcome) => Ok(Some(outcome)),
            None if state.sender_gone => Err(Canceled),
            None => Ok(None),
        }
    }
}

impl Future for ReplyReceiver {
    type Output = Result<Outcome, Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(slot) = &self.slot else {
            return Poll::Ready(Err(Canceled));
        };
        let mut state = slot.lock();
        if let Some(outcome) = state.outcome.take() {
            return Poll::Ready(Ok(outcome));
        }
        if state.sender_gone {
            return Poll::Ready(Err(Canceled));
        }
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for ReplyReceiver {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            {
                let mut state = slot.lock();
                state.receiver_gone = true;
                state.waker = None;
            }
            recycle(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn timed_out() -> Outcome {
        Outcome::Failed(Error::Timeout {
            node: "n".into(),
            written: true,
        })
    }

    #[test]
    fn an_outcome_reaches_its_receiver_once() {
        let (sender, mut receiver) = channel();
        assert!(matches!(receiver.try_recv(), Ok(None)));
        assert!(!sender.is_canceled());
        assert!(sender.send(timed_out()).is_ok());
        assert!(matches!(
            receiver.try_recv(),
            Ok(Some(Outcome::Failed(Error::Timeout { .. })))
        ));
        assert!(matches!(receiver.try_recv(), Err(Canceled)));
    }

    #[test]
    fn either_end_leaving_is_seen_by_the_other() {
        let (sender, mut receiver) = channel();
        drop(sender);
        assert!(matches!(receiver.try_recv(), Err(Canceled)));
        let (sender, receiver) = channel();
        drop(receiver);
        assert!(sender.is_canceled());
        assert!(sender.send(Outcome::Failed(Error::Closed)).is_err());
    }

    #[test]
    fn a_recycled_slot_starts_empty() {
        let (sender, receiver) = channel();
        let first = sender.slot.as_ref().map(Arc::as_ptr);
        assert!(sender.send(timed_out()).is_ok());
        drop(receiver);
        // The slot went back to this thread's list and is handed out again, clean.
        let (sender, mut receiver) = channel();
        assert_eq!(sender.slot.as_ref().map(Arc::as_ptr), first);
        assert!(matches!(receiver.try_recv(), Ok(None)));
        assert!(!sender.is_canceled());
    }

    #[test]
    fn a_waiting_receiver_is_woken() {
        let (sender, receiver) = channel();
        let waiter = std::thread::spawn(move || futures::executor::block_on(receiver));
        assert!(sender.send(timed_out()).is_ok());
        assert!(matches!(
            waiter.join().unwrap(),
            Ok(Outcome::Failed(Error::Timeout { .. }))
        ));
    }
}
