//! TikTok: the Content Posting API's Direct Post (developers.tiktok.com; research notes
//! and sources in docs/publishing.md):
//! - the token refresh at `/v2/oauth/token/`: TikTok rotates the refresh token on every
//!   refresh (the old one stops working), so the new one is sealed and stored before the
//!   access token is used for anything, and a destination is refreshed once per run;
//! - `/v2/post/publish/creator_info/query/` (required before a post: the privacy levels
//!   the creator allows);
//! - `/v2/post/publish/video/init/` with `FILE_UPLOAD` source info (size, chunk size,
//!   chunk count), whose `publish_id` and `upload_url` are stored before the upload;
//! - chunked `PUT`s to the upload URL with `Content-Range`, one after another;
//! - `/v2/post/publish/status/fetch/` until `PUBLISH_COMPLETE` or `FAILED`.
//!
//! An attempt that finds a stored `publish_id` asks its status first: a post that was
//! made is recorded, an upload cut short continues from `uploaded_bytes` while its URL
//! (valid one hour) lasts.

use super::http::{self, Reply, CALL_TIMEOUT};
use super::{Job, Opened, Outcome, StageError};
use ::http::Method;
use bytes::Bytes;
use reelforge_core::publish::{seal_tail_masked, Privacy, UploadSession};
use reelforge_core::styles::secrets::{PlainSecret, SecretOwner};
use serde_json::{json, Value};
use std::time::Duration;

/// A file up to this size goes in one chunk (TikTok's largest chunk is 64 MB).
const SINGLE_CHUNK_MAX: u64 = 64_000_000;
/// Chunk size of larger files (each at least 5 MB; the last absorbs the remainder).
const CHUNK: u64 = 10_000_000;
/// An upload URL is valid for an hour; one older than this is not resumed.
const UPLOAD_URL_LIFE_MS: i64 = 55 * 60 * 1000;
/// Transient failures of one chunk an attempt rides out.
const MAX_TRANSIENT: u32 = 4;
/// Caption length TikTok allows (UTF-16 units); titles here are far shorter.
const MAX_CAPTION_CHARS: usize = 2_000;
/// Failure reasons TikTok documents as worth a new post.
const RETRYABLE_FAILURES: [&str; 2] = ["internal", "video_pull_failed"];

/// `(chunk_size, total_chunk_count)` of a file of `size` bytes (the Media Transfer
/// Guide: count = floor(size / chunk), the last chunk takes the remainder).
pub(crate) fn chunking(size: u64) -> (u64, u64) {
    if size <= SINGLE_CHUNK_MAX {
        (size, 1)
    } else {
        (CHUNK, size / CHUNK)
    }
}

/// A TikTok answer: `{"data":{…},"error":{"code":"ok",…}}`.
struct Answer {
    status: u16,
    data: Value,
    /// `None` when `error.code` is `ok`.
    error: Option<String>,
}

