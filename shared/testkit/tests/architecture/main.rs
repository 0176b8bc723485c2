//! The shape of the code, checked: the crates form a clean stack, no crate's modules import
//! each other in a cycle, and each Lambda function links only the SDKs it calls (from
//! `cargo tree`, the same resolution `cargo lambda build -p <function>` uses).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

// ---------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------

/// A crate's modules (`a::b`, root = ""), each with the module paths it names through
/// `crate::` and `super::`.
fn module_references(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let module_of = |file: &Path| -> String {
        let rel = file.strip_prefix(src).expect("under src");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let last = parts.pop().expect("file name");
        if last != "lib.rs" && last != "mod.rs" && last != "main.rs" {
            parts.push(last.trim_end_matches(".rs").to_string());
        }
        parts.join("::")
    };
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut refs = BTreeMap::new();
    for file in &files {
        let here = module_of(file);
        let text = std::fs::read_to_string(file).expect("read source");
        let mut named = BTreeSet::new();
        for path in paths_in(&strip_comments_and_tests(&text)) {
            let resolved = resolve(&here, &path);
            // The longest module the path starts with.
            let mut best = String::new();
            for m in &modules {
                let is_prefix = resolved == *m || resolved.starts_with(&format!("{m}::"));
                if is_prefix && m.len() > best.len() {
                    best = m.clone();
                }
            }
            if !best.is_empty() && best != here {
                named.insert(best);
            }
        }
        refs.insert(here, named);
    }
    refs
}

/// Source without comments and without `#[cfg(test)]` modules (a test module names its
/// parent, which is not a dependency of the code).
fn strip_comments_and_tests(text: &str) -> String {
    let mut out = String::new();
    let mut skipping_tests = false;
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            skipping_tests = true;
        }
        if skipping_tests {
            continue;
        }
        let code = line.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Every `crate::…` and `super::…` path in `code`, with `use` groups expanded one level
