//! Messages an actor sends itself later, cancelled when it no longer needs them.
//!
//! ractor's `send_after` is a task that sleeps out its whole period holding the actor's cell.
//! A timer left behind by a finished actor keeps that actor's memory (its cell and mailbox)
//! alive until it fires: a slot's deadline is the ring timeout plus the max call duration
//! (an hour by default), so every call carried in the last hour was still in memory — at the
//! throughput ceiling, gigabytes. Timers are cancelled when the actor is done with them, and
//! at the latest when its state is dropped.

use std::time::Duration;

use ractor::{ActorRef, Message};
use tokio::task::AbortHandle;

#[derive(Debug, Default)]
pub(crate) struct Timers(Vec<AbortHandle>);

impl Timers {
    /// Sends `msg()` to `me` after `period` unless cancelled first.
    pub(crate) fn after<M: Message>(
        &mut self,
        me: &ActorRef<M>,
        period: Duration,
        msg: impl FnOnce() -> M + Send + 'static,
    ) {
        self.0.retain(|h| !h.is_finished());
        // Counted while its task lives: the guard goes when the message is made or the task
        // is aborted.
        let guard = crate::gauges::TimerGuard::new();
        let msg = move || {
            drop(guard);
            msg()
        };
        self.0.push(me.send_after(period, msg).abort_handle());
    }

    /// Cancels every timer not fired yet.
    pub(crate) fn cancel(&mut self) {
        for timer in self.0.drain(..) {
            timer.abort();
        }
    }

    /// Timers not fired or cancelled yet.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.0.iter().filter(|h| !h.is_finished()).count()
    }
}

impl Drop for Timers {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use ractor::{Actor, ActorProcessingErr};

    use super::*;

    struct Counter;

    impl Actor for Counter {
        type Msg = ();
        type State = Arc<AtomicU32>;
        type Arguments = Arc<AtomicU32>;

        async fn pre_start(
            &self,
            _: ActorRef<()>,
            count: Arc<AtomicU32>,
        ) -> Result<Arc<AtomicU32>, ActorProcessingErr> {
            Ok(count)
        }

        async fn handle(
            &self,
            _: ActorRef<()>,
            (): (),
            count: &mut Arc<AtomicU32>,
        ) -> Result<(), ActorProcessingErr> {
            count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_or_dropped_timer_never_fires_and_lets_go_of_the_actor() {
        let count = Arc::new(AtomicU32::new(0));
        let (me, _handle) = Actor::spawn(None, Counter, Arc::clone(&count))
            .await
            .unwrap();
        let hour = Duration::from_secs(3600);
        let mut timers = Timers::default();
        timers.after(&me, Duration::from_secs(1), || ());
        timers.after(&me, hour, || ());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(count.load(Ordering::SeqCst), 1, "the first one fired");
        assert_eq!(timers.pending(), 1);
        timers.cancel();
        tokio::task::yield_now().await;
        assert_eq!(timers.pending(), 0);

        timers.after(&me, hour, || ());
        drop(timers);
        // The aborted tasks held the actor's cell; with them gone, only `me` is left.
        tokio::time::sleep(2 * hour).await;
        assert_eq!(count.load(Ordering::SeqCst), 1, "nothing else fired");
        me.stop(None);
    }
}
