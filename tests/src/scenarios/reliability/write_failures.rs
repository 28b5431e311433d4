//! Writes that may leave an item stale reach the application's `on_write_failure`
//! handler, key by key; the server's answers about the data and refused input do not.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memcache_core::{Error, Runtime, WriteFailure};

use crate::proxy::Proxy;
use crate::scenarios::cluster::keys_on;
use crate::scenarios::support::{prefix, Suite};
use crate::server::Memcached;

/// What the handler was told, in order.
#[derive(Clone, Default)]
struct Reported(Arc<Mutex<Vec<WriteFailure>>>);

impl Reported {
    fn handler(&self) -> impl Fn(&WriteFailure) + Send + Sync + 'static {
        let reported = self.0.clone();
        move |failure| reported.lock().unwrap().push(failure.clone())
    }

    fn take(&self) -> Vec<WriteFailure> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn keys(&self) -> BTreeSet<String> {
        self.take()
            .into_iter()
            .map(|failure| String::from_utf8(failure.key.to_vec()).unwrap())
            .collect()
    }
}

pub async fn write_failures_are_reported<R: Runtime + Default>(suite: Suite) {
    let live = Memcached::start();
    let mut doomed = Memcached::start();
    let reported = Reported::default();
    let client = suite
        .builder::<R>(&[&live, &doomed])
        .timeout(Duration::from_millis(500))
        .on_write_failure(reported.handler())
        .build()
        .unwrap();
    let p = prefix("write_failures");
    let keys: Vec<String> = (0..40).map(|i| format!("{p}{i}")).collect();
    let on = |server: &Memcached| keys_on(&client, server, &keys);
    let (live_keys, doomed_keys) = (on(&live), on(&doomed));
    assert!(!live_keys.is_empty() && !doomed_keys.is_empty());

    // Answers about the data, and input refused before sending, are no failures.
    client.set(&live_keys[0], "v").await.unwrap();
    assert!(matches!(
        client.add(&live_keys[0], "w").await,
        Err(Error::NotStored)
    ));
    assert!(matches!(
        client.delete(&live_keys[1]).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        client.set("k".repeat(300), "v").await,
        Err(Error::Invalid(_))
    ));
    assert!(reported.take().is_empty());

    doomed.kill();
    assert!(client.set(&doomed_keys[0], "v").await.is_err());
    let failures = reported.take();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].key, doomed_keys[0].as_bytes());
    assert!(failures[0].error.is_transient());
    assert!(!failures[0].outcome_unknown(), "{:?}", failures[0].error);

    // Reads are not writes, nor are leases.
    let _ = client.get(&doomed_keys[0]).await;
    let _ = client.lease(&doomed_keys[0], Duration::from_secs(5)).await;
    assert!(reported.take().is_empty());

    // A batch reports exactly its keys on the dead node.
    let results = client
        .set_many(keys.iter().map(|key| (key, "v")))
        .await
        .unwrap();
    let failed: BTreeSet<String> = results
        .iter()
        .filter(|(_, result)| result.is_err())
        .map(|(key, _)| String::from_utf8(key.to_vec()).unwrap())
        .collect();
    assert_eq!(failed, doomed_keys.iter().cloned().collect());
    assert_eq!(reported.keys(), failed);

    let _ = client.delete(&doomed_keys[1]).await;
    let _ = client.touch(&doomed_keys[2], Duration::from_secs(5)).await;
    let _ = client.increment(&doomed_keys[3], 1).await;
    assert_eq!(reported.keys(), doomed_keys[1..4].iter().cloned().collect());

    // A call routed by a routing key reports it, so the invalidation can name it.
    let owner = doomed_keys[4].clone();
    let _ = client.set(&live_keys[2], "v").routing_key(&owner).await;
    let failures = reported.take();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].key, live_keys[2].as_bytes());
    assert_eq!(failures[0].routing_key.as_deref(), Some(owner.as_bytes()));
}

/// A write whose reply never came may have been applied: its outcome is unknown.
pub async fn write_outcome_unknown_is_reported<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let proxy = Proxy::start(server.port());
    let reported = Reported::default();
    let client = suite
        .builder_of::<R>([proxy.addr()])
        .timeout(Duration::from_millis(200))
        .on_write_failure(reported.handler())
        .build()
        .unwrap();
    let key = format!("{}k", prefix("write_unknown"));
    client.set(&key, "old").await.unwrap();
    proxy.hold();
    assert!(matches!(
        client.set(&key, "new").await,
        Err(Error::Timeout { written: true, .. })
    ));
    let failures = reported.take();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].key, key.as_bytes());
    assert!(failures[0].outcome_unknown());
    proxy.release();
}
