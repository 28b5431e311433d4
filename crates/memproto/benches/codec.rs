//! Codec micro-benchmarks: how fast `memproto` decodes replies and encodes requests, on one
//! core, with no I/O.
//!
//! Run with `cargo bench -p memproto --bench codec` (add a filter such as `decode` to run a
//! subset). The output starts with a legend, then criterion's per-benchmark lines, then a
//! markdown summary table built from the estimates criterion saved during this run.
//!
//! # What is timed
//!
//! - **decode** (`Decoder::decode` until the reply is complete, plus dropping the reply): the
//!   reply bytes are copied into fresh buffers *outside* the timed section, in chunks, with
//!   `iter_custom`; only the decode loop over a chunk is timed. The requests' `Expect`s are
//!   pushed outside the timed section too, and each buffer is made shared (the one-time
//!   allocation `bytes` does on a buffer's first split) before the clock starts, as the
//!   client's long-lived read buffer already is. So the decode numbers exclude the fill.
//! - **copy_only**: `extend_from_slice` of the reply into a reused `BytesMut`: what filling the
//!   read buffer costs, the part of a client's read path that scales with the value size.
//! - **copy_then_decode**: the same fill followed by the decode, in one timed iteration (the
//!   client's real path). Decode cost = copy_then_decode - copy_only, a cross-check of the
//!   decode rows.
//! - **encode**: `Encoder::encode` into a reused, cleared `BytesMut`, including the
//!   `Expect` it returns (a retrieval's `Expect` owns a copy of the key list).
//!
//! Groups ending in `_bytes` repeat cases with `Throughput::Bytes` (bytes on the wire per
//! second); the others use `Throughput::Elements(1)` (replies or requests per second).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use memproto::{
    Command, Decoder, Encoder, Expect, MetaCommon, MetaGet, Reply, Retrieve, RetrieveKind, Store,
    StoreMode,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Budget of pre-filled buffers per timed chunk (decode benches).
const CHUNK_BYTES: usize = 32 * MIB;
/// Most replies per timed chunk: big enough that the two clock reads per chunk are noise.
const CHUNK_MAX: usize = 1024;

/// One reply to decode: its wire bytes and the `Expect` of the request that asked for it.
struct DecodeCase {
    /// Benchmark id (also the directory criterion stores its estimates in).
    id: &'static str,
    /// What the case is, for the legend and the summary.
    about: String,
    wire: Bytes,
    expect: Expect,
}

fn key(i: usize) -> Vec<u8> {
    format!("bench:key:{i:04}").into_bytes()
}

