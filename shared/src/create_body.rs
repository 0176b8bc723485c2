//! Validation of the POST /api/v1/campaigns body (SPEC §4). Every refusal names the
//! field and what is allowed, so a client can fix its request without reading our code.

use crate::guard::{validate_target, Resolver, TargetPolicy, UrlKind};
use crate::model::{Language, Platform};
use crate::plans::Plan;
use serde_json::{Map, Value};
use std::str::FromStr;

pub const DEFAULT_LANGUAGES: [Language; 3] = [Language::En, Language::Ja, Language::Ko];
pub const MAX_TITLE_CHARS: usize = 200;
const FIELDS: &str = "url, languages, title, webhook_url, platforms, playlist_id";

#[derive(Debug, Clone, PartialEq)]
pub struct CreateBody {
    pub url: String,
    pub languages: Vec<Language>,
    pub title: String,
    pub webhook_url: Option<String>,
    pub platforms: Vec<Platform>,
    pub playlist_id: Option<String>,
}

fn allowed<T: Copy + std::fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A list of distinct codes from `all`; `None` when the field is absent or null.
fn code_list<T: Copy + PartialEq + FromStr + std::fmt::Display>(
    obj: &Map<String, Value>,
    field: &str,
    all: &[T],
) -> Result<Option<Vec<T>>, String> {
    let value = match obj.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let must = || {
        format!(
            "{field} must be a non-empty array of distinct codes from: {}",
            allowed(all)
        )
    };
    let items = value.as_array().ok_or_else(must)?;
    if items.is_empty() {
        return Err(must());
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let text = item.as_str().ok_or_else(must)?;
        let code = T::from_str(text).map_err(|_| {
            format!(
                "{field} contains unknown code {text:?}; allowed: {}",
                allowed(all)
            )
        })?;
        if out.contains(&code) {
            return Err(format!("{field} lists {text:?} more than once"));
        }
        out.push(code);
    }
    Ok(Some(out))
}

fn optional_string<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

/// Parses and validates; DNS is consulted for `url` and `webhook_url` hosts.
pub async fn parse_create_body(
    raw: &[u8],
    plan: Plan,
    policy: TargetPolicy,
    resolver: &dyn Resolver,
) -> Result<CreateBody, String> {
    let value: Value =
        serde_json::from_slice(raw).map_err(|_| "Request body must be valid JSON".to_string())?;
    let Value::Object(obj) = value else {
        return Err("Request body must be a JSON object".to_string());
    };
    if let Some(unknown) = obj
        .keys()
        .find(|k| !FIELDS.split(", ").any(|f| f == k.as_str()))
    {
        return Err(format!(
            "Unknown field {unknown:?}; allowed fields: {FIELDS}"
        ));
    }

    let url_text = optional_string(&obj, "url")?.ok_or("url is required")?;
    let url = validate_target(url_text, UrlKind::Page, policy, resolver)
        .await
        .map_err(|e| e.to_string())?;

    let languages =
        code_list(&obj, "languages", Language::ALL)?.unwrap_or_else(|| DEFAULT_LANGUAGES.to_vec());
    if languages.len() > plan.max_languages() {
        return Err(format!(
            "The {plan} plan allows at most {} languages per campaign; {} were requested",
            plan.max_languages(),
            languages.len()
        ));
    }
    let platforms = code_list(&obj, "platforms", Platform::ALL)?
        .unwrap_or_else(|| vec![Platform::YoutubeShorts]);

    let title = match optional_string(&obj, "title")? {
        None => {
            let host = url.host_str().unwrap_or_default();
            format!("{} Campaign", host.strip_prefix("www.").unwrap_or(host))
        }
        Some(t) => {
            let t = t.trim();
            if t.is_empty()
                || t.chars().count() > MAX_TITLE_CHARS
                || t.chars().any(char::is_control)
            {
                return Err(format!(
                    "title must be 1 to {MAX_TITLE_CHARS} characters without control characters"
                ));
            }
            t.to_string()
        }
    };

    let webhook_url = match optional_string(&obj, "webhook_url")? {
        None => None,
        Some(w) => Some(
            validate_target(w, UrlKind::Webhook, policy, resolver)
                .await
                .map_err(|e| e.to_string())?
                .to_string(),
        ),
    };

    // Resolved against the account's playlists by the caller (it needs the store).
    let playlist_id = match optional_string(&obj, "playlist_id")? {
        None => None,
        Some(p)
            if p.is_empty()
                || p.len() > 64
                || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            return Err(format!(
                "playlist_id {:?} does not exist",
                p.chars().take(64).collect::<String>()
            ));
        }
        Some(p) => Some(p.to_string()),
    };

    Ok(CreateBody {
        url: url.to_string(),
        languages,
        title,
        webhook_url,
        platforms,
        playlist_id,
    })
}
