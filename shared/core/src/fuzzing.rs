//! Fuzzing entry points: one function per `cargo fuzz` target in `fuzz/` (see
//! docs/fuzzing.md). Each takes the raw fuzzer input, runs a parser that sees untrusted
//! bytes and asserts the properties the parser promises, so a violated rule is a crash
//! just like a panic is. `shared/tests/fuzz_corpus.rs` replays the checked-in corpus and
//! the regression inputs through the same functions on every `cargo test`.
//!
//! Nothing here does I/O: DNS answers come from [`FuzzResolver`], a fixed table.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::{Host, Url};

use crate::create_body::{parse_create_body, CreateBody, DEFAULT_LANGUAGES, MAX_TITLE_CHARS};
use crate::guard::{
    is_public_ip, parse_target, resolve_pinned, Resolver, TargetPolicy, UrlError, UrlKind,
    MAX_URL_CHARS,
};
use crate::keys::{self, Credential, KEY_PREFIX};
use crate::model::{Language, Platform};
use crate::plans::Plan;
use crate::styles::expr::{self, ExprError, MAX_LEN};

const STRICT: TargetPolicy = TargetPolicy {
    allow_private: false,
};
const DEV: TargetPolicy = TargetPolicy {
    allow_private: true,
};

/// Canned DNS without I/O: names containing `private` resolve to 10.0.0.5, `mapped` to
/// `::ffff:169.254.169.254`, `mixed` to a public and a private address, `public` to a
/// public address; everything else fails to resolve.
pub struct FuzzResolver;

/// What [`FuzzResolver`] answers for `host` (`None`: resolution fails).
pub fn fuzz_answer(host: &str) -> Option<Vec<IpAddr>> {
    let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    if host.contains("private") {
        Some(vec![v4(10, 0, 0, 5)])
    } else if host.contains("mapped") {
        Some(vec![IpAddr::V6(
            Ipv4Addr::new(169, 254, 169, 254).to_ipv6_mapped(),
        )])
    } else if host.contains("mixed") {
        Some(vec![v4(93, 184, 216, 34), v4(192, 168, 0, 10)])
    } else if host.contains("public") {
        Some(vec![v4(93, 184, 216, 34)])
    } else {
        None
    }
}

#[async_trait::async_trait]
impl Resolver for FuzzResolver {
    async fn resolve(&self, host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
        fuzz_answer(host).ok_or_else(|| std::io::Error::other("no such name (fuzzing)"))
    }
}

/// Runs a future that never waits (everything here answers at once) to completion.
fn run_now<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a fuzzing future waited; nothing here may do I/O"),
    }
}

// ---------------------------------------------------------------------------------------
// create_body: the POST /api/v1/campaigns body
// ---------------------------------------------------------------------------------------

const BODY_FIELDS: [&str; 6] = [
    "url",
    "languages",
    "title",
    "webhook_url",
    "platforms",
    "playlist_id",
];

fn parse_body(raw: &[u8], plan: Plan, policy: TargetPolicy) -> Result<CreateBody, String> {
    run_now(parse_create_body(raw, plan, policy, &FuzzResolver))
}

/// `raw` is the request body. An accepted body is checked field by field against the
/// JSON it came from: only known fields; `url`/`webhook_url` are what the URL guard
/// returns for them (webhooks https-only, no host that resolves to a non-public address);
/// `languages`/`platforms` are the listed distinct codes or the defaults, within the plan's
/// language cap; a given `title` is its trimmed self, 1..=200 characters without control
/// characters, a missing one is "<host> Campaign" (the host cut to fit 200); `playlist_id` is 1..=64 of
/// `[A-Za-z0-9_]`. Refusals are non-empty. Results do not depend on the run, an accepting
/// plan/policy pair implies every looser one accepts with the same result.
pub fn create_body(raw: &[u8]) {
    let strict = parse_body(raw, Plan::Scale, STRICT);
    assert_eq!(
        strict,
        parse_body(raw, Plan::Scale, STRICT),
        "not deterministic"
    );
    let dev = parse_body(raw, Plan::Scale, DEV);
    let growth = parse_body(raw, Plan::Growth, STRICT);
    match &strict {
        Err(message) => {
            assert!(!message.trim().is_empty(), "empty refusal");
            assert!(growth.is_err(), "growth plan accepted what scale refused");
        }
        Ok(body) => {
            check_body(raw, body, Plan::Scale, STRICT);
            assert_eq!(
                dev.as_ref(),
                Ok(body),
                "allow_private refused what strict accepted"
            );
            if body.languages.len() <= Plan::Growth.max_languages() {
                assert_eq!(growth.as_ref(), Ok(body), "growth plan differs");
            } else {
                assert!(growth.is_err(), "growth plan accepted {:?}", body.languages);
            }
        }
    }
    if let Ok(body) = &dev {
        check_body(raw, body, Plan::Scale, DEV);
    }
    if let Ok(body) = &growth {
        check_body(raw, body, Plan::Growth, STRICT);
    }
}

