//! `get_as`: a single-key fetch read back as a typed value.

use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::ops::{GetRequest, RequestFuture};
use crate::value::{self, FromValue, ValueError};

impl<R: Runtime> Client<R> {
    /// Fetches `key`'s value as a `T`; `None` if it is missing. The value is read by the
    /// format its flags name (and decompressed if they say so): a value stored in another
    /// format than `T` reads is [`Error::Value`] with [`ValueError::WrongFormat`], never
    /// a misread. `Bytes` and `Vec<u8>` read any value as its bytes, whatever its flags
    /// (another client's included): decompressed if this client compressed it, else as
    /// stored. A compressed value may declare at most the client's
    /// [`max_value_len`](crate::ClientBuilder::max_value_len), else
    /// [`ValueError::TooLarge`], refused before anything is allocated for it.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.set("hits", 0u64).await?;
    /// client.increment("hits", 1).await?;
    /// let hits: Option<u64> = client.get_as("hits").await?;
    /// assert_eq!(hits, Some(1));
    ///
    /// client.set("greeting", "hello").await?;
    /// let greeting = client.get_as::<String, _>("greeting").await?;
    /// # let _ = greeting;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_as<T: FromValue, K: AsRef<[u8]>>(&self, key: K) -> GetAsRequest<'_, R, K, T> {
        GetAsRequest {
            max_value_len: self.inner.config.encoder.max_value_len(),
            // The flags name the value's format.
            request: self.get(key).return_flags(),
            output: PhantomData,
        }
    }
}

/// A single-key fetch read as a `T` ([`Client::get_as`]).
#[must_use = "requests do nothing unless awaited"]
pub struct GetAsRequest<'c, R: Runtime, K, T> {
    request: GetRequest<'c, R, K>,
    /// The largest value a compressed one may expand to.
    max_value_len: usize,
    output: PhantomData<fn() -> T>,
}

impl<'c, R: Runtime, K: AsRef<[u8]>, T> GetAsRequest<'c, R, K, T> {
    /// Overrides the client's operation timeout for this call (`None` disables it).
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.request = self.request.timeout(timeout);
        self
    }

    /// Fails at once with [`Error::Overloaded`] when every connection of the node is at
    /// its in-flight budget, instead of waiting for room.
    pub fn no_wait(mut self) -> Self {
        self.request = self.request.no_wait();
        self
    }

    /// Turns the request into a [`Future`](std::future::Future) (see [`GetRequest::send`]).
    pub fn send(self) -> RequestFuture<'c, Option<T>>
    where
        Self: IntoFuture<IntoFuture = RequestFuture<'c, Option<T>>>,
    {
        self.into_future()
    }
}

impl<'c, R, K, T> IntoFuture for GetAsRequest<'c, R, K, T>
where
    R: Runtime,
    K: AsRef<[u8]> + Send + 'c,
    T: FromValue + 'c,
{
    type Output = Result<Option<T>>;
    type IntoFuture = RequestFuture<'c, Option<T>>;

    fn into_future(self) -> Self::IntoFuture {
        let max_value_len = self.max_value_len;
        let fetched = self.request.into_future();
        Box::pin(async move {
            let Some(item) = fetched.await? else {
                return Ok(None);
            };
            let flags = item.flags.ok_or(ValueError::FlagsNotFetched)?;
            value::decode(item.value, flags, max_value_len)
                .map(Some)
                .map_err(Error::Value)
        })
    }
}
