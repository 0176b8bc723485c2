//! Media production: the voice engines (`voice` = espeak-ng locally, `polly` on AWS) behind
//! [`VoiceEngine`], and the renderers (`render` = ffmpeg locally, `mediaconvert` on AWS)
//! built from one `RenderPlan`.

pub mod mediaconvert;
pub mod polly;
pub mod render;
pub mod voice;

use crate::model::Language;
use crate::styles::ProviderId;
use async_trait::async_trait;
use std::path::Path;
use voice::{Speech, VoiceError};

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

/// The local engine: espeak-ng with estimated word timings (see `voice`).
pub struct EspeakVoice;

#[async_trait]
impl VoiceEngine for EspeakVoice {
    fn provider(&self) -> ProviderId {
        ProviderId::Espeak
    }

    async fn speak_as(
        &self,
        text: &str,
        language: Language,
        voice: Option<&str>,
        out_wav: &Path,
    ) -> Result<Speech, VoiceError> {
        voice::speak_espeak_as(text, language, voice, out_wav).await
    }
}
