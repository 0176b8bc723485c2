//! `scripting`: one script per language, from the page in that language when the site
//! has one (`hreflang`), else from the page itself (see `crate::script`).

use super::collect::CollectedPage;
use super::lease::{claim, release, Claim};
use super::process::STAGE_SCRIPT;
use super::{advance, artifacts, fail, Next, StageError};
use crate::api::App;
use crate::model::{Campaign, CampaignStatus, StageMessage};
use crate::script::{Script, ScriptRequest};
use uuid::Uuid;

pub const STAGE: &str = STAGE_SCRIPT;
pub const STAGE_VOICEOVER: &str = "voiceover";

enum Outcome {
    Written(Vec<Script>),
    /// The page can't give a usable script: the campaign fails with this message.
    Refused(String),
}

pub async fn run(app: &App, campaign_id: Uuid) -> Result<Next, StageError> {
    let (campaign, _renewal) =
        match claim(app, campaign_id, CampaignStatus::Scripting, STAGE, |_| {}).await? {
            Claim::Run(c, renewal) => (*c, renewal),
            Claim::Wait(secs) => return Ok(Next::RetryIn(secs)),
            Claim::Skip => return Ok(Next::Done),
        };
    match write_all(app, &campaign).await {
        Ok(Outcome::Written(scripts)) => {
            artifacts::put_json(app, &artifacts::scripts(campaign_id), &scripts).await?;
            if advance(app, &campaign, CampaignStatus::Voiceover, |c| {
                c.lease = None;
                for video in &mut c.videos {
                    video.script_source = scripts
                        .iter()
                        .find(|s| s.language == video.language)
                        .map(|s| source_name(s).to_string());
                }
            })
            .await?
            {
                app.ports
                    .queue
                    .send(&StageMessage::stage(STAGE_VOICEOVER, campaign_id), 0)
                    .await?;
            }
            Ok(Next::Done)
        }
        Ok(Outcome::Refused(message)) => {
            fail(app, campaign_id, CampaignStatus::Scripting, &message).await?;
            Ok(Next::Done)
        }
        Err(e) => {
            release(app, &campaign).await;
            Err(e)
        }
    }
}

fn source_name(script: &Script) -> &'static str {
    match script.source {
        crate::script::ScriptSource::PageLanguage => "page_language",
        crate::script::ScriptSource::MachineTranslated => "machine_translated",
        crate::script::ScriptSource::LocalizedTemplate => "localized_template",
    }
}

async fn write_all(app: &App, campaign: &Campaign) -> Result<Outcome, StageError> {
    let page: CollectedPage = artifacts::get_json(app, &artifacts::collected(campaign.id)).await?;
    let mut scripts = Vec::with_capacity(campaign.languages.len());
    for &language in &campaign.languages {
        let request = ScriptRequest {
            language,
            page: &page.facts,
            alternate: page.alternates.get(&language),
            title: &campaign.title,
        };
        match app.studio.writer.write(&request).await {
            Ok(script) => scripts.push(script),
            Err(e) if e.is_retryable() => {
                return Err(StageError::Tool(format!("script writer: {e}")))
            }
            Err(other) => {
                return Ok(Outcome::Refused(format!(
                    "The {language} script could not be written: {other}"
                )))
            }
        }
    }
    Ok(Outcome::Written(scripts))
}
