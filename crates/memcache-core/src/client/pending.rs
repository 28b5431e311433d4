//! The future of a single-key request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;

use crate::client::execute::{Exchange, Operation};
use crate::client::{CallOptions, Inner};
use crate::error::Result;
use crate::io::runtime::Runtime;
use crate::route::single::{self, Either};

/// A single-key request on its way: the future its builder turns into.
///
/// Nothing is sent until it is first polled. Dropping it gives the request up: one still
/// unwritten is never sent, and the reply to one already written is read and dropped, so
/// no other caller can receive it.
///
/// On a client without a [route](crate::Route) it is the request's state machine itself,
/// and allocates nothing; through a route it holds the route's boxed future, and dropping
/// it part way through a write may leave the route's destinations disagreeing (some took
/// the write, and the others were not yet made to lose the key).
#[must_use = "futures do nothing unless polled"]
pub struct Pending<'c, R: Runtime, O: Operation> {
    flow: Either<Exchange<'c, R, O>, BoxFuture<'c, Result<O::Output>>>,
}

impl<'c, R, O> Pending<'c, R, O>
where
    R: Runtime,
    O: Operation + Sync + 'c,
    O::Output: Send,
{
    /// The request `op` on `client`, with `options`.
    #[inline]
    pub(crate) fn new(client: &'c Inner<R>, op: O, options: CallOptions) -> Self {
        let flow = match &client.routes {
            None => Either::Left(Exchange::new(client, op, options)),
            Some(routes) => single::start(client, routes, op, options),
        };
        Pending { flow }
    }
}

impl<R: Runtime, O: Operation> Future for Pending<'_, R, O> {
    type Output = Result<O::Output>;

    // Inlined into the caller, so that a request without a route costs what polling its
    // `Exchange` directly would.
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().flow {
            Either::Left(exchange) => Pin::new(exchange).poll(cx),
            Either::Right(routed) => routed.as_mut().poll(cx),
        }
    }
}
