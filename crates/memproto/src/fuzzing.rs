//! Fuzz harnesses: **unstable internals** for the cargo-fuzz targets in `fuzz/` and for the
//! corpus replay test (`tests/corpus.rs`). Not part of the public API; anything here may change
//! or disappear in any release.
//!
//! Every harness takes raw fuzzer bytes, derives its structure from them (no `arbitrary`
//! dependency), and panics only when an invariant of the crate is broken:
//!
//! - [`decode_raw`]: decode a hostile reply stream for a pipeline of real requests.
//! - [`decode_chunked`]: the same stream fed in pieces must decode exactly like the whole,
//!   also when the transport hands each value's data block over on its own.
//! - [`encode_no_injection`]: any command built from any bytes either fails and writes nothing,
//!   or writes exactly one well-formed command as the server would parse it.
//!
//! # Input layouts
//!
//! `decode_raw`: `[header][selector; n][server bytes...]`. `header & 0x07` is the number `n`
//! of requests (0 to 7); `header & 0x08` picks [`TINY_LIMITS`] instead of [`SMALL_LIMITS`];
//! the other bits are ignored. Each selector picks a request template (`selector % 33`, see
//! `template`). Everything after the selectors is what the server sent.
//!
//! `decode_chunked`: `[chunking][decode_raw input...]`. A chunking byte of 0 feeds the server
//! bytes one at a time; any other value `s` feeds chunks of 0 to `s` bytes drawn from a
//! generator seeded with `s`.
//!
//! `encode_no_injection`: `[kind][options][fields...]`, see `Spec::read`.
//!
//! `fuzz/seeds.py` writes the committed seed corpus in these layouts; keep the two in sync.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;

use crate::expect::{ExpectKind, MetaCmd};
use crate::{
    ArithOp, Command, DecodeError, Decoder, EncodeError, Encoder, Expect, Exptime, Limits,
    MetaArith, MetaArithMode, MetaCommon, MetaDelete, MetaGet, MetaReply, MetaSet, MetaSetMode,
    MetaStatus, Reply, Retrieve, RetrieveKind, Store, StoreMode,
};

/// The limits `decode_raw` and `decode_chunked` use by default.
pub const SMALL_LIMITS: Limits = Limits {
    max_line_len: 256,
    max_value_len: 4096,
    max_reply_lines: 64,
    max_reply_len: 8192,
};

/// Limits small enough for short inputs to hit every bound (`header & 0x08`).
pub const TINY_LIMITS: Limits = Limits {
    max_line_len: 24,
    max_value_len: 8,
    max_reply_lines: 2,
    max_reply_len: 32,
};

/// Extra bytes allowed in the read buffer's capacity bound (see [`decode_raw`]).
const CAPACITY_SLACK: usize = 64;

/// What a decode harness observed, for the corpus test's checks on named seeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOutcome {
    /// Requests pushed that expect a reply.
    pub pending: usize,
    /// Replies decoded.
    pub replies: usize,
    /// Server bytes consumed.
    pub consumed: usize,
    /// Server bytes given.
    pub input: usize,
    /// The error the decode ended with, if it did not end with `Ok(None)`.
    pub error: Option<DecodeError>,
}

/// Decodes the server bytes of `data` in one go, for the pipeline of requests its first bytes
/// choose (layout in the [module docs](self)). Panics if an invariant breaks:
///
/// - decoding never panics, consumes at most the input, and never makes the buffer longer;
/// - each reply completes exactly one pending request (pending drops by one), so there are at
///   most as many replies as requests, and nothing is decoded while nothing is pending;
/// - each reply is one the request at the head of the queue can have (no `Values` for a
///   `set`, no `Quiet` for a non-quiet request, no error line for a quiet one...);
/// - a `Values` reply holds only requested keys, each at most once, with a CAS exactly for
///   `gets`/`gats`; a meta reply echoes exactly the request's opaque, and the request's key
///   when it asked for it (a hit always does);
/// - every value is at most `max_value_len` bytes; a `stats` reply has at most
///   `max_reply_lines` lines; the values of one reply, or the lines of one `stats` reply,
///   total at most `max_reply_len` bytes;
/// - the buffer's capacity stays within
///   `2 * max(input, max_value_len + max_line_len + 64)` (the factor 2 is `BytesMut`'s
///   amortised growth): a header announcing a huge value reserves nothing;
/// - `Ok(None)` is stable: calling again without new bytes returns `Ok(None)` and consumes
///   nothing;
/// - the first error is never `Poisoned`; after it every call returns `Err(Poisoned)` and
///   leaves the buffer alone.
pub fn decode_raw(data: &[u8]) -> DecodeOutcome {
    let mut source = Source::new(data);
    let mut session = Session::new(&mut source);
    let input = source.rest();
    let mut buf = BytesMut::from(input);
    let limits = session.limits;
    let bound = 2 * input
        .len()
        .max(limits.max_value_len + limits.max_line_len + CAPACITY_SLACK);
    let error = loop {
        let step = session.decode(&mut buf);
        assert!(
            buf.capacity() <= bound,
            "read buffer capacity {} exceeds the bound {bound}",
            buf.capacity()
        );
        match step {
            Ok(Some(_)) => {}
            Ok(None) => {
                let left = buf.len();
                assert_eq!(session.decode(&mut buf), Ok(None), "Ok(None) is not stable");
                assert_eq!(buf.len(), left, "a repeated Ok(None) consumed bytes");
                break None;
            }
            Err(error) => break Some(error),
        }
    };
    session.outcome(input.len(), buf.len(), error)
}

/// Decodes the server bytes of `data[1..]` three times: all at once; in chunks whose sizes
/// derive from `data[0]` (layout in the [module docs](self)), calling `decode` until
/// `Ok(None)` after every chunk; and in the same chunks, gathering each data block not yet
/// buffered in a separate buffer handed over with [`Decoder::decode_data_block`]. All runs
/// check every [`decode_raw`] invariant except the capacity bound (the chunked buffer
/// grows by the harness's own appends). Panics unless:
///
/// - all runs produce the same replies, in the same order, and fail alike;
/// - if the whole run ended with `Ok(None)`, the chunked run ends with `Ok(None)` too after
///   the last chunk, with the same bytes left in the buffer and the same requests pending;
/// - if the whole run ended with `Err(e)`, the chunked run ends with `Err(e)` (the chunked
///   run may hit it on a shorter buffer, so for `Unsolicited` the excerpt may be a prefix).
///
/// Returns the outcome of the whole run.
pub fn decode_chunked(data: &[u8]) -> DecodeOutcome {
    let Some((&chunking, data)) = data.split_first() else {
        return decode_raw(data);
    };

    let mut source = Source::new(data);
    let mut whole = Session::new(&mut source);
    let input = source.rest();
    let mut whole_buf = BytesMut::from(input);
    let whole_end = whole.run(&mut whole_buf);

    let mut chunked = Session::new(&mut Source::new(data));
    let mut buf = BytesMut::new();
    let mut sizes = ChunkSizes::new(chunking);
    let mut fed = 0;
    let chunked_end = loop {
        let size = sizes.next().min(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + size]);
        fed += size;
        if let Some(error) = chunked.run(&mut buf) {
            break Some(error);
        }
        if fed == input.len() {
            break None;
        }
    };

    assert_eq!(
        chunked.replies, whole.replies,
        "chunked decoding produced other replies than decoding the whole input"
    );
    let (handed, handed_end) = decode_handing_blocks_over(data, chunking);
    assert_eq!(
        handed.replies, whole.replies,
        "handing data blocks over produced other replies than decoding the whole input"
    );
    if let (Some(whole_error), Some(handed_error)) = (&whole_end, &handed_end) {
        assert!(
            same_error(whole_error, handed_error),
            "whole input failed with {whole_error:?}, with blocks handed over {handed_error:?}"
        );
    } else {
        assert_eq!(
            whole_end.is_some(),
            handed_end.is_some(),
            "whole input ended with {whole_end:?}, with blocks handed over {handed_end:?}"
        );
    }
    match (&whole_end, &chunked_end) {
        (None, None) => {
            assert_eq!(
                &buf[..],
                &whole_buf[..],
                "chunked decoding left other bytes"
            );
            assert_eq!(chunked.decoder.pending(), whole.decoder.pending());
        }
        (Some(whole_error), Some(chunked_error)) => assert!(
            same_error(whole_error, chunked_error),
            "whole input failed with {whole_error:?}, chunked input with {chunked_error:?}"
        ),
        _ => panic!("whole input ended with {whole_end:?}, chunked input with {chunked_end:?}"),
    }
    whole.outcome(input.len(), whole_buf.len(), whole_end)
}

