use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::testing::store::Peeked;

/// A store and one connection to it, driven at a fixed instant unless told otherwise.
struct Conn {
    store: Store,
    session: Session,
    now: Instant,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            store: Store::new(),
            session: Session::default(),
            now: Instant::now(),
        }
    }

    /// Another connection to the same store.
    fn reconnect(&mut self) {
        self.session = Session::default();
    }

    /// Serves `input` in one piece and returns the replies; the input must be used up.
    fn send(&mut self, input: &[u8]) -> String {
        let (output, step, rest) = self.feed(&[input]);
        assert_eq!(step, Step::Continue, "closed on {input:?}");
        assert!(rest.is_empty(), "left {rest:?} of {input:?}");
        output
    }

    /// Serves `pieces` one after another, as separate reads, and returns the replies, the
    /// last step and what input was left.
    fn feed(&mut self, pieces: &[&[u8]]) -> (String, Step, BytesMut) {
        let mut input = BytesMut::new();
        let mut output = BytesMut::new();
        let mut step = Step::Continue;
        for piece in pieces {
            input.extend_from_slice(piece);
            step = serve(
                &mut self.store,
                &mut self.session,
                self.now,
                &mut input,
                &mut output,
            );
            if step == Step::Close {
                break;
            }
        }
        let output = String::from_utf8_lossy(&output).into_owned();
        (output, step, input)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[test]
fn classic_storage_and_retrieval() {
    let mut c = Conn::new();
    assert_eq!(
        c.send(b"set a 5 0 3\r\nabc\r\nget a missing a\r\n"),
        "STORED\r\nVALUE a 5 3\r\nabc\r\nVALUE a 5 3\r\nabc\r\nEND\r\n"
    );
    assert_eq!(c.send(b"gets a\r\n"), "VALUE a 5 3 1\r\nabc\r\nEND\r\n");
    assert_eq!(
        c.send(b"add a 0 0 1\r\nx\r\nadd b 0 0 1\r\nb\r\nreplace c 0 0 1\r\nc\r\n"),
        "NOT_STORED\r\nSTORED\r\nNOT_STORED\r\n"
    );
    assert_eq!(
        c.send(b"append a 9 0 2\r\nde\r\nprepend a 0 0 1\r\n_\r\nget a\r\n"),
        "STORED\r\nSTORED\r\nVALUE a 5 6\r\n_abcde\r\nEND\r\n"
    );
    assert_eq!(
        c.send(b"append none 0 0 1\r\nx\r\nset e 0 0 0\r\n\r\nget e\r\n"),
        "NOT_STORED\r\nSTORED\r\nVALUE e 0 0\r\n\r\nEND\r\n"
    );
    assert_eq!(
        c.send(b"delete a\r\ndelete a\r\n"),
        "DELETED\r\nNOT_FOUND\r\n"
    );
    assert_eq!(
        c.send(b"delete b 0\r\ndelete e 0 noreply\r\ndelete x 1\r\n"),
        "DELETED\r\nCLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
    );
}

#[test]
fn cas_conflicts_and_the_global_counter() {
    let mut c = Conn::new();
    c.send(b"set k 0 0 1\r\na\r\n");
    assert_eq!(c.store.peek(b"k", c.now).map(|p| p.cas), Some(1));
    assert_eq!(
        c.send(b"cas k 0 0 1 2\r\nb\r\ncas k 0 0 1 0\r\nb\r\ncas k 0 0 1 1\r\nb\r\n"),
        "EXISTS\r\nEXISTS\r\nSTORED\r\n"
    );
    assert_eq!(c.send(b"cas nope 0 0 1 1\r\nb\r\n"), "NOT_FOUND\r\n");
    assert_eq!(c.send(b"gets k\r\n"), "VALUE k 0 1 2\r\nb\r\nEND\r\n");
    // Every mutation draws the next unique, whatever the key; touching does not.
    c.send(b"set other 0 0 1\r\n1\r\nincr other 1\r\ntouch k 100\r\n");
    assert_eq!(c.store.peek(b"other", c.now).map(|p| p.cas), Some(4));
    assert_eq!(c.store.peek(b"k", c.now).map(|p| p.cas), Some(2));
    assert_eq!(
        c.send(b"ms k 1 C2 c\r\nz\r\nms k 1 C2 c\r\nz\r\n"),
        "HD c5\r\nEX c0\r\n"
    );
    assert_eq!(
        c.send(b"ms k 1 E77 c\r\ny\r\nmg k c v\r\n"),
        "HD c77\r\nVA 1 c77\r\ny\r\n"
    );
}

#[test]
fn incr_and_decr() {
    let mut c = Conn::new();
    c.send(b"set n 0 0 3\r\n100\r\n");
    // Shorter results are padded in place, as memcached does.
    assert_eq!(
        c.send(b"decr n 95\r\nget n\r\n"),
        "5\r\nVALUE n 0 3\r\n5  \r\nEND\r\n"
    );
    assert_eq!(
        c.send(b"incr n 99999\r\nget n\r\n"),
        "100004\r\nVALUE n 0 6\r\n100004\r\nEND\r\n"
    );
    assert_eq!(c.send(b"decr n 1000000\r\n"), "0\r\n");
    c.send(b"set w 0 0 20\r\n18446744073709551615\r\n");
    assert_eq!(c.send(b"incr w 2\r\n"), "1\r\n");
    c.send(b"set s 0 0 2\r\nab\r\n");
    assert_eq!(
        c.send(b"incr s 1\r\nincr s -1\r\nincr none 1\r\n"),
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n\
         CLIENT_ERROR invalid numeric delta argument\r\nNOT_FOUND\r\n"
    );
}

#[test]
fn ttl_expiry_follows_the_advanced_clock() {
    let mut c = Conn::new();
    c.send(b"set t 0 10 1\r\nx\r\nset forever 0 0 1\r\nx\r\nset gone 0 -1 1\r\nx\r\n");
    assert_eq!(c.send(b"get gone\r\n"), "END\r\n");
    let ttl = c.store.peek(b"t", c.now).and_then(|p| p.ttl);
    assert_eq!(ttl, Some(Duration::from_secs(10)));
    c.store.advance(Duration::from_secs(9));
    assert_eq!(c.send(b"mg t t v\r\n"), "VA 1 t1\r\nx\r\n");
    c.store.advance(Duration::from_secs(1));
    assert_eq!(c.send(b"get t\r\n"), "END\r\n");
    assert_eq!(c.store.len(c.now), 1);
    assert_eq!(c.send(b"mg forever t\r\n"), "HD t-1\r\n");

    // An absolute unix time, and the touches that move it.
    let mut c = Conn::new();
    let at = unix_now() + 100;
    c.send(format!("set abs 0 {at} 1\r\nx\r\n").as_bytes());
    let left = c.store.peek(b"abs", c.now).and_then(|p| p.ttl);
    assert!(
        left.is_some_and(|left| left > Duration::from_secs(98)),
        "{left:?}"
    );
    assert_eq!(
        c.send(b"touch abs 1000\r\ngat 2000 abs\r\n").lines().next(),
        Some("TOUCHED")
    );
    assert_eq!(
        c.send(b"mg abs t T5\r\nmg abs t\r\n"),
        "HD t2000\r\nHD t5\r\n"
    );
    c.store.advance(Duration::from_secs(5));
    assert_eq!(c.send(b"touch abs 10\r\n"), "NOT_FOUND\r\n");
}

#[test]
fn delayed_flush_spares_items_stored_after_it() {
    let mut c = Conn::new();
    c.send(b"set old 0 0 1\r\nx\r\n");
    assert_eq!(c.send(b"flush_all 10\r\n"), "OK\r\n");
    assert_eq!(c.store.len(c.now), 1);
    c.store.advance(Duration::from_secs(10));
    assert_eq!(c.store.peek(b"old", c.now), None);
    c.send(b"set new 0 0 1\r\ny\r\n");
    assert_eq!(c.send(b"get old new\r\n"), "VALUE new 0 1\r\ny\r\nEND\r\n");
    assert_eq!(c.send(b"flush_all\r\nget new\r\n"), "OK\r\nEND\r\n");
}

#[test]
fn lease_flow() {
    let mut c = Conn::new();
    // A miss with N creates an empty item: the first caller wins, later ones see Z.
    assert_eq!(c.send(b"mg l N30 v t\r\n"), "VA 0 t30 W\r\n\r\n");
    assert_eq!(c.send(b"mg l N30 v t\r\n"), "VA 0 t30 Z\r\n\r\n");
    assert_eq!(
        c.send(b"ms l 3 T100\r\nnew\r\nmg l N30 v\r\n"),
        "HD\r\nVA 3\r\nnew\r\n"
    );
    // R wins once the TTL drops below the threshold.
    assert_eq!(c.send(b"mg l R30 t\r\n"), "HD t100\r\n");
    c.store.advance(Duration::from_secs(71));
    assert_eq!(
        c.send(b"mg l R30 t\r\nmg l R30 t\r\n"),
        "HD t29 W\r\nHD t29 Z\r\n"
    );
    // Invalidation marks it stale and lets one caller win again.
    assert_eq!(c.send(b"md l I T30 q\r\nmn\r\n"), "MN\r\n");
    assert_eq!(
        c.send(b"mg l v t\r\nmg l v t\r\n"),
        "VA 3 t30 X W\r\nnew\r\nVA 3 t30 Z X\r\nnew\r\n"
    );
    // A set with an older CAS under I stores, still stale and already won.
    assert_eq!(
        c.send(b"ms l 4 C1 I\r\nnewr\r\nmg l v\r\n"),
        "HD\r\nVA 4 Z X\r\nnewr\r\n"
    );
    assert_eq!(
        c.send(b"ms l 3\r\nnew\r\nmg l v\r\n"),
        "HD\r\nVA 3\r\nnew\r\n"
    );
}

#[test]
fn quiet_mode_hides_only_the_nominal_replies() {
    let mut c = Conn::new();
    let replies = c.send(
        b"mg a v q O1\r\nms a 1 q O2\r\nx\r\nms a 1 q ME O3\r\ny\r\nmg a v q O4\r\n\
          md b q O5\r\nma a q O6\r\nma c q O7\r\nma c q N0 O8\r\nma c q O9\r\nmd c q O10\r\nmn\r\n",
    );
    assert_eq!(
        replies,
        "NS O3\r\nVA 1 O4\r\nx\r\nNF O5\r\n\
         CLIENT_ERROR cannot increment or decrement non-numeric value\r\nNF O7\r\nHD O8\r\nMN\r\n"
    );
}

#[test]
fn meta_return_flags_follow_the_request_order() {
    let mut c = Conn::new();
    c.send(b"ms k 2 F7 T100\r\nab\r\n");
    assert_eq!(
        c.send(b"ms Zm9v 2 F7 T100 b k c\r\nab\r\n"),
        "HD kZm9v b c2\r\n"
    );
    assert_eq!(
        c.send(b"mg k Oop f s t c k v\r\n"),
        "VA 2 Oop f7 s2 t100 c1 kk\r\nab\r\n"
    );
    assert_eq!(
        c.send(b"ms h 1\r\nx\r\nmg h h l u\r\nmg h h\r\nmg h h\r\n"),
        "HD\r\nHD h0 l0\r\nHD h0\r\nHD h1\r\n"
    );
    assert_eq!(
        c.send(b"mg aw== b k\r\nmg Zm9v b k\r\nmg emF6 b k O1\r\n"),
        "HD kk\r\nHD kZm9v b\r\nEN kemF6 b O1\r\n"
    );
    assert_eq!(
        c.send(b"me k\r\nme no\r\n"),
        "ME k exp=-100 la=0 cas=1 fetch=yes cls=1 size=66\r\nEN\r\n"
    );
}

#[test]
fn meta_set_modes_and_meta_delete() {
    let mut c = Conn::new();
    assert_eq!(
        c.send(
            b"ms m 1 MR\r\nx\r\nms m 1 ME\r\na\r\nms m 1 MA\r\nb\r\nms m 1 MP\r\nc\r\nmg m v\r\n"
        ),
        "NS\r\nHD\r\nHD\r\nHD\r\nVA 3\r\ncab\r\n"
    );
    // Append with N creates a missing item (newer memcached; 1.6.18 ignores N).
    assert_eq!(
        c.send(b"ms v 2 MA N50\r\nhi\r\nmg v v t\r\n"),
        "HD\r\nVA 2 t50\r\nhi\r\n"
    );
    assert_eq!(
        c.send(b"ms m 1 MZ\r\nx\r\nms m 1 Mzz\r\nx\r\n"),
        "CLIENT_ERROR invalid mode for ms M token\r\nCLIENT_ERROR incorrect length for M token\r\n"
    );
    assert_eq!(
        c.send(b"md m C99 k\r\nmd m k\r\nmd m\r\n"),
        "EX km\r\nHD km\r\nNF\r\n"
    );
    // x keeps the item and its CAS, without its value.
    c.send(b"ms x 3 F4\r\nabc\r\n");
    let cas = c.store.peek(b"x", c.now).map(|p| p.cas);
    assert_eq!(c.send(b"md x x\r\nmg x v f\r\n"), "HD\r\nVA 0 f0\r\n\r\n");
    assert_eq!(c.store.peek(b"x", c.now).map(|p| p.cas), cas);
}

#[test]
fn meta_arithmetic() {
    let mut c = Conn::new();
    assert_eq!(
        c.send(b"ma n\r\nma n N0 J10 v t\r\nma n v\r\nma n MD D20 v\r\nma n M+ D5 T50 t v c\r\n"),
        "NF\r\nVA 2 t-1\r\n10\r\nVA 2\r\n11\r\nVA 1\r\n0\r\nVA 1 t50 c4\r\n5\r\n"
    );
    assert_eq!(
        c.send(b"ma n C1\r\nma n MX\r\nma n Dx\r\n"),
        "EX\r\nCLIENT_ERROR invalid mode for ma M token\r\nCLIENT_ERROR invalid or duplicate flag\r\n"
    );
}

#[test]
fn errors_and_resynchronisation() {
    let mut c = Conn::new();
    // A bad data chunk: what follows the announced length is read as commands.
    assert_eq!(
        c.send(b"set k 0 0 3\r\nabcd\r\nget k\r\n"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"
    );
    // A line memcached cannot parse leaves its data block to be read as a command.
    assert_eq!(
        c.send(b"set k abc 0 1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    // A refused ms swallows its block.
    assert_eq!(
        c.send(b"ms k 1 Z\r\nx\r\nmn\r\n"),
        "CLIENT_ERROR invalid flag\r\nMN\r\n"
    );
    let long_key = "k".repeat(251);
    assert_eq!(
        c.send(format!("get a {long_key}\r\nmg {long_key} v\r\n").as_bytes()),
        "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(
        c.send(b"\r\n\nfoo\r\nmx\r\nget\r\nverbosity\r\nversion\r\n"),
        "ERROR\r\nERROR\r\nERROR\r\nERROR\r\nERROR\r\nERROR\r\nVERSION 1.6.18-memory\r\n"
    );
}

#[test]
fn values_over_the_item_size_limit_are_swallowed() {
    let mut c = Conn::new();
    c.store.set_item_size_max(1024);
    // 1024 less the 59 bytes memcached adds to the key and value.
    let fits = 1024 - 59 - 1;
    let value = "v".repeat(fits + 1);
    c.send(format!("set k 0 0 {fits}\r\n{}\r\n", &value[..fits]).as_bytes());
    assert_eq!(c.store.len(c.now), 1);
    // The refusal is immediate; the block is discarded as it arrives; the old value goes.
    let line = format!("set k 0 0 {}\r\n", fits + 1);
    let (head, tail) = value.as_bytes().split_at(500);
    let (replies, step, rest) = c.feed(&[line.as_bytes(), head, tail, b"\r\nget k\r\n"]);
    assert_eq!(
        (replies.as_str(), step, rest.len()),
        (
            "SERVER_ERROR object too large for cache\r\nEND\r\n",
            Step::Continue,
            0
        )
    );
    assert_eq!(
        c.send(format!("ms k {} T0\r\n{value}\r\nmn\r\n", fits + 1).as_bytes()),
        "SERVER_ERROR object too large for cache\r\nMN\r\n"
    );
}

#[test]
fn the_connection_closes_where_memcached_closes_it() {
    let mut c = Conn::new();
    let (replies, step, _) = c.feed(&[b"set k 0 0 1\r\nx\r\nquit\r\nget k\r\n"]);
    assert_eq!((replies.as_str(), step), ("STORED\r\n", Step::Close));
    c.reconnect();
    let (replies, step, _) = c.feed(&[b"GET / HTTP/1.1\r\n"]);
    assert_eq!((replies.as_str(), step), ("", Step::Close));
    c.reconnect();
    let (_, step, _) = c.feed(&[&[b'x'; 2048], b"x"]);
    assert_eq!(step, Step::Close);
    // Multigets may be longer.
    c.reconnect();
    let keys = "key ".repeat(1000);
    let (replies, step, _) = c.feed(&[format!("get {keys}").as_bytes(), b"\r\n"]);
    assert_eq!((replies.as_str(), step), ("END\r\n", Step::Continue));
}

#[test]
fn authentication() {
    let mut c = Conn::new();
    c.store
        .set_credentials(Some(("user".to_owned(), "secret".to_owned())));
    assert_eq!(c.send(b"get a\r\n"), "CLIENT_ERROR unauthenticated\r\n");
    assert_eq!(
        c.send(b"set a 0 0 10\r\nuser wrong\r\n"),
        "CLIENT_ERROR authentication failure\r\n"
    );
    assert_eq!(
        c.send(b"set a 0 0 4\r\nuser\r\nset a 0 0 2\r\nabcd\r\n"),
        "CLIENT_ERROR bad authentication token format\r\n\
         CLIENT_ERROR bad command line termination\r\nCLIENT_ERROR unauthenticated\r\n"
    );
    let (replies, _, _) = c.feed(&[b"set a 0 0 11\r\nuse", b"r secret\r", b"\nget a\r\n"]);
    assert_eq!(replies, "STORED\r\nEND\r\n");
    c.reconnect();
    assert_eq!(c.send(b"mn\r\n"), "CLIENT_ERROR unauthenticated\r\n");
}

#[test]
fn store_accessors() {
    let mut c = Conn::new();
    c.send(b"set a 3 100 2\r\nhi\r\nset b 0 0 1\r\nx\r\n");
    assert_eq!(c.store.commands(), 2);
    let peeked = c.store.peek(b"a", c.now);
    assert_eq!(
        peeked,
        Some(Peeked {
            value: "hi".into(),
            flags: 3,
            ttl: Some(Duration::from_secs(100)),
            cas: 1
        })
    );
    // Peeking is no access.
    assert_eq!(c.send(b"mg a h\r\n"), "HD h0\r\n");
    assert!(c.store.remove(b"a"));
    assert!(!c.store.remove(b"a"));
    assert_eq!(c.store.len(c.now), 1);
    c.store.flush();
    assert_eq!(c.store.len(c.now), 0);
    assert_eq!(c.store.commands(), 3);
}

/// Scripts that exercise most paths, each in one piece.
fn sample_scripts() -> Vec<Vec<u8>> {
    scripts()
        .into_iter()
        .filter(|script| script.len() < 4096)
        .map(|script| script.chunks.concat())
        .collect()
}

/// `replies` with the wall clock's second (`STAT time`) left out: two runs of one script
/// may straddle a second.
fn without_wall_clock(replies: &str) -> String {
    replies
        .split_inclusive("\r\n")
        .filter(|line| !line.starts_with("STAT time "))
        .collect()
}

#[test]
fn any_split_of_the_input_gives_the_same_replies() {
    for script in sample_scripts() {
        let whole = Conn::new().feed(&[&script]);
        let whole = (without_wall_clock(&whole.0), whole.1);
        for at in 1..script.len() {
            let (head, tail) = script.split_at(at);
            let split = Conn::new().feed(&[head, tail]);
            assert_eq!(
                (&without_wall_clock(&split.0), &split.1),
                (&whole.0, &whole.1),
                "split at {at} of {:?}",
                String::from_utf8_lossy(&script)
            );
        }
        let pieces: Vec<&[u8]> = script.chunks(1).collect();
        let bytewise = Conn::new().feed(&pieces);
        assert_eq!(
            (&without_wall_clock(&bytewise.0), &bytewise.1),
            (&whole.0, &whole.1)
        );
    }
}

/// Input for the property tests: mostly protocol words, so that the commands get past
/// their first checks, with arbitrary bytes mixed in.
fn protocol_input() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![
        Just(b"get ".to_vec()),
        Just(b"gets ".to_vec()),
        Just(b"gat 10 ".to_vec()),
        Just(b"set k 0 0 2\r\n".to_vec()),
        Just(b"append k 0 0 1 noreply\r\n".to_vec()),
        Just(b"cas k 0 0 1 1\r\n".to_vec()),
        Just(b"incr k 5\r\n".to_vec()),
        Just(b"decr k 5\r\n".to_vec()),
        Just(b"delete k\r\n".to_vec()),
        Just(b"touch k -1\r\n".to_vec()),
        Just(b"flush_all 0\r\n".to_vec()),
        Just(b"stats\r\n".to_vec()),
        Just(b"mg k ".to_vec()),
        Just(b"ms k 2 ".to_vec()),
        Just(b"md k ".to_vec()),
        Just(b"ma k ".to_vec()),
        Just(b"me k\r\n".to_vec()),
        Just(b"mn\r\n".to_vec()),
        Just(b"v c f h k l s t u q I x b ".to_vec()),
        Just(b"N30 T-1 R20 C1 E9 F3 MA ME MD O1 J4 D2 ".to_vec()),
        Just(b"Zm9v ".to_vec()),
        Just(b"12\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(word, 0..24).prop_map(|words| words.concat())
}

proptest! {
    #[test]
    fn garbage_never_panics_and_splits_do_not_matter(
        input in protocol_input(),
        at in any::<prop::sample::Index>(),
        auth in any::<bool>(),
    ) {
        let conn = || {
            let mut c = Conn::new();
            if auth {
                c.store.set_credentials(Some(("u".into(), "p".into())));
            }
            c
        };
        let whole = conn().feed(&[&input]);
        let (head, tail) = input.split_at(at.index(input.len() + 1));
        let split = conn().feed(&[head, tail]);
        prop_assert_eq!(
            (without_wall_clock(&split.0), &split.1),
            (without_wall_clock(&whole.0), &whole.1)
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        Conn::new().feed(&[&input]);
    }
}

/// One exchange of a differential script: bytes sent together, and whether the server
/// is expected to hang up on them (then nothing follows them to mark the end of the
/// replies).
struct Script {
    name: String,
    chunks: Vec<Vec<u8>>,
    closes: bool,
}

impl Script {
    fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }
}

/// A script sent in one piece.
fn one(name: &str, text: &[u8]) -> Script {
    steps(name, &[text])
}

/// A script sent in several exchanges; `{cas}` in one is replaced with the last CAS
/// unique the server returned before it.
fn steps(name: &str, chunks: &[&[u8]]) -> Script {
    Script {
        name: name.to_owned(),
        chunks: chunks.iter().map(|chunk| chunk.to_vec()).collect(),
        closes: false,
    }
}

fn closing(name: &str, text: &[u8]) -> Script {
    Script {
        closes: true,
        ..one(name, text)
    }
}

/// The scripts run against both servers.
fn scripts() -> Vec<Script> {
    let long = "k".repeat(251);
    let key250 = "k".repeat(250);
    let opaque32 = format!("O{}", "o".repeat(31));
    let opaque33 = format!("O{}", "o".repeat(32));
    let many_flags = "v c f h k l s t u q O1 P L b N1 T1 R1 M";
    let big = |len: usize| {
        let mut script = format!("set big 0 0 {len}\r\n").into_bytes();
        script.resize(script.len() + len, b'v');
        script.extend_from_slice(b"\r\nmg big s\r\n");
        script
    };
    let mut scripts = vec![
        one(
            "storage",
            b"set a 0 0 1\r\nx\r\nset b 42 0 3\r\nabc\r\nget a b c\r\ngets a\r\nget a a\r\n\
              bget b\r\nget  a   b \r\n",
        ),
        one(
            "add replace append prepend",
            b"add a 0 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\nreplace z 0 0 1\r\nz\r\n\
              replace a 5 0 2\r\nyy\r\nappend a 9 0 2\r\nzz\r\nprepend a 0 0 2\r\nww\r\n\
              get a\r\nappend nope 0 0 1\r\nx\r\nprepend nope 0 0 1\r\nx\r\nset e 0 0 0\r\n\r\n\
              append e 0 0 0\r\n\r\nget e\r\n",
        ),
        steps(
            "cas",
            &[
                b"set c 0 0 1\r\nx\r\ngets c\r\n",
                b"cas c 0 0 1 {cas}\r\ny\r\ncas c 0 0 1 {cas}\r\nz\r\ncas nope 0 0 1 1\r\nx\r\n\
                  cas c 0 0 1 0\r\nq\r\ncas c 0 0 1 abc\r\nx\r\ngets c\r\n",
                b"cas c 7 0 1 {cas} noreply\r\nw\r\ncas c 0 0 1 {cas} noreply\r\nv\r\ngets c\r\n",
            ],
        ),
        one(
            "noreply",
            b"set n 0 0 1 noreply\r\nx\r\nadd n 0 0 1 noreply\r\ny\r\nget n\r\n\
              incr n 1 noreply\r\nappend n 0 0 1 noreply\r\n1\r\nget n\r\ndelete n noreply\r\n\
              get n\r\ntouch n 10 noreply\r\nverbosity 1 noreply\r\nset n abc 0 1 noreply\r\n\
              set n 0 0 1 noreply\r\nxyz\r\nincr n x noreply\r\nflush_all noreply\r\nmn\r\n",
        ),
        one(
            "bad data chunks",
            b"set k 0 0 3\r\nabcd\r\nget k\r\nset k 0 0 3\r\nab\r\n\r\nget k\r\n\
              set k 0 0 1 noreply\r\nabc\r\nms k 1\r\nabc\r\nms k 1 q\r\nabc\r\nmn\r\n",
        ),
        one(
            "bad command lines",
            b"set k abc 0 1\r\nx\r\nset k 0 0 -1\r\nset k 0 0\r\nset k 0 0 1 2 3\r\n\
              set k 0 x 1\r\nx\r\nincr\r\nincr k\r\ndecr k 1 2 3\r\ndelete\r\ndelete a b c d\r\n\
              delete a 0\r\ndelete a 0 noreply\r\ndelete a 1\r\ndelete a x noreply\r\n\
              delete a 0 0\r\ntouch a\r\ntouch a abc\r\nincr a abc\r\nflush_all abc\r\n\
              flush_all 1 2 3\r\nverbosity\r\nverbosity abc\r\nverbosity 1 2\r\n\
              cache_memlimit abc\r\ncache_memlimit 4\r\ncache_memlimit 2000000000\r\n\
              cache_memlimit 64\r\ncache_memlimit\r\nx\r\n\r\n\n\r\r\nfoo bar\r\n\
              gxx a\r\nget\r\ngat\r\ngat 10\r\ngat abc k\r\nmx\r\nmgg k\r\nshutdown\r\n\
              version\r\nversion x\r\nset\tk 0 0 1\r\nmn\r\n",
        ),
        one(
            "numbers as memcached parses them",
            b"set k 4294967297 0 1\r\nx\r\ngets k\r\nset k -0 0 1\r\nx\r\nset k +5 0 1\r\nx\r\n\
              get k\r\nset k 5x 0 1\r\nx\r\nset k -1 0 1\r\nx\r\nset k 1 -1 1\r\nx\r\nget k\r\n\
              set k 1 0 1\t\r\nx\r\nget k\r\nset k 0 0 2\r\n 7\r\nincr k 1\r\nset k 0 0 2\r\n7a\r\n\
              incr k 1\r\nset k 0 0 2\r\n-1\r\nincr k 1\r\nincr k 18446744073709551616\r\n\
              set k 0 0 3\r\n1\x002\r\nincr k 1\r\nset k 0 0 3\r\n4 5\r\nincr k 1\r\n\
              set k 0 0 1\r\n0\r\nincr k -0\r\nincr k +3\r\nset k 0 0 5\r\n00009\r\nincr k 1\r\n\
              get k\r\nms k 1 F-1\r\nx\r\nms k 1 F4294967296 T-0\r\nx\r\nmg k f\r\nmn\r\n",
        ),
        one(
            "keys",
            b"set a\tb 0 0 1\r\nx\r\nget a\tb\r\nget a\x01c\r\nget a\x00b c\r\nmg a\tb v\r\n\
              set \xff\xfe 0 0 1\r\nx\r\nget \xff\xfe\r\n",
        ),
        one(
            "incr decr",
            b"set n 0 0 3\r\n100\r\ndecr n 95\r\nget n\r\nincr n 10\r\nget n\r\n\
              incr n 99999\r\nget n\r\ndecr n 1000000\r\nget n\r\nset w 7 0 20\r\n\
              18446744073709551615\r\nincr w 2\r\nget w\r\ndecr w 5\r\nincr nope 1\r\n\
              decr nope 1\r\nset e 0 0 0\r\n\r\nincr e 1\r\n",
        ),
        one(
            "touch gat gats",
            b"set t 3 100 1\r\nx\r\ntouch t 10\r\ntouch nope 10\r\ngat 0 t nope\r\n\
              mg t t\r\ngats 50 t\r\nmg t t\r\ngat -1 t\r\nget t\r\n",
        ),
        one(
            "flush_all",
            b"set f 0 0 1\r\nx\r\nflush_all\r\nget f\r\nset f 0 0 1\r\nx\r\nflush_all 0\r\n\
              get f\r\nflush_all -1\r\nflush_all 0 noreply\r\nflush_all 100\r\nset g 0 0 1\r\n\
              x\r\nget g\r\nflush_all noreply\r\nmn\r\n",
        ),
        one(
            "stats",
            b"stats\r\nstats settings\r\nstats items\r\nstats slabs\r\nstats sizes\r\n\
              stats conns\r\nstats detail\r\nstats detail on\r\nstats detail off\r\n\
              stats detail dump\r\nstats detail x\r\nstats cachedump\r\nstats cachedump 63 0\r\n\
              stats cachedump 99 0\r\nstats cachedump a b\r\nstats reset\r\nstats foo\r\n\
              stats  \r\n",
        ),
        one(
            "meta get",
            b"ms m 3 T100 F5\r\nabc\r\nmg m v c f s t k O123 h l\r\nmg m\r\nmg m v\r\n\
              mg m s v\r\nmg nope\r\nmg nope k O1 v c\r\nmg nope q\r\nmg m q\r\nmg m q v k\r\n\
              mg m u h\r\nmg m h\r\nmg m P/x Lx v\r\nmg m C5 v\r\nmg m T30 t\r\nmg m t\r\nmn\r\n",
        ),
        one(
            "meta set modes",
            b"ms e 1 ME\r\nx\r\nms e 1 ME\r\ny\r\nms r 1 MR\r\nx\r\nms e 1 MR\r\nz\r\n\
              ms e 1 MA\r\na\r\nms e 1 MP\r\np\r\nmg e v\r\nms nope 1 MA\r\nx\r\n\
              ms nope 1 MP\r\nx\r\nms e 1 MS F9\r\ns\r\nmg e v f\r\nms e 1 MX\r\nx\r\n\
              ms e 1 Mee\r\nx\r\nms e 1 M\r\nx\r\nms e 1 Me\r\nx\r\nmg e v\r\n\
              ms e 0\r\n\r\nmg e v\r\nms e 2 k O9 c q\r\nhi\r\nmn\r\n",
        ),
        steps(
            "meta set cas",
            &[
                b"ms mc 1 c\r\nx\r\n",
                b"ms mc 1 C{cas} c k\r\ny\r\nms mc 1 C{cas} c\r\nz\r\nms mcnope 1 C5 c\r\nx\r\n\
                  ms mc 1 C1 MA\r\nx\r\nms mc 1 C1 ME\r\nx\r\nms mcnew 1 C1 ME\r\nx\r\n\
                  ms mc 1 C1 MR\r\nx\r\nms mc 1 MR c\r\nr\r\n",
                b"ms mc 1 C{cas} MA\r\nq\r\nmg mc v\r\nms mc 1 C{cas} MP\r\nq\r\nmg mc v\r\n",
            ],
        ),
        steps(
            "invalidation",
            &[
                b"ms inv 3 T100\r\nold\r\nmg inv c\r\n",
                b"ms inv 3 C1 I\r\nnew\r\nmg inv v t\r\nmg inv v\r\nms inv 3 C{cas} I\r\nnow\r\n\
                  mg inv v\r\nmd inv I T30\r\nmg inv t v\r\nmg inv t v\r\nmd inv I q\r\n\
                  mg inv v\r\nmd inv I C1 q\r\nms inv 1\r\nx\r\nmg inv v\r\nmn\r\n",
            ],
        ),
        steps(
            "meta delete",
            &[
                b"ms d 1\r\nx\r\nmd d\r\nmd d\r\nmd d q\r\nmd d k O9\r\nms d 1\r\nx\r\nmd d q\r\n\
                  mg d\r\nmd d T30\r\nms dc 1 c\r\nx\r\n",
                b"md dc C1 k\r\nmd dc C{cas} k O1 q\r\nmg dc\r\nmd\r\nmd k zz\r\nmd k q q\r\nmn\r\n",
            ],
        ),
        one(
            "meta arithmetic",
            b"ma cnt\r\nma cnt N0 J10 v\r\nma cnt v\r\nma cnt MD D3 v t c\r\nma cnt M- D100 v\r\n\
              ma cnt M+ D5\r\nma cnt MI v\r\nma cnt Mx\r\nma cnt MDD\r\nma cnt q D1\r\nma cnt v\r\n\
              ma new N0 q J5 O1\r\nma none q O2\r\nma cnt C1 k O3\r\nma cnt Dabc\r\n\
              ma cnt Jabc\r\nma cnt T100 t v\r\nma cnt t\r\nma viv t N100 v\r\n\
              ma viv2 N100 t v\r\nms s 1\r\nx\r\nma s\r\nma s q\r\nms e 0\r\n\r\nma e\r\n\
              ma cnt D18446744073709551615 v\r\nma cnt v\r\nma cnt MD D18446744073709551615 v\r\n\
              mn\r\n",
        ),
        one(
            "meta debug",
            b"ms me 2 T100\r\nhi\r\nme me\r\nme nope\r\nme\r\nms Zm9v 2 b\r\nhi\r\n\
              me Zm9v b\r\nme foo\r\nme !!!! b\r\nme me x\r\n",
        ),
        one(
            "base64 keys",
            b"ms Zm9v 2 b k\r\nhi\r\nmg Zm9v b k v\r\nmg foo k v\r\nmg Zm9v k v\r\n\
              mg ZZZ b\r\nmg Zm9v= b\r\nmg Zg== b k v\r\nmg Zm9v b b\r\nmg !!!! b\r\n\
              mg Zm9vYmFy b k O1\r\nmg Zm9=v b k\r\nmg Z=m9v b k\r\nmg ==== b\r\n\
              mg Zm9vYg=== b\r\nmd Zm9v b k q\r\nmg foo v\r\nma Y250 b N0 k v\r\n\
              mg Y250 b k N10 v\r\nmg bmV3 b N10 k v\r\nms Zg== 1 b MZ\r\nx\r\n\
              ms ! 1 b\r\nx\r\nmn\r\n",
        ),
        one(
            "leases",
            b"mg lease N30 v t\r\nmg lease N30 v t\r\nmg lease v\r\nmg lease N30 s t\r\n\
              ms lease 3 T30\r\nnew\r\nmg lease v R40 t\r\nmg lease v R40\r\nmg lease v R10 t\r\n\
              ms lease 3 T30\r\nnew\r\nmg lease v R30 t\r\nmg lease R0 t\r\nmg lease R-1 t\r\n\
              ms forever 1\r\nx\r\nmg forever R30 t\r\nmg t1 t N30\r\nmg t2 N30 h l\r\nmg t2 h\r\n\
              mg lease2 N-1\r\nmg lease2 t\r\nmn\r\n",
        ),
        one(
            "quiet batches",
            b"mg q1 v q O1\r\nmg q2 v q O2 k\r\nms q1 1 q O3\r\nx\r\nmg q1 v q O4\r\n\
              md q1 q O5\r\nmd q1 q O6\r\nma q3 q O7\r\nma q3 q N0 O8\r\nma q3 q O9\r\n\
              ms q1 1 q MR O10\r\nx\r\nms q1 1 q ME O11\r\nx\r\nms q1 1 q ME O12\r\nx\r\n\
              md q1 q C1 O13\r\nma q1 q O14\r\nmn\r\n",
        ),
        one(
            "meta errors",
            format!(
                "mg\r\nmg k zz\r\nmg k vv\r\nmg k v v\r\nmg k T\r\nmg k Tabc\r\nmg k N\r\n\
                 mg k R-\r\nmg k {opaque32}\r\nmg k {opaque33}\r\nms k 1\r\nx\r\nmg k {opaque33}\r\n\
                 mg k {opaque33} O1\r\nmg {long} v\r\nmg {key250} v\r\nmg k {many_flags}\r\n\
                 mg k v Cx\r\nmg k Fx v\r\nmg k Fx Tx\r\nmg k Tx Fx\r\n\
                 ms k\r\nms k abc\r\nms k -1\r\nms k 1 Fabc\r\nx\r\nms k 1 Cx\r\nx\r\n\
                 ms k 1 {opaque33}\r\nx\r\nms k 1 MZ {opaque33}\r\nx\r\nms k 1 Z\r\nx\r\n\
                 ms k 1 v v\r\nx\r\nms k 1 b\r\nx\r\nms {long} 1\r\nx\r\n\
                 ms k 1 {many_flags}\r\nx\r\nms k 1 T1 T2\r\nx\r\nma k Dabc\r\nma k Jabc\r\n\
                 ma k MDD\r\nma k Mz\r\nma {long}\r\nma k {many_flags}\r\nma k {opaque33}\r\n\
                 md k {opaque33}\r\nmd {long}\r\nmd k {many_flags}\r\nme {long}\r\nma\r\n\
                 ms\r\nme\r\nmg k \u{e9}\r\nmn\r\n"
            )
            .as_bytes(),
        ),
        one(
            "lines",
            b"mn\nmn\r\r\n  mn  \r\nmn extra\r\nMN\r\n\r\nmn\r\n",
        ),
        one("too large", &big(1_048_516)),
        one("too large by one", &big(1_048_517)),
        one(
            "too large meta",
            &{
                let mut script = b"ms big 1048516 F1\r\n".to_vec();
                script.resize(script.len() + 1_048_516, b'x');
                script.extend_from_slice(b"\r\nmg big s\r\nms big 2\r\nhi\r\nms big 1048510 MA\r\n");
                script.resize(script.len() + 1_048_510, b'x');
                script.extend_from_slice(b"\r\nmg big s\r\nset big 0 0 1048516\r\n");
                script.resize(script.len() + 1_048_516, b'x');
                script.extend_from_slice(b"\r\nappend big 0 0 1\r\nx\r\nmg big s\r\n");
                script
            },
        ),
        closing("quit", b"set q 0 0 1\r\nx\r\nget q\r\nquit\r\nget q\r\n"),
        closing("http", b"GET / HTTP/1.1\r\n"),
        closing("line too long", &[b'x'; 3000]),
        one(
            "multiget too long for a line",
            format!("get {}\r\n", "key ".repeat(1000)).as_bytes(),
        ),
    ];
    scripts.push(one(
        "longest keys",
        format!(
            "set {key250} 0 0 1\r\nx\r\nget {key250} a {key250}\r\ngets {key250}\r\n\
             ms {key250} 1 k\r\ny\r\nmd {key250} q\r\nmg {key250} q k O1\r\n\
             mg {key250} q {opaque33}\r\nmn\r\n"
        )
        .as_bytes(),
    ));
    scripts.push(one(
        "unknown http-like",
        b"get HTTP/1.1\r\nset x HTTP/1.1\r\nreplace HTTP/1.1\r\nmn\r\n",
    ));
    scripts
}

/// The differential test: the same scripts against a real memcached and [`serve`], with
/// the replies compared after masking what legitimately differs.
mod differential {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use bytes::BytesMut;

    use super::{scripts, Conn, Script};
    use crate::testing::server::debian_binary::{running_as_root, DebianBinary};
    use crate::testing::server::{serve, Session, Step};

    /// A memcached process, killed on drop.
    struct Memcached {
        child: Child,
        port: u16,
    }

    impl Drop for Memcached {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Starts memcached on a free port: `$MEMCACHED_BIN`, else the one on the path or in
    /// `/usr/sbin`, else Debian's package, installed as the integration suite's harness
    /// does (see `debian_binary.rs`).
    fn memcached(extra: &[&str]) -> Memcached {
        static MEMCACHED: DebianBinary =
            DebianBinary::new("memcached", "memcached", "MEMCACHED_BIN");
        let binary = MEMCACHED.path().unwrap_or_else(|hint| panic!("{hint}"));
        let binary = binary.display().to_string();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            let mut command = Command::new(&binary);
            command.args(["-p", &port.to_string(), "-U", "0", "-l", "127.0.0.1"]);
            command.args(["-B", "ascii", "-t", "1"]);
            if running_as_root() {
                command.args(["-u", "root"]);
            }
            let child = command
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("cannot run {binary} (set MEMCACHED_BIN): {error}"));
            let mut server = Memcached { child, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(server.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("memcached did not start");
    }

    /// Bytes no script contains: their reply marks the end of an exchange's replies.
    const BARRIER: &[u8] = b"mg __barrier__ O__barrier__\r\n";
    const BARRIER_REPLY: &[u8] = b"EN O__barrier__\r\n";
    const CLOSED: &[u8] = b"<closed>";

    /// Reads until `done` says so, the server hangs up (marked with [`CLOSED`]), or it
    /// stays silent for `idle`.
    fn read_replies(
        stream: &mut TcpStream,
        idle: Duration,
        done: impl Fn(&[u8]) -> bool,
    ) -> Vec<u8> {
        stream.set_read_timeout(Some(idle)).expect("timeout");
        let mut replies = Vec::new();
        let mut buf = vec![0; 1 << 16];
        while !done(&replies) {
            match stream.read(&mut buf) {
                Ok(0) => {
                    replies.extend_from_slice(CLOSED);
                    break;
                }
                Ok(n) => replies.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    break
                }
                Err(error) if error.kind() == ErrorKind::ConnectionReset => {
                    replies.extend_from_slice(CLOSED);
                    break;
                }
                Err(error) => panic!("reading from memcached: {error}"),
            }
        }
        replies
    }

    /// One side of the comparison.
    trait Server {
        fn connect(&mut self);
        /// Sends `bytes` (and the barrier unless `closes`) and returns the replies.
        fn exchange(&mut self, bytes: &[u8], closes: bool) -> Vec<u8>;
    }

    struct Real {
        server: Memcached,
        stream: Option<TcpStream>,
        /// Read one reply line rather than up to a barrier: before authentication
        /// memcached answers only the last of the commands that arrive together.
        one_line: bool,
    }

    impl Server for Real {
        fn connect(&mut self) {
            let stream = TcpStream::connect(("127.0.0.1", self.server.port)).expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            self.stream = Some(stream);
        }

        fn exchange(&mut self, bytes: &[u8], closes: bool) -> Vec<u8> {
            let Some(stream) = self.stream.as_mut() else {
                return CLOSED.to_vec();
            };
            stream.write_all(bytes).expect("write");
            if self.one_line {
                return read_replies(stream, Duration::from_secs(5), |replies| {
                    replies.ends_with(b"\r\n")
                });
            }
            if !closes {
                stream.write_all(BARRIER).expect("write");
            }
            let replies = read_replies(stream, Duration::from_secs(5), |replies| {
                replies.ends_with(BARRIER_REPLY)
            });
            assert!(
                replies.ends_with(BARRIER_REPLY) || replies.ends_with(CLOSED),
                "memcached did not answer: {:?}",
                String::from_utf8_lossy(&replies)
            );
            if replies.ends_with(CLOSED) {
                self.stream = None;
            }
            replies
        }
    }

    struct Memory {
        conn: Conn,
        closed: bool,
        one_line: bool,
    }

    impl Server for Memory {
        fn connect(&mut self) {
            self.conn.session = Session::default();
            self.closed = false;
        }

        fn exchange(&mut self, bytes: &[u8], closes: bool) -> Vec<u8> {
            if self.closed {
                return CLOSED.to_vec();
            }
            let mut input = BytesMut::from(bytes);
            if !closes && !self.one_line {
                input.extend_from_slice(BARRIER);
            }
            let mut output = BytesMut::new();
            let c = &mut self.conn;
            let now = Instant::now();
            if serve(&mut c.store, &mut c.session, now, &mut input, &mut output) == Step::Close {
                self.closed = true;
                output.extend_from_slice(CLOSED);
            }
            output.to_vec()
        }
    }

    /// A reply: a line, or the data block a `VALUE` or `VA` line announced.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Reply {
        Line(Vec<u8>),
        Data(Vec<u8>),
    }

    fn parse(replies: &[u8]) -> Vec<Reply> {
        let mut rest = replies;
        let mut parsed = Vec::new();
        while !rest.is_empty() {
            let Some(end) = rest.windows(2).position(|pair| pair == b"\r\n") else {
                parsed.push(Reply::Line(rest.to_vec()));
                break;
            };
            let (line, after) = rest.split_at(end);
            rest = after.get(2..).unwrap_or_default();
            let tokens: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
            let data_len = match tokens.as_slice() {
                [b"VALUE", _, _, len, ..] | [b"VA", len, ..] => std::str::from_utf8(len)
                    .ok()
                    .and_then(|len| len.parse::<usize>().ok()),
                _ => None,
            };
            parsed.push(Reply::Line(line.to_vec()));
            if let Some(len) = data_len {
                let (data, after) = rest.split_at((len + 2).min(rest.len()));
                parsed.push(Reply::Data(data.to_vec()));
                rest = after;
            }
        }
        parsed
    }

    /// The last CAS unique in some replies: of a `VALUE` line or a `c` flag.
    fn last_cas(replies: &[Reply]) -> Option<u64> {
        replies.iter().rev().find_map(|reply| {
            let Reply::Line(line) = reply else {
                return None;
            };
            let line = std::str::from_utf8(line).ok()?;
            let tokens: Vec<&str> = line.split(' ').collect();
            match tokens.as_slice() {
                ["VALUE", _, _, _, cas] => cas.parse().ok(),
                [status, flags @ ..] if status.len() == 2 => flags
                    .iter()
                    .rev()
                    .find_map(|flag| flag.strip_prefix('c')?.parse().ok()),
                _ => None,
            }
        })
    }

    /// The replies as they are compared: `STAT` lines dropped (values differ, and so do
    /// the statistics each server keeps), `version` and `me` details, CAS uniques and
    /// access times masked.
    fn masked(replies: &[Reply]) -> Vec<Reply> {
        let numeric = |token: &[u8], flag: u8| {
            token.len() > 1
                && token.first() == Some(&flag)
                && token.iter().skip(1).all(u8::is_ascii_digit)
        };
        replies
            .iter()
            .filter(|reply| !matches!(reply, Reply::Line(line) if line.starts_with(b"STAT ")))
            .map(|reply| {
                let Reply::Line(line) = reply else {
                    return reply.clone();
                };
                let mut tokens: Vec<Vec<u8>> =
                    line.split(|b| *b == b' ').map(<[u8]>::to_vec).collect();
                let meta = matches!(
                    tokens.first().map(Vec::as_slice),
                    Some(b"HD" | b"VA" | b"EN" | b"NF" | b"NS" | b"EX")
                );
                match tokens.first().map(Vec::as_slice) {
                    Some(b"VALUE") if tokens.len() == 5 => tokens[4] = b"#".to_vec(),
                    Some(b"VERSION") => tokens.truncate(1),
                    Some(b"ME") => tokens.truncate(2),
                    _ if meta => {
                        for token in &mut tokens {
                            if numeric(token, b'c') || numeric(token, b'l') {
                                token.truncate(1);
                            }
                        }
                    }
                    _ => {}
                }
                Reply::Line(tokens.join(&b' '))
            })
            .collect()
    }

    /// Whether two masked replies agree: equal, but for remaining TTLs (`t`), which may
    /// differ by the second memcached's clock ticked during the exchange.
    fn agree(real: &Reply, memory: &Reply) -> bool {
        let (Reply::Line(real), Reply::Line(memory)) = (real, memory) else {
            return real == memory;
        };
        let ttl = |token: &[u8]| -> Option<i64> {
            std::str::from_utf8(token.strip_prefix(b"t")?)
                .ok()?
                .parse()
                .ok()
        };
        let real: Vec<&[u8]> = real.split(|b| *b == b' ').collect();
        let memory: Vec<&[u8]> = memory.split(|b| *b == b' ').collect();
        real.len() == memory.len()
            && real.iter().zip(&memory).all(|(a, b)| {
                a == b
                    || ttl(a)
                        .zip(ttl(b))
                        .is_some_and(|(a, b)| a >= 0 && b >= 0 && a.abs_diff(b) <= 1)
            })
    }

    fn show(replies: &[Reply]) -> String {
        replies
            .iter()
            .map(|reply| match reply {
                Reply::Line(line) => format!("{}\n", String::from_utf8_lossy(line)),
                Reply::Data(data) if data.len() > 64 => format!("<{} bytes>\n", data.len()),
                Reply::Data(data) => format!("<{:?}>\n", String::from_utf8_lossy(data)),
            })
            .collect()
    }

    /// Runs every script on both servers and returns the differences found.
    fn compare(
        scripts: &[Script],
        real: &mut Real,
        memory: &mut Memory,
        prefix: &[u8],
    ) -> Vec<String> {
        let mut differences = Vec::new();
        for script in scripts {
            real.connect();
            memory.connect();
            let (mut real_cas, mut memory_cas) = (None, None);
            for (i, chunk) in script.chunks.iter().enumerate() {
                let with = |cas: Option<u64>| {
                    let text = String::from_utf8_lossy(chunk);
                    let cas = cas.map_or_else(|| "0".to_owned(), |cas| cas.to_string());
                    let mut bytes = if i == 0 { prefix.to_vec() } else { Vec::new() };
                    if text.contains("{cas}") {
                        bytes.extend_from_slice(text.replace("{cas}", &cas).as_bytes());
                    } else {
                        bytes.extend_from_slice(chunk);
                    }
                    bytes
                };
                let real_replies = parse(&real.exchange(&with(real_cas), script.closes));
                let memory_replies = parse(&memory.exchange(&with(memory_cas), script.closes));
                real_cas = last_cas(&real_replies).or(real_cas);
                memory_cas = last_cas(&memory_replies).or(memory_cas);
                let (real_masked, memory_masked) = (masked(&real_replies), masked(&memory_replies));
                let same = real_masked.len() == memory_masked.len()
                    && real_masked
                        .iter()
                        .zip(&memory_masked)
                        .all(|(a, b)| agree(a, b));
                if !same {
                    differences.push(format!(
                        "{} (exchange {i}):\n--- memcached\n{}--- memory\n{}",
                        script.name,
                        show(&real_masked),
                        show(&memory_masked)
                    ));
                }
            }
        }
        differences
    }

    #[test]
    fn replies_match_a_real_memcached() {
        let mut real = Real {
            server: memcached(&[]),
            stream: None,
            one_line: false,
        };
        let mut memory = Memory {
            conn: Conn::new(),
            closed: false,
            one_line: false,
        };
        // Each script starts on an empty cache.
        let differences = compare(&scripts(), &mut real, &mut memory, b"flush_all noreply\r\n");
        assert!(differences.is_empty(), "{}", differences.join("\n"));
    }

    #[test]
    fn authentication_matches_a_real_memcached() {
        let dir = std::env::temp_dir().join(format!("memory-server-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("auth");
        std::fs::write(&file, "user:secret\n").expect("auth file");
        let mut real = Real {
            server: memcached(&["-Y", &file.display().to_string()]),
            stream: None,
            one_line: true,
        };
        let mut memory = Memory {
            conn: Conn::new(),
            closed: false,
            one_line: true,
        };
        memory
            .conn
            .store
            .set_credentials(Some(("user".into(), "secret".into())));
        // One command an exchange, each answered with one line.
        let scripts = [
            steps_of(
                "refused before authentication",
                &[
                    b"get a\r\n",
                    b"mn\r\n",
                    b"set a 0 0 abc\r\n",
                    b"\r\n",
                    b"set a\r\n",
                ],
            ),
            steps_of(
                "failures",
                &[
                    b"set a 0 0 10\r\nuser wrong\r\n",
                    b"set a 0 0 2\r\nabcd",
                    b"\r\n",
                    b"set a 0 0 4\r\nuser\r\n",
                    b"set a 0 0 12\r\nuser secrets\r\n",
                    b"add a 0 0 11\r\n",
                    b"user secret\r\n",
                ],
            ),
            steps_of(
                "success",
                &[
                    b"set a 0 0 11\r\nuser secret\r\n",
                    b"set a 0 0 1\r\nx\r\n",
                    b"mg a s\r\n",
                ],
            ),
            steps_of(
                "success with noreply and extra tokens",
                &[
                    b"set x 1 2 17 noreply\r\nuser secret extra\r\n",
                    b"mg a s\r\n",
                ],
            ),
        ];
        let differences = compare(&scripts, &mut real, &mut memory, b"");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(differences.is_empty(), "{}", differences.join("\n"));
    }

    fn steps_of(name: &str, chunks: &[&[u8]]) -> Script {
        super::steps(name, chunks)
    }
}
