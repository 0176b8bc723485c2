//! The SAM template against the workspace: every crate in `functions/` is deployed (a
//! Function whose `BuildProperties.Binary` names it) and has a sample event in `events/`;
//! every route of the API is wired to a function, and only those; sample API events name
//! a route their function serves; every SQS consumer has a dead-letter queue after at
//! least 5 receives, a visibility timeout of at least 6x its timeout, and reports batch
//! item failures. (cfn-lint and `sam validate --lint` check the rest, in infra/test.sh.)
//!
//! The template is read with a small indentation-based reader for the subset of YAML it
//! uses (block mappings plus one-line `{ k: v }` flow mappings), so no YAML crate is
//! built for one test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The API's routes as SPEC lists them (§4–§6, §9, and the delivery log): method and
/// path as API Gateway writes them. The router's own match arms must name exactly these
/// (`router_routes`), so a route added to the router fails here until it is listed and
/// wired in the template.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/campaigns"),
    ("GET", "/api/v1/campaigns/{id}"),
    ("GET", "/api/v1/campaigns/{id}/webhook-deliveries"),
    (
        "POST",
        "/api/v1/campaigns/{id}/webhook-deliveries/redeliver",
    ),
    ("POST", "/api/v1/estimate"),
    ("GET", "/api/v1/account"),
];

/// `ROUTES` and the profile routes.
fn all_routes() -> Vec<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .chain(profile_routes())
        .collect()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// One line of the template: its indentation and its text without comments.
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// A block mapping: each key at the block's indentation with the lines nested under it.
/// A key's own value on its line (`Key: value`) is in `inline`.
struct Node<'a> {
    inline: &'a str,
    body: Vec<Line<'a>>,
}

fn lines(source: &str) -> Vec<Line<'_>> {
    source
        .lines()
        .filter_map(|raw| {
            let text = strip_comment(raw).trim_end();
            let trimmed = text.trim_start();
            (!trimmed.is_empty()).then(|| Line {
                indent: text.len() - trimmed.len(),
                text: trimmed,
            })
        })
        .collect()
}

/// Drops a `# comment` that is not inside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('#', None) if i == 0 || line[..i].ends_with(' ') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The mapping made of `block`'s least-indented lines.
fn mapping<'a>(block: &[Line<'a>]) -> BTreeMap<&'a str, Node<'a>> {
    let mut out = BTreeMap::new();
    let Some(indent) = block.iter().map(|l| l.indent).min() else {
        return out;
    };
    let mut current: Option<(&str, Node)> = None;
    for line in block {
        if line.indent == indent {
            if let Some((k, node)) = current.take() {
                out.insert(k, node);
            }
            let (key, inline) = line.text.split_once(':').unwrap_or((line.text, ""));
            current = Some((
                key.trim().trim_matches('"'),
                Node {
                    inline: inline.trim(),
                    body: Vec::new(),
                },
            ));
        } else if let Some((_, node)) = current.as_mut() {
            node.body.push(*line);
        }
    }
    if let Some((k, node)) = current {
        out.insert(k, node);
    }
    out
}

impl<'a> Node<'a> {
    fn get(&self, key: &str) -> Option<Node<'a>> {
        mapping(&self.body).remove(key)
    }

    /// A scalar value: `Key: value` on its own line, or inside a one-line flow mapping
    /// (`Key: { a: 1, b: 2 }`) of this node.
    fn scalar(&self, key: &str) -> Option<String> {
        if let Some(node) = self.get(key) {
            if !node.inline.is_empty() {
                return Some(unquote(node.inline));
            }
        }
        flow_pairs(self.inline)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The node's whole text (its inline value and every nested line), for searches.
    fn text(&self) -> String {
        let mut all = String::from(self.inline);
        for line in &self.body {
            all.push('\n');
            all.push_str(line.text);
        }
        all
    }
}

fn unquote(v: &str) -> String {
    v.trim().trim_matches('"').trim_matches('\'').to_string()
}

/// `{ a: 1, b: "x/{id}" }` → [(a, 1), (b, x/{id})]: the pairs of a one-line flow
/// mapping, split on commas outside quotes and nested braces.
fn flow_pairs(inline: &str) -> Vec<(String, String)> {
    let Some(inner) = inline
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
    else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0, None, 0);
    for (i, c) in inner.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('{' | '[', None) => depth += 1,
            ('}' | ']', None) => depth -= 1,
            (',', None) if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter_map(|pair| {
            let (k, v) = pair.split_once(':')?;
            Some((unquote(k), unquote(v)))
        })
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect()
}

struct Function {
    binary: String,
    timeout: u32,
    /// (method, path) of each HttpApi event.
    routes: Vec<(String, String)>,
    /// (queue resource, FunctionResponseTypes text) of each SQS event.
    queues: Vec<(String, String)>,
}

struct Template {
    functions: BTreeMap<String, Function>,
    /// Queue resource → (VisibilityTimeout, redrive: maxReceiveCount and dead-letter
    /// queue resource, if any).
    queues: BTreeMap<String, (u32, Option<(u32, String)>)>,
}

