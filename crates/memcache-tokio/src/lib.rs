//! A memcached client for tokio: pipelined connections, per-node pools, consistent hashing
//! compatible with emcache and libmemcached, per-operation timeouts.
//!
//! ```toml
//! [dependencies]
//! memcache-tokio = "0.1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! A complete program:
//!
//! ```no_run
//! use std::time::Duration;
//! use memcache_tokio::Client;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = Client::builder(["127.0.0.1:11211"])
//!         .timeout(Duration::from_millis(250))
//!         .build()?;
//!     client.set("greeting", "hello").ttl(Duration::from_secs(60)).await?;
//!     let item = client.get("greeting").await?.expect("just stored");
//!     assert_eq!(item.value, "hello");
//!     // Requests in flight finish, then the connections close.
//!     client.close().await;
//!     Ok(())
//! }
//! ```
//!
//! The whole API is documented on [`memcache_core::Client`]; this crate adds only
//! [`TokioRuntime`], the aliases [`Client`] and [`ClientBuilder`], and the guides (the
//! `guide` module: the client in a service, a request's life, typed values, batched
//! writes, meta mode, clusters, routes, observability, reliability, security, features, embedding
//! the protocol crate, benchmarks). Use the client from within a tokio runtime with the
//! time and I/O drivers enabled (`#[tokio::main]` does).
//!
//! # In a web service
//!
//! A `Client` is a handle: clones share its connections, so the application's state holds
//! one and every handler clones it. An axum service with graceful shutdown:
//!
//! ```no_run
//! use std::time::Duration;
//! use axum::extract::{Path, State};
//! use axum::http::StatusCode;
//! use axum::routing::get;
//! use axum::Router;
//! use memcache_tokio::Client;
//!
//! async fn profile(
//!     State(cache): State<Client>,
//!     Path(id): Path<u64>,
//! ) -> Result<String, StatusCode> {
//!     let key = format!("profile:{id}");
//!     match cache.get(&key).await {
//!         Ok(Some(item)) => Ok(String::from_utf8_lossy(&item.value).into_owned()),
//!         Ok(None) => {
//!             let fresh = format!("profile of user {id}"); // the expensive part
//!             let _ = cache.set(&key, fresh.as_str()).ttl(Duration::from_secs(300)).await;
//!             Ok(fresh)
//!         }
//!         // The node is down or slow: answer without the cache, or shed the request.
//!         Err(error) if error.is_transient() => Err(StatusCode::SERVICE_UNAVAILABLE),
//!         Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let cache = Client::builder(["127.0.0.1:11211"])
//!         .timeout(Duration::from_millis(100))
//!         .build()?;
//!     let app = Router::new()
//!         .route("/profile/{id}", get(profile))
//!         .with_state(cache.clone());
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//!     axum::serve(listener, app)
//!         .with_graceful_shutdown(async {
//!             let _ = tokio::signal::ctrl_c().await;
//!         })
//!         .await?;
//!     // The server stopped taking requests: let the cache's in-flight ones finish.
//!     cache.close().await;
//!     Ok(())
//! }
//! ```
//!
//! # Cancellation
//!
//! Every request future can be dropped at any point (`select!`, a timeout of your own, an
//! aborted task) without harm to the client or to other requests: a request not yet
//! written is never sent, and one already on the wire has its reply read and dropped, so
//! the connection stays in step. `tokio::spawn` needs a future that owns its client
//! handle: `tokio::spawn(client.get(key).owned())`. The [`guide::lifecycle`] page draws a
//! request's whole life: what its timeout covers, retries, metrics, cancellation.
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

// The engine's API under this crate's name (see the macro for why item by item).
memcache_core::reexport_api!();

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