/// Decodes like the chunked run of [`decode_chunked`], but as a transport with storage of
/// its own for values does: once a data block is in progress and not all buffered, its
/// bytes go into a separate buffer, handed over with [`Decoder::decode_data_block`].
fn decode_handing_blocks_over(data: &[u8], chunking: u8) -> (Session, Option<DecodeError>) {
    let mut source = Source::new(data);
    let mut session = Session::new(&mut source);
    let input = source.rest();
    let mut buf = BytesMut::new();
    // The block being gathered, and its full length.
    let mut block: Option<(Vec<u8>, usize)> = None;
    let mut sizes = ChunkSizes::new(chunking);
    let mut fed = 0;
    let end = loop {
        let size = sizes.next().min(input.len() - fed);
        let mut chunk = &input[fed..fed + size];
        fed += size;
        let failed = loop {
            if let Some((gathered, len)) = &mut block {
                let take = (*len - gathered.len()).min(chunk.len());
                gathered.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if gathered.len() < *len {
                    break None;
                }
                let full = std::mem::take(gathered);
                block = None;
                if let Err(error) = session.decode_data_block(full.into(), &buf) {
                    break Some(error);
                }
            }
            buf.extend_from_slice(chunk);
            chunk = &[];
            if let Some(error) = session.run(&mut buf) {
                break Some(error);
            }
            match session.decoder.data_block_len() {
                Some(len) if buf.len() < len => block = Some((buf.split().to_vec(), len)),
                _ => break None,
            }
        };
        if failed.is_some() || fed == input.len() {
            break failed;
        }
    };
    (session, end)
}

/// Builds one command of any kind from `data`, with keys, tokens and values of arbitrary
/// bytes (`\r`, `\n`, space, NUL, `noreply`, over-long...), and encodes it after a marker.
/// Panics unless:
///
/// - on `Err`, the buffer still holds exactly the marker;
/// - on `Ok`, the marker is intact and what follows it, read the way the server reads it
///   (the line ends at the first `\n`, tokens split on spaces, storage data is exactly
///   `<bytes>` then `\r\n`), is exactly one command: no control byte in the line except its
///   final `\r\n`, no empty token, the key token is the key (its base64 form for binary meta
///   keys), the server reads the `noreply` flag exactly when it was asked for (classic
///   commands; the key `noreply` is never mistaken for it),
///   the line fits the server's 2048-byte limit (except `get`/`gets`), and nothing follows;
/// - `Ok` or `Err` agrees with an independent model of the documented rules, and on `Ok` the
///   tokens are the ones the model predicts (meta flags in any order, each once) and the
///   returned [`Expect`] matches the command.
///
/// Returns the encoder's result.
pub fn encode_no_injection(data: &[u8]) -> Result<(), EncodeError> {
    const MARKER: &[u8] = b"<marker>\r\n";
    let mut source = Source::new(data);
    let spec = Spec::read(&mut source);
    let small = spec.small_encoder;
    let encoder = if small {
        Encoder::with_max_value_len(SMALL_MAX_VALUE)
    } else {
        Encoder::new()
    };
    let refs: Vec<&[u8]> = spec.list.iter().map(Vec::as_slice).collect();
    let command = spec.command(&refs);
    let model = spec.model(encoder.max_value_len());

    let mut out = BytesMut::from(MARKER);
    let result = encoder.encode(&command, &mut out);
    let expect = match result {
        Err(error) => {
            assert_eq!(&out[..], MARKER, "failed encode of {command:?} wrote bytes");
            if let Ok(model) = model {
                panic!("{command:?} refused with {error:?}, but the model accepts {model:?}");
            }
            return Err(error);
        }
        Ok(expect) => expect,
    };
    assert!(out.starts_with(MARKER), "encode overwrote the buffer");
    let written = &out[MARKER.len()..];
    let model = match model {
        Ok(model) => model,
        Err(reason) => panic!(
            "{command:?} encoded as {:?} although it breaks a rule: {reason}",
            written.escape_ascii().to_string()
        ),
    };
    check_written(&spec, &model, written);
    check_expect(&spec, &expect);
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Input reading

/// Reads fields from fuzzer bytes; past the end every read yields zeros.
struct Source<'a> {
    data: &'a [u8],
}

/// Keys and tokens that matter, picked by one byte (`0x00..=0x3F`, modulo the length).
const PALETTE: [&[u8]; 16] = [
    b"k1",
    b"noreply",
    b"",
    b"a b",
    b"k\r\nflush_all",
    b"k\n",
    b"\0",
    b"\x7f",
    b"cl\xc3\xa9",
    b"k\r",
    b"O",
    b"q",
    b"noreplyx",
    b"-1",
    b"\t",
    b"Oabc",
];

