//! `ma`: the meta increment and decrement, which can create the counter (`N`).

use super::put_ttl;
use crate::testing::server::{put, Cx};
use crate::testing::store::{Delta, Mode, NewItem};

impl Cx<'_> {
    pub(super) fn ma(&mut self, toks: &[&[u8]]) {
        let Some(f) = self.meta_flags(toks) else {
            return;
        };
        let flag_toks = toks.get(2..).unwrap_or_default();
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
}
