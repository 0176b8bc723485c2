//! The AWS renderer: a video's parts rendered by ffmpeg in Lambda, in parallel, then
//! stitched, loudness-normalised and encoded by MediaConvert (docs/video.md, "On AWS").
//!
//! MediaConvert cannot move a camera over a page or draw a card, so the frames are drawn
//! by the same ffmpeg graphs as locally (`reelforge_studio::video::render_part`), one
//! part per `render-clip` run, fanned out over SQS — the way Remotion Lambda spreads one
//! video over many functions:
//!
//! 1. **Start** (the render stage, [`FanOutRenderer::start`]): the job is stored at
//!    `<dir>/job.json` ([`job_dir`]: `work/<campaign>/render/<16 hex of the output stem's
//!    SHA-256>`), and one [`PartMessage`] per part (`RenderPlan::parts`: a clip per scene,
//!    the end clip, the soundtrack) goes to the parts queue. The video records the render
//!    as `fanout:<dir>` ([`FANOUT`]).
//! 2. **Parts** (`render-clip`, one message each): a part not yet at
//!    `<dir>/parts/<name>` is rendered and stored there; one already there is not
//!    rendered again (a duplicated message costs a HEAD).
//! 3. **Join and stitch** (whichever part run finds every part stored): the clips are
//!    joined by stream copy with the soundtrack muxed in (`<dir>/joined.mp4`), and the
//!    MediaConvert job of [`stitch_settings`] is created with a request token derived
//!    from the output ([`stitch_token`]), so two runs that both find the set complete
//!    create one job. Its id is stored at `<dir>/stitch.json`.
//! 4. **End**: the job's EventBridge event carries `render_job = fanout:<dir>` in its
//!    user metadata, which `mediaconvert_events` reads as the job's id, so the video's
//!    recorded render decides as before. The render message's periodic look
//!    ([`FanOutRenderer::job_state`]) asks MediaConvert once `stitch.json` exists, and
//!    before that sends again the message of every part that is missing (a lost or
//!    dead-lettered clip is rendered again), or the soundtrack's when all are there but
//!    the stitch is not (its run skips the render and joins).
//!
//! The render stage's deadline (`Tools::render_deadline_ms`) bounds the whole: a render
//! that never completes fails its campaign with a refund.

use crate::mediaconvert::{check_bucket, check_key, s3_url, service_error};
use aws_sdk_mediaconvert::types::{
    AacCodecProfile, AacCodingMode, AacRateControlMode, AacSettings, AacSpecification, AudioCodec,
    AudioCodecSettings, AudioDefaultSelection, AudioDescription, AudioNormalizationAlgorithm,
    AudioNormalizationAlgorithmControl, AudioNormalizationLoudnessLogging,
    AudioNormalizationPeakCalculation, AudioNormalizationSettings, AudioSelector,
    ContainerSettings, ContainerType, FileGroupSettings, FrameCaptureSettings, H264CodecLevel,
    H264CodecProfile, H264FramerateControl, H264GopSizeUnits, H264QvbrSettings,
    H264RateControlMode, H264SceneChangeDetect, H264Settings, Input, InputTimecodeSource,
    JobSettings, Mp4MoovPlacement, Mp4Settings, Output, OutputGroup, OutputGroupSettings,
    OutputGroupType, ScalingBehavior, TimecodeConfig, TimecodeSource, VideoCodec,
    VideoCodecSettings, VideoDescription,
};
use reelforge_core::ports::{
    JobStateChange, MediaStore, RenderJob, RenderStarted, ToolError, VideoRenderer,
};
use reelforge_core::render::{FrameSize, RenderError};
use reelforge_core::render_parts::Part;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The render's campaign, when `dir` is a render directory (`work/<uuid>/render/<16 hex>`):
/// a message names only files under its own render.
pub fn render_dir_campaign(dir: &str) -> Option<uuid::Uuid> {
    let rest = dir.strip_prefix("work/")?;
    let (campaign, name) = rest.split_once("/render/")?;
    let ok = name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| campaign.parse().ok()).flatten()
}

