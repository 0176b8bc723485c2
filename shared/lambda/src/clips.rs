//! The `render-clip` function (the `clips` feature): one part of a fan-out render per
//! message (`reelforge_aws::fanout`, docs/video.md "On AWS"). It reads and writes the
//! media bucket and creates MediaConvert jobs; it keeps no records and sends no messages.

use crate::{env, Error};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use reelforge_aws::fanout::{
    job_key, joined_key, part_key, render_dir_campaign, stitch_key, PartMessage, Stitched, Stitcher,
};
use reelforge_core::model::Stage;
use reelforge_core::ports::{MediaStore, RenderJob};
use reelforge_core::render_parts::Part;
use reelforge_core::scratch::Scratch;
use reelforge_studio::video::{join, render_part};
use reelforge_studio::FfmpegSettings;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a part run works with.
pub struct Parts {
    pub media: Arc<dyn MediaStore>,
    pub stitcher: Stitcher,
    pub settings: FfmpegSettings,
}

/// What one part message did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartOutcome {
    /// The part was rendered and stored (not already there).
    pub rendered: bool,
    /// This run found every part stored and created (or found) the stitch job.
    pub stitched: Option<String>,
}

fn store_error(what: &'static str) -> impl FnOnce(reelforge_core::ports::StoreError) -> Error {
    move |e| format!("{what}: {e}").into()
}

/// Copies the stored file `key` to `path`.
async fn fetch(media: &dyn MediaStore, key: &str, path: &Path) -> Result<(), Error> {
    let bytes = media
        .get_media(key)
        .await
        .map_err(store_error("reading a render input"))?
        .ok_or_else(|| format!("{key} is missing"))?;
    tokio::fs::write(path, &bytes).await?;
    Ok(())
}

fn content_type(part: Part) -> &'static str {
    match part {
        Part::Sound => "audio/mp4",
        _ => "video/mp4",
    }
}

/// Handles one part message: renders the part unless it is stored already, then, when
/// every part of the render is stored and no stitch job is recorded, joins them and
/// creates the stitch job. Safe to run twice and concurrently: parts are written whole
/// under fixed keys, and the stitch job's request token is the render's.
pub async fn handle_part(parts: &Parts, message: &PartMessage) -> Result<PartOutcome, Error> {
    let dir = message.job.as_str();
    let Some(campaign) = render_dir_campaign(dir) else {
        return Err(format!("not a render directory: {dir:?}").into());
    };
    let media = parts.media.as_ref();
    let Some(bytes) = media
        .get_media(&job_key(dir))
        .await
        .map_err(store_error("reading the render job"))?
    else {
        // The job is written before its messages are sent, so a missing job was given
        // up (its render deadline passed): nothing to do, and nothing to retry.
        tracing::info!(render = %dir, part = ?message.part, "render given up; part skipped");
        return Ok(PartOutcome::default());
    };
    let job: RenderJob = serde_json::from_slice(&bytes)?;
    if !job.plan.has_part(message.part) {
        return Err(format!("the render has no part {:?}", message.part).into());
    }
    let scratch = Scratch::new(campaign, Stage::Render)?;
    let mut outcome = PartOutcome::default();
    let key = part_key(dir, message.part);
    if !media
        .media_exists(&key)
        .await
        .map_err(store_error("looking for the part"))?
    {
        let work = scratch.path().join("part");
        tokio::fs::create_dir_all(&work).await?;
        let mut plan = job.plan.clone();
        let mut local: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
        for (k, input) in job.plan.part_inputs(message.part).into_iter().enumerate() {
            let ext = input.extension().and_then(|e| e.to_str()).unwrap_or("bin");
            let path = work.join(format!("input-{k}.{ext}"));
            fetch(media, &input.to_string_lossy(), &path).await?;
            local.insert(input.to_path_buf(), path);
        }
        plan.map_inputs(|p| local.get(p).cloned());
        let out = work.join(message.part.file_name());
        render_part(&plan, message.part, &work, &parts.settings, &out).await?;
        let body = tokio::fs::read(&out).await?;
        media
            .put_media(&key, body.into(), content_type(message.part))
            .await
            .map_err(store_error("storing the part"))?;
        outcome.rendered = true;
    }
    outcome.stitched = stitch_when_complete(parts, dir, &job, scratch.path()).await?;
    Ok(outcome)
}

