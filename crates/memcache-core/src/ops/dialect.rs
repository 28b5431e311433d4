//! What every command family's two spellings share: the opaque token a meta request
//! carries, and the error for a meta status the command cannot produce. Each family's file
//! spells its commands in both protocols and reads their replies (`STORED` and `HD` both
//! mean stored), so nothing above the operations branches on the protocol.

use std::cell::Cell;

use memproto::MetaStatus;

use crate::client::config::Config;
use crate::client::protocol::{Protocol, Token};
use crate::error::Error;

thread_local! {
    static NEXT_TOKEN: Cell<u32> = const { Cell::new(0) };
}

/// The opaque token for a request: a fresh one when it is sent as a meta command
/// (`meta`), else an empty one, which costs nothing.
pub(crate) fn token(meta: bool) -> Token {
    if meta {
        next_token()
    } else {
        Token::EMPTY
    }
}

/// The opaque token for a request in the client's protocol (see [`token`]).
pub(crate) fn token_for(config: &Config) -> Token {
    token(config.protocol == Protocol::Meta)
}

/// A fresh opaque token for a meta request. Replies are paired with requests by their
/// order; the token is a check on top of that (a reply echoing another token closes the
/// connection), so it only has to change from request to request, which a per-thread
/// counter does with no shared state.
fn next_token() -> Token {
    let token = NEXT_TOKEN.with(|next| {
        let token = next.get();
        next.set(token.wrapping_add(1));
        token
    });
    Token::new(u64::from(token))
}

/// The error for a meta reply whose status the command cannot produce.
pub(crate) fn unexpected_status(status: MetaStatus) -> Error {
    Error::UnexpectedReply(format!("meta status {status:?}"))
}
