//! Loopback fakes of the publishing providers, written from their documentation (the
//! research notes behind docs/publishing.md): Google's OAuth 2.0 token endpoint with
//! YouTube's resumable upload for `videos.insert`, and TikTok's Content Posting API
//! (token refresh with rotation, creator info, Direct Post init, chunked upload, status).
//!
//! Each fake is a tiny HTTP/1.1 server on `127.0.0.1:0` that records every request and
//! follows a script of one-shot faults (a `308` that keeps part of a chunk, a 5xx after
//! storing some bytes, a dropped connection, a lost final answer, …). Where the
//! documentation is silent the fakes are stricter than the providers (a missing
//! `privacyStatus` is refused, chunks must be contiguous), so client bugs show. Bytes are
//! opaque: the tests compare what a fake reassembled with the file sent.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request a fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Lower-cased names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self) -> HashMap<String, String> {
        let q = self.target.split_once('?').map_or("", |(_, q)| q);
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// What a fake does with a request.
enum Reply {
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without a response.
    Drop,
    /// Keep the connection open without a response (the client gives up, or dies).
    Hang,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply::Answer {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string().into_bytes(),
        }
    }

    fn empty(status: u16, headers: Vec<(String, String)>) -> Reply {
        Reply::Answer {
            status,
            headers,
            body: Vec::new(),
        }
    }
}

trait Handler: Send + 'static {
    fn handle(&mut self, addr: SocketAddr, req: &Recorded) -> Reply;
}

/// Serves `state` on loopback; every request is recorded in `log` before it is handled.
async fn serve<H: Handler>(state: Arc<Mutex<H>>, log: Arc<Mutex<Vec<Recorded>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
    let addr = listener.local_addr().expect("fake addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (state, log) = (state.clone(), log.clone());
            tokio::spawn(async move {
                let Some(req) = read_request(&mut stream).await else {
                    return;
                };
                log.lock().unwrap().push(req.clone());
                let reply = state.lock().unwrap().handle(addr, &req);
                match reply {
                    Reply::Drop => drop(stream),
                    Reply::Hang => {
                        tokio::time::sleep(std::time::Duration::from_secs(120)).await;
                        drop(stream);
                    }
                    Reply::Answer {
                        status,
                        headers,
                        body,
                    } => {
                        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                        for (k, v) in headers {
                            head.push_str(&format!("{k}: {v}\r\n"));
                        }
                        head.push_str(&format!(
                            "Content-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        ));
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(&body).await;
                        let _ = stream.shutdown().await;
                    }
                }
            });
        }
    });
    addr
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        206 => "Partial Content",
        308 => "Resume Incomplete",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        _ => "Status",
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Some(Recorded {
            method,
            target,
            headers,
            body: buf[end + 4..end + 4 + len].to_vec(),
        });
    }
}

fn bearer(req: &Recorded) -> Option<&str> {
    req.header("authorization")?.strip_prefix("Bearer ")
}

// ---------------------------------------------------------------------------------------
// Google + YouTube

/// A one-shot fault on the n-th data `PUT` (status questions are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFault {
    /// Keep only the first `keep` bytes of this request's bytes, answer `308` with the
    /// true `Range` (Y-F1).
    PartialAccept { keep: usize },
    /// Keep `keep` bytes, then answer `status` (a 5xx), with `Retry-After` when given
    /// (Y-F2, Y-F5).
    ServerError {
        keep: usize,
        status: u16,
        retry_after: Option<u32>,
    },
    /// Keep `keep` bytes, then close the connection without an answer (Y-F3).
    Drop { keep: usize },
    /// Keep everything (the video is created on the last byte), then close the
    /// connection without an answer (Y-F4).
    LostFinalAnswer,
    /// Answer 401 `authError` (an access token that expired mid-upload, Y-F8).
    Unauthorized,
    /// Keep everything (creating the video on the last byte), then never answer: the
    /// uploading worker is left waiting (and, in a crash test, killed).
    Hang,
}

/// A fault of the session start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFault {
    /// 403 `quotaExceeded` (Y-F9).
    QuotaExceeded,
    /// 400 `uploadLimitExceeded` (Y-F9).
    UploadLimitExceeded,
    /// 503 `backendError`.
    BackendError,
}

struct YtSession {
    total: usize,
    content_type: String,
    metadata: Value,
    received: Vec<u8>,
    /// The answer the upload finished with, replayed to every later request.
    finished: Option<(u16, Value)>,
    expired: bool,
}

