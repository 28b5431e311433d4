//! Encoding requests into a caller-owned buffer.

use bytes::{BufMut, BytesMut};

use crate::base64;
use crate::command::{ArithOp, Command, Retrieve, RetrieveKind, Store, StoreMode};
use crate::error::EncodeError;
use crate::expect::{Expect, ExpectKind, KeyList, MetaCmd, Opaque};
use crate::exptime::Exptime;
use crate::key::{validate_base64_key, validate_key, validate_token, MAX_KEY_LEN};
use crate::meta::{
    MetaArith, MetaArithMode, MetaCommon, MetaDelete, MetaGet, MetaSet, MetaSetMode,
};

/// The longest command line the server accepts, CRLF included, before it closes the
/// connection (retrieval commands `get` and `gets` are exempt).
pub const MAX_COMMAND_LINE: usize = 2048;

/// Encodes [`Command`]s. It holds only configuration, so one encoder can serve any number
/// of connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoder {
    max_value_len: usize,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            max_value_len: Self::DEFAULT_MAX_VALUE_LEN,
        }
    }
}

impl Encoder {
    /// The default value limit: 1 MiB less 512 bytes, so that every value accepted fits a
    /// server with the default 1 MiB item size (the server's limit also covers the item's
    /// header and key).
    pub const DEFAULT_MAX_VALUE_LEN: usize = 1024 * 1024 - 512;

    /// An encoder with the default value limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder that refuses values over `max_value_len` bytes. Match it to the server's
    /// `-I` setting.
    pub fn with_max_value_len(max_value_len: usize) -> Self {
        Encoder { max_value_len }
    }

    /// The largest value this encoder accepts.
    pub fn max_value_len(&self) -> usize {
        self.max_value_len
    }

    /// Appends the wire form of `command` to `out` and returns what its reply will be.
    ///
    /// # Errors
    /// Any [`EncodeError`]. On error `out` is left exactly as it was: nothing was written.
    pub fn encode(&self, command: &Command<'_>, out: &mut BytesMut) -> Result<Expect, EncodeError> {
        let start = out.len();
        let result = self.encode_unchecked(command, out);
        if result.is_err() {
            out.truncate(start);
        }
        result.map(Expect)
    }

    fn encode_unchecked(
        &self,
        command: &Command<'_>,
        out: &mut BytesMut,
    ) -> Result<ExpectKind, EncodeError> {
        let start = out.len();
        let expect = match command {
            Command::Store(store) => self.store(store, out)?,
            Command::Retrieve(retrieve) => return retrieve_command(retrieve, out),
            Command::Delete { key, noreply } => {
                // The key `noreply` needs no care: the server reads a final `noreply` as the
                // flag only when `delete` has more than one argument, which here means only
                // when the flag was asked for.
                validate_key(key)?;
                let mut line = Line::new(out, b"delete");
                line.token(key);
                line.end_noreply(*noreply, ExpectKind::Delete)
            }
            Command::Arith {
                op,
                key,
                delta,
                noreply,
            } => {
                validate_key(key)?;
                let name: &[u8] = match op {
                    ArithOp::Incr => b"incr",
                    ArithOp::Decr => b"decr",
                };
                let mut line = Line::new(out, name);
                line.token(key);
                line.u64(*delta);
                line.end_noreply(*noreply, ExpectKind::Arith)
            }
            Command::Touch {
                key,
                exptime,
                noreply,
            } => {
                validate_key(key)?;
                let wire = exptime.to_wire()?;
                let mut line = Line::new(out, b"touch");
                line.token(key);
                line.i64(wire.into());
                line.end_noreply(*noreply, ExpectKind::Touch)
            }
            Command::FlushAll { delay, noreply } => {
                let delay = delay.map(Exptime::to_wire).transpose()?;
                let mut line = Line::new(out, b"flush_all");
                if let Some(delay) = delay {
                    line.i64(delay.into());
                }
                line.end_noreply(*noreply, ExpectKind::Ok)
            }
            Command::Version => {
                Line::new(out, b"version").end();
                ExpectKind::Version
            }
            Command::Verbosity { level, noreply } => {
                let mut line = Line::new(out, b"verbosity");
                line.u64((*level).into());
                line.end_noreply(*noreply, ExpectKind::Ok)
            }
            Command::Stats { args } => {
                for arg in args.iter() {
                    validate_token(arg, MAX_KEY_LEN).map_err(EncodeError::Token)?;
                }
                let mut line = Line::new(out, b"stats");
                for arg in args.iter() {
                    line.token(arg);
                }
                line.end();
                ExpectKind::Stats
            }
            Command::CacheMemlimit { megabytes, noreply } => {
                let mut line = Line::new(out, b"cache_memlimit");
                line.u64((*megabytes).into());
                line.end_noreply(*noreply, ExpectKind::Memlimit)
            }
            Command::Quit => {
                Line::new(out, b"quit").end();
                ExpectKind::Nothing
            }
            Command::MetaGet(get) => meta_get(get, out)?,
            Command::MetaSet(set) => self.meta_set(set, out)?,
            Command::MetaDelete(delete) => meta_delete(delete, out)?,
            Command::MetaArith(arith) => meta_arith(arith, out)?,
            Command::MetaNoop => {
                Line::new(out, b"mn").end();
                ExpectKind::Meta {
                    cmd: MetaCmd::Noop,
                    quiet: false,
                    opaque: Opaque::default(),
                    key: None,
                }
            }
            Command::MetaDebug { key, base64 } => {
                let mut line = Line::new(out, b"me");
                line.meta_key(key, *base64)?;
                if *base64 {
                    line.flag(b'b');
                }
                line.end();
                ExpectKind::Meta {
                    cmd: MetaCmd::Debug,
                    quiet: false,
                    opaque: Opaque::default(),
                    key: None,
                }
            }
        };
        check_line_len(out, start)?;
        Ok(expect)
    }

