//! The OpenAPI 3.1 document of the API, built from the code's own lists (statuses,
//! languages, platforms, estimate kinds and their options, profile kinds, plans), served
//! at `GET /api/v1/openapi.json` and checked in as `docs/openapi.json`.
//!
//! It cannot drift from the router: `shared/app/tests/app/openapi.rs` checks that every
//! operation here is answered by `handle` (not the fall-through 404/405) and that every
//! route the router's match arms serve is here, and that `docs/openapi.json` is this
//! document byte for byte; the black-box tests validate every response they receive
//! against it (`reelforge_testkit::openapi`), and `infra/test.sh` runs schemathesis
//! against a local server with it.
//!
//! **Adding a route**: add an [`Op`] in [`operations`] (path, method, operation id,
//! request body, success responses, which error responses it can give) and any new
//! schema in [`schemas`]; then `UPDATE_OPENAPI=1 cargo test -p reelforge-app --test app
//! openapi` rewrites `docs/openapi.json`.

use super::profiles::Kind;
use super::ApiResponse;
use crate::context::Context;
use http::StatusCode;
use reelforge_core::model::{CampaignStatus, DeliveryState, Language, Platform, VideoStatus};
use reelforge_core::plans::Plan;
use reelforge_core::pricing;
use reelforge_core::styles::{OverlayPreset, ProviderId};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// The path the document is served at (without a key; see [`serve`]).
pub const PATH: &str = "/api/v1/openapi.json";

/// Error responses an operation can give besides the ones every keyed operation can
/// (401, 429 from the IP layers, 500, 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadRequest,
    NotFound,
    Conflict,
    TooLarge,
    /// 429 of the account's creation window or the monthly quota (body and headers
    /// differ from the IP layers' 429).
    AccountLimit,
}

