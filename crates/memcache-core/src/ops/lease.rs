//! Cache-stampede protection with the meta protocol: when a key is missing or stale, exactly
//! one caller wins the right to recompute it, and the others learn that someone is on it
//! (and get the stale value, if there is one, to serve meanwhile).

use std::time::Duration;

use memproto::{Command, Exptime, MetaCommon, MetaDelete, MetaGet, MetaReply, MetaStatus};

use crate::client::config::Config;
use crate::client::execute::{Answer, Effect, Operation};
use crate::client::{encode, resolve, unexpected, Client};
use crate::engine::payload::Payload;
use crate::engine::request::Expects;
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::Counters;
use crate::ops::item::Item;
use crate::ops::Request;

/// The outcome of [`Client::lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lease {
    /// A current value: use it.
    Hit(Item),
    /// This caller won the right to fill the key: compute the value and `set` it (the set
    /// ends the lease). `previous` is the stale or soon-to-expire value, if any, to serve
    /// meanwhile.
    Won {
        /// The value being replaced, if there is one.
        previous: Option<Item>,
    },
    /// Another caller holds the lease and is filling the key. `previous` is the stale value,
    /// if any, to serve meanwhile; without one, retry shortly or fall back.
    Pending {
        /// The stale value, if there is one.
        previous: Option<Item>,
    },
}

impl<R: Runtime> Client<R> {
    /// Fetches `key` with stampede protection (meta `mg` with vivify). On a miss the server
    /// creates an empty placeholder that lives for `lease` and hands the win to exactly one
    /// caller; everyone else gets [`Lease::Pending`] until the winner stores the value or
    /// the lease runs out.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// use memcache_tokio::Lease;
    /// match client.lease("report", Duration::from_secs(30)).await? {
    ///     Lease::Hit(item) => println!("cached: {:?}", item.value),
    ///     Lease::Won { .. } => client.set("report", "recomputed").await?,
    ///     Lease::Pending { previous } => println!("being recomputed; stale: {previous:?}"),
    ///     // `Lease` may gain outcomes in later versions.
    ///     _ => {}
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn lease<K: AsRef<[u8]>>(&self, key: K, lease: Duration) -> LeaseRequest<'_, R, K> {
        let recache_below = None;
        Request::new(
            self,
            LeaseFetch {
                key,
                lease,
                recache_below,
            },
        )
    }

    /// Marks `key` stale instead of deleting it (meta `md` with `I`), keeping the old value
    /// for `grace`: the next [`Client::lease`] wins the right to recompute it while the
    /// others are served the stale value. Fails with [`Error::NotFound`] for a missing key.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// client
    ///     .invalidate("report", Duration::from_secs(30))
    ///     .timeout(Duration::from_millis(100))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn invalidate<K: AsRef<[u8]>>(
        &self,
        key: K,
        grace: Duration,
    ) -> InvalidateRequest<'_, R, K> {
        Request::new(self, Invalidate { key, grace })
    }
}

/// A [`Client::invalidate`] request.
pub type InvalidateRequest<'c, R, K> = Request<'c, R, Invalidate<K>>;

/// The operation that marks a key stale (meta `md` with `I`).
#[derive(Debug)]
pub struct Invalidate<K> {
    key: K,
    grace: Duration,
}

impl<K: AsRef<[u8]> + Send> Operation for Invalidate<K> {
    type Output = ();

    fn key(&self) -> &[u8] {
        self.key.as_ref()
    }

    fn effect(&self) -> Effect {
        Effect::Delete
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        let key = self.key.as_ref();
        let command = Command::MetaDelete(MetaDelete {
            key,
            common: key_echoed(),
            invalidate: true,
            exptime: Some(config.expiry(Exptime::After(self.grace))),
            ..MetaDelete::default()
        });
        encode(config, &command, key.len())
    }

