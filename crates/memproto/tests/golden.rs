//! Byte-exact encodings of every command and flag combination, and every `EncodeError`
//! (with the guarantee that a failed encode leaves the output buffer untouched).

use std::time::Duration;

use bytes::BytesMut;
use memproto::{
    ArithOp, Command, EncodeError, Encoder, Expect, Exptime, KeyError, MetaArith, MetaArithMode,
    MetaCommon, MetaDelete, MetaGet, MetaSet, MetaSetMode, Retrieve, RetrieveKind, Store,
    StoreMode, MAX_BASE64_KEY_LEN, MAX_COMMAND_LINE, MAX_KEY_LEN,
};

const PREFIX: &[u8] = b"already queued\r\n\x00\xff";

/// Encodes with `encoder` after a non-empty prefix and returns only the new bytes.
fn enc_with(encoder: Encoder, cmd: &Command<'_>) -> (Vec<u8>, Expect) {
    let mut out = BytesMut::from(PREFIX);
    let expect = encoder
        .encode(cmd, &mut out)
        .unwrap_or_else(|e| panic!("{cmd:?} failed: {e}"));
    assert_eq!(&out[..PREFIX.len()], PREFIX, "prefix was modified");
    (out[PREFIX.len()..].to_vec(), expect)
}

fn enc(cmd: &Command<'_>) -> Vec<u8> {
    enc_with(Encoder::new(), cmd).0
}

#[track_caller]
fn golden(cmd: Command<'_>, wire: &[u8]) -> Expect {
    let (got, expect) = enc_with(Encoder::new(), &cmd);
    assert_eq!(
        got.escape_ascii().to_string(),
        wire.escape_ascii().to_string(),
        "{cmd:?}"
    );
    expect
}

/// Encodes a command that must fail; checks the buffer is byte-for-byte unchanged.
#[track_caller]
fn fail_with(encoder: Encoder, cmd: &Command<'_>) -> EncodeError {
    let mut out = BytesMut::from(PREFIX);
    let err = encoder
        .encode(cmd, &mut out)
        .expect_err("encoding should fail");
    assert_eq!(&out[..], PREFIX, "failed encode of {cmd:?} wrote bytes");
    err
}

#[track_caller]
fn fail(cmd: &Command<'_>) -> EncodeError {
    fail_with(Encoder::new(), cmd)
}

fn secs(s: u64) -> Exptime {
    Exptime::After(Duration::from_secs(s))
}

fn store<'a>(mode: StoreMode, key: &'a [u8], value: &'a [u8]) -> Store<'a> {
    Store::new(mode, key, value)
}

// =========================================================================================
// Classic storage
// =========================================================================================

#[test]
fn storage_modes() {
    for (mode, name) in [
        (StoreMode::Set, "set"),
        (StoreMode::Add, "add"),
        (StoreMode::Replace, "replace"),
        (StoreMode::Append, "append"),
        (StoreMode::Prepend, "prepend"),
    ] {
        let e = golden(
            Command::Store(store(mode, b"k", b"hello")),
            format!("{name} k 0 0 5\r\nhello\r\n").as_bytes(),
        );
        assert!(e.expects_reply());
        assert!(!e.is_quiet());
        assert_eq!(e.name(), "storage command");
        golden(
            Command::Store(Store {
                noreply: true,
                ..store(mode, b"k", b"hello")
            }),
            format!("{name} k 0 0 5 noreply\r\nhello\r\n").as_bytes(),
        );
    }
}

#[test]
fn storage_flags() {
    for (flags, text) in [
        (0u32, "0"),
        (1, "1"),
        (65535, "65535"),
        (65536, "65536"),
        (65537, "65537"),
        (u32::MAX, "4294967295"),
    ] {
        golden(
            Command::Store(Store {
                flags,
                ..store(StoreMode::Set, b"k", b"v")
            }),
            format!("set k {text} 0 1\r\nv\r\n").as_bytes(),
        );
    }
}

#[test]
fn storage_exptimes() {
    for (exptime, text) in [
        (Exptime::Never, "0"),
        (secs(60), "60"),
        (secs(1), "1"),
        (Exptime::After(Duration::ZERO), "-1"),
        (Exptime::After(Duration::from_millis(1500)), "2"),
        (Exptime::After(Duration::from_nanos(1)), "1"),
        (secs(Exptime::MAX_RELATIVE_SECS), "2592000"),
        (Exptime::At(0), "-1"),
        (Exptime::At(2_592_000), "-1"),
        (Exptime::At(2_592_001), "2592001"),
        (Exptime::At(1_900_000_000), "1900000000"),
        (Exptime::At(i32::MAX as u64), "2147483647"),
        (secs(90 * 86_400).resolve(1_800_000_000), "1807776000"),
    ] {
        golden(
            Command::Store(Store {
                exptime,
                ..store(StoreMode::Add, b"k", b"v")
            }),
            format!("add k 0 {text} 1\r\nv\r\n").as_bytes(),
        );
    }
}

