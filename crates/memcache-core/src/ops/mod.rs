//! The operations: one file per command family, each with its operation value (its key,
//! its two spellings, what its reply means) and the builder methods that set it up. They
//! all run through the one execution path ([`crate::client::execute`]).

pub(crate) mod admin;
pub(crate) mod append;
pub(crate) mod arith;
pub(crate) mod batched_writes;
pub(crate) mod dialect;
pub(crate) mod fetch;
pub(crate) mod fetch_many;
pub(crate) mod get_as;
pub(crate) mod get_or_compute;
pub(crate) mod item;
pub(crate) mod item_map;
pub(crate) mod key_copies;
pub(crate) mod keys;
pub(crate) mod lease;
pub(crate) mod meta_batch;
pub(crate) mod meta_probe;
pub(crate) mod share;
pub(crate) mod single_flight;
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

use crate::client::config::Config;
use crate::client::execute::{Answer, Operation};
use crate::client::pending::Pending;
use crate::client::{CallOptions, Client};
use crate::engine::payload::Payload;
use crate::engine::request::{Affinity, Expects};
use crate::error::Result;
use crate::io::runtime::Runtime;
use crate::observe::Counters;

/// A request: an [operation](crate::operation), the client that runs it, and the call's
/// settings. Every single-key command's builder is one (`GetRequest`, `StoreRequest`, ...
/// are its names per operation); set options on it, then `.await` it.
#[must_use = "requests do nothing unless awaited"]
pub struct Request<'c, R: Runtime, O> {
    client: &'c Client<R>,
    op: O,
    options: CallOptions,
}

impl<'c, R: Runtime, O> Request<'c, R, O> {
    pub(crate) fn new(client: &'c Client<R>, op: O) -> Self {
        Request {
            client,
            op,
            options: CallOptions::default(),
        }
    }

    /// Overrides the client's operation timeout for this call (`None` disables it).
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.options.timeout = Some(timeout.into());
        self
    }

    /// Fails at once with [`Error::Overloaded`](crate::Error::Overloaded) when every
    /// connection of the node is at its in-flight budget, instead of waiting for room.
    pub fn no_wait(mut self) -> Self {
        self.options.no_wait = true;
        self
    }

    /// Routes the request by `key` instead of its own key (or keys): it goes to the node
    /// an item stored under `key` would be on, where the client's hash tag rule applies
    /// to `key` as to any other. So items that belong together (a user's profile, settings
    /// and sessions) live on one node, and a `get_many` of them is one round trip. Every
    /// call that reads or writes those items must name the same routing key: a plain
    /// `get` of one of them looks on the node of its own key.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.set("profile:42", "…").routing_key("user:42").await?;
    /// client.set("settings:42", "…").routing_key("user:42").await?;
    /// let both = client
    ///     .get_many(["profile:42", "settings:42"])
    ///     .routing_key("user:42")
    ///     .await?;
    /// # let _ = both;
    /// # Ok(())
    /// # }
    /// ```
    pub fn routing_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.options.routing_key = Some(bytes::Bytes::copy_from_slice(key.as_ref()));
        self
    }

    /// Turns the request into a [`Future`](std::future::Future), for combinators that take
    /// futures rather than `IntoFuture` values: `futures::future::join_all`,
    /// `futures::join!`, `FuturesUnordered`, `buffer_unordered`. Nothing is sent until it
    /// is polled; `.await` on the builder does the same in one step. A single-key
    /// request's future is a [`Pending`], which allocates nothing on a client without a
    /// [route](crate::Route); a multi-key one's is a boxed [`RequestFuture`].
    pub fn send(self) -> <Self as IntoFuture>::IntoFuture
    where
        Self: IntoFuture,
    {
        self.into_future()
    }

    /// Turns the request into a future that owns what it needs (a handle to the client
    /// and the operation), for `tokio::spawn` and anything else that wants `'static`: the
    /// future of [`Request::send`] borrows the client. The keys and values must be owned
    /// too (`String`, `Vec<u8>`, `Bytes`, or `&'static` data). Costs a client handle and
    /// one allocation more than `.await`.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let user = String::from("user:42");
    /// let task = tokio::spawn(client.get(user).owned());
    /// let found = task.await??;
    /// # let _ = found;
    /// # Ok(())
    /// # }
    /// ```
    pub fn owned<T>(self) -> OwnedFuture<T>
    where
        O: Send + 'static,
        for<'a> Request<'a, R, O>: IntoFuture<Output = Result<T>>,
        for<'a> <Request<'a, R, O> as IntoFuture>::IntoFuture: Send,
    {
        let client = self.client.clone();
        let (op, options) = (self.op, self.options);
        Box::pin(async move {
            let request = Request {
                client: &client,
                op,
                options,
            };
            request.await
        })
    }

    /// The operation, for its builder methods.
    fn op_mut(&mut self) -> &mut O {
        &mut self.op
    }

    /// The same call settings around another operation.
    fn map<P>(self, f: impl FnOnce(O) -> P) -> Request<'c, R, P> {
        Request {
            client: self.client,
            op: f(self.op),
            options: self.options,
        }
    }
}

impl<'c, R, O> IntoFuture for Request<'c, R, O>
where
    R: Runtime,
    O: Operation + Sync + 'c,
    O::Output: Send,
{
    type Output = Result<O::Output>;
    type IntoFuture = Pending<'c, R, O>;

    fn into_future(self) -> Pending<'c, R, O> {
        Pending::new(&self.client.inner, self.op, self.options)
    }
}

/// The future of a request that runs several requests of the execution path (a multi-key
/// operation: `get_many`, the `*_many` writes; a checked `append`): boxed.
pub type RequestFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The future of [`Request::owned`]: it holds a handle to the client, so it can be
/// spawned.
pub type OwnedFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>;

/// Setters for commands that take an expiration, stored in the field `$($field).+`.
macro_rules! exptime_setters {
    ($($field:ident).+) => {
        /// Sets the expiration: a `Duration` from now, a `SystemTime`, or an [`Exptime`].
        pub fn exptime(mut self, exptime: impl Into<Exptime>) -> Self {
            self.$($field).+ = exptime.into();
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

/// Any operation sent without waiting for its answer: the output is `()` once it is
/// queued, and failures are not reported. The connection still reads and drops the
/// answer, so later replies stay in step.
#[derive(Debug)]
pub struct NoReply<O>(O);

impl<O: Operation> Operation for NoReply<O> {
    type Output = ();

    fn key(&self) -> &[u8] {
        self.0.key()
    }

    fn target(&self) -> crate::client::execute::Target<'_> {
        self.0.target()
    }

    fn fails_over(&self) -> bool {
        self.0.fails_over()
    }

    fn may_leave_stale(&self) -> bool {
        self.0.may_leave_stale()
    }

    fn effect(&self) -> crate::client::execute::Effect {
        self.0.effect()
    }

    fn is_read(&self) -> bool {
        self.0.is_read()
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        self.0.encode(config)
    }

    fn decode(&self, _: Answer, _: &Config, _: &Counters) -> Result<()> {
        Ok(())
    }

    fn detached(&self) -> Option<()> {
        Some(())
    }

    fn affinity(&self) -> Affinity {
        self.0.affinity()
    }
}

/// A request sent without waiting for its answer (see the `noreply` methods).
pub type NoReplyRequest<'c, R, O> = Request<'c, R, NoReply<O>>;