fn value(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A `get` of `count` keys, each answered with a `value_len`-byte value.
fn get_case(id: &'static str, about: &str, count: usize, value_len: usize) -> DecodeCase {
    let keys: Vec<Vec<u8>> = (0..count).map(key).collect();
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut request = BytesMut::new();
    let command = Command::Retrieve(Retrieve {
        kind: RetrieveKind::Get,
        keys: &key_refs,
    });
    let expect = Encoder::new()
        .encode(&command, &mut request)
        .expect("valid get");
    let data = value(value_len);
    let mut wire = Vec::with_capacity(count * (value_len + 40) + 5);
    for key in &keys {
        wire.extend_from_slice(b"VALUE ");
        wire.extend_from_slice(key);
        wire.extend_from_slice(format!(" 0 {value_len}\r\n").as_bytes());
        wire.extend_from_slice(&data);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"END\r\n");
    DecodeCase {
        id,
        about: about.to_owned(),
        wire: wire.into(),
        expect,
    }
}

/// An `mg` with value, CAS, flags, TTL and opaque, answered by
/// `VA 100 c123 f0 t-1 Oabc` and a 100-byte value.
fn meta_case() -> DecodeCase {
    let key = key(0);
    let get = MetaGet {
        key: &key,
        common: MetaCommon {
            opaque: Some(b"abc"),
            ..MetaCommon::default()
        },
        return_value: true,
        return_cas: true,
        return_flags: true,
        return_ttl: true,
        ..MetaGet::default()
    };
    let mut request = BytesMut::new();
    let expect = Encoder::new()
        .encode(&Command::MetaGet(get), &mut request)
        .expect("valid mg");
    let mut wire = b"VA 100 c123 f0 t-1 Oabc\r\n".to_vec();
    wire.extend_from_slice(&value(100));
    wire.extend_from_slice(b"\r\n");
    DecodeCase {
        id: "meta_va_flags_100B",
        about: "`mg` reply `VA 100 c123 f0 t-1 Oabc` + 100 B value".to_owned(),
        wire: wire.into(),
        expect,
    }
}

fn decode_cases() -> Vec<DecodeCase> {
    vec![
        get_case("get_100B", "(a) `get`, one hit, 100 B value", 1, 100),
        get_case(
            "multiget_100x100B",
            "(b) `get` of 100 keys, 100 hits of 100 B",
            100,
            100,
        ),
        get_case("get_10KiB", "`get`, one hit, 10 KiB value", 1, 10 * KIB),
        get_case(
            "get_100KiB",
            "(c) `get`, one hit, 100 KiB value",
            1,
            100 * KIB,
        ),
        get_case("get_1MiB", "`get`, one hit, 1 MiB value", 1, MIB),
        meta_case(),
    ]
}

/// Decodes one complete reply, checks it is the expected kind, and drops it.
fn decode_one(decoder: &mut Decoder, buf: &mut BytesMut) {
    match decoder.decode(buf) {
        Ok(Some(reply @ (Reply::Values(_) | Reply::Meta(_)))) => drop(black_box(reply)),
        other => panic!("benchmark reply did not decode: {other:?}"),
    }
}

/// Times `Decoder::decode` alone: buffers are filled and `Expect`s pushed before the clock
/// starts, a chunk of replies is decoded, and only that is counted.
fn bench_decode_only(group: &mut BenchmarkGroup<'_, WallTime>, case: &DecodeCase) {
    let chunk = (CHUNK_BYTES / case.wire.len()).clamp(1, CHUNK_MAX);
    group.bench_function(case.id, |b| {
        b.iter_custom(|iters| {
            let mut decoder = Decoder::default();
            let mut buffers: Vec<BytesMut> = Vec::with_capacity(chunk);
            let mut total = Duration::ZERO;
            let mut remaining = iters;
            while remaining > 0 {
                let n = remaining.min(chunk as u64) as usize;
                buffers.clear();
                for _ in 0..n {
                    let mut buf = BytesMut::from(&case.wire[..]);
                    // A fresh buffer turns shared (one allocation) on its first split; the
                    // client's long-lived read buffer is already shared, so do that here.
                    drop(buf.split_to(0));
                    buffers.push(buf);
                    decoder.push(case.expect.clone());
                }
                let start = Instant::now();
                for buf in &mut buffers {
                    decode_one(&mut decoder, buf);
                }
                total += start.elapsed();
                remaining -= n as u64;
            }
            assert_eq!(decoder.pending(), 0);
            total
        });
    });
}

/// Times decoding replies back to back from one read buffer, as a pipelined connection
/// does: `PIPELINE` replies are laid out in one buffer (filled before the clock starts), so
/// the buffer's shared state stays warm as it does in a client.
fn bench_decode_pipelined(group: &mut BenchmarkGroup<'_, WallTime>, case: &DecodeCase) {
    const PIPELINE: usize = 1024;
    let wire: Vec<u8> = case
        .wire
        .iter()
        .copied()
        .cycle()
        .take(case.wire.len() * PIPELINE)
        .collect();
    group.bench_function(format!("{}_pipelined", case.id), |b| {
        b.iter_custom(|iters| {
            let mut decoder = Decoder::default();
            let mut total = Duration::ZERO;
            let mut remaining = iters;
            while remaining > 0 {
                let n = remaining.min(PIPELINE as u64) as usize;
                let mut buf = BytesMut::from(&wire[..case.wire.len() * n]);
                drop(buf.split_to(0));
                for _ in 0..n {
                    decoder.push(case.expect.clone());
                }
                let start = Instant::now();
                for _ in 0..n {
                    decode_one(&mut decoder, &mut buf);
                }
                total += start.elapsed();
                remaining -= n as u64;
            }
            assert_eq!(decoder.pending(), 0);
            total
        });
    });
}

fn decode(c: &mut Criterion, cases: &[DecodeCase]) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    for id in [
        "get_100B",
        "multiget_100x100B",
        "get_100KiB",
        "meta_va_flags_100B",
    ] {
        bench_decode_only(&mut group, find(cases, id));
    }
    bench_decode_pipelined(&mut group, find(cases, "get_100B"));
    group.finish();

    let mut group = c.benchmark_group("decode_bytes");
    for case in cases {
        group.throughput(Throughput::Bytes(case.wire.len() as u64));
        bench_decode_only(&mut group, case);
    }
    group.finish();
}

