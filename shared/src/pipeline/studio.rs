//! The production tools a pipeline runs with: the script writer, the voice engine, page
//! capture and render settings. Local defaults: the deterministic writer, espeak-ng,
//! Debian's Chromium and ffmpeg. The aws stage functions swap in Bedrock and Polly.

use crate::capture::CaptureOptions;
use crate::media::render::FfmpegSettings;
use crate::media::{EspeakVoice, VoiceEngine};
use crate::script::{LocalWriter, ScriptWriter};
use std::sync::Arc;

pub struct Studio {
    pub writer: Arc<dyn ScriptWriter>,
    /// Whether the writer is a language model (priced as AI planning, SPEC §9).
    pub writer_is_ai: bool,
    pub voice: Arc<dyn VoiceEngine>,
    /// Chromium and ffmpeg paths, screens per page, timeout; the size is set per output.
    pub capture: CaptureOptions,
    pub ffmpeg: FfmpegSettings,
    /// Videos of one campaign rendered at the same time.
    pub renders_at_once: usize,
    /// How long a stage's claim on a campaign lasts: longer than the stage takes, and
    /// no longer than the queue's visibility timeout, so a crashed worker's message,
    /// when it comes back, finds the claim expired.
    pub lease_ms: i64,
    /// Set on AWS: videos are rendered by MediaConvert jobs instead of local ffmpeg.
    pub mediaconvert: Option<MediaConvertSetup>,
}

/// What a MediaConvert job needs besides its plan.
#[derive(Clone)]
pub struct MediaConvertSetup {
    pub client: aws_sdk_mediaconvert::Client,
    /// The role jobs run as (`REELFORGE_MEDIACONVERT_ROLE_ARN`).
    pub role_arn: String,
    /// A queue other than the default (`REELFORGE_MEDIACONVERT_QUEUE_ARN`).
    pub queue_arn: Option<String>,
    /// The media bucket, where the plan's keys are.
    pub bucket: String,
}

/// The default claim: the local queue's visibility timeout.
pub const DEFAULT_LEASE_MS: i64 = crate::pipeline::worker::VISIBILITY_MS;

impl Studio {
    /// Local tools, with `REELFORGE_CHROMIUM` / `REELFORGE_FFMPEG` when set.
    pub fn local() -> Studio {
        let capture = CaptureOptions::from_env();
        let mut ffmpeg = FfmpegSettings::default();
        if let Some(path) = std::env::var_os("REELFORGE_FFMPEG").filter(|v| !v.is_empty()) {
            ffmpeg.ffmpeg = path.into();
        }
        if let Some(path) = std::env::var_os("REELFORGE_FFPROBE").filter(|v| !v.is_empty()) {
            ffmpeg.ffprobe = path.into();
        }
        Studio {
            writer: Arc::new(LocalWriter),
            writer_is_ai: false,
            voice: Arc::new(EspeakVoice),
            capture,
            ffmpeg,
            renders_at_once: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            lease_ms: DEFAULT_LEASE_MS,
            mediaconvert: None,
        }
    }

    /// The stage functions' tools: Bedrock writes (`REELFORGE_BEDROCK_MODEL_ID`), Polly
    /// speaks, MediaConvert renders into `media_bucket`; Chromium comes from
    /// `REELFORGE_CHROMIUM` (the layer's path). Claims last `lease_ms` (the function's
    /// timeout).
    pub fn aws(config: &aws_config::SdkConfig, media_bucket: &str, lease_ms: i64) -> Studio {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut studio = Studio::local();
        studio.writer = Arc::new(crate::script::BedrockWriter::new(
            aws_sdk_bedrockruntime::Client::new(config),
            env("REELFORGE_BEDROCK_MODEL_ID")
                .unwrap_or_else(|| "anthropic.claude-3-5-haiku-20241022-v1:0".into()),
        ));
        studio.writer_is_ai = true;
        studio.voice = Arc::new(crate::media::polly::PollyVoice::new(
            aws_sdk_polly::Client::new(config),
        ));
        studio.lease_ms = lease_ms;
        studio.mediaconvert = Some(MediaConvertSetup {
            client: aws_sdk_mediaconvert::Client::new(config),
            role_arn: env("REELFORGE_MEDIACONVERT_ROLE_ARN").unwrap_or_default(),
            queue_arn: env("REELFORGE_MEDIACONVERT_QUEUE_ARN"),
            bucket: media_bucket.to_string(),
        });
        studio
    }
}
