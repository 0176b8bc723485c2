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

/// Client text as a refusal quotes it: at most `SHOWN_CHARS` characters (then `…`), so
/// a refusal never echoes a long field name or code back in full.
const SHOWN_CHARS: usize = 40;

pub(crate) fn shown(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(SHOWN_CHARS).collect();
    format!("{head:?}…")
}

/// The title of a campaign sent without one: `"<domain> Campaign"`, the domain without
/// `www.` and, for a host name too long to fit, cut so the title is `MAX_TITLE_CHARS`.
pub fn default_title(host: &str) -> String {
    const SUFFIX: &str = " Campaign";
    let domain = host.strip_prefix("www.").unwrap_or(host);
    let room = MAX_TITLE_CHARS - SUFFIX.len();
    let domain: String = domain.chars().take(room).collect();
    format!("{domain}{SUFFIX}")
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
                "{field} contains unknown code {}; allowed: {}",
                shown(text),
                allowed(all)
            )
        })?;
        if out.contains(&code) {
            return Err(format!("{field} lists {} more than once", shown(text)));
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
            "Unknown field {}; allowed fields: {FIELDS}",
            shown(unknown)
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
        None => default_title(url.host_str().unwrap_or_default()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_titles_name_the_domain_and_fit_the_limit() {
        assert_eq!(default_title("www.example.com"), "example.com Campaign");
        assert_eq!(
            default_title("shop.example.com"),
            "shop.example.com Campaign"
        );
        // A host name may be 253 characters; the title still fits in 200.
        let host = format!("{}.example.com", vec!["a".repeat(63); 3].join("."));
        assert_eq!(host.len(), 203);
        let title = default_title(&host);
        assert_eq!(title.chars().count(), MAX_TITLE_CHARS);
        assert!(title.starts_with(&host[..191]) && title.ends_with(" Campaign"));
    }

    #[test]
    fn refusals_quote_client_text_shortened() {
        assert_eq!(shown("colour"), "\"colour\"");
        let long = "x".repeat(5_000);
        let quoted = shown(&long);
        assert_eq!(quoted, format!("{:?}…", "x".repeat(SHOWN_CHARS)));
    }
}
