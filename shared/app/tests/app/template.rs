//! The SAM template against the workspace: every crate in `functions/` is deployed (a
//! Function whose `BuildProperties.Binary` names it) and has a sample event in `events/`;
//! every route of the API is wired to a function, and only those; sample API events name
//! a route their function serves; every SQS consumer has a dead-letter queue after at
//! least 5 receives, a visibility timeout of at least 6x its timeout, and reports batch
//! item failures; every API function's role allows each DynamoDB and SQS call its
//! routes make, seen on the wire by driving those routes through the aws backend on
//! moto. (cfn-lint and `sam validate --lint` check the rest, in infra/test.sh.)
//!
//! The template is read with a small indentation-based reader for the subset of YAML it
//! uses (block mappings plus one-line `{ k: v }` flow mappings), so no YAML crate is
//! built for one test.

use reelforge_testkit as support;

use reelforge_testkit::fault_proxy;

use fault_proxy::{FaultProxy, Seen};
use http::Method;
use reelforge_app::api::handle;
use reelforge_app::{Context, Ports};
use reelforge_core::plans::Plan;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::api::{new_account, request};

/// The API's routes: the operations of the OpenAPI document (method and path as API
/// Gateway writes them). The router's own match arms must name exactly these
/// (`router_routes`), so a route added to the router fails here until it is documented
/// (shared/app/src/api/openapi.rs) and wired in the template.
fn all_routes() -> Vec<(String, String)> {
    reelforge_app::api::openapi::routes()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
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
    /// The text of its `Policies`.
    policies: String,
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
                policies: props.get("Policies").map(|p| p.text()).unwrap_or_default(),
            },
        );
    }
    Template { functions, queues }
}