/// (`use crate::{a, b::c}` names `crate::a` and `crate::b::c`).
fn paths_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let starts = (rest.starts_with("crate::") || rest.starts_with("super::"))
            && (i == 0 || !ident(bytes[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < bytes.len() && ident(bytes[j]) {
            j += 1;
        }
        let head: String = bytes[i..j].iter().collect();
        if j < bytes.len() && bytes[j] == '{' && head.ends_with("::") {
            let close = (j..bytes.len()).find(|&k| bytes[k] == '}').unwrap_or(j);
            let group: String = bytes[j + 1..close].iter().collect();
            for item in group.split(',') {
                let item = item.trim();
                if !item.is_empty() && item != "self" {
                    out.push(format!("{head}{item}"));
                } else if item == "self" {
                    out.push(head.trim_end_matches("::").to_string());
                }
            }
            i = close;
        } else {
            out.push(head.trim_end_matches("::").to_string());
            i = j;
        }
    }
    out
}

/// `crate::a::b` → `a::b`; `super::x` from `a::b` → `a::x`.
fn resolve(here: &str, path: &str) -> String {
    if let Some(rest) = path.strip_prefix("crate::") {
        return rest.to_string();
    }
    let mut base: Vec<&str> = if here.is_empty() {
        Vec::new()
    } else {
        here.split("::").collect()
    };
    let mut rest = path;
    while let Some(r) = rest.strip_prefix("super::") {
        base.pop();
        rest = r;
    }
    if rest == "super" {
        base.pop();
        rest = "";
    }
    let mut parts: Vec<&str> = base;
    if !rest.is_empty() {
        parts.extend(rest.split("::"));
    }
    parts.join("::")
}

/// Edges between sibling modules: a reference from `a::x` to `a::y::z` is an edge
/// `a::x → a::y`; references to a module's own ancestors or descendants are not (a child
/// module using its parent's items is how Rust modules are meant to be used).
fn sibling_edges(refs: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<(String, String)> {
    let mut edges = BTreeSet::new();
    for (from, tos) in refs {
        for to in tos {
            let a: Vec<&str> = if from.is_empty() {
                vec![]
            } else {
                from.split("::").collect()
            };
            let b: Vec<&str> = to.split("::").collect();
            let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            if common == a.len() || common == b.len() {
                continue;
            }
            let prefix = a[..common].join("::");
            let join = |p: &str, s: &str| {
                if p.is_empty() {
                    s.to_string()
                } else {
                    format!("{p}::{s}")
                }
            };
            edges.insert((join(&prefix, a[common]), join(&prefix, b[common])));
        }
    }
    edges
}

/// A cycle in the graph, if there is one.
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        graph.entry(a).or_default().push(b);
        graph.entry(b).or_default();
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark: BTreeMap<&str, Mark> = graph.keys().map(|k| (*k, Mark::New)).collect();
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        mark: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        mark.insert(n, Mark::Open);
        stack.push(n);
        for &m in &graph[n] {
            match mark[m] {
                Mark::Open => {
                    let at = stack.iter().position(|s| *s == m).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[at..].iter().map(|s| s.to_string()).collect();
                    cycle.push(m.to_string());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(m, graph, mark, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        mark.insert(n, Mark::Done);
        None
    }
    let nodes: Vec<&str> = graph.keys().copied().collect();
    for n in nodes {
        if mark[n] == Mark::New {
            if let Some(c) = visit(n, &graph, &mut mark, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

const CRATES: [&str; 8] = [
    "core", "net", "studio", "app", "aws", "local", "lambda", "testkit",
];

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let mut found = Vec::new();
    for krate in CRATES {
        let refs = module_references(&root().join("shared").join(krate).join("src"));
        assert!(
            refs.len() > 1 || krate == "lambda",
            "{krate}: no modules found"
        );
        if let Some(cycle) = find_cycle(&sibling_edges(&refs)) {
            found.push(format!("{krate}: {}", cycle.join(" -> ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    let refs = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b::x".to_string()])),
        ("b::x".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("b".to_string(), BTreeSet::new()),
    ]);
    let cycle = find_cycle(&sibling_edges(&refs)).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    // A child using its parent's items is no cycle.
    let refs = BTreeMap::from([
        (
            "store".to_string(),
            BTreeSet::from(["store::keys".to_string()]),
        ),
        (
            "store::keys".to_string(),
            BTreeSet::from(["store".to_string()]),
        ),
    ]);
    assert_eq!(find_cycle(&sibling_edges(&refs)), None);
    assert_eq!(
        paths_in("use crate::{a, b::c};\nlet x = super::d::e(crate::f);"),
        ["crate::a", "crate::b::c", "super::d::e", "crate::f"]
    );
    assert_eq!(resolve("x::y", "super::z::w"), "x::z::w");
}

// ---------------------------------------------------------------------------------------
// Crates
// ---------------------------------------------------------------------------------------

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// The packages `package` links (normal dependencies, its own features only).
fn linked(package: &str) -> BTreeSet<String> {
    let out = cargo()
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

const FUNCTIONS: [&str; 17] = [
    "api-campaign-create",
    "api-campaign-get",
    "api-campaign-review",
    "api-account",
    "api-profiles",
    "webhook-sender",
    "dead-letters",
    "render-events",
    "stage-collect",
    "stage-process",
    "stage-script",
    "stage-voiceover",
    "stage-render",
    "stage-rerender",
    "stage-publish",
    "api-dashboard",
    "render-clip",
];

const SDKS: [&str; 7] = [
    "aws-sdk-dynamodb",
    "aws-sdk-sqs",
    "aws-sdk-s3",
    "aws-sdk-kms",
    "aws-sdk-polly",
    "aws-sdk-bedrockruntime",
    "aws-sdk-mediaconvert",
];

#[test]
fn each_function_links_only_the_sdks_it_calls() {
    // Every function crate is checked.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions");
    let mut crates: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    crates.sort();
    let mut listed: Vec<String> = FUNCTIONS.iter().map(|f| f.to_string()).collect();
    listed.sort();
    assert_eq!(crates, listed, "FUNCTIONS lists every function crate");
    let mut table = Vec::new();
    for f in FUNCTIONS {
        let deps = linked(f);
        let sdks: Vec<&str> = SDKS.iter().copied().filter(|s| deps.contains(*s)).collect();
        table.push(format!("{f}: {}", sdks.join(", ")));
        assert!(!deps.contains("rusqlite"), "{f} links rusqlite");
        assert!(
            !deps.contains("reelforge-local"),
            "{f} links the local backend"
        );
        assert!(
            !deps.contains("reelforge-testkit"),
            "{f} links test helpers"
        );
        if f == "api-dashboard" {
            // The one function that keeps no records and sends to no queue: it serves
            // the dashboard's embedded files, so it links no SDK and loads no AWS config.
            assert!(
                !SDKS.iter().any(|s| deps.contains(*s)) && !deps.contains("aws-config"),
                "{f} links an AWS SDK or aws-config"
            );
            assert!(!deps.contains("reelforge-aws"), "{f} links reelforge-aws");
        } else if f == "render-clip" {
            // Renders video parts: reads and writes S3, creates MediaConvert jobs, keeps
            // no records and sends no messages (docs/video.md "On AWS").
            assert!(
                deps.contains("aws-sdk-s3") && deps.contains("aws-sdk-mediaconvert"),
                "{f} needs S3 and MediaConvert"
            );
            assert!(
                !deps.contains("aws-sdk-dynamodb") && !deps.contains("aws-sdk-sqs"),
                "{f} links DynamoDB or SQS"
            );
        } else {
            assert!(
                deps.contains("aws-sdk-dynamodb") && deps.contains("aws-sdk-sqs"),
                "{f}: every function but api-dashboard and render-clip keeps records and queues"
            );
        }
        if f.starts_with("api-") || f == "webhook-sender" {
            for sdk in [
                "aws-sdk-mediaconvert",
                "aws-sdk-polly",
                "aws-sdk-bedrockruntime",
            ] {
                assert!(!deps.contains(sdk), "{f} links {sdk}");
            }
        }
        if f == "webhook-sender" || f == "api-campaign-create" {
            assert!(!deps.contains("aws-sdk-s3"), "{f} links S3");
        }
        let only = |sdk: &str, functions: &[&str]| {
            assert_eq!(
                deps.contains(sdk),
                functions.contains(&f),
                "{f} and {sdk}: linked only by {functions:?}"
            );
        };
        // A script edit is spoken and rendered again by its own stage (SPEC §11).
        // The stages look at jobs; render-clip creates them.
        only(
            "aws-sdk-mediaconvert",
            &["stage-render", "stage-rerender", "render-clip"],
        );
        only("aws-sdk-polly", &["stage-voiceover", "stage-rerender"]);
        only("aws-sdk-bedrockruntime", &["stage-script"]);
        // Sealing (the API) and opening destination credentials (the publisher).
        only("aws-sdk-kms", &["api-profiles", "stage-publish"]);
    }
    println!("SDKs per function:\n{}", table.join("\n"));
}

/// Workspace crates and the workspace crates each one depends on (normal dependencies).
fn workspace_graph() -> BTreeMap<String, BTreeSet<String>> {
    let out = cargo()
        .args([
            "metadata",
            "--offline",
            "--format-version",
            "1",
            "--no-deps",
        ])
        .output()
        .expect("cargo metadata");
    assert!(out.status.success());
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let packages = meta["packages"].as_array().expect("packages");
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_string())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(*d))
                .map(str::to_string)
                .collect();
            (p["name"].as_str().unwrap_or_default().to_string(), deps)
        })
        .collect()
}

#[test]
fn crates_form_a_stack_from_core_to_the_functions() {
    // Each crate's layer; a crate may depend only on crates of lower layers.
    let layer = |name: &str| -> usize {
        match name {
            "reelforge-core" => 0,
            "reelforge-net" | "reelforge-studio" | "reelforge-aws" => 1,
            "reelforge-app" => 2,
            "reelforge-local" | "reelforge-lambda" => 3,
            "reelforge-testkit" => 4,
            _ => 5, // functions, the CLI
        }
    };
    let graph = workspace_graph();
    assert!(graph.len() >= 20, "{graph:?}");
    for (name, deps) in &graph {
        for dep in deps {
            assert!(
                layer(dep) < layer(name),
                "{name} (layer {}) depends on {dep} (layer {})",
                layer(name),
                layer(dep)
            );
            assert_ne!(
                dep, "reelforge-testkit",
                "{name}: test helpers are dev-only"
            );
        }
    }
    // The core is pure: no runtime, no SDK, no SQLite, no HTTP stack.
    let core = linked("reelforge-core");
    for banned in ["tokio", "rusqlite", "aws-config", "hyper", "aws-lc-rs"] {
        assert!(!core.contains(banned), "reelforge-core links {banned}");
    }
    assert!(!SDKS.iter().any(|s| core.contains(*s)));
}