/// One operation of the document.
struct Op {
    method: &'static str,
    path: String,
    id: String,
    summary: String,
    tag: &'static str,
    body: Option<Value>,
    params: Vec<Value>,
    ok: Vec<(&'static str, Value)>,
    errors: Vec<Refusal>,
    /// `false` for the one route served without a key.
    keyed: bool,
    description: Option<&'static str>,
}

impl Op {
    fn new(method: &'static str, path: impl Into<String>, id: impl Into<String>) -> Op {
        Op {
            method,
            path: path.into(),
            id: id.into(),
            summary: String::new(),
            tag: "campaigns",
            body: None,
            params: Vec::new(),
            ok: Vec::new(),
            errors: Vec::new(),
            keyed: true,
            description: None,
        }
    }
    fn summary(mut self, s: impl Into<String>) -> Op {
        self.summary = s.into();
        self
    }
    fn tag(mut self, t: &'static str) -> Op {
        self.tag = t;
        self
    }
    fn json_body(mut self, schema: Value) -> Op {
        self.body = Some(json!({
            "required": true,
            "content": {"application/json": {"schema": schema}},
        }));
        self.errors.extend([Refusal::BadRequest, Refusal::TooLarge]);
        self
    }
    fn id_param(mut self, what: &str) -> Op {
        self.params.push(json!({
            "name": "id", "in": "path", "required": true,
            "description": format!("The {what}'s id"),
            "schema": {"type": "string", "minLength": 1},
        }));
        self.errors.push(Refusal::NotFound);
        self
    }
    fn optional_json_body(mut self, schema: Value) -> Op {
        self.body = Some(json!({
            "required": false,
            "content": {"application/json": {"schema": schema}},
        }));
        self.errors.extend([Refusal::BadRequest, Refusal::TooLarge]);
        self
    }
    fn path_param(mut self, name: &str, description: &str) -> Op {
        self.params.push(json!({
            "name": name, "in": "path", "required": true,
            "description": description,
            "schema": {"type": "string", "minLength": 1},
        }));
        self
    }
    fn query_param(mut self, name: &str, schema: Value, description: &str) -> Op {
        self.params.push(json!({
            "name": name, "in": "query", "required": false,
            "description": description, "schema": schema,
        }));
        self
    }
    fn ok(mut self, status: &'static str, response: Value) -> Op {
        self.ok.push((status, response));
        self
    }
    fn errors(mut self, e: &[Refusal]) -> Op {
        self.errors.extend_from_slice(e);
        self
    }
    fn describe(mut self, d: &'static str) -> Op {
        self.description = Some(d);
        self
    }
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn response(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn header(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

/// A JSON response of `schema_name`, with the scopes header every keyed answer carries.
fn ok_json(description: &str, schema_name: &str) -> Value {
    json!({
        "description": description,
        "headers": {"X-Clipus-Api-Scopes": header("ScopesRequired")},
        "content": {"application/json": {"schema": schema(schema_name)}},
    })
}

fn strings<T: ToString>(items: impl IntoIterator<Item = T>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|i| Value::String(i.to_string()))
            .collect(),
    )
}

/// Every operation the router answers, in the document's order.
fn operations() -> Vec<Op> {
    use Refusal::*;
    let mut ops = vec![
        Op::new("get", PATH, "getOpenApi")
            .summary("This document")
            .tag("meta")
            .describe(
                "Served without a key. Every request for it counts in the unauthenticated \
                 per-IP window (10/min) whatever credentials it carries: keys are not looked \
                 up for it, so it never reads the store for a key, and a key holder is never \
                 metered more loosely than the contract allows.",
            )
            .ok(
                "200",
                json!({
                    "description": "The OpenAPI 3.1 document",
                    "headers": {"Cache-Control": header("CacheControl")},
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }),
            ),
        Op::new("post", "/api/v1/campaigns", "createCampaign")
            .summary("Create a campaign (SPEC §4)")
            .describe(
                "Order of checks: IP limit, key, plan (403), scope, body size (413), \
                 idempotent replay, body (400), account rate (429), monthly quota (429), \
                 create. Every response after the key check carries X-RateLimit-Plan and \
                 X-RateLimit-Limit.",
            )
            .json_body(schema("CreateCampaign"))
            .ok(
                "201",
                json!({
                    "description": "Created; a replay of an Idempotency-Key returns the first 201 again with Idempotent-Replayed: true",
                    "headers": {
                        "X-Clipus-Api-Scopes": header("ScopesRequired"),
                        "X-RateLimit-Plan": header("PlanRequired"),
                        "X-RateLimit-Limit": header("LimitRequired"),
                        "X-RateLimit-Remaining": header("Remaining"),
                        "X-RateLimit-Reset": header("Reset"),
                        "Idempotent-Replayed": header("IdempotentReplayed"),
                    },
                    "content": {"application/json": {"schema": schema("CampaignCreated")}},
                }),
            )
            .errors(&[Conflict, AccountLimit]),
        Op::new("get", "/api/v1/campaigns", "listCampaigns")
            .summary("The account's campaigns, newest first (SPEC §11)")
            .describe(
                "Paged by an opaque cursor bound to the account: a page never repeats or \
                 skips a campaign, however many are created meanwhile. An unknown query \
                 parameter, a bad status or limit, or a cursor this account was not given \
                 is a 400. Metered by the per-IP layers only.",
            )
            .query_param("status", json!({"enum": strings(CampaignStatus::ALL.iter())}), "Only campaigns in this status")
            .query_param("limit", json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}), "Campaigns per page")
            .query_param("cursor", json!({"type": "string"}), "The previous page's next_cursor")
            .ok("200", ok_json("One page", "CampaignPage"))
            .errors(&[BadRequest]),
        Op::new("get", "/api/v1/campaigns/{id}", "getCampaign")
            .summary("A campaign's status and videos (SPEC §5)")
            .describe(
                "Unknown, malformed and other accounts' ids get the same 404. `file_url` is \
                 a time-limited link (1 h); it stops working once the video has expired \
                 under the deployment's retention (docs/deploy.md).",
            )
            .id_param("campaign")
            .ok("200", ok_json("The campaign", "Campaign")),
        Op::new(
            "put",
            "/api/v1/campaigns/{id}/videos/{video_id}/script",
            "editScript",
        )
        .summary("Replace one video's script in review; it is spoken and rendered again (SPEC §11)")
        .describe(
            "1–1,500 characters in the video's language's writing system; at most 5 edits \
             per video. The previous file stays downloadable until the new one is ready, \
             then `video.ready` is sent. Counts in the account's creation window, not in \
             the monthly quota.",
        )
        .id_param("campaign")
        .path_param("video_id", "The video's id")
        .json_body(schema("ScriptEdit"))
        .ok(
            "202",
            json!({
                "description": "Accepted: the video is rendering again",
                "headers": {
                    "X-Clipus-Api-Scopes": header("ScopesRequired"),
                    "X-RateLimit-Plan": header("Plan"),
                    "X-RateLimit-Limit": header("Limit"),
                },
                "content": {"application/json": {"schema": schema("ScriptEditAccepted")}},
            }),
        )
        .errors(&[Conflict, AccountLimit]),
        Op::new("post", "/api/v1/campaigns/{id}/publish", "publishCampaign")
            .summary("Publish the campaign's videos, to destinations or by the customer (SPEC §11)")
            .describe(
                "From review only. Without destinations the chosen videos are marked \
                 published at once; with destinations each video is uploaded to each and \
                 the campaign is published when every publication has finished. A repeat \
                 returns 202 with the same state and uploads nothing twice.",
            )
            .id_param("campaign")
            .optional_json_body(schema("PublishRequest"))
            .ok("202", ok_json("Accepted: the campaign's state", "Campaign"))
            .errors(&[Conflict]),
        Op::new(
            "get",
            "/api/v1/campaigns/{id}/webhook-deliveries",
            "listWebhookDeliveries",
        )
        .summary("The webhook delivery log: every attempt")
        .tag("webhooks")
        .id_param("campaign")
        .ok("200", ok_json("The delivery log", "Deliveries")),
        Op::new(
            "post",
            "/api/v1/campaigns/{id}/webhook-deliveries/redeliver",
            "redeliverWebhook",
        )
        .summary("Send the terminal event again (same event id; metered like creation)")
        .tag("webhooks")
        .id_param("campaign")
        .ok(
            "202",
            json!({
                "description": "Queued again",
                "headers": {
                    "X-Clipus-Api-Scopes": header("ScopesRequired"),
                    "X-RateLimit-Plan": header("PlanRequired"),
                    "X-RateLimit-Limit": header("LimitRequired"),
                },
                "content": {"application/json": {"schema": schema("Redelivery")}},
            }),
        )
        .errors(&[Conflict, AccountLimit]),
        Op::new("post", "/api/v1/estimate", "estimateCredits")
            .summary("Credits a media job would cost (SPEC §9)")
            .tag("credits")
            .json_body(schema("EstimateRequest"))
            .ok("200", ok_json("The price", "Estimate")),
        Op::new("get", "/api/v1/destinations", "listDestinations")
            .summary("The account's publishing destinations (credentials masked)")
            .tag("destinations")
            .ok("200", ok_json("The list", "DestinationList")),
        Op::new("post", "/api/v1/destinations", "createDestination")
            .summary("Register a YouTube or TikTok destination (secrets sealed, shown masked)")
            .tag("destinations")
            .json_body(schema("DestinationInput"))
            .ok("201", ok_json("Created", "DestinationResult")),
        Op::new("get", "/api/v1/destinations/{id}", "getDestination")
            .summary("One destination")
            .tag("destinations")
            .id_param("destination")
            .ok("200", ok_json("The destination", "DestinationResult")),
        Op::new("delete", "/api/v1/destinations/{id}", "deleteDestination")
            .summary("Delete a destination")
            .tag("destinations")
            .id_param("destination")
            .ok("200", ok_json("Deleted", "Deleted")),
        Op::new("get", "/api/v1/account", "getAccount")
            .summary("The account: plan, usage, totals, keys, profiles, recent videos (SPEC §8)")
            .tag("account")
            .ok("200", ok_json("The account overview", "Account")),
    ];
    for kind in Kind::ALL {
        ops.extend(profile_operations(kind));
    }
    for (file, content_type, what) in [
        (
            "watermark",
            "image/png",
            "a PNG of at most 2 MiB, 16 to 4096 pixels a side",
        ),
        (
            "end-clip",
            "video/mp4",
            "an MP4 of at most 4 MiB and at most 15 s (the length is read from the file's own movie header)",
        ),
        (
            "music",
            "audio/mpeg",
            "an MP3, M4A or WAV music bed of at most 8 MiB (looped or cut to the video, ducked under the voice)",
        ),
    ] {
        let op_id = match file {
            "watermark" => "uploadWatermark",
            "end-clip" => "uploadEndClip",
            _ => "uploadMusic",
        };
        let mut op = Op::new("put", format!("/api/v1/media-profiles/{{id}}/{file}"), op_id)
            .summary(format!("Upload the media profile's {file}: {what}"))
            .tag("profiles")
            .id_param("media profile")
            .ok("200", ok_json("The media profile", "MediaProfileResult"))
            .errors(&[BadRequest, TooLarge]);
        op.body = Some(json!({
            "required": true,
            "content": content_types(file, content_type),
        }));
        ops.push(op);
    }
    ops
}

