//! The campaign pipeline: stage messages in, conditional status transitions out. The same
//! `process` runs in the local workers (`worker.rs`) and in the Lambda stage functions.
//! Every step is safe to run twice: a transition only applies from the status it expects,
//! and terminal notifications are created in the same write as the terminal status.

pub mod artifacts;
pub mod collect;
pub mod lease;
pub mod process;
pub mod publish;
pub mod render;
pub mod rerender;
pub mod script;
pub mod voiceover;
pub mod webhook;

use crate::context::Context;
use crate::lifecycle::fail;
pub use crate::lifecycle::StageError;
use reelforge_core::model::{Stage, StageMessage};

/// What to do with the message that was processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done (or nothing to do): delete the message.
    Done,
    /// Send the same message again after this many seconds, then delete this one.
    RetryIn(u32),
}

/// Runs one message. `Err` leaves the message to the queue's retry (and, after the
/// maximum number of receives, to `dead_letter`).
pub async fn process(app: &Context, message: &StageMessage) -> Result<Next, StageError> {
    let id = message.campaign_id;
    match message.stage {
        // Boxed: the stages' futures are deep, and a handler awaiting all of them inline
        // overflows the compiler's layout depth limit.
        Stage::Collect => Box::pin(collect::run(app, id)).await,
        Stage::Process => Box::pin(process::run(app, id)).await,
        Stage::Script => Box::pin(script::run(app, id)).await,
        Stage::Voiceover => Box::pin(voiceover::run(app, id)).await,
        Stage::Render => Box::pin(render::run(app, id)).await,
        Stage::Rerender => Box::pin(rerender::run(app, id)).await,
        Stage::Publish => Box::pin(publish::run(app, id)).await,
        Stage::Webhook => match &message.event_id {
            Some(event_id) => Ok(webhook::deliver(app, id, event_id).await?),
            None => Ok(Next::Done),
        },
    }
}

/// A message that kept failing: its campaign fails in that stage (refunding unproduced
/// videos and notifying), or its webhook event is marked failed.
pub async fn dead_letter(app: &Context, message: &StageMessage) -> Result<(), StageError> {
    tracing::error!(stage = %message.stage, campaign_id = %message.campaign_id, "message dead-lettered");
    // The stages after review never fail the campaign: they give up their own work.
    match message.stage {
        Stage::Rerender => return rerender::dead_letter(app, message.campaign_id).await,
        Stage::Publish => return publish::dead_letter(app, message.campaign_id).await,
        _ => {}
    }
    let Some(status) = message.stage.status() else {
        if let Some(event_id) = &message.event_id {
            webhook::abandon(app, message.campaign_id, event_id).await?;
        }
        return Ok(());
    };
    // Only a campaign still in this message's stage fails: a stale duplicate of an
    // earlier stage must not fail a campaign that has moved on.
    match app.ports.campaigns.get_campaign(message.campaign_id).await? {
        Some(c) if c.status == status => {
            fail(
                app,
                message.campaign_id,
                status,
                "An internal error stopped this stage repeatedly; unproduced videos were given back to the quota",
            )
            .await
        }
        _ => Ok(()),
    }
}
