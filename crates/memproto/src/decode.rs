//! The incremental reply decoder.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::base64;
use crate::error::{DecodeError, Excerpt};
use crate::expect::{Expect, ExpectKind, MetaCmd};
use crate::limits::Limits;
use crate::meta::MetaFlags;
use crate::num::{parse_i64, parse_u32, parse_u64};
use crate::response::{
    Item, Items, MetaReply, MetaStatus, Reply, ServerError, ServerErrorKind, Stat,
};

/// Decodes the reply stream of one connection, in the context of the requests written on it.
///
/// Push the [`Expect`] of every request in the order the requests are written, append bytes
/// read from the connection to a `BytesMut`, and call [`Decoder::decode`] until it returns
/// `Ok(None)`:
///
/// - `Ok(Some(reply))`: the reply to the oldest pending request, which is now done. Its
///   bytes have been removed from the buffer.
/// - `Ok(None)`: more bytes are needed. Call again after the next read; scanning resumes
///   where it stopped, so a reply trickling in byte by byte costs linear time.
/// - `Err(_)`: the stream broke the protocol. Every later call fails too: close the
///   connection and fail the requests still pending.
///
/// # Security
/// Every [`Limits`] bound is checked before the bytes it guards are buffered: a line longer
/// than `max_line_len`, a value header announcing more than `max_value_len`, or one whose
/// value would take its reply past `max_reply_len` fails at once, before any of its bytes
/// are needed: [`Decoder::bytes_needed`] reports a value's length only once it passed
/// those checks. Retrievals accept items
/// only for keys that were requested, each at most once. Meta replies must echo their
/// request's opaque, and its key when the request asked for it (flag `k`).
///
/// # Large values
/// [`Decoder::bytes_needed`] tells a transport how much a value in progress still needs,
/// so it can reserve that much and read a large value straight into place rather than in
/// small chunks. Or it can read the value into storage of its own (a pool of reused
/// buffers, say) and hand it over with [`Decoder::decode_data_block`]; the decoder never
/// grows the read buffer itself.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    pending: VecDeque<Expect>,
    state: State,
    /// Where the search for the next line feed resumes.
    scan_from: usize,
    /// Items of the retrieval in progress.
    items: Items,
    /// When the retrieval in progress holds one item: how many more may still follow.
    items_left: usize,
    /// Lines of the `stats` reply in progress.
    stats: Vec<Stat>,
    /// Which requested keys of the retrieval in progress were returned.
    keys: KeyTracker,
    /// What the reply in progress has used of `max_reply_len`.
    budget: ReplyBudget,
    /// Set when an error line arrived while a quiet request headed the queue: error lines
    /// name no opaque, so until the run of quiet requests ends (an answered request
    /// completes), no quiet request's silence can be told from that failure.
    unattributed: Option<ServerError>,
    failed: bool,
}

/// The requests an error line may answer (see [`Decoder::error_run`]).
struct ErrorRun {
    /// One of them carries a data block.
    carries_data: bool,
    /// They end with `mn`, which never fails, or with no answered request yet: an error
    /// line among them is one of the quiet requests'.
    ends_with_noop: bool,
}

#[derive(Debug)]
enum State {
    Line,
    Data { len: usize, owner: DataOwner },
}

#[derive(Debug)]
enum DataOwner {
    Item {
        key: Bytes,
        flags: u32,
        cas: Option<u64>,
    },
    Meta {
        flags: MetaFlags,
    },
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            pending: VecDeque::new(),
            state: State::Line,
            scan_from: 0,
            items: Items::new(),
            items_left: 0,
            stats: Vec::new(),
            keys: KeyTracker::default(),
            budget: ReplyBudget::new(limits.max_reply_len),
            unattributed: None,
            failed: false,
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Records that a request was written and what its reply will be. Requests that expect
    /// nothing (`noreply`, `quit`) are ignored.
    pub fn push(&mut self, expect: Expect) {
        if expect.expects_reply() {
            self.pending.push_back(expect);
        }
    }

