//! MediaConvert, shared by the AWS renderer ([`crate::fanout`]): key and bucket checks,
//! the service's errors as short messages, and a job's end read back with GetJob (the
//! render message's periodic look, for an EventBridge event that never arrived). The
//! stitch job itself is built in [`crate::fanout::stitch_settings`].

/// The SDK client this adapter takes.
pub use aws_sdk_mediaconvert::Client;

use aws_sdk_mediaconvert::error::{ProvideErrorMetadata, SdkError};
use reelforge_core::ports::{JobStateChange, ToolError};
use reelforge_core::render::RenderError;

/// The name MediaConvert's console gives an input's first audio selector; outputs refer
/// to selectors by name.
pub const AUDIO_SELECTOR: &str = "Audio Selector 1";

fn invalid(msg: impl Into<String>) -> RenderError {
    RenderError::InvalidPlan(msg.into())
}

/// An S3 key as the plan or target gives it: relative, `/`-separated, no `.`/`..`
/// segments, no control characters.
pub(crate) fn check_key<'a>(key: &'a str, what: &str) -> Result<&'a str, RenderError> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && !key.starts_with('/')
        && !key.ends_with('/')
        && !key.contains('\\')
        && !key.chars().any(char::is_control)
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if ok {
        Ok(key)
    } else {
        Err(invalid(format!(
            "{what} must be an S3 key relative to the media bucket, got {key:?}"
        )))
    }
}

pub(crate) fn check_bucket(bucket: &str) -> Result<(), RenderError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("invalid S3 bucket name {bucket:?}")))
    }
}

pub(crate) fn s3_url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

pub(crate) fn service_error<E, R>(error: SdkError<E, R>) -> RenderError
where
    E: ProvideErrorMetadata,
{
    let (status, detail) = match &error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            (
                e.code().unwrap_or("service error").to_string(),
                e.message()
                    .unwrap_or("")
                    .chars()
                    .take(300)
                    .collect::<String>(),
            )
        }
        SdkError::TimeoutError(_) => ("timeout".into(), "no answer in time".into()),
        SdkError::DispatchFailure(_) => ("unreachable".into(), "could not send".into()),
        SdkError::ResponseError(_) => ("bad response".into(), "unreadable response".into()),
        _ => ("request failed".into(), String::new()),
    };
    RenderError::ToolFailed {
        program: "MediaConvert CreateJob".into(),
        status,
        stderr: detail,
    }
}

/// A job's end: `None` while it is queued or runs, else its state change as the
/// EventBridge event would have carried it (status, user metadata, the first output's
/// duration, the error).
pub async fn job_state(client: &Client, job_id: &str) -> Result<Option<JobStateChange>, ToolError> {
    let job = client
        .get_job()
        .id(job_id)
        .send()
        .await
        .map_err(|e| {
            ToolError(format!(
                "MediaConvert GetJob: {}",
                e.code().unwrap_or("unreachable")
            ))
        })?
        .job
        .ok_or_else(|| ToolError("MediaConvert GetJob: no job".into()))?;
    let status = job
        .status
        .as_ref()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    if !matches!(status.as_str(), "COMPLETE" | "ERROR" | "CANCELED") {
        return Ok(None);
    }
    let output_duration_ms = job
        .output_group_details()
        .iter()
        .flat_map(|g| g.output_details())
        .find_map(|o| o.duration_in_ms())
        .and_then(|ms| u64::try_from(ms).ok());
    Ok(Some(JobStateChange {
        job_id: job_id.to_string(),
        status,
        user_metadata: job
            .user_metadata
            .map(|m| m.into_iter().collect())
            .unwrap_or_default(),
        output_duration_ms,
        error_message: job.error_message,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_stay_inside_the_bucket() {
        for bad in [
            "",
            "/abs.png",
            "a/../b.png",
            "./a.png",
            "a//b.png",
            "a\nb.png",
            "dir/",
        ] {
            assert!(check_key(bad, "k").is_err(), "{bad:?}");
        }
        assert!(check_key("work/c/screens/1080x1920/screen-1.png", "k").is_ok());
        for bad in ["ab", "Bucket", "-bucket", "bucket_x", "bucket-"] {
            assert!(check_bucket(bad).is_err(), "{bad:?}");
        }
        assert!(check_bucket("reelforge-prod-media-123456789012-us-east-1").is_ok());
    }
}
