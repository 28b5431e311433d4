//! `memcache-bench`: the client end to end against a raw pipelined socket loop, measured in
//! the same run on the same memcached, as CPU time and allocations per operation.
//!
//! It starts its own memcached (`-t 1` unless `--server-threads` says otherwise) on a free port of 127.0.0.1, pinned to the first
//! CPU while the benchmark pins itself to the second (when there are two and `taskset`
//! exists), preloads 1000 keys with 100-byte values and one 100 KiB value, then, on each
//! runtime asked for, runs every workload `--runs` times for `--duration-secs` each,
//! interleaved, and prints the medians as markdown tables:
//!
//! - **raw loop**: `--connections` connections, each with its share of `--concurrency`
//!   requests in flight, written in one write per round and parsed in place (see
//!   [`raw`]): the floor.
//! - **client**: `--concurrency` tasks sharing one client with `--connections`
//!   connections and the default configuration, each awaiting one call at a time; and the
//!   same gets with autobatching on.
//! - **set_many**: each client task stores 100 keys per `set_many` call, and the raw loop
//!   keeps as many batches of 100 quiet meta sets (each ended by `mn`) in flight; both are
//!   counted per key. The peer has no batched set and is skipped.
//!
//! Run `memcache-bench --help` for the flags.
#![warn(clippy::missing_docs_in_private_items)]

mod alloc;
mod chart;
mod data;
mod load;
mod peer;
mod raw;
mod report;
mod server;
mod stats;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::{select, Either};
use memcache_core::{Client, Runtime, SocketOptions};

use crate::data::{Data, Op};
use crate::raw::RawPlan;
use crate::report::{Row, Section};
use crate::server::Server;
use crate::stats::{fmt_latency, fmt_rate, summarize, Meter, Sample, Stop, TaskStats};

/// Counts allocations for the report.
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// The usage text.
const USAGE: &str = "\
memcache-bench: the client against a raw pipelined socket loop, same run, same server

USAGE: memcache-bench [FLAGS]

  --runtime LIST     runtimes, comma-separated: tokio (current-thread), tokio-mt,
                     async-std (default: all three)
  --duration-secs N  measured seconds per workload and run (default 2)
  --runs N           runs of every workload; medians are reported (default 3)
  --concurrency N    client tasks, and requests in flight in the raw loop (default 32)
  --connections N    connections of the client and of the raw loop (default 2)
  --threads N        worker threads of the tokio-mt runtime (default 1: the
                     benchmark's share of a pinned run is one CPU)
  --server-threads N memcached's worker threads, -t (default 1)
  --only IDS         run only these workloads:
                     get,autobatch,set,get_many,large,set_many
  --no-coalesce      build the client with coalesce_writes(false)
  --svg PATH         also write the CPU ratios as an SVG chart to PATH
  --warm-heap        warm the allocator up before measuring, as a long-running
                     service's would be (see `warm_allocator`); by default the
                     process is as fresh as a user's service at its start
  --client-only      skip the raw loop and the peer (to profile the client alone)
  --no-peer          skip the peer (async-memcached, tokio runs only)
  --no-pin           do not pin memcached and the benchmark to separate CPUs
  --server HOST:PORT use this memcached instead of starting one (loopback only)
  --allow-remote     allow a non-loopback --server (its bench:* keys are overwritten)
  -h, --help         this text
";

/// A runtime the client and the baseline run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuntimeKind {
    /// tokio's current-thread runtime.
    Tokio,
    /// tokio's multi-thread runtime.
    TokioMulti,
    /// async-std.
    AsyncStd,
}

impl RuntimeKind {
    /// Parses one name of `--runtime`.
    fn parse(name: &str) -> Option<RuntimeKind> {
        match name {
            "tokio" => Some(RuntimeKind::Tokio),
            "tokio-mt" => Some(RuntimeKind::TokioMulti),
            "async-std" => Some(RuntimeKind::AsyncStd),
            _ => None,
        }
    }
}

