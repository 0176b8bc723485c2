//! Guard for customer-supplied URLs (the product page `url` and the `webhook_url`).
//!
//! Both URLs are fetched or called *by our servers*, so a customer who can choose them can
//! aim our network position at things only we can reach: the cloud metadata service
//! (169.254.169.254, `fd00:ec2::254`), loopback admin ports, VPC-internal hosts. This module
//! is the single place that decides whether a URL names a public internet host (SSRF guard).
//!
//! The checks happen twice, on purpose:
//!
//! * [`parse_target`] / [`validate_target`] run when the customer submits the URL, so they get
//!   a clear refusal up front. DNS failures are tolerated there because DNS can fail
//!   transiently and the name may well be fine later.
//! * [`resolve_pinned`] runs when we actually connect. It resolves the name once, checks every
//!   answer and returns the socket addresses the caller must connect to. Connecting to those
//!   pinned addresses (instead of letting the HTTP client resolve the name again) closes the
//!   DNS-rebinding hole where a name is public at validation time and private at fetch time.
//!
//! Parsing is delegated to the WHATWG parser in the `url` crate, which is the same algorithm
//! browsers use. It already folds the odd IPv4 spellings (`2130706433`, `0x7f.1`, `0177.0.0.1`,
//! `127.1`, `0`) and IDNA look-alikes (full-width letters, ideographic full stops) into their
//! canonical form, so the checks below only ever look at canonical hosts.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Longest accepted URL, in characters, as supplied by the customer (after trimming the
/// surrounding whitespace). Normalisation (punycode, percent-encoding, the `https://` we add)
/// may make the stored form somewhat longer; the cap bounds what the customer can send.
pub const MAX_URL_CHARS: usize = 2048;

/// Which customer field a URL came from. It selects the scheme rule (webhooks must be https)
/// and the field name used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// The product page `url` that we fetch.
    Page,
    /// The `webhook_url` that we call with results.
    Webhook,
}

impl UrlKind {
    /// The name of the request field, as the client knows it.
    pub fn field_name(self) -> &'static str {
        match self {
            UrlKind::Page => "url",
            UrlKind::Webhook => "webhook_url",
        }
    }
}

impl fmt::Display for UrlKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field_name())
    }
}

/// Deployment policy for target URLs.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetPolicy {
    /// Development switch: accept private, loopback and otherwise non-public hosts (so a
    /// developer can point the service at `http://127.0.0.1:8080/`), and plain `http` for
    /// webhooks. It does NOT relax the scheme allow-list (http/https only), the userinfo ban,
    /// port 0 or the length cap: those protect parsing and logging, not the network.
    pub allow_private: bool,
}

/// Client-facing refusal of a URL.
///
/// `Display` is a short sentence naming the field (`url` or `webhook_url`) and the reason.
/// It never contains the submitted value or any internal detail (resolver error text,
/// resolved addresses), so it is safe to return verbatim in an API response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Missing or blank.
    #[error("{kind} must not be empty")]
    Empty { kind: UrlKind },
    /// Longer than [`MAX_URL_CHARS`].
    #[error("{kind} must be at most 2048 characters long")]
    TooLong { kind: UrlKind },
    /// Contains a space or control character after trimming.
    #[error("{kind} must not contain spaces or control characters")]
    ForbiddenCharacter { kind: UrlKind },
    /// Not parseable as a URL.
    #[error("{kind} is not a valid URL")]
    Invalid { kind: UrlKind },
    /// Parsed, but there is no host (`http:///`).
    #[error("{kind} must include a host name")]
    MissingHost { kind: UrlKind },
    /// Port out of range or port 0.
    #[error("{kind} has an invalid port")]
    InvalidPort { kind: UrlKind },
    /// A port other than 80 and 443 (outside development): other ports are where
    /// admin consoles, databases and internal services listen.
    #[error("{kind} may only use port 80 or 443")]
    PortNotAllowed { kind: UrlKind },
    /// Scheme other than http/https.
    #[error("{kind} must start with http:// or https://")]
    Scheme { kind: UrlKind },
    /// Webhook with a scheme other than https (and private targets not allowed).
    #[error("{kind} must use https")]
    HttpsRequired { kind: UrlKind },
    /// Contains `user:pass@`.
    #[error("{kind} must not contain a user name or password")]
    Userinfo { kind: UrlKind },
    /// Names (or resolves to) a loopback, private, link-local or otherwise non-public host.
    #[error("{kind} must point to a public internet host")]
    NotPublic { kind: UrlKind },
    /// The host name did not resolve when we needed to connect.
    #[error("{kind} host name could not be resolved")]
    Unresolvable { kind: UrlKind },
}

impl UrlError {
    /// The field the refusal is about.
    pub fn kind(&self) -> UrlKind {
        match *self {
            UrlError::Empty { kind }
            | UrlError::TooLong { kind }
            | UrlError::ForbiddenCharacter { kind }
            | UrlError::Invalid { kind }
            | UrlError::MissingHost { kind }
            | UrlError::InvalidPort { kind }
            | UrlError::PortNotAllowed { kind }
            | UrlError::Scheme { kind }
            | UrlError::HttpsRequired { kind }
            | UrlError::Userinfo { kind }
            | UrlError::NotPublic { kind }
            | UrlError::Unresolvable { kind } => kind,
        }
    }
}

/// Name resolution, behind a trait so tests (and callers with their own resolver) can
/// substitute answers.
#[async_trait::async_trait]
pub trait Resolver: Send + Sync {
    /// All addresses for `host`. An empty list is treated like a failure.
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>>;
}

// ---------------------------------------------------------------------------------------
// IP classification
// ---------------------------------------------------------------------------------------