impl<'a> Source<'a> {
    fn new(data: &'a [u8]) -> Self {
        Source { data }
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    fn take(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(len.min(self.data.len()));
        self.data = rest;
        taken
    }

    fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    fn u32(&mut self) -> u32 {
        let mut bytes = [0; 4];
        let taken = self.take(4);
        bytes[..taken.len()].copy_from_slice(taken);
        u32::from_le_bytes(bytes)
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// A key or token: one mode byte, then
    /// `0x00..=0x3F` a [`PALETTE`] entry;
    /// `0x40..=0x7F` `mode - 0x40` raw bytes;
    /// `0x80..=0xBF` a fill byte, then a byte `r`: the fill repeated `(mode - 0x80) * 4 + r % 4`
    /// times (up to 255, for long keys);
    /// `0xC0..=0xFF` a length byte, then that many raw bytes.
    fn key(&mut self) -> Vec<u8> {
        let mode = self.u8();
        match mode {
            0x00..=0x3F => PALETTE[usize::from(mode) % PALETTE.len()].to_vec(),
            0x40..=0x7F => self.take(usize::from(mode - 0x40)).to_vec(),
            0x80..=0xBF => {
                let fill = self.u8();
                let len = usize::from(mode - 0x80) * 4 + usize::from(self.u8() % 4);
                vec![fill; len]
            }
            0xC0..=0xFF => {
                let len = usize::from(self.u8());
                self.take(len).to_vec()
            }
        }
    }

    /// A value: a length byte, then that many raw bytes.
    fn value(&mut self) -> Vec<u8> {
        let len = usize::from(self.u8());
        self.take(len).to_vec()
    }

    /// An optional expiration: a selector byte, `% 6`: 0 none; 1 `Never`; 2 `After` a u32 of
    /// seconds; 3 `After` a u64 of seconds and a u32 of nanoseconds; 4 `At` a u32; 5 `At` a u64.
    fn exptime(&mut self) -> Option<Exptime> {
        Some(match self.u8() % 6 {
            0 => return None,
            1 => Exptime::Never,
            2 => Exptime::After(Duration::from_secs(self.u32().into())),
            3 => {
                let secs = self.u64();
                Exptime::After(Duration::new(secs, self.u32() % 1_000_000_000))
            }
            4 => Exptime::At(self.u32().into()),
            _ => Exptime::At(self.u64()),
        })
    }

    fn u64_if(&mut self, present: bool) -> Option<u64> {
        present.then(|| self.u64())
    }
}

/// The bits of `byte`, by index (0 is the lowest).
fn bits_of(byte: u8) -> impl Fn(u8) -> bool {
    move |n| byte & (1 << n) != 0
}

/// Chunk sizes for [`decode_chunked`].
struct ChunkSizes {
    max: u8,
    state: u32,
    last_was_empty: bool,
}

impl ChunkSizes {
    fn new(max: u8) -> Self {
        ChunkSizes {
            max,
            state: 0x9E37_79B9 ^ u32::from(max),
            last_was_empty: false,
        }
    }

    fn next(&mut self) -> usize {
        if self.max == 0 {
            return 1;
        }
        // xorshift32
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        let mut size = self.state as usize % (usize::from(self.max) + 1);
        if size == 0 && self.last_was_empty {
            size = 1;
        }
        self.last_was_empty = size == 0;
        size
    }
}

// ------------------------------------------------------------------------------------------
// Decoding

/// What the harness expects for one pending request, chosen from the template and the
/// command it encodes, never read off the encoder's [`Expect`]. It names reply kinds with the
/// crate's own [`ExpectKind`] and [`MetaCmd`] variants.
#[derive(Debug)]
enum Awaits {
    /// A classic request other than a retrieval: `Store`, `Delete`, `Touch`, `Arith`, `Ok`,
    /// `Memlimit`, `Version` or `Stats`.
    Classic(ExpectKind),
    Retrieve {
        keys: Vec<Vec<u8>>,
        with_cas: bool,
    },
    Meta {
        cmd: MetaCmd,
        quiet: bool,
        opaque: Option<&'static [u8]>,
        /// The raw key, when the request asked for it back (flag `k`).
        echo: Option<Vec<u8>>,
    },
}

impl Awaits {
    /// What a meta request awaits, read off the command: its kind, opaque, quiet mode and,
    /// when it asked for it back (flag `k`), its raw key.
    fn meta(command: &Command<'static>) -> Awaits {
        let (cmd, common, key) = match *command {
            Command::MetaGet(get) => (MetaCmd::Get, get.common, get.key),
            Command::MetaSet(set) => (MetaCmd::Set, set.common, set.key),
            Command::MetaDelete(delete) => (MetaCmd::Delete, delete.common, delete.key),
            Command::MetaArith(arith) => (MetaCmd::Arith, arith.common, arith.key),
            Command::MetaNoop => (MetaCmd::Noop, MetaCommon::default(), &b""[..]),
            Command::MetaDebug { key, .. } => (MetaCmd::Debug, MetaCommon::default(), key),
            _ => panic!("{command:?} is not a meta command"),
        };
        Awaits::Meta {
            cmd,
            quiet: common.quiet,
            opaque: common.opaque,
            echo: common.return_key.then(|| key.to_vec()),
        }
    }
}

/// Number of request templates.
const TEMPLATES: usize = 33;
/// Keys in template 5's multi-get, more than one `u64` of the decoder's key bitmap.
const MANY_KEYS: usize = 70;

/// Encodes request template `index` into `out`; returns its `Expect` and what the harness
/// awaits (`None` for requests without a reply). Indices are part of the seed format.
fn template(index: usize, out: &mut BytesMut) -> (Expect, Option<Awaits>) {
    use ExpectKind as K;
    use RetrieveKind::{Gat, Gats, Get, Gets};
    let minute = Exptime::After(Duration::from_secs(60));
    let encode = |command: &Command<'_>, out: &mut BytesMut| {
        Encoder::new()
            .encode(command, out)
            .unwrap_or_else(|error| panic!("template {index} does not encode: {error}"))
    };
    let simple = |command: Command<'_>, awaits: Option<ExpectKind>, out: &mut BytesMut| {
        (encode(&command, out), awaits.map(Awaits::Classic))
    };
    let retrieve = |kind: RetrieveKind, keys: &[&[u8]], out: &mut BytesMut| {
        let expect = encode(&Command::Retrieve(Retrieve { kind, keys }), out);
        let awaits = Awaits::Retrieve {
            keys: keys.iter().map(|key| key.to_vec()).collect(),
            with_cas: matches!(kind, Gets | Gats(_)),
        };
        (expect, Some(awaits))
    };
    let meta = |command: Command<'static>| {
        let expect = encode(&command, &mut BytesMut::new());
        (expect, Some(Awaits::meta(&command)))
    };
    let common = |opaque: Option<&'static [u8]>, quiet: bool| MetaCommon {
        opaque,
        quiet,
        ..MetaCommon::default()
    };
    let store = |mode: StoreMode, noreply: bool| {
        Command::Store(Store {
            noreply,
            ..Store::new(mode, b"k1", b"v")
        })
    };
    match index {
        0 => retrieve(Get, &[b"k1"], out),
        1 => retrieve(Get, &[b"k1", b"k2", b"k3"], out),
        2 => retrieve(Gets, &[b"k1", b"k2"], out),
        3 => retrieve(Gat(minute), &[b"k1", b"k2"], out),
        4 => retrieve(Gats(minute), &[b"k1"], out),
        5 => {
            let keys: Vec<Vec<u8>> = (0..MANY_KEYS)
                .map(|i| format!("k{i}").into_bytes())
                .collect();
            let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            retrieve(Get, &refs, out)
        }
        6 => simple(store(StoreMode::Set, false), Some(K::Store), out),
        7 => simple(store(StoreMode::Add, false), Some(K::Store), out),
        8 => simple(store(StoreMode::Cas(42), false), Some(K::Store), out),
        9 => simple(store(StoreMode::Set, true), None, out),
        10 => simple(
            Command::Delete {
                key: b"k1",
                noreply: false,
            },
            Some(K::Delete),
            out,
        ),
        11 => simple(
            Command::Arith {
                op: ArithOp::Incr,
                key: b"k1",
                delta: 1,
                noreply: false,
            },
            Some(K::Arith),
            out,
        ),
        12 => simple(
            Command::Arith {
                op: ArithOp::Decr,
                key: b"k2",
                delta: 5,
                noreply: false,
            },
            Some(K::Arith),
            out,
        ),
        13 => simple(
            Command::Touch {
                key: b"k1",
                exptime: minute,
                noreply: false,
            },
            Some(K::Touch),
            out,
        ),
        14 => simple(
            Command::FlushAll {
                delay: None,
                noreply: false,
            },
            Some(K::Ok),
            out,
        ),
        15 => simple(
            Command::Verbosity {
                level: 1,
                noreply: false,
            },
            Some(K::Ok),
            out,
        ),
        16 => simple(
            Command::CacheMemlimit {
                megabytes: 64,
                noreply: false,
            },
            Some(K::Memlimit),
            out,
        ),
        17 => simple(Command::Version, Some(K::Version), out),
        18 => simple(Command::Stats { args: &[] }, Some(K::Stats), out),
        19 => simple(
            Command::Stats {
                args: &[b"settings"],
            },
            Some(K::Stats),
            out,
        ),
        20 => simple(Command::Quit, None, out),
        21 => meta(Command::MetaGet(MetaGet {
            key: b"k1",
            return_value: true,
            return_cas: true,
            return_flags: true,
            return_ttl: true,
            ..MetaGet::default()
        })),
        22 => meta(Command::MetaGet(MetaGet {
            key: b"k1",
            common: common(Some(b"a"), true),
            return_value: true,
            ..MetaGet::default()
        })),
        23 => meta(Command::MetaGet(MetaGet {
            key: b"k2",
            common: MetaCommon {
                return_key: true,
                ..common(Some(b"b"), false)
            },
            ..MetaGet::default()
        })),
        24 => meta(Command::MetaGet(MetaGet {
            key: b"bin\0key \r\n",
            common: MetaCommon {
                base64: true,
                return_key: true,
                ..MetaCommon::default()
            },
            return_value: true,
            ..MetaGet::default()
        })),
        25 => meta(Command::MetaSet(MetaSet {
            key: b"k1",
            value: b"val",
            return_cas: true,
            ..MetaSet::default()
        })),
        26 => meta(Command::MetaSet(MetaSet {
            key: b"k1",
            value: b"val",
            common: common(Some(b"c"), true),
            ..MetaSet::default()
        })),
        27 => meta(Command::MetaDelete(MetaDelete {
            key: b"k1",
            ..MetaDelete::default()
        })),
        28 => meta(Command::MetaDelete(MetaDelete {
            key: b"k1",
            common: common(Some(b"d"), true),
            ..MetaDelete::default()
        })),
        29 => meta(Command::MetaArith(MetaArith {
            key: b"k1",
            return_value: true,
            ..MetaArith::default()
        })),
        30 => meta(Command::MetaArith(MetaArith {
            key: b"k1",
            common: common(Some(b"e"), true),
            delta: Some(2),
            initial: Some(10),
            vivify: Some(minute),
            exptime: Some(minute),
            ..MetaArith::default()
        })),
        31 => meta(Command::MetaNoop),
        _ => meta(Command::MetaDebug {
            key: b"k1",
            base64: false,
        }),
    }
}