/// Command-line settings.
#[derive(Debug, Clone)]
struct Args {
    /// Runtimes to measure on, in order.
    runtimes: Vec<RuntimeKind>,
    /// Measured time per workload and run.
    duration: Duration,
    /// Runs of every workload.
    runs: usize,
    /// Client tasks, and requests in flight in the raw loop.
    concurrency: usize,
    /// Connections of the client and of the raw loop.
    connections: usize,
    /// Worker threads of the multi-thread tokio runtime.
    threads: usize,
    /// memcached's worker threads.
    server_threads: usize,
    /// Workloads to run (all when empty).
    only: Vec<String>,
    /// Pin the server and the benchmark to separate CPUs.
    pin: bool,
    /// Skip the raw loop and the peer.
    client_only: bool,
    /// Skip the peer.
    no_peer: bool,
    /// Build the client without write coalescing.
    no_coalesce: bool,
    /// Warm the allocator up before measuring.
    warm_heap: bool,
    /// Also write the report as a chart to this file.
    svg: Option<String>,
    /// An existing server to use.
    server: Option<String>,
    /// Allow a non-loopback server.
    allow_remote: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            runtimes: vec![
                RuntimeKind::Tokio,
                RuntimeKind::TokioMulti,
                RuntimeKind::AsyncStd,
            ],
            duration: Duration::from_secs(2),
            runs: 3,
            concurrency: 32,
            connections: 2,
            threads: 1,
            server_threads: 1,
            only: Vec::new(),
            pin: true,
            client_only: false,
            no_peer: false,
            no_coalesce: false,
            warm_heap: false,
            svg: None,
            server: None,
            allow_remote: false,
        }
    }
}

/// Upper bounds on the flags, so a typo cannot start an endless or huge run.
const MAX_DURATION_SECS: u64 = 600;
/// See [`MAX_DURATION_SECS`].
const MAX_RUNS: u64 = 100;
/// See [`MAX_DURATION_SECS`].
const MAX_TASKS: u64 = 4096;

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
            let list = |text: String| -> Vec<String> {
                text.split(',')
                    .map(|item| item.trim().to_owned())
                    .filter(|item| !item.is_empty())
                    .collect()
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--runtime" => {
                    parsed.runtimes = list(value()?)
                        .iter()
                        .map(|name| {
                            RuntimeKind::parse(name)
                                .ok_or_else(|| format!("unknown runtime {name:?}"))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "--duration-secs" => {
                    parsed.duration = Duration::from_secs(number(value()?, MAX_DURATION_SECS)?);
                }
                "--runs" => parsed.runs = number(value()?, MAX_RUNS)? as usize,
                "--concurrency" => parsed.concurrency = number(value()?, MAX_TASKS)? as usize,
                "--connections" => parsed.connections = number(value()?, MAX_TASKS)? as usize,
                "--threads" => parsed.threads = number(value()?, 64)? as usize,
                "--server-threads" => parsed.server_threads = number(value()?, 64)? as usize,
                "--only" => {
                    parsed.only = list(value()?);
                    if let Some(unknown) = parsed
                        .only
                        .iter()
                        .find(|name| !PLAN.iter().any(|w| w.name == name.as_str()))
                    {
                        return Err(format!(
                            "unknown workload {unknown:?}; the workloads are {}",
                            PLAN.map(|w| w.name).join(",")
                        ));
                    }
                }
                "--no-pin" => parsed.pin = false,
                "--client-only" => parsed.client_only = true,
                "--no-peer" => parsed.no_peer = true,
                "--no-coalesce" => parsed.no_coalesce = true,
                "--warm-heap" => parsed.warm_heap = true,
                "--svg" => parsed.svg = Some(value()?),
                "--server" => parsed.server = Some(value()?),
                "--allow-remote" => parsed.allow_remote = true,
                // `cargo bench` passes this to every bench target.
                "--bench" => {}
                other => return Err(format!("unknown flag {other:?}\n\n{USAGE}")),
            }
        }
        if parsed.runtimes.is_empty() {
            return Err("--runtime names no runtime".to_owned());
        }
        if parsed.connections > parsed.concurrency {
            return Err("--connections may not exceed --concurrency".to_owned());
        }
        Ok(Some(parsed))
    }

    /// Whether workload `name` runs.
    fn runs(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|only| only == name)
    }
}