pub(super) async fn publish(job: &mut Job<'_>, dest: &mut Opened) -> Result<Outcome, StageError> {
    let total = job.bytes.len() as u64;
    let mut token = match access_token(job, dest).await? {
        Ok(t) => t,
        Err(outcome) => return Ok(outcome),
    };
    if let Some(session) = job
        .upload
        .clone()
        .filter(|s| s.publish_id.is_some() && s.total_bytes == total)
    {
        match resume(job, dest, &mut token, &session).await? {
            Some(outcome) => return Ok(outcome),
            // Nothing to resume: a new post.
            None => job.save_upload(None).await?,
        }
    }
    // The creator's current settings decide what may be posted.
    let creator = match call(job, dest, &mut token, "creator_info/query/", Value::Null).await? {
        Ok(a) => a.data,
        Err(outcome) => return Ok(outcome),
    };
    let options: Vec<&str> = creator["privacy_level_options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let wanted: &[&str] = match dest.destination.privacy {
        Privacy::Private => &["SELF_ONLY"],
        Privacy::Public => &["PUBLIC_TO_EVERYONE", "FOLLOWER_OF_CREATOR"],
        // Refused when the destination is created; kept safe here.
        Privacy::Unlisted => &["SELF_ONLY"],
    };
    let Some(privacy_level) = wanted.iter().copied().find(|w| options.contains(w)) else {
        return Ok(Outcome::Failed(format!(
            "The TikTok account does not allow {} posts (it offers {})",
            dest.destination.privacy,
            if options.is_empty() {
                "none".to_string()
            } else {
                options.join(", ")
            }
        )));
    };
    if let Some(max) = creator["max_video_post_duration_sec"].as_f64() {
        if job.video.duration_seconds.is_some_and(|d| d > max) {
            return Ok(Outcome::Failed(format!(
                "The video is longer than the {max:.0} s the TikTok account may post"
            )));
        }
    }
    let username = http::code(creator.get("creator_username"));
    let (chunk_size, chunks) = chunking(total);
    let caption = format!("{} {}", job.title(MAX_CAPTION_CHARS), job.campaign.url);
    let caption: String = caption.chars().take(MAX_CAPTION_CHARS).collect();
    let init = json!({
        "post_info": {
            "title": caption,
            "privacy_level": privacy_level,
            "disable_duet": creator["duet_disabled"].as_bool().unwrap_or(false),
            "disable_comment": creator["comment_disabled"].as_bool().unwrap_or(false),
            "disable_stitch": creator["stitch_disabled"].as_bool().unwrap_or(false),
            "video_cover_timestamp_ms": 1000,
            "brand_content_toggle": false,
            "brand_organic_toggle": false,
            // Script and voice are machine-made: TikTok's AI-generated label.
            "is_aigc": true,
        },
        "source_info": {
            "source": "FILE_UPLOAD",
            "video_size": total,
            "chunk_size": chunk_size,
            "total_chunk_count": chunks,
        },
    });
    let answer = match call(job, dest, &mut token, "video/init/", init).await? {
        Ok(a) => a,
        Err(outcome) => return Ok(outcome),
    };
    let (Some(publish_id), Some(upload_url)) = (
        answer.data["publish_id"].as_str(),
        answer.data["upload_url"].as_str(),
    ) else {
        return Ok(Outcome::Retry(
            "TikTok started a post without a publish id or upload URL".into(),
        ));
    };
    let session = UploadSession {
        url: upload_url.to_string(),
        total_bytes: total,
        publish_id: Some(publish_id.to_string()),
        creator: username,
        started_at_ms: job.app.clock.now_ms(),
        final_bytes_sent: false,
    };
    job.save_upload(Some(session.clone())).await?;
    if let Some(outcome) = upload_from(job, &session, 0).await? {
        return Ok(outcome);
    }
    poll(job, dest, &mut token, &session).await
}

/// An attempt that found a post under way: `Some` ends it, `None` starts a new post.
async fn resume(
    job: &mut Job<'_>,
    dest: &mut Opened,
    token: &mut PlainSecret,
    session: &UploadSession,
) -> Result<Option<Outcome>, StageError> {
    let status = match fetch_status(job, dest, token, session).await? {
        Ok(s) => s,
        Err(outcome) => return Ok(Some(outcome)),
    };
    match status {
        Status::Complete { .. } | Status::Failed(_) => {
            return settle(job, &status, session).await.map(Some);
        }
        Status::Processing { uploaded } if uploaded < session.total_bytes => {
            let age = job.app.clock.now_ms() - session.started_at_ms;
            if age > UPLOAD_URL_LIFE_MS {
                return Ok(None);
            }
            if let Some(outcome) = upload_from(job, session, uploaded).await? {
                return Ok(Some(outcome));
            }
        }
        Status::Processing { .. } => {}
        Status::Unknown => return Ok(None),
    }
    poll(job, dest, token, session).await.map(Some)
}

