//! Where each stage leaves its work for the next: deterministic media keys under
//! `work/{campaign_id}/`, so a retried stage rewrites the same files instead of adding
//! new ones, and typed JSON helpers over the media store.

use super::StageError;
use crate::context::Context;
use reelforge_core::model::Language;
use reelforge_core::model::Stage;
use reelforge_core::render::FrameSize;
pub use reelforge_core::scratch::Scratch;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use uuid::Uuid;

pub fn page_html(campaign: Uuid) -> String {
    format!("work/{campaign}/page.html")
}

/// The page's `hreflang` version in `language`.
pub fn alternate_html(campaign: Uuid, language: Language) -> String {
    format!("work/{campaign}/page-{language}.html")
}

pub fn collected(campaign: Uuid) -> String {
    format!("work/{campaign}/page.json")
}

/// Screen `n` of a page `variant` (`page`, or a language with its own page) at `size`.
/// A page captured whole at one size (`variant` is `page` or a language code).
pub fn page_capture(campaign: Uuid, variant: &str, size: FrameSize) -> String {
    format!(
        "work/{campaign}/pages/{variant}/{}x{}.png",
        size.width, size.height
    )
}

/// What each scene of a video shows (the storyboard, for people: the demo prints it).
pub fn storyboard(campaign: Uuid, video: Uuid) -> String {
    format!("work/{campaign}/storyboards/{video}.json")
}

/// The captures and their layouts ([`super::process::Captures`]).
pub fn captures(campaign: Uuid) -> String {
    format!("work/{campaign}/captures.json")
}

pub fn scripts(campaign: Uuid) -> String {
    format!("work/{campaign}/scripts.json")
}

pub fn voice_audio(campaign: Uuid, language: Language) -> String {
    format!("work/{campaign}/voice/{language}.wav")
}

pub fn voice_words(campaign: Uuid, language: Language) -> String {
    format!("work/{campaign}/voice/{language}.json")
}

pub async fn put_json<T: Serialize>(app: &Context, key: &str, value: &T) -> Result<(), StageError> {
    let body = serde_json::to_vec(value).map_err(|e| StageError::Artifact(e.to_string()))?;
    app.ports
        .media
        .put_media(key, body.into(), "application/json")
        .await?;
    Ok(())
}

/// A stage's input, which an earlier stage wrote: missing is an error (retried, then
/// dead-lettered), never a silent default.
pub async fn get_json<T: DeserializeOwned>(app: &Context, key: &str) -> Result<T, StageError> {
    let bytes = get(app, key).await?;
    serde_json::from_slice(&bytes).map_err(|e| StageError::Artifact(format!("{key}: {e}")))
}

pub async fn get(app: &Context, key: &str) -> Result<bytes::Bytes, StageError> {
    app.ports
        .media
        .get_media(key)
        .await?
        .ok_or_else(|| StageError::Artifact(format!("{key} is missing")))
}

/// Copies a stored file into the stage's scratch directory.
pub async fn fetch_to(app: &Context, key: &str, path: &Path) -> Result<(), StageError> {
    let bytes = get(app, key).await?;
    tokio::fs::write(path, &bytes)
        .await
        .map_err(|e| StageError::Artifact(format!("scratch file: {e}")))
}

/// A scratch directory for one stage run (`reelforge_core::scratch`).
pub fn scratch(campaign: Uuid, stage: Stage) -> Result<Scratch, StageError> {
    Scratch::new(campaign, stage)
        .map_err(|e| StageError::Artifact(format!("scratch directory: {e}")))
}