/// The media types an upload takes (the file's own bytes decide; the header is not read).
fn content_types(file: &str, content_type: &str) -> Value {
    let types: &[&str] = if file == "music" {
        &["audio/mpeg", "audio/mp4", "audio/wav"]
    } else {
        &[content_type]
    };
    let binary = json!({"schema": {"type": "string", "format": "binary"}});
    Value::Object(
        types
            .iter()
            .map(|t| (t.to_string(), binary.clone()))
            .collect(),
    )
}

fn profile_operations(kind: Kind) -> Vec<Op> {
    let base = format!("/api/v1/{}", kind.segment());
    let item = format!("{base}/{{id}}");
    let title = pascal(kind.name());
    let plural = pascal(kind.plural());
    let what = kind.name().replace('_', " ");
    vec![
        Op::new("get", base.clone(), format!("list{plural}"))
            .summary(format!("The account's {}", kind.plural().replace('_', " ")))
            .tag("profiles")
            .ok(
                "200",
                ok_json("The list, oldest first", &format!("{plural}List")),
            ),
        Op::new("post", base, format!("create{title}"))
            .summary(format!("Create a {what} (at most 50 per account)"))
            .tag("profiles")
            .json_body(schema(&format!("{title}Input")))
            .ok("201", ok_json("Created", &format!("{title}Result"))),
        Op::new("get", item.clone(), format!("get{title}"))
            .summary(format!("One {what}"))
            .tag("profiles")
            .id_param(&what)
            .ok("200", ok_json("The record", &format!("{title}Result"))),
        Op::new("put", item.clone(), format!("replace{title}"))
            .summary(format!("Replace a {what}"))
            .tag("profiles")
            .id_param(&what)
            .json_body(schema(&format!("{title}Input")))
            .ok("200", ok_json("The record", &format!("{title}Result"))),
        Op::new("delete", item, format!("delete{title}"))
            .summary(format!(
                "Delete a {what}{}",
                if kind == Kind::Media {
                    " and its uploaded files"
                } else {
                    ""
                }
            ))
            .tag("profiles")
            .id_param(&what)
            .ok("200", ok_json("Deleted", "Deleted")),
    ]
}

/// `font_profile` → `FontProfile`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// (method, path) of every documented operation, as API Gateway writes routes.
pub fn routes() -> Vec<(String, String)> {
    operations()
        .into_iter()
        .map(|op| (op.method.to_uppercase(), op.path))
        .collect()
}

fn error_response(e: Refusal) -> (&'static str, Value) {
    match e {
        Refusal::BadRequest => ("400", response("BadRequest")),
        Refusal::NotFound => ("404", response("NotFound")),
        Refusal::Conflict => ("409", response("Conflict")),
        Refusal::TooLarge => ("413", response("TooLarge")),
        Refusal::AccountLimit => ("429", response("AccountLimit")),
    }
}

/// OpenAPI links from a create's answer to the operations on what it created, so a
/// client (and schemathesis' stateful phase) can follow them: `(operationId, where the
/// id is in the created response's body)` for each operation taking that id.
fn links(op: &Op) -> Option<Value> {
    let (pointer, targets): (String, Vec<String>) = if op.id == "createCampaign" {
        (
            "/campaign_id".into(),
            vec![
                "getCampaign".into(),
                "listWebhookDeliveries".into(),
                "redeliverWebhook".into(),
            ],
        )
    } else {
        let kind = Kind::ALL
            .into_iter()
            .find(|k| op.id == format!("create{}", pascal(k.name())))?;
        let title = pascal(kind.name());
        let mut targets = vec![
            format!("get{title}"),
            format!("replace{title}"),
            format!("delete{title}"),
        ];
        if kind == Kind::Media {
            targets.extend([
                "uploadWatermark".into(),
                "uploadEndClip".into(),
                "uploadMusic".into(),
            ]);
        }
        (format!("/{}/{}_id", kind.name(), kind.name()), targets)
    };
    let mut out = Map::new();
    for target in targets {
        out.insert(
            target.clone(),
            json!({
                "operationId": target,
                "parameters": {"id": format!("$response.body#{pointer}")},
            }),
        );
    }
    Some(Value::Object(out))
}

