//! The SAM template against the workspace: every crate in `functions/` is deployed (a
//! Function whose `BuildProperties.Binary` names it) and has a sample event in `events/`;
//! every route of the API is wired to a function, and only those; sample API events name
//! a route their function serves; every SQS consumer has a dead-letter queue after at
//! least 5 receives, a visibility timeout of at least 6x its timeout, and reports batch
//! item failures; every API function's role allows each DynamoDB and SQS call its
//! routes make, seen on the wire by driving those routes through the aws backend on
//! moto, and each worker's role the store calls its code makes, with the
//! `dynamodb:LeadingKeys` conditions evaluated (docs/deploy.md, "DynamoDB items per
//! function"). (cfn-lint and `sam validate --lint` check the rest, in infra/test.sh.)
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
    // What is left may only be the catch-all that answers the contract's 404/405 and
    // the dashboard's files, which are not the router's routes but `dashboard::paths`
    // served by their own function (checked by the test below).
    let extra: Vec<_> = wired
        .iter()
        .filter(|((method, path), owners)| {
            let dashboard = method == "ANY"
                && reelforge_app::dashboard::paths().any(|p| p == path)
                && owners.as_slice() == [DASHBOARD];
            path != "$default" && !dashboard
        })
        .collect();
    assert!(extra.is_empty(), "routes not documented: {extra:?}");
}

