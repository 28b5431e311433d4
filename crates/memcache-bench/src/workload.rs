//! The workloads: raw-socket baselines and the same operations through `memcache_tokio`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memcache_tokio::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::stats::{summarize, CpuClock, Sample, TaskStats};

/// Keys preloaded with a small value.
pub(crate) const KEY_COUNT: usize = 1000;
/// Size of the preloaded small values.
pub(crate) const SMALL_VALUE: usize = 100;
/// Size of the one large value.
pub(crate) const LARGE_VALUE: usize = 100 * 1024;
/// Keys per multi-get.
pub(crate) const MULTI_KEYS: usize = 100;
/// The large value's key.
const LARGE_KEY: &str = "bench:large";
/// Operations one task may perform in one workload, whatever the duration.
const MAX_OPS_PER_TASK: u64 = 50_000_000;
/// How long past its deadline a task may run before it is aborted and counted as failed.
const GRACE: Duration = Duration::from_secs(10);
/// Longest reply a raw baseline accepts before calling the stream broken.
const MAX_RAW_REPLY: usize = 4 * 1024 * 1024;

/// What a workload does per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `get` of one preloaded key (100-byte value).
    Get,
    /// `set` of one key of the preloaded key space (100-byte value).
    Set,
    /// `get` of 100 consecutive preloaded keys.
    GetMany,
    /// `get` of the 100 KiB value.
    GetLarge,
}

impl Op {
    /// How the report names the operation.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Op::Get => "get, 100 B value",
            Op::Set => "set, 100 B value",
            Op::GetMany => "get_many(100 keys), 100 B values",
            Op::GetLarge => "get, 100 KiB value",
        }
    }
}

/// Keys, values and the raw protocol bytes every workload uses, built once.
pub(crate) struct Data {
    /// The preloaded keys, `bench:key:0000` to `bench:key:0999`.
    pub(crate) keys: Vec<String>,
    /// The small value.
    pub(crate) small: Vec<u8>,
    /// The large value.
    pub(crate) large: Vec<u8>,
}

impl Data {
    /// Builds the key space and values.
    pub(crate) fn new() -> Data {
        let pattern = |len: usize| (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        Data {
            keys: (0..KEY_COUNT)
                .map(|i| format!("bench:key:{i:04}"))
                .collect(),
            small: pattern(SMALL_VALUE),
            large: pattern(LARGE_VALUE),
        }
    }

    /// The raw `get` request line for `keys`, and the exact length of the reply when every
    /// key holds a value of `value_len` bytes.
    fn raw_get(keys: &[&str], value_len: usize) -> RawRequest {
        let mut bytes = b"get".to_vec();
        let mut reply_len = b"END\r\n".len();
        for key in keys {
            bytes.push(b' ');
            bytes.extend_from_slice(key.as_bytes());
            reply_len += format!("VALUE {key} 0 {value_len}\r\n").len() + value_len + 2;
        }
        bytes.extend_from_slice(b"\r\n");
        RawRequest { bytes, reply_len }
    }

    /// Every request a raw baseline of `op` may send (one is picked at random per
    /// operation), prebuilt so the baseline spends nothing on formatting.
    pub(crate) fn raw_plan(&self, op: Op) -> RawPlan {
        let requests = match op {
            Op::Get => self
                .keys
                .iter()
                .map(|key| Data::raw_get(&[key], SMALL_VALUE))
                .collect(),
            Op::Set => self
                .keys
                .iter()
                .map(|key| {
                    let mut bytes = format!("set {key} 0 0 {SMALL_VALUE}\r\n").into_bytes();
                    bytes.extend_from_slice(&self.small);
                    bytes.extend_from_slice(b"\r\n");
                    RawRequest {
                        bytes,
                        reply_len: b"STORED\r\n".len(),
                    }
                })
                .collect(),
            Op::GetMany => (0..=KEY_COUNT - MULTI_KEYS)
                .map(|start| {
                    let keys: Vec<&str> = self.keys[start..start + MULTI_KEYS]
                        .iter()
                        .map(String::as_str)
                        .collect();
                    Data::raw_get(&keys, SMALL_VALUE)
                })
                .collect(),
            Op::GetLarge => vec![Data::raw_get(&[LARGE_KEY], LARGE_VALUE)],
        };
        let terminator: &'static [u8] = match op {
            Op::Set => b"STORED\r\n",
            _ => b"END\r\n",
        };
        RawPlan {
            requests,
            terminator,
            op,
        }
    }

