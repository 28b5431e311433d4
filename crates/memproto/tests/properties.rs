//! Property tests.
//!
//! (a) No injection: any valid command encodes to bytes that a server-style tokenizer
//!     (written here, splitting lines at the first `\n` like memcached) reads back as
//!     exactly one command with exactly the expected tokens and data, and nothing left over.
//!     Arbitrary byte strings as keys either fail with a typed error that writes nothing,
//!     or come back exactly.
//! (b) Chunking: arbitrary request/reply sequences decode to the same replies whole and
//!     under arbitrary chunkings, and to the replies the server meant.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::*;
use memproto::{
    ArithOp, Command, EncodeError, Encoder, Expect, Exptime, KeyError, Limits, MetaArith,
    MetaArithMode, MetaCommon, MetaDelete, MetaFlags, MetaGet, MetaSet, MetaSetMode, MetaStatus,
    Reply, Retrieve, RetrieveKind, ServerErrorKind, Store, StoreMode, MAX_COMMAND_LINE,
};
use proptest::prelude::*;
use proptest::sample::select;

// =========================================================================================
// Server-side view of the wire
// =========================================================================================

/// One command as memcached's text parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    tokens: Vec<Vec<u8>>,
    data: Option<Vec<u8>>,
    line_len: usize,
}

/// Reads one command the way the server does: the line ends at the first `\n` (a `\r`
/// before it is dropped), tokens are split on spaces (runs of spaces skipped), and a
/// storage command (`set`..`cas`, `ms`) is followed by exactly `<bytes>` of data and CRLF.
/// Returns the command and how many bytes it used.
fn server_read(wire: &[u8]) -> Result<(Parsed, usize), String> {
    let nl = wire.iter().position(|&b| b == b'\n').ok_or("no line end")?;
    let mut line = &wire[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let tokens: Vec<Vec<u8>> = line
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let mut used = nl + 1;
    let len_token = match tokens.first().map(Vec::as_slice) {
        Some(b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas") => Some(4),
        Some(b"ms") => Some(2),
        Some(_) => None,
        None => return Err("empty line".into()),
    };
    let mut data = None;
    if let Some(index) = len_token {
        let text = tokens.get(index).ok_or("missing length")?;
        let len: usize = std::str::from_utf8(text)
            .map_err(|e| e.to_string())?
            .parse()
            .map_err(|e: std::num::ParseIntError| e.to_string())?;
        let block = wire.get(used..used + len + 2).ok_or("short data")?;
        if &block[len..] != b"\r\n" {
            return Err("bad data chunk".into());
        }
        data = Some(block[..len].to_vec());
        used += len + 2;
    }
    Ok((
        Parsed {
            tokens,
            data,
            line_len: nl + 1,
        },
        used,
    ))
}

/// Whether memcached takes the `noreply` flag from a command line: from its last token, on
/// the commands that have the flag. `delete` looks only when it has more than one argument
/// (`delete noreply` deletes the key `noreply`), and retrievals never look.
fn server_takes_noreply(tokens: &[Vec<u8>]) -> bool {
    let last_is_noreply = tokens.last().is_some_and(|t| t == b"noreply");
    match tokens.first().map(Vec::as_slice) {
        Some(b"delete") => last_is_noreply && tokens.len() > 2,
        Some(
            b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" | b"incr" | b"decr"
            | b"touch" | b"flush_all" | b"verbosity" | b"cache_memlimit",
        ) => last_is_noreply,
        _ => false,
    }
}

/// Reads everything in `wire` as commands.
fn server_read_all(mut wire: &[u8]) -> Result<Vec<Parsed>, String> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let (parsed, used) = server_read(wire)?;
        out.push(parsed);
        wire = &wire[used..];
    }
    Ok(out)
}

// =========================================================================================
// Reference values (the documented wire rules, written independently of the encoder)
// =========================================================================================

fn exptime_wire(e: Exptime) -> i64 {
    match e {
        Exptime::Never => 0,
        Exptime::After(d) => {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            if secs == 0 {
                -1
            } else {
                secs as i64
            }
        }
        Exptime::At(t) if t <= 2_592_000 => -1,
        Exptime::At(t) => t as i64,
    }
}

fn base64(input: &[u8]) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for chunk in input.chunks(3) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

fn forbidden(b: u8) -> bool {
    b <= 0x20 || b == 0x7F
}

fn valid_key(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= 250 && !key.iter().any(|&b| forbidden(b))
}

fn t(s: impl AsRef<[u8]>) -> Vec<u8> {
    s.as_ref().to_vec()
}

fn num(n: impl std::fmt::Display) -> Vec<u8> {
    n.to_string().into_bytes()
}

fn flag(c: char, n: impl std::fmt::Display) -> Vec<u8> {
    format!("{c}{n}").into_bytes()
}

// =========================================================================================
// Generated commands
// =========================================================================================

#[derive(Debug, Clone, Default)]
struct Common {
    base64: bool,
    return_key: bool,
    opaque: Option<Vec<u8>>,
    quiet: bool,
}

impl Common {
    fn borrow(&self) -> MetaCommon<'_> {
        MetaCommon {
            base64: self.base64,
            return_key: self.return_key,
            opaque: self.opaque.as_deref(),
            quiet: self.quiet,
        }
    }

    fn flags(&self) -> Vec<Vec<u8>> {
        let mut f = Vec::new();
        if self.base64 {
            f.push(t("b"));
        }
        if self.return_key {
            f.push(t("k"));
        }
        if let Some(o) = &self.opaque {
            f.push([b"O".as_slice(), o].concat());
        }
        if self.quiet {
            f.push(t("q"));
        }
        f
    }

    fn key_token(&self, key: &[u8]) -> Vec<u8> {
        if self.base64 {
            base64(key)
        } else {
            key.to_vec()
        }
    }
}

/// Positional head tokens, order-free meta flag tokens, and the data block.
type Expected = (Vec<Vec<u8>>, Vec<Vec<u8>>, Option<Vec<u8>>);

