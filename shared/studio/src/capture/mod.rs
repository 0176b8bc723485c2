//! Page capture for the processing stage: one headless Chromium per capture job (Debian's
//! locally, a layer's on Lambda), driven over the DevTools protocol on a pipe, loads each
//! page once and captures it whole at each output width, with the boxes of its hero,
//! headings, feature blocks, images, calls to action and logo (`boxes.js`) and the hero's
//! dominant colours.
//!
//! # Why a small DevTools client of our own
//!
//! `--remote-debugging-pipe` (fds 3 and 4, NUL-separated JSON) needs no TCP listener, so
//! no other local process can drive the browser. The maintained crates talk over a TCP
//! port (`chromiumoxide`, `headless_chrome`), cannot clear Chromium's environment from
//! their launchers, and cost 2-5 minutes of clean build on two cores for about fifteen
//! protocol methods (`cdp.rs` is under 200 lines; measured in docs/video.md).
//!
//! # Network: Chromium reaches nothing
//!
//! The page is HTML we already fetched through `reelforge_net::client` (the public-address
//! rule). Chromium's own fetches would bypass that rule, so it gets no network, in layers:
//!
//! * `--host-resolver-rules="MAP reelforge-capture.invalid 127.0.0.1:PORT, MAP * ~NOTFOUND"`:
//!   every host but our own name fails to resolve; our name is mapped (port included) to
//!   a loopback server that answers one unguessable path per document and 404 otherwise;
//! * a dead proxy (`127.0.0.1:1`) for every request but to our name, loopback included
//!   (`<-loopback>`: Chromium otherwise bypasses proxies for loopback);
//! * the request guard of each tab (`Fetch.enable`): only a GET of the document itself
//!   goes on; anything else fails, a navigation (`<meta http-equiv=refresh>`) with
//!   `Aborted`, which leaves the page in place;
//! * the document's CSP (`default-src 'none'; style-src 'unsafe-inline'; img-src data:`;
//!   no `data:` fonts) and page scripts switched off;
//! * the background-networking, update, sync and QUIC features off.
//!
//! Chromium's environment is cleared (no AWS credentials reach it on Lambda): only a
//! private HOME/TMPDIR/XDG directory and `PATH`, `LD_LIBRARY_PATH`, `FONTCONFIG_*`, `TZ`.
//!
//! Consequence: subresources (external CSS, images, fonts, scripts) are not loaded; the
//! HTML renders with its inline styles and `data:` images.
//!
//! # Why not `file://`
//!
//! A `file://` page may show other local files (`<iframe src="file:///proc/self/environ">`),
//! so the document is served over http from the loopback server instead; an http page
//! cannot load `file:` URLs.

mod browser;
mod cdp;
mod colours;
mod page;

pub use browser::{CSP, MAX_HTML_BYTES, PAGE_HOST};
pub use page::MAX_CAPTURE_HEIGHT;

use reelforge_core::ports::{PageCapture, PageShot, PageSource, ToolError};
use reelforge_core::render::FrameSize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How pages are captured.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureOptions {
    /// The Chromium binary: `chromium` (Debian's real binary, else from `PATH`) by
    /// default, `REELFORGE_CHROMIUM` when set (see [`CaptureOptions::from_env`]).
    pub chromium: PathBuf,
    /// For the whole job (launch, every page at every size).
    pub timeout: Duration,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            chromium: "chromium".into(),
            timeout: Duration::from_secs(60),
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

/// Why no capture was produced.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The Chromium binary could not be found.
    #[error("{program} is not installed (or not at the configured path)")]
    NotInstalled { program: String },
    #[error("invalid capture request: {0}")]
    Invalid(String),
    #[error("capture i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("Chromium did not finish within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Browser(String),
}

/// The [`PageCapture`] port: headless Chromium with `options`.
pub struct ChromiumCapture {
    pub options: CaptureOptions,
}