/// A decoder, the requests pushed to it, and every check made on each `decode` call.
struct Session {
    decoder: Decoder,
    limits: Limits,
    awaits: VecDeque<Awaits>,
    pending: usize,
    replies: Vec<Reply>,
}

impl Session {
    /// Reads the header and selectors, and pushes the chosen requests.
    fn new(source: &mut Source<'_>) -> Self {
        let header = source.u8();
        let count = usize::from(header & 0x07);
        let limits = if header & 0x08 != 0 {
            TINY_LIMITS
        } else {
            SMALL_LIMITS
        };
        let mut decoder = Decoder::new(limits);
        let mut awaits = VecDeque::new();
        let mut wire = BytesMut::new();
        for _ in 0..count {
            let index = usize::from(source.u8()) % TEMPLATES;
            let (expect, awaited) = template(index, &mut wire);
            assert_eq!(
                expect.expects_reply(),
                awaited.is_some(),
                "template {index}: Expect disagrees on whether a reply comes"
            );
            decoder.push(expect);
            awaits.extend(awaited);
        }
        assert_eq!(decoder.pending(), awaits.len());
        Session {
            decoder,
            limits,
            pending: awaits.len(),
            awaits,
            replies: Vec::new(),
        }
    }

    /// Decodes until `Ok(None)` (returns `None`) or an error (returns it).
    fn run(&mut self, buf: &mut BytesMut) -> Option<DecodeError> {
        loop {
            match self.decode(buf) {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(error) => return Some(error),
            }
        }
    }

    /// One checked `decode` call.
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Reply>, DecodeError> {
        let pending = self.decoder.pending();
        assert_eq!(pending, self.awaits.len(), "decoder lost track of requests");
        let before = buf.len();
        let result = self.decoder.decode(buf);
        assert!(buf.len() <= before, "decode made the buffer longer");
        self.check(pending, buf, result)
    }

    /// One checked `decode_data_block` call, while `buf` is the (empty) read buffer.
    fn decode_data_block(
        &mut self,
        block: bytes::Bytes,
        buf: &BytesMut,
    ) -> Result<Option<Reply>, DecodeError> {
        let pending = self.decoder.pending();
        let result = self.decoder.decode_data_block(block);
        self.check(pending, &mut buf.clone(), result)
    }

    /// The checks on what one call returned, `pending` requests before it.
    fn check(
        &mut self,
        pending: usize,
        buf: &mut BytesMut,
        result: Result<Option<Reply>, DecodeError>,
    ) -> Result<Option<Reply>, DecodeError> {
        match &result {
            Ok(Some(reply)) => {
                assert_eq!(
                    self.decoder.pending() + 1,
                    pending,
                    "a reply must complete exactly one request"
                );
                let Some(awaited) = self.awaits.pop_front() else {
                    panic!("reply {reply:?} decoded while no request was pending");
                };
                self.check_reply(&awaited, reply);
                self.replies.push(reply.clone());
                assert!(self.replies.len() <= self.pending);
            }
            Ok(None) => assert_eq!(self.decoder.pending(), pending),
            Err(error) => {
                assert_ne!(*error, DecodeError::Poisoned, "first error is Poisoned");
                assert!(self.decoder.is_failed());
                let left = buf.len();
                for _ in 0..2 {
                    assert_eq!(self.decoder.decode(buf), Err(DecodeError::Poisoned));
                    assert_eq!(buf.len(), left, "a poisoned decoder consumed bytes");
                }
            }
        }
        result
    }

    fn check_reply(&self, awaited: &Awaits, reply: &Reply) {
        use ExpectKind as K;
        if let Reply::Status { .. } = reply {
            // The compact form must be exactly a bare reply's: checked in its full form.
            let full = reply.clone().into_meta().expect("a meta reply");
            assert_eq!(
                Reply::from(full.clone()),
                *reply,
                "compact form of a bare reply"
            );
            return self.check_reply(awaited, &Reply::Meta(Box::new(full)));
        }
        let max_value = self.limits.max_value_len;
        match (awaited, reply) {
            (Awaits::Meta { quiet: true, .. }, Reply::Error(_)) => {
                panic!("error line attributed to a quiet request")
            }
            (_, Reply::Error(_)) => {}
            (Awaits::Meta { quiet: true, .. }, Reply::Unattributed(_)) => {}
            (_, Reply::Unattributed(_)) => {
                panic!("an unattributed error line completed an answered request")
            }
            (Awaits::Classic(kind), _) if classic_answers(kind, reply) => {}
            (Awaits::Classic(K::Stats), Reply::Stats(stats)) => {
                assert!(
                    stats.len() <= self.limits.max_reply_lines,
                    "stats reply with {} lines",
                    stats.len()
                );
                // Each stat came from a line at least this long, CRLF included.
                let text: usize = stats
                    .iter()
                    .map(|stat| stat.name.len() + stat.value.len() + 2)
                    .sum();
                assert!(
                    text <= self.limits.max_reply_len,
                    "stats over max_reply_len"
                );
            }
            (Awaits::Retrieve { keys, with_cas }, Reply::Values(items)) => {
                let data: usize = items.iter().map(|item| item.value.len() + 2).sum();
                assert!(
                    data <= self.limits.max_reply_len,
                    "values over max_reply_len"
                );
                let mut seen = vec![false; keys.len()];
                for item in items {
                    let Some(index) = keys.iter().position(|key| key[..] == item.key[..]) else {
                        panic!("item for unrequested key {:?}", item.key);
                    };
                    assert!(!seen[index], "key {:?} returned twice", item.key);
                    seen[index] = true;
                    assert_eq!(item.cas.is_some(), *with_cas, "CAS presence");
                    assert!(item.value.len() <= max_value, "value over max_value_len");
                }
            }
            (
                Awaits::Meta {
                    cmd,
                    quiet,
                    opaque,
                    echo,
                },
                Reply::Meta(meta),
            ) => {
                use MetaStatus::*;
                let allowed = match cmd {
                    MetaCmd::Get => matches!(meta.status, Va | Hd | En),
                    MetaCmd::Set => matches!(meta.status, Hd | Ns | Ex | Nf),
                    MetaCmd::Delete => matches!(meta.status, Hd | Nf | Ex),
                    MetaCmd::Arith => matches!(meta.status, Hd | Va | Nf | Ns | Ex),
                    MetaCmd::Noop => meta.status == Mn,
                    MetaCmd::Debug => matches!(meta.status, Me | En),
                } || (*quiet && meta.status == Quiet);
                assert!(allowed, "{:?} cannot answer {cmd:?}", meta.status);
                assert_eq!(meta.value.is_some(), meta.status == Va, "value iff VA");
                assert_eq!(meta.debug.is_some(), meta.status == Me, "debug iff ME");
                if let Some(value) = &meta.value {
                    assert!(value.len() <= max_value, "value over max_value_len");
                }
                if !matches!(meta.status, Quiet | Mn | Me) {
                    assert_eq!(
                        meta.flags.opaque.as_deref(),
                        *opaque,
                        "meta reply opaque differs from the request's"
                    );
                    if let Some(echo) = echo {
                        check_echo(echo, meta);
                    }
                }
            }
            _ => panic!("reply {reply:?} cannot answer {awaited:?}"),
        }
    }

    fn outcome(&self, input: usize, left: usize, error: Option<DecodeError>) -> DecodeOutcome {
        assert!(left <= input);
        DecodeOutcome {
            pending: self.pending,
            replies: self.replies.len(),
            consumed: input - left,
            input,
            error,
        }
    }
}

/// Whether `reply` is a one-line reply a classic request of `kind` can have (error lines
/// and `stats` listings are checked apart).
fn classic_answers(kind: &ExpectKind, reply: &Reply) -> bool {
    use ExpectKind as K;
    matches!(
        (kind, reply),
        (
            K::Store,
            Reply::Stored | Reply::NotStored | Reply::Exists | Reply::NotFound
        ) | (K::Delete, Reply::Deleted | Reply::NotFound)
            | (K::Touch, Reply::Touched | Reply::NotFound)
            | (K::Arith, Reply::Number(_) | Reply::NotFound)
            | (K::Ok, Reply::Ok)
            | (K::Memlimit | K::Stats, Reply::Ok | Reply::Other(_))
            | (K::Version, Reply::Version(_))
    )
}

