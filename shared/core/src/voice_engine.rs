//! The voice port: an engine that speaks a script (espeak-ng locally, Polly on AWS).

use crate::model::Language;
use crate::styles::ProviderId;
use crate::voice::{Speech, VoiceError};
use async_trait::async_trait;
use std::path::Path;

/// Speaks a script: audio (a WAV file written to `out_wav`) plus word timings.
#[async_trait]
pub trait VoiceEngine: Send + Sync {
    /// The provider this engine is (what a voice profile must name to choose it).
    fn provider(&self) -> ProviderId;

    /// Speaks with the engine's voice `voice` (its own voice id), or the language's
    /// default voice when `None`.
    async fn speak_as(
        &self,
        text: &str,
        language: Language,
        voice: Option<&str>,
        out_wav: &Path,
    ) -> Result<Speech, VoiceError>;

    /// Speaks with the language's default voice.
    async fn speak(
        &self,
        text: &str,
        language: Language,
        out_wav: &Path,
    ) -> Result<Speech, VoiceError> {
        self.speak_as(text, language, None, out_wav).await
    }
}
