//! Every reply kind of protocol.md §11/§13, decoded in the context of its request.
//!
//! The scenario table lives in `common/mod.rs` and is shared with `split.rs`; each entry
//! gets its own test here (decoded in one piece). Hand-written tests below cover the
//! step-by-step behaviour (pending counts, quiet pairing) and a few one-off cases.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use memproto::{
    Command, DecodeError, Decoder, Encoder, MetaStatus, Reply, ServerErrorKind, Store, StoreMode,
};

macro_rules! scenario_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                scenario(stringify!($name)).assert_whole();
            }
        )*
        const LISTED: &[&str] = &[$(stringify!($name)),*];
    };
}

scenario_tests!(
    set_stored,
    add_stored_not_stored,
    replace_append_prepend,
    cas_stored_exists_not_found,
    delete_deleted_not_found,
    touch_touched_not_found,
    incr_decr_numbers,
    incr_leading_zero,
    flush_all_verbosity_ok,
    version_reply,
    version_with_spaces,
    stats_list,
    stats_reset_is_other,
    stats_detail_on_ok,
    stats_cachedump_lines,
    stats_detail_dump_empty,
    stats_unknown_group_error,
    cache_memlimit_ok_and_too_small,
    get_hit,
    get_miss,
    gets_with_cas,
    gat_and_gats,
    multi_get_with_misses,
    multi_get_out_of_order,
    zero_length_values,
    values_containing_crlf_and_end,
    emcache_value_ending_in_end,
    large_client_flags,
    binary_value,
    mg_va_all_return_flags,
    mg_hd_en,
    mg_stale_win_flags,
    mg_base64_key_and_unknown_flags,
    mg_value_with_crlf,
    ms_every_code,
    md_every_code,
    ma_every_code,
    mn_reply,
    me_hit_and_miss,
    error_lines_for_every_kind,
    error_line_ends_multiget_early,
    error_line_ends_stats_early,
    pipeline_many_outstanding,
    pipeline_partial_tail,
    pipeline_partial_line,
    quiet_mg_batch_one_hit,
    quiet_mg_batch_all_miss,
    quiet_mg_batch_all_hit,
    quiet_ms_batch_one_failure,
    quiet_md_ma_failures,
    quiet_then_classic_and_non_quiet_meta,
    quiet_waits_for_a_full_line,
    error_line_in_a_quiet_run_is_unattributed,
    a_server_without_meta_commands_answers_error_to_each,
    unknown_command_with_data_breaks_the_stream,
    error_line_in_a_quiet_run_ended_by_an_answered_request_is_ambiguous,
    unknown_command_in_a_quiet_run_with_data_breaks_the_stream,
    opaque_mismatch_non_quiet,
    opaque_missing_non_quiet,
    opaque_unrequested_non_quiet,
    meta_echoed_key_matches,
    meta_echoed_key_base64,
    meta_echoed_key_mismatch,
    meta_hit_without_echoed_key,
    meta_echoed_key_wrong_encoding,
    quiet_echo_batch,
    quiet_echo_wrong_key,
    unrequested_key,
    duplicate_key,
    unsolicited,
    unsolicited_after_last_reply,
    bare_line_feed,
    value_too_large,
    value_at_limit,
    missing_data_terminator,
    line_too_long,
    too_many_stats_lines,
);

#[test]
fn every_scenario_has_a_test_and_names_are_unique() {
    let names: Vec<&str> = scenarios().iter().map(|s| s.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "duplicate scenario names");
    for name in &names {
        assert!(LISTED.contains(name), "scenario {name} has no test");
    }
    assert_eq!(LISTED.len(), names.len());
}

/// The brief's quiet batch, one decode call at a time: `mg k1 v q O1`, `mg k2 v q O2`,
/// `mn`, only k2 hits.
#[test]
fn quiet_batch_step_by_step() {
    let mut decoder = Decoder::default();
    decoder.push(mg(b"k1", Some(b"O1"), true));
    decoder.push(mg(b"k2", Some(b"O2"), true));
    decoder.push(mn());
    assert_eq!(decoder.pending(), 3);
    let mut buf = BytesMut::from(&b"VA 2 OO2\r\nv2\r\nMN\r\n"[..]);

    assert_eq!(decoder.decode(&mut buf), Ok(Some(quiet())));
    assert_eq!(decoder.pending(), 2);
    // The line that ended k1's turn is still there for k2.
    assert_eq!(&buf[..], b"VA 2 OO2\r\nv2\r\nMN\r\n");

    let reply = decoder.decode(&mut buf).unwrap().unwrap();
    assert_eq!(reply, meta(MetaStatus::Va, Some(b"v2"), with_opaque(b"O2")));
    assert_eq!(decoder.pending(), 1);

    assert_eq!(decoder.decode(&mut buf), Ok(Some(bare(MetaStatus::Mn))));
    assert_eq!(decoder.pending(), 0);
    assert!(buf.is_empty());
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

/// A quiet request at the head does not decide "silent" before a whole line is there.
#[test]
fn quiet_head_waits_for_complete_line() {
    let mut decoder = Decoder::default();
    decoder.push(mg(b"k1", Some(b"1"), true));
    decoder.push(mn());
    let mut buf = BytesMut::from(&b"VA 1 O"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(decoder.pending(), 2);
    buf.extend_from_slice(b"1\r\nx\r\nMN\r\n");
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(meta(MetaStatus::Va, Some(b"x"), with_opaque(b"1"))))
    );
    assert_eq!(decoder.decode(&mut buf), Ok(Some(bare(MetaStatus::Mn))));
}