    /// Stores every key over one raw connection, checking each `STORED`.
    pub(crate) async fn preload(&self, addr: SocketAddr) -> Result<(), String> {
        let mut stream = connect(addr).await?;
        let mut batch = Vec::new();
        for key in &self.keys {
            batch.extend_from_slice(format!("set {key} 0 0 {SMALL_VALUE}\r\n").as_bytes());
            batch.extend_from_slice(&self.small);
            batch.extend_from_slice(b"\r\n");
        }
        batch.extend_from_slice(format!("set {LARGE_KEY} 0 0 {LARGE_VALUE}\r\n").as_bytes());
        batch.extend_from_slice(&self.large);
        batch.extend_from_slice(b"\r\n");
        let expected = b"STORED\r\n".repeat(KEY_COUNT + 1);
        let reply = exchange(&mut stream, &batch, expected.len(), b"STORED\r\n").await?;
        if reply != expected {
            return Err(format!(
                "preload failed: {:?}",
                String::from_utf8_lossy(&reply[..reply.len().min(200)])
            ));
        }
        Ok(())
    }
}

/// One prebuilt raw request and the exact length of its expected reply.
pub(crate) struct RawRequest {
    /// The request bytes.
    bytes: Vec<u8>,
    /// The reply's length.
    reply_len: usize,
}

/// What a raw baseline sends.
pub(crate) struct RawPlan {
    /// The requests to pick from.
    requests: Vec<RawRequest>,
    /// How a complete reply ends (what a naive client looks for).
    terminator: &'static [u8],
    /// The operation, to count keys and bytes.
    op: Op,
}

impl RawPlan {
    /// Keys and value bytes one successful operation moves.
    fn volume(&self) -> (u64, u64) {
        match self.op {
            Op::Get | Op::Set => (1, SMALL_VALUE as u64),
            Op::GetMany => (MULTI_KEYS as u64, (MULTI_KEYS * SMALL_VALUE) as u64),
            Op::GetLarge => (1, LARGE_VALUE as u64),
        }
    }
}

/// A small, fast, seedable random number generator (xorshift64*), so each task picks keys
/// independently without a dependency.
struct Rng(u64);

impl Rng {
    /// A generator for task number `seed`.
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((value >> 32) as usize) % bound
    }
}

/// Opens a raw TCP connection with `TCP_NODELAY`, as the client does.
async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|error| format!("connect to {addr}: {error}"))?;
    stream
        .set_nodelay(true)
        .map_err(|error| format!("TCP_NODELAY: {error}"))?;
    Ok(stream)
}

/// Writes `request` and reads until the reply ends with `terminator` and is at least
/// `reply_len` long (bounded by [`MAX_RAW_REPLY`]).
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    reply_len: usize,
    terminator: &[u8],
) -> Result<Vec<u8>, String> {
    let mut reply = Vec::with_capacity(reply_len + 1024);
    stream
        .write_all(request)
        .await
        .map_err(|error| format!("write: {error}"))?;
    read_reply(stream, &mut reply, reply_len, terminator).await?;
    Ok(reply)
}

/// Reads into `buf` until it holds at least `reply_len` bytes ending with `terminator`.
async fn read_reply(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    reply_len: usize,
    terminator: &[u8],
) -> Result<(), String> {
    while buf.len() < reply_len || !buf.ends_with(terminator) {
        if buf.len() > MAX_RAW_REPLY {
            return Err("reply too long: stream out of step".to_owned());
        }
        if buf.capacity() == buf.len() {
            buf.reserve(64 * 1024);
        }
        match stream.read_buf(buf).await {
            Ok(0) => return Err("server closed the connection".to_owned()),
            Ok(_) => {}
            Err(error) => return Err(format!("read: {error}")),
        }
    }
    Ok(())
}

