//! `voiceover`: each language's script spoken (audio plus word timings), all languages
//! at once.

use super::lease::{claim, release, Claim};
use super::{artifacts, Next, StageError};
use crate::context::Context;
use crate::lifecycle::advance;
use reelforge_core::model::Stage;
use reelforge_core::model::{Campaign, CampaignStatus, StageMessage};
use reelforge_core::script::Script;
use reelforge_core::voice::WordTiming;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A language's spoken script without its audio (`artifacts::voice_words`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceTrack {
    pub duration_seconds: f64,
    pub words: Vec<WordTiming>,
    /// The script's sentences, for caption cues.
    pub sentences: Vec<String>,
}

pub async fn run(app: &Context, campaign_id: Uuid) -> Result<Next, StageError> {
    let (campaign, _renewal) = match claim(app, campaign_id, Stage::Voiceover, |_| {}).await? {
        Claim::Run(c, renewal) => (*c, renewal),
        Claim::Wait(secs) => return Ok(Next::RetryIn(secs)),
        Claim::Skip => return Ok(Next::Done),
    };
    if let Err(e) = speak_all(app, &campaign).await {
        release(app, &campaign).await;
        return Err(e);
    }
    if advance(app, &campaign, CampaignStatus::Rendering, |c| {
        c.lease = None
    })
    .await?
    {
        app.ports
            .queue
            .send(&StageMessage::stage(Stage::Render, campaign_id), 0)
            .await?;
    }
    Ok(Next::Done)
}

async fn speak_all(app: &Context, campaign: &Campaign) -> Result<(), StageError> {
    let scripts: Vec<Script> = artifacts::get_json(app, &artifacts::scripts(campaign.id)).await?;
    let scratch = artifacts::scratch(campaign.id, Stage::Voiceover)?;
    let chosen: Option<String> = campaign
        .style
        .as_ref()
        .and_then(|s| s.voice.as_ref())
        .and_then(|v| v.provider_voice_id.clone());
    let mut runs = tokio::task::JoinSet::new();
    for script in scripts {
        let voice = app.tools.voice.clone();
        let chosen = chosen.clone();
        let wav = scratch.path().join(format!("{}.wav", script.language));
        runs.spawn(async move {
            let speech = voice
                .speak_as(&script.text(), script.language, chosen.as_deref(), &wav)
                .await;
            (script, speech)
        });
    }
    while let Some(joined) = runs.join_next().await {
        let (script, speech) = joined.map_err(|e| StageError::Tool(format!("voice task: {e}")))?;
        let speech = speech.map_err(|e| StageError::Tool(format!("voice: {e}")))?;
        let audio = tokio::fs::read(&speech.wav)
            .await
            .map_err(|e| StageError::Tool(format!("voice file: {e}")))?;
        app.ports
            .media
            .put_media(
                &artifacts::voice_audio(campaign.id, script.language),
                audio.into(),
                "audio/wav",
            )
            .await?;
        let track = VoiceTrack {
            duration_seconds: speech.duration_seconds,
            words: speech.words,
            sentences: script.sentences.clone(),
        };
        artifacts::put_json(
            app,
            &artifacts::voice_words(campaign.id, script.language),
            &track,
        )
        .await?;
    }
    Ok(())
}
