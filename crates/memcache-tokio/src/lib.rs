//! A memcached client for tokio: pipelined connections, per-node pools, consistent hashing
//! compatible with emcache and libmemcached, per-operation timeouts.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use memcache_tokio::Client;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder(["127.0.0.1:11211"]).build()?;
//! client.set("greeting", "hello").ttl(Duration::from_secs(60)).await?;
//! let item = client.get("greeting").await?.expect("just stored");
//! assert_eq!(item.value, "hello");
//! # Ok(())
//! # }
//! ```
//!
//! The whole API is documented on [`memcache_core::Client`]; this crate adds only
//! [`TokioRuntime`], the aliases [`Client`] and [`ClientBuilder`], and the guides (the
//! `guide` module: the client in a service, typed values, batched writes, meta mode,
//! clusters, observability, reliability, security, features, embedding the protocol crate,
//! benchmarks). Use the client from within a tokio runtime with the time and I/O drivers
//! enabled (`#[tokio::main]` does).
//!
//! # Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::io;
#[cfg(unix)]
use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::compat::TokioAsyncReadCompatExt;

pub use memcache_core::*;

/// The READMEs' code blocks, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// The guides show every feature; built for the documentation, and tested with the features
// they need (`cargo test-all` enables every one).
#[cfg(any(doc, all(feature = "serde", feature = "lz4", feature = "tls")))]
pub mod guide;

/// A memcached client on tokio.
pub type Client = memcache_core::Client<TokioRuntime>;

/// Builds a [`Client`]; start with [`Client::builder`].
pub type ClientBuilder = memcache_core::ClientBuilder<TokioRuntime>;

/// The tokio implementation of [`Runtime`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    type Sleep = tokio::time::Sleep;

    async fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        options: &SocketOptions,
    ) -> io::Result<Box<dyn Socket>> {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        options.apply(&stream)?;
        Ok(Box::new(stream.compat()) as Box<dyn Socket>)
    }

    #[cfg(unix)]
    async fn connect_unix(&self, path: &Path) -> io::Result<Box<dyn Socket>> {
        let stream = tokio::net::UnixStream::connect(path).await?;
        Ok(Box::new(stream.compat()) as Box<dyn Socket>)
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    /// tokio's clock, so that a paused test clock (`tokio::time::pause`) drives the
    /// engine's deadlines too.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}