/// A video the fake created.
#[derive(Debug, Clone)]
pub struct CreatedVideo {
    pub id: String,
    pub metadata: Value,
    pub bytes: Vec<u8>,
}

struct YtState {
    /// client_id → client_secret.
    clients: HashMap<String, String>,
    /// refresh token → client_id.
    refresh_tokens: HashMap<String, String>,
    access_tokens: HashSet<String>,
    issued: usize,
    token_server_error: bool,
    start_fault: Option<StartFault>,
    put_faults: BTreeMap<usize, UploadFault>,
    sessions: HashMap<String, YtSession>,
    data_puts: usize,
    status_queries: usize,
    noncontiguous_puts: usize,
    videos: Vec<CreatedVideo>,
    /// Answer a finished upload with 200 instead of 201.
    answer_200: bool,
    /// Status questions still to be answered 503 (Y-F7).
    failing_status_queries: usize,
}

/// Google's token endpoint and YouTube's resumable upload endpoint.
pub struct YouTubeFake {
    pub addr: SocketAddr,
    state: Arc<Mutex<YtState>>,
    log: Arc<Mutex<Vec<Recorded>>>,
}

pub const YT_CLIENT_ID: &str = "1234567890-fake.apps.googleusercontent.com";
pub const YT_CLIENT_SECRET: &str = "GOCSPX-fake-client-secret";
pub const YT_REFRESH_TOKEN: &str = "1//0gFAKE-refresh-token-0123456789";

impl YouTubeFake {
    /// A fake that knows one client and one refresh token ([`YT_CLIENT_ID`],
    /// [`YT_CLIENT_SECRET`], [`YT_REFRESH_TOKEN`]).
    pub async fn start() -> YouTubeFake {
        let state = Arc::new(Mutex::new(YtState {
            clients: HashMap::from([(YT_CLIENT_ID.into(), YT_CLIENT_SECRET.into())]),
            refresh_tokens: HashMap::from([(YT_REFRESH_TOKEN.into(), YT_CLIENT_ID.into())]),
            access_tokens: HashSet::new(),
            issued: 0,
            token_server_error: false,
            start_fault: None,
            put_faults: BTreeMap::new(),
            sessions: HashMap::new(),
            data_puts: 0,
            status_queries: 0,
            noncontiguous_puts: 0,
            videos: Vec::new(),
            answer_200: false,
            failing_status_queries: 0,
        }));
        let log = Arc::new(Mutex::new(Vec::new()));
        let addr = serve(state.clone(), log.clone()).await;
        YouTubeFake { addr, state, log }
    }

