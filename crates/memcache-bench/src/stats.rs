//! Counting, latency percentiles and CPU accounting for one measured workload.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latencies kept per task; past this the task still counts operations but stops recording
/// their latency (bounds memory on very fast runs).
const MAX_LATENCIES_PER_TASK: usize = 4_000_000;

/// Tells the tasks of one workload run when to stop, so they need not read the clock
/// after every operation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Tells every clone to stop.
    pub(crate) fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether to stop.
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// One call in this many has its latency measured.
const LATENCY_SAMPLE: u64 = 8;

/// What one benchmark task did.
#[derive(Debug, Default)]
pub(crate) struct TaskStats {
    /// Operations that succeeded (for pipelined batches: requests, not batches).
    pub(crate) ops: u64,
    /// Operations that failed or returned a wrong answer.
    pub(crate) errors: u64,
    /// The first failure, for the report.
    pub(crate) first_error: Option<String>,
    /// Latency of each successful operation (or batch), in nanoseconds.
    pub(crate) latencies: Vec<u64>,
    /// When the task's last operation ended.
    pub(crate) finished: Option<Instant>,
    /// Calls started with [`TaskStats::start_call`].
    calls: u64,
}

impl TaskStats {
    /// Starts a call: the time, for one call in [`LATENCY_SAMPLE`] (reading the clock
    /// around every call would be a cost of the load generator, counted against the
    /// client it drives).
    pub(crate) fn start_call(&mut self) -> Option<Instant> {
        self.calls += 1;
        (self.calls % LATENCY_SAMPLE == 0).then(Instant::now)
    }

    /// Records how a call started with [`TaskStats::start_call`] ended; `false` if it
    /// failed.
    pub(crate) fn end_call(
        &mut self,
        started: Option<Instant>,
        outcome: Result<(), String>,
    ) -> bool {
        match outcome {
            Ok(()) => {
                self.success(1, started.map(|started| started.elapsed()));
                true
            }
            Err(error) => {
                self.failure(|| error);
                false
            }
        }
    }

    /// Records how a call started with [`TaskStats::start_call`] that counts one operation
    /// per key ended: `ok` keys succeeded, `failed` failed, the first of them with `error`.
    pub(crate) fn end_keys(
        &mut self,
        started: Option<Instant>,
        ok: u64,
        failed: u64,
        error: impl FnOnce() -> String,
    ) {
        if ok > 0 {
            self.success(ok, started.map(|started| started.elapsed()));
        }
        if failed > 0 {
            self.errors += failed;
            if self.first_error.is_none() {
                self.first_error = Some(error());
            }
        }
    }

    /// Records a success: `ops` operations in `latency` when it was measured.
    pub(crate) fn success(&mut self, ops: u64, latency: Option<Duration>) {
        self.ops += ops;
        if let Some(latency) = latency {
            if self.latencies.len() < MAX_LATENCIES_PER_TASK {
                self.latencies
                    .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
            }
        }
    }

    /// Marks the end of the task's work.
    pub(crate) fn finish(mut self) -> TaskStats {
        self.finished = Some(Instant::now());
        self
    }

    /// Records a failure.
    pub(crate) fn failure(&mut self, error: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error());
        }
    }
}

/// The measurement of one workload in one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    /// Successful operations per second.
    pub(crate) ops_per_sec: f64,
    /// Benchmark process CPU time (user + system, every thread) per operation, in µs.
    pub(crate) cpu_per_op: f64,
    /// Allocations per operation in the benchmark process.
    pub(crate) allocs_per_op: f64,
    /// Median latency (of a round, for the raw loop).
    pub(crate) p50: Duration,
    /// 99th percentile latency.
    pub(crate) p99: Duration,
    /// memcached CPU time over wall time, when its pid is known.
    pub(crate) server_cpu: Option<f64>,
    /// Failed operations.
    pub(crate) errors: u64,
    /// The first failure.
    pub(crate) first_error: Option<String>,
}

/// Clocks and counters read at the start of a workload.
pub(crate) struct Meter {
    /// Wall clock at the start.
    wall: Instant,
    /// Own CPU time at the start.
    cpu: Duration,
    /// Allocations at the start.
    allocations: u64,
    /// Server pid and its CPU ticks at the start.
    server: Option<(u32, u64)>,
}

