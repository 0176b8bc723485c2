//! Page screenshots for the collect stage: headless Chromium (Debian's `chromium` locally;
//! a path from config on Lambda, e.g. a Chromium layer) at the output's size, several
//! screens down the page.
//!
//! How: one Chromium run per screen, all at once, each with a W×H window
//! (`--window-size=W,H`) and the document shifted up by `i*H` pixels (a style rule
//! `html{transform:translateY(-i*H px)}` appended for `GET /?screen=i`). A single tall
//! window would be simpler, but it makes `100vh` the whole strip: a page whose hero is
//! `min-height:100vh` (most landing pages) would fill every screen with its hero.
//! Chromium's plain CLI, no DevTools protocol, no new crates; started without a shell.
//!
//! # Network: Chromium reaches nothing
//!
//! The page is HTML we already fetched through [`reelforge_net::client`] (the public-address rule of
//! [`reelforge_core::guard`]). Chromium's own fetches would bypass that rule (a page could point an
//! `<img>` at `169.254.169.254` or at the Lambda runtime API on loopback), so Chromium is
//! given no network at all:
//!
//! * `--host-resolver-rules="MAP reelforge-capture.invalid 127.0.0.1:PORT, MAP * ~NOTFOUND"`:
//!   every host, IP literals (`http://198.51.100.1/`, `http://127.0.0.1:9001/`),
//!   `localhost` and `[::1]` included, fails to resolve, except our own name, which is
//!   mapped (port included) to a one-document server that this module runs on loopback;
//! * `--disable-background-networking`, `--disable-component-update`, `--disable-sync`,
//!   `--disable-quic`, `--no-first-run`: no update, sync or field-trial traffic;
//! * the document is served with `Content-Security-Policy: default-src 'none'; style-src
//!   'unsafe-inline'; img-src data:; font-src data:` (so no script runs, inline or not,
//!   and nothing but inline styles and `data:` images is even requested), and WebRTC may
//!   not use non-proxied UDP (a STUN/UDP path would not go through the resolver).
//!   (`--blink-settings=scriptEnabled=false` is not used: with it, Chromium 156's
//!   `--screenshot` exits 0 without writing a file.)
//!
//! Consequence for this first version: subresources (external CSS, images, fonts,
//! scripts) are NOT loaded; only the HTML itself with its inline styles and `data:` images
//! renders. Loading them would need each fetch to go through the guard (e.g. a local proxy
//! built on [`reelforge_net::client`]), which is future work.
//!
//! # Why not `file://`
//!
//! A `file://` page may show other local files: `<iframe src="file:///proc/self/environ">`
//! renders the process environment (on Lambda: the AWS credentials) into the screenshot,
//! and a customer chooses the page. So the document is served instead, from
//! `http://reelforge-capture.invalid/` (our loopback server, which answers `GET /` with
//! the document and 404 to everything else); an http page cannot load `file:` URLs.
//! Local paths and `file://` URLs are accepted as the *source* of the HTML, never handed
//! to Chromium.
//!
//! # Caveats
//!
//! * Each screen is the page shifted up inside a one-screen viewport, so `vh` units are
//!   the output's height; but script-driven layout never runs (no scripts at all).
//! * A page shorter than `screens` viewports gives blank (background-coloured) screens at
//!   the end.
//! * Chromium is killed on timeout (its main process; the helpers exit with it).

use reelforge_core::ports::{PageCapture, ToolError};
use reelforge_core::render::FrameSize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The host name the page is loaded from; mapped to the loopback server by the resolver
/// rules (`.invalid` never resolves anywhere else).
const PAGE_HOST: &str = "reelforge-capture.invalid";
/// Sent with the document: no script, no fetches other than inline styles and `data:`.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:";
/// Largest HTML document served to Chromium.
const MAX_HTML_BYTES: usize = 16 * 1024 * 1024;
/// Largest request head the loopback server reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// How pages are captured.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureOptions {
    /// The Chromium binary: `chromium` (from `PATH`) by default, `REELFORGE_CHROMIUM`
    /// when set (see [`CaptureOptions::from_env`]).
    pub chromium: PathBuf,
    /// Viewport (= each output PNG) width in CSS pixels.
    pub width: u32,
    /// Viewport (= each output PNG) height in CSS pixels.
    pub height: u32,
    /// How many viewport-heights down the page to capture: one PNG each.
    pub screens: u32,
    /// For each Chromium run (one per screen, all at once).
    pub timeout: Duration,
}

