//! The local stand-in for SQS + Lambda event sources: workers inside `reelforge serve`
//! take messages from the SQLite queue, run `pipeline::process`, and delete, delay or
//! (after `MAX_RECEIVES`) dead-letter them. A message whose worker dies is not lost: it
//! becomes visible again when its visibility timeout passes.

use super::PIPELINE_STAGES;
use super::{dead_letter, process, Next};
use crate::api::App;
use crate::backend::local::LocalStore;
use crate::model::STAGE_WEBHOOK;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Receives before a message is dead-lettered (the SAM template uses the same figure).
pub const MAX_RECEIVES: u32 = 5;
/// How long a received message stays hidden while its worker runs: longer than a claimed
/// webhook attempt takes to count as stale, so a retried message can always proceed.
pub const VISIBILITY_MS: i64 = 90_000;
/// Longest idle wait before a worker looks at the queue again (delayed messages).
const IDLE_POLL: Duration = Duration::from_millis(250);

pub struct WorkerSet {
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl WorkerSet {
    /// Starts `stage_workers` for pipeline stages and `webhook_workers` for deliveries
    /// (kept apart so a slow receiver never holds up a render).
    pub fn start(
        app: Arc<App>,
        store: Arc<LocalStore>,
        stage_workers: usize,
        webhook_workers: usize,
    ) -> WorkerSet {
        Self::start_with_visibility(app, store, stage_workers, webhook_workers, VISIBILITY_MS)
    }

    /// As `start`, with received stage messages hidden for `visibility_ms` (which should
    /// equal the studio's `lease_ms`: both say how long a stage may run before it is
    /// retried). Webhook messages keep [`VISIBILITY_MS`].
    pub fn start_with_visibility(
        app: Arc<App>,
        store: Arc<LocalStore>,
        stage_workers: usize,
        webhook_workers: usize,
        visibility_ms: i64,
    ) -> WorkerSet {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let pools: [(&'static [&'static str], usize, i64); 2] = [
            (&PIPELINE_STAGES, stage_workers, visibility_ms),
            (&[STAGE_WEBHOOK], webhook_workers, VISIBILITY_MS),
        ];
        for (stages, count, visibility_ms) in pools {
            for _ in 0..count {
                tasks.spawn(run(
                    app.clone(),
                    store.clone(),
                    stages,
                    visibility_ms,
                    stopped.clone(),
                ));
            }
        }
        WorkerSet { stop, tasks }
    }

    /// Asks every worker to stop after its current message and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn run(
    app: Arc<App>,
    store: Arc<LocalStore>,
    stages: &'static [&'static str],
    visibility_ms: i64,
    mut stopped: watch::Receiver<bool>,
) {
    while !*stopped.borrow() {
        let received = match store.receive(stages, visibility_ms) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "queue receive failed");
                None
            }
        };
        let Some(received) = received else {
            let _ = tokio::time::timeout(IDLE_POLL, stopped.changed()).await;
            continue;
        };
        let message = received.message.clone();
        if received.receives > MAX_RECEIVES {
            if let Err(e) = dead_letter(&app, &message).await {
                tracing::error!(error = %e, "dead-letter handling failed; will retry");
                continue;
            }
            let _ = store.ack(&received);
            continue;
        }
        // While the stage runs its message stays hidden (as its claim is renewed), so a
        // long stage is never handed to a second worker; a dead worker stops extending.
        let work = process(&app, &message);
        tokio::pin!(work);
        let every = Duration::from_millis((visibility_ms / 3).max(100) as u64);
        let outcome = loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                () = tokio::time::sleep(every) => {
                    let _ = store.extend_visibility(&received, visibility_ms);
                }
            }
        };
        match outcome {
            Ok(Next::Done) => {
                let _ = store.ack(&received);
            }
            Ok(Next::RetryIn(secs)) => {
                if app.ports.queue.send(&message, secs).await.is_ok() {
                    let _ = store.ack(&received);
                }
            }
            Err(e) => {
                // Left in the queue: it comes back after the visibility timeout.
                tracing::warn!(error = %e, stage = %message.stage, receives = received.receives, "stage failed; will retry");
            }
        }
    }
}
