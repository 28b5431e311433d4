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
//!
//! # Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The layers, top to bottom: the API and its policies, the operations, the cluster
// (routing, health, membership), the pure engine (state machines), the I/O shells that
// drive it; values and observability beside them. ARCHITECTURE.md has the map.
mod client;
mod cluster;
mod engine;
mod error;
mod io;
mod observe;
mod ops;
pub mod route;
#[cfg(feature = "testing")]
pub mod testing;
pub mod value;

/// The engine's fuzzing harness, for the `engine` cargo-fuzz target: arbitrary bytes read
/// as a sequence of engine events, played in virtual time with the engine's invariants
/// checked after each. Not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::engine::pair::{Event, Pair};

    /// Plays the events `data` encodes; panics when an invariant breaks.
    pub fn engine(data: &[u8]) {
        Pair::new().run(&Event::parse(data));
    }
}

// Other crates re-exported for convenience link to their own documentation rather than
// having it copied here.
#[doc(no_inline)]
pub use bytes::{self, Bytes};
pub use client::builder::ClientBuilder;
pub use client::config::ConfigError;
pub use client::gutter::{FailoverOn, Gutter};
pub use client::pending::Pending;
pub use client::protocol::Protocol;
pub use client::retry::RetryPolicy;
#[cfg(feature = "serde")]
pub use client::settings::{Credentials, GutterSettings, NodeSetting, RetrySettings, Settings};
pub use client::Client;
pub use cluster::addr::{AddrParseError, IntoNodeAddr, NodeAddr};
pub use cluster::discovery::source::{
    DiscoveredNode, DnsNodes, NodeSource, NodeSourceError, NodesFuture,
};
pub use cluster::discovery::DiscoveryError;
pub use cluster::router;
pub use cluster::router::Distribution;
pub use error::{Error, ErrorKind, Result};
/// The rustls crate, for building a custom [`Tls`] configuration with [`Tls::new`].
#[cfg(feature = "tls")]
#[doc(no_inline)]
pub use futures_rustls::rustls;
pub use io::runtime::{Runtime, Socket, SocketOptions};
#[cfg(feature = "tls")]
pub use io::tls::{Tls, TlsError};
#[doc(no_inline)]
pub use memproto::{self, Exptime, Limits};
pub use observe::events::{ClusterEvents, LatencySummary, NodeMetrics};
pub use observe::write_failures::WriteFailure;
pub use ops::append::AppendRequest;
pub use ops::batched_writes::{KeyManyRequest, KeyResults, StoreManyRequest};
pub use ops::get_as::GetAsRequest;
pub use ops::get_or_compute::GetOrCompute;
pub use ops::item::{Item, ItemInfo};
pub use ops::item_map::{ItemHasher, ItemMap, PartialItems};
pub use ops::lease::{InvalidateRequest, Lease, LeaseRequest};
pub use ops::{
    ArithRequest, GetManyRequest, GetRequest, KeyRequest, NoReplyRequest, NodeRequest, OwnedFuture,
    PartialGetManyRequest, Request, RequestFuture, StoreRequest,
};
#[cfg(feature = "serde")]
pub use route::settings::RouteSettings;
pub use route::{Migration, Phase, Pool, Quorum, Route};

/// Re-exports the engine's API under a runtime crate's name, item by item rather than by a
/// glob: a glob would copy the documentation of every crate the engine re-exports (rustls
/// alone is hundreds of pages) into the runtime crate's, and foreign crates link to their
/// own documentation. The runtime crates (`memcache-tokio`, `memcache-async-std`) call it
/// once; their features carry the engine's names (`tls`, `serde`, `lz4`, `testing`), which
/// the `cfg`s here read. Not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! reexport_api {
    () => {
        /// The rustls crate, for building a custom [`Tls`] configuration with [`Tls::new`].
        #[cfg(feature = "tls")]
        #[doc(no_inline)]
        pub use $crate::rustls;
        #[cfg(feature = "testing")]
        pub use $crate::testing;
        #[cfg(feature = "lz4")]
        pub use $crate::Compression;
        #[doc(no_inline)]
        pub use $crate::{bytes, memproto, Bytes, Exptime, Limits};
        pub use $crate::{
            keys, operation, route, router, value, AddrParseError, AppendRequest, ArithRequest,
            ClusterEvents, ConfigError, DiscoveredNode, DiscoveryError, Distribution, DnsNodes,
            Encoded, Error, ErrorKind, FailoverOn, Format, FromValue, GetAsRequest, GetManyRequest,
            GetOrCompute, GetRequest, Gutter, IntoNodeAddr, InvalidateRequest, Item, ItemHasher,
            ItemInfo, ItemMap, KeyManyRequest, KeyRequest, KeyResults, LatencySummary, Lease,
            LeaseRequest, Migration, NoReplyRequest, NodeAddr, NodeMetrics, NodeRequest,
            NodeSource, NodeSourceError, NodesFuture, OwnedFuture, PartialGetManyRequest,
            PartialItems, Pending, Phase, Pool, Protocol, Quorum, Request, RequestFuture, Result,
            RetryPolicy, Route, Runtime, Socket, SocketOptions, StoreManyRequest, StoreRequest,
            ToValue, ValueError, WriteFailure,
        };
        #[cfg(feature = "serde")]
        pub use $crate::{
            Credentials, GutterSettings, NodeSetting, RetrySettings, RouteSettings, Settings,
        };
        #[cfg(feature = "tls")]
        pub use $crate::{Tls, TlsError};
    };
}

/// The operations as values: what each [`Request`] carries, and the trait the execution
/// path runs single-node operations by. Their builder methods are on [`Request`]; these
/// types only name the requests, as in `Request<'_, R, operation::Get<&str>>`
/// (`GetRequest`). Multi-key operations (`GetMany`, `StoreMany`, `KeyMany`) and `Append`
/// run several single-node requests through the same path.
pub mod operation {
    pub use crate::client::execute::Operation;
    pub use crate::ops::admin::{NodeCommand, NodeOutput};
    pub use crate::ops::append::Append;
    pub use crate::ops::arith::Arith;
    pub use crate::ops::batched_writes::{KeyMany, StoreMany};
    pub use crate::ops::fetch::{Fetches, Get, GetMany, PartialGetMany};
    pub use crate::ops::get_as::GetAs;
    pub use crate::ops::lease::{Invalidate, LeaseFetch};
    pub use crate::ops::store::Store;
    pub use crate::ops::touch_delete::KeyCommand;
    pub use crate::ops::NoReply;
}
#[cfg(feature = "lz4")]
pub use value::Compression;
pub use value::{Encoded, Format, FromValue, ToValue, ValueError};

/// The crate README's code blocks, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