    /// How many requests still wait for their reply.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// How many more bytes the reply in progress certainly needs in `buf` (the read buffer
    /// passed to [`Decoder::decode`]) before `decode` can make progress.
    ///
    /// While a value's data block is arriving, this is the rest of the block and its CRLF:
    /// a transport can reserve that much room in `buf` and read it in one large read.
    /// Otherwise it is 0: what comes next is a line of unknown length, so read a small
    /// chunk, to avoid buffering far past the reply. A failed decoder needs nothing.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use memproto::{Command, Decoder, Encoder, Retrieve, RetrieveKind};
    ///
    /// let mut decoder = Decoder::default();
    /// let keys: &[&[u8]] = &[b"big"];
    /// let get = Command::Retrieve(Retrieve { kind: RetrieveKind::Get, keys });
    /// decoder.push(Encoder::new().encode(&get, &mut BytesMut::new())?);
    ///
    /// let mut buf = BytesMut::from(&b"VALUE big 0 1000\r\n0123456789"[..]);
    /// assert_eq!(decoder.decode(&mut buf)?, None);
    /// // 990 more value bytes and the CRLF.
    /// assert_eq!(decoder.bytes_needed(&buf), 992);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bytes_needed(&self, buf: &[u8]) -> usize {
        match self.state {
            // `len + 2` cannot overflow: `value_len` keeps `len` under `isize::MAX - 2`.
            State::Data { len, .. } if !self.failed => (len + 2).saturating_sub(buf.len()),
            _ => 0,
        }
    }

    /// The length of the data block in progress (a value and its CRLF), while its header
    /// is decoded and its bytes are not all in the read buffer yet. Every byte then in
    /// the read buffer belongs to the block: a transport may move them into storage of its
    /// own, read the rest of the block after them, and hand the block over with
    /// [`Decoder::decode_data_block`]. `None` otherwise, and once the decoder failed.
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use memproto::{Command, Decoder, Encoder, Reply, Retrieve, RetrieveKind};
    ///
    /// let mut decoder = Decoder::default();
    /// let keys: &[&[u8]] = &[b"big"];
    /// let get = Command::Retrieve(Retrieve { kind: RetrieveKind::Get, keys });
    /// decoder.push(Encoder::new().encode(&get, &mut BytesMut::new())?);
    ///
    /// let mut buf = BytesMut::from(&b"VALUE big 0 8\r\n0123"[..]);
    /// assert_eq!(decoder.decode(&mut buf)?, None);
    /// assert_eq!(decoder.data_block_len(), Some(10));
    ///
    /// // The transport's own storage: what was buffered, then the rest of the block.
    /// let mut block = buf.split().to_vec();
    /// block.extend_from_slice(b"4567\r\n");
    /// assert_eq!(decoder.decode_data_block(Bytes::from(block))?, None);
    ///
    /// buf.extend_from_slice(b"END\r\n");
    /// let Some(Reply::Values(items)) = decoder.decode(&mut buf)? else { unreachable!() };
    /// assert_eq!(&items[0].value[..], b"01234567");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn data_block_len(&self) -> Option<usize> {
        match self.state {
            State::Data { len, .. } if !self.failed => Some(len + 2),
            _ => None,
        }
    }

    /// Takes the data block in progress (see [`Decoder::data_block_len`]) from storage of
    /// the transport's own: exactly that many bytes, the value and its CRLF, of which the
    /// read buffer holds none. The value handed out is a view of `block`, not a copy.
    /// Returns what [`Decoder::decode`] would: the reply the block completes (a meta
    /// value), or `Ok(None)` while the reply goes on (a retrieval's item); then keep
    /// calling `decode` with the read buffer.
    ///
    /// # Errors
    /// [`DecodeError::MissingDataTerminator`] when the block does not end in CRLF, and
    /// [`DecodeError::MisplacedDataBlock`] when no block is in progress or `block` has
    /// another length. Either fails the decoder, as in `decode`.
    pub fn decode_data_block(&mut self, mut block: Bytes) -> Result<Option<Reply>, DecodeError> {
        if self.failed {
            return Err(DecodeError::Poisoned);
        }
        let result = match self.data_block_len() {
            Some(expected) if expected == block.len() => {
                if block.ends_with(b"\r\n") {
                    block.truncate(expected - 2);
                    Ok(self.take_value(block))
                } else {
                    Err(DecodeError::MissingDataTerminator)
                }
            }
            _ => Err(DecodeError::MisplacedDataBlock),
        };
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Whether the decoder failed; a failed decoder only returns [`DecodeError::Poisoned`].
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Decodes the next complete reply from `buf`. See the type's documentation for the
    /// meaning of each result.
    ///
    /// # Errors
    /// A [`DecodeError`] when the stream breaks the protocol; the connection must be closed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Reply>, DecodeError> {
        if self.failed {
            return Err(DecodeError::Poisoned);
        }
        let result = self.decode_next(buf);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn decode_next(&mut self, buf: &mut BytesMut) -> Result<Option<Reply>, DecodeError> {
        loop {
            if let State::Data { len, .. } = self.state {
                if buf.len() < len + 2 {
                    return Ok(None);
                }
                if let Some(reply) = self.finish_data(buf, len)? {
                    return Ok(Some(reply));
                }
                continue;
            }
            if self.pending.is_empty() {
                if buf.is_empty() {
                    return Ok(None);
                }
                return Err(DecodeError::Unsolicited(Excerpt::of(buf)));
            }
            let Some(len) = self.find_line(buf)? else {
                return Ok(None);
            };
            let Some(front) = self.pending.front() else {
                return Ok(None);
            };
            let line = &buf[..len];

            if let Some(kind) = error_kind(line) {
                let quiet = front.is_quiet();
                // The requests the line may answer: the head alone, or its quiet run.
                let run = self.error_run();
                if kind == ServerErrorKind::Error && run.carries_data {
                    // A server that does not know the command reads its data block as
                    // commands of its own, and answers those too: the stream is lost.
                    return Err(DecodeError::UnknownCommandWithData(Excerpt::of(line)));
                }
                if quiet && !run.ends_with_noop {
                    // The answered request that ends the run may have failed too: the line
                    // cannot be counted against the run without risking that request's
                    // reply going to the one after it.
                    return Err(DecodeError::AmbiguousErrorLine(Excerpt::of(line)));
                }
                let line = take_line(buf, len);
                let error = ServerError {
                    kind,
                    message: error_message(&line, kind),
                };
                if quiet {
                    // The error belongs to this request or to a later quiet one of its run
                    // (whose silence would then be this failure): counting it against the
                    // head keeps every later reply paired, and marks the run uncertain.
                    self.unattributed = Some(error.clone());
                    return Ok(Some(self.complete(Reply::Unattributed(error))));
                }
                return Ok(Some(self.complete(Reply::Error(error))));
            }

            let step = match &front.0 {
                ExpectKind::Nothing => unreachable_pending(),
                ExpectKind::Store => simple(
                    line,
                    &[
                        (b"STORED", Reply::Stored),
                        (b"NOT_STORED", Reply::NotStored),
                        (b"EXISTS", Reply::Exists),
                        (b"NOT_FOUND", Reply::NotFound),
                    ],
                ),
                ExpectKind::Delete => simple(
                    line,
                    &[
                        (b"DELETED", Reply::Deleted),
                        (b"NOT_FOUND", Reply::NotFound),
                    ],
                ),
                ExpectKind::Touch => simple(
                    line,
                    &[
                        (b"TOUCHED", Reply::Touched),
                        (b"NOT_FOUND", Reply::NotFound),
                    ],
                ),
                ExpectKind::Ok => simple(line, &[(b"OK", Reply::Ok)]),
                ExpectKind::Arith => match line {
                    b"NOT_FOUND" => Step::Word(Reply::NotFound),
                    [b'0'..=b'9', ..] => match parse_u64(line) {
                        Some(n) => Step::Word(Reply::Number(n)),
                        None => return Err(DecodeError::InvalidNumber(Excerpt::of(line))),
                    },
                    _ => Step::Unexpected,
                },
                ExpectKind::Memlimit => match line {
                    b"OK" => Step::Word(Reply::Ok),
                    _ => Step::Done(Reply::Other(take_line(buf, len))),
                },
                ExpectKind::Version => match line.strip_prefix(b"VERSION ") {
                    Some(_) => Step::Done(Reply::Version(take_line(buf, len).slice(8..))),
                    None => Step::Unexpected,
                },
                ExpectKind::Stats => self.stats_line(buf, len)?,
                ExpectKind::Retrieve { .. } => self.retrieval_line(buf, len)?,
                ExpectKind::Meta {
                    cmd, quiet, opaque, ..
                } => {
                    let (cmd, quiet, opaque) = (*cmd, *quiet, *opaque);
                    let status = meta_status(line);
                    let opaque_matches = status.is_some() && meta_opaque(line) == opaque.as_slice();
                    if quiet && !opaque_matches {
                        // The server stayed silent for this request: the reply belongs to
                        // a later one. Leave the line in the buffer for it. After an error
                        // line nobody could claim, silence is no longer proof of success.
                        self.scan_from = 0;
                        let reply = match &self.unattributed {
                            Some(error) => Reply::Unattributed(error.clone()),
                            None => Reply::Status {
                                status: MetaStatus::Quiet,
                                opaque: None,
                            },
                        };
                        return Ok(Some(self.complete(reply)));
                    }
                    match status {
                        Some(status) if meta_allows(cmd, status) => {
                            if !opaque_matches {
                                return Err(DecodeError::OpaqueMismatch(Excerpt::of(line)));
                            }
                            self.meta_line(buf, len, status)?
                        }
                        _ => Step::Unexpected,
                    }
                }
            };
            match step {
                Step::Word(reply) => {
                    buf.advance(len + 2);
                    return Ok(Some(self.complete(reply)));
                }
                Step::Done(reply) => return Ok(Some(self.complete(reply))),
                Step::Continue => continue,
                Step::Unexpected => {
                    return Err(DecodeError::UnexpectedReply {
                        expected: self.pending.front().map_or("nothing", Expect::name),
                        line: Excerpt::of(&buf[..len]),
                    })
                }
            }
        }
    }

    /// Finds the next complete line and returns its length without CRLF.
    fn find_line(&mut self, buf: &BytesMut) -> Result<Option<usize>, DecodeError> {
        let max = self.limits.max_line_len;
        let from = self.scan_from.min(buf.len());
        match memchr::memchr(b'\n', &buf[from..]) {
            Some(offset) => {
                let newline = from + offset;
                self.scan_from = 0;
                if newline >= max {
                    return Err(DecodeError::LineTooLong { max });
                }
                if newline == 0 || buf[newline - 1] != b'\r' {
                    return Err(DecodeError::BareLineFeed);
                }
                Ok(Some(newline - 1))
            }
            None if buf.len() >= max => Err(DecodeError::LineTooLong { max }),
            None => {
                self.scan_from = buf.len();
                Ok(None)
            }
        }
    }

    /// What an error line may answer, seen from the head of the queue: the head alone when
    /// it is answered; else its run of quiet requests and the request ending it.
    fn error_run(&self) -> ErrorRun {
        let mut run = ErrorRun {
            carries_data: false,
            ends_with_noop: true,
        };
        for expect in &self.pending {
            run.carries_data |= expect.carries_data();
            if !expect.is_quiet() {
                run.ends_with_noop = expect.is_noop();
                break;
            }
        }
        run
    }

    /// Pops the finished request and resets per-reply state.
    fn complete(&mut self, reply: Reply) -> Reply {
        if self
            .pending
            .pop_front()
            .is_some_and(|done| !done.is_quiet())
        {
            // An answered request ends the run of quiet requests before it.
            self.unattributed = None;
        }
        self.items = Items::new();
        self.stats.clear();
        self.keys.reset();
        self.budget.reset();
        self.state = State::Line;
        reply
    }

    /// Charges a line of a `VALUE` or `STAT` listing to the reply's budget, and consumes it
    /// if it is the `END` that closes the listing.
    fn listing_ends(&mut self, buf: &mut BytesMut, len: usize) -> Result<bool, DecodeError> {
        self.budget.charge(len + 2)?;
        let end = &buf[..len] == b"END";
        if end {
            buf.advance(len + 2);
        }
        Ok(end)
    }

    fn retrieval_line(&mut self, buf: &mut BytesMut, len: usize) -> Result<Step, DecodeError> {
        if self.listing_ends(buf, len)? {
            return Ok(Step::Done(Reply::Values(std::mem::take(&mut self.items))));
        }
        let line = &buf[..len];
        let Some(header) = line.strip_prefix(b"VALUE ") else {
            return Ok(Step::Unexpected);
        };
        let Some(ExpectKind::Retrieve { keys, with_cas }) = self.pending.front().map(|e| &e.0)
        else {
            return Ok(Step::Unexpected);
        };
        let mut fields = header.split(|&b| b == b' ');
        let (Some(key), Some(flags), Some(bytes)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(DecodeError::Malformed(Excerpt::of(line)));
        };
        let cas = fields.next();
        if fields.next().is_some() || cas.is_some() != *with_cas {
            return Err(DecodeError::Malformed(Excerpt::of(line)));
        }
        let flags =
            parse_u32(flags).ok_or_else(|| DecodeError::InvalidNumber(Excerpt::of(line)))?;
        let cas = match cas {
            Some(cas) => {
                Some(parse_u64(cas).ok_or_else(|| DecodeError::InvalidNumber(Excerpt::of(line)))?)
            }
            None => None,
        };
        let value_len = self.value_len(bytes, line)?;
        self.budget.charge(value_len + 2)?;
        self.keys.claim(keys, key)?;
        // Sized once, when a second item turns the list into a vector: at most one item per
        // requested key.
        self.items_left = match self.items.len() {
            1 => memchr::memchr_iter(b' ', keys).count().saturating_sub(1),
            _ => 0,
        };
        // Keep only the key from the line: a slice of the read buffer, not a copy.
        let key_len = key.len();
        buf.advance(b"VALUE ".len());
        let key = buf.split_to(key_len).freeze();
        buf.advance(len + 2 - b"VALUE ".len() - key_len);
        self.begin_data(value_len, DataOwner::Item { key, flags, cas });
        Ok(Step::Continue)
    }

    fn stats_line(&mut self, buf: &mut BytesMut, len: usize) -> Result<Step, DecodeError> {
        if self.listing_ends(buf, len)? {
            return Ok(Step::Done(Reply::Stats(std::mem::take(&mut self.stats))));
        }
        let line = &buf[..len];
        if self.stats.is_empty() && (line == b"RESET" || line == b"OK") {
            if line == b"OK" {
                return Ok(Step::Word(Reply::Ok));
            }
            return Ok(Step::Done(Reply::Other(take_line(buf, len))));
        }
        if self.stats.len() >= self.limits.max_reply_lines {
            return Err(DecodeError::TooManyLines {
                max: self.limits.max_reply_lines,
            });
        }
        let line = take_line(buf, len);
        let body = if line.starts_with(b"STAT ") {
            line.slice(5..)
        } else {
            line
        };
        let stat = match memchr::memchr(b' ', &body) {
            Some(space) => Stat {
                name: body.slice(..space),
                value: body.slice(space + 1..),
            },
            None => Stat {
                name: body,
                value: Bytes::new(),
            },
        };
        self.stats.push(stat);
        Ok(Step::Continue)
    }

    fn meta_line(
        &mut self,
        buf: &mut BytesMut,
        len: usize,
        status: MetaStatus,
    ) -> Result<Step, DecodeError> {
        self.budget.charge(len + 2)?;
        let line = take_line(buf, len);
        if status == MetaStatus::Me {
            return Ok(Step::Done(Reply::Meta(Box::new(MetaReply {
                status,
                value: None,
                flags: MetaFlags::default(),
                debug: Some(line.slice(line.len().min(3)..)),
            }))));
        }
        let mut rest = line.slice(2..);
        let mut value_len = None;
        if status == MetaStatus::Va {
            let size =
                next_token(&mut rest).ok_or_else(|| DecodeError::Malformed(Excerpt::of(&line)))?;
            value_len = Some(self.value_len(&size, &line)?);
        }
        let flags = parse_meta_flags(rest, &line)?;
        if let Some(Expect(ExpectKind::Meta { key: Some(key), .. })) = self.pending.front() {
            check_echoed_key(key, status, &flags, &line)?;
        }
        match value_len {
            Some(len) => {
                self.budget.charge(len + 2)?;
                self.begin_data(len, DataOwner::Meta { flags });
                Ok(Step::Continue)
            }
            None => Ok(Step::Done(Reply::from(MetaReply {
                status,
                value: None,
                flags,
                debug: None,
            }))),
        }
    }

    fn value_len(&self, digits: &[u8], line: &[u8]) -> Result<usize, DecodeError> {
        let len = parse_u64(digits).ok_or_else(|| DecodeError::InvalidNumber(Excerpt::of(line)))?;
        let max = self.limits.max_value_len;
        // The data and its CRLF must fit one buffer (at most `isize::MAX` bytes), whatever
        // the configured limit: this also keeps `len + 2` from overflowing.
        let ceiling = max.min(isize::MAX.unsigned_abs() - 2);
        match usize::try_from(len) {
            Ok(len) if len <= ceiling => Ok(len),
            _ => Err(DecodeError::ValueTooLarge { len, max }),
        }
    }

    fn begin_data(&mut self, len: usize, owner: DataOwner) {
        self.state = State::Data { len, owner };
    }

    /// Takes a complete data block (`len` bytes and CRLF are buffered).
    fn finish_data(
        &mut self,
        buf: &mut BytesMut,
        len: usize,
    ) -> Result<Option<Reply>, DecodeError> {
        if &buf[len..len + 2] != b"\r\n" {
            return Err(DecodeError::MissingDataTerminator);
        }
        let value = buf.split_to(len).freeze();
        buf.advance(2);
        Ok(self.take_value(value))
    }

    /// Gives the value of the data block in progress to its item or meta reply.
    fn take_value(&mut self, value: Bytes) -> Option<Reply> {
        match std::mem::replace(&mut self.state, State::Line) {
            State::Data {
                owner: DataOwner::Item { key, flags, cas },
                ..
            } => {
                self.items.push(
                    Item {
                        key,
                        flags,
                        cas,
                        value,
                    },
                    self.items_left,
                );
                None
            }
            State::Data {
                owner: DataOwner::Meta { flags },
                ..
            } => Some(self.complete(Reply::Meta(Box::new(MetaReply {
                status: MetaStatus::Va,
                value: Some(value),
                flags,
                debug: None,
            })))),
            State::Line => None,
        }
    }
}

