//! Commands addressed to one node: `flush_all`, `version`, `stats`, `verbosity`,
//! `cache_memlimit`.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::time::Duration;

use memproto::{Command, Exptime, Reply, Stat};

use crate::client::config::Config;
use crate::client::execute::{Answer, Operation, Target};
use crate::client::{encode, resolve, unexpected, Client};
use crate::cluster::addr::{IntoNodeAddr, NodeAddr};
use crate::engine::payload::Payload;
use crate::engine::request::{Affinity, Expects};
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::observe::Counters;
use crate::ops::Request;

impl<R: Runtime> Client<R> {
    /// Invalidates every item on one node, now or after [`NodeRequest::delay`].
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// use std::time::Duration;
    /// for (i, node) in client.nodes().iter().enumerate() {
    ///     // Staggered, so the nodes are not refilled all at once.
    ///     client.flush_all(node).delay(Duration::from_secs(10 * i as u64)).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn flush_all(&self, node: impl IntoNodeAddr) -> NodeRequest<'_, R, ()> {
        NodeRequest::admin(self, node, Admin::FlushAll { delay: None })
    }

    /// The server version of one node.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let version = client.version("127.0.0.1:11211").await?;
    /// println!("memcached {version}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn version(&self, node: impl IntoNodeAddr) -> NodeRequest<'_, R, String> {
        NodeRequest::admin(self, node, Admin::Version)
    }

    /// One node's statistics (`stats`), or a group of them with [`NodeRequest::args`]
    /// (`"settings"`, `"slabs"`, `"items"`, ...).
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// let stats = client.stats("127.0.0.1:11211").await?;
    /// let settings = client.stats("127.0.0.1:11211").args(["settings"]).await?;
    /// println!("{} items, max {} bytes", stats["curr_items"], settings["item_size_max"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self, node: impl IntoNodeAddr) -> NodeRequest<'_, R, HashMap<String, String>> {
        NodeRequest::admin(self, node, Admin::Stats { args: Vec::new() })
    }

    /// Sets one node's logging verbosity.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.verbosity("127.0.0.1:11211", 1).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn verbosity(&self, node: impl IntoNodeAddr, level: u32) -> NodeRequest<'_, R, ()> {
        NodeRequest::admin(self, node, Admin::Verbosity(level))
    }

    /// Sets one node's memory limit, in megabytes.
    ///
    /// ```no_run
    /// # async fn f(client: memcache_tokio::Client) -> memcache_tokio::Result<()> {
    /// client.cache_memlimit("127.0.0.1:11211", 1024).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cache_memlimit(
        &self,
        node: impl IntoNodeAddr,
        megabytes: u32,
    ) -> NodeRequest<'_, R, ()> {
        NodeRequest::admin(self, node, Admin::CacheMemlimit(megabytes))
    }
}

/// Which one-node command a [`NodeRequest`] is.
#[derive(Debug, Clone)]
enum Admin {
    FlushAll { delay: Option<Duration> },
    Version,
    Stats { args: Vec<String> },
    Verbosity(u32),
    CacheMemlimit(u32),
}

/// A command addressed to one node: `flush_all`, `version`, `stats`, `verbosity`,
/// `cache_memlimit`.
pub type NodeRequest<'c, R, T> = Request<'c, R, NodeCommand<T>>;

/// The operation of a command addressed to one node, whose answer is a `T`.
#[derive(Debug)]
pub struct NodeCommand<T> {
    node: Result<NodeAddr>,
    command: Admin,
    noreply: bool,
    output: PhantomData<fn() -> T>,
}

impl<'c, R: Runtime, T> NodeRequest<'c, R, T> {
    fn admin(client: &'c Client<R>, node: impl IntoNodeAddr, command: Admin) -> Self {
        let node = node
            .into_node_addr()
            .map_err(|error| Error::UnknownNode(error.0));
        let noreply = false;
        let output = PhantomData;
        Request::new(
            client,
            NodeCommand {
                node,
                command,
                noreply,
                output,
            },
        )
    }
}

