//! Storage commands: set, add, replace, append, prepend, cas; flags, expiration, noreply,
//! and values at and past the size limits.

use std::future::IntoFuture;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use memcache_core::memproto::{EncodeError, Encoder};
use memcache_core::{Error, Exptime, Item, Runtime};

use super::support::{invalid, prefix, Rng, Suite};
use crate::assert_err;
use crate::server::Memcached;

fn item(value: &'static str) -> Option<Item> {
    Some(Item::new(Bytes::from_static(value.as_bytes())))
}

#[track_caller]
fn assert_ttl_near(server: &Memcached, key: &str, expected: i64) {
    let ttl = server
        .ttl(key)
        .unwrap_or_else(|| panic!("{key} is missing"));
    // The server's clock ticks once a second, lags the wall clock by up to a second, and
    // converts absolute times against it.
    assert!(
        (expected - 3..=expected + 3).contains(&ttl),
        "ttl of {key} is {ttl}, expected about {expected}"
    );
}

pub async fn set_and_get<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("set_and_get");
    let key = format!("{p}k");
    assert_eq!(client.get(&key).await.unwrap(), None);
    client.set(&key, "v1").await.unwrap();
    assert_eq!(client.get(&key).await.unwrap(), item("v1"));
    client.set(&key, "second value").await.unwrap();
    assert_eq!(client.get(&key).await.unwrap(), item("second value"));
    // Empty and binary values (CR, LF, NUL, "END" inside) round-trip byte for byte.
    client.set(&key, "").await.unwrap();
    assert_eq!(client.get(&key).await.unwrap(), item(""));
    let binary = b"a\r\nEND\r\n\0\xff\r\nVALUE x 0 1\r\n".to_vec();
    client.set(&key, &binary).await.unwrap();
    assert_eq!(client.get(&key).await.unwrap().unwrap().value, binary);
    // UTF-8 keys are fine.
    let utf8 = format!("{p}clé-ключ");
    client.set(&utf8, "unicode").await.unwrap();
    assert_eq!(client.get(&utf8).await.unwrap(), item("unicode"));
    // The server agrees.
    assert_eq!(server.raw(&format!("get {utf8}"))[1], "unicode");
}

pub async fn add<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let key = format!("{}k", prefix("add"));
    client.add(&key, "first").await.unwrap();
    assert_eq!(client.get(&key).await.unwrap(), item("first"));
    assert_err!(client.add(&key, "second").await, Error::NotStored);
    assert_eq!(client.get(&key).await.unwrap(), item("first"));
    client.delete(&key).await.unwrap();
    client.add(&key, "third").await.unwrap();
    assert_eq!(client.get(&key).await.unwrap(), item("third"));
}

pub async fn replace<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let key = format!("{}k", prefix("replace"));
    assert_err!(client.replace(&key, "nothing").await, Error::NotStored);
    assert_eq!(client.get(&key).await.unwrap(), None);
    client.set(&key, "old").await.unwrap();
    client.replace(&key, "new").flags(9).await.unwrap();
    assert_eq!(
        client
            .get(&key)
            .return_flags()
            .await
            .unwrap()
            .unwrap()
            .flags,
        Some(9)
    );
    assert_eq!(client.get(&key).await.unwrap(), item("new"));
}

pub async fn append_prepend<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let key = format!("{}k", prefix("append_prepend"));
    assert_err!(client.append(&key, "tail").await, Error::NotStored);
    assert_err!(client.prepend(&key, "head").await, Error::NotStored);
    assert_eq!(client.get(&key).await.unwrap(), None);
    client.set(&key, "middle").flags(77).await.unwrap();
    client.append(&key, "-tail").await.unwrap();
    client.prepend(&key, "head-").await.unwrap();
    // The item keeps its own flags (append and prepend take none to send).
    client.append(&key, "!").unchecked().await.unwrap();
    let got = client.get(&key).return_flags().await.unwrap().unwrap();
    assert_eq!(got.value, "head-middle-tail!");
    assert_eq!(got.flags, Some(77));
}

