//! The runtime-agnostic memcached client engine behind `memcache-tokio` and
//! `memcache-async-std`.
//!
//! Applications use one of those crates; this one holds everything they share: request
//! builders, consistent hashing ([`router`]), per-node connection pools, pipelined
//! connections, timeouts, health and metrics. It reaches the runtime only through the
//! small [`Runtime`] trait and sockets only through `futures-io`.
//!
//! Requests and replies are encoded and decoded by [`memproto`], the sans-IO protocol
//! crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod addr;
mod append;
mod auth;
mod batch;
mod builder;
mod client;
mod config;
mod connect;
mod dialect;
mod discovery;
mod driver;
mod engine;
mod error;
mod events;
mod fetch_many;
mod get_as;
mod health;
mod histogram;
mod item;
mod item_map;
mod keys;
mod lease;
mod many;
mod members;
mod node;
mod observe;
mod ops;
mod protocol;
mod quiet;
mod retry;
pub mod router;
mod runtime;
#[cfg(feature = "tls")]
mod tls;
mod unavailable;
mod value;

pub use addr::{AddrParseError, IntoNodeAddr, NodeAddr};
pub use append::AppendRequest;
pub use builder::ClientBuilder;
pub use bytes::{self, Bytes};
pub use client::Client;
pub use config::ConfigError;
pub use discovery::DiscoveryError;
pub use error::{Error, Result};
pub use events::{ClusterEvents, LatencySummary, NodeMetrics};
/// The rustls crate, for building a custom [`Tls`] configuration with [`Tls::new`].
#[cfg(feature = "tls")]
pub use futures_rustls::rustls;
pub use get_as::GetAsRequest;
pub use item::{Item, ItemInfo};
pub use item_map::{ItemMap, PartialItems};
pub use lease::{InvalidateRequest, Lease, LeaseRequest};
pub use many::{KeyManyRequest, KeyResults, StoreManyRequest};
pub use memproto::{self, Exptime, Limits};
pub use ops::{
    ArithRequest, GetManyRequest, GetRequest, KeyRequest, NoReplyRequest, NodeRequest,
    PartialGetManyRequest, RequestFuture, StoreRequest,
};
pub use protocol::Protocol;
pub use retry::RetryPolicy;
pub use router::Distribution;
pub use runtime::{Runtime, Socket, SocketOptions};
#[cfg(feature = "tls")]
pub use tls::{Tls, TlsError};
#[cfg(feature = "lz4")]
pub use value::Compression;
pub use value::{Encoded, Format, FromValue, ToValue, ValueError};
#[cfg(feature = "serde")]
pub use value::{Json, MsgPack};

/// The crate README's code blocks, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