#[test]
fn storage_all_fields_and_values() {
    golden(
        Command::Store(Store {
            flags: 65537,
            exptime: secs(300),
            noreply: true,
            ..store(StoreMode::Replace, "clé:42".as_bytes(), b"a\r\nb")
        }),
        "replace clé:42 65537 300 4 noreply\r\na\r\nb\r\n".as_bytes(),
    );
    // Empty value.
    golden(
        Command::Store(store(StoreMode::Set, b"k", b"")),
        b"set k 0 0 0\r\n\r\n",
    );
    // A value that looks like a command is still just data with a counted length.
    golden(
        Command::Store(store(StoreMode::Set, b"k", b"\r\nflush_all\r\n")),
        b"set k 0 0 13\r\n\r\nflush_all\r\n\r\n",
    );
    // Keys at the length limit.
    let key = [b'k'; MAX_KEY_LEN];
    let mut want = b"set ".to_vec();
    want.extend_from_slice(&key);
    want.extend_from_slice(b" 0 0 1\r\nv\r\n");
    golden(Command::Store(store(StoreMode::Set, &key, b"v")), &want);
    // The key `noreply` is fine where it is not the last token.
    golden(
        Command::Store(store(StoreMode::Set, b"noreply", b"v")),
        b"set noreply 0 0 1\r\nv\r\n",
    );
}

#[test]
fn cas_command() {
    // emcache bug: cas 0 must be sent, as `0`.
    golden(
        Command::Store(store(StoreMode::Cas(0), b"k", b"v")),
        b"cas k 0 0 1 0\r\nv\r\n",
    );
    golden(
        Command::Store(store(StoreMode::Cas(u64::MAX), b"k", b"v")),
        b"cas k 0 0 1 18446744073709551615\r\nv\r\n",
    );
    let e = golden(
        Command::Store(Store {
            flags: u32::MAX,
            exptime: secs(10),
            noreply: true,
            ..store(StoreMode::Cas(12345), b"k", b"val")
        }),
        b"cas k 4294967295 10 3 12345 noreply\r\nval\r\n",
    );
    assert!(!e.expects_reply());
}

// =========================================================================================
// Classic retrieval
// =========================================================================================

