//! Opening a connection: socket, TLS, authentication, and a first answer from the server.
//!
//! A connection counts as established only once the server has answered on it. memcached
//! at its connection limit accepts, writes `ERROR Too many open connections` and closes;
//! without the first answer that line would be read as the reply to a caller's request.
//! With credentials the authentication reply is that answer; otherwise a `version` round
//! trip is.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::future::{select, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use memproto::{Command, Decoder, Encoder, Reply, ServerErrorKind};

use crate::cluster::addr::NodeAddr;
use crate::error::Error;
use crate::io::auth;
use crate::io::runtime::{Runtime, Socket, SocketOptions};
use crate::observe::{self, Stage};

/// Everything needed to open one node's connections.
#[derive(Clone)]
pub(crate) struct Connector<R: Runtime> {
    pub(crate) runtime: R,
    pub(crate) addr: NodeAddr,
    pub(crate) timeout: Duration,
    pub(crate) options: SocketOptions,
    pub(crate) credentials: Option<(String, String)>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::io::tls::Tls>,
}

/// Why one step of opening a connection failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The socket, the TLS handshake or the exchange failed.
    Io(io::Error),
    /// The server refused the credentials, or requires some and got none.
    Refused(String),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Io(error)
    }
}

impl<R: Runtime> Connector<R> {
    /// Connects and waits for the server's first answer, bounded by the connect timeout.
    /// A failure is already the error callers see: [`Error::Auth`] when the server refused
    /// the credentials, else [`Error::Connect`].
    pub(crate) fn open(
        &self,
    ) -> impl Future<Output = Result<Box<dyn Socket>, Error>> + Send + 'static {
        let this = self.clone();
        async move {
            let started = this.runtime.now();
            let connect = this.establish();
            let timer = this.runtime.sleep(this.timeout);
            futures::pin_mut!(connect, timer);
            let result = match select(connect, timer).await {
                Either::Left((result, _)) => result,
                Either::Right(_) => Err((
                    Stage::Timeout,
                    Failure::Io(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
                )),
            };
            let elapsed = this.runtime.now().saturating_duration_since(started);
            match result {
                Ok(socket) => {
                    observe::connected(&this.addr, elapsed);
                    Ok(socket)
                }
                Err((stage, failure)) => {
                    let error = this.error(failure);
                    observe::connect_failed(&this.addr, stage, elapsed, &error);
                    Err(error)
                }
            }
        }
    }

    /// The error callers see for `failure`.
    fn error(&self, failure: Failure) -> Error {
        let node = self.addr.to_string();
        match failure {
            Failure::Io(source) => Error::Connect {
                node,
                source: Arc::new(source),
            },
            Failure::Refused(message) => Error::Auth { node, message },
        }
    }

    async fn establish(&self) -> Result<Box<dyn Socket>, (Stage, Failure)> {
        let at = |stage: Stage| move |failure: Failure| (stage, failure);
        let io_at = |stage: Stage| move |error: io::Error| (stage, Failure::Io(error));
        let (socket, host) = match &self.addr {
            NodeAddr::Tcp { host, port } => (
                self.runtime
                    .connect_tcp(host, *port, &self.options)
                    .await
                    .map_err(io_at(Stage::Socket))?,
                Some(host.as_str()),
            ),
            NodeAddr::Unix(path) => (
                self.runtime
                    .connect_unix(path)
                    .await
                    .map_err(io_at(Stage::Socket))?,
                None,
            ),
            // In-process: no TLS to speak, but authentication and the first answer as
            // from any server.
            #[cfg(feature = "testing")]
            NodeAddr::Memory(server) => (server.connect().map_err(io_at(Stage::Socket))?, None),
        };
        #[cfg(feature = "tls")]
        let socket = match &self.tls {
            Some(tls) if !self.addr.is_in_process() => {
                tls.connect(host, socket).await.map_err(io_at(Stage::Tls))?
            }
            _ => socket,
        };
        #[cfg(not(feature = "tls"))]
        let _ = host;
        let mut socket = socket;
        match &self.credentials {
            Some((user, password)) => auth::authenticate(&mut socket, user, password)
                .await
                .map_err(at(Stage::Auth))?,
            None => probe(&mut socket).await.map_err(at(Stage::Probe))?,
        }
        Ok(socket)
    }
}

/// Sends `version` and waits for its answer: proof that the server serves this connection.
async fn probe(socket: &mut Box<dyn Socket>) -> Result<(), Failure> {
    match exchange(socket, &Command::Version).await? {
        Reply::Version(_) => Ok(()),
        // memcached with an auth file answers every command before authentication so.
        Reply::Error(error)
            if error.kind == ServerErrorKind::Client
                && &error.message[..] == b"unauthenticated" =>
        {
            Err(Failure::Refused(
                "the server requires authentication and no credentials are configured \
                 (CLIENT_ERROR unauthenticated)"
                    .to_owned(),
            ))
        }
        Reply::Error(error) => Err(Failure::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "server refused the connection: {}",
                String::from_utf8_lossy(&error.message)
            ),
        ))),
        other => Err(Failure::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected first answer {other:?}"),
        ))),
    }
}

/// Writes one command on a fresh connection and reads its one reply (before the
/// connection's driver exists).
pub(crate) async fn exchange(
    socket: &mut Box<dyn Socket>,
    command: &Command<'_>,
) -> io::Result<Reply> {
    let mut request = BytesMut::new();
    let expect = Encoder::new()
        .encode(command, &mut request)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    socket.write_all(&request).await?;
    socket.flush().await?;
    let mut decoder = Decoder::default();
    decoder.push(expect);
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 512];
    loop {
        match decoder.decode(&mut buf) {
            // Anything after the one reply was sent unasked: this is no server to trust.
            Ok(Some(_)) if !buf.is_empty() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "unsolicited bytes after the first answer",
                ))
            }
            Ok(Some(reply)) => return Ok(reply),
            Ok(None) => {}
            Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
        let read = socket.read(&mut chunk).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection before answering",
            ));
        }
        buf.extend_from_slice(&chunk[..read]);
    }
}