/// A meta reply to a request that asked for its key back carries that key (in the encoding
/// the reply declares), or none on a miss or failure.
fn check_echo(requested: &[u8], meta: &MetaReply) {
    match &meta.flags.key {
        Some(echoed) if meta.flags.base64_key => assert_eq!(
            echoed[..],
            reference_base64(requested)[..],
            "meta reply echoes another (base64) key"
        ),
        Some(echoed) => assert_eq!(echoed[..], *requested, "meta reply echoes another key"),
        None => assert!(
            !matches!(meta.status, MetaStatus::Va | MetaStatus::Hd),
            "meta hit without the key it was asked to echo"
        ),
    }
}

/// Whether the chunked run's error is the whole run's error. `Unsolicited` quotes the
/// buffer, which may be shorter when chunked, so its excerpt may be a prefix.
fn same_error(whole: &DecodeError, chunked: &DecodeError) -> bool {
    match (whole, chunked) {
        (DecodeError::Unsolicited(whole), DecodeError::Unsolicited(chunked)) => {
            whole.as_str().starts_with(chunked.as_str())
        }
        _ => whole == chunked,
    }
}

// ------------------------------------------------------------------------------------------
// Encoding

/// `max_value_len` of the small encoder (`options & 0x01`).
const SMALL_MAX_VALUE: usize = 16;
/// The server's command line limit, CRLF included.
const SERVER_LINE_LIMIT: usize = 2048;
/// The server's key length limit.
const SERVER_KEY_LIMIT: usize = 250;
/// The server's opaque length limit: 32 bytes for the flag, its `O` included.
const SERVER_OPAQUE_LIMIT: usize = 31;
/// The server's limit on meta flags in one command.
const SERVER_META_FLAGS: usize = 20;

/// A command derived from fuzzer bytes, owning its byte strings.
#[derive(Debug)]
struct Spec {
    small_encoder: bool,
    noreply: bool,
    common: Common,
    key: Vec<u8>,
    value: Vec<u8>,
    /// Keys of a retrieval, arguments of `stats`.
    list: Vec<Vec<u8>>,
    kind: Kind,
}

#[derive(Debug, Default)]
struct Common {
    base64: bool,
    return_key: bool,
    quiet: bool,
    opaque: Option<Vec<u8>>,
}

#[derive(Debug)]
enum Kind {
    Store {
        mode: StoreMode,
        flags: u32,
        exptime: Exptime,
    },
    Retrieve(RetrieveKind),
    Delete,
    Arith {
        op: ArithOp,
        delta: u64,
    },
    Touch(Exptime),
    FlushAll(Option<Exptime>),
    Version,
    Verbosity(u32),
    Stats,
    CacheMemlimit(u32),
    Quit,
    Meta(Meta),
}

