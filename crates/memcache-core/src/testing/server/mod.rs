//! memcached's text and meta protocols, interpreted over a [`Store`].
//!
//! The replies are memcached 1.6.18's byte for byte, quirks included (decrements padded
//! with spaces, `stats` groups, errors that leave the rest of a data block to be read as
//! commands), because the client's decoder is strict and applications' tests should see
//! what a real server would say. A differential test against a real memcached keeps it
//! so. Beyond 1.6.18 it accepts the newer meta flags the client sends: `E` (set the CAS
//! unique), `x` on `md` (drop the value only) and `N` on `ms` append modes (vivify).
//!
//! The entry point is [`serve`]. It leaves a connection that must still authenticate to
//! [`auth`], and sends every other command through [`Cx::dispatch`] to the module that
//! interprets it: [`classic`] for the text protocol's item commands, [`admin`] for its
//! server-wide ones, [`meta`] for the meta protocol.

use std::fmt::{Display, Write as _};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use super::store::{Mode, Store};

mod admin;
mod auth;
mod base64;
mod classic;
mod meta;

/// What `version` answers.
pub(crate) const VERSION: &str = "1.6.18-memory";

const KEY_MAX_LENGTH: usize = 250;
/// memcached closes a connection whose unfinished line grows past this, unless it is a
/// `get` or `gets` (multigets are unbounded).
const MAX_PARTIAL_LINE: usize = 2048;
/// memcached splits at most this many tokens (the last one being the rest of the line).
const MAX_TOKENS: usize = 24;

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
            auth::authenticate(store, session, input, output)
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

/// A line's words, however many: a multiget reads its keys past the token limit.
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

    /// Sends the command to the method that interprets it.
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

    /// The data block of `vlen` bytes at the front of `data`: `None` until it has all
    /// arrived, then the value, or `None` inside if it does not end in CRLF.
    fn data_block(&mut self, data: &[u8], vlen: usize) -> Option<Option<Bytes>> {
        let block = data.get(..vlen + 2)?;
        self.store.stats.cmd_set += 1;
        Some(block.strip_suffix(b"\r\n").map(Bytes::copy_from_slice))
    }

    /// Counts an `incr`/`decr` hit or miss; both protocols keep the same counters.
    fn count_arith(&mut self, incr: bool, hit: bool) {
        let stats = &mut self.store.stats;
        match (incr, hit) {
            (true, true) => stats.incr_hits += 1,
            (true, false) => stats.incr_misses += 1,
            (false, true) => stats.decr_hits += 1,
            (false, false) => stats.decr_misses += 1,
        }
    }
}

/// The length of a data block, if memcached accepts it.
fn value_len(vlen: i32) -> Option<usize> {
    if vlen > i32::MAX - 2 {
        return None;
    }
    usize::try_from(vlen).ok()
}

// The harness's way of finding (or installing) memcached, shared with the examples and
// the integration suite, for the differential tests.
#[cfg(test)]
#[path = "../../../../memcache-tokio/examples/support/debian_binary.rs"]
mod debian_binary;
#[cfg(test)]
mod tests;