/// IPv4 blocks that are not public internet destinations: (network, prefix length).
/// Sources: RFC 1122, 1918, 3927, 5737, 6598, 6890, 2544, 5771, 1112, 7526, 919.
const V4_NON_PUBLIC: &[(u32, u8)] = &[
    (0x0000_0000, 8), // 0.0.0.0/8 "this network" (0.0.0.0 reaches the local host on Linux)
    (0x0A00_0000, 8), // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 carrier-grade NAT (often VPC-internal in clouds)
    (0x7F00_0000, 8), // 127.0.0.0/8 loopback
    (0xA9FE_0000, 16), // 169.254.0.0/16 link-local, includes 169.254.169.254 metadata
    (0xAC10_0000, 12), // 172.16.0.0/12 private
    (0xC000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xC000_0200, 24), // 192.0.2.0/24 TEST-NET-1
    (0xC058_6300, 24), // 192.88.99.0/24 deprecated 6to4 relay anycast
    (0xC0A8_0000, 16), // 192.168.0.0/16 private
    (0xC612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xC633_6400, 24), // 198.51.100.0/24 TEST-NET-2
    (0xCB00_7100, 24), // 203.0.113.0/24 TEST-NET-3
    (0xE000_0000, 4), // 224.0.0.0/4 multicast
    (0xF000_0000, 4), // 240.0.0.0/4 reserved, includes 255.255.255.255 broadcast
];

/// IPv6 blocks inside global unicast 2000::/3 that are still not public destinations.
/// Everything outside 2000::/3 is refused wholesale (see [`is_public_v6`]).
const V6_NON_PUBLIC_IN_GLOBAL: &[(u128, u8)] = &[
    // 2001::/23 IETF protocol assignments: Teredo 2001::/32 (tunnels to an arbitrary,
    // obfuscated IPv4 peer), benchmarking 2001:2::/48, ORCHID. No web hosts live here.
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 23),
    // 2001:db8::/32 documentation.
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32),
    // 3fff::/20 documentation (RFC 9637).
    (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20),
];

fn v4_in(ip: u32, net: u32, len: u8) -> bool {
    // len is 1..=32 in our tables; a /0 would need a special case for the shift.
    let mask = u32::MAX << (32 - u32::from(len));
    ip & mask == net & mask
}

fn v6_in(ip: u128, net: u128, len: u8) -> bool {
    let mask = u128::MAX << (128 - u32::from(len));
    ip & mask == net & mask
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !V4_NON_PUBLIC
        .iter()
        .any(|&(net, len)| v4_in(bits, net, len))
}

/// The IPv4 address an IPv6 address stands for, when the IPv6 form is just a wrapper that
/// the kernel or a translator turns back into IPv4 traffic.
///
/// Why this matters: `::ffff:169.254.169.254` is, on a dual-stack socket, a connection to
/// the metadata service; `64:ff9b::a9fe:a9fe` is the same thing through a NAT64 gateway (AWS
/// offers DNS64/NAT64 in VPCs). Judging those by their IPv6 prefix would let any private IPv4
/// destination through in disguise, so the embedded IPv4 address is judged instead.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    // ::a.b.c.d (deprecated IPv4-compatible; also covers :: and ::1, whose embedded
    // 0.0.0.0 / 0.0.0.1 fall in 0.0.0.0/8 and are refused).
    if v6_in(bits, 0, 96)
        // ::ffff:a.b.c.d IPv4-mapped.
        || v6_in(bits, 0x0000_0000_0000_0000_0000_ffff_0000_0000, 96)
        // ::ffff:0:a.b.c.d IPv4-translated (RFC 2765).
        || v6_in(bits, 0x0000_0000_0000_0000_ffff_0000_0000_0000, 96)
        // 64:ff9b::/96 well-known NAT64 prefix (RFC 6052).
        || v6_in(bits, 0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96)
        // 64:ff9b:1::/48 local-use NAT64 prefix (RFC 8215); IPv4 in the last 32 bits.
        || v6_in(bits, 0x0064_ff9b_0001_0000_0000_0000_0000_0000, 48)
    {
        return Some(low32);
    }
    None
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_ipv4(ip) {
        return is_public_v4(v4);
    }
    let bits = u128::from(ip);
    // Only 2000::/3 is allocated as global unicast. Outside it live loopback, unspecified,
    // ULA fc00::/7 (AWS metadata is fd00:ec2::254), link-local fe80::/10, site-local
    // fec0::/10, multicast ff00::/8, discard 100::/64, SRv6 5f00::/16 and unallocated
    // space; an allow-list is safer than enumerating all of them.
    if !v6_in(bits, 0x2000_0000_0000_0000_0000_0000_0000_0000, 3) {
        return false;
    }
    if V6_NON_PUBLIC_IN_GLOBAL
        .iter()
        .any(|&(net, len)| v6_in(bits, net, len))
    {
        return false;
    }
    // 2002::/16 6to4: the relay forwards to the IPv4 address in bits 16..48, so
    // 2002:7f00:1:: is a way of spelling 127.0.0.1.
    if v6_in(bits, 0x2002_0000_0000_0000_0000_0000_0000_0000, 16) {
        let v4 = ((bits >> 80) & 0xffff_ffff) as u32;
        return is_public_v4(Ipv4Addr::from(v4));
    }
    true
}

/// Whether `ip` is a public internet destination we are willing to connect to on a
/// customer's behalf.
///
/// IPv6 forms that carry an IPv4 address (mapped, compatible, translated, NAT64, 6to4) are
/// judged by that IPv4 address, so `is_public_ip(V4(a)) == is_public_ip(V6(a.to_ipv6_mapped()))`
/// for every `a`.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Schemes that, written as `name:rest`, must be read as a scheme even when `rest` looks
/// like a port (`javascript:1` is not the host `javascript` on port 1).
const KNOWN_SCHEMES: &[&str] = &[
    "http",
    "https",
    "file",
    "ftp",
    "ftps",
    "sftp",
    "gopher",
    "javascript",
    "vbscript",
    "data",
    "blob",
    "about",
    "mailto",
    "tel",
    "ws",
    "wss",
    "ldap",
    "dict",
    "tftp",
    "ssh",
    "telnet",
    "jar",
    "netdoc",
];