pub async fn cas<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("cas");
    let key = format!("{p}k");
    client.set(&key, "v1").await.unwrap();
    let token = client
        .gets(&key)
        .await
        .unwrap()
        .unwrap()
        .cas
        .expect("gets has cas");
    client.cas(&key, "v2", token).await.unwrap();
    assert_eq!(client.get(&key).await.unwrap(), item("v2"));
    // The token moved on: the old one is stale.
    let fresh = client.gets(&key).await.unwrap().unwrap().cas.unwrap();
    assert_ne!(fresh, token);
    assert_err!(client.cas(&key, "v3", token).await, Error::Exists);
    assert_eq!(client.get(&key).await.unwrap(), item("v2"));
    // Another writer in between makes a token stale too.
    client.set(&key, "other writer").await.unwrap();
    assert_err!(client.cas(&key, "v3", fresh).await, Error::Exists);
    // Token 0 is an ordinary (stale) token, not "no token".
    assert_err!(client.cas(&key, "zero", 0).await, Error::Exists);
    assert_eq!(client.get(&key).await.unwrap(), item("other writer"));
    // A missing key: NotFound, whatever the token, and nothing is created.
    let missing = format!("{p}missing");
    assert_err!(client.cas(&missing, "v", token).await, Error::NotFound);
    assert_err!(client.cas(&missing, "v", 0).await, Error::NotFound);
    assert_eq!(client.get(&missing).await.unwrap(), None);
    // A winning cas sets flags like a set.
    let token = client.gets(&key).await.unwrap().unwrap().cas.unwrap();
    client.cas(&key, "flagged", token).flags(5).await.unwrap();
    let got = client.gets(&key).return_flags().await.unwrap().unwrap();
    assert_eq!((got.value.as_ref(), got.flags), (&b"flagged"[..], Some(5)));
    assert!(got.cas.is_some_and(|cas| cas != token));
}

pub async fn flags<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("flags");
    for flags in [0, 1, 65_535, 65_536, 1 << 31, u32::MAX] {
        let key = format!("{p}{flags}");
        client.set(&key, "v").flags(flags).await.unwrap();
        let got = client.get(&key).return_flags().await.unwrap().unwrap();
        assert_eq!(got.flags, Some(flags));
        assert_eq!(got.cas, None);
        // Without return_flags, flags are not reported.
        assert_eq!(client.get(&key).await.unwrap().unwrap().flags, None);
        // gets gives a cas token, and flags only when asked.
        let got = client.gets(&key).await.unwrap().unwrap();
        assert_eq!(got.flags, None);
        assert!(got.cas.is_some());
        let got = client.gets(&key).return_flags().await.unwrap().unwrap();
        assert_eq!(got.flags, Some(flags));
        assert!(got.cas.is_some());
        // The server stored what was sent.
        assert_eq!(
            server.raw(&format!("get {key}"))[0],
            format!("VALUE {key} {flags} 1")
        );
    }
}

