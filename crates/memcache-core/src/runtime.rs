//! The little the engine needs from an async runtime.

use std::future::Future;
use std::io;
use std::path::Path;
use std::time::Duration;

use futures::io::{AsyncRead, AsyncWrite};

/// A connected byte stream: TCP, unix socket, or anything layered on them.
pub trait Socket: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Socket for T {}

/// An async runtime: connect, spawn, sleep. Everything else (pipelining, pooling, routing,
/// timeouts) is written once, in this crate, on top of these four methods.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The future [`Runtime::sleep`] returns.
    type Sleep: Future<Output = ()> + Send + 'static;

    /// Opens a TCP connection (with `TCP_NODELAY` set: requests are batched by the engine,
    /// so Nagle's algorithm would only add latency).
    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Box<dyn Socket>>> + Send;

    /// Opens a unix socket connection.
    fn connect_unix(&self, path: &Path)
        -> impl Future<Output = io::Result<Box<dyn Socket>>> + Send;

    /// Runs `task` in the background.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}
