//! The client's configuration as data (feature `serde`), for a service's configuration
//! file or environment.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::client::builder::ClientBuilder;
use crate::client::gutter::{FailoverOn, Gutter};
use crate::client::protocol::Protocol;
use crate::client::retry::RetryPolicy;
use crate::cluster::router::Distribution;
use crate::io::runtime::Runtime;

/// A client's configuration, read with serde from any format (TOML, YAML, JSON, the
/// environment through `config` or `figment`). Every field is optional: one left out keeps
/// the builder's default. Turn it into a client with [`Settings::builder`] (then set what
/// data cannot say, such as TLS or event listeners) or [`Settings::build`].
///
/// Durations are written as a number of seconds (`1.5`) or as text with a unit: `"250ms"`,
/// `"2s"`, `"5m"`, `"1h"` (also `us`). The timeouts that can be switched off take `"off"`.
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use memcache_tokio::{Client, Settings};
///
/// let settings: Settings = serde_json::from_str(r#"{
///     "nodes": ["10.0.0.1:11211", { "addr": "10.0.0.2:11211", "weight": 2 }],
///     "distribution": "ketama",
///     "protocol": "meta",
///     "timeout": "250ms",
///     "idle_timeout": "off",
///     "max_connections": 4,
///     "retry": { "max_retries": 2, "backoff_min": "5ms", "backoff_max": "50ms" }
/// }"#)?;
/// let client: Client = settings.builder().build()?;
/// # let _ = client;
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Settings {
    /// The nodes: `"host:port"` (or any form [`crate::Client::builder`] takes), or
    /// `{ addr, weight }`.
    pub nodes: Vec<NodeSetting>,
    /// Learn the nodes from this configuration endpoint instead
    /// ([`ClientBuilder::autodiscovery`]).
    pub autodiscovery: Option<String>,
    /// [`ClientBuilder::protocol`]: `"text"` or `"meta"`.
    pub protocol: Option<Protocol>,
    /// [`ClientBuilder::distribution`]: `"rendezvous"`, `"ketama"`, `"ketama_md5"` or
    /// `"ketama_one_at_a_time"`.
    pub distribution: Option<Distribution>,
    /// [`ClientBuilder::hash_tag`], such as `"{}"`.
    pub hash_tag: Option<String>,
    /// [`ClientBuilder::timeout`]; `"off"` disables it.
    #[serde(deserialize_with = "switchable_duration")]
    pub timeout: Option<Option<Duration>>,
    /// [`ClientBuilder::connect_timeout`].
    #[serde(deserialize_with = "some_duration")]
    pub connect_timeout: Option<Duration>,
    /// [`ClientBuilder::min_connections`].
    pub min_connections: Option<usize>,
    /// [`ClientBuilder::max_connections`].
    pub max_connections: Option<usize>,
    /// [`ClientBuilder::idle_timeout`]; `"off"` keeps idle connections.
    #[serde(deserialize_with = "switchable_duration")]
    pub idle_timeout: Option<Option<Duration>>,
    /// [`ClientBuilder::tcp_keepalive`]; `"off"` disables it.
    #[serde(deserialize_with = "switchable_duration")]
    pub tcp_keepalive: Option<Option<Duration>>,
    /// [`ClientBuilder::close_grace`].
    #[serde(deserialize_with = "some_duration")]
    pub close_grace: Option<Duration>,
    /// [`ClientBuilder::max_value_len`].
    pub max_value_len: Option<usize>,
    /// [`ClientBuilder::max_in_flight`].
    pub max_in_flight: Option<usize>,
    /// [`ClientBuilder::max_in_flight_bytes`].
    pub max_in_flight_bytes: Option<usize>,
    /// [`ClientBuilder::wait_when_overloaded`].
    pub wait_when_overloaded: Option<bool>,
    /// [`ClientBuilder::miss_on_unavailable`].
    pub miss_on_unavailable: Option<bool>,
    /// [`ClientBuilder::unhealthy_after`].
    pub unhealthy_after: Option<u32>,
    /// [`ClientBuilder::purge_unhealthy_nodes`].
    pub purge_unhealthy_nodes: Option<bool>,
    /// [`ClientBuilder::autobatching`].
    pub autobatching: Option<bool>,
    /// [`ClientBuilder::coalesce_writes`].
    pub coalesce_writes: Option<bool>,
    /// [`ClientBuilder::retry`].
    pub retry: Option<RetrySettings>,
    /// [`ClientBuilder::credentials`].
    pub credentials: Option<Credentials>,
    /// [`ClientBuilder::gutter`].
    pub gutter: Option<GutterSettings>,
    /// [`ClientBuilder::route`]: a tree of pools, in place of `nodes`.
    pub route: Option<crate::route::settings::RouteSettings>,
}