/// What every section shares: the settings, the server and the data.
struct Bench {
    /// The settings.
    args: Args,
    /// The server.
    server: Server,
    /// Keys and values.
    data: Arc<Data>,
}

/// One comparison: the raw loop and the client doing the same operation.
#[derive(Clone, Copy)]
struct Workload {
    /// The `--only` name.
    name: &'static str,
    /// The operation.
    op: Op,
    /// Whether the client merges concurrent gets (autobatching).
    autobatch: bool,
}

/// The workloads, in the order each run executes them.
const PLAN: [Workload; 6] = [
    Workload {
        name: "get",
        op: Op::Get,
        autobatch: false,
    },
    Workload {
        name: "autobatch",
        op: Op::Get,
        autobatch: true,
    },
    Workload {
        name: "set",
        op: Op::Set,
        autobatch: false,
    },
    Workload {
        name: "get_many",
        op: Op::GetMany,
        autobatch: false,
    },
    Workload {
        name: "large",
        op: Op::GetLarge,
        autobatch: false,
    },
    Workload {
        name: "set_many",
        op: Op::SetMany,
        autobatch: false,
    },
];

impl Bench {
    /// Measures every workload on runtime `runtime` (already entered).
    async fn section<R: Runtime + Default>(
        &self,
        runtime: R,
        label: String,
        with_peer: bool,
    ) -> Result<Section, String> {
        let args = &self.args;
        let client = self.client::<R>(false).await?;
        let batching = self.client::<R>(true).await?;
        let workloads: Vec<Workload> = PLAN.into_iter().filter(|w| args.runs(w.name)).collect();
        let mut rows: Vec<Row> = workloads
            .iter()
            .map(|w| Row::new(w.op, w.autobatch))
            .collect();
        for run in 1..=args.runs {
            for (row, workload) in rows.iter_mut().zip(&workloads) {
                let raw = if args.client_only {
                    Sample::default()
                } else {
                    self.raw(&runtime, workload.op).await
                };
                let which = if workload.autobatch {
                    &batching
                } else {
                    &client
                };
                let ours = self.through_client(&runtime, which, workload.op).await;
                let peer = if with_peer
                    && !workload.autobatch
                    && peer::has(workload.op)
                    && !args.client_only
                    && !args.no_peer
                {
                    Some(self.through_peer(&runtime, workload.op).await)
                } else {
                    None
                };
                eprintln!(
                    "  {label} run {run}/{} {:<28} raw {:>10} ops/s {:>6.2} µs/op | client {:>10} ops/s {:>6.2} µs/op {:>5.2} allocs/op p50 {}",
                    args.runs,
                    row.what(),
                    fmt_rate(raw.ops_per_sec),
                    raw.cpu_per_op,
                    fmt_rate(ours.ops_per_sec),
                    ours.cpu_per_op,
                    ours.allocs_per_op,
                    fmt_latency(ours.p50),
                );
                row.raw.push(raw);
                row.client.push(ours);
                row.peer.extend(peer);
            }
        }
        let pools = client
            .metrics()
            .into_iter()
            .map(|(node, metrics)| {
                format!(
                    "{node}: {} connections open, {} created, {} requests, {} waited for room, {} failed",
                    metrics.connections,
                    metrics.connections_created,
                    metrics.requests,
                    metrics.requests_waited,
                    metrics.requests_failed
                )
            })
            .collect();
        client.close().await;
        batching.close().await;
        Ok(Section { label, rows, pools })
    }

