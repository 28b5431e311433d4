//! A sans-IO memcached protocol: typed requests encoded into caller-owned buffers, and an
//! incremental decoder that reads replies in the context of the requests that caused them.
//!
//! There are no sockets, no async runtime and no clock here. A transport (an async
//! client, an io_uring loop, a proxy, a simulator) owns the bytes and moves them; this crate
//! only says what they mean.
//!
//! # The loop
//!
//! 1. [`Encoder::encode`] a [`Command`] into a write buffer; it returns an [`Expect`].
//! 2. [`Decoder::push`] the `Expect`, in the order the requests are written.
//! 3. Write the buffer to the connection; append what you read to a read buffer.
//! 4. Call [`Decoder::decode`] until it returns `Ok(None)`; each `Ok(Some(reply))` is the
//!    reply to the oldest pending request.
//!
//! ```
//! use bytes::BytesMut;
//! use memproto::{Command, Decoder, Encoder, Reply, Retrieve, RetrieveKind, Store, StoreMode};
//!
//! let encoder = Encoder::new();
//! let mut decoder = Decoder::default();
//! let mut to_server = BytesMut::new();
//!
//! // Pipeline two requests.
//! let set = Store::new(StoreMode::Set, b"greeting", b"hello");
//! decoder.push(encoder.encode(&Command::Store(set), &mut to_server)?);
//! let keys: &[&[u8]] = &[b"greeting"];
//! let get = Retrieve { kind: RetrieveKind::Get, keys };
//! decoder.push(encoder.encode(&Command::Retrieve(get), &mut to_server)?);
//! assert_eq!(&to_server[..], b"set greeting 0 0 5\r\nhello\r\nget greeting\r\n");
//!
//! // The server's answer arrives in two reads, split inside the value.
//! let mut from_server = BytesMut::from(&b"STORED\r\nVALUE greeting 0 5\r\nhel"[..]);
//! assert_eq!(decoder.decode(&mut from_server)?, Some(Reply::Stored));
//! assert_eq!(decoder.decode(&mut from_server)?, None); // need more bytes
//! from_server.extend_from_slice(b"lo\r\nEND\r\n");
//! match decoder.decode(&mut from_server)? {
//!     Some(Reply::Values(items)) => assert_eq!(&items[0].value[..], b"hello"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! assert_eq!(decoder.pending(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//!
//! - **No injection.** Keys and tokens are checked (1 to 250 bytes, no control byte, space or
//!   DEL); numbers come from typed integers; a value's length is its real length; the key
//!   `noreply` never lands where the server would read it as the flag; command lines that
//!   would pass the server's 2048-byte limit are refused. On any [`EncodeError`] nothing is
//!   written.
//! - **No trust in the server.** See [`Limits`] and [`Decoder`]: bounded lines, values and
//!   whole replies, strict numbers, items only for requested keys, meta replies checked
//!   against the request's opaque and echoed key, CRLF checked after every data block, and
//!   no reply accepted when none is pending. Each violation is a typed [`DecodeError`].
//! - **No copies of values.** A decoded value is a [`bytes::Bytes`] split off the read buffer.
//! - **No panics** on any input, and no `unsafe`.
//!
//! Server error lines (`ERROR`, `CLIENT_ERROR`, `SERVER_ERROR`) are replies
//! ([`Reply::Error`]), not decode errors: the stream is still in sync after them. After a
//! `SERVER_ERROR` the server may close the connection. An error line that arrives while a
//! quiet meta request heads the queue names no request; the decoder never guesses: the
//! quiet requests it may belong to get [`Reply::Unattributed`] and the stream stays in
//! sync.
//!
//! # Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod base64;
#[cfg(feature = "codec")]
mod codec;
mod command;
mod decode;
mod encode;
mod error;
mod expect;
mod exptime;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod limits;
mod meta;
mod num;
mod response;

#[cfg(feature = "codec")]
pub use codec::{CodecError, MemcacheCodec};
pub use command::{ArithOp, Command, Retrieve, RetrieveKind, Store, StoreMode};
pub use decode::Decoder;
pub use encode::{Encoder, MAX_COMMAND_LINE};
pub use error::{DecodeError, EncodeError, Excerpt, KeyError};
pub use expect::Expect;
pub use exptime::Exptime;
pub use key::{needs_base64, validate_base64_key, validate_key, MAX_BASE64_KEY_LEN, MAX_KEY_LEN};
pub use limits::Limits;
pub use meta::{
    MetaArith, MetaArithMode, MetaCommon, MetaDelete, MetaFlags, MetaGet, MetaSet, MetaSetMode,
};
pub use response::{
    Item, Items, ItemsIntoIter, MetaReply, MetaStatus, Reply, ServerError, ServerErrorKind, Stat,
};

/// The crate README's code blocks, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
