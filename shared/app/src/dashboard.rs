//! The dashboard (docs/dashboard.md): plain HTML, one JavaScript module and one style
//! sheet, compiled into the binary and served at `/` by `reelforge serve`, on the same
//! origin as `/api/v1` (so no CORS). No build step, no CDN: nothing the page loads comes
//! from anywhere else.
//!
//! Every answer carries a strict Content-Security-Policy (`default-src 'self'`, no inline
//! script or style, `frame-ancestors 'none'`), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer`.

use crate::api::ApiResponse;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};

const INDEX: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/app.css");
const ICON: &str = include_str!("dashboard/icon.svg");

/// The policy every dashboard answer carries when media are same-origin (`/files/…` from
/// `reelforge serve`): [`policy`]`(None)`. The API is same-origin too; nothing inline may
/// run or style, and the page may not be framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The origin media links point at when it is not the page's: on AWS, videos and
/// thumbnails are presigned S3 links (`https://<bucket>.s3.<region>.amazonaws.com/…`,
/// virtual-hosted style), so `img-src` and `media-src` must allow that origin too.
///
/// Only `https://` and a host name of lowercase letters, digits, `-` and `.` (no port,
/// path, query, wildcard, quote, `;` or space): whatever is configured can add that one
/// origin to those two directives and nothing else to the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaOrigin(String);

impl MediaOrigin {
    pub fn parse(value: &str) -> Result<MediaOrigin, String> {
        let refuse = |why: &str| Err(format!("media origin {value:?}: {why}"));
        let Some(host) = value.strip_prefix("https://") else {
            return refuse("must start with https://");
        };
        if host.is_empty() || host.len() > 253 {
            return refuse("needs a host name of 1 to 253 characters");
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return refuse("only a host name of a-z, 0-9, '-' and '.': no port, path, query or other characters");
        }
        let labels_ok = host.split('.').all(|label| {
            (1..=63).contains(&label.len()) && !label.starts_with('-') && !label.ends_with('-')
        });
        if !labels_ok || !host.contains('.') {
            return refuse("not a host name of dot-separated labels");
        }
        Ok(MediaOrigin(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The policy for a page whose media come from `media` as well as from its own origin
/// (`None`: exactly [`CSP`]).
pub fn policy(media: Option<&MediaOrigin>) -> String {
    match media {
        None => CSP.to_string(),
        Some(origin) => {
            let o = origin.as_str();
            CSP.replacen("img-src 'self';", &format!("img-src 'self' {o};"), 1)
                .replacen("media-src 'self';", &format!("media-src 'self' {o};"), 1)
        }
    }
}

const HTML: &str = "text/html; charset=utf-8";

/// Every asset: path, body, content type.
const ASSETS: [(&str, &str, &str); 5] = [
    ("/", INDEX, HTML),
    ("/index.html", INDEX, HTML),
    ("/app.js", SCRIPT, "text/javascript; charset=utf-8"),
    ("/app.css", STYLE, "text/css; charset=utf-8"),
    ("/icon.svg", ICON, "image/svg+xml"),
];

/// The paths the dashboard serves (the template routes exactly these to its function).
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(path, _, _)| *path)
}

/// The asset at `path` (a query is ignored), if it is one of the dashboard's: `/` (and
/// `/index.html`), `/app.js`, `/app.css`, `/icon.svg`. `None` for every other path (the
/// API's).
pub fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, body, content_type)| (*body, *content_type))
}

/// The answer for a dashboard path (`None` when `path` is not one), with its security
/// headers and the same-origin policy ([`CSP`]). Only GET and HEAD are allowed (405
/// otherwise).
pub fn serve(method: &Method, path: &str) -> Option<ApiResponse> {
    serve_with_media(method, path, None)
}