fn operation_json(op: &Op) -> Value {
    let mut responses = Map::new();
    for (status, r) in &op.ok {
        let mut r = r.clone();
        if status.starts_with('2') {
            if let Some(links) = links(op) {
                r["links"] = links;
            }
        }
        responses.insert((*status).to_string(), r);
    }
    for e in &op.errors {
        let (status, r) = error_response(*e);
        responses.insert(status.to_string(), r);
    }
    if op.keyed {
        responses.insert("401".into(), response("Unauthorized"));
        responses.insert("403".into(), response("Forbidden"));
        responses
            .entry("429")
            .or_insert_with(|| response("TooManyRequests"));
    } else {
        responses.insert("429".into(), response("TooManyRequests"));
    }
    responses.insert("500".into(), response("Internal"));
    responses.insert("503".into(), response("LimiterUnavailable"));
    let mut out = json!({
        "operationId": op.id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    });
    if let Some(d) = op.description {
        out["description"] = json!(d);
    }
    let mut params = op.params.clone();
    if op.id == "createCampaign" {
        params.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "A repeat with the same key and body within 24 h returns the first 201 and creates nothing; the same key with another body is 409.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
        }));
    }
    if !params.is_empty() {
        out["parameters"] = Value::Array(params);
    }
    if let Some(body) = &op.body {
        out["requestBody"] = body.clone();
    }
    if !op.keyed {
        out["security"] = json!([]);
    }
    out
}

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["success", "error"],
        "properties": {
            "success": {"const": false},
            "error": {"type": "string", "description": "For a person; never internal detail"},
        },
    })
}

fn video_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "platform", "language", "status", "file_url", "duration_seconds", "published_at", "credits_cost"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "platform": {"enum": strings(Platform::ALL.iter())},
            "language": {"enum": strings(Language::ALL.iter())},
            "status": {"enum": strings(VideoStatus::ALL.iter())},
            "file_url": {"type": ["string", "null"], "description": "Time-limited download link; null until ready, and it stops working once the video expired under the retention"},
            "thumbnail_url": nullable("string"),
            "duration_seconds": nullable("number"),
            "published_at": {"type": ["string", "null"], "format": "date-time"},
            "credits_cost": nullable("integer"),
            "script_source": nullable("string"),
            "publications": {"type": "array", "items": schema("Publication"), "description": "SPEC §11: once published to destinations"},
            "script": {"type": ["string", "null"], "description": "GET /api/v1/campaigns/{id} only: the script the video speaks (the edited one after an edit)"},
        },
    })
}

fn profile_input_schemas() -> Map<String, Value> {
    let position = json!({
        "type": "object",
        "properties": {
            "overlay_visualizer": {"enum": strings(OverlayPreset::ALL.iter().map(|p| p.name()))},
            "x": {"type": ["string", "null"], "description": "Overlay expression for the caption block's left edge"},
            "y": {"type": ["string", "null"]},
        },
    });
    let mut font = Map::new();
    for f in ["profile_name", "name"] {
        font.insert(f.into(), json!({"type": "string"}));
    }
    for f in [
        "caption_style_color",
        "caption_style_stroke_color",
        "caption_shadow_color",
        "caption_highlighter_color",
        "caption_ai_keyword_highlighter_color",
    ] {
        font.insert(
            f.into(),
            json!({"type": "string", "description": "#RRGGBB"}),
        );
    }
    for (f, lo, hi) in [
        ("size", 8, 200),
        ("caption_style_stroke_thickness", 0, 20),
        ("caption_shadow_x_pos", -50, 50),
        ("caption_shadow_y_pos", -50, 50),
        ("caption_shadow_blur", 0, 20),
        ("caption_lines", 1, 4),
    ] {
        font.insert(
            f.into(),
            json!({"type": "integer", "minimum": lo, "maximum": hi}),
        );
    }
    for f in [
        "bold",
        "italic",
        "underlined",
        "strikethrough",
        "caption_highlighter",
        "caption_ai_keyword_highlighter",
    ] {
        font.insert(f.into(), json!({"type": "boolean"}));
    }
    font.insert("caption_position".into(), position);
    let mut out = Map::new();
    out.insert(
        "FontProfileInput".into(),
        json!({"type": "object", "description": "Absent fields take the seed's defaults", "properties": font}),
    );
    out.insert(
        "MediaProfileInput".into(),
        json!({
            "type": "object",
            "description": "Files are set by their upload routes; a body may repeat the stored keys",
            "properties": {
                "profile_name": {"type": "string"},
                "watermark_position": {"enum": ["top_left", "top_right", "bottom_left", "bottom_right", null]},
                "watermark_width_fraction": {"type": "number", "minimum": 0.02, "maximum": 0.5},
                "watermark_key": nullable("string"),
                "end_clip_key": nullable("string"),
            },
        }),
    );
    out.insert(
        "VoiceProfileInput".into(),
        json!({
            "type": "object",
            "required": ["provider_id"],
            "properties": {
                "profile_name": {"type": "string"},
                "provider_id": {"enum": strings(ProviderId::ALL.iter().map(|p| p.as_str()))},
                "region": {"type": "string", "maxLength": 32},
                "api_key": {"type": ["string", "null"], "description": "Stored sealed; shown only masked (at most the last 4 characters). Absent on an update: the stored key is kept; \"\" removes it."},
            },
        }),
    );
    out.insert(
        "PlaylistInput".into(),
        json!({
            "type": "object",
            "required": ["playlist_name"],
            "properties": {
                "playlist_name": {"type": "string"},
                "font_profile_id": nullable("string"),
                "media_profile_id": nullable("string"),
                "voice_profile_id": nullable("string"),
            },
        }),
    );
    out.insert(
        "VoiceInput".into(),
        json!({
            "type": "object",
            "required": ["voice_name", "voice_profile_id", "provider_voice_id"],
            "properties": {
                "voice_name": {"type": "string"},
                "voice_profile_id": {"type": "string"},
                "provider_voice_id": {"type": "string"},
            },
        }),
    );
    out
}

