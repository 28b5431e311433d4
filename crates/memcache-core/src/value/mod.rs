//! Typed values: what `set` stores and `get_as` reads besides raw bytes.
//!
//! The serde wrappers `Json` and `MsgPack` (feature `serde`) live here only, not at
//! the crate root, so that a glob import of the crate does not shadow a web framework's
//! `Json` (axum's, for one): import them by path, `use memcache_tokio::value::Json;`, or
//! as `value::Json` beside `axum::Json`.
//!
//! A value is encoded by [`ToValue`] into bytes and a [`Format`]; the format (and the
//! compression, when the client compresses) is stored in the top byte of the item's client
//! flags (bits 24–27 the format, 28–29 the compression, 30–31 reserved; the low 24 bits are
//! the user's), and [`FromValue`] checks it on the way back. Plain uncompressed values
//! leave the flags as the user gave them, so raw bytes cost nothing and read the same as
//! before. [`Format`]'s documentation says what other clients make of these flags.
//!
//! Reads never trust the flags further than they can check them: typed reads refuse flags
//! that name no known encoding, the raw types (`Bytes`, `Vec<u8>`) return the bytes as
//! stored when the flags are not a valid encoding of this client's, and a compressed value
//! may declare at most the client's largest value.

mod codec;
mod compress;
mod encoded;
mod error;
mod flags;
#[cfg(feature = "serde")]
mod serde;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use bytes::Bytes;

pub use codec::{FromValue, ToValue};
#[cfg(feature = "lz4")]
pub use compress::Compression;
pub use encoded::Encoded;
pub use error::ValueError;
pub use flags::Format;
#[cfg(feature = "serde")]
pub use serde::{Json, MsgPack};

pub(crate) use codec::expect_format;
pub(crate) use flags::{pack_flags, unpack_flags, Compressed};

use crate::client::config::Config;

/// A value as it goes on the wire.
pub(crate) struct Stored<'a> {
    /// Borrowed from the encoding, unless compressed.
    pub(crate) bytes: Cow<'a, [u8]>,
    /// The user's flags with the encoding packed in.
    pub(crate) flags: u32,
}

/// How `set`, `add`, `replace` and `cas` store `encoded` under the user's flags: compressed
/// when the client compresses and it pays off.
pub(crate) fn prepare<'a>(
    encoded: &'a Encoded<'_>,
    user_flags: u32,
    config: &Config,
) -> Result<Stored<'a>, ValueError> {
    #[cfg(feature = "lz4")]
    if let Some(compressed) = compressed(encoded, user_flags, config) {
        return Ok(Stored {
            bytes: Cow::Owned(compressed),
            flags: pack_flags(user_flags, encoded.format(), Compressed::Lz4)?,
        });
    }
    #[cfg(not(feature = "lz4"))]
    let _ = config;
    Ok(Stored {
        bytes: Cow::Borrowed(encoded.as_bytes()),
        flags: pack_flags(user_flags, encoded.format(), Compressed::No)?,
    })
}

/// `encoded` compressed, if the client compresses and it pays off. A value over the
/// client's largest is left alone, to be refused as it is: readers could not decompress it.
/// So is a plain value whose flags use the top byte, which must then stay as given.
#[cfg(feature = "lz4")]
fn compressed(encoded: &Encoded<'_>, user_flags: u32, config: &Config) -> Option<Vec<u8>> {
    let compression = config.compression.as_ref()?;
    let fits = encoded.len() <= config.encoder.max_value_len();
    let flags_free = user_flags & !flags::USER_MASK == 0;
    if !fits || !flags_free {
        return None;
    }
    compress::compress(encoded.as_bytes(), compression)
}

/// The bytes `append` and `prepend` add: plain ones only, since they join an existing value
/// whose flags (and so format) they cannot change.
pub(crate) fn raw<'a>(encoded: &'a Encoded<'_>) -> Result<&'a [u8], ValueError> {
    expect_format(Format::Plain, encoded.format())?;
    Ok(encoded.as_bytes())
}

/// Whether raw bytes may be joined (`append`, `prepend`) to an item stored with `flags`:
/// not when they say this client stored it encoded or compressed, which the bytes would
/// corrupt. Flags that name no encoding of this client's are the user's own, and the bytes
/// theirs to join.
pub(crate) fn check_joinable(flags: u32) -> Result<(), ValueError> {
    match unpack_flags(flags) {
        Ok((format, compressed)) if format != Format::Plain || compressed != Compressed::No => {
            Err(ValueError::Encoded {
                format,
                compressed: compressed != Compressed::No,
            })
        }
        _ => Ok(()),
    }
}

/// Reads a fetched value as `T`, by the encoding its `flags` name. A compressed value may
/// declare at most `max_len` bytes.
pub(crate) fn decode<T: FromValue>(
    value: Bytes,
    flags: u32,
    max_len: usize,
) -> Result<T, ValueError> {
    if T::RAW {
        let (value, format) = as_stored(value, flags, max_len)?;
        return T::from_value(value, format);
    }
    let (format, compressed) = unpack_flags(flags)?;
    T::from_value(decompressed(value, compressed, max_len)?, format)
}

/// The value's bytes for a raw type: decompressed when the flags mark it lz4-compressed by
/// this client and it is, else as stored. Other clients' flags (PHP's user flags live in
/// bits 16–31, over our top byte) say nothing about the bytes, so they must not make them
/// unreadable. A declared size over `max_len` is still refused: it is this client's
/// format, and too large to read.
fn as_stored(value: Bytes, flags: u32, max_len: usize) -> Result<(Bytes, Format), ValueError> {
    let Ok((format, compressed)) = unpack_flags(flags) else {
        return Ok((value, Format::Plain));
    };
    match decompressed(value.clone(), compressed, max_len) {
        Ok(bytes) => Ok((bytes, format)),
        // Not an lz4 block of ours (flags of another client's that happen to set bit 28),
        // or no lz4 in this build to tell: the bytes as stored.
        Err(ValueError::Corrupt | ValueError::CompressionUnavailable) => Ok((value, Format::Plain)),
        Err(error) => Err(error),
    }
}

/// `value` as it was before compression.
fn decompressed(value: Bytes, compressed: Compressed, max_len: usize) -> Result<Bytes, ValueError> {
    match compressed {
        Compressed::No => Ok(value),
        Compressed::Lz4 => Ok(Bytes::from(compress::decompress(&value, max_len)?)),
    }
}
