//! Typed values against real memcached servers: the built-in codecs, serde's JSON and
//! MessagePack, lz4 compression, and the typed errors that keep a value from being misread.

use std::collections::HashMap;

use memcache_it::Memcached;
use memcache_tokio::memproto::Encoder;
use memcache_tokio::value::{Json, MsgPack};
use memcache_tokio::{Bytes, Client, Compression, Error, Format, Protocol, ValueError};

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

/// This client's flags for a plain value it lz4-compressed.
const LZ4: u32 = 0x1000_0000;

/// A genuine lz4 value of this client's format (4-byte little-endian size, then the block)
/// that expands about 255 times: one literal, one match of `runs` 255-byte length
/// extensions repeating it, and the 5 literals a block ends with. Returns it with the size
/// it declares.
fn lz4_bomb(runs: usize) -> (Vec<u8>, usize) {
    let mut block = vec![0x1F, b'a', 1, 0];
    block.resize(block.len() + runs, 255);
    block.extend_from_slice(&[0, 0x50, b'a', b'a', b'a', b'a', b'a']);
    let declared = 1 + (4 + 15 + 255 * runs) + 5;
    let mut value = u32::try_from(declared).unwrap().to_le_bytes().to_vec();
    value.extend_from_slice(&block);
    (value, declared)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_decode_is_bounded_by_the_clients_largest_value() {
    let server = Memcached::start();
    // Just under 1 MiB on the wire, declaring about 255 MiB decompressed.
    let (bomb, declared) = lz4_bomb(1024 * 1024 - 1024 - 15);
    assert!(declared > 250 * 1024 * 1024);
    for protocol in [Protocol::Text, Protocol::Meta] {
        let client = client(&server, protocol);
        // A raw set: plain bytes keep the flags as given, here marking lz4.
        client.set("bomb", &bomb).flags(LZ4).await.unwrap();
        let max = Encoder::DEFAULT_MAX_VALUE_LEN;
        let too_large = ValueError::TooLarge { declared, max };

        // get_as refuses it before allocating the declared size...
        let read = client.get_as::<Bytes, _>("bomb").await;
        assert!(
            matches!(&read, Err(Error::Value(error)) if *error == too_large),
            "{read:?}"
        );
        // ...and so does Item::decode, on the items of every fetch.
        let found = client.get_many(["bomb"]).return_flags().await.unwrap();
        let item = found.get("bomb").unwrap();
        assert_eq!(item.max_value_len(), max);
        assert_eq!(item.decode::<Bytes>(), Err(too_large.clone()));
        assert_eq!(item.decode::<String>(), Err(too_large.clone()));
        let item = client.get("bomb").return_flags().await.unwrap().unwrap();
        assert_eq!(item.decode::<Vec<u8>>(), Err(too_large.clone()));
        let found = client.gets_many(["bomb"]).return_flags().await.unwrap();
        assert_eq!(found.get("bomb").unwrap().decode::<Bytes>(), Err(too_large));

        // The bound is the client's configured one.
        let larger = Client::builder([server.addr()])
            .protocol(protocol)
            .max_value_len(2 * 1024 * 1024)
            .build()
            .unwrap();
        let found = larger.get_many(["bomb"]).return_flags().await.unwrap();
        assert_eq!(
            found.get("bomb").unwrap().decode::<Bytes>(),
            Err(ValueError::TooLarge {
                declared,
                max: 2 * 1024 * 1024
            })
        );
        // The raw bytes are still there for whoever wants them.
        assert_eq!(item.value.len(), bomb.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_and_prepend_refuse_encoded_items_and_leave_them_readable() {
    let server = Memcached::start();
    for protocol in [Protocol::Text, Protocol::Meta] {
        let plain = client(&server, protocol);
        let compressed = compressing(&server, protocol);
        let page = "<li>an item of a long list</li>\n".repeat(400);
        compressed.set("page", &page).await.unwrap();
        plain.set("user", Json(ada())).await.unwrap();
        plain.set("packed", MsgPack(ada())).await.unwrap();

        let refusals = [
            ("page", Format::Plain, true),
            ("user", Format::Json, false),
            ("packed", Format::MessagePack, false),
        ];
        for (key, format, lz4) in refusals {
            let expected = ValueError::Encoded {
                format,
                compressed: lz4,
            };
            for joined in [
                plain.append(key, "tail").await,
                plain.prepend(key, "head").await,
                compressed.append(key, "tail").noreply().await,
            ] {
                assert!(
                    matches!(&joined, Err(Error::Value(error)) if *error == expected),
                    "{key}: {joined:?}"
                );
            }
        }
        // Nothing was joined: every item still decodes.
        let read: Option<String> = plain.get_as("page").await.unwrap();
        assert_eq!(read.as_deref(), Some(page.as_str()));
        let user: Json<User> = plain.get_as("user").await.unwrap().unwrap();
        let packed: MsgPack<User> = plain.get_as("packed").await.unwrap().unwrap();
        assert_eq!((user.0, packed.0), (ada(), ada()));

        // Plain items join as before, raw flags in the top byte included (they are the
        // user's, not an encoding).
        plain.set("log", "a").await.unwrap();
        plain.append("log", "b").await.unwrap();
        plain.prepend("log", "<").await.unwrap();
        plain.append("log", "c").unchecked().await.unwrap();
        plain.append("log", "d").noreply().await.unwrap();
        plain
            .append("log", 1u8)
            .noreply()
            .unchecked()
            .await
            .unwrap();
        assert_eq!(plain.get("log").await.unwrap().unwrap().value, "<abcd1");
        plain.set("flagged", "x").flags(0xFFFF_FFFF).await.unwrap();
        plain.append("flagged", "y").await.unwrap();
        let flagged = plain.get("flagged").return_flags().await.unwrap().unwrap();
        assert_eq!(
            (flagged.value.as_ref(), flagged.flags),
            (&b"xy"[..], Some(0xFFFF_FFFF))
        );

        // A missing key is NotStored, checked or not; noreply reports nothing.
        plain.delete("absent").await.ok();
        for joined in [
            plain.append("absent", "x").await,
            plain.prepend("absent", "x").await,
            plain.append("absent", "x").unchecked().await,
        ] {
            assert!(matches!(joined, Err(Error::NotStored)), "{joined:?}");
        }
        plain.append("absent", "x").noreply().await.unwrap();
        assert_eq!(plain.get("absent").await.unwrap(), None);

        // The opt-out does what it says: the compressed item is corrupted.
        compressed.set("page:unchecked", &page).await.unwrap();
        plain
            .append("page:unchecked", "tail")
            .unchecked()
            .await
            .unwrap();
        assert!(matches!(
            plain.get_as::<String, _>("page:unchecked").await,
            Err(Error::Value(ValueError::Corrupt))
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checked_appends_lose_and_repeat_nothing() {
    let server = Memcached::start();
    for protocol in [Protocol::Text, Protocol::Meta] {
        let client = client(&server, protocol);
        client.set("tally", "").await.unwrap();
        let writers = (0..4u8).map(|writer| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    // Losing the CAS race 5 times in a row is Exists: try again.
                    loop {
                        match client.append("tally", [b'a' + writer]).await {
                            Ok(()) => break,
                            Err(Error::Exists) => continue,
                            Err(other) => panic!("{other}"),
                        }
                    }
                }
            })
        });
        for writer in futures::future::join_all(writers).await {
            writer.unwrap();
        }
        let tally = client.get("tally").await.unwrap().unwrap().value;
        for writer in 0..4u8 {
            let count = tally.iter().filter(|&&byte| byte == b'a' + writer).count();
            assert_eq!(count, 25, "{protocol:?}: {tally:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_reads_take_any_flags_typed_reads_stay_strict() {
    let server = Memcached::start();
    for protocol in [Protocol::Text, Protocol::Meta] {
        let client = client(&server, protocol);
        // Flags no encoding of ours uses, as other clients write them: all set, a reserved
        // bit, and PHP's user flags (bits 16–31) landing on our lz4 bit, with and
        // without PHP's own compression bit (0x10).
        for flags in [0xFFFF_FFFF, 0x4000_0000, LZ4, LZ4 | 0x10] {
            client
                .set("foreign", "written elsewhere")
                .flags(flags)
                .await
                .unwrap();
            let bytes: Option<Bytes> = client.get_as("foreign").await.unwrap();
            assert_eq!(bytes.unwrap(), "written elsewhere", "{flags:#x}");
            let vec: Option<Vec<u8>> = client.get_as("foreign").await.unwrap();
            assert_eq!(vec.unwrap(), b"written elsewhere", "{flags:#x}");
            let found = client.get_many(["foreign"]).return_flags().await.unwrap();
            let item = found.get("foreign").unwrap();
            assert_eq!(item.decode::<Bytes>().unwrap(), "written elsewhere");

            let typed = client.get_as::<String, _>("foreign").await;
            assert!(
                matches!(
                    typed,
                    Err(Error::Value(
                        ValueError::UnknownEncoding { .. } | ValueError::Corrupt
                    ))
                ),
                "{flags:#x}: {typed:?}"
            );
            assert!(client.get_as::<u64, _>("foreign").await.is_err());
        }
        // Values this client compressed are still decompressed for the raw types.
        let page = "<li>an item of a long list</li>\n".repeat(400);
        compressing(&server, protocol)
            .set("ours", &page)
            .await
            .unwrap();
        let bytes: Option<Bytes> = client.get_as("ours").await.unwrap();
        assert_eq!(bytes.unwrap(), page.as_bytes());
    }
}

/// A client configured from a document (feature `serde`) talks to its nodes as the
/// document says.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_configured_from_settings() {
    let server = Memcached::start();
    let document = format!(
        r#"{{ "nodes": ["{}"], "protocol": "meta", "timeout": "2s", "idle_timeout": "off",
             "max_connections": 1 }}"#,
        server.addr()
    );
    let settings: memcache_tokio::Settings = serde_json::from_str(&document).unwrap();
    let client: Client = settings.build().unwrap();
    client.set("configured", "yes").await.unwrap();
    let item = client.get("configured").await.unwrap().expect("stored");
    assert_eq!(item.value, "yes");
    // Meta mode: a key the classic commands cannot carry is sent base64-encoded.
    client.set("with space", "v").await.unwrap();
    assert_eq!(client.metrics()[0].1.connections_created, 1);

    let broken: memcache_tokio::Settings =
        serde_json::from_str(r#"{ "nodes": ["not a node:port:x"] }"#).unwrap();
    assert!(broken.build::<memcache_tokio::TokioRuntime>().is_err());
}

/// A gutter pool configured from a document takes a dead node's writes, with the
/// document's expiration cap.
#[tokio::test(flavor = "multi_thread")]
async fn a_gutter_configured_from_settings() {
    let mut primary = Memcached::start();
    let gutter = Memcached::start();
    let document = format!(
        r#"{{ "nodes": ["{}"],
             "gutter": {{ "nodes": ["{}"], "ttl": "30s", "on": "unavailable" }} }}"#,
        primary.addr(),
        gutter.addr()
    );
    let settings: memcache_tokio::Settings = serde_json::from_str(&document).unwrap();
    let client: Client = settings.build().unwrap();
    primary.kill();
    client.set("bridged", "yes").await.unwrap();
    let ttl = gutter.ttl("bridged").expect("stored in the gutter");
    assert!((27..=30).contains(&ttl), "ttl {ttl}");

    let unknown: Result<memcache_tokio::Settings, _> =
        serde_json::from_str(r#"{ "gutter": { "nodes": [], "on": "always" } }"#);
    assert!(unknown.unwrap_err().to_string().contains("unknown variant"));
}

/// A route read from a document: a migration to replicated pools, one with a gutter; its
/// migration's handle switches the phase of the running client.
#[tokio::test(flavor = "multi_thread")]
async fn a_route_configured_from_settings() {
    let old = Memcached::start();
    let (a, b) = (Memcached::start(), Memcached::start());
    let gutter = Memcached::start();
    let document = format!(
        r#"{{ "timeout": "500ms",
             "route": {{
                 "type": "migrate",
                 "phase": "write_both_read_old",
                 "from": {{ "type": "pool", "nodes": ["{}"], "distribution": "ketama" }},
                 "to": {{
                     "type": "replicated",
                     "quorum": "majority",
                     "replicas": [
                         {{ "type": "pool", "nodes": ["{}"] }},
                         {{ "type": "pool", "nodes": ["{}"],
                           "gutter": {{ "nodes": ["{}"], "ttl": "5s" }} }}
                     ]
                 }}
             }} }}"#,
        old.addr(),
        a.addr(),
        b.addr(),
        gutter.addr()
    );
    let settings: memcache_tokio::Settings = serde_json::from_str(&document).unwrap();
    let client: Client = settings.build().unwrap();
    client.set("routed", "yes").await.unwrap();
    for server in [&old, &a, &b] {
        assert_eq!(server.value("routed").as_deref(), Some("yes"));
    }
    let migrations = client.migrations();
    assert_eq!(migrations.len(), 1);
    assert_eq!(
        migrations[0].phase(),
        memcache_tokio::Phase::WriteBothReadOld
    );
    migrations[0].set_phase(memcache_tokio::Phase::New);
    client.set("after", "yes").await.unwrap();
    assert_eq!(old.value("after"), None);
    assert_eq!(a.value("after").as_deref(), Some("yes"));

    let unknown: Result<memcache_tokio::Settings, _> =
        serde_json::from_str(r#"{ "route": { "type": "fastest", "routes": [] } }"#);
    assert!(unknown.unwrap_err().to_string().contains("unknown variant"));
    let empty: memcache_tokio::Settings =
        serde_json::from_str(r#"{ "route": { "type": "replicated", "replicas": [] } }"#).unwrap();
    assert!(matches!(
        empty.build::<memcache_tokio::TokioRuntime>(),
        Err(memcache_tokio::ConfigError::Route(_))
    ));
}
