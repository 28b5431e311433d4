//! A [`tokio_util::codec`] adapter: [`MemcacheCodec`] turns a byte stream into a
//! `Sink` of [`Command`]s and a `Stream` of [`Reply`]s with [`Framed`].
//!
//! [`Framed`]: tokio_util::codec::Framed

use std::io;

use bytes::BytesMut;
use thiserror::Error;
use tokio_util::codec::{Decoder as FrameDecoder, Encoder as FrameEncoder};

use crate::command::Command;
use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{DecodeError, EncodeError};
use crate::limits::Limits;
use crate::response::Reply;

/// An [`Encoder`] and a [`Decoder`] joined for [`tokio_util::codec::Framed`] (feature
/// `codec`).
///
/// Encoding a request records what its reply will be, so the decoding half always knows
/// what to expect: send requests, then read one [`Reply`] for each request that has one, in
/// the order they were sent. Requests that get no reply (`noreply`, [`Command::Quit`])
/// produce no item. A quiet meta request always produces one: its reply, or a
/// [`crate::MetaStatus::Quiet`] reply once a later reply (the closing
/// [`Command::MetaNoop`]) shows the server stayed silent, or [`Reply::Unattributed`] when
/// an error line arrived during its run of quiet requests.
///
/// The sink takes a [`Command`] by value; it is encoded as soon as it is handed over, so
/// it may borrow keys and values from the caller. To send one request again, clone it:
/// a `Command` holds only borrowed slices, so a clone copies no key or value.
///
/// # Errors
/// - [`CodecError::Encode`]: the request was refused before a byte was written; the
///   connection is still usable.
/// - [`CodecError::Decode`]: the server broke the protocol; every later read fails, so close
///   the connection.
/// - [`CodecError::Closed`]: the connection ended while replies were still due.
/// - [`CodecError::Io`]: the transport failed.
///
/// Write bytes only through the codec: a request written around it gets a reply the
/// decoder cannot pair, which it reports as [`DecodeError::Unsolicited`].
///
/// # Example
/// Without a connection, the codec is an encoder and decoder that keep each other in step:
///
/// ```
/// use bytes::BytesMut;
/// use memproto::{Command, MemcacheCodec, Reply, Store, StoreMode};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = MemcacheCodec::new();
/// let mut to_server = BytesMut::new();
/// codec.encode(Command::Store(Store::new(StoreMode::Set, b"k", b"v")), &mut to_server)?;
/// assert_eq!(&to_server[..], b"set k 0 0 1\r\nv\r\n");
/// assert_eq!(codec.pending(), 1);
///
/// let mut from_server = BytesMut::from(&b"STORED\r\n"[..]);
/// assert_eq!(codec.decode(&mut from_server)?, Some(Reply::Stored));
/// assert_eq!(codec.pending(), 0);
/// # Ok::<(), memproto::CodecError>(())
/// ```
///
/// Over a connection, with [`Framed`](tokio_util::codec::Framed) and the `futures`
/// combinators:
///
/// ```no_run
/// use futures::{SinkExt, StreamExt};
/// use memproto::{CodecError, Command, MemcacheCodec, Reply, Retrieve, RetrieveKind};
/// use memproto::{Store, StoreMode};
/// use tokio::net::TcpStream;
/// use tokio_util::codec::Framed;
///
/// async fn set_then_get() -> Result<(), CodecError> {
///     let stream = TcpStream::connect("127.0.0.1:11211").await?;
///     let mut conn = Framed::new(stream, MemcacheCodec::new());
///
///     // Two pipelined requests: queue both, write them in one flush.
///     conn.feed(Command::Store(Store::new(StoreMode::Set, b"greeting", b"hello"))).await?;
///     let keys: &[&[u8]] = &[b"greeting"];
///     conn.feed(Command::Retrieve(Retrieve { kind: RetrieveKind::Get, keys })).await?;
///     conn.flush().await?;
///
///     // Replies come back in request order.
///     assert_eq!(conn.next().await.transpose()?, Some(Reply::Stored));
///     match conn.next().await.transpose()? {
///         Some(Reply::Values(items)) => assert_eq!(&items[0].value[..], b"hello"),
///         other => panic!("unexpected {other:?}"),
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug, Default)]
pub struct MemcacheCodec {
    encoder: Encoder,
    decoder: Decoder,
}

impl MemcacheCodec {
    /// A codec with the default value limit and decoding limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// A codec that encodes with `encoder` and decodes within `limits`.
    pub fn with_limits(encoder: Encoder, limits: Limits) -> Self {
        MemcacheCodec {
            encoder,
            decoder: Decoder::new(limits),
        }
    }

    /// How many sent requests still wait for their reply.
    pub fn pending(&self) -> usize {
        self.decoder.pending()
    }

    /// Whether decoding failed; the connection must then be closed.
    pub fn is_failed(&self) -> bool {
        self.decoder.is_failed()
    }

    /// The encoder, for its configuration.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The decoder, for its limits and state.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }
}