/// A generated command. The byte strings are owned here; the other options of a storage or
/// meta command are held in memproto's own request type, whose borrowed fields (key, value,
/// meta options) are left empty and filled in from the owned ones by `with_command`.
#[derive(Debug, Clone)]
enum Spec {
    Store {
        key: Vec<u8>,
        value: Vec<u8>,
        store: Store<'static>,
    },
    Retrieve {
        kind: RetrieveKind,
        keys: Vec<Vec<u8>>,
    },
    Delete {
        key: Vec<u8>,
        noreply: bool,
    },
    Arith {
        op: ArithOp,
        key: Vec<u8>,
        delta: u64,
        noreply: bool,
    },
    Touch {
        key: Vec<u8>,
        exptime: Exptime,
        noreply: bool,
    },
    FlushAll {
        delay: Option<Exptime>,
        noreply: bool,
    },
    Verbosity {
        level: u32,
        noreply: bool,
    },
    CacheMemlimit {
        megabytes: u32,
        noreply: bool,
    },
    Stats {
        args: Vec<Vec<u8>>,
    },
    Version,
    Quit,
    MetaNoop,
    MetaDebug {
        key: Vec<u8>,
        base64: bool,
    },
    MetaGet {
        key: Vec<u8>,
        common: Common,
        get: MetaGet<'static>,
    },
    MetaSet {
        key: Vec<u8>,
        value: Vec<u8>,
        common: Common,
        set: MetaSet<'static>,
    },
    MetaDelete {
        key: Vec<u8>,
        common: Common,
        delete: MetaDelete<'static>,
    },
    MetaArith {
        key: Vec<u8>,
        common: Common,
        arith: MetaArith<'static>,
    },
}

