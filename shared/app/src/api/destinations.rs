//! Publishing destinations (SPEC §11): `POST`/`GET /api/v1/destinations`,
//! `GET`/`DELETE /api/v1/destinations/:id`. The OAuth client id, client secret and
//! refresh token are sealed before they are stored, exactly as voice-profile provider
//! keys are (the local key file, or KMS with the account and destination as encryption
//! context), and only ever shown masked to their last four characters. They are kept
//! with the account's profiles (kind `destination`), so both backends' profile store and
//! its contract tests carry them.

use super::auth::store_failure;
use super::{ApiRequest, ApiResponse};
use crate::context::Context;
use chrono::SecondsFormat;
use http::{Method, StatusCode};
use reelforge_core::model::Principal;
use reelforge_core::ports::{ProfileRecord, StoreError};
use reelforge_core::publish::{
    Destination, DestinationInput, DESTINATION_ID_PREFIX, DESTINATION_KIND, MAX_DESTINATIONS,
};
use reelforge_core::styles::secrets::{PlainSecret, SecretOwner};
use serde_json::{json, Map, Value};

const FIELDS: [&str; 6] = [
    "provider",
    "name",
    "client_id",
    "client_secret",
    "refresh_token",
    "privacy",
];

fn bad_request(message: &str) -> ApiResponse {
    ApiResponse::error(StatusCode::BAD_REQUEST, message)
}

fn not_found() -> ApiResponse {
    ApiResponse::error(StatusCode::NOT_FOUND, "Destination not found")
}

/// What a client sees of a stored destination: its id, fields, credentials masked.
fn view(record: &ProfileRecord) -> Value {
    let Ok(destination) = serde_json::from_value::<Destination>(record.doc.clone()) else {
        return json!({"destination_id": record.id});
    };
    let mut body = serde_json::to_value(destination.view()).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut body {
        map.insert("destination_id".into(), json!(record.id));
        map.insert(
            "created_at".into(),
            json!(record.created_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
        map.insert(
            "updated_at".into(),
            json!(record.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
    }
    body
}

/// The body as a destination, field by field: a wrong type is named without echoing
/// the value (it may be a secret).
/// `Err` is the message of a 400.
fn input(body: &[u8]) -> Result<DestinationInput, String> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err("Request body must be a JSON object".into());
    };
    if let Some(k) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let shown: String = k.chars().take(40).collect();
        return Err(format!(
            "Unknown field {shown:?}; allowed: {}",
            FIELDS.join(", ")
        ));
    }
    let text = |map: &Map<String, Value>, field: &str| -> Result<Option<String>, String> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{field} must be a string")),
        }
    };
    let required = |field: &str| -> Result<String, String> {
        text(&map, field)?.ok_or_else(|| format!("{field} is required"))
    };
    Ok(DestinationInput {
        provider: required("provider")?,
        name: required("name")?,
        client_id: PlainSecret::new(required("client_id")?),
        client_secret: PlainSecret::new(required("client_secret")?),
        refresh_token: PlainSecret::new(required("refresh_token")?),
        privacy: text(&map, "privacy")?,
    })
}

/// `/api/v1/destinations` and `/api/v1/destinations/:id`.
pub(super) async fn route(
    app: &Context,
    req: &ApiRequest,
    principal: &Principal,
    id: Option<&str>,
) -> ApiResponse {
    if let Some(refused) = super::profiles::admit(req, principal) {
        return refused;
    }
    let profiles = &app.ports.profiles;
    let account = principal.account_id.as_str();
    match (id, &req.method) {
        (None, &Method::GET) => match profiles.list_profiles(account, DESTINATION_KIND).await {
            Ok(records) => ApiResponse::json(
                StatusCode::OK,
                &json!({
                    "success": true,
                    "destinations": records.iter().map(view).collect::<Vec<_>>(),
                }),
            ),
            Err(e) => store_failure(&e),
        },
        (None, &Method::POST) => create(app, req, principal).await,
        (None, _) => ApiResponse::method_not_allowed("GET, POST"),
        (Some(id), &Method::GET) => match profiles.get_profile(account, DESTINATION_KIND, id).await
        {
            Ok(Some(r)) => ApiResponse::json(StatusCode::OK, &with_success(view(&r))),
            Ok(None) => not_found(),
            Err(e) => store_failure(&e),
        },
        (Some(id), &Method::DELETE) => {
            match profiles.delete_profile(account, DESTINATION_KIND, id).await {
                Ok(true) => {
                    ApiResponse::json(StatusCode::OK, &json!({"success": true, "deleted": id}))
                }
                Ok(false) => not_found(),
                Err(e) => store_failure(&e),
            }
        }
        (Some(_), _) => ApiResponse::method_not_allowed("GET, DELETE"),
    }
}

fn with_success(mut body: Value) -> Value {
    if let Value::Object(map) = &mut body {
        map.insert("success".into(), json!(true));
    }
    body
}

async fn create(app: &Context, req: &ApiRequest, principal: &Principal) -> ApiResponse {
    let input = match input(&req.body) {
        Ok(i) => i,
        Err(message) => return bad_request(&message),
    };
    if let Err(e) = input.validate() {
        return bad_request(&e.0);
    }
    let id = reelforge_core::ids::ordered_id(DESTINATION_ID_PREFIX);
    let owner = SecretOwner::new(&principal.account_id, &id);
    let destination = match input.seal(&*app.sealer, &owner).await {
        Ok(d) => d,
        Err(e) => {
            // The error names the sealer's failure, never the secret.
            tracing::error!(error = %e, "sealing destination credentials failed");
            return ApiResponse::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Destination credentials can't be stored right now",
            );
        }
    };
    let doc = match serde_json::to_value(&destination) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "destination serialisation failed");
            return ApiResponse::internal();
        }
    };
    let now = app.clock.now();
    let record = ProfileRecord {
        account_id: principal.account_id.clone(),
        kind: DESTINATION_KIND.to_string(),
        id,
        doc,
        created_at: now,
        updated_at: now,
    };
    match app
        .ports
        .profiles
        .create_profile(&record, MAX_DESTINATIONS)
        .await
    {
        Ok(()) => {
            tracing::info!(destination_id = %record.id, provider = %destination.provider, "destination created");
            ApiResponse::json(StatusCode::CREATED, &with_success(view(&record)))
        }
        Err(StoreError::LimitReached(_)) => bad_request(&format!(
            "An account can keep at most {MAX_DESTINATIONS} destinations"
        )),
        Err(e) => store_failure(&e),
    }
}