/// What one line did to the reply in progress.
enum Step {
    /// The reply is complete; its one line is still in the buffer.
    Word(Reply),
    /// The reply is complete and its bytes are consumed.
    Done(Reply),
    Continue,
    Unexpected,
}

/// `Nothing` is never queued (see [`Decoder::push`]); treat it as an unexpected reply.
fn unreachable_pending() -> Step {
    Step::Unexpected
}

fn simple(line: &[u8], table: &[(&[u8], Reply)]) -> Step {
    table
        .iter()
        .find(|(word, _)| *word == line)
        .map_or(Step::Unexpected, |(_, reply)| Step::Word(reply.clone()))
}

fn take_line(buf: &mut BytesMut, len: usize) -> Bytes {
    let line = buf.split_to(len).freeze();
    buf.advance(2);
    line
}

fn error_kind(line: &[u8]) -> Option<ServerErrorKind> {
    let word_ends =
        |rest: &[u8], separators: &[u8]| rest.first().is_none_or(|b| separators.contains(b));
    if let Some(rest) = line.strip_prefix(b"ERROR") {
        word_ends(rest, b" :").then_some(ServerErrorKind::Error)
    } else if let Some(rest) = line.strip_prefix(b"CLIENT_ERROR") {
        word_ends(rest, b" ").then_some(ServerErrorKind::Client)
    } else if let Some(rest) = line.strip_prefix(b"SERVER_ERROR") {
        word_ends(rest, b" :").then_some(ServerErrorKind::Server)
    } else {
        None
    }
}

