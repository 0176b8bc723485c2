//! Style profiles (SPEC §8): create, read, update and delete under
//! `/api/v1/font-profiles`, `/media-profiles`, `/voice-profiles`, `/playlists` and
//! `/voices`, with the user-data seed's field names. Every body is validated by the
//! `styles` types before anything is stored; voice profiles' provider keys are sealed
//! before they are stored and only ever shown masked.

use super::auth::store_failure;
use super::campaigns::plan_gate;
use super::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::context::Context;
use http::{Method, StatusCode};
use reelforge_core::model::Principal;
use reelforge_core::ports::{ProfileRecord, StoreError};
use reelforge_core::styles::{
    FontProfile, MediaProfile, Playlist, ProfileError, SecretOwner, Voice, VoiceProfile,
    VoiceProfileInput,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

/// Records of one kind an account may keep.
pub const MAX_PER_KIND: u32 = 50;

/// One kind of profile: its URL segment, stored kind, id prefix and JSON names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Font,
    Media,
    Voice,
    Playlist,
    VoiceEntry,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Font,
        Kind::Media,
        Kind::Voice,
        Kind::Playlist,
        Kind::VoiceEntry,
    ];

    pub fn from_segment(segment: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.segment() == segment)
    }

    /// The URL segment under `/api/v1`.
    pub fn segment(self) -> &'static str {
        match self {
            Kind::Font => "font-profiles",
            Kind::Media => "media-profiles",
            Kind::Voice => "voice-profiles",
            Kind::Playlist => "playlists",
            Kind::VoiceEntry => "voices",
        }
    }

    /// The stored kind, and the JSON name of one record.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Font => "font_profile",
            Kind::Media => "media_profile",
            Kind::Voice => "voice_profile",
            Kind::Playlist => "playlist",
            Kind::VoiceEntry => "voice",
        }
    }

    /// The JSON name of a list (and of the account overview's field).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Font => "font_profiles",
            Kind::Media => "media_profiles",
            Kind::Voice => "voice_profiles",
            Kind::Playlist => "playlists",
            Kind::VoiceEntry => "voices",
        }
    }

    fn id_field(self) -> String {
        format!("{}_id", self.name())
    }

    fn id_prefix(self) -> &'static str {
        match self {
            Kind::Font => "fp_",
            Kind::Media => "mp_",
            Kind::Voice => "vp_",
            Kind::Playlist => "pl_",
            Kind::VoiceEntry => "vo_",
        }
    }
}

