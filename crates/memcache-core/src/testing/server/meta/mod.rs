//! The meta protocol: one module per command (`mn`, a bare `MN`, is answered here), and
//! what the commands share: the flag parsing, the echoed return flags, the checks before
//! the flags and the TTL reports.

use std::time::Instant;

use crate::testing::server::{base64, put, tok, Cx, Done, BAD_FORMAT, KEY_MAX_LENGTH};

mod arithmetic;
mod debug;
mod delete;
mod flags;
mod get;
mod set;

/// Meta commands with more tokens than this (the terminal one included) are refused.
const MFLAG_MAX_OPT_LENGTH: usize = 20;
/// The longest opaque token, its `O` included.
const MFLAG_MAX_OPAQUE_LENGTH: usize = 32;

impl Cx<'_> {
    /// Sends a meta command (`m` then `op`) to the method that interprets it.
    pub(super) fn meta(&mut self, op: u8, toks: &[&[u8]], data: &[u8]) -> Done {
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
                    out.extend_from_slice(&base64::encode(key));
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
    /// The start `md` and `ma` share: the line's shape, then its flags, which also say
    /// whether the command is quiet; `None` once it was refused.
    fn meta_flags(&mut self, toks: &[&[u8]]) -> Option<flags::MetaFlags> {
        if !self.meta_start(toks, "CLIENT_ERROR options flags too long") {
            return None;
        }
        let flag_toks = toks.get(2..).unwrap_or_default();
        let Ok(f) = self.preparse(tok(toks, 1), flag_toks, "") else {
            self.error(b"CLIENT_ERROR invalid or duplicate flag");
            return None;
        };
        self.noreply = f.no_reply;
        Some(f)
    }

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
