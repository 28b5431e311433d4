//! `touch` and `delete`.

use std::future::IntoFuture;
use std::time::Duration;

use memproto::Exptime;

use crate::client::protocol::Protocol;
use crate::client::{resolve, CallOptions, Client};
use crate::engine::request::Affinity;
use crate::error::Result;
use crate::io::runtime::Runtime;
use crate::ops::dialect::{self};
use crate::ops::{timeout_setters, RequestFuture};

impl<R: Runtime> Client<R> {
    /// Sets a new expiration on `key`; fails with [`Error::NotFound`](crate::Error::NotFound) if it is missing.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// client.touch("session:9", Duration::from_secs(3600)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn touch<K: AsRef<[u8]>>(
        &self,
        key: K,
        exptime: impl Into<Exptime>,
    ) -> KeyRequest<'_, R, K> {
        KeyRequest::new(self, KeyCommand::Touch(exptime.into()), key)
    }

    /// Deletes `key`; fails with [`Error::NotFound`](crate::Error::NotFound) if it is missing.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use memcache_tokio::Error;
    /// match client.delete("user:42").await {
    ///     Ok(()) | Err(Error::NotFound) => {} // gone either way
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete<K: AsRef<[u8]>>(&self, key: K) -> KeyRequest<'_, R, K> {
        KeyRequest::new(self, KeyCommand::Delete, key)
    }
}

/// Which single-key command a [`KeyRequest`] is.
#[derive(Debug, Clone, Copy)]
enum KeyCommand {
    Touch(Exptime),
    Delete,
}

/// `touch` or `delete`.
#[must_use = "requests do nothing unless awaited"]
pub struct KeyRequest<'c, R: Runtime, K> {
    client: &'c Client<R>,
    command: KeyCommand,
    key: K,
    noreply: bool,
    options: CallOptions,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> KeyRequest<'c, R, K> {
    fn new(client: &'c Client<R>, command: KeyCommand, key: K) -> Self {
        KeyRequest {
            client,
            command,
            key,
            noreply: false,
            options: CallOptions::default(),
        }
    }

    /// Returns once the request is queued, without reporting [`Error::NotFound`](crate::Error::NotFound). The
    /// connection still reads and drops the answer.
    pub fn noreply(mut self) -> Self {
        self.noreply = true;
        self
    }

    timeout_setters!();

    async fn run(self) -> Result<()> {
        let inner = &self.client.inner;
        let key = self.key.as_ref();
        let token = dialect::token(inner.config.protocol == Protocol::Meta);
        let (protocol, opaque) = (inner.config.protocol, token.as_bytes());
        let command = match self.command {
            KeyCommand::Touch(exptime) => dialect::touch(protocol, key, resolve(exptime), opaque),
            KeyCommand::Delete => dialect::delete(protocol, key, opaque),
        };
        let encode = || inner.encode(&command, key.len());
        let node = inner.route(key)?;
        let affinity = Affinity::of_key(key);
        let sent = inner.call_or_queue(&node, &encode, self.options, affinity, self.noreply);
        match sent.await? {
            Some(reply) => dialect::done(reply),
            None => Ok(()),
        }
    }
}

impl<'c, R: Runtime, K: AsRef<[u8]> + Send + 'c> IntoFuture for KeyRequest<'c, R, K> {
    type Output = Result<()>;
    type IntoFuture = RequestFuture<'c, ()>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