/// A campaign as `GET /api/v1/campaigns/{id}` answers it (SPEC §5).
fn campaign_schema() -> Value {
    json!({
        "type": "object",
        "required": ["success", "campaign_id", "status", "url", "title", "languages", "created_at", "videos"],
        "properties": {
            "success": {"const": true},
            "campaign_id": {"type": "string", "format": "uuid"},
            "status": {"enum": strings(CampaignStatus::ALL.iter())},
            "url": {"type": "string"},
            "title": {"type": "string"},
            "languages": {"type": "array", "items": {"enum": strings(Language::ALL.iter())}},
            "created_at": {"type": "string", "format": "date-time"},
            "videos": {"type": "array", "items": schema("Video")},
            "error": {"type": ["string", "null"], "description": "Failed campaigns only"},
            "failed_stage": {"type": ["string", "null"], "enum": strings(CampaignStatus::ALL.iter()).as_array().cloned().unwrap_or_default().into_iter().chain([Value::Null]).collect::<Vec<_>>()},
            "timeline": {
                "type": "array",
                "description": "GET /api/v1/campaigns/{id} only: each status the campaign entered and when",
                "items": {
                    "type": "object",
                    "required": ["status", "at"],
                    "properties": {
                        "status": {"enum": strings(CampaignStatus::ALL.iter())},
                        "at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            },
        },
    })
}

fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    s.insert("Error".into(), error_schema());
    s.insert(
        "QuotaExceeded".into(),
        json!({
            "type": "object",
            "required": ["success", "error", "videos_used", "videos_quota"],
            "properties": {
                "success": {"const": false},
                "error": {"const": "Monthly video quota exceeded"},
                "videos_used": {"type": "integer", "minimum": 0},
                "videos_quota": {"type": "integer", "minimum": 0},
            },
        }),
    );
    s.insert(
        "CreateCampaign".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["url"],
            "examples": [{"url": "https://93.184.216.34/product", "languages": ["en", "ja"], "title": "Launch", "platforms": ["youtube_shorts", "youtube"]}],
            "properties": {
                "url": {"type": "string", "maxLength": 2048, "description": "A public http(s) page (https:// assumed without a scheme); ports 80 and 443 only"},
                "languages": {
                    "type": ["array", "null"], "minItems": 1, "uniqueItems": true,
                    "items": {"enum": strings(Language::ALL.iter())},
                    "description": "Default [\"en\",\"ja\",\"ko\"]; at most the plan's languages per campaign",
                },
                "title": {"type": ["string", "null"], "maxLength": 200},
                "webhook_url": {"type": ["string", "null"], "description": "A public https URL; ports 80 and 443 only"},
                "platforms": {
                    "type": ["array", "null"], "minItems": 1, "uniqueItems": true,
                    "items": {"enum": strings(Platform::ALL.iter())},
                },
                "playlist_id": {"type": ["string", "null"]},
            },
        }),
    );
    s.insert(
        "CampaignCreated".into(),
        json!({
            "type": "object",
            "required": ["success", "campaign_id", "job_id", "status"],
            "properties": {
                "success": {"const": true},
                "campaign_id": {"type": "string", "format": "uuid"},
                "job_id": {"type": "string"},
                "status": {"enum": strings(CampaignStatus::ALL.iter())},
            },
        }),
    );
    s.insert("Video".into(), video_schema());
    let campaign = campaign_schema();
    let mut listed = campaign.clone();
    if let Some(required) = listed["required"].as_array_mut() {
        required.retain(|r| r != "success");
    }
    if let Some(props) = listed["properties"].as_object_mut() {
        props.remove("success");
    }
    s.insert("Campaign".into(), campaign);
    s.insert("ListedCampaign".into(), listed);
    s.insert(
        "Deliveries".into(),
        json!({
            "type": "object",
            "required": ["success", "campaign_id", "deliveries"],
            "properties": {
                "success": {"const": true},
                "campaign_id": {"type": "string", "format": "uuid"},
                "deliveries": {"type": "array", "items": {
                    "type": "object",
                    "required": ["event_id", "event", "url", "state", "created_at", "attempts"],
                    "properties": {
                        "event_id": {"type": "string"},
                        "event": {"type": "string"},
                        "url": {"type": "string"},
                        "state": {"enum": strings(DeliveryState::ALL.iter())},
                        "created_at": {"type": ["string", "null"], "format": "date-time"},
                        "attempts": {"type": "array", "items": {
                            "type": "object",
                            "required": ["attempt", "at", "status_code", "error", "latency_ms", "finished"],
                            "properties": {
                                "attempt": {"type": "integer", "minimum": 1},
                                "at": {"type": ["string", "null"], "format": "date-time"},
                                "status_code": nullable("integer"),
                                "error": nullable("string"),
                                "latency_ms": nullable("integer"),
                                "finished": {"type": "boolean"},
                            },
                        }},
                    },
                }},
            },
        }),
    );
    s.insert(
        "Redelivery".into(),
        json!({
            "type": "object",
            "required": ["success", "event_id", "state"],
            "properties": {
                "success": {"const": true},
                "event_id": {"type": "string"},
                "state": {"enum": strings(DeliveryState::ALL.iter())},
            },
        }),
    );
    s.insert("EstimateRequest".into(), estimate_request_schema());
    s.insert(
        "Estimate".into(),
        json!({
            "type": "object",
            "required": ["success", "credits", "breakdown"],
            "properties": {
                "success": {"const": true},
                "credits": {"type": "integer", "minimum": 0},
                "breakdown": {"type": "array", "items": {
                    "type": "object",
                    "required": ["item", "credits"],
                    "properties": {"item": {"type": "string"}, "credits": {"type": "number"}},
                }},
            },
        }),
    );
    s.insert("Account".into(), account_schema());
    s.extend(profile_input_schemas());
    for kind in Kind::ALL {
        let title = pascal(kind.name());
        let record = json!({
            "type": "object",
            "required": [format!("{}_id", kind.name()), "created_at", "updated_at"],
            "properties": {
                format!("{}_id", kind.name()): {"type": "string"},
                "disabled": {"type": "boolean"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
            },
        });
        s.insert(format!("{title}Record"), record);
        s.insert(
            format!("{title}Result"),
            json!({
                "type": "object",
                "required": ["success", kind.name()],
                "properties": {"success": {"const": true}, kind.name(): schema(&format!("{title}Record"))},
            }),
        );
        s.insert(
            format!("{}List", pascal(kind.plural())),
            json!({
                "type": "object",
                "required": ["success", kind.plural()],
                "properties": {
                    "success": {"const": true},
                    kind.plural(): {"type": "array", "items": schema(&format!("{title}Record"))},
                },
            }),
        );
    }
    s.insert(
        "Deleted".into(),
        json!({
            "type": "object",
            "required": ["success", "deleted"],
            "properties": {"success": {"const": true}, "deleted": {"type": "string"}},
        }),
    );
    s.insert(
        "CampaignPage".into(),
        json!({
            "type": "object",
            "required": ["success", "campaigns", "next_cursor"],
            "properties": {
                "success": {"const": true},
                "campaigns": {"type": "array", "items": schema("ListedCampaign"), "description": "Each as GET /api/v1/campaigns/{id} shows it, without success"},
                "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next page; null on the last"},
            },
        }),
    );
    s.insert(
        "ScriptEdit".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["script"],
            "properties": {"script": {"type": "string", "minLength": 1, "maxLength": 1500}},
        }),
    );
    s.insert(
        "ScriptEditAccepted".into(),
        json!({
            "type": "object",
            "required": ["success", "campaign_id", "video", "edits_left"],
            "properties": {
                "success": {"const": true},
                "campaign_id": {"type": "string", "format": "uuid"},
                "video": schema("Video"),
                "edits_left": {"type": "integer", "minimum": 0},
            },
        }),
    );
    s.insert(
        "PublishRequest".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "video_ids": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "uuid"}, "description": "Default: every ready video"},
                "destinations": {"type": "array", "items": {"type": "string"}, "description": "Destination ids; none: the customer posts the files themselves"},
            },
        }),
    );
    s.insert(
        "Publication".into(),
        json!({
            "type": "object",
            "required": ["destination_id", "provider", "status"],
            "properties": {
                "destination_id": {"type": "string"},
                "provider": {"enum": ["youtube", "tiktok"]},
                "status": {"enum": ["pending", "published", "failed"]},
                "external_id": nullable("string"),
                "url": nullable("string"),
                "error": nullable("string"),
                "attempts": {"type": "array", "items": {"type": "object"}},
            },
        }),
    );
    s.insert(
        "DestinationInput".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["provider", "name", "client_id", "client_secret", "refresh_token"],
            "properties": {
                "provider": {"enum": ["youtube", "tiktok"]},
                "name": {"type": "string", "minLength": 1},
                "client_id": {"type": "string", "minLength": 1},
                "client_secret": {"type": "string", "minLength": 1},
                "refresh_token": {"type": "string", "minLength": 1},
                "privacy": {"type": ["string", "null"], "enum": ["private", "unlisted", "public", null], "description": "unlisted is YouTube only"},
            },
        }),
    );
    s.insert(
        "Destination".into(),
        json!({
            "type": "object",
            "required": ["destination_id"],
            "properties": {
                "destination_id": {"type": "string"},
                "provider": {"enum": ["youtube", "tiktok"]},
                "name": {"type": "string"},
                "privacy": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
            },
        }),
    );
    s.insert(
        "DestinationResult".into(),
        json!({
            "type": "object",
            "required": ["success", "destination_id"],
            "allOf": [schema("Destination")],
            "properties": {"success": {"const": true}},
        }),
    );
    s.insert(
        "DestinationList".into(),
        json!({
            "type": "object",
            "required": ["success", "destinations"],
            "properties": {
                "success": {"const": true},
                "destinations": {"type": "array", "items": schema("Destination")},
            },
        }),
    );
    s.insert("WebhookEvent".into(), webhook_event_schema());
    s.insert(
        "VideoReadyEvent".into(),
        json!({
            "type": "object",
            "required": ["event", "campaign_id", "video", "timestamp"],
            "properties": {
                "event": {"const": "video.ready"},
                "campaign_id": {"type": "string", "format": "uuid"},
                "video": schema("Video"),
                "timestamp": {"type": "string", "format": "date-time"},
            },
        }),
    );
    s
}

