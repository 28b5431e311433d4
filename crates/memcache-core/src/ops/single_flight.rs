//! The keys a `get_or_compute` of this process is computing: the callers the lease told to
//! wait look again the moment the computation lands, instead of polling the server. The
//! lease still settles who computes, across processes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};

/// Completes when a computation ends (its sender dropped).
pub(crate) type Landed = Shared<oneshot::Receiver<()>>;

/// The keys being computed, each with the signal that its computation ended.
#[derive(Default)]
pub(crate) struct Flights {
    flying: Mutex<HashMap<Box<[u8]>, Landed>>,
}

/// A registered computation: unregisters it when dropped, whatever happened, and wakes the
/// callers waiting for it.
pub(crate) struct Landing<'a> {
    flights: &'a Flights,
    key: Box<[u8]>,
    // Dropped with the guard: the followers' receivers complete.
    _done: oneshot::Sender<()>,
}

impl Flights {
    /// The computation of `key` in progress, if any: completes when it is done.
    pub(crate) fn computing(&self, key: &[u8]) -> Option<Landed> {
        let flying = self.flying.lock().unwrap_or_else(PoisonError::into_inner);
        flying.get(key).cloned()
    }

    /// Registers the computation of `key`, unless one is registered already.
    pub(crate) fn board(&self, key: &[u8]) -> Option<Landing<'_>> {
        let mut flying = self.flying.lock().unwrap_or_else(PoisonError::into_inner);
        if flying.contains_key(key) {
            return None;
        }
        let (sender, receiver) = oneshot::channel();
        flying.insert(key.into(), receiver.shared());
        Some(Landing {
            flights: self,
            key: key.into(),
            _done: sender,
        })
    }
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        self.flights
            .flying
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_computation_registered_per_key_and_waiters_wake_when_it_lands() {
        let flights = Flights::default();
        let landing = flights
            .board(b"k")
            .expect("the first computation registers");
        assert!(flights.board(b"k").is_none());
        let waiter = flights.computing(b"k").expect("k is being computed");
        assert!(flights.computing(b"other").is_none());
        assert!(waiter.clone().now_or_never().is_none());
        drop(landing);
        assert!(waiter.now_or_never().is_some());
        // Landed: nothing computes it, and the next computation registers again.
        assert!(flights.computing(b"k").is_none());
        assert!(flights.board(b"k").is_some());
    }
}