fn check_body(raw: &[u8], body: &CreateBody, plan: Plan, policy: TargetPolicy) {
    let value: Value = serde_json::from_slice(raw).expect("accepted body is JSON");
    let obj = value.as_object().expect("accepted body is an object");
    for k in obj.keys() {
        assert!(
            BODY_FIELDS.contains(&k.as_str()),
            "unknown field {k:?} accepted"
        );
    }
    let given = |f: &str| obj.get(f).filter(|v| !v.is_null());

    // url: exactly the guard's normal form of what was sent, and not known to be private.
    let url_in = given("url")
        .and_then(Value::as_str)
        .expect("url is a string");
    let url = parse_target(url_in, UrlKind::Page, policy).expect("url passes the guard");
    assert_eq!(body.url, url.as_str());
    assert!(matches!(url.scheme(), "http" | "https"), "{}", body.url);
    check_dns_rule(&url, policy);

    // languages and platforms: distinct known codes, the list given or the default.
    let codes = |f: &str| -> Option<Vec<String>> {
        given(f).map(|v| {
            v.as_array()
                .expect("code list is an array")
                .iter()
                .map(|c| c.as_str().expect("code is a string").to_string())
                .collect()
        })
    };
    let langs: Vec<String> = body.languages.iter().map(|l| l.to_string()).collect();
    match codes("languages") {
        Some(list) => assert_eq!(langs, list),
        None => assert_eq!(body.languages, DEFAULT_LANGUAGES.to_vec()),
    }
    assert!(
        (1..=plan.max_languages()).contains(&body.languages.len()),
        "{} languages on {plan}",
        body.languages.len()
    );
    assert!(body.languages.len() <= Language::ALL.len());
    assert_distinct(&body.languages);
    let platforms: Vec<String> = body.platforms.iter().map(|p| p.to_string()).collect();
    match codes("platforms") {
        Some(list) => assert_eq!(platforms, list),
        None => assert_eq!(body.platforms, vec![Platform::YoutubeShorts]),
    }
    assert!(!body.platforms.is_empty() && body.platforms.len() <= Platform::ALL.len());
    assert_distinct(&body.platforms);

    // title: the trimmed given one within the limits, or derived from the host.
    match given("title") {
        Some(t) => {
            let t = t.as_str().expect("title is a string");
            assert_eq!(body.title, t.trim());
            let n = body.title.chars().count();
            assert!(
                (1..=MAX_TITLE_CHARS).contains(&n),
                "title of {n} characters"
            );
        }
        None => {
            let host = url.host_str().expect("accepted url has a host");
            let host = host.strip_prefix("www.").unwrap_or(host);
            let whole = format!("{host} Campaign");
            if whole.chars().count() <= MAX_TITLE_CHARS {
                assert_eq!(body.title, whole);
            } else {
                assert_eq!(body.title.chars().count(), MAX_TITLE_CHARS);
                assert!(body.title.ends_with(" Campaign"), "{:?}", body.title);
                let kept = body.title.trim_end_matches(" Campaign");
                assert!(host.starts_with(kept), "{:?}", body.title);
            }
        }
    }
    assert!(
        !body.title.chars().any(char::is_control),
        "{:?}",
        body.title
    );

    // webhook_url: the guard's normal form; https unless private targets are allowed.
    match given("webhook_url") {
        Some(w) => {
            let w = w.as_str().expect("webhook_url is a string");
            let hook = parse_target(w, UrlKind::Webhook, policy).expect("webhook passes");
            assert_eq!(body.webhook_url.as_deref(), Some(hook.as_str()));
            if !policy.allow_private {
                assert_eq!(hook.scheme(), "https");
            }
            check_dns_rule(&hook, policy);
        }
        None => assert_eq!(body.webhook_url, None),
    }

    // playlist_id: an id-shaped string or nothing.
    match (&body.playlist_id, given("playlist_id")) {
        (None, None) => {}
        (Some(p), Some(v)) => {
            assert_eq!(Some(p.as_str()), v.as_str());
            assert!(
                (1..=64).contains(&p.len()),
                "playlist_id of {} bytes",
                p.len()
            );
            assert!(
                p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{p:?}"
            );
        }
        (p, v) => panic!("playlist_id {p:?} from {v:?}"),
    }
}

