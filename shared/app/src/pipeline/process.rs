//! `processing`: the campaign's page and each of its `hreflang` pages in a campaign
//! language, captured whole in one headless Chromium session at every output width the
//! campaign needs (portrait for the short-form platforms, landscape for `youtube`), with
//! the boxes of their parts (hero, headings, features, images, call to action). A video
//! in a language shows that language's page when the site has one.

use super::collect::CollectedPage;
use super::lease::{claim, release, Claim};
use super::{artifacts, Next, StageError};
use crate::context::Context;
use crate::lifecycle::advance;
use reelforge_core::layout::PageLayout;
use reelforge_core::model::Stage;
use reelforge_core::model::{Campaign, CampaignStatus, Platform, StageMessage};
use reelforge_core::ports::PageSource;
use reelforge_core::render::FrameSize;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// One captured page at one size: the image (a media key) and its layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Captured {
    pub image: String,
    pub layout: PageLayout,
}

/// Captures by [`captures_key`].
pub type Captures = BTreeMap<String, Captured>;

/// The page variant for the main page.
pub const MAIN_PAGE: &str = "page";

/// `"{variant}/{width}x{height}"`.
pub fn captures_key(variant: &str, size: FrameSize) -> String {
    format!("{variant}/{}x{}", size.width, size.height)
}

/// The capture a video in `language` at `size` shows: its language's page when the site
/// has one, else the main page; and whether it is in that language.
pub fn capture_for<'a>(
    captures: &'a Captures,
    language: &str,
    size: FrameSize,
) -> Option<(&'a Captured, bool)> {
    captures
        .get(&captures_key(language, size))
        .map(|c| (c, true))
        .or_else(|| {
            captures
                .get(&captures_key(MAIN_PAGE, size))
                .map(|c| (c, false))
        })
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
        Ok(captures) => {
            artifacts::put_json(app, &artifacts::captures(campaign_id), &captures).await?;
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

async fn capture(app: &Context, campaign: &Campaign) -> Result<Captures, StageError> {
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
    let mut pages = Vec::with_capacity(variants.len());
    for (variant, html_key) in &variants {
        let html = scratch.path().join(format!("{variant}.html"));
        artifacts::fetch_to(app, html_key, &html).await?;
        pages.push(PageSource {
            variant: variant.clone(),
            html,
        });
    }
    let mut sizes: Vec<FrameSize> = campaign.platforms.iter().map(|p| frame_size(*p)).collect();
    sizes.sort_by_key(|s| (s.width, s.height));
    sizes.dedup();
    // One browser for every page and size: Chromium spends most of its time starting up.
    let shots = app
        .tools
        .capture
        .capture(&pages, &sizes, &scratch.path().join("captures"))
        .await?;
    let mut captures = Captures::new();
    for shot in shots {
        let key = artifacts::page_capture(campaign.id, &shot.variant, shot.size);
        let bytes = tokio::fs::read(&shot.image)
            .await
            .map_err(|e| StageError::Tool(format!("capture file: {e}")))?;
        app.ports
            .media
            .put_media(&key, bytes.into(), "image/png")
            .await?;
        captures.insert(
            captures_key(&shot.variant, shot.size),
            Captured {
                image: key,
                layout: shot.layout,
            },
        );
    }
    Ok(captures)
}