/// [`serve`], with a policy that also allows media from `media` ([`policy`]).
pub fn serve_with_media(
    method: &Method,
    path: &str,
    media: Option<&MediaOrigin>,
) -> Option<ApiResponse> {
    let (body, content_type) = asset(path)?;
    let mut resp = if method == Method::GET || method == Method::HEAD {
        ApiResponse {
            status: StatusCode::OK,
            headers: http::HeaderMap::new(),
            body: if method == Method::HEAD {
                Bytes::new()
            } else {
                Bytes::from_static(body.as_bytes())
            },
        }
    } else {
        ApiResponse::method_not_allowed("GET, HEAD")
    };
    let h = &mut resp.headers;
    if resp.status == StatusCode::OK {
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
    }
    // A parsed origin holds only header-safe characters; were it ever refused, the
    // answer would carry the stricter same-origin policy.
    let csp = HeaderValue::from_str(&policy(media)).unwrap_or(HeaderValue::from_static(CSP));
    h.insert(http::header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        http::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    h.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_carry_the_policy_and_nothing_inline() {
        for path in [
            "/",
            "/index.html",
            "/app.js",
            "/app.css",
            "/icon.svg",
            "/?x=1",
        ] {
            let r = serve(&Method::GET, path).expect(path);
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.headers["content-security-policy"], CSP);
            assert_eq!(r.headers["x-content-type-options"], "nosniff");
        }
        assert_eq!(
            paths().collect::<Vec<_>>(),
            ["/", "/index.html", "/app.js", "/app.css", "/icon.svg"]
        );
        assert!(paths().all(|p| asset(p).is_some()));
        assert!(serve(&Method::GET, "/api/v1/account").is_none());
        assert!(serve(&Method::GET, "/app.jsx").is_none());
        assert!(serve(&Method::GET, "/files/x").is_none());
        assert_eq!(
            serve(&Method::POST, "/").unwrap().status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        // No inline script or style for the policy to block, no remote origin.
        assert!(!INDEX.contains("<script>") && !INDEX.contains("style="));
        assert!(!INDEX.contains("<style"));
        // Nothing is loaded from elsewhere: no remote URL in the page or the style
        // sheet, no module import or remote fetch in the script (its only `https://`
        // are placeholders and the check that a publication link is http(s)).
        assert!(!INDEX.contains("http:") && !INDEX.contains("https:"));
        assert!(!STYLE.contains("http") && !STYLE.contains("@import"));
        assert!(!SCRIPT.contains("import ") && !SCRIPT.contains("import("));
        assert!(!SCRIPT.contains("fetch('http") && !SCRIPT.contains("fetch(`http"));
        for text in [INDEX, SCRIPT, STYLE] {
            assert!(!text.contains("innerHTML") && !text.contains("outerHTML"));
            assert!(!text.contains("insertAdjacentHTML") && !text.contains("document.write"));
            assert!(!text.contains("localStorage") && !text.contains("eval("));
        }
    }

    const S3: &str =
        "https://reelforge-prod-media-123456789012-eu-west-1.s3.eu-west-1.amazonaws.com";

    #[test]
    fn the_policy_adds_the_media_origin_to_images_and_media_only() {
        assert_eq!(policy(None), CSP);
        let origin = MediaOrigin::parse(S3).expect("an S3 origin");
        let with = policy(Some(&origin));
        let directives: Vec<&str> = with.split("; ").collect();
        let local: Vec<&str> = CSP.split("; ").collect();
        assert_eq!(directives.len(), local.len());
        for (d, l) in directives.iter().zip(&local) {
            if l.starts_with("img-src") || l.starts_with("media-src") {
                assert_eq!(*d, format!("{l} {S3}"));
            } else {
                assert_eq!(d, l, "only img-src and media-src change");
            }
        }
        let r = serve_with_media(&Method::GET, "/", Some(&origin)).expect("the page");
        assert_eq!(r.headers["content-security-policy"], with.as_str());
        let r = serve_with_media(&Method::GET, "/app.js", None).expect("the script");
        assert_eq!(r.headers["content-security-policy"], CSP);
    }

    #[test]
    fn a_media_origin_is_https_and_a_host_name_only() {
        for ok in [S3, "https://media.example.com", "https://a.b"] {
            assert_eq!(MediaOrigin::parse(ok).expect(ok).as_str(), ok);
        }
        for bad in [
            "",
            "https://",
            "http://bucket.s3.eu-west-1.amazonaws.com",
            "bucket.s3.eu-west-1.amazonaws.com",
            "https://bucket.s3.eu-west-1.amazonaws.com/",
            "https://bucket.s3.eu-west-1.amazonaws.com/videos",
            "https://bucket.s3.eu-west-1.amazonaws.com:443",
            "https://bucket.s3.eu-west-1.amazonaws.com?x",
            "https://user@bucket.s3.amazonaws.com",
            "https://*.amazonaws.com",
            "https://Bucket.s3.amazonaws.com",
            "https://localhost",
            "https://-bucket.s3.amazonaws.com",
            "https://bucket..amazonaws.com",
            "https://bucket.s3.amazonaws.com.",
            "https://a.b 'unsafe-inline'",
            "https://a.b; script-src *",
            "https://a.b;script-src 'unsafe-eval'",
            "https://a.b'",
            "https://a.b\"",
            "https://a.b\nx-evil: 1",
            " https://a.b",
        ] {
            let refused = MediaOrigin::parse(bad);
            assert!(refused.is_err(), "{bad:?} was accepted: {refused:?}");
        }
    }
}
