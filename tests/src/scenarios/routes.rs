//! Routes over several pools: replicas, migrations switched under load, warm-up. Every
//! check reads the servers directly, behind the client's back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memcache_core::{
    Client, ClientBuilder, ConfigError, Distribution, Error, Migration, Phase, Pool, Quorum, Route,
    Runtime,
};

use super::support::{prefix, spawn, Suite};
use crate::server::Memcached;

fn pool(servers: &[&Memcached]) -> Pool {
    Pool::new(servers.iter().map(|server| server.addr()))
}

fn routed<R: Runtime + Default>(suite: Suite, route: Route) -> ClientBuilder<R> {
    Client::<R>::routed(route).protocol(suite.protocol)
}

/// Three servers, and a client of them as replicas, each write taken by all.
fn three_replicas<R: Runtime + Default>(suite: Suite) -> ([Memcached; 3], Client<R>) {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let replicas: Vec<Pool> = servers.iter().map(|server| pool(&[server])).collect();
    let client = routed::<R>(suite, Route::replicated(replicas, Quorum::All))
        .build()
        .unwrap();
    (servers, client)
}

fn keys(name: &str, count: usize) -> Vec<String> {
    let p = prefix(name);
    (0..count).map(|i| format!("{p}{i}")).collect()
}

pub async fn replicas_take_every_write_and_share_the_reads<R: Runtime + Default>(suite: Suite) {
    let (servers, client) = three_replicas::<R>(suite);
    let keys = keys("replicas", 60);
    for key in &keys {
        client.set(key, "v1").await.unwrap();
    }
    for server in &servers {
        for key in &keys {
            assert_eq!(server.value(key).as_deref(), Some("v1"), "{key}");
        }
    }
    let gets_before: Vec<u64> = servers.iter().map(|s| s.stat("cmd_get")).collect();
    for key in &keys {
        assert_eq!(client.get(key).await.unwrap().unwrap().value, "v1");
    }
    // Each replica serves its share of the keys, and only its share.
    let gets: Vec<u64> = servers
        .iter()
        .zip(&gets_before)
        .map(|(server, before)| server.stat("cmd_get") - before)
        .collect();
    assert!(
        gets.iter().all(|&gets| gets > 0),
        "reads per replica: {gets:?}"
    );
    assert_eq!(gets.iter().sum::<u64>(), keys.len() as u64);

    // Batched writes and multi-key reads through the replicas.
    let results = client
        .set_many(keys.iter().map(|key| (key, "v2")))
        .await
        .unwrap();
    assert!(
        !results.is_empty() && results.values().all(Result::is_ok),
        "{results:?}"
    );
    for server in &servers {
        assert_eq!(server.value(&keys[7]).as_deref(), Some("v2"));
    }
    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    assert!(found.len() == keys.len() && found.values().all(|item| item.value == "v2"));

    // Deletes reach every replica.
    client.delete(&keys[0]).await.unwrap();
    let results = client.delete_many(&keys[1..3]).await.unwrap();
    assert!(
        !results.is_empty() && results.values().all(Result::is_ok),
        "{results:?}"
    );
    for server in &servers {
        assert!(server.present(&[&keys[0], &keys[1], &keys[2]]).is_empty());
    }
}