    fn state(&self) -> MutexGuard<'_, YtState> {
        self.state.lock().unwrap()
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    pub fn upload_url(&self) -> String {
        format!("http://{}/upload/youtube/v3/videos", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn log(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn fail_put(&self, nth: usize, fault: UploadFault) {
        self.state().put_faults.insert(nth, fault);
    }

    pub fn fail_start(&self, fault: StartFault) {
        self.state().start_fault = Some(fault);
    }

    /// The refresh token stops working (`invalid_grant`, Y-F10).
    pub fn revoke(&self, refresh_token: &str) {
        self.state().refresh_tokens.remove(refresh_token);
    }

    /// The next token request is answered 503 `server_error`.
    pub fn token_server_error_once(&self) {
        self.state().token_server_error = true;
    }

    /// Every session expires: each request on one is answered 404 (Y-F6).
    pub fn expire_sessions(&self) {
        for s in self.state().sessions.values_mut() {
            s.expired = true;
        }
    }

    /// The next `n` status questions are answered 503 `backendError`.
    pub fn fail_status_queries(&self, n: usize) {
        self.state().failing_status_queries = n;
    }

    pub fn answer_200(&self) {
        self.state().answer_200 = true;
    }

    pub fn videos(&self) -> Vec<CreatedVideo> {
        self.state().videos.clone()
    }

    /// Session starts (`POST …?uploadType=resumable`) accepted.
    pub fn sessions_started(&self) -> usize {
        self.state().sessions.len()
    }

    pub fn status_queries(&self) -> usize {
        self.state().status_queries
    }

    pub fn data_puts(&self) -> usize {
        self.state().data_puts
    }

    pub fn noncontiguous_puts(&self) -> usize {
        self.state().noncontiguous_puts
    }

    pub fn token_calls(&self) -> usize {
        self.log().iter().filter(|r| r.path() == "/token").count()
    }
}

fn google_error(status: u16, reason: &str, message: &str) -> Reply {
    let mut body = json!({"error": {"code": status, "message": message,
        "errors": [{"message": message, "domain": "youtube.video", "reason": reason}]}});
    if reason == "quotaExceeded" {
        body["error"]["errors"][0]["domain"] = json!("youtube.quota");
    }
    if reason == "authError" {
        body["error"]["errors"][0]["locationType"] = json!("header");
        body["error"]["errors"][0]["location"] = json!("Authorization");
    }
    Reply::json(status, body)
}

impl YtState {
    fn token(&mut self, req: &Recorded) -> Reply {
        if !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        {
            return Reply::json(400, json!({"error": "invalid_request"}));
        }
        if std::mem::take(&mut self.token_server_error) {
            return Reply::json(503, json!({"error": "server_error"}));
        }
        let form = req.form();
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return Reply::json(400, json!({"error": "unsupported_grant_type"}));
        }
        let client = form.get("client_id").cloned().unwrap_or_default();
        if self.clients.get(&client) != form.get("client_secret") {
            return Reply::json(
                401,
                json!({"error": "invalid_client", "error_description": "The OAuth client was not found."}),
            );
        }
        let token = form.get("refresh_token").cloned().unwrap_or_default();
        if self.refresh_tokens.get(&token) != Some(&client) {
            return Reply::json(
                400,
                json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
            );
        }
        self.issued += 1;
        let access = format!("ya29.fake-{}", self.issued);
        self.access_tokens.insert(access.clone());
        // Google does not rotate refresh tokens: no refresh_token in the answer.
        Reply::json(
            200,
            json!({"access_token": access, "expires_in": 3599,
                   "scope": "https://www.googleapis.com/auth/youtube.upload", "token_type": "Bearer"}),
        )
    }

    fn authorized(&self, req: &Recorded) -> bool {
        bearer(req).is_some_and(|t| self.access_tokens.contains(t))
    }

    fn start(&mut self, addr: SocketAddr, req: &Recorded) -> Reply {
        let q = req.query();
        if q.get("uploadType").map(String::as_str) != Some("resumable") {
            return google_error(400, "badRequest", "uploadType must be resumable");
        }
        let part = q.get("part").cloned().unwrap_or_default();
        let parts: Vec<&str> = part.split(',').collect();
        if !(parts.contains(&"snippet") && parts.contains(&"status")) {
            return google_error(400, "badRequest", "part must include snippet and status");
        }
        if !self.authorized(req) {
            return google_error(401, "authError", "Invalid Credentials");
        }
        if let Some(fault) = self.start_fault.take() {
            return match fault {
                StartFault::QuotaExceeded => google_error(
                    403,
                    "quotaExceeded",
                    "The request cannot be completed because you have exceeded your quota.",
                ),
                StartFault::UploadLimitExceeded => google_error(
                    400,
                    "uploadLimitExceeded",
                    "The user has exceeded the number of videos they may upload.",
                ),
                StartFault::BackendError => google_error(503, "backendError", "Backend Error"),
            };
        }
        if !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        {
            return google_error(400, "badRequest", "Content-Type must be application/json");
        }
        let total = req
            .header("x-upload-content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0);
        let content_type = req.header("x-upload-content-type").unwrap_or_default();
        let (Some(total), true) = (
            total,
            content_type.starts_with("video/") || content_type == "application/octet-stream",
        ) else {
            return google_error(400, "badRequest", "X-Upload-Content-Length/-Type required");
        };
        let meta = req.json();
        if let Err(reply) = check_video_resource(&meta) {
            return reply;
        }
        let id = format!("up{}", self.sessions.len() + 1);
        self.sessions.insert(
            id.clone(),
            YtSession {
                total,
                content_type: content_type.to_string(),
                metadata: meta,
                received: Vec::new(),
                finished: None,
                expired: false,
            },
        );
        Reply::empty(
            200,
            vec![(
                "Location".into(),
                format!(
                    "http://{addr}/upload/youtube/v3/videos?uploadType=resumable&upload_id={id}&part={part}"
                ),
            )],
        )
    }

    fn put(&mut self, req: &Recorded) -> Reply {
        let id = req.query().get("upload_id").cloned().unwrap_or_default();
        let authorized = self.authorized(req);
        let answer_200 = self.answer_200;
        let Some(session) = self.sessions.get_mut(&id) else {
            return google_error(404, "notFound", "Upload session not found");
        };
        if session.expired {
            return google_error(404, "notFound", "Upload session expired");
        }
        if !authorized {
            return google_error(401, "authError", "Invalid Credentials");
        }
        if req.body.is_empty() && self.failing_status_queries > 0 {
            // A transient failure of the status question, whatever the upload's state.
            self.status_queries += 1;
            self.failing_status_queries -= 1;
            return google_error(503, "backendError", "Backend Error");
        }
        let session = self.sessions.get_mut(&id).expect("session");
        if let Some((status, body)) = &session.finished {
            // The same answer the upload finished with.
            if req.body.is_empty() {
                self.status_queries += 1;
            }
            return Reply::json(*status, body.clone());
        }
        let range = req.header("content-range").unwrap_or_default().to_string();
        let stored_range = |s: &YtSession| -> Vec<(String, String)> {
            if s.received.is_empty() {
                Vec::new()
            } else {
                vec![("Range".into(), format!("bytes=0-{}", s.received.len() - 1))]
            }
        };
        if req.body.is_empty() {
            // The status question: `Content-Range: bytes */N`.
            self.status_queries += 1;
            if range != format!("bytes */{}", session.total) {
                return google_error(400, "badRequest", "bad status query");
            }
            return Reply::empty(308, stored_range(session));
        }
        self.data_puts += 1;
        let nth = self.data_puts;
        let (first, last, total) = match parse_range(&range) {
            Some(r) => r,
            None if range.is_empty() && req.body.len() == session.total => {
                (0, session.total - 1, session.total)
            }
            None => return google_error(400, "badRequest", "bad Content-Range"),
        };
        if total != session.total || last + 1 - first != req.body.len() {
            return google_error(400, "badRequest", "Content-Range does not match the body");
        }
        if req.header("content-type") != Some(session.content_type.as_str()) {
            return google_error(400, "badRequest", "Content-Type differs from the session's");
        }
        if first != session.received.len() {
            // Overlap or gap: nothing is stored.
            self.noncontiguous_puts += 1;
            return Reply::empty(308, stored_range(session));
        }
        if last + 1 < total && !req.body.len().is_multiple_of(256 * 1024) {
            return google_error(400, "badRequest", "chunks must be multiples of 256 KiB");
        }
        let fault = self.put_faults.remove(&nth);
        let keep = match fault {
            Some(UploadFault::Unauthorized) => {
                return google_error(401, "authError", "Invalid Credentials")
            }
            Some(UploadFault::PartialAccept { keep })
            | Some(UploadFault::ServerError { keep, .. })
            | Some(UploadFault::Drop { keep }) => keep.min(req.body.len()),
            Some(UploadFault::LostFinalAnswer) | Some(UploadFault::Hang) | None => req.body.len(),
        };
        let session = self.sessions.get_mut(&id).expect("session");
        session.received.extend_from_slice(&req.body[..keep]);
        if session.received.len() == session.total {
            let video_id = format!("vid{:08}", self.videos.len() + 1);
            let mut resource = json!({
                "kind": "youtube#video", "etag": "fake", "id": video_id,
                "snippet": session.metadata["snippet"].clone(),
                "status": {
                    "uploadStatus": "uploaded",
                    "privacyStatus": session.metadata["status"]["privacyStatus"].clone(),
                    "selfDeclaredMadeForKids": session.metadata["status"]["selfDeclaredMadeForKids"].clone(),
                    "license": "youtube", "embeddable": true, "publicStatsViewable": true,
                },
            });
            resource["snippet"]["channelId"] = json!("UCfake");
            let status = if answer_200 { 200 } else { 201 };
            session.finished = Some((status, resource.clone()));
            self.videos.push(CreatedVideo {
                id: video_id,
                metadata: session.metadata.clone(),
                bytes: session.received.clone(),
            });
            match fault {
                Some(UploadFault::LostFinalAnswer) | Some(UploadFault::Drop { .. }) => {
                    return Reply::Drop
                }
                Some(UploadFault::Hang) => return Reply::Hang,
                _ => {}
            }
            return Reply::json(status, resource);
        }
        let session = self.sessions.get(&id).expect("session");
        match fault {
            Some(UploadFault::ServerError {
                status,
                retry_after,
                ..
            }) => {
                let mut reply = google_error(status, "backendError", "Backend Error");
                if let (Some(secs), Reply::Answer { headers, .. }) = (retry_after, &mut reply) {
                    headers.push(("Retry-After".into(), secs.to_string()));
                }
                reply
            }
            Some(UploadFault::Drop { .. }) | Some(UploadFault::LostFinalAnswer) => Reply::Drop,
            Some(UploadFault::Hang) => Reply::Hang,
            _ => Reply::empty(308, stored_range(session)),
        }
    }
}

/// `bytes a-b/N` → (a, b, N).
fn parse_range(range: &str) -> Option<(usize, usize, usize)> {
    let rest = range.strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b, n) = (a.parse().ok()?, b.parse().ok()?, total.parse().ok()?);
    (a <= b && b < n).then_some((a, b, n))
}

/// The checks YouTube documents for the inserted resource (title, description, tags,
/// privacy), plus the fake's own: `categoryId` a string, `privacyStatus` and
/// `selfDeclaredMadeForKids` present.
fn check_video_resource(meta: &Value) -> Result<(), Reply> {
    let snippet = &meta["snippet"];
    let title = snippet["title"].as_str().unwrap_or_default();
    let title_chars = title.chars().count();
    if title_chars == 0 || title_chars > 100 || title.contains(['<', '>']) {
        return Err(google_error(400, "invalidTitle", "Invalid title"));
    }
    let description = snippet["description"].as_str().unwrap_or_default();
    if description.len() > 5000 || description.contains(['<', '>']) {
        return Err(google_error(
            400,
            "invalidDescription",
            "Invalid description",
        ));
    }
    if let Some(tags) = snippet["tags"].as_array() {
        let total: usize = tags
            .iter()
            .filter_map(Value::as_str)
            .map(|t| t.chars().count() + if t.contains(' ') { 2 } else { 0 })
            .sum::<usize>()
            + tags.len().saturating_sub(1);
        if total > 500 {
            return Err(google_error(400, "invalidTags", "Invalid tags"));
        }
    }
    if let Some(category) = snippet.get("categoryId") {
        if !matches!(category.as_str(), Some("22" | "28")) {
            return Err(google_error(400, "invalidCategoryId", "Invalid category"));
        }
    }
    let status = &meta["status"];
    if !matches!(
        status["privacyStatus"].as_str(),
        Some("private" | "unlisted" | "public")
    ) {
        return Err(google_error(
            403,
            "forbiddenPrivacySetting",
            "Invalid privacy",
        ));
    }
    if !status["selfDeclaredMadeForKids"].is_boolean() {
        return Err(google_error(
            400,
            "invalidVideoMetadata",
            "selfDeclaredMadeForKids required",
        ));
    }
    Ok(())
}

impl Handler for YtState {
    fn handle(&mut self, addr: SocketAddr, req: &Recorded) -> Reply {
        match (req.method.as_str(), req.path()) {
            ("POST", "/token") => self.token(req),
            ("POST", "/upload/youtube/v3/videos") => self.start(addr, req),
            ("PUT", "/upload/youtube/v3/videos") => self.put(req),
            _ => google_error(404, "notFound", "no such endpoint"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// TikTok

pub const TT_CLIENT_KEY: &str = "awfakeclientkey0123";
pub const TT_CLIENT_SECRET: &str = "fake-tiktok-client-secret";
pub const TT_REFRESH_TOKEN: &str = "rft.fake-0";

/// A one-shot fault on the n-th upload `PUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkFault {
    /// Answer 5xx without storing the chunk (T-F5).
    ServerErrorNotStored,
    /// Store the chunk, then close the connection without an answer (T-F6).
    StoredThenDropped,
}

/// How the token endpoint misbehaves, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFault {
    /// `invalid_grant` whatever the token (T-F12).
    InvalidGrant,
}

struct TtInit {
    publish_id: String,
    size: usize,
    chunk_size: usize,
    chunks: usize,
    received: Vec<u8>,
    privacy: String,
    /// Status answers after the upload finished, one per fetch (the last repeats).
    script: VecDeque<String>,
    fail_reason: Option<String>,
    /// Every byte arrived.
    done: bool,
    /// `PUBLISH_COMPLETE` was answered: the post exists.
    published: bool,
}

struct TtState {
    refresh_token: String,
    retired: HashSet<String>,
    rotate: bool,
    refreshed: usize,
    access_tokens: HashSet<String>,
    token_fault: Option<TokenFault>,
    username: String,
    private_account: bool,
    audited: bool,
    creator_info_error: Option<String>,
    init_error: Option<(u16, String)>,
    put_faults: BTreeMap<usize, ChunkFault>,
    puts: usize,
    inits: HashMap<String, TtInit>,
    status_script: Vec<String>,
    fail_reason: Option<String>,
    /// Milliseconds added to the fake's clock (upload URLs live one hour).
    clock_offset_ms: i64,
    issued_at: HashMap<String, i64>,
}

/// TikTok's token endpoint and Content Posting API.
pub struct TikTokFake {
    pub addr: SocketAddr,
    state: Arc<Mutex<TtState>>,
    log: Arc<Mutex<Vec<Recorded>>>,
}

fn tiktok_error(status: u16, code: &str) -> Reply {
    Reply::json(
        status,
        json!({"data": {}, "error": {"code": code, "message": code, "log_id": "fake-log"}}),
    )
}

fn tiktok_ok(data: Value) -> Reply {
    Reply::json(
        200,
        json!({"data": data, "error": {"code": "ok", "message": "", "log_id": "fake-log"}}),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl TikTokFake {
    /// A private creator account and an unaudited client (so posts are `SELF_ONLY`),
    /// status answers `PROCESSING_UPLOAD`, `PROCESSING_UPLOAD`, `PUBLISH_COMPLETE`.
    pub async fn start() -> TikTokFake {
        let state = Arc::new(Mutex::new(TtState {
            refresh_token: TT_REFRESH_TOKEN.into(),
            retired: HashSet::new(),
            rotate: true,
            refreshed: 0,
            access_tokens: HashSet::new(),
            token_fault: None,
            username: "acme_official".into(),
            private_account: true,
            audited: false,
            creator_info_error: None,
            init_error: None,
            put_faults: BTreeMap::new(),
            puts: 0,
            inits: HashMap::new(),
            status_script: vec![
                "PROCESSING_UPLOAD".into(),
                "PROCESSING_UPLOAD".into(),
                "PUBLISH_COMPLETE".into(),
            ],
            fail_reason: None,
            clock_offset_ms: 0,
            issued_at: HashMap::new(),
        }));
        let log = Arc::new(Mutex::new(Vec::new()));
        let addr = serve(state.clone(), log.clone()).await;
        TikTokFake { addr, state, log }
    }

    fn state(&self) -> MutexGuard<'_, TtState> {
        self.state.lock().unwrap()
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn log(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn calls(&self, path: &str) -> usize {
        self.log().iter().filter(|r| r.path() == path).count()
    }

    /// The refresh token that works now (it rotates on every refresh).
    pub fn current_refresh_token(&self) -> String {
        self.state().refresh_token.clone()
    }

    pub fn fail_token_once(&self, fault: TokenFault) {
        self.state().token_fault = Some(fault);
    }

    pub fn fail_put(&self, nth: usize, fault: ChunkFault) {
        self.state().put_faults.insert(nth, fault);
    }

    /// A public creator account (the client stays unaudited: Direct Post is refused).
    pub fn public_account(&self) {
        self.state().private_account = false;
    }

    /// A public account with an audited client: public posts get a post id.
    pub fn public_and_audited(&self) {
        let mut s = self.state();
        s.private_account = false;
        s.audited = true;
    }

    /// `creator_info` answers HTTP 200 with this error code (T-F13).
    pub fn creator_info_error(&self, code: &str) {
        self.state().creator_info_error = Some(code.into());
    }

    pub fn init_error(&self, status: u16, code: &str) {
        self.state().init_error = Some((status, code.into()));
    }

    /// Status answers after the upload, one per fetch (the last repeats).
    pub fn status_script(&self, script: &[&str], fail_reason: Option<&str>) {
        let mut s = self.state();
        s.status_script = script.iter().map(|x| x.to_string()).collect();
        s.fail_reason = fail_reason.map(str::to_string);
    }

    /// Moves the fake's clock (upload URLs expire after an hour).
    pub fn advance_clock_ms(&self, ms: i64) {
        self.state().clock_offset_ms += ms;
    }

    /// Posts made: uploads finished and published.
    pub fn posts(&self) -> usize {
        self.state().inits.values().filter(|i| i.published).count()
    }

    /// The bytes each `init` received, by publish id.
    pub fn uploads(&self) -> BTreeMap<String, Vec<u8>> {
        self.state()
            .inits
            .values()
            .map(|i| (i.publish_id.clone(), i.received.clone()))
            .collect()
    }

    pub fn init_bodies(&self) -> Vec<Value> {
        self.log()
            .iter()
            .filter(|r| r.path() == "/v2/post/publish/video/init/")
            .map(Recorded::json)
            .collect()
    }
}

impl TtState {
    fn token(&mut self, req: &Recorded) -> Reply {
        let form = req.form();
        if !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        {
            return Reply::json(
                400,
                json!({"error": "invalid_request", "error_description": "form expected", "log_id": "fake"}),
            );
        }
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return Reply::json(
                400,
                json!({"error": "unsupported_grant_type", "error_description": "", "log_id": "fake"}),
            );
        }
        if form.get("client_key").map(String::as_str) != Some(TT_CLIENT_KEY)
            || form.get("client_secret").map(String::as_str) != Some(TT_CLIENT_SECRET)
        {
            return Reply::json(
                400,
                json!({"error": "invalid_client", "error_description": "client", "log_id": "fake"}),
            );
        }
        let given = form.get("refresh_token").cloned().unwrap_or_default();
        if self.token_fault.take() == Some(TokenFault::InvalidGrant) || given != self.refresh_token
        {
            return Reply::json(
                400,
                json!({"error": "invalid_grant", "error_description": "Refresh token is invalid or expired.", "log_id": "fake"}),
            );
        }
        self.refreshed += 1;
        if self.rotate {
            // The old token stops working at once.
            self.retired.insert(given);
            self.refresh_token = format!("rft.fake-{}", self.refreshed);
        }
        let access = format!("act.fake-{}", self.refreshed);
        self.access_tokens.insert(access.clone());
        Reply::json(
            200,
            json!({"access_token": access, "expires_in": 7200, "open_id": "fake-open-id",
                   "refresh_expires_in": 15552000, "refresh_token": self.refresh_token,
                   "scope": "user.info.basic,video.publish", "token_type": "Bearer"}),
        )
    }

    fn options(&self) -> Vec<&'static str> {
        if self.private_account {
            vec!["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
        } else {
            vec!["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
        }
    }

    fn authorized(&self, req: &Recorded) -> Option<String> {
        bearer(req)
            .filter(|t| self.access_tokens.contains(*t))
            .map(str::to_string)
    }

    fn creator_info(&mut self, req: &Recorded) -> Reply {
        if self.authorized(req).is_none() {
            return tiktok_error(401, "access_token_invalid");
        }
        if let Some(code) = self.creator_info_error.take() {
            // Documented: these come with HTTP 200.
            return tiktok_error(200, &code);
        }
        tiktok_ok(json!({
            "creator_avatar_url": "https://example.invalid/avatar.jpg",
            "creator_username": self.username,
            "creator_nickname": "Acme",
            "privacy_level_options": self.options(),
            "comment_disabled": false, "duet_disabled": false, "stitch_disabled": true,
            "max_video_post_duration_sec": 600,
        }))
    }

    fn init(&mut self, addr: SocketAddr, req: &Recorded) -> Reply {
        if self.authorized(req).is_none() {
            return tiktok_error(401, "access_token_invalid");
        }
        if let Some((status, code)) = self.init_error.take() {
            return tiktok_error(status, &code);
        }
        let body = req.json();
        let post = &body["post_info"];
        let privacy = post["privacy_level"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !self.options().contains(&privacy.as_str()) {
            return tiktok_error(403, "privacy_level_option_mismatch");
        }
        let title = post["title"].as_str().unwrap_or_default();
        if title.encode_utf16().count() > 2200 || !post["brand_content_toggle"].is_boolean() {
            return tiktok_error(400, "invalid_param");
        }
        if !self.audited && !self.private_account {
            return tiktok_error(403, "unaudited_client_can_only_post_to_private_accounts");
        }
        let source = &body["source_info"];
        if source["source"].as_str() != Some("FILE_UPLOAD") {
            return tiktok_error(403, "url_ownership_unverified");
        }
        let (Some(size), Some(chunk), Some(count)) = (
            source["video_size"].as_u64(),
            source["chunk_size"].as_u64(),
            source["total_chunk_count"].as_u64(),
        ) else {
            return tiktok_error(400, "invalid_param");
        };
        const MIN: u64 = 5_242_880;
        let valid = size > 0
            && chunk > 0
            && count == size / chunk
            && (1..=1000).contains(&count)
            && if size < MIN {
                chunk == size
            } else {
                chunk <= 64_000_000 && (chunk >= MIN || chunk == size)
            }
            && size - (count - 1) * chunk <= 128_000_000;
        if !valid {
            return tiktok_error(400, "invalid_param");
        }
        let n = self.inits.len() + 1;
        let upload_id = format!("{n}");
        let publish_id = format!("v_pub_file~v2-1.{n}");
        self.issued_at
            .insert(upload_id.clone(), now_ms() + self.clock_offset_ms);
        self.inits.insert(
            upload_id.clone(),
            TtInit {
                publish_id: publish_id.clone(),
                size: size as usize,
                chunk_size: chunk as usize,
                chunks: count as usize,
                received: Vec::new(),
                privacy,
                script: self.status_script.iter().cloned().collect(),
                fail_reason: self.fail_reason.clone(),
                done: false,
                published: false,
            },
        );
        tiktok_ok(json!({
            "publish_id": publish_id,
            "upload_url": format!("http://{addr}/upload/?upload_id={upload_id}&upload_token=tok{n}"),
        }))
    }

    fn put(&mut self, req: &Recorded) -> Reply {
        let q = req.query();
        let id = q.get("upload_id").cloned().unwrap_or_default();
        let now = now_ms() + self.clock_offset_ms;
        let issued = self.issued_at.get(&id).copied();
        self.puts += 1;
        let fault = self.put_faults.remove(&self.puts);
        let Some(init) = self.inits.get_mut(&id) else {
            return Reply::empty(404, Vec::new());
        };
        if q.get("upload_token").map(String::as_str) != Some(&format!("tok{id}")) {
            return Reply::empty(404, Vec::new());
        }
        if issued.is_some_and(|at| now > at + 3_600_000) {
            return Reply::empty(403, Vec::new());
        }
        if !matches!(
            req.header("content-type"),
            Some("video/mp4" | "video/quicktime" | "video/webm")
        ) {
            return Reply::empty(400, Vec::new());
        }
        let progress = |init: &TtInit| -> Vec<(String, String)> {
            if init.received.is_empty() {
                Vec::new()
            } else {
                vec![(
                    "Content-Range".into(),
                    format!("bytes 0-{}/{}", init.received.len() - 1, init.size),
                )]
            }
        };
        let Some((first, last, total)) = parse_range(req.header("content-range").unwrap_or(""))
        else {
            return Reply::empty(400, Vec::new());
        };
        if total != init.size || last + 1 - first != req.body.len() {
            return Reply::empty(400, Vec::new());
        }
        if first != init.received.len() {
            return Reply::empty(416, progress(init));
        }
        let index = first / init.chunk_size;
        let expected = if index + 1 == init.chunks {
            init.size - (init.chunks - 1) * init.chunk_size
        } else {
            init.chunk_size
        };
        if req.body.len() != expected || index >= init.chunks {
            return Reply::empty(400, Vec::new());
        }
        if fault == Some(ChunkFault::ServerErrorNotStored) {
            return Reply::json(500, json!({"error": "internal"}));
        }
        init.received.extend_from_slice(&req.body);
        let finished = init.received.len() == init.size;
        if finished {
            init.done = true;
        }
        if fault == Some(ChunkFault::StoredThenDropped) {
            return Reply::Drop;
        }
        Reply::empty(if finished { 201 } else { 206 }, progress(init))
    }

    fn status(&mut self, req: &Recorded) -> Reply {
        if self.authorized(req).is_none() {
            return tiktok_error(401, "access_token_invalid");
        }
        let publish_id = req.json()["publish_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let audited = self.audited;
        let Some(init) = self.inits.values_mut().find(|i| i.publish_id == publish_id) else {
            return tiktok_error(400, "invalid_publish_id");
        };
        if !init.done {
            return tiktok_ok(
                json!({"status": "PROCESSING_UPLOAD", "uploaded_bytes": init.received.len(),
                                    "publicaly_available_post_id": []}),
            );
        }
        let status = if init.script.len() > 1 {
            init.script.pop_front().unwrap_or_default()
        } else {
            init.script
                .front()
                .cloned()
                .unwrap_or_else(|| "PUBLISH_COMPLETE".into())
        };
        let mut data = json!({"status": status, "uploaded_bytes": init.received.len(),
                              "publicaly_available_post_id": []});
        if status == "PUBLISH_COMPLETE" {
            init.published = true;
            if init.privacy == "PUBLIC_TO_EVERYONE" && audited {
                // A 19-digit int64 above 2^53: a client parsing floats would mangle it.
                data["publicaly_available_post_id"] =
                    serde_json::from_str("[7301234567890123456]").unwrap_or(Value::Null);
            }
        }
        if status == "FAILED" {
            data["fail_reason"] = json!(init
                .fail_reason
                .clone()
                .unwrap_or_else(|| "internal".into()));
        }
        tiktok_ok(data)
    }
}

impl Handler for TtState {
    fn handle(&mut self, addr: SocketAddr, req: &Recorded) -> Reply {
        match (req.method.as_str(), req.path()) {
            ("POST", "/v2/oauth/token/") => self.token(req),
            ("POST", "/v2/post/publish/creator_info/query/") => self.creator_info(req),
            ("POST", "/v2/post/publish/video/init/") => self.init(addr, req),
            ("PUT", "/upload/") => self.put(req),
            ("POST", "/v2/post/publish/status/fetch/") => self.status(req),
            _ => tiktok_error(404, "not_found"),
        }
    }
}
