//! Where a value's encoding lives in the item's 32-bit client flags.
//!
//! The top byte is the encoding and the low 24 bits are the user's: bits 24–27 hold the
//! [`Format`], bits 28–29 the compression, bits 30–31 are zero. A plain uncompressed value
//! keeps whatever flags the user gave, so raw stores behave as they always have.

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
