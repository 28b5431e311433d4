//! The scenario suite on async-std, every client speaking the meta protocol.

use std::future::Future;

use memcache_core::Protocol;

fn block_on<F: Future>(future: F) -> F::Output {
    memcache_it::scenarios::support::use_protocol(Protocol::Meta);
    async_std::task::block_on(future)
}

memcache_it::scenarios!(block_on, memcache_async_std::AsyncStdRuntime);
