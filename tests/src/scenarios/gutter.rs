//! Failover to a gutter pool: a dead node's requests go to the gutter, under a capped
//! expiration, single and multi-key alike; live nodes never see the gutter.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memcache_core::{ConfigError, Error, FailoverOn, Gutter, Runtime};

use super::cluster::keys_on;
use super::support::{prefix, Suite};
use crate::proxy::Proxy;
use crate::server::Memcached;

pub async fn gutter_takes_a_dead_nodes_requests<R: Runtime + Default>(suite: Suite) {
    let live = Memcached::start();
    let mut doomed = Memcached::start();
    let gutter = Memcached::start();
    let stale = Arc::new(Mutex::new(BTreeSet::new()));
    let client = {
        let stale = stale.clone();
        suite
            .builder::<R>(&[&live, &doomed])
            .gutter(Gutter::new([gutter.addr()]).ttl(Duration::from_secs(20)))
            .on_write_failure(move |failure| {
                let key = String::from_utf8(failure.key.to_vec()).unwrap();
                stale.lock().unwrap().insert(key);
            })
            .build()
            .unwrap()
    };
    let p = prefix("gutter");
    let keys: Vec<String> = (0..40).map(|i| format!("{p}{i}")).collect();
    let on = |server: &Memcached| keys_on(&client, server, &keys);
    let (live_keys, doomed_keys) = (on(&live), on(&doomed));
    assert!(live_keys.len() >= 4 && doomed_keys.len() >= 4);
    for key in &keys {
        client.set(key, "before").await.unwrap();
    }
    assert_eq!(
        gutter.stat("curr_items"),
        0,
        "a healthy cluster leaves the gutter alone"
    );

    doomed.kill();
    // Single-key writes and reads of the dead node's keys go to the gutter, capped.
    let key = &doomed_keys[0];
    client
        .set(key, "during")
        .ttl(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(client.get(key).await.unwrap().unwrap().value, "during");
    let ttl = gutter.ttl(key).expect("in the gutter");
    assert!(
        (17..=20).contains(&ttl),
        "the gutter holds {key} for {ttl} s"
    );
    client.set(&doomed_keys[1], "forever").await.unwrap();
    let ttl = gutter.ttl(&doomed_keys[1]).expect("in the gutter");
    assert!((17..=20).contains(&ttl), "never-expiring becomes {ttl} s");
    client.delete(&doomed_keys[1]).await.unwrap();
    assert!(matches!(
        client.increment(&doomed_keys[2], 1).await,
        Err(Error::NotFound)
    ));
    // Live keys stay where they are.
    client.set(&live_keys[0], "during").await.unwrap();
    assert_eq!(live.present(&[live_keys[0].as_str()]).len(), 1);

    // Batched writes: the dead node's share goes to the gutter, whole.
    let results = client
        .set_many(keys.iter().map(|key| (key, "batched")))
        .await
        .unwrap();
    assert!(results.values().all(Result::is_ok), "{results:?}");
    let in_gutter = gutter.present(&keys.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(in_gutter, doomed_keys.iter().cloned().collect());

    // Touches and leases there are capped too.
    let touched = &doomed_keys[3];
    let hour = Duration::from_secs(3600);
    assert!(client.gat(touched, hour).await.unwrap().is_some());
    let ttl = gutter.ttl(touched).expect("in the gutter");
    assert!((17..=20).contains(&ttl), "gat set {touched} to {ttl} s");
    let leased = (0..)
        .map(|i| format!("{p}leased{i}"))
        .find(|key| client.node_for(key).unwrap().to_string() == doomed.addr())
        .unwrap();
    client.lease(&leased, hour).await.unwrap();
    let ttl = gutter.ttl(&leased).expect("in the gutter");
    assert!((17..=20).contains(&ttl), "the lease lives {ttl} s");

    // A multi-key read finds every key: the live node's at home, the rest in the gutter.
    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    assert!(found.values().all(|item| item.value == "batched"));

    // `gat` shares do not fail over: their touch would outlive the cap.
    assert!(client
        .gat_many(&keys, Duration::from_secs(3600))
        .await
        .is_err());

    // Every failed-over write was reported: the dead node's copies may be stale.
    let reported = stale.lock().unwrap().clone();
    assert_eq!(reported, doomed_keys.iter().cloned().collect());
    let metrics = client.metrics();
    let failovers = |addr: String| {
        metrics
            .iter()
            .find(|(node, _)| node.to_string() == addr)
            .map(|(_, metrics)| metrics.failovers)
            .unwrap()
    };
    assert!(failovers(doomed.addr()) >= 7, "{metrics:?}");
    assert_eq!(failovers(live.addr()), 0);
    assert_eq!(failovers(gutter.addr()), 0);
    // The gutter's nodes answer node commands.
    assert!(client.stats(gutter.addr().as_str()).await.is_ok());
}

/// Timeouts and the server's answers never fail over.
pub async fn gutter_leaves_answers_and_timeouts_alone<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let gutter = Memcached::start();
    let client = suite
        .builder::<R>(&[&server])
        .gutter(Gutter::new([gutter.addr()]))
        .build()
        .unwrap();
    let key = format!("{}k", prefix("gutter_answers"));
    client.set(&key, "v").await.unwrap();
    assert!(matches!(client.add(&key, "w").await, Err(Error::NotStored)));
    assert!(matches!(
        client.delete(format!("{key}:missing")).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        client.set("k".repeat(300), "v").await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(gutter.stat("curr_items"), 0);
    assert_eq!(gutter.stat("cmd_get") + gutter.stat("cmd_set"), 0);

    // A node that answers too late is slow, not dead: its calls time out.
    let proxy = Proxy::start(server.port());
    let client = suite
        .builder_of::<R>([proxy.addr()])
        .timeout(Duration::from_millis(200))
        .gutter(Gutter::new([gutter.addr()]).on(FailoverOn::Unavailable))
        .build()
        .unwrap();
    client.get(&key).await.unwrap();
    proxy.hold();
    assert!(matches!(client.get(&key).await, Err(Error::Timeout { .. })));
    assert!(matches!(
        client.set(&key, "w").await,
        Err(Error::Timeout { .. })
    ));
    proxy.release();
    assert_eq!(gutter.stat("cmd_get") + gutter.stat("cmd_set"), 0);
}

pub async fn gutter_configuration_is_checked<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let empty: [&str; 0] = [];
    let result = suite
        .builder::<R>(&[&server])
        .gutter(Gutter::new(empty))
        .build();
    assert!(matches!(result, Err(ConfigError::Gutter(_))));
    let result = suite
        .builder::<R>(&[&server])
        .gutter(Gutter::new([server.addr()]))
        .build();
    assert!(matches!(result, Err(ConfigError::Gutter(_))));
    let result = suite
        .builder::<R>(&[&server])
        .gutter(Gutter::new(["not an address"]))
        .build();
    assert!(matches!(result, Err(ConfigError::Addr(_))));
}