/// `!GetAtt Name.Arn` or `!Ref Name` → `Name`.
fn referenced(value: &str) -> String {
    let v = value
        .trim()
        .trim_start_matches("!GetAtt")
        .trim_start_matches("!Ref")
        .trim();
    v.split('.').next().unwrap_or(v).to_string()
}

fn parse_template() -> Template {
    let source = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let all = lines(&source);
    let top = mapping(&all);
    let global_timeout = top
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.scalar("Timeout"))
        .map(|t| t.parse::<u32>().expect("Globals timeout"))
        .unwrap_or(3);
    let resources = mapping(&top.get("Resources").expect("Resources").body);

    let mut functions = BTreeMap::new();
    let mut queues = BTreeMap::new();
    for (name, resource) in &resources {
        let kind = resource.scalar("Type").unwrap_or_default();
        let props = resource.get("Properties");
        if kind == "AWS::SQS::Queue" {
            let props = props.expect("queue properties");
            let visibility = props
                .scalar("VisibilityTimeout")
                .map_or(30, |v| v.parse().expect("VisibilityTimeout"));
            let redrive = props.get("RedrivePolicy").map(|redrive| {
                (
                    redrive
                        .scalar("maxReceiveCount")
                        .map_or(0, |v| v.parse().expect("maxReceiveCount")),
                    referenced(&redrive.scalar("deadLetterTargetArn").unwrap_or_default()),
                )
            });
            queues.insert(name.to_string(), (visibility, redrive));
            continue;
        }
        if kind != "AWS::Serverless::Function" {
            continue;
        }
        let metadata = resource.get("Metadata").expect("function Metadata").text();
        let binary = metadata
            .split("Binary:")
            .nth(1)
            .and_then(|rest| rest.split([',', '}', '\n']).next())
            .map(unquote)
            .unwrap_or_else(|| panic!("{name}: no BuildProperties Binary"));
        assert!(
            metadata.contains("BuildMethod: rust-cargolambda"),
            "{name}: BuildMethod must be rust-cargolambda"
        );
        let props = props.unwrap_or_else(|| panic!("{name}: no Properties"));
        let timeout = props
            .scalar("Timeout")
            .map_or(global_timeout, |t| t.parse().expect("Timeout"));
        let mut routes = Vec::new();
        let mut consumed = Vec::new();
        if let Some(events) = props.get("Events") {
            for (event_name, event) in mapping(&events.body) {
                let kind = event.scalar("Type").unwrap_or_default();
                let eprops = event
                    .get("Properties")
                    .unwrap_or_else(|| panic!("{name}.{event_name}: no Properties"));
                match kind.as_str() {
                    "HttpApi" => routes.push((
                        eprops
                            .scalar("Method")
                            .unwrap_or_else(|| "ANY".into())
                            .to_uppercase(),
                        eprops
                            .scalar("Path")
                            .unwrap_or_else(|| panic!("{name}.{event_name}: no Path")),
                    )),
                    "SQS" => consumed.push((
                        referenced(&eprops.scalar("Queue").expect("SQS event Queue")),
                        eprops.text(),
                    )),
                    "EventBridgeRule" => {}
                    other => panic!("{name}.{event_name}: unexpected event type {other}"),
                }
            }
        }
        functions.insert(
            name.to_string(),
            Function {
                binary,
                timeout,
                routes,
                queues: consumed,
            },
        );
    }
    Template { functions, queues }
}

/// The routes the shared router serves, read off its match arms
/// (`(["campaigns", id], &Method::GET) => ...` is `GET /api/v1/campaigns/{id}`); arms
/// with a wildcard method (the 405 answers) are not routes.
fn router_routes() -> BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(root().join("shared/src/api/mod.rs")).expect("router");
    source
        .lines()
        .filter_map(|line| {
            let arm = line.trim().strip_prefix("([")?;
            let (segments, rest) = arm.split_once("], &Method::")?;
            let method = rest.split(')').next()?;
            let path: String = segments
                .split(',')
                .map(|segment| match segment.trim() {
                    quoted if quoted.starts_with('"') => quoted.trim_matches('"').to_string(),
                    _ => "{id}".to_string(),
                })
                .map(|segment| format!("/{segment}"))
                .collect();
            Some((method.to_string(), format!("/api/v1{path}")))
        })
        .chain(profile_routes())
        .collect()
}

/// The profile routes, which the router matches by kind rather than one arm each.
fn profile_routes() -> Vec<(String, String)> {
    reelforge::api::profiles::Kind::ALL
        .iter()
        .flat_map(|kind| {
            let base = format!("/api/v1/{}", kind.segment());
            [
                ("GET", base.clone()),
                ("POST", base.clone()),
                ("GET", format!("{base}/{{id}}")),
                ("PUT", format!("{base}/{{id}}")),
                ("DELETE", format!("{base}/{{id}}")),
            ]
        })
        .map(|(m, p)| (m.to_string(), p))
        .chain(["watermark", "end-clip"].map(|file| {
            (
                "PUT".to_string(),
                format!("/api/v1/media-profiles/{{id}}/{file}"),
            )
        }))
        .collect()
}

