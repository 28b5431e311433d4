//! memcached's text and meta protocols, interpreted over a [`Store`](super::store::Store).
//!
//! The replies are memcached 1.6.18's byte for byte, quirks included (decrements padded
//! with spaces, `stats` groups, errors that leave the rest of a data block to be read as
//! commands), because the client's decoder is strict and applications' tests should see
//! what a real server would say. A differential test against a real memcached keeps it
//! so. Beyond 1.6.18 it accepts the newer meta flags the client sends: `E` (set the CAS
//! unique), `x` on `md` (drop the value only) and `N` on `ms` append modes (vivify).

use std::fmt::{Display, Write as _};
use std::time::{Instant, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};

use super::store::{parse_i32, parse_u32, parse_u64, Delta, Mode, NewItem, Store, StoreResult};

/// What `version` answers.
pub(crate) const VERSION: &str = "1.6.18-memory";

const KEY_MAX_LENGTH: usize = 250;
/// memcached closes a connection whose unfinished line grows past this, unless it is a
/// `get` or `gets` (multigets are unbounded).
const MAX_PARTIAL_LINE: usize = 2048;
/// memcached splits at most this many tokens (the last one being the rest of the line).
const MAX_TOKENS: usize = 24;
/// Meta commands with more tokens than this (the terminal one included) are refused.
const MFLAG_MAX_OPT_LENGTH: usize = 20;
/// The longest opaque token, its `O` included.
const MFLAG_MAX_OPAQUE_LENGTH: usize = 32;
/// memcached's read buffer: an authentication block larger than this would never fit.
const READ_BUFFER_SIZE: usize = 16384;

const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format";

/// One connection's state between commands.
#[derive(Debug, Default)]
pub(crate) struct Session {
    authenticated: bool,
    /// The length of the `user password` block an authentication `set` announced, CRLF
    /// included, while it is awaited.
    auth_block: Option<usize>,
    /// Bytes of a refused data block still to discard.
    swallow: usize,
}

/// Whether the connection stays open after [`serve`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Continue,
    Close,
}

/// What interpreting the front of the input came to.
enum Flow {
    /// Nothing more can be done until more input arrives.
    Wait,
    /// A command was interpreted and removed.
    Next,
    Close,
}

/// What a command did with the bytes after its line.
enum Done {
    /// It needs a data block that has not fully arrived: leave the line in place.
    Wait,
    /// It is complete, having used this many bytes after its line.
    Next(usize),
    Close,
}

/// Interprets every complete command at the front of `input` (removing them), leaving an
/// incomplete trailing command in place; appends replies to `output`. Returns
/// [`Step::Close`] when the connection must close (after `quit`, or where memcached closes
/// on a protocol error); output written before that still goes out.
pub(crate) fn serve(
    store: &mut Store,
    session: &mut Session,
    now: Instant,
    input: &mut BytesMut,
    output: &mut BytesMut,
) -> Step {
    loop {
        let discard = session.swallow.min(input.len());
        input.advance(discard);
        session.swallow -= discard;
        if session.swallow > 0 || input.is_empty() {
            return Step::Continue;
        }
        let flow = if store.credentials().is_some() && !session.authenticated {
            authenticate(store, session, input, output)
        } else {
            command(store, session, now, input, output)
        };
        match flow {
            Flow::Wait => return Step::Continue,
            Flow::Next => {}
            Flow::Close => return Step::Close,
        }
    }
}

/// Interprets the command at the front of `input`, if it is complete.
fn command(
    store: &mut Store,
    session: &mut Session,
    now: Instant,
    input: &mut BytesMut,
    output: &mut BytesMut,
) -> Flow {
    // The limit applies to the line however it arrives, so that splitting the input
    // differently never changes the outcome.
    let newline = memchr::memchr(b'\n', input);
    if newline.unwrap_or(input.len()) > MAX_PARTIAL_LINE && !is_multiget(input) {
        return Flow::Close;
    }
    let Some(newline) = newline else {
        return Flow::Wait;
    };
    let line_len = newline + 1;
    let (line, data) = input.split_at(line_len);
    // memcached keeps the CR of a line that holds nothing else, and stops at a NUL.
    let mut end = newline;
    if newline > 1 && line.get(newline - 1) == Some(&b'\r') {
        end -= 1;
    }
    let line = until_nul(line.get(..end).unwrap_or_default());
    store.reap(now);
    let mut cx = Cx {
        store,
        session,
        now,
        out: output,
        noreply: false,
    };
    let (used, flow) = match cx.dispatch(line, data) {
        Done::Wait => return Flow::Wait,
        Done::Next(used) => (used, Flow::Next),
        Done::Close => (0, Flow::Close),
    };
    cx.store.count_command();
    input.advance(line_len + used);
    flow
}

