//! `memcache-bench`: an end-to-end benchmark of `memcache_tokio::Client` against raw-socket
//! baselines measured in the same run, on the same memcached.
//!
//! It starts its own memcached on a free port of 127.0.0.1 (killed on exit) unless
//! `--server HOST:PORT` is given, preloads 1000 keys with 100-byte values and one 100 KiB
//! value, then runs each workload for `--duration-secs`, `--runs` times, interleaved, and
//! prints the median run of each as a markdown table:
//!
//! - **raw loop** (R1-R4): `--concurrency` tasks, each with its own TCP connection, write one
//!   request and read until its reply's terminator: the best a naive, non-pipelining client
//!   can do.
//! - **raw pipelined** (P1): one connection, a batch of `--batch` gets written at once, then
//!   all replies read: an upper bound for the wire.
//! - **client** (W1-W4, as in emcache's benchmark): `--concurrency` tasks sharing one
//!   client with `--connections` connections: get, set, get_many(100), get of 100 KiB.
//!
//! Run `memcache-bench --help` for the flags.
#![warn(clippy::missing_docs_in_private_items)]

mod server;
mod stats;
mod workload;

use std::sync::Arc;
use std::time::Duration;

use memcache_tokio::Client;

use crate::server::Server;
use crate::stats::{fmt_latency, fmt_rate, median, Sample};
use crate::workload::{Data, Op, Timing};

/// The usage text.
const USAGE: &str = "\
memcache-bench: memcache-tokio against raw-socket baselines, measured in the same run

USAGE: memcache-bench [FLAGS]

  --duration-secs N  measured seconds per workload and run (default 3)
  --runs N           runs of every workload; the median run is reported (default 3)
  --concurrency N    concurrent tasks, and connections of the raw loop (default 32)
  --connections N    the client's max connections (default 2)
  --batch N          gets per batch in the pipelined baseline (default 100)
  --threads N        tokio worker threads; 1 = current-thread runtime (default 1)
  --only IDS         run only these workloads, comma-separated (e.g. R1,W1,P1)
  --server HOST:PORT use this memcached instead of starting one (loopback only)
  --allow-remote     allow a non-loopback --server (its bench:* keys are overwritten)
  -h, --help         this text
";

/// Command-line settings.
#[derive(Debug, Clone)]
struct Args {
    /// Measured time per workload and run.
    duration: Duration,
    /// Runs of every workload.
    runs: usize,
    /// Concurrent tasks (and raw-loop connections).
    concurrency: usize,
    /// The client's max connections.
    connections: usize,
    /// Gets per pipelined batch.
    batch: usize,
    /// Tokio worker threads.
    threads: usize,
    /// An existing server to use.
    server: Option<String>,
    /// Allow a non-loopback server.
    allow_remote: bool,
    /// Run only the workloads with these ids (all when empty).
    only: Vec<String>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            duration: Duration::from_secs(3),
            runs: 3,
            concurrency: 32,
            connections: 2,
            batch: 100,
            threads: 1,
            server: None,
            allow_remote: false,
            only: Vec::new(),
        }
    }
}

/// Upper bounds on the flags, so a typo cannot start an endless or huge run.
const MAX_DURATION_SECS: u64 = 600;
/// See [`MAX_DURATION_SECS`].
const MAX_RUNS: usize = 100;
/// See [`MAX_DURATION_SECS`].
const MAX_TASKS: usize = 4096;

impl Args {
    /// Parses `args` (without the program name). `Ok(None)` means help was asked for.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
        let mut parsed = Args::default();
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            let number = |text: String, max: u64| -> Result<u64, String> {
                match text.parse::<u64>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(format!(
                        "{flag} takes a number from 1 to {max}, not {text:?}"
                    )),
                }
            };
            let max_tasks = MAX_TASKS as u64;
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--duration-secs" => {
                    parsed.duration = Duration::from_secs(number(value()?, MAX_DURATION_SECS)?);
                }
                "--runs" => parsed.runs = number(value()?, MAX_RUNS as u64)? as usize,
                "--concurrency" => parsed.concurrency = number(value()?, max_tasks)? as usize,
                "--connections" => parsed.connections = number(value()?, max_tasks)? as usize,
                "--batch" => parsed.batch = number(value()?, 1000)? as usize,
                "--threads" => parsed.threads = number(value()?, 64)? as usize,
                "--server" => parsed.server = Some(value()?),
                "--allow-remote" => parsed.allow_remote = true,
                "--only" => {
                    parsed.only = value()?
                        .split(',')
                        .map(|id| id.trim().to_owned())
                        .filter(|id| !id.is_empty())
                        .collect();
                }
                // `cargo bench` passes this to every bench target.
                "--bench" => {}
                other => return Err(format!("unknown flag {other:?}\n\n{USAGE}")),
            }
        }
        Ok(Some(parsed))
    }
}

