//! Watermark and end-clip uploads of a media profile:
//! `PUT /api/v1/media-profiles/:id/watermark` (PNG — the one image format both renderers
//! overlay, MediaConvert's image inserter taking no JPEG — at most 2 MiB, 16–4096 pixels
//! a side) and `PUT /api/v1/media-profiles/:id/end-clip` (MP4, at most 4 MiB, up to 15 s).
//! The body is the file itself. It is checked by its bytes (signature and size; the
//! `Content-Type` must agree; an end clip's running time read from its own MP4 boxes,
//! `core::mp4`, on every backend — Lambda has no ffprobe, and an end clip is appended to
//! every video and billed by the minute), then probed with ffprobe where the server has
//! it (the local server does, as a second check; on AWS the render job also clips the
//! end clip at 15 s), and stored under `uploads/{account}/{profile}/`, which only this
//! account's profile can name.

use super::auth::store_failure;
use super::campaigns::plan_gate;
use super::profiles::{record_json, Kind};
use super::{ApiRequest, ApiResponse};
use crate::context::Context;
use http::{Method, StatusCode};
use reelforge_core::model::Principal;
use reelforge_core::ports::{MAX_END_CLIP_MS, MAX_MUSIC_MS};
use reelforge_core::styles::MediaProfile;
use serde_json::json;

pub use reelforge_core::ports::{MAX_END_CLIP_BYTES, MAX_WATERMARK_BYTES};
const MAX_SIDE: u32 = 4096;
const MIN_SIDE: u32 = 16;

pub use reelforge_core::ports::UploadKind as Upload;

/// What a file's bytes say it is: (extension, content type), or why it is refused.
pub fn sniff(kind: Upload, bytes: &[u8]) -> Result<(&'static str, &'static str), String> {
    match kind {
        Upload::Watermark => {
            let (w, h, ext, ct) = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() >= 24 {
                let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
                let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
                (w, h, "png", "image/png")
            } else {
                return Err("the watermark must be a PNG image".into());
            };
            if !(MIN_SIDE..=MAX_SIDE).contains(&w) || !(MIN_SIDE..=MAX_SIDE).contains(&h) {
                return Err(format!(
                    "the watermark must be {MIN_SIDE} to {MAX_SIDE} pixels a side (it is {w}x{h})"
                ));
            }
            Ok((ext, ct))
        }
        Upload::EndClip => {
            if bytes.len() < 12 || &bytes[4..8] != b"ftyp" {
                return Err("the end clip must be an MP4 video".into());
            }
            let ms = reelforge_core::mp4::duration_ms(bytes).map_err(|e| e.to_string())?;
            if ms > MAX_END_CLIP_MS {
                return Err(format!(
                    "the end clip runs {:.1} s; at most {} s are allowed",
                    ms as f64 / 1000.0,
                    MAX_END_CLIP_MS / 1000
                ));
            }
            Ok(("mp4", "video/mp4"))
        }
        Upload::Music => {
            let (kind, ms) = reelforge_core::sound::measure(bytes).map_err(|e| e.to_string())?;
            if ms > MAX_MUSIC_MS {
                return Err(format!(
                    "the music runs {:.1} s; at most {} s are allowed",
                    ms as f64 / 1000.0,
                    MAX_MUSIC_MS / 1000
                ));
            }
            Ok((kind.extension(), kind.content_type()))
        }
    }
}

pub(super) async fn put(
    app: &Context,
    req: &ApiRequest,
    principal: &Principal,
    profile_id: &str,
    kind: Upload,
) -> ApiResponse {
    if let Some(refused) = plan_gate(principal) {
        return refused;
    }
    if req.method != Method::PUT {
        return ApiResponse::method_not_allowed("PUT");
    }
    if req.body_too_large || req.body.len() > kind.max_bytes() {
        return ApiResponse::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("The file is larger than {} MiB", kind.max_bytes() >> 20),
        );
    }
    let account = principal.account_id.as_str();
    let record = match app
        .ports
        .profiles
        .get_profile(account, Kind::Media.name(), profile_id)
        .await
    {
        Ok(Some(r)) => r,
        Ok(None) => return ApiResponse::error(StatusCode::NOT_FOUND, "media profile not found"),
        Err(e) => return store_failure(&e),
    };
    let bad = |m: &str| ApiResponse::error(StatusCode::BAD_REQUEST, m);
    let (ext, content_type) = match sniff(kind, &req.body) {
        Ok(found) => found,
        Err(m) => return bad(&m),
    };
    let declared = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if declared.as_deref() != Some(content_type) {
        return bad(&format!(
            "Content-Type must be {content_type} for this file"
        ));
    }
    if let Err(reelforge_core::ports::UploadRefused(m)) =
        app.tools.inspector.inspect(kind, &req.body).await
    {
        return bad(&m);
    }
    let name = match kind {
        Upload::Watermark => "watermark",
        Upload::EndClip => "end-clip",
        Upload::Music => "music",
    };
    let key = reelforge_core::media_key::upload_key(account, profile_id, name, ext);
    if let Err(e) = app
        .ports
        .media
        .put_media(&key, req.body.clone(), content_type)
        .await
    {
        return store_failure(&e);
    }
    let mut profile: MediaProfile = match serde_json::from_value(record.doc.clone()) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "stored media profile unreadable");
            return ApiResponse::internal();
        }
    };
    match kind {
        Upload::Watermark => profile.watermark_key = Some(key),
        Upload::EndClip => profile.end_clip_key = Some(key),
        Upload::Music => profile.music = Some(key),
    }
    let updated = reelforge_core::ports::ProfileRecord {
        doc: serde_json::to_value(&profile).unwrap_or(record.doc.clone()),
        updated_at: app.clock.now(),
        ..record
    };
    match app.ports.profiles.replace_profile(&updated).await {
        Ok(true) => ApiResponse::json(
            StatusCode::OK,
            &json!({"success": true, "media_profile": record_json(Kind::Media, &updated)}),
        ),
        Ok(false) => ApiResponse::error(StatusCode::NOT_FOUND, "media profile not found"),
        Err(e) => store_failure(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_by_their_bytes() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&200u32.to_be_bytes());
        png.extend_from_slice(&100u32.to_be_bytes());
        assert_eq!(sniff(Upload::Watermark, &png), Ok(("png", "image/png")));
        let mut huge = png.clone();
        huge[16..20].copy_from_slice(&5000u32.to_be_bytes());
        assert!(sniff(Upload::Watermark, &huge)
            .unwrap_err()
            .contains("5000x100"));
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11,
        ];
        assert!(sniff(Upload::Watermark, &jpeg).unwrap_err().contains("PNG"));
        assert!(sniff(Upload::Watermark, b"GIF89a........................").is_err());
        assert!(sniff(Upload::Watermark, b"<svg onload=alert(1)>").is_err());
        // A signature alone is not enough: the clip's length must be readable.
        assert!(sniff(Upload::EndClip, b"\0\0\0\x10ftypisom\0\0\0\0")
            .unwrap_err()
            .contains("movie header"));
        assert!(sniff(Upload::EndClip, &png).is_err());
    }
}
