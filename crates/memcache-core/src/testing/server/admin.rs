//! The text protocol's server-wide commands: `flush_all`, `verbosity`, `cache_memlimit`
//! and `stats`.

use std::fmt::Display;
use std::time::UNIX_EPOCH;

use super::{put, tok, Cx, BAD_FORMAT, VERSION};
use crate::testing::store::{parse_i32, parse_u32};

impl Cx<'_> {
    pub(super) fn flush_all(&mut self, toks: &[&[u8]]) {
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

    pub(super) fn verbosity(&mut self, toks: &[&[u8]]) {
        self.noreply_maybe(toks);
        match parse_u32(tok(toks, 1)) {
            Some(_) => self.line(b"OK"),
            None => self.line(BAD_FORMAT),
        }
    }

    pub(super) fn memlimit(&mut self, toks: &[&[u8]]) {
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

    pub(super) fn stats(&mut self, toks: &[&[u8]]) {
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
}

/// A `STAT name value` line.
fn stat(out: &mut Vec<u8>, name: &str, value: impl Display) {
    put(out, format_args!("STAT {name} {value}\r\n"));
}