fn error_message(line: &Bytes, kind: ServerErrorKind) -> Bytes {
    let keyword = match kind {
        ServerErrorKind::Error => 5,
        ServerErrorKind::Client | ServerErrorKind::Server => 12,
    };
    let mut start = keyword;
    while line.get(start).is_some_and(|&b| b == b' ' || b == b':') {
        start += 1;
    }
    line.slice(start.min(line.len())..)
}

fn meta_status(line: &[u8]) -> Option<MetaStatus> {
    if line.len() > 2 && line[2] != b' ' {
        return None;
    }
    Some(match line.get(..2)? {
        b"HD" => MetaStatus::Hd,
        b"VA" => MetaStatus::Va,
        b"EN" => MetaStatus::En,
        b"NF" => MetaStatus::Nf,
        b"NS" => MetaStatus::Ns,
        b"EX" => MetaStatus::Ex,
        b"MN" => MetaStatus::Mn,
        b"ME" => MetaStatus::Me,
        _ => return None,
    })
}

fn meta_allows(cmd: MetaCmd, status: MetaStatus) -> bool {
    use MetaStatus::*;
    match cmd {
        MetaCmd::Get => matches!(status, Va | Hd | En),
        MetaCmd::Set => matches!(status, Hd | Ns | Ex | Nf),
        MetaCmd::Delete => matches!(status, Hd | Nf | Ex),
        MetaCmd::Arith => matches!(status, Hd | Va | Nf | Ns | Ex),
        MetaCmd::Noop => status == Mn,
        MetaCmd::Debug => matches!(status, Me | En),
    }
}

