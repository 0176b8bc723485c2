//! The dashboard's function (`run_dashboard`): its answers, the media origin it is given
//! and the presigned links that origin must match.

use crate::lambda_events::SAMPLE_MEDIA_ORIGIN;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use lambda_http::{Body, Request};
use reelforge_app::dashboard::{MediaOrigin, CSP};
use reelforge_core::ports::MediaStore;
use reelforge_lambda::{dashboard_media_origin, handle_dashboard, MEDIA_ORIGIN_VAR};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The dashboard's sample event, made a `method` request for `path`.
fn request(method: &str, path: &str) -> Request {
    let text = std::fs::read_to_string(root().join("events/api-dashboard.json")).unwrap();
    let mut raw: Value = serde_json::from_str(&text).unwrap();
    raw["rawPath"] = path.into();
    raw["requestContext"]["http"]["method"] = method.into();
    raw["requestContext"]["http"]["path"] = path.into();
    let raw: lambda_http::request::LambdaRequest = serde_json::from_value(raw).unwrap();
    Request::from(raw)
}

fn origin() -> MediaOrigin {
    dashboard_media_origin(Some(SAMPLE_MEDIA_ORIGIN))
        .unwrap()
        .unwrap()
}

fn policy(resp: &lambda_http::Response<Body>) -> &str {
    resp.headers()["content-security-policy"].to_str().unwrap()
}

#[test]
fn the_page_carries_a_policy_with_the_configured_media_origin() {
    let origin = origin();
    for path in ["/", "/index.html"] {
        let resp = handle_dashboard(Some(&origin), &request("GET", path));
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(
            policy(&resp),
            reelforge_app::dashboard::policy(Some(&origin))
        );
        assert!(policy(&resp).contains(&format!("media-src 'self' {SAMPLE_MEDIA_ORIGIN};")));
        assert_eq!(resp.headers()["x-frame-options"], "DENY");
    }
    // Without an origin: exactly the policy `reelforge serve` sends.
    let resp = handle_dashboard(None, &request("GET", "/"));
    assert_eq!(policy(&resp), CSP);
}

#[test]
fn assets_have_their_types_and_head_has_no_body() {
    let origin = origin();
    for (path, content_type) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/app.css", "text/css; charset=utf-8"),
        ("/icon.svg", "image/svg+xml"),
    ] {
        let resp = handle_dashboard(Some(&origin), &request("GET", path));
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], content_type, "{path}");
        assert!(!resp.body().is_empty(), "{path}");
        assert!(policy(&resp).contains(SAMPLE_MEDIA_ORIGIN));
    }
    let head = handle_dashboard(Some(&origin), &request("HEAD", "/app.js"));
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(head.body().is_empty());
}

#[test]
fn other_methods_are_405_and_other_paths_the_apis_404() {
    let origin = origin();
    let resp = handle_dashboard(Some(&origin), &request("POST", "/"));
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD");
    assert!(policy(&resp).contains(SAMPLE_MEDIA_ORIGIN));
    for path in ["/nothing-here", "/api/v1/account", "/app.js/x"] {
        let resp = handle_dashboard(Some(&origin), &request("GET", path));
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"success": false, "error": "Not found"})
        );
    }
}

/// A value that is not an origin fails the function at cold start (`run_dashboard`
/// returns this error before polling for requests); unset or empty is the same-origin
/// policy.
#[test]
fn a_bad_media_origin_is_refused_and_none_is_the_same_origin_policy() {
    assert_eq!(dashboard_media_origin(None).unwrap(), None);
    assert_eq!(dashboard_media_origin(Some("")).unwrap(), None);
    for bad in [
        "http://bucket.s3.us-east-1.amazonaws.com",
        "https://bucket.s3.us-east-1.amazonaws.com/videos",
        "https://bucket.s3.us-east-1.amazonaws.com; script-src *",
        "https://bucket.s3.us-east-1.amazonaws.com 'unsafe-inline'",
        "https://*",
        "bucket.s3.us-east-1.amazonaws.com",
    ] {
        let refused = dashboard_media_origin(Some(bad)).expect_err(bad);
        assert!(
            refused.to_string().starts_with(MEDIA_ORIGIN_VAR),
            "{refused}"
        );
    }
}

/// The template's `REELFORGE_MEDIA_ORIGIN` (its `!Sub` filled in for a bucket and region)
/// is the origin of the links the S3 adapter presigns on AWS (no endpoint override:
/// virtual-hosted style, the regional endpoint), so the policy allows exactly where the
/// videos and thumbnails are. Presigning is local: no request is sent.
#[tokio::test]
async fn the_templates_media_origin_is_the_origin_of_presigned_links() {
    let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let sub = template
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(&format!("{MEDIA_ORIGIN_VAR}: !Sub "))
                .map(|v| v.trim_matches('"').to_string())
        })
        .expect("REELFORGE_MEDIA_ORIGIN: !Sub \"…\" in template.yaml");
    for region in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
        let bucket = format!("reelforge-prod-media-123456789012-{region}");
        let expected = sub
            .replace("${MediaBucket}", &bucket)
            .replace("${AWS::Region}", region)
            .replace("${AWS::URLSuffix}", "amazonaws.com");
        assert!(!expected.contains("${"), "{sub}: unknown substitution");
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            )))
            .build();
        let media = reelforge_aws::s3::S3Media::new(reelforge_aws::s3::s3_client(&config), &bucket);
        let link = media
            .download_url("videos/c/v.mp4", Duration::from_secs(60))
            .await
            .expect("presigned");
        assert!(
            link.starts_with(&format!("{expected}/videos/c/v.mp4?")),
            "{link} is not under {expected}"
        );
        let parsed = dashboard_media_origin(Some(&expected)).unwrap().unwrap();
        assert_eq!(parsed.as_str(), expected);
    }
    assert_eq!(
        sub.replace(
            "${MediaBucket}",
            "reelforge-prod-media-123456789012-us-east-1"
        )
        .replace("${AWS::Region}", "us-east-1")
        .replace("${AWS::URLSuffix}", "amazonaws.com"),
        SAMPLE_MEDIA_ORIGIN
    );
}
