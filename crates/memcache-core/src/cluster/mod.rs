//! The cluster: which node a key goes to, which nodes are healthy, which nodes there are.
//!
//! - [`router`]: key routing bit-compatible with emcache and libmemcached.
//! - [`health`]: each node's health, and the routing table over the nodes that receive keys.
//! - [`members`]: the nodes and their routing, fixed or replaced as autodiscovery moves.
//! - [`discovery`]: ElastiCache-style configuration endpoints.
//! - [`addr`]: node addresses.

pub(crate) mod addr;
pub(crate) mod discovery;
pub(crate) mod hash_tag;
pub(crate) mod health;
pub(crate) mod members;
pub mod router;
