//! `voiceover`: each language's script spoken (audio plus word timings), all languages
//! at once.

use super::lease::{claim, release, Claim};
use super::script::STAGE_VOICEOVER;
use super::{advance, artifacts, Next, StageError};
use crate::api::App;
use crate::media::voice::WordTiming;
use crate::model::{Campaign, CampaignStatus, StageMessage};
use crate::script::Script;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const STAGE: &str = STAGE_VOICEOVER;
pub const STAGE_RENDER: &str = "render";

/// A language's spoken script without its audio (`artifacts::voice_words`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceTrack {
    pub duration_seconds: f64,
    pub words: Vec<WordTiming>,
    /// The script's sentences, for caption cues.
    pub sentences: Vec<String>,
}

pub async fn run(app: &App, campaign_id: Uuid) -> Result<Next, StageError> {
    let (campaign, _renewal) =
        match claim(app, campaign_id, CampaignStatus::Voiceover, STAGE, |_| {}).await? {
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
            .send(&StageMessage::stage(STAGE_RENDER, campaign_id), 0)
            .await?;
    }
    Ok(Next::Done)
}

async fn speak_all(app: &App, campaign: &Campaign) -> Result<(), StageError> {
    let scripts: Vec<Script> = artifacts::get_json(app, &artifacts::scripts(campaign.id)).await?;
    let scratch = artifacts::Scratch::new(campaign.id, STAGE)?;
    let chosen: Option<String> = campaign
        .style
        .as_ref()
        .and_then(|s| s.voice.as_ref())
        .and_then(|v| v.provider_voice_id.clone());
    let mut runs = tokio::task::JoinSet::new();
    for script in scripts {
        let voice = app.studio.voice.clone();
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
