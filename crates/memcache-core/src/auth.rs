//! memcached's ASCII authentication (`-Y` auth file): a `set` whose value is
//! `<user> <password>`, sent before anything else on the connection.

use std::io;

use memproto::{Command, Reply, Store, StoreMode};

use crate::connect::exchange;
use crate::runtime::Socket;

pub(crate) async fn authenticate(
    socket: &mut Box<dyn Socket>,
    user: &str,
    password: &str,
) -> io::Result<()> {
    let refused = |message: String| io::Error::new(io::ErrorKind::PermissionDenied, message);
    let value = format!("{user} {password}");
    let command = Command::Store(Store::new(StoreMode::Set, b"auth", value.as_bytes()));
    let reply = exchange(socket, &command).await.map_err(|error| {
        if error.kind() == io::ErrorKind::InvalidInput {
            refused(format!("credentials cannot be sent: {error}"))
        } else {
            error
        }
    })?;
    match reply {
        Reply::Stored => Ok(()),
        Reply::Error(error) => Err(refused(format!(
            "authentication failed: {}",
            String::from_utf8_lossy(&error.message)
        ))),
        other => Err(refused(format!(
            "unexpected authentication reply {other:?}"
        ))),
    }
}
