//! Why a value could not be encoded or decoded.

use crate::value::Format;

/// A value that could not be turned into bytes, or bytes that could not be turned back into
/// the type asked for. Nothing was sent (encoding) or the item stays as it is (decoding):
/// the request itself succeeded or never started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The item was stored in another format than the type asked for reads: a JSON value
    /// read as a `String`, a plain one as `Json<T>`. Read it as the format it has, or as
    /// `Bytes`, which takes any.
    #[error("the value is stored as {found}, not {expected}")]
    WrongFormat {
        /// The format the type reads.
        expected: Format,
        /// The format the item's flags name.
        found: Format,
    },
    /// The item's flags name a format or compression this client does not know (written by
    /// a newer client, another client's flags, or raw flags that happen to use the top
    /// byte). The raw `get`, and `get_as` of `Bytes` or `Vec<u8>`, still read it.
    #[error("flags {flags:#010x} name an unknown value encoding")]
    UnknownEncoding {
        /// The item's flags.
        flags: u32,
    },
    /// `append` or `prepend` was refused: the item's flags say this client stored it encoded
    /// (JSON, MessagePack) or compressed, and joining raw bytes to it would corrupt it for
    /// good. Nothing was sent but the check that read the flags. Read the value with
    /// `get_as`, change it and `set` it back; or, if the flags are your own rather than an
    /// encoding (raw flags that use the top byte), join with `.unchecked()`.
    #[error(
        "the item is stored as {format} (compressed: {compressed}): joining bytes would corrupt it"
    )]
    Encoded {
        /// The format the item's flags name.
        format: Format,
        /// Whether they say it is compressed.
        compressed: bool,
    },
    /// An encoded (non-plain or compressed) value was given flags that use the top byte,
    /// which holds the encoding. Keep such flags within the low 24 bits.
    #[error("flags {flags:#010x} use the top byte, which encoded values reserve")]
    FlagsReserved {
        /// The flags given.
        flags: u32,
    },
    /// A plain value read as a `String` is not valid UTF-8.
    #[error("the value is not valid UTF-8")]
    NotUtf8,
    /// A plain value read as an integer is not a decimal number of that type.
    #[error("the value is not a decimal integer in range")]
    NotAnInteger,
    /// A compressed value declares a decompressed size over the client's largest value
    /// ([`crate::ClientBuilder::max_value_len`]; for [`crate::Item::decode`] the item's
    /// [`max_value_len`](crate::Item::max_value_len)); it is refused before anything is
    /// allocated for it.
    #[error("compressed value declares {declared} bytes, over the {max} byte limit")]
    TooLarge {
        /// The size the value declares.
        declared: usize,
        /// The client's largest value.
        max: usize,
    },
    /// A compressed value does not decompress: its data is damaged (or its flags are
    /// another client's that happen to mark it compressed; `Bytes` and `Vec<u8>` then
    /// read it as stored).
    #[error("compressed value is corrupt")]
    Corrupt,
    /// Serializing the value failed (for example a map whose keys JSON cannot express).
    #[error("cannot encode the value: {0}")]
    Encode(String),
    /// Deserializing the value failed: it does not hold the type asked for.
    #[error("cannot decode the value: {0}")]
    Decode(String),
    /// The value is lz4-compressed and this build has no lz4 support: enable the `lz4`
    /// feature.
    #[error("the value is compressed and the `lz4` feature is not enabled")]
    CompressionUnavailable,
    /// An item was fetched without its flags, so its format is unknown: fetch it with
    /// `return_flags()` before decoding it.
    #[error("the item was fetched without its flags: call return_flags() on the request")]
    FlagsNotFetched,
}