fn retrieve<'a>(kind: RetrieveKind, keys: &'a [&'a [u8]]) -> Command<'a> {
    Command::Retrieve(Retrieve { kind, keys })
}

#[test]
fn retrieval_commands() {
    let one: &[&[u8]] = &[b"a"];
    let many: &[&[u8]] = &[b"a", b"bb", b"noreply", b"c\xff"];
    let e = golden(retrieve(RetrieveKind::Get, one), b"get a\r\n");
    assert_eq!(e.name(), "retrieval");
    assert!(e.expects_reply());
    golden(
        retrieve(RetrieveKind::Get, many),
        b"get a bb noreply c\xff\r\n",
    );
    golden(retrieve(RetrieveKind::Gets, one), b"gets a\r\n");
    golden(
        retrieve(RetrieveKind::Gets, many),
        b"gets a bb noreply c\xff\r\n",
    );
    golden(retrieve(RetrieveKind::Gat(secs(60)), one), b"gat 60 a\r\n");
    golden(
        retrieve(RetrieveKind::Gat(Exptime::Never), many),
        b"gat 0 a bb noreply c\xff\r\n",
    );
    golden(
        retrieve(RetrieveKind::Gats(Exptime::After(Duration::ZERO)), one),
        b"gats -1 a\r\n",
    );
    golden(
        retrieve(RetrieveKind::Gats(Exptime::At(1_900_000_000)), many),
        b"gats 1900000000 a bb noreply c\xff\r\n",
    );
}

#[test]
fn get_with_huge_key_list_is_allowed() {
    let keys: Vec<Vec<u8>> = (0..100)
        .map(|i| {
            let mut k = format!("{i:03}").into_bytes();
            k.resize(MAX_KEY_LEN, b'x');
            k
        })
        .collect();
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    for (kind, name) in [(RetrieveKind::Get, "get"), (RetrieveKind::Gets, "gets")] {
        let wire = enc(&retrieve(kind, &refs));
        assert!(wire.len() > 10 * MAX_COMMAND_LINE);
        let mut want = name.as_bytes().to_vec();
        for k in &keys {
            want.push(b' ');
            want.extend_from_slice(k);
        }
        want.extend_from_slice(b"\r\n");
        assert_eq!(wire, want);
    }
}

#[test]
fn gat_line_limit_is_inclusive() {
    // `gat 0` + 8 keys of 250 + one key of `last` bytes + CRLF.
    let long = [b'k'; MAX_KEY_LEN];
    let line_len = |last: usize| 5 + 8 * (MAX_KEY_LEN + 1) + 1 + last + 2;
    for kind in [
        RetrieveKind::Gat(Exptime::Never),
        RetrieveKind::Gats(Exptime::Never),
    ] {
        let extra = if matches!(kind, RetrieveKind::Gats(_)) {
            1
        } else {
            0
        };
        let last_ok = MAX_COMMAND_LINE - line_len(0) - extra;
        let tail = vec![b't'; last_ok + 1];
        let mut keys: Vec<&[u8]> = vec![&long; 8];
        keys.push(&tail[..last_ok]);
        let wire = enc(&retrieve(kind, &keys));
        assert_eq!(wire.len(), MAX_COMMAND_LINE);
        keys.pop();
        keys.push(&tail);
        assert_eq!(
            fail(&retrieve(kind, &keys)),
            EncodeError::LineTooLong {
                len: MAX_COMMAND_LINE + 1,
                max: MAX_COMMAND_LINE
            }
        );
        let many: Vec<&[u8]> = vec![&long; 40];
        assert!(matches!(
            fail(&retrieve(kind, &many)),
            EncodeError::LineTooLong { max: 2048, .. }
        ));
    }
}

// =========================================================================================
// Other classic commands
// =========================================================================================

#[test]
fn delete_command() {
    let e = golden(
        Command::Delete {
            key: b"k",
            noreply: false,
        },
        b"delete k\r\n",
    );
    assert_eq!(e.name(), "delete");
    let e = golden(
        Command::Delete {
            key: b"k",
            noreply: true,
        },
        b"delete k noreply\r\n",
    );
    assert!(!e.expects_reply());
    // With noreply, the key `noreply` is no longer last.
    golden(
        Command::Delete {
            key: b"noreply",
            noreply: true,
        },
        b"delete noreply noreply\r\n",
    );
}

#[test]
fn arith_commands() {
    golden(
        Command::Arith {
            op: ArithOp::Incr,
            key: b"n",
            delta: 1,
            noreply: false,
        },
        b"incr n 1\r\n",
    );
    golden(
        Command::Arith {
            op: ArithOp::Decr,
            key: b"n",
            delta: u64::MAX,
            noreply: false,
        },
        b"decr n 18446744073709551615\r\n",
    );
    golden(
        Command::Arith {
            op: ArithOp::Incr,
            key: b"n",
            delta: 0,
            noreply: true,
        },
        b"incr n 0 noreply\r\n",
    );
    golden(
        Command::Arith {
            op: ArithOp::Decr,
            key: b"noreply",
            delta: u64::MAX,
            noreply: true,
        },
        b"decr noreply 18446744073709551615 noreply\r\n",
    );
}

#[test]
fn touch_command() {
    golden(
        Command::Touch {
            key: b"k",
            exptime: secs(10),
            noreply: false,
        },
        b"touch k 10\r\n",
    );
    golden(
        Command::Touch {
            key: b"k",
            exptime: Exptime::Never,
            noreply: true,
        },
        b"touch k 0 noreply\r\n",
    );
    golden(
        Command::Touch {
            key: b"noreply",
            exptime: Exptime::After(Duration::ZERO),
            noreply: false,
        },
        b"touch noreply -1\r\n",
    );
}

#[test]
fn admin_commands() {
    let e = golden(
        Command::FlushAll {
            delay: None,
            noreply: false,
        },
        b"flush_all\r\n",
    );
    assert!(e.expects_reply());
    golden(
        Command::FlushAll {
            delay: Some(secs(30)),
            noreply: false,
        },
        b"flush_all 30\r\n",
    );
    golden(
        Command::FlushAll {
            delay: Some(Exptime::Never),
            noreply: true,
        },
        b"flush_all 0 noreply\r\n",
    );
    let e = golden(
        Command::FlushAll {
            delay: None,
            noreply: true,
        },
        b"flush_all noreply\r\n",
    );
    assert!(!e.expects_reply());
    assert_eq!(golden(Command::Version, b"version\r\n").name(), "version");
    golden(
        Command::Verbosity {
            level: 1,
            noreply: false,
        },
        b"verbosity 1\r\n",
    );
    golden(
        Command::Verbosity {
            level: u32::MAX,
            noreply: true,
        },
        b"verbosity 4294967295 noreply\r\n",
    );
    assert_eq!(
        golden(Command::Stats { args: &[] }, b"stats\r\n").name(),
        "stats"
    );
    golden(Command::Stats { args: &[b"slabs"] }, b"stats slabs\r\n");
    golden(
        Command::Stats {
            args: &[b"cachedump", b"1", b"100"],
        },
        b"stats cachedump 1 100\r\n",
    );
    golden(
        Command::CacheMemlimit {
            megabytes: 100,
            noreply: false,
        },
        b"cache_memlimit 100\r\n",
    );
    golden(
        Command::CacheMemlimit {
            megabytes: 8,
            noreply: true,
        },
        b"cache_memlimit 8 noreply\r\n",
    );
    let e = golden(Command::Quit, b"quit\r\n");
    assert!(!e.expects_reply());
}

// =========================================================================================
// Meta commands
// =========================================================================================

fn common(opaque: Option<&[u8]>, quiet: bool) -> MetaCommon<'_> {
    MetaCommon {
        opaque,
        quiet,
        ..MetaCommon::default()
    }
}

/// Sets one option of a request, in the tables of options tried one at a time.
type SetOption<T> = fn(&mut T);

/// Meta options sending the key base64-encoded (flag `b`).
fn base64_key() -> MetaCommon<'static> {
    MetaCommon {
        base64: true,
        ..MetaCommon::default()
    }
}

/// Every meta command with a key and meta options (`mg`, `ms`, `md`, `ma`, in that order),
/// built around `key` and `common`.
fn meta_commands<'a>(key: &'a [u8], common: MetaCommon<'a>) -> Vec<Command<'a>> {
    vec![
        Command::MetaGet(MetaGet {
            key,
            common,
            ..MetaGet::default()
        }),
        Command::MetaSet(MetaSet {
            key,
            value: b"v",
            common,
            ..MetaSet::default()
        }),
        Command::MetaDelete(MetaDelete {
            key,
            common,
            ..MetaDelete::default()
        }),
        Command::MetaArith(MetaArith {
            key,
            common,
            ..MetaArith::default()
        }),
    ]
}

/// [`golden`] for each command and its wire form, in order.
#[track_caller]
fn golden_all(cmds: Vec<Command<'_>>, wires: &[impl AsRef<[u8]>]) {
    assert_eq!(cmds.len(), wires.len(), "one wire form per command");
    for (cmd, wire) in cmds.into_iter().zip(wires) {
        golden(cmd, wire.as_ref());
    }
}

