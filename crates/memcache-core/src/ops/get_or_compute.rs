//! Get-or-compute: the cached value, or one computation of it across every caller of every
//! process, built on meta leases ([`Client::lease`]).
//!
//! The cache only ever saves work here: when it cannot be reached or answers nonsense, the
//! value is computed as if it were missing, and the call fails only when the computation
//! does.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use futures::future::select;
use memproto::Exptime;

use crate::client::Client;
use crate::io::runtime::Runtime;
use crate::ops::lease::Lease;
use crate::value::{FromValue, ToValue};

/// The first wait of a caller whose key another caller is computing; it doubles up to
/// [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(5);
/// The longest wait between two looks at a key being computed.
const MAX_POLL: Duration = Duration::from_millis(50);

impl<R: Runtime> Client<R> {
    /// The value of `key`, or the value `compute` makes, stored for the next callers: a
    /// cache-aside read with stampede protection. When the key is missing, exactly one
    /// caller (across every process sharing the cache) wins a lease and computes; the
    /// others wait for its value (in the winner's process they look again the moment it
    /// is done; in other processes they poll with a backoff from 5 to 50 ms), or are
    /// served
    /// the stale value if the key was invalidated ([`Client::invalidate`]) or is being
    /// refreshed early ([`recache_below`](GetOrCompute::recache_below)). A caller that
    /// waited [`max_wait`](GetOrCompute::max_wait) (the lease, by default) computes
    /// itself: a winner that died does not block the others for longer.
    ///
    /// The cache only saves work: if it fails (unreachable, timing out, a value that does
    /// not decode as `T`), the value is computed and the call still succeeds; its errors
    /// show in the metrics, and failed stores reach
    /// [`on_write_failure`](crate::ClientBuilder::on_write_failure). The call fails only
    /// with `compute`'s error. A failed computation leaves the lease to expire, so a
    /// failing backend is not hammered by every waiter at once.
    ///
    /// Leases are meta commands: the nodes must be memcached 1.6 or later, whatever the
    /// client's protocol.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> Result<(), std::io::Error> {
    /// use std::time::Duration;
    ///
    /// async fn render_report() -> Result<String, std::io::Error> {
    ///     Ok("the expensive part".to_owned())
    /// }
    ///
    /// let report: String = client
    ///     .get_or_compute("report:daily", render_report)
    ///     .ttl(Duration::from_secs(300))
    ///     .recache_below(Duration::from_secs(30))
    ///     .await?;
    /// # let _ = report;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_or_compute<K, F, Fut, T, E>(&self, key: K, compute: F) -> GetOrCompute<'_, R, K, F>
    where
        K: AsRef<[u8]>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: FromValue + ToValue,
    {
        GetOrCompute {
            client: self,
            key,
            compute,
            exptime: Exptime::Never,
            lease: GetOrCompute::<R, K, F>::DEFAULT_LEASE,
            recache_below: None,
            serve_stale: true,
            max_wait: None,
            timeout: None,
        }
    }
}

/// A [`Client::get_or_compute`] call: set its options, then `.await` it.
#[must_use = "requests do nothing unless awaited"]
pub struct GetOrCompute<'c, R: Runtime, K, F> {
    client: &'c Client<R>,
    key: K,
    compute: F,
    exptime: Exptime,
    lease: Duration,
    recache_below: Option<Duration>,
    serve_stale: bool,
    max_wait: Option<Duration>,
    timeout: Option<Option<Duration>>,
}

impl<R: Runtime, K, F> GetOrCompute<'_, R, K, F> {
    /// How long a winner holds the right to compute, unless [`lease`](Self::lease) says
    /// otherwise.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

    crate::ops::exptime_setters!(exptime);

    /// How long the winner holds the right to compute (default 10 s): longer than the
    /// computation takes, or others start computing too once it runs out.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Refreshes early: once the value's remaining time to live is below `remaining`, the
    /// next caller recomputes it while everyone else is still served the current value, so
    /// a popular key never expires into a stampede.
    pub fn recache_below(mut self, remaining: Duration) -> Self {
        self.recache_below = Some(remaining);
        self
    }

    /// Whether callers that lost the lease are served a stale value (an invalidated one, or
    /// one being refreshed early) rather than waiting for the new one. Default: yes.
    pub fn serve_stale(mut self, serve: bool) -> Self {
        self.serve_stale = serve;
        self
    }

    /// How long a caller waits for another's computation before computing itself
    /// (default: the lease).
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// Overrides the client's operation timeout for each request to the cache (each look
    /// and the store; `None` disables it). The computation has no timeout of its own.
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = Some(timeout.into());
        self
    }
}