/// A name whose (canned) answers include a non-public address is refused unless private
/// targets are allowed.
fn check_dns_rule(url: &Url, policy: TargetPolicy) {
    if policy.allow_private {
        return;
    }
    if let Some(Host::Domain(name)) = url.host() {
        if let Some(ips) = fuzz_answer(name) {
            assert!(
                ips.iter().all(|&ip| is_public_ip(ip)),
                "{url} accepted though it resolves to {ips:?}"
            );
        }
    }
}

fn assert_distinct<T: PartialEq + std::fmt::Debug>(items: &[T]) {
    for (i, a) in items.iter().enumerate() {
        assert!(
            !items[i + 1..].contains(a),
            "{a:?} listed twice in {items:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// api_key: the key format, its hash and display form, and reading it off the headers
// ---------------------------------------------------------------------------------------

/// The documented key format, written independently of [`keys::is_well_formed`].
fn reference_well_formed(s: &str) -> bool {
    s.len() == KEY_PREFIX.len() + 32
        && s.starts_with(KEY_PREFIX)
        && s.as_bytes()[KEY_PREFIX.len()..]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The checks on one candidate key string.
fn check_key_text(s: &str) {
    let well_formed = keys::is_well_formed(s);
    assert_eq!(
        well_formed,
        reference_well_formed(s),
        "is_well_formed({s:?})"
    );

    let hash = keys::hash_key(s);
    assert_eq!(hash.len(), 64, "{hash}");
    assert!(
        hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{hash}"
    );
    assert_eq!(hash, keys::hash_key(s), "hash not deterministic");

    let display = keys::display_form(s);
    assert!(display.starts_with(KEY_PREFIX), "{display:?}");
    // At most 8 characters of the secret part, plus the ellipsis.
    let shown = &display[KEY_PREFIX.len()..];
    assert!(
        shown.chars().count() <= 9,
        "display {display:?} shows too much"
    );
    let secret = s.strip_prefix(KEY_PREFIX).unwrap_or(s);
    if secret.chars().count() > 8 {
        assert!(
            !shown.contains(secret),
            "display {display:?} shows {secret:?}"
        );
        if s.starts_with(KEY_PREFIX) {
            assert!(!display.contains(s), "display {display:?} contains {s:?}");
        }
    }
    if well_formed {
        assert_eq!(
            display,
            format!("{KEY_PREFIX}{}…{}", &secret[..4], &secret[28..]),
            "display of {s:?}"
        );
    }
}

/// Reads `name: value` lines (split on `\n`; lines that are not a valid header are
/// skipped) into a header map, keeping repeated headers.
fn header_lines(raw: &[u8]) -> (HeaderMap, Vec<&[u8]>) {
    let mut headers = HeaderMap::new();
    let mut values = Vec::new();
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        values.push(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        values.push(value);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    (headers, values)
}

/// `raw` is HTTP header lines (`authorization: Bearer sk_live_…`). Every line, every
/// header value and the whole input are checked as key text: `is_well_formed` matches an
/// independent reading of the format, the hash is 64 lowercase hex digits, the display
/// form shows at most 8 characters of the secret and never the whole of a longer one.
/// `credential` says Missing exactly when neither Authorization nor X-API-Key is present,
/// only ever returns well-formed keys, and those keys were in the headers. A well-formed
/// key derived from the input is found in each accepted form (Bearer, X-API-Key, both Basic
/// forms), and a Bearer key wins over whatever else the input's headers hold.
pub fn api_key(raw: &[u8]) {
    let whole = String::from_utf8_lossy(raw);
    check_key_text(&whole);
    let (headers, values) = header_lines(raw);
    for v in &values {
        let text = String::from_utf8_lossy(v);
        check_key_text(&text);
        check_key_text(text.trim());
    }

    let found = keys::credential(&headers);
    assert_eq!(found, keys::credential(&headers), "not deterministic");
    let auth = headers.get(http::header::AUTHORIZATION);
    let x_api_key = headers.get("x-api-key");
    assert_eq!(
        found == Credential::Missing,
        auth.is_none() && x_api_key.is_none(),
        "{found:?} for {headers:?}"
    );
    if let Credential::Key(k) = &found {
        assert!(keys::is_well_formed(k), "{k:?}");
        let from_x = x_api_key.is_some_and(|v| v.as_bytes().trim_ascii() == k.as_bytes());
        let from_auth = auth.is_some_and(|v| {
            let text = String::from_utf8_lossy(v.as_bytes());
            text.contains(k.as_str())
                || text.split_whitespace().any(|word| {
                    base64::engine::general_purpose::STANDARD
                        .decode(word)
                        .is_ok_and(|d| String::from_utf8_lossy(&d).contains(k.as_str()))
                })
        });
        assert!(from_x || from_auth, "{k:?} is not in {headers:?}");
    }

    // A key minted from the input, presented in every accepted way.
    let key = format!("{KEY_PREFIX}{}", hex::encode(&Sha256::digest(raw)[..16]));
    assert!(keys::is_well_formed(&key));
    check_key_text(&key);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let user = String::from_utf8_lossy(raw.get(..8).unwrap_or(raw)).replace(':', "");
    for (name, value) in [
        ("authorization", format!("Bearer {key}")),
        ("authorization", format!("bearer  {key} ")),
        (
            "authorization",
            format!("Basic {}", b64(&format!("{user}:{key}"))),
        ),
        (
            "authorization",
            format!("Basic {}", b64(&format!("{key}:"))),
        ),
        ("x-api-key", key.clone()),
    ] {
        let mut only = HeaderMap::new();
        only.insert(name, HeaderValue::from_str(&value).expect("ascii header"));
        assert_eq!(
            keys::credential(&only),
            Credential::Key(key.clone()),
            "{value}"
        );
    }
    // Bearer wins over the input's own headers.
    let mut mixed = headers.clone();
    mixed.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {key}")).expect("ascii header"),
    );
    assert_eq!(keys::credential(&mixed), Credential::Key(key.clone()));
    // A valid X-API-Key is not hidden by an Authorization header of another scheme.
    let mut proxied = HeaderMap::new();
    proxied.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("Token proxy-secret"),
    );
    proxied.insert("x-api-key", HeaderValue::from_str(&key).expect("ascii"));
    assert_eq!(keys::credential(&proxied), Credential::Key(key));
}

// ---------------------------------------------------------------------------------------
// url_guard: parse_target and is_public_ip (no DNS)
// ---------------------------------------------------------------------------------------

const KINDS: [UrlKind; 2] = [UrlKind::Page, UrlKind::Webhook];
const POLICIES: [TargetPolicy; 2] = [STRICT, DEV];

/// `raw` is a URL as a customer would send it (lossy UTF-8). For each field kind and
/// policy, an accepted URL is http(s) (https for strict webhooks), has no user name or
/// password, a host and no port 0; under the strict policy a literal IP host is public
/// (`is_public_ip`) and a name is not `localhost`, a single label or an internal suffix,
/// and does not spell an IP address once its trailing dots are dropped. The normal form
/// is ASCII without spaces, is accepted again as itself, and `resolve_pinned` (canned DNS)
/// re-checks it without a rule error. Looser settings accept whatever stricter ones do,
/// with the same result. Refusals name their field (and carry nothing else); blank input
/// is `Empty` and over-long input `TooLong`. The first
/// bytes, read as IPv4 and IPv6 addresses, check `is_public_ip` against the embedded-IPv4
/// forms and against `parse_target` on the literal URL spellings.
pub fn url_guard(raw: &[u8]) {
    check_ips(raw);
    let input = String::from_utf8_lossy(raw);
    let mut results = Vec::with_capacity(4);
    for kind in KINDS {
        for policy in POLICIES {
            let r = parse_target(&input, kind, policy);
            check_target(&input, kind, policy, &r);
            results.push(r);
        }
    }
    let [page_strict, page_dev, hook_strict, hook_dev] = &results[..] else {
        unreachable!("four combinations")
    };
    for (strict, dev) in [(page_strict, page_dev), (hook_strict, hook_dev)] {
        if let Ok(u) = strict {
            assert_eq!(
                dev.as_ref(),
                Ok(u),
                "allow_private refused what strict accepted"
            );
        }
    }
    for (hook, page) in [(hook_strict, page_strict), (hook_dev, page_dev)] {
        if let Ok(u) = hook {
            assert_eq!(
                page.as_ref(),
                Ok(u),
                "url refused what webhook_url accepted"
            );
        }
    }
    assert_eq!(
        page_strict,
        &parse_target(&input, UrlKind::Page, STRICT),
        "not deterministic"
    );
}

fn check_target(input: &str, kind: UrlKind, policy: TargetPolicy, r: &Result<Url, UrlError>) {
    // What parse_target measures: the input without surrounding ASCII whitespace.
    let trimmed = input.trim_matches(|c: char| c.is_ascii_whitespace());
    let url = match r {
        Err(e) => {
            // The refusal carries nothing but its field, so it cannot echo the input.
            assert_eq!(e.kind(), kind);
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{} ", kind.field_name())), "{msg}");
            assert!(msg.len() < 80, "{msg}");
            if trimmed.is_empty() {
                assert_eq!(e, &UrlError::Empty { kind });
            } else if trimmed.chars().count() > MAX_URL_CHARS {
                assert_eq!(e, &UrlError::TooLong { kind });
            }
            return;
        }
        Ok(url) => url,
    };
    let s = url.as_str();
    let strict = !policy.allow_private;
    assert!(matches!(url.scheme(), "http" | "https"), "{s}");
    if kind == UrlKind::Webhook && strict {
        assert_eq!(url.scheme(), "https", "{s}");
    }
    assert!(url.username().is_empty() && url.password().is_none(), "{s}");
    assert_ne!(url.port(), Some(0), "{s}");
    if strict {
        let port = url.port_or_known_default();
        assert!(matches!(port, Some(80 | 443)), "{s}: port {port:?}");
    }
    assert!(
        s.bytes().all(|b| b.is_ascii_graphic()),
        "normal form {s:?} has spaces, controls or non-ASCII"
    );
    assert!(!trimmed.is_empty() && trimmed.chars().count() <= MAX_URL_CHARS);
    match url.host() {
        None | Some(Host::Domain("")) => panic!("{s} has no host"),
        Some(Host::Ipv4(ip)) if strict => assert!(is_public_ip(IpAddr::V4(ip)), "{s}"),
        Some(Host::Ipv6(ip)) if strict => assert!(is_public_ip(IpAddr::V6(ip)), "{s}"),
        Some(Host::Domain(name)) if strict => check_public_name(name, s),
        Some(_) => {}
    }
    // The stored form is accepted again, unchanged.
    if s.chars().count() <= MAX_URL_CHARS {
        let again = parse_target(s, kind, policy);
        assert_eq!(again.as_ref(), Ok(url), "normal form {s:?} not stable");
    }
    // The connect-time check agrees (canned DNS, no I/O).
    match run_now(resolve_pinned(url, kind, policy, &FuzzResolver)) {
        Ok(addrs) => {
            assert!(!addrs.is_empty());
            if strict {
                assert!(addrs.iter().all(|a| is_public_ip(a.ip())), "{s}: {addrs:?}");
            }
            let port = url.port_or_known_default().expect("http(s) port");
            assert!(addrs.iter().all(|a| a.port() == port), "{s}: {addrs:?}");
            match url.host() {
                Some(Host::Ipv4(ip)) => {
                    assert_eq!(addrs, vec![SocketAddr::new(IpAddr::V4(ip), port)])
                }
                Some(Host::Ipv6(ip)) => {
                    assert_eq!(addrs, vec![SocketAddr::new(IpAddr::V6(ip), port)])
                }
                _ => {}
            }
        }
        Err(UrlError::Unresolvable { .. }) => {
            assert!(matches!(url.host(), Some(Host::Domain(_))), "{s}")
        }
        Err(UrlError::NotPublic { .. }) if strict => {
            assert!(matches!(url.host(), Some(Host::Domain(_))), "{s}")
        }
        Err(e) => panic!("resolve_pinned refused accepted {s}: {e:?}"),
    }
}

/// The name rules, restated: a public name has at least two non-empty labels, is not
/// `localhost`/`home.arpa` nor under an internal suffix, and is not an IP address in
/// disguise once the trailing root dots DNS ignores are removed.
fn check_public_name(name: &str, s: &str) {
    let bare = name.trim_end_matches('.');
    assert!(bare.contains('.'), "single-label {s}");
    assert!(!bare.split('.').any(str::is_empty), "empty label in {s}");
    assert!(bare != "localhost" && bare != "home.arpa", "{s}");
    for suffix in [
        ".localhost",
        ".local",
        ".internal",
        ".localdomain",
        ".home.arpa",
    ] {
        assert!(!bare.ends_with(suffix), "{s}");
    }
    if let Ok(u) = Url::parse(&format!("http://{bare}/")) {
        assert!(
            matches!(u.host(), Some(Host::Domain(_))),
            "{s}: host {name:?} is the IP address {:?} without its trailing dots",
            u.host()
        );
    }
}

fn check_ips(raw: &[u8]) {
    let mut b16 = [0u8; 16];
    let n = raw.len().min(16);
    b16[..n].copy_from_slice(&raw[..n]);
    let v4 = Ipv4Addr::new(b16[0], b16[1], b16[2], b16[3]);
    let v6 = Ipv6Addr::from(b16);
    let public4 = is_public_ip(IpAddr::V4(v4));
    let bits = u128::from(u32::from(v4));
    for wrapped in [
        v4.to_ipv6_mapped(),
        Ipv6Addr::from(0x0064_ff9b_0000_0000_0000_0000_0000_0000_u128 | bits),
        Ipv6Addr::from(0x0064_ff9b_0001_0000_0000_0000_0000_0000_u128 | bits),
        Ipv6Addr::from(0x2002_0000_0000_0000_0000_0000_0000_0001_u128 | (bits << 80)),
    ] {
        assert_eq!(
            is_public_ip(IpAddr::V6(wrapped)),
            public4,
            "{v4} as {wrapped}"
        );
    }
    let page = |s: String| parse_target(&s, UrlKind::Page, STRICT).is_ok();
    let n4 = u32::from(v4);
    for spelled in [
        format!("http://{v4}/"),
        format!("http://{n4}/"),
        format!("http://0x{n4:x}/"),
        format!("http://0{:o}.{}.{}.{}/", b16[0], b16[1], b16[2], b16[3]),
        format!("http://[::ffff:{v4}]/"),
        format!("{v4}"),
    ] {
        assert_eq!(page(spelled.clone()), public4, "{spelled}");
    }
    let public6 = is_public_ip(IpAddr::V6(v6));
    assert_eq!(page(format!("http://[{v6}]/")), public6, "{v6}");
    assert_eq!(page(format!("[{v6}]:443")), public6, "{v6}");
}

// ---------------------------------------------------------------------------------------
// position_expr: the overlay position expression grammar
// ---------------------------------------------------------------------------------------

/// Frame and caption-block sizes the renderer can produce (portrait, landscape, and a
/// block as large as the frame or empty).
const FRAMES: [[f64; 4]; 4] = [
    [1080.0, 1920.0, 900.0, 200.0],
    [1920.0, 1080.0, 1000.0, 100.0],
    [1080.0, 1920.0, 1080.0, 1920.0],
    [1080.0, 1920.0, 0.0, 0.0],
];

/// `raw` is an expression (lossy UTF-8). Parsing is deterministic and longer than
/// [`MAX_LEN`] bytes is always refused; a refusal is a parse error (never an evaluation
/// one), short, and its byte positions point into the input at the reported character.
/// An accepted expression prints to ASCII no longer than the input that parses back to the
/// same tree; evaluated at real frame sizes it gives a finite number or division by zero
/// (literals within the limits cannot overflow), the same for the printed form, never
/// division by zero without a `/`; non-finite frame sizes are refused.
pub fn position_expr(raw: &[u8]) {
    let s = String::from_utf8_lossy(raw);
    let parsed = expr::parse(&s);
    assert_eq!(parsed, expr::parse(&s), "not deterministic");
    if s.len() > MAX_LEN {
        assert_eq!(parsed, Err(ExprError::TooLong));
    }
    let e = match parsed {
        Err(err) => {
            check_expr_error(&s, &err);
            return;
        }
        Ok(e) => e,
    };
    let printed = e.to_string();
    assert!(
        printed.len() <= s.len(),
        "{s:?} printed as longer {printed:?}"
    );
    assert!(
        printed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.+-*/()".contains(&b)),
        "{printed:?}"
    );
    let back = expr::parse(&printed);
    assert_eq!(back.as_ref(), Ok(&e), "{s:?} printed as {printed:?}");
    let back = back.expect("checked");
    for [mw, mh, ow, oh] in FRAMES {
        let v = e.eval(mw, mh, ow, oh);
        match &v {
            Ok(x) => assert!(x.is_finite(), "{s:?} = {x}"),
            Err(ExprError::DivisionByZero) => {
                assert!(s.contains('/'), "{s:?}: division by zero without '/'")
            }
            Err(other) => panic!("{s:?} at {mw}x{mh} / {ow}x{oh}: {other:?}"),
        }
        let again = back.eval(mw, mh, ow, oh);
        assert_eq!(
            v.map(f64::to_bits),
            again.map(f64::to_bits),
            "{s:?} vs printed {printed:?}"
        );
    }
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(e.eval(bad, 1920.0, 900.0, 200.0), Err(ExprError::NotFinite));
        assert_eq!(
            e.eval(1080.0, 1920.0, 900.0, bad),
            Err(ExprError::NotFinite)
        );
    }
}

fn check_expr_error(s: &str, err: &ExprError) {
    let msg = err.to_string();
    assert!(msg.len() < 160, "{s:?}: {msg}");
    match err {
        ExprError::DivisionByZero | ExprError::NotFinite => {
            panic!("{s:?}: evaluation error {err:?} from the parser")
        }
        ExprError::Empty => assert!(s.bytes().all(|b| b == b' ' || b == b'\t'), "{s:?}"),
        ExprError::UnexpectedChar(c, at) => {
            assert!(s.is_char_boundary(*at), "{s:?}: {err:?}");
            assert!(s[*at..].starts_with(*c), "{s:?}: {err:?}");
        }
        ExprError::UnexpectedToken(_, at) => assert!(*at < s.len(), "{s:?}: {err:?}"),
        ExprError::UnknownVariable(w) | ExprError::FunctionCall(w) | ExprError::BadNumber(w) => {
            assert!(w.chars().count() <= 25, "{s:?}: {err:?}");
            let head = w.trim_end_matches('…');
            assert!(
                s.contains(head),
                "{s:?}: {err:?} echoes text not in the input"
            );
        }
        ExprError::TooLong | ExprError::TooManyTokens | ExprError::TooDeep => {}
        ExprError::UnexpectedEnd => {}
    }
}

/// The end-clip duration reader (`mp4::duration_ms`): never panics, and a fragmented file
/// (a `moof` box after the header) is never measured.
pub fn mp4_duration(raw: &[u8]) {
    let first = crate::mp4::duration_ms(raw);
    assert_eq!(first, crate::mp4::duration_ms(raw), "not deterministic");
    if first.is_ok() {
        let mut fragmented = raw.to_vec();
        fragmented.extend_from_slice(b"\0\0\0\x08moof");
        assert!(
            crate::mp4::duration_ms(&fragmented).is_err(),
            "a fragmented MP4 was measured"
        );
    }
}
