//! The state machines driven directly, in virtual time: every lifecycle policy, no sockets.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::channel::oneshot;
use memproto::{Command, Encoder, Limits};

use super::connection::{Budget, Connection, ConnectionConfig, Refusal, WRITE_HIGH_WATER};
use super::pool::{jittered, later, Action, Placement, Pool, PoolConfig};
use super::reply;
use super::request::{Affinity, Outcome, Submission};
use super::ConnCell;
use crate::error::Error;

const MS: Duration = Duration::from_millis(1);

fn config() -> ConnectionConfig {
    ConnectionConfig {
        limits: Limits::for_max_item_size(1024 * 1024),
        budget: Budget::default(),
        autobatch_max_keys: None,
        coalesce_writes: true,
    }
}

fn connection(now: Instant) -> Connection {
    Connection::new("node:1".into(), &config(), now)
}

/// A `get key` request, its reply receiver, with the given caller deadline and patience.
fn get(
    key: &str,
    deadline: Option<Instant>,
    patience: Option<Duration>,
) -> (Submission, reply::ReplyReceiver) {
    super::pair::get_request(key, deadline, patience)
}

/// A `set key value` whose reply nobody waits for.
fn detached_set(key: &str, value: &[u8]) -> Submission {
    super::pair::set_request(key, value)
}

fn transmit(conn: &mut Connection, now: Instant) -> BytesMut {
    let mut out = BytesMut::new();
    conn.poll_transmit(now, &mut out);
    out
}

fn feed(conn: &mut Connection, bytes: &[u8]) -> Result<usize, Error> {
    let mut buf = BytesMut::from(bytes);
    conn.handle_read(&mut buf)
}

fn reply(receiver: &mut reply::ReplyReceiver) -> Option<Outcome> {
    receiver.try_recv().expect("sender kept until completion")
}

// --- connection -------------------------------------------------------------------------

/// A quiet batch deleting `keys` (opaques 0, 1, ...) ended by `mn`.
fn delete_batch(keys: &[&str]) -> (Submission, reply::ReplyReceiver) {
    delete_batch_quiet(keys, true)
}

/// A batch deleting `keys` (opaques 0, 1, ...), quiet or not, ended by `mn`.
fn delete_batch_quiet(keys: &[&str], quiet: bool) -> (Submission, reply::ReplyReceiver) {
    let encoder = Encoder::new();
    let mut batch = crate::ops::meta_batch::MetaBatch::with_room(keys.len(), 0);
    for key in keys {
        let token = crate::client::protocol::Token::new(batch.len() as u64);
        let common = memproto::MetaCommon {
            opaque: Some(token.as_bytes()),
            quiet,
            ..Default::default()
        };
        let delete = memproto::MetaDelete {
            key: key.as_bytes(),
            common,
            ..Default::default()
        };
        batch
            .push(&encoder, &Command::MetaDelete(delete))
            .expect("valid");
    }
    let (bytes, expect) = batch.finish(&encoder).expect("valid");
    let (sender, receiver) = reply::channel();
    let request = Submission {
        bytes,
        expect,
        reply: Some(sender),
        deadline: None,
        patience: None,
        batch: None,
        affinity: Affinity::None,
        read_only: false,
        timed_out: false,
    };
    (request, receiver)
}

