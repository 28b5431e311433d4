//! The text protocol's item commands: the `get` family, the storage commands, `incr`,
//! `decr`, `delete` and `touch`.

use std::time::Instant;

use super::{put, tok, value_len, words, Cx, Done, BAD_FORMAT, KEY_MAX_LENGTH};
use crate::testing::store::{parse_i32, parse_u32, parse_u64, Delta, Mode, NewItem, StoreResult};

impl Cx<'_> {
    /// `get`, `gets`, `gat`, `gats`: every key of the line, however many.
    pub(super) fn retrieve(&mut self, line: &[u8], with_cas: bool, touch: bool) {
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
    pub(super) fn update(&mut self, toks: &[&[u8]], data: &[u8], mode: Mode) -> Done {
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

    /// `incr`, `decr`.
    pub(super) fn arithmetic(&mut self, toks: &[&[u8]], incr: bool) {
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

    pub(super) fn delete(&mut self, toks: &[&[u8]]) {
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

    pub(super) fn touch(&mut self, toks: &[&[u8]]) {
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
}
