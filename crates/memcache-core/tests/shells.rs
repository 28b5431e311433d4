//! The async shells (the connection driver, the pool shell and its upkeep task, the
//! execution path's timers) over in-memory sockets, on tokio's paused clock: timing rules
//! checked to the millisecond, deterministically, with no real server and no real time.
//! The integration suite in `tests/` covers the same client against real memcached.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memcache_core::{Client, ClientBuilder, Error, Runtime, Socket, SocketOptions};
use memcache_tokio::TokioRuntime;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::time::Instant;
use tokio_util::compat::TokioAsyncReadCompatExt;

/// How the scripted server behaves after answering the connection's `version` probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    /// Answers `get`, `set` and `version`.
    Answer,
    /// Reads everything, answers nothing more.
    Silent,
    /// Refuses every connection.
    Refuse,
}

/// A runtime whose connections reach a scripted in-memory server; tokio's for the rest,
/// so a paused tokio clock drives every timer.
#[derive(Clone)]
struct Mock {
    script: Script,
    /// Connection attempts so far.
    attempts: Arc<AtomicUsize>,
    /// The server's items, shared by its connections.
    items: Arc<Mutex<HashMap<String, String>>>,
}

impl Mock {
    fn new(script: Script) -> Self {
        Mock {
            script,
            attempts: Arc::default(),
            items: Arc::default(),
        }
    }

    fn client(&self) -> ClientBuilder<Mock> {
        ClientBuilder::with_runtime(self.clone(), ["mock:11211"])
    }

    /// A client with this operation timeout.
    fn client_timing_out_after(&self, timeout: Duration) -> Client<Mock> {
        self.client().timeout(timeout).build().expect("valid")
    }
}

impl Runtime for Mock {
    type Sleep = tokio::time::Sleep;

    async fn connect_tcp(
        &self,
        _host: &str,
        _port: u16,
        _options: &SocketOptions,
    ) -> io::Result<Box<dyn Socket>> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if self.script == Script::Refuse {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(serve(server, self.script, self.items.clone()));
        Ok(Box::new(client.compat()))
    }

    fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        TokioRuntime.spawn(task);
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        TokioRuntime.sleep(duration)
    }

    fn now(&self) -> std::time::Instant {
        TokioRuntime.now()
    }
}

/// The scripted server's side of one connection.
async fn serve(socket: DuplexStream, script: Script, items: Arc<Mutex<HashMap<String, String>>>) {
    let (read, mut write) = tokio::io::split(socket);
    let mut read = BufReader::new(read);
    let mut line = String::new();
    let mut probed = false;
    loop {
        line.clear();
        match read.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["version"] if !probed || script == Script::Answer => {
                probed = true;
                "VERSION 1.6.99\r\n".to_owned()
            }
            _ if script == Script::Silent => continue,
            ["get", key] => match items.lock().expect("items").get(*key) {
                Some(value) => format!("VALUE {key} 0 {}\r\n{value}\r\nEND\r\n", value.len()),
                None => "END\r\n".to_owned(),
            },
            ["set", key, _, _, len] => {
                let mut data = vec![0; len.parse::<usize>().unwrap_or(0) + 2];
                if read.read_exact(&mut data).await.is_err() {
                    return;
                }
                data.truncate(data.len() - 2);
                let value = String::from_utf8_lossy(&data).into_owned();
                items
                    .lock()
                    .expect("items")
                    .insert((*key).to_owned(), value);
                "STORED\r\n".to_owned()
            }
            _ => "ERROR\r\n".to_owned(),
        };
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_answering_server_serves_sets_and_gets() {
    let mock = Mock::new(Script::Answer);
    let client: Client<Mock> = mock.client().build().expect("valid");
    client.set("greeting", "hello").await.expect("stored");
    let item = client.get("greeting").await.expect("answered");
    assert_eq!(item.map(|item| item.value), Some("hello".into()));
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_a_request_out_exactly_at_its_deadline() {
    let client = Mock::new(Script::Silent).client_timing_out_after(Duration::from_millis(250));
    client.version("mock:11211").await.ok();
    let started = Instant::now();
    let outcome = client.get("k").await;
    assert!(
        matches!(outcome, Err(Error::Timeout { written: true, .. })),
        "{outcome:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    // A per-call timeout overrides the client's.
    let started = Instant::now();
    let outcome = client.get("k").timeout(Duration::from_millis(40)).await;
    assert!(matches!(outcome, Err(Error::Timeout { .. })), "{outcome:?}");
    assert_eq!(started.elapsed(), Duration::from_millis(40));
}

#[tokio::test(start_paused = true)]
async fn idle_connections_close_at_the_idle_timeout_and_no_sooner() {
    let mock = Mock::new(Script::Answer);
    let client: Client<Mock> = mock
        .client()
        .min_connections(0)
        .idle_timeout(Some(Duration::from_secs(10)))
        .build()
        .expect("valid");
    client.set("k", "v").await.expect("stored");
    let connections = |client: &Client<Mock>| client.metrics()[0].1.connections;
    assert_eq!(connections(&client), 1);
    tokio::time::sleep(Duration::from_millis(9_990)).await;
    assert_eq!(connections(&client), 1, "not idle long enough yet");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(connections(&client), 0, "closed by the pool's upkeep");
    // The next call opens one again.
    client.get("k").await.expect("answered");
    assert_eq!(connections(&client), 1);
}

#[tokio::test(start_paused = true)]
async fn a_refused_node_is_probed_on_its_backoff_not_in_a_loop() {
    let mock = Mock::new(Script::Refuse);
    let client = mock.client_timing_out_after(Duration::from_millis(100));
    for _ in 0..3 {
        let outcome = client.get("k").await;
        assert!(matches!(outcome, Err(Error::Connect { .. })), "{outcome:?}");
    }
    let down_after = mock.attempts.load(Ordering::Relaxed);
    assert!(
        down_after <= 3,
        "{down_after} attempts before the node was down"
    );
    // Ten virtual seconds later, with nobody calling, the node was probed a handful of
    // times (a doubling backoff), not once per upkeep tick.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let probes = mock.attempts.load(Ordering::Relaxed) - down_after;
    assert!((1..=8).contains(&probes), "{probes} probes in 10 s");
    assert!(client.unhealthy_nodes().len() == 1);
}
