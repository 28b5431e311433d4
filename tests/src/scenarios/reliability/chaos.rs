//! Data integrity under chaos: many tasks read and write a small keyspace over three
//! nodes while nodes are killed and restarted, suspended and resumed, and callers give up
//! at random points. Every value read must belong to the key it was read under and be
//! intact; every call must end within its timeout (plus a margin); a `noreply` write must
//! be seen by the read of the same key that follows it, unless a fault hit the key's node
//! in between; afterwards the client must still work on every node.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::{join_all, select, Either};
use memcache_core::{Client, Error, Runtime};

use crate::scenarios::support::{eventually, prefix, sleep, spawn, within, Rng, Suite};
use crate::server::Memcached;

/// How long the load and the chaos last.
pub const CHAOS_DURATION: Duration = Duration::from_secs(15);
/// The client's operation timeout.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How far past its timeout a call may end (timer and scheduling delays).
const MARGIN: Duration = Duration::from_millis(250);
const TASKS: usize = 200;
const KEYS: usize = 500;
/// Examples kept of each kind of failure, for the panic message.
const EXAMPLES: usize = 10;

/// A value that names its key and version and carries a checksum:
/// `key|version|payload|crc`, the crc (16 hex digits) covering everything before it.
fn encode(key: &str, version: u64, rng: &mut Rng) -> Vec<u8> {
    // Mostly small values; a few that span many socket reads.
    let len = if rng.below(20) == 0 {
        20_000 + rng.below(80_000)
    } else {
        rng.below(2_000)
    } as usize;
    let mut value = format!("{key}|{version}|").into_bytes();
    value.extend(rng.bytes(len).into_iter().map(|byte| b'a' + byte % 26));
    let crc = fnv1a(&value);
    value.extend_from_slice(format!("|{crc:016x}").as_bytes());
    value
}

/// Why `value` cannot be what was stored under `key` (`None` when it can).
fn corruption(key: &str, value: &[u8]) -> Option<String> {
    let describe = |why: &str| {
        let shown = String::from_utf8_lossy(&value[..value.len().min(80)]).into_owned();
        Some(format!(
            "{key}: {why} ({} bytes: {shown:?}...)",
            value.len()
        ))
    };
    if value.len() < 17 {
        return describe("too short");
    }
    let (body, tail) = value.split_at(value.len() - 17);
    let crc = std::str::from_utf8(&tail[1..])
        .ok()
        .and_then(|hex| u64::from_str_radix(hex, 16).ok());
    if tail[0] != b'|' || crc != Some(fnv1a(body)) {
        return describe("checksum mismatch");
    }
    let Some(rest) = body
        .strip_prefix(key.as_bytes())
        .and_then(|rest| rest.strip_prefix(b"|"))
    else {
        return describe("value of another key");
    };
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&b'|') {
        return describe("no version");
    }
    None
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What the tasks saw.
#[derive(Debug, Default)]
struct Tally {
    /// Operations started (a `cas` operation makes two calls).
    ops: u64,
    /// Operations abandoned by their caller before they ended.
    cancelled: u64,
    /// Calls that ended, and those that succeeded (misses and lost conditions included).
    calls: u64,
    ok: u64,
    /// Expected failures under chaos, by kind.
    errors: BTreeMap<&'static str, u64>,
    wrong: u64,
    wrong_examples: Vec<String>,
    unexpected: u64,
    unexpected_examples: Vec<String>,
    late: u64,
    late_examples: Vec<String>,
    worst: Duration,
    /// `noreply` writes whose next read (answered, not a timeout) did not see them.
    unseen_writes: Vec<UnseenWrite>,
    /// `noreply` writes checked by a read.
    checked_writes: u64,
}

/// A `noreply` write a later read of its key did not see, and when that happened.
#[derive(Debug)]
struct UnseenWrite {
    key: String,
    written: Instant,
    read: Instant,
    got: String,
}

/// When a fault hit a node: from just before it began to just after it ended.
type FaultWindows = Arc<Mutex<Vec<(String, Instant, Instant)>>>;

