//! Bad input is refused before anything reaches the server.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, UNIX_EPOCH};

use memcache_core::memproto::{EncodeError, Encoder, KeyError, MAX_BASE64_KEY_LEN};
use memcache_core::{Error, Protocol, Runtime};

use super::support::{invalid, prefix, Suite};
use crate::server::Memcached;

/// A connection of its own for reading `stats` repeatedly.
struct StatsProbe {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl StatsProbe {
    fn connect(server: &Memcached) -> StatsProbe {
        let stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        StatsProbe {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    fn stats(&mut self) -> HashMap<String, String> {
        self.writer.write_all(b"stats\r\n").unwrap();
        let mut stats = HashMap::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line == "END" {
                return stats;
            }
            let (name, value) = line
                .strip_prefix("STAT ")
                .and_then(|stat| stat.split_once(' '))
                .unwrap_or_else(|| panic!("unexpected stats line {line:?}"));
            stats.insert(name.to_owned(), value.to_owned());
        }
    }
}

/// The counters that would move if a request reached the server.
fn counters(stats: &HashMap<String, String>) -> [(String, u64); 7] {
    let stat = |name: &str| -> u64 { stats[name].parse().unwrap() };
    [
        ("cmd_get", stat("cmd_get")),
        ("cmd_set", stat("cmd_set")),
        ("cmd_touch", stat("cmd_touch")),
        ("deletes", stat("delete_misses") + stat("delete_hits")),
        ("incrs", stat("incr_misses") + stat("incr_hits")),
        ("decrs", stat("decr_misses") + stat("decr_hits")),
        ("cmd_flush", stat("cmd_flush")),
    ]
    .map(|(name, value)| (name.to_owned(), value))
}

pub async fn bad_input_is_refused<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    // One connection reads the counters before and after, so reading them adds no
    // connection of its own to compare.
    let mut probe = StatsProbe::connect(&server);
    let before = probe.stats();
    let client = suite.client::<R>(&server);

    let long = "k".repeat(251);
    let bad_keys: Vec<(Vec<u8>, KeyError)> = vec![
        (b"".to_vec(), KeyError::Empty),
        (
            long.clone().into_bytes(),
            KeyError::TooLong { len: 251, max: 250 },
        ),
        (
            b"a b".to_vec(),
            KeyError::ForbiddenByte {
                byte: b' ',
                index: 1,
            },
        ),
        (
            b"a\rb".to_vec(),
            KeyError::ForbiddenByte {
                byte: b'\r',
                index: 1,
            },
        ),
        (
            b"ab\n".to_vec(),
            KeyError::ForbiddenByte {
                byte: b'\n',
                index: 2,
            },
        ),
        (
            b"\0ab".to_vec(),
            KeyError::ForbiddenByte { byte: 0, index: 0 },
        ),
        (
            b"a\x7fb".to_vec(),
            KeyError::ForbiddenByte {
                byte: 0x7f,
                index: 1,
            },
        ),
        (
            b"a\tb".to_vec(),
            KeyError::ForbiddenByte {
                byte: b'\t',
                index: 1,
            },
        ),
        (
            b"k\r\nflush_all".to_vec(),
            KeyError::ForbiddenByte {
                byte: b'\r',
                index: 1,
            },
        ),
    ];
    // The meta protocol sends keys with such bytes base64-encoded (see `binary_keys`).
    let bad_keys: Vec<_> = bad_keys
        .into_iter()
        .filter(|(_, error)| {
            suite.protocol == Protocol::Text || !matches!(error, KeyError::ForbiddenByte { .. })
        })
        .collect();
    let ttl = Duration::from_secs(10);
    for (key, expected) in &bad_keys {
        let expected = EncodeError::Key(*expected);
        let key = key.as_slice();
        assert_eq!(invalid(client.set(key, "v").await), expected);
        assert_eq!(invalid(client.set(key, "v").noreply().await), expected);
        assert_eq!(invalid(client.add(key, "v").await), expected);
        assert_eq!(invalid(client.replace(key, "v").await), expected);
        assert_eq!(invalid(client.append(key, "v").await), expected);
        assert_eq!(invalid(client.prepend(key, "v").await), expected);
        assert_eq!(invalid(client.cas(key, "v", 1).await), expected);
        assert_eq!(invalid(client.get(key).await), expected);
        assert_eq!(invalid(client.gets(key).await), expected);
        assert_eq!(invalid(client.gat(key, ttl).await), expected);
        assert_eq!(invalid(client.gats(key, ttl).await), expected);
        assert_eq!(invalid(client.get_many([key]).await), expected);
        assert_eq!(invalid(client.get_many([&b"ok"[..], key]).await), expected);
        assert_eq!(invalid(client.gets_many([key, &b"ok"[..]]).await), expected);
        assert_eq!(invalid(client.gat_many([key], ttl).await), expected);
        assert_eq!(invalid(client.increment(key, 1).await), expected);
        assert_eq!(invalid(client.increment(key, 1).noreply().await), expected);
        assert_eq!(invalid(client.decrement(key, 1).await), expected);
        assert_eq!(invalid(client.touch(key, ttl).await), expected);
        assert_eq!(invalid(client.touch(key, ttl).noreply().await), expected);
        assert_eq!(invalid(client.delete(key).await), expected);
        assert_eq!(invalid(client.delete(key).noreply().await), expected);
        assert_eq!(invalid(client.set_many([(key, "v")]).await), expected);
        assert_eq!(invalid(client.add_many([(key, "v")]).await), expected);
        assert_eq!(invalid(client.delete_many([key]).await), expected);
        assert_eq!(invalid(client.touch_many([key], ttl).await), expected);
    }

