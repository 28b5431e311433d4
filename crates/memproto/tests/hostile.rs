//! A hostile or broken server: every limit and every malformed shape ends in the exact
//! `DecodeError`, before the bytes it guards are buffered, and poisons the decoder.

mod common;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::*;
use memproto::{
    ArithOp, Command, DecodeError, Decoder, Encoder, Expect, Limits, MetaCommon, MetaGet,
    MetaStatus, Reply, RetrieveKind, Store, StoreMode,
};

fn decoder_with(limits: Limits, expects: &[Expect]) -> Decoder {
    let mut d = Decoder::new(limits);
    for e in expects {
        d.push(e.clone());
    }
    d
}

/// Decodes `input` in one piece and returns the error it must produce.
#[track_caller]
fn error_of(expects: &[Expect], limits: Limits, input: &[u8]) -> DecodeError {
    let out = run_whole(expects, limits, input);
    match out.error {
        Some(e) => e,
        None => panic!(
            "no error for {:?}; replies {:?}",
            input.escape_ascii().to_string(),
            out.replies
        ),
    }
}

/// Decodes each input in one piece, after its request, and checks that it fails with `want`.
#[track_caller]
fn assert_each_fails_with(cases: &[(Expect, &[u8])], want: DecodeError) {
    for (expect, input) in cases {
        assert_eq!(
            error_of(std::slice::from_ref(expect), Limits::default(), input),
            want,
            "{}",
            input.escape_ascii()
        );
    }
}

#[track_caller]
fn assert_excerpt(err: &DecodeError, want: &str) {
    let got = match err {
        DecodeError::InvalidNumber(x)
        | DecodeError::Malformed(x)
        | DecodeError::Unsolicited(x)
        | DecodeError::UnrequestedKey(x)
        | DecodeError::DuplicateKey(x)
        | DecodeError::OpaqueMismatch(x)
        | DecodeError::KeyMismatch(x)
        | DecodeError::UnknownCommandWithData(x)
        | DecodeError::AmbiguousErrorLine(x)
        | DecodeError::UnexpectedReply { line: x, .. } => x.as_str(),
        other => panic!("{other:?} has no excerpt"),
    };
    assert_eq!(got, want);
}

// =========================================================================================
// Line length
// =========================================================================================

#[test]
fn line_without_newline_fails_exactly_at_the_limit() {
    for max in [16, 64, 8 * 1024] {
        let limits = Limits {
            max_line_len: max,
            ..Limits::default()
        };
        for expect in [
            version(),
            get(&[b"k"]),
            stats(&[]),
            mg(b"k", Some(b"1"), true),
        ] {
            let mut d = decoder_with(limits, &[expect]);
            let mut buf = BytesMut::new();
            for i in 0..max - 1 {
                buf.extend_from_slice(if i == 0 { b"V" } else { b"x" });
                assert_eq!(d.decode(&mut buf), Ok(None), "at {} bytes", buf.len());
            }
            buf.extend_from_slice(b"x");
            assert_eq!(buf.len(), max);
            assert_eq!(d.decode(&mut buf), Err(DecodeError::LineTooLong { max }));
            assert_eq!(d.decode(&mut buf), Err(DecodeError::Poisoned));
        }
    }
}

#[test]
fn line_limit_counts_the_crlf_and_is_inclusive() {
    let limits = Limits {
        max_line_len: 64,
        ..Limits::default()
    };
    let at = format!("VERSION {}\r\n", "x".repeat(54));
    assert_eq!(at.len(), 64);
    let out = run_whole(&[version()], limits, at.as_bytes());
    assert_eq!(out.error, None);
    assert_eq!(out.replies.len(), 1);
    let over = format!("VERSION {}\r\n", "x".repeat(55));
    assert_eq!(
        error_of(&[version()], limits, over.as_bytes()),
        DecodeError::LineTooLong { max: 64 }
    );
    // Byte by byte, the 65-byte line fails when 64 bytes (no `\n` yet) are buffered.
    let out = run_bytewise(&[version()], limits, over.as_bytes());
    assert_eq!(out.error, Some(DecodeError::LineTooLong { max: 64 }));
    assert_eq!(out.leftover.len(), 64);
}

#[test]
fn every_line_kind_is_bounded() {
    let limits = Limits {
        max_line_len: 32,
        ..Limits::default()
    };
    let long = "y".repeat(40);
    let cases: Vec<(Expect, String)> = vec![
        (get(&[b"a"]), format!("VALUE a 0 1\r\nx\r\nVALUE {long}")),
        (stats(&[]), format!("STAT a 1\r\nSTAT {long}")),
        (mg(b"a", None, false), format!("VA 1 {long}")),
        (store(StoreMode::Set), format!("SERVER_ERROR {long}")),
        (mg(b"a", Some(b"1"), true), format!("HD O1 k{long}\r\n")),
    ];
    for (expect, input) in cases {
        assert_eq!(
            error_of(&[expect], limits, input.as_bytes()),
            DecodeError::LineTooLong { max: 32 },
            "{input}"
        );
    }
}

// =========================================================================================
// Line endings
// =========================================================================================

#[test]
fn bare_line_feed_is_refused() {
    let cases: Vec<(Expect, &[u8])> = vec![
        (store(StoreMode::Set), b"STORED\n"),
        (store(StoreMode::Set), b"\n"),
        (get(&[b"a"]), b"VALUE a 0 1\nx\r\nEND\r\n"),
        (get(&[b"a"]), b"VALUE a 0 1\r\nx\r\nEND\n"),
        (stats(&[]), b"STAT a b\r\nEND\n"),
        (mg(b"a", None, false), b"HD\n"),
        (mg(b"a", Some(b"1"), true), b"MN\n"),
        (version(), b"VERSION 1\n\r\n"),
        (store(StoreMode::Set), b"ERROR\n"),
    ];
    assert_each_fails_with(&cases, DecodeError::BareLineFeed);
}

