//! `get_as`: a single-key fetch read back as a typed value.

use std::marker::PhantomData;

use crate::client::config::Config;
use crate::client::execute::{Answer, Operation};
use crate::client::Client;
use crate::engine::payload::Payload;
use crate::engine::request::Expects;
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::Counters;
use crate::ops::fetch::Get;
use crate::ops::Request;
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
        // The flags name the value's format.
        self.get(key).return_flags().map(|get| GetAs {
            get,
            output: PhantomData,
        })
    }
}

/// A single-key fetch read as a `T` ([`Client::get_as`]).
pub type GetAsRequest<'c, R, K, T> = Request<'c, R, GetAs<K, T>>;

/// The `get` operation of one key, its value read as a `T`.
pub struct GetAs<K, T> {
    get: Get<K>,
    output: PhantomData<fn() -> T>,
}

impl<K: std::fmt::Debug, T> std::fmt::Debug for GetAs<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetAs").field("get", &self.get).finish()
    }
}

impl<K: AsRef<[u8]> + Send, T: FromValue> Operation for GetAs<K, T> {
    type Output = Option<T>;

    fn key(&self) -> &[u8] {
        self.get.key()
    }

    fn is_read(&self) -> bool {
        true
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        self.get.encode(config)
    }

    fn decode(&self, answer: Answer, config: &Config, counters: &Counters) -> Result<Option<T>> {
        let Some(item) = self.get.decode(answer, config, counters)? else {
            return Ok(None);
        };
        let flags = item.flags.ok_or(ValueError::FlagsNotFetched)?;
        value::decode(item.value, flags, config.encoder.max_value_len())
            .map(Some)
            .map_err(Error::Value)
    }

    fn missed(&self, output: &Option<T>) -> bool {
        output.is_none()
    }

    fn miss(&self) -> Option<Option<T>> {
        Some(None)
    }

    fn mergeable(&self, config: &Config) -> Option<bool> {
        self.get.mergeable(config)
    }
}