    fn check_value(&self, value: &[u8]) -> Result<(), EncodeError> {
        if value.len() > self.max_value_len {
            return Err(EncodeError::ValueTooLarge {
                len: value.len(),
                max: self.max_value_len,
            });
        }
        Ok(())
    }

    fn store(&self, store: &Store<'_>, out: &mut BytesMut) -> Result<ExpectKind, EncodeError> {
        validate_key(store.key)?;
        self.check_value(store.value)?;
        let exptime = store.exptime.to_wire()?;
        out.reserve(store.key.len() + store.value.len() + 80);
        let mut line = Line::new(out, store.mode.name());
        line.token(store.key);
        line.u64(store.flags.into());
        line.i64(exptime.into());
        line.u64(store.value.len() as u64);
        if let StoreMode::Cas(cas) = store.mode {
            line.u64(cas);
        }
        let expect = line.end_noreply(store.noreply, ExpectKind::Store);
        data_block(out, store.value);
        Ok(expect)
    }

    fn meta_set(&self, set: &MetaSet<'_>, out: &mut BytesMut) -> Result<ExpectKind, EncodeError> {
        self.check_value(set.value)?;
        let exptime = wire_if(set.exptime != Exptime::Never, set.exptime)?;
        let vivify = set.vivify.map(Exptime::to_wire).transpose()?;
        out.reserve(set.key.len() + set.value.len() + 120);
        let mut line = Line::new(out, b"ms");
        line.meta_key(set.key, set.common.base64)?;
        line.u64(set.value.len() as u64);
        line.common_flags(&set.common)?;
        line.flag_if(set.return_cas, b'c');
        line.flag_u64_opt(b'C', set.compare_cas);
        line.flag_u64_opt(b'E', set.new_cas);
        if set.flags != 0 {
            line.flag_u64(b'F', set.flags.into());
        }
        line.flag_if(set.invalidate, b'I');
        line.flag_i64_opt(b'T', exptime);
        line.flag_i64_opt(b'N', vivify);
        let mode: Option<&[u8]> = match set.mode {
            MetaSetMode::Set => None,
            MetaSetMode::Add => Some(b"ME"),
            MetaSetMode::Replace => Some(b"MR"),
            MetaSetMode::Append => Some(b"MA"),
            MetaSetMode::Prepend => Some(b"MP"),
        };
        if let Some(mode) = mode {
            line.raw_token(mode);
        }
        line.end();
        data_block(out, set.value);
        Ok(meta_expect(MetaCmd::Set, &set.common, set.key))
    }
}

fn wire_if(send: bool, exptime: Exptime) -> Result<Option<i64>, EncodeError> {
    Ok(if send {
        Some(exptime.to_wire()?.into())
    } else {
        None
    })
}

fn check_line_len(out: &BytesMut, start: usize) -> Result<(), EncodeError> {
    let line_len = memchr::memchr(b'\n', &out[start..]).map_or(out.len() - start, |i| i + 1);
    if line_len > MAX_COMMAND_LINE {
        return Err(EncodeError::LineTooLong {
            len: line_len,
            max: MAX_COMMAND_LINE,
        });
    }
    Ok(())
}

