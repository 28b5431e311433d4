//! What keeps the node's background tasks honest: a connection attempt reports its end
//! exactly once, and every task ends when the node closes.

use super::*;

use futures::task::AtomicWaker;

/// Reports a connection attempt's result exactly once, even if its task never finishes.
pub(super) struct ConnectGuard<R: Runtime> {
    pub(super) node: Weak<Node<R>>,
    pub(super) reported: bool,
}

impl<R: Runtime> ConnectGuard<R> {
    pub(super) fn report(mut self, result: Result<Box<dyn Socket>>, elapsed: Option<Duration>) {
        self.reported = true;
        if let Some(node) = self.node.upgrade() {
            node.connected(result, elapsed);
        }
    }
}

impl<R: Runtime> Drop for ConnectGuard<R> {
    fn drop(&mut self) {
        if !self.reported {
            if let Some(node) = self.node.upgrade() {
                let error = aborted(&node.name, "connection attempt ended without a result");
                node.connected(Err(error), None);
            }
        }
    }
}

/// The error of a connection attempt to `node` cut short by the client itself.
pub(super) fn aborted(node: &str, message: &str) -> Error {
    Error::Connect {
        node: node.to_owned(),
        source: Arc::new(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            message.to_owned(),
        )),
    }
}

/// Ends background tasks: every clone of the signal completes once triggered.
pub(super) struct Shutdown {
    trigger: Mutex<Option<oneshot::Sender<()>>>,
    signal: Shared<oneshot::Receiver<()>>,
}

impl Shutdown {
    pub(super) fn new() -> Self {
        let (trigger, signal) = oneshot::channel();
        Shutdown {
            trigger: Mutex::new(Some(trigger)),
            signal: signal.shared(),
        }
    }

    pub(super) fn signal(&self) -> Shared<oneshot::Receiver<()>> {
        self.signal.clone()
    }

    pub(super) fn trigger(&self) {
        self.trigger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
    }
}

/// Tells the upkeep task that the pool's next timeout may have moved earlier. A signal
/// sent while the task is not waiting is kept for its next wait, so none is lost.
#[derive(Default)]
pub(super) struct Reschedule {
    asked: AtomicBool,
    waker: AtomicWaker,
}

impl Reschedule {
    pub(super) fn ask(&self) {
        self.asked.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Completes once asked (at once if asked since the last wait).
    pub(super) async fn asked(&self) {
        futures::future::poll_fn(|cx| {
            self.waker.register(cx.waker());
            if self.asked.swap(false, Ordering::AcqRel) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
    }
}
