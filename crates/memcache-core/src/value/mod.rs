//! Typed values: what `set` stores and `get_as` reads besides raw bytes.
//!
//! A value is encoded by [`ToValue`] into bytes and a [`Format`]; the format (and the
//! compression, when the client compresses) is stored in the top byte of the item's client
//! flags, and [`FromValue`] checks it on the way back. Plain uncompressed values leave the
//! flags as the user gave them, so raw bytes cost nothing and read the same as before.

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

use crate::config::Config;

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

/// Reads a fetched value as `T`, by the encoding its `flags` name. A compressed value may
/// declare at most `max_len` bytes.
pub(crate) fn decode<T: FromValue>(
    value: Bytes,
    flags: u32,
    max_len: usize,
) -> Result<T, ValueError> {
    let (format, compressed) = unpack_flags(flags)?;
    let value = match compressed {
        Compressed::No => value,
        Compressed::Lz4 => Bytes::from(compress::decompress(&value, max_len)?),
    };
    T::from_value(value, format)
}
