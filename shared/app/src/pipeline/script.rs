//! `scripting`: one script per language, from the page in that language when the site
//! has one (`hreflang`), else from the page itself (see `reelforge_core::script`).

use super::collect::CollectedPage;
use super::lease::{claim, release, Claim};
use super::{artifacts, Next, StageError};
use crate::context::Context;
use crate::lifecycle::{advance, fail};
use reelforge_core::model::Stage;
use reelforge_core::model::{Campaign, CampaignStatus, StageMessage};
use reelforge_core::script::{Script, ScriptRequest};
use uuid::Uuid;

enum Outcome {
    Written(Vec<Script>),
    /// The page can't give a usable script: the campaign fails with this message.
    Refused(String),
}

pub async fn run(app: &Context, campaign_id: Uuid) -> Result<Next, StageError> {
    let (campaign, _renewal) = match claim(app, campaign_id, Stage::Script, |_| {}).await? {
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
                    .send(&StageMessage::stage(Stage::Voiceover, campaign_id), 0)
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
        reelforge_core::script::ScriptSource::PageLanguage => "page_language",
        reelforge_core::script::ScriptSource::MachineTranslated => "machine_translated",
        reelforge_core::script::ScriptSource::LocalizedTemplate => "localized_template",
    }
}

async fn write_all(app: &Context, campaign: &Campaign) -> Result<Outcome, StageError> {
    let page: CollectedPage = artifacts::get_json(app, &artifacts::collected(campaign.id)).await?;
    let mut scripts = Vec::with_capacity(campaign.languages.len());
    for &language in &campaign.languages {
        let request = ScriptRequest {
            language,
            page: &page.facts,
            alternate: page.alternates.get(&language),
            title: &campaign.title,
        };
        match app.tools.writer.write(&request).await {
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
