//! Chunking must not change what the decoder produces: every scenario of the shared table
//! decoded in one piece, split in two at every byte boundary, and fed one byte at a time
//! gives the same replies, the same error and the same pending count.

mod common;

use std::fmt;

use common::*;
use memproto::{Limits, Reply};

fn describe(out: &Outcome) -> String {
    format!(
        "replies={:?} error={:?} pending={} leftover={:?}",
        out.replies,
        out.error,
        out.pending,
        out.leftover.escape_ascii().to_string()
    )
}

/// Checks that scenario `s` decoded some other way (`how`) gave `out`, the same as `whole`.
#[track_caller]
fn assert_same(s: &Scenario, how: fmt::Arguments<'_>, out: &Outcome, whole: &Outcome) {
    assert!(
        out.same_as(whole),
        "scenario {} {how}:\n whole: {}\n {how}: {}",
        s.name,
        describe(whole),
        describe(out)
    );
}

#[test]
fn every_scenario_split_at_every_byte_boundary() {
    for s in scenarios() {
        let whole = s.assert_whole();
        for at in 0..=s.input.len() {
            let split = run_split(&s.expects, s.limits, &s.input, at);
            assert_same(&s, format_args!("split at {at}"), &split, &whole);
        }
    }
}

#[test]
fn every_scenario_fed_one_byte_at_a_time() {
    for s in scenarios() {
        let whole = s.assert_whole();
        let bytewise = run_bytewise(&s.expects, s.limits, &s.input);
        assert_same(&s, format_args!("byte by byte"), &bytewise, &whole);
    }
}

/// Three chunks at every pair of boundaries, for the scenarios short enough to afford it.
#[test]
fn short_scenarios_split_in_three_everywhere() {
    for s in scenarios().into_iter().filter(|s| s.input.len() <= 80) {
        let whole = s.whole();
        let n = s.input.len();
        for i in 0..=n {
            for j in i..=n {
                let out = run(
                    &s.expects,
                    s.limits,
                    [&s.input[..i], &s.input[i..j], &s.input[j..]],
                );
                assert_same(&s, format_args!("split at {i},{j}"), &out, &whole);
            }
        }
    }
}

/// The emcache trap: a value ending in `END\r\n`, with the read boundary right after the
/// value's data (before its CRLF) and right after the CRLF. A decoder that scans for
/// `END\r\n` instead of counting bytes would end the retrieval early.
#[test]
fn emcache_trap_split_right_after_the_data() {
    let expects = [get(&[b"k"]), version()];
    let input = b"VALUE k 0 5\r\nEND\r\n\r\nEND\r\nVERSION 1\r\n";
    let header = b"VALUE k 0 5\r\n".len();
    let want = vec![
        Reply::Values(vec![item(b"k", 0, None, b"END\r\n")].into()),
        Reply::Version(b(b"1")),
    ];
    for at in [header + 5, header + 5 + 2, header + 3, header] {
        let out = run_split(&expects, Limits::default(), input, at);
        assert_eq!(out.replies, want, "split at {at}");
        assert_eq!(out.error, None);
        assert_eq!(out.pending, 0);
    }
    // After the first chunk alone, nothing is complete and the retrieval is still pending.
    let first = run(&expects, Limits::default(), [&input[..header + 5]]);
    assert!(first.replies.is_empty());
    assert_eq!(first.pending, 2);
}

/// Partial input leaves the same pending count however it was chunked.
#[test]
fn every_prefix_has_chunking_independent_pending() {
    for s in scenarios().into_iter().filter(|s| s.error.is_none()) {
        for end in 0..=s.input.len() {
            let prefix = &s.input[..end];
            let whole = run_whole(&s.expects, s.limits, prefix);
            let bytes = run_bytewise(&s.expects, s.limits, prefix);
            assert_same(
                &s,
                format_args!("prefix {end} byte by byte"),
                &bytes,
                &whole,
            );
        }
    }
}
