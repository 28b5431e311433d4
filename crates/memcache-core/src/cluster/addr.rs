//! Node addresses.

use std::fmt;
use std::path::PathBuf;

use crate::cluster::router::NodeKey;

/// Where a memcached node listens: a TCP `host:port` or a unix socket path.
///
/// Routing hashes the address exactly as written, so every client sharing a cluster must
/// name the nodes the same way (`localhost:11211` and `127.0.0.1:11211` are different
/// nodes to every client library).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeAddr {
    /// A TCP node.
    Tcp {
        /// Host name or IP address, as configured.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A unix socket node.
    Unix(PathBuf),
    /// An in-process server for tests ([`MemoryServer::addr`](crate::testing::MemoryServer::addr)).
    #[cfg(feature = "testing")]
    Memory(crate::testing::MemoryAddr),
}

/// Why an address string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid node address {0:?}: expected host:port, [ipv6]:port or an absolute unix socket path"
)]
pub struct AddrParseError(pub String);

impl NodeAddr {
    /// A TCP address.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        NodeAddr::Tcp {
            host: host.into(),
            port,
        }
    }

    /// A unix socket address.
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        NodeAddr::Unix(path.into())
    }

    /// Parses `host:port`, `[v6]:port`, `memcache://host:port`, or a unix socket path:
    /// `/path`, `unix:/path` or `unix:///path` (all three the same node).
    pub fn parse(text: &str) -> Result<Self, AddrParseError> {
        let error = || AddrParseError(text.to_owned());
        // `unix:///path` is the URL form of `/path`: the same node, routed the same.
        if let Some(path) = text
            .strip_prefix("unix://")
            .or_else(|| text.strip_prefix("unix:"))
        {
            if path.is_empty() {
                return Err(error());
            }
            return Ok(NodeAddr::unix(path));
        }
        let text = text.strip_prefix("memcache://").unwrap_or(text);
        let text = text.strip_suffix('/').unwrap_or(text);
        if text.starts_with('/') {
            return Ok(NodeAddr::unix(text));
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(error)?;
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.strip_suffix(']').ok_or_else(error)?,
            None if host.contains(':') => return Err(error()),
            None => host,
        };
        let port = port.parse().map_err(|_| error())?;
        if host.is_empty() {
            return Err(error());
        }
        Ok(NodeAddr::tcp(host, port))
    }

    /// An in-process test server's address.
    #[cfg(feature = "tls")]
    pub(crate) fn is_in_process(&self) -> bool {
        #[cfg(feature = "testing")]
        if let NodeAddr::Memory(_) = self {
            return true;
        }
        false
    }

    /// The identity routing hashes.
    pub(crate) fn routing_key(&self) -> NodeKey<'_> {
        match self {
            NodeAddr::Tcp { host, port } => NodeKey::Tcp { host, port: *port },
            NodeAddr::Unix(path) => NodeKey::Unix {
                path: path.to_str().unwrap_or_default(),
            },
            // Routed by its name, as a unix socket is by its path.
            #[cfg(feature = "testing")]
            NodeAddr::Memory(server) => NodeKey::Unix {
                path: server.name(),
            },
        }
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeAddr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            NodeAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            NodeAddr::Unix(path) => write!(f, "{}", path.display()),
            #[cfg(feature = "testing")]
            NodeAddr::Memory(server) => write!(f, "{server}"),
        }
    }
}

impl std::str::FromStr for NodeAddr {
    type Err = AddrParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NodeAddr::parse(text)
    }
}

/// Anything that names a node: a string in any form [`NodeAddr::parse`] accepts (`&str`,
/// `String`, `&String`, ...) or a [`NodeAddr`]. The builder's node lists and the commands
/// that address one node (`flush_all`, `stats`, ...) take it.
pub trait IntoNodeAddr {
    /// The node address.
    fn into_node_addr(self) -> Result<NodeAddr, AddrParseError>;
}

impl<S: AsRef<str>> IntoNodeAddr for S {
    fn into_node_addr(self) -> Result<NodeAddr, AddrParseError> {
        NodeAddr::parse(self.as_ref())
    }
}

impl IntoNodeAddr for NodeAddr {
    fn into_node_addr(self) -> Result<NodeAddr, AddrParseError> {
        Ok(self)
    }
}

impl IntoNodeAddr for &NodeAddr {
    fn into_node_addr(self) -> Result<NodeAddr, AddrParseError> {
        Ok(self.clone())
    }
}

impl TryFrom<&str> for NodeAddr {
    type Error = AddrParseError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        NodeAddr::parse(text)
    }
}

impl TryFrom<String> for NodeAddr {
    type Error = AddrParseError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        NodeAddr::parse(&text)
    }
}

impl From<&NodeAddr> for NodeAddr {
    fn from(addr: &NodeAddr) -> Self {
        addr.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            NodeAddr::parse("127.0.0.1:11211"),
            Ok(NodeAddr::tcp("127.0.0.1", 11211))
        );
        assert_eq!(
            NodeAddr::parse("cache-1.internal:22122"),
            Ok(NodeAddr::tcp("cache-1.internal", 22122))
        );
        assert_eq!(
            NodeAddr::parse("[::1]:11211"),
            Ok(NodeAddr::tcp("::1", 11211))
        );
        assert_eq!(
            NodeAddr::parse("/tmp/mc.sock"),
            Ok(NodeAddr::unix("/tmp/mc.sock"))
        );
        assert_eq!(
            NodeAddr::parse("unix:/tmp/mc.sock"),
            Ok(NodeAddr::unix("/tmp/mc.sock"))
        );
        for bad in [
            "",
            "localhost",
            ":11211",
            "host:port",
            "host:70000",
            "::1:11211",
            "[::1:11211",
        ] {
            assert!(NodeAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_forms_name_the_same_nodes() {
        for text in ["/tmp/mc.sock", "unix:/tmp/mc.sock", "unix:///tmp/mc.sock"] {
            assert_eq!(
                NodeAddr::parse(text),
                Ok(NodeAddr::unix("/tmp/mc.sock")),
                "{text}"
            );
        }
        for text in [
            "10.0.0.1:11211",
            "memcache://10.0.0.1:11211",
            "memcache://10.0.0.1:11211/",
        ] {
            assert_eq!(
                NodeAddr::parse(text),
                Ok(NodeAddr::tcp("10.0.0.1", 11211)),
                "{text}"
            );
        }
        assert_eq!(
            NodeAddr::parse("memcache://[::1]:11211"),
            Ok(NodeAddr::tcp("::1", 11211))
        );
        assert!(NodeAddr::parse("unix://").is_err());
        assert!(NodeAddr::parse("memcache://").is_err());
        assert!(NodeAddr::parse("memcache://host").is_err());
    }

    #[test]
    fn display_round_trips() {
        for text in ["127.0.0.1:11211", "[::1]:11211", "/tmp/mc.sock"] {
            assert_eq!(NodeAddr::parse(text).unwrap().to_string(), text);
        }
    }
}
