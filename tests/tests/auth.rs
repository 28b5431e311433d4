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
async fn wrong_password_is_a_connect_error() {
    let auth = AuthServer::start();
    let client = Client::builder([auth.server.addr()])
        .credentials("alice", "looking-glass")
        .timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    match client.get("auth:key").await {
        Err(Error::Connect { source, .. }) => {
            assert_eq!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied,
                "{source}"
            );
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_surface_the_server_refusal() {
    let auth = AuthServer::start();
    let client = Client::builder([auth.server.addr()]).build().unwrap();
    // The server refuses the connection's first command: a connect failure carrying the
    // server's words, never a reply handed to the caller's request.
    match client.get("auth:key").await {
        Err(Error::Connect { source, .. }) => {
            assert!(source.to_string().contains("unauthenticated"), "{source}")
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}