/// Blocking-style request/response on a connection of its own: write one request, read
/// until the reply's terminator, repeat. The best a naive client can do per connection.
async fn raw_loop_task(
    mut stream: TcpStream,
    plan: Arc<RawPlan>,
    deadline: Instant,
    seed: u64,
) -> TaskStats {
    let mut stats = TaskStats::default();
    let mut rng = Rng::new(seed);
    let longest = plan.requests.iter().map(|r| r.reply_len).max().unwrap_or(0);
    let mut buf = Vec::with_capacity(longest + 64 * 1024);
    let (keys, bytes) = plan.volume();
    while stats.ops < MAX_OPS_PER_TASK && Instant::now() < deadline {
        let request = &plan.requests[rng.below(plan.requests.len())];
        let start = Instant::now();
        buf.clear();
        let result = match stream.write_all(&request.bytes).await {
            Ok(()) => read_reply(&mut stream, &mut buf, request.reply_len, plan.terminator).await,
            Err(error) => Err(format!("write: {error}")),
        };
        match result {
            Ok(()) if buf.len() == request.reply_len => {
                stats.success(1, keys, bytes, start.elapsed());
            }
            Ok(()) => {
                stats.failure(|| {
                    format!(
                        "reply of {} bytes, expected {}",
                        buf.len(),
                        request.reply_len
                    )
                });
                break;
            }
            Err(error) => {
                stats.failure(|| error);
                break;
            }
        }
    }
    stats
}

/// One connection, `batch` gets written at once, then all their replies read: the wire's
/// upper bound for this server and machine.
async fn pipelined_task(
    mut stream: TcpStream,
    batches: Arc<Vec<RawRequest>>,
    batch: usize,
    deadline: Instant,
) -> TaskStats {
    let mut stats = TaskStats::default();
    let longest = batches.iter().map(|r| r.reply_len).max().unwrap_or(0);
    let mut buf = Vec::with_capacity(longest + 64 * 1024);
    let mut next = 0;
    while stats.ops < MAX_OPS_PER_TASK && Instant::now() < deadline {
        let request = &batches[next % batches.len()];
        next += 1;
        let start = Instant::now();
        buf.clear();
        let result = match stream.write_all(&request.bytes).await {
            Ok(()) => read_reply(&mut stream, &mut buf, request.reply_len, b"END\r\n").await,
            Err(error) => Err(format!("write: {error}")),
        };
        match result {
            Ok(()) if buf.len() == request.reply_len => {
                let batch = batch as u64;
                stats.success(batch, batch, batch * SMALL_VALUE as u64, start.elapsed());
            }
            Ok(()) => {
                stats.failure(|| {
                    format!(
                        "batch reply of {} bytes, expected {}",
                        buf.len(),
                        request.reply_len
                    )
                });
                break;
            }
            Err(error) => {
                stats.failure(|| error);
                break;
            }
        }
    }
    stats
}

/// The same operations through the client, from one of many concurrent tasks.
async fn client_task(
    client: Client,
    op: Op,
    data: Arc<Data>,
    deadline: Instant,
    seed: u64,
) -> TaskStats {
    let mut stats = TaskStats::default();
    let mut rng = Rng::new(seed);
    while stats.ops < MAX_OPS_PER_TASK && Instant::now() < deadline {
        let start = Instant::now();
        let outcome: Result<(u64, u64), String> = match op {
            Op::Get => match client.get(&data.keys[rng.below(KEY_COUNT)]).await {
                Ok(Some(item)) if item.value.len() == SMALL_VALUE => Ok((1, SMALL_VALUE as u64)),
                Ok(Some(item)) => Err(format!("value of {} bytes", item.value.len())),
                Ok(None) => Err("miss on a preloaded key".to_owned()),
                Err(error) => Err(error.to_string()),
            },
            Op::Set => {
                let key = &data.keys[rng.below(KEY_COUNT)];
                match client.set(key, &data.small).await {
                    Ok(()) => Ok((1, SMALL_VALUE as u64)),
                    Err(error) => Err(error.to_string()),
                }
            }
            Op::GetMany => {
                let first = rng.below(KEY_COUNT - MULTI_KEYS + 1);
                let keys = &data.keys[first..first + MULTI_KEYS];
                match client.get_many(keys).await {
                    Ok(found) if found.len() == MULTI_KEYS => {
                        Ok((MULTI_KEYS as u64, (MULTI_KEYS * SMALL_VALUE) as u64))
                    }
                    Ok(found) => Err(format!("{} of {MULTI_KEYS} keys found", found.len())),
                    Err(error) => Err(error.to_string()),
                }
            }
            Op::GetLarge => match client.get(LARGE_KEY).await {
                Ok(Some(item)) if item.value.len() == LARGE_VALUE => Ok((1, LARGE_VALUE as u64)),
                Ok(Some(item)) => Err(format!("value of {} bytes", item.value.len())),
                Ok(None) => Err("miss on the large key".to_owned()),
                Err(error) => Err(error.to_string()),
            },
        };
        match outcome {
            Ok((keys, bytes)) => stats.success(1, keys, bytes, start.elapsed()),
            Err(error) => stats.failure(|| error),
        }
    }
    stats
}