impl Spec {
    /// Builds the borrowed `Command` and hands it to `f`.
    fn with_command<R>(&self, f: impl FnOnce(&Command<'_>) -> R) -> R {
        match self {
            Spec::Store { key, value, store } => f(&Command::Store(Store {
                key,
                value,
                ..store.clone()
            })),
            Spec::Retrieve { kind, keys } => {
                let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                f(&Command::Retrieve(Retrieve {
                    kind: *kind,
                    keys: &refs,
                }))
            }
            Spec::Delete { key, noreply } => f(&Command::Delete {
                key,
                noreply: *noreply,
            }),
            Spec::Arith {
                op,
                key,
                delta,
                noreply,
            } => f(&Command::Arith {
                op: *op,
                key,
                delta: *delta,
                noreply: *noreply,
            }),
            Spec::Touch {
                key,
                exptime,
                noreply,
            } => f(&Command::Touch {
                key,
                exptime: *exptime,
                noreply: *noreply,
            }),
            Spec::FlushAll { delay, noreply } => f(&Command::FlushAll {
                delay: *delay,
                noreply: *noreply,
            }),
            Spec::Verbosity { level, noreply } => f(&Command::Verbosity {
                level: *level,
                noreply: *noreply,
            }),
            Spec::CacheMemlimit { megabytes, noreply } => f(&Command::CacheMemlimit {
                megabytes: *megabytes,
                noreply: *noreply,
            }),
            Spec::Stats { args } => {
                let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                f(&Command::Stats { args: &refs })
            }
            Spec::Version => f(&Command::Version),
            Spec::Quit => f(&Command::Quit),
            Spec::MetaNoop => f(&Command::MetaNoop),
            Spec::MetaDebug { key, base64 } => f(&Command::MetaDebug {
                key,
                base64: *base64,
            }),
            Spec::MetaGet { key, common, get } => f(&Command::MetaGet(MetaGet {
                key,
                common: common.borrow(),
                ..*get
            })),
            Spec::MetaSet {
                key,
                value,
                common,
                set,
            } => f(&Command::MetaSet(MetaSet {
                key,
                value,
                common: common.borrow(),
                ..*set
            })),
            Spec::MetaDelete {
                key,
                common,
                delete,
            } => f(&Command::MetaDelete(MetaDelete {
                key,
                common: common.borrow(),
                ..*delete
            })),
            Spec::MetaArith { key, common, arith } => f(&Command::MetaArith(MetaArith {
                key,
                common: common.borrow(),
                ..*arith
            })),
        }
    }

    /// Whether the caller asked for `noreply` (false for commands without the option).
    fn asks_noreply(&self) -> bool {
        match self {
            Spec::Store { store, .. } => store.noreply,
            Spec::Delete { noreply, .. }
            | Spec::Arith { noreply, .. }
            | Spec::Touch { noreply, .. }
            | Spec::FlushAll { noreply, .. }
            | Spec::Verbosity { noreply, .. }
            | Spec::CacheMemlimit { noreply, .. } => *noreply,
            _ => false,
        }
    }

    /// Whether the server sends a reply at all: not to `noreply`, nor to `quit`.
    fn replies(&self) -> bool {
        !self.asks_noreply() && !matches!(self, Spec::Quit)
    }

    /// The tokens the server must read: a fixed positional head (ending in `noreply` when
    /// asked for), an order-free tail of meta flags, and the data block.
    fn expected(&self) -> Expected {
        let (mut head, tail, data) = match self {
            Spec::Store { key, value, store } => {
                let name = match store.mode {
                    StoreMode::Set => "set",
                    StoreMode::Add => "add",
                    StoreMode::Replace => "replace",
                    StoreMode::Append => "append",
                    StoreMode::Prepend => "prepend",
                    StoreMode::Cas(_) => "cas",
                };
                let mut v = vec![
                    t(name),
                    key.clone(),
                    num(store.flags),
                    num(exptime_wire(store.exptime)),
                    num(value.len()),
                ];
                if let StoreMode::Cas(cas) = store.mode {
                    v.push(num(cas));
                }
                (v, vec![], Some(value.clone()))
            }
            Spec::Retrieve { kind, keys } => {
                let mut v = match kind {
                    RetrieveKind::Get => vec![t("get")],
                    RetrieveKind::Gets => vec![t("gets")],
                    RetrieveKind::Gat(e) => vec![t("gat"), num(exptime_wire(*e))],
                    RetrieveKind::Gats(e) => vec![t("gats"), num(exptime_wire(*e))],
                };
                v.extend(keys.iter().cloned());
                (v, vec![], None)
            }
            Spec::Delete { key, .. } => (vec![t("delete"), key.clone()], vec![], None),
            Spec::Arith { op, key, delta, .. } => {
                let name = if *op == ArithOp::Incr { "incr" } else { "decr" };
                (vec![t(name), key.clone(), num(delta)], vec![], None)
            }
            Spec::Touch { key, exptime, .. } => (
                vec![t("touch"), key.clone(), num(exptime_wire(*exptime))],
                vec![],
                None,
            ),
            Spec::FlushAll { delay, .. } => {
                let mut v = vec![t("flush_all")];
                v.extend(delay.map(|d| num(exptime_wire(d))));
                (v, vec![], None)
            }
            Spec::Verbosity { level, .. } => (vec![t("verbosity"), num(level)], vec![], None),
            Spec::CacheMemlimit { megabytes, .. } => {
                (vec![t("cache_memlimit"), num(megabytes)], vec![], None)
            }
            Spec::Stats { args } => {
                let mut v = vec![t("stats")];
                v.extend(args.iter().cloned());
                (v, vec![], None)
            }
            Spec::Version => (vec![t("version")], vec![], None),
            Spec::Quit => (vec![t("quit")], vec![], None),
            Spec::MetaNoop => (vec![t("mn")], vec![], None),
            Spec::MetaDebug { key, base64: b64 } => {
                let token = if *b64 { base64(key) } else { key.clone() };
                let tail = if *b64 { vec![t("b")] } else { vec![] };
                (vec![t("me"), token], tail, None)
            }
            Spec::MetaGet { key, common, get } => {
                let mut tail = common.flags();
                for (on, c) in [
                    (get.return_value, "v"),
                    (get.return_cas, "c"),
                    (get.return_flags, "f"),
                    (get.return_hit, "h"),
                    (get.return_last_access, "l"),
                    (get.return_size, "s"),
                    (get.return_ttl, "t"),
                    (get.no_lru_bump, "u"),
                ] {
                    if on {
                        tail.push(t(c));
                    }
                }
                for (e, c) in [(get.touch, 'T'), (get.vivify, 'N'), (get.recache, 'R')] {
                    if let Some(e) = e {
                        tail.push(flag(c, exptime_wire(e)));
                    }
                }
                (vec![t("mg"), common.key_token(key)], tail, None)
            }
            Spec::MetaSet {
                key,
                value,
                common,
                set,
            } => {
                let mut tail = common.flags();
                if set.return_cas {
                    tail.push(t("c"));
                }
                if let Some(c) = set.compare_cas {
                    tail.push(flag('C', c));
                }
                if let Some(c) = set.new_cas {
                    tail.push(flag('E', c));
                }
                if set.flags != 0 {
                    tail.push(flag('F', set.flags));
                }
                if set.invalidate {
                    tail.push(t("I"));
                }
                if set.exptime != Exptime::Never {
                    tail.push(flag('T', exptime_wire(set.exptime)));
                }
                if let Some(e) = set.vivify {
                    tail.push(flag('N', exptime_wire(e)));
                }
                match set.mode {
                    MetaSetMode::Set => {}
                    MetaSetMode::Add => tail.push(t("ME")),
                    MetaSetMode::Replace => tail.push(t("MR")),
                    MetaSetMode::Append => tail.push(t("MA")),
                    MetaSetMode::Prepend => tail.push(t("MP")),
                }
                (
                    vec![t("ms"), common.key_token(key), num(value.len())],
                    tail,
                    Some(value.clone()),
                )
            }
            Spec::MetaDelete {
                key,
                common,
                delete,
            } => {
                let mut tail = common.flags();
                if let Some(c) = delete.compare_cas {
                    tail.push(flag('C', c));
                }
                if delete.invalidate {
                    tail.push(t("I"));
                }
                if let Some(e) = delete.exptime {
                    tail.push(flag('T', exptime_wire(e)));
                }
                if delete.remove_value_only {
                    tail.push(t("x"));
                }
                (vec![t("md"), common.key_token(key)], tail, None)
            }
            Spec::MetaArith { key, common, arith } => {
                let mut tail = common.flags();
                for (on, c) in [
                    (arith.return_value, "v"),
                    (arith.return_cas, "c"),
                    (arith.return_ttl, "t"),
                ] {
                    if on {
                        tail.push(t(c));
                    }
                }
                for (n, c) in [
                    (arith.compare_cas, 'C'),
                    (arith.delta, 'D'),
                    (arith.initial, 'J'),
                ] {
                    if let Some(n) = n {
                        tail.push(flag(c, n));
                    }
                }
                for (e, c) in [(arith.vivify, 'N'), (arith.exptime, 'T')] {
                    if let Some(e) = e {
                        tail.push(flag(c, exptime_wire(e)));
                    }
                }
                if arith.mode == MetaArithMode::Decr {
                    tail.push(t("MD"));
                }
                (vec![t("ma"), common.key_token(key)], tail, None)
            }
        };
        // The classic commands that have the option end their line with it.
        if self.asks_noreply() {
            head.push(t("noreply"));
        }
        (head, tail, data)
    }
}

// ---- strategies -------------------------------------------------------------------------

fn allowed_bytes() -> Vec<u8> {
    (0x21..=0xFFu8).filter(|&b| b != 0x7F).collect()
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    let bytes = allowed_bytes();
    prop_oneof![
        prop::collection::vec(select(bytes.clone()), 1..=16),
        prop::collection::vec(select(bytes), 1..=250),
        // An ordinary key in every position; the server's noreply rule is checked.
        Just(b"noreply".to_vec()),
    ]
}

fn binary_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..=186)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(select(b"\r\nEND VALUE".to_vec()), 0..64),
        Just(b"END\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"x\r\nflush_all\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..2000),
    ]
}

fn exptime() -> impl Strategy<Value = Exptime> {
    let max = Exptime::MAX_RELATIVE_SECS;
    prop_oneof![
        Just(Exptime::Never),
        (0..=max).prop_map(|s| Exptime::After(Duration::from_secs(s))),
        (0..max, 0..1_000_000_000u32).prop_map(|(s, n)| Exptime::After(Duration::new(s, n))),
        (0..=i32::MAX as u64).prop_map(Exptime::At),
        (0..=max).prop_map(Exptime::At),
    ]
}

/// Opaques up to the server's limit: 31 bytes (its 32 count the flag's `O`).
fn opaque() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(select(allowed_bytes()), 1..=31)
}

