//! A blocking memcached client over `std::net::TcpStream`: memproto's encode, push, write,
//! read, decode loop with nothing else around it.
//!
//! One request (or one pipelined batch) at a time: a call writes its requests, then reads
//! until the decoder has produced a reply for each of them.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use memproto::{
    ArithOp, Command, DecodeError, Decoder, EncodeError, Encoder, Expect, Exptime, MetaReply,
    MetaSet, MetaStatus, Reply, Retrieve, RetrieveKind, ServerError, Store, StoreMode,
};

/// How much to read while the decoder waits for a line of unknown length. Small, so a
/// reply is not buffered far past its end; a value in progress is read in one piece.
const LINE_READ: usize = 4096;

/// Why a call failed, and what it means for the connection.
#[derive(Debug)]
pub(crate) enum Error {
    /// The request was refused before anything was written: the connection is fine.
    Encode(EncodeError),
    /// The server answered with an error line (`ERROR`, `CLIENT_ERROR`, `SERVER_ERROR`).
    /// The stream is still in step, although the server may close it after a
    /// `SERVER_ERROR`.
    Server(ServerError),
    /// A reply of a kind the call cannot produce (for example `NOT_STORED` to a `set`).
    /// The stream is in step; the reply is returned as it came.
    Unexpected(Reply),
    /// The server closed the connection while `pending` replies were due.
    Closed { pending: usize },
    /// No progress within the timeout given to [`Client::connect`].
    Timeout,
    /// The socket failed.
    Io(io::Error),
    /// The server broke the protocol.
    Decode(DecodeError),
    /// An earlier call failed in a way that leaves the stream out of step (timeout, closed,
    /// I/O or decode error): nothing more is sent on this connection. Connect again.
    Broken,
}

