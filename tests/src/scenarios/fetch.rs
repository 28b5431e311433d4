//! Retrieval: get, gets, gat, gats, one key and many.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use memcache_core::{Exptime, Runtime};

use super::support::{prefix, Suite};
use crate::server::Memcached;

pub async fn get_and_gets<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("get_and_gets");
    let (hit, miss) = (format!("{p}hit"), format!("{p}miss"));
    client.set(&hit, "value").flags(12).await.unwrap();
    assert_eq!(client.get(&miss).await.unwrap(), None);
    assert_eq!(client.gets(&miss).await.unwrap(), None);
    let got = client.get(&hit).await.unwrap().unwrap();
    assert_eq!(
        (got.value.as_ref(), got.flags, got.cas),
        (&b"value"[..], None, None)
    );
    let got = client.gets(&hit).return_flags().await.unwrap().unwrap();
    assert_eq!(got.value, "value");
    assert_eq!(got.flags, Some(12));
    let cas = got.cas.expect("gets returns a cas token");
    // Same item, same token; a write changes it.
    assert_eq!(client.gets(&hit).await.unwrap().unwrap().cas, Some(cas));
    client.set(&hit, "changed").await.unwrap();
    let after = client.gets(&hit).await.unwrap().unwrap().cas.unwrap();
    assert_ne!(after, cas);
    assert_eq!(server.stat("get_hits"), 4);
    assert_eq!(server.stat("get_misses"), 2);
}

pub async fn get_many<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("get_many");
    let keys: Vec<String> = (0..10).map(|i| format!("{p}{i}")).collect();
    for (i, key) in keys.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        client
            .set(key, format!("value-{i}"))
            .flags(i as u32)
            .await
            .unwrap();
    }
    let found = client.get_many(&keys).await.unwrap();
    let expected: HashSet<&str> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, key)| key.as_str())
        .collect();
    let got: HashSet<&str> = found
        .keys()
        .map(|key| std::str::from_utf8(key).unwrap())
        .collect();
    assert_eq!(got, expected);
    for (i, key) in keys.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        let item = &found[key.as_bytes()];
        assert_eq!(item.value, format!("value-{i}"));
        assert_eq!((item.flags, item.cas), (None, None));
    }

    // Duplicates in the key list: each key once in the answer.
    let (one, two) = (&keys[1], &keys[2]);
    let missing = &keys[0];
    let found = client
        .get_many([one, one, two, missing, two, one])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[one.as_bytes()].value, "value-1");
    assert_eq!(found[two.as_bytes()].value, "value-2");

    // Only misses; and no keys at all (nothing is sent).
    assert!(client.get_many([missing]).await.unwrap().is_empty());
    let gets = server.stat("cmd_get");
    assert_eq!(
        client.get_many(Vec::<String>::new()).await.unwrap(),
        HashMap::new()
    );
    assert!(client
        .gets_many(Vec::<&str>::new())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(server.stat("cmd_get"), gets);

    // Flags on request; cas tokens from gets_many match single gets.
    let found = client.get_many(&keys).return_flags().await.unwrap();
    for (i, key) in keys.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        assert_eq!(found[key.as_bytes()].flags, Some(i as u32));
    }
    let found = client.gets_many(&keys).await.unwrap();
    assert_eq!(found.len(), expected.len());
    for key in &expected {
        let single = client.gets(key).await.unwrap().unwrap();
        assert_eq!(found[key.as_bytes()].cas, single.cas);
        assert!(single.cas.is_some());
    }
}

/// Enough long keys that one command line would pass the server's limit: the client
/// splits them, and every key comes back.
pub async fn get_many_long_keys<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("long_keys");
    let keys: Vec<String> = (0..120)
        .map(|i| format!("{p}{i:03}-{}", "x".repeat(200)))
        .collect();
    assert!(keys.iter().all(|key| key.len() <= 250));
    for key in &keys {
        client.set(key, &key[..20]).await.unwrap();
    }
    for found in [
        client.get_many(&keys).await.unwrap(),
        client.gets_many(&keys).await.unwrap(),
        client
            .gat_many(&keys, Duration::from_secs(100))
            .await
            .unwrap(),
    ] {
        assert_eq!(found.len(), keys.len());
        for key in &keys {
            assert_eq!(found[key.as_bytes()].value, key[..20]);
        }
    }
}

