//! The verification snippets in docs/webhooks.md, run against deliveries signed by our Rust
//! code. The Python snippet (stdlib `hmac`/`hashlib`/`base64`) and the Node one (built-in
//! `crypto`) are independent implementations of both signature forms, so agreement here
//! means the documentation and the signer describe the same bytes. One HMAC is also
//! computed with `python3 -c` and hashlib directly, outside any snippet.
//!
//! Needs `python3` and `node` on PATH.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reelforge_core::signature::{
    clipus_signature, standard_signature, standard_signature_header, verify_clipus,
    verify_standard, CLIPUS_SIGNATURE_ALG,
};
use serde_json::{json, Value};

/// A delivery's headers, lower-case names, as the fixture JSON holds them.
type Headers = serde_json::Map<String, Value>;

const NEW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const EVENT_ID: &str = "evt_01JXY3M6Q0W8E4ZK9R7T2B5N1C";
const TS: i64 = 1_781_234_567;

fn docs() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/webhooks.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The body of the one fenced block opened by exactly "```{tag}".
fn snippet(markdown: &str, tag: &str) -> String {
    let opening = format!("```{tag}\n");
    let mut found = markdown.match_indices(&opening);
    let (start, _) = found
        .next()
        .unwrap_or_else(|| panic!("no block {opening:?}"));
    assert!(found.next().is_none(), "more than one block {opening:?}");
    let rest = &markdown[start + opening.len()..];
    let end = rest
        .find("\n```")
        .unwrap_or_else(|| panic!("unclosed block {opening:?}"));
    rest[..=end].to_string()
}

/// A unique scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "reelforge-webhook-snippets-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The body we send: compact JSON, with non-ASCII text so byte-exactness across the
/// three languages is exercised.
fn body() -> String {
    let body = json!({
        "event": "campaign.completed",
        "campaign_id": "8f6a1c2e-5b0d-4c8e-9a51-3f2d7c1b9e40",
        "status": "review",
        "videos": [{
            "id": "c91b0d7e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
            "platform": "youtube_shorts",
            "language": "ja",
            "status": "ready",
            "file_url": "https://files.example.com/v/c91b.mp4?sig=a%2Bb&exp=1",
            "duration_seconds": 31,
            "published_at": null,
            "credits_cost": 12,
            "title": "新製品デモ — “quoted” \\ slash"
        }],
        "timestamp": "2026-06-11T09:34:12Z"
    });
    serde_json::to_string(&body).expect("json")
}

/// Every header of a delivery, signed with `secrets[0]` (current) and, when given,
/// `secrets[1]` (previous, during a rotation).
fn headers(secrets: &[&str], ts: i64, body: &str) -> Headers {
    let mut h = Headers::new();
    let mut put = |k: &str, v: String| {
        h.insert(k.to_string(), Value::String(v));
    };
    put("x-clipus-event-id", EVENT_ID.to_string());
    put("x-clipus-timestamp", ts.to_string());
    put(
        "x-clipus-signature",
        clipus_signature(secrets[0], ts, EVENT_ID, body.as_bytes()),
    );
    if let Some(previous) = secrets.get(1) {
        put(
            "x-clipus-signature-previous",
            clipus_signature(previous, ts, EVENT_ID, body.as_bytes()),
        );
    }
    put("x-clipus-signature-alg", CLIPUS_SIGNATURE_ALG.to_string());
    put("webhook-id", EVENT_ID.to_string());
    put("webhook-timestamp", ts.to_string());
    put(
        "webhook-signature",
        standard_signature_header(secrets, EVENT_ID, ts, body.as_bytes()).expect("sign"),
    );
    h
}

struct Snippets {
    scratch: Scratch,
    fixtures: usize,
}

impl Snippets {
    fn new() -> Self {
        let scratch = Scratch::new();
        let md = docs();
        std::fs::write(
            scratch.0.join("verify.py"),
            snippet(&md, "python title=verify.py"),
        )
        .expect("write verify.py");
        std::fs::write(
            scratch.0.join("verify.js"),
            snippet(&md, "js title=verify.js"),
        )
        .expect("write verify.js");
        Snippets {
            scratch,
            fixtures: 0,
        }
    }

    /// Exit codes of (python, node) for one fixture.
    fn run(&mut self, secret: &str, headers: &Headers, body: &str, now: i64) -> (i32, i32) {
        self.fixtures += 1;
        let fixture = self
            .scratch
            .0
            .join(format!("fixture-{}.json", self.fixtures));
        let doc = json!({"secret": secret, "headers": headers, "body": body, "now": now});
        std::fs::write(&fixture, serde_json::to_vec_pretty(&doc).expect("json"))
            .expect("write fixture");
        let code = |program: &str, script: &str| {
            let out = Command::new(program)
                .arg(self.scratch.0.join(script))
                .arg(&fixture)
                .current_dir(&self.scratch.0)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
            let code = out.status.code().expect("exit code");
            assert!(
                code == 0 || code == 1,
                "{program} {script} crashed ({code}):\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            code
        };
        (code("python3", "verify.py"), code("node", "verify.js"))
    }
}

/// The Rust verifiers agree with the snippets' verdict on the same fixture.
fn rust_verdict(secret: &str, headers: &Headers, body: &str, now: i64) -> i32 {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            http::HeaderValue::from_str(v.as_str().expect("string")).expect("value"),
        );
    }
    let ok = verify_clipus(secret, &map, body.as_bytes(), now, 300).is_ok()
        && verify_standard(secret, &map, body.as_bytes(), now, 300).is_ok();
    i32::from(!ok)
}

