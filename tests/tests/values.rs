//! Typed values against real memcached servers: the built-in codecs, serde's JSON and
//! MessagePack, lz4 compression, and the typed errors that keep a value from being misread.

use std::collections::HashMap;

use memcache_it::Memcached;
use memcache_tokio::{
    Bytes, Client, Compression, Error, Format, Json, MsgPack, Protocol, ValueError,
};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct User {
    name: String,
    roles: Vec<String>,
}

fn ada() -> User {
    User {
        name: "ada".into(),
        roles: vec!["admin".into(), "ops".into()],
    }
}

fn client(server: &Memcached, protocol: Protocol) -> Client {
    Client::builder([server.addr()])
        .protocol(protocol)
        .build()
        .unwrap()
}

fn compressing(server: &Memcached, protocol: Protocol) -> Client {
    Client::builder([server.addr()])
        .protocol(protocol)
        .compression(Compression::lz4(256))
        .build()
        .unwrap()
}

/// The format a stored item's flags name, read through the raw API.
async fn raw_flags(client: &Client, key: &str) -> u32 {
    let item = client.get(key).return_flags().await.unwrap().unwrap();
    item.flags.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_in_types_round_trip_and_integers_count() {
    let server = Memcached::start();
    for protocol in [Protocol::Text, Protocol::Meta] {
        let client = client(&server, protocol);
        client.set("hits", 0u64).await.unwrap();
        assert_eq!(client.increment("hits", 41).await.unwrap(), 41);
        client.increment("hits", 1).await.unwrap();
        assert_eq!(client.get_as::<u64, _>("hits").await.unwrap(), Some(42));
        // decr pads the shrinking number with spaces; it still reads as a number.
        client.set("stock", 100u32).await.unwrap();
        client.decrement("stock", 95).await.unwrap();
        assert_eq!(client.get_as::<u32, _>("stock").await.unwrap(), Some(5));

        client.set("balance", -17i64).await.unwrap();
        assert_eq!(client.get_as::<i64, _>("balance").await.unwrap(), Some(-17));
        client.set("name", "café").await.unwrap();
        let name: Option<String> = client.get_as("name").await.unwrap();
        assert_eq!(name.as_deref(), Some("café"));
        client.set("blob", vec![0u8, 255, 10]).await.unwrap();
        let blob: Option<Vec<u8>> = client.get_as("blob").await.unwrap();
        assert_eq!(blob, Some(vec![0, 255, 10]));
        assert_eq!(client.get_as::<String, _>("absent").await.unwrap(), None);

        // Text that is not a number, read as one, is a typed error.
        assert!(matches!(
            client.get_as::<u64, _>("name").await,
            Err(Error::Value(ValueError::NotAnInteger))
        ));
        // Plain values keep the user's flags exactly, the top byte included.
        client.set("flagged", "x").flags(0xFFFF_FFFF).await.unwrap();
        assert_eq!(raw_flags(&client, "flagged").await, 0xFFFF_FFFF);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serde_values_round_trip_and_the_wrong_codec_is_an_error() {
    let server = Memcached::start();
    for protocol in [Protocol::Text, Protocol::Meta] {
        let client = client(&server, protocol);
        client
            .set("user:json", Json(&ada()))
            .flags(7)
            .await
            .unwrap();
        client.set("user:msgpack", MsgPack(ada())).await.unwrap();
        let json: Json<User> = client.get_as("user:json").await.unwrap().unwrap();
        let msgpack: MsgPack<User> = client.get_as("user:msgpack").await.unwrap().unwrap();
        assert_eq!((json.0, msgpack.0), (ada(), ada()));

        // The raw item holds the JSON text, the user's flags in the low bits.
        let raw = client
            .get("user:json")
            .return_flags()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(raw.value, r#"{"name":"ada","roles":["admin","ops"]}"#);
        assert_eq!(raw.flags.unwrap() & 0x00FF_FFFF, 7);
        assert_ne!(
            raw.flags.unwrap(),
            7,
            "the format is marked in the top byte"
        );

        let wrong = client.get_as::<MsgPack<User>, _>("user:json").await;
        assert!(
            matches!(
                wrong,
                Err(Error::Value(ValueError::WrongFormat {
                    expected: Format::MessagePack,
                    found: Format::Json,
                }))
            ),
            "{wrong:?}"
        );
        assert!(matches!(
            client.get_as::<String, _>("user:msgpack").await,
            Err(Error::Value(ValueError::WrongFormat { .. }))
        ));
        // Plain text that happens to be JSON is not taken for JSON.
        client
            .set("plain", r#"{"name":"x","roles":[]}"#)
            .await
            .unwrap();
        assert!(matches!(
            client.get_as::<Json<User>, _>("plain").await,
            Err(Error::Value(ValueError::WrongFormat { .. }))
        ));
        // Bytes read anything as stored.
        let bytes: Option<Bytes> = client.get_as("user:json").await.unwrap();
        assert_eq!(bytes.unwrap(), raw.value);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_cannot_be_stored_fail_before_anything_is_sent() {
    let server = Memcached::start();
    let client = client(&server, Protocol::Text);
    // JSON has no map keys but strings.
    let mut unencodable = HashMap::new();
    unencodable.insert((1u8, 2u8), 3u8);
    assert!(matches!(
        client.set("bad:map", Json(&unencodable)).await,
        Err(Error::Value(ValueError::Encode(_)))
    ));
    // Encoded values leave the low 24 bits of the flags to the user.
    assert!(matches!(
        client.set("bad:flags", Json(1)).flags(0x0100_0000).await,
        Err(Error::Value(ValueError::FlagsReserved {
            flags: 0x0100_0000
        }))
    ));
    assert!(matches!(
        client
            .set_many([("bad:many", Json(1))])
            .flags(0x0100_0000)
            .await,
        Err(Error::Value(ValueError::FlagsReserved { .. }))
    ));
    for key in ["bad:map", "bad:flags", "bad:many"] {
        assert_eq!(client.get(key).await.unwrap(), None, "{key} was written");
    }

    // append and prepend join raw bytes: an encoded value cannot be joined.
    client.set("log", "a").await.unwrap();
    assert!(matches!(
        client.append("log", Json("b")).await,
        Err(Error::Value(ValueError::WrongFormat { .. }))
    ));
    client.append("log", 1u8).await.unwrap();
    client.prepend("log", "<").await.unwrap();
    assert_eq!(client.get("log").await.unwrap().unwrap().value, "<a1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_are_compressed_and_every_client_reads_them() {
    let server = Memcached::start();
    for protocol in [Protocol::Text, Protocol::Meta] {
        let plain = client(&server, protocol);
        let compressed = compressing(&server, protocol);
        let page = "<li>an item of a long list</li>\n".repeat(400);

        compressed.set("page", &page).await.unwrap();
        let raw = plain.get("page").return_flags().await.unwrap().unwrap();
        assert!(
            raw.value.len() < page.len() / 5,
            "stored {} of {} bytes",
            raw.value.len(),
            page.len()
        );
        assert_ne!(raw.flags.unwrap(), 0, "compression is marked in the flags");
        // Readers decompress by the flags, compression configured or not.
        for reader in [&plain, &compressed] {
            let read: Option<String> = reader.get_as("page").await.unwrap();
            assert_eq!(read.as_deref(), Some(page.as_str()));
        }
        // Values written uncompressed read back through a compressing client.
        plain.set("page:raw", &page).await.unwrap();
        let read: Option<String> = compressed.get_as("page:raw").await.unwrap();
        assert_eq!(read.as_deref(), Some(page.as_str()));
        // Small values are stored as they are.
        compressed.set("small", "tiny").await.unwrap();
        assert_eq!(raw_flags(&plain, "small").await, 0);

        // Serialized values compress too, and batched stores encode per item.
        let users: Vec<User> = (0..50).map(|_| ada()).collect();
        let results = compressed
            .set_many([
                ("batch:json", Json(users.clone())),
                ("batch:small", Json(vec![ada()])),
            ])
            .await
            .unwrap();
        assert!(results.values().all(Result::is_ok), "{results:?}");
        let found = plain
            .get_many(["batch:json", "batch:small"])
            .return_flags()
            .await
            .unwrap();
        let big: Json<Vec<User>> = found.get("batch:json").unwrap().decode().unwrap();
        let small: Json<Vec<User>> = found.get("batch:small").unwrap().decode().unwrap();
        assert_eq!((big.0, small.0), (users, vec![ada()]));
        assert!(found.get("batch:json").unwrap().value.len() < 400);

        // An item fetched without its flags cannot be decoded.
        let item = plain.get("batch:json").await.unwrap().unwrap();
        assert_eq!(item.decode::<Bytes>(), Err(ValueError::FlagsNotFetched));
    }
}
