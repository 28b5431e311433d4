//! Routes as data (feature `serde`): [`Settings::route`](crate::Settings::route).

use serde::Deserialize;

use crate::client::settings::{GutterSettings, NodeSetting};
use crate::cluster::router::Distribution;
use crate::route::{Migration, Phase, Pool, Quorum, Route};

/// A [`Route`] as a configuration document describes it: a tree whose nodes name their
/// `type`. Each migration gets its own [`Migration`] handle, in the phase the document
/// gives; [`Client::migrations`](crate::Client::migrations) hands them out.
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use memcache_tokio::{Client, Phase, Settings};
///
/// let settings: Settings = serde_json::from_str(r#"{
///     "timeout": "250ms",
///     "route": {
///         "type": "migrate",
///         "phase": "write_both_read_old",
///         "from": { "type": "pool", "nodes": ["10.0.0.1:11211"], "distribution": "ketama" },
///         "to": {
///             "type": "replicated",
///             "quorum": "majority",
///             "replicas": [
///                 { "type": "pool", "nodes": ["10.0.1.1:11211"] },
///                 { "type": "pool", "nodes": ["10.0.2.1:11211"] },
///                 { "type": "pool", "nodes": ["10.0.3.1:11211"] }
///             ]
///         }
///     }
/// }"#)?;
/// let client: Client = settings.builder().build()?;
/// client.migrations()[0].set_phase(Phase::WriteBothReadNew);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum RouteSettings {
    /// [`Route::pool`]: a [`Pool`].
    Pool {
        /// The pool's nodes.
        nodes: Vec<NodeSetting>,
        /// [`Pool::distribution`]; the client's when left out.
        #[serde(default)]
        distribution: Option<Distribution>,
        /// [`Pool::gutter`].
        #[serde(default)]
        gutter: Option<GutterSettings>,
    },
    /// [`Route::replicated`].
    Replicated {
        /// The replicas.
        replicas: Vec<RouteSettings>,
        /// How many must take a write: `"all"` (the default), `"majority"` or `"one"`.
        #[serde(default)]
        quorum: Quorum,
    },
    /// [`Route::migrate`].
    Migrate {
        /// The route the migration leaves.
        from: Box<RouteSettings>,
        /// The route it moves to.
        to: Box<RouteSettings>,
        /// The phase it starts in: `"old"` (the default), `"write_both_read_old"`,
        /// `"write_both_read_new"` or `"new"`.
        #[serde(default)]
        phase: Phase,
    },
    /// [`Route::warm_up`].
    WarmUp {
        /// The route filled.
        cold: Box<RouteSettings>,
        /// The route it is filled from.
        warm: Box<RouteSettings>,
    },
}

impl RouteSettings {
    /// The route these settings describe, with a new [`Migration`] handle for each
    /// migration.
    pub fn route(&self) -> Route {
        match self {
            RouteSettings::Pool {
                nodes,
                distribution,
                gutter,
            } => {
                let mut pool = Pool::new(Vec::<&str>::new());
                for node in nodes {
                    pool = match node {
                        NodeSetting::Addr(addr) => pool.node(addr.as_str(), 1),
                        NodeSetting::Weighted { addr, weight } => pool.node(addr.as_str(), *weight),
                    };
                }
                if let Some(distribution) = distribution {
                    pool = pool.distribution(*distribution);
                }
                if let Some(gutter) = gutter {
                    pool = pool.gutter(gutter.gutter());
                }
                Route::pool(pool)
            }
            RouteSettings::Replicated { replicas, quorum } => {
                Route::replicated(replicas.iter().map(RouteSettings::route), *quorum)
            }
            RouteSettings::Migrate { from, to, phase } => {
                Route::migrate(from.route(), to.route(), &Migration::new(*phase))
            }
            RouteSettings::WarmUp { cold, warm } => Route::warm_up(cold.route(), warm.route()),
        }
    }
}