impl Default for CaptureOptions {
    /// 1080x1920 (portrait output), 3 screens, 30 s.
    fn default() -> Self {
        CaptureOptions {
            chromium: "chromium".into(),
            width: 1080,
            height: 1920,
            screens: 3,
            timeout: Duration::from_secs(30),
        }
    }
}

impl CaptureOptions {
    /// The defaults, with `REELFORGE_CHROMIUM` when set.
    pub fn from_env() -> Self {
        let mut opts = CaptureOptions::default();
        if let Some(path) = std::env::var_os("REELFORGE_CHROMIUM").filter(|v| !v.is_empty()) {
            opts.chromium = path.into();
        }
        opts
    }
}

/// The [`PageCapture`] port: headless Chromium with `options` (its size is set per call).
pub struct ChromiumCapture {
    pub options: CaptureOptions,
}

#[async_trait::async_trait]
impl PageCapture for ChromiumCapture {
    fn screens_per_page(&self) -> u32 {
        self.options.screens
    }

    async fn capture(
        &self,
        html: &Path,
        size: FrameSize,
        out_dir: &Path,
    ) -> Result<Vec<PathBuf>, ToolError> {
        let mut opts = self.options.clone();
        opts.width = size.width;
        opts.height = size.height;
        capture_screens(&html.to_string_lossy(), &opts, out_dir)
            .await
            .map_err(|e| ToolError(format!("page capture: {e}")))
    }
}

/// Why no screenshots were produced.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The Chromium (or ffmpeg) binary could not be found.
    #[error("{program} is not installed (or not at the configured path)")]
    NotInstalled { program: String },
    #[error("invalid capture request: {0}")]
    Invalid(String),
    #[error("capture i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{program} did not finish within {timeout:?}")]
    Timeout { program: String, timeout: Duration },
    #[error("{program} failed ({status}): {stderr}")]
    ToolFailed {
        program: String,
        status: String,
        stderr: String,
    },
}

/// Screenshots `html_path_or_url` (a local HTML file: a path or a `file://` URL) as
/// `opts.screens` PNGs of `opts.width`×`opts.height`, top of the page first, written into
/// `out_dir` as `screen-1.png`, `screen-2.png`, …
///
/// `http(s)` URLs are refused: fetch the page through [`reelforge_net::client`] first and pass the
/// file. See the module docs for what Chromium may and may not load.
pub async fn capture_screens(
    html_path_or_url: &str,
    opts: &CaptureOptions,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, CaptureError> {
    validate(opts)?;
    let source = source_path(html_path_or_url)?;
    let html = tokio::fs::read(&source).await?;
    if html.len() > MAX_HTML_BYTES {
        return Err(CaptureError::Invalid(format!(
            "HTML document larger than {MAX_HTML_BYTES} bytes"
        )));
    }
    tokio::fs::create_dir_all(out_dir).await?;
    let work = unique_dir(out_dir);
    tokio::fs::create_dir(&work).await?;
    let result = capture_in(html, opts, out_dir, &work).await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    result
}

async fn capture_in(
    html: Vec<u8>,
    opts: &CaptureOptions,
    out_dir: &Path,
    work: &Path,
) -> Result<Vec<PathBuf>, CaptureError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    let server = tokio::spawn(serve_document(listener, Arc::new(html), opts.height));

    let mut runs = tokio::task::JoinSet::new();
    for i in 0..opts.screens {
        let out = out_dir.join(format!("screen-{}.png", i + 1));
        let profile = work.join(format!("profile-{i}"));
        tokio::fs::create_dir(&profile).await?;
        let mut cmd = tokio::process::Command::new(&opts.chromium);
        cmd.args(chromium_args(opts, port, &profile, &out, i))
            .current_dir(work);
        let chromium = opts.chromium.clone();
        let timeout = opts.timeout;
        runs.spawn(async move {
            run(cmd, &chromium, timeout).await?;
            if tokio::fs::metadata(&out).await.is_err() {
                return Err(CaptureError::ToolFailed {
                    program: chromium.display().to_string(),
                    status: "exit status: 0".into(),
                    stderr: "no screenshot written".into(),
                });
            }
            Ok((i, out))
        });
    }
    let mut outputs = Vec::with_capacity(opts.screens as usize);
    let mut failure = None;
    while let Some(joined) = runs.join_next().await {
        match joined {
            Ok(Ok(done)) => outputs.push(done),
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(CaptureError::Io(std::io::Error::other(e)))),
        }
    }
    server.abort();
    if let Some(e) = failure {
        return Err(e);
    }
    outputs.sort();
    Ok(outputs.into_iter().map(|(_, out)| out).collect())
}