/// The opaque (`O` flag) of a meta reply line, if any. `MN` and `ME` lines carry none.
fn meta_opaque(line: &[u8]) -> Option<&[u8]> {
    if line.starts_with(b"MN") || line.starts_with(b"ME") {
        return None;
    }
    line.split(|&b| b == b' ')
        .skip(1)
        .find_map(|token| token.strip_prefix(b"O"))
}

/// Checks the key a meta reply echoes (flag `k`) against the raw `requested` key, for a
/// request that asked for it.
///
/// The server encodes the echo the way the item's key was stored, not the way this request
/// sent it: a hit on an item stored with a base64 key comes back as `k<base64> b` even for
/// a plain request, and the reverse. So the echo is compared with the raw key in whichever
/// form the reply declares. Misses and failures (`EN`, `NF`, `NS`, `EX`) may carry no key:
/// older servers do not echo it on them.
fn check_echoed_key(
    requested: &[u8],
    status: MetaStatus,
    flags: &MetaFlags,
    line: &[u8],
) -> Result<(), DecodeError> {
    let matches = match &flags.key {
        Some(echoed) if flags.base64_key => base64::encodes(requested, echoed),
        Some(echoed) => echoed[..] == *requested,
        None => !matches!(status, MetaStatus::Va | MetaStatus::Hd),
    };
    if matches {
        Ok(())
    } else {
        Err(DecodeError::KeyMismatch(Excerpt::of(line)))
    }
}

