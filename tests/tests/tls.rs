//! TLS against memcached started with `-Z`: certificates made fresh for each run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memcache_it::config_endpoint::ConfigEndpoint;
use memcache_it::Memcached;
use memcache_tokio::rustls::crypto::ring;
use memcache_tokio::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use memcache_tokio::rustls::ServerConfig;
use memcache_tokio::{Client, Error, NodeAddr, Tls};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

/// A CA, a server certificate it signed (for `localhost` and `127.0.0.1` unless told
/// otherwise), and a memcached serving TLS with it. The PEM files are removed on drop.
struct TlsServer {
    server: Memcached,
    ca_pem: String,
    /// The server's certificate and key, for other TLS servers of the same cluster.
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
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
        Self::start_for(&["localhost", "127.0.0.1"])
    }

    /// A server whose certificate names exactly `names`.
    fn start_for(names: &[&str]) -> Self {
        let (ca, ca_key) = certificate_authority();
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let params = CertificateParams::new(names).expect("params");
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
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            files: vec![cert_file, key_file],
        }
    }

    /// A rustls server configuration presenting this server's certificate.
    fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(self.key.clone_key());
        // ring is what the client uses by default; its constructor is deprecated for
        // lacking post-quantum key exchange, which these tests do not need.
        #[allow(deprecated)]
        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .expect("server certificate");
        Arc::new(config)
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

/// Autodiscovery reaches a node at the IP its configuration lists but checks the
/// certificate against the node's host name, which is what certificates name (this one
/// names `localhost` only). The endpoint speaks TLS too, with the same certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_node_is_verified_against_its_host_name() {
    let tls = TlsServer::start_for(&["localhost"]);
    let port = tls.server.port();
    let ca = || Tls::with_ca_pem(tls.ca_pem.as_bytes()).unwrap();
    let entries = [format!("localhost|127.0.0.1|{port}")];
    let endpoint = ConfigEndpoint::start_tls(&entries, tls.server_config());
    let client = Client::discover(&format!("localhost:{}", endpoint.port()))
        .tls(ca())
        .connect()
        .await
        .expect("the node's certificate names its host");
    // Reached, and named (so routed), by its IP.
    assert_eq!(client.nodes(), [NodeAddr::tcp("127.0.0.1", port)]);
    client
        .set("tls:discovered", "through the IP")
        .await
        .unwrap();
    let item = client.get("tls:discovered").await.unwrap().unwrap();
    assert_eq!(item.value, "through the IP");
    client.close().await;

    // The host name is checked, not taken on trust.
    let entries = [format!("other.example|127.0.0.1|{port}")];
    let endpoint = ConfigEndpoint::start_tls(&entries, tls.server_config());
    let refused = Client::discover(&format!("localhost:{}", endpoint.port()))
        .tls(ca())
        .connect()
        .await;
    assert!(
        matches!(refused, Err(Error::Connect { ref node, .. }) if node.starts_with("127.0.0.1:")),
        "{refused:?}"
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
