//! GET /api/v1/campaigns (SPEC §11): the caller's campaigns, newest first, a page at a
//! time. Metered by the per-IP layers only (the router's), like every read.

use super::auth::store_failure;
use super::campaigns::plan_gate;
use super::ApiResponse;
use crate::context::Context;
use http::StatusCode;
use reelforge_core::listing::{parse_query, sign_cursor, verify_cursor};
use reelforge_core::model::{Account, Principal};
use reelforge_core::ports::CampaignPosition;
use reelforge_core::views::{campaign_json, video_links, LINK_TTL};
use serde_json::{json, Value};

pub(super) async fn list(app: &Context, principal: &Principal, query: &str) -> ApiResponse {
    if let Some(refused) = plan_gate(principal) {
        return refused;
    }
    let query = match parse_query(query) {
        Ok(q) => q,
        Err(message) => return ApiResponse::error(StatusCode::BAD_REQUEST, &message),
    };
    // The account (for the cursor's key) is read only when a cursor is given or made.
    let mut account: Option<Account> = None;
    let before = match &query.cursor {
        None => None,
        Some(cursor) => {
            let a = match load_account(app, principal).await {
                Ok(a) => a,
                Err(resp) => return resp,
            };
            let secrets = a.signing_secrets(app.clock.now());
            let position = verify_cursor(&secrets, &a.id, cursor);
            account = Some(a);
            match position {
                Some(p) => Some(p),
                None => {
                    return ApiResponse::error(
                        StatusCode::BAD_REQUEST,
                        "cursor is not one this account was given; start again without it",
                    )
                }
            }
        }
    };
    let page = match app
        .ports
        .campaigns
        .list_campaign_page(
            &principal.account_id,
            query.status,
            before.as_ref(),
            query.limit,
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return store_failure(&e),
    };
    let next_cursor = match (page.more, page.campaigns.last()) {
        (true, Some(last)) => {
            let a = match account {
                Some(a) => a,
                None => match load_account(app, principal).await {
                    Ok(a) => a,
                    Err(resp) => return resp,
                },
            };
            Value::String(sign_cursor(
                &a.webhook_secret,
                &a.id,
                &CampaignPosition::of(last),
            ))
        }
        _ => Value::Null,
    };
    let mut campaigns = Vec::with_capacity(page.campaigns.len());
    for c in &page.campaigns {
        let links = match video_links(&*app.ports.media, c, LINK_TTL).await {
            Ok(l) => l,
            Err(e) => return store_failure(&e),
        };
        let mut body = campaign_json(c, &links);
        if let Value::Object(map) = &mut body {
            map.remove("success");
        }
        campaigns.push(body);
    }
    ApiResponse::json(
        StatusCode::OK,
        &json!({"success": true, "campaigns": campaigns, "next_cursor": next_cursor}),
    )
}

async fn load_account(app: &Context, principal: &Principal) -> Result<Account, ApiResponse> {
    match app.ports.accounts.get_account(&principal.account_id).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => {
            tracing::error!(account_id = %principal.account_id, "a valid key's account is missing");
            Err(ApiResponse::internal())
        }
        Err(e) => Err(store_failure(&e)),
    }
}