/// Adds `https://` to inputs written without a scheme (`example.com/p`, `localhost:8080`,
/// `127.0.0.1`, `[::1]:80`, `//host/p`), and leaves real schemes alone so they can be refused
/// by name (`javascript:alert(1)`, `file:///etc/passwd`).
///
/// A leading `name:` is ambiguous: the WHATWG parser reads `localhost:8080` as scheme
/// `localhost`. We treat it as `host:port` when what follows the colon is a port number
/// (digits, then end or `/?#`) and `name` is not a known scheme.
fn with_default_scheme(s: &str) -> Cow<'_, str> {
    if s.starts_with("//") {
        return Cow::Owned(format!("https:{s}"));
    }
    let Some(colon) = s.find(':') else {
        return Cow::Owned(format!("https://{s}"));
    };
    let name = &s[..colon];
    let rest = &s[colon + 1..];
    let mut name_chars = name.chars();
    let scheme_like = name_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_like {
        // `127.0.0.1:80`, `[::1]:80`, `example.com/a:b` - no scheme at the start.
        return Cow::Owned(format!("https://{s}"));
    }
    if rest.starts_with("//") || KNOWN_SCHEMES.contains(&name.to_ascii_lowercase().as_str()) {
        return Cow::Borrowed(s);
    }
    let port_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let port = &rest[..port_end];
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        Cow::Owned(format!("https://{s}"))
    } else {
        // Some other scheme (`mailto:`, `chrome-extension:` ...); parsed and refused.
        Cow::Borrowed(s)
    }
}

/// Name suffixes that are by definition not on the public internet (RFC 6761, 6762, 8375)
/// or are conventional internal zones (`*.internal` is used by GCP metadata and AWS VPC DNS).
const NON_PUBLIC_SUFFIXES: &[&str] = &[
    ".localhost",
    ".local",
    ".internal",
    ".localdomain",
    ".home.arpa",
];

/// Host-name rule for names that are not IP literals. `name` is the `url` crate's canonical
/// (lower-case, punycode) form.
fn check_domain(name: &str, kind: UrlKind) -> Result<(), UrlError> {
    // `localhost.` and `localhost` are the same name to DNS; judge the name without the
    // trailing root dot. Only one: a second one is an empty label (refused below), and
    // judging `127.1..` as `127.1` would let an IP address pass as a name.
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(UrlError::MissingHost { kind });
    }
    if name.split('.').any(str::is_empty) {
        return Err(UrlError::Invalid { kind });
    }
    if name == "localhost" || name == "home.arpa" {
        return Err(UrlError::NotPublic { kind });
    }
    if NON_PUBLIC_SUFFIXES
        .iter()
        .any(|suffix| name.ends_with(suffix))
    {
        return Err(UrlError::NotPublic { kind });
    }
    // Single-label names (`metadata`, `intranet`) are completed with the resolver's search
    // domains, i.e. they name hosts on *our* network.
    if !name.contains('.') {
        return Err(UrlError::NotPublic { kind });
    }
    Ok(())
}

/// The default port for our two schemes; the URL has been checked to be http or https.
fn effective_port(url: &Url) -> u16 {
    url.port_or_known_default()
        .unwrap_or(if url.scheme() == "http" { 80 } else { 443 })
}

/// Every rule that can be judged from an already parsed URL (everything but the length cap
/// and character checks, which apply to the raw input). Shared by [`parse_target`] and
/// [`resolve_pinned`], so a URL stored before a rule existed is still checked at connect time.
fn check_url(url: &Url, kind: UrlKind, policy: TargetPolicy) -> Result<(), UrlError> {
    let scheme = url.scheme();
    if kind == UrlKind::Webhook && !policy.allow_private {
        // Webhook payloads carry campaign results; they must not travel in clear text.
        if scheme != "https" {
            return Err(UrlError::HttpsRequired { kind });
        }
    } else if scheme != "http" && scheme != "https" {
        return Err(UrlError::Scheme { kind });
    }
    // Userinfo is refused outright: `http://public.com@127.0.0.1/` is a classic way to make
    // a URL look like it goes somewhere else, and credentials in URLs end up in logs.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Userinfo { kind });
    }
    if url.port() == Some(0) {
        return Err(UrlError::InvalidPort { kind });
    }
    let host = url.host().ok_or(UrlError::MissingHost { kind })?;
    match host {
        Host::Domain("") => Err(UrlError::MissingHost { kind }),
        _ if policy.allow_private => Ok(()),
        Host::Domain(name) => check_domain(name, kind),
        Host::Ipv4(ip) if is_public_v4(ip) => Ok(()),
        Host::Ipv6(ip) if is_public_v6(ip) => Ok(()),
        Host::Ipv4(_) | Host::Ipv6(_) => Err(UrlError::NotPublic { kind }),
    }?;
    // Pages and webhooks are served on the web's ports; any other port of a public host
    // is a service reelforge has no business reaching (checked for every redirect hop
    // too). Development (`allow_private`) keeps any port for loopback test servers.
    if !policy.allow_private && !matches!(effective_port(url), 80 | 443) {
        return Err(UrlError::PortNotAllowed { kind });
    }
    Ok(())
}

/// Syntax, scheme, userinfo, literal-IP and host-name rules; no DNS.
///
/// Returns the normalised URL (scheme added, host canonicalised, e.g. `example.com` →
/// `https://example.com/`). Store and use this form, not the raw input, so that what we
/// checked is exactly what we later connect to.
pub fn parse_target(input: &str, kind: UrlKind, policy: TargetPolicy) -> Result<Url, UrlError> {
    let trimmed = input.trim_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.is_empty() {
        return Err(UrlError::Empty { kind });
    }
    if trimmed.chars().count() > MAX_URL_CHARS {
        return Err(UrlError::TooLong { kind });
    }
    // The WHATWG parser silently deletes tabs and newlines inside a URL (`exa\tmple.com`
    // becomes `example.com`), so what we would check would differ from what the customer
    // typed; refuse instead of guessing.
    if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(UrlError::ForbiddenCharacter { kind });
    }
    let candidate = with_default_scheme(trimmed);
    let url = Url::parse(&candidate).map_err(|e| match e {
        url::ParseError::EmptyHost => UrlError::MissingHost { kind },
        url::ParseError::InvalidPort => UrlError::InvalidPort { kind },
        _ => UrlError::Invalid { kind },
    })?;
    check_url(&url, kind, policy)?;
    Ok(url)
}

