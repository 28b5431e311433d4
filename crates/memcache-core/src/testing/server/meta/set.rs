//! `ms`: the meta store, covering every storage mode and `cas`.

use super::{MFLAG_MAX_OPAQUE_LENGTH, MFLAG_MAX_OPT_LENGTH};
use crate::testing::server::{put, tok, value_len, Cx, Done, BAD_FORMAT, KEY_MAX_LENGTH};
use crate::testing::store::{parse_i32, Mode, NewItem, StoreResult};

impl Cx<'_> {
    pub(super) fn ms(&mut self, toks: &[&[u8]], data: &[u8]) -> Done {
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
}