#[test]
fn meta_get_flags() {
    let e = golden(
        Command::MetaGet(MetaGet {
            key: b"k",
            ..MetaGet::default()
        }),
        b"mg k\r\n",
    );
    assert_eq!(e.name(), "mg");
    assert!(!e.is_quiet());
    // Each option alone, set on `mg k`.
    let cases: [(SetOption<MetaGet<'static>>, &[u8]); 15] = [
        (|get| get.return_value = true, b"mg k v\r\n"),
        (|get| get.return_cas = true, b"mg k c\r\n"),
        (|get| get.return_flags = true, b"mg k f\r\n"),
        (|get| get.return_hit = true, b"mg k h\r\n"),
        (|get| get.return_last_access = true, b"mg k l\r\n"),
        (|get| get.return_size = true, b"mg k s\r\n"),
        (|get| get.return_ttl = true, b"mg k t\r\n"),
        (|get| get.no_lru_bump = true, b"mg k u\r\n"),
        (|get| get.touch = Some(secs(30)), b"mg k T30\r\n"),
        (
            |get| get.touch = Some(Exptime::After(Duration::ZERO)),
            b"mg k T-1\r\n",
        ),
        (|get| get.vivify = Some(secs(60)), b"mg k N60\r\n"),
        (|get| get.recache = Some(Exptime::Never), b"mg k R0\r\n"),
        (|get| get.common.return_key = true, b"mg k k\r\n"),
        (
            |get| get.common = common(Some(b"op"), false),
            b"mg k Oop\r\n",
        ),
        (
            |get| get.common = common(Some(b"op"), true),
            b"mg k Oop q\r\n",
        ),
    ];
    for (set_option, wire) in cases {
        let mut get = MetaGet {
            key: b"k",
            ..MetaGet::default()
        };
        set_option(&mut get);
        golden(Command::MetaGet(get), wire);
    }
    let e = golden(
        Command::MetaGet(MetaGet {
            key: b"k",
            common: MetaCommon {
                base64: false,
                return_key: true,
                opaque: Some(b"op"),
                quiet: true,
            },
            return_value: true,
            return_cas: true,
            return_flags: true,
            return_hit: true,
            return_last_access: true,
            return_size: true,
            return_ttl: true,
            no_lru_bump: true,
            touch: Some(secs(30)),
            vivify: Some(secs(60)),
            recache: Some(secs(10)),
        }),
        b"mg k k Oop q v c f h l s t u T30 N60 R10\r\n",
    );
    assert!(e.is_quiet());
    assert!(e.expects_reply());
}

/// `return_key` writes `k` on every meta command with a key. The request's key is recorded
/// in the `Expect` only then, so the decoder can check the echo: two requests differing
/// only in their key expect the same reply without `k`, and different replies with it.
#[test]
fn meta_return_key_flag() {
    let echo = MetaCommon {
        return_key: true,
        ..MetaCommon::default()
    };
    let get = |key: &'static [u8], common| {
        Command::MetaGet(MetaGet {
            key,
            common,
            return_value: true,
            ..MetaGet::default()
        })
    };
    golden(get(b"k", echo), b"mg k k v\r\n");
    golden_all(
        meta_commands(b"k", echo),
        &[
            "mg k k\r\n",
            "ms k 1 k\r\nv\r\n",
            "md k k\r\n",
            "ma k k\r\n",
        ],
    );
    let base64 = MetaCommon {
        base64: true,
        ..echo
    };
    golden(get(b"a\x00b", base64), b"mg YQBi b k v\r\n");

    let plain = MetaCommon::default();
    assert_eq!(
        golden(get(b"a", plain), b"mg a v\r\n"),
        enc_with(Encoder::new(), &get(b"b", plain)).1
    );
    assert_ne!(
        golden(get(b"a", echo), b"mg a k v\r\n"),
        enc_with(Encoder::new(), &get(b"b", echo)).1
    );
    assert_ne!(
        enc_with(Encoder::new(), &get(b"a", echo)).1,
        enc_with(Encoder::new(), &get(b"a", plain)).1
    );
}

#[test]
fn meta_base64_keys() {
    for (key, b64) in [
        (&b"f"[..], "Zg=="),
        (b"fo", "Zm8="),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg=="),
        (b"\x00\x01\x02\xff", "AAEC/w=="),
        (b"a b\r\nc", "YSBiDQpj"),
        (b"\xfb\xff\xbf", "+/+/"),
    ] {
        golden(
            Command::MetaGet(MetaGet {
                key,
                common: MetaCommon {
                    return_key: true,
                    ..base64_key()
                },
                return_value: true,
                ..MetaGet::default()
            }),
            format!("mg {b64} b k v\r\n").as_bytes(),
        );
        golden_all(
            base64_commands(key),
            &[
                format!("mg {b64} b\r\n"),
                format!("ms {b64} 1 b\r\nv\r\n"),
                format!("md {b64} b\r\n"),
                format!("ma {b64} b\r\n"),
                format!("me {b64} b\r\n"),
            ],
        );
    }
    // The 250-byte limit applies to the encoded key: 186 raw bytes fit (248 chars).
    let raw = [0xAB_u8; 186];
    let wire = enc(&Command::MetaGet(MetaGet {
        key: &raw,
        common: base64_key(),
        ..MetaGet::default()
    }));
    assert_eq!(wire.len(), 3 + 248 + 2 + 2);
}