/// Joins and stitches the render in `dir` when every part is stored; `None` while some
/// part is missing. A stitch already recorded is returned as it is.
async fn stitch_when_complete(
    parts: &Parts,
    dir: &str,
    job: &RenderJob,
    scratch: &Path,
) -> Result<Option<String>, Error> {
    let media = parts.media.as_ref();
    if let Some(bytes) = media
        .get_media(&stitch_key(dir))
        .await
        .map_err(store_error("reading the stitch record"))?
    {
        let stitched: Stitched = serde_json::from_slice(&bytes)?;
        return Ok(Some(stitched.job_id));
    }
    for part in job.plan.parts() {
        if !media
            .media_exists(&part_key(dir, part))
            .await
            .map_err(store_error("looking for a part"))?
        {
            return Ok(None);
        }
    }
    let work = scratch.join("join");
    tokio::fs::create_dir_all(&work).await?;
    let mut files = BTreeMap::new();
    for part in job.plan.parts() {
        let path = work.join(part.file_name());
        fetch(media, &part_key(dir, part), &path).await?;
        files.insert(part, path);
    }
    let joined = work.join("joined.mp4");
    join(&job.plan, &files, &work, &parts.settings, &joined).await?;
    media
        .put_media(
            &joined_key(dir),
            tokio::fs::read(&joined).await?.into(),
            "video/mp4",
        )
        .await
        .map_err(store_error("storing the joined video"))?;
    let job_id = parts.stitcher.submit(dir, job).await?;
    let record = serde_json::to_vec(&Stitched {
        job_id: job_id.clone(),
    })?;
    media
        .put_media(&stitch_key(dir), record.into(), "application/json")
        .await
        .map_err(store_error("storing the stitch record"))?;
    tracing::info!(render = %dir, %job_id, "render stitched");
    Ok(Some(job_id))
}

/// One SQS batch of part messages. A message that failed is reported (SQS shows it again,
/// and after the queue's `maxReceiveCount` moves it to the dead-letter queue; the render
/// message's periodic look sends a missing part again).
pub async fn handle_part_batch(parts: &Parts, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let message: Option<PartMessage> = record
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok());
        let Some(message) = message else {
            tracing::error!(message_id = %id, "unreadable part message");
            response.add_failure(id);
            continue;
        };
        if let Err(e) = handle_part(parts, &message).await {
            tracing::error!(render = %message.job, part = ?message.part, error = %e, "render part failed");
            response.add_failure(id);
        }
    }
    response
}

/// ffmpeg as the function runs it: the layer's binaries (`REELFORGE_FFMPEG`,
/// `REELFORGE_FFPROBE`), the shipped fonts only (`REELFORGE_FONTS_DIR`), one part per run.
pub fn ffmpeg_from_env() -> FfmpegSettings {
    let mut settings = FfmpegSettings::default();
    if let Some(p) = env("REELFORGE_FFMPEG") {
        settings.ffmpeg = p.into();
    }
    if let Some(p) = env("REELFORGE_FFPROBE") {
        settings.ffprobe = p.into();
    }
    settings.fonts_dir = env("REELFORGE_FONTS_DIR").map(PathBuf::from);
    settings.jobs = 1;
    settings
}

/// Runs the render-clip function until the runtime stops. Environment: the media bucket
/// (`REELFORGE_MEDIA_BUCKET`), MediaConvert's role and queue
/// (`REELFORGE_MEDIACONVERT_ROLE_ARN`, `REELFORGE_MEDIACONVERT_QUEUE_ARN`), the
/// deployment stage (`REELFORGE_STAGE`) and [`ffmpeg_from_env`]'s.
pub async fn run_render_clips() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let bucket = env("REELFORGE_MEDIA_BUCKET").unwrap_or_default();
    let parts = Arc::new(Parts {
        media: Arc::new(reelforge_aws::s3::S3Media::new(
            reelforge_aws::s3::s3_client(&config),
            bucket.clone(),
        )),
        stitcher: Stitcher {
            client: reelforge_aws::mediaconvert::Client::new(&config),
            role_arn: env("REELFORGE_MEDIACONVERT_ROLE_ARN").unwrap_or_default(),
            queue_arn: env("REELFORGE_MEDIACONVERT_QUEUE_ARN"),
            bucket,
            deployment_stage: env("REELFORGE_STAGE").unwrap_or_else(|| "local".into()),
        },
        settings: ffmpeg_from_env(),
    });
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let parts = parts.clone();
            async move { Ok::<_, Error>(handle_part_batch(&parts, event.payload).await) }
        },
    ))
    .await
}
