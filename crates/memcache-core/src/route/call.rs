//! One call through a route: its settings and the deadline every request it sends
//! shares.

use std::time::Instant;

use crate::client::{CallOptions, Inner};
use crate::cluster::hash_tag;
use crate::engine::pool::later;
use crate::error::Error;
use crate::io::runtime::Runtime;

/// A call on its way through a route.
pub(crate) struct Call<'a, R: Runtime> {
    runtime: &'a R,
    options: CallOptions,
    /// When the call's timeout runs out: each request it sends gets the time left.
    deadline: Option<Instant>,
    /// The client's hash tag: replicas are chosen by the part of the key inside it.
    hash_tag: Option<[u8; 2]>,
    /// Whether a read answers an unavailable node's keys as misses (the client is
    /// configured so, and a partial multi-key read is not listing them instead). Applied
    /// once the route has looked everywhere it may.
    pub(crate) miss_on_unavailable: bool,
}

impl<'a, R: Runtime> Call<'a, R> {
    /// Starts the clock of a call made on `client` with `options`.
    pub(crate) fn start(client: &'a Inner<R>, options: CallOptions) -> Self {
        let timeout = client.timeout(options.timeout);
        let runtime = &client.runtime;
        let deadline = timeout.map(|timeout| later(runtime.now(), timeout));
        Call {
            runtime,
            options,
            deadline,
            hash_tag: client.config.hash_tag,
            miss_on_unavailable: client.config.miss_on_unavailable,
        }
    }

    /// The same call, its failures not reported (see [`CallOptions::quiet`]).
    pub(crate) fn quietly(&self) -> Self {
        let mut options = self.options.clone();
        options.quiet = true;
        Call {
            runtime: self.runtime,
            options,
            deadline: self.deadline,
            hash_tag: self.hash_tag,
            miss_on_unavailable: self.miss_on_unavailable,
        }
    }

    /// The settings of the next request the call sends: the call's, with the time left.
    pub(crate) fn options(&self) -> CallOptions {
        let mut options = self.options.clone();
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(self.runtime.now());
            options.timeout = Some(Some(left));
        }
        options
    }

    /// The key the call is routed by: its routing key, else `key`.
    pub(crate) fn routing_key<'k>(&'k self, key: &'k [u8]) -> &'k [u8] {
        self.options.routing_key.as_deref().unwrap_or(key)
    }

    /// The replica, of `replicas`, that reads of `key` go to first.
    pub(crate) fn replica_for(&self, key: &[u8], replicas: usize) -> usize {
        let key = hash_tag::routing_key(self.routing_key(key), self.hash_tag);
        replica_for(key, replicas)
    }
}

/// Whether a read that failed with `error` may be read elsewhere: its node is unavailable
/// (a timeout is not: the call's time is up).
pub(crate) fn read_elsewhere(error: &Error) -> bool {
    error.is_transient() && !matches!(error, Error::Timeout { .. })
}

/// The replica, of `replicas`, that reads of `key` go to first: spread by an FNV-1a hash
/// of the key, stable across processes.
pub(crate) fn replica_for(key: &[u8], replicas: usize) -> usize {
    let hash = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    usize::try_from(hash % replicas.max(1) as u64).unwrap_or(0)
}