    // Values over the limit.
    let max = Encoder::DEFAULT_MAX_VALUE_LEN;
    let big = vec![b'x'; max + 1];
    let too_large = EncodeError::ValueTooLarge { len: max + 1, max };
    assert_eq!(invalid(client.set("k", &big).await), too_large);
    assert_eq!(invalid(client.append("k", &big).noreply().await), too_large);

    // Absolute expirations past the server's signed 32-bit field (year 2100).
    let year_2100 = UNIX_EPOCH + Duration::from_secs(4_102_444_800);
    let out_of_range = EncodeError::ExptimeOutOfRange(4_102_444_800);
    assert_eq!(
        invalid(client.set("k", "v").exptime(year_2100).await),
        out_of_range
    );
    assert_eq!(
        invalid(client.add("k", "v").expires_at(year_2100).await),
        out_of_range
    );
    assert_eq!(invalid(client.touch("k", year_2100).await), out_of_range);
    assert_eq!(invalid(client.gat("k", year_2100).await), out_of_range);
    assert_eq!(
        invalid(client.gats_many(["k"], year_2100).await),
        out_of_range
    );
    // A relative expiration that lands past 2038.
    let century = Duration::from_secs(100 * 365 * 86_400);
    assert!(matches!(
        invalid(client.set("k", "v").ttl(century).await),
        EncodeError::ExptimeOutOfRange(_)
    ));
    assert!(matches!(
        invalid(
            client
                .flush_all(server.addr().as_str())
                .delay(Duration::from_secs(u64::from(u32::MAX)))
                .await
        ),
        EncodeError::ExptimeOutOfRange(_)
    ));
    // A stats argument that would smuggle a command.
    assert_eq!(
        invalid(
            client
                .stats(server.addr().as_str())
                .args(["items\r\nflush_all"])
                .await
        ),
        EncodeError::Token(KeyError::ForbiddenByte {
            byte: b'\r',
            index: 5
        })
    );

