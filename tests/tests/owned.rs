//! Owned request futures (`Request::owned`) run as spawned tasks, detached from the client
//! handle that made them.

use memcache_it::Memcached;
use memcache_tokio::{Client, Error};

#[tokio::test(flavor = "multi_thread")]
async fn owned_requests_run_as_spawned_tasks() {
    let server = Memcached::start();
    let client = Client::builder([server.addr()]).build().unwrap();

    let writes: Vec<_> = (0..20)
        .map(|i| tokio::spawn(client.set(format!("owned:{i}"), vec![b'v'; i]).owned()))
        .collect();
    for write in writes {
        write.await.expect("task").expect("stored");
    }

    let reads: Vec<_> = (0..20)
        .map(|i| tokio::spawn(client.get(format!("owned:{i}")).owned()))
        .collect();
    for (i, read) in reads.into_iter().enumerate() {
        let item = read.await.expect("task").expect("read").expect("stored");
        assert_eq!(item.value.len(), i);
    }

    let keys: Vec<String> = (0..20).map(|i| format!("owned:{i}")).collect();
    let many = tokio::spawn(client.get_many(keys.clone()).owned());
    assert_eq!(many.await.expect("task").expect("read").len(), 20);

    // The spawned future holds its own handle: dropping the one that made it changes
    // nothing.
    let handle = client.clone();
    let deleted = tokio::spawn(handle.delete_many(keys).owned());
    drop(handle);
    let results = deleted.await.expect("task").expect("deleted");
    assert!(results.values().all(Result::is_ok), "{results:?}");
    assert_eq!(client.get("owned:3").await.unwrap(), None);

    // Errors come back through the task like any other result.
    let missing = tokio::spawn(client.delete("owned:3").owned());
    assert!(matches!(missing.await.expect("task"), Err(Error::NotFound)));
}