#[test]
fn stray_carriage_return_is_not_a_line_end() {
    let err = error_of(&[store(StoreMode::Set)], Limits::default(), b"STO\rRED\r\n");
    assert!(
        matches!(err, DecodeError::UnexpectedReply { .. }),
        "{err:?}"
    );
    assert_excerpt(&err, "STO\\rRED");
}

// =========================================================================================
// Value size
// =========================================================================================

#[test]
fn announced_value_over_limit_fails_from_the_header_alone() {
    let limits = Limits {
        max_value_len: 1024,
        ..Limits::default()
    };
    let cases: Vec<(Expect, &[u8], u64)> = vec![
        (get(&[b"a"]), b"VALUE a 0 1025\r\n", 1025),
        (gets(&[b"a"]), b"VALUE a 0 4096 1\r\n", 4096),
        (
            get(&[b"a"]),
            b"VALUE a 0 18446744073709551615\r\n",
            u64::MAX,
        ),
        (mg(b"a", None, false), b"VA 1025\r\n", 1025),
        (
            mg(b"a", Some(b"o"), false),
            b"VA 1099511627776 Oo\r\n",
            1 << 40,
        ),
        (mg(b"a", Some(b"o"), true), b"VA 2000 Oo\r\n", 2000),
        (ma(b"a", None, false), b"VA 1025\r\n", 1025),
    ];
    for (expect, header, len) in cases {
        let mut d = decoder_with(limits, &[expect]);
        let mut buf = BytesMut::from(header);
        let before = buf.capacity();
        assert_eq!(
            d.decode(&mut buf),
            Err(DecodeError::ValueTooLarge { len, max: 1024 }),
            "{}",
            header.escape_ascii()
        );
        assert!(
            buf.capacity() <= before.max(64) && (buf.capacity() as u64) < len,
            "buffer grew to {} for {}",
            buf.capacity(),
            header.escape_ascii()
        );
    }
}

#[test]
fn default_limit_refuses_huge_announcements_without_reserving() {
    let mut d = decoder_with(Limits::default(), &[get(&[b"a"])]);
    let mut buf = BytesMut::from(&b"VALUE a 0 67108865\r\n"[..]);
    assert_eq!(
        d.decode(&mut buf),
        Err(DecodeError::ValueTooLarge {
            len: 64 * 1024 * 1024 + 1,
            max: 64 * 1024 * 1024
        })
    );
    assert!(buf.capacity() < 1024);
}

