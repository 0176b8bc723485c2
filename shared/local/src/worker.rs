//! The local stand-in for SQS + Lambda event sources: workers inside `reelforge serve`
//! take messages from the SQLite queue, run `pipeline::process`, and delete, delay or
//! (after `MAX_RECEIVES`) dead-letter them. A message whose worker dies is not lost: it
//! becomes visible again when its visibility timeout passes. A stage that fails (its
//! worker lives, saw the error and gave the claim back) is retried sooner, after a short
//! backoff (`reelforge_app::policy`), so a campaign that fails every time is failed in
//! well under a minute instead of after five stage timeouts.

use crate::store::LocalStore;
use reelforge_app::pipeline::dead_letter;
use reelforge_app::policy::{run_message, Disposition, RetrySchedule, MAX_RECEIVES};
use reelforge_app::{Context, DEFAULT_LEASE_MS};
use reelforge_core::model::Stage;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a received message stays hidden while its worker runs (the default stage
/// timeout).
pub const VISIBILITY_MS: i64 = DEFAULT_LEASE_MS;
/// Longest idle wait before a worker looks at the queue again (delayed messages).
const IDLE_POLL: Duration = Duration::from_millis(250);

pub struct WorkerSet {
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl WorkerSet {
    /// Starts `stage_workers` for the pipeline's stages and those after review (script
    /// edits, publishing), and `webhook_workers` for deliveries
    /// (kept apart so a slow receiver never holds up a render).
    pub fn start(
        app: Arc<Context>,
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
        app: Arc<Context>,
        store: Arc<LocalStore>,
        stage_workers: usize,
        webhook_workers: usize,
        visibility_ms: i64,
    ) -> WorkerSet {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let pools: [(&'static [Stage], usize, i64); 2] = [
            (&Stage::WORK, stage_workers, visibility_ms),
            (&[Stage::Webhook], webhook_workers, VISIBILITY_MS),
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
    app: Arc<Context>,
    store: Arc<LocalStore>,
    stages: &'static [Stage],
    visibility_ms: i64,
    mut stopped: watch::Receiver<bool>,
) {
    let schedule = RetrySchedule::local(visibility_ms);
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
        let work = run_message(&app, &message, received.receives, schedule);
        tokio::pin!(work);
        let every = Duration::from_millis((visibility_ms / 3).max(100) as u64);
        let disposition = loop {
            tokio::select! {
                disposition = &mut work => break disposition,
                () = tokio::time::sleep(every) => {
                    let _ = store.extend_visibility(&received, visibility_ms);
                }
            }
        };
        match disposition {
            Disposition::Delete => {
                let _ = store.ack(&received);
            }
            Disposition::Keep => {}
            Disposition::RetryAfter(ms) => {
                let _ = store.extend_visibility(&received, ms);
            }
        }
    }
}