impl Tally {
    /// Records one call that ended after `took`: its latency, and its outcome unless it
    /// succeeded.
    fn call<T>(&mut self, what: &str, took: Duration, result: &Result<T, Error>) {
        self.calls += 1;
        self.worst = self.worst.max(took);
        if took > TIMEOUT + MARGIN {
            self.late += 1;
            keep(&mut self.late_examples, format!("{what} took {took:?}"));
        }
        match result {
            Ok(_) | Err(Error::NotFound | Error::Exists | Error::NotStored) => self.ok += 1,
            Err(error) => match error {
                Error::Timeout { .. } => *self.errors.entry("timeout").or_default() += 1,
                Error::ConnectionLost { .. } => {
                    *self.errors.entry("connection_lost").or_default() += 1
                }
                Error::Connect { .. } => *self.errors.entry("connect").or_default() += 1,
                other => {
                    self.unexpected += 1;
                    keep(&mut self.unexpected_examples, format!("{what}: {other:?}"));
                }
            },
        }
    }

    /// Checks a value read under `key`.
    fn read(&mut self, key: &str, value: &[u8]) {
        if let Some(problem) = corruption(key, value) {
            self.wrong += 1;
            keep(&mut self.wrong_examples, problem);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        self.cancelled += other.cancelled;
        self.calls += other.calls;
        self.ok += other.ok;
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
        self.wrong += other.wrong;
        self.unexpected += other.unexpected;
        self.late += other.late;
        self.unseen_writes.extend(other.unseen_writes);
        self.checked_writes += other.checked_writes;
        for (mine, theirs) in [
            (&mut self.wrong_examples, other.wrong_examples),
            (&mut self.unexpected_examples, other.unexpected_examples),
            (&mut self.late_examples, other.late_examples),
        ] {
            for example in theirs {
                keep(mine, example);
            }
        }
        self.worst = self.worst.max(other.worst);
    }
}

fn keep(examples: &mut Vec<String>, example: String) {
    if examples.len() < EXAMPLES {
        examples.push(example);
    }
}

/// Awaits one call and how long it took.
async fn timed<F: IntoFuture>(call: F) -> (F::Output, Duration) {
    let started = Instant::now();
    let output = call.into_future().await;
    (output, started.elapsed())
}

/// Global version numbers, so that no two stores write the same value.
static VERSION: AtomicU64 = AtomicU64::new(1);

/// One random operation on the keyspace. Keys and values are passed owned: the future
/// must be `Send` for the spawned workers, which borrowed arguments make the compiler
/// struggle to prove.
async fn operation<R: Runtime>(
    client: &Client<R>,
    keys: Arc<Vec<String>>,
    own_key: &str,
    rng: &mut Rng,
    tally: &mut Tally,
) {
    let pick = |rng: &mut Rng| keys[rng.below(keys.len() as u64) as usize].clone();
    let key = pick(rng);
    match rng.below(100) {
        0..=29 => {
            let value = encode(&key, VERSION.fetch_add(1, Ordering::Relaxed), rng);
            let (result, took) = timed(client.set(key, value)).await;
            tally.call("set", took, &result);
        }
        30..=59 => {
            let (result, took) = timed(client.get(key.clone())).await;
            tally.call("get", took, &result);
            if let Ok(Some(item)) = result {
                tally.read(&key, &item.value);
            }
        }
        60..=74 => {
            let mut wanted: Vec<String> = (0..2 + rng.below(7)).map(|_| pick(rng)).collect();
            wanted.sort();
            wanted.dedup();
            let (result, took) = timed(client.get_many(wanted.clone())).await;
            tally.call("get_many", took, &result);
            for (found, item) in result.iter().flatten() {
                let found = String::from_utf8_lossy(found);
                if wanted.iter().any(|key| *key == found) {
                    tally.read(&found, &item.value);
                } else {
                    tally.wrong += 1;
                    keep(
                        &mut tally.wrong_examples,
                        format!("get_many {wanted:?} returned key {found}"),
                    );
                }
            }
        }
        75..=89 => {
            let (result, took) = timed(client.gets(key.clone())).await;
            tally.call("gets", took, &result);
            let Ok(Some(item)) = result else { return };
            tally.read(&key, &item.value);
            let Some(token) = item.cas else {
                tally.unexpected += 1;
                keep(
                    &mut tally.unexpected_examples,
                    format!("gets {key}: no cas"),
                );
                return;
            };
            let value = encode(&key, VERSION.fetch_add(1, Ordering::Relaxed), rng);
            let (result, took) = timed(client.cas(key, value, token)).await;
            tally.call("cas", took, &result);
        }
        90..=94 => {
            let (result, took) = timed(client.delete(key)).await;
            tally.call("delete", took, &result);
        }
        _ => {
            // Read-your-writes for `noreply`, on a key no other task writes.
            let written = Instant::now();
            let value = encode(own_key, VERSION.fetch_add(1, Ordering::Relaxed), rng);
            let (result, took) =
                timed(client.set(own_key.to_owned(), value.clone()).noreply()).await;
            tally.call("set noreply", took, &result);
            if result.is_err() {
                return;
            }
            let (result, took) = timed(client.get(own_key.to_owned())).await;
            tally.call("get after noreply", took, &result);
            let got = match result {
                Ok(Some(item)) if item.value == value => {
                    tally.checked_writes += 1;
                    return;
                }
                Ok(Some(item)) => String::from_utf8_lossy(&item.value).into_owned(),
                Ok(None) => "a miss".to_owned(),
                // A failed read says nothing either way.
                Err(_) => return,
            };
            tally.checked_writes += 1;
            tally.unseen_writes.push(UnseenWrite {
                key: own_key.to_owned(),
                written,
                read: Instant::now(),
                got,
            });
        }
    }
}

/// Runs random operations until `until`; about one in ten is abandoned after a random
/// short delay (possibly before it was ever sent, possibly with its reply on the way).
async fn worker<R: Runtime + Default>(
    client: Client<R>,
    keys: Arc<Vec<String>>,
    own_key: String,
    seed: u64,
    until: Instant,
) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    while Instant::now() < until {
        tally.ops += 1;
        let cancel_after = (rng.below(10) == 0).then(|| Duration::from_millis(rng.below(30)));
        let pace = Duration::from_millis(rng.below(4));
        let mut op_rng = Rng::new(rng.next_u64());
        match cancel_after {
            None => operation(&client, keys.clone(), &own_key, &mut op_rng, &mut tally).await,
            Some(after) => {
                // The operation is dropped where this block ends, finished or not.
                let cancelled = {
                    let op = operation(&client, keys.clone(), &own_key, &mut op_rng, &mut tally);
                    let timer = sleep::<R>(after);
                    futures::pin_mut!(op, timer);
                    matches!(select(op, timer).await, Either::Right(_))
                };
                if cancelled {
                    tally.cancelled += 1;
                }
            }
        }
        if !pace.is_zero() {
            sleep::<R>(pace).await;
        }
    }
    tally
}

