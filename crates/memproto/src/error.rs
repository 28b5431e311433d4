//! Error types: [`EncodeError`] for requests that cannot be written, [`DecodeError`] for
//! replies that break the protocol.

use thiserror::Error;

use crate::key::MAX_KEY_LEN;

/// Why a key was refused. Keys are checked before a single byte is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is empty; the server would read the next token as the key.
    #[error("key is empty")]
    Empty,
    /// The key is longer than the server's 250-byte limit ([`crate::MAX_KEY_LEN`]). A key
    /// sent base64-encoded has a lower limit of its own: see [`KeyError::TooLongForBase64`].
    #[error("key is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Length of the refused key.
        len: usize,
        /// The limit that applied.
        max: usize,
    },
    /// A key sent base64-encoded (meta flag `b`: [`crate::MetaCommon::base64`], which
    /// clients set for keys holding bytes the text rules forbid) is longer than
    /// [`crate::MAX_BASE64_KEY_LEN`] (186 bytes), the longest key whose encoding fits the
    /// server's 250-byte limit. Both lengths count the key as given, before encoding.
    #[error(
        "key is {len} bytes long; sent base64-encoded (it holds bytes the text protocol \
         forbids) the limit is {max}, as its encoding must fit the {MAX_KEY_LEN}-byte key limit"
    )]
    TooLongForBase64 {
        /// Length of the refused key, before encoding.
        len: usize,
        /// The longest key that fits once encoded ([`crate::MAX_BASE64_KEY_LEN`]).
        max: usize,
    },
    /// The key holds a control byte, a space or DEL, which would split or end the command.
    #[error("key byte {byte:#04x} at offset {index} is not allowed (control byte, space or DEL)")]
    ForbiddenByte {
        /// The refused byte.
        byte: u8,
        /// Its offset in the key.
        index: usize,
    },
    /// The key `noreply` where the server would read it as the `noreply` flag.
    ///
    /// [`crate::Encoder`] no longer returns it: the server reads a final `noreply` token as
    /// the flag only on commands whose last token is never the key (storage, `incr`,
    /// `decr`, `touch`) and on `delete` after a third token, so the key `noreply` is read
    /// as a key wherever the encoder writes it. The variant stays so that code matching on
    /// it keeps compiling.
    #[error("the key `noreply` cannot be the last token of a classic command")]
    Noreply,
}

/// A request that cannot be encoded. When encoding fails, nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A key broke the key rules.
    #[error("invalid key")]
    Key(#[from] KeyError),
    /// A multi-key command was given no key.
    #[error("no keys given")]
    NoKeys,
    /// The value is larger than the configured maximum.
    #[error("value is {len} bytes; the configured maximum is {max}")]
    ValueTooLarge {
        /// Length of the refused value.
        len: usize,
        /// The configured maximum ([`crate::Encoder::max_value_len`]).
        max: usize,
    },
    /// An expiration time does not fit the server's signed 32-bit field.
    #[error("expiration time {0} does not fit the server's signed 32-bit field")]
    ExptimeOutOfRange(u64),
    /// A relative expiration over 30 days must be turned into an absolute time first.
    #[error(
        "relative expiration of {0} s is over 30 days and the server would read it as a Unix time; \
         resolve it against the clock first (Exptime::resolve)"
    )]
    ExptimeNeedsClock(u64),
    /// An opaque token is longer than the server's limit: 31 bytes (memcached counts the
    /// flag's letter in its 32).
    #[error("opaque is {0} bytes; the limit is 31")]
    OpaqueTooLong(usize),
    /// A free-form token (opaque, stats argument) is empty or holds a forbidden byte.
    #[error("invalid token: {0}")]
    Token(KeyError),
    /// A quiet meta request needs an opaque so its (possibly absent) reply can be paired.
    #[error("a quiet meta request needs an opaque to pair its reply")]
    QuietWithoutOpaque,
    /// The command line would exceed the server's 2048-byte line limit, where the server
    /// closes the connection. Split the keys over several commands.
    #[error("command line would be {len} bytes; the server allows {max}")]
    LineTooLong {
        /// Length the line would have, CRLF included.
        len: usize,
        /// The server's limit.
        max: usize,
    },
}

