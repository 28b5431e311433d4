//! One node's share of a multi-key operation, as an operation of its own.

use std::marker::PhantomData;

use crate::client::config::Config;
use crate::client::execute::{Answer, Operation};
use crate::engine::payload::Payload;
use crate::engine::request::{Affinity, Expects};
use crate::error::Result;
use crate::observe::Counters;

/// A share encoded up front, so that an invalid key fails the whole call before anything
/// is sent; each attempt sends the same bytes.
pub(crate) struct Share<F, T> {
    encoded: (Payload, Expects),
    affinity: Affinity,
    read: bool,
    /// Answer a miss (`T::default()`) when the node is unavailable and the client is
    /// configured to.
    miss: bool,
    decode: F,
    output: PhantomData<fn() -> T>,
}

impl<F, T> Share<F, T>
where
    F: Fn(Answer, &Counters) -> Result<T> + Send,
{
    /// A share of `keys` sent as `encoded`, whose answer `decode` reads; `read` when
    /// running it twice is harmless.
    pub(crate) fn new(encoded: (Payload, Expects), keys: &[&[u8]], read: bool, decode: F) -> Self {
        let (payload, expects) = encoded;
        Share {
            // Shared, so that each attempt's copy is a reference.
            encoded: (payload.shared(), expects),
            affinity: Affinity::of_keys(keys),
            read,
            miss: false,
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
}

impl<F, T> Operation for Share<F, T>
where
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

    fn encode(&self, _: &Config) -> Result<(Payload, Expects)> {
        Ok(self.encoded.clone())
    }

    fn decode(&self, answer: Answer, _: &Config, counters: &Counters) -> Result<T> {
        (self.decode)(answer, counters)
    }

    fn miss(&self) -> Option<T> {
        self.miss.then(T::default)
    }

    fn affinity(&self) -> Affinity {
        self.affinity.clone()
    }
}
