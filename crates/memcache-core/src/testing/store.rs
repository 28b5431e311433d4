//! The items an in-memory server holds, and memcached's item-level operations on them
//! (`do_store_item`, `do_add_delta`, lazy expiry, `flush_all`), independent of any wire
//! format.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// memcached's default `-I`.
const DEFAULT_ITEM_SIZE_MAX: usize = 1024 * 1024;

/// Exptimes above this many seconds (30 days) are absolute unix times.
const REALTIME_MAXDELTA: i32 = 60 * 60 * 24 * 30;

/// What memcached's item header, key terminator, CAS and value terminator add to an
/// item's size on a 64-bit build, besides the key and value: `sizeof(item)` (48), the
/// key's NUL (1), the CAS (8) and the value's CRLF (2).
const ITEM_OVERHEAD: usize = 48 + 1 + 8 + 2;

/// The items, the CAS counter, the clock offset and the counters `stats` reports.
pub(crate) struct Store {
    items: HashMap<Vec<u8>, Item>,
    /// The last CAS unique handed out.
    cas: u64,
    item_size_max: usize,
    credentials: Option<(String, String)>,
    /// How far the store's clock runs ahead of real time.
    offset: Duration,
    /// A `flush_all` with a delay not yet carried out.
    flush_at: Option<Instant>,
    created: Instant,
    commands: u64,
    pub(super) stats: Stats,
}

/// One item, with the metadata the meta commands report.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) value: Bytes,
    pub(super) flags: u32,
    /// `None`: never expires.
    pub(super) expires: Option<Instant>,
    pub(super) cas: u64,
    /// Last access, on the store's clock.
    pub(super) time: Instant,
    /// When it was stored, for delayed flushes.
    stored: Instant,
    /// Fetched at least once (`mg h`, `me fetch=`).
    pub(super) fetched: bool,
    /// Marked stale by `md I` or an `ms I` with an older CAS: `mg` answers `X`.
    pub(super) stale: bool,
    /// A client was handed the right to recache it (`W`); later ones see `Z`.
    pub(super) token_sent: bool,
    /// Stored by a meta command with a base64 key: keys are echoed base64-encoded.
    pub(super) key_binary: bool,
}

/// An item as [`Store::peek`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peeked {
    pub(crate) value: Bytes,
    pub(crate) flags: u32,
    /// The time left before it expires; `None` if it never does.
    pub(crate) ttl: Option<Duration>,
    pub(crate) cas: u64,
}

/// The counters of `stats`, named as memcached names them.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Stats {
    pub(super) cmd_get: u64,
    pub(super) cmd_set: u64,
    pub(super) cmd_flush: u64,
    pub(super) cmd_touch: u64,
    pub(super) get_hits: u64,
    pub(super) get_misses: u64,
    pub(super) delete_hits: u64,
    pub(super) delete_misses: u64,
    pub(super) incr_hits: u64,
    pub(super) incr_misses: u64,
    pub(super) decr_hits: u64,
    pub(super) decr_misses: u64,
    pub(super) touch_hits: u64,
    pub(super) touch_misses: u64,
    pub(super) total_items: u64,
}

/// How a store command treats an existing item (memcached's `NREAD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    /// Append, creating the item when missing (`ms MA N`).
    AppendVivify,
    /// Prepend, creating the item when missing (`ms MP N`).
    PrependVivify,
    Cas,
}

/// A value to store, with what the command said about it.
#[derive(Debug, Clone)]
pub(super) struct NewItem<'a> {
    pub(super) key: &'a [u8],
    pub(super) value: Bytes,
    pub(super) flags: u32,
    pub(super) expires: Option<Instant>,
    /// The CAS unique to compare with; 0 for none.
    pub(super) compare: u64,
    /// `ms I`: an older CAS than the item's stores it anyway, marked stale.
    pub(super) allow_stale: bool,
    pub(super) key_binary: bool,
    /// `E`: the CAS unique to give the item instead of the next one.
    pub(super) cas_in: Option<u64>,
}