/// The buffer fill alone, and the fill followed by the decode, for the single-get sizes.
fn copy_and_decode(c: &mut Criterion, cases: &[DecodeCase]) {
    let ids = ["get_100B", "get_10KiB", "get_100KiB", "get_1MiB"];

    let mut group = c.benchmark_group("copy_only");
    for id in ids {
        let case = find(cases, id);
        group.throughput(Throughput::Bytes(case.wire.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(id), |b| {
            let mut buf = BytesMut::with_capacity(case.wire.len());
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(&case.wire);
                black_box(&mut buf);
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("copy_then_decode");
    for id in ids {
        let case = find(cases, id);
        group.throughput(Throughput::Bytes(case.wire.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(id), |b| {
            let mut decoder = Decoder::default();
            // Reused: once the previous reply is dropped, the buffer is unique again and
            // `extend_from_slice` reclaims its allocation instead of allocating.
            let mut buf = BytesMut::with_capacity(case.wire.len());
            b.iter(|| {
                decoder.push(case.expect.clone());
                buf.extend_from_slice(&case.wire);
                decode_one(&mut decoder, &mut buf);
            });
        });
    }
    group.finish();
}

/// One request to encode.
struct EncodeCase {
    id: &'static str,
    about: &'static str,
    keys: Vec<Vec<u8>>,
    value: Option<Vec<u8>>,
}

impl EncodeCase {
    fn encode(&self, encoder: &Encoder, out: &mut BytesMut) -> Expect {
        let keys: Vec<&[u8]> = self.keys.iter().map(Vec::as_slice).collect();
        self.encode_with(encoder, &keys, out)
    }

    fn encode_with(&self, encoder: &Encoder, keys: &[&[u8]], out: &mut BytesMut) -> Expect {
        let command = match &self.value {
            Some(value) => Command::Store(Store::new(StoreMode::Set, keys[0], value)),
            None => Command::Retrieve(Retrieve {
                kind: RetrieveKind::Get,
                keys,
            }),
        };
        encoder.encode(&command, out).expect("valid command")
    }
}

fn encode_cases() -> Vec<EncodeCase> {
    vec![
        EncodeCase {
            id: "get_1key",
            about: "(e) `get` of one key",
            keys: vec![key(0)],
            value: None,
        },
        EncodeCase {
            id: "get_100keys",
            about: "(f) `get` of 100 keys",
            keys: (0..100).map(key).collect(),
            value: None,
        },
        EncodeCase {
            id: "set_100B",
            about: "(g) `set` with a 100 B value",
            keys: vec![key(0)],
            value: Some(value(100)),
        },
    ]
}

fn encode(c: &mut Criterion, cases: &[EncodeCase]) {
    let encoder = Encoder::new();
    for (name, bytes) in [("encode", false), ("encode_bytes", true)] {
        let mut group = c.benchmark_group(name);
        for case in cases {
            let mut out = BytesMut::with_capacity(4 * KIB);
            case.encode(&encoder, &mut out);
            group.throughput(if bytes {
                Throughput::Bytes(out.len() as u64)
            } else {
                Throughput::Elements(1)
            });
            // The key list is built once, as a caller holding its keys would have it.
            let keys: Vec<&[u8]> = case.keys.iter().map(Vec::as_slice).collect();
            group.bench_function(case.id, |b| {
                b.iter(|| {
                    out.clear();
                    black_box(case.encode_with(&encoder, black_box(&keys), &mut out));
                });
            });
        }
        group.finish();
    }
}

fn find<'a>(cases: &'a [DecodeCase], id: &str) -> &'a DecodeCase {
    cases.iter().find(|case| case.id == id).expect("known case")
}

fn legend(decode_cases: &[DecodeCase], encode_cases: &[EncodeCase]) {
    println!("memproto codec benchmarks (one core, no I/O)");
    println!("  decode/*           Decoder::decode of one complete reply (+ drop), buffer fill NOT timed; Elements(1) = replies/s");
    println!("  decode_bytes/*     same measurement, Throughput::Bytes = wire bytes/s (grows with value size when decode time does not)");
    println!("  copy_only/*        extend_from_slice of the reply into a reused buffer: the fill a client does anyway");
    println!("  copy_then_decode/* fill + decode in one iteration; decode cost = this - copy_only");
    println!("  encode/*           Encoder::encode into a reused buffer, incl. the returned Expect; Elements(1) = requests/s");
    println!("  encode_bytes/*     same measurement, Throughput::Bytes = request bytes/s");
    println!("  target: decode/get_100B under 100 ns per reply");
    println!("cases:");
    for case in decode_cases {
        println!(
            "  {:<20} {} ({} wire bytes)",
            case.id,
            case.about,
            case.wire.len()
        );
    }
    for case in encode_cases {
        println!("  {:<20} {}", case.id, case.about);
    }
    println!();
}

/// Where criterion stores its estimates (mirrors criterion's own rule).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // The bench binary lives in <target>/<profile>/deps/.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The median estimate (ns per iteration) criterion saved for `group/id`, if it was written
/// by this run.
fn median_ns(dir: &Path, group: &str, id: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(id).join("new").join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let median = &text[text.find("\"median\"")?..];
    let point = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = point.find([',', '}'])?;
    point[..end].trim().parse().ok()
}

fn fmt_ns(ns: Option<f64>) -> String {
    match ns {
        Some(ns) if ns >= 10_000.0 => format!("{:.1} µs", ns / 1000.0),
        Some(ns) => format!("{ns:.1} ns"),
        None => "-".to_owned(),
    }
}

fn fmt_rate(per_sec: f64, unit: &str) -> String {
    if per_sec >= 1e9 {
        format!("{:.2} G{unit}/s", per_sec / 1e9)
    } else if per_sec >= 1e6 {
        format!("{:.2} M{unit}/s", per_sec / 1e6)
    } else {
        format!("{:.0} k{unit}/s", per_sec / 1e3)
    }
}

fn summary(decode_cases: &[DecodeCase], encode_cases: &[EncodeCase], since: SystemTime) {
    let dir = criterion_dir();
    println!();
    println!("## Summary (criterion medians from this run; `-` = not run)");
    println!();
    println!("| decode case | wire bytes | decode only | replies/s | wire bytes/s | copy only | copy + decode | (copy + decode) - copy |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for case in decode_cases {
        let decode = median_ns(&dir, "decode", case.id, since)
            .or_else(|| median_ns(&dir, "decode_bytes", case.id, since));
        let copy = median_ns(&dir, "copy_only", case.id, since);
        let both = median_ns(&dir, "copy_then_decode", case.id, since);
        let (replies, bytes) = match decode {
            Some(ns) => (
                fmt_rate(1e9 / ns, ""),
                fmt_rate(case.wire.len() as f64 * 1e9 / ns, "B"),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let difference = match (copy, both) {
            (Some(copy), Some(both)) => fmt_ns(Some(both - copy)),
            _ => "-".to_owned(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            case.id,
            case.wire.len(),
            fmt_ns(decode),
            replies,
            bytes,
            fmt_ns(copy),
            fmt_ns(both),
            difference
        );
    }
    println!();
    println!("| encode case | request bytes | time | requests/s | bytes/s |");
    println!("|---|---:|---:|---:|---:|");
    let encoder = Encoder::new();
    for case in encode_cases {
        let mut out = BytesMut::new();
        case.encode(&encoder, &mut out);
        let ns = median_ns(&dir, "encode", case.id, since)
            .or_else(|| median_ns(&dir, "encode_bytes", case.id, since));
        let (requests, bytes) = match ns {
            Some(ns) => (
                fmt_rate(1e9 / ns, ""),
                fmt_rate(out.len() as f64 * 1e9 / ns, "B"),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "| {} | {} | {} | {} | {} |",
            case.id,
            out.len(),
            fmt_ns(ns),
            requests,
            bytes
        );
    }
    if let Some(ns) = median_ns(&dir, "decode", "get_100B", since) {
        let verdict = if ns < 100.0 { "met" } else { "MISSED" };
        println!();
        println!("Target decode/get_100B < 100 ns per reply: {verdict} ({ns:.1} ns).");
    }
    let sizes = ["get_10KiB", "get_100KiB", "get_1MiB"];
    let decode: Vec<String> = sizes
        .iter()
        .map(|id| fmt_ns(median_ns(&dir, "decode_bytes", id, since)))
        .collect();
    let copy: Vec<String> = sizes
        .iter()
        .map(|id| fmt_ns(median_ns(&dir, "copy_only", id, since)))
        .collect();
    println!(
        "Scaling, 10 KiB / 100 KiB / 1 MiB values (100x the bytes): decode only {}; copy_only {}.",
        decode.join(" / "),
        copy.join(" / ")
    );
    println!("Decode stays within a small constant (values are split off the read buffer, not copied; the 1 MiB case adds cache/TLB misses on the header and trailing CRLF of a cold buffer) while the copy grows linearly.");
}

fn main() {
    let started = SystemTime::now();
    let decode_cases = decode_cases();
    let encode_cases = encode_cases();
    legend(&decode_cases, &encode_cases);
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args();
    decode(&mut criterion, &decode_cases);
    copy_and_decode(&mut criterion, &decode_cases);
    encode(&mut criterion, &encode_cases);
    criterion.final_summary();
    summary(&decode_cases, &encode_cases, started);
}