/// What a client sees of a stored record: its fields (a voice profile's key masked) and
/// its id under the seed's name.
pub fn record_json(kind: Kind, record: &ProfileRecord) -> Value {
    let mut body = match kind {
        Kind::Voice => serde_json::from_value::<VoiceProfile>(record.doc.clone())
            .map(|p| serde_json::to_value(p.view()).unwrap_or(Value::Null))
            .unwrap_or(Value::Null),
        _ => record.doc.clone(),
    };
    if let Value::Object(map) = &mut body {
        map.insert(kind.id_field(), json!(record.id));
        map.insert("disabled".into(), json!(false));
        map.insert(
            "created_at".into(),
            json!(record
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        map.insert(
            "updated_at".into(),
            json!(record
                .updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
    }
    body
}

fn bad_request(message: &str) -> ApiResponse {
    ApiResponse::error(StatusCode::BAD_REQUEST, message)
}

fn not_found(kind: Kind) -> ApiResponse {
    ApiResponse::error(
        StatusCode::NOT_FOUND,
        &format!("{} not found", kind.name().replace('_', " ")),
    )
}

/// The body as `T`; `Err` is the message of a 400.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| "Request body must be a JSON object".to_string())?;
    if !value.is_object() {
        return Err("Request body must be a JSON object".into());
    }
    // serde's message names the field and what was expected, never internals.
    serde_json::from_value(value).map_err(|e| format!("Invalid body: {e}"))
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

fn internal(e: String) -> ApiResponse {
    tracing::error!(error = %e, "profile serialisation failed");
    ApiResponse::internal()
}

fn invalid(e: ProfileError) -> ApiResponse {
    bad_request(&e.to_string())
}

/// The document to store for `kind` from a request body, validated; references to other
/// records (a playlist's profiles, a voice's voice profile) must exist in the account.
async fn document(
    app: &Context,
    principal: &Principal,
    kind: Kind,
    id: &str,
    body: &[u8],
) -> Result<Value, ApiResponse> {
    match kind {
        Kind::Font => {
            let p: FontProfile = parse(body).map_err(|m| bad_request(&m))?;
            p.validate().map_err(invalid)?;
            to_value(&p).map_err(internal)
        }
        Kind::Media => {
            let p: MediaProfile = parse(body).map_err(|m| bad_request(&m))?;
            p.validate().map_err(invalid)?;
            // Files are set by their upload routes only; a body may repeat the stored
            // keys (a GET sent back) but never name another file.
            let stored = existing_media(app, principal, id).await?;
            for (field, given, kept, route) in [
                (
                    "watermark_path",
                    &p.watermark_key,
                    stored.as_ref().and_then(|m| m.watermark_key.clone()),
                    "watermark",
                ),
                (
                    "end_clip_path",
                    &p.end_clip_key,
                    stored.as_ref().and_then(|m| m.end_clip_key.clone()),
                    "end-clip",
                ),
                (
                    "music",
                    // "default" (the built-in bed) is a choice, not a file.
                    &p.music
                        .clone()
                        .filter(|m| m != reelforge_core::styles::DEFAULT_MUSIC),
                    stored
                        .as_ref()
                        .and_then(|m| m.music.clone())
                        .filter(|m| m != reelforge_core::styles::DEFAULT_MUSIC),
                    "music",
                ),
            ] {
                if given.is_some() && *given != kept {
                    return Err(bad_request(&format!(
                        "{field} is set by uploading the file: PUT /api/v1/media-profiles/{{id}}/{route}"
                    )));
                }
            }
            to_value(&p).map_err(internal)
        }
        Kind::Voice => {
            let input: VoiceProfileInput = parse(body).map_err(|m| bad_request(&m))?;
            input.validate().map_err(invalid)?;
            let owner = SecretOwner::new(&principal.account_id, id);
            let sealed = input.seal(&*app.sealer, &owner).await.map_err(|e| {
                tracing::error!(error = %e, "sealing a provider key failed");
                ApiResponse::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Provider keys can't be stored right now",
                )
            })?;
            to_value(&sealed).map_err(internal)
        }
        Kind::Playlist => {
            let p: Playlist = parse(body).map_err(|m| bad_request(&m))?;
            p.validate().map_err(invalid)?;
            for (field, reference, of) in [
                ("font_profile_id", &p.font_profile_id, Kind::Font),
                ("media_profile_id", &p.media_profile_id, Kind::Media),
                ("voice_profile_id", &p.voice_profile_id, Kind::Voice),
            ] {
                if let Some(reference) = reference {
                    exists(app, principal, of, field, reference).await?;
                }
            }
            to_value(&p).map_err(internal)
        }
        Kind::VoiceEntry => {
            let v: Voice = parse(body).map_err(|m| bad_request(&m))?;
            v.validate().map_err(invalid)?;
            exists(
                app,
                principal,
                Kind::Voice,
                "voice_profile_id",
                &v.voice_profile_id,
            )
            .await?;
            to_value(&v).map_err(internal)
        }
    }
}

/// The stored media profile `id` of the account, if there is one.
async fn existing_media(
    app: &Context,
    principal: &Principal,
    id: &str,
) -> Result<Option<MediaProfile>, ApiResponse> {
    match app
        .ports
        .profiles
        .get_profile(&principal.account_id, Kind::Media.name(), id)
        .await
    {
        Ok(Some(r)) => Ok(serde_json::from_value(r.doc).ok()),
        Ok(None) => Ok(None),
        Err(e) => Err(store_failure(&e)),
    }
}

async fn exists(
    app: &Context,
    principal: &Principal,
    kind: Kind,
    field: &str,
    id: &str,
) -> Result<(), ApiResponse> {
    match app
        .ports
        .profiles
        .get_profile(&principal.account_id, kind.name(), id)
        .await
    {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(bad_request(&format!("{field} {id:?} does not exist"))),
        Err(e) => Err(store_failure(&e)),
    }
}

/// The checks every profile-store route makes first: the plan has API access, and the
/// body fits the JSON limit.
pub(super) fn admit(req: &ApiRequest, principal: &Principal) -> Option<ApiResponse> {
    if let Some(refused) = plan_gate(principal) {
        return Some(refused);
    }
    if req.body_too_large || req.body.len() > MAX_BODY_BYTES {
        return Some(ApiResponse::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is larger than 16 KiB",
        ));
    }
    None
}

/// `/api/v1/{kind}` and `/api/v1/{kind}/{id}`.
pub(super) async fn route(
    app: &Context,
    req: &ApiRequest,
    principal: &Principal,
    kind: Kind,
    id: Option<&str>,
) -> ApiResponse {
    if let Some(refused) = admit(req, principal) {
        return refused;
    }
    let profiles = &app.ports.profiles;
    let account = principal.account_id.as_str();
    match (id, &req.method) {
        (None, &Method::GET) => match profiles.list_profiles(account, kind.name()).await {
            Ok(records) => ApiResponse::json(
                StatusCode::OK,
                &json!({
                    "success": true,
                    kind.plural(): records.iter().map(|r| record_json(kind, r)).collect::<Vec<_>>(),
                }),
            ),
            Err(e) => store_failure(&e),
        },
        (None, &Method::POST) => {
            let id = reelforge_core::ids::ordered_id(kind.id_prefix());
            let doc = match document(app, principal, kind, &id, &req.body).await {
                Ok(d) => d,
                Err(resp) => return resp,
            };
            let now = app.clock.now();
            let record = ProfileRecord {
                account_id: account.to_string(),
                kind: kind.name().to_string(),
                id,
                doc,
                created_at: now,
                updated_at: now,
            };
            match profiles.create_profile(&record, MAX_PER_KIND).await {
                Ok(()) => ApiResponse::json(
                    StatusCode::CREATED,
                    &json!({"success": true, kind.name(): record_json(kind, &record)}),
                ),
                Err(StoreError::LimitReached(_)) => ApiResponse::error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "An account can keep at most {MAX_PER_KIND} {}",
                        kind.plural().replace('_', " ")
                    ),
                ),
                Err(e) => store_failure(&e),
            }
        }
        (None, _) => ApiResponse::method_not_allowed("GET, POST"),
        (Some(id), &Method::GET) => match profiles.get_profile(account, kind.name(), id).await {
            Ok(Some(r)) => ApiResponse::json(
                StatusCode::OK,
                &json!({"success": true, kind.name(): record_json(kind, &r)}),
            ),
            Ok(None) => not_found(kind),
            Err(e) => store_failure(&e),
        },
        (Some(id), &Method::PUT) => {
            let existing = match profiles.get_profile(account, kind.name(), id).await {
                Ok(Some(r)) => r,
                Ok(None) => return not_found(kind),
                Err(e) => return store_failure(&e),
            };
            let doc = match document(app, principal, kind, id, &req.body).await {
                Ok(d) => d,
                Err(resp) => return resp,
            };
            let record = ProfileRecord {
                doc: keep_sealed_key(kind, &existing.doc, doc, &req.body),
                updated_at: app.clock.now(),
                ..existing
            };
            match profiles.replace_profile(&record).await {
                Ok(true) => ApiResponse::json(
                    StatusCode::OK,
                    &json!({"success": true, kind.name(): record_json(kind, &record)}),
                ),
                Ok(false) => not_found(kind),
                Err(e) => store_failure(&e),
            }
        }
        (Some(id), &Method::DELETE) => {
            match profiles.delete_profile(account, kind.name(), id).await {
                Ok(true) => {
                    if kind == Kind::Media {
                        // Its uploads go with it: nothing else can name them, and a
                        // customer who deletes a profile expects its files gone.
                        for key in reelforge_core::media_key::upload_keys(account, id) {
                            if let Err(e) = app.ports.media.delete_media(&key).await {
                                // The record is gone; say so, and leave the file for a
                                // retry of the delete, which finds no record (404): log it.
                                tracing::error!(error = %e, key, "deleting an upload of a deleted media profile failed");
                                return ApiResponse::internal();
                            }
                        }
                    }
                    ApiResponse::json(StatusCode::OK, &json!({"success": true, "deleted": id}))
                }
                Ok(false) => not_found(kind),
                Err(e) => store_failure(&e),
            }
        }
        (Some(_), _) => ApiResponse::method_not_allowed("GET, PUT, DELETE"),
    }
}