    /// A warmed-up client with the default configuration but for the connection count.
    async fn client<R: Runtime + Default>(&self, autobatch: bool) -> Result<Client<R>, String> {
        let client = Client::<R>::builder([self.server.addr.to_string()])
            .max_connections(self.args.connections)
            .autobatching(autobatch)
            .coalesce_writes(!self.args.no_coalesce)
            .build()
            .map_err(|error| format!("cannot build the client: {error}"))?;
        for key in self.data.keys.iter().take(200) {
            client
                .get(key)
                .await
                .map_err(|error| format!("warm-up get failed: {error}"))?;
        }
        Ok(client)
    }

    /// One run of the raw loop for `op`.
    async fn raw<R: Runtime>(&self, runtime: &R, op: Op) -> Sample {
        let plan = Arc::new(RawPlan::new(&self.data, op));
        let connections = self.args.connections;
        let sockets = match connect_all(connections, || self.connect(runtime)).await {
            Ok(sockets) => sockets,
            Err(error) => return failed_sample(error),
        };
        self.measure(runtime, |stop| {
            sockets
                .into_iter()
                .enumerate()
                .map(|(index, socket)| {
                    // Spread the requests in flight over the connections (for set_many,
                    // batches: as many in flight as the client's tasks keep).
                    let round = (self.args.concurrency + connections - 1 - index) / connections;
                    raw::raw_task(socket, plan.clone(), round, stop.clone(), index as u64 + 1)
                })
                .collect()
        })
        .await
    }

    /// One run of `op` through `client`.
    async fn through_client<R: Runtime>(&self, runtime: &R, client: &Client<R>, op: Op) -> Sample {
        self.measure(runtime, |stop| {
            (0..self.args.concurrency)
                .map(|index| {
                    let seed = index as u64 + 1;
                    load::client_task(client.clone(), op, self.data.clone(), stop.clone(), seed)
                })
                .collect()
        })
        .await
    }

    /// One run of `op` through the peer client, one connection per task.
    async fn through_peer<R: Runtime>(&self, runtime: &R, op: Op) -> Sample {
        let connect = || peer::connect(self.server.addr);
        let clients = match connect_all(self.args.concurrency, connect).await {
            Ok(clients) => clients,
            Err(error) => return failed_sample(error),
        };
        self.measure(runtime, |stop| {
            clients
                .into_iter()
                .enumerate()
                .map(|(index, client)| {
                    let seed = index as u64 + 1;
                    peer::peer_task(client, op, self.data.clone(), stop.clone(), seed)
                })
                .collect()
        })
        .await
    }

    /// Runs the tasks `make` builds around a stop signal for the measured duration, and
    /// sums up what they did, with the process's CPU time and allocations meanwhile.
    async fn measure<R: Runtime, F>(
        &self,
        runtime: &R,
        make: impl FnOnce(&Stop) -> Vec<F>,
    ) -> Sample
    where
        F: Future<Output = TaskStats> + Send + 'static,
    {
        let stop = Stop::default();
        let tasks = make(&stop);
        let timer = runtime.sleep(self.args.duration);
        let meter = Meter::start(self.server.pid());
        let deadline = Instant::now() + self.args.duration;
        runtime.spawn(async move {
            timer.await;
            stop.set();
        });
        let running = tasks.into_iter().map(|task| spawn(runtime, task)).collect();
        summarize(join(runtime, running, deadline).await, &meter)
    }

    /// A raw connection to the server.
    async fn connect<R: Runtime>(
        &self,
        runtime: &R,
    ) -> Result<Box<dyn memcache_core::Socket>, String> {
        let addr = self.server.addr;
        runtime
            .connect_tcp(
                &addr.ip().to_string(),
                addr.port(),
                &SocketOptions::default(),
            )
            .await
            .map_err(|error| format!("connect to {addr}: {error}"))
    }
}

