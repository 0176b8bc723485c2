//! A response validator against the API's OpenAPI document
//! (`reelforge_app::api::openapi::document`): the black-box client runs every `/api/v1`
//! response it receives through [`check_response`], so each contract test also checks the
//! document.
//!
//! A small hand-written checker for the JSON Schema subset the document uses (`$ref`,
//! `type` incl. type lists, `enum`, `const`, `properties`, `required`,
//! `additionalProperties: false`, `items`, `minItems`, `uniqueItems`, `minimum`,
//! `maximum`, `minLength`, `maxLength`, `pattern` for `^[…]+$`-style character classes
//! is not interpreted, `format` `uuid` and `date-time`, `oneOf`, `anyOf`), so no schema
//! crate is built for the tests; [`keywords_are_understood`] fails if the document starts
//! using a keyword this checker would ignore.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(reelforge_app::api::openapi::document)
}

/// Keywords the checker interprets, and annotations it may skip.
const UNDERSTOOD: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "format",
    "oneOf",
    "anyOf",
    // annotations, or checked elsewhere
    "description",
    "title",
    "discriminator",
    "pattern",
    "examples",
];

/// Every keyword in the document's schemas is one this checker knows.
pub fn keywords_are_understood() -> Result<(), String> {
    fn walk(v: &Value, path: &str) -> Result<(), String> {
        let Value::Object(map) = v else {
            return Ok(());
        };
        for (k, child) in map {
            match k.as_str() {
                "properties" => {
                    if let Value::Object(props) = child {
                        for (name, s) in props {
                            walk(s, &format!("{path}/properties/{name}"))?;
                        }
                    }
                }
                "items" | "additionalProperties" => walk(child, &format!("{path}/{k}"))?,
                "oneOf" | "anyOf" => {
                    for (i, s) in child.as_array().into_iter().flatten().enumerate() {
                        walk(s, &format!("{path}/{k}/{i}"))?;
                    }
                }
                other if !UNDERSTOOD.contains(&other) => {
                    return Err(format!("{path}: keyword {other:?} is not checked"))
                }
                _ => {}
            }
        }
        Ok(())
    }
    let doc = document();
    for (name, s) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        walk(s, &format!("#/components/schemas/{name}"))?;
    }
    Ok(())
}

