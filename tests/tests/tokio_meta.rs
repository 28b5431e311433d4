//! The scenario suite on tokio (multi-threaded runtime), every client speaking the meta
//! protocol.

use std::future::Future;

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

memcache_it::scenarios!(
    block_on,
    memcache_tokio::TokioRuntime,
    memcache_core::Protocol::Meta
);