fn data_block(out: &mut BytesMut, value: &[u8]) {
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn retrieve_command(
    retrieve: &Retrieve<'_>,
    out: &mut BytesMut,
) -> Result<ExpectKind, EncodeError> {
    if retrieve.keys.is_empty() {
        return Err(EncodeError::NoKeys);
    }
    // The key `noreply` is fine in any position, last included: the server never reads a
    // `noreply` flag on retrievals.
    for key in retrieve.keys {
        validate_key(key)?;
    }
    let (name, exptime): (&[u8], _) = match retrieve.kind {
        RetrieveKind::Get => (b"get", None),
        RetrieveKind::Gets => (b"gets", None),
        RetrieveKind::Gat(exptime) => (b"gat", Some(exptime.to_wire()?)),
        RetrieveKind::Gats(exptime) => (b"gats", Some(exptime.to_wire()?)),
    };
    let start = out.len();
    let mut line = Line::new(out, name);
    if let Some(exptime) = exptime {
        line.i64(exptime.into());
    }
    let keys_start = line.out.len() + 1;
    for key in retrieve.keys {
        line.token(key);
    }
    let keys_end = line.out.len();
    line.end();
    if exptime.is_some() {
        check_line_len(out, start)?;
    }
    Ok(ExpectKind::Retrieve {
        keys: KeyList::new(&out[keys_start..keys_end]),
        with_cas: retrieve.kind.with_cas(),
    })
}

/// The `Expect` of a meta request for `key` (raw, before any base64). The key is recorded
/// only when the reply will echo it, so requests without `k` copy nothing.
fn meta_expect(cmd: MetaCmd, common: &MetaCommon<'_>, key: &[u8]) -> ExpectKind {
    ExpectKind::Meta {
        cmd,
        quiet: common.quiet,
        opaque: Opaque::new(common.opaque),
        key: common.return_key.then(|| KeyList::new(key)),
    }
}

fn meta_get(get: &MetaGet<'_>, out: &mut BytesMut) -> Result<ExpectKind, EncodeError> {
    let touch = get.touch.map(Exptime::to_wire).transpose()?;
    let vivify = get.vivify.map(Exptime::to_wire).transpose()?;
    let recache = get.recache.map(Exptime::to_wire).transpose()?;
    let mut line = Line::meta(out, b"mg", get.key, &get.common)?;
    let switches = [
        (get.return_value, b'v'),
        (get.return_cas, b'c'),
        (get.return_flags, b'f'),
        (get.return_hit, b'h'),
        (get.return_last_access, b'l'),
        (get.return_size, b's'),
        (get.return_ttl, b't'),
        (get.no_lru_bump, b'u'),
    ];
    for (on, flag) in switches {
        line.flag_if(on, flag);
    }
    line.flag_i64_opt(b'T', touch);
    line.flag_i64_opt(b'N', vivify);
    line.flag_i64_opt(b'R', recache);
    line.end();
    Ok(meta_expect(MetaCmd::Get, &get.common, get.key))
}

fn meta_delete(delete: &MetaDelete<'_>, out: &mut BytesMut) -> Result<ExpectKind, EncodeError> {
    let exptime = delete.exptime.map(Exptime::to_wire).transpose()?;
    let mut line = Line::meta(out, b"md", delete.key, &delete.common)?;
    line.flag_u64_opt(b'C', delete.compare_cas);
    line.flag_if(delete.invalidate, b'I');
    line.flag_i64_opt(b'T', exptime);
    line.flag_if(delete.remove_value_only, b'x');
    line.end();
    Ok(meta_expect(MetaCmd::Delete, &delete.common, delete.key))
}

fn meta_arith(arith: &MetaArith<'_>, out: &mut BytesMut) -> Result<ExpectKind, EncodeError> {
    let vivify = arith.vivify.map(Exptime::to_wire).transpose()?;
    let exptime = arith.exptime.map(Exptime::to_wire).transpose()?;
    let mut line = Line::meta(out, b"ma", arith.key, &arith.common)?;
    line.flag_if(arith.return_value, b'v');
    line.flag_if(arith.return_cas, b'c');
    line.flag_if(arith.return_ttl, b't');
    line.flag_u64_opt(b'C', arith.compare_cas);
    line.flag_u64_opt(b'D', arith.delta);
    line.flag_u64_opt(b'J', arith.initial);
    line.flag_i64_opt(b'N', vivify);
    line.flag_i64_opt(b'T', exptime);
    if arith.mode == MetaArithMode::Decr {
        line.raw_token(b"MD");
    }
    line.end();
    Ok(meta_expect(MetaCmd::Arith, &arith.common, arith.key))
}

/// Writes one command line: the name, then space-separated tokens, then CRLF.
struct Line<'o> {
    out: &'o mut BytesMut,
}

