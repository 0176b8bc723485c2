//! The IP layers and the key check (SPEC §1, §3). Missing and malformed credentials are
//! judged without touching the store and count only in the unauthenticated layer. A
//! well-formed key is metered by the authenticated layer *before* its lookup, so no store
//! read happens ahead of an IP check; if the lookup then finds it unknown or revoked, the
//! request is also charged to the unauthenticated layer (10/min), which caps key guessing.

use super::{ApiRequest, ApiResponse};
use crate::context::Context;
use http::StatusCode;
use reelforge_core::keys::{self, Credential};
use reelforge_core::limiter::{self, IP_AUTHENTICATED_LIMIT, IP_UNAUTHENTICATED_LIMIT, WINDOW_MS};
use reelforge_core::model::Principal;
use reelforge_core::ports::StoreError;
use std::net::IpAddr;

/// The client a per-IP window counts: an IPv4 address, or an IPv6 client's /64. One
/// IPv6 subscriber is routinely handed a whole /64 (SLAAC, privacy addresses), so
/// counting single IPv6 addresses would give each client 2^64 windows. An IPv4-mapped
/// IPv6 address is its IPv4 address.
pub(super) fn client_key(ip: Option<IpAddr>) -> String {
    match ip {
        None => "unknown".to_string(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Admits through one window or returns the response that refuses the request.
pub(super) async fn admit(
    app: &Context,
    key: &str,
    limit: u32,
) -> Result<limiter::Decision, ApiResponse> {
    let now = app.clock.now_ms();
    match app.ports.windows.admit(key, limit, WINDOW_MS, now).await {
        Ok(d) if d.admitted => Ok(d),
        Ok(d) => Err(ApiResponse::too_many_requests(&d, now)),
        Err(e) => {
            tracing::error!(error = %e, window = key, "rate limiter store failed");
            Err(ApiResponse::limiter_unavailable())
        }
    }
}

async fn refuse_unauthenticated(app: &Context, ip: &str, message: &str) -> ApiResponse {
    match admit(
        app,
        &limiter::ip_window_key(false, ip),
        IP_UNAUTHENTICATED_LIMIT,
    )
    .await
    {
        Ok(_) => ApiResponse::error(StatusCode::UNAUTHORIZED, message),
        Err(resp) => resp,
    }
}

/// A store failure outside the limiter: our fault, safe to retry (SPEC §7 keeps 503 for
/// the limiter's store).
pub(super) fn store_failure(e: &StoreError) -> ApiResponse {
    tracing::error!(error = %e, "store call failed");
    ApiResponse::internal()
}

pub(super) async fn authenticate(
    app: &Context,
    req: &ApiRequest,
) -> Result<Principal, ApiResponse> {
    let ip = client_key(req.source_ip);
    let key = match keys::credential(&req.headers) {
        Credential::Missing => {
            return Err(refuse_unauthenticated(
                app,
                &ip,
                "Missing API key: send Authorization: Bearer sk_live_…",
            )
            .await)
        }
        Credential::Malformed => {
            return Err(refuse_unauthenticated(app, &ip, "Invalid API key").await)
        }
        Credential::Key(k) => k,
    };
    admit(
        app,
        &limiter::ip_window_key(true, &ip),
        IP_AUTHENTICATED_LIMIT,
    )
    .await?;
    let principal = app
        .ports
        .keys
        .lookup_key(&keys::hash_key(&key))
        .await
        .map_err(|e| store_failure(&e))?;
    match principal {
        None => Err(refuse_unauthenticated(app, &ip, "Invalid API key").await),
        Some(p) if p.revoked => {
            Err(refuse_unauthenticated(app, &ip, "API key has been revoked").await)
        }
        Some(p) => Ok(p),
    }
}
