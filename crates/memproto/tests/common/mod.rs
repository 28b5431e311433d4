//! Shared fixtures: request builders, reply builders, a decode driver and the table of
//! reply scenarios used by `replies.rs` (decoded whole) and `split.rs` (decoded in chunks).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use memproto::{
    ArithOp, Command, DecodeError, Decoder, Encoder, Expect, Exptime, Item, Limits, MetaArith,
    MetaCommon, MetaDelete, MetaFlags, MetaGet, MetaReply, MetaSet, MetaStatus, Reply, Retrieve,
    RetrieveKind, ServerError, ServerErrorKind, Stat, Store, StoreMode,
};

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// Encodes `cmd` with the default encoder and returns its `Expect`.
pub fn expect(cmd: &Command<'_>) -> Expect {
    Encoder::new()
        .encode(cmd, &mut BytesMut::new())
        .expect("fixture command must encode")
}

pub fn store(mode: StoreMode) -> Expect {
    expect(&Command::Store(Store::new(mode, b"k", b"v")))
}

pub fn retrieve(kind: RetrieveKind, keys: &[&[u8]]) -> Expect {
    expect(&Command::Retrieve(Retrieve { kind, keys }))
}

pub fn get(keys: &[&[u8]]) -> Expect {
    retrieve(RetrieveKind::Get, keys)
}

pub fn gets(keys: &[&[u8]]) -> Expect {
    retrieve(RetrieveKind::Gets, keys)
}

pub fn delete(key: &[u8]) -> Expect {
    expect(&Command::Delete {
        key,
        noreply: false,
    })
}

pub fn arith(op: ArithOp) -> Expect {
    expect(&Command::Arith {
        op,
        key: b"n",
        delta: 1,
        noreply: false,
    })
}

pub fn touch() -> Expect {
    expect(&Command::Touch {
        key: b"k",
        exptime: Exptime::After(Duration::from_secs(10)),
        noreply: false,
    })
}

pub fn flush_all() -> Expect {
    expect(&Command::FlushAll {
        delay: None,
        noreply: false,
    })
}

pub fn verbosity() -> Expect {
    expect(&Command::Verbosity {
        level: 1,
        noreply: false,
    })
}

pub fn version() -> Expect {
    expect(&Command::Version)
}

pub fn stats(args: &[&[u8]]) -> Expect {
    expect(&Command::Stats { args })
}

pub fn memlimit() -> Expect {
    expect(&Command::CacheMemlimit {
        megabytes: 1,
        noreply: false,
    })
}

pub fn common<'a>(opaque: Option<&'a [u8]>, quiet: bool) -> MetaCommon<'a> {
    MetaCommon {
        opaque,
        quiet,
        ..MetaCommon::default()
    }
}

/// `mg <key> v` with the meta options `common`.
fn mg_with(key: &[u8], common: MetaCommon<'_>) -> Expect {
    expect(&Command::MetaGet(MetaGet {
        key,
        common,
        return_value: true,
        ..MetaGet::default()
    }))
}

/// `ms <key> 1` (the value `v`) with the meta options `common`.
fn ms_with(key: &[u8], common: MetaCommon<'_>) -> Expect {
    expect(&Command::MetaSet(MetaSet {
        key,
        value: b"v",
        common,
        ..MetaSet::default()
    }))
}

/// `md <key>` with the meta options `common`.
fn md_with(key: &[u8], common: MetaCommon<'_>) -> Expect {
    expect(&Command::MetaDelete(MetaDelete {
        key,
        common,
        ..MetaDelete::default()
    }))
}

pub fn mg(key: &[u8], opaque: Option<&[u8]>, quiet: bool) -> Expect {
    mg_with(key, common(opaque, quiet))
}

pub fn ms(key: &[u8], opaque: Option<&[u8]>, quiet: bool) -> Expect {
    ms_with(key, common(opaque, quiet))
}

pub fn md(key: &[u8], opaque: Option<&[u8]>, quiet: bool) -> Expect {
    md_with(key, common(opaque, quiet))
}

pub fn ma(key: &[u8], opaque: Option<&[u8]>, quiet: bool) -> Expect {
    expect(&Command::MetaArith(MetaArith {
        key,
        common: common(opaque, quiet),
        ..MetaArith::default()
    }))
}

/// Meta options asking for the key back (flag `k`).
pub fn echo<'a>(opaque: Option<&'a [u8]>, quiet: bool) -> MetaCommon<'a> {
    MetaCommon {
        return_key: true,
        ..common(opaque, quiet)
    }
}

/// `mg <key> k v`, with an opaque and quiet mode as asked.
pub fn mg_echo(key: &[u8], opaque: Option<&[u8]>, quiet: bool) -> Expect {
    mg_with(key, echo(opaque, quiet))
}

/// `mg <base64 of key> b k v`.
pub fn mg_echo_base64(key: &[u8]) -> Expect {
    mg_with(
        key,
        MetaCommon {
            base64: true,
            ..echo(None, false)
        },
    )
}

pub fn ms_echo(key: &[u8]) -> Expect {
    ms_with(key, echo(None, false))
}

pub fn md_echo(key: &[u8]) -> Expect {
    md_with(key, echo(None, false))
}

pub fn ma_echo(key: &[u8]) -> Expect {
    expect(&Command::MetaArith(MetaArith {
        key,
        common: echo(None, false),
        return_value: true,
        ..MetaArith::default()
    }))
}

pub fn mn() -> Expect {
    expect(&Command::MetaNoop)
}

pub fn me(key: &[u8]) -> Expect {
    expect(&Command::MetaDebug { key, base64: false })
}

// ---------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------

pub fn b(bytes: &[u8]) -> Bytes {
    Bytes::copy_from_slice(bytes)
}

pub fn item(key: &[u8], flags: u32, cas: Option<u64>, value: &[u8]) -> Item {
    Item {
        key: b(key),
        flags,
        cas,
        value: b(value),
    }
}