/// One variant per kind, each allowing exactly its own options (others are refused).
fn estimate_request_schema() -> Value {
    let variants: Vec<Value> = pricing::Kind::ALL
        .iter()
        .map(|kind| {
            let mut props = Map::new();
            props.insert("kind".into(), json!({"const": kind.as_str()}));
            props.insert(
                "duration_seconds".into(),
                json!({"type": "number", "minimum": 0, "maximum": pricing::MAX_DURATION_SECONDS}),
            );
            for option in kind.options() {
                let s = match *option {
                    "images" | "videos" | "audio_files" => {
                        json!({"type": ["integer", "null"], "minimum": 0, "maximum": pricing::MAX_COUNT})
                    }
                    "pipeline_credits" => {
                        json!({"type": ["number", "null"], "minimum": 0, "maximum": pricing::MAX_PIPELINE_CREDITS})
                    }
                    _ => json!({"type": ["boolean", "null"]}),
                };
                props.insert((*option).to_string(), s);
            }
            json!({
                "type": "object",
                "title": kind.as_str(),
                "additionalProperties": false,
                "required": ["kind", "duration_seconds"],
                "properties": props,
            })
        })
        .collect();
    json!({"oneOf": variants, "discriminator": {"propertyName": "kind"}})
}

fn account_schema() -> Value {
    let mut props = Map::new();
    props.insert("success".into(), json!({"const": true}));
    props.insert("account_id".into(), json!({"type": "string"}));
    props.insert("username".into(), json!({"type": "string"}));
    props.insert(
        "created_at".into(),
        json!({"type": "string", "format": "date-time"}),
    );
    props.insert(
        "plan".into(),
        json!({
            "type": "object",
            "required": ["name", "api_access", "videos_per_month", "languages_per_campaign", "creates_per_minute", "max_keys"],
            "properties": {
                "name": {"enum": strings(Plan::ALL.iter().map(|p| p.as_str()))},
                "api_access": {"type": "boolean"},
                "videos_per_month": {"type": "integer"},
                "languages_per_campaign": {"type": "integer"},
                "creates_per_minute": {"type": "integer"},
                "max_keys": {"type": ["integer", "null"]},
            },
        }),
    );
    props.insert(
        "usage".into(),
        json!({
            "type": "object",
            "required": ["period", "period_start", "period_end", "videos_used", "videos_remaining"],
            "properties": {
                "period": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                "period_start": {"type": "string", "format": "date-time"},
                "period_end": {"type": "string", "format": "date-time"},
                "videos_used": {"type": "integer", "minimum": 0},
                "videos_remaining": {"type": "integer", "minimum": 0},
            },
        }),
    );
    props.insert("credits".into(), json!({"type": "array"}));
    props.insert(
        "keys".into(),
        json!({"type": "array", "items": {
            "type": "object",
            "required": ["display", "scopes", "created_at", "revoked_at"],
            "properties": {
                "display": {"type": "string"},
                "scopes": {"type": "array", "items": {"type": "string"}},
                "created_at": {"type": "string", "format": "date-time"},
                "revoked_at": {"type": ["string", "null"], "format": "date-time"},
            },
        }}),
    );
    props.insert(
        "videos".into(),
        json!({"type": "array", "description": "Recent videos, newest first (from the account's most recent campaigns only)", "items": {
            "type": "object",
            "required": ["video_id", "campaign_id", "language", "platform", "status", "creation_date"],
            "properties": {
                "video_id": {"type": "string", "format": "uuid"},
                "campaign_id": {"type": "string", "format": "uuid"},
                "video_title": {"type": "string"},
                "language": {"enum": strings(Language::ALL.iter())},
                "platform": {"enum": strings(Platform::ALL.iter())},
                "status": {"enum": strings(VideoStatus::ALL.iter())},
                "credits_cost": nullable("integer"),
                "duration_seconds": nullable("number"),
                "resolution": {"type": "string"},
                "creation_date": {"type": "string", "format": "date-time"},
                "download_link": nullable("string"),
                "preview_url": nullable("string"),
                "playlist": nullable("string"),
            },
        }}),
    );
    props.insert("total_videos".into(), json!({"type": "number"}));
    props.insert("total_credits".into(), json!({"type": "number"}));
    for period in ["weekly", "monthly", "yearly"] {
        for f in [
            "avg_credits_per_video_",
            "avg_credits_per_video_increase_",
            "created_videos_increase_",
        ] {
            props.insert(format!("{f}{period}"), json!({"type": "number"}));
        }
    }
    let mut required: Vec<String> = props.keys().cloned().collect();
    for kind in Kind::ALL {
        props.insert(
            kind.plural().to_string(),
            json!({"type": "array", "items": schema(&format!("{}Record", pascal(kind.name())))}),
        );
        props.insert(
            format!("total_{}", kind.plural()),
            json!({"type": "integer", "minimum": 0}),
        );
        required.push(kind.plural().to_string());
    }
    json!({"type": "object", "required": required, "properties": props})
}

