//! Outbound HTTP/1.1 client that only reaches public addresses.
//!
//! Used for every request our servers make to a customer-chosen URL (webhook deliveries,
//! and the page crawler). The public-address rule lives in [`reelforge_core::guard`]; this module is
//! the part that makes sure the rule holds for the connection actually made:
//!
//! * every hop (the first and each redirect) is re-validated with [`guard::parse_target`]
//!   and [`guard::resolve_pinned`], and the TCP connection goes ONLY to the addresses
//!   `resolve_pinned` returned (tried in order). The name is never resolved a second time,
//!   so a rebinding DNS server cannot swap in a private address after the check;
//! * the connection is raw TCP (plus TLS for https), so no environment proxy variable
//!   (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, …) is ever consulted — a proxy would make
//!   the pinned address meaningless;
//! * https is verified against the host name (SNI + certificate check, Mozilla's root set
//!   from `webpki-roots`, so the result does not depend on the host's CA bundle);
//! * redirects are followed only for GET/HEAD, at most `max_redirects` times;
//! * the whole exchange (resolve, connect, TLS, send, read) runs under one timeout, and
//!   the response body is read up to a cap.
//!
//! TLS uses rustls 0.23 with the aws-lc-rs provider, passed explicitly: the same crate
//! and provider the AWS SDK already builds, and no dependence on a process-wide default.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::{Host, Url};

use reelforge_core::guard::{self, Resolver, TargetPolicy, UrlError, UrlKind};

/// How one request may be made.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Which customer field the URL came from (`Webhook`: https only unless
    /// `policy.allow_private`).
    pub kind: UrlKind,
    pub policy: TargetPolicy,
    /// The whole request: resolve + connect + TLS + send + read, across all redirect hops.
    pub timeout: Duration,
    /// Read at most this much of the response body; the rest is dropped and
    /// [`FetchResponse::body_truncated`] is set.
    pub max_body_bytes: usize,
    /// 0: never follow (a 3xx is returned as it is). Only GET and HEAD ever follow.
    pub max_redirects: u8,
    pub user_agent: &'static str,
}

/// A response, with the body read (up to the cap) and the connection closed.
#[derive(Debug, Clone)]
pub struct FetchResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The server had more body than `max_body_bytes`. Also set when the body is exactly
    /// `max_body_bytes` long and its end could not be seen yet (no Content-Length).
    pub body_truncated: bool,
    /// The URL of the hop that produced this response (after redirects).
    pub final_url: Url,
    /// The address actually connected to for that hop.
    pub peer: SocketAddr,
}

/// Why a request produced no response.
///
/// `Display` and [`FetchError::summary`] never contain resolver output, addresses or
/// library error text: the strings in `Connect`, `Tls` and `Protocol` are fixed phrases
/// chosen here, safe for a customer-visible delivery log.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The public-address rule (or another URL rule) refused a hop, the first or a redirect.
    /// Nothing was connected to for that hop.
    #[error("refused: {0}")]
    Refused(UrlError),
    /// The host name did not resolve (error, timeout or empty answer).
    #[error("host name could not be resolved")]
    Unresolvable,
    /// No pinned address accepted a TCP connection.
    #[error("{0}")]
    Connect(String),
    /// The whole request did not finish within the configured duration (the value).
    #[error("timeout after {}", format_duration(*.0))]
    Timeout(Duration),
    /// TLS handshake or certificate verification failed.
    #[error("TLS error: {0}")]
    Tls(String),
    /// The server did not speak HTTP/1.1 properly (or closed the connection early).
    #[error("{0}")]
    Protocol(String),
    /// More redirects than `max_redirects`.
    #[error("too many redirects")]
    TooManyRedirects,
}

impl FetchError {
    /// Short, safe text for delivery logs and campaign errors: `"no answer (connection
    /// failed or timed out)"`, `"refused: not a public address"`, `"TLS error: certificate
    /// not trusted"`, … A refused, reset or unreachable connection and a timeout read the
    /// same, so a customer's URL can't be used to tell a closed port from a filtered or
    /// slow one (the full reason is in `Display`, for our logs only).
    pub fn summary(&self) -> String {
        match self {
            FetchError::Connect(_) | FetchError::Timeout(_) => {
                "no answer (connection failed or timed out)".to_string()
            }
            FetchError::Refused(UrlError::PortNotAllowed { .. }) => {
                "refused: only ports 80 and 443".to_string()
            }
            FetchError::Refused(UrlError::NotPublic { .. }) => {
                "refused: not a public address".to_string()
            }
            FetchError::Refused(UrlError::HttpsRequired { .. }) => {
                "refused: https required".to_string()
            }
            FetchError::Refused(UrlError::Unresolvable { .. }) | FetchError::Unresolvable => {
                "host name could not be resolved".to_string()
            }
            FetchError::Refused(_) => "refused: invalid URL".to_string(),
            other => other.to_string(),
        }
    }
}

/// `10s`, `1.5s`, `300ms`.
fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() > 0 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Make one request (following redirects for GET/HEAD as allowed) to a URL that must pass
/// the public-address rule at every hop. See the module documentation.
pub async fn request(
    method: Method,
    url: &Url,
    headers: HeaderMap,
    body: Bytes,
    opts: &FetchOptions,
    resolver: &dyn Resolver,
) -> Result<FetchResponse, FetchError> {
    request_with(
        method,
        url,
        headers,
        body,
        opts,
        resolver,
        &PublicAddressGuard,
        default_tls_config(),
    )
    .await
}

/// Decides, per hop, whether the URL may be fetched and which addresses to connect to.
/// Production uses [`PublicAddressGuard`]; tests substitute doubles to reach a loopback
/// server on the first hop while later hops still go through the real guard.
#[async_trait::async_trait]
trait HopGuard: Send + Sync {
    async fn check(
        &self,
        url: &Url,
        opts: &FetchOptions,
        resolver: &dyn Resolver,
    ) -> Result<(Url, Vec<SocketAddr>), FetchError>;
}