/// memcached's `-Y` mode before authentication: the first line must be a `set` whose
/// data block is `user password`; anything else is refused.
fn authenticate(
    store: &mut Store,
    session: &mut Session,
    input: &mut BytesMut,
    output: &mut BytesMut,
) -> Flow {
    let Some(block) = session.auth_block else {
        if input.len() < 2 {
            return Flow::Wait;
        }
        let newline = memchr::memchr(b'\n', input);
        if newline.unwrap_or(input.len()) > MAX_PARTIAL_LINE {
            return Flow::Close;
        }
        let Some(newline) = newline else {
            return Flow::Wait;
        };
        // The CR stays: the size's parser stops at it.
        let toks = tokenize(until_nul(input.get(..newline).unwrap_or_default()));
        let size = match toks.as_slice() {
            [b"set", _, _, _, size, ..] => parse_u32(size),
            _ => None,
        };
        input.advance(newline + 1);
        store.count_command();
        match size.and_then(|size| usize::try_from(size).ok()) {
            Some(size) if size <= READ_BUFFER_SIZE => session.auth_block = Some(size + 2),
            Some(_) => return Flow::Close,
            None => output.extend_from_slice(b"CLIENT_ERROR unauthenticated\r\n"),
        }
        return Flow::Next;
    };
    if input.len() < block {
        return Flow::Wait;
    }
    let payload = input.split_to(block);
    session.auth_block = None;
    let reply: &[u8] = match payload.strip_suffix(b"\r\n") {
        None => b"CLIENT_ERROR bad command line termination",
        Some(payload) => match tokenize(until_nul(payload)).as_slice() {
            [user, password, ..] => {
                let valid = store
                    .credentials()
                    .is_some_and(|(u, p)| u.as_bytes() == *user && p.as_bytes() == *password);
                session.authenticated = valid;
                if valid {
                    b"STORED"
                } else {
                    b"CLIENT_ERROR authentication failure"
                }
            }
            _ => b"CLIENT_ERROR bad authentication token format",
        },
    };
    output.extend_from_slice(reply);
    output.extend_from_slice(b"\r\n");
    Flow::Next
}

/// Whether a line is exempt from the line length limit: a multiget, after at most 100
/// spaces.
fn is_multiget(buf: &[u8]) -> bool {
    let spaces = buf.iter().take_while(|b| **b == b' ').count();
    let rest = buf.get(spaces..).unwrap_or_default();
    spaces <= 100 && (rest.starts_with(b"get ") || rest.starts_with(b"gets "))
}

/// The string C code sees: the bytes before any NUL.
fn until_nul(bytes: &[u8]) -> &[u8] {
    match memchr::memchr(0, bytes) {
        Some(nul) => bytes.get(..nul).unwrap_or_default(),
        None => bytes,
    }
}

/// memcached's `tokenize_command`: tokens split on spaces only, at most 23 of them.
fn tokenize(line: &[u8]) -> Vec<&[u8]> {
    words(line).take(MAX_TOKENS - 1).collect()
}

fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| *b == b' ').filter(|word| !word.is_empty())
}

/// Token `i`, or nothing.
fn tok<'t>(toks: &[&'t [u8]], i: usize) -> &'t [u8] {
    toks.get(i).copied().unwrap_or_default()
}

/// Appends `value` as text.
fn put(out: &mut Vec<u8>, value: impl Display) {
    let mut text = String::new();
    let _ = write!(text, "{value}");
    out.extend_from_slice(text.as_bytes());
}

/// One command's context.
struct Cx<'a> {
    store: &'a mut Store,
    session: &'a mut Session,
    now: Instant,
    out: &'a mut BytesMut,
    /// Replies are suppressed (`noreply`, or `q` for the nominal meta replies).
    noreply: bool,
}

/// The flags of a meta command, as memcached's `_meta_flag_preparse` reads them.
#[derive(Default)]
struct MetaFlags {
    /// The key, base64-decoded under `b`.
    key: Vec<u8>,
    key_binary: bool,
    /// Any of `h l N R T`: the access is counted after the reply is built, so `h` and `l`
    /// report what was before.
    locked: bool,
    no_update: bool,
    vivify: bool,
    value: bool,
    set_stale: bool,
    no_reply: bool,
    has_cas: bool,
    new_ttl: bool,
    remove_value: bool,
    mode: u8,
    expires: Option<Instant>,
    autoviv: Option<Instant>,
    /// `R`: the remaining TTL, in seconds, below which a fetch wins the recache.
    recache: Option<u64>,
    client_flags: u32,
    req_cas: u64,
    cas_in: Option<u64>,
    delta: u64,
    initial: u64,
}