/// One row of the report: a workload and its samples, one per run.
struct Row {
    /// Short id (R1, W1, ...).
    id: &'static str,
    /// What it does.
    what: String,
    /// Who drives the traffic and over how many connections.
    driver: String,
    /// One sample per run.
    samples: Vec<Sample>,
}

/// The workloads, in the order each run executes them: every client workload right after
/// its raw baseline, so each pair sees the same machine conditions.
#[derive(Clone, Copy)]
enum Step {
    /// Raw request/response loop.
    RawLoop(Op),
    /// Raw pipelined gets.
    Pipelined,
    /// Through the client with no timeout.
    Client(Op),
    /// Through the client with the default 1 s timeout (W1 only).
    ClientDefaultTimeout,
}

/// The steps and their report labels.
fn plan(args: &Args) -> Vec<(&'static str, Step, String, String)> {
    let raw = format!("raw loop, {} conns", args.concurrency);
    let client = format!(
        "client, {} tasks, {} conns",
        args.concurrency, args.connections
    );
    vec![
        (
            "R1",
            Step::RawLoop(Op::Get),
            Op::Get.describe().into(),
            raw.clone(),
        ),
        (
            "W1",
            Step::Client(Op::Get),
            Op::Get.describe().into(),
            client.clone(),
        ),
        (
            "W1t",
            Step::ClientDefaultTimeout,
            format!("{} (default 1 s timeout)", Op::Get.describe()),
            client.clone(),
        ),
        (
            "R2",
            Step::RawLoop(Op::Set),
            Op::Set.describe().into(),
            raw.clone(),
        ),
        (
            "W2",
            Step::Client(Op::Set),
            Op::Set.describe().into(),
            client.clone(),
        ),
        (
            "R3",
            Step::RawLoop(Op::GetMany),
            Op::GetMany.describe().into(),
            raw.clone(),
        ),
        (
            "W3",
            Step::Client(Op::GetMany),
            Op::GetMany.describe().into(),
            client.clone(),
        ),
        (
            "R4",
            Step::RawLoop(Op::GetLarge),
            Op::GetLarge.describe().into(),
            raw,
        ),
        (
            "W4",
            Step::Client(Op::GetLarge),
            Op::GetLarge.describe().into(),
            client,
        ),
        (
            "P1",
            Step::Pipelined,
            format!("get, 100 B value, batches of {}", args.batch),
            "raw pipelined, 1 conn".to_owned(),
        ),
    ]
}

/// Builds the client under test.
fn build_client(args: &Args, server: &Server, timeout: Option<Duration>) -> Result<Client, String> {
    Client::builder([server.addr.to_string()])
        .max_connections(args.connections)
        .timeout(timeout)
        .build()
        .map_err(|error| format!("cannot build the client: {error}"))
}

/// Warms a client up: opens its connections and runs a few hundred operations.
async fn warm_up(client: &Client, data: &Data) -> Result<(), String> {
    for key in data.keys.iter().take(200) {
        client
            .get(key)
            .await
            .map_err(|error| format!("warm-up get failed: {error}"))?;
    }
    Ok(())
}