/// How long past its deadline a task may run before it is counted as failed.
const GRACE: Duration = Duration::from_secs(10);

/// Runs `task` on `runtime`, handing its result back.
fn spawn<R: Runtime, T: Send + 'static>(
    runtime: &R,
    task: impl Future<Output = T> + Send + 'static,
) -> oneshot::Receiver<T> {
    let (sender, receiver) = oneshot::channel();
    runtime.spawn(async move {
        let _ = sender.send(task.await);
    });
    receiver
}

/// Waits for every task, giving up on those still running [`GRACE`] after `deadline`.
async fn join<R: Runtime>(
    runtime: &R,
    tasks: Vec<oneshot::Receiver<TaskStats>>,
    deadline: Instant,
) -> Vec<TaskStats> {
    let mut results = Vec::with_capacity(tasks.len());
    let limit = deadline + GRACE;
    for task in tasks {
        let timer = runtime.sleep(limit.saturating_duration_since(Instant::now()));
        futures::pin_mut!(timer);
        results.push(match select(task, timer).await {
            Either::Left((Ok(stats), _)) => stats,
            Either::Left((Err(oneshot::Canceled), _)) => failed_task("task ended without a result"),
            Either::Right(_) => failed_task("task overran its deadline"),
        });
    }
    results
}

/// Stats of a task that produced none.
fn failed_task(error: &str) -> TaskStats {
    let mut stats = TaskStats::default();
    stats.failure(|| error.to_owned());
    stats.finish()
}

/// `count` connections opened one after another by `connect`, or the first failure.
async fn connect_all<T, F, Fut>(count: usize, mut connect: F) -> Result<Vec<T>, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut all = Vec::with_capacity(count);
    for _ in 0..count {
        all.push(connect().await?);
    }
    Ok(all)
}

/// A sample that records only a setup failure.
fn failed_sample(error: String) -> Sample {
    Sample {
        errors: 1,
        first_error: Some(error),
        ..Sample::default()
    }
}

/// Pins this thread, and so every thread started after it, to CPU `cpu`.
fn pin_self(cpu: usize) -> Result<(), String> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set)
        .map_err(|error| format!("cannot pin to CPU {cpu}: {error}"))
}

