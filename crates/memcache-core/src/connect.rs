//! Opening a connection: socket, TLS, authentication, and a first answer from the server.
//!
//! A connection counts as established only once the server has answered on it. memcached
//! at its connection limit accepts, writes `ERROR Too many open connections` and closes;
//! without the first answer that line would be read as the reply to a caller's request.
//! With credentials the authentication reply is that answer; otherwise a `version` round
//! trip is.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use futures::future::{select, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use memproto::{Command, Decoder, Encoder, Reply};

use crate::addr::NodeAddr;
use crate::auth;
use crate::runtime::{Runtime, Socket, SocketOptions};

/// Everything needed to open one node's connections.
#[derive(Clone)]
pub(crate) struct Connector<R: Runtime> {
    pub(crate) runtime: R,
    pub(crate) addr: NodeAddr,
    pub(crate) timeout: Duration,
    pub(crate) options: SocketOptions,
    pub(crate) credentials: Option<(String, String)>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::Tls>,
}

impl<R: Runtime> Connector<R> {
    /// Connects and waits for the server's first answer, bounded by the connect timeout.
    pub(crate) fn open(
        &self,
    ) -> impl Future<Output = io::Result<Box<dyn Socket>>> + Send + 'static {
        let this = self.clone();
        async move {
            let connect = this.establish();
            let timer = this.runtime.sleep(this.timeout);
            futures::pin_mut!(connect, timer);
            match select(connect, timer).await {
                Either::Left((result, _)) => result,
                Either::Right(_) => {
                    Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
                }
            }
        }
    }

    async fn establish(&self) -> io::Result<Box<dyn Socket>> {
        let (socket, host) = match &self.addr {
            NodeAddr::Tcp { host, port } => (
                self.runtime.connect_tcp(host, *port, &self.options).await?,
                Some(host.as_str()),
            ),
            NodeAddr::Unix(path) => (self.runtime.connect_unix(path).await?, None),
        };
        #[cfg(feature = "tls")]
        let socket = match &self.tls {
            Some(tls) => tls.connect(host, socket).await?,
            None => socket,
        };
        #[cfg(not(feature = "tls"))]
        let _ = host;
        let mut socket = socket;
        match &self.credentials {
            Some((user, password)) => auth::authenticate(&mut socket, user, password).await?,
            None => probe(&mut socket).await?,
        }
        Ok(socket)
    }
}

/// Sends `version` and waits for its answer: proof that the server serves this connection.
async fn probe(socket: &mut Box<dyn Socket>) -> io::Result<()> {
    match exchange(socket, &Command::Version).await? {
        Reply::Version(_) => Ok(()),
        Reply::Error(error) => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "server refused the connection: {}",
                String::from_utf8_lossy(&error.message)
            ),
        )),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected first answer {other:?}"),
        )),
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
