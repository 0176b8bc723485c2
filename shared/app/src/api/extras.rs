//! Extensions to `GET /api/v1/campaigns/:id` that the dashboard shows (docs/dashboard.md):
//! `timeline` (when the campaign entered each status) and each video's `script` (the text
//! it speaks: the pending edit while one renders, else the latest rendered edit, else the
//! script the pipeline wrote). Best effort: a script that can't be read is `null`, never
//! an error, so the campaign itself is always answered.

use crate::context::Context;
use crate::pipeline::artifacts;
use crate::pipeline::rerender::edit_words;
use chrono::{SecondsFormat, TimeZone, Utc};
use reelforge_core::model::Campaign;
use reelforge_core::script::Script;
use serde_json::{json, Value};

fn time(ms: i64) -> Value {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map_or(Value::Null, |t| {
            json!(t.to_rfc3339_opts(SecondsFormat::Millis, true))
        })
}

/// Adds `timeline` and `videos[].script` to a campaign's GET body.
pub(super) async fn enrich(app: &Context, c: &Campaign, body: &mut Value) {
    let mut timeline = vec![json!({
        "status": "collecting",
        "at": json!(c.created_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
    })];
    timeline.extend(
        c.history
            .iter()
            .map(|h| json!({"status": h.status, "at": time(h.at_ms)})),
    );
    body["timeline"] = Value::Array(timeline);

    let scripts: Option<Vec<Script>> = artifacts::get_json(app, &artifacts::scripts(c.id))
        .await
        .ok();
    let Some(videos) = body["videos"].as_array_mut() else {
        return;
    };
    for (v, out) in c.videos.iter().zip(videos.iter_mut()) {
        let mut text = v.review.pending_edit.as_ref().map(|e| e.script.clone());
        if text.is_none() && v.script_source.as_deref() == Some(crate::pipeline::rerender::EDITED) {
            for n in (1..=v.review.edits).rev() {
                let key = edit_words(c.id, v.language, v.id, n);
                if let Ok(track) = artifacts::get_json::<Value>(app, &key).await {
                    if let Some(s) = track["sentences"].as_array() {
                        let joined: Vec<&str> = s.iter().filter_map(Value::as_str).collect();
                        text = Some(joined.join(" "));
                        break;
                    }
                }
            }
        }
        if text.is_none() {
            text = scripts
                .as_ref()
                .and_then(|all| all.iter().find(|s| s.language == v.language))
                .map(|s| s.sentences.join(" "));
        }
        out["script"] = json!(text);
    }
}