/// Replicas that answer a write differently end up agreeing with what the caller was
/// told, and a `cas` succeeds with the token of whichever replica was read.
pub async fn replicas_agree_with_the_answer<R: Runtime + Default>(suite: Suite) {
    let (servers, client) = three_replicas::<R>(suite);
    let b = &servers[1];
    for key in keys("disagree", 12) {
        // One replica has the key already: an `add` is refused there and taken elsewhere.
        b.put(&key, "old");
        let answer = client.add(&key, "new").await;
        let held: Vec<Option<String>> = servers.iter().map(|s| s.value(&key)).collect();
        match answer {
            Ok(()) => assert!(
                held.iter().flatten().all(|value| value == "new"),
                "{key}: stored, yet replicas hold {held:?}"
            ),
            Err(Error::NotStored) => assert!(
                held.iter().flatten().all(|value| value == "old"),
                "{key}: not stored, yet replicas hold {held:?}"
            ),
            Err(other) => panic!("{key}: {other}"),
        }
    }

    // CAS tokens differ between replicas: a `cas` with the read replica's token succeeds,
    // and the replicas that refused it lose the key.
    let key = format!("{}cas", prefix("disagree"));
    for (bumps, server) in servers.iter().enumerate() {
        // Each server's CAS counter at a different point.
        for _ in 0..bumps * 3 {
            server.put(&format!("{key}:bump"), "x");
        }
    }
    client.set(&key, "1").await.unwrap();
    let item = client.gets(&key).await.unwrap().unwrap();
    client
        .cas(&key, "2", item.cas.unwrap())
        .await
        .expect("the read replica takes its own token");
    let held: Vec<Option<String>> = servers.iter().map(|s| s.value(&key)).collect();
    assert_eq!(
        held.iter().flatten().count(),
        1,
        "only the read replica keeps it: {held:?}"
    );
    assert!(held.iter().flatten().all(|value| value == "2"));
    assert_eq!(client.get(&key).await.unwrap().unwrap().value, "2");
    // A token another replica issued is refused as the read replica refuses it.
    client.set(&key, "3").await.unwrap();
    let tokens: Vec<u64> = servers
        .iter()
        .map(|server| {
            let lines = server.raw(&format!("gets {key}"));
            lines[0].rsplit(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    let read = client.gets(&key).await.unwrap().unwrap().cas.unwrap();
    let foreign = *tokens
        .iter()
        .find(|&&token| token != read)
        .expect("tokens differ");
    assert!(matches!(
        client.cas(&key, "4", foreign).await,
        Err(Error::Exists)
    ));
    let held: Vec<Option<String>> = servers.iter().map(|s| s.value(&key)).collect();
    assert!(held.iter().flatten().all(|value| value == "3"), "{held:?}");
}

/// A dead replica fails writes that need every replica, not those that need a majority;
/// reads of its keys go to the next replica.
pub async fn replicas_survive_a_dead_one<R: Runtime + Default>(suite: Suite) {
    let mut servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let addrs: Vec<String> = servers.iter().map(Memcached::addr).collect();
    let route = |quorum| {
        let replicas = addrs.iter().map(|addr| Pool::new([addr]));
        Route::replicated(replicas.collect::<Vec<_>>(), quorum)
    };
    let all = routed::<R>(suite, route(Quorum::All)).build().unwrap();
    let majority = routed::<R>(suite, route(Quorum::Majority)).build().unwrap();
    let keys = keys("dead_replica", 30);
    for key in &keys {
        all.set(key, "v1").await.unwrap();
    }
    servers[2].kill();
    for key in &keys {
        // The first write may find the dead replica's connection still open.
        assert!(
            matches!(
                all.set(key, "v2").await,
                Err(Error::Connect { .. } | Error::ConnectionLost { .. })
            ),
            "{key}"
        );
        majority.set(key, "v3").await.unwrap();
        // Every key is found, those whose first replica died included.
        assert_eq!(majority.get(key).await.unwrap().unwrap().value, "v3");
        assert_eq!(all.get(key).await.unwrap().unwrap().value, "v3");
    }
    let found = all.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    let results = majority
        .set_many(keys.iter().map(|key| (key, "v4")))
        .await
        .unwrap();
    assert!(
        !results.is_empty() && results.values().all(Result::is_ok),
        "{results:?}"
    );
    let results = all
        .set_many(keys.iter().map(|key| (key, "v5")))
        .await
        .unwrap();
    assert!(results.values().all(Result::is_err), "{results:?}");
    // A write too few replicas took fails, and its outcome is unknown: the replicas
    // that took it keep it (they serve reads), the dead one is reported.
    for server in &servers[..2] {
        assert_eq!(server.value(&keys[3]).as_deref(), Some("v5"));
    }
    let results = majority
        .set_many(keys.iter().map(|key| (key, "v6")))
        .await
        .unwrap();
    assert!(
        !results.is_empty() && results.values().all(Result::is_ok),
        "{results:?}"
    );
    assert_eq!(majority.get_many(&keys).await.unwrap().len(), keys.len());

    // `Quorum::One` takes a write while one replica lives.
    servers[1].kill();
    let one = routed::<R>(suite, route(Quorum::One)).build().unwrap();
    one.set(&keys[0], "v7").await.unwrap();
    assert!(majority.set(&keys[0], "v8").await.is_err());
    assert_eq!(one.get(&keys[0]).await.unwrap().unwrap().value, "v8");
    one.set(&keys[0], "v9").await.unwrap();
    assert_eq!(one.get(&keys[0]).await.unwrap().unwrap().value, "v9");
}

/// A replica that stops answering (SIGSTOP) costs a majority write its timeout, not its
/// success; the writes it missed are reported.
pub async fn replicas_survive_a_stopped_one<R: Runtime + Default>(suite: Suite) {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let replicas: Vec<Pool> = servers.iter().map(|server| pool(&[server])).collect();
    let missed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let client = {
        let missed = missed.clone();
        routed::<R>(suite, Route::replicated(replicas, Quorum::Majority))
            .timeout(Some(Duration::from_millis(300)))
            .on_write_failure(move |failure| missed.lock().unwrap().push(failure.key.clone()))
            .build()
            .unwrap()
    };
    let keys = keys("stopped_replica", 3);
    for key in &keys {
        client.set(key, "before").await.unwrap();
    }
    servers[2].stop();
    for key in &keys {
        client.set(key, "during").await.unwrap();
        for server in &servers[..2] {
            assert_eq!(server.value(key).as_deref(), Some("during"));
        }
    }
    servers[2].cont();
    let missed = missed.lock().unwrap().clone();
    for key in &keys {
        let reports = missed
            .iter()
            .filter(|missed| *missed == key.as_bytes())
            .count();
        assert_eq!(reports, 1, "{key} reported {reports} times: {missed:?}");
    }
}

/// With `miss_on_unavailable`, a read answers a miss only once every replica was tried.
pub async fn replicas_fail_over_before_reading_a_miss<R: Runtime + Default>(suite: Suite) {
    let mut servers = [Memcached::start(), Memcached::start()];
    let replicas: Vec<Pool> = servers.iter().map(|server| pool(&[server])).collect();
    let client = routed::<R>(suite, Route::replicated(replicas, Quorum::One))
        .miss_on_unavailable(true)
        .build()
        .unwrap();
    let keys = keys("miss_failover", 20);
    for key in &keys {
        client.set(key, "v").await.unwrap();
    }
    servers[0].kill();
    for key in &keys {
        assert_eq!(client.get(key).await.unwrap().unwrap().value, "v", "{key}");
    }
    assert_eq!(client.get_many(&keys).await.unwrap().len(), keys.len());
    servers[1].kill();
    assert_eq!(client.get(&keys[0]).await.unwrap(), None);
    assert!(client.get_many(&keys).await.unwrap().is_empty());
    let partial = client.get_many(&keys).partial().await.unwrap();
    assert!(
        !partial.errors.is_empty(),
        "a partial read lists the failures"
    );
}

/// Each phase sends reads and writes where it says, a miss in the new pool is read from
/// the old one, and deletes reach both.
pub async fn migration_phases_route_as_documented<R: Runtime + Default>(suite: Suite) {
    let (old_a, old_b) = (Memcached::start(), Memcached::start());
    let (new_a, new_b) = (Memcached::start(), Memcached::start());
    let old = [&old_a, &old_b];
    let new = [&new_a, &new_b];
    let migration = Migration::new(Phase::Old);
    let route = Route::migrate(
        pool(&old).distribution(Distribution::Ketama),
        pool(&new),
        &migration,
    );
    let client = routed::<R>(suite, route).build().unwrap();
    assert_eq!(client.migrations()[0].phase(), Phase::Old);
    let in_pool =
        |servers: &[&Memcached], key: &str| servers.iter().find_map(|server| server.value(key));
    let p = prefix("migration");
    let key = |name: &str| format!("{p}{name}");

    client.set(key("before"), "v").await.unwrap();
    assert_eq!(in_pool(&old, &key("before")).as_deref(), Some("v"));
    assert_eq!(in_pool(&new, &key("before")), None);

    migration.set_phase(Phase::WriteBothReadOld);
    client.set(key("both"), "v").await.unwrap();
    assert_eq!(in_pool(&old, &key("both")).as_deref(), Some("v"));
    assert_eq!(in_pool(&new, &key("both")).as_deref(), Some("v"));
    let found = client.get_many([key("before"), key("both")]).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(client.get(key("before")).await.unwrap().unwrap().value, "v");
    // Reads go to the old pool.
    for server in new {
        if server.value(&key("both")).is_some() {
            server.put(&key("both"), "only-new");
        }
    }
    assert_eq!(client.get(key("both")).await.unwrap().unwrap().value, "v");
    client.set(key("both"), "v").await.unwrap();
    // The new pool follows the old one: an `add` the old pool refuses leaves nothing in
    // the new one, and a `touch` of a key only the old pool has succeeds.
    assert!(matches!(
        client.add(key("before"), "w").await,
        Err(Error::NotStored)
    ));
    assert_eq!(in_pool(&new, &key("before")), None);
    client
        .touch(key("before"), Duration::from_secs(600))
        .await
        .unwrap();

    migration.set_phase(Phase::WriteBothReadNew);
    // Found in the old pool, where the new one misses.
    assert_eq!(client.get(key("before")).await.unwrap().unwrap().value, "v");
    let found = client
        .get_many([key("before"), key("both"), key("none")])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    // A counter only the old pool has counts on, as a read of it would find it.
    client.set(key("count"), "1").await.unwrap();
    for server in new {
        server.raw(&format!("delete {}", key("count")));
    }
    assert_eq!(client.increment(key("count"), 1).await.unwrap(), 2);
    assert_eq!(
        client.get_as::<u64, _>(key("count")).await.unwrap(),
        Some(2)
    );
    // The new pool answers first.
    client.set(key("newer"), "v").await.unwrap();
    for server in new {
        if server.value(&key("newer")).is_some() {
            server.put(&key("newer"), "only-new");
        }
    }
    assert_eq!(
        client.get(key("newer")).await.unwrap().unwrap().value,
        "only-new"
    );
    // A delete cannot be undone by the fallback.
    client.delete(key("both")).await.unwrap();
    assert_eq!(client.get(key("both")).await.unwrap(), None);
    assert_eq!(in_pool(&old, &key("both")), None);

    migration.set_phase(Phase::New);
    assert_eq!(
        client.get(key("before")).await.unwrap(),
        None,
        "old pool not read"
    );
    client.set(key("after"), "v").await.unwrap();
    assert_eq!(in_pool(&old, &key("after")), None);
    assert_eq!(in_pool(&new, &key("after")).as_deref(), Some("v"));
}

/// While reads go to the old pool, the new one's failures do not fail writes; once
/// reads go to it, they do, and reads fall back to the old pool.
pub async fn migration_needs_the_new_pool_once_it_reads_it<R: Runtime + Default>(suite: Suite) {
    let (old, mut new) = (Memcached::start(), Memcached::start());
    let migration = Migration::new(Phase::WriteBothReadOld);
    let route = Route::migrate(pool(&[&old]), pool(&[&new]), &migration);
    let client = routed::<R>(suite, route).build().unwrap();
    let key = format!("{}k", prefix("migration_new_down"));
    client.set(&key, "v1").await.unwrap();
    assert_eq!(new.value(&key).as_deref(), Some("v1"));
    new.kill();
    client.set(&key, "v2").await.unwrap();
    assert_eq!(old.value(&key).as_deref(), Some("v2"));
    assert_eq!(client.get(&key).await.unwrap().unwrap().value, "v2");
    migration.set_phase(Phase::WriteBothReadNew);
    assert!(matches!(
        client.set(&key, "v3").await,
        Err(Error::Connect { .. } | Error::ConnectionLost { .. })
    ));
    // The old pool keeps what it took; reads fall back to it.
    assert_eq!(client.get(&key).await.unwrap().unwrap().value, "v3");
}

/// Phases switched while writers and readers run: no reader ever sees a value older
/// than the last one acknowledged for its key before its read began.
pub async fn migration_under_load_serves_no_stale_value<R: Runtime + Default>(suite: Suite) {
    let (old, new) = (Memcached::start(), Memcached::start());
    let migration = Migration::new(Phase::Old);
    let route = Route::migrate(
        pool(&[&old]).distribution(Distribution::Ketama),
        pool(&[&new]),
        &migration,
    );
    // Twenty tasks on a slow machine: time enough for each call.
    let client = routed::<R>(suite, route)
        .timeout(Some(Duration::from_secs(10)))
        .build()
        .unwrap();
    let runtime = R::default();
    const KEYS: usize = 16;
    const SETTLED: usize = 8;
    const WRITES_PER_PHASE: u64 = 400;
    let p = prefix("migration_load");
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
    for index in KEYS..KEYS + SETTLED {
        client.set(format!("{p}{index}"), 1u64).await.unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    // One writer per key: each write's sequence number is above the last. The writes
    // drive the migration: every WRITES_PER_PHASE of them, the next phase.
    let writers: Vec<_> = (0..KEYS)
        .map(|index| {
            let (client, acked, done, written) =
                (client.clone(), acked.clone(), done.clone(), written.clone());
            let migration = migration.clone();
            let key = format!("{p}{index}");
            spawn(&runtime, async move {
                let mut seq = 0u64;
                while !done.load(Ordering::Acquire) {
                    seq += 1;
                    client.set(&key, seq).await.unwrap();
                    acked[index].store(seq, Ordering::Release);
                    let count = written.fetch_add(1, Ordering::AcqRel) + 1;
                    if count % WRITES_PER_PHASE == 0 {
                        match migration.phase() {
                            Phase::Old => migration.set_phase(Phase::WriteBothReadOld),
                            Phase::WriteBothReadOld => migration.set_phase(Phase::WriteBothReadNew),
                            Phase::WriteBothReadNew => migration.set_phase(Phase::New),
                            _ => done.store(true, Ordering::Release),
                        }
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..4)
        .map(|reader| {
            let (client, acked, done) = (client.clone(), acked.clone(), done.clone());
            let (p, migration) = (p.clone(), migration.clone());
            spawn(&runtime, async move {
                let mut reads = 0u64;
                let mut index = reader;
                while !done.load(Ordering::Acquire) {
                    index = (index + 1) % (KEYS + SETTLED);
                    let key = format!("{p}{index}");
                    let floor = acked.get(index).map(|acked| acked.load(Ordering::Acquire));
                    let value: Option<u64> = client.get_as(&key).await.unwrap();
                    match (floor, value) {
                        (Some(floor), Some(value)) => assert!(
                            value >= floor,
                            "{key}: read {value} after {floor} was acked"
                        ),
                        (Some(floor), None) => {
                            assert_eq!(floor, 0, "{key}: a miss after {floor} was acked");
                        }
                        // Written once before the migration: found in every phase but
                        // the last, which reads only the new pool (phases only advance,
                        // so a read that ended before `New` was read in an earlier one).
                        (None, value) => assert!(
                            value == Some(1) || migration.phase() == Phase::New,
                            "{key}: read {value:?} in {}",
                            migration.phase()
                        ),
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for writer in writers {
        writer.await;
    }
    let mut reads = 0;
    for reader in readers {
        reads += reader.await;
    }
    assert!(reads > 100, "only {reads} reads");
    // After the migration every key's latest value is in the new pool.
    for (index, seq) in acked.iter().enumerate() {
        let key = format!("{p}{index}");
        let expected = seq.load(Ordering::Acquire).to_string();
        assert_eq!(new.value(&key), Some(expected), "{key}");
    }
}

/// A miss in the cold pool is read from the warm one, added to the cold one with its
/// flags and the time it had left, and read back from there.
pub async fn warm_up_fills_the_cold_pool<R: Runtime + Default>(suite: Suite) {
    let (cold, warm) = (Memcached::start(), Memcached::start());
    let warm_client = suite.client::<R>(&warm);
    let client = routed::<R>(suite, Route::warm_up(pool(&[&cold]), pool(&[&warm])))
        .build()
        .unwrap();
    let keys = keys("warm_up", 12);
    for key in &keys {
        warm_client
            .set(key, "warm")
            .flags(42)
            .ttl(Duration::from_secs(600))
            .await
            .unwrap();
    }
    warm_client.set(&keys[1], "forever").await.unwrap();

    let item = client.gets(&keys[0]).return_flags().await.unwrap().unwrap();
    assert_eq!((item.value.as_ref(), item.flags), (&b"warm"[..], Some(42)));
    assert_eq!(cold.value(&keys[0]).as_deref(), Some("warm"));
    let ttl = cold.ttl(&keys[0]).unwrap();
    assert!((590..=600).contains(&ttl), "filled for {ttl} s");
    // The CAS token is the cold pool's: a `cas` with it succeeds.
    client
        .cas(&keys[0], "new", item.cas.unwrap())
        .await
        .unwrap();
    assert_eq!(cold.value(&keys[0]).as_deref(), Some("new"));
    assert_eq!(
        warm.value(&keys[0]).as_deref(),
        Some("warm"),
        "writes go to cold only"
    );

    assert_eq!(
        client.get(&keys[1]).await.unwrap().unwrap().value,
        "forever"
    );
    assert_eq!(cold.ttl(&keys[1]), Some(-1));

    // Many keys at once: each miss is filled.
    let found = client.get_many(&keys[2..]).return_flags().await.unwrap();
    assert_eq!(found.len(), keys.len() - 2);
    assert!(found
        .values()
        .all(|item| item.value == "warm" && item.flags == Some(42)));
    let cold_has = cold.present(&keys.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(cold_has.len(), keys.len());

    // Deletes reach both, so nothing comes back from warm.
    client.delete(&keys[3]).await.unwrap();
    assert_eq!(client.get(&keys[3]).await.unwrap(), None);
    assert_eq!(warm.value(&keys[3]), None);
    // A miss in both adds nothing.
    let missing = format!("{}missing", prefix("warm_up"));
    assert_eq!(client.get(&missing).await.unwrap(), None);
    assert_eq!(cold.value(&missing), None);
}

/// Routes nest, node commands reach every pool's nodes, and the metrics list them all.
pub async fn routes_nest_and_expose_their_pools<R: Runtime + Default>(suite: Suite) {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let [old, new_a, new_b] = &servers;
    let migration = Migration::new(Phase::WriteBothReadOld);
    let route = Route::migrate(
        pool(&[old]),
        Route::replicated([pool(&[new_a]), pool(&[new_b])], Quorum::All),
        &migration,
    );
    let client = routed::<R>(suite, route).connect().await.unwrap();
    let key = format!("{}k", prefix("nested"));
    client.set(&key, "v").await.unwrap();
    for server in &servers {
        assert_eq!(server.value(&key).as_deref(), Some("v"));
    }
    let addrs: Vec<String> = servers.iter().map(Memcached::addr).collect();
    let nodes: Vec<String> = client.nodes().iter().map(ToString::to_string).collect();
    assert_eq!(nodes, addrs);
    assert_eq!(client.metrics().len(), 3);
    for addr in &addrs {
        assert!(client.version(addr.as_str()).await.is_ok());
    }
    assert_eq!(client.node_for(&key).unwrap().to_string(), old.addr());
    migration.set_phase(Phase::New);
    assert_ne!(client.node_for(&key).unwrap().to_string(), old.addr());
    client.close().await;
    assert!(matches!(client.get(&key).await, Err(Error::Closed)));
}

pub async fn route_configuration_is_checked<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let one = || Route::pool(pool(&[&server]));
    let with_nodes = suite.builder::<R>(&[&server]).route(one()).build();
    assert!(matches!(with_nodes, Err(ConfigError::Route(_))));
    let empty: [Pool; 0] = [];
    let no_replica = routed::<R>(suite, Route::replicated(empty, Quorum::All)).build();
    assert!(matches!(no_replica, Err(ConfigError::Route(_))));
    let no_node = routed::<R>(suite, Route::pool(Pool::new([""; 0]))).build();
    assert!(matches!(no_node, Err(ConfigError::Route(_))));
    let twice = Pool::new([server.addr(), server.addr()]);
    let twice = routed::<R>(suite, Route::pool(twice)).build();
    assert!(matches!(twice, Err(ConfigError::DuplicateNode(_))));
    let bad = routed::<R>(suite, Route::pool(Pool::new(["not an address"]))).build();
    assert!(matches!(bad, Err(ConfigError::Addr(_))));
}

/// A migration between distributions over the same servers writes a key once where both
/// keep it on the same node: counters count once, an `add` is not refused by itself.
pub async fn migration_over_the_same_servers_writes_once<R: Runtime + Default>(suite: Suite) {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let all: Vec<&Memcached> = servers.iter().collect();
    let migration = Migration::new(Phase::WriteBothReadNew);
    let same = Route::migrate(
        pool(&all).distribution(Distribution::Ketama),
        pool(&all),
        &migration,
    );
    let client = routed::<R>(suite, same).build().unwrap();
    let keys = keys("same_servers", 40);
    for key in &keys {
        client.add(key, "0").await.unwrap();
        assert_eq!(client.increment(key, 5).await.unwrap(), 5, "{key}");
        client.append(key, "!").await.unwrap();
        assert_eq!(client.get(key).await.unwrap().unwrap().value, "5!", "{key}");
    }
    let results = client
        .add_many(keys.iter().map(|key| (format!("{key}:b"), "x")))
        .await
        .unwrap();
    assert!(
        !results.is_empty() && results.values().all(Result::is_ok),
        "{results:?}"
    );
    // Keys both distributions put on one node were stored once, the others twice.
    let copies: usize = keys
        .iter()
        .map(|key| servers.iter().filter(|s| s.value(key).is_some()).count())
        .sum();
    assert!(
        copies > keys.len() && copies < 2 * keys.len(),
        "{copies} copies"
    );
}
