//! POST /api/v1/estimate (SPEC §9): prices a job without running it. Plan-gated like
//! every route, but not metered by the account's creation window.

use super::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::context::Context;
use http::StatusCode;
use reelforge_core::model::Principal;
use reelforge_core::pricing::{self, parse_estimate_body};

pub(super) async fn estimate(
    _app: &Context,
    req: &ApiRequest,
    principal: &Principal,
) -> ApiResponse {
    if let Some(refused) = super::campaigns::plan_gate(principal) {
        return refused;
    }
    if req.body_too_large || req.body.len() > MAX_BODY_BYTES {
        return ApiResponse::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is larger than 16 KiB",
        );
    }
    match parse_estimate_body(&req.body) {
        Ok(job) => ApiResponse::json(StatusCode::OK, &pricing::estimate(&job).to_json()),
        Err(message) => ApiResponse::error(StatusCode::BAD_REQUEST, &message),
    }
}
