//! `touch` and `delete`.

use memproto::{Command, Exptime, MetaDelete, MetaGet, MetaStatus, Reply};

use crate::client::config::Config;
use crate::client::execute::{Answer, Effect, Operation};
use crate::client::protocol::Protocol;
use crate::client::{encode, unexpected, Client};
use crate::engine::payload::Payload;
use crate::engine::request::Expects;
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::Counters;
use crate::ops::dialect::{self, unexpected_status};
use crate::ops::Request;

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
        KeyRequest::key_command(self, key, Some(exptime.into()))
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
        KeyRequest::key_command(self, key, None)
    }
}

/// `touch` or `delete`.
pub type KeyRequest<'c, R, K> = Request<'c, R, KeyCommand<K>>;

/// The `touch` and `delete` operation.
#[derive(Debug)]
pub struct KeyCommand<K> {
    key: K,
    /// The new expiration for a `touch`; `None` for a `delete`.
    touch: Option<Exptime>,
    noreply: bool,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> KeyRequest<'c, R, K> {
    fn key_command(client: &'c Client<R>, key: K, touch: Option<Exptime>) -> Self {
        let noreply = false;
        Request::new(
            client,
            KeyCommand {
                key,
                touch,
                noreply,
            },
        )
    }

    /// Returns once the request is queued, without reporting [`Error::NotFound`](crate::Error::NotFound). The
    /// connection still reads and drops the answer.
    pub fn noreply(mut self) -> Self {
        self.op.noreply = true;
        self
    }
}

impl<K> KeyCommand<K> {
    /// A `delete` of `key`, for a route that takes a key away from a destination.
    pub(crate) fn deletion(key: K) -> Self {
        KeyCommand {
            key,
            touch: None,
            noreply: false,
        }
    }
}

impl<K: AsRef<[u8]> + Send> Operation for KeyCommand<K> {
    type Output = ();

    fn key(&self) -> &[u8] {
        self.key.as_ref()
    }

    fn effect(&self) -> Effect {
        match self.touch {
            Some(_) => Effect::Write,
            None => Effect::Delete,
        }
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        let key = self.key.as_ref();
        let token = dialect::token_for(config);
        let (protocol, opaque) = (config.protocol, token.as_bytes());
        let command = match self.touch {
            Some(exptime) => touch(protocol, key, config.expiry(exptime), opaque),
            None => delete(protocol, key, opaque),
        };
        encode(config, &command, key.len())
    }

    fn decode(&self, answer: Answer, _: &Config, _: &Counters) -> Result<()> {
        done(answer.one()?)
    }

    fn detached(&self) -> Option<()> {
        self.noreply.then_some(())
    }
}

/// `delete` in `protocol`.
fn delete<'a>(protocol: Protocol, key: &'a [u8], opaque: &'a [u8]) -> Command<'a> {
    match protocol {
        Protocol::Text => Command::Delete {
            key,
            noreply: false,
        },
        Protocol::Meta => Command::MetaDelete(MetaDelete {
            key,
            common: protocol.meta_common(key, Some(opaque), false),
            ..MetaDelete::default()
        }),
    }
}

/// `touch` in `protocol`.
fn touch<'a>(protocol: Protocol, key: &'a [u8], exptime: Exptime, opaque: &'a [u8]) -> Command<'a> {
    match protocol {
        Protocol::Text => Command::Touch {
            key,
            exptime,
            noreply: false,
        },
        // `mg` with `T` and no `v`: `HD` on a hit, `EN` on a miss.
        Protocol::Meta => Command::MetaGet(MetaGet {
            key,
            common: protocol.meta_common(key, Some(opaque), false),
            touch: Some(exptime),
            ..MetaGet::default()
        }),
    }
}

/// A `touch` or `delete`'s outcome.
pub(crate) fn done(reply: Reply) -> Result<()> {
    match reply {
        Reply::Touched | Reply::Deleted => Ok(()),
        Reply::NotFound => Err(Error::NotFound),
        other => match other.meta_status() {
            Some(MetaStatus::Hd) => Ok(()),
            Some(MetaStatus::Nf | MetaStatus::En) => Err(Error::NotFound),
            Some(status) => Err(unexpected_status(status)),
            None => Err(unexpected(other)),
        },
    }
}