#[test]
fn meta_set_flags() {
    let e = golden(
        Command::MetaSet(MetaSet {
            key: b"k",
            value: b"hello",
            ..MetaSet::default()
        }),
        b"ms k 5\r\nhello\r\n",
    );
    assert_eq!(e.name(), "ms");
    // Each option alone, set on `ms k 1`: the token it writes (none for a default).
    let cases: [(SetOption<MetaSet<'static>>, &str); 13] = [
        (|set| set.mode = MetaSetMode::Set, ""),
        (|set| set.mode = MetaSetMode::Add, " ME"),
        (|set| set.mode = MetaSetMode::Replace, " MR"),
        (|set| set.mode = MetaSetMode::Append, " MA"),
        (|set| set.mode = MetaSetMode::Prepend, " MP"),
        (|set| set.flags = 0, ""),
        (|set| set.flags = 65536, " F65536"),
        (|set| set.flags = u32::MAX, " F4294967295"),
        (|set| set.exptime = Exptime::Never, ""),
        (|set| set.exptime = secs(30), " T30"),
        (|set| set.exptime = Exptime::After(Duration::ZERO), " T-1"),
        (
            |set| set.exptime = Exptime::At(2_000_000_000),
            " T2000000000",
        ),
        (|set| set.compare_cas = Some(0), " C0"),
    ];
    for (set_option, token) in cases {
        let mut set = MetaSet {
            key: b"k",
            value: b"v",
            ..MetaSet::default()
        };
        set_option(&mut set);
        golden(
            Command::MetaSet(set),
            format!("ms k 1{token}\r\nv\r\n").as_bytes(),
        );
    }
    let e = golden(
        Command::MetaSet(MetaSet {
            key: b"k",
            value: b"he\r\nllo",
            common: MetaCommon {
                base64: false,
                return_key: true,
                opaque: Some(b"o1"),
                quiet: true,
            },
            mode: MetaSetMode::Append,
            flags: 7,
            exptime: secs(30),
            compare_cas: Some(5),
            new_cas: Some(u64::MAX),
            invalidate: true,
            vivify: Some(secs(90)),
            return_cas: true,
        }),
        b"ms k 7 k Oo1 q c C5 E18446744073709551615 F7 I T30 N90 MA\r\nhe\r\nllo\r\n",
    );
    assert!(e.is_quiet());
}

#[test]
fn meta_delete_flags() {
    let e = golden(
        Command::MetaDelete(MetaDelete {
            key: b"k",
            ..MetaDelete::default()
        }),
        b"md k\r\n",
    );
    assert_eq!(e.name(), "md");
    golden(
        Command::MetaDelete(MetaDelete {
            key: b"k",
            common: MetaCommon {
                base64: false,
                return_key: true,
                opaque: Some(b"o"),
                quiet: true,
            },
            compare_cas: Some(9),
            invalidate: true,
            exptime: Some(secs(30)),
            remove_value_only: true,
        }),
        b"md k k Oo q C9 I T30 x\r\n",
    );
    golden(
        Command::MetaDelete(MetaDelete {
            key: b"k",
            invalidate: true,
            ..MetaDelete::default()
        }),
        b"md k I\r\n",
    );
}

#[test]
fn meta_arith_flags() {
    let e = golden(
        Command::MetaArith(MetaArith {
            key: b"n",
            ..MetaArith::default()
        }),
        b"ma n\r\n",
    );
    assert_eq!(e.name(), "ma");
    golden(
        Command::MetaArith(MetaArith {
            key: b"n",
            mode: MetaArithMode::Decr,
            ..MetaArith::default()
        }),
        b"ma n MD\r\n",
    );
    golden(
        Command::MetaArith(MetaArith {
            key: b"n",
            common: MetaCommon {
                base64: false,
                return_key: true,
                opaque: Some(b"o"),
                quiet: true,
            },
            mode: MetaArithMode::Decr,
            delta: Some(u64::MAX),
            vivify: Some(Exptime::Never),
            initial: Some(10),
            exptime: Some(secs(60)),
            compare_cas: Some(1),
            return_value: true,
            return_cas: true,
            return_ttl: true,
        }),
        b"ma n k Oo q v c t C1 D18446744073709551615 J10 N0 T60 MD\r\n",
    );
}

#[test]
fn meta_noop_and_debug() {
    let e = golden(Command::MetaNoop, b"mn\r\n");
    assert_eq!(e.name(), "mn");
    assert!(e.expects_reply());
    assert!(!e.is_quiet());
    let e = golden(
        Command::MetaDebug {
            key: b"k",
            base64: false,
        },
        b"me k\r\n",
    );
    assert_eq!(e.name(), "me");
}

#[test]
fn opaque_length_limit_is_inclusive() {
    // memcached 1.6 answers `CLIENT_ERROR opaque token too long` to a 32-byte token: its
    // limit of 32 counts the flag's `O`.
    let opaque = [b'o'; 31];
    let mut want = b"mg k O".to_vec();
    want.extend_from_slice(&opaque);
    want.extend_from_slice(b"\r\n");
    golden(
        Command::MetaGet(MetaGet {
            key: b"k",
            common: common(Some(&opaque), false),
            ..MetaGet::default()
        }),
        &want,
    );
}

// =========================================================================================
// Errors
// =========================================================================================

/// Every command that carries a key, built around `key`.
fn keyed_commands<'a>(key: &'a [u8], keys: &'a [&'a [u8]]) -> Vec<Command<'a>> {
    vec![
        Command::Store(store(StoreMode::Set, key, b"v")),
        Command::Store(store(StoreMode::Cas(1), key, b"v")),
        retrieve(RetrieveKind::Get, keys),
        retrieve(RetrieveKind::Gets, keys),
        retrieve(RetrieveKind::Gat(Exptime::Never), keys),
        retrieve(RetrieveKind::Gats(Exptime::Never), keys),
        Command::Delete {
            key,
            noreply: false,
        },
        Command::Delete { key, noreply: true },
        Command::Arith {
            op: ArithOp::Incr,
            key,
            delta: 1,
            noreply: false,
        },
        Command::Touch {
            key,
            exptime: Exptime::Never,
            noreply: false,
        },
        Command::MetaGet(MetaGet {
            key,
            ..MetaGet::default()
        }),
        Command::MetaSet(MetaSet {
            key,
            value: b"v",
            ..MetaSet::default()
        }),
        Command::MetaDelete(MetaDelete {
            key,
            ..MetaDelete::default()
        }),
        Command::MetaArith(MetaArith {
            key,
            ..MetaArith::default()
        }),
        Command::MetaDebug { key, base64: false },
    ]
}