/// What a store command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StoreResult {
    /// Stored, with this CAS unique.
    Stored(u64),
    NotStored,
    Exists,
    NotFound,
}

/// What an increment or decrement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delta {
    /// The new value.
    Done(u64),
    NonNumeric,
    NotFound,
    CasMismatch,
}

impl Store {
    /// An empty store, with memcached's default item size limit.
    pub(crate) fn new() -> Store {
        Store {
            items: HashMap::new(),
            cas: 0,
            item_size_max: DEFAULT_ITEM_SIZE_MAX,
            credentials: None,
            offset: Duration::ZERO,
            flush_at: None,
            created: Instant::now(),
            commands: 0,
            stats: Stats::default(),
        }
    }

    /// Sets memcached's `-I`: the largest item, header and key included.
    pub(crate) fn set_item_size_max(&mut self, bytes: usize) {
        self.item_size_max = bytes;
    }

    /// Requires this user and password before any command (memcached's `-Y`), or none.
    pub(crate) fn set_credentials(&mut self, creds: Option<(String, String)>) {
        self.credentials = creds;
    }

    /// Moves the store's clock forward.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.offset = self.offset.saturating_add(by);
    }

    /// The live item under `key`, without counting an access.
    pub(crate) fn peek(&self, key: &[u8], now: Instant) -> Option<Peeked> {
        let clock = self.clock(now);
        let item = self.items.get(key).filter(|item| self.alive(item, clock))?;
        Some(Peeked {
            value: item.value.clone(),
            flags: item.flags,
            ttl: item
                .expires
                .map(|expires| expires.saturating_duration_since(clock)),
            cas: item.cas,
        })
    }

    /// How many items are live.
    pub(crate) fn len(&self, now: Instant) -> usize {
        let clock = self.clock(now);
        self.items
            .values()
            .filter(|item| self.alive(item, clock))
            .count()
    }

    /// Removes every item at once.
    pub(crate) fn flush(&mut self) {
        self.items.clear();
        self.flush_at = None;
    }

    /// Removes the item under `key`; whether a live one was there.
    pub(crate) fn remove(&mut self, key: &[u8]) -> bool {
        let clock = self.clock(Instant::now());
        match self.items.remove(key) {
            Some(item) => self.alive(&item, clock),
            None => false,
        }
    }

    /// How many commands have been interpreted, over every connection.
    pub(crate) fn commands(&self) -> u64 {
        self.commands
    }

    pub(super) fn count_command(&mut self) {
        self.commands += 1;
    }

    pub(super) fn credentials(&self) -> Option<&(String, String)> {
        self.credentials.as_ref()
    }

    pub(super) fn item_size_max(&self) -> usize {
        self.item_size_max
    }

    /// The store's clock: real time plus what [`advance`](Self::advance) added.
    pub(super) fn clock(&self, now: Instant) -> Instant {
        now.checked_add(self.offset).unwrap_or(now)
    }

    /// Unix time on the store's clock.
    pub(super) fn unix_now(&self) -> SystemTime {
        let now = SystemTime::now();
        now.checked_add(self.offset).unwrap_or(now)
    }

    /// Seconds since the store was created, on its clock.
    pub(super) fn uptime(&self, now: Instant) -> u64 {
        self.clock(now)
            .saturating_duration_since(self.created)
            .as_secs()
    }

    /// memcached's `realtime()`: when an item given exptime `exptime` expires. 0 never
    /// expires, a negative one already has, up to 30 days counts from now and anything
    /// larger is a unix time.
    pub(super) fn deadline(&self, exptime: i32, now: Instant) -> Option<Instant> {
        let clock = self.clock(now);
        match exptime {
            0 => None,
            e if e < 0 => Some(clock),
            e if e <= REALTIME_MAXDELTA => clock.checked_add(secs(e)),
            e => {
                let target = UNIX_EPOCH + secs(e);
                match target.duration_since(self.unix_now()) {
                    Ok(left) => clock.checked_add(left),
                    Err(_) => Some(clock),
                }
            }
        }
    }

    /// An exptime in seconds from now, as the recache threshold of `mg R` compares it:
    /// `None` for 0 and for times already past, which no TTL is below.
    pub(super) fn relative(&self, exptime: i32) -> Option<u64> {
        match exptime {
            e if e <= 0 => None,
            e if e <= REALTIME_MAXDELTA => u64::try_from(e).ok(),
            e => {
                let target = UNIX_EPOCH + secs(e);
                let left = target.duration_since(self.unix_now()).ok()?;
                Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            }
        }
    }

    /// Whether an item fits the item size limit, as memcached's `item_size_ok` counts it.
    pub(super) fn fits(&self, key_len: usize, flags: u32, value_len: usize) -> bool {
        let suffix = if flags == 0 { 0 } else { 4 };
        ITEM_OVERHEAD
            .saturating_add(key_len)
            .saturating_add(suffix)
            .saturating_add(value_len)
            <= self.item_size_max
    }

    /// The next CAS unique, or `cas_in` when the command supplied one.
    pub(super) fn next_cas(&mut self, cas_in: Option<u64>) -> u64 {
        cas_in.unwrap_or_else(|| {
            self.cas += 1;
            self.cas
        })
    }

    /// Carries out a delayed `flush_all` whose time has come.
    pub(super) fn reap(&mut self, now: Instant) {
        let clock = self.clock(now);
        if let Some(at) = self.flush_at.filter(|at| *at <= clock) {
            self.items.retain(|_, item| item.stored > at);
            self.flush_at = None;
        }
    }

    /// `flush_all`: now, or at `at`.
    pub(super) fn flush_all(&mut self, at: Option<Instant>, now: Instant) {
        match at.filter(|at| *at > self.clock(now)) {
            Some(at) => self.flush_at = Some(at),
            None => {
                // memcached draws a CAS unique to mark what the flush covers.
                self.next_cas(None);
                self.flush();
            }
        }
    }

    fn alive(&self, item: &Item, clock: Instant) -> bool {
        let expired = item.expires.is_some_and(|at| at <= clock);
        let flushed = self
            .flush_at
            .is_some_and(|at| at <= clock && item.stored <= at);
        !expired && !flushed
    }

    /// The live item under `key`, dropping it first if it expired (memcached's lazy
    /// expiry), without counting an access.
    pub(super) fn live(&mut self, key: &[u8], now: Instant) -> Option<&mut Item> {
        let clock = self.clock(now);
        let alive = self.items.get(key).map(|item| self.alive(item, clock))?;
        if !alive {
            self.items.remove(key);
            return None;
        }
        self.items.get_mut(key)
    }

    /// Counts an access to an item: it has been fetched, and now is its last access.
    pub(super) fn bump(&mut self, key: &[u8], now: Instant) {
        let clock = self.clock(now);
        if let Some(item) = self.items.get_mut(key) {
            item.fetched = true;
            item.time = clock;
        }
    }

    /// Links a new item under `key`, replacing any other.
    fn link(&mut self, key: &[u8], mut item: Item, cas_in: Option<u64>) -> u64 {
        item.cas = self.next_cas(cas_in);
        let cas = item.cas;
        self.stats.total_items += 1;
        self.items.insert(key.to_vec(), item);
        cas
    }

    fn fresh(&self, value: Bytes, flags: u32, expires: Option<Instant>, now: Instant) -> Item {
        let clock = self.clock(now);
        Item {
            value,
            flags,
            expires,
            cas: 0,
            time: clock,
            stored: clock,
            fetched: false,
            stale: false,
            token_sent: false,
            key_binary: false,
        }
    }

    /// `mg N` on a miss: an empty item that never expires until the command says when.
    pub(super) fn vivify(&mut self, key: &[u8], cas_in: Option<u64>, now: Instant) {
        let item = self.fresh(Bytes::new(), 0, None, now);
        self.link(key, item, cas_in);
    }

    /// `md x`: the item stays, with an empty value and these flags, expiry and CAS.
    pub(super) fn empty(
        &mut self,
        key: &[u8],
        flags: u32,
        expires: Option<Instant>,
        cas: u64,
        now: Instant,
    ) {
        let item = self.fresh(Bytes::new(), flags, expires, now);
        self.link(key, item, Some(cas));
    }

    /// memcached's `do_store_item`: stores `new` as `mode` says.
    pub(super) fn store(&mut self, new: NewItem<'_>, mode: Mode, now: Instant) -> StoreResult {
        let mut item = self.fresh(new.value.clone(), new.flags, new.expires, now);
        item.key_binary = new.key_binary;
        let Some(old) = self.live(new.key, now).cloned() else {
            return match mode {
                Mode::Set | Mode::Add | Mode::AppendVivify | Mode::PrependVivify => {
                    StoreResult::Stored(self.link(new.key, item, new.cas_in))
                }
                Mode::Cas => StoreResult::NotFound,
                Mode::Replace | Mode::Append | Mode::Prepend => StoreResult::NotStored,
            };
        };
        let matches = new.compare == old.cas;
        let stale = !matches && new.allow_stale && new.compare != 0 && new.compare < old.cas;
        match mode {
            Mode::Add => {
                if let Some(old) = self.items.get_mut(new.key) {
                    old.time = item.time;
                }
                StoreResult::NotStored
            }
            Mode::Cas if new.compare != 0 && matches => {
                StoreResult::Stored(self.link(new.key, item, new.cas_in))
            }
            Mode::Cas if stale => {
                item.expires = old.expires;
                item.stale = true;
                item.token_sent = old.token_sent;
                StoreResult::Stored(self.link(new.key, item, new.cas_in))
            }
            Mode::Cas => StoreResult::Exists,
            Mode::Append | Mode::Prepend | Mode::AppendVivify | Mode::PrependVivify => {
                if new.compare != 0 && !matches {
                    return StoreResult::Exists;
                }
                let len = old.value.len() + new.value.len();
                if !self.fits(new.key.len(), old.flags, len) {
                    return StoreResult::NotStored;
                }
                let mut value = Vec::with_capacity(len);
                if matches!(mode, Mode::Append | Mode::AppendVivify) {
                    value.extend_from_slice(&old.value);
                    value.extend_from_slice(&new.value);
                } else {
                    value.extend_from_slice(&new.value);
                    value.extend_from_slice(&old.value);
                }
                let item = self.fresh(value.into(), old.flags, old.expires, now);
                StoreResult::Stored(self.link(new.key, item, new.cas_in))
            }
            Mode::Set | Mode::Replace => StoreResult::Stored(self.link(new.key, item, new.cas_in)),
        }
    }

    /// memcached's `do_add_delta`: adds `delta` to (or takes it from, stopping at zero)
    /// the decimal number stored under `key`. A result no longer than the old value
    /// overwrites it in place, padded with spaces as memcached does; a longer one makes a
    /// new item.
    pub(super) fn add_delta(
        &mut self,
        key: &[u8],
        incr: bool,
        delta: u64,
        compare: u64,
        now: Instant,
    ) -> Delta {
        let clock = self.clock(now);
        let Some(item) = self.live(key, now) else {
            return Delta::NotFound;
        };
        if item.value.is_empty() {
            return Delta::NonNumeric;
        }
        if compare != 0 && item.cas != compare {
            return Delta::CasMismatch;
        }
        // The stored value as memcached's strtoull sees it: followed by its CRLF.
        let mut text = item.value.to_vec();
        text.extend_from_slice(b"\r\n");
        let Some(old) = parse_u64(&text) else {
            return Delta::NonNumeric;
        };
        let new = if incr {
            old.wrapping_add(delta)
        } else {
            old.saturating_sub(delta)
        };
        let mut digits = new.to_string().into_bytes();
        if digits.len() <= item.value.len() {
            digits.resize(item.value.len(), b' ');
            item.value = digits.into();
            item.time = clock;
        } else {
            let mut fresh = self.fresh(digits.into(), 0, None, now);
            if let Some(old) = self.items.get(key) {
                fresh.flags = old.flags;
                fresh.expires = old.expires;
            }
            self.items.insert(key.to_vec(), fresh);
        }
        let cas = self.next_cas(None);
        if let Some(item) = self.items.get_mut(key) {
            item.cas = cas;
        }
        Delta::Done(new)
    }

    /// Unlinks the item under `key`, live or not.
    pub(super) fn unlink(&mut self, key: &[u8]) {
        self.items.remove(key);
    }

    /// The total size memcached would account an item at (`me size=`, `stats bytes`).
    pub(super) fn item_total(key_len: usize, item: &Item) -> usize {
        let suffix = if item.flags == 0 { 0 } else { 4 };
        ITEM_OVERHEAD + key_len + suffix + item.value.len()
    }

    /// The live items' count and total size, for `stats`.
    pub(super) fn usage(&self, now: Instant) -> (usize, usize) {
        let clock = self.clock(now);
        self.items
            .iter()
            .filter(|(_, item)| self.alive(item, clock))
            .fold((0, 0), |(count, bytes), (key, item)| {
                (count + 1, bytes + Self::item_total(key.len(), item))
            })
    }
}