#[async_trait::async_trait]
impl PageCapture for ChromiumCapture {
    async fn capture(
        &self,
        pages: &[PageSource],
        sizes: &[FrameSize],
        out_dir: &Path,
    ) -> Result<Vec<PageShot>, ToolError> {
        capture_pages(pages, sizes, &self.options, out_dir)
            .await
            .map_err(|e| ToolError(format!("page capture: {e}")))
    }
}

/// Captures every page at every size in one browser: `{variant}-{W}x{H}.png` in `out_dir`.
pub async fn capture_pages(
    pages: &[PageSource],
    sizes: &[FrameSize],
    opts: &CaptureOptions,
    out_dir: &Path,
) -> Result<Vec<PageShot>, CaptureError> {
    if pages.is_empty() || sizes.is_empty() {
        return Err(CaptureError::Invalid("nothing to capture".into()));
    }
    for s in sizes {
        if !(16..=4096).contains(&s.width) || !(16..=4096).contains(&s.height) {
            return Err(CaptureError::Invalid(format!(
                "viewport {}x{} is out of range",
                s.width, s.height
            )));
        }
    }
    let mut documents = Vec::with_capacity(pages.len());
    for p in pages {
        let html = tokio::fs::read(&p.html).await?;
        if html.len() > MAX_HTML_BYTES {
            return Err(CaptureError::Invalid(format!(
                "HTML document larger than {MAX_HTML_BYTES} bytes"
            )));
        }
        documents.push(html);
    }
    tokio::fs::create_dir_all(out_dir).await?;
    // Chromium's profile and files go to a short private directory (its singleton socket
    // path must fit in 108 bytes), removed when the job ends; it runs in `out_dir`.
    let token = ulid::Ulid::generate().to_string().to_lowercase();
    let work = std::env::temp_dir().join(format!("rfc-{}", &token[token.len() - 12..]));
    tokio::fs::create_dir(&work).await?;
    let chromium = browser::resolve_chromium(&opts.chromium);
    if !chromium.is_file() {
        let _ = tokio::fs::remove_dir_all(&work).await;
        return Err(CaptureError::NotInstalled {
            program: opts.chromium.display().to_string(),
        });
    }
    let job = run(&chromium, &work, pages, documents, sizes, out_dir);
    let result = match tokio::time::timeout(opts.timeout, job).await {
        Ok(r) => r,
        Err(_) => Err(CaptureError::Timeout(opts.timeout)),
    };
    let _ = tokio::fs::remove_dir_all(&work).await;
    result
}