#[test]
fn empty_key_is_refused_everywhere() {
    let keys: &[&[u8]] = &[b"a", b""];
    for cmd in keyed_commands(b"", keys) {
        assert_eq!(fail(&cmd), EncodeError::Key(KeyError::Empty), "{cmd:?}");
    }
    // Binary meta keys too.
    for cmd in base64_commands(b"") {
        assert_eq!(fail(&cmd), EncodeError::Key(KeyError::Empty), "{cmd:?}");
    }
}

#[test]
fn key_length_limit() {
    let long = [b'k'; MAX_KEY_LEN + 1];
    let keys: &[&[u8]] = &[b"a", &long, b"b"];
    for cmd in keyed_commands(&long, keys) {
        assert_eq!(
            fail(&cmd),
            EncodeError::Key(KeyError::TooLong { len: 251, max: 250 }),
            "{cmd:?}"
        );
    }
    let ok = [b'k'; MAX_KEY_LEN];
    let keys: &[&[u8]] = &[&ok];
    for cmd in keyed_commands(&ok, keys) {
        enc(&cmd);
    }
    // Binary keys have a limit of their own: see `base64_key_limit_reports_the_raw_length`.
    let raw = [0u8; 187];
    assert_eq!(
        fail(&Command::MetaDebug {
            key: &raw,
            base64: true
        }),
        EncodeError::Key(KeyError::TooLongForBase64 { len: 187, max: 186 })
    );
}

/// Every meta command with a base64 key of `len` raw bytes.
fn base64_commands(key: &[u8]) -> Vec<Command<'_>> {
    let mut cmds = meta_commands(key, base64_key());
    cmds.push(Command::MetaDebug { key, base64: true });
    cmds
}

/// A base64 key is limited to the longest raw key whose encoding fits 250 bytes (186: 248
/// encoded; 187 would take 252), and a refusal names the caller's length and that limit,
/// not the encoded length against 250.
#[test]
fn base64_key_limit_reports_the_raw_length() {
    assert_eq!(MAX_BASE64_KEY_LEN, 186);
    let fits = [0xAB_u8; MAX_BASE64_KEY_LEN];
    for cmd in base64_commands(&fits) {
        let wire = enc(&cmd);
        let key = wire.split(|&b| b == b' ').nth(1).unwrap();
        assert_eq!(key.len(), 248, "{cmd:?}");
    }
    for len in [187, 188, 251] {
        let raw = vec![0u8; len];
        for cmd in base64_commands(&raw) {
            assert_eq!(
                fail(&cmd),
                EncodeError::Key(KeyError::TooLongForBase64 { len, max: 186 }),
                "{cmd:?}"
            );
        }
    }
    // The key error itself says it (`EncodeError::Key` leaves its cause to `source()`).
    let message = KeyError::TooLongForBase64 { len: 188, max: 186 }.to_string();
    assert!(message.contains("188 bytes"), "{message}");
    assert!(message.contains("limit is 186"), "{message}");
    assert!(!message.contains("252"), "{message}");
}

#[test]
fn every_forbidden_byte_in_a_key() {
    for byte in (0..=0x20u8).chain([0x7F]) {
        let key = [b'a', byte, b'b'];
        let keys: &[&[u8]] = &[b"ok", &key];
        for cmd in keyed_commands(&key, keys) {
            assert_eq!(
                fail(&cmd),
                EncodeError::Key(KeyError::ForbiddenByte { byte, index: 1 }),
                "{cmd:?}"
            );
        }
        // At the start and the end of the key as well.
        for (key, index) in [(&[byte, b'x'][..], 0), (&[b'x', b'y', byte][..], 2)] {
            assert_eq!(
                fail(&Command::Delete {
                    key,
                    noreply: false
                }),
                EncodeError::Key(KeyError::ForbiddenByte { byte, index })
            );
        }
        // Base64 meta keys may hold any byte.
        enc(&Command::MetaDebug {
            key: &key,
            base64: true,
        });
    }
    // The first forbidden byte is the one reported.
    assert_eq!(
        fail(&Command::Delete {
            key: b"ab \r\n",
            noreply: false
        }),
        EncodeError::Key(KeyError::ForbiddenByte {
            byte: b' ',
            index: 2
        })
    );
    // Every other byte is allowed, including 0x80..=0xFF.
    let allowed: Vec<u8> = (0x21..=0xFFu8).filter(|&b| b != 0x7F).collect();
    for chunk in allowed.chunks(MAX_KEY_LEN) {
        let wire = enc(&Command::Delete {
            key: chunk,
            noreply: false,
        });
        assert_eq!(&wire[7..7 + chunk.len()], chunk);
    }
}

