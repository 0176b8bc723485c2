//! YouTube: the OAuth 2.0 refresh-token grant at Google's token endpoint, then the
//! YouTube Data API v3 `videos.insert` (`part=snippet,status`) as a resumable upload
//! (developers.google.com/youtube/v3/guides/using_resumable_upload_protocol; research
//! notes and sources in docs/publishing.md).
//!
//! - The session URI is stored before any byte is sent. An attempt that finds one asks
//!   it where the upload stands (`PUT`, `Content-Range: bytes */N`): a finished upload is
//!   answered with the video it created (so a lost final answer never makes a second
//!   video), an unfinished one with `308` and the bytes stored (`Range: bytes=0-N`),
//!   from which the upload continues.
//! - A `308` to a data request continues from the provider's `Range`, never from where
//!   the client thinks it got to.
//! - A 5xx or a dropped connection is followed by a pause and the status question,
//!   never by bytes sent blind.
//! - A session that expired (404) after the final bytes went out may have made the video:
//!   that publication fails with "unknown outcome" rather than risk a duplicate.

use super::http::{self, Reply, CALL_TIMEOUT};
use super::{Job, Opened, Outcome, StageError};
use ::http::Method;
use bytes::Bytes;
use reelforge_core::model::Platform;
use reelforge_core::publish::UploadSession;
use reelforge_core::styles::secrets::PlainSecret;
use serde_json::json;
use std::time::Duration;

/// Transient failures (5xx, lost connections) in a row an attempt rides out.
const MAX_TRANSIENT: u32 = 4;
/// `308` answers in a row that stored nothing new before the attempt gives up for now.
const MAX_STALLS: u32 = 3;
/// Longest `Retry-After` honoured inside an attempt.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// "People & Blogs", the category of the upload guide's own example.
const CATEGORY_ID: &str = "22";
const UNKNOWN_OUTCOME: &str = "YouTube's upload session expired after the last bytes were sent, so whether the video was created is unknown; check the channel before publishing again";

/// What YouTube answered to a data request or a status question.
enum Answer {
    Created {
        id: String,
    },
    /// `308`: the bytes stored so far end at this offset (exclusive).
    Incomplete {
        stored: u64,
        retry_after: Option<Duration>,
    },
    Expired,
    Unauthorized,
    Transient {
        error: String,
        retry_after: Option<Duration>,
    },
    Refused(String),
}

pub(super) async fn publish(job: &mut Job<'_>, dest: &mut Opened) -> Result<Outcome, StageError> {
    let mut token = match access_token(job, dest, false).await {
        Ok(t) => t,
        Err(outcome) => return Ok(outcome),
    };
    let total = job.bytes.len() as u64;
    let mut refreshed = false;
    let mut sessions_started = 0;
    loop {
        let (session, fresh) = match job.upload.clone().filter(|s| s.total_bytes == total) {
            Some(s) => (s, false),
            None => {
                if sessions_started > 0 {
                    return Ok(Outcome::Retry(
                        "YouTube's upload session ended before the upload finished".into(),
                    ));
                }
                sessions_started += 1;
                match start_session(job, &token, dest.destination.privacy.as_str()).await {
                    Ok(url) => {
                        let session = UploadSession {
                            url,
                            total_bytes: total,
                            publish_id: None,
                            creator: None,
                            started_at_ms: job.app.clock.now_ms(),
                            final_bytes_sent: false,
                        };
                        job.save_upload(Some(session.clone())).await?;
                        (session, true)
                    }
                    Err(Answer::Unauthorized) if !refreshed => {
                        refreshed = true;
                        sessions_started -= 1;
                        token = match access_token(job, dest, true).await {
                            Ok(t) => t,
                            Err(outcome) => return Ok(outcome),
                        };
                        continue;
                    }
                    Err(answer) => return Ok(settle(answer)),
                }
            }
        };
        match drive(job, dest, &session, fresh, &mut token, &mut refreshed).await? {
            Some(outcome) => return Ok(outcome),
            None => {
                // The session expired.
                if session.final_bytes_sent {
                    return Ok(Outcome::Failed(UNKNOWN_OUTCOME.into()));
                }
                job.save_upload(None).await?;
            }
        }
    }
}