fn common_opts() -> impl Strategy<Value = Common> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::option::of(opaque()),
        any::<bool>(),
    )
        .prop_map(|(base64, return_key, opaque, quiet)| Common {
            base64,
            return_key,
            // Quiet needs an opaque: give it one.
            opaque: if quiet && opaque.is_none() {
                Some(b"q".to_vec())
            } else {
                opaque
            },
            quiet,
        })
}

/// A meta key suitable for `common` (raw bytes when base64).
fn meta_key_for(common: Common) -> impl Strategy<Value = (Vec<u8>, Common)> {
    let k = if common.base64 {
        binary_key().boxed()
    } else {
        key().boxed()
    };
    k.prop_map(move |k| (k, common.clone()))
}

fn store_mode() -> impl Strategy<Value = StoreMode> {
    prop_oneof![
        Just(StoreMode::Set),
        Just(StoreMode::Add),
        Just(StoreMode::Replace),
        Just(StoreMode::Append),
        Just(StoreMode::Prepend),
        any::<u64>().prop_map(StoreMode::Cas),
        Just(StoreMode::Cas(0)),
    ]
}

fn flags() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(65536),
        Just(65537),
        Just(u32::MAX),
        any::<u32>()
    ]
}

fn retrieve_kind() -> impl Strategy<Value = RetrieveKind> {
    prop_oneof![
        Just(RetrieveKind::Get),
        Just(RetrieveKind::Gets),
        exptime().prop_map(RetrieveKind::Gat),
        exptime().prop_map(RetrieveKind::Gats),
    ]
}

/// `mg` options: the return flags `v c f h l s t u` in that order, then the expirations.
fn meta_get(
    returns: [bool; 8],
    touch: Option<Exptime>,
    vivify: Option<Exptime>,
    recache: Option<Exptime>,
) -> MetaGet<'static> {
    MetaGet {
        return_value: returns[0],
        return_cas: returns[1],
        return_flags: returns[2],
        return_hit: returns[3],
        return_last_access: returns[4],
        return_size: returns[5],
        return_ttl: returns[6],
        no_lru_bump: returns[7],
        touch,
        vivify,
        recache,
        ..MetaGet::default()
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    let classic = prop_oneof![
        (
            store_mode(),
            key(),
            value(),
            flags(),
            exptime(),
            any::<bool>()
        )
            .prop_map(|(mode, key, value, flags, exptime, noreply)| Spec::Store {
                key,
                value,
                store: Store {
                    flags,
                    exptime,
                    noreply,
                    ..Store::new(mode, b"", b"")
                },
            }),
        (retrieve_kind(), prop::collection::vec(key(), 1..12))
            .prop_map(|(kind, keys)| Spec::Retrieve { kind, keys }),
        (key(), any::<bool>()).prop_map(|(key, noreply)| Spec::Delete { key, noreply }),
        (any::<bool>(), key(), any::<u64>(), any::<bool>()).prop_map(
            |(incr, key, delta, noreply)| Spec::Arith {
                op: if incr { ArithOp::Incr } else { ArithOp::Decr },
                key,
                delta,
                noreply
            }
        ),
        (key(), exptime(), any::<bool>()).prop_map(|(key, exptime, noreply)| Spec::Touch {
            key,
            exptime,
            noreply
        }),
        (prop::option::of(exptime()), any::<bool>())
            .prop_map(|(delay, noreply)| Spec::FlushAll { delay, noreply }),
        (any::<u32>(), any::<bool>())
            .prop_map(|(level, noreply)| Spec::Verbosity { level, noreply }),
        (any::<u32>(), any::<bool>())
            .prop_map(|(megabytes, noreply)| Spec::CacheMemlimit { megabytes, noreply }),
        prop::collection::vec(key(), 0..4).prop_map(|args| Spec::Stats { args }),
        Just(Spec::Version),
        Just(Spec::Quit),
    ];
    let meta = prop_oneof![
        Just(Spec::MetaNoop),
        any::<bool>()
            .prop_flat_map(|b64| (
                if b64 {
                    binary_key().boxed()
                } else {
                    key().boxed()
                },
                Just(b64)
            ))
            .prop_map(|(key, base64)| Spec::MetaDebug { key, base64 }),
        (
            common_opts().prop_flat_map(meta_key_for),
            any::<[bool; 8]>(),
            prop::option::of(exptime()),
            prop::option::of(exptime()),
            prop::option::of(exptime()),
        )
            .prop_map(
                |((key, common), bools, touch, vivify, recache)| Spec::MetaGet {
                    key,
                    common,
                    get: meta_get(bools, touch, vivify, recache),
                }
            ),
        (
            common_opts().prop_flat_map(meta_key_for),
            value(),
            prop_oneof![
                Just(MetaSetMode::Set),
                Just(MetaSetMode::Add),
                Just(MetaSetMode::Replace),
                Just(MetaSetMode::Append),
                Just(MetaSetMode::Prepend),
            ],
            flags(),
            exptime(),
            (
                prop::option::of(any::<u64>()),
                prop::option::of(any::<u64>()),
                any::<bool>(),
                prop::option::of(exptime()),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    (key, common),
                    value,
                    mode,
                    flags,
                    exptime,
                    (compare_cas, new_cas, invalidate, vivify, return_cas),
                )| Spec::MetaSet {
                    key,
                    value,
                    common,
                    set: MetaSet {
                        mode,
                        flags,
                        exptime,
                        compare_cas,
                        new_cas,
                        invalidate,
                        vivify,
                        return_cas,
                        ..MetaSet::default()
                    },
                }
            ),
        (
            common_opts().prop_flat_map(meta_key_for),
            prop::option::of(any::<u64>()),
            any::<bool>(),
            prop::option::of(exptime()),
            any::<bool>(),
        )
            .prop_map(
                |((key, common), compare_cas, invalidate, exptime, remove_value_only)| {
                    Spec::MetaDelete {
                        key,
                        common,
                        delete: MetaDelete {
                            compare_cas,
                            invalidate,
                            exptime,
                            remove_value_only,
                            ..MetaDelete::default()
                        },
                    }
                }
            ),
        (
            common_opts().prop_flat_map(meta_key_for),
            any::<bool>(),
            prop::option::of(any::<u64>()),
            prop::option::of(exptime()),
            prop::option::of(any::<u64>()),
            prop::option::of(exptime()),
            prop::option::of(any::<u64>()),
            any::<[bool; 3]>(),
        )
            .prop_map(
                |((key, common), decr, delta, vivify, initial, exptime, compare_cas, bools)| {
                    Spec::MetaArith {
                        key,
                        common,
                        arith: MetaArith {
                            mode: if decr {
                                MetaArithMode::Decr
                            } else {
                                MetaArithMode::Incr
                            },
                            delta,
                            vivify,
                            initial,
                            exptime,
                            compare_cas,
                            return_value: bools[0],
                            return_cas: bools[1],
                            return_ttl: bools[2],
                            ..MetaArith::default()
                        },
                    }
                }
            ),
    ];
    prop_oneof![classic, meta]
}

