//! The dashboard's function (`api-dashboard`, docs/dashboard.md): the embedded assets
//! (`reelforge_app::dashboard`) on the same HTTP API as `/api/v1`, so the page and the
//! API share one origin. No store, no queue, no AWS SDK: nothing here is built with the
//! `store` feature, and no AWS configuration is loaded.

use crate::{env, to_lambda_response, Error};
use lambda_http::{service_fn, Body, Request, Response};
use reelforge_app::api::ApiResponse;
use reelforge_app::dashboard::{serve_with_media, MediaOrigin};

/// The environment variable holding the media bucket's origin
/// (`https://<bucket>.s3.<region>.amazonaws.com`, set by the template).
pub const MEDIA_ORIGIN_VAR: &str = "REELFORGE_MEDIA_ORIGIN";

/// The media origin the dashboard's policy adds to `img-src` and `media-src`, from
/// [`MEDIA_ORIGIN_VAR`]'s value. Unset or empty: `None`, the same-origin policy of
/// `reelforge serve`. A value that is not an `https://` host-only origin is refused, and
/// [`run_dashboard`] then fails at cold start: it comes from the template, so it is a
/// deployment mistake, and failing makes it loud (every request a 5xx, counted by the
/// function's errors alarm, which rolls a deployment back) where falling back to the
/// same-origin policy would serve a page whose videos and thumbnails the browser
/// silently blocks.
pub fn dashboard_media_origin(value: Option<&str>) -> Result<Option<MediaOrigin>, Error> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => MediaOrigin::parse(v)
            .map(Some)
            .map_err(|why| format!("{MEDIA_ORIGIN_VAR}: {why}").into()),
    }
}

/// One request to the dashboard's function: an asset with its security headers (the
/// policy allowing `media` too), 405 for a method other than GET or HEAD, and the API's
/// 404 for any other path (API Gateway sends it only the dashboard's paths).
pub fn handle_dashboard(media: Option<&MediaOrigin>, req: &Request) -> Response<Body> {
    let resp = serve_with_media(req.method(), req.uri().path(), media)
        .unwrap_or_else(ApiResponse::not_found);
    to_lambda_response(resp)
}

/// Runs the dashboard's function until the runtime stops; fails at cold start when
/// [`MEDIA_ORIGIN_VAR`] is set to something that is not an origin
/// ([`dashboard_media_origin`]).
pub async fn run_dashboard() -> Result<(), Error> {
    let media = dashboard_media_origin(env(MEDIA_ORIGIN_VAR).as_deref())?;
    tracing::info!(media_origin = ?media.as_ref().map(MediaOrigin::as_str), "dashboard policy");
    lambda_http::run(service_fn(move |req: Request| {
        let resp = handle_dashboard(media.as_ref(), &req);
        async move { Ok::<_, Error>(resp) }
    }))
    .await
}