fn resolve(v: &Value) -> &Value {
    let mut v = v;
    while let Some(Value::String(r)) = v.get("$ref") {
        match document().pointer(r.trim_start_matches('#')) {
            Some(target) => v = target,
            None => return v,
        }
    }
    v
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

/// Checks `value` against `schema`; the error names the JSON pointer that failed.
pub fn validate(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(schema);
    let fail = |why: String| Err(format!("{at}: {why} (value {value})"));
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(t) => type_matches(t, value),
            Value::Array(ts) => ts
                .iter()
                .any(|t| t.as_str().is_some_and(|t| type_matches(t, value))),
            _ => true,
        };
        if !ok {
            return fail(format!("not of type {t}"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            return fail(format!("not one of {}", Value::Array(options.clone())));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            return fail(format!("not {c}"));
        }
    }
    if let Some(n) = value.as_f64() {
        if schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n < m)
        {
            return fail("below minimum".into());
        }
        if schema
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n > m)
        {
            return fail("above maximum".into());
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
        {
            return fail("too short".into());
        }
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
        {
            return fail("too long".into());
        }
        match schema.get("format").and_then(Value::as_str) {
            Some("uuid") if uuid::Uuid::parse_str(s).is_err() => return fail("not a uuid".into()),
            Some("date-time") if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
                return fail("not an RFC 3339 date-time".into())
            }
            _ => {}
        }
    }
    if let Some(items) = value.as_array() {
        if schema
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| (items.len() as u64) < m)
        {
            return fail("too few items".into());
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, a) in items.iter().enumerate() {
                if items[..i].contains(a) {
                    return fail("items not unique".into());
                }
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(item_schema, item, &format!("{at}/{i}"))?;
            }
        }
    }
    if let Some(obj) = value.as_object() {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !obj.contains_key(name) {
                return fail(format!("lacks required {name:?}"));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (name, v) in obj {
            match props.and_then(|p| p.get(name)) {
                Some(s) => validate(s, v, &format!("{at}/{name}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return fail(format!("has undocumented property {name:?}"));
                }
                None => {}
            }
        }
    }
    if let Some(Value::Array(options)) = schema.get("oneOf") {
        let passing = options
            .iter()
            .filter(|s| validate(s, value, at).is_ok())
            .count();
        if passing != 1 {
            return fail(format!("matches {passing} of oneOf's schemas, not 1"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("anyOf") {
        if !options.iter().any(|s| validate(s, value, at).is_ok()) {
            let why: Vec<String> = options
                .iter()
                .filter_map(|s| validate(s, value, at).err())
                .collect();
            return fail(format!("matches none of anyOf: {}", why.join("; ")));
        }
    }
    Ok(())
}

/// `/api/v1/campaigns/{id}` matches `/api/v1/campaigns/abc`.
fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// The documented path template of `path`, preferring literal segments over `{id}`.
fn path_item(path: &str) -> Option<(&'static str, &'static Value)> {
    let paths = document()["paths"].as_object()?;
    paths
        .iter()
        .filter(|(t, _)| template_matches(t, path))
        .min_by_key(|(t, _)| t.matches('{').count())
        .map(|(t, item)| (t.as_str(), item))
}

/// Checks one response to `method path` against the document: its status is documented
/// for the operation (an undocumented method is 405, an undocumented path 404, either
/// possibly refused first by the key check or the IP layer), its content type and body
/// match, and its documented headers are present when required and parse as documented.
pub fn check_response(
    method: &str,
    path: &str,
    status: u16,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Result<(), String> {
    let path = path.split('?').next().unwrap_or(path);
    let method = method.to_ascii_lowercase();
    let context = format!("{} {path} -> {status}", method.to_uppercase());
    let item = path_item(path);
    let operation = item.and_then(|(_, item)| item.get(method.as_str()));
    let Some(operation) = operation else {
        // The router's own answers for what is not an operation.
        let expected: &[u16] = match item {
            Some(_) => &[401, 405, 429, 503],
            None => &[401, 404, 429, 503],
        };
        if !expected.contains(&status) {
            return Err(format!(
                "{context}: not a documented operation, and not answered {expected:?}"
            ));
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|_| format!("{context}: body is not JSON"))?;
        return validate(
            &serde_json::json!({"$ref": "#/components/schemas/Error"}),
            &value,
            "",
        )
        .map_err(|e| format!("{context}: {e}"));
    };
    let responses = &operation["responses"];
    let Some(response) = responses
        .get(status.to_string())
        .or_else(|| responses.get(format!("{}XX", status / 100)))
        .or_else(|| responses.get("default"))
    else {
        return Err(format!(
            "{context}: status not documented for the operation"
        ));
    };
    let response = resolve(response);
    for (name, h) in response["headers"].as_object().into_iter().flatten() {
        let h = resolve(h);
        let value = headers.get(&name.to_ascii_lowercase());
        match value {
            None if h["required"] == Value::Bool(true) => {
                return Err(format!("{context}: lacks required header {name}"))
            }
            None => {}
            Some(v) => {
                let schema = &h["schema"];
                let parsed = match resolve(schema).get("type").and_then(Value::as_str) {
                    Some("integer") | Some("number") => v
                        .parse::<serde_json::Number>()
                        .map(Value::Number)
                        .map_err(|_| format!("{context}: header {name}: {v:?} is not a number"))?,
                    _ => Value::String(v.clone()),
                };
                validate(schema, &parsed, &format!("header {name}"))
                    .map_err(|e| format!("{context}: {e}"))?;
            }
        }
    }
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return Ok(());
    };
    let content_type = headers
        .get("content-type")
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let Some(media) = content.get(&content_type) else {
        return Err(format!(
            "{context}: content type {content_type:?} is not one of {:?}",
            content.keys().collect::<Vec<_>>()
        ));
    };
    if content_type == "application/json" {
        let value: Value =
            serde_json::from_slice(body).map_err(|_| format!("{context}: body is not JSON"))?;
        validate(&media["schema"], &value, "").map_err(|e| format!("{context}: {e}"))?;
    }
    Ok(())
}
