//! One attempt of a request at its node, observed: its latency into the node's histogram
//! and the facade, its outcome into the counters, and (feature `tracing`) its span.

use std::time::{Duration, Instant};

use memproto::Reply;

use crate::client::config::Config;
use crate::cluster::addr::NodeAddr;
use crate::error::Error;
use crate::observe::{Counters, ErrorKind};

/// An attempt in progress. Ended with [`Attempt::finish`] (or
/// [`Attempt::finish_detached`]); one dropped unfinished was given up by its caller.
pub(crate) struct Attempt {
    started: Instant,
    /// The command, by its index in [`super::command::NAMES`].
    command: usize,
    #[cfg(feature = "tracing")]
    span: ::tracing::Span,
    #[cfg(feature = "tracing")]
    finished: bool,
}

impl Attempt {
    /// A request to `node`, starting `now`, whose encoding is `payload` and which touches
    /// `keys` keys, traced as `config` says.
    pub(crate) fn start(
        node: &NodeAddr,
        config: &Config,
        now: Instant,
        payload: &[u8],
        keys: usize,
    ) -> Self {
        // Named only for the spans and series that are labelled with it.
        let command = if cfg!(any(feature = "tracing", feature = "metrics")) {
            super::command::of(payload)
        } else {
            0
        };
        #[cfg(not(feature = "tracing"))]
        let _ = (node, config, keys);
        Attempt {
            started: now,
            command,
            #[cfg(feature = "tracing")]
            span: super::tracing::request_span(
                config.trace_level,
                config.trace_keys,
                node,
                super::command::NAMES[command],
                payload,
                keys,
            ),
            #[cfg(feature = "tracing")]
            finished: false,
        }
    }

    /// The attempt's span, which its future enters while it is polled.
    #[cfg(feature = "tracing")]
    pub(crate) fn span(&self) -> ::tracing::Span {
        self.span.clone()
    }

    /// The attempt ended `now` with `outcome`: its replies, or why there are none.
    pub(crate) fn finish(
        self,
        counters: &Counters,
        now: Instant,
        outcome: Result<&[Reply], &Error>,
    ) {
        let elapsed = now.saturating_duration_since(self.started);
        let failure = match outcome {
            Ok(replies) => replies.iter().find_map(ErrorKind::of_reply),
            Err(error) => Some(error.kind()),
        };
        counters.answered(self.command, Some(elapsed), failure);
        self.traced(elapsed, failure, outcome);
    }

    /// A request nobody waits for was queued `now` (`Ok`), or could not be. Its time is no
    /// latency (nothing was answered yet), so only its outcome counts.
    pub(crate) fn finish_detached(
        self,
        counters: &Counters,
        now: Instant,
        outcome: Result<(), &Error>,
    ) {
        let elapsed = now.saturating_duration_since(self.started);
        let failure = outcome.err().map(Error::kind);
        counters.answered(self.command, None, failure);
        self.traced(elapsed, failure, outcome.map(|()| &[][..]));
    }

    /// The caller gave up before the attempt ended: no outcome, and no latency.
    pub(crate) fn abandon(self, counters: &Counters) {
        counters.abandoned();
        // `self` is dropped here, unfinished: its span (feature `tracing`) records the
        // cancellation.
    }

    fn traced(
        self,
        elapsed: Duration,
        failure: Option<ErrorKind>,
        outcome: Result<&[Reply], &Error>,
    ) {
        #[cfg(feature = "tracing")]
        {
            let mut this = self;
            super::tracing::finish(&this.span, elapsed, failure, outcome);
            this.finished = true;
        }
        #[cfg(not(feature = "tracing"))]
        let _ = (self, elapsed, failure, outcome);
    }
}

#[cfg(feature = "tracing")]
impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.finished {
            // The caller's future was dropped: no outcome, and no latency to record.
            super::tracing::cancelled(&self.span);
        }
    }
}
