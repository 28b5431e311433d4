//! Commands addressed to one node: `flush_all`, `version`, `stats`, `verbosity`,
//! `cache_memlimit`.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::time::Duration;

use memproto::{Command, Exptime, Reply, Stat};

use crate::client::{resolve, unexpected, CallOptions, Client};
use crate::cluster::addr::IntoNodeAddr;
use crate::engine::request::Affinity;
use crate::error::{Error, Result};
use crate::io::runtime::Runtime;
use crate::ops::{timeout_setters, RequestFuture};

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
        NodeRequest::new(self, node, NodeCommand::FlushAll { delay: None })
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
        NodeRequest::new(self, node, NodeCommand::Version)
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
        NodeRequest::new(self, node, NodeCommand::Stats { args: Vec::new() })
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
        NodeRequest::new(self, node, NodeCommand::Verbosity(level))
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
        NodeRequest::new(self, node, NodeCommand::CacheMemlimit(megabytes))
    }
}

/// Which one-node command a [`NodeRequest`] is.
#[derive(Debug, Clone)]
enum NodeCommand {
    FlushAll { delay: Option<Duration> },
    Version,
    Stats { args: Vec<String> },
    Verbosity(u32),
    CacheMemlimit(u32),
}

/// A command addressed to one node: `flush_all`, `version`, `stats`, `verbosity`,
/// `cache_memlimit`.
#[must_use = "requests do nothing unless awaited"]
pub struct NodeRequest<'c, R: Runtime, T> {
    client: &'c Client<R>,
    node: Result<crate::cluster::addr::NodeAddr>,
    command: NodeCommand,
    noreply: bool,
    options: CallOptions,
    output: std::marker::PhantomData<fn() -> T>,
}

impl<'c, R: Runtime, T> NodeRequest<'c, R, T> {
    fn new(client: &'c Client<R>, node: impl IntoNodeAddr, command: NodeCommand) -> Self {
        let read = matches!(command, NodeCommand::Version | NodeCommand::Stats { .. });
        NodeRequest {
            client,
            node: node
                .into_node_addr()
                .map_err(|error| Error::UnknownNode(error.0)),
            command,
            noreply: false,
            options: if read {
                CallOptions::read()
            } else {
                CallOptions::default()
            },
            output: std::marker::PhantomData,
        }
    }

    timeout_setters!();

    async fn reply(self) -> Result<Option<Reply>> {
        let inner = &self.client.inner;
        let node = inner.node(self.node?)?;
        let args: Vec<&[u8]>;
        let command = match &self.command {
            NodeCommand::FlushAll { delay } => Command::FlushAll {
                delay: delay.map(|delay| resolve(Exptime::After(delay))),
                noreply: false,
            },
            NodeCommand::Version => Command::Version,
            NodeCommand::Stats { args: owned } => {
                args = owned.iter().map(|arg| arg.as_bytes()).collect();
                Command::Stats { args: &args }
            }
            NodeCommand::Verbosity(level) => Command::Verbosity {
                level: *level,
                noreply: false,
            },
            NodeCommand::CacheMemlimit(megabytes) => Command::CacheMemlimit {
                megabytes: *megabytes,
                noreply: false,
            },
        };
        let encode = || inner.encode(&command, 0);
        inner
            .call_or_queue(&node, &encode, self.options, Affinity::None, self.noreply)
            .await
    }
}

impl<'c, R: Runtime> NodeRequest<'c, R, ()> {
    /// Returns once the request is queued, without waiting for the server's answer.
    pub fn noreply(mut self) -> Self {
        self.noreply = true;
        self
    }

    /// For `flush_all`: invalidate the items `delay` from now instead of at once (stagger
    /// the delays across nodes to spread the refill load).
    pub fn delay(mut self, delay: Duration) -> Self {
        if let NodeCommand::FlushAll { delay: slot } = &mut self.command {
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
        if let NodeCommand::Stats { args: slot } = &mut self.command {
            *slot = args.into_iter().map(Into::into).collect();
        }
        self
    }
}

impl<'c, R: Runtime> IntoFuture for NodeRequest<'c, R, ()> {
    type Output = Result<()>;
    type IntoFuture = RequestFuture<'c, ()>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.reply().await? {
                None | Some(Reply::Ok) => Ok(()),
                Some(Reply::Other(line)) => {
                    Err(Error::Server(String::from_utf8_lossy(&line).into_owned()))
                }
                Some(other) => Err(unexpected(other)),
            }
        })
    }
}

impl<'c, R: Runtime> IntoFuture for NodeRequest<'c, R, String> {
    type Output = Result<String>;
    type IntoFuture = RequestFuture<'c, String>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.reply().await? {
                Some(Reply::Version(version)) => Ok(String::from_utf8_lossy(&version).into_owned()),
                Some(other) => Err(unexpected(other)),
                None => Err(Error::UnexpectedReply("no reply".into())),
            }
        })
    }
}

impl<'c, R: Runtime> IntoFuture for NodeRequest<'c, R, HashMap<String, String>> {
    type Output = Result<HashMap<String, String>>;
    type IntoFuture = RequestFuture<'c, HashMap<String, String>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.reply().await? {
                Some(Reply::Stats(stats)) => Ok(stats.into_iter().map(stat_entry).collect()),
                // `stats reset` answers RESET, `stats detail on|off` OK: done, nothing to list.
                Some(Reply::Ok | Reply::Other(_)) => Ok(HashMap::new()),
                Some(other) => Err(unexpected(other)),
                None => Err(Error::UnexpectedReply("no reply".into())),
            }
        })
    }
}

fn stat_entry(stat: Stat) -> (String, String) {
    (
        String::from_utf8_lossy(&stat.name).into_owned(),
        String::from_utf8_lossy(&stat.value).into_owned(),
    )
}