#[test]
fn snippets_verify_what_we_sign() {
    let mut s = Snippets::new();
    let body = body();
    let signed = headers(&[NEW_SECRET], TS, &body);

    let cases: Vec<(&str, &str, Headers, String, i64, i32)> = vec![
        ("genuine", NEW_SECRET, signed.clone(), body.clone(), TS, 0),
        (
            "genuine, 5 min later",
            NEW_SECRET,
            signed.clone(),
            body.clone(),
            TS + 300,
            0,
        ),
        (
            "tampered body",
            NEW_SECRET,
            signed.clone(),
            body.replace("\"ready\"", "\"failed\""),
            TS,
            1,
        ),
        (
            "one byte appended",
            NEW_SECRET,
            signed.clone(),
            format!("{body} "),
            TS,
            1,
        ),
        (
            "wrong secret",
            OLD_SECRET,
            signed.clone(),
            body.clone(),
            TS,
            1,
        ),
        (
            "too old",
            NEW_SECRET,
            signed.clone(),
            body.clone(),
            TS + 301,
            1,
        ),
        (
            "from the future",
            NEW_SECRET,
            signed.clone(),
            body.clone(),
            TS - 301,
            1,
        ),
        {
            // Only the X-Clipus form is valid: the snippet must check both forms.
            let mut h = signed.clone();
            let forged =
                standard_signature(OLD_SECRET, EVENT_ID, TS, body.as_bytes()).expect("sign");
            h.insert("webhook-signature".into(), Value::String(forged));
            ("standard form broken", NEW_SECRET, h, body.clone(), TS, 1)
        },
        {
            let mut h = signed.clone();
            let forged = clipus_signature(OLD_SECRET, TS, EVENT_ID, body.as_bytes());
            h.insert("x-clipus-signature".into(), Value::String(forged));
            ("clipus form broken", NEW_SECRET, h, body.clone(), TS, 1)
        },
        {
            // A retry re-signs with a new timestamp; the old signature does not carry over.
            let mut h = headers(&[NEW_SECRET], TS + 30, &body);
            h.insert(
                "x-clipus-signature".into(),
                signed["x-clipus-signature"].clone(),
            );
            (
                "stale signature on a new timestamp",
                NEW_SECRET,
                h,
                body.clone(),
                TS + 30,
                1,
            )
        },
    ];
    for (name, secret, h, b, now, expected) in cases {
        assert_eq!(
            s.run(secret, &h, &b, now),
            (expected, expected),
            "case {name:?}: (python, node)"
        );
        assert_eq!(
            rust_verdict(secret, &h, &b, now),
            expected,
            "case {name:?}: rust"
        );
    }
}

#[test]
fn snippets_accept_either_secret_during_rotation() {
    let mut s = Snippets::new();
    let body = body();
    // New secret signs X-Clipus-Signature, the old one X-Clipus-Signature-Previous, and
    // webhook-signature carries both.
    let rotated = headers(&[NEW_SECRET, OLD_SECRET], TS, &body);
    assert_eq!(
        rotated["webhook-signature"]
            .as_str()
            .map(|v| v.split(' ').count()),
        Some(2)
    );
    for secret in [OLD_SECRET, NEW_SECRET] {
        assert_eq!(
            s.run(secret, &rotated, &body, TS),
            (0, 0),
            "secret {secret}"
        );
        assert_eq!(rust_verdict(secret, &rotated, &body, TS), 0);
    }
    // Previous secret, tampered body: still refused.
    let tampered = body.replace("review", "failed");
    assert_eq!(s.run(OLD_SECRET, &rotated, &tampered, TS), (1, 1));
    // After the overlap only the new secret signs; a receiver still on the old one fails.
    let after = headers(&[NEW_SECRET], TS, &body);
    assert_eq!(s.run(OLD_SECRET, &after, &body, TS), (1, 1));
    // An unrelated secret matches neither entry.
    let unrelated = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==";
    assert_eq!(s.run(unrelated, &rotated, &body, TS), (1, 1));
}

/// clipus_signature and standard_signature against hashlib/hmac called directly.
#[test]
fn signatures_match_python_hashlib() {
    let body = body();
    let script = r#"
import base64, hashlib, hmac, os, sys
body = sys.stdin.buffer.read()
secret, ts, eid = os.environ["SECRET"], os.environ["TS"], os.environ["EVENT_ID"]
print(hmac.new(secret.encode(), ts.encode() + b"." + eid.encode() + b"." + body, hashlib.sha256).hexdigest())
key = base64.b64decode(secret[len("whsec_"):])
mac = hmac.new(key, eid.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).digest()
print("v1," + base64.b64encode(mac).decode())
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("SECRET", NEW_SECRET)
        .env("TS", TS.to_string())
        .env("EVENT_ID", EVENT_ID)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run python3 (is it installed?)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write body");
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            clipus_signature(NEW_SECRET, TS, EVENT_ID, body.as_bytes()).as_str(),
            standard_signature(NEW_SECRET, EVENT_ID, TS, body.as_bytes())
                .expect("sign")
                .as_str(),
        ]
    );
}

#[test]
fn the_docs_name_every_header_we_send() {
    let md = docs();
    for name in [
        "X-Clipus-Event-Id",
        "X-Clipus-Timestamp",
        "X-Clipus-Signature",
        "X-Clipus-Signature-Previous",
        "X-Clipus-Signature-Alg",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    ] {
        assert!(
            md.contains(&format!("`{name}`")),
            "docs/webhooks.md misses {name}"
        );
    }
    for lower in headers(&[NEW_SECRET, OLD_SECRET], TS, "{}").keys() {
        assert!(
            md.to_ascii_lowercase().contains(&format!("`{lower}`")),
            "{lower}"
        );
    }
}