#[test]
fn incr_overflow_is_invalid_number() {
    let out = run_whole(
        &[arith(memproto::ArithOp::Incr)],
        Default::default(),
        b"18446744073709551616\r\n",
    );
    assert!(
        matches!(&out.error, Some(DecodeError::InvalidNumber(x)) if x.as_str() == "18446744073709551616"),
        "{out:?}"
    );
    let out = run_whole(
        &[arith(memproto::ArithOp::Decr)],
        Default::default(),
        b"123456789012345678901\r\n",
    );
    assert!(matches!(out.error, Some(DecodeError::InvalidNumber(_))));
}

#[test]
fn server_error_with_colon_keeps_message() {
    let out = run_whole(
        &[version()],
        Default::default(),
        b"SERVER_ERROR: shutdown not enabled\r\n",
    );
    assert_eq!(
        out.replies,
        vec![server_error(
            ServerErrorKind::Server,
            b"shutdown not enabled"
        )]
    );
}

/// Words that merely start like an error keyword are not error lines.
#[test]
fn error_keyword_must_be_a_whole_word() {
    let out = run_whole(&[memlimit()], Default::default(), b"ERRORS happened\r\n");
    assert_eq!(out.replies, vec![Reply::Other(b(b"ERRORS happened"))]);
    let out = run_whole(
        &[stats(&[])],
        Default::default(),
        b"SERVER_ERRORx 1\r\nEND\r\n",
    );
    assert_eq!(
        out.replies,
        vec![Reply::Stats(vec![stat(b"SERVER_ERRORx", b"1")])]
    );
}

/// The emcache bug: flags above 16 bits must survive a set/get round trip unchanged.
#[test]
fn large_flags_round_trip_through_encoder_and_decoder() {
    for flags in [0, 1, 65535, 65536, 65537, u32::MAX] {
        let mut wire = BytesMut::new();
        let store = Store {
            flags,
            ..Store::new(StoreMode::Set, b"k", b"v")
        };
        Encoder::new()
            .encode(&Command::Store(store), &mut wire)
            .unwrap();
        // What a server stores is the flags token it read.
        let line = wire[..].split(|&b| b == b'\n').next().unwrap();
        let token = std::str::from_utf8(line)
            .unwrap()
            .split(' ')
            .nth(2)
            .unwrap();
        assert_eq!(token.parse::<u32>().unwrap(), flags);
        let reply = format!("VALUE k {token} 1\r\nv\r\nEND\r\n");
        let out = run_whole(&[get(&[b"k"])], Default::default(), reply.as_bytes());
        assert_eq!(
            out.replies,
            vec![Reply::Values(vec![item(b"k", flags, None, b"v")].into())]
        );
    }
}

/// Values are split off the read buffer, and the decoder leaves following bytes alone.
#[test]
fn decoded_value_is_exactly_the_data_block() {
    let mut decoder = Decoder::default();
    decoder.push(get(&[b"a"]));
    decoder.push(version());
    let mut buf = BytesMut::from(&b"VALUE a 0 3\r\nEND\r\nEND\r\nVERSION 2\r\nST"[..]);
    let reply = decoder.decode(&mut buf).unwrap().unwrap();
    assert_eq!(
        reply,
        Reply::Values(vec![item(b"a", 0, None, b"END")].into())
    );
    assert_eq!(&buf[..], b"VERSION 2\r\nST");
    assert_eq!(decoder.decode(&mut buf), Ok(Some(Reply::Version(b(b"2")))));
    assert_eq!(&buf[..], b"ST");
    assert_eq!(decoder.pending(), 0);
}