impl<'o> Line<'o> {
    fn new(out: &'o mut BytesMut, name: &[u8]) -> Self {
        out.extend_from_slice(name);
        Line { out }
    }

    /// Starts the line of a meta command whose flags follow its key: the name, the key
    /// and the common flags.
    fn meta(
        out: &'o mut BytesMut,
        name: &[u8],
        key: &[u8],
        common: &MetaCommon<'_>,
    ) -> Result<Self, EncodeError> {
        let mut line = Line::new(out, name);
        line.meta_key(key, common.base64)?;
        line.common_flags(common)?;
        Ok(line)
    }

    /// A token the caller has already validated.
    fn token(&mut self, token: &[u8]) {
        self.out.put_u8(b' ');
        self.out.extend_from_slice(token);
    }

    fn raw_token(&mut self, token: &[u8]) {
        self.token(token)
    }

    fn u64(&mut self, n: u64) {
        self.out.put_u8(b' ');
        put_u64(self.out, n);
    }

    fn i64(&mut self, n: i64) {
        self.out.put_u8(b' ');
        put_i64(self.out, n);
    }

    fn flag(&mut self, flag: u8) {
        self.out.extend_from_slice(&[b' ', flag]);
    }

    fn flag_if(&mut self, on: bool, flag: u8) {
        if on {
            self.flag(flag);
        }
    }

    fn flag_u64(&mut self, flag: u8, n: u64) {
        self.flag(flag);
        put_u64(self.out, n);
    }

    fn flag_i64(&mut self, flag: u8, n: i64) {
        self.flag(flag);
        put_i64(self.out, n);
    }

    /// The flag and its number, when there is one.
    fn flag_u64_opt(&mut self, flag: u8, n: Option<u64>) {
        if let Some(n) = n {
            self.flag_u64(flag, n);
        }
    }

    /// The flag and its signed number (an expiration's wire value), when there is one.
    fn flag_i64_opt(&mut self, flag: u8, n: Option<impl Into<i64>>) {
        if let Some(n) = n {
            self.flag_i64(flag, n.into());
        }
    }

    /// The key of a meta command, base64-encoded when asked (the `b` flag is written by
    /// [`Line::common_flags`]).
    fn meta_key(&mut self, key: &[u8], base64: bool) -> Result<(), EncodeError> {
        if !base64 {
            validate_key(key)?;
            self.token(key);
            return Ok(());
        }
        // Checked on the raw key, so a refusal reports the caller's length and the limit
        // that applies to it rather than the encoded length.
        validate_base64_key(key)?;
        self.out.put_u8(b' ');
        base64::encode_into(key, self.out);
        Ok(())
    }

    fn common_flags(&mut self, common: &MetaCommon<'_>) -> Result<(), EncodeError> {
        self.flag_if(common.base64, b'b');
        self.flag_if(common.return_key, b'k');
        if let Some(opaque) = common.opaque {
            if opaque.len() > Opaque::MAX {
                return Err(EncodeError::OpaqueTooLong(opaque.len()));
            }
            validate_token(opaque, Opaque::MAX).map_err(EncodeError::Token)?;
            self.flag(b'O');
            self.out.extend_from_slice(opaque);
        } else if common.quiet {
            return Err(EncodeError::QuietWithoutOpaque);
        }
        self.flag_if(common.quiet, b'q');
        Ok(())
    }

    fn end(self) {
        self.out.extend_from_slice(b"\r\n");
    }

    /// Ends a classic command line, with the `noreply` flag when asked for, and returns what
    /// the request expects: nothing with the flag, else `expect`.
    fn end_noreply(mut self, noreply: bool, expect: ExpectKind) -> ExpectKind {
        if noreply {
            self.token(b"noreply");
        }
        self.end();
        if noreply {
            ExpectKind::Nothing
        } else {
            expect
        }
    }
}

/// Appends the decimal form of `n` without allocating.
pub(crate) fn put_u64(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn put_i64(out: &mut BytesMut, n: i64) {
    if n < 0 {
        out.put_u8(b'-');
    }
    put_u64(out, n.unsigned_abs());
}
