//! [`Stop`]: the Ctrl-C signal every task of a run watches. Its own module so that the driver
//! (which hands it down) and the scenarios (which watch it) both depend on it, not on each other.

use tokio::sync::watch;

/// Ctrl-C, seen by every task: they stop at their next request.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A stop signal and the sender that raises it (`send(true)`).
    pub fn new() -> (watch::Sender<bool>, Stop) {
        let (sender, receiver) = watch::channel(false);
        (sender, Stop(receiver))
    }

    /// A signal that is never raised.
    pub fn never() -> Stop {
        Stop::new().1
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn stopped(&self) {
        let mut receiver = self.0.clone();
        if receiver.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
