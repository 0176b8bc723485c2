//! MediaConvert's "Job State Change" events, as EventBridge delivers them to the
//! render-events function (plain JSON: no MediaConvert client needed to read them).

use reelforge_core::ports::JobStateChange;
use reelforge_core::render::RenderError;

/// The user-metadata key naming the fan-out render a stitch job belongs to
/// ([`crate::fanout`]): the render recorded on the video, so the event is read as that
/// render's end.
pub const RENDER_JOB_METADATA: &str = "render_job";

fn bad_event(msg: &str) -> RenderError {
    RenderError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not a MediaConvert job state change event: {msg}"),
    ))
}

/// Reads a job state change event. Other events (another source or detail type) and
/// events without a job id or status are refused.
pub fn parse_job_state_change(event: &serde_json::Value) -> Result<JobStateChange, RenderError> {
    if event["source"] != "aws.mediaconvert" {
        return Err(bad_event("source is not aws.mediaconvert"));
    }
    if event["detail-type"] != "MediaConvert Job State Change" {
        return Err(bad_event("wrong detail-type"));
    }
    let detail = &event["detail"];
    let text = |key: &str| {
        detail[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| bad_event(&format!("detail.{key} is missing")))
    };
    let job_id = text("jobId")?;
    let status = text("status")?;
    let user_metadata: std::collections::BTreeMap<String, String> = detail["userMetadata"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect();
    // A stitch job speaks for the fan-out render it finishes.
    let job_id = user_metadata
        .get(RENDER_JOB_METADATA)
        .filter(|r| !r.is_empty())
        .cloned()
        .unwrap_or(job_id);
    let output_duration_ms = detail["outputGroupDetails"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["outputDetails"].as_array().into_iter().flatten())
        .find_map(|o| o["durationInMs"].as_u64());
    let error_message = match (&detail["errorCode"], detail["errorMessage"].as_str()) {
        (serde_json::Value::Null, None) => None,
        (serde_json::Value::Null, Some(m)) => Some(m.to_string()),
        (code, m) => Some(format!("{code}: {}", m.unwrap_or("(no message)"))),
    };
    Ok(JobStateChange {
        job_id,
        status,
        user_metadata,
        output_duration_ms,
        error_message,
    })
}