/// The real per-hop check: [`guard::parse_target`] + [`guard::resolve_pinned`].
struct PublicAddressGuard;

#[async_trait::async_trait]
impl HopGuard for PublicAddressGuard {
    async fn check(
        &self,
        url: &Url,
        opts: &FetchOptions,
        resolver: &dyn Resolver,
    ) -> Result<(Url, Vec<SocketAddr>), FetchError> {
        let url = guard::parse_target(url.as_str(), opts.kind, opts.policy).map_err(refused)?;
        let addrs = guard::resolve_pinned(&url, opts.kind, opts.policy, resolver)
            .await
            .map_err(refused)?;
        Ok((url, addrs))
    }
}

fn refused(err: UrlError) -> FetchError {
    match err {
        UrlError::Unresolvable { .. } => FetchError::Unresolvable,
        other => FetchError::Refused(other),
    }
}

fn default_tls_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            Arc::new(tls_config(roots))
        })
        .clone()
}

fn tls_config(roots: rustls::RootCertStore) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

#[allow(clippy::too_many_arguments)]
async fn request_with(
    method: Method,
    url: &Url,
    headers: HeaderMap,
    body: Bytes,
    opts: &FetchOptions,
    resolver: &dyn Resolver,
    hop_guard: &dyn HopGuard,
    tls: Arc<ClientConfig>,
) -> Result<FetchResponse, FetchError> {
    let work = follow(method, url, headers, body, opts, resolver, hop_guard, tls);
    match tokio::time::timeout(opts.timeout, work).await {
        Ok(result) => result,
        Err(_elapsed) => Err(FetchError::Timeout(opts.timeout)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn follow(
    method: Method,
    url: &Url,
    mut headers: HeaderMap,
    body: Bytes,
    opts: &FetchOptions,
    resolver: &dyn Resolver,
    hop_guard: &dyn HopGuard,
    tls: Arc<ClientConfig>,
) -> Result<FetchResponse, FetchError> {
    let may_follow = method == Method::GET || method == Method::HEAD;
    let mut current = url.clone();
    let mut followed: u8 = 0;
    loop {
        let (checked, addrs) = hop_guard.check(&current, opts, resolver).await?;
        let response = send_once(&method, &checked, &addrs, &headers, &body, opts, &tls).await?;
        if !(may_follow && opts.max_redirects > 0 && is_redirect(response.status)) {
            return Ok(response);
        }
        let Some(location) = response.headers.get(header::LOCATION) else {
            // A 3xx without a target is just a response.
            return Ok(response);
        };
        if followed >= opts.max_redirects {
            return Err(FetchError::TooManyRedirects);
        }
        let next = std::str::from_utf8(location.as_bytes())
            .ok()
            .and_then(|loc| checked.join(loc.trim()).ok())
            .ok_or_else(|| FetchError::Protocol("invalid redirect location".to_string()))?;
        if next.origin() != checked.origin() {
            // Credentials meant for one origin are not forwarded to another.
            for name in [
                header::AUTHORIZATION,
                header::COOKIE,
                header::PROXY_AUTHORIZATION,
            ] {
                headers.remove(name);
            }
        }
        followed += 1;
        current = next;
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

async fn send_once(
    method: &Method,
    url: &Url,
    addrs: &[SocketAddr],
    headers: &HeaderMap,
    body: &Bytes,
    opts: &FetchOptions,
    tls: &Arc<ClientConfig>,
) -> Result<FetchResponse, FetchError> {
    // Build first: a request we cannot express is refused before any connection is made.
    let request = build_request(method, url, headers, body, opts)?;
    let server_name = if url.scheme() == "https" {
        Some(server_name(url, opts.kind)?)
    } else {
        None
    };
    let (tcp, peer) = connect_pinned(addrs).await?;
    match server_name {
        Some(name) => {
            let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
                .connect(name, tcp)
                .await
                .map_err(tls_error)?;
            exchange(stream, request, url, peer, opts.max_body_bytes).await
        }
        None => exchange(tcp, request, url, peer, opts.max_body_bytes).await,
    }
}

/// Connect to the pinned addresses in order; the first that accepts wins.
async fn connect_pinned(addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr), FetchError> {
    let mut last: Option<std::io::Error> = None;
    for &addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Small requests; do not wait for Nagle.
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Err(err) => {
                tracing::debug!(%addr, error = %err, "outbound connect failed");
                last = Some(err);
            }
        }
    }
    let phrase = match last.as_ref().map(std::io::Error::kind) {
        None => return Err(FetchError::Unresolvable),
        Some(std::io::ErrorKind::ConnectionRefused) => "connection refused",
        Some(std::io::ErrorKind::ConnectionReset) => "connection reset",
        Some(std::io::ErrorKind::TimedOut) => "connection timed out",
        Some(std::io::ErrorKind::NetworkUnreachable) => "network unreachable",
        Some(std::io::ErrorKind::HostUnreachable) => "host unreachable",
        Some(_) => "connection failed",
    };
    Err(FetchError::Connect(phrase.to_string()))
}

fn server_name(url: &Url, kind: UrlKind) -> Result<ServerName<'static>, FetchError> {
    let invalid = || FetchError::Refused(UrlError::Invalid { kind });
    match url.host() {
        Some(Host::Domain(name)) => {
            // DNS treats `example.com.` as `example.com`; certificates never carry the dot.
            ServerName::try_from(name.trim_end_matches('.').to_string()).map_err(|_| invalid())
        }
        Some(Host::Ipv4(ip)) => Ok(ServerName::IpAddress(IpAddr::V4(ip).into())),
        Some(Host::Ipv6(ip)) => Ok(ServerName::IpAddress(IpAddr::V6(ip).into())),
        None => Err(invalid()),
    }
}

fn tls_error(err: std::io::Error) -> FetchError {
    use rustls::CertificateError as C;
    let phrase = match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "certificate does not match the host name"
            }
            C::UnknownIssuer => "certificate not trusted",
            C::Expired | C::ExpiredContext { .. } => "certificate expired",
            C::NotValidYet | C::NotValidYetContext { .. } => "certificate not yet valid",
            C::Revoked => "certificate revoked",
            _ => "invalid certificate",
        },
        Some(rustls::Error::NoApplicationProtocol) => "no common application protocol",
        _ => "handshake failed",
    };
    tracing::debug!(error = %err, "outbound TLS failed");
    FetchError::Tls(phrase.to_string())
}

