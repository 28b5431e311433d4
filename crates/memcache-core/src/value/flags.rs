//! Where a value's encoding lives in the item's 32-bit client flags.
//!
//! The top byte is the encoding and the low 24 bits are the user's: bits 24–27 hold the
//! [`Format`], bits 28–29 the compression, bits 30–31 are zero. A plain uncompressed value
//! keeps whatever flags the user gave, so raw stores behave as they always have. Flags that
//! name no encoding of this client's (another client's, or raw flags using the top byte)
//! are [`ValueError::UnknownEncoding`] for typed reads; the raw types read them as stored.

use std::fmt;

use crate::value::ValueError;

/// The flags left to the user once a value is encoded.
pub(crate) const USER_MASK: u32 = 0x00FF_FFFF;
const FORMAT_SHIFT: u32 = 24;
const FORMAT_MASK: u32 = 0xF << FORMAT_SHIFT;
const COMPRESSION_SHIFT: u32 = 28;
const COMPRESSION_MASK: u32 = 0x3 << COMPRESSION_SHIFT;
/// Kept at zero for encodings to come; a set bit is an encoding this client does not know.
const RESERVED_MASK: u32 = 0x3 << 30;

/// How a value's bytes are to be read.
///
/// # Where the encoding is kept
///
/// The format and the compression live in the top byte of the item's 32-bit client flags:
///
/// | bits  | meaning                                                  |
/// |-------|----------------------------------------------------------|
/// | 0–23  | yours: the flags given to `.flags()`                     |
/// | 24–27 | the format: 0 plain, 1 JSON, 2 MessagePack               |
/// | 28–29 | the compression: 0 none, 1 lz4                           |
/// | 30–31 | reserved, zero                                           |
///
/// A plain uncompressed value (bytes, text, integers) stores the flags exactly as given,
/// top byte included, so raw stores read the same as with any other client. An encoded or
/// compressed one leaves you the low 24 bits ([`ValueError::FlagsReserved`] otherwise).
/// Typed reads (`String`, integers, `Json`, `MsgPack`) check the top byte and refuse flags
/// that name no encoding of this client's ([`ValueError::UnknownEncoding`]); `Bytes` and
/// `Vec<u8>` read any item, returning the bytes as stored unless the flags mark a value
/// this client lz4-compressed.
///
/// # What other clients see
///
/// A compressed value is an lz4 block preceded by its decompressed size (4 bytes, little
/// endian), under flags with bit 28 set. Clients that do not know this format read those
/// bytes as they are, since their own flag bits are all low ones:
///
/// - pymemcache returns bytes as stored without a serde; its pickle serde looks at bits
///   0–4 only (1 pickle, 2 integer, 4 long, 16 text; 8, "compressed", is unused), and
///   flags with none of them set fall through to the bytes as stored.
/// - pylibmc inflates zlib when bit 3 (8) is set and picks the type from bits 0–4 (1
///   pickle, 2 integer, 4 long, 16 text, none of them: bytes); the top byte means nothing
///   to it, so it returns the bytes as stored.
/// - PHP's memcached extension keeps its type in bits 0–3 (0 string), its own compression
///   in bits 4–15 (0x10 compressed, 0x20 zlib, 0x40 fastlz) and its user flags in bits
///   16–31: it reads our value as a string of the compressed bytes, and our top byte as
///   its user flags (JSON as user flag `0x0100`, lz4 as `0x1000`).
///
/// Going the other way, their low bits are your 24 bits here: their values read as plain
/// bytes (PHP's compressed ones as its compressed bytes). PHP's user flags can land in our
/// top byte; typed reads then refuse them, raw reads still return the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// The bytes are the value: raw bytes, text, or a decimal integer.
    Plain,
    /// JSON (serde_json), written by `Json`.
    Json,
    /// MessagePack with named fields (rmp-serde), written by `MsgPack`.
    MessagePack,
}

impl Format {
    fn code(self) -> u32 {
        match self {
            Format::Plain => 0,
            Format::Json => 1,
            Format::MessagePack => 2,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Format::Plain),
            1 => Some(Format::Json),
            2 => Some(Format::MessagePack),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Plain => "plain bytes",
            Format::Json => "JSON",
            Format::MessagePack => "MessagePack",
        })
    }
}

/// How a stored value's bytes were compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compressed {
    /// Stored as encoded.
    No,
    /// An lz4 block with the decompressed size prepended (4 bytes, little endian).
    Lz4,
}

impl Compressed {
    fn code(self) -> u32 {
        match self {
            Compressed::No => 0,
            Compressed::Lz4 => 1,
        }
    }
}

/// The flags to store a value with: `user`'s unchanged for a plain uncompressed value, else
/// `user` (which must fit in the low 24 bits) with the encoding in the top byte.
pub(crate) fn pack_flags(
    user: u32,
    format: Format,
    compressed: Compressed,
) -> Result<u32, ValueError> {
    if format == Format::Plain && compressed == Compressed::No {
        return Ok(user);
    }
    if user & !USER_MASK != 0 {
        return Err(ValueError::FlagsReserved { flags: user });
    }
    Ok(user | format.code() << FORMAT_SHIFT | compressed.code() << COMPRESSION_SHIFT)
}

/// The format and compression that an item's flags name.
pub(crate) fn unpack_flags(flags: u32) -> Result<(Format, Compressed), ValueError> {
    let unknown = || ValueError::UnknownEncoding { flags };
    if flags & RESERVED_MASK != 0 {
        return Err(unknown());
    }
    let Some(format) = Format::from_code((flags & FORMAT_MASK) >> FORMAT_SHIFT) else {
        return Err(unknown());
    };
    let compressed = match (flags & COMPRESSION_MASK) >> COMPRESSION_SHIFT {
        0 => Compressed::No,
        1 => Compressed::Lz4,
        _ => return Err(unknown()),
    };
    Ok((format, compressed))
}
