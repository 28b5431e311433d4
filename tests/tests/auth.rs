//! memcached's ASCII authentication (`-Y`): every connection authenticates before use.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use memcache_it::Memcached;
use memcache_tokio::{Client, Error};

/// A running server with one user, and its user file (removed on drop).
struct AuthServer {
    server: Memcached,
    users: PathBuf,
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

impl AuthServer {
    fn start() -> Self {
        let users = std::env::temp_dir().join(format!(
            "memcache-it-auth-{}-{}",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&users, "alice:wonderland\n").expect("write user file");
        let server = Memcached::start_with(&["-Y", users.to_str().expect("utf-8 temp path")]);
        AuthServer { server, users }
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.users);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_client_works() {
    let auth = AuthServer::start();
    let client = Client::builder([auth.server.addr()])
        .credentials("alice", "wonderland")
        .build()
        .unwrap();
    client.set("auth:key", "value").await.unwrap();
    let item = client.get("auth:key").await.unwrap().unwrap();
    assert_eq!(item.value, "value");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_an_auth_error_naming_the_node() {
    let auth = AuthServer::start();
    let client = Client::builder([auth.server.addr()])
        .credentials("alice", "looking-glass")
        .timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    // The first call meets the refusal, and so do calls while the node backs off: the
    // failure is remembered as what it is, not as a connect error.
    for _ in 0..2 {
        let error = client.get("auth:key").await.unwrap_err();
        assert!(!error.is_transient(), "{error}");
        assert!(error.to_string().contains(&auth.server.addr()), "{error}");
        match error {
            Error::Auth { node, message } => {
                assert_eq!(node, auth.server.addr());
                assert!(message.contains("refused the credentials"), "{message}");
            }
            other => panic!("expected an authentication error, got {other:?}"),
        }
    }
    let metrics = client.metrics();
    assert!(metrics[0].1.connections_failed >= 1, "{metrics:?}");
    assert_eq!(metrics[0].1.connections, 0, "{metrics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_are_an_auth_error() {
    let auth = AuthServer::start();
    let client = Client::builder([auth.server.addr()]).build().unwrap();
    // The server refuses the connection's first command: an authentication failure
    // carrying the server's words, never a reply handed to the caller's request.
    match client.get("auth:key").await {
        Err(Error::Auth { node, message }) => {
            assert_eq!(node, auth.server.addr());
            assert!(message.contains("unauthenticated"), "{message}");
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
}