fn next_token(rest: &mut Bytes) -> Option<Bytes> {
    let trimmed = rest.strip_prefix(b" ")?.len();
    let start = rest.len() - trimmed;
    let end = memchr::memchr(b' ', &rest[start..]).map_or(rest.len(), |i| start + i);
    let token = rest.slice(start..end);
    *rest = rest.slice(end..);
    (!token.is_empty()).then_some(token)
}

fn parse_meta_flags(mut rest: Bytes, line: &[u8]) -> Result<MetaFlags, DecodeError> {
    let mut flags = MetaFlags::default();
    let invalid = || DecodeError::InvalidNumber(Excerpt::of(line));
    while !rest.is_empty() {
        let token =
            next_token(&mut rest).ok_or_else(|| DecodeError::Malformed(Excerpt::of(line)))?;
        let value = &token[1..];
        match token[0] {
            b'c' => flags.cas = Some(parse_u64(value).ok_or_else(invalid)?),
            b'f' => flags.flags = Some(parse_u32(value).ok_or_else(invalid)?),
            b's' => flags.size = Some(parse_u64(value).ok_or_else(invalid)?),
            b't' => flags.ttl = Some(parse_i64(value).ok_or_else(invalid)?),
            b'l' => flags.last_access = Some(parse_u64(value).ok_or_else(invalid)?),
            b'h' => {
                flags.hit_before = Some(match value {
                    b"0" => false,
                    b"1" => true,
                    _ => return Err(invalid()),
                })
            }
            b'k' => flags.key = Some(token.slice(1..)),
            // The pairing check read the first `O`; a second one could smuggle in another.
            b'O' if flags.opaque.is_some() => {
                return Err(DecodeError::Malformed(Excerpt::of(line)))
            }
            b'O' => flags.opaque = Some(token.slice(1..)),
            b'b' => flags.base64_key = true,
            b'W' => flags.won = true,
            b'X' => flags.stale = true,
            b'Z' => flags.already_won = true,
            _ => {}
        }
    }
    Ok(flags)
}

