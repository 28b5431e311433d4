//! The reply to ElastiCache's `config get cluster`, parsed without I/O.
//!
//! ```text
//! CONFIG cluster 0 <length>\r\n
//! <version>\n
//! <host>|<ip>|<port> <host>|<ip>|<port> ...\n
//! \r\n
//! END\r\n
//! ```
//!
//! Engines before 1.4.14 answer `get AmazonElastiCache:cluster` with the same block in a
//! `VALUE` reply; both are read here.

use crate::cluster::addr::NodeAddr;

/// The largest configuration accepted: thousands of nodes fit easily.
pub(crate) const MAX_CONFIG: usize = 1024 * 1024;

/// The most nodes a configuration may list: far beyond any real cluster, and a bound on
/// what a hostile endpoint can make the client build.
pub(crate) const MAX_NODES: usize = 4096;

/// A cluster configuration: its version and its nodes, in the endpoint's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterConfig {
    pub(crate) version: u64,
    pub(crate) nodes: Vec<ClusterNode>,
}

/// One `host|ip|port` entry of a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterNode {
    /// Where the node is reached, which is also its identity (what routing hashes, what
    /// [`crate::Client::nodes`] lists): `ip:port`, or `host:port` for an entry without an IP.
    pub(crate) addr: NodeAddr,
    /// The entry's host name when `addr` holds its IP instead. A node's TLS certificate
    /// names its host, not the IP the configuration happens to give for it today.
    pub(crate) host: Option<String>,
}

impl ClusterNode {
    /// The node of one entry's fields; `None` when it has neither IP nor host.
    fn new(host: &str, ip: &str, port: u16) -> Option<ClusterNode> {
        // The IP saves a DNS lookup (and is what the cluster serves at today); a node
        // without one is reached by name.
        let (reach, host) = match (ip, host) {
            ("", "") => return None,
            ("", host) => (host, None),
            (ip, "") => (ip, None),
            (ip, host) if ip == host => (ip, None),
            (ip, host) => (ip, Some(host.to_owned())),
        };
        Some(ClusterNode {
            addr: NodeAddr::tcp(reach, port),
            host,
        })
    }
}

/// Why a configuration reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The endpoint does not know the command (not a configuration endpoint).
    #[error("not a configuration endpoint: it answered {0:?}")]
    NotAnEndpoint(String),
    /// The reply does not follow the configuration format.
    #[error("malformed cluster configuration: {0}")]
    Malformed(&'static str),
    /// The reply is larger than any real configuration.
    #[error("cluster configuration over {MAX_CONFIG} bytes")]
    TooLarge,
    /// The configuration lists more nodes than any real cluster has.
    #[error("the cluster configuration lists over {MAX_NODES} nodes")]
    TooManyNodes,
    /// The configuration lists no node.
    #[error("the cluster configuration lists no node")]
    NoNodes,
    /// An application's [`NodeSource`](crate::NodeSource) failed, with this message.
    #[error("the node source failed: {0}")]
    Source(String),
}