/// The outcome of an answer that ends the attempt.
fn settle(answer: Answer) -> Outcome {
    match answer {
        Answer::Created { id } => Outcome::Published {
            url: None,
            external_id: id,
        },
        Answer::Transient { error, .. } => Outcome::Retry(error),
        Answer::Refused(e) => Outcome::Failed(e),
        Answer::Unauthorized => Outcome::Failed(
            "YouTube refused the destination's access (authError) after a fresh token".into(),
        ),
        Answer::Expired => {
            Outcome::Retry("YouTube's upload session ended before the upload finished".into())
        }
        Answer::Incomplete { .. } => {
            Outcome::Retry("YouTube did not accept the upload's start".into())
        }
    }
}

fn published(job: &Job<'_>, id: String) -> Outcome {
    let url = match job.video.platform {
        Platform::Youtube => format!("https://www.youtube.com/watch?v={id}"),
        _ => format!("https://www.youtube.com/shorts/{id}"),
    };
    Outcome::Published {
        external_id: id,
        url: Some(url),
    }
}

/// Uploads through `session` until YouTube has the whole file: `Some` ends the attempt,
/// `None` means the session expired (a new one may be needed).
async fn drive(
    job: &mut Job<'_>,
    dest: &mut Opened,
    session: &UploadSession,
    fresh: bool,
    token: &mut PlainSecret,
    refreshed: &mut bool,
) -> Result<Option<Outcome>, StageError> {
    let total = session.total_bytes;
    let mut final_sent = session.final_bytes_sent;
    // A stored session may have stored some or all of the file: ask first.
    let mut next: Option<u64> = fresh.then_some(0);
    let (mut failures, mut stalls) = (0u32, 0u32);
    loop {
        let offset = match next {
            Some(offset) => offset,
            None => match status_query(job, session, token).await {
                Answer::Incomplete {
                    stored,
                    retry_after,
                } => {
                    if let Some(wait) = retry_after {
                        tokio::time::sleep(wait).await;
                    }
                    stored
                }
                Answer::Created { id } => return Ok(Some(published(job, id))),
                Answer::Expired => return Ok(None),
                Answer::Unauthorized if !*refreshed => {
                    *refreshed = true;
                    match access_token(job, dest, true).await {
                        Ok(t) => *token = t,
                        Err(outcome) => return Ok(Some(outcome)),
                    }
                    continue;
                }
                Answer::Transient { error, retry_after } => {
                    failures += 1;
                    if failures > MAX_TRANSIENT {
                        return Ok(Some(Outcome::Retry(error)));
                    }
                    job.pause(failures - 1, retry_after).await;
                    continue;
                }
                other => return Ok(Some(settle(other))),
            },
        };
        let end = match job.app.publishing.youtube_chunk_bytes {
            Some(chunk) => (offset + chunk as u64).min(total),
            None => total,
        };
        if end == total && !final_sent {
            // From here on a lost answer may hide a created video: remember that, so an
            // expired session is not answered with a second upload.
            let mut marked = session.clone();
            marked.final_bytes_sent = true;
            job.save_upload(Some(marked)).await?;
            final_sent = true;
        }
        let answer = put_bytes(job, session, token, offset, end).await;
        next = None;
        match answer {
            Answer::Created { id } => return Ok(Some(published(job, id))),
            Answer::Incomplete {
                stored,
                retry_after,
            } => {
                failures = 0;
                // A 308 that kept nothing of what was sent: a few are ridden out.
                if stored <= offset {
                    stalls += 1;
                    if stalls > MAX_STALLS {
                        return Ok(Some(Outcome::Retry(
                            "YouTube stopped accepting the upload's bytes".into(),
                        )));
                    }
                } else {
                    stalls = 0;
                }
                if let Some(wait) = retry_after {
                    tokio::time::sleep(wait).await;
                }
                next = Some(stored);
            }
            Answer::Expired => return Ok(None),
            Answer::Unauthorized if !*refreshed => {
                *refreshed = true;
                match access_token(job, dest, true).await {
                    Ok(t) => *token = t,
                    Err(outcome) => return Ok(Some(outcome)),
                }
            }
            Answer::Transient { error, retry_after } => {
                failures += 1;
                if failures > MAX_TRANSIENT {
                    return Ok(Some(Outcome::Retry(error)));
                }
                job.pause(failures - 1, retry_after).await;
            }
            other => return Ok(Some(settle(other))),
        }
    }
}