pub async fn gat_and_gats<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("gat");
    let (key, missing) = (format!("{p}k"), format!("{p}missing"));
    client
        .set(&key, "v")
        .flags(8)
        .ttl(Duration::from_secs(100))
        .await
        .unwrap();
    let ttl = server.ttl(&key).unwrap();
    assert!((97..=100).contains(&ttl), "{ttl}");

    let got = client
        .gat(&key, Duration::from_secs(1000))
        .return_flags()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.value.as_ref(), got.flags, got.cas),
        (&b"v"[..], Some(8), None)
    );
    let ttl = server.ttl(&key).unwrap();
    assert!((997..=1000).contains(&ttl), "{ttl}");
    assert_eq!(
        client.gat(&missing, Duration::from_secs(10)).await.unwrap(),
        None
    );

    let cas = client.gets(&key).await.unwrap().unwrap().cas.unwrap();
    let got = client
        .gats(&key, Duration::from_secs(2000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.value, "v");
    assert_eq!(got.cas, Some(cas));
    let ttl = server.ttl(&key).unwrap();
    assert!((1997..=2000).contains(&ttl), "{ttl}");
    assert_eq!(
        client
            .gats(&missing, Duration::from_secs(10))
            .await
            .unwrap(),
        None
    );

    // Never: the item stops expiring.
    client.gat(&key, Exptime::Never).await.unwrap().unwrap();
    assert_eq!(server.ttl(&key), Some(-1));

    // Over 30 days: resolved against the clock, so the item is kept.
    client
        .gat(&key, Duration::from_secs(45 * 86_400))
        .await
        .unwrap()
        .unwrap();
    let ttl = server.ttl(&key).unwrap();
    assert!((45 * 86_400 - 3..=45 * 86_400 + 3).contains(&ttl), "{ttl}");

    // An absolute time in the past: the fetch still returns the value, then it is gone.
    let past = SystemTime::now() - Duration::from_secs(60);
    let got = client.gat(&key, past).await.unwrap().unwrap();
    assert_eq!(got.value, "v");
    assert_eq!(client.get(&key).await.unwrap(), None);
}

pub async fn gat_many<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("gat_many");
    let keys: Vec<String> = (0..6).map(|i| format!("{p}{i}")).collect();
    for key in &keys[..4] {
        client
            .set(key, key)
            .ttl(Duration::from_secs(50))
            .await
            .unwrap();
    }
    let found = client
        .gat_many(&keys, Duration::from_secs(700))
        .return_flags()
        .await
        .unwrap();
    assert_eq!(found.len(), 4);
    for key in &keys[..4] {
        let item = &found[key.as_bytes()];
        assert_eq!(item.value, Bytes::copy_from_slice(key.as_bytes()));
        assert_eq!((item.flags, item.cas), (Some(0), None));
        let ttl = server.ttl(key).unwrap();
        assert!((697..=700).contains(&ttl), "{ttl}");
    }
    let found = client
        .gats_many(&keys, Duration::from_secs(800))
        .await
        .unwrap();
    assert_eq!(found.len(), 4);
    for key in &keys[..4] {
        let single = client.gets(key).await.unwrap().unwrap();
        assert_eq!(found[key.as_bytes()].cas, single.cas);
        assert!(single.cas.is_some());
        let ttl = server.ttl(key).unwrap();
        assert!((797..=800).contains(&ttl), "{ttl}");
    }
    for key in &keys[4..] {
        assert_eq!(server.ttl(key), None);
    }
}

/// Item information (TTL, last access, fetched before, size) in the fetch's round trip.
pub async fn item_info<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("item_info");
    let (expiring, forever) = (format!("{p}expiring"), format!("{p}forever"));
    client
        .set(&expiring, "12345")
        .ttl(Duration::from_secs(100))
        .await
        .unwrap();
    client.set(&forever, "abc").await.unwrap();

    let first = client.get(&expiring).with_info().await.unwrap().unwrap();
    assert_eq!(first.value, "12345");
    let info = first.info.expect("info asked for");
    let ttl = info.ttl.expect("expires").as_secs();
    assert!((97..=100).contains(&ttl), "ttl {ttl}");
    assert_eq!(info.fetched_before, Some(false));
    assert_eq!(info.size, Some(5));
    assert!(info.last_access.expect("last access") <= Duration::from_secs(2));
    let again = client.get(&expiring).with_info().await.unwrap().unwrap();
    assert_eq!(again.info.unwrap().fetched_before, Some(true));
    // Without asking, there is none.
    assert_eq!(client.get(&expiring).await.unwrap().unwrap().info, None);

    let found = client
        .get_many([&expiring, &forever, &format!("{p}missing")])
        .with_info()
        .return_flags()
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    let info = found[forever.as_bytes()].info.unwrap();
    assert_eq!(info.ttl, None, "never expires");
    assert_eq!(info.size, Some(3));
    assert_eq!(found[forever.as_bytes()].flags, Some(0));
    let gets = client.gets(&forever).with_info().await.unwrap().unwrap();
    assert!(gets.cas.is_some());
    assert_eq!(gets.info.unwrap().fetched_before, Some(true));
}