    fn decode(&self, answer: Answer, _: &Config, _: &Counters) -> Result<()> {
        let reply = answer.one()?;
        match reply.meta_status() {
            Some(MetaStatus::Hd) => Ok(()),
            Some(MetaStatus::Nf) => Err(Error::NotFound),
            _ => Err(unexpected(reply)),
        }
    }
}

/// A [`Client::lease`] request.
pub type LeaseRequest<'c, R, K> = Request<'c, R, LeaseFetch<K>>;

/// The operation that fetches a key with stampede protection (meta `mg` with vivify). Not
/// a read: vivifying creates a placeholder and hands out the win, so it is retried only
/// when it was certainly never sent.
#[derive(Debug)]
pub struct LeaseFetch<K> {
    key: K,
    lease: Duration,
    recache_below: Option<Duration>,
}

impl<'c, R: Runtime, K: AsRef<[u8]>> LeaseRequest<'c, R, K> {
    /// Refresh early: when the item's remaining TTL is below `remaining`, one caller wins the
    /// right to recompute it (getting the current value as `previous`), while the others
    /// keep getting hits.
    pub fn recache_below(mut self, remaining: Duration) -> Self {
        self.op.recache_below = Some(remaining);
        self
    }
}

impl<K: AsRef<[u8]> + Send> Operation for LeaseFetch<K> {
    type Output = Lease;

    fn key(&self) -> &[u8] {
        self.key.as_ref()
    }

    // Not a read (see above), but a failed lease changes no item.
    fn may_leave_stale(&self) -> bool {
        false
    }

    // Its placeholder belongs where reads look: its winner stores the value with a write.
    fn effect(&self) -> Effect {
        Effect::ReadSide
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        let key = self.key.as_ref();
        let command = Command::MetaGet(MetaGet {
            key,
            common: key_echoed(),
            return_value: true,
            return_flags: true,
            return_cas: true,
            vivify: Some(config.expiry(Exptime::After(self.lease))),
            recache: self
                .recache_below
                .map(|below| resolve(Exptime::After(below))),
            ..MetaGet::default()
        });
        encode(config, &command, key.len())
    }

    fn decode(&self, answer: Answer, config: &Config, counters: &Counters) -> Result<Lease> {
        let reply = answer.one()?;
        match reply.meta_status() {
            Some(MetaStatus::Va | MetaStatus::Hd) => {
                let reply = reply.into_meta().map_err(unexpected)?;
                let lease = classify(reply, config.encoder.max_value_len());
                // A current value is a hit; a key to fill or being filled, a miss.
                match lease {
                    Lease::Hit(_) => counters.fetched(1, 0),
                    _ => counters.fetched(0, 1),
                }
                Ok(lease)
            }
            _ => Err(unexpected(reply)),
        }
    }
}

/// Options that make the server echo the key, which the decoder checks: a reply (a lease
/// value above all) is never taken for another key's.
fn key_echoed() -> MetaCommon<'static> {
    MetaCommon {
        return_key: true,
        ..MetaCommon::default()
    }
}

/// Reads the win (`W`), already-won (`Z`) and stale (`X`) flags of a vivifying `mg`. The
/// items' compressed values decode within `max_value_len`, the client's largest.
fn classify(reply: MetaReply, max_value_len: usize) -> Lease {
    let flags = &reply.flags;
    let value = reply.value.unwrap_or_default();
    let (won, already_won, stale) = (flags.won, flags.already_won, flags.stale);
    // A vivified placeholder is empty and not stale; it is no value to serve.
    let placeholder = value.is_empty() && !stale && (won || already_won);
    let item = Item {
        value,
        flags: flags.flags,
        cas: flags.cas,
        info: None,
        max_value_len,
    };
    let previous = (!placeholder).then_some(item.clone());
    if won {
        Lease::Won { previous }
    } else if stale || placeholder {
        Lease::Pending { previous }
    } else {
        Lease::Hit(item)
    }
}