/// [`Settings::gutter`]: a [`Gutter`] pool.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GutterSettings {
    /// The gutter's nodes.
    pub nodes: Vec<NodeSetting>,
    /// [`Gutter::ttl`]; the default when left out.
    #[serde(default, deserialize_with = "some_duration")]
    pub ttl: Option<Duration>,
    /// [`Gutter::on`]: `"unreachable"` (the default) or `"unavailable"`.
    #[serde(default)]
    pub on: Option<FailoverOn>,
}

impl GutterSettings {
    /// The gutter these settings describe.
    pub fn gutter(&self) -> Gutter {
        let addrs = self.nodes.iter().map(|node| match node {
            NodeSetting::Addr(addr) | NodeSetting::Weighted { addr, .. } => addr.as_str(),
        });
        let mut gutter = Gutter::new(addrs);
        if let Some(ttl) = self.ttl {
            gutter = gutter.ttl(ttl);
        }
        if let Some(on) = self.on {
            gutter = gutter.on(on);
        }
        gutter
    }
}

/// One node of [`Settings::nodes`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum NodeSetting {
    /// A node of weight 1.
    Addr(String),
    /// A node with a weight (which matters for ketama only).
    Weighted {
        /// The node, as [`crate::Client::builder`] takes it.
        addr: String,
        /// Its weight.
        weight: u32,
    },
}

/// [`Settings::retry`]: a [`RetryPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetrySettings {
    /// [`RetryPolicy::new`].
    pub max_retries: u32,
    /// The first backoff ([`RetryPolicy::backoff`]); the policy's default when left out.
    #[serde(default, deserialize_with = "some_duration")]
    pub backoff_min: Option<Duration>,
    /// The largest backoff; the policy's default when left out.
    #[serde(default, deserialize_with = "some_duration")]
    pub backoff_max: Option<Duration>,
}

/// [`Settings::credentials`]: a user and password for memcached's ASCII authentication.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Credentials {
    /// The user.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// A builder set up as these settings say, on the runtime's default instance; its
    /// own defaults stand for what they leave out.
    pub fn builder<R: Runtime + Default>(&self) -> ClientBuilder<R> {
        let mut builder = ClientBuilder::with_runtime(R::default(), Vec::<String>::new());
        for node in &self.nodes {
            builder = match node {
                NodeSetting::Addr(addr) => builder.node(addr.as_str(), 1),
                NodeSetting::Weighted { addr, weight } => builder.node(addr.as_str(), *weight),
            };
        }
        if let Some(endpoint) = &self.autodiscovery {
            builder = builder.autodiscovery(endpoint);
        }
        macro_rules! apply {
            ($($field:ident),* $(,)?) => {
                $(if let Some(value) = self.$field.clone() {
                    builder = builder.$field(value);
                })*
            };
        }
        apply!(
            protocol,
            distribution,
            timeout,
            connect_timeout,
            min_connections,
            max_connections,
            idle_timeout,
            tcp_keepalive,
            close_grace,
            max_value_len,
            max_in_flight,
            max_in_flight_bytes,
            wait_when_overloaded,
            miss_on_unavailable,
            unhealthy_after,
            purge_unhealthy_nodes,
            autobatching,
            coalesce_writes,
        );
        if let Some(tag) = &self.hash_tag {
            builder = builder.hash_tag(tag);
        }
        if let Some(retry) = &self.retry {
            let mut policy = RetryPolicy::new(retry.max_retries);
            if retry.backoff_min.is_some() || retry.backoff_max.is_some() {
                let (min, max) = policy.backoffs();
                policy = policy.backoff(
                    retry.backoff_min.unwrap_or(min),
                    retry.backoff_max.unwrap_or(max),
                );
            }
            builder = builder.retry(policy);
        }
        if let Some(credentials) = &self.credentials {
            builder = builder.credentials(&credentials.username, &credentials.password);
        }
        if let Some(settings) = &self.gutter {
            builder = builder.gutter(settings.gutter());
        }
        if let Some(route) = &self.route {
            builder = builder.route(route.route());
        }
        builder
    }

    /// Builds the client these settings describe (see [`ClientBuilder::build`]; with
    /// [`Settings::autodiscovery`], use [`Settings::builder`] and
    /// [`ClientBuilder::connect`]).
    ///
    /// # Errors
    /// The settings are invalid, as [`ClientBuilder::build`] reports.
    pub fn build<R: Runtime + Default>(
        &self,
    ) -> Result<crate::Client<R>, crate::client::config::ConfigError> {
        self.builder().build()
    }
}

