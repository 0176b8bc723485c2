//! The queue-outcome policy, one for both backends: what a consumer (a local worker, or a
//! Lambda function fed by SQS) does with a message after running it.
//!
//! A stage that finished is deleted; one that asked to look again later is sent again with
//! that delay and then deleted; one that failed (its worker lives, saw the error and gave
//! the claim back) is left in the queue, visible again after a backoff that doubles with
//! each receive, so a campaign that fails every time is failed and refunded after
//! [`MAX_RECEIVES`] runs instead of after five stage timeouts. A consumer that dies
//! mid-stage changes nothing: its message comes back when its visibility timeout ends.

use crate::context::Context;
use crate::pipeline::{process, Next};
use reelforge_core::model::StageMessage;

/// Receives before a message is dead-lettered (the SAM template's `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 5;

/// How long a failed message waits before its next run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// After the first receive; each further one waits twice as long.
    pub first_ms: i64,
    /// Never longer than this (the queue's own limit, or the stage timeout).
    pub cap_ms: i64,
}

impl RetrySchedule {
    /// The local server: 2, 4, 8, 16 s, capped at the stage timeout `visibility_ms` (a
    /// campaign that fails every time is failed in about half a minute).
    pub fn local(visibility_ms: i64) -> RetrySchedule {
        RetrySchedule {
            first_ms: 2_000,
            cap_ms: visibility_ms,
        }
    }

    /// AWS: 30, 60, 120, 240 s (SQS's cap is 12 hours). Longer than locally because most
    /// failures there are a service's (Bedrock or Polly throttling, a DynamoDB outage):
    /// the five receives span 7.5 minutes of trouble before the campaign is failed and
    /// refunded, where the 720 s visibility timeout would make it an hour.
    pub const AWS: RetrySchedule = RetrySchedule {
        first_ms: 30_000,
        cap_ms: 12 * 3600 * 1000,
    };

    /// The wait after the message's `receives`-th receive failed: `first_ms` doubled per
    /// further receive, at most `cap_ms`, and 0 after the last allowed receive (so it
    /// comes back at once, to be dead-lettered).
    pub fn delay_ms(&self, receives: u32) -> i64 {
        if receives >= MAX_RECEIVES {
            return 0;
        }
        let doublings = receives.saturating_sub(1).min(16);
        (self.first_ms << doublings).min(self.cap_ms)
    }
}

/// What the consumer does with the message it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Delete it.
    Delete,
    /// Leave it; it comes back when its visibility timeout ends (a later look could not
    /// be queued).
    Keep,
    /// Leave it, visible again after this many milliseconds (a failed run).
    RetryAfter(i64),
}

/// Runs `message` (received `receives` times) and decides what becomes of it.
pub async fn run_message(
    app: &Context,
    message: &StageMessage,
    receives: u32,
    schedule: RetrySchedule,
) -> Disposition {
    match process(app, message).await {
        Ok(Next::Done) => Disposition::Delete,
        Ok(Next::RetryIn(secs)) => match app.ports.queue.send(message, secs).await {
            Ok(()) => Disposition::Delete,
            Err(e) => {
                tracing::warn!(error = %e, stage = %message.stage, campaign_id = %message.campaign_id, "could not queue the next look; the message comes back after its visibility timeout");
                Disposition::Keep
            }
        },
        Err(e) => {
            crate::metrics::count("StageRetries", Some(message.stage.as_str()));
            let delay_ms = schedule.delay_ms(receives);
            tracing::warn!(error = %e, stage = %message.stage, campaign_id = %message.campaign_id, receives, retry_in_ms = delay_ms, "stage failed; will retry");
            Disposition::RetryAfter(delay_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_stage_backs_off_within_the_visibility_timeout_then_dead_letters_at_once() {
        let local = RetrySchedule::local(600_000);
        let delays: Vec<i64> = (1..=MAX_RECEIVES).map(|n| local.delay_ms(n)).collect();
        assert_eq!(delays, [2_000, 4_000, 8_000, 16_000, 0]);
        // Never longer than the stage timeout (a 2 s `--stage-timeout-secs`).
        assert_eq!(RetrySchedule::local(2_000).delay_ms(3), 2_000);
        assert_eq!(RetrySchedule::local(2_000).delay_ms(MAX_RECEIVES + 3), 0);
    }

    #[test]
    fn aws_backs_off_for_minutes() {
        let delays: Vec<i64> = (1..=MAX_RECEIVES)
            .map(|n| RetrySchedule::AWS.delay_ms(n))
            .collect();
        assert_eq!(delays, [30_000, 60_000, 120_000, 240_000, 0]);
    }
}
