//! What a request expects back: the context the decoder needs to read the reply stream.

use std::fmt;
use std::ops::Deref;

/// What the decoder must expect for one encoded request. [`crate::Encoder::encode`] returns
/// it; hand it to [`crate::Decoder::push`] in the order the requests are written.
///
/// The text protocol is ambiguous without this context: a bare number is only a reply to
/// `incr`/`decr`, `END` ends a retrieval or a `stats` listing, and a quiet meta request may
/// have no reply at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect(pub(crate) ExpectKind);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExpectKind {
    /// A `noreply` request or `quit`: nothing comes back.
    Nothing,
    Store,
    Delete,
    Touch,
    Arith,
    /// `flush_all`, `verbosity`: `OK`.
    Ok,
    /// `cache_memlimit`: `OK` or a `MEMLIMIT_*` status line.
    Memlimit,
    Version,
    Stats,
    Retrieve {
        /// The requested keys as written on the wire, separated by single spaces.
        keys: KeyList,
        with_cas: bool,
    },
    Meta {
        cmd: MetaCmd,
        quiet: bool,
        opaque: Opaque,
        /// The raw key (before any base64 encoding), recorded only when the request asked
        /// the server to echo it (flag `k`), so the decoder can check the echo.
        key: Option<KeyList>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetaCmd {
    Get,
    Set,
    Delete,
    Arith,
    Noop,
    Debug,
}

/// Key bytes recorded with a request: the keys of a retrieval as written on the wire
/// (separated by single spaces), or the raw key of a meta request. Short ones (most keys)
/// are kept inline, so recording them costs no allocation.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum KeyList {
    Inline {
        len: u8,
        bytes: [u8; KeyList::INLINE],
    },
    Heap(Box<[u8]>),
}

impl KeyList {
    const INLINE: usize = 62;

    pub(crate) fn new(keys: &[u8]) -> Self {
        if keys.len() <= Self::INLINE {
            let mut bytes = [0; Self::INLINE];
            bytes[..keys.len()].copy_from_slice(keys);
            KeyList::Inline {
                len: keys.len() as u8,
                bytes,
            }
        } else {
            KeyList::Heap(keys.into())
        }
    }
}

impl Deref for KeyList {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            KeyList::Inline { len, bytes } => &bytes[..usize::from(*len)],
            KeyList::Heap(keys) => keys,
        }
    }
}

impl fmt::Debug for KeyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.escape_ascii().to_string())
    }
}

/// An opaque token kept inline. The server caps the `O` flag, letter included, at 32
/// bytes (memcached's `opaque token too long`), which leaves 31 for the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Opaque {
    len: u8,
    bytes: [u8; Opaque::MAX],
}

impl Opaque {
    pub(crate) const MAX: usize = 31;

    /// Callers check the length first.
    pub(crate) fn new(token: Option<&[u8]>) -> Self {
        let mut opaque = Opaque::default();
        if let Some(token) = token {
            let len = token.len().min(Self::MAX);
            opaque.bytes[..len].copy_from_slice(&token[..len]);
            opaque.len = len as u8;
        }
        opaque
    }

    pub(crate) fn as_slice(&self) -> Option<&[u8]> {
        (self.len > 0).then(|| &self.bytes[..usize::from(self.len)])
    }
}

impl Expect {
    /// Whether the server answers this request at all (`false` for `noreply` and `quit`).
    /// Requests that expect nothing need not be pushed to the decoder (pushing them is a
    /// no-op).
    pub fn expects_reply(&self) -> bool {
        !matches!(self.0, ExpectKind::Nothing)
    }

    /// Whether this is a quiet meta request, which may get no reply of its own.
    pub fn is_quiet(&self) -> bool {
        matches!(self.0, ExpectKind::Meta { quiet: true, .. })
    }

    /// Whether this is `mn`, whose only reply is `MN`.
    pub(crate) fn is_noop(&self) -> bool {
        matches!(
            self.0,
            ExpectKind::Meta {
                cmd: MetaCmd::Noop,
                ..
            }
        )
    }

    /// Whether the request carries a data block after its command line (storage commands
    /// and `ms`): a server that does not know the command reads that block as commands.
    pub(crate) fn carries_data(&self) -> bool {
        matches!(
            self.0,
            ExpectKind::Store
                | ExpectKind::Meta {
                    cmd: MetaCmd::Set,
                    ..
                }
        )
    }

    /// A short name for the request kind, for diagnostics.
    pub fn name(&self) -> &'static str {
        match &self.0 {
            ExpectKind::Nothing => "no-reply request",
            ExpectKind::Store => "storage command",
            ExpectKind::Delete => "delete",
            ExpectKind::Touch => "touch",
            ExpectKind::Arith => "incr/decr",
            ExpectKind::Ok => "flush_all/verbosity",
            ExpectKind::Memlimit => "cache_memlimit",
            ExpectKind::Version => "version",
            ExpectKind::Stats => "stats",
            ExpectKind::Retrieve { .. } => "retrieval",
            ExpectKind::Meta { cmd, .. } => match cmd {
                MetaCmd::Get => "mg",
                MetaCmd::Set => "ms",
                MetaCmd::Delete => "md",
                MetaCmd::Arith => "ma",
                MetaCmd::Noop => "mn",
                MetaCmd::Debug => "me",
            },
        }
    }
}