impl Error {
    /// Whether the connection can take more requests after this error.
    pub(crate) fn connection_usable(&self) -> bool {
        matches!(
            self,
            Error::Encode(_) | Error::Server(_) | Error::Unexpected(_)
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Encode(error) => write!(f, "request refused: {error}"),
            Error::Server(error) => write!(
                f,
                "server error ({:?}): {}",
                error.kind,
                error.message.escape_ascii()
            ),
            Error::Unexpected(reply) => write!(f, "unexpected reply: {reply:?}"),
            Error::Closed { pending } => {
                write!(f, "connection closed with {pending} replies pending")
            }
            Error::Timeout => f.write_str("timed out"),
            Error::Io(error) => write!(f, "I/O error: {error}"),
            Error::Decode(error) => write!(f, "protocol error: {error}"),
            Error::Broken => f.write_str("connection unusable after an earlier failure"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Encode(error) => Some(error),
            Error::Io(error) => Some(error),
            Error::Decode(error) => Some(error),
            _ => None,
        }
    }
}

/// One connection to one server.
pub(crate) struct Client {
    stream: TcpStream,
    encoder: Encoder,
    decoder: Decoder,
    write_buf: BytesMut,
    read_buf: BytesMut,
    broken: bool,
}

impl Client {
    /// Connects to the first address of `addr` that accepts within `timeout`; every later
    /// read and write must also make progress within `timeout`.
    pub(crate) fn connect(addr: impl ToSocketAddrs, timeout: Duration) -> io::Result<Client> {
        let mut last_error = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    // Requests are written whole; waiting to coalesce them only adds latency.
                    stream.set_nodelay(true)?;
                    return Ok(Client {
                        stream,
                        encoder: Encoder::new(),
                        decoder: Decoder::default(),
                        write_buf: BytesMut::with_capacity(LINE_READ),
                        read_buf: BytesMut::with_capacity(LINE_READ),
                        broken: false,
                    });
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")
        }))
    }

    /// Stores `value` under `key`.
    pub(crate) fn set(&mut self, key: &[u8], value: &[u8], exptime: Exptime) -> Result<(), Error> {
        let store = Store {
            exptime,
            ..Store::new(StoreMode::Set, key, value)
        };
        match self.call(&Command::Store(store))? {
            Reply::Stored => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The value stored under `key`, or `None` on a miss.
    pub(crate) fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>, Error> {
        let keys = [key];
        let get = Retrieve {
            kind: RetrieveKind::Get,
            keys: &keys,
        };
        match self.call(&Command::Retrieve(get))? {
            // The decoder accepts items only for requested keys, so an item is this key's.
            Reply::Values(items) => Ok(items.into_vec().pop().map(|item| item.value)),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes `key`; `false` if it was not there.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<bool, Error> {
        let delete = Command::Delete {
            key,
            noreply: false,
        };
        match self.call(&delete)? {
            Reply::Deleted => Ok(true),
            Reply::NotFound => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// Adds `delta` to the counter at `key` and returns its new value, or `None` if there is
    /// no such counter.
    pub(crate) fn incr(&mut self, key: &[u8], delta: u64) -> Result<Option<u64>, Error> {
        let incr = Command::Arith {
            op: ArithOp::Incr,
            key,
            delta,
            noreply: false,
        };
        match self.call(&incr)? {
            Reply::Number(value) => Ok(Some(value)),
            Reply::NotFound => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Writes every command in one go and returns the replies, in order, to those that
    /// have one (`noreply` requests and `quit` have none). Server error lines are returned
    /// as [`Reply::Error`] in their place: one refused request does not hide the others'
    /// replies.
    ///
    /// If any command cannot be encoded, nothing at all is written.
    pub(crate) fn pipeline(&mut self, commands: &[Command<'_>]) -> Result<Vec<Reply>, Error> {
        self.check_usable()?;
        let mut expects = Vec::with_capacity(commands.len());
        for command in commands {
            match self.encoder.encode(command, &mut self.write_buf) {
                Ok(expect) => expects.push(expect),
                Err(error) => {
                    // Refuse the batch as a whole, so no reply is ever expected for a
                    // request that was not sent.
                    self.write_buf.clear();
                    return Err(Error::Encode(error));
                }
            }
        }
        let replies = expects.iter().filter(|e| e.expects_reply()).count();
        self.send(expects)?;
        (0..replies).map(|_| self.read_reply()).collect()
    }

    /// Stores every item with quiet `ms` requests, each tagged with its index as opaque,
    /// and one `mn` to end the batch. The server answers only the failures (`NS`, `EX`,
    /// `NF`); they are returned with the index of their request, in order. Each request's
    /// `opaque` and `quiet` settings are replaced.
    pub(crate) fn set_quiet(
        &mut self,
        sets: &[MetaSet<'_>],
    ) -> Result<Vec<(usize, MetaReply)>, Error> {
        let opaques: Vec<String> = (0..sets.len()).map(|index| index.to_string()).collect();
        let mut commands: Vec<Command<'_>> = sets
            .iter()
            .zip(&opaques)
            .map(|(set, opaque)| {
                let mut set = *set;
                set.common.opaque = Some(opaque.as_bytes());
                set.common.quiet = true;
                Command::MetaSet(set)
            })
            .collect();
        commands.push(Command::MetaNoop);

        let mut replies = self.pipeline(&commands)?;
        // The decoder checked each reply's opaque against its request, and answered a
        // request the server skipped with a `Quiet` reply: replies line up with requests.
        // Every request here has a reply, the quiet ones included: the last is the `mn`'s.
        if let Some(last) = replies.pop() {
            if last.meta_status() != Some(MetaStatus::Mn) {
                return Err(unexpected(last));
            }
        }
        let mut failures = Vec::new();
        for (index, reply) in replies.into_iter().enumerate() {
            // Meta replies come whole (`Reply::Meta`) or, with nothing but a status and
            // an opaque, compact (`Reply::Status`): `into_meta` reads both.
            match reply.into_meta() {
                Ok(meta) if meta.status == MetaStatus::Quiet => {}
                Ok(meta) => failures.push((index, meta)),
                Err(other) => return Err(unexpected(other)),
            }
        }
        Ok(failures)
    }

    /// Sends one request and reads its reply.
    fn call(&mut self, command: &Command<'_>) -> Result<Reply, Error> {
        self.check_usable()?;
        let expect = self
            .encoder
            .encode(command, &mut self.write_buf)
            .map_err(Error::Encode)?;
        self.send([expect])?;
        self.read_reply()
    }

    fn check_usable(&self) -> Result<(), Error> {
        if self.broken {
            return Err(Error::Broken);
        }
        Ok(())
    }

    /// Writes the buffered requests, whose replies the decoder will then expect.
    fn send(&mut self, expects: impl IntoIterator<Item = Expect>) -> Result<(), Error> {
        for expect in expects {
            self.decoder.push(expect);
        }
        let written = self.stream.write_all(&self.write_buf);
        self.write_buf.clear();
        // After a partial write the server may have read half a request.
        written.map_err(|error| self.fail_io(error))
    }

    /// Reads until the decoder has the next reply.
    fn read_reply(&mut self) -> Result<Reply, Error> {
        loop {
            match self.decoder.decode(&mut self.read_buf) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => self.fill()?,
                Err(error) => {
                    // The decoder refuses everything from now on; so does this client.
                    self.broken = true;
                    return Err(Error::Decode(error));
                }
            }
        }
    }

    /// Reads once from the socket: what the value in progress still needs, or else a small
    /// chunk for the next line.
    fn fill(&mut self) -> Result<(), Error> {
        let wanted = match self.decoder.bytes_needed(&self.read_buf) {
            0 => LINE_READ,
            needed => needed,
        };
        let start = self.read_buf.len();
        // The decoder reserved room for a value in progress, so this does not reallocate.
        self.read_buf.resize(start + wanted, 0);
        loop {
            match self.stream.read(&mut self.read_buf[start..]) {
                Ok(0) => {
                    self.read_buf.truncate(start);
                    self.broken = true;
                    return Err(Error::Closed {
                        pending: self.decoder.pending(),
                    });
                }
                Ok(read) => {
                    self.read_buf.truncate(start + read);
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    self.read_buf.truncate(start);
                    return Err(self.fail_io(error));
                }
            }
        }
    }

    fn fail_io(&mut self, error: io::Error) -> Error {
        self.broken = true;
        match error.kind() {
            // What a socket timeout reports, depending on the platform.
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
            _ => Error::Io(error),
        }
    }
}

/// A server error line is an error of its own; anything else is a reply the call could
/// not produce.
fn unexpected(reply: Reply) -> Error {
    match reply {
        Reply::Error(error) => Error::Server(error),
        other => Error::Unexpected(other),
    }
}
