//! The in-process test double works on every runtime: here under smol, the supported
//! path for async-std users, with no network and no memcached.

use std::time::Duration;

use memcache_async_std::testing::MemoryServer;
use memcache_async_std::{Client, Protocol};

#[test]
fn the_test_double_serves_a_client_under_smol() {
    smol::block_on(async {
        let server = MemoryServer::new();
        for protocol in [Protocol::Text, Protocol::Meta] {
            let client = Client::builder([server.addr()])
                .protocol(protocol)
                .build()
                .unwrap();
            client
                .set("k", "v")
                .ttl(Duration::from_secs(10))
                .await
                .unwrap();
            assert_eq!(client.get("k").await.unwrap().unwrap().value, "v");
            server.advance(Duration::from_secs(11));
            assert_eq!(client.get("k").await.unwrap(), None);

            server.pause();
            let error = client
                .get("k")
                .timeout(Duration::from_millis(20))
                .await
                .unwrap_err();
            assert!(error.is_timeout(), "{error:?}");
            server.resume();
            client.close().await;
        }
        assert_eq!(server.connections(), 0);
    });
}