pub async fn exptime<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("exptime");
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);

    let never = format!("{p}never");
    client.set(&never, "v").await.unwrap();
    assert_eq!(server.ttl(&never), Some(-1));

    let relative = format!("{p}relative");
    client
        .set(&relative, "v")
        .exptime(Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(client.get(&relative).await.unwrap(), item("v"));
    assert_ttl_near(&server, &relative, 60);

    let ttl = format!("{p}ttl");
    client
        .set(&ttl, "v")
        .ttl(Duration::from_secs(90))
        .await
        .unwrap();
    assert_ttl_near(&server, &ttl, 90);

    let future = format!("{p}future");
    client.set(&future, "v").exptime(now + hour).await.unwrap();
    assert_eq!(client.get(&future).await.unwrap(), item("v"));
    assert_ttl_near(&server, &future, 3600);

    let at = format!("{p}at");
    client
        .set(&at, "v")
        .expires_at(now + 2 * hour)
        .await
        .unwrap();
    assert_ttl_near(&server, &at, 7200);

    let past = format!("{p}past");
    client.set(&past, "v").exptime(now - hour).await.unwrap();
    assert_eq!(client.get(&past).await.unwrap(), None);

    let zero = format!("{p}zero");
    client
        .set(&zero, "v")
        .exptime(Exptime::After(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(client.get(&zero).await.unwrap(), None);

    // Over 30 days relative: sent as an absolute time, so the item is kept (sent as is,
    // the server would read it as a date in 1970 and drop the item).
    let long = format!("{p}long");
    let forty_days = Duration::from_secs(40 * 86_400);
    client.set(&long, "v").exptime(forty_days).await.unwrap();
    assert_eq!(client.get(&long).await.unwrap(), item("v"));
    assert_ttl_near(&server, &long, 40 * 86_400);

    // Exactly 30 days is still relative on the wire.
    let thirty = format!("{p}thirty");
    let thirty_days = Duration::from_secs(Exptime::MAX_RELATIVE_SECS);
    client.set(&thirty, "v").ttl(thirty_days).await.unwrap();
    assert_ttl_near(&server, &thirty, 30 * 86_400);

    // Fractions of a second round up (1.5 s is sent as 2), never down.
    let short = format!("{p}short");
    client
        .set(&short, "v")
        .ttl(Duration::from_millis(1500))
        .await
        .unwrap();
    assert_eq!(client.get(&short).await.unwrap(), item("v"));
    let ttl = server.ttl(&short).unwrap();
    assert!((1..=2).contains(&ttl), "{ttl}");
}

/// noreply on every command that has it: the call returns once queued, the effect is
/// visible to the next request on the same client, and failures (which the caller never
/// hears about) do not shift later replies.
pub async fn noreply<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    // One connection: requests are executed in the order they were made.
    let client = suite
        .builder::<R>(&[&server])
        .max_connections(1)
        .build()
        .unwrap();
    noreply_sequence(&client, &server, &prefix("noreply")).await;
}

/// The same with the default pool (two connections per node): a request made after a
/// noreply one follows it on the same connection while its reply is outstanding, so it is
/// executed after it (read-your-writes).
pub async fn noreply_default_pool<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("noreply_pool");
    let key = format!("{p}counter");
    client.set(&key, "start").await.unwrap();
    for i in 0..100 {
        client.set(&key, i.to_string()).noreply().await.unwrap();
        let got = client.get(&key).await.unwrap().unwrap();
        assert_eq!(got.value, i.to_string(), "iteration {i}");
    }
    noreply_sequence(&client, &server, &p).await;
}