// One encoder impl only: a second (say, for `&Command`) would leave the item type of
// `SinkExt::flush` and `SinkExt::close` ambiguous, and every such call would need an
// annotation.
impl FrameEncoder<Command<'_>> for MemcacheCodec {
    type Error = CodecError;

    fn encode(&mut self, command: Command<'_>, dst: &mut BytesMut) -> Result<(), CodecError> {
        // The reply is expected only once the request is in the write buffer: a refused
        // request leaves both the buffer and the queue as they were.
        let expect = self.encoder.encode(&command, dst)?;
        self.decoder.push(expect);
        Ok(())
    }
}

impl FrameDecoder for MemcacheCodec {
    type Item = Reply;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Reply>, CodecError> {
        let reply = self.decoder.decode(src)?;
        // Room for the rest of a value in progress, so `Framed` reads it in large reads.
        // Reserved only now: its header passed every limit.
        let needed = self.decoder.bytes_needed(src);
        if needed > 0 {
            src.reserve(needed);
        }
        Ok(reply)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Reply>, CodecError> {
        if let Some(reply) = self.decoder.decode(src)? {
            return Ok(Some(reply));
        }
        // A quiet request still at the head of the queue is not answered by silence at the
        // end of the stream: only a later reply proves the server skipped it.
        match self.decoder.pending() {
            0 => Ok(None),
            pending => Err(CodecError::Closed { pending }),
        }
    }
}

/// What can go wrong on a [`MemcacheCodec`] connection.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The request cannot be encoded; nothing was written and the connection is usable.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The server broke the protocol; the connection must be closed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The connection ended while `pending` requests still waited for their reply.
    #[error("connection closed with {pending} replies pending")]
    Closed {
        /// How many requests were left without a reply.
        pending: usize,
    },
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl CodecError {
    /// Whether the connection can still be used: only after a refused request.
    pub fn is_connection_usable(&self) -> bool {
        matches!(self, CodecError::Encode(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{MetaCommon, MetaSet};
    use crate::response::MetaStatus;

    #[test]
    fn refused_request_writes_and_expects_nothing() {
        let mut codec = MemcacheCodec::new();
        let mut out = BytesMut::from(&b"earlier"[..]);
        let bad = Command::Delete {
            key: b"two words",
            noreply: false,
        };
        let error = FrameEncoder::encode(&mut codec, bad, &mut out).unwrap_err();
        assert!(matches!(error, CodecError::Encode(EncodeError::Key(_))));
        assert!(error.is_connection_usable());
        assert_eq!(&out[..], b"earlier");
        assert_eq!(codec.pending(), 0);
    }

    #[test]
    fn quiet_request_is_paired_by_the_noop() {
        let mut codec = MemcacheCodec::new();
        let mut out = BytesMut::new();
        for opaque in [&b"0"[..], b"1"] {
            let set = MetaSet {
                key: b"k",
                value: b"v",
                common: MetaCommon {
                    opaque: Some(opaque),
                    quiet: true,
                    ..MetaCommon::default()
                },
                ..MetaSet::default()
            };
            FrameEncoder::encode(&mut codec, Command::MetaSet(set), &mut out).unwrap();
        }
        FrameEncoder::encode(&mut codec, Command::MetaNoop, &mut out).unwrap();
        assert_eq!(codec.pending(), 3);

        let mut input = BytesMut::from(&b"NS O1\r\nMN\r\n"[..]);
        let statuses: Vec<_> = std::iter::from_fn(|| codec.decode(&mut input).unwrap())
            .map(|reply| match reply.into_meta() {
                Ok(meta) => (meta.status, meta.flags.opaque),
                Err(other) => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            statuses,
            [
                (MetaStatus::Quiet, None),
                (MetaStatus::Ns, Some(bytes::Bytes::from_static(b"1"))),
                (MetaStatus::Mn, None),
            ]
        );
    }

    #[test]
    fn end_of_stream_with_replies_due_is_an_error() {
        let mut codec = MemcacheCodec::new();
        let mut out = BytesMut::new();
        FrameEncoder::encode(&mut codec, Command::Version, &mut out).unwrap();
        let mut input = BytesMut::from(&b"VERS"[..]);
        assert_eq!(codec.decode(&mut input).unwrap(), None);
        let error = codec.decode_eof(&mut input).unwrap_err();
        assert!(
            matches!(error, CodecError::Closed { pending: 1 }),
            "{error}"
        );
        assert!(!error.is_connection_usable());
    }

    #[test]
    fn end_of_stream_with_nothing_due_ends_the_stream() {
        let mut codec = MemcacheCodec::new();
        let mut out = BytesMut::new();
        FrameEncoder::encode(&mut codec, Command::Quit, &mut out).unwrap();
        assert_eq!(codec.decode_eof(&mut BytesMut::new()).unwrap(), None);
    }

    #[test]
    fn decode_error_poisons_the_codec() {
        let mut codec = MemcacheCodec::new();
        let mut input = BytesMut::from(&b"STORED\r\n"[..]);
        let error = codec.decode(&mut input).unwrap_err();
        assert!(matches!(
            error,
            CodecError::Decode(DecodeError::Unsolicited(_))
        ));
        assert!(codec.is_failed());
        assert!(matches!(
            codec.decode(&mut input),
            Err(CodecError::Decode(DecodeError::Poisoned))
        ));
    }
}