/// The wire form of one `VALUE` block.
pub fn value_block(key: &[u8], flags: u32, cas: Option<u64>, data: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "VALUE {} {flags} {}",
        String::from_utf8_lossy(key),
        data.len()
    );
    if let Some(cas) = cas {
        out.push_str(&format!(" {cas}"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

pub fn stat(name: &[u8], value: &[u8]) -> Stat {
    Stat {
        name: b(name),
        value: b(value),
    }
}

pub fn server_error(kind: ServerErrorKind, message: &[u8]) -> Reply {
    Reply::Error(ServerError {
        kind,
        message: b(message),
    })
}

/// A retrieval reply holding `items`.
pub fn unattributed(kind: ServerErrorKind, message: &[u8]) -> Reply {
    match server_error(kind, message) {
        Reply::Error(error) => Reply::Unattributed(error),
        other => other,
    }
}

pub fn values(items: Vec<Item>) -> Reply {
    Reply::Values(items.into())
}

/// A meta reply as the decoder gives it: compact ([`Reply::Status`]) when it carries nothing
/// but its status and opaque.
pub fn meta(status: MetaStatus, value: Option<&[u8]>, flags: MetaFlags) -> Reply {
    Reply::from(MetaReply {
        status,
        value: value.map(b),
        flags,
        debug: None,
    })
}

/// A meta reply that is its status alone: no value, no flags.
pub fn bare(status: MetaStatus) -> Reply {
    meta(status, None, MetaFlags::default())
}

pub fn quiet() -> Reply {
    bare(MetaStatus::Quiet)
}

pub fn with_opaque(opaque: &[u8]) -> MetaFlags {
    MetaFlags {
        opaque: Some(b(opaque)),
        ..MetaFlags::default()
    }
}

pub fn with_key(key: &[u8]) -> MetaFlags {
    MetaFlags {
        key: Some(b(key)),
        ..MetaFlags::default()
    }
}

pub fn with_opaque_key(opaque: &[u8], key: &[u8]) -> MetaFlags {
    MetaFlags {
        opaque: Some(b(opaque)),
        key: Some(b(key)),
        ..MetaFlags::default()
    }
}

// ---------------------------------------------------------------------------------------
// Decode driver
// ---------------------------------------------------------------------------------------

/// Everything a decode run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub replies: Vec<Reply>,
    pub error: Option<DecodeError>,
    pub pending: usize,
    /// Bytes still buffered at the end (only meaningful without an error).
    pub leftover: Vec<u8>,
}

impl Outcome {
    /// Equality for runs of the same input under different chunkings. `Unsolicited` quotes
    /// the buffer, whose extent depends on the chunking, so only its variant is compared.
    pub fn same_as(&self, other: &Outcome) -> bool {
        let errors_match = match (&self.error, &other.error) {
            (Some(DecodeError::Unsolicited(_)), Some(DecodeError::Unsolicited(_))) => true,
            (a, b) => a == b,
        };
        let leftover_match = self.error.is_some() || self.leftover == other.leftover;
        self.replies == other.replies
            && errors_match
            && self.pending == other.pending
            && leftover_match
    }
}

/// Pushes `expects`, then feeds `chunks` one after the other, decoding until the decoder
/// asks for more after each chunk. Stops at the first error, after checking that the
/// decoder is poisoned from then on.
pub fn run<'a>(
    expects: &[Expect],
    limits: Limits,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Outcome {
    let mut decoder = Decoder::new(limits);
    for e in expects {
        decoder.push(e.clone());
    }
    let mut buf = BytesMut::new();
    let mut replies = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => break,
                Err(error) => {
                    assert!(decoder.is_failed());
                    assert_eq!(decoder.decode(&mut buf), Err(DecodeError::Poisoned));
                    return Outcome {
                        replies,
                        error: Some(error),
                        pending: decoder.pending(),
                        leftover: buf.to_vec(),
                    };
                }
            }
        }
    }
    Outcome {
        replies,
        error: None,
        pending: decoder.pending(),
        leftover: buf.to_vec(),
    }
}

pub fn run_whole(expects: &[Expect], limits: Limits, input: &[u8]) -> Outcome {
    run(expects, limits, [input])
}

pub fn run_bytewise(expects: &[Expect], limits: Limits, input: &[u8]) -> Outcome {
    run(expects, limits, input.chunks(1))
}

