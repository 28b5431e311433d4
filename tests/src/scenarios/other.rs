//! incr, decr, touch, delete.

use std::time::{Duration, SystemTime};

use memcache_core::{Error, Exptime, Protocol, Runtime};

use super::support::{prefix, Suite};
use crate::assert_err;
use crate::server::Memcached;

pub async fn incr_decr<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("incr_decr");
    let key = format!("{p}n");
    client.set(&key, "10").await.unwrap();
    assert_eq!(client.increment(&key, 5).await.unwrap(), 15);
    assert_eq!(client.increment(&key, 0).await.unwrap(), 15);
    assert_eq!(client.decrement(&key, 3).await.unwrap(), 12);
    assert_eq!(client.get(&key).await.unwrap().unwrap().value, "12");
    // decr stops at 0.
    assert_eq!(client.decrement(&key, 100).await.unwrap(), 0);
    assert_eq!(client.decrement(&key, 1).await.unwrap(), 0);
    assert_eq!(client.increment(&key, 7).await.unwrap(), 7);
    // The server may pad a shrunk number with spaces; the number is what counts.
    let value = client.get(&key).await.unwrap().unwrap().value;
    assert_eq!(std::str::from_utf8(&value).unwrap().trim_end(), "7");

    // incr wraps at 2^64.
    client.set(&key, (u64::MAX - 1).to_string()).await.unwrap();
    assert_eq!(client.increment(&key, 1).await.unwrap(), u64::MAX);
    assert_eq!(client.increment(&key, 1).await.unwrap(), 0);
    client.set(&key, u64::MAX.to_string()).await.unwrap();
    assert_eq!(client.increment(&key, 10).await.unwrap(), 9);
    // Delta u64::MAX.
    client.set(&key, "1").await.unwrap();
    assert_eq!(client.increment(&key, u64::MAX).await.unwrap(), 0);
    client.set(&key, "0").await.unwrap();
    assert_eq!(client.increment(&key, u64::MAX).await.unwrap(), u64::MAX);
    assert_eq!(client.decrement(&key, u64::MAX).await.unwrap(), 0);
    client.set(&key, "5").await.unwrap();
    assert_eq!(client.decrement(&key, u64::MAX).await.unwrap(), 0);

    // Missing keys.
    let missing = format!("{p}missing");
    assert_err!(client.increment(&missing, 1).await, Error::NotFound);
    assert_err!(client.decrement(&missing, 1).await, Error::NotFound);
    assert_eq!(client.get(&missing).await.unwrap(), None);

    // Values that are not numbers.
    let text = format!("{p}text");
    for value in ["abc", "12abc", "-1", "", "18446744073709551616"] {
        client.set(&text, value).await.unwrap();
        assert_err!(client.increment(&text, 1).await, Error::NotNumeric);
        assert_err!(client.decrement(&text, 1).await, Error::NotNumeric);
        assert_eq!(client.get(&text).await.unwrap().unwrap().value, value);
    }
    // The connection is fine afterwards.
    assert_eq!(client.increment(&key, 2).await.unwrap(), 2);
}

pub async fn touch<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("touch");
    let (key, missing) = (format!("{p}k"), format!("{p}missing"));
    client
        .set(&key, "v")
        .ttl(Duration::from_secs(30))
        .await
        .unwrap();
    client.touch(&key, Duration::from_secs(600)).await.unwrap();
    let ttl = server.ttl(&key).unwrap();
    assert!((597..=600).contains(&ttl), "{ttl}");
    client.touch(&key, Exptime::Never).await.unwrap();
    assert_eq!(server.ttl(&key), Some(-1));
    assert_err!(
        client.touch(&missing, Duration::from_secs(10)).await,
        Error::NotFound
    );
    assert_eq!(client.get(&missing).await.unwrap(), None);
    // Touching into the past expires the item.
    client
        .touch(&key, SystemTime::now() - Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(client.get(&key).await.unwrap(), None);
    assert_err!(client.touch(&key, Exptime::Never).await, Error::NotFound);
    assert_eq!(server.stat("touch_hits"), 3);
    // A meta touch (`mg` with `T`) that misses counts as a get miss.
    match suite.protocol {
        Protocol::Text => assert_eq!(server.stat("touch_misses"), 2),
        _ => assert_eq!(server.stat("get_misses"), 4),
    }
}

pub async fn delete<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("delete");
    let (key, other) = (format!("{p}k"), format!("{p}other"));
    client.set(&key, "v").await.unwrap();
    client.set(&other, "stays").await.unwrap();
    client.delete(&key).await.unwrap();
    assert_eq!(client.get(&key).await.unwrap(), None);
    assert_err!(client.delete(&key).await, Error::NotFound);
    assert_eq!(client.get(&other).await.unwrap().unwrap().value, "stays");
    assert_eq!(server.stat("delete_hits"), 1);
    assert_eq!(server.stat("delete_misses"), 1);
}
