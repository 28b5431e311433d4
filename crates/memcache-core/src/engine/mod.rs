//! The engine's state machines, in the spirit of quinn-proto: no sockets, no tasks, no
//! clock. [`connection::Connection`] is one multiplexed connection and [`pool::Pool`] is one
//! node's set of connections. Both take the current time as an argument, receive events and
//! return what to do; the async shells in [`crate::io::driver`] and [`crate::io::node`] do the I/O
//! and keep the time. Every lifecycle rule lives here, once, and is unit-tested in virtual
//! time.

pub(crate) mod autobatch;
pub(crate) mod connection;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod pair;
pub(crate) mod payload;
pub(crate) mod pool;
pub(crate) mod reply;
pub(crate) mod request;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

use futures::task::AtomicWaker;

use connection::Connection;

/// A connection's state, shared by the callers who submit to it (through the pool) and
/// the driver task that owns its socket.
#[derive(Debug)]
pub(crate) struct ConnCell {
    state: Mutex<Connection>,
    /// Wakes the driver when there is something new to write or to close.
    driver: AtomicWaker,
}

impl ConnCell {
    pub(crate) fn new(connection: Connection) -> Arc<Self> {
        Arc::new(ConnCell {
            state: Mutex::new(connection),
            driver: AtomicWaker::new(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // Every critical section leaves the state machine consistent (its methods do not
        // panic midway on any input), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes the driver.
    pub(crate) fn wake(&self) {
        self.driver.wake();
    }

    /// Registers the driver's waker.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.driver.register(waker);
    }
}
