//! One tab of the capture browser: a page is loaded once, then laid out at each output
//! size and captured whole, with the boxes of its parts.

use super::cdp::{Cdp, CdpError, Event};
use base64::Engine as _;
use reelforge_core::layout::{parse_css_colour, PageLayout, Rect, Region, RegionKind};
use reelforge_core::render::{FrameSize, Rgb};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

const BOXES_JS: &str = include_str!("boxes.js");
/// Tallest capture in pixels; the rest of a longer page is cut off (a 1920 x 16384 RGBA
/// bitmap alone is 126 MB, held more than once while it is encoded and sent).
pub const MAX_CAPTURE_HEIGHT: u32 = 16_384;
/// How long a page may take to reach its load event.
const LOAD_TIMEOUT: Duration = Duration::from_secs(15);

pub type Res<T> = Result<T, String>;

fn cdp_err(e: CdpError) -> String {
    e.to_string()
}

/// A captured size of a page: the PNG bytes and the layout.
pub struct Shot {
    pub size: FrameSize,
    pub png: Vec<u8>,
    pub layout: PageLayout,
}

/// The browser's initial tab with the request guard on.
pub struct Tab {
    cdp: Arc<Cdp>,
    session: String,
    events: mpsc::UnboundedReceiver<Event>,
    allowed: Arc<Mutex<String>>,
    pump: tokio::task::JoinHandle<()>,
}

impl Tab {
    pub async fn open(cdp: Arc<Cdp>) -> Res<Tab> {
        let targets = cdp
            .call(None, "Target.getTargets", json!({}))
            .await
            .map_err(cdp_err)?;
        let target = targets["targetInfos"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["targetId"].as_str())
            .ok_or("the browser has no tab")?
            .to_string();
        let session = cdp
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .await
            .map_err(cdp_err)?["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let raw = cdp.subscribe(Some(&session));
        let allowed: Arc<Mutex<String>> = Arc::default();
        let (page_events, events) = mpsc::unbounded_channel();
        let pump = tokio::spawn(pump(
            Arc::clone(&cdp),
            session.clone(),
            raw,
            page_events,
            Arc::clone(&allowed),
        ));
        let tab = Tab {
            cdp,
            session,
            events,
            allowed,
            pump,
        };
        // Every request of the tab, navigations included, pauses before it is sent.
        tab.call("Fetch.enable", json!({"patterns": [{"urlPattern": "*"}]}))
            .await?;
        tab.call("Page.enable", json!({})).await?;
        tab.call("Page.setLifecycleEventsEnabled", json!({"enabled": true}))
            .await?;
        // The page's own scripts never run; our Runtime.evaluate still does.
        tab.call(
            "Emulation.setScriptExecutionDisabled",
            json!({"value": true}),
        )
        .await?;
        Ok(tab)
    }

    async fn call(&self, method: &str, params: Value) -> Res<Value> {
        self.cdp
            .call(Some(&self.session), method, params)
            .await
            .map_err(cdp_err)
    }

    /// Loads `url` (a document on the browser's server) and captures it at each size.
    pub async fn capture(&mut self, url: &str, sizes: &[FrameSize]) -> Res<Vec<Shot>> {
        let first = *sizes.first().ok_or("no sizes to capture")?;
        *self.allowed.lock().unwrap_or_else(|p| p.into_inner()) = url.to_string();
        self.set_viewport(first).await?;
        let nav = self.call("Page.navigate", json!({"url": url})).await?;
        if let Some(err) = nav["errorText"].as_str() {
            return Err(format!("the page did not load: {err}"));
        }
        // The load event of this navigation, not a late one of the previous page.
        let loader = nav["loaderId"].clone();
        let wait = async {
            while let Some(e) = self.events.recv().await {
                if e.method == "Page.lifecycleEvent"
                    && e.params["name"] == "load"
                    && e.params["loaderId"] == loader
                {
                    return Ok(());
                }
            }
            Err("the browser closed".to_string())
        };
        tokio::time::timeout(LOAD_TIMEOUT, wait)
            .await
            .map_err(|_| "the page did not finish loading in time".to_string())??;
        let mut shots = Vec::with_capacity(sizes.len());
        let mut hero_colours = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            if i > 0 {
                self.set_viewport(size).await?;
            }
            let found = self.evaluate(BOXES_JS).await?;
            if found["url"].as_str() != Some(url) {
                return Err("the page navigated away".into());
            }
            let metrics = self.call("Page.getLayoutMetrics", json!({})).await?;
            let full = metrics["cssContentSize"]["height"]
                .as_f64()
                .unwrap_or(f64::from(size.height))
                .ceil() as u32;
            let height = full.clamp(size.height, MAX_CAPTURE_HEIGHT);
            let shot = self
                .call(
                    "Page.captureScreenshot",
                    json!({
                        "format": "png", "captureBeyondViewport": true, "optimizeForSpeed": true,
                        "clip": {"x": 0, "y": 0, "width": size.width, "height": height, "scale": 1},
                    }),
                )
                .await?;
            let png = base64::engine::general_purpose::STANDARD
                .decode(shot["data"].as_str().unwrap_or_default())
                .map_err(|e| format!("screenshot: {e}"))?;
            // Once per page: the hero's colours hardly depend on the width.
            if i == 0 {
                hero_colours = self.hero_colours(&found["hero"]["box"], size).await?;
            }
            let mut layout = layout_from(&found, size, height);
            layout.hero_colours = hero_colours.clone();
            shots.push(Shot { size, png, layout });
        }
        Ok(shots)
    }