#[test]
fn a_batch_is_answered_once_all_its_replies_are_in() {
    let now = Instant::now();
    let mut conn = connection(now);
    let (batch, mut rb) = delete_batch(&["a", "b", "c"]);
    let (after, mut ra) = get("d", None, None);
    conn.submit(now, batch).unwrap();
    conn.submit(now, after).unwrap();
    assert_eq!(
        &transmit(&mut conn, now)[..],
        &b"md a O0 q\r\nmd b O1 q\r\nmd c O2 q\r\nmn\r\nget d\r\n"[..]
    );
    // `b` was missing; the others were deleted in silence. Nothing is delivered until `mn`.
    assert_eq!(feed(&mut conn, b"NF O1\r\n").unwrap(), 0);
    assert!(reply(&mut rb).is_none());
    assert_eq!(feed(&mut conn, b"MN\r\nEND\r\n").unwrap(), 2);
    match reply(&mut rb) {
        Some(Outcome::Replies(replies)) => {
            let statuses: Vec<_> = replies
                .iter()
                .map(|reply| match reply.meta_status() {
                    Some(status) => status,
                    None => panic!("{reply:?}"),
                })
                .collect();
            use memproto::MetaStatus::{Mn, Nf, Quiet};
            assert_eq!(statuses, [Quiet, Nf, Quiet, Mn]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        reply(&mut ra),
        Some(Outcome::Reply(memproto::Reply::Values(_)))
    ));
    assert_eq!(conn.load(), 0);
}

#[test]
fn a_quiet_batch_cut_off_midway_keeps_only_certain_replies() {
    let now = Instant::now();
    let mut conn = connection(now);
    let (batch, mut rb) = delete_batch(&["a", "b"]);
    conn.submit(now, batch).unwrap();
    transmit(&mut conn, now);
    assert_eq!(feed(&mut conn, b"NF O0\r\n").unwrap(), 0);
    let closed = conn.close(Error::Closed);
    assert_eq!(closed.failed, 1);
    // `a`'s reply came; `b`'s silence was never proven (no `MN`): it gets the error.
    match reply(&mut rb) {
        Some(Outcome::Cut { replies, error }) => {
            assert_eq!(replies.len(), 1);
            assert!(matches!(error, Error::Closed));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn replies_complete_callers_in_order() {
    let now = Instant::now();
    let mut conn = connection(now);
    let (a, mut ra) = get("a", None, None);
    let (b, mut rb) = get("b", None, None);
    conn.submit(now, a).unwrap();
    conn.submit(now, b).unwrap();
    assert_eq!(&transmit(&mut conn, now)[..], b"get a\r\nget b\r\n");
    assert_eq!(
        feed(&mut conn, b"VALUE a 0 1\r\n1\r\nEND\r\nEND\r\n").unwrap(),
        2
    );
    match reply(&mut ra) {
        Some(Outcome::Reply(memproto::Reply::Values(items))) => assert_eq!(items[0].value, "1"),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(reply(&mut rb), Some(Outcome::Reply(memproto::Reply::Values(items))) if items.is_empty())
    );
    assert_eq!(conn.load(), 0);
}

#[test]
fn requests_queued_while_a_write_awaits_replies_go_out_together_once_it_is_answered() {
    let now = Instant::now();
    let mut conn = connection(now);
    let (a, _ra) = get("a", None, None);
    conn.submit(now, a).unwrap();
    // Nothing in flight: written at once.
    assert!(conn.wants_transmit());
    assert_eq!(&transmit(&mut conn, now)[..], b"get a\r\n");
    let (b, _rb) = get("b", None, None);
    let (c, _rc) = get("c", None, None);
    conn.submit(now, b).unwrap();
    conn.submit(now, c).unwrap();
    // `a` is due: `b` and `c` wait for its reply, then leave in one write.
    assert!(!conn.wants_transmit());
    assert_eq!(feed(&mut conn, b"END\r\n").unwrap(), 1);
    assert!(conn.wants_transmit());
    assert_eq!(&transmit(&mut conn, now)[..], b"get b\r\nget c\r\n");
    assert!(!conn.wants_transmit());
}

#[test]
fn without_write_coalescing_requests_are_written_at_once() {
    let now = Instant::now();
    let config = ConnectionConfig {
        coalesce_writes: false,
        ..config()
    };
    let mut conn = Connection::new("node:1".into(), &config, now);
    let (a, _ra) = get("a", None, None);
    conn.submit(now, a).unwrap();
    transmit(&mut conn, now);
    let (b, _rb) = get("b", None, None);
    conn.submit(now, b).unwrap();
    assert!(conn.wants_transmit());
    assert_eq!(&transmit(&mut conn, now)[..], b"get b\r\n");
}

#[test]
fn a_full_write_buffer_of_requests_is_written_without_waiting_for_replies() {
    let now = Instant::now();
    let mut conn = connection(now);
    let (first, _first) = get("first", None, None);
    conn.submit(now, first).unwrap();
    transmit(&mut conn, now);
    let key = "k".repeat(200);
    let mut receivers = Vec::new();
    while !conn.wants_transmit() {
        let (request, receiver) = get(&key, None, None);
        conn.submit(now, request).unwrap();
        receivers.push(receiver);
    }
    assert!(receivers.len() * (key.len() + 6) >= WRITE_HIGH_WATER);
}

#[test]
fn bytes_nobody_asked_for_close_the_connection() {
    let now = Instant::now();
    let mut conn = connection(now);
    let error = feed(&mut conn, b"VALUE k 0 1\r\nx\r\nEND\r\n").unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
}

#[test]
fn server_error_fails_only_its_request() {
    let now = Instant::now();
    let mut conn = connection(now);
    let (a, mut ra) = get("a", None, None);
    let (b, mut rb) = get("b", None, None);
    conn.submit(now, a).unwrap();
    conn.submit(now, b).unwrap();
    transmit(&mut conn, now);
    feed(&mut conn, b"SERVER_ERROR out of memory\r\nEND\r\n").unwrap();
    assert!(matches!(
        reply(&mut ra),
        Some(Outcome::Reply(memproto::Reply::Error(_)))
    ));
    assert!(matches!(
        reply(&mut rb),
        Some(Outcome::Reply(memproto::Reply::Values(_)))
    ));
    assert_eq!(
        conn.refusal(now),
        None,
        "the connection keeps taking requests"
    );
    let (c, _rc) = get("c", None, None);
    conn.submit(now, c).unwrap();
}

#[test]
fn a_caller_timeout_makes_the_connection_refuse_until_it_catches_up() {
    let start = Instant::now();
    let now = start;
    let mut conn = connection(start);
    let (a, _ra) = get("a", Some(start + 100 * MS), Some(1000 * MS));
    conn.submit(now, a).unwrap();
    transmit(&mut conn, start);
    assert_eq!(conn.poll_timeout(), Some(start + 100 * MS));
    assert_eq!(conn.refusal(start + 99 * MS), None);
    // Right at the deadline, before the driver has even handled it.
    assert_eq!(conn.refusal(start + 100 * MS), Some(Refusal::Behind));
    conn.handle_timeout(start + 100 * MS).unwrap();
    let (b, _rb) = get("b", None, None);
    let refused = conn.submit(now, b).unwrap_err();
    assert_eq!(refused.reason, Refusal::Behind);
    // The late reply arrives: caught up.
    feed(&mut conn, b"END\r\n").unwrap();
    assert_eq!(conn.refusal(now), None);
    conn.submit(now, refused.request).unwrap();
}

#[test]
fn the_connection_times_callers_out_itself() {
    let start = Instant::now();
    let now = start;
    let mut conn = connection(start);
    // One written request and one still queued behind a full write buffer would both
    // outlive their callers' deadlines: the connection fails them with Timeout at the
    // deadline, without a timer of the caller's own.
    let (a, mut ra) = get("a", Some(start + 100 * MS), Some(Duration::from_secs(1)));
    conn.submit(now, a).unwrap();
    transmit(&mut conn, now);
    let (b, mut rb) = get("b", Some(start + 50 * MS), None);
    conn.submit(now, b).unwrap();
    assert_eq!(conn.poll_timeout(), Some(start + 50 * MS));
    conn.handle_timeout(start + 50 * MS).unwrap();
    // Never written: the caller may send it again, whatever it is.
    match reply(&mut rb) {
        Some(Outcome::Failed(error @ Error::Timeout { written: false, .. })) => {
            assert!(error.is_retry_safe());
            assert!(error.to_string().contains("node:1"));
        }
        other => panic!("{other:?}"),
    }
    assert!(reply(&mut ra).is_none());
    assert_eq!(conn.poll_timeout(), Some(start + 100 * MS));
    conn.handle_timeout(start + 100 * MS).unwrap();
    // Written: it may have been executed.
    match reply(&mut ra) {
        Some(Outcome::Failed(error @ Error::Timeout { written: true, .. })) => {
            assert!(!error.is_retry_safe());
        }
        other => panic!("{other:?}"),
    }
    // `b` is never written; `a`'s late reply is read and dropped.
    assert!(transmit(&mut conn, start + 101 * MS).is_empty());
    feed(&mut conn, b"END\r\n").unwrap();
    assert_eq!(conn.load(), 0);
    assert_eq!(conn.refusal(start + 102 * MS), None);
}

#[test]
fn merged_gets_time_out_caller_by_caller() {
    let start = Instant::now();
    let now = start;
    let mut conn = Connection::new(
        "node:1".into(),
        &ConnectionConfig {
            autobatch_max_keys: Some(8),
            coalesce_writes: true,
            ..config()
        },
        start,
    );
    let batched = |key: &str, deadline| {
        let (mut request, receiver) = get(key, Some(deadline), Some(Duration::from_secs(1)));
        request.batch = Some(crate::engine::autobatch::BatchKey {
            key: Bytes::copy_from_slice(key.as_bytes()),
            with_cas: false,
        });
        (request, receiver)
    };
    let (a, mut ra) = batched("a", start + 100 * MS);
    let (b, mut rb) = batched("b", start + 300 * MS);
    conn.submit(now, a).unwrap();
    conn.submit(now, b).unwrap();
    assert_eq!(&transmit(&mut conn, now)[..], b"get a b\r\n");
    conn.handle_timeout(start + 100 * MS).unwrap();
    assert!(matches!(
        reply(&mut ra),
        Some(Outcome::Failed(Error::Timeout { node, .. })) if &*node == "node:1"
    ));
    assert!(reply(&mut rb).is_none(), "b's deadline has not come");
    feed(&mut conn, b"VALUE b 0 1\r\n2\r\nEND\r\n").unwrap();
    assert!(
        matches!(reply(&mut rb), Some(Outcome::Reply(memproto::Reply::Values(items))) if items.len() == 1)
    );
    assert_eq!(conn.load(), 0);
}

#[test]
fn each_request_has_its_own_stuck_deadline() {
    let start = Instant::now();
    let now = start;
    let mut conn = connection(start);
    // A patient request at the head, an impatient one behind it.
    let (slow, _r1) = get("slow", None, Some(Duration::from_secs(60)));
    let (fast, _r2) = get("fast", None, Some(200 * MS));
    conn.submit(now, slow).unwrap();
    conn.submit(now, fast).unwrap();
    transmit(&mut conn, start);
    assert_eq!(conn.poll_timeout(), Some(start + 200 * MS));
    conn.handle_timeout(start + 199 * MS).unwrap();
    let error = conn.handle_timeout(start + 200 * MS).unwrap_err();
    assert!(matches!(error, Error::ConnectionLost { .. }), "{error:?}");
}

#[test]
fn answered_requests_leave_no_deadline_behind() {
    let start = Instant::now();
    let now = start;
    let mut conn = connection(start);
    let (a, _ra) = get("a", Some(start + 100 * MS), Some(200 * MS));
    conn.submit(now, a).unwrap();
    transmit(&mut conn, start);
    feed(&mut conn, b"END\r\n").unwrap();
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_timeout(start + Duration::from_secs(10))
        .unwrap();
    assert_eq!(conn.refusal(now), None);
}

#[test]
fn the_budget_bounds_requests_and_bytes() {
    let now = Instant::now();
    let mut conn = Connection::new(
        "node:1".into(),
        &ConnectionConfig {
            budget: Budget {
                requests: 2,
                bytes: 10_000,
            },
            ..config()
        },
        now,
    );
    conn.submit(now, get("a", None, None).0).unwrap();
    conn.submit(now, get("b", None, None).0).unwrap();
    let refused = conn.submit(now, get("c", None, None).0).unwrap_err();
    assert_eq!(refused.reason, Refusal::Full);
    assert_eq!(conn.refusal(now), Some(Refusal::Full));

    // Bytes: an empty connection takes even an oversized request, alone.
    let mut conn = Connection::new(
        "node:1".into(),
        &ConnectionConfig {
            budget: Budget {
                requests: 100,
                bytes: 1000,
            },
            ..config()
        },
        now,
    );
    conn.submit(now, detached_set("big", &[b'x'; 5000]))
        .unwrap();
    assert_eq!(
        conn.submit(now, detached_set("small", b"x"))
            .unwrap_err()
            .reason,
        Refusal::Full
    );
    transmit(&mut conn, now);
    feed(&mut conn, b"STORED\r\n").unwrap();
    assert_eq!(conn.load_bytes(), 0);
    conn.submit(now, detached_set("small", b"x")).unwrap();
}

#[test]
fn abandoned_requests_are_never_written() {
    let now = Instant::now();
    let mut conn = connection(now);
    let (a, ra) = get("a", None, None);
    let (b, _rb) = get("b", None, None);
    let (c, _rc) = get("c", Some(now), None);
    conn.submit(now, a).unwrap();
    conn.submit(now, b).unwrap();
    conn.submit(now, c).unwrap();
    drop(ra); // caller a gave up; c's deadline is now
    assert_eq!(&transmit(&mut conn, now)[..], b"get b\r\n");
    assert_eq!(conn.load(), 1);
    assert_eq!(
        conn.poll_timeout(),
        None,
        "b has no deadline; a and c never count"
    );
}

#[test]
fn the_write_buffer_takes_requests_only_up_to_its_high_water_mark() {
    let now = Instant::now();
    let mut conn = connection(now);
    let value = vec![b'v'; 10 * 1024];
    for i in 0..20 {
        conn.submit(now, detached_set(&format!("k{i}"), &value))
            .unwrap();
    }
    let out = transmit(&mut conn, now);
    assert!(out.len() >= WRITE_HIGH_WATER && out.len() < WRITE_HIGH_WATER + 11 * 1024);
    assert_eq!(conn.load(), 20, "the rest stay queued, still counted");
}

#[test]
fn closing_fails_written_requests_and_hands_back_unwritten_ones() {
    let now = Instant::now();
    let mut conn = connection(now);
    let (a, mut ra) = get("a", None, None);
    conn.submit(now, a).unwrap();
    transmit(&mut conn, now);
    let (b, mut rb) = get("b", None, None);
    conn.submit(now, b).unwrap();
    conn.submit(now, detached_set("c", b"1")).unwrap();
    let closed = conn.close(Error::Closed);
    assert_eq!(closed.failed, 1);
    assert_eq!(closed.unsent_detached.len(), 1);
    assert!(matches!(
        reply(&mut ra),
        Some(Outcome::Failed(Error::Closed))
    ));
    assert!(
        reply(&mut rb).is_none(),
        "told only once the writes went elsewhere"
    );
    assert_eq!(closed.unsent_callers.len(), 1);
    assert!(conn.is_closed());
    assert_eq!(
        conn.submit(now, get("d", None, None).0).unwrap_err().reason,
        Refusal::Closed
    );
}

#[test]
fn noreply_requests_hold_their_keys_until_answered() {
    let now = Instant::now();
    let mut conn = connection(now);
    conn.submit(now, detached_set("k", b"1")).unwrap();
    assert!(conn.holds_any(&Affinity::of_key(b"k")));
    assert!(!conn.holds_any(&Affinity::of_key(b"other")));
    assert!(conn.holds_any(&Affinity::of_keys(&[b"x", b"k"])));
    transmit(&mut conn, now);
    feed(&mut conn, b"STORED\r\n").unwrap();
    assert!(!conn.holds_any(&Affinity::of_key(b"k")));
}

#[test]
fn a_graceful_finish_drains_then_reports_done() {
    let now = Instant::now();
    let mut conn = connection(now);
    let (a, _ra) = get("a", None, None);
    conn.submit(now, a).unwrap();
    transmit(&mut conn, now);
    conn.finish(None);
    assert_eq!(
        conn.submit(now, get("b", None, None).0).unwrap_err().reason,
        Refusal::Closed
    );
    assert!(!conn.is_drained());
    feed(&mut conn, b"END\r\n").unwrap();
    assert!(conn.is_drained());
}

// --- pool -------------------------------------------------------------------------------

fn pool_config() -> PoolConfig {
    PoolConfig {
        min: 1,
        max: 2,
        idle_timeout: Some(Duration::from_secs(60)),
        backoff: (50 * MS, Duration::from_secs(5)),
        unhealthy_after: 3,
    }
}

fn actions(pool: &mut Pool) -> Vec<Action> {
    pool.take_actions()
}

fn connects(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|action| matches!(action, Action::Connect))
        .count()
}

fn cell(now: Instant, budget: Budget) -> Arc<ConnCell> {
    ConnCell::new(Connection::new(
        "node:1".into(),
        &ConnectionConfig { budget, ..config() },
        now,
    ))
}

/// Room for one request at a time.
const ONE_REQUEST: Budget = Budget {
    requests: 1,
    bytes: 1 << 20,
};

/// A pool whose first connections opened with these budgets, its actions so far consumed.
fn pool_with(config: PoolConfig, now: Instant, budgets: &[Budget]) -> (Pool, Vec<Arc<ConnCell>>) {
    let mut pool = Pool::new("node:1".into(), config);
    pool.warm_up();
    actions(&mut pool);
    let conns = budgets
        .iter()
        .map(|&budget| {
            let conn = cell(now, budget);
            assert!(pool.connected(conn.clone()));
            conn
        })
        .collect();
    (pool, conns)
}

/// A one-connection pool whose connection is full with a request for `a`, and a caller
/// waiting for room.
struct FullPool {
    pool: Pool,
    conn: Arc<ConnCell>,
    /// `a`'s reply.
    reply: reply::ReplyReceiver,
    /// The waiting caller's wake-up.
    room: oneshot::Receiver<Result<(), Error>>,
}

fn full_pool_with_a_waiter(now: Instant) -> FullPool {
    let config = PoolConfig {
        max: 1,
        ..pool_config()
    };
    let (mut pool, conns) = pool_with(config, now, &[ONE_REQUEST]);
    let (a, reply) = get("a", None, None);
    assert!(matches!(pool.submit(now, a, true), Placement::Placed(_)));
    let Placement::Wait(room) = pool.submit(now, get("b", None, None).0, true) else {
        panic!("waits");
    };
    FullPool {
        pool,
        conn: conns[0].clone(),
        reply,
        room,
    }
}

fn refused() -> Error {
    Error::Connect {
        node: "node:1".into(),
        source: Arc::new(io::Error::new(io::ErrorKind::ConnectionRefused, "refused")),
    }
}

#[test]
fn the_first_request_opens_a_connection_and_waits_for_it() {
    let now = Instant::now();
    let mut pool = Pool::new("node:1".into(), pool_config());
    let Placement::Wait(mut room) = pool.submit(now, get("a", None, None).0, true) else {
        panic!("no connection yet");
    };
    assert_eq!(connects(&actions(&mut pool)), 1);
    assert!(room.try_recv().unwrap().is_none());
    assert!(pool.connected(cell(now, Budget::default())));
    assert!(matches!(room.try_recv(), Ok(Some(Ok(())))));
    assert!(matches!(
        pool.submit(now, get("a", None, None).0, true),
        Placement::Placed(_)
    ));
}

#[test]
fn failed_connects_back_off_instead_of_storming() {
    let start = Instant::now();
    let mut pool = Pool::new("node:1".into(), pool_config());
    let mut attempts = 0;
    let mut now = start;
    // A caller retrying in a tight loop for 500 ms against a server that refuses every
    // connection (or accepts and closes before answering).
    while now < start + 500 * MS {
        match pool.submit(now, get("a", None, None).0, true) {
            Placement::Wait(_) => {}
            Placement::Failed(Error::Connect { .. }) => {}
            other => panic!("{other:?}"),
        }
        let started = connects(&actions(&mut pool));
        for _ in 0..started {
            pool.connect_failed(now, refused());
        }
        attempts += started;
        now += MS;
    }
    // Three attempts in a row take the node down; then one probe per backoff (25-50,
    // 50-100, 100-200, 200-400 ms): a handful of attempts, not hundreds.
    assert!((5..=8).contains(&attempts), "{attempts} attempts");
}

#[test]
fn a_failed_attempt_is_retried_at_once_for_the_callers_waiting() {
    let now = Instant::now();
    let mut pool = Pool::new("node:1".into(), pool_config());
    let Placement::Wait(mut room) = pool.submit(now, get("a", None, None).0, true) else {
        panic!("no connection yet");
    };
    assert_eq!(connects(&actions(&mut pool)), 1);
    // One bad connection (a garbage probe, a close) is not a node down: a fresh attempt
    // starts at once, and the caller keeps waiting for it.
    pool.connect_failed(now, refused());
    assert_eq!(connects(&actions(&mut pool)), 1);
    assert!(room.try_recv().unwrap().is_none());
    assert!(!pool.is_down(now));
    assert!(pool.connected(cell(now, Budget::default())));
    assert!(matches!(room.try_recv(), Ok(Some(Ok(())))));
}

#[test]
fn the_backoff_of_a_down_node_doubles_with_jitter() {
    let start = Instant::now();
    let config = PoolConfig {
        backoff: (Duration::from_millis(100), Duration::from_secs(1)),
        ..pool_config()
    };
    let mut pool = Pool::new("node:1".into(), config);
    let mut now = start;
    for _ in 0..2 {
        pool.warm_up();
        actions(&mut pool);
        pool.connect_failed_with(now, refused(), 0);
        assert!(!pool.is_down(now));
    }
    // Down after the third: fail fast for 50-100 ms, then 100-200 ms after the next probe.
    for (low, high) in [(50, 100), (100, 200), (200, 400), (400, 800), (500, 1000)] {
        pool.warm_up();
        actions(&mut pool);
        pool.connect_failed_with(now, refused(), 0);
        assert!(pool.is_down(now));
        assert!(matches!(
            pool.submit(now, get("a", None, None).0, true),
            Placement::Failed(Error::Connect { .. })
        ));
        assert!(pool.is_down(now + (low - 1) * MS), "{low}");
        assert!(!pool.is_down(now + low * MS), "{low}");
        now += high * MS;
    }
    // The random part of the wait stays within its half.
    for random in [1, 7, u64::MAX] {
        let delay = jittered(Duration::from_millis(100), random);
        assert!(delay >= 50 * MS && delay < 100 * MS, "{delay:?}");
    }
}

#[test]
fn repeated_connect_failures_make_the_node_unhealthy_and_a_success_heals_it() {
    let mut now = Instant::now();
    let mut pool = Pool::new("node:1".into(), pool_config());
    let mut reports = Vec::new();
    for _ in 0..3 {
        pool.warm_up();
        actions(&mut pool);
        pool.connect_failed(now, refused());
        reports.extend(actions(&mut pool));
        now += Duration::from_secs(10);
    }
    assert!(reports
        .iter()
        .any(|a| matches!(a, Action::Health { healthy: false, .. })));
    // Upkeep keeps probing an unhealthy node, once the backoff allows.
    pool.handle_timeout(now);
    assert_eq!(connects(&actions(&mut pool)), 1);
    pool.handle_timeout(now);
    assert_eq!(connects(&actions(&mut pool)), 0, "one probe at a time");
    assert!(pool.connected(cell(now, Budget::default())));
    assert!(actions(&mut pool)
        .iter()
        .any(|a| matches!(a, Action::Health { healthy: true, .. })));
}

#[test]
fn a_full_node_makes_callers_wait_or_fail_fast() {
    let now = Instant::now();
    let config = PoolConfig {
        max: 1,
        ..pool_config()
    };
    let (mut pool, _) = pool_with(config, now, &[ONE_REQUEST]);
    let (a, _ra) = get("a", None, None);
    assert!(matches!(pool.submit(now, a, true), Placement::Placed(_)));
    match pool.submit(now, get("b", None, None).0, false) {
        Placement::Failed(Error::Overloaded { node }) => assert_eq!(node, "node:1"),
        other => panic!("{other:?}"),
    }
    let Placement::Wait(mut room) = pool.submit(now, get("b", None, None).0, true) else {
        panic!("waits");
    };
    assert_eq!(pool.waiting(), 1);
    // The reply frees room: the waiter is told to try again.
    let conn = pool.connections()[0].clone();
    transmit(&mut conn.lock(), now);
    let answered = feed(&mut conn.lock(), b"END\r\n").unwrap();
    pool.room(answered);
    assert!(matches!(room.try_recv(), Ok(Some(Ok(())))));
}

#[test]
fn a_connection_that_is_behind_takes_no_new_requests() {
    let start = Instant::now();
    let (mut pool, _) = pool_with(pool_config(), start, &[Budget::default()]);
    let (a, _ra) = get("a", Some(start + 100 * MS), Some(Duration::from_secs(1)));
    let Placement::Placed(first) = pool.submit(start, a, true) else {
        panic!("placed");
    };
    transmit(&mut first.lock(), start);
    first.lock().handle_timeout(start + 100 * MS).unwrap();
    // The next request does not queue behind the overdue one: it opens a second connection.
    let later_now = start + 101 * MS;
    let Placement::Wait(_) = pool.submit(later_now, get("b", None, None).0, true) else {
        panic!("waits for the new connection");
    };
    assert_eq!(connects(&actions(&mut pool)), 1);
    pool.connected(cell(later_now, Budget::default()));
    let Placement::Placed(second) = pool.submit(later_now, get("b", None, None).0, true) else {
        panic!("placed");
    };
    assert!(!Arc::ptr_eq(&first, &second));
}

#[test]
fn a_closed_connection_with_waiters_triggers_a_reconnect_or_fails_them() {
    let now = Instant::now();
    let FullPool {
        mut pool,
        conn,
        reply: _reply,
        mut room,
    } = full_pool_with_a_waiter(now);
    actions(&mut pool);
    conn.lock().close(Error::Closed);
    pool.conn_closed(now, &conn);
    assert_eq!(
        connects(&actions(&mut pool)),
        1,
        "the waiter is not left waiting forever"
    );
    // Failed attempts are retried for the waiter until the node is down (3 in a row).
    for _ in 0..2 {
        pool.connect_failed(now, refused());
        assert_eq!(connects(&actions(&mut pool)), 1);
        assert!(room.try_recv().unwrap().is_none());
    }
    pool.connect_failed(now, refused());
    assert_eq!(connects(&actions(&mut pool)), 0);
    assert!(matches!(
        room.try_recv(),
        Ok(Some(Err(Error::Connect { .. })))
    ));
}

#[test]
fn idle_connections_above_the_minimum_are_closed() {
    let start = Instant::now();
    let config = PoolConfig {
        idle_timeout: Some(Duration::ZERO),
        ..pool_config()
    };
    let (mut pool, _) = pool_with(config, start, &[Budget::default(); 2]);
    pool.handle_timeout(start);
    let woken = actions(&mut pool)
        .into_iter()
        .filter_map(|action| match action {
            Action::Wake(cell) => Some(cell),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(woken.len(), 1, "one purged, the minimum kept");
    assert!(woken[0].lock().is_drained());
    // It stays in the pool (a close waits for it) until its driver reports its end.
    assert_eq!(pool.connections().len(), 2);
    pool.conn_closed(start, &woken[0]);
    assert_eq!(pool.connections().len(), 1);
}

#[test]
fn extreme_settings_neither_overflow_nor_spin() {
    let now = Instant::now();
    let config = PoolConfig {
        min: 0,
        max: 1,
        idle_timeout: Some(Duration::ZERO),
        backoff: (Duration::MAX, Duration::MAX),
        unhealthy_after: 1,
    };
    assert_eq!(config.backoff_after(u32::MAX), Duration::MAX);
    assert!(later(now, Duration::MAX) > now);
    let mut pool = Pool::new("node:1".into(), config);
    pool.warm_up();
    actions(&mut pool);
    pool.connect_failed(now, refused());
    assert!(matches!(
        pool.submit(
            now + Duration::from_secs(3600),
            get("a", None, None).0,
            true
        ),
        Placement::Failed(Error::Connect { .. })
    ));
    pool.handle_timeout(now);
}

#[test]
fn noreply_writes_pin_only_their_own_keys() {
    let now = Instant::now();
    let (mut pool, _) = pool_with(pool_config(), now, &[Budget::default(); 2]);
    let Placement::Placed(held) = pool.submit(now, detached_set("k", b"1"), true) else {
        panic!("placed");
    };
    // Reads of `k` follow the write, however loaded its connection is.
    for _ in 0..5 {
        let Placement::Placed(conn) = pool.submit(now, get("k", None, None).0, true) else {
            panic!("placed");
        };
        assert!(Arc::ptr_eq(&conn, &held));
    }
    // Other keys go to the less loaded connection.
    let Placement::Placed(other) = pool.submit(now, get("x", None, None).0, true) else {
        panic!("placed");
    };
    assert!(!Arc::ptr_eq(&other, &held));
}

#[test]
fn close_fails_waiters_refuses_new_requests_and_drains() {
    let now = Instant::now();
    let mut pool = Pool::new("node:1".into(), pool_config());
    let Placement::Wait(mut room) = pool.submit(now, get("a", None, None).0, true) else {
        panic!("waits");
    };
    actions(&mut pool);
    pool.close(None);
    assert!(matches!(room.try_recv(), Ok(Some(Err(Error::Closed)))));
    assert!(matches!(
        pool.submit(now, get("b", None, None).0, true),
        Placement::Failed(Error::Closed)
    ));
    let mut drained = pool.on_drained();
    assert!(
        drained.try_recv().unwrap().is_none(),
        "an attempt is still out"
    );
    assert!(
        !pool.connected(cell(now, Budget::default())),
        "refused while closing"
    );
    assert!(matches!(drained.try_recv(), Ok(Some(()))));
}

#[test]
fn a_close_deadline_ends_a_graceful_close() {
    let start = Instant::now();
    let now = start;
    let mut conn = connection(start);
    let (a, _ra) = get("a", None, None);
    conn.submit(now, a).unwrap();
    transmit(&mut conn, now);
    conn.finish(Some(start + Duration::from_secs(5)));
    assert_eq!(conn.poll_timeout(), Some(start + Duration::from_secs(5)));
    assert!(matches!(
        conn.handle_timeout(start + Duration::from_secs(5)),
        Err(Error::Closed)
    ));
}

#[test]
fn skipped_and_merged_requests_free_room_for_waiters() {
    let now = Instant::now();
    let mut conn = connection(now);
    let (a, ra) = get("a", None, None);
    let (b, _rb) = get("b", None, None);
    conn.submit(now, a).unwrap();
    conn.submit(now, b).unwrap();
    drop(ra);
    assert_eq!(conn.poll_transmit(now, &mut BytesMut::new()), 1);
    assert_eq!(conn.load(), 1);
}

#[test]
fn timed_out_queued_requests_are_not_handed_back() {
    let start = Instant::now();
    let now = start;
    let mut conn = connection(start);
    let (a, mut ra) = get("a", Some(start + 10 * MS), None);
    conn.submit(now, a).unwrap();
    conn.handle_timeout(start + 10 * MS).unwrap();
    assert!(matches!(
        reply(&mut ra),
        Some(Outcome::Failed(Error::Timeout { node, .. })) if &*node == "node:1"
    ));
    let closed = conn.close(Error::Closed);
    assert!(closed.unsent_detached.is_empty());
    assert!(closed.unsent_callers.is_empty());
}

#[test]
fn a_multi_key_read_waits_while_its_keys_are_written_on_several_connections() {
    let now = Instant::now();
    let (mut pool, _) = pool_with(pool_config(), now, &[Budget::default(); 2]);
    let Placement::Placed(first) = pool.submit(now, detached_set("a", b"1"), true) else {
        panic!("placed");
    };
    // Make the first connection the busier one so `b` goes to the other.
    first.lock().submit(now, get("x", None, None).0).unwrap();
    let Placement::Placed(second) = pool.submit(now, detached_set("b", b"1"), true) else {
        panic!("placed");
    };
    assert!(!Arc::ptr_eq(&first, &second));
    let keys: [&[u8]; 2] = [b"a", b"b"];
    let (mut request, _receiver) = get("a", None, None);
    request.affinity = Affinity::of_keys(&keys);
    assert!(matches!(
        pool.submit(now, request, true),
        Placement::Wait(_)
    ));
}

#[test]
fn connects_cut_short_by_close_do_not_make_the_node_unhealthy() {
    let now = Instant::now();
    let mut pool = Pool::new(
        "node:1".into(),
        PoolConfig {
            unhealthy_after: 1,
            ..pool_config()
        },
    );
    pool.warm_up();
    actions(&mut pool);
    pool.close(None);
    pool.connect_failed(now, refused());
    assert!(!actions(&mut pool)
        .iter()
        .any(|a| matches!(a, Action::Health { .. })));
    assert!(matches!(pool.on_drained().try_recv(), Ok(Some(()))));
}

#[test]
fn the_pool_times_only_the_work_it_has() {
    let start = Instant::now();
    // At the minimum, with nothing to reopen: no timer at all.
    let (mut pool, _) = pool_with(pool_config(), start, &[Budget::default()]);
    assert_eq!(pool.poll_timeout(start), None);
    // Above it, the idle connections' expiry.
    assert!(pool.connected(cell(start, Budget::default())));
    actions(&mut pool);
    let idle = Duration::from_secs(60);
    assert_eq!(pool.poll_timeout(start), Some(start + idle));
    pool.handle_timeout(start + idle - MS);
    assert!(actions(&mut pool).is_empty(), "nothing is due early");
    pool.handle_timeout(start + idle);
    let purged = actions(&mut pool)
        .iter()
        .filter(|action| matches!(action, Action::Wake(_)))
        .count();
    assert_eq!(purged, 1, "one purged, the minimum kept");
    // Closing needs no timer.
    pool.close(None);
    assert_eq!(pool.poll_timeout(start), None);
}

#[test]
fn a_failed_connect_reopens_the_minimum_after_a_backoff_not_in_a_loop() {
    let start = Instant::now();
    let mut pool = Pool::new("node:1".into(), pool_config());
    pool.warm_up();
    assert_eq!(connects(&actions(&mut pool)), 1);
    pool.connect_failed_with(start, refused(), 0);
    let taken = actions(&mut pool);
    assert!(taken
        .iter()
        .any(|action| matches!(action, Action::Reschedule)));
    assert_eq!(connects(&taken), 0, "nobody waits: upkeep reopens it later");
    // The first backoff, jittered into its upper half (here its least).
    let due = pool.poll_timeout(start).expect("a reopen is due");
    assert_eq!(due, start + 25 * MS);
    pool.handle_timeout(due - MS);
    assert_eq!(connects(&actions(&mut pool)), 0, "not before its time");
    pool.handle_timeout(due);
    assert_eq!(connects(&actions(&mut pool)), 1);
    assert_eq!(pool.poll_timeout(due), None, "one attempt at a time");
}

#[test]
fn a_node_down_is_probed_when_its_backoff_ends() {
    let mut now = Instant::now();
    let mut pool = Pool::new("node:1".into(), pool_config());
    for _ in 0..3 {
        pool.warm_up();
        actions(&mut pool);
        pool.connect_failed_with(now, refused(), 0);
        actions(&mut pool);
        now += Duration::from_secs(10);
    }
    let failed_at = now - Duration::from_secs(10);
    assert_eq!(pool.poll_timeout(failed_at), Some(failed_at + 25 * MS));
}

#[test]
fn bytes_trickling_in_never_postpone_the_stuck_deadline() {
    let start = Instant::now();
    let mut conn = connection(start);
    let (a, mut ra) = get("a", Some(start + 100 * MS), Some(110 * MS));
    conn.submit(start, a).unwrap();
    transmit(&mut conn, start);
    let wire = b"VALUE a 0 20\r\n01234567890123456789\r\nEND\r\n";
    let mut buf = BytesMut::new();
    let mut now = start;
    // One byte every 5 ms: each read makes progress, none completes the reply in time.
    for &byte in wire.iter().take(30) {
        now += 5 * MS;
        buf.extend_from_slice(&[byte]);
        conn.handle_read(&mut buf).unwrap();
        let due = conn.poll_timeout().expect("a deadline is armed");
        if due <= now {
            match conn.handle_timeout(now) {
                Ok(()) => {}
                Err(error) => {
                    assert!(now <= start + 115 * MS, "closed late, at {:?}", now - start);
                    assert!(matches!(error, Error::ConnectionLost { .. }), "{error:?}");
                    conn.close(error);
                    // The caller was told at its own deadline, before the close.
                    assert!(matches!(
                        reply(&mut ra),
                        Some(Outcome::Failed(Error::Timeout { written: true, .. }))
                    ));
                    return;
                }
            }
        }
        // A caller timed out: nothing new goes on this connection.
        if now >= start + 100 * MS {
            assert_eq!(conn.refusal(now), Some(Refusal::Behind));
        }
    }
    panic!("the stuck deadline never closed the connection");
}

#[test]
fn a_batch_cut_short_hands_over_the_replies_that_came() {
    let start = Instant::now();
    // Its deadline passes after two of its three commands were answered.
    let mut conn = connection(start);
    let (mut batch, mut receiver) = delete_batch_quiet(&["a", "b", "c"], false);
    batch.deadline = Some(start + 100 * MS);
    batch.patience = Some(Duration::from_secs(1));
    conn.submit(start, batch).unwrap();
    transmit(&mut conn, start);
    feed(&mut conn, b"HD O0\r\nNF O1\r\n").unwrap();
    conn.handle_timeout(start + 100 * MS).unwrap();
    match reply(&mut receiver) {
        Some(Outcome::Cut { replies, error }) => {
            assert_eq!(replies.len(), 2);
            assert!(matches!(error, Error::Timeout { written: true, .. }));
        }
        other => panic!("{other:?}"),
    }
    // The rest is read and dropped: the stream stays in step.
    feed(&mut conn, b"HD O2\r\nMN\r\n").unwrap();
    assert_eq!(conn.load(), 0);

    // Its connection fails after one reply.
    let mut conn = connection(start);
    let (batch, mut receiver) = delete_batch_quiet(&["a", "b"], false);
    conn.submit(start, batch).unwrap();
    transmit(&mut conn, start);
    feed(&mut conn, b"HD O0\r\n").unwrap();
    conn.close(Error::Closed);
    match reply(&mut receiver) {
        Some(Outcome::Cut { replies, error }) => {
            assert_eq!(replies.len(), 1);
            assert!(matches!(error, Error::Closed));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn keys_of_a_draining_connection_wait_for_its_drain() {
    let now = Instant::now();
    let mut conn = connection(now);
    conn.submit(now, detached_set("k", b"1")).unwrap();
    transmit(&mut conn, now);
    // Coalescing: these wait, unwritten, for the first write's reply.
    conn.submit(now, detached_set("k", b"2")).unwrap();
    conn.submit(now, detached_set("j", b"3")).unwrap();
    let closed = conn.close(Error::Closed);
    assert_eq!(closed.unsent_detached.len(), 2);
    assert_eq!(closed.holds, Affinity::of_key(b"k").hashes());

    // The socket may still deliver `k=1`: nothing for `k` goes elsewhere before it.
    let (mut pool, _) = pool_with(pool_config(), now, &[Budget::default()]);
    pool.drain_started(&closed.holds);
    let mut unsent = closed.unsent_detached.into_iter();
    let (k2, j3) = (unsent.next().unwrap(), unsent.next().unwrap());
    assert!(matches!(pool.submit(now, k2, false), Placement::Deferred));
    assert!(matches!(pool.submit(now, j3, false), Placement::Placed(_)));
    let Placement::Wait(mut room) = pool.submit(now, get("k", None, None).0, true) else {
        panic!("a read of k waits for the drain");
    };
    assert!(matches!(
        pool.submit(now, get("k", None, None).0, false),
        Placement::Failed(Error::Overloaded { .. })
    ));
    actions(&mut pool);
    assert_eq!(pool.drain_ended(now, &closed.holds), 0);
    // `k=2` goes out now, and the reader may try again.
    assert!(actions(&mut pool)
        .iter()
        .any(|action| matches!(action, Action::Wake(_))));
    assert!(matches!(room.try_recv(), Ok(Some(Ok(())))));
    assert!(matches!(
        pool.submit(now, get("k", None, None).0, true),
        Placement::Placed(_)
    ));
}

// --- the pair: pool, connections and a scripted server in virtual time ----------------

use super::pair::{Event, Pair};

#[test]
fn a_pair_answers_a_get_once_its_bytes_flow() {
    let mut pair = Pair::new();
    pair.run(&[
        Event::Get {
            key: 1,
            timeout_ms: 100,
            wait: true,
        },
        Event::Connect { ok: true },
        Event::Transmit { link: 0 },
        // The reply arrives in pieces.
        Event::Serve { link: 0, bytes: 7 },
        Event::Serve {
            link: 0,
            bytes: 255,
        },
    ]);
    assert_eq!((pair.answered(), pair.failed()), (1, 0));
}

#[test]
fn a_reply_for_another_key_closes_the_connection_and_reaches_nobody() {
    let mut pair = Pair::new();
    pair.run(&[
        Event::Get {
            key: 1,
            timeout_ms: 0,
            wait: true,
        },
        Event::Get {
            key: 2,
            timeout_ms: 0,
            wait: true,
        },
        Event::Connect { ok: true },
        Event::Transmit { link: 0 },
        Event::Misreply { link: 0 },
        Event::Serve {
            link: 0,
            bytes: 255,
        },
    ]);
    assert_eq!(pair.answered(), 0, "k2's value never reaches k1's caller");
    assert_eq!(pair.failed(), 2);
    assert_eq!(pair.links(), 0);
}

#[test]
fn callers_on_a_silent_connection_fail_at_their_deadline() {
    let mut pair = Pair::new();
    pair.run(&[
        Event::Get {
            key: 1,
            timeout_ms: 50,
            wait: true,
        },
        Event::Connect { ok: true },
        Event::Transmit { link: 0 },
        Event::Advance { ms: 49 },
    ]);
    assert_eq!(pair.failed(), 0);
    pair.run(&[Event::Advance { ms: 1 }]);
    assert_eq!(pair.failed(), 1);
}

/// Pseudo-random event sequences, as the fuzz target plays them, with a fixed seed: the
/// invariants hold in each, and they are not vacuous (callers are answered and failed).
#[test]
fn random_event_sequences_keep_the_invariants() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut answered, mut failed) = (0, 0);
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..180).map(|_| next() as u8).collect();
        let mut pair = Pair::new();
        pair.run(&Event::parse(&bytes));
        answered += pair.answered();
        failed += pair.failed();
    }
    assert!(
        answered > 200 && failed > 1000,
        "{answered} answered, {failed} failed"
    );
}

#[test]
fn callers_waiting_for_the_first_connection_open_no_more() {
    let now = Instant::now();
    let mut pool = Pool::new("node:1".into(), pool_config());
    // Upkeep opened the minimum before anyone asked.
    pool.handle_timeout(now);
    assert_eq!(connects(&actions(&mut pool)), 1);
    for key in ["a", "b", "c"] {
        assert!(matches!(
            pool.submit(now, get(key, None, None).0, true),
            Placement::Wait(_)
        ));
    }
    assert_eq!(
        connects(&actions(&mut pool)),
        0,
        "the one on its way serves them"
    );
}

#[test]
fn busy_connections_past_a_zero_idle_timeout_do_not_make_upkeep_spin() {
    let start = Instant::now();
    let config = PoolConfig {
        idle_timeout: Some(Duration::ZERO),
        ..pool_config()
    };
    let (mut pool, _) = pool_with(config, start, &[Budget::default(); 2]);
    let mut replies = Vec::new();
    for key in ["a", "b"] {
        let (request, reply) = get(key, None, None);
        assert!(matches!(
            pool.submit(start, request, true),
            Placement::Placed(_)
        ));
        replies.push(reply);
    }
    // Both busy: nothing to purge now, so the next look is not now.
    let next = pool.poll_timeout(start).expect("a check is due");
    assert!(next >= start + 10 * MS, "{:?}", next - start);
    pool.handle_timeout(next);
    assert!(
        !actions(&mut pool)
            .iter()
            .any(|action| matches!(action, Action::Wake(_))),
        "busy connections are not purged"
    );
}
