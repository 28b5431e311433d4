//! Meta batches: many single-key commands for one node written as one payload, ended by
//! `mn`, so the whole batch costs one round trip. Each command carries its own opaque token.
//! Fetches carry the quiet flag, so a miss costs nothing; writes do not, so every write
//! gets its own reply (`HD`, `NS`, `NF`, `EX` or an error line) in its place.
//!
//! The decoder pairs replies with commands by opaque: a quiet command the server passed over
//! in silence ends with [`MetaStatus::Quiet`], and `mn`'s reply proves every command before
//! it was answered. An error line names no opaque, so it can only be paired with certainty
//! with a command the server answers anyway: that is why writes, which can fail with one
//! (`SERVER_ERROR object too large for cache`, `out of memory`), are not quiet. An error
//! line among quiet fetches fails their batch (see [`memproto::Reply::Unattributed`]),
//! and the stream stays in sync.

use bytes::BytesMut;
use memproto::{Command, EncodeError, Encoder, Expect, MetaStatus, Reply};

use crate::engine::payload::Payload;
use crate::engine::request::Expects;
use crate::error::{Error, Result};

/// Commands one batch carries at most.
pub(crate) const MAX_COMMANDS: usize = 1024;

/// Bytes one batch carries at most before another starts (one larger command still goes,
/// alone).
pub(crate) const MAX_BYTES: usize = 256 * 1024;

/// Bytes of values one batch of fetches may bring back at most, counting every value at
/// the largest size allowed: the connection holds a batch's replies until the last one.
const MAX_FETCHED: usize = 64 * 1024 * 1024;

/// A batch being encoded.
pub(crate) struct MetaBatch {
    buf: BytesMut,
    expects: Vec<Expect>,
    max_commands: usize,
}

impl MetaBatch {
    /// A batch of fetches of values up to `max_value_len` bytes: short enough that all
    /// their values together stay within [`MAX_FETCHED`].
    pub(crate) fn for_fetches(max_value_len: usize) -> Self {
        let most = MAX_FETCHED / max_value_len.max(1);
        MetaBatch::with_max_commands(most.clamp(1, MAX_COMMANDS))
    }

    /// A batch of commands whose replies carry no value, with room for `commands`
    /// commands of about `bytes` bytes in all (within the batch's limits), so that it does
    /// not grow command by command.
    pub(crate) fn with_room(commands: usize, bytes: usize) -> Self {
        MetaBatch {
            buf: BytesMut::with_capacity(bytes.min(MAX_BYTES)),
            expects: Vec::with_capacity(commands.min(MAX_COMMANDS) + 1),
            max_commands: MAX_COMMANDS,
        }
    }

    fn with_max_commands(max_commands: usize) -> Self {
        MetaBatch {
            buf: BytesMut::new(),
            expects: Vec::new(),
            max_commands,
        }
    }

    /// Commands encoded so far (`mn` not counted).
    pub(crate) fn len(&self) -> usize {
        self.expects.len()
    }

    /// Whether a command of about `size` bytes should start a new batch instead.
    pub(crate) fn is_full_for(&self, size: usize) -> bool {
        !self.expects.is_empty()
            && (self.expects.len() >= self.max_commands || self.buf.len() + size > MAX_BYTES)
    }

    /// Encodes one command. Its opaque must be unique within the batch: the batch's
    /// position ([`MetaBatch::len`]) is the natural one.
    ///
    /// # Errors
    /// The command is invalid; nothing was added.
    pub(crate) fn push(&mut self, encoder: &Encoder, command: &Command<'_>) -> Result<()> {
        let expect = encoder.encode(command, &mut self.buf)?;
        self.expects.push(expect);
        Ok(())
    }

    /// Ends the batch with `mn`: its bytes and what the decoder must expect.
    pub(crate) fn finish(mut self, encoder: &Encoder) -> Result<(Payload, Expects), EncodeError> {
        let noop = encoder.encode(&Command::MetaNoop, &mut self.buf)?;
        self.expects.push(noop);
        Ok((
            Payload::Shared(self.buf.freeze()),
            Expects::Batch(self.expects.into()),
        ))
    }
}

/// Splits a batch's replies into one per command, checking that the last is `mn`'s.
///
/// # Errors
/// - `mn` was answered with an error line (a server without meta commands answers
///   `ERROR` to every command): that error, typed ([`Error::UnknownCommand`]). Without
///   `MN`, no quiet command's silence is proven.
/// - The replies do not end with `MN`, or their count is not `commands + 1`.
pub(crate) fn command_replies(mut replies: Vec<Reply>, commands: usize) -> Result<Vec<Reply>> {
    if replies.len() == commands + 1 {
        if let Some(Reply::Error(_)) = replies.last() {
            return Err(replies
                .pop()
                .map_or(Error::Closed, crate::client::unexpected));
        }
    }
    let ends_with_noop = matches!(
        replies.last(),
        Some(reply) if reply.meta_status() == Some(MetaStatus::Mn)
    );
    if !ends_with_noop || replies.len() != commands + 1 {
        return Err(Error::UnexpectedReply(format!(
            "a batch of {commands} commands got {} replies",
            replies.len()
        )));
    }
    replies.pop();
    Ok(replies)
}