/// What a node command's answer means, per output type.
pub trait NodeOutput: Sized {
    /// Reads the answer (`None` for a command sent with `noreply`).
    #[doc(hidden)]
    fn from_reply(reply: Option<Reply>) -> Result<Self>;
}

impl NodeOutput for () {
    fn from_reply(reply: Option<Reply>) -> Result<()> {
        match reply {
            None | Some(Reply::Ok) => Ok(()),
            Some(Reply::Other(line)) => {
                Err(Error::Server(String::from_utf8_lossy(&line).into_owned()))
            }
            Some(other) => Err(unexpected(other)),
        }
    }
}

impl NodeOutput for String {
    fn from_reply(reply: Option<Reply>) -> Result<String> {
        match reply {
            Some(Reply::Version(version)) => Ok(String::from_utf8_lossy(&version).into_owned()),
            Some(other) => Err(unexpected(other)),
            None => Err(Error::UnexpectedReply("no reply".into())),
        }
    }
}

impl NodeOutput for HashMap<String, String> {
    fn from_reply(reply: Option<Reply>) -> Result<Self> {
        match reply {
            Some(Reply::Stats(stats)) => Ok(stats.into_iter().map(stat_entry).collect()),
            // `stats reset` answers RESET, `stats detail on|off` OK: done, nothing to list.
            Some(Reply::Ok | Reply::Other(_)) => Ok(HashMap::new()),
            Some(other) => Err(unexpected(other)),
            None => Err(Error::UnexpectedReply("no reply".into())),
        }
    }
}

impl<T: NodeOutput> Operation for NodeCommand<T> {
    type Output = T;

    fn key(&self) -> &[u8] {
        &[]
    }

    fn target(&self) -> Target<'_> {
        Target::Node(&self.node)
    }

    fn is_read(&self) -> bool {
        matches!(self.command, Admin::Version | Admin::Stats { .. })
    }

    fn encode(&self, config: &Config) -> Result<(Payload, Expects)> {
        let args: Vec<&[u8]>;
        let command = match &self.command {
            Admin::FlushAll { delay } => Command::FlushAll {
                delay: delay.map(|delay| resolve(Exptime::After(delay))),
                noreply: false,
            },
            Admin::Version => Command::Version,
            Admin::Stats { args: owned } => {
                args = owned.iter().map(|arg| arg.as_bytes()).collect();
                Command::Stats { args: &args }
            }
            Admin::Verbosity(level) => Command::Verbosity {
                level: *level,
                noreply: false,
            },
            Admin::CacheMemlimit(megabytes) => Command::CacheMemlimit {
                megabytes: *megabytes,
                noreply: false,
            },
        };
        encode(config, &command, 0)
    }

    fn decode(&self, answer: Answer, _: &Config, _: &Counters) -> Result<T> {
        T::from_reply(Some(answer.one()?))
    }

    fn detached(&self) -> Option<T> {
        self.noreply.then(|| T::from_reply(None).ok()).flatten()
    }

    fn affinity(&self) -> Affinity {
        Affinity::None
    }
}

impl<'c, R: Runtime> NodeRequest<'c, R, ()> {
    /// Returns once the request is queued, without waiting for the server's answer.
    pub fn noreply(mut self) -> Self {
        self.op.noreply = true;
        self
    }

    /// For `flush_all`: invalidate the items `delay` from now instead of at once (stagger
    /// the delays across nodes to spread the refill load).
    pub fn delay(mut self, delay: Duration) -> Self {
        if let Admin::FlushAll { delay: slot } = &mut self.op.command {
            *slot = Some(delay);
        }
        self
    }
}

impl<'c, R: Runtime> NodeRequest<'c, R, HashMap<String, String>> {
    /// For `stats`: the statistics group and its arguments (`["settings"]`,
    /// `["slabs"]`, `["items"]`, ...).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if let Admin::Stats { args: slot } = &mut self.op.command {
            *slot = args.into_iter().map(Into::into).collect();
        }
        self
    }
}

fn stat_entry(stat: Stat) -> (String, String) {
    (
        String::from_utf8_lossy(&stat.name).into_owned(),
        String::from_utf8_lossy(&stat.value).into_owned(),
    )
}