/// What the chaos thread did.
#[derive(Debug, Default)]
struct Chaos {
    kills: u32,
    stops: u32,
}

/// Kills and restarts, or suspends and resumes, a random node, again and again until
/// `until`; then leaves every node running and hands the servers back.
fn chaos(
    mut servers: Vec<Memcached>,
    until: Instant,
    seed: u64,
    windows: &FaultWindows,
) -> (Vec<Memcached>, Chaos) {
    let mut rng = Rng::new(seed);
    let mut done = Chaos::default();
    let pause = |rng: &mut Rng, low: u64, high: u64| {
        std::thread::sleep(Duration::from_millis(low + rng.below(high - low)));
    };
    while Instant::now() < until {
        let server = &mut servers[rng.below(3) as usize];
        let began = Instant::now();
        if rng.below(2) == 0 {
            server.kill();
            pause(&mut rng, 100, 500);
            server.restart();
            done.kills += 1;
        } else {
            server.stop();
            // Longer than the client timeout, mostly.
            pause(&mut rng, 200, 1_500);
            server.cont();
            done.stops += 1;
        }
        windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((server.addr(), began, Instant::now()));
        pause(&mut rng, 200, 700);
    }
    for server in &servers {
        server.cont();
    }
    (servers, done)
}

/// Runs `chaos` on a thread; the future yields its result (re-raising its panic).
fn chaos_thread(
    servers: Vec<Memcached>,
    until: Instant,
    windows: FaultWindows,
) -> impl Future<Output = (Vec<Memcached>, Chaos)> {
    let (sender, receiver) = oneshot::channel();
    std::thread::spawn(move || {
        let _ = sender.send(chaos(servers, until, 7, &windows));
    });
    async move { receiver.await.expect("the chaos thread panicked") }
}

