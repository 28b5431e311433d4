//! `mg`: the meta fetch, with its leases (`N` and `R` in, `W`, `X` and `Z` out).

use super::{put_ttl, secs_left};
use crate::testing::server::{put, tok, Cx};

impl Cx<'_> {
    pub(super) fn mg(&mut self, toks: &[&[u8]]) {
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
}