    // The server saw nothing: no command, no byte, no connection but our own probe.
    let after = probe.stats();
    assert_eq!(counters(&after), counters(&before));
    let stat =
        |stats: &HashMap<String, String>, name: &str| -> u64 { stats[name].parse().unwrap() };
    assert_eq!(
        stat(&after, "total_connections"),
        stat(&before, "total_connections"),
        "nothing connected"
    );
    // Connections the harness closed before `before` may still be counted there.
    assert!(stat(&after, "curr_connections") <= stat(&before, "curr_connections"));
    assert_eq!(
        stat(&after, "bytes_read"),
        stat(&before, "bytes_read") + b"stats\r\n".len() as u64,
        "the server read nothing but the second stats command"
    );
    let metrics = client.metrics()[0].1;
    assert_eq!(metrics.connections_created, 0, "{metrics:?}");
    assert_eq!(metrics.requests, 0, "{metrics:?}");

    // And a valid request still goes through (the counters above do move).
    client.set("k", "v").await.unwrap();
    assert_eq!(
        server.stat("cmd_set"),
        before["cmd_set"].parse::<u64>().unwrap() + 1
    );
}

/// The key `noreply` is an ordinary key everywhere the server reads it as one.
pub async fn noreply_is_an_ordinary_key<R: Runtime + Default>(suite: Suite) {
    // Retrievals never take a noreply flag, and `delete noreply` deletes that key.
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let ttl = Duration::from_secs(60);
    client.set("noreply", "v").await.unwrap();
    assert_eq!(client.get("noreply").await.unwrap().unwrap().value, "v");
    assert_eq!(client.gets("noreply").await.unwrap().unwrap().value, "v");
    assert_eq!(
        client.gat("noreply", ttl).await.unwrap().unwrap().value,
        "v"
    );
    let many = client.get_many(["a-key", "noreply"]).await.unwrap();
    assert_eq!(many.len(), 1);
    client.delete("noreply").await.unwrap();
    assert!(matches!(
        client.delete("noreply").await,
        Err(Error::NotFound)
    ));
}

/// Keys of any bytes: sent base64-encoded in meta mode, refused in the classic protocol.
pub async fn binary_keys<R: Runtime + Default>(suite: Suite) {
    let server = Memcached::start();
    let client = suite.client::<R>(&server);
    let p = prefix("binary");
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let keys: Vec<Vec<u8>> = vec![
        [p.as_bytes(), b"a b"].concat(),
        [p.as_bytes(), b"\r\nflush_all"].concat(),
        [p.as_bytes(), &all_bytes[..100]].concat(),
        all_bytes[100..].to_vec(),
        // The longest binary key whose base64 form fits the 250-byte limit.
        vec![0; 186],
    ];
    if suite.protocol == Protocol::Text {
        for key in &keys {
            assert!(matches!(
                invalid(client.set(key, "v").await),
                EncodeError::Key(KeyError::ForbiddenByte { .. })
            ));
        }
        return;
    }
    for key in &keys {
        client.set(key, key).await.unwrap();
        assert_eq!(client.get(key).await.unwrap().unwrap().value, &key[..]);
        client.set(key, "7").await.unwrap();
        assert_eq!(client.increment(key, 3).await.unwrap(), 10);
        client.touch(key, Duration::from_secs(60)).await.unwrap();
    }
    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    for key in &keys {
        assert_eq!(found[&key[..]].value, "10");
    }
    let deleted = client.delete_many(&keys).await.unwrap();
    assert!(deleted.values().all(Result::is_ok), "{deleted:?}");
    assert!(client.get_many(&keys).await.unwrap().is_empty());
    // One byte more and the encoded key would pass 250 bytes: refused before sending, with
    // the caller's length and the limit for such keys (not the 252 encoded bytes).
    for len in [MAX_BASE64_KEY_LEN + 1, MAX_BASE64_KEY_LEN + 2] {
        let expected = EncodeError::Key(KeyError::TooLongForBase64 {
            len,
            max: MAX_BASE64_KEY_LEN,
        });
        assert_eq!(invalid(client.set(vec![0; len], "v").await), expected);
        assert_eq!(invalid(client.get(vec![0; len]).await), expected);
    }
    // Whatever its length: a 300-byte binary key is not told about the 250-byte limit.
    assert_eq!(
        invalid(client.get(vec![0; 300]).await),
        EncodeError::Key(KeyError::TooLongForBase64 { len: 300, max: 186 })
    );
}