impl Meter {
    /// Starts measuring; `server_pid` is the memcached process, if this benchmark runs it.
    pub(crate) fn start(server_pid: Option<u32>) -> Meter {
        Meter {
            wall: Instant::now(),
            cpu: process_cpu(),
            allocations: crate::alloc::allocations(),
            server: server_pid.and_then(|pid| Some((pid, cpu_ticks(&pid.to_string())?))),
        }
    }
}

/// CPU time of every thread of this process, user and system (`CLOCK_PROCESS_CPUTIME_ID`).
fn process_cpu() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(time.tv_sec).unwrap_or(0),
        u32::try_from(time.tv_nsec).unwrap_or(0),
    )
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

/// Combines the tasks of one workload run, measured by `meter`, into a sample.
/// Throughput is measured up to the last task's last operation.
pub(crate) fn summarize(tasks: Vec<TaskStats>, meter: &Meter) -> Sample {
    let cpu = process_cpu().saturating_sub(meter.cpu);
    let allocations = crate::alloc::allocations() - meter.allocations;
    let wall = meter.wall.elapsed().as_secs_f64().max(1e-9);
    let server_cpu = meter.server.and_then(|(pid, before)| {
        let after = cpu_ticks(&pid.to_string())?;
        Some(after.saturating_sub(before) as f64 / TICKS_PER_SEC / wall)
    });
    let end = tasks
        .iter()
        .filter_map(|task| task.finished)
        .max()
        .unwrap_or(meter.wall);
    let elapsed = end.duration_since(meter.wall).as_secs_f64().max(1e-9);
    let mut sample = Sample {
        server_cpu,
        ..Sample::default()
    };
    let mut latencies = Vec::new();
    let mut ops = 0;
    for task in tasks {
        ops += task.ops;
        sample.errors += task.errors;
        if sample.first_error.is_none() {
            sample.first_error = task.first_error;
        }
        latencies.extend(task.latencies);
    }
    sample.ops_per_sec = ops as f64 / elapsed;
    let per_op = (ops as f64).max(1.0);
    sample.cpu_per_op = cpu.as_secs_f64() * 1e6 / per_op;
    sample.allocs_per_op = allocations as f64 / per_op;
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

/// The median of each figure over the runs (the lower middle one for an even count); the
/// first error of any run.
pub(crate) fn median(samples: &[Sample]) -> Option<Sample> {
    let first = samples.first()?;
    let middle = |figure: fn(&Sample) -> f64| {
        let mut values: Vec<f64> = samples.iter().map(figure).collect();
        values.sort_by(f64::total_cmp);
        values[(values.len() - 1) / 2]
    };
    let duration = |figure: fn(&Sample) -> Duration| {
        let mut values: Vec<Duration> = samples.iter().map(figure).collect();
        values.sort_unstable();
        values[(values.len() - 1) / 2]
    };
    Some(Sample {
        ops_per_sec: middle(|s| s.ops_per_sec),
        cpu_per_op: middle(|s| s.cpu_per_op),
        allocs_per_op: middle(|s| s.allocs_per_op),
        p50: duration(|s| s.p50),
        p99: duration(|s| s.p99),
        server_cpu: first
            .server_cpu
            .map(|_| middle(|s| s.server_cpu.unwrap_or(0.0))),
        errors: samples.iter().map(|s| s.errors).sum(),
        first_error: samples.iter().find_map(|s| s.first_error.clone()),
    })
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
        let before = process_cpu();
        let spin = (0..1_000_000u64).fold(0u64, |a, b| a.wrapping_add(b * b));
        assert!(spin > 0 && process_cpu() > before);
    }

    #[test]
    fn medians_are_taken_per_figure() {
        let sample = |ops, cpu| Sample {
            ops_per_sec: ops,
            cpu_per_op: cpu,
            ..Sample::default()
        };
        let runs = [sample(3.0, 1.0), sample(1.0, 3.0), sample(2.0, 2.0)];
        let middle = median(&runs).unwrap();
        assert_eq!((middle.ops_per_sec, middle.cpu_per_op), (2.0, 2.0));
        assert!(median(&[]).is_none());
    }
}
