//! The markdown report: one table per runtime, the client beside the raw loop of the same
//! run.

use crate::data::{Op, KEY_COUNT, LARGE_VALUE, MULTI_KEYS, SMALL_VALUE};
use crate::server::Server;
use crate::stats::{fmt_latency, fmt_rate, median, Sample};

/// One workload's samples, one per run, on both sides.
pub(crate) struct Row {
    /// The operation.
    op: Op,
    /// Whether the client autobatched.
    autobatch: bool,
    /// The raw loop's samples.
    pub(crate) raw: Vec<Sample>,
    /// The client's samples.
    pub(crate) client: Vec<Sample>,
    /// The peer client's samples (tokio runs).
    pub(crate) peer: Vec<Sample>,
}

impl Row {
    /// An empty row.
    pub(crate) fn new(op: Op, autobatch: bool) -> Row {
        Row {
            op,
            autobatch,
            raw: Vec::new(),
            client: Vec::new(),
            peer: Vec::new(),
        }
    }

    /// What divides the row's per-operation figures to give them per key: the keys of a
    /// call, unless its samples count one operation per key already.
    fn per_key_divisor(&self) -> f64 {
        (self.op.keys() / self.op.ops_per_call()) as f64
    }

    /// How the report names the workload.
    pub(crate) fn what(&self) -> String {
        if self.autobatch {
            format!("{}, autobatching", self.op.describe())
        } else {
            self.op.describe().to_owned()
        }
    }
}

/// Everything measured on one runtime.
pub(crate) struct Section {
    /// The runtime.
    pub(crate) label: String,
    /// The workloads.
    pub(crate) rows: Vec<Row>,
    /// The client's pool counters at the end.
    pub(crate) pools: Vec<String>,
}

/// What the report says about the setup.
pub(crate) struct Setup<'a> {
    /// The server.
    pub(crate) server: &'a Server,
    /// The run settings, in words.
    pub(crate) args: &'a str,
    /// Whether the server and the benchmark ran on separate pinned CPUs.
    pub(crate) pinned: bool,
    /// CPUs of the machine.
    pub(crate) cpus: usize,
}

/// `a / b`, or NaN when `b` is 0.
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

/// Prints the whole report.
pub(crate) fn print(setup: &Setup<'_>, sections: &[Section]) {
    println!();
    println!("## memcache-bench");
    println!();
    println!(
        "memcached {}, {}; {} CPUs{}. {}. Data: {KEY_COUNT} keys of {SMALL_VALUE} B, one value of {} KiB.",
        setup.server.version,
        setup.server.origin,
        setup.cpus,
        if setup.pinned {
            "; the benchmark pinned to CPU 1"
        } else {
            ", nothing pinned"
        },
        setup.args,
        LARGE_VALUE / 1024
    );
    println!();
    println!("CPU: user + system time of the benchmark process per operation (the client or raw loop and the tasks driving it). Allocations: per operation, same process. get_many: CPU per key, ops/s and allocations per call; set_many: every figure per key. Ratios: client / raw loop of the same run. Peer: async-memcached, one client (connection) per task, on tokio runs.");
    for section in sections {
        println!();
        println!("### {}", section.label);
        println!();
        println!("| workload | raw ops/s | client ops/s | ops/s ratio | raw CPU µs/op | client CPU µs/op | CPU ratio | raw allocs/op | client allocs/op | client p50 | client p99 | server CPU | peer ops/s | peer CPU µs/op | errors |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for row in &section.rows {
            let (Some(raw), Some(ours)) = (median(&row.raw), median(&row.client)) else {
                continue;
            };
            // A multi-key call is compared per key.
            let keys = row.per_key_divisor();
            let (raw_cpu, our_cpu) = (raw.cpu_per_op / keys, ours.cpu_per_op / keys);
            let peer = median(&row.peer);
            let (peer_rate, peer_cpu) =
                peer.as_ref()
                    .map_or(("-".to_owned(), "-".to_owned()), |peer| {
                        (
                            fmt_rate(peer.ops_per_sec),
                            format!("{:.3}", peer.cpu_per_op / keys),
                        )
                    });
            let peer_errors = peer.as_ref().map_or(0, |peer| peer.errors);
            let per_key = if row.op.keys() > 1 { " (per key)" } else { "" };
            println!(
                "| {}{per_key} | {} | {} | {:.2} | {:.3} | {:.3} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {peer_rate} | {peer_cpu} | {} |",
                row.what(),
                fmt_rate(raw.ops_per_sec),
                fmt_rate(ours.ops_per_sec),
                ratio(ours.ops_per_sec, raw.ops_per_sec),
                raw_cpu,
                our_cpu,
                ratio(our_cpu, raw_cpu),
                raw.allocs_per_op,
                ours.allocs_per_op,
                fmt_latency(ours.p50),
                fmt_latency(ours.p99),
                ours.server_cpu
                    .map_or("n/a".to_owned(), |share| format!("{:.0}%", share * 100.0)),
                raw.errors + ours.errors + peer_errors,
            );
        }
        if let Some(line) = set_many_summary(&section.rows) {
            println!();
            println!("{line}");
        }
        for pool in &section.pools {
            println!();
            println!("Client pool {pool}.");
        }
        let errors: Vec<String> = section
            .rows
            .iter()
            .flat_map(|row| {
                let raw = row.raw.iter().filter_map(|s| s.first_error.clone());
                let ours = row.client.iter().filter_map(|s| s.first_error.clone());
                let peer = row.peer.iter().filter_map(|s| s.first_error.clone());
                raw.chain(ours)
                    .chain(peer)
                    .map(move |error| format!("{}: {error}", row.what()))
            })
            .take(5)
            .collect();
        if !errors.is_empty() {
            println!();
            println!("First errors: {}", errors.join("; "));
        }
    }
}

/// The batched-set line: `set_many`'s medians per key, against its raw loop and, when the
/// same run measured single sets, against the client's CPU per single `set`.
fn set_many_summary(rows: &[Row]) -> Option<String> {
    let row = rows.iter().find(|row| row.op == Op::SetMany)?;
    let (raw, ours) = (median(&row.raw)?, median(&row.client)?);
    let mut line = format!(
        "set_many ({MULTI_KEYS} keys per call, counted per key): client {} keys/s, {:.3} CPU µs/key, {:.2} allocs/key; raw loop (batches of {MULTI_KEYS} quiet `ms` + `mn`, as many in flight as the client keeps) {:.3} CPU µs/key: ratio {:.2} against the raw loop",
        fmt_rate(ours.ops_per_sec),
        ours.cpu_per_op,
        ours.allocs_per_op,
        raw.cpu_per_op,
        ratio(ours.cpu_per_op, raw.cpu_per_op),
    );
    let single = rows
        .iter()
        .find(|row| row.op == Op::Set && !row.autobatch)
        .and_then(|row| median(&row.client));
    match single {
        Some(single) => line.push_str(&format!(
            "; ratio {:.2} against the `set` workload's client, {:.3} CPU µs per single set, same run.",
            ratio(ours.cpu_per_op, single.cpu_per_op),
            single.cpu_per_op,
        )),
        None => line.push_str("; the `set` workload did not run, so no ratio against single sets."),
    }
    Some(line)
}