async fn noreply_sequence<R: Runtime>(
    client: &memcache_core::Client<R>,
    server: &Memcached,
    p: &str,
) {
    let (a, b, c, n) = (
        format!("{p}a"),
        format!("{p}b"),
        format!("{p}c"),
        format!("{p}n"),
    );
    client.set(&a, "1").noreply().await.unwrap();
    assert_eq!(client.get(&a).await.unwrap(), item("1"));

    // A failing noreply add (key exists), then ordinary requests get their own replies.
    client.add(&a, "clobber").noreply().await.unwrap();
    assert_eq!(client.get(&a).await.unwrap(), item("1"));
    assert_eq!(client.get(&b).await.unwrap(), None);
    client.set(&b, "bee").await.unwrap();
    assert_err!(client.add(&b, "x").await, Error::NotStored);
    assert_eq!(client.get(&b).await.unwrap(), item("bee"));

    client.add(&c, "sea").noreply().await.unwrap();
    assert_eq!(client.get(&c).await.unwrap(), item("sea"));
    client.replace(&c, "see").noreply().await.unwrap();
    assert_eq!(client.get(&c).await.unwrap(), item("see"));
    client.append(&c, "-after").noreply().await.unwrap();
    client.prepend(&c, "before-").noreply().await.unwrap();
    assert_eq!(client.get(&c).await.unwrap(), item("before-see-after"));
    // Failing replace/append/prepend on a missing key.
    let missing = format!("{p}missing");
    client.replace(&missing, "x").noreply().await.unwrap();
    client.append(&missing, "x").noreply().await.unwrap();
    client.prepend(&missing, "x").noreply().await.unwrap();
    assert_eq!(client.get(&missing).await.unwrap(), None);
    assert_eq!(client.get(&c).await.unwrap(), item("before-see-after"));

    // cas: a winning one, then a losing one.
    let token = client.gets(&c).await.unwrap().unwrap().cas.unwrap();
    client.cas(&c, "swapped", token).noreply().await.unwrap();
    assert_eq!(client.get(&c).await.unwrap(), item("swapped"));
    client.cas(&c, "stale", token).noreply().await.unwrap();
    client.cas(&missing, "gone", token).noreply().await.unwrap();
    assert_eq!(client.get(&c).await.unwrap(), item("swapped"));
    assert_err!(client.cas(&c, "stale", token).await, Error::Exists);

    // incr/decr, including failures.
    client.set(&n, "10").await.unwrap();
    client.increment(&n, 5).noreply().await.unwrap();
    assert_eq!(client.get(&n).await.unwrap(), item("15"));
    client.decrement(&n, 3).noreply().await.unwrap();
    assert_eq!(client.increment(&n, 0).await.unwrap(), 12);
    client.increment(&missing, 1).noreply().await.unwrap();
    client.increment(&c, 1).noreply().await.unwrap(); // non-numeric
    assert_eq!(client.increment(&n, 1).await.unwrap(), 13);
    assert_eq!(client.get(&missing).await.unwrap(), None);

    // touch: a hit, and a miss.
    client
        .touch(&a, Duration::from_secs(500))
        .noreply()
        .await
        .unwrap();
    client
        .touch(&missing, Duration::from_secs(500))
        .noreply()
        .await
        .unwrap();
    assert_eq!(client.get(&a).await.unwrap(), item("1"));
    assert_ttl_near(server, &a, 500);

    // delete: a hit, and a miss.
    client.delete(&b).noreply().await.unwrap();
    client.delete(&missing).noreply().await.unwrap();
    assert_eq!(client.get(&b).await.unwrap(), None);
    assert_err!(client.delete(&b).await, Error::NotFound);

    // A burst of failing noreply requests, then a batch of pipelined ordinary ones: each
    // reply still goes to its own caller.
    for _ in 0..20 {
        client.add(&a, "no").noreply().await.unwrap();
        client.delete(&missing).noreply().await.unwrap();
    }
    let gets = (0..20).map(|i| {
        let key = if i % 2 == 0 { a.clone() } else { c.clone() };
        async move { client.get(&key).await }
    });
    for (i, got) in futures::future::join_all(gets)
        .await
        .into_iter()
        .enumerate()
    {
        let expected = if i % 2 == 0 { "1" } else { "swapped" };
        assert_eq!(got.unwrap(), item(expected));
    }
}

pub async fn big_values<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("big_values");
    let mut rng = Rng::new(1);
    let max = Encoder::DEFAULT_MAX_VALUE_LEN;
    assert_eq!(max, 1024 * 1024 - 512);

    let key = format!("{p}max");
    let value = rng.bytes(max);
    client.set(&key, &value).await.unwrap();
    let got = client.get(&key).await.unwrap().unwrap();
    assert!(
        got.value == value,
        "value of {} bytes came back changed",
        max
    );
    let many = client.get_many([&key, &key]).await.unwrap();
    assert!(many[key.as_bytes()].value == value);

    let sets = server.stat("cmd_set");
    let over = rng.bytes(max + 1);
    let error = invalid(client.set(format!("{p}over"), &over).await);
    assert_eq!(error, EncodeError::ValueTooLarge { len: max + 1, max });
    // The same for every storage command.
    for result in [
        client.add(&key, &over).await,
        client.replace(&key, &over).await,
        client.append(&key, &over).await,
        client.prepend(&key, &over).await,
        client.cas(&key, &over, 1).await,
        client.set(&key, &over).noreply().await,
    ] {
        assert_err!(result, Error::Invalid(EncodeError::ValueTooLarge { .. }));
    }
    assert_eq!(
        server.stat("cmd_set"),
        sets,
        "the server saw an oversized set"
    );
    // The stored value is intact.
    assert!(client.get(&key).await.unwrap().unwrap().value == value);
}

