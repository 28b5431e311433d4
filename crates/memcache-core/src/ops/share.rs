//! One node's share of a multi-key operation, as an operation of its own.

use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};

use crate::client::config::Config;
use crate::client::execute::{Answer, Operation};
use crate::engine::payload::Payload;
use crate::engine::request::{Affinity, Expects};
use crate::error::Result;
use crate::observe::Counters;

/// A share encoded up front, so that an invalid key fails the whole call before anything
/// is sent. The first attempt sends that encoding; any later one (after a wait for room or
/// a retry) encodes the share again with `again`.
pub(crate) struct Share<E, F, T> {
    first: Mutex<Option<(Payload, Expects)>>,
    again: E,
    affinity: Affinity,
    read: bool,
    /// Answer a miss (`T::default()`) when the node is unavailable and the client is
    /// configured to.
    miss: bool,
    /// Goes to the gutter pool when its node is unreachable (its bytes hold no
    /// expiration the gutter would have to cap).
    fails_over: bool,
    decode: F,
    output: PhantomData<fn() -> T>,
}

impl<E, F, T> Share<E, F, T>
where
    E: Fn(&Config) -> Result<(Payload, Expects)> + Send,
    F: Fn(Answer, &Counters) -> Result<T> + Send,
{
    /// A share of `keys` sent as `encoded` (and encoded again by `again`), whose answer
    /// `decode` reads; `read` when running it twice is harmless.
    pub(crate) fn new(
        encoded: (Payload, Expects),
        again: E,
        keys: &[&[u8]],
        read: bool,
        decode: F,
    ) -> Self {
        Share {
            first: Mutex::new(Some(encoded)),
            again,
            affinity: Affinity::of_keys(keys),
            read,
            miss: false,
            fails_over: false,
            decode,
            output: PhantomData,
        }
    }

    /// Answers `T::default()` (no items) when the node is unavailable and the client
    /// answers reads on unavailable nodes with misses.
    pub(crate) fn miss_on_unavailable(mut self, miss: bool) -> Self {
        self.miss = miss;
        self
    }

    /// Lets the share go to the gutter pool, as sent, when its node is unreachable.
    pub(crate) fn fails_over(mut self, fails_over: bool) -> Self {
        self.fails_over = fails_over;
        self
    }
}

impl<E, F, T> Operation for Share<E, F, T>
where
    E: Fn(&Config) -> Result<(Payload, Expects)> + Send,
    F: Fn(Answer, &Counters) -> Result<T> + Send,
    T: Default,
{
    type Output = T;

    fn key(&self) -> &[u8] {
        &[]
    }

    fn is_read(&self) -> bool {
        self.read
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        let first = self
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        first.map_or_else(|| (self.again)(config), Ok)
    }

    fn decode(&self, answer: Answer, _: &Config, counters: &Counters) -> Result<T> {
        (self.decode)(answer, counters)
    }

    fn miss(&self) -> Option<T> {
        self.miss.then(T::default)
    }

    fn fails_over(&self) -> bool {
        self.fails_over
    }

    fn affinity(&self) -> Affinity {
        self.affinity.clone()
    }
}