/// Runs everything and prints the report.
async fn run(args: Args) -> Result<(), String> {
    let server = match &args.server {
        Some(addr) => Server::external(addr, args.allow_remote)?,
        None => Server::spawn()?,
    };
    let data = Arc::new(Data::new());
    data.preload(server.addr).await?;
    let client = build_client(&args, &server, None)?;
    let timed_client = build_client(&args, &server, Some(Duration::from_secs(1)))?;
    warm_up(&client, &data).await?;
    warm_up(&timed_client, &data).await?;
    let timing = Timing {
        duration: args.duration,
        server_pid: server.pid(),
    };
    let raw_plans: Vec<(Op, Arc<workload::RawPlan>)> =
        [Op::Get, Op::Set, Op::GetMany, Op::GetLarge]
            .into_iter()
            .map(|op| (op, Arc::new(data.raw_plan(op))))
            .collect();
    let steps: Vec<_> = plan(&args)
        .into_iter()
        .filter(|(id, ..)| {
            args.only.is_empty() || args.only.iter().any(|only| only.eq_ignore_ascii_case(id))
        })
        .collect();
    if steps.is_empty() {
        let ids: Vec<&str> = plan(&args).iter().map(|(id, ..)| *id).collect();
        return Err(format!(
            "--only matches no workload; the ids are {}",
            ids.join(",")
        ));
    }
    let mut rows: Vec<Row> = steps
        .iter()
        .map(|(id, _, what, driver)| Row {
            id,
            what: what.clone(),
            driver: driver.clone(),
            samples: Vec::new(),
        })
        .collect();

    let total = args.duration * (args.runs * steps.len()) as u32;
    eprintln!(
        "memcache-bench: {} workloads x {} runs x {} s = about {} s; server {} ({})",
        steps.len(),
        args.runs,
        args.duration.as_secs(),
        total.as_secs(),
        server.addr,
        server.origin
    );
    for run in 1..=args.runs {
        for (row, (id, step, _, _)) in rows.iter_mut().zip(&steps) {
            let sample = match *step {
                Step::RawLoop(op) => {
                    let plan = &raw_plans
                        .iter()
                        .find(|(planned, _)| *planned == op)
                        .ok_or("no raw plan")?
                        .1;
                    workload::raw_loop(server.addr, plan, args.concurrency, timing).await
                }
                Step::Pipelined => {
                    workload::pipelined(server.addr, &data, args.batch, timing).await
                }
                Step::Client(op) => {
                    workload::through_client(&client, op, &data, args.concurrency, timing).await
                }
                Step::ClientDefaultTimeout => {
                    workload::through_client(
                        &timed_client,
                        Op::Get,
                        &data,
                        args.concurrency,
                        timing,
                    )
                    .await
                }
            };
            eprintln!(
                "  run {run}/{} {id:<4} {:>12} ops/s  p50 {:>8}  p99 {:>8}  errors {}",
                args.runs,
                fmt_rate(sample.ops_per_sec),
                fmt_latency(sample.p50),
                fmt_latency(sample.p99),
                sample.errors
            );
            row.samples.push(sample);
        }
    }
    report(&args, &server, &rows, &client);
    Ok(())
}