pub fn run_split(expects: &[Expect], limits: Limits, input: &[u8], at: usize) -> Outcome {
    run(expects, limits, [&input[..at], &input[at..]])
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

/// One reply scenario: requests, the server's bytes, and what decoding them must give.
pub struct Scenario {
    pub name: &'static str,
    pub expects: Vec<Expect>,
    pub input: Vec<u8>,
    pub replies: Vec<Reply>,
    /// The error that must end the run, if any.
    pub error: Option<fn(&DecodeError) -> bool>,
    /// Requests still pending at the end.
    pub pending: usize,
    pub limits: Limits,
}

impl Scenario {
    fn ok(name: &'static str, expects: Vec<Expect>, input: &[u8], replies: Vec<Reply>) -> Self {
        Scenario {
            name,
            expects,
            input: input.to_vec(),
            replies,
            error: None,
            pending: 0,
            limits: Limits::default(),
        }
    }

    fn pending(mut self, pending: usize) -> Self {
        self.pending = pending;
        self
    }

    fn fails(mut self, error: fn(&DecodeError) -> bool) -> Self {
        self.error = Some(error);
        self
    }

    fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn whole(&self) -> Outcome {
        run_whole(&self.expects, self.limits, &self.input)
    }

    /// Decodes the whole input at once and checks it against the expectation.
    pub fn assert_whole(&self) -> Outcome {
        let out = self.whole();
        assert_eq!(out.replies, self.replies, "scenario {}: replies", self.name);
        match (&out.error, self.error) {
            (None, None) => {}
            (Some(error), Some(check)) => {
                assert!(
                    check(error),
                    "scenario {}: wrong error {error:?}",
                    self.name
                )
            }
            (got, _) => panic!("scenario {}: error expectation not met: {got:?}", self.name),
        }
        assert_eq!(out.pending, self.pending, "scenario {}: pending", self.name);
        if self.error.is_none() && self.pending == 0 {
            assert!(out.leftover.is_empty(), "scenario {}: leftover", self.name);
        }
        out
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub fn scenario(name: &str) -> Scenario {
    scenarios()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

/// Every reply scenario. Names are unique.
pub fn scenarios() -> Vec<Scenario> {
    use MetaStatus::*;
    use ServerErrorKind as K;
    let small_values = Limits {
        max_value_len: 16,
        ..Limits::default()
    };
    let short_lines = Limits {
        max_line_len: 32,
        ..Limits::default()
    };
    let few_lines = Limits {
        max_reply_lines: 2,
        ..Limits::default()
    };
    vec![
        // ---- storage --------------------------------------------------------------------
        Scenario::ok(
            "set_stored",
            vec![store(StoreMode::Set)],
            b"STORED\r\n",
            vec![Reply::Stored],
        ),
        Scenario::ok(
            "add_stored_not_stored",
            vec![store(StoreMode::Add), store(StoreMode::Add)],
            b"STORED\r\nNOT_STORED\r\n",
            vec![Reply::Stored, Reply::NotStored],
        ),
        Scenario::ok(
            "replace_append_prepend",
            vec![
                store(StoreMode::Replace),
                store(StoreMode::Append),
                store(StoreMode::Prepend),
            ],
            b"NOT_STORED\r\nSTORED\r\nNOT_STORED\r\n",
            vec![Reply::NotStored, Reply::Stored, Reply::NotStored],
        ),
        Scenario::ok(
            "cas_stored_exists_not_found",
            vec![
                store(StoreMode::Cas(0)),
                store(StoreMode::Cas(1)),
                store(StoreMode::Cas(u64::MAX)),
            ],
            b"STORED\r\nEXISTS\r\nNOT_FOUND\r\n",
            vec![Reply::Stored, Reply::Exists, Reply::NotFound],
        ),
        // ---- delete / touch / arithmetic ----------------------------------------------
        Scenario::ok(
            "delete_deleted_not_found",
            vec![delete(b"a"), delete(b"b")],
            b"DELETED\r\nNOT_FOUND\r\n",
            vec![Reply::Deleted, Reply::NotFound],
        ),
        Scenario::ok(
            "touch_touched_not_found",
            vec![touch(), touch()],
            b"TOUCHED\r\nNOT_FOUND\r\n",
            vec![Reply::Touched, Reply::NotFound],
        ),
        Scenario::ok(
            "incr_decr_numbers",
            vec![
                arith(ArithOp::Incr),
                arith(ArithOp::Decr),
                arith(ArithOp::Incr),
                arith(ArithOp::Decr),
            ],
            b"5\r\n0\r\n18446744073709551615\r\nNOT_FOUND\r\n",
            vec![
                Reply::Number(5),
                Reply::Number(0),
                Reply::Number(u64::MAX),
                Reply::NotFound,
            ],
        ),
        Scenario::ok(
            "incr_leading_zero",
            vec![arith(ArithOp::Incr)],
            b"007\r\n",
            vec![Reply::Number(7)],
        ),
        // ---- admin ----------------------------------------------------------------------
        Scenario::ok(
            "flush_all_verbosity_ok",
            vec![flush_all(), verbosity()],
            b"OK\r\nOK\r\n",
            vec![Reply::Ok, Reply::Ok],
        ),
        Scenario::ok(
            "version_reply",
            vec![version()],
            b"VERSION 1.6.18\r\n",
            vec![Reply::Version(b(b"1.6.18"))],
        ),
        Scenario::ok(
            "version_with_spaces",
            vec![version()],
            b"VERSION 1.6.18 (custom build)\r\n",
            vec![Reply::Version(b(b"1.6.18 (custom build)"))],
        ),
        Scenario::ok(
            "stats_list",
            vec![stats(&[])],
            b"STAT pid 4242\r\nSTAT version 1.6.18\r\nSTAT libevent 2.1.12-stable\r\n\
              STAT spaced a b  c \r\nSTAT empty \r\nEND\r\n",
            vec![Reply::Stats(vec![
                stat(b"pid", b"4242"),
                stat(b"version", b"1.6.18"),
                stat(b"libevent", b"2.1.12-stable"),
                stat(b"spaced", b"a b  c "),
                stat(b"empty", b""),
            ])],
        ),
        Scenario::ok(
            "stats_reset_is_other",
            vec![stats(&[b"reset"])],
            b"RESET\r\n",
            vec![Reply::Other(b(b"RESET"))],
        ),
        Scenario::ok(
            "stats_detail_on_ok",
            vec![stats(&[b"detail", b"on"])],
            b"OK\r\n",
            vec![Reply::Ok],
        ),
        Scenario::ok(
            "stats_cachedump_lines",
            vec![stats(&[b"cachedump", b"1", b"2"])],
            b"ITEM c [20 b; 0 s]\r\nITEM newv [0 b; 1795609944 s]\r\nEND\r\n",
            vec![Reply::Stats(vec![
                stat(b"ITEM", b"c [20 b; 0 s]"),
                stat(b"ITEM", b"newv [0 b; 1795609944 s]"),
            ])],
        ),
        Scenario::ok(
            "stats_detail_dump_empty",
            vec![stats(&[b"detail", b"dump"])],
            b"END\r\n",
            vec![Reply::Stats(vec![])],
        ),
        Scenario::ok(
            "stats_unknown_group_error",
            vec![stats(&[b"nosuch"])],
            b"ERROR\r\n",
            vec![server_error(K::Error, b"")],
        ),
        Scenario::ok(
            "cache_memlimit_ok_and_too_small",
            vec![memlimit(), memlimit()],
            b"OK\r\nMEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n",
            vec![
                Reply::Ok,
                Reply::Other(b(b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m")),
            ],
        ),
        // ---- retrieval ------------------------------------------------------------------
        Scenario::ok(
            "get_hit",
            vec![get(&[b"k"])],
            b"VALUE k 5 3\r\nabc\r\nEND\r\n",
            vec![values(vec![item(b"k", 5, None, b"abc")])],
        ),
        Scenario::ok(
            "get_miss",
            vec![get(&[b"k"])],
            b"END\r\n",
            vec![values(vec![])],
        ),
        Scenario::ok(
            "gets_with_cas",
            vec![gets(&[b"a", b"b"])],
            b"VALUE a 0 1 42\r\nx\r\nVALUE b 7 2 18446744073709551615\r\nyz\r\nEND\r\n",
            vec![values(vec![
                item(b"a", 0, Some(42), b"x"),
                item(b"b", 7, Some(u64::MAX), b"yz"),
            ])],
        ),
        Scenario::ok(
            "gat_and_gats",
            vec![
                retrieve(RetrieveKind::Gat(Exptime::Never), &[b"a"]),
                retrieve(
                    RetrieveKind::Gats(Exptime::After(Duration::from_secs(9))),
                    &[b"a"],
                ),
            ],
            b"VALUE a 1 1\r\nx\r\nEND\r\nVALUE a 1 1 9\r\nx\r\nEND\r\n",
            vec![
                values(vec![item(b"a", 1, None, b"x")]),
                values(vec![item(b"a", 1, Some(9), b"x")]),
            ],
        ),
        Scenario::ok(
            "multi_get_with_misses",
            vec![get(&[b"a", b"b", b"c", b"d", b"e"])],
            &cat(&[
                &value_block(b"b", 1, None, b"B"),
                &value_block(b"d", 2, None, b"DD"),
                b"END\r\n",
            ]),
            vec![values(vec![
                item(b"b", 1, None, b"B"),
                item(b"d", 2, None, b"DD"),
            ])],
        ),
        Scenario::ok(
            "multi_get_out_of_order",
            vec![get(&[b"a", b"b", b"c"])],
            &cat(&[
                &value_block(b"c", 0, None, b"3"),
                &value_block(b"a", 0, None, b"1"),
                &value_block(b"b", 0, None, b"2"),
                b"END\r\n",
            ]),
            vec![values(vec![
                item(b"c", 0, None, b"3"),
                item(b"a", 0, None, b"1"),
                item(b"b", 0, None, b"2"),
            ])],
        ),
        Scenario::ok(
            "zero_length_values",
            vec![get(&[b"a", b"b"])],
            b"VALUE a 0 0\r\n\r\nVALUE b 3 0\r\n\r\nEND\r\n",
            vec![values(vec![
                item(b"a", 0, None, b""),
                item(b"b", 3, None, b""),
            ])],
        ),
        Scenario::ok(
            "values_containing_crlf_and_end",
            vec![get(&[b"a", b"b", b"c"])],
            &cat(&[
                &value_block(b"a", 0, None, b"x\r\nEND\r\n"),
                &value_block(b"b", 0, None, b"\r\n"),
                &value_block(b"c", 0, None, b"VALUE c 0 1\r\nEND\r\nSTORED\r\n\n\r"),
                b"END\r\n",
            ]),
            vec![values(vec![
                item(b"a", 0, None, b"x\r\nEND\r\n"),
                item(b"b", 0, None, b"\r\n"),
                item(b"c", 0, None, b"VALUE c 0 1\r\nEND\r\nSTORED\r\n\n\r"),
            ])],
        ),
        // The emcache trap: a value that ends in `END\r\n`, split right after its data.
        Scenario::ok(
            "emcache_value_ending_in_end",
            vec![get(&[b"k"]), version()],
            b"VALUE k 0 5\r\nEND\r\n\r\nEND\r\nVERSION 1\r\n",
            vec![
                values(vec![item(b"k", 0, None, b"END\r\n")]),
                Reply::Version(b(b"1")),
            ],
        ),
        Scenario::ok(
            "large_client_flags",
            vec![gets(&[b"a", b"b", b"c", b"d"])],
            b"VALUE a 65536 1 1\r\nx\r\nVALUE b 65537 1 2\r\nx\r\nVALUE c 4294967295 1 3\r\nx\r\n\
              VALUE d 0 1 0\r\nx\r\nEND\r\n",
            vec![values(vec![
                item(b"a", 65536, Some(1), b"x"),
                item(b"b", 65537, Some(2), b"x"),
                item(b"c", u32::MAX, Some(3), b"x"),
                item(b"d", 0, Some(0), b"x"),
            ])],
        ),
        Scenario::ok(
            "binary_value",
            vec![get(&[b"bin"])],
            &cat(&[
                &value_block(b"bin", 0, None, &(0..=255u8).collect::<Vec<_>>()),
                b"END\r\n",
            ]),
            vec![values(vec![item(
                b"bin",
                0,
                None,
                &(0..=255u8).collect::<Vec<_>>(),
            )])],
        ),
        // ---- meta -----------------------------------------------------------------------
        Scenario::ok(
            "mg_va_all_return_flags",
            vec![mg(b"hit", Some(b"c1"), false)],
            b"VA 3 Oc1 khit c2 f5 s3 t-1 h0 l1\r\nabc\r\n",
            vec![meta(
                Va,
                Some(b"abc"),
                MetaFlags {
                    cas: Some(2),
                    flags: Some(5),
                    size: Some(3),
                    ttl: Some(-1),
                    hit_before: Some(false),
                    last_access: Some(1),
                    key: Some(b(b"hit")),
                    opaque: Some(b(b"c1")),
                    ..MetaFlags::default()
                },
            )],
        ),
        Scenario::ok(
            "mg_hd_en",
            vec![
                mg(b"hit", Some(b"c2"), false),
                mg(b"miss", Some(b"a1"), false),
                mg(b"miss", None, false),
            ],
            b"HD Oc2 khit h1 t30\r\nEN Oa1 kmiss\r\nEN\r\n",
            vec![
                meta(
                    Hd,
                    None,
                    MetaFlags {
                        hit_before: Some(true),
                        ttl: Some(30),
                        ..with_opaque_key(b"c2", b"hit")
                    },
                ),
                meta(En, None, with_opaque_key(b"a1", b"miss")),
                bare(En),
            ],
        ),
        Scenario::ok(
            "mg_stale_win_flags",
            vec![
                mg(b"foo", Some(b"b2"), false),
                mg(b"foo", Some(b"b3"), false),
                mg(b"new", Some(b"b4"), false),
            ],
            b"VA 3 c2 Ob2 X W\r\nabc\r\nVA 3 c2 Ob3 Z X\r\nabc\r\nVA 0 c3 Ob4 W\r\n\r\n",
            vec![
                meta(
                    Va,
                    Some(b"abc"),
                    MetaFlags {
                        cas: Some(2),
                        stale: true,
                        won: true,
                        ..with_opaque(b"b2")
                    },
                ),
                meta(
                    Va,
                    Some(b"abc"),
                    MetaFlags {
                        cas: Some(2),
                        stale: true,
                        already_won: true,
                        ..with_opaque(b"b3")
                    },
                ),
                meta(
                    Va,
                    Some(b""),
                    MetaFlags {
                        cas: Some(3),
                        won: true,
                        ..with_opaque(b"b4")
                    },
                ),
            ],
        ),
        Scenario::ok(
            "mg_base64_key_and_unknown_flags",
            vec![mg(b"Zg==", Some(b"z"), false)],
            b"VA 1 kZg== b Oz P9 Lx\r\nx\r\n",
            vec![meta(
                Va,
                Some(b"x"),
                MetaFlags {
                    base64_key: true,
                    ..with_opaque_key(b"z", b"Zg==")
                },
            )],
        ),
        Scenario::ok(
            "mg_value_with_crlf",
            vec![mg(b"k", None, false)],
            b"VA 8 f0\r\nEN\r\nMN\r\n\r\n",
            vec![meta(
                Va,
                Some(b"EN\r\nMN\r\n"),
                MetaFlags {
                    flags: Some(0),
                    ..MetaFlags::default()
                },
            )],
        ),
        Scenario::ok(
            "ms_every_code",
            vec![
                ms(b"a", Some(b"1"), false),
                ms(b"b", Some(b"2"), false),
                ms(b"c", Some(b"3"), false),
                ms(b"d", Some(b"4"), false),
            ],
            b"HD O1 ka c2\r\nNS O2 kb\r\nEX O3 kc\r\nNF O4 kd\r\n",
            vec![
                meta(
                    Hd,
                    None,
                    MetaFlags {
                        cas: Some(2),
                        ..with_opaque_key(b"1", b"a")
                    },
                ),
                meta(Ns, None, with_opaque_key(b"2", b"b")),
                meta(Ex, None, with_opaque_key(b"3", b"c")),
                meta(Nf, None, with_opaque_key(b"4", b"d")),
            ],
        ),
        Scenario::ok(
            "md_every_code",
            vec![
                md(b"a", Some(b"e1"), false),
                md(b"b", Some(b"e2"), false),
                md(b"c", None, false),
            ],
            b"HD Oe1\r\nNF Oe2\r\nEX\r\n",
            vec![
                meta(Hd, None, with_opaque(b"e1")),
                meta(Nf, None, with_opaque(b"e2")),
                bare(Ex),
            ],
        ),
        Scenario::ok(
            "ma_every_code",
            vec![
                ma(b"a", Some(b"f1"), false),
                ma(b"a", Some(b"f2"), false),
                ma(b"a", Some(b"f3"), false),
                ma(b"a", Some(b"f4"), false),
                ma(b"a", Some(b"f5"), false),
            ],
            b"HD Of1 ka\r\nVA 1 Of2 ka t-1 c5\r\n7\r\nNF Of3\r\nNS Of4\r\nEX Of5\r\n",
            vec![
                meta(Hd, None, with_opaque_key(b"f1", b"a")),
                meta(
                    Va,
                    Some(b"7"),
                    MetaFlags {
                        ttl: Some(-1),
                        cas: Some(5),
                        ..with_opaque_key(b"f2", b"a")
                    },
                ),
                meta(Nf, None, with_opaque(b"f3")),
                meta(Ns, None, with_opaque(b"f4")),
                meta(Ex, None, with_opaque(b"f5")),
            ],
        ),
        Scenario::ok("mn_reply", vec![mn()], b"MN\r\n", vec![bare(Mn)]),
        Scenario::ok(
            "me_hit_and_miss",
            vec![me(b"foo"), me(b"nothere")],
            b"ME foo exp=-1 la=1 cas=4 fetch=no cls=1 size=63\r\nEN\r\n",
            vec![
                Reply::Meta(Box::new(MetaReply {
                    status: Me,
                    value: None,
                    flags: MetaFlags::default(),
                    debug: Some(b(b"foo exp=-1 la=1 cas=4 fetch=no cls=1 size=63")),
                })),
                bare(En),
            ],
        ),
        // ---- error lines ----------------------------------------------------------------
        Scenario::ok(
            "error_lines_for_every_kind",
            vec![
                store(StoreMode::Set),
                get(&[b"a"]),
                delete(b"a"),
                arith(ArithOp::Incr),
                touch(),
                version(),
                stats(&[]),
                memlimit(),
                flush_all(),
                mg(b"a", Some(b"1"), false),
                ms(b"a", None, false),
                mn(),
            ],
            b"CLIENT_ERROR bad command line format\r\nERROR\r\nSERVER_ERROR out of memory\r\n\
              CLIENT_ERROR cannot increment or decrement non-numeric value\r\n\
              CLIENT_ERROR invalid exptime argument\r\nERROR an unknown error happened\r\n\
              SERVER_ERROR: shutdown not enabled\r\nERROR\r\n\
              CLIENT_ERROR flush_all not allowed\r\nCLIENT_ERROR invalid flag\r\n\
              CLIENT_ERROR bad data chunk\r\nSERVER_ERROR\r\n",
            vec![
                server_error(K::Client, b"bad command line format"),
                server_error(K::Error, b""),
                server_error(K::Server, b"out of memory"),
                server_error(
                    K::Client,
                    b"cannot increment or decrement non-numeric value",
                ),
                server_error(K::Client, b"invalid exptime argument"),
                server_error(K::Error, b"an unknown error happened"),
                server_error(K::Server, b"shutdown not enabled"),
                server_error(K::Error, b""),
                server_error(K::Client, b"flush_all not allowed"),
                server_error(K::Client, b"invalid flag"),
                server_error(K::Client, b"bad data chunk"),
                server_error(K::Server, b""),
            ],
        ),
        Scenario::ok(
            "error_line_ends_multiget_early",
            vec![get(&[b"a", b"b", b"c"]), version()],
            &cat(&[
                &value_block(b"a", 0, None, b"1"),
                &value_block(b"b", 0, None, b"2"),
                b"SERVER_ERROR out of memory writing get response\r\nVERSION 1.6.18\r\n",
            ]),
            vec![
                server_error(K::Server, b"out of memory writing get response"),
                Reply::Version(b(b"1.6.18")),
            ],
        ),
        Scenario::ok(
            "error_line_ends_stats_early",
            vec![stats(&[b"cachedump", b"1", b"1"]), version()],
            b"STAT a 1\r\nCLIENT_ERROR stats cachedump not allowed\r\nVERSION 1\r\n",
            vec![
                server_error(K::Client, b"stats cachedump not allowed"),
                Reply::Version(b(b"1")),
            ],
        ),
        // ---- pipelining -----------------------------------------------------------------
        Scenario::ok(
            "pipeline_many_outstanding",
            vec![
                store(StoreMode::Set),
                get(&[b"a", b"b"]),
                delete(b"a"),
                arith(ArithOp::Incr),
                touch(),
                mg(b"a", Some(b"x"), false),
                stats(&[]),
                version(),
                gets(&[b"c"]),
                ms(b"a", Some(b"y"), false),
                flush_all(),
                mn(),
            ],
            &cat(&[
                b"STORED\r\n",
                &value_block(b"b", 9, None, b"bee\r\n"),
                b"END\r\nDELETED\r\n42\r\nTOUCHED\r\nVA 2 Ox\r\nhi\r\nSTAT a b\r\nEND\r\n",
                b"VERSION 9\r\n",
                &value_block(b"c", 0, Some(77), b""),
                b"END\r\nHD Oy\r\nOK\r\nMN\r\n",
            ]),
            vec![
                Reply::Stored,
                values(vec![item(b"b", 9, None, b"bee\r\n")]),
                Reply::Deleted,
                Reply::Number(42),
                Reply::Touched,
                meta(Va, Some(b"hi"), with_opaque(b"x")),
                Reply::Stats(vec![stat(b"a", b"b")]),
                Reply::Version(b(b"9")),
                values(vec![item(b"c", 0, Some(77), b"")]),
                meta(Hd, None, with_opaque(b"y")),
                Reply::Ok,
                bare(Mn),
            ],
        ),
        Scenario::ok(
            "pipeline_partial_tail",
            vec![store(StoreMode::Set), get(&[b"a"]), version()],
            b"STORED\r\nVALUE a 0 5\r\nab",
            vec![Reply::Stored],
        )
        .pending(2),
        Scenario::ok(
            "pipeline_partial_line",
            vec![delete(b"a"), delete(b"b")],
            b"DELETED\r\nNOT_FOU",
            vec![Reply::Deleted],
        )
        .pending(1),
        // ---- quiet meta -----------------------------------------------------------------
        Scenario::ok(
            "quiet_mg_batch_one_hit",
            vec![
                mg(b"k1", Some(b"1"), true),
                mg(b"k2", Some(b"2"), true),
                mn(),
            ],
            b"VA 2 O2\r\nv2\r\nMN\r\n",
            vec![quiet(), meta(Va, Some(b"v2"), with_opaque(b"2")), bare(Mn)],
        ),
        Scenario::ok(
            "quiet_mg_batch_all_miss",
            vec![
                mg(b"k1", Some(b"1"), true),
                mg(b"k2", Some(b"2"), true),
                mg(b"k3", Some(b"3"), true),
                mn(),
            ],
            b"MN\r\n",
            vec![quiet(), quiet(), quiet(), bare(Mn)],
        ),
        Scenario::ok(
            "quiet_mg_batch_all_hit",
            vec![
                mg(b"k1", Some(b"1"), true),
                mg(b"k2", Some(b"2"), true),
                mn(),
            ],
            b"VA 1 O1\r\na\r\nHD O2\r\nMN\r\n",
            vec![
                meta(Va, Some(b"a"), with_opaque(b"1")),
                meta(Hd, None, with_opaque(b"2")),
                bare(Mn),
            ],
        ),
        Scenario::ok(
            "quiet_ms_batch_one_failure",
            vec![
                ms(b"a", Some(b"a"), true),
                ms(b"b", Some(b"b"), true),
                ms(b"c", Some(b"c"), true),
                mn(),
            ],
            b"NS Ob\r\nMN\r\n",
            vec![
                quiet(),
                meta(Ns, None, with_opaque(b"b")),
                quiet(),
                bare(Mn),
            ],
        ),
        Scenario::ok(
            "quiet_md_ma_failures",
            vec![
                md(b"a", Some(b"h1"), true),
                ma(b"b", Some(b"h2"), true),
                ma(b"c", Some(b"h3"), true),
                mn(),
            ],
            b"NF Oh1\r\nMN\r\n",
            vec![
                meta(Nf, None, with_opaque(b"h1")),
                quiet(),
                quiet(),
                bare(Mn),
            ],
        ),
        Scenario::ok(
            "quiet_then_classic_and_non_quiet_meta",
            vec![
                mg(b"a", Some(b"q1"), true),
                get(&[b"a"]),
                mg(b"b", Some(b"q2"), true),
                mg(b"c", None, false),
            ],
            b"END\r\nEN\r\n",
            vec![quiet(), values(vec![]), quiet(), bare(En)],
        ),
        Scenario::ok(
            "quiet_waits_for_a_full_line",
            vec![mg(b"a", Some(b"1"), true), mn()],
            b"MN",
            vec![],
        )
        .pending(2),
        // ---- protocol violations (also checked under every chunking) -------------------
        Scenario::ok(
            "error_line_in_a_quiet_run_is_unattributed",
            vec![
                mg(b"a", Some(b"q1"), true),
                mg(b"b", Some(b"q2"), true),
                mg(b"c", Some(b"q3"), true),
                mg(b"e", Some(b"q5"), true),
                mn(),
                mg(b"d", Some(b"q4"), true),
                mn(),
            ],
            b"HD Oq1\r\nSERVER_ERROR out of memory\r\nHD Oq3\r\nMN\r\nMN\r\n",
            vec![
                meta(Hd, None, with_opaque(b"q1")),
                unattributed(K::Server, b"out of memory"),
                meta(Hd, None, with_opaque(b"q3")),
                // Its silence may have been the failure the error line reported.
                unattributed(K::Server, b"out of memory"),
                bare(Mn),
                // A new run: silence means silence again.
                quiet(),
                bare(Mn),
            ],
        ),
        Scenario::ok(
            "a_server_without_meta_commands_answers_error_to_each",
            vec![mg(b"a", Some(b"1"), true), mg(b"b", Some(b"2"), true), mn()],
            b"ERROR\r\nERROR\r\nERROR\r\n",
            vec![
                unattributed(K::Error, b""),
                unattributed(K::Error, b""),
                server_error(K::Error, b""),
            ],
        ),
        Scenario::ok(
            "error_line_in_a_quiet_run_ended_by_an_answered_request_is_ambiguous",
            vec![mg(b"a", Some(b"1"), true), mg(b"b", Some(b"2"), false)],
            b"SERVER_ERROR out of memory\r\nEN O2\r\n",
            vec![],
        )
        .pending(2)
        .fails(|e| {
            matches!(e, DecodeError::AmbiguousErrorLine(x)
                if x.as_str() == "SERVER_ERROR out of memory")
        }),
        Scenario::ok(
            "unknown_command_in_a_quiet_run_with_data_breaks_the_stream",
            vec![mg(b"a", Some(b"1"), true), ms(b"b", Some(b"2"), true), mn()],
            b"ERROR\r\nERROR\r\n",
            vec![],
        )
        .pending(3)
        .fails(|e| matches!(e, DecodeError::UnknownCommandWithData(_))),
        Scenario::ok(
            "unknown_command_with_data_breaks_the_stream",
            vec![ms(b"a", Some(b"1"), false), mn()],
            b"ERROR\r\nERROR\r\nERROR\r\n",
            vec![],
        )
        .pending(2)
        .fails(|e| matches!(e, DecodeError::UnknownCommandWithData(x) if x.as_str() == "ERROR")),
        Scenario::ok(
            "opaque_mismatch_non_quiet",
            vec![mg(b"a", Some(b"1"), false)],
            b"EN O2\r\n",
            vec![],
        )
        .pending(1)
        .fails(|e| matches!(e, DecodeError::OpaqueMismatch(x) if x.as_str() == "EN O2")),
        Scenario::ok(
            "opaque_missing_non_quiet",
            vec![ms(b"a", Some(b"1"), false)],
            b"HD\r\n",
            vec![],
        )
        .pending(1)
        .fails(|e| matches!(e, DecodeError::OpaqueMismatch(_))),
        Scenario::ok(
            "opaque_unrequested_non_quiet",
            vec![md(b"a", None, false)],
            b"HD Oz\r\n",
            vec![],
        )
        .pending(1)
        .fails(|e| matches!(e, DecodeError::OpaqueMismatch(_))),
        // ---- echoed meta keys (flag `k`) ------------------------------------------------
        // memcached 1.6 echoes the key on hits, misses and failures alike; older servers
        // leave it off misses and failures, which is accepted.
        Scenario::ok(
            "meta_echoed_key_matches",
            vec![
                mg_echo(b"k1", None, false),
                mg_echo(b"k1", None, false),
                mg_echo(b"k1", None, false),
                mg_echo(b"k1", None, false),
                ms_echo(b"k1"),
                md_echo(b"k1"),
                ma_echo(b"k1"),
            ],
            b"VA 2 kk1\r\nhi\r\nHD kk1\r\nEN kk1\r\nEN\r\nNS kk1\r\nNF\r\nVA 1 kk1\r\n7\r\n",
            vec![
                meta(Va, Some(b"hi"), with_key(b"k1")),
                meta(Hd, None, with_key(b"k1")),
                meta(En, None, with_key(b"k1")),
                bare(En),
                meta(Ns, None, with_key(b"k1")),
                bare(Nf),
                meta(Va, Some(b"7"), with_key(b"k1")),
            ],
        ),
        // The server encodes the echo the way the item's key was stored: base64 (`b`) for
        // an item set with a binary key, plain otherwise, whatever the request sent.
        Scenario::ok(
            "meta_echoed_key_base64",
            vec![
                mg_echo_base64(b"a b"),
                mg_echo_base64(b"foo"),
                mg_echo(b"foo", None, false),
            ],
            b"VA 1 kYSBi b\r\nx\r\nHD kfoo\r\nHD kZm9v b\r\n",
            vec![
                meta(
                    Va,
                    Some(b"x"),
                    MetaFlags {
                        base64_key: true,
                        ..with_key(b"YSBi")
                    },
                ),
                meta(Hd, None, with_key(b"foo")),
                meta(
                    Hd,
                    None,
                    MetaFlags {
                        base64_key: true,
                        ..with_key(b"Zm9v")
                    },
                ),
            ],
        ),
        Scenario::ok(
            "meta_echoed_key_mismatch",
            vec![mg_echo(b"k1", None, false)],
            b"VA 2 kk2\r\nhi\r\n",
            vec![],
        )
        .pending(1)
        .fails(|e| matches!(e, DecodeError::KeyMismatch(x) if x.as_str() == "VA 2 kk2")),
        Scenario::ok(
            "meta_hit_without_echoed_key",
            vec![mg_echo(b"k1", None, false), ms_echo(b"k1")],
            b"EN\r\nHD c5\r\n",
            vec![bare(En)],
        )
        .pending(1)
        .fails(|e| matches!(e, DecodeError::KeyMismatch(x) if x.as_str() == "HD c5")),
        Scenario::ok(
            "meta_echoed_key_wrong_encoding",
            vec![mg_echo_base64(b"a b"), mg_echo(b"YSBi", None, false)],
            b"HD kYSBi b\r\nHD kYSBi b\r\n",
            vec![meta(
                Hd,
                None,
                MetaFlags {
                    base64_key: true,
                    ..with_key(b"YSBi")
                },
            )],
        )
        .pending(1)
        .fails(|e| matches!(e, DecodeError::KeyMismatch(_))),
        Scenario::ok(
            "quiet_echo_batch",
            vec![
                mg_echo(b"k1", Some(b"1"), true),
                mg_echo(b"k2", Some(b"2"), true),
                mn(),
            ],
            b"VA 2 O2 kk2\r\nv2\r\nMN\r\n",
            vec![
                quiet(),
                meta(Va, Some(b"v2"), with_opaque_key(b"2", b"k2")),
                bare(Mn),
            ],
        ),
        // The opaque pairs the hit with k2's request, but it names k1: refused, never a
        // hit for the wrong key.
        Scenario::ok(
            "quiet_echo_wrong_key",
            vec![
                mg_echo(b"k1", Some(b"1"), true),
                mg_echo(b"k2", Some(b"2"), true),
                mn(),
            ],
            b"VA 2 O2 kk1\r\nv2\r\nMN\r\n",
            vec![quiet()],
        )
        .pending(2)
        .fails(|e| matches!(e, DecodeError::KeyMismatch(x) if x.as_str() == "VA 2 O2 kk1")),
        Scenario::ok(
            "unrequested_key",
            vec![get(&[b"a", b"b"])],
            b"VALUE c 0 1\r\nx\r\nEND\r\n",
            vec![],
        )
        .pending(1)
        .fails(|e| matches!(e, DecodeError::UnrequestedKey(x) if x.as_str() == "c")),
        Scenario::ok(
            "duplicate_key",
            vec![get(&[b"a", b"b"])],
            b"VALUE a 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\nEND\r\n",
            vec![],
        )
        .pending(1)
        .fails(|e| matches!(e, DecodeError::DuplicateKey(x) if x.as_str() == "a")),
        Scenario::ok("unsolicited", vec![], b"STORED\r\n", vec![])
            .fails(|e| matches!(e, DecodeError::Unsolicited(_))),
        Scenario::ok(
            "unsolicited_after_last_reply",
            vec![store(StoreMode::Set)],
            b"STORED\r\nSTORED\r\n",
            vec![Reply::Stored],
        )
        .fails(|e| matches!(e, DecodeError::Unsolicited(_))),
        Scenario::ok(
            "bare_line_feed",
            vec![store(StoreMode::Set), store(StoreMode::Set)],
            b"STORED\r\nSTORED\n",
            vec![Reply::Stored],
        )
        .pending(1)
        .fails(|e| *e == DecodeError::BareLineFeed),
        Scenario::ok(
            "value_too_large",
            vec![get(&[b"a"])],
            b"VALUE a 0 17\r\n01234567890123456\r\nEND\r\n",
            vec![],
        )
        .limits(small_values)
        .pending(1)
        .fails(|e| *e == DecodeError::ValueTooLarge { len: 17, max: 16 }),
        Scenario::ok(
            "value_at_limit",
            vec![get(&[b"a"])],
            b"VALUE a 0 16\r\n0123456789012345\r\nEND\r\n",
            vec![values(vec![item(b"a", 0, None, b"0123456789012345")])],
        )
        .limits(small_values),
        Scenario::ok(
            "missing_data_terminator",
            vec![get(&[b"a"])],
            b"VALUE a 0 1\r\nxy\r\nEND\r\n",
            vec![],
        )
        .pending(1)
        .fails(|e| *e == DecodeError::MissingDataTerminator),
        Scenario::ok(
            "line_too_long",
            vec![version()],
            b"VERSION 0123456789012345678901234567890123456789\r\n",
            vec![],
        )
        .limits(short_lines)
        .pending(1)
        .fails(|e| *e == DecodeError::LineTooLong { max: 32 }),
        Scenario::ok(
            "too_many_stats_lines",
            vec![stats(&[])],
            b"STAT a 1\r\nSTAT b 2\r\nSTAT c 3\r\nEND\r\n",
            vec![],
        )
        .limits(few_lines)
        .pending(1)
        .fails(|e| *e == DecodeError::TooManyLines { max: 2 }),
    ]
}
