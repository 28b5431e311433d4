//! Meta flag parsing, in the order memcached's `_meta_flag_preparse` reads the flags, so
//! that a command with several faulty flags gets the error memcached would pick.

use std::time::Instant;

use crate::testing::server::{base64, Cx};
use crate::testing::store::{parse_i32, parse_u32, parse_u64};

/// The flags of a meta command, as memcached's `_meta_flag_preparse` reads them.
#[derive(Default)]
pub(super) struct MetaFlags {
    /// The key, base64-decoded under `b`.
    pub(super) key: Vec<u8>,
    pub(super) key_binary: bool,
    /// Any of `h l N R T`: the access is counted after the reply is built, so `h` and `l`
    /// report what was before.
    pub(super) locked: bool,
    pub(super) no_update: bool,
    pub(super) vivify: bool,
    pub(super) value: bool,
    pub(super) set_stale: bool,
    pub(super) no_reply: bool,
    pub(super) has_cas: bool,
    pub(super) new_ttl: bool,
    pub(super) remove_value: bool,
    pub(super) mode: u8,
    pub(super) expires: Option<Instant>,
    pub(super) autoviv: Option<Instant>,
    /// `R`: the remaining TTL, in seconds, below which a fetch wins the recache.
    pub(super) recache: Option<u64>,
    pub(super) client_flags: u32,
    pub(super) req_cas: u64,
    pub(super) cas_in: Option<u64>,
    pub(super) delta: u64,
    pub(super) initial: u64,
}

impl Cx<'_> {
    /// memcached's `_meta_flag_preparse`: the first error that stops the parse, or the
    /// last of those that do not (`default` if none of them named itself).
    pub(super) fn preparse(
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
                    f.key = base64::decode(key).unwrap_or_else(|| {
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
}