// ---- (a) no injection -------------------------------------------------------------------

const PREFIX: &[u8] = b"mn\r\n";

/// Encodes after a prefix; on error checks nothing was written.
fn encode_checked(cmd: &Command<'_>) -> Result<(Vec<u8>, Expect), EncodeError> {
    let mut out = BytesMut::from(PREFIX);
    match Encoder::new().encode(cmd, &mut out) {
        Ok(e) => {
            assert_eq!(&out[..PREFIX.len()], PREFIX);
            Ok((out[PREFIX.len()..].to_vec(), e))
        }
        Err(err) => {
            assert_eq!(&out[..], PREFIX, "failed encode wrote bytes");
            Err(err)
        }
    }
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

fn check_valid(spec: &Spec) -> Result<(), TestCaseError> {
    let result = spec.with_command(encode_checked);
    let (head, tail, data) = spec.expected();
    let (wire, expect) = match result {
        Ok(ok) => ok,
        Err(EncodeError::LineTooLong { len, max }) => {
            // Only a gat/gats key list or many stats args can be too long; the length
            // reported is the real one.
            let may_be_long = matches!(
                spec,
                Spec::Retrieve {
                    kind: RetrieveKind::Gat(_) | RetrieveKind::Gats(_),
                    ..
                } | Spec::Stats { .. }
            );
            prop_assert!(may_be_long, "unexpected LineTooLong");
            let real: usize = head.iter().map(|t| t.len() + 1).sum::<usize>() + 1;
            prop_assert_eq!(len, real);
            prop_assert_eq!(max, MAX_COMMAND_LINE);
            prop_assert!(len > MAX_COMMAND_LINE);
            return Ok(());
        }
        Err(e) => return Err(TestCaseError::fail(format!("valid command refused: {e}"))),
    };
    let commands = server_read_all(&wire).map_err(TestCaseError::fail)?;
    prop_assert_eq!(commands.len(), 1, "exactly one command");
    let got = &commands[0];
    let (got_head, got_tail) = got.tokens.split_at(head.len().min(got.tokens.len()));
    prop_assert_eq!(got_head, &head[..]);
    prop_assert_eq!(sorted(got_tail.to_vec()), sorted(tail));
    prop_assert_eq!(&got.data, &data);
    // The server's noreply rule agrees with what the caller asked for, whatever the keys
    // (the key `noreply` included).
    prop_assert_eq!(server_takes_noreply(&got.tokens), spec.asks_noreply());
    prop_assert_eq!(expect.expects_reply(), spec.replies());
    // Only get/gets lines may pass the server's line limit.
    if !matches!(
        spec,
        Spec::Retrieve {
            kind: RetrieveKind::Get | RetrieveKind::Gets,
            ..
        }
    ) {
        prop_assert!(got.line_len <= MAX_COMMAND_LINE);
    }
    Ok(())
}

/// An arbitrary byte string, biased towards the dangerous ones.
fn any_key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(select(b"ab \r\n\t\x00\x7f\xff".to_vec()), 0..12),
        Just(b"noreply".to_vec()),
        Just(b"k 0 0 1\r\nX\r\nflush_all".to_vec()),
        Just(b"a\nflush_all".to_vec()),
        Just(Vec::new()),
    ]
}