#[test]
fn every_forbidden_byte_in_opaque_and_stats_args() {
    for byte in (0..=0x20u8).chain([0x7F]) {
        let token = [b'o', byte];
        let err = EncodeError::Token(KeyError::ForbiddenByte { byte, index: 1 });
        for quiet in [false, true] {
            for cmd in meta_commands(b"k", common(Some(&token), quiet)) {
                assert_eq!(fail(&cmd), err, "{cmd:?}");
            }
        }
        assert_eq!(
            fail(&Command::Stats {
                args: &[b"slabs", &token]
            }),
            err
        );
    }
    assert_eq!(
        fail(&Command::Stats { args: &[b""] }),
        EncodeError::Token(KeyError::Empty)
    );
    assert_eq!(
        fail(&Command::MetaGet(MetaGet {
            key: b"k",
            common: common(Some(b""), false),
            ..MetaGet::default()
        })),
        EncodeError::Token(KeyError::Empty)
    );
    let long = [b's'; 251];
    assert_eq!(
        fail(&Command::Stats { args: &[&long] }),
        EncodeError::Token(KeyError::TooLong { len: 251, max: 250 })
    );
    // Many legal args can still overflow the command line.
    let arg = [b's'; 250];
    let args: Vec<&[u8]> = vec![&arg; 9];
    assert!(matches!(
        fail(&Command::Stats { args: &args }),
        EncodeError::LineTooLong { max: 2048, .. }
    ));
}

/// The key `noreply` is an ordinary key wherever the encoder writes it. memcached 1.6 reads
/// a final `noreply` token as the flag only on commands whose last token is never the key
/// (storage, `incr`/`decr`, `touch`) and on `delete` with more than one argument; it never
/// does on retrievals. Checked against memcached 1.6.18: `get a noreply` and `gat 0 noreply`
/// return the item `noreply`, `delete noreply` answers `DELETED`/`NOT_FOUND`, while
/// `delete noreply noreply` is silent.
#[test]
fn noreply_key_in_last_position() {
    let e = golden(
        Command::Delete {
            key: b"noreply",
            noreply: false,
        },
        b"delete noreply\r\n",
    );
    assert!(e.expects_reply());
    for (kind, name) in [
        (RetrieveKind::Get, "get"),
        (RetrieveKind::Gets, "gets"),
        (RetrieveKind::Gat(Exptime::Never), "gat 0"),
        (RetrieveKind::Gats(secs(5)), "gats 5"),
    ] {
        for (keys, wire) in [
            (&[&b"noreply"[..]][..], "noreply"),
            (&[b"a", b"b", b"noreply"], "a b noreply"),
            (&[b"noreply", b"a"], "noreply a"),
        ] {
            let e = golden(
                retrieve(kind, keys),
                format!("{name} {wire}\r\n").as_bytes(),
            );
            assert!(e.expects_reply());
        }
    }
    // Where the server does read a final `noreply`, the key is never the last token.
    golden(
        Command::Store(store(StoreMode::Cas(7), b"noreply", b"v")),
        b"cas noreply 0 0 1 7\r\nv\r\n",
    );
    golden(
        Command::Arith {
            op: ArithOp::Incr,
            key: b"noreply",
            delta: 2,
            noreply: false,
        },
        b"incr noreply 2\r\n",
    );
    golden(
        Command::Touch {
            key: b"noreply",
            exptime: Exptime::Never,
            noreply: false,
        },
        b"touch noreply 0\r\n",
    );
    // Meta commands use `q`, so `noreply` is an ordinary key there.
    golden(
        Command::MetaGet(MetaGet {
            key: b"noreply",
            ..MetaGet::default()
        }),
        b"mg noreply\r\n",
    );
}

#[test]
fn value_size_limit() {
    let encoder = Encoder::with_max_value_len(10);
    assert_eq!(encoder.max_value_len(), 10);
    let at = [b'v'; 10];
    let over = [b'v'; 11];
    enc_with(encoder, &Command::Store(store(StoreMode::Set, b"k", &at)));
    assert_eq!(
        fail_with(encoder, &Command::Store(store(StoreMode::Set, b"k", &over))),
        EncodeError::ValueTooLarge { len: 11, max: 10 }
    );
    assert_eq!(
        fail_with(
            encoder,
            &Command::Store(store(StoreMode::Cas(1), b"k", &over))
        ),
        EncodeError::ValueTooLarge { len: 11, max: 10 }
    );
    enc_with(
        encoder,
        &Command::MetaSet(MetaSet {
            key: b"k",
            value: &at,
            ..MetaSet::default()
        }),
    );
    assert_eq!(
        fail_with(
            encoder,
            &Command::MetaSet(MetaSet {
                key: b"k",
                value: &over,
                ..MetaSet::default()
            })
        ),
        EncodeError::ValueTooLarge { len: 11, max: 10 }
    );

    // The default limit, exactly at and one over.
    let max = Encoder::DEFAULT_MAX_VALUE_LEN;
    assert_eq!(Encoder::new().max_value_len(), max);
    let big = vec![b'x'; max + 1];
    let (wire, _) = enc_with(
        Encoder::new(),
        &Command::Store(store(StoreMode::Set, b"k", &big[..max])),
    );
    assert_eq!(wire.len(), format!("set k 0 0 {max}\r\n").len() + max + 2);
    assert_eq!(
        fail(&Command::Store(store(StoreMode::Set, b"k", &big))),
        EncodeError::ValueTooLarge { len: max + 1, max }
    );
}

