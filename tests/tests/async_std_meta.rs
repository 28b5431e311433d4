//! The scenario suite on async-std, every client speaking the meta protocol.

use std::future::Future;

fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

memcache_it::scenarios!(
    block_on,
    memcache_async_std::AsyncStdRuntime,
    memcache_core::Protocol::Meta
);
