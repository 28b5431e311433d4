//! memcached's ASCII authentication (`-Y` auth file): a `set` whose value is
//! `<user> <password>`, sent before anything else on the connection.

use memproto::{Command, Reply, Store, StoreMode};

use crate::io::connect::{exchange, Failure};
use crate::io::runtime::Socket;

/// Authenticates the fresh connection `socket`. The server's refusal is a
/// [`Failure::Refused`], kept apart from I/O failures so that callers learn that retrying
/// cannot help.
pub(crate) async fn authenticate(
    socket: &mut Box<dyn Socket>,
    user: &str,
    password: &str,
) -> Result<(), Failure> {
    let value = format!("{user} {password}");
    let command = Command::Store(Store::new(StoreMode::Set, b"auth", value.as_bytes()));
    let reply = exchange(socket, &command).await.map_err(|error| {
        if error.kind() == std::io::ErrorKind::InvalidInput {
            // The encoder refused the command: the credentials themselves are unusable.
            Failure::Refused(format!("credentials cannot be sent: {error}"))
        } else {
            Failure::Io(error)
        }
    })?;
    match reply {
        Reply::Stored => Ok(()),
        Reply::Error(error) => Err(Failure::Refused(format!(
            "the server refused the credentials: {}",
            String::from_utf8_lossy(&error.message)
        ))),
        other => Err(Failure::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unexpected authentication reply {other:?}"),
        ))),
    }
}
