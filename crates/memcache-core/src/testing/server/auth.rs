//! memcached's `-Y` mode: until a connection authenticates, its only accepted command is
//! a `set` carrying `user password` as its data block.

use bytes::{Buf, BytesMut};

use super::{tokenize, until_nul, Flow, Session, MAX_PARTIAL_LINE};
use crate::testing::store::{parse_u32, Store};

/// memcached's read buffer: an authentication block larger than this would never fit.
const READ_BUFFER_SIZE: usize = 16384;

/// memcached's `-Y` mode before authentication: the first line must be a `set` whose
/// data block is `user password`; anything else is refused.
pub(super) fn authenticate(
    store: &mut Store,
    session: &mut Session,
    input: &mut BytesMut,
    output: &mut BytesMut,
) -> Flow {
    let Some(block) = session.auth_block else {
        if input.len() < 2 {
            return Flow::Wait;
        }
        let newline = memchr::memchr(b'\n', input);
        if newline.unwrap_or(input.len()) > MAX_PARTIAL_LINE {
            return Flow::Close;
        }
        let Some(newline) = newline else {
            return Flow::Wait;
        };
        // The CR stays: the size's parser stops at it.
        let toks = tokenize(until_nul(input.get(..newline).unwrap_or_default()));
        let size = match toks.as_slice() {
            [b"set", _, _, _, size, ..] => parse_u32(size),
            _ => None,
        };
        input.advance(newline + 1);
        store.count_command();
        match size.and_then(|size| usize::try_from(size).ok()) {
            Some(size) if size <= READ_BUFFER_SIZE => session.auth_block = Some(size + 2),
            Some(_) => return Flow::Close,
            None => output.extend_from_slice(b"CLIENT_ERROR unauthenticated\r\n"),
        }
        return Flow::Next;
    };
    if input.len() < block {
        return Flow::Wait;
    }
    let payload = input.split_to(block);
    session.auth_block = None;
    let reply: &[u8] = match payload.strip_suffix(b"\r\n") {
        None => b"CLIENT_ERROR bad command line termination",
        Some(payload) => match tokenize(until_nul(payload)).as_slice() {
            [user, password, ..] => {
                let valid = store
                    .credentials()
                    .is_some_and(|(u, p)| u.as_bytes() == *user && p.as_bytes() == *password);
                session.authenticated = valid;
                if valid {
                    b"STORED"
                } else {
                    b"CLIENT_ERROR authentication failure"
                }
            }
            _ => b"CLIENT_ERROR bad authentication token format",
        },
    };
    output.extend_from_slice(reply);
    output.extend_from_slice(b"\r\n");
    Flow::Next
}
