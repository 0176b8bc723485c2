//! The local stand-in for SQS + Lambda event sources: workers inside `reelforge serve`
//! take messages from the SQLite queue, run `pipeline::process`, and delete, delay or
//! (after `MAX_RECEIVES`) dead-letter them. A message whose worker dies is not lost: it
//! becomes visible again when its visibility timeout passes. A stage that fails (its
//! worker lives, saw the error and gave the claim back) is retried sooner, after a short
//! backoff ([`failed_stage_retry_ms`]), so a campaign that fails every time is failed in
//! well under a minute instead of after five stage timeouts.

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
/// The first retry of a failed pipeline stage comes this long after the failure; each
/// further one waits twice as long (2, 4, 8, 16 s), never longer than the visibility
/// timeout.
pub const FAILED_STAGE_RETRY_MS: i64 = 2_000;

/// How long a pipeline stage message that failed on its `receives`-th receive stays
/// hidden. A failed stage released its claim, so its retry need not wait out the stage
/// timeout (600 s by default: five receives would keep a campaign that fails every time
/// in its stage for 50 minutes before it is failed and refunded). A retry that still
/// finds the claim (its release could not be written) waits for it to end, as before.
/// After the last allowed receive the message comes back at once, to be dead-lettered.
pub fn failed_stage_retry_ms(receives: u32, visibility_ms: i64) -> i64 {
    retry_backoff_ms(FAILED_STAGE_RETRY_MS, receives, visibility_ms)
}

/// The backoff schedule of a failed message: `first_ms` after its first receive, twice
/// as long after each further one, at most `cap_ms`, and 0 after the last allowed
/// receive (so it comes back at once, to be dead-lettered).
pub fn retry_backoff_ms(first_ms: i64, receives: u32, cap_ms: i64) -> i64 {
    if receives >= MAX_RECEIVES {
        return 0;
    }
    let doublings = receives.saturating_sub(1).min(16);
    (first_ms << doublings).min(cap_ms)
}

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
    // Webhook messages keep the full visibility timeout after an error: their retry must
    // find a claimed attempt stale (`ATTEMPT_STALE_AFTER_MS`) before it can proceed.
    let pipeline = !stages.contains(&STAGE_WEBHOOK);
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
                // Left in the queue: a pipeline stage comes back after its backoff, a
                // webhook message after the visibility timeout.
                tracing::warn!(error = %e, stage = %message.stage, campaign_id = %message.campaign_id, receives = received.receives, "stage failed; will retry");
                if pipeline {
                    let after = failed_stage_retry_ms(received.receives, visibility_ms);
                    let _ = store.extend_visibility(&received, after);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{failed_stage_retry_ms, MAX_RECEIVES};

    #[test]
    fn a_failed_stage_backs_off_within_the_visibility_timeout_then_dead_letters_at_once() {
        let delays: Vec<i64> = (1..=MAX_RECEIVES)
            .map(|n| failed_stage_retry_ms(n, 600_000))
            .collect();
        assert_eq!(delays, [2_000, 4_000, 8_000, 16_000, 0]);
        // Never longer than the stage timeout (a 2 s `--stage-timeout-secs`).
        assert_eq!(failed_stage_retry_ms(3, 2_000), 2_000);
        assert_eq!(failed_stage_retry_ms(MAX_RECEIVES + 3, 2_000), 0);
    }
}
