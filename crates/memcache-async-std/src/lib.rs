//! A memcached client for async-std, also usable under smol: pipelined connections,
//! per-node pools, consistent hashing compatible with emcache and libmemcached,
//! per-operation timeouts.
//!
//! ```toml
//! [dependencies]
//! memcache-async-std = "0.1"
//! smol = "2"
//! ```
//!
//! A complete program, on smol:
//!
//! ```no_run
//! use std::time::Duration;
//! use memcache_async_std::Client;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     smol::block_on(async {
//!         let client = Client::builder(["127.0.0.1:11211"]).build()?;
//!         client.set("greeting", "hello").ttl(Duration::from_secs(60)).await?;
//!         let item = client.get("greeting").await?.expect("just stored");
//!         assert_eq!(item.value, "hello");
//!         // Requests in flight finish, then the connections close.
//!         client.close().await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! async-std is discontinued upstream (RUSTSEC-2025-0052) in favour of smol. Its sockets
//! and timers run on the `async-io` reactor, which smol shares, so this client also works
//! inside `smol::block_on` (the test suite runs it there).
//!
//! The whole API is documented on [`memcache_core::Client`]; this crate adds only
//! [`AsyncStdRuntime`] and the aliases [`Client`] and [`ClientBuilder`].
//!
//! # Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod socket;

use std::future::Future;
use std::io;
#[cfg(unix)]
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

// The engine's API under this crate's name (see the macro for why item by item).
memcache_core::reexport_api!();

/// A memcached client on async-std.
pub type Client = memcache_core::Client<AsyncStdRuntime>;

/// Builds a [`Client`]; start with [`Client::builder`].
pub type ClientBuilder = memcache_core::ClientBuilder<AsyncStdRuntime>;

/// The async-std implementation of [`Runtime`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime;

impl Runtime for AsyncStdRuntime {
    type Sleep = Sleep;

    async fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        options: &SocketOptions,
    ) -> io::Result<Box<dyn Socket>> {
        use async_std::net::ToSocketAddrs;
        // async-std's own stream hides its descriptor; the `async-io` stream it wraps
        // exposes it, so the socket options can be set.
        let mut last_error = None;
        for addr in (host, port).to_socket_addrs().await? {
            match async_io::Async::<std::net::TcpStream>::connect(addr).await {
                Ok(stream) => {
                    options.apply(stream.get_ref())?;
                    return Ok(Box::new(socket::HalfClosing(stream)) as Box<dyn Socket>);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} resolves to no address"),
            )
        }))
    }

    #[cfg(unix)]
    async fn connect_unix(&self, path: &Path) -> io::Result<Box<dyn Socket>> {
        let stream = async_std::os::unix::net::UnixStream::connect(path).await?;
        Ok(Box::new(socket::HalfClosing(stream)) as Box<dyn Socket>)
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Dropping the handle detaches the task.
        drop(async_std::task::spawn(task));
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        Sleep(async_io::Timer::after(duration))
    }
}

/// The future [`AsyncStdRuntime::sleep`] returns.
#[derive(Debug)]
pub struct Sleep(async_io::Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// The crate README's code blocks, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