/// Parses a complete reply at the start of `buf`: `Ok(None)` while more bytes are needed.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<ClusterConfig>, DiscoveryError> {
    let Some(header_end) = find(buf, b"\r\n") else {
        return if buf.len() > MAX_CONFIG {
            Err(DiscoveryError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let header = &buf[..header_end];
    let words: Vec<&[u8]> = header.split(|&b| b == b' ').collect();
    let length = match words.as_slice() {
        [b"CONFIG", b"cluster", _flags, length]
        | [b"VALUE", b"AmazonElastiCache:cluster", _flags, length] => {
            number(length).ok_or(DiscoveryError::Malformed("bad length"))?
        }
        _ => {
            let line = String::from_utf8_lossy(&header[..header.len().min(80)]).into_owned();
            return Err(DiscoveryError::NotAnEndpoint(line));
        }
    };
    let length = usize::try_from(length).map_err(|_| DiscoveryError::TooLarge)?;
    if length > MAX_CONFIG {
        return Err(DiscoveryError::TooLarge);
    }
    let body_start = header_end + 2;
    let trailer = b"\r\nEND\r\n";
    let Some(body_end) = body_start.checked_add(length) else {
        return Err(DiscoveryError::TooLarge);
    };
    if buf.len() < body_end + trailer.len() {
        return Ok(None);
    }
    if &buf[body_end..body_end + trailer.len()] != trailer {
        return Err(DiscoveryError::Malformed("no END after the configuration"));
    }
    parse_body(&buf[body_start..body_end]).map(Some)
}

fn parse_body(body: &[u8]) -> Result<ClusterConfig, DiscoveryError> {
    let text = std::str::from_utf8(body).map_err(|_| DiscoveryError::Malformed("not UTF-8"))?;
    let mut lines = text.split('\n').map(|line| line.trim_end_matches('\r'));
    let version = lines
        .next()
        .and_then(|line| line.trim().parse().ok())
        .ok_or(DiscoveryError::Malformed("bad version"))?;
    let nodes_line = lines.next().unwrap_or_default();
    let mut nodes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for entry in nodes_line.split(' ').filter(|entry| !entry.is_empty()) {
        if nodes.len() == MAX_NODES {
            return Err(DiscoveryError::TooManyNodes);
        }
        let mut fields = entry.split('|');
        let (Some(host), Some(ip), Some(port), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(DiscoveryError::Malformed("a node is not host|ip|port"));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| DiscoveryError::Malformed("bad port"))?;
        let no_address = DiscoveryError::Malformed("a node has no address");
        if port == 0 {
            return Err(no_address);
        }
        let node = ClusterNode::new(host, ip, port).ok_or(no_address)?;
        // An address listed twice is one node: the first entry names it.
        if seen.insert(node.addr.clone()) {
            nodes.push(node);
        }
    }
    if nodes.is_empty() {
        return Err(DiscoveryError::NoNodes);
    }
    Ok(ClusterConfig { version, nodes })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str) -> Vec<u8> {
        format!("CONFIG cluster 0 {}\r\n{body}\r\nEND\r\n", body.len()).into_bytes()
    }

    fn tcp(host: &str, port: u16) -> NodeAddr {
        NodeAddr::Tcp {
            host: host.into(),
            port,
        }
    }

    fn addrs(config: &ClusterConfig) -> Vec<NodeAddr> {
        config.nodes.iter().map(|node| node.addr.clone()).collect()
    }

    #[test]
    fn reads_version_and_nodes() {
        let bytes = reply("12\na.example|10.0.0.1|11211 b.example||11212\n");
        let config = parse(&bytes).unwrap().unwrap();
        assert_eq!(config.version, 12);
        assert_eq!(
            config.nodes,
            [
                ClusterNode {
                    addr: tcp("10.0.0.1", 11211),
                    host: Some("a.example".into()),
                },
                ClusterNode {
                    addr: tcp("b.example", 11212),
                    host: None,
                },
            ]
        );
    }

    #[test]
    fn keeps_the_host_name_only_when_the_node_is_reached_at_its_ip() {
        let bytes = reply("1\n|10.0.0.1|1 10.0.0.2|10.0.0.2|2 h|10.0.0.3|3 h|10.0.0.3|3\n");
        let config = parse(&bytes).unwrap().unwrap();
        let hosts: Vec<Option<&str>> = config
            .nodes
            .iter()
            .map(|node| node.host.as_deref())
            .collect();
        assert_eq!(hosts, [None, None, Some("h")], "the duplicate is dropped");
        assert_eq!(
            parse(&reply("1\n||5\n")),
            Err(DiscoveryError::Malformed("a node has no address"))
        );
        assert_eq!(
            parse(&reply("1\nh|10.0.0.1|0\n")),
            Err(DiscoveryError::Malformed("a node has no address"))
        );
    }

    #[test]
    fn waits_for_the_whole_reply() {
        let bytes = reply("3\nh|127.0.0.1|1\n");
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse(&bytes).unwrap().is_some());
    }

    #[test]
    fn reads_the_legacy_reply() {
        let body = "1\nh|127.0.0.1|5\n";
        let bytes = format!(
            "VALUE AmazonElastiCache:cluster 0 {}\r\n{body}\r\nEND\r\n",
            body.len()
        );
        assert_eq!(
            addrs(&parse(bytes.as_bytes()).unwrap().unwrap()),
            [tcp("127.0.0.1", 5)]
        );
    }

    #[test]
    fn refuses_what_is_not_a_configuration() {
        assert!(matches!(
            parse(b"ERROR\r\n"),
            Err(DiscoveryError::NotAnEndpoint(_))
        ));
        let malformed = [
            ("x\nh|1.2.3.4|5\n", "bad version"),
            ("1\nh|1.2.3.4\n", "a node is not host|ip|port"),
            ("1\nh|1.2.3.4|70000\n", "bad port"),
        ];
        for (body, why) in malformed {
            assert_eq!(parse(&reply(body)), Err(DiscoveryError::Malformed(why)));
        }
        assert_eq!(parse(&reply("1\n\n")), Err(DiscoveryError::NoNodes));
        assert_eq!(
            parse(b"CONFIG cluster 0 99999999999\r\n"),
            Err(DiscoveryError::TooLarge)
        );
        let mut wrong_end = reply("1\nh|1.2.3.4|5\n");
        let at = wrong_end.len() - 5;
        wrong_end[at] = b'X';
        assert!(matches!(
            parse(&wrong_end),
            Err(DiscoveryError::Malformed(_))
        ));
    }

    #[test]
    fn never_panics_on_any_prefix_of_noise() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            let mut bytes = b"CONFIG cluster 0 ".to_vec();
            for _ in 0..(seed % 64) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let alphabet = b"0123456789|\r\n ENDh.";
                bytes.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = parse(&bytes);
        }
    }
}

#[cfg(test)]
mod bounds {
    use super::*;

    #[test]
    fn a_huge_node_list_is_refused() {
        let entries: Vec<String> = (0..=MAX_NODES).map(|i| format!("h||{}", i + 1)).collect();
        let body = format!("1\n{}\n", entries.join(" "));
        let reply = format!("CONFIG cluster 0 {}\r\n{body}\r\nEND\r\n", body.len());
        assert_eq!(parse(reply.as_bytes()), Err(DiscoveryError::TooManyNodes));
    }
}