/// The bytes one reply may still use (`Limits::max_reply_len`). A field of its own, so it
/// can be charged while the pending request is borrowed.
#[derive(Debug)]
struct ReplyBudget {
    used: usize,
    max: usize,
}

impl ReplyBudget {
    fn new(max: usize) -> Self {
        ReplyBudget { used: 0, max }
    }

    fn reset(&mut self) {
        self.used = 0;
    }

    /// Counts `len` more bytes of the reply in progress, before they are buffered.
    fn charge(&mut self, len: usize) -> Result<(), DecodeError> {
        let total = self.used.saturating_add(len);
        if total > self.max {
            return Err(DecodeError::ReplyTooLarge { max: self.max });
        }
        self.used = total;
        Ok(())
    }
}

/// Tracks which of a retrieval's requested keys came back, to refuse unrequested and
/// duplicate items. The fast path is the server's own behaviour: items in request order.
#[derive(Debug, Default)]
struct KeyTracker {
    /// Byte offset in the key list where the in-order search resumes.
    cursor: usize,
    /// Index of the key at `cursor`.
    cursor_index: usize,
    /// One bit per requested key: returned already.
    returned: Vec<u64>,
}

impl KeyTracker {
    fn reset(&mut self) {
        self.cursor = 0;
        self.cursor_index = 0;
        self.returned.clear();
    }