fn validate(opts: &CaptureOptions) -> Result<(), CaptureError> {
    if !(16..=4096).contains(&opts.width) || !(16..=4096).contains(&opts.height) {
        return Err(CaptureError::Invalid(
            "width and height must be 16..=4096".into(),
        ));
    }
    if !(1..=10).contains(&opts.screens) {
        return Err(CaptureError::Invalid("screens must be 1..=10".into()));
    }
    if opts.height.saturating_mul(opts.screens) > 16_384 {
        return Err(CaptureError::Invalid(
            "height * screens must be at most 16384".into(),
        ));
    }
    if opts.timeout.is_zero() {
        return Err(CaptureError::Invalid("timeout must be positive".into()));
    }
    Ok(())
}

/// The local file holding the HTML.
fn source_path(html_path_or_url: &str) -> Result<PathBuf, CaptureError> {
    let s = html_path_or_url.trim();
    if s.is_empty() {
        return Err(CaptureError::Invalid("no HTML file given".into()));
    }
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("file:") {
        let url = url::Url::parse(s)
            .map_err(|_| CaptureError::Invalid("not a valid file:// URL".into()))?;
        return url
            .to_file_path()
            .map_err(|_| CaptureError::Invalid("not a local file:// URL".into()));
    }
    if lower.contains("://") {
        return Err(CaptureError::Invalid(
            "only local HTML files are captured; fetch the page through the guard first".into(),
        ));
    }
    Ok(PathBuf::from(s))
}

fn unique_dir(parent: &Path) -> PathBuf {
    parent.join(format!(".capture-{}", ulid::Ulid::generate()))
}

fn chromium_args(
    opts: &CaptureOptions,
    port: u16,
    profile: &Path,
    out: &Path,
    screen: u32,
) -> Vec<OsString> {
    let mut user_data = OsString::from("--user-data-dir=");
    user_data.push(profile.as_os_str());
    let mut screenshot = OsString::from("--screenshot=");
    screenshot.push(out.as_os_str());
    let mut args: Vec<OsString> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--mute-audio",
        "--hide-scrollbars",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push(
        format!("--host-resolver-rules=MAP {PAGE_HOST} 127.0.0.1:{port}, MAP * ~NOTFOUND").into(),
    );
    args.push(user_data);
    args.push(format!("--window-size={},{}", opts.width, opts.height).into());
    args.push(screenshot);
    args.push(format!("http://{PAGE_HOST}/?screen={screen}").into());
    args
}

/// The style rule appended to the document for screen `screen`: the page shifted up by
/// that many viewport heights (whole pixels: no customer text reaches it).
fn shift_rule(screen: u32, height: u32) -> String {
    format!(
        "<style>html{{transform:translateY(-{}px)!important}}</style>",
        screen as u64 * height as u64
    )
}