/// Waits for every task, aborting those still running [`GRACE`] after the deadline.
async fn join_all(handles: Vec<JoinHandle<TaskStats>>, deadline: Instant) -> Vec<TaskStats> {
    let mut results = Vec::with_capacity(handles.len());
    let limit = tokio::time::Instant::from_std(deadline + GRACE);
    for mut handle in handles {
        let stats = match tokio::time::timeout_at(limit, &mut handle).await {
            Ok(Ok(stats)) => stats,
            Ok(Err(error)) => failed_task(format!("task failed: {error}")),
            Err(_) => {
                handle.abort();
                failed_task("task overran its deadline and was aborted".to_owned())
            }
        };
        results.push(stats);
    }
    results
}

/// Stats for a task that produced none.
fn failed_task(error: String) -> TaskStats {
    let mut stats = TaskStats::default();
    stats.failure(|| error);
    stats
}

/// How long each workload runs and what it measures CPU against.
#[derive(Clone, Copy)]
pub(crate) struct Timing {
    /// Measured time per workload.
    pub(crate) duration: Duration,
    /// The memcached process, for its CPU time.
    pub(crate) server_pid: Option<u32>,
}

/// Runs the raw request/response baseline: `connections` tasks, one connection each.
pub(crate) async fn raw_loop(
    addr: SocketAddr,
    plan: &Arc<RawPlan>,
    connections: usize,
    timing: Timing,
) -> Sample {
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        match connect(addr).await {
            Ok(stream) => streams.push(stream),
            Err(error) => return failed_sample(error),
        }
    }
    let cpu = CpuClock::start(timing.server_pid);
    let start = Instant::now();
    let deadline = start + timing.duration;
    let handles = streams
        .into_iter()
        .enumerate()
        .map(|(index, stream)| {
            tokio::spawn(raw_loop_task(
                stream,
                plan.clone(),
                deadline,
                index as u64 + 1,
            ))
        })
        .collect();
    summarize(join_all(handles, deadline).await, start, &cpu)
}

/// Runs the pipelined baseline: one connection, batches of `batch` gets of 100-byte values.
pub(crate) async fn pipelined(
    addr: SocketAddr,
    data: &Data,
    batch: usize,
    timing: Timing,
) -> Sample {
    let batches: Vec<RawRequest> = (0..KEY_COUNT)
        .step_by(batch.max(1))
        .take(16)
        .map(|first| {
            let mut bytes = Vec::new();
            let mut reply_len = 0;
            for index in 0..batch {
                let key = &data.keys[(first + index) % KEY_COUNT];
                let one = Data::raw_get(&[key], SMALL_VALUE);
                bytes.extend_from_slice(&one.bytes);
                reply_len += one.reply_len;
            }
            RawRequest { bytes, reply_len }
        })
        .collect();
    let stream = match connect(addr).await {
        Ok(stream) => stream,
        Err(error) => return failed_sample(error),
    };
    let cpu = CpuClock::start(timing.server_pid);
    let start = Instant::now();
    let deadline = start + timing.duration;
    let handle = tokio::spawn(pipelined_task(stream, Arc::new(batches), batch, deadline));
    summarize(join_all(vec![handle], deadline).await, start, &cpu)
}

/// Runs `op` through `client` from `concurrency` tasks.
pub(crate) async fn through_client(
    client: &Client,
    op: Op,
    data: &Arc<Data>,
    concurrency: usize,
    timing: Timing,
) -> Sample {
    let cpu = CpuClock::start(timing.server_pid);
    let start = Instant::now();
    let deadline = start + timing.duration;
    let handles = (0..concurrency)
        .map(|index| {
            tokio::spawn(client_task(
                client.clone(),
                op,
                data.clone(),
                deadline,
                index as u64 + 1,
            ))
        })
        .collect();
    summarize(join_all(handles, deadline).await, start, &cpu)
}

/// A sample that records only a setup failure.
fn failed_sample(error: String) -> Sample {
    Sample {
        errors: 1,
        first_error: Some(error),
        ..Sample::default()
    }
}
