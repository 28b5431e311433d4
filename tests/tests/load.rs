//! Process-wide resources under load, on every runtime: open file descriptors and
//! resident memory stay bounded with 10,000 concurrent callers, and return (the
//! descriptors) once the load is over; a suspended node makes callers wait or fail
//! without piling up memory, and the waiting ones complete once it resumes.
//!
//! `/proc/self` is shared by every test of a binary, so the tests here take a lock and
//! run one at a time.

use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::{join_all, select, BoxFuture, Either};
use futures::FutureExt;
use memcache_core::{Error, Protocol, Runtime};
use memcache_it::scenarios::support::{eventually, prefix, sleep, spawn, within, Suite};
use memcache_it::Memcached;

/// The load tests measure process resources, not protocols: their clients speak text.
const SUITE: Suite = Suite {
    protocol: Protocol::Text,
};

const TASKS: usize = 10_000;
const MIB: u64 = 1 << 20;

static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// Holds the binary to one test at a time (a failed test does not poison it).
fn exclusive() -> MutexGuard<'static, ()> {
    EXCLUSIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .count()
}

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// Samples open descriptors and resident memory every few milliseconds, on a thread of
/// its own, keeping the highest of each.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak_fds: Arc<AtomicUsize>,
    peak_rss: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    fn start() -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_fds = Arc::new(AtomicUsize::new(open_fds()));
        let peak_rss = Arc::new(AtomicU64::new(rss()));
        let thread = {
            let (stop, peak_fds, peak_rss) = (stop.clone(), peak_fds.clone(), peak_rss.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak_fds.fetch_max(open_fds(), Ordering::Relaxed);
                    peak_rss.fetch_max(rss(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Sampler {
            stop,
            peak_fds,
            peak_rss,
            thread: Some(thread),
        }
    }

    /// The highest descriptor count and resident size seen so far.
    fn peaks(&self) -> (usize, u64) {
        (
            self.peak_fds.load(Ordering::Relaxed),
            self.peak_rss.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Gets the runtime's own descriptors (reactor, timers, worker threads) opened before a
/// baseline is taken.
async fn warm_up<R: Runtime + Default>() {
    let runtime = R::default();
    spawn(&runtime, sleep::<R>(Duration::from_millis(1))).await;
}

const NODES: usize = 3;
const MAX_CONNECTIONS: usize = 4;
/// Descriptors the runtime or the allocator may open on their own under load.
const FD_SLACK: usize = 4;
const LOAD_RSS_BOUND: u64 = 128 * MIB;

/// 10,000 tasks doing sets and gets on one client of three nodes.
async fn load_bounded<R: Runtime + Default>() {
    let servers: Vec<Memcached> = (0..NODES).map(|_| Memcached::start()).collect();
    warm_up::<R>().await;
    let (fds_before, rss_before) = (open_fds(), rss());
    let client = SUITE
        .builder::<R>(&servers.iter().collect::<Vec<_>>())
        .timeout(Duration::from_secs(30))
        .min_connections(1)
        .max_connections(MAX_CONNECTIONS)
        .idle_timeout(Some(Duration::from_millis(500)))
        .build()
        .expect("valid configuration");
    let p = prefix("load");
    let runtime = R::default();
    let sampler = Sampler::start();
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let client = client.clone();
            let key = format!("{p}{}", task % 1_000);
            spawn(&runtime, async move {
                for round in 0..3 {
                    let value = format!("{key}={task}:{round}");
                    client
                        .set(&key, &value)
                        .await
                        .unwrap_or_else(|error| panic!("set {key}: {error:?}"));
                    let item = client
                        .get(&key)
                        .await
                        .unwrap_or_else(|error| panic!("get {key}: {error:?}"))
                        .unwrap_or_else(|| panic!("{key} missing"));
                    // Other tasks share the key: the value must be one of theirs.
                    assert!(item.value.starts_with(format!("{key}=").as_bytes()));
                }
            })
        })
        .collect();
    within::<R, _>(Duration::from_secs(120), join_all(tasks)).await;
    let took = started.elapsed();
    let (peak_fds, peak_rss) = sampler.peaks();
    drop(sampler);

    // Idle now: connections above the minimum close.
    let idle_fds = fds_before + NODES + 2;
    let settled = eventually::<R, _, _>(Duration::from_secs(10), || async {
        client
            .metrics()
            .iter()
            .all(|(_, metrics)| metrics.connections <= 1)
            && open_fds() <= idle_fds
    })
    .await;
    let (fds_idle, rss_idle) = (open_fds(), rss());
    drop(client);
    let released = eventually::<R, _, _>(Duration::from_secs(10), || async {
        open_fds() <= fds_before + 2
    })
    .await;
    eprintln!(
        "load_bounded: {TASKS} tasks, {} calls in {took:?}; fds {fds_before} -> peak \
         {peak_fds} -> idle {fds_idle} -> dropped {}; rss {} MiB -> peak {} MiB -> idle {} MiB",
        TASKS * 6,
        open_fds(),
        rss_before / MIB,
        peak_rss / MIB,
        rss_idle / MIB,
    );
    assert!(
        peak_fds <= fds_before + NODES * MAX_CONNECTIONS + FD_SLACK,
        "{peak_fds} descriptors open at the peak, {fds_before} before"
    );
    assert!(
        peak_rss.saturating_sub(rss_before) < LOAD_RSS_BOUND,
        "resident memory grew by {} MiB",
        (peak_rss - rss_before) / MIB
    );
    assert!(
        settled,
        "{fds_idle} descriptors open when idle (at most {idle_fds} expected)"
    );
    assert!(
        released,
        "{} descriptors open after the client was dropped, {fds_before} before",
        open_fds()
    );
}

const VALUE_LEN: usize = 10 * 1024;
const IN_FLIGHT_BYTES: usize = 1 << 20;
const STALLED_RSS_BOUND: u64 = 64 * MIB;

/// Runs `future` to its end, or returns it still pending after `limit`.
async fn finishes_within<R, F>(limit: Duration, future: F) -> Result<F::Output, F>
where
    R: Runtime + Default,
    F: Future + Unpin,
{
    let timer = sleep::<R>(limit);
    futures::pin_mut!(timer);
    match select(future, timer).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(((), future)) => Err(future),
    }
}

/// One suspended node and 10,000 callers storing 10 KiB each (one shared value), with
/// 1 MiB in flight allowed per connection: first with a timeout (every caller times
/// out), then without (every caller waits, and succeeds once the node resumes). Memory
/// stays bounded meanwhile, and callers that ask not to wait are refused at once.
async fn backpressure_stalled_node<R: Runtime + Default>() {
    let server = Memcached::start();
    let value = Bytes::from(vec![b'v'; VALUE_LEN]);
    let p = prefix("stalled");
    let key = move |task: usize| format!("{p}{}", task % 1_000);
    let runtime = R::default();
    warm_up::<R>().await;

    // With a timeout: every caller fails by timing out, on time.
    let timeout = Duration::from_millis(500);
    let client = SUITE
        .builder::<R>(&[&server])
        .timeout(timeout)
        .max_in_flight_bytes(IN_FLIGHT_BYTES)
        .connect()
        .await
        .expect("connect");
    let rss_before = rss();
    server.stop();
    let sampler = Sampler::start();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (client, key, value) = (client.clone(), key(task), value.clone());
            spawn(&runtime, async move {
                let started = Instant::now();
                let result = client.set(&key, value).await;
                (result, started.elapsed())
            })
        })
        .collect();
    let results = within::<R, _>(Duration::from_secs(60), join_all(tasks)).await;
    let (_, timed_out_peak) = sampler.peaks();
    drop(sampler);
    let mut slowest = Duration::ZERO;
    for (task, (result, took)) in results.into_iter().enumerate() {
        match result {
            Err(Error::Timeout { .. }) => {}
            Err(Error::ConnectionLost { source, .. })
                if source.kind() == std::io::ErrorKind::TimedOut => {}
            other => panic!("task {task}: expected a timeout, got {other:?}"),
        }
        slowest = slowest.max(took);
    }
    assert!(
        slowest < timeout + Duration::from_secs(2),
        "a caller waited {slowest:?} for a {timeout:?} timeout"
    );
    server.cont();
    drop(client);

    // Without a timeout: callers wait.
    let client = SUITE
        .builder::<R>(&[&server])
        .timeout(None)
        .max_in_flight_bytes(IN_FLIGHT_BYTES)
        .connect()
        .await
        .expect("connect");
    let rss_before_waiting = rss();
    server.stop();
    let sampler = Sampler::start();
    let started = Arc::new(AtomicUsize::new(0));
    let mut tasks: Vec<BoxFuture<'static, Result<(), Error>>> = (0..TASKS)
        .map(|task| {
            let (client, key, value) = (client.clone(), key(task), value.clone());
            let started = started.clone();
            spawn(&runtime, async move {
                started.fetch_add(1, Ordering::Relaxed);
                client.set(&key, value).await
            })
            .boxed()
        })
        .collect();
    let all_started = eventually::<R, _, _>(Duration::from_secs(30), || async {
        started.load(Ordering::Relaxed) == TASKS
    })
    .await;
    assert!(
        all_started,
        "only {} tasks started",
        started.load(Ordering::Relaxed)
    );

    // The node's connections are full: a caller that does not wait is refused at once.
    // Until they are, such a caller is taken and waits with the others.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (client, value) = (client.clone(), value.clone());
        let call = spawn(&runtime, async move {
            client.set("stalled:no-wait", value).no_wait().await
        })
        .boxed();
        match finishes_within::<R, _>(Duration::from_millis(100), call).await {
            Ok(Err(Error::Overloaded { node })) => {
                assert_eq!(node, server.addr());
                break;
            }
            Ok(other) => panic!("a caller that does not wait got {other:?}"),
            Err(pending) => tasks.push(pending),
        }
        assert!(
            Instant::now() < deadline,
            "never refused a caller that does not wait"
        );
    }
    for attempt in 0..20 {
        let begun = Instant::now();
        let result = within::<R, _>(
            Duration::from_secs(1),
            client.set(key(attempt), &value).no_wait().into_future(),
        )
        .await;
        assert!(
            matches!(result, Err(Error::Overloaded { .. })),
            "attempt {attempt}: {result:?}"
        );
        assert!(
            begun.elapsed() < Duration::from_millis(100),
            "refused after {:?}",
            begun.elapsed()
        );
    }
    let (_, waiting_peak) = sampler.peaks();
    drop(sampler);

    server.cont();
    let results = within::<R, _>(Duration::from_secs(60), join_all(tasks)).await;
    let failed: Vec<_> = results.iter().filter(|result| result.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} waiting callers failed, e.g. {:?}",
        failed.len(),
        results.len(),
        failed[0]
    );
    let item = client.get(key(1)).await.expect("get").expect("stored");
    assert_eq!(item.value, value);
    client.set(key(1), "small").await.expect("set");

    eprintln!(
        "backpressure_stalled_node: {TASKS} x {VALUE_LEN} bytes; rss {} MiB -> peak {} MiB \
         timing out; {} MiB -> peak {} MiB waiting; slowest timeout {slowest:?}",
        rss_before / MIB,
        timed_out_peak / MIB,
        rss_before_waiting / MIB,
        waiting_peak / MIB,
    );
    assert!(
        timed_out_peak.saturating_sub(rss_before) < STALLED_RSS_BOUND,
        "resident memory grew by {} MiB while callers timed out",
        timed_out_peak.saturating_sub(rss_before) / MIB
    );
    assert!(
        waiting_peak.saturating_sub(rss_before_waiting) < STALLED_RSS_BOUND,
        "resident memory grew by {} MiB while callers waited",
        waiting_peak.saturating_sub(rss_before_waiting) / MIB
    );
}

fn tokio_block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

fn async_std_block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

fn smol_block_on<F: Future>(future: F) -> F::Output {
    smol::block_on(future)
}

/// One test per scenario and runtime, each holding [`exclusive`].
macro_rules! on_every_runtime {
    ($($name:ident),* $(,)?) => {
        mod tokio_runtime {
            $(
                #[test]
                fn $name() {
                    let _alone = super::exclusive();
                    super::tokio_block_on(super::$name::<memcache_tokio::TokioRuntime>());
                }
            )*
        }
        mod async_std_runtime {
            $(
                #[test]
                fn $name() {
                    let _alone = super::exclusive();
                    super::async_std_block_on(
                        super::$name::<memcache_async_std::AsyncStdRuntime>(),
                    );
                }
            )*
        }
        /// The async-std flavour of the client on smol's executor (they share async-io).
        mod smol_runtime {
            $(
                #[test]
                fn $name() {
                    let _alone = super::exclusive();
                    super::smol_block_on(super::$name::<memcache_async_std::AsyncStdRuntime>());
                }
            )*
        }
    };
}

on_every_runtime!(load_bounded, backpressure_stalled_node);
