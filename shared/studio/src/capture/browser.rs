//! One headless Chromium for a capture job, driven over `--remote-debugging-pipe` (no TCP
//! listener), with no network but the loopback document server ([`DocServer`]) and no
//! inherited environment.

use super::cdp::Cdp;
use command_fds::{CommandFdExt, FdMapping};
use serde_json::json;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Pages are served as `http://PAGE_HOST/<token>`; the resolver maps this name (port
/// included) to the loopback server and nothing else anywhere.
pub const PAGE_HOST: &str = "reelforge-capture.invalid";
/// Sent with every document: no script, nothing fetched but inline styles and `data:`
/// images (no `data:` fonts: a page must not feed fonts to an unsandboxed decoder).
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
/// Every proxied request goes here and fails at once: nothing listens on port 1, and an
/// unprivileged process (Lambda) cannot bind it.
const DEAD_PROXY: &str = "127.0.0.1:1";
/// Largest document served.
pub const MAX_HTML_BYTES: usize = 16 * 1024 * 1024;
/// Largest request head the document server reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

pub struct Browser {
    pub cdp: Arc<Cdp>,
    pub server: DocServer,
    child: tokio::process::Child,
}

impl Browser {
    /// Starts Chromium in `cwd` with its profile and scratch files under `work` (an empty
    /// directory the caller removes).
    pub async fn launch(
        chromium: &Path,
        work: &Path,
        cwd: &Path,
        startup: Duration,
    ) -> std::io::Result<Browser> {
        let server = DocServer::start().await?;
        let (child_reads, to_child) = std::io::pipe()?; // the browser's fd 3: commands
        let (from_child, child_writes) = std::io::pipe()?; // its fd 4: replies and events
        let mut cmd = tokio::process::Command::new(chromium);
        cmd.args(chromium_args(server.port, work))
            .env_clear()
            .envs(child_env(work))
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.join("stderr.log"))?)
            .kill_on_drop(true)
            .fd_mappings(vec![
                FdMapping {
                    parent_fd: child_reads.into(),
                    child_fd: 3,
                },
                FdMapping {
                    parent_fd: child_writes.into(),
                    child_fd: 4,
                },
            ])
            .map_err(std::io::Error::other)?;
        let child = cmd.spawn()?;
        // Our copies of the browser's pipe ends live in `cmd`: without this drop the reader
        // would never see end-of-file when the browser dies.
        drop(cmd);
        let cdp = Cdp::start(to_child.into(), from_child.into())?;
        let up =
            tokio::time::timeout(startup, cdp.call(None, "Browser.getVersion", json!({}))).await;
        if !matches!(up, Ok(Ok(_))) {
            let log = std::fs::read_to_string(work.join("stderr.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            return Err(std::io::Error::other(format!(
                "Chromium did not start: {}",
                tail.join(" | ")
            )));
        }
        Ok(Browser { cdp, server, child })
    }

    /// `Browser.close`, then a bounded wait for the process; killed if it lingers.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.cdp.call(None, "Browser.close", json!({})),
        )
        .await;
        if tokio::time::timeout(Duration::from_secs(3), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        self.server.stop();
    }
}

/// Chromium's command line. Network isolation, in layers: every host name but our own
/// resolves to nothing; every request but to our own name goes through a dead proxy
/// (loopback included: `<-loopback>` removes Chromium's implicit loopback bypass); each
/// tab fails every request but the document's (`Fetch`, in `page.rs`); the document's
/// CSP allows no script and no fetch; page scripts are switched off.
fn chromium_args(port: u16, work: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--headless",
        "--no-sandbox",
        "--remote-debugging-pipe",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--disable-breakpad",
        "--mute-audio",
        "--hide-scrollbars",
        "--force-color-profile=srgb",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    let mut user_data = OsString::from("--user-data-dir=");
    user_data.push(work.join("profile"));
    args.push(user_data);
    args.push(
        format!("--host-resolver-rules=MAP {PAGE_HOST} 127.0.0.1:{port}, MAP * ~NOTFOUND").into(),
    );
    args.push(format!("--proxy-server={DEAD_PROXY}").into());
    args.push(format!("--proxy-bypass-list={PAGE_HOST};<-loopback>").into());
    args.push("about:blank".into());
    args
}

/// Chromium's whole environment: nothing inherited (no AWS credentials, no
/// `AWS_LAMBDA_RUNTIME_API`), a private HOME, TMPDIR and XDG directories, and only what a
/// Chromium build needs to find its programs, libraries and fonts when they are set.
fn child_env(work: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> =
        ["HOME", "TMPDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"]
            .into_iter()
            .map(|k| (k.into(), work.as_os_str().to_owned()))
            .collect();
    for key in [
        "PATH",
        "LD_LIBRARY_PATH",
        "FONTCONFIG_PATH",
        "FONTCONFIG_FILE",
        "TZ",
    ] {
        if let Some(v) = std::env::var_os(key) {
            env.push((key.into(), v));
        }
    }
    env
}

/// A loopback HTTP server for the documents being captured: `GET /<token>` answers with a
/// registered document, anything else with 404; one request per connection.
pub struct DocServer {
    pub port: u16,
    docs: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
    task: tokio::task::JoinHandle<()>,
    next: std::sync::atomic::AtomicU64,
}

impl DocServer {
    async fn start() -> std::io::Result<DocServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let docs: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>> = Arc::default();
        let d = Arc::clone(&docs);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_one(stream, Arc::clone(&d)));
            }
        });
        Ok(DocServer {
            port,
            docs,
            task,
            next: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Registers `html` under an unguessable path; returns its URL.
    pub fn add(&self, html: Vec<u8>) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = format!("/{}-{n}", ulid::Ulid::generate().to_string().to_lowercase());
        lock(&self.docs).insert(token.clone(), Arc::new(html));
        format!("http://{PAGE_HOST}{token}")
    }

    fn stop(&self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn serve_one(
    mut stream: tokio::net::TcpStream,
    docs: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_REQUEST_HEAD {
            return;
        }
    }
    let line = String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or_default())
        .into_owned();
    let mut parts = line.split(' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let doc = (method == "GET")
        .then(|| lock(&docs).get(path).cloned())
        .flatten();
    let (status, body) = match &doc {
        Some(d) => ("200 OK", d.as_slice()),
        None => ("404 Not Found", &b""[..]),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Content-Security-Policy: {CSP}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).await.is_ok() {
        let _ = stream.write_all(body).await;
    }
    let _ = stream.shutdown().await;
}

/// The Chromium to run: `configured` when it is a path, else Debian's real binary
/// (`/usr/lib/chromium/chromium`, not the `/usr/bin/chromium` wrapper script, which adds
/// extension flags and API keys), else the name on `PATH`.
pub fn resolve_chromium(configured: &Path) -> PathBuf {
    if configured != Path::new("chromium") {
        return configured.to_path_buf();
    }
    let debian = Path::new("/usr/lib/chromium/chromium");
    if debian.is_file() {
        return debian.to_path_buf();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| configured.to_path_buf())
}