async fn run(
    chromium: &Path,
    work: &Path,
    pages: &[PageSource],
    documents: Vec<Vec<u8>>,
    sizes: &[FrameSize],
    out_dir: &Path,
) -> Result<Vec<PageShot>, CaptureError> {
    let browser =
        browser::Browser::launch(chromium, work, out_dir, Duration::from_secs(20)).await?;
    let result = async {
        let mut tab = page::Tab::open(browser.cdp.clone())
            .await
            .map_err(CaptureError::Browser)?;
        let mut shots = Vec::new();
        for (source, html) in pages.iter().zip(documents) {
            let url = browser.server.add(html);
            for shot in tab
                .capture(&url, sizes)
                .await
                .map_err(CaptureError::Browser)?
            {
                let image = out_dir.join(format!(
                    "{}-{}x{}.png",
                    source.variant, shot.size.width, shot.size.height
                ));
                tokio::fs::write(&image, &shot.png).await?;
                shots.push(PageShot {
                    variant: source.variant.clone(),
                    size: shot.size,
                    image,
                    layout: shot.layout,
                });
            }
        }
        tab.close();
        Ok(shots)
    }
    .await;
    browser.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelforge_core::layout::RegionKind;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::net::TcpListener;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "reelforge-capture-{tag}-{}",
            ulid::Ulid::generate()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn source(dir: &Path, variant: &str, html: &str) -> PageSource {
        let path = dir.join(format!("{variant}.html"));
        std::fs::write(&path, html).unwrap();
        PageSource {
            variant: variant.into(),
            html: path,
        }
    }

    /// RGB of the pixel at (x, y) of an image, through ffmpeg.
    fn pixel(path: &Path, x: u32, y: u32) -> [u8; 3] {
        let out = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args(["-vf", &format!("crop=1:1:{x}:{y}"), "-frames:v", "1"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        [out.stdout[0], out.stdout[1], out.stdout[2]]
    }

    fn size_of(path: &Path) -> (u32, u32) {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .args(["stream=width,height", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (w, h) = text.trim().split_once(',').unwrap();
        (w.parse().unwrap(), h.parse().unwrap())
    }

    const PORTRAIT: FrameSize = FrameSize::PORTRAIT_1080;
    const LANDSCAPE: FrameSize = FrameSize::LANDSCAPE_1080;

    /// Two pages, two sizes, one browser: each page whole at each width, a `100vh` hero one
    /// viewport tall at each size, and the parts of the page where they are drawn.
    #[tokio::test]
    async fn every_page_is_captured_whole_at_each_width_with_its_parts() {
        let dir = temp_dir("pages");
        let page = |lang: &str, title: &str| {
            format!(
                "<!doctype html><html lang={lang}><head><meta name=theme-color content=\"#7c3aed\">\
                 <style>html,body,h1{{margin:0}} .hero{{min-height:100vh;background:#7c3aed;color:#fff}}\
                 .features li{{height:400px;background:#00ff00}} .cta{{display:block;height:200px;background:#0000ff;color:#fff}}</style>\
                 </head><body><header class=hero><h1>{title}</h1><p>Notes for teams</p></header>\
                 <section id=features><h2>Features</h2><ul class=features><li>Fast search</li><li>Shared folders</li><li>Offline mode</li></ul></section>\
                 <a class=\"cta btn\" href=/signup>Start free</a></body></html>"
            )
        };
        let pages = [
            source(&dir, "page", &page("en", "Lumen Notes")),
            source(&dir, "ja", &page("ja", "ルーメンノート")),
        ];
        let out = dir.join("out");
        let shots = capture_pages(
            &pages,
            &[PORTRAIT, LANDSCAPE],
            &CaptureOptions::from_env(),
            &out,
        )
        .await
        .unwrap();
        assert_eq!(shots.len(), 4);
        for shot in &shots {
            let (w, h) = size_of(&shot.image);
            assert_eq!(w, shot.size.width, "{}", shot.image.display());
            assert_eq!(h, shot.layout.image_height);
            // Hero (one viewport) + h2 + 3 x 400 px + 200 px CTA: taller than the viewport.
            assert!(h > shot.size.height + 1200, "{h}");
            let hero = shot.layout.hero().expect("a hero");
            assert_eq!(hero.rect.y, 0.0);
            assert_eq!(
                hero.rect.h,
                f64::from(shot.size.height),
                "100vh is the viewport"
            );
            assert_eq!(pixel(&shot.image, 10, 10), [0x7c, 0x3a, 0xed]);
            let features: Vec<_> = shot.layout.regions_of(RegionKind::Feature).collect();
            assert_eq!(features.len(), 3, "{:?}", shot.layout.regions);
            let f = features[1].rect;
            let green = pixel(
                &shot.image,
                (f.x + f.w / 2.0) as u32,
                (f.y + f.h / 2.0) as u32,
            );
            assert_eq!(
                green,
                [0, 255, 0],
                "the second feature is drawn where its box says"
            );
            let cta = shot
                .layout
                .regions_of(RegionKind::CallToAction)
                .next()
                .expect("a call to action");
            assert!(cta.text.contains("Start free"));
            let blue = pixel(&shot.image, 5, (cta.rect.y + cta.rect.h / 2.0) as u32);
            assert_eq!(blue, [0, 0, 255]);
            assert_eq!(
                shot.layout.theme_color.map(|c| c.to_string()),
                Some("#7C3AED".into())
            );
            assert!(!shot.layout.hero_colours.is_empty());
        }
        assert!(shots[2]
            .layout
            .hero()
            .unwrap()
            .text
            .contains("ルーメンノート"));
        // Chromium's work directory is gone; the images remain.
        let names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| n.ends_with(".png")), "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Nothing leaves the document: a meta refresh and subresources pointed at loopback
    /// listeners (literal and by name) and at a documentation address reach nothing, the
    /// page stays the document, a `file:` iframe does not render, inline script does not
    /// run.
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
        let html = format!(
            "<!doctype html><html><head><meta http-equiv=refresh content=\"0;url=http://127.0.0.1:{port}/trap\">\
             <link rel=preconnect href=\"http://127.0.0.1:{port}\">\
             <style>html,body{{margin:0;background:#0000ff}} iframe,img{{display:block;border:0}}</style>\
             <link rel=stylesheet href=\"http://198.51.100.1/s.css\"></head><body>\
             <iframe src=\"file://{}\" width=200 height=200></iframe>\
             <img src=\"http://198.51.100.1/x.png\"><img src=\"http://127.0.0.1:{port}/lit.png\">\
             <img src=\"http://localhost:{port}/name.png\"><img src=\"http://[::1]:{port}/v6.png\">\
             <script>document.body.style.background='#00ff00'</script></body></html>",
            secret.display()
        );
        let pages = [source(&dir, "page", &html)];
        let size = FrameSize {
            width: 400,
            height: 300,
        };
        let shots = capture_pages(
            &pages,
            &[size],
            &CaptureOptions::from_env(),
            &dir.join("out"),
        )
        .await
        .unwrap();
        // `capture_pages` returns after Chromium has exited (`Browser::close` waits for
        // the process), so a refresh or preconnect it made has already reached the trap.
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "Chromium connected to loopback"
        );
        let image = &shots[0].image;
        assert_ne!(
            pixel(image, 100, 100),
            [255, 0, 0],
            "the local file rendered"
        );
        assert_eq!(
            pixel(image, 390, 290),
            [0, 0, 255],
            "the script ran or the page went away"
        );
        trap.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn missing_chromium_is_not_installed() {
        let dir = temp_dir("missing");
        let pages = [source(&dir, "page", "<html></html>")];
        let opts = CaptureOptions {
            chromium: dir.join("no-such-chromium"),
            ..CaptureOptions::default()
        };
        let err = capture_pages(&pages, &[PORTRAIT], &opts, &dir.join("out"))
            .await
            .unwrap_err();
        assert!(matches!(err, CaptureError::NotInstalled { .. }), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Chromium inherits none of the service's environment (on Lambda: the AWS
    /// credentials): a wrapper records what the browser process was started with.
    #[tokio::test]
    async fn chromium_gets_no_inherited_environment() {
        let dir = temp_dir("env");
        let env_log = dir.join("env.txt");
        let real = browser::resolve_chromium(&CaptureOptions::from_env().chromium);
        let wrapper = dir.join("chromium-env");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nenv > '{}'\nexec '{}' \"$@\"\n",
                env_log.display(),
                real.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A variable this test process has; the browser must not.
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test-secret-should-not-leak");
        let pages = [source(&dir, "page", "<html><body>x</body></html>")];
        let opts = CaptureOptions {
            chromium: wrapper,
            ..CaptureOptions::default()
        };
        capture_pages(&pages, &[PORTRAIT], &opts, &dir.join("out"))
            .await
            .unwrap();
        let env = std::fs::read_to_string(&env_log).unwrap();
        let names: Vec<&str> = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, _)| k)
            .collect();
        assert!(!env.contains("test-secret-should-not-leak"), "{env}");
        for name in &names {
            assert!(
                [
                    "HOME",
                    "TMPDIR",
                    "XDG_CONFIG_HOME",
                    "XDG_CACHE_HOME",
                    "PATH",
                    "LD_LIBRARY_PATH",
                    "FONTCONFIG_PATH",
                    "FONTCONFIG_FILE",
                    "TZ",
                    "PWD",
                    "SHLVL",
                    "_"
                ]
                .contains(name),
                "Chromium was given {name}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
