//! memproto embedded without the async client, against real memcached servers: the
//! blocking example client over `std::net::TcpStream`, and `MemcacheCodec` in a tokio
//! `Framed`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use memcache_it::Memcached;
use memproto::{
    CodecError, Command, DecodeError, EncodeError, Exptime, KeyError, MemcacheCodec, MetaCommon,
    MetaGet, MetaReply, MetaSet, MetaSetMode, MetaStatus, Reply, Retrieve, RetrieveKind, Store,
    StoreMode,
};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

#[path = "../../crates/memproto/examples/blocking/client.rs"]
mod client;

use client::{Client, Error};

const TIMEOUT: Duration = Duration::from_secs(5);

fn connect(server: &Memcached) -> Client {
    Client::connect(server.addr(), TIMEOUT).expect("connect")
}

fn get<'a>(keys: &'a [&'a [u8]]) -> Command<'a> {
    Command::Retrieve(Retrieve {
        kind: RetrieveKind::Get,
        keys,
    })
}

fn meta(reply: Reply) -> MetaReply {
    match reply.into_meta() {
        Ok(meta) => meta,
        Err(other) => panic!("expected a meta reply, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// The blocking client.

#[test]
fn blocking_set_get_delete_incr() {
    let server = Memcached::start();
    let mut client = connect(&server);

    client.set(b"greeting", b"hello", Exptime::Never).unwrap();
    assert_eq!(
        client.get(b"greeting").unwrap().as_deref(),
        Some(&b"hello"[..])
    );
    // Checked on another connection too: the value really is on the server.
    assert_eq!(
        server.raw("get greeting"),
        ["VALUE greeting 0 5", "hello", "END"]
    );
    assert_eq!(client.get(b"absent").unwrap(), None);

    client.set(b"counter", b"41", Exptime::Never).unwrap();
    assert_eq!(client.incr(b"counter", 1).unwrap(), Some(42));
    assert_eq!(client.incr(b"counter", 8).unwrap(), Some(50));
    assert_eq!(client.incr(b"no-counter", 1).unwrap(), None);

    assert!(client.delete(b"greeting").unwrap());
    assert!(!client.delete(b"greeting").unwrap());
    assert_eq!(client.get(b"greeting").unwrap(), None);
}

#[test]
fn blocking_incr_on_text_is_a_server_error_and_the_connection_goes_on() {
    let server = Memcached::start();
    let mut client = connect(&server);
    client
        .set(b"text", b"not a number", Exptime::Never)
        .unwrap();

    let error = client.incr(b"text", 1).unwrap_err();
    match &error {
        Error::Server(error) => assert_eq!(error.kind, memproto::ServerErrorKind::Client),
        other => panic!("expected CLIENT_ERROR, got {other:?}"),
    }
    assert!(error.connection_usable());
    assert_eq!(
        client.get(b"text").unwrap().as_deref(),
        Some(&b"not a number"[..])
    );
}

#[test]
fn blocking_large_value_round_trips() {
    let server = Memcached::start();
    let mut client = connect(&server);
    // Large enough to arrive over many reads, so the value is read in place.
    let value: Vec<u8> = (0..900_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    client.set(b"large", &value, Exptime::Never).unwrap();
    let back = client.get(b"large").unwrap().expect("large value stored");
    assert_eq!(back.len(), value.len());
    assert!(back[..] == value[..]);
    // The stream is still in step after it.
    assert_eq!(client.get(b"absent").unwrap(), None);
}

#[test]
fn blocking_pipeline_returns_replies_in_request_order() {
    let server = Memcached::start();
    let mut client = connect(&server);
    let quiet_store = Store {
        noreply: true,
        ..Store::new(StoreMode::Set, b"c", b"3")
    };
    let keys: &[&[u8]] = &[b"a", b"b", b"c"];
    let replies = client
        .pipeline(&[
            Command::Store(Store::new(StoreMode::Set, b"a", b"1")),
            Command::Store(Store::new(StoreMode::Add, b"a", b"again")),
            // No reply, so no entry in the result.
            Command::Store(quiet_store),
            get(keys),
            Command::Delete {
                key: b"b",
                noreply: false,
            },
        ])
        .unwrap();

    assert_eq!(replies.len(), 4, "{replies:?}");
    assert_eq!(replies[0], Reply::Stored);
    assert_eq!(replies[1], Reply::NotStored);
    let Reply::Values(items) = &replies[2] else {
        panic!("expected values, got {:?}", replies[2]);
    };
    let found: Vec<(&[u8], &[u8])> = items
        .iter()
        .map(|item| (&item.key[..], &item.value[..]))
        .collect();
    assert_eq!(found, [(&b"a"[..], &b"1"[..]), (&b"c"[..], &b"3"[..])]);
    assert_eq!(replies[3], Reply::NotFound);
}

#[test]
fn blocking_quiet_batch_returns_only_failures_with_their_index() {
    let server = Memcached::start();
    let mut client = connect(&server);
    client.set(b"present", b"old", Exptime::Never).unwrap();

    let sets = [
        MetaSet {
            key: b"q0",
            value: b"zero",
            ..MetaSet::default()
        },
        // Fails: an add on a present key.
        MetaSet {
            key: b"present",
            value: b"new",
            mode: MetaSetMode::Add,
            ..MetaSet::default()
        },
        // Fails: a replace on a missing key.
        MetaSet {
            key: b"missing",
            value: b"new",
            mode: MetaSetMode::Replace,
            ..MetaSet::default()
        },
        MetaSet {
            key: b"q3",
            value: b"three",
            ..MetaSet::default()
        },
    ];
    let failures = client.set_quiet(&sets).unwrap();

    let summary: Vec<(usize, MetaStatus, Option<Bytes>)> = failures
        .into_iter()
        .map(|(index, reply)| (index, reply.status, reply.flags.opaque))
        .collect();
    assert_eq!(
        summary,
        [
            (1, MetaStatus::Ns, Some(Bytes::from_static(b"1"))),
            (2, MetaStatus::Ns, Some(Bytes::from_static(b"2"))),
        ]
    );
    assert_eq!(client.get(b"q0").unwrap().as_deref(), Some(&b"zero"[..]));
    assert_eq!(
        client.get(b"present").unwrap().as_deref(),
        Some(&b"old"[..])
    );
    assert_eq!(client.get(b"missing").unwrap(), None);
    assert_eq!(client.get(b"q3").unwrap().as_deref(), Some(&b"three"[..]));
}

#[test]
fn blocking_bad_key_is_refused_before_anything_is_written() {
    let server = Memcached::start();
    let mut client = connect(&server);
    let before = server.stats("");

    // Written, `get two words` would be a get of two keys, counted by the server.
    let error = client.get(b"two words").unwrap_err();
    assert!(
        matches!(
            error,
            Error::Encode(EncodeError::Key(KeyError::ForbiddenByte {
                byte: b' ',
                index: 3
            }))
        ),
        "{error:?}"
    );
    assert!(error.connection_usable());

    // One bad request refuses its whole batch: the valid set before it is not sent either.
    let error = client
        .pipeline(&[
            Command::Store(Store::new(StoreMode::Set, b"sent-first", b"1")),
            Command::Store(Store::new(StoreMode::Set, b"bad\r\nflush_all", b"2")),
        ])
        .unwrap_err();
    assert!(
        matches!(error, Error::Encode(EncodeError::Key(_))),
        "{error:?}"
    );

    // Any bytes written before would be processed before this get on the same connection.
    assert_eq!(client.get(b"sent-first").unwrap(), None);
    let after = server.stats("");
    let delta = |name: &str| -> u64 {
        after[name].parse::<u64>().unwrap() - before[name].parse::<u64>().unwrap()
    };
    assert_eq!(delta("cmd_get"), 1);
    assert_eq!(delta("get_misses"), 1);
    assert_eq!(delta("cmd_set"), 0);
}

#[test]
fn blocking_end_of_stream_is_a_typed_error_and_breaks_the_connection() {
    let server = Memcached::start();
    let mut client = connect(&server);
    // The server closes the connection at `quit`, before reading the get behind it.
    let keys: &[&[u8]] = &[b"k"];
    let error = client.pipeline(&[Command::Quit, get(keys)]).unwrap_err();
    assert!(matches!(error, Error::Closed { pending: 1 }), "{error:?}");
    assert!(!error.connection_usable());
    assert!(matches!(client.get(b"k"), Err(Error::Broken)));
}

#[test]
fn blocking_timeout_breaks_the_connection() {
    let server = Memcached::start();
    let mut client = Client::connect(server.addr(), Duration::from_millis(200)).unwrap();
    client.set(b"k", b"v", Exptime::Never).unwrap();

    server.stop();
    let result = client.get(b"k");
    server.cont();
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    // The late reply would be read as the next request's: the connection is done.
    assert!(matches!(client.get(b"k"), Err(Error::Broken)));
}

#[test]
fn blocking_decode_error_makes_the_connection_unusable() {
    // A server that answers a get with a storage reply. Real memcached never does, so it
    // is played by a listener that records what it receives.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut received = Vec::new();
        reader.read_until(b'\n', &mut received).unwrap();
        (&stream).write_all(b"STORED\r\n").unwrap();
        // Everything else the client sends, up to its close.
        reader.read_to_end(&mut received).unwrap();
        received
    });

    let mut client = Client::connect(addr, TIMEOUT).unwrap();
    let error = client.get(b"k").unwrap_err();
    assert!(
        matches!(error, Error::Decode(DecodeError::UnexpectedReply { .. })),
        "{error:?}"
    );
    assert!(!error.connection_usable());
    assert!(matches!(client.get(b"k"), Err(Error::Broken)));
    assert!(matches!(client.delete(b"k"), Err(Error::Broken)));
    drop(client);

    assert_eq!(fake.join().unwrap(), b"get k\r\n");
}

// ---------------------------------------------------------------------------------------
// The codec in a tokio `Framed`.

async fn framed(server: &Memcached) -> Framed<TcpStream, MemcacheCodec> {
    let stream = TcpStream::connect(server.addr()).await.expect("connect");
    Framed::new(stream, MemcacheCodec::new())
}

async fn next_reply(conn: &mut Framed<TcpStream, MemcacheCodec>) -> Reply {
    conn.next()
        .await
        .expect("stream ended early")
        .expect("reply")
}

#[tokio::test]
async fn codec_send_then_next() {
    let server = Memcached::start();
    let mut conn = framed(&server).await;

    let store = Store {
        flags: 7,
        ..Store::new(StoreMode::Set, b"greeting", b"hello")
    };
    conn.send(Command::Store(store)).await.unwrap();
    assert_eq!(next_reply(&mut conn).await, Reply::Stored);

    let keys: &[&[u8]] = &[b"greeting"];
    // The same request twice: a clone copies only the slices.
    let fetch = get(keys);
    for _ in 0..2 {
        conn.send(fetch.clone()).await.unwrap();
        match next_reply(&mut conn).await {
            Reply::Values(items) => {
                assert_eq!(items.len(), 1);
                assert_eq!(&items[0].key[..], b"greeting");
                assert_eq!(&items[0].value[..], b"hello");
                assert_eq!(items[0].flags, 7);
            }
            other => panic!("expected the value, got {other:?}"),
        }
    }

    // A miss is an empty list of values, not an error.
    let keys: &[&[u8]] = &[b"absent"];
    conn.send(get(keys)).await.unwrap();
    match next_reply(&mut conn).await {
        Reply::Values(items) => assert!(items.is_empty(), "{items:?}"),
        other => panic!("expected a miss, got {other:?}"),
    }
    assert_eq!(conn.codec().pending(), 0);
}

#[tokio::test]
async fn codec_pipelined_feed_and_flush() {
    let server = Memcached::start();
    let mut conn = framed(&server).await;
    conn.feed(Command::Store(Store::new(StoreMode::Set, b"n", b"10")))
        .await
        .unwrap();
    conn.feed(Command::Arith {
        op: memproto::ArithOp::Incr,
        key: b"n",
        delta: 5,
        noreply: false,
    })
    .await
    .unwrap();
    conn.feed(Command::Delete {
        key: b"n",
        noreply: false,
    })
    .await
    .unwrap();
    conn.feed(Command::Delete {
        key: b"n",
        noreply: false,
    })
    .await
    .unwrap();
    assert_eq!(conn.codec().pending(), 4);
    conn.flush().await.unwrap();

    let mut replies = Vec::new();
    for _ in 0..4 {
        replies.push(next_reply(&mut conn).await);
    }
    assert_eq!(
        replies,
        [
            Reply::Stored,
            Reply::Number(15),
            Reply::Deleted,
            Reply::NotFound
        ]
    );
}

#[tokio::test]
async fn codec_quiet_batch_pairs_each_reply_with_its_opaque() {
    let server = Memcached::start();
    let mut conn = framed(&server).await;
    let quiet = |opaque: &'static [u8]| MetaCommon {
        opaque: Some(opaque),
        quiet: true,
        ..MetaCommon::default()
    };

    let requests = [
        // Succeeds: silent.
        Command::MetaSet(MetaSet {
            key: b"k0",
            value: b"v0",
            common: quiet(b"0"),
            ..MetaSet::default()
        }),
        // Fails (add on a present key): answered.
        Command::MetaSet(MetaSet {
            key: b"k0",
            value: b"other",
            common: quiet(b"1"),
            mode: MetaSetMode::Add,
            ..MetaSet::default()
        }),
        // A hit: answered, with the value.
        Command::MetaGet(MetaGet {
            key: b"k0",
            common: quiet(b"2"),
            return_value: true,
            ..MetaGet::default()
        }),
        // A miss: silent.
        Command::MetaGet(MetaGet {
            key: b"absent",
            common: quiet(b"3"),
            return_value: true,
            ..MetaGet::default()
        }),
        Command::MetaNoop,
    ];
    for request in requests.iter().cloned() {
        conn.feed(request).await.unwrap();
    }
    conn.flush().await.unwrap();

    let mut replies = Vec::new();
    for _ in &requests {
        replies.push(meta(next_reply(&mut conn).await));
    }
    let summary: Vec<_> = replies
        .iter()
        .map(|reply| {
            (
                reply.status,
                reply.flags.opaque.as_deref(),
                reply.value.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (MetaStatus::Quiet, None, None),
            (MetaStatus::Ns, Some(&b"1"[..]), None),
            (MetaStatus::Va, Some(&b"2"[..]), Some(&b"v0"[..])),
            (MetaStatus::Quiet, None, None),
            (MetaStatus::Mn, None, None),
        ]
    );
    assert_eq!(conn.codec().pending(), 0);
}

#[tokio::test]
async fn codec_refuses_a_bad_key_before_writing() {
    let server = Memcached::start();
    let mut conn = framed(&server).await;

    let bad = Command::Store(Store::new(StoreMode::Set, b"k\r\nflush_all", b"v"));
    let error = conn.send(bad).await.unwrap_err();
    assert!(
        matches!(
            error,
            CodecError::Encode(EncodeError::Key(KeyError::ForbiddenByte {
                byte: b'\r',
                ..
            }))
        ),
        "{error:?}"
    );
    assert!(error.is_connection_usable());
    assert!(conn.write_buffer().is_empty());
    assert_eq!(conn.codec().pending(), 0);

    let quiet_without_opaque = Command::MetaDelete(memproto::MetaDelete {
        key: b"k",
        common: MetaCommon {
            quiet: true,
            ..MetaCommon::default()
        },
        ..memproto::MetaDelete::default()
    });
    let error = conn.send(quiet_without_opaque).await.unwrap_err();
    assert!(
        matches!(error, CodecError::Encode(EncodeError::QuietWithoutOpaque)),
        "{error:?}"
    );

    // Still in step: the next reply is this request's.
    conn.send(Command::Version).await.unwrap();
    match next_reply(&mut conn).await {
        Reply::Version(version) => assert!(!version.is_empty()),
        other => panic!("expected the version, got {other:?}"),
    }
    assert_eq!(server.stat("cmd_flush"), 0);
}

#[tokio::test]
async fn codec_end_of_stream_with_a_reply_due_is_an_error() {
    let server = Memcached::start();
    let mut conn = framed(&server).await;
    let keys: &[&[u8]] = &[b"k"];
    conn.feed(Command::Quit).await.unwrap();
    conn.feed(get(keys)).await.unwrap();
    conn.flush().await.unwrap();

    let error = conn
        .next()
        .await
        .expect("an error, not the end")
        .unwrap_err();
    assert!(
        matches!(error, CodecError::Closed { pending: 1 }),
        "{error:?}"
    );
    assert!(!error.is_connection_usable());
}

#[tokio::test]
async fn codec_end_of_stream_with_nothing_due_ends_the_stream() {
    let server = Memcached::start();
    let mut conn = framed(&server).await;
    conn.send(Command::Quit).await.unwrap();
    assert!(conn.next().await.is_none());
}

#[tokio::test]
async fn codec_reply_to_a_request_written_around_it_is_refused() {
    let server = Memcached::start();
    // A request written straight to the socket: the codec never saw it.
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.write_all(b"version\r\n").unwrap();
    stream.set_nonblocking(true).unwrap();
    let mut conn = Framed::new(TcpStream::from_std(stream).unwrap(), MemcacheCodec::new());

    let error = conn.next().await.expect("an error").unwrap_err();
    assert!(
        matches!(error, CodecError::Decode(DecodeError::Unsolicited(_))),
        "{error:?}"
    );
    assert!(conn.codec().is_failed());
}