/// The routes the shared router serves, read off its match arms
/// (`(["campaigns", id], &Method::GET) => ...` is `GET /api/v1/campaigns/{id}`, a
/// binding names its path parameter); arms with a wildcard method (the 405 answers) are
/// not routes.
fn router_routes() -> BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(root().join("shared/app/src/api/mod.rs")).expect("router");
    source
        .lines()
        .filter_map(|line| {
            // `if let (["openapi.json"], &Method::GET) = …`: the route served before the key check.
            let arm = line
                .trim()
                .trim_start_matches("if let ")
                .strip_prefix("([")?;
            let (segments, rest) = arm.split_once("], &Method::")?;
            let method = rest.split(')').next()?;
            let path: String = segments
                .split(',')
                .map(|segment| match segment.trim() {
                    quoted if quoted.starts_with('"') => quoted.trim_matches('"').to_string(),
                    binding => format!("{{{binding}}}"),
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
    reelforge_app::api::profiles::Kind::ALL
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
        .chain(["watermark", "end-clip", "music"].map(|file| {
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
        "shared/app/src/api/mod.rs serves other routes than the OpenAPI document lists"
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
    assert!(extra.is_empty(), "routes not documented: {extra:?}");
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

/// Where dead letters the dead-letter handler can't process end up.
const PARKING: &str = "ParkingQueue";

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
            // A dead-letter queue is consumed by the dead-letter handler only, and its own
            // redrive parks what the handler can't process (or read) after a few receives,
            // so a failing handler never loops on a message for 14 days.
            let is_dead_letter_queue = template
                .queues
                .values()
                .any(|(_, r)| r.as_ref().is_some_and(|(_, dlq)| dlq == queue));
            if is_dead_letter_queue {
                assert_eq!(f.binary, "dead-letters", "{queue} is a dead-letter queue");
                let (receives, parked) = redrive
                    .as_ref()
                    .unwrap_or_else(|| panic!("{queue}: a dead-letter queue without a redrive"));
                assert_eq!(parked, PARKING, "{queue} must park in {PARKING}");
                assert!(*receives <= 5, "{queue}: maxReceiveCount {receives}");
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
    // The parking queue is for a person: nothing consumes it, and it redrives nowhere.
    assert!(template.queues[PARKING].1.is_none());
    assert!(template
        .functions
        .values()
        .all(|f| f.queues.iter().all(|(q, _)| q != PARKING)));
    // Every dead-letter queue has the handler that fails its campaigns.
    for (queue, (_, redrive)) in &template.queues {
        if let Some((_, dlq)) = redrive {
            if dlq == PARKING {
                continue;
            }
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

/// A queue consumer that runs `lambda::run_stages` hands a failed stage's message back
/// early (`ChangeMessageVisibility`): its role must allow that on every queue it reads.
#[test]
fn stage_consumers_may_hand_their_messages_back() {
    let template = parse_template();
    let mut checked = 0;
    for (name, f) in &template.functions {
        let main = root().join("functions").join(&f.binary).join("src/main.rs");
        let source = std::fs::read_to_string(&main).expect("function main");
        if !source.contains("run_stages(") {
            continue;
        }
        let statement = f
            .policies
            .split("- Effect")
            .find(|s| s.contains("sqs:ChangeMessageVisibility"))
            .unwrap_or_else(|| panic!("{name} may not ChangeMessageVisibility"));
        assert!(
            !f.queues.is_empty(),
            "{name} runs run_stages but reads no queue"
        );
        for (queue, _) in &f.queues {
            assert!(
                statement.contains(&format!("{queue}.Arn")),
                "{name} may not ChangeMessageVisibility on {queue}"
            );
        }
        checked += 1;
    }
    assert_eq!(
        checked, 7,
        "the four pipeline stage functions, the two after review and the webhook sender"
    );
}

/// SPEC §11: destination credentials are sealed with KMS; only the publisher may open
/// them, and only under a destination's encryption context; the API may only seal.
#[test]
fn only_the_publisher_may_decrypt_and_only_destination_credentials() {
    let template = parse_template();
    let with = |action: &str| -> BTreeSet<String> {
        template
            .functions
            .values()
            .filter(|f| allowed(&f.policies, "kms").contains(action))
            .map(|f| f.binary.clone())
            .collect()
    };
    assert_eq!(
        with("Decrypt"),
        BTreeSet::from(["stage-publish".to_string()])
    );
    assert_eq!(
        with("Encrypt"),
        BTreeSet::from(["api-profiles".to_string(), "stage-publish".to_string()]),
        "the API seals destinations; the publisher seals a rotated TikTok token"
    );
    for f in template.functions.values() {
        let kms: BTreeSet<String> = allowed(&f.policies, "kms")
            .into_iter()
            .filter(|a| !a.starts_with("EncryptionContext"))
            .collect();
        assert!(
            kms.is_subset(&BTreeSet::from([
                "Encrypt".to_string(),
                "Decrypt".to_string()
            ])),
            "{}: {kms:?}",
            f.binary
        );
    }
    let publisher = template
        .functions
        .values()
        .find(|f| f.binary == "stage-publish")
        .expect("stage-publish");
    let statement = publisher
        .policies
        .split("- Effect")
        .find(|s| s.contains("kms:Decrypt"))
        .expect("the decrypt statement");
    assert!(
        statement.contains("\"kms:EncryptionContext:profile_id\": \"ds_*\""),
        "decrypt only under a destination's encryption context: {statement}"
    );
}

// ---------------------------------------------------------------------------------------
// Permissions against the calls each API function makes

/// The actions of one service a policy text allows: `dynamodb:GetItem` → `GetItem`
/// (condition keys such as `dynamodb:LeadingKeys:` are not actions).
fn allowed(policies: &str, service: &str) -> BTreeSet<String> {
    let prefix = format!("{service}:");
    policies
        .split(|c: char| c.is_whitespace() || "[],\"'".contains(c))
        .filter_map(|token| token.strip_prefix(prefix.as_str()))
        .filter(|action| !action.is_empty() && !action.ends_with(':'))
        .map(str::to_string)
        .collect()
}

/// The IAM actions one request on the wire needs: the operation itself, or for a
/// transaction, the action of each item in it (IAM authorises those, not the
/// transaction); plus the index, when a query names one.
fn needed(seen: &Seen) -> Vec<String> {
    if let Some(op) = seen.target.strip_prefix("AmazonSQS.") {
        return vec![format!("sqs:{op}")];
    }
    let Some(op) = seen.target.strip_prefix("DynamoDB_20120810.") else {
        return Vec::new(); // S3 is authorised by resource, checked by review
    };
    let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
    let mut actions = match op {
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.keys().next().cloned())
            .map(|kind| match kind.as_str() {
                "ConditionCheck" => "dynamodb:ConditionCheckItem".to_string(),
                other => format!("dynamodb:{other}Item"),
            })
            .collect(),
        "TransactGetItems" => vec!["dynamodb:GetItem".to_string()],
        _ => vec![format!("dynamodb:{op}")],
    };
    if let Some(index) = body["IndexName"].as_str() {
        actions.push(format!("index/{index}"));
    }
    actions
}

/// Whether a role allows what `needed` says: an action by name, an index by its ARN
/// appearing among the policy's resources.
fn allows(f: &Function, need: &str) -> bool {
    if need.starts_with("index/") {
        return f.policies.contains(need);
    }
    let (service, action) = need.split_once(':').expect("service:action");
    allowed(&f.policies, service).contains(action)
}

/// The id in a created resource's answer: `campaign_id`, or the record's own id inside
/// it (`{"voice_profile": {"voice_profile_id": ..., "provider_id": ...}}`).
fn created_id(answer: &Value) -> Option<String> {
    for field in ["campaign_id", "destination_id"] {
        if let Some(id) = answer[field].as_str() {
            return Some(id.to_string());
        }
    }
    answer.as_object()?.iter().find_map(|(name, record)| {
        record[format!("{name}_id").as_str()]
            .as_str()
            .map(str::to_string)
    })
}

/// A request body that each profile kind accepts; ids of profiles created earlier fill
/// the references.
fn profile_body(segment: &str, ids: &BTreeMap<String, String>) -> Value {
    match segment {
        "font-profiles" => json!({"profile_name": "Captions", "name": "Noto Sans", "size": 64}),
        "media-profiles" => json!({"profile_name": "Brand", "watermark_position": "bottom_left"}),
        "voice-profiles" => json!({"profile_name": "Narrator", "provider_id": "polly"}),
        "voices" => json!({
            "voice_name": "Joanna",
            "voice_profile_id": ids["voice-profiles"],
            "provider_voice_id": "Joanna",
        }),
        "playlists" => json!({"playlist_name": "Launch", "font_profile_id": ids["font-profiles"]}),
        other => panic!("no body for {other}"),
    }
}

/// Every route of the API (and an unmatched path, which goes to `$default`) is sent
/// through the aws backend on moto via a recording proxy, creating before reading and
/// deleting last so each route does its real work; every DynamoDB and SQS call a
/// request makes must be allowed by the role of the function API Gateway sends that
/// route to. (The stage workers and the webhook sender are not driven here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_roles_allow_every_call_their_routes_make() {
    let template = parse_template();
    let owner = |method: &str, path: &str| -> &str {
        template
            .functions
            .iter()
            .find(|(_, f)| f.routes.iter().any(|(m, p)| m == method && p == path))
            .map(|(name, _)| name.as_str())
            .unwrap_or_else(|| panic!("{method} {path} is not wired"))
    };

    let direct = Arc::new(support::moto::aws_store().await);
    let proxy = FaultProxy::start(support::moto::endpoint()).await;
    let through = Arc::new(proxy.aws_store(direct.names().clone()).await);
    // Destination credentials are sealed before they are stored (KMS on AWS; a local
    // key here: the sealer makes no table or queue call).
    let app = Context::new(Ports::from_store(through)).with_sealer(Arc::new(
        reelforge_local::LocalKeySealer::from_key(&[7; 32]).expect("sealer"),
    ));
    let (_, key) = new_account(&Ports::from_store(direct), Plan::Enterprise, Some(100)).await;

    // Creates first (profiles in an order that satisfies their references, then a
    // campaign), then reads and replacements, then deletes; the unmatched path last.
    let phase = |method: &str| match method {
        "POST" => 0,
        "GET" | "PUT" => 1,
        _ => 2,
    };
    let kind_order = [
        "font-profiles",
        "media-profiles",
        "voice-profiles",
        "voices",
        "playlists",
    ];
    let mut routes = all_routes();
    routes.sort_by_key(|(m, p)| {
        let kind = kind_order
            .iter()
            .position(|k| p.contains(&format!("/{k}")))
            .unwrap_or(kind_order.len());
        (phase(m), kind, p.len())
    });
    routes.push(("GET".to_string(), "/api/v1/no-such-route".to_string()));

    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut refused = Vec::new();
    for (ip, (method, route)) in (1u32..).zip(&routes) {
        let function = if route == "/api/v1/no-such-route" {
            owner("ANY", "$default")
        } else {
            owner(method, route)
        };
        let segment = route
            .trim_start_matches("/api/v1/")
            .split('/')
            .next()
            .unwrap();
        let mut path = match ids.get(segment) {
            Some(id) => route.replace("{id}", id),
            None => route.clone(),
        };
        if let Some(video) = ids.get("video") {
            path = path.replace("{video_id}", video);
        }
        let body = match (method.as_str(), segment) {
            (_, "campaigns") | (_, "estimate") if method == "POST" && !route.contains("{id}") => {
                if segment == "campaigns" {
                    json!({"url": "https://93.184.216.34/", "languages": ["en", "ja"]})
                } else {
                    json!({"kind": "viral_captions", "duration_seconds": 30})
                }
            }
            ("POST", "destinations") if !route.contains("{id}") => json!({
                "provider": "youtube",
                "name": "Brand channel",
                "client_id": "1234567890-abc.apps.googleusercontent.com",
                "client_secret": "GOCSPX-0123456789abcdef",
                "refresh_token": "1//0g0123456789abcdefghij",
            }),
            ("PUT", "campaigns") if route.ends_with("/script") => {
                json!({"script": "A better script for this product."})
            }
            ("POST" | "PUT", _)
                if !route.ends_with("/watermark")
                    && !route.ends_with("/end-clip")
                    && !route.ends_with("/music")
                    && kind_order.contains(&segment) =>
            {
                profile_body(segment, &ids)
            }
            _ => Value::Null,
        };
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let mut req = request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            &path,
            Some(&key),
            ip,
            &body,
        );
        if route == "/api/v1/campaigns" {
            req.headers
                .insert("idempotency-key", "iam-check".parse().unwrap());
        }
        let before = proxy.seen().len();
        let resp = handle(&app, req).await;
        let answer: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        let context = format!(
            "{method} {path} ({function}) answered {}: {answer}",
            resp.status
        );
        assert!(resp.status.as_u16() < 500, "{context}");
        if method == "POST" && !route.contains("{id}") && route != "/api/v1/estimate" {
            assert_eq!(resp.status, 201, "{context}");
            let id = created_id(&answer).unwrap_or_else(|| panic!("no id in {context}"));
            ids.insert(segment.to_string(), id);
        }
        // The campaign's first video, for the routes under it.
        if let Some(video) = answer["videos"][0]["id"].as_str() {
            ids.insert("video".to_string(), video.to_string());
        }
        let f = &template.functions[function];
        for seen in &proxy.seen()[before..] {
            if seen.target.ends_with(".DeleteItem") {
                assert!(
                    seen.body.contains(r#""S":"PROFILES#"#),
                    "{context}: deletes outside the profiles: {}",
                    seen.body
                );
            }
            for need in needed(seen) {
                if !allows(f, &need) {
                    refused.push(format!("{function}: {method} {route} needs {need}"));
                }
            }
        }
    }
    println!(
        "{} requests, {} calls on the wire checked against their roles",
        routes.len(),
        proxy.seen().len()
    );
    refused.sort();
    refused.dedup();
    assert!(
        refused.is_empty(),
        "calls the roles would refuse:\n{}",
        refused.join("\n")
    );
    // Deleting is allowed only on profile items (a LeadingKeys condition): the only
    // function that deletes is the profiles one.
    assert!(template.functions["ApiProfiles"]
        .policies
        .contains(r#"dynamodb:LeadingKeys: ["PROFILES#*"]"#));
}

/// Safe deploys and monitoring: tracing is on for every function (Globals), each
/// function shifts traffic under CodeDeploy with its own errors alarm as the rollback
/// trigger, and every queue has an age alarm and every dead-letter queue a depth alarm.
#[test]
fn functions_roll_back_on_their_alarms_and_queues_are_watched() {
    let source = std::fs::read_to_string(root().join("template.yaml")).expect("template");
    assert!(
        source.contains("    Tracing: Active\n"),
        "Globals: Tracing Active"
    );
    assert!(source.contains("    AutoPublishAlias: live\n"));
    let template = parse_template();
    for name in template.functions.keys() {
        assert!(
            source.contains(&format!("Alarms: [!Ref {name}ErrorsAlarm]")),
            "{name}: no DeploymentPreference rolled back by its errors alarm"
        );
        assert!(source.contains(&format!("  {name}ErrorsAlarm:\n")));
        assert!(source.contains(&format!("  {name}ThrottlesAlarm:\n")));
    }
    for (queue, (_, redrive)) in &template.queues {
        let watched = source.contains(&format!("QueueName, Value: !GetAtt {queue}.QueueName"));
        assert!(watched, "{queue} has no alarm");
        if redrive.is_some() && queue.ends_with("Queue") {
            assert!(
                source.contains(&format!("  {}AgeAlarm:\n", queue)),
                "{queue} has no oldest-message alarm"
            );
        }
    }
}