fn webhook_event_schema() -> Value {
    json!({
        "type": "object",
        "required": ["event", "campaign_id", "status", "videos", "timestamp"],
        "properties": {
            "event": {"enum": ["campaign.completed", "campaign.failed", "campaign.published"]},
            "campaign_id": {"type": "string", "format": "uuid"},
            "status": {"enum": strings(CampaignStatus::ALL.iter())},
            "videos": {"type": "array", "items": schema("Video")},
            "timestamp": {"type": "string", "format": "date-time"},
            "error": {"type": ["string", "null"], "description": "campaign.failed only"},
            "failed_stage": {"type": ["string", "null"], "description": "campaign.failed only"},
        },
    })
}

fn webhook(event: &str, when: &str, body: &str) -> Value {
    let h = |name: &str, description: &str| json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}});
    json!({"post": {
        "summary": format!("{event}: {when}"),
        "description": "Signed POST to the campaign's webhook_url. Success is a 2xx within 10 s; redirects are not followed; at most 3 attempts in total, with backoff; the event id is the same on every attempt and redelivery.",
        "parameters": [
            h("X-Clipus-Event-Id", "Unique per event, identical on every retry"),
            h("X-Clipus-Timestamp", "Unix seconds of this attempt"),
            h("X-Clipus-Signature", "Lowercase hex HMAC-SHA256 over \"{timestamp}.{event_id}.{body}\" with the account's webhook secret (whsec_…) as UTF-8 bytes"),
            h("X-Clipus-Signature-Alg", "HMAC-SHA256"),
            h("webhook-id", "Standard Webhooks: the event id"),
            h("webhook-timestamp", "Standard Webhooks: unix seconds"),
            h("webhook-signature", "Standard Webhooks: v1,<base64 HMAC-SHA256>"),
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": schema(body)}}},
        "responses": {"2XX": {"description": "Delivered"}},
    }})
}