/// How a fan-out render is recorded on its video: `fanout:<dir>`.
pub const FANOUT: &str = "fanout:";
pub use crate::mediaconvert_events::RENDER_JOB_METADATA;
pub use reelforge_core::ports::THUMBNAIL_METADATA;
/// Thumbnail width, as the local renderer's.
pub const THUMBNAIL_WIDTH: u32 = 360;
/// The loudness the stitch job normalises to (ITU-R BS.1770-3, LKFS), and its true-peak
/// ceiling (dBTP): what the short-form platforms play at.
pub const TARGET_LKFS: f64 = -14.0;
pub const TRUE_PEAK_DBTP: f64 = -1.0;

/// One part of one fan-out render: what a `render-clip` run does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartMessage {
    /// The render's directory ([`job_dir`]).
    pub job: String,
    #[serde(flatten)]
    pub part: Part,
}

/// The directory of `job`'s render: under its campaign's work files, named by the
/// output stem (a script edit renders to a stem of its own, so to a directory of its own).
pub fn job_dir(job: &RenderJob) -> Result<String, RenderError> {
    let campaign = job
        .metadata
        .get("campaign_id")
        .and_then(|id| id.parse::<uuid::Uuid>().ok())
        .ok_or_else(|| RenderError::InvalidPlan("the render job names no campaign".into()))?;
    let digest = Sha256::digest(job.output_stem.as_bytes());
    Ok(format!(
        "work/{campaign}/render/{}",
        hex::encode(&digest[..8])
    ))
}

/// Where a render's files are.
pub fn job_key(dir: &str) -> String {
    format!("{dir}/job.json")
}
pub fn part_key(dir: &str, part: Part) -> String {
    format!("{dir}/parts/{}", part.file_name())
}
pub fn joined_key(dir: &str) -> String {
    format!("{dir}/joined.mp4")
}
pub fn stitch_key(dir: &str) -> String {
    format!("{dir}/stitch.json")
}

/// The thumbnail a stitch job captures for `output_stem`: its frame capture writes one
/// JPEG a second, numbered from 0; the one at 1 s shows the opening card fully drawn
/// (the local renderer takes 1.2 s).
pub fn thumbnail_key(output_stem: &str) -> String {
    format!("{output_stem}.0000001.jpg")
}

/// What `stitch.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stitched {
    pub job_id: String,
}

/// Creates the stitch jobs: MediaConvert with the deployment's role and queue, reading
/// and writing the media bucket.
#[derive(Clone)]
pub struct Stitcher {
    pub client: aws_sdk_mediaconvert::Client,
    /// The role jobs run as (`REELFORGE_MEDIACONVERT_ROLE_ARN`).
    pub role_arn: String,
    /// A queue other than the default (`REELFORGE_MEDIACONVERT_QUEUE_ARN`).
    pub queue_arn: Option<String>,
    /// The media bucket (`REELFORGE_MEDIA_BUCKET`).
    pub bucket: String,
    /// The deployment stage (`REELFORGE_STAGE`): each stage's EventBridge rule matches
    /// its own jobs only.
    pub deployment_stage: String,
}

/// The CreateJob idempotency token of the stitch of `dir`: the same render always gets
/// the same token, so two part runs that both find the set complete create one job.
pub fn stitch_token(bucket: &str, dir: &str) -> String {
    let digest = Sha256::digest(s3_url(bucket, &joined_key(dir)).as_bytes());
    format!("reelforge-{}", hex::encode(&digest[..16]))
}