/// `PUT <session>` with bytes `offset..end` of the file.
async fn put_bytes(
    job: &mut Job<'_>,
    session: &UploadSession,
    token: &PlainSecret,
    offset: u64,
    end: u64,
) -> Answer {
    let total = session.total_bytes;
    let body: Bytes = job.bytes.slice(offset as usize..end as usize);
    let headers = http::headers(&[
        ("authorization", format!("Bearer {}", token.expose())),
        ("content-type", "video/mp4".into()),
        (
            "content-range",
            format!("bytes {offset}-{}/{total}", end.saturating_sub(1)),
        ),
    ]);
    let timeout = http::upload_timeout(body.len());
    let reply = http::send(job.app, Method::PUT, &session.url, headers, body, timeout).await;
    answer(job, reply, "upload")
}

/// `PUT <session>` with no bytes and `Content-Range: bytes */N`: where the upload stands.
async fn status_query(job: &mut Job<'_>, session: &UploadSession, token: &PlainSecret) -> Answer {
    let headers = http::headers(&[
        ("authorization", format!("Bearer {}", token.expose())),
        ("content-range", format!("bytes */{}", session.total_bytes)),
    ]);
    let reply = http::send(
        job.app,
        Method::PUT,
        &session.url,
        headers,
        Bytes::new(),
        CALL_TIMEOUT,
    )
    .await;
    answer(job, reply, "upload status")
}

/// Reads an answer to a request on the session.
fn answer(job: &mut Job<'_>, reply: Result<Reply, String>, what: &str) -> Answer {
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            return Answer::Transient {
                error: format!("YouTube {what}: {e}"),
                retry_after: None,
            }
        }
    };
    job.saw(reply.status);
    let retry_after = http::retry_after(&reply, MAX_RETRY_AFTER);
    match reply.status {
        200 | 201 => match http::code(reply.json().get("id")) {
            Some(id) => Answer::Created { id },
            None => Answer::Transient {
                error: format!("YouTube {what}: a finished upload without a video id"),
                retry_after: None,
            },
        },
        308 => Answer::Incomplete {
            stored: stored_bytes(&reply),
            retry_after,
        },
        404 => Answer::Expired,
        _ => api_error(&reply, what, retry_after),
    }
}