pub async fn chaos_integrity<R: Runtime + Default>(suite: Suite) {
    let servers: Vec<Memcached> = (0..3).map(|_| Memcached::start()).collect();
    let addrs: Vec<String> = servers.iter().map(Memcached::addr).collect();
    let client = suite
        .builder::<R>(&servers.iter().collect::<Vec<_>>())
        .timeout(TIMEOUT)
        .max_connections(4)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(200))
        .build()
        .expect("valid configuration");
    let p = prefix("chaos");
    let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("{p}{i}")).collect());
    let runtime = R::default();

    let until = Instant::now() + CHAOS_DURATION;
    let windows = FaultWindows::default();
    let chaos = chaos_thread(servers, until, windows.clone());
    let workers: Vec<_> = (0..TASKS)
        .map(|task| {
            let own_key = format!("{p}own:{task}");
            spawn(
                &runtime,
                worker(client.clone(), keys.clone(), own_key, task as u64, until),
            )
        })
        .collect();
    let limit = CHAOS_DURATION + Duration::from_secs(30);
    let tallies = within::<R, _>(limit, join_all(workers)).await;
    let (servers, chaos) = within::<R, _>(limit, chaos).await;

    let mut tally = Tally::default();
    for one in tallies {
        tally.merge(one);
    }
    eprintln!(
        "chaos_integrity: {} ops ({} cancelled), {} calls, {} ok, errors {:?}, \
         {} unexpected, {} wrong values, {} late, worst latency {:?}; \
         {} kills, {} stops",
        tally.ops,
        tally.cancelled,
        tally.calls,
        tally.ok,
        tally.errors,
        tally.unexpected,
        tally.wrong,
        tally.late,
        tally.worst,
        chaos.kills,
        chaos.stops,
    );
    assert_eq!(tally.wrong, 0, "wrong values: {:?}", tally.wrong_examples);
    // A fault on the key's node between the write and its read (widened by a timeout on
    // each side, for requests in flight) may lose the write; nothing else may.
    let windows = windows
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let slack = TIMEOUT + MARGIN;
    let unexplained: Vec<&UnseenWrite> = tally
        .unseen_writes
        .iter()
        .filter(|unseen| {
            let node = client.node_for(&unseen.key).unwrap().to_string();
            !windows.iter().any(|(addr, began, ended)| {
                *addr == node && unseen.written < *ended + slack && *began < unseen.read + slack
            })
        })
        .collect();
    eprintln!(
        "chaos_integrity: {} noreply writes checked, {} unseen in fault windows, {} outside",
        tally.checked_writes,
        tally.unseen_writes.len() - unexplained.len(),
        unexplained.len()
    );
    assert!(tally.checked_writes > 0, "no noreply write was checked");
    let described: Vec<String> = unexplained
        .iter()
        .take(EXAMPLES)
        .map(|unseen| {
            let between = unseen.read.saturating_duration_since(unseen.written);
            format!(
                "{}: read {} {between:?} after the write",
                unseen.key, unseen.got
            )
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} noreply writes lost outside fault windows: {described:?}",
        unexplained.len()
    );
    assert_eq!(
        tally.late, 0,
        "calls past {TIMEOUT:?} + {MARGIN:?}: {:?}",
        tally.late_examples
    );
    assert_eq!(
        tally.unexpected, 0,
        "unexpected errors: {:?}",
        tally.unexpected_examples
    );
    assert!(
        chaos.kills > 0 && chaos.stops > 0,
        "the chaos did too little: {chaos:?}"
    );
    assert!(
        tally.ok * 2 > tally.calls,
        "most calls should succeed: {} of {}",
        tally.ok,
        tally.calls
    );

    // Every node is up again: the client works on each of them.
    for addr in &addrs {
        let key = (0..10_000)
            .map(|i| format!("{p}after:{i}"))
            .find(|key| client.node_for(key).unwrap().to_string() == *addr)
            .expect("some key routes to every node");
        let value = encode(&key, 0, &mut Rng::new(1));
        let works = eventually::<R, _, _>(Duration::from_secs(10), || async {
            client.set(&key, &value).await.is_ok()
                && client
                    .get(&key)
                    .await
                    .is_ok_and(|item| item.is_some_and(|item| item.value == value))
        })
        .await;
        assert!(works, "the client does not work on {addr} after the chaos");
    }
    drop(servers);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_catches_wrong_values() {
        let mut rng = Rng::new(3);
        for _ in 0..100 {
            let value = encode("key:1", 42, &mut rng);
            assert_eq!(corruption("key:1", &value), None);
            assert!(corruption("key:2", &value).is_some());
            assert!(corruption("key:1", &value[..value.len() - 1]).is_some());
            let mut flipped = value.clone();
            let at = rng.below(value.len() as u64) as usize;
            flipped[at] ^= 0x01;
            assert!(corruption("key:1", &flipped).is_some());
        }
        let other = encode("key:10", 1, &mut rng);
        assert!(corruption("key:1", &other).is_some());
        assert!(corruption("key:1", b"").is_some());
    }
}
