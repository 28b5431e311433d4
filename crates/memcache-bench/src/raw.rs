//! The baseline every client figure is compared with: a minimal pipelined socket loop.
//!
//! Each task owns one connection and works in rounds: it writes a round of requests in one
//! write, then reads until every reply of the round has arrived, parsing them in place with
//! `memchr` (no copies, no allocations, no per-request state). With as many requests in
//! flight as the client gets from its tasks, this is what the wire and the kernel cost:
//! the floor the client's CPU per operation is measured against.
//!
//! A batched set is one request of the round: [`MULTI_KEYS`] quiet meta sets
//! (`ms <key> <len> O<n> q`, the opaque being the command's position, as the client sends
//! them) ended by `mn`, whose one reply is `MN` when every set succeeded.

use std::sync::Arc;
use std::time::Instant;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use memcache_core::Socket;

use crate::data::{Data, Op, Rng, KEY_COUNT, LARGE_KEY, LARGE_VALUE, MULTI_KEYS, SMALL_VALUE};
use crate::stats::{Stop, TaskStats};

/// The read buffer of one raw connection; a large value streams through it.
const READ_BUFFER: usize = 64 * 1024;

/// Every request a raw task may send for one operation, prebuilt so the loop spends
/// nothing on formatting.
pub(crate) struct RawPlan {
    /// The requests to pick from, one per operation; for a batched set, one per key: its
    /// command line up to the opaque's digits.
    requests: Vec<Vec<u8>>,
    /// For a batched set, what follows a command's key at each position of the batch: the
    /// opaque's digits, the quiet flag and the value. Empty otherwise.
    tails: Vec<Vec<u8>>,
    /// The operation they perform.
    op: Op,
}

impl RawPlan {
    /// The requests for `op`.
    pub(crate) fn new(data: &Data, op: Op) -> RawPlan {
        let get = |keys: &[String]| {
            let mut line = b"get".to_vec();
            for key in keys {
                line.push(b' ');
                line.extend_from_slice(key.as_bytes());
            }
            line.extend_from_slice(b"\r\n");
            line
        };
        let requests = match op {
            Op::Get => data.keys.chunks(1).map(get).collect(),
            Op::Set => data
                .keys
                .iter()
                .map(|key| {
                    let mut bytes = format!("set {key} 0 0 {SMALL_VALUE}\r\n").into_bytes();
                    bytes.extend_from_slice(&data.small);
                    bytes.extend_from_slice(b"\r\n");
                    bytes
                })
                .collect(),
            Op::GetMany => (0..=KEY_COUNT - MULTI_KEYS)
                .map(|first| get(&data.keys[first..first + MULTI_KEYS]))
                .collect(),
            Op::GetLarge => vec![get(&[LARGE_KEY.to_owned()])],
            Op::SetMany => data
                .keys
                .iter()
                .map(|key| format!("ms {key} {SMALL_VALUE} O").into_bytes())
                .collect(),
        };
        let tails = if op == Op::SetMany {
            (0..MULTI_KEYS)
                .map(|position| {
                    let mut bytes = format!("{position} q\r\n").into_bytes();
                    bytes.extend_from_slice(&data.small);
                    bytes.extend_from_slice(b"\r\n");
                    bytes
                })
                .collect()
        } else {
            Vec::new()
        };
        RawPlan {
            requests,
            tails,
            op,
        }
    }

    /// Appends one request, picked with `rng`, to `out`.
    fn push_request(&self, out: &mut Vec<u8>, rng: &mut Rng) {
        if self.op == Op::SetMany {
            let first = rng.below(KEY_COUNT - MULTI_KEYS + 1);
            let heads = &self.requests[first..first + MULTI_KEYS];
            for (head, tail) in heads.iter().zip(&self.tails) {
                out.extend_from_slice(head);
                out.extend_from_slice(tail);
            }
            out.extend_from_slice(b"mn\r\n");
        } else {
            out.extend_from_slice(&self.requests[rng.below(self.requests.len())]);
        }
    }
}

/// Runs rounds of `round` requests on `socket` until `stop`, counting each request as
/// [`Op::ops_per_call`] operations.
pub(crate) async fn raw_task(
    mut socket: Box<dyn Socket>,
    plan: Arc<RawPlan>,
    round: usize,
    stop: Stop,
    seed: u64,
) -> TaskStats {
    let mut stats = TaskStats::default();
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut buf = vec![0; READ_BUFFER];
    let round_ops = (round * plan.op.ops_per_call()) as u64;
    while !stop.is_set() {
        out.clear();
        for _ in 0..round {
            plan.push_request(&mut out, &mut rng);
        }
        let start = Instant::now();
        match exchange(&mut socket, &out, &mut buf, round, plan.op).await {
            Ok(()) => stats.success(round_ops, Some(start.elapsed())),
            Err(error) => {
                stats.failure(|| error);
                break;
            }
        }
    }
    stats.finish()
}

/// Writes one round and reads its `replies` replies.
async fn exchange(
    socket: &mut Box<dyn Socket>,
    out: &[u8],
    buf: &mut [u8],
    replies: usize,
    op: Op,
) -> Result<(), String> {
    socket
        .write_all(out)
        .await
        .map_err(|error| format!("write: {error}"))?;
    let mut scanner = Scanner::new(op);
    let mut left = replies;
    let mut filled = 0;
    while left > 0 {
        if filled == buf.len() {
            return Err("a reply line longer than the read buffer".to_owned());
        }
        let read = socket
            .read(&mut buf[filled..])
            .await
            .map_err(|error| format!("read: {error}"))?;
        if read == 0 {
            return Err("server closed the connection".to_owned());
        }
        filled += read;
        let (consumed, done) = scanner.scan(&buf[..filled])?;
        left = left
            .checked_sub(done)
            .ok_or("more replies than requests: stream out of step")?;
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
    }
    if filled > 0 {
        return Err("bytes after the last reply: stream out of step".to_owned());
    }
    Ok(())
}

