//! Media production: the voice engines (`voice` = espeak-ng locally, `polly` on AWS) behind
//! [`VoiceEngine`], and the renderers (`render` = ffmpeg locally, `mediaconvert` on AWS)
//! built from one `RenderPlan`.

pub mod mediaconvert;
pub mod polly;
pub mod render;
pub mod voice;

use crate::model::Language;
use async_trait::async_trait;
use std::path::Path;
use voice::{Speech, VoiceError};

/// Speaks a script: audio (a WAV file written to `out_wav`) plus word timings.
#[async_trait]
pub trait VoiceEngine: Send + Sync {
    async fn speak(
        &self,
        text: &str,
        language: Language,
        out_wav: &Path,
    ) -> Result<Speech, VoiceError>;
}

/// The local engine: espeak-ng with estimated word timings (see `voice`).
pub struct EspeakVoice;

#[async_trait]
impl VoiceEngine for EspeakVoice {
    async fn speak(
        &self,
        text: &str,
        language: Language,
        out_wav: &Path,
    ) -> Result<Speech, VoiceError> {
        voice::speak_espeak(text, language, out_wav).await
    }
}