fn function_crates() -> BTreeSet<String> {
    std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_function_crate_is_deployed_with_a_sample_event() {
    let template = parse_template();
    let crates = function_crates();
    assert!(!crates.is_empty());
    let deployed: BTreeSet<String> = template
        .functions
        .values()
        .map(|f| f.binary.clone())
        .collect();
    assert_eq!(
        deployed, crates,
        "the template's Functions (BuildProperties Binary) and the crates in functions/ differ"
    );
    for name in &crates {
        let manifest =
            std::fs::read_to_string(root().join("functions").join(name).join("Cargo.toml"))
                .expect("Cargo.toml");
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "functions/{name}: the package (and so the binary) must be named {name}"
        );
        let event = root().join("events").join(format!("{name}.json"));
        let text = std::fs::read_to_string(&event)
            .unwrap_or_else(|_| panic!("{name} has no sample event at {}", event.display()));
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", event.display()));
    }
}

#[test]
fn the_route_list_is_the_routers() {
    let listed: BTreeSet<(String, String)> = all_routes().into_iter().collect();
    assert_eq!(
        router_routes(),
        listed,
        "shared/src/api/mod.rs serves other routes than ROUTES lists"
    );
}

#[test]
fn every_route_is_wired_to_exactly_one_function_and_nothing_else_is() {
    let template = parse_template();
    let mut wired: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for (name, f) in &template.functions {
        for route in &f.routes {
            wired.entry(route.clone()).or_default().push(name);
        }
    }
    for (method, path) in all_routes() {
        let owners = wired
            .remove(&(method.to_string(), path.to_string()))
            .unwrap_or_default();
        assert_eq!(
            owners.len(),
            1,
            "{method} {path} must be wired to exactly one function, found {owners:?}"
        );
    }
    // What is left may only be the catch-all that answers the contract's 404/405.
    let extra: Vec<_> = wired
        .keys()
        .filter(|(_, path)| path != "$default")
        .collect();
    assert!(extra.is_empty(), "routes not in ROUTES: {extra:?}");
}

#[test]
fn sample_api_events_name_a_route_of_their_function() {
    let template = parse_template();
    for f in template.functions.values() {
        let path = root().join("events").join(format!("{}.json", f.binary));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // reported by the test above
        };
        let event: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let Some(route_key) = event.get("routeKey").and_then(|v| v.as_str()) else {
            assert!(
                f.routes.is_empty(),
                "{}: an API function's sample event must be an HTTP API v2 request",
                f.binary
            );
            continue;
        };
        let (method, route) = route_key.split_once(' ').expect("routeKey is METHOD PATH");
        assert!(
            f.routes.iter().any(|(m, p)| m == method && p == route),
            "events/{}.json is for {route_key}, which {} does not serve",
            f.binary,
            f.binary
        );
    }
}

#[test]
fn queue_consumers_have_dead_letters_room_and_partial_batch_failures() {
    let template = parse_template();
    let mut consumers = 0;
    for f in template.functions.values() {
        for (queue, event) in &f.queues {
            consumers += 1;
            let (visibility, redrive) = template
                .queues
                .get(queue)
                .unwrap_or_else(|| panic!("{}: consumes unknown queue {queue}", f.binary));
            assert!(
                *visibility >= 6 * f.timeout,
                "{queue}: visibility {visibility} s < 6 x {} s ({})",
                f.timeout,
                f.binary
            );
            assert!(
                event.contains("ReportBatchItemFailures"),
                "{}: SQS event without ReportBatchItemFailures",
                f.binary
            );
            // A dead-letter queue is consumed by the dead-letter handler only, and has no
            // dead-letter queue of its own (its failures stay in it for a person).
            let is_dead_letter_queue = template
                .queues
                .values()
                .any(|(_, r)| r.as_ref().is_some_and(|(_, dlq)| dlq == queue));
            if is_dead_letter_queue {
                assert_eq!(f.binary, "dead-letters", "{queue} is a dead-letter queue");
                assert!(
                    redrive.is_none(),
                    "{queue}: a dead-letter queue with a redrive"
                );
                continue;
            }
            assert_ne!(
                f.binary, "dead-letters",
                "dead-letters consumes {queue}, not a dead-letter queue"
            );
            let (max_receives, dlq) = redrive
                .as_ref()
                .unwrap_or_else(|| panic!("{queue}: no RedrivePolicy"));
            assert!(
                *max_receives >= 5,
                "{queue}: maxReceiveCount {max_receives}"
            );
            assert!(
                template.queues.contains_key(dlq),
                "{queue}: dead-letter queue {dlq:?} is not a queue of the template"
            );
        }
    }
    assert!(consumers > 0, "no SQS consumer found in the template");
    // Every dead-letter queue has the handler that fails its campaigns.
    for (queue, (_, redrive)) in &template.queues {
        if let Some((_, dlq)) = redrive {
            assert!(
                template
                    .functions
                    .values()
                    .any(|f| f.binary == "dead-letters" && f.queues.iter().any(|(q, _)| q == dlq)),
                "{queue}'s dead-letter queue {dlq} is not consumed by dead-letters"
            );
        }
    }
}