fn components() -> Value {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": schema("Error")}},
        })
    };
    let with_scopes = |description: &str| {
        json!({
            "description": description,
            "headers": {"X-Clipus-Api-Scopes": header("Scopes")},
            "content": {"application/json": {"schema": schema("Error")}},
        })
    };
    json!({
        "securitySchemes": {
            "bearerKey": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer sk_live_…"},
            "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "basicKey": {"type": "http", "scheme": "basic", "description": "Authorization: Basic base64(<anything>:sk_live_…), for compatibility with the user-data API"},
        },
        "headers": {
            "Scopes": {"description": "The key's scopes", "schema": {"type": "string"}},
            "ScopesRequired": {"description": "The key's scopes", "required": true, "schema": {"type": "string"}},
            "Plan": {"description": "The account's plan", "schema": {"enum": strings(Plan::ALL.iter().map(|p| p.as_str()))}},
            "PlanRequired": {"description": "The account's plan", "required": true, "schema": {"enum": strings(Plan::ALL.iter().map(|p| p.as_str()))}},
            "Limit": {"description": "The window's limit (the plan's creates/min on creation responses)", "schema": {"type": "integer", "minimum": 0}},
            "LimitRequired": {"description": "The window's limit (the plan's creates/min on creation responses)", "required": true, "schema": {"type": "integer", "minimum": 0}},
            "Remaining": {"description": "Admissions left in the window", "schema": {"type": "integer", "minimum": 0}},
            "RemainingZero": {"description": "0 on a refusal", "required": true, "schema": {"type": "integer", "minimum": 0, "maximum": 0}},
            "Reset": {"description": "Unix milliseconds when a slot frees", "schema": {"type": "integer"}},
            "ResetRequired": {"description": "Unix milliseconds when a slot frees", "required": true, "schema": {"type": "integer"}},
            "RetryAfter": {"description": "Whole seconds, at least 1", "required": true, "schema": {"type": "integer", "minimum": 1}},
            "IdempotentReplayed": {"description": "true on the replay of an Idempotency-Key", "schema": {"const": "true"}},
            "CacheControl": {"schema": {"type": "string"}},
        },
        "responses": {
            "BadRequest": with_scopes("Bad input; the message names the field and what is allowed"),
            "Unauthorized": error("Missing, invalid or revoked key"),
            "Forbidden": {
                "description": "The plan has no API access (free, starter) or the key lacks the scope",
                "headers": {
                    "X-Clipus-Api-Scopes": header("Scopes"),
                    "X-RateLimit-Plan": header("PlanRequired"),
                    "X-RateLimit-Limit": header("LimitRequired"),
                },
                "content": {"application/json": {"schema": schema("Error")}},
            },
            "NotFound": with_scopes("Unknown, malformed or another account's id (one body for all three)"),
            "Conflict": with_scopes("Idempotency-Key reused with another body, or the resource is not in a state that allows it"),
            "TooLarge": with_scopes("Body larger than the route's limit"),
            "TooManyRequests": {
                "description": "A per-IP sliding window (10/min without a valid key, 120/min with one) refused the request",
                "headers": {
                    "X-RateLimit-Limit": header("LimitRequired"),
                    "X-RateLimit-Remaining": header("RemainingZero"),
                    "X-RateLimit-Reset": header("ResetRequired"),
                    "Retry-After": header("RetryAfter"),
                },
                "content": {"application/json": {"schema": schema("Error")}},
            },
            "AccountLimit": {
                "description": "A per-IP window or the account's creation window (rate headers), or the monthly video quota (QuotaExceeded body)",
                "headers": {
                    "X-Clipus-Api-Scopes": header("Scopes"),
                    "X-RateLimit-Plan": header("Plan"),
                    "X-RateLimit-Limit": header("Limit"),
                    "X-RateLimit-Remaining": header("Remaining"),
                    "X-RateLimit-Reset": header("Reset"),
                    "Retry-After": {"description": "Whole seconds, at least 1", "schema": {"type": "integer", "minimum": 1}},
                },
                "content": {"application/json": {"schema": {"anyOf": [schema("Error"), schema("QuotaExceeded")]}}},
            },
            "Internal": error("Our fault; safe to retry with backoff"),
            "LimiterUnavailable": {
                "description": "The rate limiter's store could not be reached; never an unmetered pass",
                "headers": {"Retry-After": header("RetryAfter")},
                "content": {"application/json": {"schema": schema("Error")}},
            },
        },
        "schemas": schemas(),
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let path_item = paths.entry(op.path.clone()).or_insert_with(|| json!({}));
        path_item[op.method] = operation_json(&op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "reelforge",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Product page to short demo videos",
            "description": "The campaign API (paths, fields, X-Clipus-* headers, limits and status codes kept as in the Clipus campaign API), credit estimates, and the account's style profiles. Rate limits: 60-second sliding windows; per account on creation (the plan's creates/min), per client IP with a valid key (120/min), per client IP without one (10/min); the stricter wins. Errors are {\"success\":false,\"error\":\"…\"}. Paths are canonical: a trailing slash, an empty segment (//) or a dot segment (/./, /../) is 404.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/", "description": "The deployment's base URL (the ApiUrl output on AWS; http://127.0.0.1:8080 for reelforge serve)"}],
        "security": [{"bearerKey": []}, {"headerKey": []}, {"basicKey": []}],
        "tags": [
            {"name": "campaigns"}, {"name": "webhooks"}, {"name": "credits"},
            {"name": "account"}, {"name": "profiles"}, {"name": "meta"},
        ],
        "paths": paths,
        "webhooks": {
            "campaign.completed": webhook("campaign.completed", "the campaign reached review", "WebhookEvent"),
            "campaign.failed": webhook("campaign.failed", "the campaign failed (body also has error and failed_stage)", "WebhookEvent"),
            "campaign.published": webhook("campaign.published", "every publication of the campaign finished (videos with their publications; SPEC §11)", "WebhookEvent"),
            "video.ready": webhook("video.ready", "an edited video is ready again (SPEC §11)", "VideoReadyEvent"),
        },
        "components": components(),
    })
}

/// The document as served and checked in: pretty-printed, with a final newline.
pub fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
        text.push('\n');
        text
    })
}

/// `GET /api/v1/openapi.json`: no key, metered by the unauthenticated IP window.
pub(super) async fn serve(app: &Context, client: &str) -> ApiResponse {
    let window = reelforge_core::limiter::ip_window_key(false, client);
    match super::auth::admit(
        app,
        &window,
        reelforge_core::limiter::IP_UNAUTHENTICATED_LIMIT,
    )
    .await
    {
        Ok(_) => {
            let mut resp = ApiResponse::json(StatusCode::OK, &Value::Null);
            resp.body = bytes::Bytes::from_static(document_text().as_bytes());
            resp.header("cache-control", "public, max-age=300")
        }
        Err(resp) => resp,
    }
}