impl Cx<'_> {
    /// memcached's `out_string`: a reply line, unless replies are suppressed.
    fn line(&mut self, text: &[u8]) {
        if !self.noreply {
            self.out.extend_from_slice(text);
            self.out.extend_from_slice(b"\r\n");
        }
    }

    /// memcached's `out_errstring`: a reply line even when replies are suppressed.
    fn error(&mut self, text: &[u8]) {
        self.noreply = false;
        self.line(text);
    }

    /// Marks the command `noreply` when its last token says so.
    fn noreply_maybe(&mut self, toks: &[&[u8]]) -> bool {
        if toks.last() == Some(&&b"noreply"[..]) {
            self.noreply = true;
        }
        self.noreply
    }

    fn dispatch(&mut self, line: &[u8], data: &[u8]) -> Done {
        let toks = tokenize(line);
        let n = toks.len() + 1;
        let name = tok(&toks, 0);
        // Each name checks its token count first; a wrong count is an `ERROR`.
        let arity = match name {
            b"get" | b"bget" | b"gets" | b"gat" | b"gats" | b"lru" => n >= 3,
            b"set" | b"add" | b"replace" | b"append" | b"prepend" => n == 6 || n == 7,
            b"cas" => n == 7 || n == 8,
            b"incr" | b"decr" | b"touch" => n == 4 || n == 5,
            b"delete" => (3..=5).contains(&n),
            b"flush_all" => (2..=4).contains(&n),
            b"verbosity" | b"cache_memlimit" => n == 3 || n == 4,
            _ => true,
        };
        match name {
            _ if name.len() < 2 || !arity => self.line(b"ERROR"),
            [b'm', op] => return self.meta(*op, &toks, data),
            b"get" | b"bget" => self.retrieve(line, false, false),
            b"gets" => self.retrieve(line, true, false),
            b"gat" => self.retrieve(line, false, true),
            b"gats" => self.retrieve(line, true, true),
            b"set" => return self.update(&toks, data, Mode::Set),
            b"add" => return self.update(&toks, data, Mode::Add),
            b"replace" => return self.update(&toks, data, Mode::Replace),
            b"append" => return self.update(&toks, data, Mode::Append),
            b"prepend" => return self.update(&toks, data, Mode::Prepend),
            b"cas" => return self.update(&toks, data, Mode::Cas),
            b"incr" => self.arithmetic(&toks, true),
            b"decr" => self.arithmetic(&toks, false),
            b"delete" => self.delete(&toks),
            b"touch" => self.touch(&toks),
            b"flush_all" => self.flush_all(&toks),
            b"verbosity" => self.verbosity(&toks),
            b"cache_memlimit" => self.memlimit(&toks),
            b"stats" => self.stats(&toks),
            b"version" => self.line(format!("VERSION {VERSION}").as_bytes()),
            b"quit" => return Done::Close,
            b"shutdown" => self.line(b"ERROR: shutdown not enabled"),
            // Known to memcached, not emulated.
            b"lru" | b"lru_crawler" | b"watch" => self.line(b"ERROR"),
            // memcached hangs up on HTTP requests, unless the name starts like one of its
            // commands.
            [first, ..]
                if !b"gsacidt".contains(first)
                    && toks.last().is_some_and(|last| last.starts_with(b"HTTP/")) =>
            {
                return Done::Close
            }
            _ => self.line(b"ERROR"),
        }
        Done::Next(0)
    }

    /// `get`, `gets`, `gat`, `gats`: every key of the line, however many.
    fn retrieve(&mut self, line: &[u8], with_cas: bool, touch: bool) {
        let mut keys = words(line).skip(1);
        let mut expires = None;
        if touch {
            match keys.next().and_then(parse_i32) {
                Some(exptime) => expires = Some(self.store.deadline(exptime, self.now)),
                None => return self.line(b"CLIENT_ERROR invalid exptime argument"),
            }
        }
        let mark = self.out.len();
        for key in keys {
            if key.len() > KEY_MAX_LENGTH {
                // The values already written for this command are dropped.
                self.out.truncate(mark);
                return self.line(BAD_FORMAT);
            }
            self.fetch(key, with_cas, expires);
        }
        self.out.extend_from_slice(b"END\r\n");
    }

    fn fetch(&mut self, key: &[u8], with_cas: bool, touch: Option<Option<Instant>>) {
        let stats = &mut self.store.stats;
        if touch.is_some() {
            stats.cmd_touch += 1;
        } else {
            stats.cmd_get += 1;
        }
        let Some(item) = self.store.live(key, self.now) else {
            let stats = &mut self.store.stats;
            if touch.is_some() {
                stats.touch_misses += 1;
            } else {
                stats.get_misses += 1;
            }
            return;
        };
        if let Some(expires) = touch {
            item.expires = expires;
        }
        let mut head = b"VALUE ".to_vec();
        head.extend_from_slice(key);
        put(
            &mut head,
            format_args!(" {} {}", item.flags, item.value.len()),
        );
        if with_cas {
            put(&mut head, format_args!(" {}", item.cas));
        }
        head.extend_from_slice(b"\r\n");
        head.extend_from_slice(&item.value);
        head.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(&head);
        self.store.bump(key, self.now);
        let stats = &mut self.store.stats;
        if touch.is_some() {
            stats.touch_hits += 1;
        } else {
            stats.get_hits += 1;
        }
    }

    /// `set`, `add`, `replace`, `append`, `prepend`, `cas`.
    fn update(&mut self, toks: &[&[u8]], data: &[u8], mode: Mode) -> Done {
        self.noreply_maybe(toks);
        let key = tok(toks, 1);
        if key.len() > KEY_MAX_LENGTH {
            self.line(BAD_FORMAT);
            return Done::Next(0);
        }
        let parsed = (
            parse_u32(tok(toks, 2)),
            parse_i32(tok(toks, 3)),
            parse_i32(tok(toks, 4)),
        );
        let (Some(flags), Some(exptime), Some(vlen)) = parsed else {
            self.line(BAD_FORMAT);
            return Done::Next(0);
        };
        let expires = self.store.deadline(exptime, self.now);
        let mut compare = 0;
        if mode == Mode::Cas {
            match parse_u64(tok(toks, 5)) {
                Some(cas) => compare = cas,
                None => {
                    self.line(BAD_FORMAT);
                    return Done::Next(0);
                }
            }
        }
        let Some(vlen) = value_len(vlen) else {
            self.line(BAD_FORMAT);
            return Done::Next(0);
        };
        if !self.store.fits(key.len(), flags, vlen) {
            self.line(b"SERVER_ERROR object too large for cache");
            if mode == Mode::Set {
                self.store.unlink(key);
            }
            self.session.swallow = vlen + 2;
            return Done::Next(0);
        }
        let Some(value) = self.data_block(data, vlen) else {
            return Done::Wait;
        };
        let Some(value) = value else {
            self.line(b"CLIENT_ERROR bad data chunk");
            return Done::Next(vlen + 2);
        };
        let new = NewItem {
            key,
            value,
            flags,
            expires,
            compare,
            allow_stale: false,
            key_binary: false,
            cas_in: None,
        };
        let reply: &[u8] = match self.store.store(new, mode, self.now) {
            StoreResult::Stored(_) => b"STORED",
            StoreResult::NotStored => b"NOT_STORED",
            StoreResult::Exists => b"EXISTS",
            StoreResult::NotFound => b"NOT_FOUND",
        };
        self.line(reply);
        Done::Next(vlen + 2)
    }

    /// The data block of `vlen` bytes at the front of `data`: `None` until it has all
    /// arrived, then the value, or `None` inside if it does not end in CRLF.
    fn data_block(&mut self, data: &[u8], vlen: usize) -> Option<Option<Bytes>> {
        let block = data.get(..vlen + 2)?;
        self.store.stats.cmd_set += 1;
        Some(block.strip_suffix(b"\r\n").map(Bytes::copy_from_slice))
    }

    /// `incr`, `decr`.
    fn arithmetic(&mut self, toks: &[&[u8]], incr: bool) {
        self.noreply_maybe(toks);
        let key = tok(toks, 1);
        if key.len() > KEY_MAX_LENGTH {
            return self.line(BAD_FORMAT);
        }
        let Some(delta) = parse_u64(tok(toks, 2)) else {
            return self.line(b"CLIENT_ERROR invalid numeric delta argument");
        };
        match self.store.add_delta(key, incr, delta, 0, self.now) {
            Delta::Done(value) => {
                self.count_arith(incr, true);
                self.line(value.to_string().as_bytes());
            }
            Delta::NonNumeric => {
                self.line(b"CLIENT_ERROR cannot increment or decrement non-numeric value")
            }
            Delta::NotFound | Delta::CasMismatch => {
                self.count_arith(incr, false);
                self.line(b"NOT_FOUND");
            }
        }
    }

    fn count_arith(&mut self, incr: bool, hit: bool) {
        let stats = &mut self.store.stats;
        match (incr, hit) {
            (true, true) => stats.incr_hits += 1,
            (true, false) => stats.incr_misses += 1,
            (false, true) => stats.decr_hits += 1,
            (false, false) => stats.decr_misses += 1,
        }
    }

    fn delete(&mut self, toks: &[&[u8]]) {
        let n = toks.len() + 1;
        if n > 3 {
            // A hold time of 0 is still accepted, as in memcached 1.4.
            let hold_is_zero = tok(toks, 2) == b"0";
            let sets_noreply = self.noreply_maybe(toks);
            let valid = (n == 4 && (hold_is_zero || sets_noreply))
                || (n == 5 && hold_is_zero && sets_noreply);
            if !valid {
                return self
                    .line(b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
            }
        }
        let key = tok(toks, 1);
        if key.len() > KEY_MAX_LENGTH {
            return self.line(BAD_FORMAT);
        }
        if self.store.live(key, self.now).is_some() {
            self.store.unlink(key);
            self.store.stats.delete_hits += 1;
            self.line(b"DELETED");
        } else {
            self.store.stats.delete_misses += 1;
            self.line(b"NOT_FOUND");
        }
    }

    fn touch(&mut self, toks: &[&[u8]]) {
        self.noreply_maybe(toks);
        let key = tok(toks, 1);
        if key.len() > KEY_MAX_LENGTH {
            return self.line(BAD_FORMAT);
        }
        let Some(exptime) = parse_i32(tok(toks, 2)) else {
            return self.line(b"CLIENT_ERROR invalid exptime argument");
        };
        let expires = self.store.deadline(exptime, self.now);
        self.store.stats.cmd_touch += 1;
        match self.store.live(key, self.now) {
            Some(item) => {
                item.expires = expires;
                self.store.bump(key, self.now);
                self.store.stats.touch_hits += 1;
                self.line(b"TOUCHED");
            }
            None => {
                self.store.stats.touch_misses += 1;
                self.line(b"NOT_FOUND");
            }
        }
    }

    fn flush_all(&mut self, toks: &[&[u8]]) {
        self.noreply_maybe(toks);
        self.store.stats.cmd_flush += 1;
        let mut delay = 0;
        if toks.len() + 1 != if self.noreply { 3 } else { 2 } {
            match parse_i32(tok(toks, 1)) {
                Some(exptime) => delay = exptime,
                None => return self.line(b"CLIENT_ERROR invalid exptime argument"),
            }
        }
        let at = if delay > 0 {
            self.store.deadline(delay, self.now)
        } else {
            None
        };
        self.store.flush_all(at, self.now);
        self.line(b"OK");
    }

    fn verbosity(&mut self, toks: &[&[u8]]) {
        self.noreply_maybe(toks);
        match parse_u32(tok(toks, 1)) {
            Some(_) => self.line(b"OK"),
            None => self.line(BAD_FORMAT),
        }
    }

    fn memlimit(&mut self, toks: &[&[u8]]) {
        self.noreply_maybe(toks);
        match parse_u32(tok(toks, 1)) {
            None => self.line(b"ERROR"),
            Some(megabytes) if megabytes < 8 => {
                self.line(b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m")
            }
            Some(megabytes) if megabytes > 1_000_000_000 => {
                self.line(b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes")
            }
            Some(_) => self.line(b"OK"),
        }
    }

    fn stats(&mut self, toks: &[&[u8]]) {
        let n = toks.len() + 1;
        let mut out = Vec::new();
        match tok(toks, 1) {
            _ if n == 2 => self.general_stats(&mut out),
            b"reset" => {
                self.store.stats = Default::default();
                return self.line(b"RESET");
            }
            b"detail" => {
                return match tok(toks, 2) {
                    b"on" | b"off" if n >= 4 => self.line(b"OK"),
                    b"dump" if n >= 4 => self.line(b"END"),
                    _ => self.line(b"CLIENT_ERROR usage: stats detail on|off|dump"),
                };
            }
            b"cachedump" => {
                let ids = (parse_u32(tok(toks, 2)), parse_u32(tok(toks, 3)));
                return match ids {
                    _ if n < 5 => self.line(b"CLIENT_ERROR bad command line"),
                    (Some(id), Some(_)) if id >= 64 => self.line(b"CLIENT_ERROR Illegal slab id"),
                    (Some(_), Some(_)) => self.line(b"END"),
                    _ => self.line(BAD_FORMAT),
                };
            }
            b"settings" => {
                stat(&mut out, "maxbytes", 64u64 << 20);
                stat(&mut out, "maxconns", 1024);
                stat(&mut out, "evictions", "off");
                stat(&mut out, "cas_enabled", "yes");
                let auth = if self.store.credentials().is_some() {
                    "yes"
                } else {
                    "no"
                };
                stat(&mut out, "auth_enabled_ascii", auth);
                stat(&mut out, "item_size_max", self.store.item_size_max());
                stat(&mut out, "flush_enabled", "yes");
            }
            b"items" | b"slabs" | b"sizes" | b"sizes_enable" | b"sizes_disable" | b"conns" => {}
            _ => return self.line(b"ERROR"),
        }
        out.extend_from_slice(b"END\r\n");
        self.out.extend_from_slice(&out);
    }

    fn general_stats(&mut self, out: &mut Vec<u8>) {
        let (items, bytes) = self.store.usage(self.now);
        let unix = self
            .store
            .unix_now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        stat(out, "pid", std::process::id());
        stat(out, "uptime", self.store.uptime(self.now));
        stat(out, "time", unix);
        stat(out, "version", VERSION);
        stat(out, "pointer_size", 64);
        let s = self.store.stats;
        let counters = [
            ("cmd_get", s.cmd_get),
            ("cmd_set", s.cmd_set),
            ("cmd_flush", s.cmd_flush),
            ("cmd_touch", s.cmd_touch),
            ("get_hits", s.get_hits),
            ("get_misses", s.get_misses),
            ("delete_misses", s.delete_misses),
            ("delete_hits", s.delete_hits),
            ("incr_misses", s.incr_misses),
            ("incr_hits", s.incr_hits),
            ("decr_misses", s.decr_misses),
            ("decr_hits", s.decr_hits),
            ("touch_hits", s.touch_hits),
            ("touch_misses", s.touch_misses),
        ];
        for (name, value) in counters {
            stat(out, name, value);
        }
        stat(out, "limit_maxbytes", 64u64 << 20);
        stat(out, "threads", 1);
        stat(out, "bytes", bytes);
        stat(out, "curr_items", items);
        stat(out, "total_items", s.total_items);
        stat(out, "evictions", 0);
    }

    fn meta(&mut self, op: u8, toks: &[&[u8]], data: &[u8]) -> Done {
        match op {
            b'g' => self.mg(toks),
            b's' => return self.ms(toks, data),
            b'd' => self.md(toks),
            b'n' => self.line(b"MN"),
            b'a' => self.ma(toks),
            b'e' => self.me(toks),
            _ => self.line(b"ERROR"),
        }
        Done::Next(0)
    }

    /// memcached's `_meta_flag_preparse`: the first error that stops the parse, or the
    /// last of those that do not (`default` if none of them named itself).
    fn preparse(
        &self,
        key: &[u8],
        flags: &[&[u8]],
        default: &'static str,
    ) -> Result<MetaFlags, &'static str> {
        let mut f = MetaFlags {
            key: key.to_vec(),
            delta: 1,
            ..MetaFlags::default()
        };
        let mut seen = [false; 127];
        let mut error = None;
        let bad_token = "CLIENT_ERROR bad token in command line format";
        for token in flags {
            let Some((&flag, arg)) = token.split_first() else {
                continue;
            };
            match seen.get_mut(usize::from(flag)) {
                Some(seen) if !*seen => *seen = true,
                _ => return Err("CLIENT_ERROR duplicate flag"),
            }
            let exptime = || parse_i32(arg);
            match flag {
                b'b' => {
                    f.key_binary = true;
                    f.key = base64_decode(key).unwrap_or_else(|| {
                        error = Some(Some("CLIENT_ERROR error decoding key"));
                        Vec::new()
                    });
                }
                b'N' => {
                    f.locked = true;
                    f.vivify = true;
                    match exptime() {
                        Some(e) => f.autoviv = self.store.deadline(e, self.now),
                        None => error = Some(Some(bad_token)),
                    }
                }
                b'T' => {
                    f.locked = true;
                    match exptime() {
                        Some(e) => {
                            f.expires = self.store.deadline(e, self.now);
                            f.new_ttl = true;
                        }
                        None => error = Some(Some(bad_token)),
                    }
                }
                b'R' => {
                    f.locked = true;
                    match exptime() {
                        Some(e) => f.recache = self.store.relative(e),
                        None => error = Some(Some(bad_token)),
                    }
                }
                b'l' | b'h' => f.locked = true,
                b'O' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' => {}
                b'v' => f.value = true,
                b'u' => f.no_update = true,
                b'q' => f.no_reply = true,
                b'x' => f.remove_value = true,
                b'I' => f.set_stale = true,
                b'F' => match parse_u32(arg) {
                    Some(flags) => f.client_flags = flags,
                    None => error = Some(error.flatten()),
                },
                b'C' => match parse_u64(arg) {
                    Some(cas) => {
                        f.req_cas = cas;
                        f.has_cas = true;
                    }
                    None => error = Some(Some(bad_token)),
                },
                b'E' => match parse_u64(arg) {
                    Some(cas) => f.cas_in = Some(cas),
                    None => error = Some(Some(bad_token)),
                },
                b'M' => match arg {
                    [mode] => f.mode = *mode,
                    _ => error = Some(Some("CLIENT_ERROR incorrect length for M token")),
                },
                b'J' => match parse_u64(arg) {
                    Some(initial) => f.initial = initial,
                    None => error = Some(Some("CLIENT_ERROR invalid numeric initial value")),
                },
                b'D' => match parse_u64(arg) {
                    Some(delta) => f.delta = delta,
                    None => error = Some(Some("CLIENT_ERROR invalid numeric delta value")),
                },
                _ => return Err("CLIENT_ERROR invalid flag"),
            }
        }
        match error {
            Some(message) => Err(message.unwrap_or(default)),
            None => Ok(f),
        }
    }

    /// Appends the return flags every meta command shares: ` O<opaque>` and ` k<key>`
    /// (base64, then ` b`, for a binary key). `None` when an opaque is too long.
    fn echo(token: &[u8], key: &[u8], key_binary: bool, out: &mut Vec<u8>) -> Option<()> {
        match token.first() {
            Some(b'O') if token.len() > MFLAG_MAX_OPAQUE_LENGTH => return None,
            Some(b'O') => {
                out.push(b' ');
                out.extend_from_slice(token);
            }
            Some(b'k') => {
                out.extend_from_slice(b" k");
                if key_binary {
                    out.extend_from_slice(&base64_encode(key));
                    out.extend_from_slice(b" b");
                } else {
                    out.extend_from_slice(key);
                }
            }
            _ => {}
        }
        Some(())
    }

    /// Checks what every meta command but `ms` checks before its flags.
    fn meta_start(&mut self, toks: &[&[u8]], too_long: &str) -> bool {
        let n = toks.len() + 1;
        if n < 3 {
            self.line(b"ERROR");
        } else if tok(toks, 1).len() > KEY_MAX_LENGTH {
            self.error(BAD_FORMAT);
        } else if n > MFLAG_MAX_OPT_LENGTH {
            self.error(too_long.as_bytes());
        } else {
            return true;
        }
        false
    }

    fn mg(&mut self, toks: &[&[u8]]) {
        if !self.meta_start(toks, "CLIENT_ERROR options flags are too long") {
            return;
        }
        let flag_toks = toks.get(2..).unwrap_or_default();
        let default = "CLIENT_ERROR bad command line format";
        let f = match self.preparse(tok(toks, 1), flag_toks, default) {
            Ok(f) => f,
            Err(message) => return self.error(message.as_bytes()),
        };
        self.noreply = f.no_reply;
        let (now, key) = (self.now, f.key.as_slice());
        let touching = f.new_ttl;
        if touching {
            self.store.stats.cmd_touch += 1;
        } else {
            self.store.stats.cmd_get += 1;
        }
        let mut created = false;
        if self.store.live(key, now).is_none() && f.vivify {
            self.store.vivify(key, f.cas_in, now);
            created = true;
        }
        if !f.locked && !f.no_update {
            self.store.bump(key, now);
        }
        let clock = self.store.clock(now);
        let mut line = Vec::new();
        let Some(item) = self.store.live(key, now) else {
            if touching {
                self.store.stats.touch_misses += 1;
            } else {
                self.store.stats.get_misses += 1;
            }
            line.extend_from_slice(b"EN");
            for token in flag_toks {
                if Self::echo(token, key, f.key_binary, &mut line).is_none() {
                    return self.error(b"CLIENT_ERROR opaque token too long");
                }
            }
            return self.line(&line);
        };
        if f.value {
            put(&mut line, format_args!("VA {}", item.value.len()));
        } else {
            line.extend_from_slice(b"HD");
        }
        let mut won = false;
        for token in flag_toks {
            match token.first() {
                Some(b'T') => item.expires = f.expires,
                Some(b'N') if created => {
                    item.expires = f.autoviv;
                    won = true;
                }
                Some(b'R') => {
                    let below = item
                        .expires
                        .zip(f.recache)
                        .is_some_and(|(expires, r)| secs_left(expires, clock) < r);
                    won |= below && !item.token_sent && !created;
                }
                Some(b's') => put(&mut line, format_args!(" s{}", item.value.len())),
                Some(b't') => put_ttl(&mut line, item.expires, clock),
                Some(b'c') => put(&mut line, format_args!(" c{}", item.cas)),
                Some(b'f') => put(&mut line, format_args!(" f{}", item.flags)),
                Some(b'l') => {
                    let idle = clock.saturating_duration_since(item.time).as_secs();
                    put(&mut line, format_args!(" l{idle}"));
                }
                Some(b'h') => put(&mut line, format_args!(" h{}", u8::from(item.fetched))),
                _ => {
                    if Self::echo(token, key, item.key_binary, &mut line).is_none() {
                        return self.error(b"CLIENT_ERROR opaque token too long");
                    }
                }
            }
        }
        // Z before X, and never W with Z.
        if item.token_sent {
            line.extend_from_slice(b" Z");
        }
        if item.stale {
            line.extend_from_slice(b" X");
            won |= !item.token_sent;
        }
        if won {
            line.extend_from_slice(b" W");
            item.token_sent = true;
        }
        line.extend_from_slice(b"\r\n");
        if f.value {
            line.extend_from_slice(&item.value);
            line.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(&line);
        if f.locked && !f.no_update {
            self.store.bump(key, now);
        }
        if touching {
            self.store.stats.touch_hits += 1;
        } else {
            self.store.stats.get_hits += 1;
        }
    }

    fn ms(&mut self, toks: &[&[u8]], data: &[u8]) -> Done {
        let n = toks.len() + 1;
        let key = tok(toks, 1);
        if n < 3 {
            self.line(b"ERROR");
            return Done::Next(0);
        }
        if key.len() > KEY_MAX_LENGTH || n == 3 {
            self.error(BAD_FORMAT);
            return Done::Next(0);
        }
        if n > MFLAG_MAX_OPT_LENGTH {
            self.error(b"CLIENT_ERROR options flags too long");
            return Done::Next(0);
        }
        let Some(vlen) = parse_i32(tok(toks, 2)).and_then(value_len) else {
            self.error(BAD_FORMAT);
            return Done::Next(0);
        };
        // Past this point every refusal discards the data block, so that it is not read
        // as commands.
        let flag_toks = toks.get(3..).unwrap_or_default();
        let f = match self.preparse(key, flag_toks, "CLIENT_ERROR bad command line format") {
            Ok(f) => f,
            Err(message) => return self.refuse(message.as_bytes(), vlen),
        };
        self.noreply = f.no_reply;
        let opaque_too_long = flag_toks
            .iter()
            .any(|t| t.first() == Some(&b'O') && t.len() > MFLAG_MAX_OPAQUE_LENGTH);
        let mut mode = match (f.mode, f.vivify) {
            (0 | b'S', _) => Mode::Set,
            (b'E', _) => Mode::Add,
            (b'A', false) => Mode::Append,
            (b'A', true) => Mode::AppendVivify,
            (b'P', false) => Mode::Prepend,
            (b'P', true) => Mode::PrependVivify,
            (b'R', _) => Mode::Replace,
            _ => return self.refuse(b"CLIENT_ERROR invalid mode for ms M token", vlen),
        };
        if f.has_cas && matches!(mode, Mode::Set | Mode::Replace) {
            mode = Mode::Cas;
        }
        if opaque_too_long {
            return self.refuse(b"CLIENT_ERROR opaque token too long", vlen);
        }
        if !self.store.fits(f.key.len(), f.client_flags, vlen) {
            // memcached drops the old value rather than leave it stale.
            self.store.unlink(&f.key);
            return self.refuse(b"SERVER_ERROR object too large for cache", vlen);
        }
        let Some(value) = self.data_block(data, vlen) else {
            return Done::Wait;
        };
        let Some(value) = value else {
            self.error(b"CLIENT_ERROR bad data chunk");
            return Done::Next(vlen + 2);
        };
        let vivifying = matches!(mode, Mode::AppendVivify | Mode::PrependVivify);
        let new = NewItem {
            key: &f.key,
            value,
            flags: f.client_flags,
            expires: if vivifying { f.autoviv } else { f.expires },
            compare: f.req_cas,
            allow_stale: f.set_stale && mode == Mode::Cas,
            key_binary: f.key_binary,
            cas_in: f.cas_in,
        };
        let (code, cas): (&[u8], u64) = match self.store.store(new, mode, self.now) {
            StoreResult::Stored(cas) => (b"HD", cas),
            StoreResult::NotStored => (b"NS", 0),
            StoreResult::Exists => (b"EX", 0),
            StoreResult::NotFound => (b"NF", 0),
        };
        let mut line = code.to_vec();
        for token in flag_toks {
            if token.first() == Some(&b'c') {
                put(&mut line, format_args!(" c{cas}"));
            } else {
                let _ = Self::echo(token, &f.key, f.key_binary, &mut line);
            }
        }
        self.noreply &= code == b"HD";
        self.line(&line);
        Done::Next(vlen + 2)
    }

    /// A refused `ms`: the error, and its data block discarded whenever it arrives.
    fn refuse(&mut self, message: &[u8], vlen: usize) -> Done {
        self.session.swallow = vlen + 2;
        self.error(message);
        Done::Next(0)
    }

    fn md(&mut self, toks: &[&[u8]]) {
        if !self.meta_start(toks, "CLIENT_ERROR options flags too long") {
            return;
        }
        let flag_toks = toks.get(2..).unwrap_or_default();
        let Ok(f) = self.preparse(tok(toks, 1), flag_toks, "") else {
            return self.error(b"CLIENT_ERROR invalid or duplicate flag");
        };
        self.noreply = f.no_reply;
        let (now, key) = (self.now, f.key.as_slice());
        let mut echoed = Vec::new();
        for token in flag_toks {
            if Self::echo(token, key, f.key_binary, &mut echoed).is_none() {
                return self.error(b"CLIENT_ERROR opaque token too long");
            }
        }
        let code: &[u8] = match self.store.live(key, now) {
            None => {
                self.store.stats.delete_misses += 1;
                b"NF"
            }
            Some(item) if f.has_cas && item.cas != f.req_cas => {
                self.store.stats.delete_misses += 1;
                b"EX"
            }
            Some(item) => {
                let cas = f.cas_in.unwrap_or(item.cas);
                if f.remove_value {
                    self.store.empty(key, f.client_flags, f.expires, cas, now);
                }
                if f.set_stale {
                    let cas = self.store.next_cas(f.cas_in);
                    if let Some(item) = self.store.live(key, now) {
                        if f.new_ttl {
                            item.expires = f.expires;
                        }
                        item.stale = true;
                        // The next fetch may win the recache again.
                        item.token_sent = false;
                        item.cas = cas;
                    }
                } else {
                    self.store.stats.delete_hits += 1;
                    if !f.remove_value {
                        self.store.unlink(key);
                    }
                }
                b"HD"
            }
        };
        self.noreply &= code == b"HD";
        let mut line = code.to_vec();
        line.extend_from_slice(&echoed);
        self.line(&line);
    }

    fn ma(&mut self, toks: &[&[u8]]) {
        if !self.meta_start(toks, "CLIENT_ERROR options flags too long") {
            return;
        }
        let flag_toks = toks.get(2..).unwrap_or_default();
        let Ok(f) = self.preparse(tok(toks, 1), flag_toks, "") else {
            return self.error(b"CLIENT_ERROR invalid or duplicate flag");
        };
        self.noreply = f.no_reply;
        let incr = match f.mode {
            0 | b'I' | b'+' => true,
            b'D' | b'-' => false,
            _ => return self.error(b"CLIENT_ERROR invalid mode for ma M token"),
        };
        let (now, key) = (self.now, f.key.as_slice());
        let mut created = false;
        let (code, value): (&[u8], _) =
            match self.store.add_delta(key, incr, f.delta, f.req_cas, now) {
                Delta::Done(value) => {
                    self.count_arith(incr, true);
                    if let (Some(cas), Some(item)) = (f.cas_in, self.store.live(key, now)) {
                        item.cas = cas;
                    }
                    (b"HD", Some(value))
                }
                Delta::NonNumeric => {
                    return self
                        .error(b"CLIENT_ERROR cannot increment or decrement non-numeric value")
                }
                Delta::NotFound if f.vivify => {
                    let new = NewItem {
                        key,
                        value: f.initial.to_string().into(),
                        flags: 0,
                        expires: None,
                        compare: 0,
                        allow_stale: false,
                        key_binary: false,
                        cas_in: f.cas_in,
                    };
                    self.store.store(new, Mode::Add, now);
                    created = true;
                    (b"HD", Some(f.initial))
                }
                Delta::NotFound => {
                    self.count_arith(incr, false);
                    (b"NF", None)
                }
                Delta::CasMismatch => (b"EX", None),
            };
        // memcached keeps quiet only about an existing counter's success.
        self.noreply &= value.is_some() && !created;
        let clock = self.store.clock(now);
        let mut line = Vec::new();
        match (value, self.store.live(key, now)) {
            (Some(value), Some(item)) => {
                let digits = value.to_string();
                if f.value {
                    put(&mut line, format_args!("VA {}", digits.len()));
                } else {
                    line.extend_from_slice(b"HD");
                }
                for token in flag_toks {
                    match token.first() {
                        Some(b'c') => put(&mut line, format_args!(" c{}", item.cas)),
                        Some(b't') => put_ttl(&mut line, item.expires, clock),
                        Some(b'T') => item.expires = f.expires,
                        Some(b'N') if created => item.expires = f.autoviv,
                        _ => {
                            if Self::echo(token, key, f.key_binary, &mut line).is_none() {
                                return self.error(b"CLIENT_ERROR opaque token too long");
                            }
                        }
                    }
                }
                if f.value {
                    line.extend_from_slice(b"\r\n");
                    line.extend_from_slice(digits.as_bytes());
                }
            }
            _ => {
                line.extend_from_slice(code);
                for token in flag_toks {
                    if Self::echo(token, key, f.key_binary, &mut line).is_none() {
                        return self.error(b"CLIENT_ERROR opaque token too long");
                    }
                }
            }
        }
        self.line(&line);
    }

    /// `me`: memcached's debug line for an item.
    fn me(&mut self, toks: &[&[u8]]) {
        let key = tok(toks, 1);
        if toks.len() + 1 < 3 || key.len() > KEY_MAX_LENGTH {
            return self.line(BAD_FORMAT);
        }
        let key = if toks.len() + 1 >= 4 && tok(toks, 2) == b"b" {
            match base64_decode(key) {
                Some(key) => key,
                None => return self.line(BAD_FORMAT),
            }
        } else {
            key.to_vec()
        };
        let clock = self.store.clock(self.now);
        let Some(item) = self.store.live(&key, self.now) else {
            return self.line(b"EN");
        };
        let mut line = b"ME ".to_vec();
        if item.key_binary {
            line.extend_from_slice(&base64_encode(&key));
        } else {
            line.extend_from_slice(&key);
        }
        // memcached prints how long ago the item expired, so a live one shows minus its
        // TTL.
        let exp = match item.expires {
            None => -1,
            Some(expires) => 0i64.saturating_sub_unsigned(secs_left(expires, clock)),
        };
        let idle = clock.saturating_duration_since(item.time).as_secs();
        let fetched = if item.fetched { "yes" } else { "no" };
        let size = Store::item_total(key.len(), item);
        put(
            &mut line,
            format_args!(
                " exp={exp} la={idle} cas={} fetch={fetched} cls=1 size={size}",
                item.cas
            ),
        );
        self.line(&line);
    }
}

/// The length of a data block, if memcached accepts it.
fn value_len(vlen: i32) -> Option<usize> {
    if vlen > i32::MAX - 2 {
        return None;
    }
    usize::try_from(vlen).ok()
}

/// Whole seconds from `clock` to `expires`, rounded up as memcached's second-granular
/// clock would show a fresh TTL.
fn secs_left(expires: Instant, clock: Instant) -> u64 {
    let left = expires.saturating_duration_since(clock);
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

/// ` t<seconds left>`, or ` t-1` for an item that never expires.
fn put_ttl(line: &mut Vec<u8>, expires: Option<Instant>, clock: Instant) {
    match expires {
        None => line.extend_from_slice(b" t-1"),
        Some(expires) => put(line, format_args!(" t{}", secs_left(expires, clock))),
    }
}

/// A `STAT name value` line.
fn stat(out: &mut Vec<u8>, name: &str, value: impl Display) {
    put(out, format_args!("STAT {name} {value}\r\n"));
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64_encode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        let sextet = |shift: u32| {
            let index = ((n >> shift) & 0x3f) as usize;
            BASE64.get(index).copied().unwrap_or(b'=')
        };
        out.extend([sextet(18), sextet(12)]);
        out.push(if chunk.len() > 1 { sextet(6) } else { b'=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { b'=' });
    }
    out
}

/// memcached's base64 decoder: characters outside the alphabet are skipped, the rest
/// must come in fours, and decoding stops after the first padded group. `None` where
/// memcached's returns 0 (an error, or nothing decoded).
fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let sextet = |b: u8| match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(0),
        _ => None,
    };
    let count = input.iter().filter(|b| sextet(**b).is_some()).count();
    if count == 0 || count % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(count / 4 * 3);
    let (mut block, mut filled, mut pad) = ([0u8; 4], 0, 0);
    for &b in input {
        let Some(value) = sextet(b) else { continue };
        pad += usize::from(b == b'=');
        if let Some(slot) = block.get_mut(filled) {
            *slot = value;
        }
        filled += 1;
        if filled == 4 {
            let [a, b, c, d] = block;
            out.extend([(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d]);
            filled = 0;
            if pad > 0 {
                if pad > 2 {
                    return None;
                }
                out.truncate(out.len().saturating_sub(pad));
                break;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