/// Sends the chunks from the one starting at `from` (bytes TikTok already has), one
/// after another. `Some` ends the attempt (the URL expired or a chunk was refused).
async fn upload_from(
    job: &mut Job<'_>,
    session: &UploadSession,
    from: u64,
) -> Result<Option<Outcome>, StageError> {
    let total = session.total_bytes;
    let (chunk_size, chunks) = chunking(total);
    let mut offset = from;
    let mut failures = 0u32;
    while offset < total {
        // The chunk holding `offset`; the last one takes the remainder.
        let index = (offset / chunk_size).min(chunks - 1);
        let start = index * chunk_size;
        let end = if index + 1 == chunks {
            total
        } else {
            start + chunk_size
        };
        let body: Bytes = job.bytes.slice(start as usize..end as usize);
        let headers = http::headers(&[
            ("content-type", "video/mp4".into()),
            (
                "content-range",
                format!("bytes {start}-{}/{total}", end - 1),
            ),
        ]);
        let timeout = http::upload_timeout(body.len());
        let reply = http::send(job.app, Method::PUT, &session.url, headers, body, timeout).await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                failures += 1;
                if failures > MAX_TRANSIENT {
                    return Ok(Some(Outcome::Retry(format!("TikTok upload: {e}"))));
                }
                job.pause(failures - 1, None).await;
                continue;
            }
        };
        job.saw(reply.status);
        match reply.status {
            201 => return Ok(None),
            206 => {
                failures = 0;
                offset = received(&reply).unwrap_or(end).max(end);
            }
            // Out of step (a chunk stored although its answer was lost): TikTok says
            // where it stands.
            416 => match received(&reply) {
                Some(at) if at > offset || at == start => {
                    failures = 0;
                    offset = at;
                }
                _ => {
                    failures += 1;
                    if failures > MAX_TRANSIENT {
                        return Ok(Some(Outcome::Retry(
                            "TikTok refused the upload's byte ranges".into(),
                        )));
                    }
                }
            },
            403 | 404 => {
                // The URL expired or the task is gone: a new post next time.
                job.save_upload(None).await?;
                return Ok(Some(Outcome::Retry(format!(
                    "TikTok's upload URL is no longer valid (HTTP {})",
                    reply.status
                ))));
            }
            500..=599 => {
                failures += 1;
                if failures > MAX_TRANSIENT {
                    return Ok(Some(Outcome::Retry(format!(
                        "TikTok upload: HTTP {}",
                        reply.status
                    ))));
                }
                job.pause(failures - 1, None).await;
            }
            status => {
                return Ok(Some(Outcome::Failed(format!(
                    "TikTok refused the upload (HTTP {status})"
                ))))
            }
        }
    }
    Ok(None)
}

/// `Content-Range: bytes 0-{last}/{total}` of an upload answer → bytes received.
fn received(reply: &Reply) -> Option<u64> {
    let range = reply
        .header("content-range")?
        .trim()
        .strip_prefix("bytes ")?;
    let (span, _) = range.split_once('/')?;
    let (_, last) = span.split_once('-')?;
    last.trim().parse::<u64>().ok().map(|n| n + 1)
}

enum Status {
    Complete {
        post_id: Option<String>,
    },
    Failed(String),
    Processing {
        uploaded: u64,
    },
    /// The publish id is not known (any more).
    Unknown,
}