fn secs(exptime: i32) -> Duration {
    Duration::from_secs(u64::from(exptime.unsigned_abs()))
}

/// memcached's `safe_strtoull`: C's `strtoull` in base 10 (leading whitespace, a sign,
/// digits; a negative number wraps), then accepted only if followed by whitespace or the
/// end, and refused if it is negative as a signed number while a `-` appears.
pub(super) fn parse_u64(text: &[u8]) -> Option<u64> {
    let text = until_nul(text);
    let (negative, magnitude, rest) = c_number(text)?;
    let value = if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    };
    if !ends_number(rest) {
        return None;
    }
    if (value as i64) < 0 && text.contains(&b'-') {
        return None;
    }
    Some(value)
}

/// memcached's `safe_strtoul`: [`parse_u64`] (an `unsigned long` is 64 bits), then cut
/// to 32 bits as memcached's assignment cuts it.
pub(super) fn parse_u32(text: &[u8]) -> Option<u32> {
    parse_u64(text).map(|value| value as u32)
}

/// memcached's `safe_strtol`: C's `strtol` (64-bit `long`, out of range refused), then
/// cut to 32 bits as memcached's assignment cuts it.
pub(super) fn parse_i32(text: &[u8]) -> Option<i32> {
    let text = until_nul(text);
    let (negative, magnitude, rest) = c_number(text)?;
    let value = if negative {
        0i64.checked_sub_unsigned(magnitude)?
    } else {
        i64::try_from(magnitude).ok()?
    };
    ends_number(rest).then_some(value as i32)
}

fn until_nul(text: &[u8]) -> &[u8] {
    match memchr::memchr(0, text) {
        Some(nul) => text.get(..nul).unwrap_or(text),
        None => text,
    }
}

/// C's `isspace` in the C locale.
pub(super) fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Splits what `strtoull` reads: leading whitespace, a sign and at least one digit.
/// Returns the sign, the magnitude (`None` on overflow, C's `ERANGE`) and what follows.
fn c_number(text: &[u8]) -> Option<(bool, u64, &[u8])> {
    let start = text.iter().position(|b| !is_c_space(*b))?;
    let mut rest = text.get(start..)?;
    let mut negative = false;
    if let Some((&sign @ (b'+' | b'-'), after)) = rest.split_first() {
        negative = sign == b'-';
        rest = after;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let (number, rest) = rest.split_at(digits);
    let magnitude = number.iter().try_fold(0u64, |n, digit| {
        n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })?;
    Some((negative, magnitude, rest))
}

fn ends_number(rest: &[u8]) -> bool {
    rest.first().is_none_or(|b| is_c_space(*b))
}