    /// Records that `key` came back.
    fn claim(&mut self, keys: &[u8], key: &[u8]) -> Result<(), DecodeError> {
        let found = find_key(keys, key, self.cursor, self.cursor_index)
            .or_else(|| find_key(keys, key, 0, 0));
        let Some((offset, index)) = found else {
            return Err(DecodeError::UnrequestedKey(Excerpt::of(key)));
        };
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        if self.returned.len() <= word {
            self.returned.resize(word + 1, 0);
        }
        if self.returned[word] & bit != 0 {
            return Err(DecodeError::DuplicateKey(Excerpt::of(key)));
        }
        self.returned[word] |= bit;
        if offset >= self.cursor {
            self.cursor = offset + key.len() + 1;
            self.cursor_index = index + 1;
        }
        Ok(())
    }
}

/// Finds `key` in the space-separated `keys`, starting at byte `from` (key number
/// `index`). Returns the byte offset and number of the first match.
fn find_key(keys: &[u8], key: &[u8], mut from: usize, mut index: usize) -> Option<(usize, usize)> {
    while from < keys.len() {
        let end = memchr::memchr(b' ', &keys[from..]).map_or(keys.len(), |i| from + i);
        if &keys[from..end] == key {
            return Some((from, index));
        }
        from = end + 1;
        index += 1;
    }
    None
}
