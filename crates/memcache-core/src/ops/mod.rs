//! Request builders: each operation returns one; set options, then `.await` it.

pub(crate) mod admin;
pub(crate) mod append;
pub(crate) mod arith;
pub(crate) mod batched_writes;
pub(crate) mod dialect;
pub(crate) mod fetch;
pub(crate) mod fetch_many;
pub(crate) mod get_as;
pub(crate) mod item;
pub(crate) mod item_map;
pub(crate) mod keys;
pub(crate) mod lease;
pub(crate) mod meta_batch;
pub(crate) mod store;
pub(crate) mod touch_delete;

pub use self::admin::NodeRequest;
pub use self::arith::ArithRequest;
pub use self::fetch::{GetManyRequest, GetRequest, PartialGetManyRequest};
pub use self::store::StoreRequest;
pub use self::touch_delete::KeyRequest;

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use crate::client::{CallOptions, Client};
use crate::engine::payload::Payload;
use crate::engine::request::{Affinity, Expects};
use crate::error::Result;
use crate::io::runtime::Runtime;

/// The future every request builder turns into.
pub type RequestFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Setters every builder has, and `send`.
macro_rules! timeout_setters {
    () => {
        /// Turns the request into a [`Future`](std::future::Future) (a [`RequestFuture`]),
        /// for combinators that take futures rather than `IntoFuture` values:
        /// `futures::future::join_all`, `futures::join!`, `FuturesUnordered`,
        /// `buffer_unordered`, `tokio::spawn`. Nothing is sent until it is polled;
        /// `.await` on the builder does the same in one step.
        pub fn send(self) -> <Self as std::future::IntoFuture>::IntoFuture
        where
            Self: std::future::IntoFuture,
        {
            std::future::IntoFuture::into_future(self)
        }

        /// Overrides the client's operation timeout for this call (`None` disables it).
        pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
            self.options.timeout = Some(timeout.into());
            self
        }

        /// Fails at once with [`Error::Overloaded`](crate::Error::Overloaded) when every connection of the node is at
        /// its in-flight budget, instead of waiting for room.
        pub fn no_wait(mut self) -> Self {
            self.options.no_wait = true;
            self
        }
    };
}

pub(crate) use timeout_setters;

/// Setters for commands that take an expiration.
macro_rules! exptime_setters {
    () => {
        /// Sets the expiration: a `Duration` from now, a `SystemTime`, or an [`Exptime`].
        pub fn exptime(mut self, exptime: impl Into<Exptime>) -> Self {
            self.exptime = exptime.into();
            self
        }

        /// Expires the item `ttl` from now (durations over 30 days are sent as absolute
        /// times, so they work as written).
        pub fn ttl(self, ttl: Duration) -> Self {
            self.exptime(Exptime::After(ttl))
        }

        /// Expires the item at `time`.
        pub fn expires_at(self, time: SystemTime) -> Self {
            self.exptime(Exptime::at(time))
        }
    };
}

pub(crate) use exptime_setters;

/// A request whose answer is not awaited (see the `noreply` methods).
#[must_use = "requests do nothing unless awaited"]
pub struct NoReplyRequest<'c, R: Runtime> {
    client: &'c Client<R>,
    request: Result<(Payload, Expects)>,
    key: Bytes,
    options: CallOptions,
}

impl<'c, R: Runtime> NoReplyRequest<'c, R> {
    fn new(
        client: &'c Client<R>,
        request: Result<(Payload, Expects)>,
        key: &[u8],
        options: CallOptions,
    ) -> Self {
        NoReplyRequest {
            client,
            request,
            key: Bytes::copy_from_slice(key),
            options,
        }
    }

    timeout_setters!();

    async fn run(self) -> Result<()> {
        let inner = &self.client.inner;
        let request = self.request?;
        let encode = || Ok(request.clone());
        let node = inner.route(&self.key)?;
        inner
            .call_noreply(&node, &encode, self.options, Affinity::of_key(&self.key))
            .await
    }
}

impl<'c, R: Runtime> IntoFuture for NoReplyRequest<'c, R> {
    type Output = Result<()>;
    type IntoFuture = RequestFuture<'c, ()>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