/// Places an arbitrary key in each kind of command and checks the outcome.
fn check_any_key(key: &[u8], which: u8, noreply: bool) -> Result<(), TestCaseError> {
    let spec = match which % 9 {
        0 => Spec::Store {
            key: key.to_vec(),
            value: b"v".to_vec(),
            store: Store {
                noreply,
                ..Store::new(StoreMode::Set, b"", b"")
            },
        },
        1 => Spec::Retrieve {
            kind: RetrieveKind::Get,
            keys: vec![b"first".to_vec(), key.to_vec()],
        },
        2 => Spec::Retrieve {
            kind: RetrieveKind::Gats(Exptime::Never),
            keys: vec![key.to_vec()],
        },
        3 => Spec::Delete {
            key: key.to_vec(),
            noreply,
        },
        4 => Spec::Arith {
            op: ArithOp::Incr,
            key: key.to_vec(),
            delta: 1,
            noreply,
        },
        5 => Spec::Touch {
            key: key.to_vec(),
            exptime: Exptime::Never,
            noreply,
        },
        6 => Spec::MetaGet {
            key: key.to_vec(),
            common: Common::default(),
            get: meta_get([true; 8], None, None, None),
        },
        7 => Spec::MetaSet {
            key: key.to_vec(),
            value: b"v".to_vec(),
            common: Common {
                return_key: true,
                opaque: Some(b"o".to_vec()),
                quiet: true,
                ..Common::default()
            },
            set: MetaSet::default(),
        },
        _ => Spec::MetaDebug {
            key: key.to_vec(),
            base64: false,
        },
    };
    // Only the byte and length rules refuse a key: `noreply` is a valid key, even last on
    // a retrieval or `delete` line, where the server reads it as a key.
    let should_fail = !valid_key(key);
    match spec.with_command(encode_checked) {
        Err(err) => {
            prop_assert!(should_fail, "valid key refused: {}", err);
            prop_assert!(
                matches!(err, EncodeError::Key(_)),
                "not a key error: {:?}",
                err
            );
            if key.is_empty() {
                prop_assert_eq!(err, EncodeError::Key(KeyError::Empty));
            } else if key.len() > 250 {
                let too_long = matches!(err, EncodeError::Key(KeyError::TooLong { .. }));
                prop_assert!(too_long, "{:?}", err);
            } else if let Some(index) = key.iter().position(|&b| forbidden(b)) {
                prop_assert_eq!(
                    err,
                    EncodeError::Key(KeyError::ForbiddenByte {
                        byte: key[index],
                        index
                    })
                );
            }
        }
        Ok((wire, _)) => {
            prop_assert!(!should_fail, "invalid key accepted");
            let commands = server_read_all(&wire).map_err(TestCaseError::fail)?;
            prop_assert_eq!(commands.len(), 1);
            let tokens = &commands[0].tokens;
            // `get first <key>`, `gats 0 <key>`; otherwise right after the command name.
            let position = if matches!(spec, Spec::Retrieve { .. }) {
                2
            } else {
                1
            };
            prop_assert_eq!(&tokens[position], &key.to_vec());
            check_valid(&spec)?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn valid_commands_reach_the_server_intact(spec in spec()) {
        check_valid(&spec)?;
    }

    #[test]
    fn arbitrary_keys_fail_cleanly_or_arrive_exactly(
        key in any_key(),
        which in any::<u8>(),
        noreply in any::<bool>(),
    ) {
        check_any_key(&key, which, noreply)?;
    }

    /// Arbitrary bytes as base64 meta keys always arrive as their base64 text.
    #[test]
    fn binary_meta_keys(key in prop::collection::vec(any::<u8>(), 0..200)) {
        let spec = Spec::MetaDebug { key: key.clone(), base64: true };
        match spec.with_command(encode_checked) {
            Err(err) => {
                prop_assert!(key.is_empty() || key.len() > 186);
                let expected = if key.is_empty() {
                    KeyError::Empty
                } else {
                    KeyError::TooLongForBase64 { len: key.len(), max: 186 }
                };
                prop_assert_eq!(err, EncodeError::Key(expected));
            }
            Ok(_) => {
                prop_assert!(!key.is_empty() && key.len() <= 186);
                check_valid(&spec)?;
            }
        }
    }

    /// Arbitrary bytes as an opaque or a stats argument: a typed error that writes
    /// nothing, or exactly that token on the wire.
    #[test]
    fn arbitrary_tokens_fail_cleanly_or_arrive_exactly(token in any_key(), stats_arg in any::<bool>()) {
        let spec = if stats_arg {
            Spec::Stats { args: vec![b"detail".to_vec(), token.clone()] }
        } else {
            Spec::MetaDelete {
                key: b"k".to_vec(),
                common: Common { opaque: Some(token.clone()), quiet: true, ..Common::default() },
                delete: MetaDelete::default(),
            }
        };
        let limit = if stats_arg { 250 } else { 32 };
        let valid = !token.is_empty() && token.len() <= limit && !token.iter().any(|&b| forbidden(b));
        match spec.with_command(encode_checked) {
            Err(err) => {
                prop_assert!(!valid, "valid token refused: {}", err);
                let typed = matches!(err, EncodeError::Token(_) | EncodeError::OpaqueTooLong(_));
                prop_assert!(typed, "{:?}", err);
                if !stats_arg && token.len() > 32 {
                    prop_assert_eq!(err, EncodeError::OpaqueTooLong(token.len()));
                }
            }
            Ok(_) => {
                prop_assert!(valid, "invalid token accepted");
                check_valid(&spec)?;
            }
        }
    }

    /// Several commands in one buffer are read back as the same number of commands.
    #[test]
    fn pipelined_commands_stay_separate(specs in prop::collection::vec(spec(), 1..8)) {
        let mut out = BytesMut::new();
        let mut count = 0;
        for spec in &specs {
            if spec.with_command(|cmd| Encoder::new().encode(cmd, &mut out)).is_ok() {
                count += 1;
            }
        }
        let commands = server_read_all(&out).map_err(TestCaseError::fail)?;
        prop_assert_eq!(commands.len(), count);
    }
}

// =========================================================================================
// (b) reply sequences under arbitrary chunking
// =========================================================================================

#[derive(Debug, Clone)]
enum Exchange {
    Store {
        mode: u8,
        reply: u8,
    },
    Get {
        cas: bool,
        hits: Vec<Option<(u32, u64, Vec<u8>)>>,
    },
    Delete {
        found: bool,
    },
    Arith {
        value: Option<u64>,
    },
    Touch {
        found: bool,
    },
    Version(String),
    Stats(Vec<(String, String)>),
    Mg {
        opaque: bool,
        hit: Option<(bool, Vec<u8>)>,
        cas: Option<u64>,
        ttl: Option<i64>,
    },
    Ms {
        code: u8,
    },
    Md {
        code: u8,
    },
    Ma {
        code: u8,
        value: u64,
    },
    QuietGets {
        hits: Vec<Option<Vec<u8>>>,
    },
    QuietSets {
        failures: Vec<Option<u8>>,
    },
    Error {
        kind: u8,
        message: String,
    },
}

/// Turns an exchange into the requests it makes, the bytes the server answers with,
/// and the replies the decoder must produce. `n` keeps opaques unique.
fn materialize(ex: &Exchange, n: usize) -> (Vec<Expect>, Vec<u8>, Vec<Reply>) {
    use MetaStatus::*;
    let o = |i: usize| format!("{n}.{i}").into_bytes();
    match ex {
        Exchange::Store { mode, reply } => {
            let (m, replies): (StoreMode, &[(&[u8], Reply)]) = match mode % 4 {
                0 => (StoreMode::Set, &[(b"STORED", Reply::Stored)]),
                1 => (
                    StoreMode::Add,
                    &[
                        (b"STORED", Reply::Stored),
                        (b"NOT_STORED", Reply::NotStored),
                    ],
                ),
                2 => (
                    StoreMode::Append,
                    &[
                        (b"STORED", Reply::Stored),
                        (b"NOT_STORED", Reply::NotStored),
                    ],
                ),
                _ => (
                    StoreMode::Cas(7),
                    &[
                        (b"STORED", Reply::Stored),
                        (b"EXISTS", Reply::Exists),
                        (b"NOT_FOUND", Reply::NotFound),
                    ],
                ),
            };
            let (line, reply) = &replies[usize::from(*reply) % replies.len()];
            (
                vec![store(m)],
                [*line, b"\r\n"].concat(),
                vec![reply.clone()],
            )
        }
        Exchange::Get { cas, hits } => {
            let keys: Vec<Vec<u8>> = (0..hits.len())
                .map(|i| format!("key{n}_{i}").into_bytes())
                .collect();
            let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let e = if *cas { gets(&refs) } else { get(&refs) };
            let mut bytes = Vec::new();
            let mut items = Vec::new();
            for (k, hit) in keys.iter().zip(hits) {
                if let Some((flags, c, v)) = hit {
                    let c = cas.then_some(*c);
                    bytes.extend(value_block(k, *flags, c, v));
                    items.push(item(k, *flags, c, v));
                }
            }
            bytes.extend_from_slice(b"END\r\n");
            (vec![e], bytes, vec![Reply::Values(items.into())])
        }
        Exchange::Delete { found } => (
            vec![delete(b"k")],
            t(if *found {
                "DELETED\r\n"
            } else {
                "NOT_FOUND\r\n"
            }),
            vec![if *found {
                Reply::Deleted
            } else {
                Reply::NotFound
            }],
        ),
        Exchange::Arith { value } => match value {
            Some(v) => (
                vec![arith(ArithOp::Incr)],
                format!("{v}\r\n").into_bytes(),
                vec![Reply::Number(*v)],
            ),
            None => (
                vec![arith(ArithOp::Decr)],
                t("NOT_FOUND\r\n"),
                vec![Reply::NotFound],
            ),
        },
        Exchange::Touch { found } => (
            vec![touch()],
            t(if *found {
                "TOUCHED\r\n"
            } else {
                "NOT_FOUND\r\n"
            }),
            vec![if *found {
                Reply::Touched
            } else {
                Reply::NotFound
            }],
        ),
        Exchange::Version(v) => (
            vec![version()],
            format!("VERSION {v}\r\n").into_bytes(),
            vec![Reply::Version(b(v.as_bytes()))],
        ),
        Exchange::Stats(lines) => {
            let mut bytes = Vec::new();
            let mut stats_out = Vec::new();
            for (name, value) in lines {
                bytes.extend_from_slice(format!("STAT {name} {value}\r\n").as_bytes());
                stats_out.push(stat(name.as_bytes(), value.as_bytes()));
            }
            bytes.extend_from_slice(b"END\r\n");
            (vec![stats(&[])], bytes, vec![Reply::Stats(stats_out)])
        }
        Exchange::Mg {
            opaque,
            hit,
            cas,
            ttl,
        } => {
            let op = opaque.then(|| o(0));
            let mut flags = MetaFlags {
                opaque: op.as_deref().map(b),
                ..MetaFlags::default()
            };
            let mut tail = String::new();
            if let Some(op) = &op {
                tail.push_str(&format!(" O{}", String::from_utf8_lossy(op)));
            }
            let e = mg(b"k", op.as_deref(), false);
            match hit {
                None => (
                    vec![e],
                    format!("EN{tail}\r\n").into_bytes(),
                    vec![meta(En, None, flags)],
                ),
                Some((with_value, v)) => {
                    if let Some(c) = cas {
                        tail.push_str(&format!(" c{c}"));
                        flags.cas = Some(*c);
                    }
                    if let Some(t) = ttl {
                        tail.push_str(&format!(" t{t}"));
                        flags.ttl = Some(*t);
                    }
                    if *with_value {
                        (vec![e], va_block(&tail, v), vec![meta(Va, Some(v), flags)])
                    } else {
                        (
                            vec![e],
                            format!("HD{tail}\r\n").into_bytes(),
                            vec![meta(Hd, None, flags)],
                        )
                    }
                }
            }
        }
        Exchange::Ms { code } => {
            let (word, status) =
                [("HD", Hd), ("NS", Ns), ("EX", Ex), ("NF", Nf)][usize::from(*code) % 4];
            let op = o(0);
            (
                vec![ms(b"k", Some(&op), false)],
                format!("{word} O{}\r\n", String::from_utf8_lossy(&op)).into_bytes(),
                vec![meta(status, None, with_opaque(&op))],
            )
        }
        Exchange::Md { code } => {
            let (word, status) = [("HD", Hd), ("NF", Nf), ("EX", Ex)][usize::from(*code) % 3];
            (
                vec![md(b"k", None, false)],
                format!("{word}\r\n").into_bytes(),
                vec![bare(status)],
            )
        }
        Exchange::Ma { code, value } => {
            let op = o(0);
            let ops = String::from_utf8_lossy(&op).into_owned();
            let e = ma(b"k", Some(&op), false);
            if code % 5 == 4 {
                let v = value.to_string();
                (
                    vec![e],
                    va_block(&format!(" O{ops}"), v.as_bytes()),
                    vec![meta(Va, Some(v.as_bytes()), with_opaque(&op))],
                )
            } else {
                let (word, status) =
                    [("HD", Hd), ("NF", Nf), ("NS", Ns), ("EX", Ex)][usize::from(*code % 4)];
                (
                    vec![e],
                    format!("{word} O{ops}\r\n").into_bytes(),
                    vec![meta(status, None, with_opaque(&op))],
                )
            }
        }
        Exchange::QuietGets { hits } => quiet_batch(hits, |i, hit| {
            let op = o(i);
            let answer = hit.as_ref().map(|v| {
                let flags = format!(" O{}", String::from_utf8_lossy(&op));
                (va_block(&flags, v), meta(Va, Some(v), with_opaque(&op)))
            });
            (mg(format!("q{i}").as_bytes(), Some(&op), true), answer)
        }),
        Exchange::QuietSets { failures } => quiet_batch(failures, |i, failure| {
            let op = o(i);
            let answer = failure.map(|code| {
                let (word, status) = [("NS", Ns), ("EX", Ex), ("NF", Nf)][usize::from(code) % 3];
                let line = format!("{word} O{}\r\n", String::from_utf8_lossy(&op));
                (line.into_bytes(), meta(status, None, with_opaque(&op)))
            });
            (ms(b"k", Some(&op), true), answer)
        }),
        Exchange::Error { kind, message } => {
            let (word, k) = [
                ("ERROR", ServerErrorKind::Error),
                ("CLIENT_ERROR", ServerErrorKind::Client),
                ("SERVER_ERROR", ServerErrorKind::Server),
            ][usize::from(*kind) % 3];
            let line = if message.is_empty() {
                format!("{word}\r\n")
            } else {
                format!("{word} {message}\r\n")
            };
            let e = match kind / 3 % 4 {
                // `ERROR` to a command with a data block is a broken stream, not a reply.
                0 if k != ServerErrorKind::Error => store(StoreMode::Set),
                0 => delete(b"a"),
                1 => get(&[b"a", b"b"]),
                2 => mg(b"a", Some(b"x"), false),
                _ => stats(&[]),
            };
            (
                vec![e],
                line.into_bytes(),
                vec![server_error(k, message.as_bytes())],
            )
        }
    }
}

/// The wire form of a meta `VA` reply: `VA <size>`, the reply's `flags` (each after a
/// space), then the value.
fn va_block(flags: &str, value: &[u8]) -> Vec<u8> {
    let mut bytes = format!("VA {}{flags}\r\n", value.len()).into_bytes();
    bytes.extend_from_slice(value);
    bytes.extend_from_slice(b"\r\n");
    bytes
}

/// A batch of quiet meta requests, one for each item, ended by `mn`. `answer` gives, for the
/// index and the item, the request and what the server answers it with: `None` for silence,
/// or the bytes and the reply they decode to.
fn quiet_batch<T>(
    items: &[T],
    answer: impl Fn(usize, &T) -> (Expect, Option<(Vec<u8>, Reply)>),
) -> (Vec<Expect>, Vec<u8>, Vec<Reply>) {
    let mut expects = Vec::new();
    let mut bytes = Vec::new();
    let mut replies = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (expect, answered) = answer(i, item);
        expects.push(expect);
        match answered {
            Some((answer, reply)) => {
                bytes.extend(answer);
                replies.push(reply);
            }
            None => replies.push(quiet()),
        }
    }
    expects.push(mn());
    bytes.extend_from_slice(b"MN\r\n");
    replies.push(bare(MetaStatus::Mn));
    (expects, bytes, replies)
}

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9._-]{1,12}( [a-z0-9]{1,6}){0,3}"
}

