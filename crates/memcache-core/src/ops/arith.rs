//! Counters: `incr` and `decr`.

use memproto::{ArithOp, Command, MetaArith, MetaArithMode, MetaStatus, Reply};

use crate::client::config::Config;
use crate::client::execute::{Answer, Operation};
use crate::client::protocol::Protocol;
use crate::client::{encode, unexpected, Client};
use crate::engine::payload::Payload;
use crate::engine::request::Expects;
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::Counters;
use crate::ops::dialect::{self, unexpected_status};
use crate::ops::{NoReply, NoReplyRequest, Request};

impl<R: Runtime> Client<R> {
    /// Adds `delta` to the counter at `key` and returns the new value. The server wraps
    /// around at 2^64. Fails with [`Error::NotFound`](crate::Error::NotFound) for a missing key and
    /// [`Error::NotNumeric`](crate::Error::NotNumeric) for a value that is not a decimal number.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.set("hits", "0").await?;
    /// assert_eq!(client.increment("hits", 5).await?, 5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn increment<K: AsRef<[u8]>>(&self, key: K, delta: u64) -> ArithRequest<'_, R, K> {
        ArithRequest::arith(self, ArithOp::Incr, key, delta)
    }

    /// Subtracts `delta` from the counter at `key` and returns the new value, stopping at 0.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.set("stock", "3").await?;
    /// assert_eq!(client.decrement("stock", 5).await?, 0); // stops at zero
    /// # Ok(())
    /// # }
    /// ```
    pub fn decrement<K: AsRef<[u8]>>(&self, key: K, delta: u64) -> ArithRequest<'_, R, K> {
        ArithRequest::arith(self, ArithOp::Decr, key, delta)
    }
}

/// `incr` or `decr`.
pub type ArithRequest<'c, R, K> = Request<'c, R, Arith<K>>;

/// The `incr` and `decr` operation.
#[derive(Debug)]
pub struct Arith<K> {
    op: ArithOp,
    key: K,
    delta: u64,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> ArithRequest<'c, R, K> {
    fn arith(client: &'c Client<R>, op: ArithOp, key: K, delta: u64) -> Self {
        Request::new(client, Arith { op, key, delta })
    }

    /// Returns once the request is queued, without the new value and without reporting
    /// failures. The connection still reads and drops the answer.
    pub fn noreply(self) -> NoReplyRequest<'c, R, Arith<K>> {
        self.map(NoReply)
    }
}

impl<K: AsRef<[u8]> + Send> Operation for Arith<K> {
    type Output = u64;

    fn key(&self) -> &[u8] {
        self.key.as_ref()
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        let key = self.key.as_ref();
        let token = dialect::token_for(config);
        let command = spelled(config.protocol, self.op, key, self.delta, token.as_bytes());
        encode(config, &command, key.len())
    }

    fn decode(&self, answer: Answer, _: &Config, _: &Counters) -> Result<u64> {
        counted(answer.one()?)
    }
}

/// `incr` or `decr` in `protocol`.
fn spelled<'a>(
    protocol: Protocol,
    op: ArithOp,
    key: &'a [u8],
    delta: u64,
    opaque: &'a [u8],
) -> Command<'a> {
    match protocol {
        Protocol::Text => Command::Arith {
            op,
            key,
            delta,
            noreply: false,
        },
        Protocol::Meta => Command::MetaArith(MetaArith {
            key,
            common: protocol.meta_common(key, Some(opaque), false),
            mode: match op {
                ArithOp::Incr => MetaArithMode::Incr,
                ArithOp::Decr => MetaArithMode::Decr,
            },
            delta: Some(delta),
            return_value: true,
            ..MetaArith::default()
        }),
    }
}

/// An `incr`/`decr`'s new value.
fn counted(reply: Reply) -> Result<u64> {
    match reply {
        Reply::Number(value) => Ok(value),
        Reply::NotFound => Err(Error::NotFound),
        other => match other.into_meta().map_err(unexpected)? {
            meta if meta.status == MetaStatus::Va => {
                let value = meta.value.unwrap_or_default();
                std::str::from_utf8(&value)
                    .ok()
                    .and_then(|text| text.trim_end().parse().ok())
                    .ok_or_else(|| Error::UnexpectedReply(format!("counter value {value:?}")))
            }
            meta if meta.status == MetaStatus::Nf => Err(Error::NotFound),
            meta => Err(unexpected_status(meta.status)),
        },
    }
}
