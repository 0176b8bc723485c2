//! The publisher's requests to the providers, through the pinned client (`reelforge_net`):
//! https to public addresses only (unless the deployment allows private targets, as the
//! tests' loopback fakes need), every hop checked, no redirects followed (a provider's
//! 308 is an answer, not a redirect). Errors are short phrases without addresses or
//! bodies, safe for the publication's record.

use crate::context::Context;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use reelforge_core::guard::UrlKind;
use reelforge_net::client::{self, FetchOptions};
use serde_json::Value;
use std::time::Duration;

/// Provider answers are small JSON documents; more is cut.
const MAX_REPLY_BYTES: usize = 256 * 1024;
/// A token, a session start, a status question.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Headers from `(name, value)` pairs; a value that is not a valid header is left out
/// (the provider then refuses the request, which is reported).
pub(super) fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            map.insert(HeaderName::from_static(name), v);
        }
    }
    map
}

/// How long an upload of `bytes` may take: a minute plus a second per 256 KiB, at most
/// ten minutes.
pub(super) fn upload_timeout(bytes: usize) -> Duration {
    Duration::from_secs((60 + bytes as u64 / (256 * 1024)).min(600))
}

/// One request; `Err` is a safe summary (no response, or a refused address).
pub(super) async fn send(
    app: &Context,
    method: Method,
    url: &str,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
) -> Result<Reply, String> {
    let url = url::Url::parse(url).map_err(|_| "invalid provider URL".to_string())?;
    let opts = FetchOptions {
        // The webhook rule: https to a public address (http and private addresses only
        // with --allow-private-targets), pinned per hop.
        kind: UrlKind::Webhook,
        policy: app.policy,
        timeout,
        max_body_bytes: MAX_REPLY_BYTES,
        max_redirects: 0,
        user_agent: "reelforge-publisher/0.1",
    };
    match client::request(method, &url, headers, body, &opts, &*app.resolver).await {
        Ok(resp) => Ok(Reply {
            status: resp.status,
            headers: resp.headers,
            body: resp.body,
        }),
        Err(e) => Err(e.summary()),
    }
}

/// An error code a provider put in its body, kept only when it looks like a code
/// (letters, digits, `_`, `.`, `-`, at most 64), so nothing else of a body is recorded.
pub(super) fn code(value: Option<&Value>) -> Option<String> {
    let s = value?.as_str()?;
    (!s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')))
    .then(|| s.to_string())
}

/// `Retry-After` in whole seconds, at most `cap`.
pub(super) fn retry_after(reply: &Reply, cap: Duration) -> Option<Duration> {
    let secs = reply.header("retry-after")?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs).min(cap))
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub(super) fn form(pairs: &[(&str, &str)]) -> Bytes {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Bytes::from(s.finish())
}
