//! `md`: the meta delete, which can also just drop the value (`x`) or mark the item
//! stale (`I`).

use crate::testing::server::Cx;

impl Cx<'_> {
    pub(super) fn md(&mut self, toks: &[&[u8]]) {
        let Some(f) = self.meta_flags(toks) else {
            return;
        };
        let flag_toks = toks.get(2..).unwrap_or_default();
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
}