/// An update of a voice profile that leaves `api_key` out (or null) keeps the stored,
/// sealed key — the client never gets it back to send again; `"api_key": ""` removes it.
/// An update of a media profile keeps its uploaded files.
fn keep_sealed_key(kind: Kind, old: &Value, mut new: Value, raw_body: &[u8]) -> Value {
    if kind == Kind::Media {
        if let Value::Object(map) = &mut new {
            for field in ["watermark_key", "end_clip_key"] {
                if map.get(field).is_none_or(Value::is_null) {
                    if let Some(kept) = old.get(field) {
                        map.insert(field.into(), kept.clone());
                    }
                }
            }
        }
        return new;
    }
    if kind != Kind::Voice {
        return new;
    }
    let sent = serde_json::from_slice::<Value>(raw_body)
        .ok()
        .and_then(|v| v.get("api_key").cloned())
        .filter(|v| !v.is_null());
    if sent.is_none() {
        if let (Some(key), Value::Object(new)) = (old.get("api_key"), &mut new) {
            new.insert("api_key".into(), key.clone());
        }
    }
    new
}

/// Every record of every kind, for the account overview.
pub(super) async fn all(app: &Context, account: &str) -> Result<Map<String, Value>, StoreError> {
    let mut out = Map::new();
    for kind in Kind::ALL {
        let records = app
            .ports
            .profiles
            .list_profiles(account, kind.name())
            .await?;
        out.insert(format!("total_{}", kind.plural()), json!(records.len()));
        out.insert(
            kind.plural().to_string(),
            Value::Array(records.iter().map(|r| record_json(kind, r)).collect()),
        );
    }
    Ok(out)
}