/// `host[:port]` as the URL has it (the port only when it is not the scheme's default).
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Origin-form request target: path and query, no fragment.
fn request_target(url: &Url, kind: UrlKind) -> Result<Uri, FetchError> {
    let raw = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let raw = if raw.is_empty() { "/" } else { raw };
    if let Ok(uri) = Uri::try_from(raw) {
        return Ok(uri);
    }
    // The WHATWG serialisation leaves a few ASCII characters (`{`, `|`, `^`, …) unescaped
    // that `http::Uri` does not accept; escape everything outside the RFC 3986 set.
    let mut escaped = String::with_capacity(raw.len() + 16);
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            escaped.push(char::from(b));
        } else {
            escaped.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::try_from(escaped).map_err(|_| FetchError::Refused(UrlError::Invalid { kind }))
}

fn build_request(
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    body: &Bytes,
    opts: &FetchOptions,
) -> Result<Request<Full<Bytes>>, FetchError> {
    let invalid = || FetchError::Refused(UrlError::Invalid { kind: opts.kind });
    let mut all = headers.clone();
    // Framing and connection management are ours to decide.
    for name in [
        header::HOST,
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::TE,
        header::UPGRADE,
        header::USER_AGENT,
    ] {
        all.remove(name);
    }
    all.remove("keep-alive");
    all.remove("proxy-connection");
    all.insert(
        header::HOST,
        HeaderValue::from_str(&host_header(url)).map_err(|_| invalid())?,
    );
    all.insert(header::CONNECTION, HeaderValue::from_static("close"));
    all.insert(
        header::USER_AGENT,
        HeaderValue::from_str(opts.user_agent).map_err(|_| invalid())?,
    );
    let body_expected = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    if !body.is_empty() || body_expected {
        all.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut request = Request::new(Full::new(body.clone()));
    *request.method_mut() = method.clone();
    *request.uri_mut() = request_target(url, opts.kind)?;
    *request.headers_mut() = all;
    Ok(request)
}

/// Aborts the spawned connection driver when the request finishes or is cancelled (the
/// timeout drops the request future), so no socket outlives the call.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn hyper_error(err: &hyper::Error) -> FetchError {
    let phrase = if err.is_parse() || err.is_parse_status() || err.is_parse_too_large() {
        "invalid HTTP response"
    } else if err.is_incomplete_message() || err.is_closed() || err.is_canceled() {
        "connection closed before a complete response"
    } else {
        "HTTP exchange failed"
    };
    tracing::debug!(error = %err, "outbound HTTP failed");
    FetchError::Protocol(phrase.to_string())
}