    async fn set_viewport(&self, size: FrameSize) -> Res<Value> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": size.width, "height": size.height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await
    }

    async fn evaluate(&self, expression: &str) -> Res<Value> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!(
                "layout script failed: {}",
                e["exception"]["description"]
            ));
        }
        Ok(r["result"]["value"].clone())
    }

    /// The hero's two dominant colours: a 1/8-scale PNG of its box (cheap to draw and to
    /// decode), counted in [`super::colours::dominant`]. JS cannot read a page's pixels,
    /// and gradients, images and overlays are what a viewer sees.
    async fn hero_colours(&self, hero: &Value, size: FrameSize) -> Res<Vec<Rgb>> {
        let (w, h) = (
            hero["w"].as_f64().unwrap_or(0.0),
            hero["h"].as_f64().unwrap_or(0.0),
        );
        if w < 8.0 || h < 8.0 {
            return Ok(Vec::new());
        }
        let beyond = hero["y"].as_f64().unwrap_or(0.0) + h > f64::from(size.height);
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png", "captureBeyondViewport": beyond, "optimizeForSpeed": true,
                    "clip": {"x": hero["x"], "y": hero["y"], "width": w,
                             "height": h.min(f64::from(MAX_CAPTURE_HEIGHT)), "scale": 0.125},
                }),
            )
            .await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .map_err(|e| format!("hero screenshot: {e}"))?;
        super::colours::dominant(&png).map_err(|e| format!("hero colours: {e}"))
    }

    pub fn close(self) {
        self.cdp.unsubscribe(&self.session);
        self.pump.abort();
    }
}

fn rect(v: &Value) -> Rect {
    let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
    Rect {
        x: f("x"),
        y: f("y"),
        w: f("w"),
        h: f("h"),
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The layout script's answer as a [`PageLayout`]; regions outside the captured image are
/// dropped, the rest are sorted top to bottom (the hero first).
pub fn layout_from(found: &Value, size: FrameSize, image_height: u32) -> PageLayout {
    let mut regions = Vec::new();
    let hero = &found["hero"];
    if hero.is_object() {
        let heading = text(&hero["heading"]);
        regions.push(Region {
            kind: RegionKind::Hero,
            text: if heading.is_empty() {
                text(&hero["text"])
            } else {
                format!("{heading} {}", text(&hero["text"]))
            },
            rect: rect(&hero["box"]),
        });
    }
    let list = |key: &str| found[key].as_array().cloned().unwrap_or_default();
    for h in list("headings") {
        regions.push(Region {
            kind: RegionKind::Heading,
            text: text(&h["text"]),
            rect: rect(&h["box"]),
        });
    }
    for f in list("features") {
        regions.push(Region {
            kind: RegionKind::Feature,
            text: text(&f["text"]),
            rect: rect(&f["box"]),
        });
    }
    for i in list("images") {
        regions.push(Region {
            kind: RegionKind::Image,
            text: text(&i["alt"]),
            rect: rect(&i["box"]),
        });
    }
    for c in list("cta") {
        regions.push(Region {
            kind: RegionKind::CallToAction,
            text: text(&c["text"]),
            rect: rect(&c["box"]),
        });
    }
    let logo = &found["logo"];
    if logo.is_object() {
        regions.push(Region {
            kind: RegionKind::Logo,
            text: text(&logo["alt"]) + &text(&logo["text"]),
            rect: rect(&logo["box"]),
        });
    }
    let limit = f64::from(image_height);
    regions.retain(|r| r.rect.is_visible() && r.rect.y < limit && r.rect.x < f64::from(size.width));
    regions.sort_by(|a, b| {
        (a.kind != RegionKind::Hero)
            .cmp(&(b.kind != RegionKind::Hero))
            .then(a.rect.y.total_cmp(&b.rect.y))
    });
    let opt = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    PageLayout {
        viewport: Some(size),
        image_height,
        title: text(&found["title"]),
        lang: opt(&found["lang"]),
        regions,
        theme_color: found["themeColor"].as_str().and_then(parse_css_colour),
        hero_colours: Vec::new(),
        background: found["bodyBackground"].as_str().and_then(parse_css_colour),
        og_image: opt(&found["ogImage"]),
        logo_src: opt(&logo["src"]),
        logo_text: opt(&logo["text"]),
    }
}

/// Answers `Fetch.requestPaused` for the tab (only a GET of the document URL goes on;
/// anything else fails: a navigation with `Aborted`, which leaves the page in place
/// instead of committing an error page) and forwards every other event.
async fn pump(
    cdp: Arc<Cdp>,
    session: String,
    mut events: mpsc::UnboundedReceiver<Event>,
    page: mpsc::UnboundedSender<Event>,
    allowed: Arc<Mutex<String>>,
) {
    while let Some(e) = events.recv().await {
        if e.method != "Fetch.requestPaused" {
            let _ = page.send(e);
            continue;
        }
        let p = &e.params;
        let kind = p["resourceType"].as_str().unwrap_or_default();
        let is_document = *allowed.lock().unwrap_or_else(|p| p.into_inner())
            == p["request"]["url"].as_str().unwrap_or_default()
            && p["request"]["method"] == "GET"
            && kind == "Document";
        let id = p["requestId"].clone();
        let (method, params) = if is_document {
            ("Fetch.continueRequest", json!({"requestId": id}))
        } else {
            let reason = if kind == "Document" {
                "Aborted"
            } else {
                "BlockedByClient"
            };
            (
                "Fetch.failRequest",
                json!({"requestId": id, "errorReason": reason}),
            )
        };
        let (cdp, session) = (Arc::clone(&cdp), session.clone());
        tokio::spawn(async move { cdp.call(Some(&session), method, params).await });
    }
}
