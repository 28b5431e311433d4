//! The scenario suite under smol, with the async-std flavour of the client: its sockets
//! and timers run on the `async-io` reactor that smol shares.

use std::future::Future;

fn block_on<F: Future>(future: F) -> F::Output {
    smol::block_on(future)
}

memcache_it::scenarios!(
    block_on,
    memcache_async_std::AsyncStdRuntime,
    memcache_core::Protocol::Text
);
