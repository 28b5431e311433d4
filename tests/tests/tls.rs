//! TLS against memcached started with `-Z`: certificates made fresh for each run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use memcache_it::Memcached;
use memcache_tokio::{Client, Error, Tls};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

/// A CA, a server certificate it signed (for `localhost` and `127.0.0.1`), and a
/// memcached serving TLS with it. The PEM files are removed on drop.
struct TlsServer {
    server: Memcached,
    ca_pem: String,
    files: Vec<PathBuf>,
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "memcache-it-tls-{}-{}-{name}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, contents).expect("write PEM file");
    path
}

fn certificate_authority() -> (rcgen::Certificate, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("self-signed CA");
    (cert, key)
}

impl TlsServer {
    fn start() -> Self {
        let (ca, ca_key) = certificate_authority();
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("params");
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .expect("server certificate");
        let cert_file = temp_file("cert.pem", &cert.pem());
        let key_file = temp_file("key.pem", &key.serialize_pem());
        let option = format!(
            "ssl_chain_cert={},ssl_key={}",
            cert_file.display(),
            key_file.display()
        );
        let server = Memcached::start_tls(&["-Z", "-o", &option]);
        TlsServer {
            server,
            ca_pem: ca.pem(),
            files: vec![cert_file, key_file],
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_tls_round_trip() {
    let tls = TlsServer::start();
    let client = Client::builder([tls.server.addr()])
        .tls(Tls::with_ca_pem(tls.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    client.set("tls:key", "secret value").await.unwrap();
    let item = client.get("tls:key").await.unwrap().unwrap();
    assert_eq!(item.value, "secret value");
    let many = client.get_many(["tls:key", "tls:missing"]).await.unwrap();
    assert_eq!(many.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_name_override_verifies_against_the_certificate() {
    let tls = TlsServer::start();
    let config = Tls::with_ca_pem(tls.ca_pem.as_bytes())
        .unwrap()
        .server_name("localhost")
        .unwrap();
    let client = Client::builder([tls.server.addr()])
        .tls(config)
        .build()
        .unwrap();
    client.set("tls:name", "ok").await.unwrap();
    assert!(client.get("tls:name").await.unwrap().is_some());

    let wrong = Tls::with_ca_pem(tls.ca_pem.as_bytes())
        .unwrap()
        .server_name("other.example")
        .unwrap();
    let client = Client::builder([tls.server.addr()])
        .tls(wrong)
        .build()
        .unwrap();
    assert!(matches!(
        client.get("tls:name").await,
        Err(Error::Connect { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_is_refused() {
    let tls = TlsServer::start();
    let (other_ca, _) = certificate_authority();
    let client = Client::builder([tls.server.addr()])
        .tls(Tls::with_ca_pem(other_ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    match client.get("tls:key").await {
        Err(Error::Connect { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::InvalidData, "{source}")
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_mode_still_encrypts() {
    let tls = TlsServer::start();
    let client = Client::builder([tls.server.addr()])
        .tls(Tls::danger_accept_any_certificate().unwrap())
        .build()
        .unwrap();
    client.set("tls:any", "v").await.unwrap();
    assert_eq!(client.get("tls:any").await.unwrap().unwrap().value, "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_client_fails_cleanly_against_a_tls_server() {
    let tls = TlsServer::start();
    let client = Client::builder([tls.server.addr()])
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let error = client
        .get("tls:key")
        .await
        .expect_err("plaintext must not work");
    assert!(
        matches!(
            error,
            Error::Connect { .. }
                | Error::ConnectionLost { .. }
                | Error::Protocol { .. }
                | Error::Timeout { .. }
        ),
        "{error:?}"
    );
}

#[test]
fn invalid_pem_is_a_typed_error() {
    assert!(Tls::with_ca_pem(b"not a certificate").is_err());
    assert!(Tls::danger_accept_any_certificate()
        .unwrap()
        .server_name("not a name!")
        .is_err());
}
