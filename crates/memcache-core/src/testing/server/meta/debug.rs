//! `me`: memcached's debug line for an item.

use super::secs_left;
use crate::testing::server::{base64, put, tok, Cx, BAD_FORMAT, KEY_MAX_LENGTH};
use crate::testing::store::Store;

impl Cx<'_> {
    /// `me`: memcached's debug line for an item.
    pub(super) fn me(&mut self, toks: &[&[u8]]) {
        let key = tok(toks, 1);
        if toks.len() + 1 < 3 || key.len() > KEY_MAX_LENGTH {
            return self.line(BAD_FORMAT);
        }
        let key = if toks.len() + 1 >= 4 && tok(toks, 2) == b"b" {
            match base64::decode(key) {
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
            line.extend_from_slice(&base64::encode(&key));
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