/// Answers `GET /` (any query) with the document and everything else with 404, one
/// request per connection, until aborted.
async fn serve_document(listener: TcpListener, html: Arc<Vec<u8>>, height: u32) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let html = Arc::clone(&html);
        tokio::spawn(async move {
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
            let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
            let mut parts = line.split(|&b| b == b' ');
            let method = parts.next().unwrap_or_default();
            let target = parts.next().unwrap_or_default();
            let mut target_parts = target.splitn(2, |&b| b == b'?');
            let path = target_parts.next().unwrap_or_default();
            let screen = target_parts
                .next()
                .and_then(|q| q.strip_prefix(b"screen="))
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n < 10)
                .unwrap_or(0);
            let shifted;
            let (status, body): (&str, &[u8]) =
                if (method == b"GET" || method == b"HEAD") && path == b"/" {
                    if screen == 0 {
                        ("200 OK", &html)
                    } else {
                        let mut doc = html.to_vec();
                        doc.extend_from_slice(shift_rule(screen, height).as_bytes());
                        shifted = doc;
                        ("200 OK", &shifted)
                    }
                } else {
                    ("404 Not Found", b"")
                };
            let response_head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Content-Security-Policy: {CSP}\r\n\
                 Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                body.len()
            );
            if stream.write_all(response_head.as_bytes()).await.is_err() {
                return;
            }
            if method != b"HEAD" {
                let _ = stream.write_all(body).await;
            }
            let _ = stream.shutdown().await;
        });
    }
}

