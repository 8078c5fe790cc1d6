//! The Recorder: every state change of every call goes through it to storage.
//!
//! It groups writes: while one commit is in flight, the writes that arrive wait, and the next
//! commit carries all of them (up to `recorder_max_batch` call updates) — so a burst of
//! decisions costs a few commits, not one each. Each writer is answered only once its write is
//! durable. If a combined commit fails, its parts are committed one by one so that one bad
//! write cannot fail the others.
//!
//! Backpressure is by acknowledgement: every writer awaits its answer before it goes on.
//!
//! Writers reach it through a [`RecorderHandle`], which its supervisor points at the running
//! recorder; while it restarts, a write is answered [`RecordError::Restarting`].

use std::sync::{Arc, RwLock};

use dialer_storage::{StorageError, Store, WriteBatch};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

pub(crate) enum RecorderMessage {
    Record {
        batch: WriteBatch,
        reply: RpcReplyPort<Result<(), StorageError>>,
    },
    /// A commit finished; the next may start.
    Flushed,
}

/// Why a write was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The recorder is not running (restarting, or the engine is stopping).
    #[error("the recorder is restarting")]
    Restarting,
}

/// How writers reach the recorder, whichever generation of it is running.
#[derive(Debug, Default)]
pub(crate) struct RecorderHandle {
    actor: RwLock<Option<ActorRef<RecorderMessage>>>,
}

impl RecorderHandle {
    pub(crate) fn set(&self, actor: Option<ActorRef<RecorderMessage>>) {
        *self.actor.write().unwrap_or_else(|p| p.into_inner()) = actor;
    }

    pub(crate) fn is_up(&self) -> bool {
        self.actor
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Writes a batch; returns once it is durable.
    pub(crate) async fn record(&self, batch: WriteBatch) -> Result<(), RecordError> {
        if batch.is_empty() {
            return Ok(());
        }
        let actor = self
            .actor
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(RecordError::Restarting)?;
        let started = tokio::time::Instant::now();
        let answer = actor
            .call(|reply| RecorderMessage::Record { batch, reply }, None)
            .await;
        crate::metrics::storage_write(started.elapsed());
        match answer {
            Ok(ractor::rpc::CallResult::Success(result)) => result.map_err(RecordError::Storage),
            _ => Err(RecordError::Restarting),
        }
    }
}

pub(crate) struct RecorderArgs {
    pub store: Arc<dyn Store>,
    /// The most call updates one commit carries.
    pub max_batch: usize,
}

pub(crate) struct RecorderActor;

pub(crate) struct RecorderState {
    store: Arc<dyn Store>,
    max_batch: usize,
    pending: Vec<(WriteBatch, RpcReplyPort<Result<(), StorageError>>)>,
    in_flight: bool,
}

impl Actor for RecorderActor {
    type Msg = RecorderMessage;
    type State = RecorderState;
    type Arguments = RecorderArgs;

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        args: RecorderArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RecorderState {
            store: args.store,
            max_batch: args.max_batch.max(1),
            pending: Vec::new(),
            in_flight: false,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RecorderMessage::Record { batch, reply } => state.on_record(&me, batch, reply),
            RecorderMessage::Flushed => state.on_flushed(&me),
        }
        Ok(())
    }
}

impl RecorderState {
    fn on_record(
        &mut self,
        me: &ActorRef<RecorderMessage>,
        batch: WriteBatch,
        reply: RpcReplyPort<Result<(), StorageError>>,
    ) {
        self.pending.push((batch, reply));
        if !self.in_flight {
            self.flush(me);
        }
    }

    fn on_flushed(&mut self, me: &ActorRef<RecorderMessage>) {
        self.in_flight = false;
        if !self.pending.is_empty() {
            self.flush(me);
        }
    }

    fn flush(&mut self, me: &ActorRef<RecorderMessage>) {
        let max = self.max_batch;
        let mut calls = 0;
        let take = self
            .pending
            .iter()
            .take_while(|(b, _)| {
                calls += b.calls.len().max(1);
                calls <= max
            })
            .count()
            .max(1);
        let parts: Vec<_> = self.pending.drain(..take).collect();
        self.in_flight = true;
        let (store, me) = (Arc::clone(&self.store), me.clone());
        // The commit runs beside the actor, so writes keep queueing meanwhile; the writers are
        // answered from the task, even if this actor is restarted in between.
        tokio::spawn(async move {
            commit(store.as_ref(), parts).await;
            let _ = me.cast(RecorderMessage::Flushed);
        });
    }
}

async fn commit(
    store: &dyn Store,
    parts: Vec<(WriteBatch, RpcReplyPort<Result<(), StorageError>>)>,
) {
    let calls: usize = parts.iter().map(|(b, _)| b.calls.len()).sum();
    let started = tokio::time::Instant::now();
    let mut combined = WriteBatch::default();
    for (batch, _) in &parts {
        combined.extend(batch.clone());
    }
    let result = store.commit(combined).await;
    crate::metrics::storage_commit(started.elapsed(), calls, result.is_ok());
    match result {
        Ok(()) => {
            for (_, reply) in parts {
                let _ = reply.send(Ok(()));
            }
        }
        Err(_) if parts.len() > 1 => {
            for (batch, reply) in parts {
                let _ = reply.send(store.commit(batch).await);
            }
        }
        Err(e) => {
            for (_, reply) in parts {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
