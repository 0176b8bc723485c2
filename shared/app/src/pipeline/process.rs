//! `processing`: the page's screens, captured once per output shape the campaign needs
//! (portrait for the short-form platforms, landscape for `youtube`), several screens
//! down the page, for the page itself and for each `hreflang` page of a campaign
//! language (a Japanese video shows the Japanese page). They become the videos' scenes.

use super::collect::CollectedPage;
use super::lease::{claim, release, Claim};
use super::{artifacts, Next, StageError};
use crate::context::Context;
use crate::lifecycle::advance;
use reelforge_core::model::Stage;
use reelforge_core::model::{Campaign, CampaignStatus, Platform, StageMessage};
use reelforge_core::render::FrameSize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Screens as media keys in page order, by [`screens_key`].
pub type Screens = BTreeMap<String, Vec<String>>;

/// Captures (each `screens` Chromium processes) running at once: 4 x 3 = 12 browsers at
/// most, whatever the number of languages and shapes.
const CAPTURES_AT_ONCE: usize = 4;

/// The page variant for the main page.
pub const MAIN_PAGE: &str = "page";

/// `"{variant}/{width}x{height}"`.
pub fn screens_key(variant: &str, size: FrameSize) -> String {
    format!("{variant}/{}x{}", size.width, size.height)
}

/// The screens a video in `language` at `size` uses: its language's page when the site
/// has one, else the main page.
pub fn screens_for<'a>(screens: &'a Screens, language: &str, size: FrameSize) -> &'a [String] {
    screens
        .get(&screens_key(language, size))
        .or_else(|| screens.get(&screens_key(MAIN_PAGE, size)))
        .map_or(&[], Vec::as_slice)
}

pub fn frame_size(platform: Platform) -> FrameSize {
    platform.frame_size()
}

pub async fn run(app: &Context, campaign_id: Uuid) -> Result<Next, StageError> {
    let (campaign, _renewal) = match claim(app, campaign_id, Stage::Process, |_| {}).await? {
        Claim::Run(c, renewal) => (*c, renewal),
        Claim::Wait(secs) => return Ok(Next::RetryIn(secs)),
        Claim::Skip => return Ok(Next::Done),
    };
    match capture(app, &campaign).await {
        Ok(screens) => {
            artifacts::put_json(app, &artifacts::screens(campaign_id), &screens).await?;
            if advance(app, &campaign, CampaignStatus::Scripting, |c| {
                c.lease = None
            })
            .await?
            {
                app.ports
                    .queue
                    .send(&StageMessage::stage(Stage::Script, campaign_id), 0)
                    .await?;
            }
            Ok(Next::Done)
        }
        Err(e) => {
            release(app, &campaign).await;
            Err(e)
        }
    }
}

async fn capture(app: &Context, campaign: &Campaign) -> Result<Screens, StageError> {
    let scratch = artifacts::scratch(campaign.id, Stage::Process)?;
    let collected: CollectedPage =
        artifacts::get_json(app, &artifacts::collected(campaign.id)).await?;
    let mut variants = vec![(MAIN_PAGE.to_string(), artifacts::page_html(campaign.id))];
    for language in collected.alternates.keys() {
        variants.push((
            language.as_str().to_string(),
            artifacts::alternate_html(campaign.id, *language),
        ));
    }
    let mut sizes: Vec<FrameSize> = campaign.platforms.iter().map(|p| frame_size(*p)).collect();
    sizes.sort_by_key(|s| (s.width, s.height));
    sizes.dedup();
    // Several pages and shapes at once (Chromium spends most of its time starting up),
    // but a bounded number.
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CAPTURES_AT_ONCE));
    let mut runs = tokio::task::JoinSet::new();
    for (variant, html_key) in &variants {
        let html = scratch.path().join(format!("{variant}.html"));
        artifacts::fetch_to(app, html_key, &html).await?;
        for &size in &sizes {
            let out = scratch
                .path()
                .join(format!("{variant}-{}x{}", size.width, size.height));
            let capture = app.tools.capture.clone();
            let html = html.clone();
            let variant = variant.clone();
            let slots = slots.clone();
            runs.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let files = capture.capture(&html, size, &out).await;
                (variant, size, files)
            });
        }
    }
    let mut screens = Screens::new();
    while let Some(joined) = runs.join_next().await {
        let (variant, size, files) =
            joined.map_err(|e| StageError::Tool(format!("capture task: {e}")))?;
        let files = files.map_err(|e| StageError::Tool(format!("page capture: {e}")))?;
        let mut keys = Vec::with_capacity(files.len());
        for (i, file) in files.iter().enumerate() {
            let key = artifacts::screen(campaign.id, &variant, size, i + 1);
            let bytes = tokio::fs::read(file)
                .await
                .map_err(|e| StageError::Tool(format!("screen file: {e}")))?;
            app.ports
                .media
                .put_media(&key, bytes.into(), "image/png")
                .await?;
            keys.push(key);
        }
        screens.insert(screens_key(&variant, size), keys);
    }
    Ok(screens)
}