/// Whether `taskset` can be run.
fn has_taskset() -> bool {
    std::process::Command::new("taskset")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Makes the process's heap behave like that of a service that has run for a while
/// (`--warm-heap`; off by default, so the figures are those of a fresh process).
///
/// glibc's allocator returns the top of the heap to the kernel whenever more than 128 KiB
/// of it is free, until the process frees one large (memory-mapped) block, after which it
/// raises that threshold. A fresh process whose only large allocations are 100 KiB values
/// therefore faults every value's pages in again, about 25 page faults per value, where a
/// process that has freed one large buffer (any service soon has) reuses them. Freeing one
/// 4 MiB block here puts every workload in the second state, whatever ran before it. The
/// raw loop allocates nothing per operation, so this changes only the client's and the
/// peer's figures: the flag shows how much a client depends on it.
fn warm_allocator() {
    drop(std::hint::black_box(vec![1u8; 4 << 20]));
}

/// Sets up the server and data, then measures on each runtime.
fn run(args: Args) -> Result<(), String> {
    if args.warm_heap {
        warm_allocator();
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let pinned = args.pin && args.server.is_none() && cpus >= 2 && has_taskset();
    let server = match &args.server {
        Some(addr) => Server::external(addr, args.allow_remote)?,
        None => Server::spawn(args.server_threads, pinned.then_some(0))?,
    };
    if pinned {
        pin_self(1)?;
    }
    let bench = Bench {
        args,
        server,
        data: Arc::new(Data::new()),
    };
    let workloads = PLAN.iter().filter(|w| bench.args.runs(w.name)).count();
    let seconds = bench.args.duration.as_secs()
        * (2 * workloads * bench.args.runs * bench.args.runtimes.len()) as u64;
    eprintln!(
        "memcache-bench: {} runtime(s) x {workloads} workloads x {} runs x 2 sides x {} s = about {seconds} s; server {}",
        bench.args.runtimes.len(),
        bench.args.runs,
        bench.args.duration.as_secs(),
        bench.server.addr,
    );
    let mut sections = Vec::new();
    for kind in bench.args.runtimes.clone() {
        let section = match kind {
            RuntimeKind::Tokio | RuntimeKind::TokioMulti => {
                let (runtime, label) = if kind == RuntimeKind::Tokio {
                    (
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build(),
                        "tokio current-thread".to_owned(),
                    )
                } else {
                    (
                        tokio::runtime::Builder::new_multi_thread()
                            .worker_threads(bench.args.threads)
                            .enable_all()
                            .build(),
                        format!("tokio multi-thread, {} workers", bench.args.threads),
                    )
                };
                let runtime = runtime.map_err(|error| format!("cannot start tokio: {error}"))?;
                runtime.block_on(async {
                    bench.preload::<memcache_tokio::TokioRuntime>().await?;
                    bench
                        .section(memcache_tokio::TokioRuntime, label, true)
                        .await
                })?
            }
            RuntimeKind::AsyncStd => async_std::task::block_on(async {
                bench
                    .preload::<memcache_async_std::AsyncStdRuntime>()
                    .await?;
                bench
                    .section(
                        memcache_async_std::AsyncStdRuntime,
                        "async-std".to_owned(),
                        false,
                    )
                    .await
            })?,
        };
        sections.push(section);
    }
    report::print(&report::Setup {
        server: &bench.server,
        args: &format!(
            "{} s per workload and run, medians of {} runs; {} client tasks / requests in flight over {} connections",
            bench.args.duration.as_secs(),
            bench.args.runs,
            bench.args.concurrency,
            bench.args.connections
        ),
        pinned,
        cpus,
    }, &sections);
    if let Some(path) = &bench.args.svg {
        let title = format!(
            "memcache-bench: memcached {} (-t {}), {cpus} CPUs",
            bench.server.version, bench.args.server_threads
        );
        std::fs::write(path, chart::svg(&title, &sections))
            .map_err(|error| format!("cannot write {path}: {error}"))?;
    }
    Ok(())
}

impl Bench {
    /// Stores the keys every workload reads.
    async fn preload<R: Runtime + Default>(&self) -> Result<(), String> {
        let mut socket = self.connect(&R::default()).await?;
        self.data.preload(&mut socket).await
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
    if let Err(error) = run(args) {
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
        assert_eq!(args.duration, Duration::from_secs(2));
        assert_eq!((args.runs, args.concurrency, args.connections), (3, 32, 2));
        assert_eq!(args.runtimes.len(), 3);
        let args = parse("--duration-secs 1 --runs 1 --concurrency 8 --connections 4 --runtime async-std --only get,set --bench")
            .unwrap()
            .unwrap();
        assert_eq!(args.duration, Duration::from_secs(1));
        assert_eq!((args.runs, args.concurrency, args.connections), (1, 8, 4));
        assert_eq!(args.runtimes, [RuntimeKind::AsyncStd]);
        assert!(args.runs("set") && !args.runs("large"));
        assert!(parse("--help").unwrap().is_none());
        assert!(parse("--runs 0").is_err());
        assert!(parse("--duration-secs 100000").is_err());
        assert!(parse("--runtime glommio").is_err());
        assert!(parse("--only gets").is_err());
        let args = parse("--only set,set_many").unwrap().unwrap();
        assert!(args.runs("set_many") && args.runs("set") && !args.runs("get"));
        assert!(parse("--concurrency 2 --connections 3").is_err());
        assert!(parse("--bogus").is_err());
        assert!(parse("--runs").is_err());
    }
}
