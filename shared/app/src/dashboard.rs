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

/// The policy every dashboard answer carries. Media (`/files/…` locally) and the API are
/// same-origin; nothing inline may run or style, and the page may not be framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The asset at `path`, if it is one of the dashboard's: `/` (and `/index.html`),
/// `/app.js`, `/app.css`, `/icon.svg`. `None` for every other path (the API's).
pub fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    Some(match path {
        "/" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/app.css" => (STYLE, "text/css; charset=utf-8"),
        "/icon.svg" => (ICON, "image/svg+xml"),
        _ => return None,
    })
}

/// The answer for a dashboard path (`None` when `path` is not one), with its security
/// headers. Only GET and HEAD are allowed (405 otherwise).
pub fn serve(method: &Method, path: &str) -> Option<ApiResponse> {
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
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
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
        assert!(serve(&Method::GET, "/api/v1/account").is_none());
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
}