#[test]
fn exptime_out_of_range_everywhere() {
    let past_i32 = Exptime::At(i32::MAX as u64 + 1);
    let unresolved = secs(31 * 86_400);
    for (exptime, err) in [
        (
            past_i32,
            EncodeError::ExptimeOutOfRange(i32::MAX as u64 + 1),
        ),
        (
            Exptime::At(u64::MAX),
            EncodeError::ExptimeOutOfRange(u64::MAX),
        ),
        (unresolved, EncodeError::ExptimeNeedsClock(31 * 86_400)),
        (
            Exptime::After(
                Duration::from_secs(Exptime::MAX_RELATIVE_SECS) + Duration::from_nanos(1),
            ),
            EncodeError::ExptimeNeedsClock(Exptime::MAX_RELATIVE_SECS + 1),
        ),
    ] {
        let cmds = vec![
            Command::Store(Store {
                exptime,
                ..store(StoreMode::Set, b"k", b"v")
            }),
            retrieve(RetrieveKind::Gat(exptime), &[b"k"]),
            retrieve(RetrieveKind::Gats(exptime), &[b"k"]),
            Command::Touch {
                key: b"k",
                exptime,
                noreply: false,
            },
            Command::FlushAll {
                delay: Some(exptime),
                noreply: true,
            },
            Command::MetaGet(MetaGet {
                key: b"k",
                touch: Some(exptime),
                ..MetaGet::default()
            }),
            Command::MetaGet(MetaGet {
                key: b"k",
                vivify: Some(exptime),
                ..MetaGet::default()
            }),
            Command::MetaGet(MetaGet {
                key: b"k",
                recache: Some(exptime),
                ..MetaGet::default()
            }),
            Command::MetaSet(MetaSet {
                key: b"k",
                exptime,
                ..MetaSet::default()
            }),
            Command::MetaSet(MetaSet {
                key: b"k",
                vivify: Some(exptime),
                ..MetaSet::default()
            }),
            Command::MetaDelete(MetaDelete {
                key: b"k",
                exptime: Some(exptime),
                ..MetaDelete::default()
            }),
            Command::MetaArith(MetaArith {
                key: b"k",
                exptime: Some(exptime),
                ..MetaArith::default()
            }),
            Command::MetaArith(MetaArith {
                key: b"k",
                vivify: Some(exptime),
                ..MetaArith::default()
            }),
        ];
        for cmd in cmds {
            assert_eq!(fail(&cmd), err, "{cmd:?}");
        }
    }
}

#[test]
fn opaque_too_long_and_quiet_without_opaque() {
    let opaque = [b'o'; 32];
    for cmd in meta_commands(b"k", common(Some(&opaque), false)) {
        assert_eq!(fail(&cmd), EncodeError::OpaqueTooLong(32), "{cmd:?}");
    }
    for cmd in meta_commands(b"k", common(None, true)) {
        assert_eq!(fail(&cmd), EncodeError::QuietWithoutOpaque, "{cmd:?}");
    }
    for cmd in meta_commands(
        b"k",
        MetaCommon {
            base64: true,
            return_key: true,
            opaque: None,
            quiet: true,
        },
    ) {
        assert_eq!(fail(&cmd), EncodeError::QuietWithoutOpaque, "{cmd:?}");
    }
}

#[test]
fn no_keys() {
    for kind in [
        RetrieveKind::Get,
        RetrieveKind::Gets,
        RetrieveKind::Gat(Exptime::Never),
        RetrieveKind::Gats(Exptime::Never),
    ] {
        assert_eq!(fail(&retrieve(kind, &[])), EncodeError::NoKeys);
    }
}

/// A failed encode leaves the buffer untouched even when it is empty or nearly full.
#[test]
fn failed_encode_never_writes() {
    let long = [b'k'; 251];
    let cmd = Command::Store(store(StoreMode::Set, &long, b"v"));
    let mut out = BytesMut::new();
    assert!(Encoder::new().encode(&cmd, &mut out).is_err());
    assert!(out.is_empty());
    let mut out = BytesMut::with_capacity(4);
    out.extend_from_slice(b"abc");
    let bad = Command::MetaSet(MetaSet {
        key: b"k",
        value: b"v",
        exptime: Exptime::At(u64::MAX),
        ..MetaSet::default()
    });
    assert!(Encoder::new().encode(&bad, &mut out).is_err());
    assert_eq!(&out[..], b"abc");
    // And the buffer is still usable afterwards.
    Encoder::new().encode(&Command::Version, &mut out).unwrap();
    assert_eq!(&out[..], b"abcversion\r\n");
}

/// Several commands appended to one buffer keep their own bytes.
#[test]
fn encodes_append() {
    let mut out = BytesMut::new();
    let e = Encoder::new();
    e.encode(&Command::Store(store(StoreMode::Set, b"a", b"1")), &mut out)
        .unwrap();
    e.encode(&retrieve(RetrieveKind::Get, &[b"a"]), &mut out)
        .unwrap();
    e.encode(&Command::MetaNoop, &mut out).unwrap();
    assert_eq!(&out[..], b"set a 0 0 1\r\n1\r\nget a\r\nmn\r\n");
}