/// A duration: seconds as a number, or text with a unit.
fn some_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    // Not switchable: the visitor refuses "off", so it always has a duration.
    deserializer.deserialize_any(DurationVisitor { switchable: false })
}

/// A duration, or `"off"`.
fn switchable_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Duration>>, D::Error> {
    deserializer
        .deserialize_any(DurationVisitor { switchable: true })
        .map(Some)
}

struct DurationVisitor {
    switchable: bool,
}

impl Visitor<'_> for DurationVisitor {
    type Value = Option<Duration>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration: seconds, or text such as \"250ms\", \"2s\", \"5m\"")?;
        if self.switchable {
            f.write_str(", or \"off\"")?;
        }
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Self::Value, E> {
        Ok(Some(Duration::from_secs(seconds)))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Self::Value, E> {
        u64::try_from(seconds)
            .map(|seconds| Some(Duration::from_secs(seconds)))
            .map_err(|_| E::custom("a duration cannot be negative"))
    }

    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Self::Value, E> {
        Duration::try_from_secs_f64(seconds)
            .map(Some)
            .map_err(|_| E::custom(format!("{seconds} is not a duration in seconds")))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        let text = text.trim();
        if self.switchable && text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        parse_duration(text)
            .map(Some)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

/// `"250ms"`, `"1.5s"`, `"5m"`, `"1h"`, `"100us"`; a bare number is seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(number * scale).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("100us"), Some(Duration::from_micros(100)));
        assert_eq!(parse_duration("10 ms"), Some(Duration::from_millis(10)));
        assert_eq!(parse_duration("fast"), None);
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn settings_read_from_a_document() {
        let settings: Settings = serde_json::from_str(
            r#"{
                "nodes": ["a:1", { "addr": "b:2", "weight": 3 }],
                "timeout": "off",
                "connect_timeout": 2,
                "idle_timeout": "90s",
                "distribution": "ketama_md5",
                "protocol": "text",
                "retry": { "max_retries": 1 },
                "credentials": { "username": "u", "password": "secret" }
            }"#,
        )
        .unwrap();
        assert_eq!(
            settings.nodes,
            [
                NodeSetting::Addr("a:1".into()),
                NodeSetting::Weighted {
                    addr: "b:2".into(),
                    weight: 3
                }
            ]
        );
        assert_eq!(settings.timeout, Some(None));
        assert_eq!(settings.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(settings.idle_timeout, Some(Some(Duration::from_secs(90))));
        assert_eq!(settings.tcp_keepalive, None);
        assert_eq!(settings.distribution, Some(Distribution::KetamaMd5));
        assert_eq!(settings.protocol, Some(Protocol::Text));
        assert!(!format!("{settings:?}").contains("secret"));
    }

    #[test]
    fn mistakes_are_errors_that_say_what_is_wrong() {
        let error = |json: &str| {
            serde_json::from_str::<Settings>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(error(r#"{ "timout": "1s" }"#).contains("unknown field `timout`"));
        let off = error(r#"{ "connect_timeout": "off" }"#);
        assert!(off.contains("invalid value: string \"off\""), "{off}");
        assert!(!off.contains("or \"off\""), "{off}");
        assert!(error(r#"{ "timeout": "soon" }"#).contains("a duration"));
        assert!(error(r#"{ "distribution": "modulo" }"#).contains("unknown variant"));
    }
}
