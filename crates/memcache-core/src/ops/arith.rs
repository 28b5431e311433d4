//! Counters: `incr` and `decr`.

use std::future::IntoFuture;
use std::time::Duration;

use memproto::ArithOp;

use crate::client::protocol::Protocol;
use crate::client::{CallOptions, Client};
use crate::engine::request::Affinity;
use crate::error::Result;
use crate::io::runtime::Runtime;
use crate::ops::dialect::{self};
use crate::ops::{timeout_setters, NoReplyRequest, RequestFuture};

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
        ArithRequest::new(self, ArithOp::Incr, key, delta)
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
        ArithRequest::new(self, ArithOp::Decr, key, delta)
    }
}

/// `incr` or `decr`.
#[must_use = "requests do nothing unless awaited"]
pub struct ArithRequest<'c, R: Runtime, K> {
    client: &'c Client<R>,
    op: ArithOp,
    key: K,
    delta: u64,
    options: CallOptions,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> ArithRequest<'c, R, K> {
    fn new(client: &'c Client<R>, op: ArithOp, key: K, delta: u64) -> Self {
        ArithRequest {
            client,
            op,
            key,
            delta,
            options: CallOptions::default(),
        }
    }

    /// Returns once the request is queued, without the new value and without reporting
    /// failures. The connection still reads and drops the answer.
    pub fn noreply(self) -> NoReplyRequest<'c, R> {
        let inner = &self.client.inner;
        let key = self.key.as_ref();
        let token = dialect::token(inner.config.protocol == Protocol::Meta);
        let protocol = inner.config.protocol;
        let command = dialect::arith(protocol, self.op, key, self.delta, token.as_bytes());
        NoReplyRequest::new(
            self.client,
            inner.encode(&command, key.len()),
            key,
            self.options,
        )
    }

    timeout_setters!();

    async fn run(self) -> Result<u64> {
        let inner = &self.client.inner;
        let key = self.key.as_ref();
        let token = dialect::token(inner.config.protocol == Protocol::Meta);
        let protocol = inner.config.protocol;
        let command = dialect::arith(protocol, self.op, key, self.delta, token.as_bytes());
        let encode = || inner.encode(&command, key.len());
        let node = inner.route(key)?;
        let affinity = Affinity::of_key(key);
        dialect::counted(inner.call(&node, &encode, self.options, affinity).await?)
    }
}

impl<'c, R: Runtime, K: AsRef<[u8]> + Send + 'c> IntoFuture for ArithRequest<'c, R, K> {
    type Output = Result<u64>;
    type IntoFuture = RequestFuture<'c, u64>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