impl Status {
    fn outcome(&self, session: &UploadSession) -> Outcome {
        match self {
            Status::Complete { post_id } => {
                let publish_id = session.publish_id.clone().unwrap_or_default();
                let url = match (post_id, &session.creator) {
                    (Some(post), Some(creator)) => {
                        Some(format!("https://www.tiktok.com/@{creator}/video/{post}"))
                    }
                    _ => None,
                };
                Outcome::Published {
                    external_id: post_id.clone().unwrap_or(publish_id),
                    url,
                }
            }
            Status::Failed(reason) if RETRYABLE_FAILURES.contains(&reason.as_str()) => {
                Outcome::Retry(format!("TikTok could not post the video ({reason})"))
            }
            Status::Failed(reason) => {
                Outcome::Failed(format!("TikTok did not post the video ({reason})"))
            }
            Status::Processing { .. } | Status::Unknown => {
                Outcome::Retry("TikTok is still processing the post".into())
            }
        }
    }
}

/// The outcome of a settled post. A failure TikTok calls retryable forgets the post, so
/// the next attempt makes a new one instead of asking about this one again.
async fn settle(
    job: &mut Job<'_>,
    status: &Status,
    session: &UploadSession,
) -> Result<Outcome, StageError> {
    let outcome = status.outcome(session);
    if matches!(status, Status::Failed(_)) && matches!(outcome, Outcome::Retry(_)) {
        job.save_upload(None).await?;
    }
    Ok(outcome)
}

async fn fetch_status(
    job: &mut Job<'_>,
    dest: &mut Opened,
    token: &mut PlainSecret,
    session: &UploadSession,
) -> Result<Result<Status, Outcome>, StageError> {
    let body = json!({"publish_id": session.publish_id});
    let answer = match call(job, dest, token, "status/fetch/", body).await? {
        Ok(a) => a,
        Err(Outcome::Failed(e)) if e.contains("invalid_publish_id") => {
            return Ok(Ok(Status::Unknown))
        }
        Err(outcome) => return Ok(Err(outcome)),
    };
    let data = &answer.data;
    Ok(Ok(match data["status"].as_str().unwrap_or_default() {
        "PUBLISH_COMPLETE" => Status::Complete {
            // int64 post ids (19 digits): read as integers or strings, never floats.
            post_id: data["publicaly_available_post_id"]
                .as_array()
                .and_then(|ids| ids.first())
                .and_then(|id| {
                    id.as_u64()
                        .map(|n| n.to_string())
                        .or_else(|| http::code(Some(id)))
                }),
        },
        "FAILED" => Status::Failed(
            http::code(data.get("fail_reason")).unwrap_or_else(|| "no reason given".into()),
        ),
        _ => Status::Processing {
            uploaded: data["uploaded_bytes"].as_u64().unwrap_or(0),
        },
    }))
}

/// Asks for the post's status until it is published or failed, within the polls the
/// configuration allows.
async fn poll(
    job: &mut Job<'_>,
    dest: &mut Opened,
    token: &mut PlainSecret,
    session: &UploadSession,
) -> Result<Outcome, StageError> {
    let polls = job.app.publishing.tiktok_max_polls.max(1);
    for n in 0..polls {
        if n > 0 {
            tokio::time::sleep(job.app.publishing.tiktok_poll).await;
        }
        match fetch_status(job, dest, token, session).await? {
            Ok(Status::Processing { .. }) => continue,
            Ok(status) => return settle(job, &status, session).await,
            Err(outcome) => return Ok(outcome),
        }
    }
    Ok(Outcome::Retry("TikTok is still processing the post".into()))
}

