//! Guides: the client in a service, and what it guarantees. Each page is a module of
//! documentation only; its examples compile as doctests.
//!
//! - [`service`]: futures, partial results, retries, degraded reads.
//! - [`lifecycle`]: a request's life: its deadline, retries, metrics, and cancellation.
//! - [`typed_values`]: serde values, integers, text, compression, and the flags they use.
//! - [`batched_writes`]: `set_many` and friends, one round trip per node.
//! - [`meta_mode`]: the meta protocol, item information, stampede protection.
//! - [`clusters`]: libmemcached-compatible routing, autodiscovery, twemproxy.
//! - [`routes`]: replicated pools, migrations between pools, cold-cache warm-up.
//! - [`observability`]: tracing spans, metrics, in-process counters.
//! - [`reliability`]: what each failure policy guarantees, and how it is tested.
//! - [`security`]: TLS, authentication, what the client trusts.
//! - [`features`]: Cargo features, and the dependencies beyond the chosen set.
//! - [`embedding`]: `memproto`, the sans-IO protocol crate, in your own transport.
//! - [`benchmarks`]: the codec and the client against a raw pipelined loop.

#[doc = include_str!("../guide/service.md")]
pub mod service {}

#[doc = include_str!("../guide/lifecycle.md")]
pub mod lifecycle {}

#[doc = include_str!("../guide/typed_values.md")]
pub mod typed_values {}

#[doc = include_str!("../guide/batched_writes.md")]
pub mod batched_writes {}

#[doc = include_str!("../guide/meta_mode.md")]
pub mod meta_mode {}

#[doc = include_str!("../guide/clusters.md")]
pub mod clusters {}

#[doc = include_str!("../guide/routes.md")]
pub mod routes {}

#[doc = include_str!("../guide/observability.md")]
pub mod observability {}

#[doc = include_str!("../guide/reliability.md")]
pub mod reliability {}

#[doc = include_str!("../guide/security.md")]
pub mod security {}

#[doc = include_str!("../guide/features.md")]
pub mod features {}

#[doc = include_str!("../guide/embedding.md")]
pub mod embedding {}

#[doc = include_str!("../guide/benchmarks.md")]
#[doc = "\n## Chart of the latest run\n"]
#[doc = include_str!("../guide/benchmarks.svg")]
pub mod benchmarks {}