/// A reply that breaks the protocol. Every variant is fatal for the connection: the stream
/// can no longer be trusted to pair replies with requests, so close it and fail what was
/// pending on it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line grew past the configured maximum without a line feed.
    #[error("reply line longer than {max} bytes")]
    LineTooLong {
        /// The configured maximum ([`crate::Limits::max_line_len`]).
        max: usize,
    },
    /// A line ended in a bare `\n` instead of `\r\n`.
    #[error("reply line ends without a carriage return")]
    BareLineFeed,
    /// A value announced more bytes than the configured maximum (checked before buffering).
    #[error("reply announces a {len}-byte value; the configured maximum is {max}")]
    ValueTooLarge {
        /// The announced length.
        len: u64,
        /// The configured maximum ([`crate::Limits::max_value_len`]).
        max: usize,
    },
    /// A data block was not followed by `\r\n`.
    #[error("value data is not followed by CRLF")]
    MissingDataTerminator,
    /// [`crate::Decoder::decode_data_block`] was handed a block while none was in
    /// progress, or one of another length than the value's header announced.
    #[error("data block handed over does not match the value in progress")]
    MisplacedDataBlock,
    /// A number in a reply is not a plain, in-range decimal.
    #[error("invalid number in reply: {0}")]
    InvalidNumber(Excerpt),
    /// A line does not have the shape its reply kind requires.
    #[error("malformed reply line: {0}")]
    Malformed(Excerpt),
    /// A reply the pending request cannot produce.
    #[error("unexpected reply to {expected}: {line}")]
    UnexpectedReply {
        /// The kind of request at the head of the queue.
        expected: &'static str,
        /// The start of the offending line.
        line: Excerpt,
    },
    /// Bytes arrived while no request was pending.
    #[error("reply received while no request is pending: {0}")]
    Unsolicited(Excerpt),
    /// A retrieval returned a key that was not requested.
    #[error("reply holds an item for a key that was not requested: {0}")]
    UnrequestedKey(Excerpt),
    /// A retrieval returned the same key twice.
    #[error("reply holds the same key twice: {0}")]
    DuplicateKey(Excerpt),
    /// A meta reply carried an opaque that does not match its request.
    #[error("meta reply opaque does not match the request: {0}")]
    OpaqueMismatch(Excerpt),
    /// A meta request asked for its key back (flag `k`) and the reply echoes another key,
    /// or a hit (`VA`, `HD`) echoes none: the reply may be for someone else's key.
    #[error("meta reply key does not match the request: {0}")]
    KeyMismatch(Excerpt),
    /// An error line arrived while a quiet meta request headed the queue, and the quiet
    /// requests are not ended by `mn`: the line may answer the request that ends them, so
    /// it cannot be attributed (end quiet runs with [`crate::Command::MetaNoop`]).
    #[error("error line cannot be attributed: quiet requests not ended by mn are pending: {0}")]
    AmbiguousErrorLine(Excerpt),
    /// The server answered `ERROR` (unknown command) to a command that carries a data block
    /// (`ms`, or a storage command): it reads that block as more commands and answers those
    /// as well, so the replies that follow no longer pair with the requests. A server
    /// without meta commands (before memcached 1.6) does this to `ms`.
    #[error("server does not know a command that carries data; the stream is out of sync: {0}")]
    UnknownCommandWithData(Excerpt),
    /// Too many lines in one multi-line reply.
    #[error("multi-line reply exceeds {max} lines")]
    TooManyLines {
        /// The configured maximum ([`crate::Limits::max_reply_lines`]).
        max: usize,
    },
    /// One reply grew past the configured total (checked before its next data block is
    /// buffered).
    #[error("reply exceeds {max} bytes in total")]
    ReplyTooLarge {
        /// The configured maximum ([`crate::Limits::max_reply_len`]).
        max: usize,
    },
    /// The decoder already failed; the connection must be closed.
    #[error("decoder already failed; the connection must be closed")]
    Poisoned,
}

/// The first bytes of an offending line, kept for diagnostics (at most 64 bytes, lossily
/// converted to UTF-8, control bytes escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt(String);

impl Excerpt {
    const MAX: usize = 64;

    pub(crate) fn of(bytes: &[u8]) -> Self {
        let shown = &bytes[..bytes.len().min(Self::MAX)];
        let mut text: String = shown.escape_ascii().to_string();
        if bytes.len() > Self::MAX {
            text.push_str("...");
        }
        Excerpt(text)
    }

    /// The excerpt as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Excerpt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}