/// The dashboard's function, the one deliberate exception to "every route is the
/// router's" and "every function keeps records": its routes are exactly the paths
/// `reelforge_app::dashboard` serves (any method: GET and HEAD answered, others its
/// 405), no other function has one of them, and it may call nothing (no `Policies` or
/// `Role`: SAM's default role, its logs and X-Ray traces), with a log group like every
/// function's, a per-route throttle backstop (no key, no per-IP window) and the media
/// bucket's origin for its policy. Its crate is built without the `store` feature.
#[test]
fn the_dashboard_function_serves_exactly_its_files_and_may_call_nothing() {
    let source = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let all = lines(&source);
    let top = mapping(&all);
    let resources = mapping(&top.get("Resources").expect("Resources").body);
    let template = parse_template();
    let f = &template.functions[DASHBOARD];
    assert_eq!(f.binary, "api-dashboard");
    let routes: BTreeSet<(String, String)> = f.routes.iter().cloned().collect();
    let paths: BTreeSet<(String, String)> = reelforge_app::dashboard::paths()
        .map(|p| ("ANY".to_string(), p.to_string()))
        .collect();
    assert_eq!(routes.len(), f.routes.len(), "a route wired twice");
    assert_eq!(
        routes, paths,
        "the dashboard's events and the paths it serves"
    );
    for (name, other) in &template.functions {
        if name != DASHBOARD {
            let taken: Vec<_> = other
                .routes
                .iter()
                .filter(|(_, p)| reelforge_app::dashboard::paths().any(|d| d == p))
                .collect();
            assert!(taken.is_empty(), "{name} routes {taken:?}");
        }
    }
    // No permissions of its own.
    let props = resources[DASHBOARD].get("Properties").expect("Properties");
    for key in [
        "Policies",
        "Role",
        "Layers",
        "VpcConfig",
        "FileSystemConfigs",
    ] {
        assert!(props.get(key).is_none(), "ApiDashboard has {key}");
    }
    assert!(f.policies.is_empty());
    assert!(f.queues.is_empty());
    let logs = resources["ApiDashboardLogs"].text();
    assert!(
        logs.contains("Type: AWS::Logs::LogGroup")
            && logs.contains(r#"LogGroupName: !Sub "/aws/lambda/${ApiDashboard}""#),
        "{logs}"
    );
    let variables = props
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .expect("Environment Variables");
    assert_eq!(
        variables.get("REELFORGE_MEDIA_ORIGIN").map(|v| v.inline),
        Some(r#"!Sub "https://${MediaBucket}.s3.${AWS::Region}.${AWS::URLSuffix}""#),
        "the media bucket's virtual-hosted regional origin (shared/lambda/tests: the presigned links')"
    );
    let throttled = resources["Api"]
        .get("Properties")
        .and_then(|p| p.get("RouteSettings"))
        .expect("RouteSettings");
    for path in reelforge_app::dashboard::paths() {
        let route = throttled
            .get(&format!("ANY {path}"))
            .unwrap_or_else(|| panic!("no throttle backstop for ANY {path}"));
        assert!(route.scalar("ThrottlingRateLimit").is_some());
    }
    let manifest = std::fs::read_to_string(root().join("functions/api-dashboard/Cargo.toml"))
        .expect("api-dashboard Cargo.toml");
    assert!(
        manifest.contains("reelforge-lambda.workspace = true\n"),
        "api-dashboard is built without features (no store): {manifest}"
    );
    let main = std::fs::read_to_string(root().join("functions/api-dashboard/src/main.rs"))
        .expect("api-dashboard main");
    assert!(main.contains("reelforge_lambda::run_dashboard()"));
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

/// The dashboard's function: no record, no queue, no route of the router.
const DASHBOARD: &str = "ApiDashboard";
/// The function that renders video parts: S3 and MediaConvert only, no records, no
/// messages (docs/video.md "On AWS").
const RENDER_CLIP: &str = "RenderClip";

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
        checked, 8,
        "the five pipeline stage functions, the two after review and the webhook sender"
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

/// Issue #16: Chromium runs unsandboxed, so it runs alone in `stage-process`: the only
/// crate built with the `capture` feature, the only function with the Chromium layer and
/// its binary path, and a role that reaches nothing but its table items, its queues and
/// the S3 work prefix (`pipeline/artifacts.rs`: every key the process stage reads or
/// writes is under `work/`).
#[test]
fn capture_runs_alone_with_a_role_reaching_only_the_work_prefix() {
    let source = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let all = lines(&source);
    let top = mapping(&all);
    let resources = mapping(&top.get("Resources").expect("Resources").body);
    let template = parse_template();
    let mut chromium = BTreeSet::new();
    for name in template.functions.keys() {
        let text = resources[name.as_str()].text();
        if text.contains("ChromiumLayerArn") || text.contains("REELFORGE_CHROMIUM") {
            chromium.insert(template.functions[name].binary.clone());
        }
    }
    let capture: BTreeSet<String> = function_crates()
        .into_iter()
        .filter(|name| {
            std::fs::read_to_string(root().join("functions").join(name).join("Cargo.toml"))
                .expect("Cargo.toml")
                .contains("\"capture\"")
        })
        .collect();
    let only = BTreeSet::from(["stage-process".to_string()]);
    assert_eq!(capture, only, "crates built with the capture feature");
    assert_eq!(chromium, only, "functions with the Chromium layer or path");
    let main = std::fs::read_to_string(root().join("functions/stage-process/src/main.rs"))
        .expect("stage-process main");
    assert!(
        main.contains("run_stages(&[Stage::Process])"),
        "stage-process runs the process stage alone"
    );

    let process = &template.functions["StageProcess"];
    for service in [
        "kms",
        "bedrock",
        "polly",
        "mediaconvert",
        "iam",
        "events",
        "ssm",
        "secretsmanager",
    ] {
        assert!(
            allowed(&process.policies, service).is_empty(),
            "StageProcess may call {service}"
        );
    }
    assert_eq!(
        allowed(&process.policies, "s3"),
        BTreeSet::from(["GetObject".to_string(), "PutObject".to_string()])
    );
    for statement in process.policies.split("- Effect").skip(1) {
        if statement.contains("s3:") {
            let resources: Vec<&str> = statement
                .lines()
                .filter(|l| l.contains("MediaBucket"))
                .collect();
            assert_eq!(
                resources,
                vec![r#"Resource: !Sub "${MediaBucket.Arn}/work/*""#],
                "StageProcess reaches S3 beyond the work prefix: {statement}"
            );
        }
    }
    let statements = dynamodb_statements(&process.policies);
    assert!(!statements.is_empty());
    for s in &statements {
        let keys = s.leading_keys.clone().unwrap_or_default();
        assert_eq!(
            keys,
            vec!["CAMPAIGN#*".to_string(), "QUOTA#*".to_string()],
            "StageProcess: table items beyond campaigns and quotas: {s:?}"
        );
    }
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

/// One `Allow` statement of a role, as far as the DynamoDB checks need it.
#[derive(Clone, Debug)]
struct Statement {
    /// `dynamodb:GetItem`, ...
    actions: BTreeSet<String>,
    /// Whether its resources include the table itself (`!GetAtt Table.Arn`).
    table: bool,
    /// The indexes among its resources (`!Sub "${Table.Arn}/index/gsi1"` → `gsi1`).
    indexes: BTreeSet<String>,
    /// `ForAllValues:StringLike: dynamodb:LeadingKeys: [...]`: the partition-key patterns
    /// every item of a request must match; `None` when the statement has no condition.
    leading_keys: Option<Vec<String>>,
}

/// The DynamoDB statements of a role's policies (`- Effect: Allow` blocks that name a
/// `dynamodb:` action). Conditions other than `ForAllValues:StringLike` on
/// `dynamodb:LeadingKeys` (one flow list) are refused: the checks below would not
/// understand them.
fn dynamodb_statements(policies: &str) -> Vec<Statement> {
    policies
        .split("- Effect")
        .skip(1)
        .filter_map(|chunk| {
            let actions: BTreeSet<String> = allowed(chunk, "dynamodb")
                .into_iter()
                .map(|a| format!("dynamodb:{a}"))
                .collect();
            if actions.is_empty() {
                return None;
            }
            assert!(
                chunk.trim_start().starts_with(": Allow"),
                "only Allow statements are understood: {chunk}"
            );
            let indexes = chunk
                .split("${Table.Arn}/index/")
                .skip(1)
                .map(|rest| rest.split(['"', '\n']).next().unwrap_or("").to_string())
                .collect();
            let leading_keys = chunk.split_once("dynamodb:LeadingKeys:").map(|(before, after)| {
                assert!(
                    before.contains("ForAllValues:StringLike:"),
                    "LeadingKeys only under ForAllValues:StringLike (ForAnyValue would allow any item beside one that matches): {chunk}"
                );
                let list = after.lines().next().unwrap_or("").trim();
                let inner = list
                    .strip_prefix('[')
                    .and_then(|l| l.strip_suffix(']'))
                    .unwrap_or_else(|| panic!("LeadingKeys as a one-line flow list: {chunk}"));
                inner.split(',').map(unquote).filter(|p| !p.is_empty()).collect()
            });
            if leading_keys.is_none() {
                assert!(
                    !chunk.contains("Condition:"),
                    "a condition other than LeadingKeys on a DynamoDB statement: {chunk}"
                );
            }
            Some(Statement {
                actions,
                table: chunk.contains("!GetAtt Table.Arn"),
                indexes,
                leading_keys,
            })
        })
        .collect()
}

/// IAM's `StringLike`: `*` matches any run of characters, `?` any one.
fn string_like(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some(('?', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    go(&p, &v)
}

/// What IAM authorises for one request (or one item of a transaction): an action, on
/// the table or an index, for the partition-key values it touches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Need {
    action: String,
    index: Option<String>,
    /// `dynamodb:LeadingKeys` of the request: the partition key of each item it names
    /// (for a Query, the partition value of its key condition, which on an index is the
    /// index's partition key).
    leading_keys: Vec<String>,
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.action)?;
        if let Some(index) = &self.index {
            write!(f, " on index/{index}")?;
        }
        if !self.leading_keys.is_empty() {
            write!(f, " for {}", self.leading_keys.join(", "))?;
        }
        Ok(())
    }
}

/// A string attribute value (`{"S": "..."}`).
fn string_value(value: &Value) -> String {
    value["S"]
        .as_str()
        .unwrap_or_else(|| panic!("a string key value, not {value}"))
        .to_string()
}

/// The partition value of a Query: the `=` clause of its key condition on the table's
/// (`pk`) or the index's (`gsi1pk`) partition key.
fn query_partition(body: &Value) -> String {
    let partition = if body["IndexName"].is_string() {
        "gsi1pk"
    } else {
        "pk"
    };
    let expression = body["KeyConditionExpression"]
        .as_str()
        .unwrap_or_else(|| panic!("a Query without KeyConditionExpression: {body}"));
    for clause in expression.split(" AND ") {
        let Some((lhs, rhs)) = clause.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim();
        if lhs.ends_with(['<', '>']) {
            continue;
        }
        let name = body["ExpressionAttributeNames"][lhs]
            .as_str()
            .unwrap_or(lhs);
        if name == partition {
            return string_value(&body["ExpressionAttributeValues"][rhs.trim()]);
        }
    }
    panic!("no partition-key clause in {expression:?}")
}

/// What one request on the wire needs: the operation itself, or for a transaction, the
/// action of each item in it (IAM authorises those, not the transaction), each with the
/// partition keys it touches (`dynamodb:LeadingKeys`: Key for GetItem, UpdateItem and
/// DeleteItem, Item for PutItem, every key of a batch, the key condition's partition
/// value for a Query).
fn needed(seen: &Seen) -> Vec<Need> {
    let plain = |action: String| Need {
        action,
        index: None,
        leading_keys: Vec::new(),
    };
    if let Some(op) = seen.target.strip_prefix("AmazonSQS.") {
        return vec![plain(format!("sqs:{op}"))];
    }
    let Some(op) = seen.target.strip_prefix("DynamoDB_20120810.") else {
        return Vec::new(); // S3 is authorised by resource, checked by review
    };
    let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
    let pk = |item: &Value| string_value(&item["pk"]);
    let on = |action: &str, keys: Vec<String>| Need {
        action: format!("dynamodb:{action}"),
        index: body["IndexName"].as_str().map(str::to_string),
        leading_keys: keys,
    };
    match op {
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.iter().next())
            .map(|(kind, detail)| {
                let key = if kind == "Put" {
                    pk(&detail["Item"])
                } else {
                    pk(&detail["Key"])
                };
                let action = match kind.as_str() {
                    "ConditionCheck" => "ConditionCheckItem".to_string(),
                    other => format!("{other}Item"),
                };
                on(&action, vec![key])
            })
            .collect(),
        "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| on("GetItem", vec![pk(&item["Get"]["Key"])]))
            .collect(),
        "BatchGetItem" => vec![on(
            "BatchGetItem",
            body["RequestItems"]
                .as_object()
                .into_iter()
                .flat_map(|tables| tables.values())
                .flat_map(|t| t["Keys"].as_array().cloned().unwrap_or_default())
                .map(|key| pk(&key))
                .collect(),
        )],
        "GetItem" | "UpdateItem" | "DeleteItem" => vec![on(op, vec![pk(&body["Key"])])],
        "PutItem" => vec![on(op, vec![pk(&body["Item"])])],
        "Query" => vec![on(op, vec![query_partition(&body)])],
        _ => vec![on(op, Vec::new())],
    }
}

/// Whether a role allows what `needed` says: an SQS action by name; a DynamoDB action
/// through one statement that names it, on the table or the index the request is on,
/// whose LeadingKeys condition (if any) matches every partition key the request touches
/// (`ForAllValues`: all of them, each against any pattern).
fn allows(f: &Function, need: &Need) -> bool {
    let (service, action) = need.action.split_once(':').expect("service:action");
    if service != "dynamodb" {
        return allowed(&f.policies, service).contains(action);
    }
    allows_dynamodb(&dynamodb_statements(&f.policies), need)
}

fn allows_dynamodb(statements: &[Statement], need: &Need) -> bool {
    statements.iter().any(|s| {
        s.actions.contains(&need.action)
            && match &need.index {
                Some(index) => s.indexes.contains(index),
                None => s.table,
            }
            && s.leading_keys.as_ref().is_none_or(|patterns| {
                need.leading_keys
                    .iter()
                    .all(|key| patterns.iter().any(|p| string_like(p, key)))
            })
    })
}

/// Prefixes a role grants from reading the code, on paths the driven calls do not take:
/// (function, pattern, why).
const API_PREFIXES_FROM_CODE: &[(&str, &str, &str)] = &[
    (
        "ApiCampaignGet",
        "ACCOUNT#*",
        "the listing reads the account to sign or verify a cursor (api/listing.rs), only when there is a next page",
    ),
    (
        "ApiCampaignCreate",
        "QUOTA#*",
        "create_campaign reads the quota when the reservation cannot fit or a refused write returned no item (store/campaigns.rs)",
    ),
    (
        "ApiCampaignCreate",
        "PROFILES#*",
        "a campaign that names profiles or a playlist reads them (api/campaigns.rs); this one names none",
    ),
    (
        "ApiCampaignReview",
        "PROFILES#*",
        "publishing reads the destinations it names (api/review.rs); the campaign here never reaches review",
    ),
    (
        "ApiCampaignReview",
        "CAMPAIGN#*",
        "an edit or a publish writes the campaign (and campaign.published) through lifecycle::update/advance (api/review.rs); the campaign here never reaches review",
    ),
    (
        "ApiAccount",
        "WIN#*",
        "a window is read when a refused append returned no item (store/windows.rs); moto always returns it",
    ),
    ("ApiCampaignCreate", "WIN#*", "as for ApiAccount"),
    ("ApiCampaignGet", "WIN#*", "as for ApiAccount"),
    ("ApiCampaignReview", "WIN#*", "as for ApiAccount"),
    ("ApiProfiles", "WIN#*", "as for ApiAccount"),
];

/// Each LeadingKeys pattern of each role the calls cover is needed: without it, some
/// call is refused (these are the refusals the check now catches), unless the pattern is
/// listed as granted from reading the code.
fn prefixes_are_needed(
    template: &Template,
    calls: &[(String, String, Need)],
    from_code: &[(&str, &str, &str)],
) {
    let functions: BTreeSet<&str> = calls.iter().map(|(f, _, _)| f.as_str()).collect();
    let mut caught = 0;
    let mut unused = Vec::new();
    for function in functions {
        let statements = dynamodb_statements(&template.functions[function].policies);
        let needs: Vec<&Need> = calls
            .iter()
            .filter(|(f, _, need)| f == function && need.action.starts_with("dynamodb:"))
            .map(|(_, _, need)| need)
            .collect();
        for (i, statement) in statements.iter().enumerate() {
            for pattern in statement.leading_keys.iter().flatten() {
                let mut without = statements.clone();
                without[i]
                    .leading_keys
                    .as_mut()
                    .unwrap()
                    .retain(|p| p != pattern);
                let refused = needs
                    .iter()
                    .filter(|need| !allows_dynamodb(&without, need))
                    .count();
                if refused > 0 {
                    caught += 1;
                } else if !from_code
                    .iter()
                    .any(|(f, p, _)| *f == function && p == pattern)
                {
                    unused.push(format!(
                        "{function}: {pattern} in the statement for {:?}",
                        statement.actions
                    ));
                }
            }
        }
    }
    println!("{caught} granted prefixes each refuse at least one real call when taken away");
    assert!(caught > 0);
    assert!(
        unused.is_empty(),
        "prefixes no call needs (drop them, or list them as granted from the code):\n{}",
        unused.join("\n")
    );
}

/// The item kinds the review named: API keys and accounts are written by no function
/// (operators write them with the CLI); the account item holds the webhook secrets, so
/// only the functions that sign or verify with them (webhook deliveries, listing
/// cursors) and the account overview read it; every DynamoDB grant on the table is
/// scoped by LeadingKeys, and nothing may Scan (a Scan has no leading keys, so a
/// `ForAllValues` condition would not limit it).
#[test]
fn keys_and_accounts_are_written_by_no_function_and_read_by_few() {
    let template = parse_template();
    let writes = [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ];
    let reads = [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
    ];
    let mut account_readers = BTreeSet::new();
    for (name, f) in &template.functions {
        let statements = dynamodb_statements(&f.policies);
        if name == DASHBOARD || name == RENDER_CLIP {
            // The functions that keep no records (the test above, and
            // `render_clip_reads_work_files_writes_its_render_and_starts_jobs`).
            assert!(statements.is_empty(), "{name} may reach the table");
            continue;
        }
        assert!(!statements.is_empty(), "{name}: no DynamoDB access at all?");
        for s in &statements {
            assert!(
                s.leading_keys.is_some(),
                "{name}: a DynamoDB grant without LeadingKeys reaches every item: {s:?}"
            );
            assert!(
                !s.actions
                    .iter()
                    .any(|a| a.contains("Scan") || a.contains("PartiQL")),
                "{name}: {s:?}"
            );
        }
        let can = |actions: &[&str], key: &str, index: Option<&str>| {
            actions.iter().any(|action| {
                allows_dynamodb(
                    &statements,
                    &Need {
                        action: action.to_string(),
                        index: index.map(str::to_string),
                        leading_keys: vec![key.to_string()],
                    },
                )
            })
        };
        for key in ["KEY#0123abcd", "ACCOUNT#acct_1"] {
            assert!(!can(&writes, key, None), "{name} may write {key}");
        }
        if can(&reads, "ACCOUNT#acct_1", None) {
            account_readers.insert(name.as_str());
        }
    }
    assert_eq!(
        account_readers,
        BTreeSet::from(["ApiAccount", "ApiCampaignGet", "WebhookSender"]),
        "who may read account items (and so webhook secrets)"
    );
}

/// The evaluation itself refuses what it should: a role without the prefix, a write
/// where only a read is granted, an index query under a table-only grant.
#[test]
fn a_role_without_the_prefix_is_refused() {
    let policy = r#"
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:Query]
              Resource: !GetAtt Table.Arn
              Condition:
                ForAllValues:StringLike:
                  dynamodb:LeadingKeys: ["WIN#*", "CAMPAIGN#*"]
            - Effect: Allow
              Action: dynamodb:UpdateItem
              Resource: !GetAtt Table.Arn
              Condition:
                ForAllValues:StringLike:
                  dynamodb:LeadingKeys: ["WIN#*"]
"#;
    let statements = dynamodb_statements(policy);
    assert_eq!(statements.len(), 2);
    let need = |action: &str, index: Option<&str>, keys: &[&str]| Need {
        action: format!("dynamodb:{action}"),
        index: index.map(str::to_string),
        leading_keys: keys.iter().map(|k| k.to_string()).collect(),
    };
    let ok = |n: Need| allows_dynamodb(&statements, &n);
    assert!(ok(need("GetItem", None, &["CAMPAIGN#1"])));
    assert!(ok(need("UpdateItem", None, &["WIN#ip:1"])));
    assert!(!ok(need("GetItem", None, &["KEY#abc"])), "no KEY# prefix");
    assert!(!ok(need("UpdateItem", None, &["CAMPAIGN#1"])), "read only");
    assert!(
        !ok(need("PutItem", None, &["WIN#ip:1"])),
        "action not granted"
    );
    assert!(
        !ok(need("Query", Some("gsi1"), &["ACCOUNT#a"])),
        "the index is another resource"
    );
    assert!(
        !ok(need("GetItem", None, &["CAMPAIGN#1", "ACCOUNT#a"])),
        "ForAllValues: every key of the request"
    );
    // A request the proxy saw, refused by the first statement for its key.
    let seen = Seen {
        target: "DynamoDB_20120810.GetItem".to_string(),
        body: r#"{"TableName":"t","Key":{"pk":{"S":"KEY#abc"},"sk":{"S":"KEY"}}}"#.to_string(),
        fault: None,
    };
    let needs = needed(&seen);
    assert_eq!(needs, vec![need("GetItem", None, &["KEY#abc"])]);
    assert!(!allows_dynamodb(&statements, &needs[0]));
    let query = Seen {
        target: "DynamoDB_20120810.Query".to_string(),
        body: r##"{"TableName":"t","IndexName":"gsi1","KeyConditionExpression":"#g = :g AND begins_with(#s, :p)","ExpressionAttributeNames":{"#g":"gsi1pk","#s":"gsi1sk"},"ExpressionAttributeValues":{":g":{"S":"ACCOUNT#a"},":p":{"S":"KEY#"}}}"##.to_string(),
        fault: None,
    };
    assert_eq!(
        needed(&query),
        vec![need("Query", Some("gsi1"), &["ACCOUNT#a"])]
    );
    let any_value = std::panic::catch_unwind(|| {
        dynamodb_statements(&policy.replace("ForAllValues", "ForAnyValue"))
    });
    assert!(any_value.is_err(), "ForAnyValue is refused");
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
/// route to, LeadingKeys included. (The workers are checked by
/// `worker_roles_allow_the_store_calls_their_code_makes`.)
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
    // (function, route, need) of every call made.
    let mut calls: Vec<(String, String, Need)> = Vec::new();
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
        for seen in &proxy.seen()[before..] {
            if seen.target.ends_with(".DeleteItem") {
                assert!(
                    seen.body.contains(r#""S":"PROFILES#"#),
                    "{context}: deletes outside the profiles: {}",
                    seen.body
                );
            }
            for need in needed(seen) {
                calls.push((function.to_string(), format!("{method} {route}"), need));
            }
        }
    }
    calls.sort();
    calls.dedup();
    for (function, route, need) in &calls {
        if !allows(&template.functions[function], need) {
            refused.push(format!("{function}: {route} needs {need}"));
        }
    }
    println!(
        "{} requests, {} calls on the wire ({} distinct needs) checked against their roles",
        routes.len(),
        proxy.seen().len(),
        calls.len()
    );
    assert!(
        refused.is_empty(),
        "calls the roles would refuse:\n{}",
        refused.join("\n")
    );
    prefixes_are_needed(&template, &calls, API_PREFIXES_FROM_CODE);
    // Deleting is allowed only on profile items (a LeadingKeys condition): the only
    // function that deletes is the profiles one.
    assert!(template.functions["ApiProfiles"]
        .policies
        .contains(r#"dynamodb:LeadingKeys: ["PROFILES#*"]"#));
}

/// The workers' roles against the store calls their code makes. The stage functions,
/// render events, dead letters and the webhook sender are not driven end to end here
/// (they need Chromium, Bedrock, Polly, MediaConvert and a receiver); the library calls
/// they make on the table are, through the recording proxy on moto: a stage's claim
/// (`pipeline::lease::claim`), a failure with a refund and a `campaign.failed` event
/// (`pipeline::dead_letter`, which is `lifecycle::fail` as every stage's failure path),
/// a finish with ready videos (the transition that adds to the produced-video counters),
/// re-queueing unstarted events, a delivery's reads and attempt writes, and a
/// destination's read and token write-back. Which function makes which of these is
/// read off the code (`GROUPS` below); each role must allow every call of its groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_roles_allow_the_store_calls_their_code_makes() {
    use reelforge_app::pipeline;
    use reelforge_core::model::{CampaignStatus, Stage, StageMessage, VideoStatus};
    use reelforge_core::ports::{
        AccountStore, CampaignStore, ProfileRecord, ProfileStore, WebhookStore,
    };

    const STAGES: &[&str] = &[
        "StageCollect",
        "StageProcess",
        "StageScript",
        "StageVoiceover",
        "StageRender",
        "StageRerender",
        "StagePublish",
    ];
    const FAILING: &[&str] = &[
        "StageCollect",
        "StageProcess",
        "StageScript",
        "StageVoiceover",
        "StageRender",
        "RenderEvents",
        "DeadLetters",
    ];
    // (group, the functions whose code makes its calls)
    let groups: Vec<(&str, Vec<&str>)> = vec![
        ("claim", STAGES.to_vec()),
        ("fail", FAILING.to_vec()),
        ("finish", vec!["StageRender", "RenderEvents", "DeadLetters"]),
        ("requeue", [STAGES, FAILING].concat()),
        ("deliver", vec!["WebhookSender"]),
        ("abandon", vec!["DeadLetters"]),
        ("destination", vec!["StagePublish"]),
    ];

    let template = parse_template();
    let direct = Arc::new(support::moto::aws_store().await);
    let proxy = FaultProxy::start(support::moto::endpoint()).await;
    let through = Arc::new(proxy.aws_store(direct.names().clone()).await);
    let app = Context::new(Ports::from_store(through.clone()));
    let setup = Context::new(Ports::from_store(direct.clone()));
    let (account, key) = new_account(
        &Ports::from_store(direct.clone()),
        Plan::Enterprise,
        Some(100),
    )
    .await;
    let mut campaigns = Vec::new();
    for ip in 1..=2u32 {
        let body = json!({
            "url": "https://93.184.216.34/",
            "languages": ["en"],
            "webhook_url": "https://93.184.216.34/hook",
        })
        .to_string();
        let resp = handle(
            &setup,
            request(Method::POST, "/api/v1/campaigns", Some(&key), ip, &body),
        )
        .await;
        let answer: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        assert_eq!(resp.status, 201, "{answer}");
        let id: uuid::Uuid = answer["campaign_id"].as_str().unwrap().parse().unwrap();
        campaigns.push(id);
    }
    let (a, b) = (campaigns[0], campaigns[1]);

    let mut recorded: BTreeMap<&str, Vec<Need>> = BTreeMap::new();
    let mut mark = proxy.seen().len();
    let mut record = |group: &'static str, recorded: &mut BTreeMap<&str, Vec<Need>>| {
        let seen = proxy.seen();
        let needs = seen[mark..].iter().flat_map(needed);
        recorded.entry(group).or_default().extend(needs);
        mark = seen.len();
    };

    // A stage claims campaign a, and renews its claim.
    let claim = pipeline::lease::claim(&app, a, Stage::Collect, |_| {})
        .await
        .expect("claim");
    drop(claim);
    through
        .renew_lease(a, "someone-else", 0)
        .await
        .expect("renew");
    record("claim", &mut recorded);

    // A finish with a ready video: the transition adds to the produced-video counters.
    let current = through.get_campaign(a).await.unwrap().expect("campaign a");
    let mut next = current.clone();
    next.status = CampaignStatus::Failed;
    next.revision = current.revision + 1;
    next.lease = None;
    next.videos[0].status = VideoStatus::Ready;
    through
        .commit_transition(&next, current.status, 0, None)
        .await
        .expect("finish");
    record("finish", &mut recorded);

    // Campaign b's collect messages ran out: it fails, refunded, with its event queued.
    pipeline::dead_letter(&app, &StageMessage::stage(Stage::Collect, b))
        .await
        .expect("dead letter");
    record("fail", &mut recorded);
    reelforge_app::lifecycle::requeue_unstarted_events(&app, b)
        .await
        .expect("requeue");
    record("requeue", &mut recorded);

    // The webhook sender's calls on b's event (without sending it anywhere).
    let event = through
        .list_events(b)
        .await
        .unwrap()
        .pop()
        .expect("an event");
    // Calls made only to set up the next step are recorded for no group.
    record("setup", &mut BTreeMap::new());
    through
        .get_event(b, &event.id)
        .await
        .unwrap()
        .expect("event");
    through
        .get_account(&account)
        .await
        .unwrap()
        .expect("account");
    let attempt = reelforge_core::model::DeliveryAttempt::starting(1, 0);
    through
        .claim_attempt(b, &event.id, &attempt)
        .await
        .expect("claim attempt");
    let _ = through
        .finish_attempt(
            b,
            &event.id,
            &attempt,
            reelforge_core::model::DeliveryState::Failed,
            0,
        )
        .await;
    record("deliver", &mut recorded);
    pipeline::webhook::abandon(&app, b, &event.id)
        .await
        .expect("abandon");
    record("abandon", &mut recorded);

    // The publisher reads a destination and writes a rotated token back.
    let _ = through.get_profile(&account, "destination", "ds_1").await;
    let _ = through
        .replace_profile(&ProfileRecord {
            account_id: account.clone(),
            kind: "destination".into(),
            id: "ds_1".into(),
            doc: json!({}),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        })
        .await;
    record("destination", &mut recorded);

    let mut calls: Vec<(String, String, Need)> = Vec::new();
    for (group, functions) in &groups {
        let needs = recorded.get(*group).cloned().unwrap_or_default();
        assert!(
            needs.iter().any(|n| n.action.starts_with("dynamodb:")),
            "{group}: no table call recorded"
        );
        for function in functions {
            assert!(template.functions.contains_key(*function), "{function}");
            for need in &needs {
                calls.push((function.to_string(), group.to_string(), need.clone()));
            }
        }
    }
    calls.sort();
    calls.dedup();
    let refused: Vec<String> = calls
        .iter()
        .filter(|(f, _, need)| !allows(&template.functions[f], need))
        .map(|(f, group, need)| format!("{f}: {group} needs {need}"))
        .collect();
    println!(
        "{} worker calls on the wire ({} distinct function needs) checked against their roles",
        proxy.seen().len(),
        calls.len()
    );
    assert!(
        refused.is_empty(),
        "calls the roles would refuse:\n{}",
        refused.join("\n")
    );
    // Every worker is covered.
    let covered: BTreeSet<&str> = calls.iter().map(|(f, _, _)| f.as_str()).collect();
    for (name, f) in &template.functions {
        // RenderClip makes no DynamoDB or SQS call (its role is checked on its own).
        if f.routes.is_empty() && name != RENDER_CLIP {
            assert!(covered.contains(name.as_str()), "{name} is not checked");
        }
    }
    prefixes_are_needed(&template, &calls, WORKER_PREFIXES_FROM_CODE);
}

/// Worker prefixes granted from reading the code, on paths the replay does not take.
const WORKER_PREFIXES_FROM_CODE: &[(&str, &str, &str)] = &[
    (
        "StageCollect",
        "QUOTA#*",
        "commit_transition reads the quota when the refund's condition failed without returning the item (store/campaigns.rs)",
    ),
    ("StageProcess", "QUOTA#*", "as for StageCollect"),
    ("StageScript", "QUOTA#*", "as for StageCollect"),
    ("StageVoiceover", "QUOTA#*", "as for StageCollect"),
    ("StageRender", "QUOTA#*", "as for StageCollect"),
    ("RenderEvents", "QUOTA#*", "as for StageCollect"),
    ("DeadLetters", "QUOTA#*", "as for StageCollect"),
];

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

/// RenderClip (docs/video.md "On AWS") keeps no records and sends no messages: it reads
/// work files and playlist uploads, writes only under a render's directory, creates
/// MediaConvert jobs and passes only the MediaConvert role; it consumes the parts queue
/// with partial batch failures. Stage render and rerender hand it parts and may only
/// look at jobs.
#[test]
fn render_clip_reads_work_files_writes_its_render_and_starts_jobs() {
    let template = parse_template();
    let f = &template.functions[RENDER_CLIP];
    assert_eq!(f.binary, "render-clip");
    assert!(f.routes.is_empty());
    assert_eq!(f.queues.len(), 1);
    assert_eq!(f.queues[0].0, "RenderPartsQueue");
    assert!(f.queues[0]
        .1
        .contains("FunctionResponseTypes: [ReportBatchItemFailures]"));
    let actions: BTreeSet<&str> = f
        .policies
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Action: "))
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from([
            "s3:GetObject",
            "s3:PutObject",
            "mediaconvert:CreateJob",
            "iam:PassRole"
        ]),
        "{}",
        f.policies
    );
    for needed in [
        r#"- !Sub "${MediaBucket.Arn}/work/*""#,
        r#"- !Sub "${MediaBucket.Arn}/uploads/*""#,
        r#"Resource: !Sub "${MediaBucket.Arn}/work/*/render/*""#,
        "Resource: !GetAtt MediaConvertRole.Arn",
    ] {
        assert!(f.policies.contains(needed), "RenderClip lacks {needed}");
    }
    assert!(
        !f.policies.contains("videos/"),
        "RenderClip writes no video"
    );
    assert!(!f.policies.contains("dynamodb:") && !f.policies.contains("sqs:"));
    for stage in ["StageRender", "StageRerender"] {
        let p = &template.functions[stage].policies;
        assert!(p.contains("- !GetAtt RenderPartsQueue.Arn"), "{stage}");
        assert!(p.contains("Action: mediaconvert:GetJob"), "{stage}");
        assert!(
            !p.contains("CreateJob") && !p.contains("iam:PassRole"),
            "{stage}"
        );
        // It may delete one kind of object: a render's job description (giving the
        // render up at its deadline).
        let deletes: Vec<&str> = p
            .split("- Effect")
            .filter(|statement| statement.contains("s3:DeleteObject"))
            .collect();
        assert_eq!(deletes.len(), 1, "{stage}: {p}");
        assert!(
            deletes[0].contains(r#"Resource: !Sub "${MediaBucket.Arn}/work/*/render/*/job.json""#)
                && deletes[0].matches("Resource").count() == 1
                && !deletes[0].contains("s3:GetObject"),
            "{stage}: {}",
            deletes[0]
        );
    }
}