/// Prints the markdown report.
fn report(args: &Args, server: &Server, rows: &[Row], client: &Client) {
    let threads = if args.threads == 1 {
        "current-thread runtime".to_owned()
    } else {
        format!("multi-thread runtime, {} workers", args.threads)
    };
    println!();
    println!("## memcache-bench");
    println!();
    println!(
        "memcached {} at {} ({}); tokio {}; {} CPUs; {} s per workload, median of {} run(s) by ops/s.",
        server.version,
        server.addr,
        server.origin,
        threads,
        std::thread::available_parallelism().map_or(0, usize::from),
        args.duration.as_secs(),
        args.runs
    );
    println!(
        "Client: memcache_tokio::Client, max_connections {}, timeout None (W1t: default 1 s). \
         Data: {} keys x {} B preloaded, one {} KiB value.",
        args.connections,
        workload::KEY_COUNT,
        workload::SMALL_VALUE,
        workload::LARGE_VALUE / 1024
    );
    println!();
    println!("| id | workload | driver | ops/s | keys/s | MB/s (values) | p50 | p99 | client CPU | server CPU | errors | ops/s of each run |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in rows {
        let Some(sample) = median(&row.samples) else {
            continue;
        };
        let runs: Vec<String> = row
            .samples
            .iter()
            .map(|s| fmt_rate(s.ops_per_sec))
            .collect();
        let latency_note = if row.id == "P1" { " per batch" } else { "" };
        println!(
            "| {} | {} | {} | {} | {} | {:.1} | {}{} | {}{} | {} | {} | {} | {} |",
            row.id,
            row.what,
            row.driver,
            fmt_rate(sample.ops_per_sec),
            fmt_rate(sample.keys_per_sec),
            sample.bytes_per_sec / 1e6,
            fmt_latency(sample.p50),
            latency_note,
            fmt_latency(sample.p99),
            latency_note,
            percent(sample.client_cpu),
            sample.server_cpu.map_or("n/a".to_owned(), percent),
            sample.errors,
            runs.join(" / ")
        );
    }
    println!();
    println!("CPU: process time / wall time, 100% = one core; the benchmark process holds both the client (or raw baseline) and the load generator.");
    println!();
    println!("### Client vs raw baselines (same run)");
    println!();
    println!("| workload | client ops/s | raw loop ops/s | client / raw loop | client keys/s / pipelined keys/s |");
    println!("|---|---:|---:|---:|---:|");
    let find = |id: &str| {
        rows.iter()
            .find(|row| row.id == id)
            .and_then(|row| median(&row.samples))
    };
    let pipelined = find("P1");
    for (client_id, raw_id) in [
        ("W1", "R1"),
        ("W1t", "R1"),
        ("W2", "R2"),
        ("W3", "R3"),
        ("W4", "R4"),
    ] {
        let (Some(ours), Some(raw), Some(row)) = (
            find(client_id),
            find(raw_id),
            rows.iter().find(|row| row.id == client_id),
        ) else {
            continue;
        };
        let versus_pipe = match (pipelined, client_id) {
            (Some(pipe), "W1" | "W1t" | "W3") if pipe.keys_per_sec > 0.0 => {
                format!("{:.2}", ours.keys_per_sec / pipe.keys_per_sec)
            }
            _ => "-".to_owned(),
        };
        println!(
            "| {client_id} {} | {} | {} | {:.2} | {} |",
            row.what,
            fmt_rate(ours.ops_per_sec),
            fmt_rate(raw.ops_per_sec),
            ratio(ours.ops_per_sec, raw.ops_per_sec),
            versus_pipe
        );
    }
    println!();
    println!("client / raw loop > 1: the client (pipelining {} tasks over {} connections) beats {} blocking connections.", args.concurrency, args.connections, args.concurrency);
    println!("The pipelined column compares keys/s with P1 (100 B gets, 1 connection, batches of {}): how close the client gets to the wire.", args.batch);
    for (node, metrics) in client.metrics() {
        println!(
            "Client pool {node}: {} connections open, {} created, {} requests, {} waited for a connection, {} failed.",
            metrics.connections,
            metrics.connections_created,
            metrics.requests,
            metrics.requests_waited,
            metrics.requests_failed
        );
    }
    let errors: Vec<String> = rows
        .iter()
        .flat_map(|row| {
            row.samples.iter().filter_map(move |sample| {
                Some(format!("{}: {}", row.id, sample.first_error.as_ref()?))
            })
        })
        .collect();
    if !errors.is_empty() {
        println!();
        println!("First errors: {}", errors.join("; "));
    }
}

/// `a / b`, or 0 when `b` is 0.
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// A CPU share as a percentage.
fn percent(share: f64) -> String {
    if share.is_nan() {
        "n/a".to_owned()
    } else {
        format!("{:.0}%", share * 100.0)
    }
}

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return;
        }
        Err(error) => {
            eprintln!("memcache-bench: {error}");
            std::process::exit(2);
        }
    };
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("memcache-bench: cannot start tokio: {error}");
            std::process::exit(1);
        }
    };
    if let Err(error) = runtime.block_on(run(args)) {
        eprintln!("memcache-bench: {error}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a command line given as one string.
    fn parse(line: &str) -> Result<Option<Args>, String> {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn defaults_and_flags() {
        let args = parse("").unwrap().unwrap();
        assert_eq!(args.duration, Duration::from_secs(3));
        assert_eq!((args.runs, args.concurrency, args.connections), (3, 32, 2));
        let args = parse("--duration-secs 2 --runs 1 --concurrency 8 --connections 4 --bench")
            .unwrap()
            .unwrap();
        assert_eq!(args.duration, Duration::from_secs(2));
        assert_eq!((args.runs, args.concurrency, args.connections), (1, 8, 4));
        assert!(parse("--help").unwrap().is_none());
        assert!(parse("--runs 0").is_err());
        assert!(parse("--duration-secs 100000").is_err());
        assert!(parse("--bogus").is_err());
        assert!(parse("--runs").is_err());
    }
}