fn exchange() -> impl Strategy<Value = Exchange> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(mode, reply)| Exchange::Store { mode, reply }),
        (
            any::<bool>(),
            prop::collection::vec(prop::option::of((flags(), any::<u64>(), value())), 1..6)
        )
            .prop_map(|(cas, hits)| Exchange::Get { cas, hits }),
        any::<bool>().prop_map(|found| Exchange::Delete { found }),
        prop::option::of(any::<u64>()).prop_map(|value| Exchange::Arith { value }),
        any::<bool>().prop_map(|found| Exchange::Touch { found }),
        text().prop_map(Exchange::Version),
        prop::collection::vec(("[a-z_]{1,10}", text()), 0..5).prop_map(Exchange::Stats),
        (
            any::<bool>(),
            prop::option::of((any::<bool>(), value())),
            prop::option::of(any::<u64>()),
            prop::option::of(-1i64..100_000),
        )
            .prop_map(|(opaque, hit, cas, ttl)| Exchange::Mg {
                opaque,
                hit,
                cas,
                ttl
            }),
        any::<u8>().prop_map(|code| Exchange::Ms { code }),
        any::<u8>().prop_map(|code| Exchange::Md { code }),
        (any::<u8>(), any::<u64>()).prop_map(|(code, value)| Exchange::Ma { code, value }),
        prop::collection::vec(prop::option::of(value()), 0..6)
            .prop_map(|hits| Exchange::QuietGets { hits }),
        prop::collection::vec(prop::option::of(any::<u8>()), 0..6)
            .prop_map(|failures| Exchange::QuietSets { failures }),
        (any::<u8>(), prop_oneof![Just(String::new()), text()])
            .prop_map(|(kind, message)| Exchange::Error { kind, message }),
    ]
}