/// The stitch job of the joined file `joined` (a key): one input, normalised to
/// [`TARGET_LKFS`] with a true-peak limit of [`TRUE_PEAK_DBTP`]; two outputs: the MP4 at
/// `s3://<bucket>/<output_stem>.mp4` (H.264 High, QVBR 7 capped at 5 Mb/s, the source's
/// frame rate, 2-second GOPs, `moov` first; AAC-LC 128 kb/s 48 kHz stereo) and frame
/// captures at `s3://<bucket>/<output_stem>.NNNNNNN.jpg`, [`THUMBNAIL_WIDTH`] wide, one a
/// second, two of them ([`thumbnail_key`] is the second).
pub fn stitch_settings(
    bucket: &str,
    joined: &str,
    output_stem: &str,
    size: FrameSize,
) -> Result<JobSettings, RenderError> {
    check_bucket(bucket)?;
    check_key(joined, "joined file")?;
    check_key(output_stem, "output key")?;
    let input = Input::builder()
        .file_input(s3_url(bucket, joined))
        .timecode_source(InputTimecodeSource::Zerobased)
        .audio_selectors(
            crate::mediaconvert::AUDIO_SELECTOR,
            AudioSelector::builder()
                .default_selection(AudioDefaultSelection::Default)
                .build(),
        )
        .build();
    let video = VideoDescription::builder()
        .width(size.width as i32)
        .height(size.height as i32)
        .scaling_behavior(ScalingBehavior::Default)
        .codec_settings(
            VideoCodecSettings::builder()
                .codec(VideoCodec::H264)
                .h264_settings(
                    H264Settings::builder()
                        .rate_control_mode(H264RateControlMode::Qvbr)
                        .qvbr_settings(H264QvbrSettings::builder().qvbr_quality_level(7).build())
                        .max_bitrate(5_000_000)
                        .codec_profile(H264CodecProfile::High)
                        .codec_level(H264CodecLevel::Auto)
                        .framerate_control(H264FramerateControl::InitializeFromSource)
                        .gop_size(2.0)
                        .gop_size_units(H264GopSizeUnits::Seconds)
                        .scene_change_detect(H264SceneChangeDetect::TransitionDetection)
                        .build(),
                )
                .build(),
        )
        .build();
    let audio = AudioDescription::builder()
        .audio_source_name(crate::mediaconvert::AUDIO_SELECTOR)
        .audio_normalization_settings(
            AudioNormalizationSettings::builder()
                .algorithm(AudioNormalizationAlgorithm::ItuBs17703)
                .algorithm_control(AudioNormalizationAlgorithmControl::CorrectAudio)
                .target_lkfs(TARGET_LKFS)
                .peak_calculation(AudioNormalizationPeakCalculation::TruePeak)
                .true_peak_limiter_threshold(TRUE_PEAK_DBTP)
                .loudness_logging(AudioNormalizationLoudnessLogging::DontLog)
                .build(),
        )
        .codec_settings(
            AudioCodecSettings::builder()
                .codec(AudioCodec::Aac)
                .aac_settings(
                    AacSettings::builder()
                        .codec_profile(AacCodecProfile::Lc)
                        .coding_mode(AacCodingMode::CodingMode20)
                        .rate_control_mode(AacRateControlMode::Cbr)
                        .bitrate(128_000)
                        .sample_rate(48_000)
                        .specification(AacSpecification::Mpeg4)
                        .build(),
                )
                .build(),
        )
        .build();
    let mp4 = Output::builder()
        .extension("mp4")
        .container_settings(
            ContainerSettings::builder()
                .container(ContainerType::Mp4)
                .mp4_settings(
                    Mp4Settings::builder()
                        .moov_placement(Mp4MoovPlacement::ProgressiveDownload)
                        .build(),
                )
                .build(),
        )
        .video_description(video)
        .audio_descriptions(audio)
        .build();
    let thumb_height = ((u64::from(THUMBNAIL_WIDTH) * u64::from(size.height)
        / u64::from(size.width.max(1)))
        & !1) as i32;
    let frames = Output::builder()
        .extension("jpg")
        .container_settings(
            ContainerSettings::builder()
                .container(ContainerType::Raw)
                .build(),
        )
        .video_description(
            VideoDescription::builder()
                .width(THUMBNAIL_WIDTH as i32)
                .height(thumb_height)
                .codec_settings(
                    VideoCodecSettings::builder()
                        .codec(VideoCodec::FrameCapture)
                        .frame_capture_settings(
                            FrameCaptureSettings::builder()
                                .framerate_numerator(1)
                                .framerate_denominator(1)
                                .max_captures(2)
                                .quality(80)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .build();
    let group = |name: &str, output: Output| {
        OutputGroup::builder()
            .name(name)
            .output_group_settings(
                OutputGroupSettings::builder()
                    .r#type(OutputGroupType::FileGroupSettings)
                    .file_group_settings(
                        FileGroupSettings::builder()
                            .destination(s3_url(bucket, output_stem))
                            .build(),
                    )
                    .build(),
            )
            .outputs(output)
            .build()
    };
    Ok(JobSettings::builder()
        .timecode_config(
            TimecodeConfig::builder()
                .source(TimecodeSource::Zerobased)
                .build(),
        )
        .inputs(input)
        .output_groups(group("File Group", mp4))
        .output_groups(group("Thumbnails", frames))
        .build())
}

impl Stitcher {
    /// Creates the stitch job of the render in `dir` (its joined file stored) and returns
    /// its id. The job's user metadata is the render's, plus the deployment stage, the
    /// render ([`RENDER_JOB_METADATA`]) and the thumbnail ([`THUMBNAIL_METADATA`]).
    pub async fn submit(&self, dir: &str, job: &RenderJob) -> Result<String, RenderError> {
        if !self.role_arn.starts_with("arn:") {
            return Err(RenderError::InvalidPlan(
                "the MediaConvert role must be an IAM role ARN".into(),
            ));
        }
        let settings = stitch_settings(
            &self.bucket,
            &joined_key(dir),
            &job.output_stem,
            job.plan.size,
        )?;
        let mut metadata = job.metadata.clone();
        metadata.insert("reelforge_stage".into(), self.deployment_stage.clone());
        metadata.insert(RENDER_JOB_METADATA.into(), format!("{FANOUT}{dir}"));
        metadata.insert(THUMBNAIL_METADATA.into(), thumbnail_key(&job.output_stem));
        let response = self
            .client
            .create_job()
            .role(&self.role_arn)
            .set_queue(self.queue_arn.clone())
            .settings(settings)
            .set_user_metadata(Some(metadata.into_iter().collect()))
            .client_request_token(stitch_token(&self.bucket, dir))
            .send()
            .await
            .map_err(service_error)?;
        response
            .job
            .and_then(|job| job.id)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| RenderError::ToolFailed {
                program: "MediaConvert CreateJob".into(),
                status: "no job id".into(),
                stderr: "the response named no job".into(),
            })
    }
}

/// Sends part messages to the parts queue.
#[cfg(feature = "sqs")]
#[derive(Clone)]
pub struct PartQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

#[cfg(feature = "sqs")]
impl PartQueue {
    /// The queue at `url`, through a client for `config`.
    pub fn from_config(config: &aws_config::SdkConfig, url: String) -> PartQueue {
        PartQueue {
            client: aws_sdk_sqs::Client::new(config),
            url,
        }
    }

    /// Sends `messages`, ten to a batch; any entry SQS refuses fails the call.
    pub async fn send(&self, messages: &[PartMessage]) -> Result<(), ToolError> {
        for chunk in messages.chunks(10) {
            let mut batch = self.client.send_message_batch().queue_url(&self.url);
            for (i, m) in chunk.iter().enumerate() {
                let body = serde_json::to_string(m)
                    .map_err(|e| ToolError(format!("part message: {e}")))?;
                batch = batch.entries(
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| ToolError(format!("part message: {e}")))?,
                );
            }
            let out = batch
                .send()
                .await
                .map_err(|e| ToolError(format!("SQS SendMessageBatch: {}", sqs_code(&e))))?;
            if !out.failed().is_empty() {
                return Err(ToolError(format!(
                    "SQS refused {} part message(s)",
                    out.failed().len()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(feature = "sqs")]
fn sqs_code<E, R>(e: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    match e {
        aws_sdk_sqs::error::SdkError::ServiceError(se) => {
            se.err().code().unwrap_or("service error").to_string()
        }
        _ => "unreachable".into(),
    }
}

/// The AWS [`VideoRenderer`] (module docs): parts over SQS, stitched by MediaConvert.
#[cfg(feature = "sqs")]
pub struct FanOutRenderer {
    pub media: Arc<dyn MediaStore>,
    pub parts: PartQueue,
    pub stitcher: Stitcher,
}

#[cfg(feature = "sqs")]
fn media_error(what: &str) -> impl FnOnce(reelforge_core::ports::StoreError) -> ToolError + '_ {
    move |e| ToolError(format!("{what}: {e}"))
}

#[cfg(feature = "sqs")]
impl FanOutRenderer {
    async fn stored_job(&self, dir: &str) -> Result<RenderJob, ToolError> {
        let bytes = self
            .media
            .get_media(&job_key(dir))
            .await
            .map_err(media_error("render job"))?
            .ok_or_else(|| ToolError(format!("no render job at {dir}")))?;
        serde_json::from_slice(&bytes).map_err(|e| ToolError(format!("render job: {e}")))
    }
}

#[cfg(feature = "sqs")]
#[async_trait::async_trait]
impl VideoRenderer for FanOutRenderer {
    async fn start(&self, job: &RenderJob) -> Result<RenderStarted, ToolError> {
        job.plan
            .validate()
            .map_err(|e| ToolError(format!("render plan: {e}")))?;
        let dir = job_dir(job).map_err(|e| ToolError(e.to_string()))?;
        let body = serde_json::to_vec(job).map_err(|e| ToolError(format!("render job: {e}")))?;
        self.media
            .put_media(&job_key(&dir), body.into(), "application/json")
            .await
            .map_err(media_error("render job"))?;
        let messages: Vec<PartMessage> = job
            .plan
            .parts()
            .into_iter()
            .map(|part| PartMessage {
                job: dir.clone(),
                part,
            })
            .collect();
        self.parts.send(&messages).await?;
        Ok(RenderStarted::Submitted {
            job_id: format!("{FANOUT}{dir}"),
        })
    }

    /// Removes the stored job: a part message still queued for it finds no job and does
    /// nothing (`render-clip` acknowledges it). A part already rendering finishes; a
    /// stitch it might still submit ends in an event that decides nothing.
    async fn cancel(&self, job_id: &str) -> Result<(), ToolError> {
        let Some(dir) = job_id.strip_prefix(FANOUT) else {
            return Ok(());
        };
        if render_dir_campaign(dir).is_none() {
            return Err(ToolError(format!("not a render directory: {dir:?}")));
        }
        self.media
            .delete_media(&job_key(dir))
            .await
            .map_err(media_error("render job"))
    }

    async fn job_state(&self, job_id: &str) -> Result<Option<JobStateChange>, ToolError> {
        let Some(dir) = job_id.strip_prefix(FANOUT) else {
            return crate::mediaconvert::job_state(&self.stitcher.client, job_id).await;
        };
        if let Some(bytes) = self
            .media
            .get_media(&stitch_key(dir))
            .await
            .map_err(media_error("stitch record"))?
        {
            let stitched: Stitched = serde_json::from_slice(&bytes)
                .map_err(|e| ToolError(format!("stitch record: {e}")))?;
            let change =
                crate::mediaconvert::job_state(&self.stitcher.client, &stitched.job_id).await?;
            return Ok(change.map(|mut c| {
                c.job_id = job_id.to_string();
                c
            }));
        }
        // Not stitched yet: send again what is missing.
        let job = self.stored_job(dir).await?;
        let mut again = Vec::new();
        for part in job.plan.parts() {
            if !self
                .media
                .media_exists(&part_key(dir, part))
                .await
                .map_err(media_error("render part"))?
            {
                again.push(PartMessage {
                    job: dir.to_string(),
                    part,
                });
            }
        }
        if again.is_empty() {
            // Every part is there and nothing stitched them: the soundtrack's run joins.
            again.push(PartMessage {
                job: dir.to_string(),
                part: Part::Sound,
            });
        }
        tracing::warn!(render = %job_id, parts = again.len(), "render parts sent again");
        self.parts.send(&again).await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_directories_are_work_uuid_render_16_hex() {
        let c = uuid::Uuid::new_v4();
        assert_eq!(
            render_dir_campaign(&format!("work/{c}/render/0123456789abcdef")),
            Some(c)
        );
        for bad in [
            format!("work/{c}/render/0123456789abcde"),
            format!("work/{c}/render/0123456789abcdeg"),
            format!("work/{c}/render/../../x/0123456789ab"),
            format!("videos/{c}/render/0123456789abcdef"),
            "work/not-a-uuid/render/0123456789abcdef".to_string(),
            format!("work/{c}/screens/0123456789abcdef"),
        ] {
            assert_eq!(render_dir_campaign(&bad), None, "{bad}");
        }
    }

    #[test]
    fn part_messages_are_flat_json() {
        let m = PartMessage {
            job: "work/x/render/ab".into(),
            part: Part::Scene(4),
        };
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"job": "work/x/render/ab", "part": "scene", "index": 4})
        );
        let back: PartMessage = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
        let sound: PartMessage =
            serde_json::from_str(r#"{"job":"work/x/render/ab","part":"sound"}"#).unwrap();
        assert_eq!(sound.part, Part::Sound);
    }

    #[test]
    fn stitch_tokens_are_stable_per_render_and_differ_between_renders() {
        let a = stitch_token("media", "work/c/render/aa");
        assert_eq!(a, stitch_token("media", "work/c/render/aa"));
        assert_ne!(a, stitch_token("media", "work/c/render/bb"));
        assert!(a.len() <= 64, "MediaConvert tokens are short");
    }
}