/// `Range: bytes=0-N` → N + 1; no `Range`: nothing stored.
fn stored_bytes(reply: &Reply) -> u64 {
    reply
        .header("range")
        .and_then(|r| r.trim().strip_prefix("bytes=0-"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map_or(0, |last| last + 1)
}

/// A Google API error answer: `{"error":{"code","message","errors":[{"reason",…}]}}`.
fn api_error(reply: &Reply, what: &str, retry_after: Option<Duration>) -> Answer {
    let body = reply.json();
    let reason = http::code(body["error"]["errors"][0].get("reason"))
        .or_else(|| http::code(body["error"].get("status")));
    let named = reason.as_deref().unwrap_or("no reason given");
    let status = reply.status;
    match (status, reason.as_deref()) {
        (401, _) => Answer::Unauthorized,
        (403, Some("quotaExceeded")) => Answer::Refused(
            "YouTube's daily upload quota of the destination's Google Cloud project is used up (quotaExceeded); publish again after midnight Pacific time".into(),
        ),
        (400, Some("uploadLimitExceeded")) => Answer::Refused(
            "The YouTube channel reached its own upload limit (uploadLimitExceeded); publish again in 24 hours".into(),
        ),
        (429, _) | (403, Some("rateLimitExceeded" | "userRateLimitExceeded")) => {
            Answer::Transient {
                error: format!("YouTube {what}: rate limited ({named}, HTTP {status})"),
                retry_after,
            }
        }
        (500..=599, _) => Answer::Transient {
            error: format!("YouTube {what}: HTTP {status} ({named})"),
            retry_after,
        },
        _ => Answer::Refused(format!(
            "YouTube refused the {what}: {named} (HTTP {status})"
        )),
    }
}

/// The `videos.insert` resource: snippet and status, every field name as in the
/// discovery document (checked by the tests against its extract).
fn metadata(job: &Job<'_>, privacy: &str) -> serde_json::Value {
    let vertical = job.video.platform != Platform::Youtube;
    let title = job.title(100);
    let url: String = job
        .campaign
        .url
        .chars()
        .filter(|c| *c != '<' && *c != '>')
        .collect();
    let mut description = format!("{title}\n\n{url}");
    if vertical {
        // A vertical video up to 3 minutes long is a Short; the tag helps it be found.
        description.push_str("\n\n#Shorts");
    }
    // At most 5,000 bytes (the campaign's title and URL are far shorter).
    while description.len() > 5_000 {
        description.pop();
    }
    json!({
        "snippet": {
            "title": title,
            "description": description,
            "categoryId": CATEGORY_ID,
            "defaultLanguage": job.video.language.as_str(),
            "defaultAudioLanguage": job.video.language.as_str(),
        },
        "status": {
            "privacyStatus": privacy,
            "selfDeclaredMadeForKids": false,
        },
    })
}

/// Opens an upload session: `POST …/videos?uploadType=resumable&part=snippet,status`;
/// its `Location` is the session URI.
async fn start_session(
    job: &mut Job<'_>,
    token: &PlainSecret,
    privacy: &str,
) -> Result<String, Answer> {
    let mut url = url::Url::parse(&job.app.publishing.youtube_upload_url)
        .map_err(|_| Answer::Refused("the YouTube upload URL is not valid".into()))?;
    url.query_pairs_mut()
        .append_pair("uploadType", "resumable")
        .append_pair("part", "snippet,status");
    // The destination's privacy maps one to one (private, unlisted, public).
    let body = Bytes::from(metadata(job, privacy).to_string());
    let headers = http::headers(&[
        ("authorization", format!("Bearer {}", token.expose())),
        ("content-type", "application/json; charset=UTF-8".into()),
        ("x-upload-content-length", job.bytes.len().to_string()),
        ("x-upload-content-type", "video/mp4".into()),
    ]);
    let reply = http::send(
        job.app,
        Method::POST,
        url.as_str(),
        headers,
        body,
        CALL_TIMEOUT,
    )
    .await
    .map_err(|e| Answer::Transient {
        error: format!("YouTube upload start: {e}"),
        retry_after: None,
    })?;
    job.saw(reply.status);
    if reply.status == 200 || reply.status == 201 {
        let location = reply
            .header("location")
            .and_then(|l| url.join(l.trim()).ok())
            .ok_or_else(|| Answer::Transient {
                error: "YouTube started an upload without a session URI".into(),
                retry_after: None,
            })?;
        return Ok(location.to_string());
    }
    let retry_after = http::retry_after(&reply, MAX_RETRY_AFTER);
    Err(api_error(&reply, "upload start", retry_after))
}

/// An access token from the refresh-token grant (cached for the run; `renew` asks
/// again after a 401). `Err` ends the attempt.
async fn access_token(
    job: &mut Job<'_>,
    dest: &mut Opened,
    renew: bool,
) -> Result<PlainSecret, Outcome> {
    if let (Some(token), false) = (&dest.access_token, renew) {
        return Ok(token.clone());
    }
    let body = http::form(&[
        ("client_id", dest.client_id.expose()),
        ("client_secret", dest.client_secret.expose()),
        ("refresh_token", dest.refresh_token.expose()),
        ("grant_type", "refresh_token"),
    ]);
    let headers = http::headers(&[("content-type", "application/x-www-form-urlencoded".into())]);
    let reply = http::send(
        job.app,
        Method::POST,
        &job.app.publishing.google_token_url,
        headers,
        body,
        CALL_TIMEOUT,
    )
    .await
    .map_err(|e| Outcome::Retry(format!("Google token endpoint: {e}")))?;
    job.saw(reply.status);
    let answer = reply.json();
    if reply.status == 200 {
        if let Some(token) = answer["access_token"].as_str().filter(|t| !t.is_empty()) {
            let token = PlainSecret::new(token);
            dest.access_token = Some(token.clone());
            return Ok(token);
        }
    }
    let error = http::code(answer.get("error")).unwrap_or_else(|| "no error code".into());
    Err(match (reply.status, error.as_str()) {
        (_, "invalid_grant" | "invalid_client" | "unauthorized_client") => Outcome::Failed(format!(
            "Google rejected the destination's credentials ({error}); create the destination again with a new refresh token"
        )),
        (500..=599, _) | (_, "server_error" | "temporarily_unavailable" | "internal_failure") => {
            Outcome::Retry(format!(
                "Google token endpoint unavailable ({error}, HTTP {})",
                reply.status
            ))
        }
        (status, _) => Outcome::Failed(format!(
            "Google's token endpoint refused the refresh ({error}, HTTP {status})"
        )),
    })
}