fn conversation(exchanges: &[Exchange]) -> (Vec<Expect>, Vec<u8>, Vec<Reply>) {
    let mut expects = Vec::new();
    let mut bytes = Vec::new();
    let mut replies = Vec::new();
    for (n, ex) in exchanges.iter().enumerate() {
        let (e, b, r) = materialize(ex, n);
        expects.extend(e);
        bytes.extend(b);
        replies.extend(r);
    }
    (expects, bytes, replies)
}

/// Turns sorted cut fractions into chunks of `input`.
fn chunks<'a>(input: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) * input.len() / usize::from(u16::MAX))
        .collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for p in points {
        out.push(&input[from..p]);
        from = p;
    }
    out.push(&input[from..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn replies_decode_the_same_under_any_chunking(
        exchanges in prop::collection::vec(exchange(), 1..10),
        cuts in prop::collection::vec(any::<u16>(), 0..24),
    ) {
        let (expects, input, want) = conversation(&exchanges);
        let whole = run_whole(&expects, Limits::default(), &input);
        prop_assert_eq!(&whole.error, &None);
        prop_assert_eq!(&whole.replies, &want);
        prop_assert_eq!(whole.pending, 0);
        prop_assert!(whole.leftover.is_empty());

        let chunked = run(&expects, Limits::default(), chunks(&input, &cuts));
        prop_assert_eq!(&chunked, &whole);
    }

    #[test]
    fn replies_decode_the_same_byte_by_byte_and_when_truncated(
        exchanges in prop::collection::vec(exchange(), 1..5),
        cut in any::<u16>(),
    ) {
        let (expects, input, _) = conversation(&exchanges);
        let whole = run_whole(&expects, Limits::default(), &input);
        prop_assert_eq!(&run_bytewise(&expects, Limits::default(), &input), &whole);
        // A truncated stream decodes a prefix of the replies and leaves the same state
        // however it was chunked.
        let end = usize::from(cut) * input.len() / usize::from(u16::MAX);
        let prefix = &input[..end];
        let a = run_whole(&expects, Limits::default(), prefix);
        let b2 = run_bytewise(&expects, Limits::default(), prefix);
        prop_assert_eq!(&a, &b2);
        prop_assert_eq!(&a.error, &None);
        prop_assert!(whole.replies.starts_with(&a.replies));
        prop_assert_eq!(a.pending + a.replies.len(), expects.len());
    }
}