/// [`parse_target`] plus DNS.
///
/// A name that does not resolve (error, timeout, empty answer) is accepted: DNS can fail
/// transiently, and [`resolve_pinned`] refuses it at connect time anyway. A name that does
/// resolve is refused if ANY answer is non-public, because an attacker controlling the zone
/// can otherwise mix a private address in with a public one and win some connections.
/// With `policy.allow_private` no lookup is made.
pub async fn validate_target(
    input: &str,
    kind: UrlKind,
    policy: TargetPolicy,
    resolver: &dyn Resolver,
) -> Result<Url, UrlError> {
    let url = parse_target(input, kind, policy)?;
    if policy.allow_private {
        return Ok(url);
    }
    if let Some(Host::Domain(name)) = url.host() {
        if let Ok(addrs) = resolver.resolve(name, effective_port(&url)).await {
            if addrs.iter().any(|&ip| !is_public_ip(ip)) {
                return Err(UrlError::NotPublic { kind });
            }
        }
    }
    Ok(url)
}

/// Resolve `url` for connecting and return the addresses to pin the connection to.
///
/// All URL rules are re-checked (the URL may have been stored before a rule changed). Literal
/// IPs return themselves. A name is resolved once; the caller must connect to exactly these
/// addresses, not re-resolve the name, otherwise a rebinding DNS server could answer with a
/// public address here and a private one to the HTTP client. Unlike [`validate_target`], an
/// unresolvable name is an error here ([`UrlError::Unresolvable`]): there is nothing to
/// connect to. Any non-public answer refuses the whole URL unless `policy.allow_private`.
/// The port is the URL's, or 80/443 by scheme. Duplicate answers are removed, order kept.
pub async fn resolve_pinned(
    url: &Url,
    kind: UrlKind,
    policy: TargetPolicy,
    resolver: &dyn Resolver,
) -> Result<Vec<SocketAddr>, UrlError> {
    check_url(url, kind, policy)?;
    let port = effective_port(url);
    let ips = match url.host() {
        Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(Host::Domain(name)) => match resolver.resolve(name, port).await {
            Ok(ips) if !ips.is_empty() => ips,
            _ => return Err(UrlError::Unresolvable { kind }),
        },
        None => return Err(UrlError::MissingHost { kind }),
    };
    if !policy.allow_private && ips.iter().any(|&ip| !is_public_ip(ip)) {
        return Err(UrlError::NotPublic { kind });
    }
    let mut pinned: Vec<SocketAddr> = Vec::with_capacity(ips.len());
    for ip in ips {
        let addr = SocketAddr::new(ip, port);
        if !pinned.contains(&addr) {
            pinned.push(addr);
        }
    }
    Ok(pinned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    const PAGE: UrlKind = UrlKind::Page;
    const HOOK: UrlKind = UrlKind::Webhook;
    const STRICT: TargetPolicy = TargetPolicy {
        allow_private: false,
    };
    const DEV: TargetPolicy = TargetPolicy {
        allow_private: true,
    };
    const SECRET: &str = "SERVFAIL from 10.9.8.7 resolver-internal-detail";

    fn not_public(kind: UrlKind) -> UrlError {
        UrlError::NotPublic { kind }
    }

    /// Runs every case, then fails once listing every input that misbehaved.
    fn check_refusals(cases: &[(String, UrlKind, TargetPolicy, UrlError)]) {
        let mut failures = Vec::new();
        for (input, kind, policy, expected) in cases {
            let got = parse_target(input, *kind, *policy);
            if got.as_ref().err() != Some(expected) {
                let shown: String = input.chars().take(80).collect();
                failures.push(format!(
                    "input {shown:?} ({kind:?}, allow_private={}): expected Err({expected:?}), got {got:?}",
                    policy.allow_private
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} refusal cases failed:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    fn cases(list: &[(&str, UrlError)]) -> Vec<(String, UrlKind, TargetPolicy, UrlError)> {
        list.iter()
            .map(|(input, err)| (input.to_string(), err.kind(), STRICT, err.clone()))
            .collect()
    }

    #[test]
    fn refuses_non_public_literal_ips_in_all_spellings() {
        let np = not_public(PAGE);
        check_refusals(&cases(&[
            // Odd IPv4 spellings, normalised by the WHATWG parser.
            ("http://2130706433/", np.clone()),
            ("http://0x7f000001/", np.clone()),
            ("http://0x7f.0.0.1/", np.clone()),
            ("http://0177.0.0.1/", np.clone()),
            ("http://0x7f.1/", np.clone()),
            ("http://127.1/", np.clone()),
            ("http://0/", np.clone()),
            ("http://0.0.0.0/", np.clone()),
            ("http://127.0.0.1./", np.clone()),
            ("http://127.0.0.1:8080/", np.clone()),
            ("http://127\u{3002}0\u{3002}0\u{3002}1/", np.clone()),
            ("http://\u{ff11}\u{ff12}\u{ff17}.0.0.1/", np.clone()),
            ("127.0.0.1", np.clone()),
            ("127.0.0.1:8080/admin", np.clone()),
            ("//127.0.0.1/", np.clone()),
            // IPv4 ranges.
            ("http://10.0.0.1/", np.clone()),
            ("http://172.16.0.1/", np.clone()),
            ("http://172.31.255.255/", np.clone()),
            ("http://192.168.1.1/", np.clone()),
            ("http://100.64.0.1/", np.clone()),
            ("http://169.254.169.254/latest/meta-data/", np.clone()),
            ("http://224.0.0.1/", np.clone()),
            ("http://255.255.255.255/", np.clone()),
            ("http://240.0.0.1/", np.clone()),
            ("http://192.0.0.8/", np.clone()),
            ("http://192.0.2.1/", np.clone()),
            ("http://198.51.100.7/", np.clone()),
            ("http://203.0.113.9/", np.clone()),
            ("http://198.18.0.1/", np.clone()),
            ("http://198.19.255.255/", np.clone()),
            // IPv6 literals.
            ("http://[::1]/", np.clone()),
            ("[::1]:8080", np.clone()),
            ("http://[::]/", np.clone()),
            ("http://[::ffff:127.0.0.1]/", np.clone()),
            ("http://[::ffff:169.254.169.254]/", np.clone()),
            ("http://[::ffff:a9fe:a9fe]/", np.clone()),
            ("http://[::127.0.0.1]/", np.clone()),
            ("http://[::ffff:0:7f00:1]/", np.clone()),
            ("http://[fd00:ec2::254]/", np.clone()),
            ("http://[fc00::1]/", np.clone()),
            ("http://[fe80::1]/", np.clone()),
            ("http://[fec0::1]/", np.clone()),
            ("http://[ff02::1]/", np.clone()),
            ("http://[2001:db8::1]/", np.clone()),
            ("http://[64:ff9b::7f00:1]/", np.clone()),
            ("http://[64:ff9b::a9fe:a9fe]/", np.clone()),
            ("http://[64:ff9b:1::a00:1]/", np.clone()),
            ("http://[2002:7f00:1::]/", np.clone()),
            ("http://[2002:a9fe:a9fe::1]/", np.clone()),
            ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", np.clone()),
            ("http://[100::1]/", np.clone()),
            ("https://[::ffff:10.0.0.1]:443/", np.clone()),
        ]));
    }

    #[test]
    fn refuses_internal_names() {
        let np = not_public(PAGE);
        check_refusals(&cases(&[
            ("localhost", np.clone()),
            ("localhost:8080", np.clone()),
            ("localhost.", np.clone()),
            ("http://localhost/", np.clone()),
            ("http://LOCALHOST/", np.clone()),
            ("http://localhost./", np.clone()),
            ("http://localhost:8080/", np.clone()),
            ("http://localhost%2e/", np.clone()),
            (
                "http://\u{ff4c}\u{ff4f}\u{ff43}\u{ff41}\u{ff4c}\u{ff48}\u{ff4f}\u{ff53}\u{ff54}/",
                np.clone(),
            ),
            ("http://foo.localhost/", np.clone()),
            ("http://foo.localhost./", np.clone()),
            ("http://metadata/", np.clone()),
            ("http://metadata./", np.clone()),
            ("http://metadata.google.internal/", np.clone()),
            ("http://printer.local/", np.clone()),
            ("http://db.localdomain/", np.clone()),
            ("http://localhost.localdomain/", np.clone()),
            ("http://nas.home.arpa/", np.clone()),
            ("http://home.arpa/", np.clone()),
        ]));
    }

    #[test]
    fn refuses_bad_syntax_schemes_and_userinfo() {
        let mut list = cases(&[
            ("", UrlError::Empty { kind: PAGE }),
            ("   \t ", UrlError::Empty { kind: PAGE }),
            ("file:///etc/passwd", UrlError::Scheme { kind: PAGE }),
            ("FILE:///etc/passwd", UrlError::Scheme { kind: PAGE }),
            ("ftp://example.com/", UrlError::Scheme { kind: PAGE }),
            ("gopher://example.com/", UrlError::Scheme { kind: PAGE }),
            ("javascript:alert(1)", UrlError::Scheme { kind: PAGE }),
            ("javascript:1", UrlError::Scheme { kind: PAGE }),
            (
                "data:text/html,<script>x</script>",
                UrlError::Scheme { kind: PAGE },
            ),
            ("ws://example.com/", UrlError::Scheme { kind: PAGE }),
            (
                "mailto:someone@example.com",
                UrlError::Scheme { kind: PAGE },
            ),
            (
                "http://user:pass@example.com/",
                UrlError::Userinfo { kind: PAGE },
            ),
            (
                "http://user@example.com/",
                UrlError::Userinfo { kind: PAGE },
            ),
            (
                "http://:pass@example.com/",
                UrlError::Userinfo { kind: PAGE },
            ),
            (
                "http://example.com@127.0.0.1/",
                UrlError::Userinfo { kind: PAGE },
            ),
            (
                "http://127.0.0.1%2f@example.com/",
                UrlError::Userinfo { kind: PAGE },
            ),
            // Reads as scheme `user`, so it is refused as a scheme.
            ("user:pass@example.com", UrlError::Scheme { kind: PAGE }),
            (
                "http://exa mple.com/",
                UrlError::ForbiddenCharacter { kind: PAGE },
            ),
            (
                "http://exa\tmple.com/",
                UrlError::ForbiddenCharacter { kind: PAGE },
            ),
            (
                "http://example.com/\npath",
                UrlError::ForbiddenCharacter { kind: PAGE },
            ),
            (
                "http://example.com/\u{0}",
                UrlError::ForbiddenCharacter { kind: PAGE },
            ),
            (
                "http://example.com/a\u{a0}b",
                UrlError::ForbiddenCharacter { kind: PAGE },
            ),
            ("http:///", UrlError::MissingHost { kind: PAGE }),
            ("https://", UrlError::MissingHost { kind: PAGE }),
            ("http://./", UrlError::MissingHost { kind: PAGE }),
            (
                "http://example.com:0/",
                UrlError::InvalidPort { kind: PAGE },
            ),
            (
                "http://example.com:65536/",
                UrlError::InvalidPort { kind: PAGE },
            ),
            ("http://[::1/", UrlError::Invalid { kind: PAGE }),
            ("http://1.2.3.4.5/", UrlError::Invalid { kind: PAGE }),
            ("http://a..example.com/", UrlError::Invalid { kind: PAGE }),
            // Found by the url_guard fuzz target (fuzz/regressions/url_guard/): with all
            // trailing dots dropped these were judged as the names `169.2254`, `127.1`.
            ("169.2254...", UrlError::Invalid { kind: PAGE }),
            ("http://127.1../", UrlError::Invalid { kind: PAGE }),
            ("http://example.com../", UrlError::Invalid { kind: PAGE }),
            ("http://localhost../", UrlError::Invalid { kind: PAGE }),
        ]);
        let too_long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS - 19));
        assert_eq!(too_long.chars().count(), MAX_URL_CHARS + 1);
        list.push((too_long, PAGE, STRICT, UrlError::TooLong { kind: PAGE }));
        // The cap still applies with the dev switch.
        let too_long_hook = format!("http://127.0.0.1/{}", "é".repeat(MAX_URL_CHARS));
        list.push((too_long_hook, HOOK, DEV, UrlError::TooLong { kind: HOOK }));
        check_refusals(&list);
    }

    #[test]
    fn webhook_rules() {
        check_refusals(&cases(&[
            (
                "http://example.com/hook",
                UrlError::HttpsRequired { kind: HOOK },
            ),
            (
                "ftp://example.com/hook",
                UrlError::HttpsRequired { kind: HOOK },
            ),
            (
                "https://[fd00:ec2::254]/",
                UrlError::NotPublic { kind: HOOK },
            ),
            ("https://localhost/hook", UrlError::NotPublic { kind: HOOK }),
            (
                "https://u:p@example.com/hook",
                UrlError::Userinfo { kind: HOOK },
            ),
            ("https://10.0.0.1/hook", UrlError::NotPublic { kind: HOOK }),
        ]));
        let ok = parse_target("https://hooks.example.com/x?sig=1", HOOK, STRICT);
        assert_eq!(
            ok.map(|u| u.to_string()),
            Ok("https://hooks.example.com/x?sig=1".to_string())
        );
        // Scheme-less webhook input gets https.
        let ok = parse_target("hooks.example.com/x", HOOK, STRICT);
        assert_eq!(
            ok.map(|u| u.to_string()),
            Ok("https://hooks.example.com/x".to_string())
        );
        // The dev switch allows plain http for webhooks.
        assert!(parse_target("http://example.com/hook", HOOK, DEV).is_ok());
    }

    /// Only ports 80 and 443 (the test names a public host, so only the port refuses).
    #[test]
    fn refuses_ports_other_than_80_and_443() {
        for input in [
            "example.com:8443/p",
            "http://example.com:8080/",
            "https://93.184.216.34:22/",
            "http://[2606:4700::1111]:6379/",
            "https://example.com:81",
        ] {
            assert_eq!(
                parse_target(input, PAGE, STRICT),
                Err(UrlError::PortNotAllowed { kind: PAGE }),
                "{input}"
            );
        }
        // Development keeps any port for loopback test servers.
        assert!(parse_target("http://127.0.0.1:8080/", PAGE, DEV).is_ok());
        assert_eq!(
            UrlError::PortNotAllowed { kind: PAGE }.to_string(),
            "url may only use port 80 or 443"
        );
    }

    #[test]
    fn accepts_public_targets_and_normalises() {
        let accepted = [
            ("example.com", "https://example.com/"),
            ("  example.com/path  ", "https://example.com/path"),
            ("example.com:443/p?q=1", "https://example.com/p?q=1"),
            ("http://example.com:80/p", "http://example.com/p"),
            (
                "https://www.example.com/path?q=1",
                "https://www.example.com/path?q=1",
            ),
            (
                "HTTPS://WWW.Example.COM/Path",
                "https://www.example.com/Path",
            ),
            ("https://example.com./", "https://example.com./"),
            ("//example.com/p", "https://example.com/p"),
            (
                "example.com/a?next=http://x",
                "https://example.com/a?next=http://x",
            ),
            ("http://93.184.216.34/", "http://93.184.216.34/"),
            ("93.184.216.34", "https://93.184.216.34/"),
            ("https://[2606:4700::1111]/", "https://[2606:4700::1111]/"),
            (
                "http://[::ffff:93.184.216.34]/",
                "http://[::ffff:5db8:d822]/",
            ),
            ("http://[2002:5db8:d822::1]/", "http://[2002:5db8:d822::1]/"),
            (
                "https://münchen.example/",
                "https://xn--mnchen-3ya.example/",
            ),
            ("http://8.8.8.8:80/", "http://8.8.8.8/"),
            ("https://172.32.0.1/", "https://172.32.0.1/"),
            ("https://100.128.0.1/", "https://100.128.0.1/"),
        ];
        let mut failures = Vec::new();
        for (input, expected) in accepted {
            match parse_target(input, PAGE, STRICT) {
                Ok(url) if url.as_str() == expected => {}
                other => failures.push(format!(
                    "input {input:?}: expected {expected}, got {other:?}"
                )),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let exactly_max = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS - 20));
        assert!(parse_target(&exactly_max, PAGE, STRICT).is_ok());
    }

    #[test]
    fn allow_private_lifts_only_the_address_rules() {
        for kind in [PAGE, HOOK] {
            for input in [
                "http://127.0.0.1:8080/",
                "http://localhost:8080/x",
                "localhost:8080",
                "http://metadata/",
                "http://[::1]/",
                "http://10.0.0.1/",
                "http://printer.local/",
            ] {
                assert!(
                    parse_target(input, kind, DEV).is_ok(),
                    "input {input:?} ({kind:?}) should be allowed with allow_private"
                );
            }
        }
        let mut list = Vec::new();
        for kind in [PAGE, HOOK] {
            for (input, err) in [
                ("file:///etc/passwd", UrlError::Scheme { kind }),
                ("gopher://127.0.0.1/", UrlError::Scheme { kind }),
                ("javascript:alert(1)", UrlError::Scheme { kind }),
                ("http://user:pass@127.0.0.1/", UrlError::Userinfo { kind }),
                ("http://example.com@127.0.0.1/", UrlError::Userinfo { kind }),
                ("http://127.0.0.1:0/", UrlError::InvalidPort { kind }),
                ("http:///", UrlError::MissingHost { kind }),
            ] {
                list.push((input.to_string(), kind, DEV, err));
            }
        }
        check_refusals(&list);
    }

    #[test]
    fn is_public_ip_spot_checks() {
        let public = [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        let private = [
            "127.0.0.1",
            "0.0.0.0",
            "169.254.169.254",
            "::",
            "::1",
            "fd00:ec2::254",
            "2001::1",
            "2001:2::1",
            "3fff::1",
            "5f00::1",
            "ff00::1",
            "::ffff:0:a00:1",
            "64:ff9b:1::7f00:1",
        ];
        for s in public {
            let ip: IpAddr = s.parse().expect("test address");
            assert!(is_public_ip(ip), "{s} should be public");
        }
        for s in private {
            let ip: IpAddr = s.parse().expect("test address");
            assert!(!is_public_ip(ip), "{s} should not be public");
        }
    }

    /// Resolver with canned answers that records what it was asked.
    #[derive(Default)]
    struct FakeResolver {
        answers: HashMap<String, Result<Vec<IpAddr>, String>>,
        calls: Mutex<Vec<(String, u16)>>,
    }

    impl FakeResolver {
        fn with(mut self, host: &str, answer: Result<&[&str], &str>) -> Self {
            let answer = answer
                .map(|ips| {
                    ips.iter()
                        .map(|s| s.parse().expect("test address"))
                        .collect()
                })
                .map_err(str::to_string);
            self.answers.insert(host.to_string(), answer);
            self
        }

        fn calls(&self) -> Vec<(String, u16)> {
            self.calls.lock().expect("lock").clone()
        }
    }

    #[async_trait::async_trait]
    impl Resolver for FakeResolver {
        async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
            self.calls
                .lock()
                .expect("lock")
                .push((host.to_string(), port));
            match self.answers.get(host) {
                Some(Ok(ips)) => Ok(ips.clone()),
                Some(Err(msg)) => Err(std::io::Error::other(msg.clone())),
                None => Err(std::io::Error::other(SECRET)),
            }
        }
    }

    fn resolver() -> FakeResolver {
        FakeResolver::default()
            .with("private.example.com", Ok(&["10.0.0.5"]))
            .with("mixed.example.com", Ok(&["93.184.216.34", "192.168.0.10"]))
            .with("mapped.example.com", Ok(&["::ffff:169.254.169.254"]))
            .with(
                "public.example.com",
                Ok(&["93.184.216.34", "2606:4700::1111", "93.184.216.34"]),
            )
            .with("empty.example.com", Ok(&[]))
            .with("broken.example.com", Err(SECRET))
    }

    #[tokio::test]
    async fn validate_target_uses_dns() {
        let r = resolver();
        assert_eq!(
            validate_target("http://private.example.com/", PAGE, STRICT, &r).await,
            Err(UrlError::NotPublic { kind: PAGE })
        );
        assert_eq!(
            validate_target("https://mixed.example.com/", HOOK, STRICT, &r).await,
            Err(UrlError::NotPublic { kind: HOOK })
        );
        assert_eq!(
            validate_target("mapped.example.com", PAGE, STRICT, &r).await,
            Err(UrlError::NotPublic { kind: PAGE })
        );
        let ok = validate_target("public.example.com/p", PAGE, STRICT, &r).await;
        assert_eq!(
            ok.map(String::from),
            Ok("https://public.example.com/p".to_string())
        );
        // Resolution failure (or no answer) is accepted at validation time.
        for input in [
            "http://broken.example.com/",
            "http://unknown.example.com/",
            "empty.example.com",
        ] {
            assert!(
                validate_target(input, PAGE, STRICT, &r).await.is_ok(),
                "input {input:?} should be accepted when DNS fails"
            );
        }
        // Syntax rules still come first.
        assert_eq!(
            validate_target("http://localhost/", PAGE, STRICT, &r).await,
            Err(UrlError::NotPublic { kind: PAGE })
        );
        let calls = r.calls();
        assert!(
            calls.contains(&("private.example.com".to_string(), 80)),
            "{calls:?}"
        );
        assert!(
            calls.contains(&("public.example.com".to_string(), 443)),
            "{calls:?}"
        );
        assert!(!calls.iter().any(|(h, _)| h == "localhost"), "{calls:?}");
    }

    #[tokio::test]
    async fn validate_target_skips_dns_for_literals_and_dev_mode() {
        let r = resolver();
        assert!(validate_target("http://93.184.216.34/", PAGE, STRICT, &r)
            .await
            .is_ok());
        assert!(
            validate_target("http://private.example.com/", PAGE, DEV, &r)
                .await
                .is_ok()
        );
        assert!(validate_target("http://127.0.0.1:8080/", HOOK, DEV, &r)
            .await
            .is_ok());
        assert!(r.calls().is_empty(), "{:?}", r.calls());
    }

    #[tokio::test]
    async fn resolve_pinned_returns_checked_socket_addrs() {
        let r = resolver();
        let url = |s: &str| Url::parse(s).expect("test url");

        let addrs = resolve_pinned(&url("https://public.example.com/x"), PAGE, STRICT, &r).await;
        let expected: Vec<SocketAddr> = vec![
            "93.184.216.34:443".parse().expect("addr"),
            "[2606:4700::1111]:443".parse().expect("addr"),
        ];
        assert_eq!(addrs, Ok(expected));

        let addrs = resolve_pinned(&url("http://public.example.com/x"), PAGE, STRICT, &r).await;
        assert_eq!(
            addrs.map(|a| a.iter().map(SocketAddr::port).collect::<Vec<_>>()),
            Ok(vec![80, 80])
        );

        // Only the web's ports: a stored URL with another port (or a redirect to one)
        // is refused at connect time too.
        let addrs =
            resolve_pinned(&url("https://public.example.com:8443/"), HOOK, STRICT, &r).await;
        assert_eq!(addrs, Err(UrlError::PortNotAllowed { kind: HOOK }));
        let addrs = resolve_pinned(&url("http://public.example.com:443/"), PAGE, STRICT, &r).await;
        assert_eq!(
            addrs.map(|a| a.iter().map(SocketAddr::port).collect::<Vec<_>>()),
            Ok(vec![443, 443])
        );

        let addrs = resolve_pinned(&url("http://93.184.216.34/"), PAGE, STRICT, &r).await;
        assert_eq!(addrs, Ok(vec!["93.184.216.34:80".parse().expect("addr")]));

        let addrs = resolve_pinned(&url("https://[2606:4700::1111]/"), HOOK, STRICT, &r).await;
        assert_eq!(
            addrs,
            Ok(vec!["[2606:4700::1111]:443".parse().expect("addr")])
        );

        // Unresolvable is an error here.
        for s in [
            "https://broken.example.com/",
            "https://empty.example.com/",
            "https://nx.example.com/",
        ] {
            assert_eq!(
                resolve_pinned(&url(s), HOOK, STRICT, &r).await,
                Err(UrlError::Unresolvable { kind: HOOK }),
                "input {s:?}"
            );
        }
        // Any private answer refuses.
        for s in [
            "http://private.example.com/",
            "http://mixed.example.com/",
            "http://mapped.example.com/",
        ] {
            assert_eq!(
                resolve_pinned(&url(s), PAGE, STRICT, &r).await,
                Err(UrlError::NotPublic { kind: PAGE }),
                "input {s:?}"
            );
        }
        // URL rules are re-checked on stored URLs.
        assert_eq!(
            resolve_pinned(&url("http://169.254.169.254/"), PAGE, STRICT, &r).await,
            Err(UrlError::NotPublic { kind: PAGE })
        );
        assert_eq!(
            resolve_pinned(&url("http://hooks.example.com/"), HOOK, STRICT, &r).await,
            Err(UrlError::HttpsRequired { kind: HOOK })
        );
        assert_eq!(
            resolve_pinned(&url("ftp://example.com/"), PAGE, DEV, &r).await,
            Err(UrlError::Scheme { kind: PAGE })
        );
    }

    #[tokio::test]
    async fn resolve_pinned_with_allow_private() {
        let r = resolver();
        let url = |s: &str| Url::parse(s).expect("test url");
        assert_eq!(
            resolve_pinned(&url("http://127.0.0.1:8080/"), HOOK, DEV, &r).await,
            Ok(vec!["127.0.0.1:8080".parse().expect("addr")])
        );
        assert_eq!(
            resolve_pinned(&url("http://mixed.example.com/"), PAGE, DEV, &r).await,
            Ok(vec![
                "93.184.216.34:80".parse().expect("addr"),
                "192.168.0.10:80".parse().expect("addr"),
            ])
        );
        // Still an error when there is nothing to connect to.
        assert_eq!(
            resolve_pinned(&url("http://broken.example.com/"), PAGE, DEV, &r).await,
            Err(UrlError::Unresolvable { kind: PAGE })
        );
    }

    #[tokio::test]
    async fn display_names_field_and_hides_internal_detail() {
        let r = resolver();
        let url = Url::parse("https://broken.example.com/").expect("test url");
        let hook_err = resolve_pinned(&url, HOOK, STRICT, &r)
            .await
            .expect_err("unresolvable");
        let page_err = resolve_pinned(&url, PAGE, STRICT, &r)
            .await
            .expect_err("unresolvable");
        let private_err = validate_target("http://private.example.com/", PAGE, STRICT, &r)
            .await
            .expect_err("private");

        let hook_msg = hook_err.to_string();
        assert!(hook_msg.starts_with("webhook_url "), "{hook_msg}");
        let page_msg = page_err.to_string();
        assert!(page_msg.starts_with("url "), "{page_msg}");
        let private_msg = private_err.to_string();
        assert!(private_msg.starts_with("url "), "{private_msg}");
        for msg in [&hook_msg, &page_msg, &private_msg] {
            assert!(!msg.contains(SECRET), "{msg}");
            assert!(!msg.contains("resolver-internal-detail"), "{msg}");
            assert!(!msg.contains("10.0.0.5"), "{msg}");
            assert!(!msg.contains("broken.example.com"), "{msg}");
        }

        // Every variant names its field and never echoes the input.
        let input = "http://user:secret-pass@10.1.2.3/";
        for kind in [PAGE, HOOK] {
            let all = [
                UrlError::Empty { kind },
                UrlError::TooLong { kind },
                UrlError::ForbiddenCharacter { kind },
                UrlError::Invalid { kind },
                UrlError::MissingHost { kind },
                UrlError::InvalidPort { kind },
                UrlError::Scheme { kind },
                UrlError::HttpsRequired { kind },
                UrlError::Userinfo { kind },
                UrlError::NotPublic { kind },
                UrlError::Unresolvable { kind },
            ];
            for err in all {
                let msg = err.to_string();
                assert!(msg.starts_with(&format!("{} ", kind.field_name())), "{msg}");
                assert_eq!(err.kind(), kind);
            }
            let err = parse_target(input, kind, STRICT).expect_err("refused");
            assert!(!err.to_string().contains("secret-pass"));
        }
    }

    proptest::proptest! {
        #[test]
        fn embedded_ipv4_forms_agree(bits: u32) {
            let v4 = Ipv4Addr::from(bits);
            let verdict = is_public_ip(IpAddr::V4(v4));
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            let nat64 = IpAddr::V6(Ipv6Addr::from(
                0x0064_ff9b_0000_0000_0000_0000_0000_0000_u128 | u128::from(bits),
            ));
            let nat64_local = IpAddr::V6(Ipv6Addr::from(
                0x0064_ff9b_0001_0000_0000_0000_0000_0000_u128 | u128::from(bits),
            ));
            let six_to_four = IpAddr::V6(Ipv6Addr::from(
                0x2002_0000_0000_0000_0000_0000_0000_0001_u128 | (u128::from(bits) << 80),
            ));
            proptest::prop_assert_eq!(is_public_ip(mapped), verdict, "mapped {}", mapped);
            proptest::prop_assert_eq!(is_public_ip(nat64), verdict, "nat64 {}", nat64);
            proptest::prop_assert_eq!(is_public_ip(nat64_local), verdict, "{}", nat64_local);
            proptest::prop_assert_eq!(is_public_ip(six_to_four), verdict, "{}", six_to_four);
        }

        #[test]
        fn literal_urls_agree_with_is_public_ip(bits: u32) {
            let v4 = Ipv4Addr::from(bits);
            let verdict = is_public_ip(IpAddr::V4(v4));
            let as_decimal = format!("http://{bits}/");
            let as_mapped = format!("http://[::ffff:{v4}]/");
            let decimal_ok = parse_target(&as_decimal, PAGE, STRICT).is_ok();
            let mapped_ok = parse_target(&as_mapped, PAGE, STRICT).is_ok();
            proptest::prop_assert_eq!(decimal_ok, verdict, "{}", as_decimal);
            proptest::prop_assert_eq!(mapped_ok, verdict, "{}", as_mapped);
        }
    }
}
