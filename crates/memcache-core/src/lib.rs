//! placeholder
pub mod router;