#[test]
fn value_at_limit_is_accepted_and_waits_for_data() {
    let limits = Limits {
        max_value_len: 1024,
        ..Limits::default()
    };
    let mut d = decoder_with(limits, &[get(&[b"a"])]);
    let mut buf = BytesMut::from(&b"VALUE a 0 1024\r\n"[..]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    buf.extend_from_slice(&[b'z'; 1024]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"\r\nEND\r\n");
    let reply = d.decode(&mut buf).unwrap().unwrap();
    assert_eq!(
        reply,
        Reply::Values(vec![item(b"a", 0, None, &[b'z'; 1024])].into())
    );
}

/// With the value limit raised to "unlimited", an announced length near `usize::MAX`
/// must still be a typed error, not an arithmetic overflow or a giant reservation.
#[test]
fn unlimited_value_len_does_not_overflow() {
    let limits = Limits {
        max_value_len: usize::MAX,
        ..Limits::default()
    };
    for (expect, header) in [
        (get(&[b"a"]), &b"VALUE a 0 18446744073709551615\r\n"[..]),
        (get(&[b"a"]), b"VALUE a 0 18446744073709551614\r\n"),
        (mg(b"a", None, false), b"VA 18446744073709551615\r\n"),
        (mg(b"a", None, false), b"VA 9223372036854775808\r\n"),
    ] {
        let err = error_of(&[expect], limits, header);
        assert!(
            matches!(
                err,
                DecodeError::ValueTooLarge {
                    max: usize::MAX,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

// =========================================================================================
// Numbers
// =========================================================================================

#[test]
fn invalid_numbers() {
    let cases: Vec<(Expect, &[u8], &str)> = vec![
        // flags above u32, signed, not digits
        (
            get(&[b"a"]),
            b"VALUE a 4294967296 1\r\n",
            "VALUE a 4294967296 1",
        ),
        (get(&[b"a"]), b"VALUE a -1 1\r\n", "VALUE a -1 1"),
        (get(&[b"a"]), b"VALUE a +1 1\r\n", "VALUE a +1 1"),
        (get(&[b"a"]), b"VALUE a 0x1 1\r\n", "VALUE a 0x1 1"),
        // bytes with a sign, hex, garbage, 21 digits
        (get(&[b"a"]), b"VALUE a 0 +1\r\n", "VALUE a 0 +1"),
        (get(&[b"a"]), b"VALUE a 0 -1\r\n", "VALUE a 0 -1"),
        (get(&[b"a"]), b"VALUE a 0 1x\r\n", "VALUE a 0 1x"),
        (
            get(&[b"a"]),
            b"VALUE a 0 000000000000000000001\r\n",
            "VALUE a 0 000000000000000000001",
        ),
        // cas with 21 digits, over u64, signed
        (
            gets(&[b"a"]),
            b"VALUE a 0 1 123456789012345678901\r\n",
            "VALUE a 0 1 123456789012345678901",
        ),
        (
            gets(&[b"a"]),
            b"VALUE a 0 1 18446744073709551616\r\n",
            "VALUE a 0 1 18446744073709551616",
        ),
        (gets(&[b"a"]), b"VALUE a 0 1 -5\r\n", "VALUE a 0 1 -5"),
        // incr/decr replies
        (
            arith(ArithOp::Incr),
            b"18446744073709551616\r\n",
            "18446744073709551616",
        ),
        (arith(ArithOp::Incr), b"5x\r\n", "5x"),
        (arith(ArithOp::Decr), b"5 \r\n", "5 "),
        // meta sizes and flags
        (mg(b"a", None, false), b"VA +1\r\n", "VA +1"),
        (mg(b"a", None, false), b"VA x\r\n", "VA x"),
        (mg(b"a", None, false), b"HD c-1\r\n", "HD c-1"),
        (mg(b"a", None, false), b"HD c\r\n", "HD c"),
        (
            mg(b"a", None, false),
            b"HD c123456789012345678901\r\n",
            "HD c123456789012345678901",
        ),
        (
            mg(b"a", None, false),
            b"HD f4294967296\r\n",
            "HD f4294967296",
        ),
        (mg(b"a", None, false), b"HD s+3\r\n", "HD s+3"),
        (mg(b"a", None, false), b"HD t+5\r\n", "HD t+5"),
        (mg(b"a", None, false), b"HD t--1\r\n", "HD t--1"),
        (mg(b"a", None, false), b"HD h2\r\n", "HD h2"),
        (mg(b"a", None, false), b"EN l-1\r\n", "EN l-1"),
        (ma(b"a", None, false), b"VA 1 cx\r\n", "VA 1 cx"),
    ];
    for (expect, input, excerpt) in cases {
        let err = error_of(&[expect], Limits::default(), input);
        assert!(
            matches!(err, DecodeError::InvalidNumber(_)),
            "{}: {err:?}",
            input.escape_ascii()
        );
        assert_excerpt(&err, excerpt);
    }
}

#[test]
fn signed_arith_reply_is_unexpected() {
    for line in [&b"-1\r\n"[..], b"+1\r\n", b" 1\r\n"] {
        let err = error_of(&[arith(ArithOp::Incr)], Limits::default(), line);
        assert!(
            matches!(
                err,
                DecodeError::UnexpectedReply {
                    expected: "incr/decr",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

// =========================================================================================
// Shapes
// =========================================================================================

#[test]
fn malformed_lines() {
    let cases: Vec<(Expect, &[u8])> = vec![
        (get(&[b"a"]), b"VALUE a 0\r\n"),
        (get(&[b"a"]), b"VALUE a\r\n"),
        (get(&[b"a"]), b"VALUE \r\n"),
        (gets(&[b"a"]), b"VALUE a 0 1 2 3\r\n"),
        (get(&[b"a"]), b"VALUE a 0 1 \r\n"),
        (mg(b"a", None, false), b"VA\r\n"),
        (mg(b"a", None, false), b"VA \r\n"),
        (mg(b"a", None, false), b"VA  1\r\n"),
        (mg(b"a", None, false), b"HD  c1\r\n"),
        (mg(b"a", None, false), b"HD c1 \r\n"),
        (mg(b"a", None, false), b"EN \r\n"),
    ];
    for (expect, input) in cases {
        let err = error_of(&[expect], Limits::default(), input);
        assert!(
            matches!(err, DecodeError::Malformed(_)),
            "{}: {err:?}",
            input.escape_ascii()
        );
    }
}

#[test]
fn cas_presence_must_match_the_request() {
    for kind in [RetrieveKind::Get, RetrieveKind::Gat(Default::default())] {
        let err = error_of(
            &[retrieve(kind, &[b"a"])],
            Limits::default(),
            b"VALUE a 0 1 99\r\nx\r\nEND\r\n",
        );
        assert!(matches!(err, DecodeError::Malformed(_)), "{err:?}");
        assert_excerpt(&err, "VALUE a 0 1 99");
    }
    for kind in [RetrieveKind::Gets, RetrieveKind::Gats(Default::default())] {
        let err = error_of(
            &[retrieve(kind, &[b"a"])],
            Limits::default(),
            b"VALUE a 0 1\r\nx\r\nEND\r\n",
        );
        assert!(matches!(err, DecodeError::Malformed(_)), "{err:?}");
    }
}

#[test]
fn missing_crlf_after_data() {
    let cases: Vec<(Expect, &[u8])> = vec![
        (get(&[b"a"]), b"VALUE a 0 1\r\nxAB"),
        (get(&[b"a"]), b"VALUE a 0 1\r\nx\n\r"),
        (get(&[b"a"]), b"VALUE a 0 1\r\nx\rX"),
        (get(&[b"a"]), b"VALUE a 0 0\r\nEND\r\n"),
        (get(&[b"a"]), b"VALUE a 0 2\r\nx\r\nEND\r\n"),
        (mg(b"a", None, false), b"VA 1\r\nxyz"),
        (ma(b"a", None, false), b"VA 2\r\n100\r\n"),
    ];
    assert_each_fails_with(&cases, DecodeError::MissingDataTerminator);
    // The terminator is only judged once both bytes are there.
    let mut d = decoder_with(Limits::default(), &[get(&[b"a"])]);
    let mut buf = BytesMut::from(&b"VALUE a 0 1\r\nx\r"[..]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"!");
    assert_eq!(d.decode(&mut buf), Err(DecodeError::MissingDataTerminator));
}

// =========================================================================================
// Keys in retrievals
// =========================================================================================

#[test]
fn unrequested_keys() {
    // (requested keys, server bytes, refused key)
    type Case<'a> = (Vec<&'a [u8]>, &'a [u8], &'a str);
    let cases: Vec<Case<'_>> = vec![
        (vec![b"a"], b"VALUE b 0 1\r\n", "b"),
        (vec![b"a"], b"VALUE A 0 1\r\n", "A"),
        (vec![b"abc"], b"VALUE ab 0 1\r\n", "ab"),
        (vec![b"ab"], b"VALUE abc 0 1\r\n", "abc"),
        (
            vec![b"a", b"b"],
            b"VALUE a 0 1\r\nx\r\nVALUE c 0 1\r\n",
            "c",
        ),
    ];
    for (keys, input, key) in cases {
        let err = error_of(&[get(&keys)], Limits::default(), input);
        assert!(matches!(err, DecodeError::UnrequestedKey(_)), "{err:?}");
        assert_excerpt(&err, key);
    }
    // A key requested by an earlier retrieval does not count for the next one.
    let err = error_of(
        &[get(&[b"a"]), get(&[b"b"])],
        Limits::default(),
        b"VALUE a 0 1\r\nx\r\nEND\r\nVALUE a 0 1\r\nx\r\nEND\r\n",
    );
    assert_excerpt(&err, "a");
    // Many keys, one extra.
    let keys: Vec<Vec<u8>> = (0..100).map(|i| format!("k{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut input = Vec::new();
    for k in keys.iter().rev() {
        input.extend(value_block(k, 0, None, b"v"));
    }
    input.extend(value_block(b"k100", 0, None, b"v"));
    let err = error_of(&[get(&refs)], Limits::default(), &input);
    assert_excerpt(&err, "k100");
}

#[test]
fn duplicate_keys() {
    let inputs: Vec<&[u8]> = vec![
        b"VALUE a 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\n",
        b"VALUE b 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\nVALUE b 0 1\r\nx\r\n",
        b"VALUE c 0 1\r\nx\r\nVALUE c 0 1\r\nx\r\n",
    ];
    for input in inputs {
        let err = error_of(&[get(&[b"a", b"b", b"c"])], Limits::default(), input);
        assert!(matches!(err, DecodeError::DuplicateKey(_)), "{err:?}");
    }
    // Key 70 (second bitmap word) twice.
    let keys: Vec<Vec<u8>> = (0..100).map(|i| format!("k{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut input = value_block(b"k70", 0, None, b"v");
    input.extend(value_block(b"k3", 0, None, b"v"));
    input.extend(value_block(b"k70", 0, None, b"v"));
    let err = error_of(&[gets(&refs)], Limits::default(), &input.replace_cas());
    assert_excerpt(&err, "k70");
}

trait ReplaceCas {
    fn replace_cas(&self) -> Vec<u8>;
}

impl ReplaceCas for Vec<u8> {
    /// Turns `get` headers into `gets` headers by adding a cas of 1.
    fn replace_cas(&self) -> Vec<u8> {
        let text = String::from_utf8(self.clone()).unwrap();
        text.split("\r\n")
            .map(|line| {
                if line.starts_with("VALUE ") {
                    format!("{line} 1")
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n")
            .into_bytes()
    }
}

// =========================================================================================
// Pairing
// =========================================================================================

#[test]
fn unsolicited_replies() {
    let cases: Vec<(Vec<Expect>, &[u8])> = vec![
        (vec![], b"STORED\r\n"),
        (vec![], b"S"),
        (vec![], b"ERROR\r\n"),
        (vec![version()], b"VERSION 1\r\nVERSION 2\r\n"),
    ];
    for (expects, input) in cases {
        let err = error_of(&expects, Limits::default(), input);
        assert!(matches!(err, DecodeError::Unsolicited(_)), "{err:?}");
    }
    // `quit` and noreply requests expect nothing: any reply to them is unsolicited.
    let mut out = BytesMut::new();
    let enc = Encoder::new();
    let quit = enc.encode(&Command::Quit, &mut out).unwrap();
    let set = enc
        .encode(
            &Command::Store(Store {
                noreply: true,
                ..Store::new(StoreMode::Set, b"k", b"v")
            }),
            &mut out,
        )
        .unwrap();
    let err = error_of(
        &[set, quit],
        Limits::default(),
        b"CLIENT_ERROR bad data chunk\r\n",
    );
    assert!(matches!(err, DecodeError::Unsolicited(_)), "{err:?}");
    assert_excerpt(&err, "CLIENT_ERROR bad data chunk\\r\\n");
    // Nothing buffered and nothing pending is simply "no reply yet".
    let mut d = Decoder::default();
    assert_eq!(d.decode(&mut BytesMut::new()), Ok(None));
}

#[test]
fn unexpected_reply_kind_for_each_request_kind() {
    let cases: Vec<(Expect, &[u8], &str)> = vec![
        (store(StoreMode::Set), b"DELETED", "storage command"),
        (store(StoreMode::Cas(1)), b"TOUCHED", "storage command"),
        (store(StoreMode::Add), b"END", "storage command"),
        (store(StoreMode::Set), b"5", "storage command"),
        (store(StoreMode::Set), b"HD", "storage command"),
        (delete(b"a"), b"STORED", "delete"),
        (delete(b"a"), b"EXISTS", "delete"),
        (touch(), b"DELETED", "touch"),
        (arith(ArithOp::Incr), b"STORED", "incr/decr"),
        (arith(ArithOp::Decr), b"VA 1", "incr/decr"),
        (flush_all(), b"STORED", "flush_all/verbosity"),
        (verbosity(), b"END", "flush_all/verbosity"),
        (version(), b"STORED", "version"),
        (version(), b"VERSION", "version"),
        (get(&[b"a"]), b"STORED", "retrieval"),
        (get(&[b"a"]), b"EN", "retrieval"),
        (get(&[b"a"]), b"VALUES a 0 1", "retrieval"),
        (mg(b"a", None, false), b"NS", "mg"),
        (mg(b"a", None, false), b"NF", "mg"),
        (mg(b"a", None, false), b"MN", "mg"),
        (mg(b"a", None, false), b"STORED", "mg"),
        (mg(b"a", None, false), b"HDX", "mg"),
        (ms(b"a", None, false), b"EN", "ms"),
        (ms(b"a", None, false), b"VA 1", "ms"),
        (md(b"a", None, false), b"VA 1", "md"),
        (md(b"a", None, false), b"NS", "md"),
        (ma(b"a", None, false), b"EN", "ma"),
        (mn(), b"HD", "mn"),
        (mn(), b"END", "mn"),
        (me(b"a"), b"HD", "me"),
        (me(b"a"), b"VA 1", "me"),
        // A quiet request whose opaque matches still gets only its own reply kinds.
        (mg(b"a", Some(b"1"), true), b"NS O1", "mg"),
    ];
    for (expect, line, name) in cases {
        let mut input = line.to_vec();
        input.extend_from_slice(b"\r\n");
        let err = error_of(&[expect], Limits::default(), &input);
        match &err {
            DecodeError::UnexpectedReply { expected, line: x } => {
                assert_eq!(*expected, name);
                assert_eq!(x.as_str(), String::from_utf8_lossy(line));
            }
            other => panic!("{}: {other:?}", line.escape_ascii()),
        }
    }
}

/// `stats` and `cache_memlimit` take any status line by design (sub-command and admin
/// replies vary), so these are not errors.
#[test]
fn stats_and_memlimit_accept_other_lines() {
    let out = run_whole(
        &[stats(&[b"detail", b"dump"])],
        Limits::default(),
        b"PREFIX a get 1 hit 0 set 0 del 0\r\nEND\r\n",
    );
    assert_eq!(
        out.replies,
        vec![Reply::Stats(vec![stat(
            b"PREFIX",
            b"a get 1 hit 0 set 0 del 0"
        )])]
    );
    let out = run_whole(
        &[memlimit()],
        Limits::default(),
        b"MEMLIMIT_ADJUST_FAILED input value is too small\r\n",
    );
    assert_eq!(
        out.replies,
        vec![Reply::Other(b(
            b"MEMLIMIT_ADJUST_FAILED input value is too small"
        ))]
    );
}

#[test]
fn opaque_pairing_errors() {
    let err = error_of(
        &[mg(b"a", Some(b"1"), false)],
        Limits::default(),
        b"VA 1 O2\r\nx\r\n",
    );
    assert_excerpt(&err, "VA 1 O2");
    assert!(matches!(err, DecodeError::OpaqueMismatch(_)));
    // Prefix of the right opaque is not the right opaque.
    let err = error_of(
        &[mg(b"a", Some(b"12"), false)],
        Limits::default(),
        b"HD O1\r\n",
    );
    assert!(matches!(err, DecodeError::OpaqueMismatch(_)));
    let err = error_of(
        &[mg(b"a", Some(b"1"), false)],
        Limits::default(),
        b"HD O12\r\n",
    );
    assert!(matches!(err, DecodeError::OpaqueMismatch(_)));
}

// =========================================================================================
// Multi-line bound
// =========================================================================================

#[test]
fn too_many_stats_lines() {
    let limits = Limits {
        max_reply_lines: 3,
        ..Limits::default()
    };
    let ok = run_whole(
        &[stats(&[])],
        limits,
        b"STAT a 1\r\nSTAT b 2\r\nSTAT c 3\r\nEND\r\n",
    );
    assert_eq!(ok.error, None);
    assert_eq!(
        error_of(
            &[stats(&[])],
            limits,
            b"STAT a 1\r\nSTAT b 2\r\nSTAT c 3\r\nSTAT d 4\r\nEND\r\n"
        ),
        DecodeError::TooManyLines { max: 3 }
    );
    // Non-STAT dump lines count the same.
    assert_eq!(
        error_of(
            &[stats(&[b"cachedump", b"1", b"0"])],
            limits,
            b"ITEM a\r\nITEM b\r\nITEM c\r\nITEM d\r\n"
        ),
        DecodeError::TooManyLines { max: 3 }
    );
}

#[test]
fn default_stats_line_bound() {
    let max = Limits::default().max_reply_lines;
    let mut input = Vec::with_capacity((max + 2) * 12);
    for i in 0..=max {
        input.extend_from_slice(format!("STAT s{i} 1\r\n").as_bytes());
    }
    assert_eq!(
        error_of(&[stats(&[])], Limits::default(), &input),
        DecodeError::TooManyLines { max }
    );
}

// =========================================================================================
// Whole-reply budget
// =========================================================================================

fn budget(max_value_len: usize, max_reply_len: usize) -> Limits {
    Limits {
        max_value_len,
        max_reply_len,
        ..Limits::default()
    }
}

/// Every item is within `max_value_len`, but the third would take the reply past
/// `max_reply_len`: the decoder fails on its header, before reserving or buffering it.
#[test]
fn multi_get_over_reply_budget_fails_before_the_value_is_buffered() {
    let item = |key: &[u8]| value_block(key, 0, None, &[b'v'; 1000]);
    // "VALUE a 0 1000\r\n" is 16 bytes, the data block 1002.
    assert_eq!(item(b"a").len(), 1018);
    let limits = budget(1000, 2 * 1018 + 1018 - 1);
    let mut d = decoder_with(limits, &[get(&[b"a", b"b", b"c"])]);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&item(b"a"));
    buf.extend_from_slice(&item(b"b"));
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert!(buf.is_empty());
    buf.extend_from_slice(b"VALUE c 0 1000\r\n");
    let capacity = buf.capacity();
    assert_eq!(
        d.decode(&mut buf),
        Err(DecodeError::ReplyTooLarge { max: 3053 })
    );
    assert_eq!(buf.capacity(), capacity, "nothing reserved for the value");
    assert_eq!(&buf[..], b"VALUE c 0 1000\r\n", "header left unread");
    assert_eq!(d.bytes_needed(&buf), 0);
    assert_eq!(d.decode(&mut buf), Err(DecodeError::Poisoned));

    // One byte more of budget and the third item fits, but not the `END` line.
    let mut input = [item(b"a"), item(b"b"), item(b"c")].concat();
    input.extend_from_slice(b"END\r\n");
    let out = run_whole(&[get(&[b"a", b"b", b"c"])], budget(1000, 3054), &input);
    assert_eq!(out.error, Some(DecodeError::ReplyTooLarge { max: 3054 }));
    let out = run_whole(&[get(&[b"a", b"b", b"c"])], budget(1000, 3059), &input);
    assert_eq!(out.error, None, "a reply of exactly the budget is accepted");
    assert_eq!(out.replies.len(), 1);
}

/// The budget is per reply: pipelined replies each get all of it.
#[test]
fn reply_budget_resets_between_replies() {
    let one = b"VALUE a 0 3\r\nabc\r\nEND\r\n";
    assert_eq!(one.len(), 23);
    let expects = [get(&[b"a"]), get(&[b"a"]), get(&[b"a"])];
    let input = one.repeat(3);
    let out = run_whole(&expects, budget(16, 23), &input);
    assert_eq!(out.error, None);
    assert_eq!(out.replies.len(), 3);
    // Also after a reply cut short by an error line, which is not counted.
    let mut input = b"VALUE a 0 3\r\nabc\r\nSERVER_ERROR out of memory\r\n".to_vec();
    input.extend_from_slice(one);
    let out = run_whole(&expects[..2], budget(16, 23), &input);
    assert_eq!(out.error, None);
    assert_eq!(out.replies.len(), 2);
    assert!(matches!(out.replies[0], Reply::Error(_)));
}

/// Byte by byte the budget fails at the same point: it never depends on the chunking.
#[test]
fn reply_budget_is_chunking_independent() {
    let mut input = value_block(b"a", 0, None, b"0123456789");
    input.extend(value_block(b"b", 0, None, b"0123456789"));
    input.extend_from_slice(b"END\r\n");
    for max in 0..input.len() + 2 {
        let limits = budget(10, max);
        let whole = run_whole(&[get(&[b"a", b"b"])], limits, &input);
        let bytewise = run_bytewise(&[get(&[b"a", b"b"])], limits, &input);
        assert_eq!(whole.error, bytewise.error, "budget {max}");
        let fits = max >= input.len();
        assert_eq!(whole.error.is_none(), fits, "budget {max}");
    }
}

#[test]
fn stats_over_reply_budget() {
    let input = b"STAT a 1\r\nSTAT b 2\r\nSTAT c 3\r\nEND\r\n";
    assert_eq!(input.len(), 35);
    let ok = run_whole(&[stats(&[])], budget(16, 35), input);
    assert_eq!(ok.error, None);
    assert_eq!(
        error_of(&[stats(&[])], budget(16, 34), input),
        DecodeError::ReplyTooLarge { max: 34 }
    );
    // Long dump lines fail as soon as the line that crosses the budget is complete, well
    // under `max_reply_lines`.
    let line = format!("ITEM {} [1 b; 0 s]\r\n", "k".repeat(200));
    let input = line.repeat(10);
    let err = error_of(
        &[stats(&[b"cachedump", b"1", b"0"])],
        budget(16, 5 * line.len()),
        input.as_bytes(),
    );
    assert_eq!(
        err,
        DecodeError::ReplyTooLarge {
            max: 5 * line.len()
        }
    );
}

/// A meta value counts with its header line.
#[test]
fn meta_value_over_reply_budget() {
    let input = b"VA 10\r\n0123456789\r\n";
    let ok = run_whole(&[mg(b"k", None, false)], budget(10, 19), input);
    assert_eq!(ok.error, None);
    let mut d = decoder_with(budget(10, 18), &[mg(b"k", None, false)]);
    let mut buf = BytesMut::from(&b"VA 10\r\n"[..]);
    assert_eq!(
        d.decode(&mut buf),
        Err(DecodeError::ReplyTooLarge { max: 18 })
    );
}

#[test]
fn limits_for_max_item_size() {
    let mib = 1024 * 1024;
    let default = Limits::default();
    // One value at the default maximum fits the default budget with its lines.
    assert!(default.max_reply_len >= default.max_value_len + default.max_line_len + 5);
    assert_eq!(default.max_reply_len, 64 * mib + 64 * 1024);

    let small = Limits::for_max_item_size(mib);
    assert_eq!(small.max_value_len, mib);
    assert_eq!(
        small.max_reply_len, default.max_reply_len,
        "never below the default"
    );
    assert_eq!(small.max_line_len, default.max_line_len);
    assert_eq!(small.max_reply_lines, default.max_reply_lines);

    let large = Limits::for_max_item_size(512 * mib);
    assert_eq!(large.max_value_len, 512 * mib);
    assert_eq!(large.max_reply_len, 1024 * mib + 64 * 1024);

    let huge = Limits::for_max_item_size(usize::MAX);
    assert_eq!(huge.max_reply_len, usize::MAX, "saturates");

    // Two items at the item size fit one reply, with their lines.
    let limits = Limits::for_max_item_size(4096);
    let mut input = value_block(b"a", 0, None, &[b'x'; 4096]);
    input.extend(value_block(b"b", 0, None, &[b'y'; 4096]));
    input.extend_from_slice(b"END\r\n");
    let out = run_whole(&[get(&[b"a", b"b"])], limits, &input);
    assert_eq!(out.error, None);
    assert_eq!(
        error_of(&[get(&[b"a"])], limits, b"VALUE a 0 4097\r\n"),
        DecodeError::ValueTooLarge {
            len: 4097,
            max: 4096
        }
    );
}

// =========================================================================================
// Echoed meta keys
// =========================================================================================

/// Every meta command that asked for its key refuses a reply naming another one, on any
/// status, and the check fails on the header, before a value is buffered.
#[test]
fn echoed_key_mismatch_on_every_meta_command() {
    let cases: Vec<(Expect, &[u8], &str)> = vec![
        (mg_echo(b"k1", None, false), b"VA 5 kk2\r\n", "VA 5 kk2"),
        (mg_echo(b"k1", None, false), b"EN kk2\r\n", "EN kk2"),
        (mg_echo(b"k1", None, false), b"HD kk10\r\n", "HD kk10"),
        (mg_echo(b"k1", None, false), b"HD kk\r\n", "HD kk"),
        (mg_echo(b"k1", None, false), b"HD k\r\n", "HD k"),
        (mg_echo(b"k1", None, false), b"HD\r\n", "HD"),
        (ms_echo(b"k1"), b"HD kother\r\n", "HD kother"),
        (ms_echo(b"k1"), b"NS kother\r\n", "NS kother"),
        (ms_echo(b"k1"), b"EX kother\r\n", "EX kother"),
        (md_echo(b"k1"), b"NF kother\r\n", "NF kother"),
        (md_echo(b"k1"), b"HD\r\n", "HD"),
        (ma_echo(b"k1"), b"VA 1 kother\r\n", "VA 1 kother"),
        (ma_echo(b"k1"), b"VA 1\r\n", "VA 1"),
        (mg_echo_base64(b"k1"), b"HD azE= b\r\n", "HD azE= b"),
        (mg_echo_base64(b"k1"), b"HD kazE b\r\n", "HD kazE b"),
        (mg_echo_base64(b"k1"), b"HD kazI= b\r\n", "HD kazI= b"),
    ];
    for (expect, input, excerpt) in cases {
        let err = error_of(&[expect], Limits::default(), input);
        assert!(
            matches!(err, DecodeError::KeyMismatch(_)),
            "{excerpt}: {err:?}"
        );
        assert_excerpt(&err, excerpt);
    }
}

/// A later `k` token replaces an earlier one, and the one that is checked is the one the
/// reply exposes.
#[test]
fn echoed_key_checked_is_the_one_exposed() {
    let err = error_of(
        &[mg_echo(b"k1", None, false)],
        Limits::default(),
        b"HD kk1 kk2\r\n",
    );
    assert!(matches!(err, DecodeError::KeyMismatch(_)));
    let out = run_whole(
        &[mg_echo(b"k1", None, false)],
        Limits::default(),
        b"HD kk2 kk1\r\n",
    );
    assert_eq!(
        out.replies,
        vec![meta(MetaStatus::Hd, None, with_key(b"k1"))]
    );
}

/// Without `k` in the request, a stray key in the reply is not checked (nothing to check
/// it against) and is passed through.
#[test]
fn echoed_key_unchecked_when_not_requested() {
    let out = run_whole(&[mg(b"k1", None, false)], Limits::default(), b"HD kk2\r\n");
    assert_eq!(out.error, None);
    assert_eq!(
        out.replies,
        vec![meta(MetaStatus::Hd, None, with_key(b"k2"))]
    );
}

/// Long keys (kept on the heap in the `Expect`) and binary keys are compared in full.
#[test]
fn echoed_long_and_binary_keys() {
    let long = vec![b'L'; 250];
    let mut hit = b"HD k".to_vec();
    hit.extend_from_slice(&long);
    hit.extend_from_slice(b"\r\n");
    let out = run_whole(&[mg_echo(&long, None, false)], Limits::default(), &hit);
    assert_eq!(out.error, None);
    let mut other = long.clone();
    other[249] = b'M';
    let err = error_of(&[mg_echo(&other, None, false)], Limits::default(), &hit);
    assert!(matches!(err, DecodeError::KeyMismatch(_)));

    let binary: Vec<u8> = (0..=185u8).collect();
    let encoded = {
        let mut wire = BytesMut::new();
        let get = Command::MetaGet(MetaGet {
            key: &binary,
            common: MetaCommon {
                base64: true,
                ..MetaCommon::default()
            },
            ..MetaGet::default()
        });
        Encoder::new().encode(&get, &mut wire).unwrap();
        wire[3..wire.len() - 4].to_vec()
    };
    assert_eq!(encoded.len(), 248);
    let reply = [b"EN k".as_slice(), &encoded, b" b\r\n"].concat();
    let out = run_whole(&[mg_echo_base64(&binary)], Limits::default(), &reply);
    assert_eq!(out.error, None, "{}", reply.escape_ascii());
    let mut shifted = binary.clone();
    shifted[0] = 1;
    let err = error_of(&[mg_echo_base64(&shifted)], Limits::default(), &reply);
    assert!(matches!(err, DecodeError::KeyMismatch(_)));
}

// =========================================================================================
// Poisoning
// =========================================================================================

#[test]
fn poisoned_on_every_call_after_any_failure() {
    let small = Limits {
        max_line_len: 16,
        max_value_len: 4,
        max_reply_lines: 1,
        max_reply_len: 24,
    };
    let cases: Vec<(Expect, &[u8])> = vec![
        (version(), b"VERSION 0123456789"),
        (store(StoreMode::Set), b"STORED\n"),
        (get(&[b"a"]), b"VALUE a 0 5\r\n"),
        (get(&[b"a"]), b"VALUE a x 1\r\n"),
        (get(&[b"a"]), b"VALUE a\r\n"),
        (get(&[b"a"]), b"VALUE a 0 1\r\nxyz"),
        (get(&[b"a"]), b"VALUE b 0 1\r\n"),
        (get(&[b"a"]), b"VALUE a 0 1\r\nx\r\nVALUE a 0 1\r\n"),
        (store(StoreMode::Set), b"DELETED\r\n"),
        (mg(b"a", Some(b"1"), false), b"HD O2\r\n"),
        (mg(b"a", Some(b"1"), true), b"ERROR\r\nHD\r\n"),
        (stats(&[]), b"STAT a 1\r\nSTAT b 2\r\n"),
        (
            get(&[b"a", b"b"]),
            b"VALUE a 0 4\r\nxxxx\r\nVALUE b 0 1\r\n",
        ),
        (mg_echo(b"a", None, false), b"HD kb\r\n"),
    ];
    for (expect, input) in cases {
        let mut d = decoder_with(small, std::slice::from_ref(&expect));
        let mut buf = BytesMut::from(input);
        let first = loop {
            match d.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error for {}", input.escape_ascii()),
                Err(e) => break e,
            }
        };
        assert_ne!(first, DecodeError::Poisoned);
        assert!(d.is_failed());
        // Same buffer, more valid bytes, a fresh buffer, new requests: all refused.
        assert_eq!(d.decode(&mut buf), Err(DecodeError::Poisoned));
        buf.extend_from_slice(b"STORED\r\n");
        assert_eq!(d.decode(&mut buf), Err(DecodeError::Poisoned));
        d.push(store(StoreMode::Set));
        let mut fresh = BytesMut::from(&b"STORED\r\n"[..]);
        assert_eq!(d.decode(&mut fresh), Err(DecodeError::Poisoned));
        assert_eq!(d.decode(&mut BytesMut::new()), Err(DecodeError::Poisoned));
        assert!(d.is_failed());
    }
    // The `Unsolicited` path too.
    let mut d = Decoder::default();
    assert!(matches!(
        d.decode(&mut BytesMut::from(&b"x"[..])),
        Err(DecodeError::Unsolicited(_))
    ));
    assert_eq!(d.decode(&mut BytesMut::new()), Err(DecodeError::Poisoned));
}

// =========================================================================================
// Trickle
// =========================================================================================

/// A long legal line fed one byte at a time decodes correctly.
#[test]
fn seven_kib_line_byte_by_byte() {
    let text = "v".repeat(7 * 1024);
    let input = format!("VERSION {text}\r\n");
    let out = run_bytewise(&[version()], Limits::default(), input.as_bytes());
    assert_eq!(out.error, None);
    assert_eq!(out.replies, vec![Reply::Version(b(text.as_bytes()))]);
    // Same for a long stat value and a long meta line.
    let input = format!("STAT big {text}\r\nEND\r\n");
    let out = run_bytewise(&[stats(&[])], Limits::default(), input.as_bytes());
    assert_eq!(
        out.replies,
        vec![Reply::Stats(vec![stat(b"big", text.as_bytes())])]
    );
    let key = "k".repeat(250);
    let input = format!("EN Oq k{key} {}\r\nMN\r\n", "P".repeat(7000));
    let out = run_bytewise(
        &[mg(b"a", Some(b"q"), true), mn()],
        Limits::default(),
        input.as_bytes(),
    );
    assert_eq!(out.error, None);
    assert_eq!(out.replies.len(), 2);
}

/// Resuming the newline search where it stopped keeps a byte-by-byte trickle linear.
/// A 1 MiB line fed one byte at a time is about a million decode calls; rescanning the
/// buffer on each call would be ~5 * 10^11 byte comparisons (minutes even in release),
/// so the generous bound below only catches quadratic behaviour.
#[test]
fn trickle_is_not_quadratic() {
    let len = 1 << 20;
    let limits = Limits {
        max_line_len: len + 64,
        ..Limits::default()
    };
    let mut d = decoder_with(limits, &[version(), mg(b"a", Some(b"1"), true), mn()]);
    let mut buf = BytesMut::with_capacity(len + 64);
    let start = Instant::now();
    buf.extend_from_slice(b"VERSION ");
    for _ in 0..len {
        buf.extend_from_slice(b"x");
        assert_eq!(d.decode(&mut buf), Ok(None));
    }
    buf.extend_from_slice(b"\r\n");
    match d.decode(&mut buf) {
        Ok(Some(Reply::Version(v))) => assert_eq!(v.len(), len),
        other => panic!("{other:?}"),
    }
    // The same with a quiet request at the head (its "silent" decision waits for a line).
    buf.extend_from_slice(b"MN");
    for _ in 0..len / 4 {
        assert_eq!(d.decode(&mut buf), Ok(None));
    }
    buf.extend_from_slice(b"\r\n");
    assert_eq!(d.decode(&mut buf), Ok(Some(quiet())));
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(60),
        "trickle took {elapsed:?}: rescanning?"
    );
}