/// Pushing an `Expect` that wants no reply (noreply, quit) is a no-op.
#[test]
fn noreply_requests_are_not_pending() {
    let mut decoder = Decoder::default();
    let mut out = BytesMut::new();
    let enc = Encoder::new();
    let noreply = Store {
        noreply: true,
        ..Store::new(StoreMode::Set, b"k", b"v")
    };
    decoder.push(enc.encode(&Command::Store(noreply), &mut out).unwrap());
    decoder.push(enc.encode(&Command::Quit, &mut out).unwrap());
    decoder.push(
        enc.encode(
            &Command::Delete {
                key: b"k",
                noreply: true,
            },
            &mut out,
        )
        .unwrap(),
    );
    assert_eq!(decoder.pending(), 0);
    decoder.push(version());
    assert_eq!(decoder.pending(), 1);
}

/// Pending requests and decoded replies pair up strictly in FIFO order, across calls.
#[test]
fn many_pipelined_requests_arriving_together() {
    let keys: Vec<Vec<u8>> = (0..200).map(|i| format!("key{i}").into_bytes()).collect();
    let mut expects = Vec::new();
    let mut input = Vec::new();
    let mut want = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        match i % 4 {
            0 => {
                expects.push(get(&[key]));
                input.extend(value_block(key, i as u32, None, key));
                input.extend_from_slice(b"END\r\n");
                want.push(Reply::Values(vec![item(key, i as u32, None, key)].into()));
            }
            1 => {
                expects.push(delete(key));
                input.extend_from_slice(b"NOT_FOUND\r\n");
                want.push(Reply::NotFound);
            }
            2 => {
                let opaque = format!("{i}");
                expects.push(mg(key, Some(opaque.as_bytes()), false));
                input.extend_from_slice(format!("EN O{i}\r\n").as_bytes());
                want.push(meta(MetaStatus::En, None, with_opaque(opaque.as_bytes())));
            }
            _ => {
                expects.push(arith(memproto::ArithOp::Incr));
                input.extend_from_slice(format!("{i}\r\n").as_bytes());
                want.push(Reply::Number(i as u64));
            }
        }
    }
    let out = run_whole(&expects, Default::default(), &input);
    assert_eq!(out.error, None);
    assert_eq!(out.replies, want);
    assert_eq!(out.pending, 0);
}

// =========================================================================================
// Read sizing
// =========================================================================================