/// A meta command. Those with options hold the request itself, with its key, value and
/// common options left empty: [`Spec::command`] fills them in from the spec.
#[derive(Debug)]
enum Meta {
    Get(MetaGet<'static>),
    Set(MetaSet<'static>),
    Delete(MetaDelete<'static>),
    Arith(MetaArith<'static>),
    Noop,
    Debug,
}

impl Spec {
    /// Layout: `kind` (`% 17`), `options` (bit 0 small encoder, 1 noreply, 2 base64 key,
    /// 3 return key, 4 quiet, 5 opaque present), then:
    /// - meta kinds with options bit 5: the opaque (a [`Source::key`]);
    /// - 0 store: mode byte (`% 6`: set add replace append prepend cas), key, value,
    ///   flags u32, exptime, and for cas a u64;
    /// - 1 retrieve: kind byte (`% 4`: get gets gat gats), for gat/gats an exptime, a count
    ///   byte (`% 12`), that many keys;
    /// - 2 delete: key; 3 incr/decr: op byte (bit 0: decr), key, delta u64;
    /// - 4 touch: key, exptime; 5 flush_all: optional exptime; 6 version;
    /// - 7 verbosity: u32; 8 stats: count byte (`% 10`), that many args;
    /// - 9 cache_memlimit: u32; 10 quit;
    /// - 11 mg: key, bits byte (`v c f h l s t u`), touch, vivify, recache exptimes;
    /// - 12 ms: key, value, bits byte (0 return cas, 1 invalidate, 2 has C, 3 has E,
    ///   bits 4-6 `% 5` mode: set add replace append prepend), flags u32, exptime,
    ///   vivify exptime, then the C and E u64s that are present;
    /// - 13 md: key, bits byte (0 has C, 1 invalidate, 2 remove value), exptime, C u64;
    /// - 14 ma: key, bits byte (0 v, 1 c, 2 t, 3 decr, 4 has D, 5 has J, 6 has C),
    ///   vivify and exptime exptimes, then the D, J, C u64s that are present;
    /// - 15 mn; 16 me: key.
    ///
    /// Exptimes that are not optional read `None` as `Never`.
    fn read(source: &mut Source<'_>) -> Spec {
        let kind = source.u8() % 17;
        let bit = bits_of(source.u8());
        let mut spec = Spec {
            small_encoder: bit(0),
            noreply: bit(1),
            common: Common::default(),
            key: Vec::new(),
            value: Vec::new(),
            list: Vec::new(),
            kind: Kind::Quit,
        };
        if (11..=14).contains(&kind) {
            spec.common = Common {
                base64: bit(2),
                return_key: bit(3),
                quiet: bit(4),
                opaque: bit(5).then(|| source.key()),
            };
        }
        let never = |exptime: Option<Exptime>| exptime.unwrap_or(Exptime::Never);
        spec.kind = match kind {
            0 => {
                let mode = source.u8() % 6;
                spec.key = source.key();
                spec.value = source.value();
                let flags = source.u32();
                let exptime = never(source.exptime());
                let mode = match mode {
                    0 => StoreMode::Set,
                    1 => StoreMode::Add,
                    2 => StoreMode::Replace,
                    3 => StoreMode::Append,
                    4 => StoreMode::Prepend,
                    _ => StoreMode::Cas(source.u64()),
                };
                Kind::Store {
                    mode,
                    flags,
                    exptime,
                }
            }
            1 => {
                let kind = match source.u8() % 4 {
                    0 => RetrieveKind::Get,
                    1 => RetrieveKind::Gets,
                    2 => RetrieveKind::Gat(never(source.exptime())),
                    _ => RetrieveKind::Gats(never(source.exptime())),
                };
                let count = source.u8() % 12;
                spec.list = (0..count).map(|_| source.key()).collect();
                Kind::Retrieve(kind)
            }
            2 => {
                spec.key = source.key();
                Kind::Delete
            }
            3 => {
                let op = if source.u8() & 1 == 0 {
                    ArithOp::Incr
                } else {
                    ArithOp::Decr
                };
                spec.key = source.key();
                Kind::Arith {
                    op,
                    delta: source.u64(),
                }
            }
            4 => {
                spec.key = source.key();
                Kind::Touch(never(source.exptime()))
            }
            5 => Kind::FlushAll(source.exptime()),
            6 => Kind::Version,
            7 => Kind::Verbosity(source.u32()),
            8 => {
                let count = source.u8() % 10;
                spec.list = (0..count).map(|_| source.key()).collect();
                Kind::Stats
            }
            9 => Kind::CacheMemlimit(source.u32()),
            10 => Kind::Quit,
            // A struct literal evaluates its fields in the order written: the layout's order.
            11 => {
                spec.key = source.key();
                let bit = bits_of(source.u8());
                Kind::Meta(Meta::Get(MetaGet {
                    return_value: bit(0),
                    return_cas: bit(1),
                    return_flags: bit(2),
                    return_hit: bit(3),
                    return_last_access: bit(4),
                    return_size: bit(5),
                    return_ttl: bit(6),
                    no_lru_bump: bit(7),
                    touch: source.exptime(),
                    vivify: source.exptime(),
                    recache: source.exptime(),
                    ..MetaGet::default()
                }))
            }
            12 => {
                spec.key = source.key();
                spec.value = source.value();
                let bits = source.u8();
                let bit = bits_of(bits);
                Kind::Meta(Meta::Set(MetaSet {
                    return_cas: bit(0),
                    invalidate: bit(1),
                    mode: match (bits >> 4) % 5 {
                        0 => MetaSetMode::Set,
                        1 => MetaSetMode::Add,
                        2 => MetaSetMode::Replace,
                        3 => MetaSetMode::Append,
                        _ => MetaSetMode::Prepend,
                    },
                    flags: source.u32(),
                    exptime: never(source.exptime()),
                    vivify: source.exptime(),
                    compare_cas: source.u64_if(bit(2)),
                    new_cas: source.u64_if(bit(3)),
                    ..MetaSet::default()
                }))
            }
            13 => {
                spec.key = source.key();
                let bit = bits_of(source.u8());
                Kind::Meta(Meta::Delete(MetaDelete {
                    invalidate: bit(1),
                    remove_value_only: bit(2),
                    exptime: source.exptime(),
                    compare_cas: source.u64_if(bit(0)),
                    ..MetaDelete::default()
                }))
            }
            14 => {
                spec.key = source.key();
                let bit = bits_of(source.u8());
                Kind::Meta(Meta::Arith(MetaArith {
                    return_value: bit(0),
                    return_cas: bit(1),
                    return_ttl: bit(2),
                    mode: if bit(3) {
                        MetaArithMode::Decr
                    } else {
                        MetaArithMode::Incr
                    },
                    vivify: source.exptime(),
                    exptime: source.exptime(),
                    delta: source.u64_if(bit(4)),
                    initial: source.u64_if(bit(5)),
                    compare_cas: source.u64_if(bit(6)),
                    ..MetaArith::default()
                }))
            }
            15 => Kind::Meta(Meta::Noop),
            _ => {
                spec.key = source.key();
                spec.common.base64 = bit(2);
                Kind::Meta(Meta::Debug)
            }
        };
        spec
    }

    /// The memproto command; `refs` borrows `self.list`.
    fn command<'a>(&'a self, refs: &'a [&'a [u8]]) -> Command<'a> {
        let key = &self.key[..];
        let noreply = self.noreply;
        let common = MetaCommon {
            base64: self.common.base64,
            return_key: self.common.return_key,
            opaque: self.common.opaque.as_deref(),
            quiet: self.common.quiet,
        };
        match self.kind {
            Kind::Store {
                mode,
                flags,
                exptime,
            } => Command::Store(Store {
                mode,
                key,
                value: &self.value,
                flags,
                exptime,
                noreply,
            }),
            Kind::Retrieve(kind) => Command::Retrieve(Retrieve { kind, keys: refs }),
            Kind::Delete => Command::Delete { key, noreply },
            Kind::Arith { op, delta } => Command::Arith {
                op,
                key,
                delta,
                noreply,
            },
            Kind::Touch(exptime) => Command::Touch {
                key,
                exptime,
                noreply,
            },
            Kind::FlushAll(delay) => Command::FlushAll { delay, noreply },
            Kind::Version => Command::Version,
            Kind::Verbosity(level) => Command::Verbosity { level, noreply },
            Kind::Stats => Command::Stats { args: refs },
            Kind::CacheMemlimit(megabytes) => Command::CacheMemlimit { megabytes, noreply },
            Kind::Quit => Command::Quit,
            Kind::Meta(Meta::Get(get)) => Command::MetaGet(MetaGet { key, common, ..get }),
            Kind::Meta(Meta::Set(set)) => Command::MetaSet(MetaSet {
                key,
                value: &self.value,
                common,
                ..set
            }),
            Kind::Meta(Meta::Delete(delete)) => Command::MetaDelete(MetaDelete {
                key,
                common,
                ..delete
            }),
            Kind::Meta(Meta::Arith(arith)) => Command::MetaArith(MetaArith {
                key,
                common,
                ..arith
            }),
            Kind::Meta(Meta::Noop) => Command::MetaNoop,
            Kind::Meta(Meta::Debug) => Command::MetaDebug {
                key,
                base64: self.common.base64,
            },
        }
    }

    fn is_meta(&self) -> bool {
        matches!(self.kind, Kind::Meta(_))
    }

    /// Whether the command has a `noreply` option: the classic commands the server reads a
    /// final `noreply` token on (all but retrievals, `version`, `stats` and `quit`).
    fn takes_noreply(&self) -> bool {
        !self.is_meta()
            && !matches!(
                self.kind,
                Kind::Retrieve(_) | Kind::Version | Kind::Stats | Kind::Quit
            )
    }

    /// Whether the server, reading `tokens`, takes the `noreply` flag: the last token is
    /// `noreply`, and for `delete` it follows the key (the server checks only when
    /// `delete` has more than one argument, so `delete noreply` deletes the key `noreply`).
    fn server_sees_noreply(&self, tokens: &[&[u8]]) -> bool {
        let last_is_noreply = tokens.last() == Some(&&b"noreply"[..]);
        match self.kind {
            Kind::Delete => last_is_noreply && tokens.len() > 2,
            _ => last_is_noreply && self.takes_noreply(),
        }
    }

    /// Whether `noreply` was asked for and the command has it.
    fn wants_noreply(&self) -> bool {
        self.noreply && self.takes_noreply()
    }

    /// Whether this command is exempt from the server's line limit (`get`, `gets`).
    fn long_line_ok(&self) -> bool {
        matches!(
            self.kind,
            Kind::Retrieve(RetrieveKind::Get | RetrieveKind::Gets)
        )
    }

    /// The index of the first key token, and how many key tokens there are.
    fn key_tokens(&self) -> (usize, usize) {
        match self.kind {
            Kind::Retrieve(RetrieveKind::Gat(_) | RetrieveKind::Gats(_)) => (2, self.list.len()),
            Kind::Retrieve(_) => (1, self.list.len()),
            Kind::Version
            | Kind::FlushAll(_)
            | Kind::Verbosity(_)
            | Kind::Stats
            | Kind::CacheMemlimit(_)
            | Kind::Quit
            | Kind::Meta(Meta::Noop) => (0, 0),
            _ => (1, 1),
        }
    }

    /// The documented encoding rules, written independently of the encoder: the tokens the
    /// command must produce, or why it must be refused.
    fn model(&self, max_value: usize) -> Result<Model, &'static str> {
        let mut head: Vec<Vec<u8>> = Vec::new();
        let mut flags: Vec<Vec<u8>> = Vec::new();
        let mut data = None;
        let name = |name: &str| name.as_bytes().to_vec();
        let num = |n: i128| n.to_string().into_bytes();
        let value_ok = |value: &[u8]| {
            if value.len() <= max_value {
                Ok(())
            } else {
                Err("value over max_value_len")
            }
        };
        let noreply = self.wants_noreply();
        match &self.kind {
            Kind::Store {
                mode,
                flags: client_flags,
                exptime,
            } => {
                model_key(&self.key)?;
                value_ok(&self.value)?;
                let (name_str, cas) = match mode {
                    StoreMode::Set => ("set", None),
                    StoreMode::Add => ("add", None),
                    StoreMode::Replace => ("replace", None),
                    StoreMode::Append => ("append", None),
                    StoreMode::Prepend => ("prepend", None),
                    StoreMode::Cas(cas) => ("cas", Some(*cas)),
                };
                head.push(name(name_str));
                head.push(self.key.clone());
                head.push(num((*client_flags).into()));
                head.push(num(model_exptime(*exptime)?.into()));
                head.push(num(self.value.len() as i128));
                if let Some(cas) = cas {
                    head.push(num(cas.into()));
                }
                data = Some(self.value.clone());
            }
            Kind::Retrieve(kind) => {
                if self.list.is_empty() {
                    return Err("no keys");
                }
                // The key `noreply` is fine anywhere: the server reads no flag here.
                for key in &self.list {
                    model_key(key)?;
                }
                match kind {
                    RetrieveKind::Get => head.push(name("get")),
                    RetrieveKind::Gets => head.push(name("gets")),
                    RetrieveKind::Gat(exptime) => {
                        head.push(name("gat"));
                        head.push(num(model_exptime(*exptime)?.into()));
                    }
                    RetrieveKind::Gats(exptime) => {
                        head.push(name("gats"));
                        head.push(num(model_exptime(*exptime)?.into()));
                    }
                }
                head.extend(self.list.iter().cloned());
            }
            Kind::Delete => {
                model_key(&self.key)?;
                head.push(name("delete"));
                head.push(self.key.clone());
            }
            Kind::Arith { op, delta } => {
                model_key(&self.key)?;
                head.push(name(match op {
                    ArithOp::Incr => "incr",
                    ArithOp::Decr => "decr",
                }));
                head.push(self.key.clone());
                head.push(num((*delta).into()));
            }
            Kind::Touch(exptime) => {
                model_key(&self.key)?;
                head.push(name("touch"));
                head.push(self.key.clone());
                head.push(num(model_exptime(*exptime)?.into()));
            }
            Kind::FlushAll(delay) => {
                head.push(name("flush_all"));
                if let Some(delay) = delay {
                    head.push(num(model_exptime(*delay)?.into()));
                }
            }
            Kind::Version => head.push(name("version")),
            Kind::Verbosity(level) => {
                head.push(name("verbosity"));
                head.push(num((*level).into()));
            }
            Kind::Stats => {
                for arg in &self.list {
                    model_token(arg, SERVER_KEY_LIMIT)?;
                }
                head.push(name("stats"));
                head.extend(self.list.iter().cloned());
            }
            Kind::CacheMemlimit(megabytes) => {
                head.push(name("cache_memlimit"));
                head.push(num((*megabytes).into()));
            }
            Kind::Quit => head.push(name("quit")),
            Kind::Meta(Meta::Noop) => head.push(name("mn")),
            Kind::Meta(Meta::Debug) => {
                head.push(name("me"));
                head.push(self.model_meta_key()?);
                switch_flags(&mut flags, &[('b', self.common.base64)]);
            }
            Kind::Meta(Meta::Get(get)) => {
                self.model_meta("mg", &mut head, &mut flags)?;
                switch_flags(
                    &mut flags,
                    &[
                        ('v', get.return_value),
                        ('c', get.return_cas),
                        ('f', get.return_flags),
                        ('h', get.return_hit),
                        ('l', get.return_last_access),
                        ('s', get.return_size),
                        ('t', get.return_ttl),
                        ('u', get.no_lru_bump),
                    ],
                );
                exptime_flags(
                    &mut flags,
                    &[('T', get.touch), ('N', get.vivify), ('R', get.recache)],
                )?;
            }
            Kind::Meta(Meta::Set(set)) => {
                self.model_meta("ms", &mut head, &mut flags)?;
                value_ok(&self.value)?;
                head.push(num(self.value.len() as i128));
                switch_flags(&mut flags, &[('c', set.return_cas), ('I', set.invalidate)]);
                // Zero client flags and `Never` are the server's defaults, not sent.
                let client_flags = (set.flags != 0).then_some(set.flags.into());
                number_flags(
                    &mut flags,
                    &[
                        ('C', set.compare_cas),
                        ('E', set.new_cas),
                        ('F', client_flags),
                    ],
                );
                let exptime = (set.exptime != Exptime::Never).then_some(set.exptime);
                exptime_flags(&mut flags, &[('T', exptime), ('N', set.vivify)])?;
                match set.mode {
                    MetaSetMode::Set => {}
                    MetaSetMode::Add => flags.push(b"ME".to_vec()),
                    MetaSetMode::Replace => flags.push(b"MR".to_vec()),
                    MetaSetMode::Append => flags.push(b"MA".to_vec()),
                    MetaSetMode::Prepend => flags.push(b"MP".to_vec()),
                }
                data = Some(self.value.clone());
            }
            Kind::Meta(Meta::Delete(delete)) => {
                self.model_meta("md", &mut head, &mut flags)?;
                switch_flags(
                    &mut flags,
                    &[('I', delete.invalidate), ('x', delete.remove_value_only)],
                );
                number_flags(&mut flags, &[('C', delete.compare_cas)]);
                exptime_flags(&mut flags, &[('T', delete.exptime)])?;
            }
            Kind::Meta(Meta::Arith(arith)) => {
                self.model_meta("ma", &mut head, &mut flags)?;
                switch_flags(
                    &mut flags,
                    &[
                        ('v', arith.return_value),
                        ('c', arith.return_cas),
                        ('t', arith.return_ttl),
                    ],
                );
                number_flags(
                    &mut flags,
                    &[
                        ('C', arith.compare_cas),
                        ('D', arith.delta),
                        ('J', arith.initial),
                    ],
                );
                exptime_flags(&mut flags, &[('N', arith.vivify), ('T', arith.exptime)])?;
                if arith.mode == MetaArithMode::Decr {
                    flags.push(b"MD".to_vec());
                }
            }
        }
        if noreply {
            flags.push(b"noreply".to_vec());
        }
        let tokens = head.iter().chain(&flags);
        let line_len = tokens.clone().map(Vec::len).sum::<usize>() + tokens.count() - 1 + 2;
        if line_len > SERVER_LINE_LIMIT && !self.long_line_ok() {
            return Err("command line over the server's limit");
        }
        Ok(Model {
            head,
            flags,
            data,
            noreply,
        })
    }

