//! Black-box test support: runs the real `reelforge` binary and speaks plain HTTP/1.1 to
//! it from chosen loopback source addresses (127.0.0.0/8 is all on `lo`), so each test
//! has its own client IP and the IP limiter is exercised on the connection's address.

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// The `reelforge` binary of this build: beside the test binary's `deps/` directory (cargo
/// builds a package's binaries before its integration tests).
pub fn bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target directory");
    dir.join("reelforge")
}

static NEXT: AtomicU32 = AtomicU32::new(1);

/// A fresh directory under the system temp dir, unique to this process and call.
pub fn temp_dir(label: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir =
        std::env::temp_dir().join(format!("reelforge-test-{}-{label}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A distinct loopback client address per call: 127.<pid-ish>.<n>.<n>.
pub fn client_ip() -> IpAddr {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let p = (std::process::id() % 200) as u8 + 20;
    IpAddr::V4(Ipv4Addr::new(127, p, (n / 250) as u8, (n % 250) as u8 + 2))
}

/// Runs `reelforge <args> --data <dir>` to completion and parses its one JSON line.
pub fn cli(data: &Path, args: &[&str]) -> Result<Value, Value> {
    let out = Command::new(bin())
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("REELFORGE_BACKEND")
        .output()
        .expect("run reelforge");
    let parse = |bytes: &[u8]| -> Value {
        let text = String::from_utf8_lossy(bytes);
        serde_json::from_str(text.trim()).unwrap_or_else(|_| Value::String(text.into_owned()))
    };
    if out.status.success() {
        Ok(parse(&out.stdout))
    } else {
        Err(parse(&out.stderr))
    }
}

pub struct Server {
    pub data: PathBuf,
    pub addr: SocketAddr,
    child: Child,
}

impl Server {
    /// A server already started (by a wrapper, see `faults`) listening on `addr`.
    pub fn adopt(data: PathBuf, addr: SocketAddr, child: Child) -> Server {
        Server { data, addr, child }
    }

    pub fn start(extra: &[&str]) -> Server {
        Self::start_in(temp_dir("serve"), extra)
    }

    /// A server for API tests: no pipeline stage workers, so nothing ever fetches the
    /// (public, unreachable from here) pages those campaigns name.
    pub fn api(extra: &[&str]) -> Server {
        let mut args = vec!["--stage-workers", "0"];
        args.extend_from_slice(extra);
        Self::start(&args)
    }

    pub fn start_in(data: PathBuf, extra: &[&str]) -> Server {
        Self::spawn(data, extra, Stdio::inherit(), None, &[])
    }

    /// A server with extra environment variables.
    pub fn start_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        Self::spawn(temp_dir("serve"), extra, Stdio::inherit(), None, env)
    }

    /// An API server whose log (every level) goes to the returned file.
    pub fn api_logged(extra: &[&str]) -> (Server, PathBuf) {
        let data = temp_dir("serve-logged");
        std::fs::create_dir_all(&data).expect("data dir");
        let log = data.join("serve.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut args = vec!["--stage-workers", "0"];
        args.extend_from_slice(extra);
        (
            Self::spawn(data, &args, Stdio::from(file), Some("debug"), &[]),
            log,
        )
    }

    /// A server with every stage worker and extra environment variables whose log
    /// (every level) goes to the returned file.
    pub fn start_env_logged(extra: &[&str], env: &[(&str, &str)]) -> (Server, PathBuf) {
        let data = temp_dir("serve-logged");
        std::fs::create_dir_all(&data).expect("data dir");
        let log = data.join("serve.log");
        let file = std::fs::File::create(&log).expect("log file");
        (
            Self::spawn(data, extra, Stdio::from(file), Some("debug"), env),
            log,
        )
    }

    fn spawn(
        data: PathBuf,
        extra: &[&str],
        stderr: Stdio,
        log_level: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        let mut command = Command::new(bin());
        command
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(&data)
            .args(extra)
            .env_remove("REELFORGE_BACKEND")
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(level) = log_level {
            command.env("RUST_LOG", level);
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("spawn reelforge serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("bad line {line:?}"));
        let addr = v["listening"]
            .as_str()
            .expect("listening")
            .parse()
            .expect("addr");
        Server { data, addr, child }
    }

    pub fn cli(&self, args: &[&str]) -> Result<Value, Value> {
        cli(&self.data, args)
    }

    /// Creates an account on `plan` and one key for it; returns (account_id, key).
    pub fn account(&self, plan: &str, extra: &[&str]) -> (String, String) {
        let mut args = vec!["accounts", "create", "--name", "Test Co", "--plan", plan];
        args.extend_from_slice(extra);
        let acct = self.cli(&args).expect("create account");
        let id = acct["account_id"].as_str().expect("account_id").to_string();
        let key = self
            .cli(&["keys", "create", "--account", &id])
            .expect("create key");
        (id, key["key"].as_str().expect("key").to_string())
    }

    /// The server's process id (benchmarks read its memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn client(&self) -> Client {
        Client {
            server: self.addr,
            source: client_ip(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub fn header_i64(&self, name: &str) -> i64 {
        self.header(name)
            .unwrap_or_else(|| panic!("missing header {name}: {:?}", self.headers))
            .parse()
            .expect("numeric header")
    }
}

/// An HTTP/1.1 client bound to one source address.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub server: SocketAddr,
    pub source: IpAddr,
}

impl Client {
    pub fn from(&self, source: IpAddr) -> Client {
        Client { source, ..*self }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(self.source, 0))
            .expect("bind source address");
        let mut stream = socket.connect(self.server).await.expect("connect");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.server
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("write head");
        if let Some(b) = body {
            // The server may answer (413) and close before reading all of a large body.
            let _ = stream.write_all(b).await;
        }
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let response = parse_response(&raw);
        // Every API answer a black-box test sees is also checked against the published
        // OpenAPI document.
        if path.starts_with("/api/") {
            if let Err(e) = crate::openapi::check_response(
                method,
                path,
                response.status,
                &response.headers,
                &response.body,
            ) {
                panic!("response does not match docs/openapi.json: {e}");
            }
        }
        response
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Response {
        let auth = key.map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.request("GET", path, &headers, None).await
    }

    pub async fn create(&self, key: &str, body: &Value) -> Response {
        self.create_with(key, body, &[]).await
    }

    pub async fn create_with(&self, key: &str, body: &Value, extra: &[(&str, &str)]) -> Response {
        let auth = format!("Bearer {key}");
        let mut headers = vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        let body = body.to_string();
        self.request("POST", "/api/v1/campaigns", &headers, Some(body.as_bytes()))
            .await
    }
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect::<HashMap<_, _>>();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[pos + 2..pos + 2 + size]);
        data = &data[pos + 4 + size..];
    }
    out
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One request with a key and, when given, a JSON body.
pub async fn call(
    c: &Client,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Response {
    let auth = format!("Bearer {key}");
    let body = body.map(Value::to_string);
    let mut headers = vec![("Authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    c.request(method, path, &headers, body.as_deref().map(str::as_bytes))
        .await
}

/// A file upload (`PUT` with the file as the body).
pub async fn upload(
    c: &Client,
    key: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> Response {
    let auth = format!("Bearer {key}");
    c.request(
        "PUT",
        path,
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", content_type),
        ],
        Some(body),
    )
    .await
}

/// A test file made by ffmpeg (usually from its `lavfi` sources); returns its bytes.
pub fn ffmpeg_file(args: &[&str], ext: &str) -> Vec<u8> {
    let dir = temp_dir("ffmpeg-file");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join(format!("file.{ext}"));
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg {args:?}");
    let bytes = std::fs::read(&out).expect("ffmpeg output");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}
