//! Counting, latency percentiles and CPU accounting for one measured workload.

use std::time::{Duration, Instant};

/// Latencies kept per task; past this the task still counts operations but stops recording
/// their latency (bounds memory on very fast runs).
const MAX_LATENCIES_PER_TASK: usize = 4_000_000;

/// What one benchmark task did.
#[derive(Debug, Default)]
pub(crate) struct TaskStats {
    /// Operations that succeeded (for pipelined batches: requests, not batches).
    pub(crate) ops: u64,
    /// Keys fetched or stored by the successful operations.
    pub(crate) keys: u64,
    /// Value bytes moved by the successful operations.
    pub(crate) value_bytes: u64,
    /// Operations that failed or returned a wrong answer.
    pub(crate) errors: u64,
    /// The first failure, for the report.
    pub(crate) first_error: Option<String>,
    /// Latency of each successful operation (or batch), in nanoseconds.
    pub(crate) latencies: Vec<u64>,
    /// When the task's last operation ended.
    pub(crate) finished: Option<Instant>,
}

impl TaskStats {
    /// Records a success that moved `keys` keys and `value_bytes` value bytes, `ops`
    /// operations in `latency`.
    pub(crate) fn success(&mut self, ops: u64, keys: u64, value_bytes: u64, latency: Duration) {
        self.ops += ops;
        self.keys += keys;
        self.value_bytes += value_bytes;
        if self.latencies.len() < MAX_LATENCIES_PER_TASK {
            self.latencies
                .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        }
        self.finished = Some(Instant::now());
    }

    /// Records a failure.
    pub(crate) fn failure(&mut self, error: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error());
        }
        self.finished = Some(Instant::now());
    }
}

/// The measurement of one workload in one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    /// Successful operations per second.
    pub(crate) ops_per_sec: f64,
    /// Keys per second (differs from ops/s for multi-key gets and pipelined batches).
    pub(crate) keys_per_sec: f64,
    /// Value bytes per second.
    pub(crate) bytes_per_sec: f64,
    /// Median latency.
    pub(crate) p50: Duration,
    /// 99th percentile latency.
    pub(crate) p99: Duration,
    /// Benchmark process CPU time over wall time (1.0 = one core busy).
    pub(crate) client_cpu: f64,
    /// memcached CPU time over wall time, when its pid is known.
    pub(crate) server_cpu: Option<f64>,
    /// Failed operations.
    pub(crate) errors: u64,
    /// The first failure.
    pub(crate) first_error: Option<String>,
}

/// CPU time of the benchmark process and of the server, read at the start of a workload.
pub(crate) struct CpuClock {
    /// Wall clock at the start.
    wall: Instant,
    /// Own CPU ticks at the start.
    own: Option<u64>,
    /// Server pid and its CPU ticks at the start.
    server: Option<(u32, u64)>,
}

impl CpuClock {
    /// Starts measuring; `server_pid` is the memcached process, if this benchmark runs it.
    pub(crate) fn start(server_pid: Option<u32>) -> CpuClock {
        CpuClock {
            wall: Instant::now(),
            own: cpu_ticks("self"),
            server: server_pid.and_then(|pid| Some((pid, cpu_ticks(&pid.to_string())?))),
        }
    }

    /// Own and server CPU use since the start, as fractions of one core.
    fn stop(&self) -> (f64, Option<f64>) {
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        let share = |before: u64, after: Option<u64>| {
            after.map(|after| after.saturating_sub(before) as f64 / TICKS_PER_SEC / wall)
        };
        let own = self
            .own
            .and_then(|before| share(before, cpu_ticks("self")))
            .unwrap_or(f64::NAN);
        let server = self
            .server
            .and_then(|(pid, before)| share(before, cpu_ticks(&pid.to_string())));
        (own, server)
    }
}

/// Linux reports process CPU time in clock ticks of 1/100 s (`USER_HZ`) on every
/// mainstream architecture.
const TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU ticks of `/proc/<pid>/stat` (all threads).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Combines the tasks of one workload run into a sample. `start` is when the tasks were
/// released; throughput is measured up to the last task's last operation.
pub(crate) fn summarize(tasks: Vec<TaskStats>, start: Instant, cpu: &CpuClock) -> Sample {
    let (client_cpu, server_cpu) = cpu.stop();
    let end = tasks
        .iter()
        .filter_map(|task| task.finished)
        .max()
        .unwrap_or(start);
    let elapsed = end.duration_since(start).as_secs_f64().max(1e-9);
    let mut sample = Sample {
        client_cpu,
        server_cpu,
        ..Sample::default()
    };
    let mut latencies = Vec::new();
    let (mut ops, mut keys, mut bytes) = (0, 0, 0);
    for task in tasks {
        ops += task.ops;
        keys += task.keys;
        bytes += task.value_bytes;
        sample.errors += task.errors;
        if sample.first_error.is_none() {
            sample.first_error = task.first_error;
        }
        latencies.extend(task.latencies);
    }
    sample.ops_per_sec = ops as f64 / elapsed;
    sample.keys_per_sec = keys as f64 / elapsed;
    sample.bytes_per_sec = bytes as f64 / elapsed;
    latencies.sort_unstable();
    sample.p50 = percentile(&latencies, 0.50);
    sample.p99 = percentile(&latencies, 0.99);
    sample
}

/// The `q` quantile of sorted nanosecond latencies.
fn percentile(sorted: &[u64], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    Duration::from_nanos(sorted[rank - 1])
}

/// The run with the median ops/s (the lower middle one for an even count).
pub(crate) fn median(samples: &[Sample]) -> Option<&Sample> {
    let mut sorted: Vec<&Sample> = samples.iter().collect();
    sorted.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

/// A count per second, with a thousands separator.
pub(crate) fn fmt_rate(rate: f64) -> String {
    let whole = rate.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A latency in the unit that suits it.
pub(crate) fn fmt_latency(latency: Duration) -> String {
    let micros = latency.as_secs_f64() * 1e6;
    if micros >= 10_000.0 {
        format!("{:.1} ms", micros / 1000.0)
    } else if micros >= 1000.0 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{micros:.0} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranks() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 0.50), Duration::from_nanos(50));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_nanos(99));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn rates_group_thousands() {
        assert_eq!(fmt_rate(1234567.4), "1,234,567");
        assert_eq!(fmt_rate(999.0), "999");
        assert_eq!(fmt_rate(1000.0), "1,000");
    }

    #[test]
    fn own_cpu_time_is_readable() {
        assert!(cpu_ticks("self").is_some());
    }
}
