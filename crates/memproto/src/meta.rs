//! Meta protocol requests (`mg`, `ms`, `md`, `ma`) and the flags their replies return.

use bytes::Bytes;

use crate::exptime::Exptime;

/// Options shared by every meta request with a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaCommon<'a> {
    /// Send the key base64-encoded (flag `b`), so any byte may appear in it. The encoded
    /// form must fit the 250-byte key limit, which leaves [`crate::MAX_BASE64_KEY_LEN`]
    /// (186) bytes for the key; a longer one is refused with
    /// [`crate::KeyError::TooLongForBase64`], which reports the key's own length.
    /// [`crate::needs_base64`] tells which keys need it.
    pub base64: bool,
    /// Ask for the key back in the reply (flag `k`). The decoder then checks the echo: a
    /// reply naming another key, or a hit (`VA`, `HD`) naming none, is a
    /// [`crate::DecodeError::KeyMismatch`], so a hit is never delivered for another key.
    /// The request's key is recorded for this check (inline up to 62 bytes).
    pub return_key: bool,
    /// An opaque token echoed by the server (flag `O`), at most 31 bytes (the server's
    /// limit of 32 counts the `O`), key byte rules.
    /// The decoder checks that the reply carries the same opaque.
    pub opaque: Option<&'a [u8]>,
    /// Quiet mode (flag `q`): the server stays silent on the uninteresting outcome (a miss
    /// for `mg`, success for `ms`, `md`, `ma`). Requires an opaque, so a reply can be paired
    /// with its request; finish a quiet batch with [`crate::Command::MetaNoop`].
    pub quiet: bool,
}

/// `mg`: meta get. Without `return_value`, a hit answers `HD` with the requested flags only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaGet<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Key encoding, key echo, opaque and quiet mode.
    pub common: MetaCommon<'a>,
    /// Return the value (flag `v`).
    pub return_value: bool,
    /// Return the CAS unique (flag `c`).
    pub return_cas: bool,
    /// Return the client flags (flag `f`).
    pub return_flags: bool,
    /// Return whether the item was fetched before (flag `h`).
    pub return_hit: bool,
    /// Return seconds since the last access (flag `l`).
    pub return_last_access: bool,
    /// Return the value's size (flag `s`).
    pub return_size: bool,
    /// Return the remaining TTL, `-1` for none (flag `t`).
    pub return_ttl: bool,
    /// Do not bump the item in the LRU (flag `u`).
    pub no_lru_bump: bool,
    /// Update the item's expiration on a hit (flag `T`).
    pub touch: Option<Exptime>,
    /// On a miss, create an empty item with this expiration and tell the caller it won the
    /// right to fill it (flag `N`, reply flag `W`).
    pub vivify: Option<Exptime>,
    /// Win the right to recache if the remaining TTL is below this (flag `R`).
    pub recache: Option<Exptime>,
}

/// How `ms` stores its value (flag `M`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MetaSetMode {
    /// Store unconditionally (`MS`, the default).
    #[default]
    Set,
    /// Store only if absent (`ME`).
    Add,
    /// Store only if present (`MR`).
    Replace,
    /// Append to the existing value (`MA`).
    Append,
    /// Prepend to the existing value (`MP`).
    Prepend,
}

/// `ms`: meta set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaSet<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// Key encoding, key echo, opaque and quiet mode.
    pub common: MetaCommon<'a>,
    /// How to store.
    pub mode: MetaSetMode,
    /// Client flags (flag `F`); zero is not sent.
    pub flags: u32,
    /// Expiration (flag `T`); `Never` is not sent.
    pub exptime: Exptime,
    /// Store only if the CAS unique equals this (flag `C`).
    pub compare_cas: Option<u64>,
    /// Set this CAS unique on the new item (flag `E`).
    pub new_cas: Option<u64>,
    /// With `compare_cas`: accept an older CAS but mark the item stale (flag `I`).
    pub invalidate: bool,
    /// In append/prepend mode, create the item with this expiration if missing (flag `N`).
    pub vivify: Option<Exptime>,
    /// Return the new CAS unique (flag `c`).
    pub return_cas: bool,
}

/// `md`: meta delete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaDelete<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Key encoding, key echo, opaque and quiet mode.
    pub common: MetaCommon<'a>,
    /// Delete only if the CAS unique equals this (flag `C`).
    pub compare_cas: Option<u64>,
    /// Mark the item stale and bump its CAS instead of deleting it (flag `I`).
    pub invalidate: bool,
    /// With `invalidate`, the stale item's new expiration (flag `T`).
    pub exptime: Option<Exptime>,
    /// Drop the value but keep the item (flag `x`).
    pub remove_value_only: bool,
}

/// Increment or decrement for `ma` (flag `M`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MetaArithMode {
    /// Add (the default).
    #[default]
    Incr,
    /// Subtract, stopping at zero.
    Decr,
}

/// `ma`: meta arithmetic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaArith<'a> {
    /// The counter's key.
    pub key: &'a [u8],
    /// Key encoding, key echo, opaque and quiet mode.
    pub common: MetaCommon<'a>,
    /// Increment or decrement.
    pub mode: MetaArithMode,
    /// The amount (flag `D`); the server's default is 1.
    pub delta: Option<u64>,
    /// On a miss, create the counter with this expiration (flag `N`).
    pub vivify: Option<Exptime>,
    /// The value a vivified counter starts at (flag `J`); the server's default is 0.
    pub initial: Option<u64>,
    /// Update the expiration on success (flag `T`).
    pub exptime: Option<Exptime>,
    /// Apply only if the CAS unique equals this (flag `C`).
    pub compare_cas: Option<u64>,
    /// Return the new value (flag `v`; the reply is `VA`).
    pub return_value: bool,
    /// Return the CAS unique (flag `c`).
    pub return_cas: bool,
    /// Return the remaining TTL (flag `t`).
    pub return_ttl: bool,
}

/// Flags returned in a meta reply, parsed and checked when the reply is decoded.
/// Unknown flags are ignored, so newer servers do not break older clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaFlags {
    /// `c`: the CAS unique.
    pub cas: Option<u64>,
    /// `f`: the client flags.
    pub flags: Option<u32>,
    /// `s`: the value's size.
    pub size: Option<u64>,
    /// `t`: the remaining TTL in seconds; `-1` means none.
    pub ttl: Option<i64>,
    /// `h`: whether the item had been fetched before.
    pub hit_before: Option<bool>,
    /// `l`: seconds since the last access.
    pub last_access: Option<u64>,
    /// `k`: the key (base64 if `base64_key` is set).
    pub key: Option<Bytes>,
    /// `O`: the opaque echoed back.
    pub opaque: Option<Bytes>,
    /// `b`: the returned key is base64-encoded.
    pub base64_key: bool,
    /// `W`: this client won the right to (re)cache the item.
    pub won: bool,
    /// `X`: the item is stale.
    pub stale: bool,
    /// `Z`: another client already won the right to recache.
    pub already_won: bool,
}
