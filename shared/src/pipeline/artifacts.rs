//! Where each stage leaves its work for the next: deterministic media keys under
//! `work/{campaign_id}/`, so a retried stage rewrites the same files instead of adding
//! new ones, and typed JSON helpers over the media store.

use super::StageError;
use crate::api::App;
use crate::media::render::FrameSize;
use crate::model::Language;
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
pub fn screen(campaign: Uuid, variant: &str, size: FrameSize, n: usize) -> String {
    format!(
        "work/{campaign}/screens/{variant}/{}x{}/screen-{n}.png",
        size.width, size.height
    )
}

pub fn screens(campaign: Uuid) -> String {
    format!("work/{campaign}/screens.json")
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

pub async fn put_json<T: Serialize>(app: &App, key: &str, value: &T) -> Result<(), StageError> {
    let body = serde_json::to_vec(value).map_err(|e| StageError::Artifact(e.to_string()))?;
    app.ports
        .media
        .put_media(key, body.into(), "application/json")
        .await?;
    Ok(())
}

/// A stage's input, which an earlier stage wrote: missing is an error (retried, then
/// dead-lettered), never a silent default.
pub async fn get_json<T: DeserializeOwned>(app: &App, key: &str) -> Result<T, StageError> {
    let bytes = get(app, key).await?;
    serde_json::from_slice(&bytes).map_err(|e| StageError::Artifact(format!("{key}: {e}")))
}

pub async fn get(app: &App, key: &str) -> Result<bytes::Bytes, StageError> {
    app.ports
        .media
        .get_media(key)
        .await?
        .ok_or_else(|| StageError::Artifact(format!("{key} is missing")))
}

/// Copies a stored file into the stage's scratch directory.
pub async fn fetch_to(app: &App, key: &str, path: &Path) -> Result<(), StageError> {
    let bytes = get(app, key).await?;
    tokio::fs::write(path, &bytes)
        .await
        .map_err(|e| StageError::Artifact(format!("scratch file: {e}")))
}

/// A scratch directory for one stage run, removed when dropped.
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn new(campaign: Uuid, stage: &str) -> Result<Scratch, StageError> {
        let dir = std::env::temp_dir().join(format!(
            "reelforge-{stage}-{campaign}-{}",
            ulid::Ulid::generate()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| StageError::Artifact(format!("scratch directory: {e}")))?;
        Ok(Scratch(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
