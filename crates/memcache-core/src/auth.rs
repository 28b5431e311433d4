//! memcached's ASCII authentication (`-Y` auth file): a `set` whose value is
//! `<user> <password>`, sent before anything else on the connection.

use std::io;

use bytes::BytesMut;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use memproto::{Command, Decoder, Encoder, Reply, Store, StoreMode};

use crate::runtime::Socket;

pub(crate) async fn authenticate(
    socket: &mut Box<dyn Socket>,
    user: &str,
    password: &str,
) -> io::Result<()> {
    let refused = |message: String| io::Error::new(io::ErrorKind::PermissionDenied, message);
    let value = format!("{user} {password}");
    let mut request = BytesMut::new();
    let command = Command::Store(Store::new(StoreMode::Set, b"auth", value.as_bytes()));
    let expect = Encoder::new()
        .encode(&command, &mut request)
        .map_err(|error| refused(format!("credentials cannot be sent: {error}")))?;
    socket.write_all(&request).await?;
    socket.flush().await?;

    let mut decoder = Decoder::default();
    decoder.push(expect);
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 512];
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(Reply::Stored)) => return Ok(()),
            Ok(Some(Reply::Error(error))) => {
                return Err(refused(format!(
                    "authentication failed: {}",
                    String::from_utf8_lossy(&error.message)
                )))
            }
            Ok(Some(other)) => {
                return Err(refused(format!(
                    "unexpected authentication reply {other:?}"
                )))
            }
            Ok(None) => {}
            Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
        let read = socket.read(&mut chunk).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during authentication",
            ));
        }
        buf.extend_from_slice(&chunk[..read]);
    }
}