/// `POST /v2/post/publish/{path}` with a JSON body (none when `Null`); one token renewal
/// after `access_token_invalid`. `Err` ends the attempt.
async fn call(
    job: &mut Job<'_>,
    dest: &mut Opened,
    token: &mut PlainSecret,
    path: &str,
    body: Value,
) -> Result<Result<Answer, Outcome>, StageError> {
    let url = format!(
        "{}/v2/post/publish/{path}",
        job.app.publishing.tiktok_api_base.trim_end_matches('/')
    );
    let mut renewed = false;
    loop {
        let headers = http::headers(&[
            ("authorization", format!("Bearer {}", token.expose())),
            ("content-type", "application/json; charset=UTF-8".into()),
        ]);
        let bytes = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        let reply =
            match http::send(job.app, Method::POST, &url, headers, bytes, CALL_TIMEOUT).await {
                Ok(r) => r,
                Err(e) => return Ok(Err(Outcome::Retry(format!("TikTok {path}: {e}")))),
            };
        job.saw(reply.status);
        let json = reply.json();
        let code = http::code(json["error"].get("code"));
        let answer = Answer {
            status: reply.status,
            data: json["data"].clone(),
            error: code.filter(|c| c != "ok"),
        };
        let Some(error) = answer.error.clone() else {
            if (200..300).contains(&answer.status) {
                return Ok(Ok(answer));
            }
            return Ok(Err(unexpected(path, answer.status)));
        };
        if error == "access_token_invalid" && !renewed {
            renewed = true;
            dest.access_token = None;
            *token = match access_token(job, dest).await? {
                Ok(t) => t,
                Err(outcome) => return Ok(Err(outcome)),
            };
            continue;
        }
        return Ok(Err(api_error(path, answer.status, &error)));
    }
}

fn unexpected(path: &str, status: u16) -> Outcome {
    if status >= 500 || status == 429 {
        Outcome::Retry(format!("TikTok {path}: HTTP {status}"))
    } else {
        Outcome::Failed(format!("TikTok refused {path} (HTTP {status})"))
    }
}

/// What a TikTok error code means for the publication. Several come with HTTP 200.
fn api_error(path: &str, status: u16, code: &str) -> Outcome {
    match code {
        "rate_limit_exceeded" | "internal_error" => {
            Outcome::Retry(format!("TikTok {path}: {code} (HTTP {status})"))
        }
        "access_token_invalid" | "scope_not_authorized" => Outcome::Failed(format!(
            "TikTok refused the destination's authorization ({code}); connect the destination again with the video.publish scope"
        )),
        "unaudited_client_can_only_post_to_private_accounts" => Outcome::Failed(
            "TikTok allows an unaudited app to post only to private accounts (unaudited_client_can_only_post_to_private_accounts)".into(),
        ),
        "spam_risk_too_many_posts" | "spam_risk_user_banned_from_posting"
        | "reached_active_user_cap" | "privacy_level_option_mismatch"
        | "url_ownership_unverified" | "invalid_param" | "invalid_publish_id"
        | "token_not_authorized_for_specified_publish_id" => {
            Outcome::Failed(format!("TikTok refused {path}: {code} (HTTP {status})"))
        }
        _ if status >= 500 => Outcome::Retry(format!("TikTok {path}: {code} (HTTP {status})")),
        _ => Outcome::Failed(format!("TikTok refused {path}: {code} (HTTP {status})")),
    }
}