    /// The head of a meta command with a key (`name`, then the key as the server reads it),
    /// and its common flags.
    fn model_meta(
        &self,
        name: &str,
        head: &mut Vec<Vec<u8>>,
        flags: &mut Vec<Vec<u8>>,
    ) -> Result<(), &'static str> {
        head.push(name.as_bytes().to_vec());
        head.push(self.model_meta_key()?);
        flags.extend(self.model_common()?);
        Ok(())
    }

    fn model_meta_key(&self) -> Result<Vec<u8>, &'static str> {
        if !self.common.base64 {
            model_key(&self.key)?;
            return Ok(self.key.clone());
        }
        if self.key.is_empty() {
            return Err("empty binary key");
        }
        let encoded = reference_base64(&self.key);
        if encoded.len() > SERVER_KEY_LIMIT {
            return Err("base64 key over the key limit");
        }
        Ok(encoded)
    }

    fn model_common(&self) -> Result<Vec<Vec<u8>>, &'static str> {
        let common = &self.common;
        let mut flags = Vec::new();
        if common.base64 {
            flags.push(b"b".to_vec());
        }
        if common.return_key {
            flags.push(b"k".to_vec());
        }
        match &common.opaque {
            Some(opaque) => {
                model_token(opaque, SERVER_OPAQUE_LIMIT)?;
                let mut token = b"O".to_vec();
                token.extend_from_slice(opaque);
                flags.push(token);
            }
            None if common.quiet => return Err("quiet without opaque"),
            None => {}
        }
        if common.quiet {
            flags.push(b"q".to_vec());
        }
        Ok(flags)
    }
}

/// The tokens a command must produce. For classic commands `head` is every token in order and
/// `flags` holds only `noreply`; for meta commands `flags` are the flags, in any order.
#[derive(Debug)]
struct Model {
    head: Vec<Vec<u8>>,
    flags: Vec<Vec<u8>>,
    data: Option<Vec<u8>>,
    noreply: bool,
}

/// A meta flag token: its letter, then its number if it has one.
fn flag(letter: char, n: Option<i128>) -> Vec<u8> {
    let mut token = vec![letter as u8];
    if let Some(n) = n {
        token.extend(n.to_string().into_bytes());
    }
    token
}

/// Appends the flag of each switch that is on (`v`, `I`...).
fn switch_flags(flags: &mut Vec<Vec<u8>>, switches: &[(char, bool)]) {
    for &(letter, on) in switches {
        if on {
            flags.push(flag(letter, None));
        }
    }
}

/// Appends a flag for each number present (`C5`, `D1`...).
fn number_flags(flags: &mut Vec<Vec<u8>>, numbers: &[(char, Option<u64>)]) {
    for &(letter, n) in numbers {
        if let Some(n) = n {
            flags.push(flag(letter, Some(n.into())));
        }
    }
}