/// Parses the replies of one operation in place, checking each is what the preload stored.
struct Scanner {
    /// The operation whose replies these are.
    op: Op,
    /// Bytes of the current value (and its CRLF) not seen yet.
    skip: usize,
    /// Values seen in the current reply.
    values: usize,
}

impl Scanner {
    /// A scanner at the start of a reply.
    fn new(op: Op) -> Scanner {
        Scanner {
            op,
            skip: 0,
            values: 0,
        }
    }

    /// Scans `buf`; returns how many bytes were consumed and how many replies completed.
    fn scan(&mut self, buf: &[u8]) -> Result<(usize, usize), String> {
        let (expected_values, value_len) = match self.op {
            Op::Get => (1, SMALL_VALUE),
            Op::Set | Op::SetMany => (0, 0),
            Op::GetMany => (MULTI_KEYS, SMALL_VALUE),
            Op::GetLarge => (1, LARGE_VALUE),
        };
        let mut pos = 0;
        let mut done = 0;
        loop {
            if self.skip > 0 {
                let step = self.skip.min(buf.len() - pos);
                pos += step;
                self.skip -= step;
                if self.skip > 0 {
                    break;
                }
                continue;
            }
            let Some(newline) = memchr::memchr(b'\n', &buf[pos..]) else {
                break;
            };
            let line = &buf[pos..pos + newline + 1];
            pos += newline + 1;
            if line.starts_with(b"VALUE ") {
                let len = value_length(line).ok_or("a malformed VALUE line")?;
                if len != value_len {
                    return Err(format!("a value of {len} bytes, expected {value_len}"));
                }
                self.skip = len + 2;
                self.values += 1;
            } else if line == b"END\r\n" && expected_values > 0 {
                if self.values != expected_values {
                    return Err(format!(
                        "{} values in a reply, expected {expected_values}",
                        self.values
                    ));
                }
                self.values = 0;
                done += 1;
            } else if line == b"STORED\r\n" && self.op == Op::Set {
                done += 1;
            } else if line == b"MN\r\n" && self.op == Op::SetMany {
                // Quiet sets that succeeded say nothing: `MN` alone answers the batch.
                done += 1;
            } else {
                return Err(format!(
                    "unexpected reply line {:?}",
                    String::from_utf8_lossy(line)
                ));
            }
        }
        Ok((pos, done))
    }
}

/// The byte count ending a `VALUE <key> <flags> <bytes>\r\n` line.
fn value_length(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"\r\n")?;
    let start = memchr::memrchr(b' ', body)? + 1;
    std::str::from_utf8(&body[start..]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_replies_split_anywhere() {
        let value = vec![b'v'; SMALL_VALUE];
        let mut reply = Vec::new();
        for _ in 0..3 {
            reply.extend_from_slice(format!("VALUE k 0 {SMALL_VALUE}\r\n").as_bytes());
            reply.extend_from_slice(&value);
            reply.extend_from_slice(b"\r\nEND\r\n");
        }
        for split in 0..reply.len() {
            let mut scanner = Scanner::new(Op::Get);
            let (consumed, first) = scanner.scan(&reply[..split]).unwrap();
            let mut rest = reply[consumed..split].to_vec();
            rest.extend_from_slice(&reply[split..]);
            let (consumed, second) = scanner.scan(&rest).unwrap();
            assert_eq!(
                (first + second, consumed),
                (3, rest.len()),
                "split at {split}"
            );
        }
    }

    #[test]
    fn refuses_what_was_not_asked_for() {
        assert!(Scanner::new(Op::Get).scan(b"STORED\r\n").is_err());
        assert!(Scanner::new(Op::Get).scan(b"END\r\n").is_err());
        assert!(Scanner::new(Op::Get)
            .scan(b"VALUE k 0 5\r\nhello\r\n")
            .is_err());
        assert_eq!(Scanner::new(Op::Set).scan(b"STORED\r\nSTO"), Ok((8, 1)));
        assert_eq!(Scanner::new(Op::SetMany).scan(b"MN\r\nM"), Ok((4, 1)));
        assert!(Scanner::new(Op::SetMany).scan(b"NS O7\r\nMN\r\n").is_err());
        assert!(Scanner::new(Op::SetMany).scan(b"END\r\n").is_err());
        assert!(Scanner::new(Op::Set).scan(b"MN\r\n").is_err());
    }

    #[test]
    fn batched_sets_are_quiet_meta_sets_ended_by_mn() {
        let data = Data::new();
        let plan = RawPlan::new(&data, Op::SetMany);
        let mut out = Vec::new();
        plan.push_request(&mut out, &mut Rng::new(1));
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        // A command line and a value per set, then `mn` and what follows its CRLF.
        assert_eq!(lines.len(), 2 * MULTI_KEYS + 2);
        let first = lines[0].strip_prefix("ms bench:key:").unwrap();
        assert!(first.ends_with(&format!(" {SMALL_VALUE} O0 q")), "{first}");
        let last = lines[2 * MULTI_KEYS - 2];
        assert!(last.ends_with(&format!(" O{} q", MULTI_KEYS - 1)), "{last}");
        assert_eq!(lines[1].as_bytes(), data.small.as_slice());
        assert_eq!(&lines[2 * MULTI_KEYS..], ["mn", ""]);
    }
}