async fn exchange<S>(
    stream: S,
    request: Request<Full<Bytes>>,
    url: &Url,
    peer: SocketAddr,
    max_body_bytes: usize,
) -> Result<FetchResponse, FetchError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| hyper_error(&e))?;
    let _driver = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| hyper_error(&e))?;
    let (parts, mut incoming) = response.into_parts();
    let mut body = BytesMut::new();
    // A cap of 0 means the status line and headers are all the caller wants: return as
    // soon as they arrive instead of waiting on a body (a webhook receiver that answers
    // 2xx in time but trickles its body has still answered in time).
    let mut truncated = max_body_bytes == 0 && !incoming.is_end_stream();
    if max_body_bytes > 0 {
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| {
                tracing::debug!(error = %e, "outbound response body failed");
                FetchError::Protocol("response body interrupted".to_string())
            })?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            let room = max_body_bytes - body.len();
            if data.len() > room {
                body.extend_from_slice(&data[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&data);
            if body.len() == max_body_bytes && !incoming.is_end_stream() {
                // Full, and the end is not in sight: do not wait for more.
                truncated = true;
                break;
            }
        }
    }
    Ok(FetchResponse {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.freeze(),
        body_truncated: truncated,
        final_url: url.clone(),
        peer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    const UA: &str = "reelforge-test/1";
    const STRICT: TargetPolicy = TargetPolicy {
        allow_private: false,
    };
    const DEV: TargetPolicy = TargetPolicy {
        allow_private: true,
    };

    // A test CA and a leaf for `site.example.com` signed by it (P-256, valid 2000–2100).
    const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBazCCARKgAwIBAgICEAAwCgYIKoZIzj0EAwIwHDEaMBgGA1UEAwwRcmVlbGZv
cmdlIHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBwx
GjAYBgNVBAMMEXJlZWxmb3JnZSB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEDFyiBZMm5tzlh4hDmUS2AJ56g/Kh7XcOOIG6aMDSRqFeS2O27tsK5UJl
aZRjPmeBh4NhhMM4UZS9IIHBWS5fwaNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAQYwHQYDVR0OBBYEFMV0XSKhwVun5iX+kpp0Ap6DpxzBMAoGCCqG
SM49BAMCA0cAMEQCICRn2KwGAGXCZbF7e2OZpoaNR1ppg2FxucJXC8UMgQ0LAiBx
eqWFIFWYW8/BerJfgHaZURNQoqm+6b8yIiKvSEJqEQ==
-----END CERTIFICATE-----
";
    const TEST_LEAF_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBvTCCAWOgAwIBAgICEAEwCgYIKoZIzj0EAwIwHDEaMBgGA1UEAwwRcmVlbGZv
cmdlIHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBsx
GTAXBgNVBAMMEHNpdGUuZXhhbXBsZS5jb20wWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAAShT9GxBNyDg0unGC+5HlpLmFPfiIoeVkCYIUDFchc3WD25IKM2E6a54AGs
98j/W2FGlXHHyQGiiYjvyMA68QQWo4GTMIGQMAwGA1UdEwEB/wQCMAAwDgYDVR0P
AQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMBsGA1UdEQQUMBKCEHNpdGUu
ZXhhbXBsZS5jb20wHQYDVR0OBBYEFH7BudOsCxWiZRJ0STBOryx+OlL4MB8GA1Ud
IwQYMBaAFMV0XSKhwVun5iX+kpp0Ap6DpxzBMAoGCCqGSM49BAMCA0gAMEUCIQDj
JzYAl2u8vgM/Uh08stxbquDD7jGg/ykgHg88G7KWMwIgJgFjzxcKbKxnDPz3h2Lg
K+ioL5HEDWMtAS1yAO5X7zA=
-----END CERTIFICATE-----
";
    const TEST_LEAF_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgx87zVHfI5m0VQ8fG
jSkDmxSgwbNx5f23PowXxWR1+o+hRANCAAShT9GxBNyDg0unGC+5HlpLmFPfiIoe
VkCYIUDFchc3WD25IKM2E6a54AGs98j/W2FGlXHHyQGiiYjvyMA68QQW
-----END PRIVATE KEY-----
";

    fn opts(kind: UrlKind, policy: TargetPolicy) -> FetchOptions {
        FetchOptions {
            kind,
            policy,
            timeout: Duration::from_secs(10),
            max_body_bytes: 1 << 20,
            max_redirects: 0,
            user_agent: UA,
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    /// Resolver with canned answers; unknown names fail. Counts lookups.
    #[derive(Default)]
    struct FakeResolver {
        answers: HashMap<String, Vec<IpAddr>>,
        calls: AtomicUsize,
    }

    impl FakeResolver {
        fn with(mut self, host: &str, ips: &[&str]) -> Self {
            let ips = ips.iter().map(|s| s.parse().expect("test ip")).collect();
            self.answers.insert(host.to_string(), ips);
            self
        }
    }

    #[async_trait::async_trait]
    impl Resolver for FakeResolver {
        async fn resolve(&self, host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.answers
                .get(host)
                .cloned()
                .ok_or_else(|| std::io::Error::other("no such host (test)"))
        }
    }

    /// What a test server saw of one request.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        target: String,
        headers: HashMap<String, String>,
        body: Vec<u8>,
        sni: Option<String>,
    }

    type Respond = Arc<dyn Fn(&Seen) -> Vec<u8> + Send + Sync>;

    /// A loopback HTTP/1.1 server (optionally TLS) that records requests and answers with
    /// whatever `respond` builds.
    struct TestServer {
        addr: SocketAddr,
        connections: Arc<AtomicUsize>,
        seen: mpsc::UnboundedReceiver<Seen>,
    }

    impl TestServer {
        async fn start(respond: Respond) -> Self {
            Self::start_inner(respond, None).await
        }

        async fn start_tls(respond: Respond) -> Self {
            Self::start_inner(respond, Some(test_server_tls())).await
        }

        async fn start_inner(respond: Respond, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let connections = Arc::new(AtomicUsize::new(0));
            let (tx, seen) = mpsc::unbounded_channel();
            let count = Arc::clone(&connections);
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    count.fetch_add(1, Ordering::SeqCst);
                    let respond = Arc::clone(&respond);
                    let tx = tx.clone();
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        match tls {
                            None => serve_one(stream, None, &respond, &tx).await,
                            Some(acceptor) => {
                                let Ok(stream) = acceptor.accept(stream).await else {
                                    return;
                                };
                                let sni = stream.get_ref().1.server_name().map(str::to_string);
                                serve_one(stream, sni, &respond, &tx).await;
                            }
                        }
                    });
                }
            });
            TestServer {
                addr,
                connections,
                seen,
            }
        }

        fn port(&self) -> u16 {
            self.addr.port()
        }

        fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }

        /// Requests seen so far (all of them have been sent before the response, so after
        /// the client got its response they are in the channel).
        fn drain(&mut self) -> Vec<Seen> {
            let mut out = Vec::new();
            while let Ok(seen) = self.seen.try_recv() {
                out.push(seen);
            }
            out
        }
    }

    async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(
        mut stream: S,
        sni: Option<String>,
        respond: &Respond,
        tx: &mpsc::UnboundedSender<Seen>,
    ) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_string();
        let target = request_line.next().unwrap_or_default().to_string();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        let seen = Seen {
            method,
            target,
            headers,
            body,
            sni,
        };
        let response = respond(&seen);
        let _ = tx.send(seen);
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
    }

    fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("connection: close\r\n\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn ok(body: &'static str) -> Respond {
        Arc::new(move |_| response("200 OK", &[("content-type", "text/plain")], body.as_bytes()))
    }

    /// A listener nobody serves: a connection attempt would complete the TCP handshake in
    /// the kernel and wait in the accept queue, so a non-blocking accept that finds nothing
    /// proves no connection was ever made.
    struct SilentListener(std::net::TcpListener);

    impl SilentListener {
        fn bind() -> Self {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.set_nonblocking(true).expect("nonblocking");
            SilentListener(l)
        }
        fn port(&self) -> u16 {
            self.0.local_addr().expect("addr").port()
        }
        fn assert_never_connected(&self) {
            match self.0.accept() {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                other => panic!("expected no connection, got {other:?}"),
            }
        }
    }

    fn test_server_tls() -> tokio_rustls::TlsAcceptor {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = vec![CertificateDer::from_pem_slice(TEST_LEAF_PEM.as_bytes()).expect("leaf")];
        let key = PrivateKeyDer::from_pem_slice(TEST_LEAF_KEY_PEM.as_bytes()).expect("key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server cert");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    /// Client config that trusts only the test CA.
    fn test_client_tls() -> Arc<ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(TEST_CA_PEM.as_bytes()).expect("ca"))
            .expect("add ca");
        Arc::new(tls_config(roots))
    }

    async fn get(
        url: &Url,
        o: &FetchOptions,
        r: &dyn Resolver,
    ) -> Result<FetchResponse, FetchError> {
        request(Method::GET, url, HeaderMap::new(), Bytes::new(), o, r).await
    }

    #[tokio::test]
    async fn get_from_loopback_with_allow_private() {
        let mut server = TestServer::start(ok("hello")).await;
        let target = url(&format!("http://127.0.0.1:{}/path?q=1#frag", server.port()));
        let mut headers = HeaderMap::new();
        headers.insert("x-custom", HeaderValue::from_static("yes"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        let resolver = FakeResolver::default();
        let resp = request(
            Method::GET,
            &target,
            headers,
            Bytes::new(),
            &opts(UrlKind::Page, DEV),
            &resolver,
        )
        .await
        .expect("response");
        assert_eq!(resp.status, 200);
        assert_eq!(&resp.body[..], b"hello");
        assert!(!resp.body_truncated);
        assert_eq!(resp.final_url, target);
        assert_eq!(resp.peer, server.addr);
        assert_eq!(server.connections(), 1);
        assert_eq!(
            resp.headers.get("content-type").map(HeaderValue::as_bytes),
            Some(&b"text/plain"[..])
        );
        let seen = server.drain();
        assert_eq!(seen.len(), 1);
        let s = &seen[0];
        assert_eq!(s.method, "GET");
        assert_eq!(s.target, "/path?q=1", "fragment is never sent");
        assert_eq!(s.headers["host"], format!("127.0.0.1:{}", server.port()));
        assert_eq!(s.headers["connection"], "close");
        assert_eq!(s.headers["user-agent"], UA);
        assert_eq!(s.headers["x-custom"], "yes");
        assert!(!s.headers.contains_key("content-length"));
        // A literal needs no lookup.
        assert_eq!(resolver.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn strict_policy_refuses_a_name_resolving_to_loopback_without_connecting() {
        let listener = SilentListener::bind();
        let resolver = FakeResolver::default().with("hook.example.com", &["127.0.0.1"]);
        for (kind, scheme) in [(UrlKind::Webhook, "https"), (UrlKind::Page, "http")] {
            // The web's default port: the name's loopback answer, not the port, refuses it.
            let _ = listener.port();
            let target = url(&format!("{scheme}://hook.example.com/"));
            let err = get(&target, &opts(kind, STRICT), &resolver)
                .await
                .expect_err("refused");
            assert!(
                matches!(err, FetchError::Refused(UrlError::NotPublic { .. })),
                "{err:?}"
            );
            assert_eq!(err.summary(), "refused: not a public address");
        }
        // Literal private addresses are refused without even a lookup.
        let literal = url(&format!("http://127.0.0.1:{}/", listener.port()));
        let err = get(&literal, &opts(UrlKind::Page, STRICT), &resolver)
            .await
            .expect_err("refused");
        assert!(matches!(
            err,
            FetchError::Refused(UrlError::NotPublic { .. })
        ));
        // Strict webhooks must be https.
        let plain = url("http://hooks.example.org/x");
        let err = get(&plain, &opts(UrlKind::Webhook, STRICT), &resolver)
            .await
            .expect_err("refused");
        assert!(matches!(
            err,
            FetchError::Refused(UrlError::HttpsRequired { .. })
        ));
        assert_eq!(err.summary(), "refused: https required");
        listener.assert_never_connected();
    }

    #[tokio::test]
    async fn connects_only_to_the_pinned_address_and_sends_the_url_host() {
        let mut server = TestServer::start(ok("pinned")).await;
        let resolver = FakeResolver::default().with("site.example.com", &["127.0.0.1"]);
        let target = url(&format!("http://site.example.com:{}/p", server.port()));
        let resp = get(&target, &opts(UrlKind::Page, DEV), &resolver)
            .await
            .expect("response");
        assert_eq!(resp.status, 200);
        assert_eq!(&resp.body[..], b"pinned");
        assert_eq!(resp.peer, server.addr);
        // Resolved exactly once, through the given resolver (site.example.com has no
        // loopback answer in real DNS, so reaching the server proves the pin was used).
        assert_eq!(resolver.calls.load(Ordering::SeqCst), 1);
        let seen = server.drain();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0].headers["host"],
            format!("site.example.com:{}", server.port())
        );
    }

    #[tokio::test]
    async fn tries_pinned_addresses_in_order() {
        // The first answer refuses connections (a port that was bound, then released).
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let closed_port = closed.local_addr().expect("addr").port();
        drop(closed);
        let server = TestServer::start(ok("second")).await;
        let addrs = vec![SocketAddr::from(([127, 0, 0, 1], closed_port)), server.addr];
        let (_, peer) = connect_pinned(&addrs).await.expect("second address");
        assert_eq!(peer, server.addr);
        let err = connect_pinned(&addrs[..1]).await.expect_err("refused");
        // Refused reads like a timeout to the customer; our log keeps the reason.
        assert_eq!(err.summary(), "no answer (connection failed or timed out)");
        assert_eq!(err.to_string(), "connection refused");
    }

    #[tokio::test]
    async fn redirects_are_followed_up_to_the_limit() {
        let mut second = TestServer::start(ok("done")).await;
        let second_port = second.port();
        let mut first =
            TestServer::start(Arc::new(move |seen: &Seen| match seen.target.as_str() {
                "/a" => response("302 Found", &[("location", "/b")], b""),
                // Absolute, to another server.
                "/b" => response(
                    "301 Moved Permanently",
                    &[("location", &format!("http://127.0.0.1:{second_port}/c"))],
                    b"",
                ),
                _ => response("404 Not Found", &[], b""),
            }))
            .await;
        let resolver = FakeResolver::default();
        let start = url(&format!("http://127.0.0.1:{}/a", first.port()));
        let mut o = opts(UrlKind::Page, DEV);
        o.max_redirects = 5;
        let resp = get(&start, &o, &resolver).await.expect("response");
        assert_eq!(resp.status, 200);
        assert_eq!(&resp.body[..], b"done");
        assert_eq!(
            resp.final_url.as_str(),
            format!("http://127.0.0.1:{second_port}/c")
        );
        assert_eq!(resp.peer, second.addr);
        let targets: Vec<String> = first.drain().into_iter().map(|s| s.target).collect();
        assert_eq!(targets, vec!["/a", "/b"]);
        assert_eq!(second.drain().len(), 1);
        // One connection per hop (`Connection: close`).
        assert_eq!((first.connections(), second.connections()), (2, 1));

        // Exactly enough.
        o.max_redirects = 2;
        assert_eq!(
            get(&start, &o, &resolver).await.expect("response").status,
            200
        );
        // One short.
        o.max_redirects = 1;
        let err = get(&start, &o, &resolver).await.expect_err("too many");
        assert!(matches!(err, FetchError::TooManyRedirects), "{err:?}");
        assert_eq!(err.summary(), "too many redirects");
    }

    #[tokio::test]
    async fn max_redirects_zero_returns_the_redirect_as_is() {
        let target = SilentListener::bind();
        let location = format!("http://127.0.0.1:{}/elsewhere", target.port());
        let loc = location.clone();
        let server = TestServer::start(Arc::new(move |_: &Seen| {
            response("302 Found", &[("location", &loc)], b"moved")
        }))
        .await;
        let start = url(&format!("http://127.0.0.1:{}/", server.port()));
        let resp = get(&start, &opts(UrlKind::Page, DEV), &FakeResolver::default())
            .await
            .expect("response");
        assert_eq!(resp.status, 302);
        assert_eq!(
            resp.headers
                .get(header::LOCATION)
                .map(HeaderValue::as_bytes),
            Some(location.as_bytes())
        );
        assert_eq!(resp.final_url, start);
        target.assert_never_connected();
    }

    #[tokio::test]
    async fn post_sends_content_length_and_never_follows() {
        let target = SilentListener::bind();
        let loc = format!("http://127.0.0.1:{}/", target.port());
        let mut server = TestServer::start(Arc::new(move |_: &Seen| {
            response("307 Temporary Redirect", &[("location", &loc)], b"")
        }))
        .await;
        let start = url(&format!("http://127.0.0.1:{}/hook", server.port()));
        let mut o = opts(UrlKind::Webhook, DEV);
        o.max_redirects = 5;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // A caller-supplied length must not override the real one.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1"));
        let body = Bytes::from_static(br#"{"event":"campaign.completed"}"#);
        let resp = request(
            Method::POST,
            &start,
            headers,
            body.clone(),
            &o,
            &FakeResolver::default(),
        )
        .await
        .expect("response");
        assert_eq!(resp.status, 307);
        target.assert_never_connected();
        let seen = server.drain();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].headers["content-length"], body.len().to_string());
        assert_eq!(seen[0].headers["content-type"], "application/json");
        assert!(!seen[0].headers.contains_key("transfer-encoding"));
        assert_eq!(seen[0].body, body.to_vec());
    }

    /// Test double: lets exactly one first hop (to `start.example.com`) through to a
    /// loopback server, and sends every other hop through the real guard.
    struct FirstHopOnly {
        first: SocketAddr,
        used: AtomicBool,
    }

    #[async_trait::async_trait]
    impl HopGuard for FirstHopOnly {
        async fn check(
            &self,
            url: &Url,
            opts: &FetchOptions,
            resolver: &dyn Resolver,
        ) -> Result<(Url, Vec<SocketAddr>), FetchError> {
            if url.host_str() == Some("start.example.com")
                && !self.used.swap(true, Ordering::SeqCst)
            {
                return Ok((url.clone(), vec![self.first]));
            }
            PublicAddressGuard.check(url, opts, resolver).await
        }
    }

    #[tokio::test]
    async fn a_redirect_to_a_non_public_address_is_refused_per_hop() {
        let inner = SilentListener::bind();
        let inner_port = inner.port();
        let resolver = FakeResolver::default().with("inner.example.com", &["127.0.0.1"]);
        let locations = [
            format!("http://127.0.0.1:{inner_port}/"),
            "http://inner.example.com/".to_string(),
            format!("http://[::ffff:127.0.0.1]:{inner_port}/"),
            // A public host on a port other than 80 and 443 is refused per hop too.
            "http://93.184.216.34:8080/".to_string(),
            "http://169.254.169.254/latest/meta-data/".to_string(),
            format!("http://localhost:{inner_port}/"),
        ];
        for location in locations {
            let loc = location.clone();
            let mut server = TestServer::start(Arc::new(move |_: &Seen| {
                response("302 Found", &[("location", &loc)], b"")
            }))
            .await;
            let hop_guard = FirstHopOnly {
                first: server.addr,
                used: AtomicBool::new(false),
            };
            let mut o = opts(UrlKind::Page, STRICT);
            o.max_redirects = 5;
            let start = url("http://start.example.com/");
            let err = request_with(
                Method::GET,
                &start,
                HeaderMap::new(),
                Bytes::new(),
                &o,
                &resolver,
                &hop_guard,
                default_tls_config(),
            )
            .await
            .expect_err("second hop refused");
            if location.contains(":8080") {
                assert!(
                    matches!(err, FetchError::Refused(UrlError::PortNotAllowed { .. })),
                    "{location}: {err:?}"
                );
            } else {
                assert!(
                    matches!(err, FetchError::Refused(UrlError::NotPublic { .. })),
                    "{location}: {err:?}"
                );
            }
            // The first hop really happened; the second never connected.
            assert_eq!(server.drain().len(), 1, "{location}");
            inner.assert_never_connected();
        }
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (held_tx, mut held_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // Keep the connection open and never answer.
                let _ = held_tx.send(stream);
            }
        });
        let mut o = opts(UrlKind::Page, DEV);
        o.timeout = Duration::from_millis(300);
        let target = url(&format!("http://{addr}/"));
        let err = get(&target, &o, &FakeResolver::default())
            .await
            .expect_err("timeout");
        assert!(
            matches!(err, FetchError::Timeout(d) if d == o.timeout),
            "{err:?}"
        );
        assert_eq!(err.summary(), "no answer (connection failed or timed out)");
        assert_eq!(err.to_string(), "timeout after 300ms");
        // The server did get the connection (the timeout is not a connect failure).
        assert!(held_rx.recv().await.is_some());
    }

    #[tokio::test]
    async fn the_body_is_capped() {
        let big = vec![b'x'; 1 << 20];
        let server =
            TestServer::start(Arc::new(move |_: &Seen| response("200 OK", &[], &big))).await;
        let target = url(&format!("http://127.0.0.1:{}/", server.port()));
        let mut o = opts(UrlKind::Page, DEV);
        o.max_body_bytes = 1000;
        let resp = get(&target, &o, &FakeResolver::default())
            .await
            .expect("response");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body.len(), 1000);
        assert!(resp.body_truncated);

        // A body of exactly the cap (with Content-Length) is complete, not truncated.
        let exact =
            TestServer::start(Arc::new(|_: &Seen| response("200 OK", &[], &[b'y'; 1000]))).await;
        let target = url(&format!("http://127.0.0.1:{}/", exact.port()));
        let resp = get(&target, &o, &FakeResolver::default())
            .await
            .expect("response");
        assert_eq!(resp.body.len(), 1000);
        assert!(!resp.body_truncated);
    }

    #[tokio::test]
    async fn an_unresolvable_name_is_reported_as_such() {
        let resolver = FakeResolver::default();
        for policy in [STRICT, DEV] {
            let err = get(
                &url("https://nowhere.example.com/"),
                &opts(UrlKind::Webhook, policy),
                &resolver,
            )
            .await
            .expect_err("unresolvable");
            assert!(matches!(err, FetchError::Unresolvable), "{err:?}");
            assert_eq!(err.summary(), "host name could not be resolved");
        }
    }

    #[tokio::test]
    async fn connection_refused_and_garbage_responses() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let err = get(
            &url(&format!("http://127.0.0.1:{port}/")),
            &opts(UrlKind::Page, DEV),
            &FakeResolver::default(),
        )
        .await
        .expect_err("refused");
        assert!(matches!(err, FetchError::Connect(_)), "{err:?}");
        assert_eq!(err.summary(), "no answer (connection failed or timed out)");

        let garbage =
            TestServer::start(Arc::new(|_: &Seen| b"SSH-2.0-OpenSSH\r\n\r\n".to_vec())).await;
        let err = get(
            &url(&format!("http://127.0.0.1:{}/", garbage.port())),
            &opts(UrlKind::Page, DEV),
            &FakeResolver::default(),
        )
        .await
        .expect_err("garbage");
        assert!(matches!(err, FetchError::Protocol(_)), "{err:?}");
        assert_eq!(err.summary(), "invalid HTTP response");
    }

    #[tokio::test]
    async fn https_verifies_the_certificate_against_the_host_name() {
        let mut server = TestServer::start_tls(ok("secure")).await;
        let resolver = FakeResolver::default()
            .with("site.example.com", &["127.0.0.1"])
            .with("other.example.com", &["127.0.0.1"]);
        let o = opts(UrlKind::Webhook, DEV);
        let call = |u: Url, tls: Arc<ClientConfig>| {
            let o = o.clone();
            let resolver = &resolver;
            async move {
                request_with(
                    Method::POST,
                    &u,
                    HeaderMap::new(),
                    Bytes::from_static(b"{}"),
                    &o,
                    resolver,
                    &PublicAddressGuard,
                    tls,
                )
                .await
            }
        };

        // Trusted CA, matching name: works, with SNI and Host set from the URL.
        let good = url(&format!("https://site.example.com:{}/hook", server.port()));
        let resp = call(good.clone(), test_client_tls())
            .await
            .expect("tls response");
        assert_eq!(resp.status, 200);
        assert_eq!(&resp.body[..], b"secure");
        let seen = server.drain();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].sni.as_deref(), Some("site.example.com"));
        assert_eq!(
            seen[0].headers["host"],
            format!("site.example.com:{}", server.port())
        );
        assert_eq!(seen[0].body, b"{}");

        // The production roots do not include the test CA.
        let err = call(good, default_tls_config())
            .await
            .expect_err("untrusted");
        assert!(
            matches!(&err, FetchError::Tls(p) if p == "certificate not trusted"),
            "{err:?}"
        );
        assert_eq!(err.summary(), "TLS error: certificate not trusted");

        // Trusted CA, but the certificate is for another name.
        let other = url(&format!("https://other.example.com:{}/hook", server.port()));
        let err = call(other, test_client_tls())
            .await
            .expect_err("wrong name");
        assert!(
            matches!(&err, FetchError::Tls(p) if p == "certificate does not match the host name"),
            "{err:?}"
        );
        // Same for an IP literal: the certificate names no address.
        let literal = url(&format!("https://127.0.0.1:{}/hook", server.port()));
        let err = call(literal, test_client_tls())
            .await
            .expect_err("ip literal");
        assert!(matches!(err, FetchError::Tls(_)), "{err:?}");
        // No request got through a failed handshake.
        assert!(server.drain().is_empty());
    }

    #[test]
    fn summaries_are_short_and_safe() {
        let kind = UrlKind::Webhook;
        let cases = [
            (
                FetchError::Refused(UrlError::NotPublic { kind }),
                "refused: not a public address",
            ),
            (
                FetchError::Refused(UrlError::Userinfo { kind }),
                "refused: invalid URL",
            ),
            (FetchError::Unresolvable, "host name could not be resolved"),
            (
                FetchError::Connect("connection refused".into()),
                "no answer (connection failed or timed out)",
            ),
            (
                FetchError::Connect("connection timed out".into()),
                "no answer (connection failed or timed out)",
            ),
            (
                FetchError::Timeout(Duration::from_secs(10)),
                "no answer (connection failed or timed out)",
            ),
            (
                FetchError::Refused(UrlError::PortNotAllowed { kind }),
                "refused: only ports 80 and 443",
            ),
            (
                FetchError::Tls("certificate expired".into()),
                "TLS error: certificate expired",
            ),
            (
                FetchError::Protocol("invalid HTTP response".into()),
                "invalid HTTP response",
            ),
            (FetchError::TooManyRedirects, "too many redirects"),
        ];
        for (err, expected) in cases {
            assert_eq!(err.summary(), expected, "{err:?}");
        }
    }

    #[test]
    fn request_targets_are_origin_form() {
        let t = |s: &str| {
            request_target(&url(s), UrlKind::Page)
                .expect("target")
                .to_string()
        };
        assert_eq!(t("http://example.com"), "/");
        assert_eq!(t("http://example.com/a/b?x=1&y=2#f"), "/a/b?x=1&y=2");
        assert_eq!(t("http://example.com/a b/ü"), "/a%20b/%C3%BC");
        assert_eq!(
            t("http://example.com/{x}|y^?q=\"z\"|"),
            "/%7Bx%7D|y^?q=%22z%22|"
        );
        assert_eq!(host_header(&url("https://example.com:443/")), "example.com");
        assert_eq!(
            host_header(&url("http://[2606:4700::1111]:8080/")),
            "[2606:4700::1111]:8080"
        );
    }

    /// Environment proxies are never used. Env vars are process-global, so the check runs in
    /// a child process (this test binary, filtered to [`proxy_env_child`]) whose environment
    /// points every proxy variable at a listener that must never see a connection.
    #[test]
    fn proxy_environment_is_ignored() {
        let proxy = SilentListener::bind();
        let proxy_url = format!("http://127.0.0.1:{}", proxy.port());
        let exe = std::env::current_exe().expect("test binary");
        let mut cmd = std::process::Command::new(exe);
        cmd.args([
            "--exact",
            "client::tests::proxy_env_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("REELFORGE_NET_PROXY_CHILD", "1")
        .env("NO_PROXY", "")
        .env("no_proxy", "");
        for name in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env(name, &proxy_url);
        }
        let out = cmd.output().expect("run child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "child ran no test:\n{stdout}");
        assert!(stdout.contains("proxy-env-child-ok"), "{stdout}");
        proxy.assert_never_connected();
    }

    /// Run only by [`proxy_environment_is_ignored`], in a child process.
    #[tokio::test]
    #[ignore = "run by proxy_environment_is_ignored in a child process"]
    async fn proxy_env_child() {
        if std::env::var_os("REELFORGE_NET_PROXY_CHILD").is_none() {
            return;
        }
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy"] {
            assert!(std::env::var(name).is_ok_and(|v| v.starts_with("http://127.0.0.1:")));
        }
        let resolver = FakeResolver::default().with("site.example.com", &["127.0.0.1"]);
        let plain = TestServer::start(ok("direct")).await;
        let resp = get(
            &url(&format!("http://site.example.com:{}/", plain.port())),
            &opts(UrlKind::Page, DEV),
            &resolver,
        )
        .await
        .expect("direct http");
        assert_eq!(&resp.body[..], b"direct");
        let tls = TestServer::start_tls(ok("direct-tls")).await;
        let resp = request_with(
            Method::GET,
            &url(&format!("https://site.example.com:{}/", tls.port())),
            HeaderMap::new(),
            Bytes::new(),
            &opts(UrlKind::Webhook, DEV),
            &resolver,
            &PublicAddressGuard,
            test_client_tls(),
        )
        .await
        .expect("direct https");
        assert_eq!(&resp.body[..], b"direct-tls");
        println!("proxy-env-child-ok");
    }

    #[tokio::test]
    async fn hop_by_hop_and_credentials_handling_on_cross_origin_redirects() {
        let mut second = TestServer::start(ok("landed")).await;
        let second_port = second.port();
        let mut first = TestServer::start(Arc::new(move |_: &Seen| {
            response(
                "303 See Other",
                &[("location", &format!("http://127.0.0.1:{second_port}/next"))],
                b"",
            )
        }))
        .await;
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        let mut o = opts(UrlKind::Page, DEV);
        o.max_redirects = 1;
        let resp = request(
            Method::GET,
            &url(&format!("http://127.0.0.1:{}/", first.port())),
            headers,
            Bytes::new(),
            &o,
            &FakeResolver::default(),
        )
        .await
        .expect("response");
        assert_eq!(&resp.body[..], b"landed");
        let first_seen = first.drain();
        assert_eq!(first_seen[0].headers["authorization"], "Bearer t");
        let second_seen = second.drain();
        assert_eq!(second_seen.len(), 1);
        assert!(!second_seen[0].headers.contains_key("authorization"));
        assert_eq!(second_seen[0].headers["accept"], "text/html");
        assert_eq!(
            second_seen[0].headers["host"],
            format!("127.0.0.1:{second_port}")
        );
    }

    #[test]
    fn the_request_future_is_send() {
        // Callers spawn deliveries on the multi-threaded runtime.
        fn is_send<T: Send>(_: &T) {}
        let u = url("http://example.com/");
        let o = opts(UrlKind::Page, STRICT);
        let r = FakeResolver::default();
        let fut = request(Method::GET, &u, HeaderMap::new(), Bytes::new(), &o, &r);
        is_send(&fut);
    }
}