async fn run(
    mut cmd: tokio::process::Command,
    program: &Path,
    timeout: Duration,
) -> Result<(), CaptureError> {
    let name = program.display().to_string();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CaptureError::NotInstalled {
                program: name.clone(),
            }
        } else {
            CaptureError::Io(e)
        }
    })?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => output?,
        Err(_) => {
            return Err(CaptureError::Timeout {
                program: name,
                timeout,
            })
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = {
        let lines: Vec<&str> = stderr.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    };
    Err(CaptureError::ToolFailed {
        program: name,
        status: output.status.to_string(),
        stderr: tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "reelforge-capture-{tag}-{}",
            ulid::Ulid::generate()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn opts(width: u32, height: u32, screens: u32) -> CaptureOptions {
        CaptureOptions {
            width,
            height,
            screens,
            ..CaptureOptions::from_env()
        }
    }

    async fn probe_size(path: &Path) -> (u32, u32) {
        let out = tokio::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .args(["stream=width,height", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let (w, h) = text.trim().split_once(',').unwrap();
        (w.parse().unwrap(), h.parse().unwrap())
    }

    /// RGB of the pixel at (x, y).
    async fn pixel(path: &Path, x: u32, y: u32) -> [u8; 3] {
        let out = tokio::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args(["-vf", &format!("crop=1:1:{x}:{y}"), "-frames:v", "1"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout.len(), 3);
        [out.stdout[0], out.stdout[1], out.stdout[2]]
    }

    fn dominant(rgb: [u8; 3]) -> &'static str {
        match rgb {
            [r, g, b] if r > 200 && g < 60 && b < 60 => "red",
            [r, g, b] if g > 200 && r < 60 && b < 60 => "green",
            [r, g, b] if b > 200 && r < 60 && g < 60 => "blue",
            _ => "other",
        }
    }

    #[tokio::test]
    async fn three_screens_of_coloured_bands() {
        let dir = temp_dir("bands");
        let html = dir.join("page.html");
        std::fs::write(
            &html,
            "<!doctype html><html><head><style>html,body{margin:0;padding:0}\
             div{height:1920px}</style></head><body>\
             <div style=\"background:#ff0000\"></div>\
             <div style=\"background:#00ff00\"></div>\
             <div style=\"background:#0000ff\"></div></body></html>",
        )
        .unwrap();
        let out = dir.join("out");
        let started = Instant::now();
        let shots = capture_screens(html.to_str().unwrap(), &opts(1080, 1920, 3), &out)
            .await
            .unwrap();
        eprintln!("capture (3 screens, 1080x1920): {:?}", started.elapsed());
        assert_eq!(shots.len(), 3);
        let mut colours = Vec::new();
        for shot in &shots {
            assert_eq!(probe_size(shot).await, (1080, 1920), "{}", shot.display());
            colours.push(dominant(pixel(shot, 540, 960).await));
        }
        assert_eq!(colours, ["red", "green", "blue"]);
        // The work directory (tall image, profile) is gone; only the screens remain.
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["screen-1.png", "screen-2.png", "screen-3.png"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Subresources go nowhere: a documentation address, and loopback (literal and by
    /// name) where a listener counts connections; `file:` iframes do not render; inline
    /// script does not run.
    #[tokio::test]
    async fn chromium_reaches_no_network_and_no_local_files() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let trap = tokio::spawn(async move {
            while let Ok((_conn, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });

        let dir = temp_dir("nonet");
        let secret = dir.join("secret.html");
        std::fs::write(
            &secret,
            "<html><body style=\"margin:0;background:#ff0000\"></body></html>",
        )
        .unwrap();
        let html = dir.join("page.html");
        std::fs::write(
            &html,
            format!(
                "<!doctype html><html><head><style>html,body{{margin:0;background:#0000ff}}\
                 iframe,img{{display:block;border:0}}</style>\
                 <link rel=stylesheet href=\"http://198.51.100.1/s.css\"></head><body>\
                 <iframe src=\"file://{}\" width=200 height=200></iframe>\
                 <img src=\"http://198.51.100.1/x.png\">\
                 <img src=\"http://127.0.0.1:{port}/lit.png\">\
                 <img src=\"http://localhost:{port}/name.png\">\
                 <img src=\"http://[::1]:{port}/v6.png\">\
                 <script>document.body.style.background='#00ff00'</script>\
                 </body></html>",
                secret.display()
            ),
        )
        .unwrap();
        let out = dir.join("out");
        let started = Instant::now();
        let shots = capture_screens(html.to_str().unwrap(), &opts(400, 300, 1), &out)
            .await
            .unwrap();
        eprintln!("capture (1 screen, 400x300): {:?}", started.elapsed());
        assert_eq!(shots.len(), 1);
        assert_eq!(probe_size(&shots[0]).await, (400, 300));
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "Chromium connected to loopback"
        );
        // Inside the iframe: not the red local file.
        assert_ne!(dominant(pixel(&shots[0], 100, 100).await), "red");
        // Page background: still blue, the script did not run.
        assert_eq!(dominant(pixel(&shots[0], 390, 290).await), "blue");
        trap.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn missing_chromium_is_not_installed() {
        let dir = temp_dir("missing");
        let html = dir.join("page.html");
        std::fs::write(&html, "<html></html>").unwrap();
        let opts = CaptureOptions {
            chromium: dir.join("no-such-chromium"),
            ..opts(400, 300, 1)
        };
        let err = capture_screens(html.to_str().unwrap(), &opts, &dir.join("out"))
            .await
            .unwrap_err();
        assert!(matches!(err, CaptureError::NotInstalled { .. }), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn remote_urls_are_refused() {
        let err = capture_screens(
            "https://example.com/",
            &opts(400, 300, 1),
            Path::new("/nonexistent/reelforge-capture"),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CaptureError::Invalid(_)), "{err:?}");
    }

    #[test]
    fn source_paths() {
        assert_eq!(
            source_path("/tmp/a.html").unwrap(),
            PathBuf::from("/tmp/a.html")
        );
        assert_eq!(
            source_path("file:///tmp/a%20b.html").unwrap(),
            PathBuf::from("/tmp/a b.html")
        );
        assert!(source_path("http://198.51.100.1/").is_err());
        assert!(source_path("  ").is_err());
    }
}