/// After a large value's header, `bytes_needed` is exactly the rest of the data block and
/// its CRLF, and it drops to 0 once the block is in. Room is the transport's to make: the
/// decoder reserves none.
#[test]
fn bytes_needed_tracks_a_large_value() {
    const LEN: usize = 1_000_000;
    let mut decoder = Decoder::default();
    decoder.push(get(&[b"k", b"j"]));
    let mut buf = BytesMut::new();
    assert_eq!(decoder.bytes_needed(&buf), 0, "nothing in progress");
    buf.extend_from_slice(b"VALUE k 0 1000");
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(decoder.bytes_needed(&buf), 0, "a line of unknown length");

    buf.extend_from_slice(b"000\r\n");
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(buf.is_empty(), "the header is consumed");
    assert_eq!(decoder.bytes_needed(&buf), LEN + 2);
    assert_eq!(decoder.data_block_len(), Some(LEN + 2));
    assert!(buf.capacity() < 1024, "the decoder grew the read buffer");

    buf.extend_from_slice(&vec![b'v'; LEN / 2]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(decoder.bytes_needed(&buf), LEN / 2 + 2);
    buf.extend_from_slice(&vec![b'v'; LEN / 2]);
    assert_eq!(decoder.bytes_needed(&buf), 2, "only the CRLF is missing");
    buf.extend_from_slice(b"\r");
    assert_eq!(decoder.bytes_needed(&buf), 1);

    // The block is complete: the next item header or `END` has no known length.
    buf.extend_from_slice(b"\nEN");
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(decoder.bytes_needed(&buf), 0);
    buf.extend_from_slice(b"D\r\n");
    match decoder.decode(&mut buf) {
        Ok(Some(Reply::Values(items))) => assert_eq!(items[0].value.len(), LEN),
        other => panic!("{other:?}"),
    }
    assert_eq!(decoder.bytes_needed(&buf), 0);
}

/// A meta value counts the same; more bytes than needed (a pipelined next reply) give 0.
#[test]
fn bytes_needed_for_meta_values_and_surplus() {
    let mut decoder = Decoder::default();
    decoder.push(mg(b"k", None, false));
    decoder.push(mn());
    let mut buf = BytesMut::from(&b"VA 10 f0\r\n0123"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(decoder.bytes_needed(&buf), 8);
    // Even a buffer holding more than the block needs nothing more.
    let mut longer = buf.clone();
    longer.extend_from_slice(b"456789\r\nMN\r\n");
    assert_eq!(decoder.bytes_needed(&longer), 0);
    buf.extend_from_slice(b"456789\r\nMN\r\n");
    assert!(matches!(decoder.decode(&mut buf), Ok(Some(Reply::Meta(_)))));
    assert_eq!(decoder.bytes_needed(&buf), 0);
}

// =========================================================================================
// Data blocks in the transport's own storage
// =========================================================================================

/// A multi-get whose first value is handed over and whose second arrives in the buffer:
/// the same items as decoding it all from the buffer, the first a view of the block.
#[test]
fn a_data_block_handed_over_joins_its_reply() {
    let mut decoder = Decoder::default();
    decoder.push(get(&[b"k", b"j"]));
    let mut buf = BytesMut::from(&b"VALUE k 7 6\r\nab"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(decoder.data_block_len(), Some(8));
    let mut block = buf.split().to_vec();
    block.extend_from_slice(b"cdef\r\n");
    let block = Bytes::from(block);
    let start = block.as_ptr();
    assert_eq!(decoder.decode_data_block(block), Ok(None));
    assert_eq!(decoder.data_block_len(), None);

    buf.extend_from_slice(b"VALUE j 0 1\r\nz\r\nEND\r\n");
    let Ok(Some(Reply::Values(items))) = decoder.decode(&mut buf) else {
        panic!("no reply")
    };
    assert_eq!(items.len(), 2);
    assert_eq!((&items[0].key[..], items[0].flags), (&b"k"[..], 7));
    assert_eq!(&items[0].value[..], b"abcdef");
    assert_eq!(
        items[0].value.as_ptr(),
        start,
        "the value is a view of the block"
    );
    assert_eq!(&items[1].value[..], b"z");
    assert!(buf.is_empty());
}

/// A meta value handed over completes its reply at once.
#[test]
fn a_meta_data_block_handed_over_completes_the_reply() {
    let mut decoder = Decoder::default();
    decoder.push(mg(b"k", None, false));
    let mut buf = BytesMut::from(&b"VA 3 f5\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(decoder.data_block_len(), Some(5));
    let Ok(Some(Reply::Meta(meta))) = decoder.decode_data_block(Bytes::from_static(b"xyz\r\n"))
    else {
        panic!("no reply")
    };
    assert_eq!(meta.value.as_deref(), Some(&b"xyz"[..]));
    assert_eq!(meta.flags.flags, Some(5));
    assert_eq!(decoder.pending(), 0);
}

/// A block nobody expects, of the wrong length, or without its CRLF fails the decoder.
#[test]
fn a_misplaced_data_block_fails_the_decoder() {
    let mut idle = Decoder::default();
    idle.push(get(&[b"k"]));
    assert_eq!(idle.data_block_len(), None);
    assert_eq!(
        idle.decode_data_block(Bytes::from_static(b"v\r\n")),
        Err(DecodeError::MisplacedDataBlock)
    );
    assert_eq!(
        idle.decode(&mut BytesMut::from(&b"END\r\n"[..])),
        Err(DecodeError::Poisoned)
    );

    let in_progress = || {
        let mut decoder = Decoder::default();
        decoder.push(get(&[b"k"]));
        let mut buf = BytesMut::from(&b"VALUE k 0 2\r\n"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        decoder
    };
    let mut short = in_progress();
    assert_eq!(
        short.decode_data_block(Bytes::from_static(b"v\r\n")),
        Err(DecodeError::MisplacedDataBlock)
    );
    assert_eq!(
        short.data_block_len(),
        None,
        "a failed decoder has no block"
    );
    let mut unterminated = in_progress();
    assert_eq!(
        unterminated.decode_data_block(Bytes::from_static(b"vv!!")),
        Err(DecodeError::MissingDataTerminator)
    );
    assert_eq!(
        unterminated.decode_data_block(Bytes::from_static(b"vv\r\n")),
        Err(DecodeError::Poisoned)
    );
}

/// A failed decoder needs nothing: the connection is to be closed.
#[test]
fn bytes_needed_is_zero_once_failed() {
    let mut decoder = Decoder::default();
    decoder.push(get(&[b"k"]));
    let mut buf = BytesMut::from(&b"VALUE k 0 100\r\nxyz"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(decoder.bytes_needed(&buf), 99);
    buf.extend_from_slice(&[b'x'; 97]);
    buf.extend_from_slice(b"!!");
    assert_eq!(
        decoder.decode(&mut buf),
        Err(DecodeError::MissingDataTerminator)
    );
    assert_eq!(decoder.bytes_needed(&buf), 0);
}