/// Large values are read into storage the client reuses once a value is dropped: values
/// still held never change while later ones are read, whatever their sizes (around the
/// size from which values get storage of their own, and across size classes), alone, in
/// multi-gets with small values, and many at once.
pub async fn large_values_keep_their_own_storage<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("reused_storage");
    let mut rng = Rng::new(7);
    let threshold = 64 * 1024;
    let sizes = [
        threshold - 3,
        threshold - 2,
        threshold - 1,
        threshold,
        100 * 1024,
        112 * 1024 - 2,
        112 * 1024 - 1,
        300_000,
        Encoder::DEFAULT_MAX_VALUE_LEN,
    ];
    let mut stored = Vec::new();
    for (i, len) in sizes.into_iter().enumerate() {
        let key = format!("{p}{i}");
        let value = rng.bytes(len);
        client.set(&key, &value).await.unwrap();
        stored.push((key, value));
    }
    client.set(format!("{p}small"), "s").await.unwrap();

    // Every value held while each is read again, alone and all at once.
    let mut held = Vec::new();
    for round in 0..3 {
        for (key, value) in &stored {
            let item = client.get(key).await.unwrap().expect("stored");
            assert!(item.value == *value, "{key} changed in round {round}");
            held.push((item.value, value));
        }
        let gets = stored.iter().map(|(key, _)| client.get(key).into_future());
        for (got, (key, value)) in futures::future::join_all(gets)
            .await
            .into_iter()
            .zip(&stored)
        {
            let item = got.unwrap().expect("stored");
            assert!(
                item.value == *value,
                "{key} changed in concurrent round {round}"
            );
        }
        let mut keys: Vec<String> = stored.iter().map(|(key, _)| key.clone()).collect();
        keys.insert(4, format!("{p}small"));
        let many = client.get_many(&keys).await.unwrap();
        assert_eq!(many.len(), stored.len() + 1);
        for (key, value) in &stored {
            assert!(
                many[key.as_bytes()].value == *value,
                "{key} changed in get_many"
            );
        }
        // Dropping half the held values lets later reads reuse their storage.
        held.retain(|(got, _)| got.len() % 2 == 0);
    }
    for (got, value) in &held {
        assert!(
            got == *value,
            "a held value of {} bytes changed",
            value.len()
        );
    }
}

pub async fn big_values_raised_limit<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start_with(&["-I", "2m"]);
    let client = suite
        .builder::<R>(&[&server])
        .max_value_len(2 * 1024 * 1024 - 512)
        .build()
        .unwrap();
    let key = format!("{}k", prefix("big_raised"));
    let value = Rng::new(2).bytes(1024 * 1024 + 512 * 1024);
    client.set(&key, &value).flags(3).await.unwrap();
    let got = client.get(&key).return_flags().await.unwrap().unwrap();
    assert_eq!(got.flags, Some(3));
    assert!(got.value == value, "1.5 MiB value came back changed");
}

/// A value the client allows but the server refuses: `SERVER_ERROR object too large for
/// cache`, and the client (and requests pipelined with it) carry on.
pub async fn value_too_large_for_server<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite
        .builder::<R>(&[&server])
        .max_value_len(4 * 1024 * 1024)
        .build()
        .unwrap();
    let p = prefix("too_large");
    let small = format!("{p}small");
    client.set(&small, "fine").await.unwrap();
    let big = Rng::new(3).bytes(1536 * 1024);
    let key = format!("{p}big");
    assert_err!(
        client.set(&key, &big).await,
        Error::Server(message) if message == "object too large for cache"
    );
    assert_eq!(client.get(&key).await.unwrap(), None);
    assert_eq!(client.get(&small).await.unwrap(), item("fine"));

    // Pipelined with ordinary requests on the same client.
    let big_set = client.set(&key, &big).into_future();
    let gets = futures::future::join_all((0..10).map(|_| client.get(&small).into_future()));
    let (big_result, gets) = futures::join!(big_set, gets);
    assert_err!(big_result, Error::Server(message) if message == "object too large for cache");
    for got in gets {
        assert_eq!(got.unwrap(), item("fine"));
    }
    client.set(&small, "still fine").await.unwrap();
    assert_eq!(client.get(&small).await.unwrap(), item("still fine"));
}
