//! TLS for connections to memcached servers started with `-Z` (rustls). The crypto
//! provider is ring with the `tls-ring` feature, else aws-lc-rs with `tls-aws-lc`, else
//! whichever the process installed as rustls' default.

use std::fmt;
use std::io;
use std::sync::Arc;

use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::crypto::{self, CryptoProvider};
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use futures_rustls::TlsConnector;
use rustls_pki_types::pem::PemObject;

use crate::io::runtime::Socket;

/// How to secure connections with TLS. Give it to [`crate::ClientBuilder::tls`].
///
/// ```
/// # fn demo(ca_pem: &[u8]) -> Result<(), memcache_core::TlsError> {
/// use memcache_core::Tls;
/// let tls = Tls::with_ca_pem(ca_pem)?.server_name("cache.internal")?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    server_name: Option<ServerName<'static>>,
    /// The host name of the one node this copy connects to, when that node is reached at
    /// an address its certificate does not name: autodiscovery connects to each node's IP
    /// but checks the certificate against its host name. `server_name` still wins.
    node_name: Option<String>,
}

/// Why a TLS configuration could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The PEM text held no certificate, or a certificate could not be parsed or trusted.
    #[error("invalid CA certificates: {0}")]
    Certificates(String),
    /// The server name is not a valid DNS name or IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .field("node_name", &self.node_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// TLS with a rustls configuration of your own (client certificates, custom roots,
    /// another crypto provider).
    pub fn new(config: Arc<ClientConfig>) -> Self {
        Tls {
            connector: TlsConnector::from(config),
            server_name: None,
            node_name: None,
        }
    }

    /// TLS that trusts exactly the CA certificates in `pem` (one or more PEM blocks).
    ///
    /// # Errors
    /// [`TlsError::Certificates`] when `pem` holds no usable certificate.
    pub fn with_ca_pem(pem: &[u8]) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|error| TlsError::Certificates(error.to_string()))?;
            roots
                .add(cert)
                .map_err(|error| TlsError::Certificates(error.to_string()))?;
        }
        if roots.is_empty() {
            return Err(TlsError::Certificates(
                "no certificate found in the PEM text".into(),
            ));
        }
        let config = builder()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls::new(Arc::new(config)))
    }

    /// TLS that encrypts but **does not verify the server's certificate** (like emcache's
    /// `ssl_verify=False`). Anyone on the path can impersonate the server: use it only for
    /// tests or networks you trust.
    pub fn danger_accept_any_certificate() -> Result<Self, TlsError> {
        let verifier = AcceptAnyCertificate(provider()?);
        let config = builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Tls::new(Arc::new(config)))
    }

    /// The name to verify the server's certificate against (and send as SNI), instead of
    /// each node's host. Needed for unix-socket nodes and for nodes named by IP address
    /// whose certificate names a host. Nodes found by autodiscovery need it only when
    /// their certificates do not name the host names the configuration lists (see
    /// [`crate::ClientBuilder::autodiscovery`]); when set, it is used for them too.
    ///
    /// # Errors
    /// [`TlsError::ServerName`] when `name` is not a DNS name or IP address.
    pub fn server_name(mut self, name: &str) -> Result<Self, TlsError> {
        let parsed = ServerName::try_from(name.to_owned())
            .map_err(|_| TlsError::ServerName(name.to_owned()))?;
        self.server_name = Some(parsed);
        Ok(self)
    }

    /// This configuration for one node whose certificate names `host` while the node is
    /// reached at another address (a discovered node, reached at its IP). A name set with
    /// [`Tls::server_name`] still takes precedence: it is the caller's explicit choice.
    pub(crate) fn for_node(&self, host: &str) -> Tls {
        Tls {
            node_name: Some(host.to_owned()),
            ..self.clone()
        }
    }

    /// Runs the TLS handshake over `socket`, for a node whose host is `host` (`None` for
    /// unix sockets). The certificate is checked against the first of: the configured
    /// server name, the node's own host name ([`Tls::for_node`]), `host`.
    pub(crate) async fn connect(
        &self,
        host: Option<&str>,
        socket: Box<dyn Socket>,
    ) -> io::Result<Box<dyn Socket>> {
        let host = self.node_name.as_deref().or(host);
        let name = match (&self.server_name, host) {
            (Some(name), _) => name.clone(),
            (None, Some(host)) => ServerName::try_from(host.to_owned()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid TLS server name {host:?}"),
                )
            })?,
            (None, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS over a unix socket needs Tls::server_name",
                ))
            }
        };
        let stream = self.connector.connect(name, socket).await?;
        Ok(Box::new(stream))
    }
}

#[cfg(feature = "tls-ring")]
fn provider() -> Result<Arc<CryptoProvider>, TlsError> {
    // rustls 0.23.48 deprecates this constructor because ring has no post-quantum key
    // exchange, and ring has no other. It stays the default provider here because it builds
    // without a C toolchain; `tls-aws-lc` (or `tls` with an installed provider) gives
    // post-quantum key exchange.
    #[allow(deprecated)]
    let ring = crypto::ring::default_provider();
    Ok(Arc::new(ring))
}

#[cfg(all(feature = "tls-aws-lc", not(feature = "tls-ring")))]
fn provider() -> Result<Arc<CryptoProvider>, TlsError> {
    Ok(Arc::new(crypto::aws_lc_rs::default_provider()))
}

#[cfg(not(any(feature = "tls-ring", feature = "tls-aws-lc")))]
fn provider() -> Result<Arc<CryptoProvider>, TlsError> {
    CryptoProvider::get_default().cloned().ok_or_else(|| {
        TlsError::Config(
            "no rustls crypto provider: enable the `tls-ring` or `tls-aws-lc` feature, \
             or install one with `CryptoProvider::install_default`"
                .to_owned(),
        )
    })
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, TlsError> {
    ClientConfig::builder_with_provider(provider()?)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))
}

/// Accepts any certificate, but still checks that the handshake is signed by the key in it.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