/// An access token: the run's, or a refresh. TikTok rotates the refresh token on every
/// refresh, so the new one is sealed and stored at once; a refresh refused because
/// another worker rotated the token first is tried again with the stored one.
async fn access_token(
    job: &mut Job<'_>,
    dest: &mut Opened,
) -> Result<Result<PlainSecret, Outcome>, StageError> {
    if let Some(token) = &dest.access_token {
        return Ok(Ok(token.clone()));
    }
    let mut reread = false;
    loop {
        let body = http::form(&[
            ("client_key", dest.client_id.expose()),
            ("client_secret", dest.client_secret.expose()),
            ("grant_type", "refresh_token"),
            ("refresh_token", dest.refresh_token.expose()),
        ]);
        let headers =
            http::headers(&[("content-type", "application/x-www-form-urlencoded".into())]);
        let url = format!(
            "{}/v2/oauth/token/",
            job.app.publishing.tiktok_api_base.trim_end_matches('/')
        );
        let reply = match http::send(job.app, Method::POST, &url, headers, body, CALL_TIMEOUT).await
        {
            Ok(r) => r,
            Err(e) => return Ok(Err(Outcome::Retry(format!("TikTok token refresh: {e}")))),
        };
        job.saw(reply.status);
        let answer = reply.json();
        // Errors are told by the body (`error`), whatever the status.
        let error = http::code(answer.get("error"));
        let access = answer["access_token"].as_str().filter(|t| !t.is_empty());
        if let (None, Some(access)) = (&error, access) {
            let access = PlainSecret::new(access);
            if let Some(next) = answer["refresh_token"].as_str().filter(|t| !t.is_empty()) {
                if next != dest.refresh_token.expose() {
                    store_refresh_token(job, dest, PlainSecret::new(next)).await?;
                }
            }
            dest.access_token = Some(access.clone());
            return Ok(Ok(access));
        }
        let error = error.unwrap_or_else(|| format!("HTTP {}", reply.status));
        if matches!(error.as_str(), "invalid_grant")
            && !reread
            && rotated_elsewhere(job, dest).await?
        {
            reread = true;
            continue;
        }
        return Ok(Err(match error.as_str() {
            "invalid_grant" | "invalid_client" | "unauthorized_client" | "access_denied"
            | "invalid_scope" => Outcome::Failed(format!(
                "TikTok rejected the destination's credentials ({error}); connect the destination again"
            )),
            _ if reply.status >= 500 || reply.status == 429 => {
                Outcome::Retry(format!("TikTok token refresh: {error}"))
            }
            _ => Outcome::Failed(format!("TikTok refused the token refresh ({error})")),
        }));
    }
}

/// Seals and stores a rotated refresh token (the old one no longer works).
async fn store_refresh_token(
    job: &mut Job<'_>,
    dest: &mut Opened,
    next: PlainSecret,
) -> Result<(), StageError> {
    let owner = SecretOwner::new(&job.campaign.account_id, job.destination_id);
    let sealed = seal_tail_masked(&*job.app.sealer, &next, &owner)
        .await
        .map_err(|e| StageError::Tool(format!("sealing the rotated TikTok token: {e}")))?;
    dest.destination.refresh_token = sealed;
    let mut record = dest.record.clone();
    record.doc = serde_json::to_value(&dest.destination)
        .map_err(|e| StageError::Artifact(format!("destination record: {e}")))?;
    record.updated_at = job.app.clock.now();
    let mut tries = 0;
    loop {
        match job.app.ports.profiles.replace_profile(&record).await {
            Ok(_) => break,
            Err(e) if tries >= 2 => {
                tracing::error!(error = %e, destination_id = %job.destination_id, "the rotated TikTok refresh token could not be stored");
                return Err(e.into());
            }
            Err(_) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200 * tries)).await;
            }
        }
    }
    dest.record = record;
    dest.refresh_token = next;
    Ok(())
}

/// Whether the stored refresh token differs from the one just refused (another worker
/// refreshed first); if so it is taken.
async fn rotated_elsewhere(job: &mut Job<'_>, dest: &mut Opened) -> Result<bool, StageError> {
    // The other worker's write may land a moment after its refresh.
    for pause in [0u64, 500, 1_500] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let Some(record) = job
            .app
            .ports
            .profiles
            .get_profile(
                &job.campaign.account_id,
                reelforge_core::publish::DESTINATION_KIND,
                job.destination_id,
            )
            .await?
        else {
            return Ok(false);
        };
        let Ok(stored) =
            serde_json::from_value::<reelforge_core::publish::Destination>(record.doc.clone())
        else {
            return Ok(false);
        };
        if stored.refresh_token.ciphertext_b64 != dest.destination.refresh_token.ciphertext_b64 {
            let owner = SecretOwner::new(&job.campaign.account_id, job.destination_id);
            let Ok(token) = job.app.sealer.open(&stored.refresh_token, &owner).await else {
                return Ok(false);
            };
            dest.refresh_token = token;
            dest.destination = stored;
            dest.record = record;
            return Ok(true);
        }
    }
    Ok(false)
}