/// Appends a flag for each expiration present, in its wire form (`T30`, `N-1`...); fails on
/// the first one the protocol cannot carry.
fn exptime_flags(
    flags: &mut Vec<Vec<u8>>,
    exptimes: &[(char, Option<Exptime>)],
) -> Result<(), &'static str> {
    for &(letter, exptime) in exptimes {
        if let Some(exptime) = exptime {
            flags.push(flag(letter, Some(model_exptime(exptime)?.into())));
        }
    }
    Ok(())
}

fn model_key(key: &[u8]) -> Result<(), &'static str> {
    model_token(key, SERVER_KEY_LIMIT)
}

fn model_token(token: &[u8], max: usize) -> Result<(), &'static str> {
    if token.is_empty() {
        Err("empty key or token")
    } else if token.len() > max {
        Err("key or token too long")
    } else if token.iter().any(|&b| b <= b' ' || b == 0x7F) {
        Err("control byte, space or DEL in key or token")
    } else {
        Ok(())
    }
}

/// The wire integer of an expiration, per the protocol's 30-day rule and `i32` field.
fn model_exptime(exptime: Exptime) -> Result<i32, &'static str> {
    const MONTH: u64 = 60 * 60 * 24 * 30;
    match exptime {
        Exptime::Never => Ok(0),
        Exptime::After(duration) => {
            let secs = duration
                .as_secs()
                .saturating_add(u64::from(duration.subsec_nanos() > 0));
            match secs {
                0 => Ok(-1),
                secs if secs <= MONTH => Ok(secs as i32),
                _ => Err("relative expiration over 30 days"),
            }
        }
        Exptime::At(secs) if secs <= MONTH => Ok(-1),
        Exptime::At(secs) => i32::try_from(secs).map_err(|_| "absolute expiration past i32"),
    }
}

/// Padded standard base64, written differently from the crate's encoder (bit accumulator).
fn reference_base64(input: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &byte in input {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 0x3F) as usize]);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 0x3F) as usize]);
    }
    while out.len() % 4 != 0 {
        out.push(b'=');
    }
    out
}

/// Reads `written` the way the server does and checks it against the spec and the model.
fn check_written(spec: &Spec, model: &Model, written: &[u8]) {
    let shown = || written.escape_ascii().to_string();
    let Some(newline) = memchr::memchr(b'\n', written) else {
        panic!("no line feed in {:?}", shown());
    };
    let line = &written[..=newline];
    assert!(
        line.ends_with(b"\r\n"),
        "line does not end in CRLF: {:?}",
        shown()
    );
    let body = &line[..line.len() - 2];
    assert!(
        !body.iter().any(|&b| b < b' ' || b == 0x7F),
        "control byte (\\r, NUL...) or DEL in the command line: {:?}",
        shown()
    );
    if !spec.long_line_ok() {
        assert!(
            line.len() <= SERVER_LINE_LIMIT,
            "line of {} bytes",
            line.len()
        );
    }
    let tokens: Vec<&[u8]> = body.split(|&b| b == b' ').collect();
    assert!(
        tokens.iter().all(|token| !token.is_empty()),
        "empty token (stray space): {:?}",
        shown()
    );

    // The key tokens are the keys.
    let (first, count) = spec.key_tokens();
    for i in 0..count {
        let key = if let Kind::Retrieve(_) = spec.kind {
            spec.list[i].clone()
        } else if spec.is_meta() && spec.common.base64 {
            reference_base64(&spec.key)
        } else {
            spec.key.clone()
        };
        assert_eq!(
            tokens.get(first + i).copied(),
            Some(&key[..]),
            "key token {i} differs: {:?}",
            shown()
        );
    }

    // The server takes the `noreply` flag exactly when it was asked for.
    if !spec.is_meta() {
        assert_eq!(
            spec.server_sees_noreply(&tokens),
            spec.wants_noreply(),
            "noreply {} but the server reads {:?}",
            spec.wants_noreply(),
            shown()
        );
    }

    // Exactly the tokens the model predicts.
    let (head, flags) = tokens.split_at(model.head.len().min(tokens.len()));
    assert_eq!(
        head,
        &model.head[..],
        "command tokens differ: {:?}",
        shown()
    );
    let mut flags: Vec<&[u8]> = flags.to_vec();
    let mut expected: Vec<&[u8]> = model.flags.iter().map(Vec::as_slice).collect();
    if spec.is_meta() {
        assert!(flags.len() <= SERVER_META_FLAGS, "too many meta flags");
        let mut letters: Vec<u8> = flags.iter().map(|f| f[0]).collect();
        letters.sort_unstable();
        letters.dedup();
        assert_eq!(
            letters.len(),
            flags.len(),
            "duplicate meta flag: {:?}",
            shown()
        );
        flags.sort_unstable();
        expected.sort_unstable();
    }
    assert_eq!(flags, expected, "flag tokens differ: {:?}", shown());
    assert_eq!(model.noreply, spec.wants_noreply());

    // The data block, then nothing.
    let rest = &written[line.len()..];
    match &model.data {
        Some(value) => {
            let len_token = if spec.is_meta() { tokens[2] } else { tokens[4] };
            let len: usize = std::str::from_utf8(len_token)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("bad <bytes> token: {:?}", shown()));
            assert_eq!(len, value.len(), "<bytes> is not the value's length");
            assert_eq!(rest.len(), len + 2, "data block is not <bytes> + CRLF");
            assert_eq!(&rest[..len], &value[..], "data block is not the value");
            assert_eq!(&rest[len..], b"\r\n", "data block not followed by CRLF");
        }
        None => assert!(
            rest.is_empty(),
            "bytes after the command: {:?}",
            rest.escape_ascii().to_string()
        ),
    }
}

/// Checks the `Expect` the encoder returned against the command.
fn check_expect(spec: &Spec, expect: &Expect) {
    let silent = matches!(spec.kind, Kind::Quit) || spec.wants_noreply();
    assert_eq!(expect.expects_reply(), !silent, "Expect reply presence");
    assert_eq!(
        expect.is_quiet(),
        spec.is_meta() && spec.common.quiet,
        "Expect quietness"
    );
    match &expect.0 {
        ExpectKind::Retrieve { keys, with_cas } => {
            let Kind::Retrieve(kind) = spec.kind else {
                panic!("retrieval Expect for {spec:?}");
            };
            assert_eq!(&keys[..], &spec.list.join(&b' ')[..], "Expect keys");
            assert_eq!(
                *with_cas,
                matches!(kind, RetrieveKind::Gets | RetrieveKind::Gats(_))
            );
        }
        ExpectKind::Meta { opaque, key, .. } => {
            assert!(spec.is_meta(), "meta Expect for {spec:?}");
            assert_eq!(opaque.as_slice(), spec.common.opaque.as_deref(), "opaque");
            // The raw key, kept exactly when the reply will echo it.
            let echo = spec.common.return_key
                && matches!(
                    spec.kind,
                    Kind::Meta(Meta::Get(_) | Meta::Set(_) | Meta::Delete(_) | Meta::Arith(_))
                );
            assert_eq!(
                key.as_deref(),
                echo.then_some(&spec.key[..]),
                "Expect key for {spec:?}"
            );
        }
        _ => assert!(
            !spec.is_meta() && !matches!(spec.kind, Kind::Retrieve(_)),
            "Expect {expect:?} for {spec:?}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_base64_matches_rfc4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(reference_base64(input.as_bytes()), expected.as_bytes());
        }
    }

    #[test]
    fn every_template_encodes() {
        for index in 0..TEMPLATES {
            template(index, &mut BytesMut::new());
        }
    }

    #[test]
    fn harnesses_accept_empty_input() {
        assert_eq!(decode_raw(b"").error, None);
        assert_eq!(decode_chunked(b"").error, None);
        let _ = encode_no_injection(b"");
    }

    #[test]
    fn pipelined_replies_decode() {
        // get k1; set k1; mn
        let outcome = decode_raw(b"\x03\x00\x06\x1fVALUE k1 0 2\r\nhi\r\nEND\r\nSTORED\r\nMN\r\n");
        assert_eq!(outcome.error, None);
        assert_eq!((outcome.replies, outcome.pending), (3, 3));
        assert_eq!(outcome.consumed, outcome.input);
    }
}