impl<'c, R, K, F, Fut, T, E> IntoFuture for GetOrCompute<'c, R, K, F>
where
    R: Runtime,
    K: AsRef<[u8]> + Send + Sync + 'c,
    F: FnOnce() -> Fut + Send + 'c,
    Fut: Future<Output = Result<T, E>> + Send + 'c,
    T: FromValue + ToValue + Send + Sync + 'c,
    E: Send + 'c,
{
    type Output = Result<T, E>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<'c, R, K, F, Fut, T, E> GetOrCompute<'c, R, K, F>
where
    R: Runtime,
    K: AsRef<[u8]> + Send + Sync,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: FromValue + ToValue + Send + Sync,
{
    async fn run(self) -> Result<T, E> {
        let GetOrCompute {
            client,
            key,
            compute,
            exptime,
            lease,
            recache_below,
            serve_stale,
            max_wait,
            timeout,
        } = self;
        let key = key.as_ref();
        let wait = Wait {
            lease,
            recache_below,
            serve_stale,
            patience: max_wait.unwrap_or(lease),
            timeout,
        };
        let cache_answered = match wait.for_value(client, key).await {
            Lookup::Found(cached) => return Ok(cached),
            Lookup::Compute { cache_answered } => cache_answered,
        };
        // This caller computes: the others of this process wait for it to land rather than
        // poll (a second computation in this process, after an expired lease, registers
        // nothing).
        let landing = client.inner.flights.board(key);
        let value = compute().await?;
        // Best effort: a failed store is counted, traced and reported as a write failure,
        // and the caller has its value all the same. A cache that did not answer the look
        // is not made to fail a second time (a hung node would cost another timeout).
        if cache_answered {
            let mut store = client.set(key, &value).exptime(exptime);
            if let Some(timeout) = timeout {
                store = store.timeout(timeout);
            }
            let _ = store.await;
        }
        drop(landing);
        Ok(value)
    }
}

/// What looking for the value came to.
enum Lookup<T> {
    /// The cached (or stale) value.
    Found(T),
    /// This caller computes: it won the lease, waited long enough, found a value that does
    /// not decode, or the cache failed (`cache_answered` false).
    Compute { cache_answered: bool },
}

/// How a caller looks for the value before computing it.
struct Wait {
    lease: Duration,
    recache_below: Option<Duration>,
    serve_stale: bool,
    /// How long to wait for another caller's computation.
    patience: Duration,
    /// The timeout of each look.
    timeout: Option<Option<Duration>>,
}

impl Wait {
    /// The cached (or stale) value, or why this caller is to compute.
    async fn for_value<R: Runtime, T: FromValue>(
        &self,
        client: &Client<R>,
        key: &[u8],
    ) -> Lookup<T> {
        let runtime = &client.inner.runtime;
        let started = runtime.now();
        let mut poll = FIRST_POLL;
        loop {
            let mut lease = client.lease(key, self.lease);
            if let Some(remaining) = self.recache_below {
                lease = lease.recache_below(remaining);
            }
            if let Some(timeout) = self.timeout {
                lease = lease.timeout(timeout);
            }
            let compute = Lookup::Compute {
                cache_answered: true,
            };
            match lease.await {
                // A value that does not decode as `T` is recomputed, and replaced.
                Ok(Lease::Hit(item)) => return item.decode().map_or(compute, Lookup::Found),
                Ok(Lease::Pending { previous }) => {
                    let stale = previous.filter(|_| self.serve_stale);
                    if let Some(value) = stale.and_then(|item| item.decode().ok()) {
                        return Lookup::Found(value);
                    }
                }
                Err(_) => {
                    return Lookup::Compute {
                        cache_answered: false,
                    }
                }
                // Won, or an outcome this version does not know.
                _ => return compute,
            }
            let waited = runtime.now().saturating_duration_since(started);
            let Some(left) = self
                .patience
                .checked_sub(waited)
                .filter(|left| !left.is_zero())
            else {
                return compute;
            };
            match client.inner.flights.computing(key) {
                // The winner is in this process: look again the moment it is done.
                Some(done) => {
                    let timer = runtime.sleep(left);
                    futures::pin_mut!(timer);
                    let _ = select(done, timer).await;
                }
                None => {
                    runtime.sleep(poll.min(left)).await;
                    poll = (poll * 2).min(MAX_POLL);
                }
            }
        }
    }
}
