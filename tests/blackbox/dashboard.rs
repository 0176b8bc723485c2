//! The dashboard (#15) in a real browser: headless Chromium driven over the DevTools
//! protocol (`browser.rs`) against the real `reelforge serve`, by roles and accessible
//! names. The whole journey (sign in → create → review → the `<video>` reports a
//! duration → edit a script → publish to the loopback YouTube fake → published → sign
//! out), page text shown as text, a failed campaign's error, a 375 px phone without
//! sideways scrolling, no console errors and no request leaving the app's origin.
//! Screenshots go to docs/ with `REELFORGE_UPDATE_SCREENSHOTS=1` (docs/dashboard.md shows
//! them), else to a temporary directory.

use crate::browser::{Browser, Page};
use reelforge_testkit::providers::{
    TikTokFake, YouTubeFake, YT_CLIENT_ID, YT_CLIENT_SECRET, YT_REFRESH_TOKEN,
};
use reelforge_testkit::server::{call, ffmpeg_file, Server};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A pipeline run (collect, Chromium screens, espeak-ng, ffmpeg) on a busy 2-core machine.
const PIPELINE: Duration = Duration::from_secs(240);
const XSS: &str = "<img src=x onerror=alert(1)>";

/// Where a screenshot goes: docs/ with `REELFORGE_UPDATE_SCREENSHOTS=1` (how the checked-in
/// ones were made), else a temporary directory, so a test run leaves the tree clean.
fn docs(name: &str) -> PathBuf {
    if std::env::var_os("REELFORGE_UPDATE_SCREENSHOTS").is_some() {
        return PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(name);
    }
    let dir = reelforge_testkit::server::temp_dir("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The page's rendered text.
fn text(page: &Page) -> String {
    page.eval("document.body.innerText")
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits until the page's text contains `needle`.
fn wait_text(page: &Page, needle: &str) {
    page.wait_for(
        &format!("the text {needle:?}"),
        Duration::from_secs(20),
        || text(page).contains(needle).then_some(()),
    );
}

/// A computed style property of the element with `id`.
fn computed(page: &Page, id: &str, property: &str) -> Value {
    page.eval(&format!(
        "getComputedStyle(document.getElementById('{id}'))['{property}']"
    ))
}

fn sign_in(page: &Page, key: &str) {
    page.fill("API key", key);
    page.click("button", "Sign in");
}

/// The document is no wider than the viewport: nothing scrolls sideways.
fn assert_fits(page: &Page, width: u32) {
    let scroll = page
        .eval("document.documentElement.scrollWidth")
        .as_u64()
        .unwrap();
    if scroll > u64::from(width) {
        // Name the elements that reach past the viewport, innermost last.
        let wide = page.eval(&format!(
            "[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > {width}) \
               .slice(-8).map(e => `${{e.tagName}}.${{e.className}}#${{e.id}} ${{Math.round(e.getBoundingClientRect().right)}}`)"
        ));
        panic!("scrollWidth {scroll} > {width}: {wide}");
    }
}

fn assert_same_origin(page: &Page, origin: &str) {
    let requests = page.requests();
    assert!(!requests.is_empty());
    for url in &requests {
        // `data:` is no request at all (Chromium's own video controls draw their icons
        // from data: URLs; the page's CSP allows none).
        if url.starts_with("data:") {
            continue;
        }
        assert!(
            url.starts_with(&format!("{origin}/")),
            "a request left the app's origin: {url}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_journey_from_sign_in_to_published_and_sign_out() {
    let started = Instant::now();
    let site = reelforge_local::serve_sample_site().await.unwrap();
    let yt = YouTubeFake::start().await;
    let tt = TikTokFake::start().await;
    let (token_url, upload_url, tiktok) = (yt.token_url(), yt.upload_url(), tt.base_url());
    let s = Server::start_env(
        &["--allow-private-targets"],
        &[
            ("REELFORGE_GOOGLE_TOKEN_URL", token_url.as_str()),
            ("REELFORGE_YOUTUBE_UPLOAD_URL", upload_url.as_str()),
            ("REELFORGE_TIKTOK_API_BASE", tiktok.as_str()),
            ("REELFORGE_PUBLISH_BACKOFF_MS", "20"),
        ],
    );
    let (_, key) = s.account("scale", &[]);
    let c = s.client();
    let dest = call(&c, "POST", "/api/v1/destinations", &key, Some(&json!({
        "provider": "youtube", "name": "Channel", "client_id": YT_CLIENT_ID,
        "client_secret": YT_CLIENT_SECRET, "refresh_token": YT_REFRESH_TOKEN, "privacy": "unlisted"})))
        .await;
    assert_eq!(dest.status, 201, "{:?}", dest.json());
    let origin = format!("http://{}", s.addr);

    let browser = Browser::launch();
    let page = browser.page(1280, 900);
    page.goto(&format!("{origin}/"));

    // Sign in; the key is kept in sessionStorage only.
    sign_in(&page, &key);
    page.click("link", "New campaign");
    assert_eq!(page.eval("localStorage.length"), json!(0));
    assert_eq!(
        page.eval("sessionStorage.getItem('reelforge.key')"),
        json!(key)
    );

    // New campaign: the estimate and the quota left show before submitting.
    page.fill("Product URL", &format!("{site}/"));
    assert!(page.checked("English"));
    for name in [
        "Japanese",
        "Korean",
        "Chinese",
        "Spanish",
        "French",
        "German",
        "Portuguese",
    ] {
        assert!(!page.checked(name), "{name}");
    }
    let estimate = page.wait_for("the estimate", Duration::from_secs(10), || {
        let t = page.eval("document.getElementById('estimate').textContent");
        t.as_str()
            .filter(|t| t.contains("Estimated credits: about"))
            .map(String::from)
    });
    assert!(
        estimate.contains("Quota left this month: 100 of 100 videos"),
        "{estimate}"
    );
    page.screenshot(&docs("dashboard-new.png"));
    page.click("button", "Create campaign");

    // The campaign page: wait for review, then for the player to know its duration.
    let heading = page.wait_for("the campaign page", Duration::from_secs(20), || {
        let h = page.eval(
            "location.hash.startsWith('#/campaigns/') && document.querySelector('h1')?.textContent",
        );
        h.as_str().map(String::from)
    });
    assert!(heading.ends_with("Campaign"), "{heading}");
    page.wait_for("review", PIPELINE, || {
        let done = page.eval("document.querySelector('h1 + p .badge')?.textContent");
        assert_ne!(done, "failed", "the campaign failed");
        (done == "review").then_some(())
    });
    let review_at = started.elapsed();
    let duration = page.wait_for("the video's duration", Duration::from_secs(30), || {
        let d = page.eval("document.querySelector('video')?.duration");
        d.as_f64().filter(|d| d.is_finite() && *d > 1.0)
    });
    let stages = page
        .eval("[...document.querySelectorAll('ol.timeline li strong')].map(e => e.textContent)");
    assert_eq!(
        stages,
        json!([
            "collecting",
            "processing",
            "scripting",
            "voiceover",
            "rendering",
            "review"
        ])
    );
    let script_before = page.eval("document.querySelector('.script').textContent");
    assert!(
        script_before.as_str().unwrap().len() > 20,
        "{script_before}"
    );
    assert!(page
        .eval("document.querySelector('video').poster")
        .as_str()
        .unwrap()
        .contains("/files/"));
    // The first frame shown and the player done loading (no spinner in the screenshot).
    page.wait_for("the first frame", Duration::from_secs(30), || {
        let v = page.eval(
            "[document.querySelector('video').readyState, document.querySelector('video').networkState]",
        );
        (v[0].as_u64() >= Some(2) && v[1] != 2).then_some(())
    });
    let desktop = page.screenshot(&docs("dashboard-desktop.png"));

    // Edit the script: re-rendered under a new file, the new text shown.
    let src_before = page.eval("document.querySelector('video').getAttribute('src').split('?')[0]");
    page.click("button", "Edit script");
    let edited = "Meet the notebook that keeps up with you. It syncs everywhere. Try it today.";
    page.fill("Script for English · YouTube Shorts", edited);
    page.click("button", "Save script");
    page.wait_for("the edited video", PIPELINE, || {
        let state = page.eval(
            "[document.querySelector('.script')?.textContent, \
              document.querySelector('video')?.getAttribute('src')?.split('?')[0], \
              document.querySelector('article .badge')?.textContent]",
        );
        (state[0] == edited && state[1] != src_before && state[2] == "ready").then_some(())
    });
    page.wait_for(
        "the edited video's duration",
        Duration::from_secs(30),
        || {
            let d = page.eval("document.querySelector('video')?.duration");
            d.as_f64().filter(|d| d.is_finite() && *d > 1.0)
        },
    );

    // Publish the video to the YouTube destination.
    assert!(page.checked("English · YouTube Shorts"));
    page.set_checked("Channel (youtube)", true);
    page.click("button", "Publish");
    let link = page.wait_for("published", PIPELINE, || {
        let state = page.eval(
            "[document.querySelector('h1 + p .badge')?.textContent, \
              document.querySelector('article li a')?.href]",
        );
        (state[0] == "published")
            .then(|| state[1].as_str().map(String::from))
            .flatten()
    });
    assert!(link.contains(&yt.videos()[0].id), "{link}");
    let published_at = started.elapsed();

    // The phone: 375 px wide, nothing scrolls sideways.
    page.viewport(375, 812);
    page.wait_for("the phone layout", Duration::from_secs(5), || {
        (page.eval("window.innerWidth") == 375).then_some(())
    });
    assert_fits(&page, 375);
    let phone = page.screenshot(&docs("dashboard-phone.png"));
    page.viewport(1280, 900);

    // No console error and no failed load so far.
    assert_eq!(page.errors(true), Vec::<String>::new());

    // The webhook log and Redeliver are there (no webhook_url: the API's refusal shows).
    page.get("heading", "Webhook deliveries");
    page.click("button", "Redeliver");
    page.wait_for("Redeliver's answer", Duration::from_secs(10), || {
        page.eval("document.querySelector('section [role=status]')?.textContent")
            .as_str()
            .filter(|t| !t.is_empty())
            .map(String::from)
    });

    // Sign out forgets the key.
    page.click("button", "Sign out");
    page.get("textbox", "API key");
    assert_eq!(
        page.eval("[sessionStorage.length, localStorage.length]"),
        json!([0, 0])
    );

    assert_same_origin(&page, &origin);
    for url in page.requests() {
        assert!(!url.contains(&key), "the key was in a URL: {url}");
    }
    assert_eq!(page.errors(false), Vec::<String>::new());
    assert_eq!(page.dialogs(), Vec::<String>::new());
    eprintln!(
        "dashboard journey: review after {:.1} s, video {duration:.1} s, published after {:.1} s, \
         total {:.1} s; screenshots {desktop} B (desktop), {phone} B (phone)",
        review_at.as_secs_f64(),
        published_at.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_shows_page_text_as_text_and_a_failed_campaign_with_its_error() {
    let s = Server::start(&["--allow-private-targets"]);
    let (_, key) = s.account("growth", &[]);
    let origin = format!("http://{}", s.addr);
    let browser = Browser::launch();
    let page = browser.page(375, 812);
    page.goto(&format!("{origin}/"));

    // A wrong key shows the API's error and is not kept.
    sign_in(&page, "sk_live_0000000000000000000000000000000000000000");
    let error = page.wait_for("the sign-in error", Duration::from_secs(10), || {
        page.eval("document.querySelector('[role=alert]')?.textContent")
            .as_str()
            .filter(|t| !t.is_empty())
            .map(String::from)
    });
    let api = s
        .client()
        .get(
            "/api/v1/account",
            Some("sk_live_0000000000000000000000000000000000000000"),
        )
        .await;
    assert_eq!(error, api.json()["error"].as_str().unwrap());
    assert_eq!(page.eval("sessionStorage.length"), json!(0));

    // With the keyboard only: the key field has the focus, Tab reaches `Sign in`,
    // Enter in the field submits.
    page.fill("API key", &key);
    page.press("Tab");
    assert_eq!(page.focused(), "Sign in");
    page.on(
        page.get("textbox", "API key"),
        "function() { this.focus(); }",
    );
    page.press("Enter");

    // An empty account: the list says so.
    page.wait_for("the empty list", Duration::from_secs(10), || {
        (page.eval("document.querySelector('ul.campaigns')?.textContent") == "No campaigns yet.")
            .then_some(())
    });

    // A campaign titled with markup whose page can't be reached: it fails in collecting.
    page.click("link", "New campaign");
    // The growth plan's cap: 5 languages; then the other three are disabled.
    for name in ["Japanese", "Korean", "Chinese", "Spanish"] {
        page.set_checked(name, true);
    }
    for name in ["French", "German", "Portuguese"] {
        let node = page.get("checkbox", name);
        assert_eq!(
            page.on(node, "function() { return this.disabled; }"),
            true,
            "{name}"
        );
    }
    for name in ["Japanese", "Korean", "Chinese", "Spanish"] {
        page.set_checked(name, false);
    }
    let node = page.get("checkbox", "French");
    assert_eq!(page.on(node, "function() { return this.disabled; }"), false);
    page.fill("Product URL", "http://127.0.0.1:9/product");
    page.fill("Title (optional)", XSS);
    page.click("button", "Create campaign");
    let failure = page.wait_for("the failure", PIPELINE, || {
        page.eval("document.querySelector('main .error[role=alert]')?.textContent")
            .as_str()
            .filter(|t| t.starts_with("Failed in"))
            .map(String::from)
    });
    assert!(failure.starts_with("Failed in collecting: "), "{failure}");
    assert!(
        failure.len() > "Failed in collecting: ".len() + 5,
        "{failure}"
    );
    assert_eq!(page.eval("document.querySelector('h1').textContent"), XSS);
    assert_eq!(
        page.eval("document.querySelectorAll('img').length"),
        json!(0)
    );
    assert_fits(&page, 375);

    // The list shows the title as text too.
    page.click("link", "Campaigns");
    page.get("link", XSS);
    assert_eq!(
        page.eval("document.querySelectorAll('img').length"),
        json!(0)
    );
    assert_fits(&page, 375);

    // The account page at 375 px.
    page.click("link", "Account");
    page.get("heading", "Font profiles");
    assert_fits(&page, 375);
    page.fill("Font profile name", "Big captions");
    page.click("button", "Create font profile");
    page.get("button", "Edit Big captions");
    assert!(text(&page).contains("Big captions Noto Sans, 88 px"));
    assert_fits(&page, 375);

    assert_eq!(page.dialogs(), Vec::<String>::new());
    // The wrong key's 401 is logged by the browser as a failed load; nothing else is.
    assert_eq!(page.errors(false), Vec::<String>::new());
    assert_same_origin(&page, &origin);
}

/// The account page's editors at 375 px: a font profile created, its caption preview
/// following the fields (colour, size, position in the safe zone), edited; a media
/// profile with the built-in music and a watermark PNG chosen in a file input (uploaded
/// with `image/png`), then a WAV track; a voice profile; a playlist naming all three; a
/// destination created and shown masked; deletes confirmed by a second press.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_account_edits_profiles_uploads_files_and_previews_captions() {
    let started = Instant::now();
    let s = Server::start(&[]);
    let (account, key) = s.account("scale", &[]);
    let c = s.client();
    let origin = format!("http://{}", s.addr);
    let files = reelforge_testkit::server::temp_dir("dashboard-uploads");
    std::fs::create_dir_all(&files).unwrap();
    let png = files.join("logo.png");
    std::fs::write(
        &png,
        ffmpeg_file(
            &[
                "-f",
                "lavfi",
                "-i",
                "color=c=blue:s=120x60",
                "-frames:v",
                "1",
            ],
            "png",
        ),
    )
    .unwrap();
    let wav = files.join("bed.wav");
    std::fs::write(
        &wav,
        ffmpeg_file(
            &["-f", "lavfi", "-i", "sine=frequency=440:duration=2"],
            "wav",
        ),
    )
    .unwrap();

    let browser = Browser::launch();
    let page = browser.page(375, 812);
    page.goto(&format!("{origin}/"));
    sign_in(&page, &key);
    page.click("link", "Account");
    page.get("heading", "Font profiles");
    for heading in [
        "Media profiles",
        "Voice profiles",
        "Playlists",
        "Destinations",
    ] {
        page.get("heading", heading);
    }
    assert_fits(&page, 375);

    // The font profile's preview follows the fields, as the renderer draws captions.
    let caption = "fp-preview-caption";
    page.wait_for("the preview", Duration::from_secs(10), || {
        (computed(&page, caption, "color") == "rgb(255, 255, 255)").then_some(())
    });
    assert_eq!(
        computed(&page, caption, "backgroundColor"),
        "rgba(11, 11, 11, 0.9)"
    );
    assert_eq!(
        page.eval("getComputedStyle(document.querySelector('#fp-preview-caption .spoken')).color"),
        "rgb(255, 214, 10)"
    );
    page.fill("Font profile name", "Launch captions");
    page.set_by_label("Caption colour", "#00ff00");
    page.wait_for("the green preview", Duration::from_secs(5), || {
        (computed(&page, caption, "color") == "rgb(0, 255, 0)").then_some(())
    });
    // At the default size (two lines): Top Center puts the block's top on the safe
    // zone's, Bottom Center its bottom.
    let place = "(() => { const b = document.querySelector('.caption-block'); \
                 return [b.offsetTop, b.offsetTop + b.offsetHeight, b.parentElement.clientHeight]; })()";
    page.select("Position", "Top Center");
    assert_eq!(page.eval(place)[0], 0);
    page.select("Position", "Bottom Center");
    let at = page.eval(place);
    assert_eq!(at[1], at[2], "{at}");
    // 176 px on a 1080-pixel side in a 216 px wide frame: 35.2 px.
    page.set_by_label("Size (pixels on a 1080-pixel side)", "176");
    assert_eq!(computed(&page, caption, "fontSize"), "35.2px");
    page.set_by_label("Spoken word colour", "#ff00ff");
    assert_eq!(
        page.eval("getComputedStyle(document.querySelector('#fp-preview-caption .spoken')).color"),
        "rgb(255, 0, 255)"
    );
    page.click("button", "Create font profile");
    page.get("button", "Edit Launch captions");
    wait_text(
        &page,
        "Launch captions Noto Sans, 176 px, #00FF00, Bottom Center",
    );

    // Edit it: the form opens with its values (the preview green again), save a change.
    page.click("button", "Edit Launch captions");
    page.get("heading", "Edit font profile: Launch captions");
    assert_eq!(computed(&page, caption, "color"), "rgb(0, 255, 0)");
    page.set_by_label("Caption colour", "#ff0000");
    page.wait_for("the red preview", Duration::from_secs(5), || {
        (computed(&page, caption, "color") == "rgb(255, 0, 0)").then_some(())
    });
    page.set_by_label("Size (pixels on a 1080-pixel side)", "100");
    page.click("button", "Save font profile");
    wait_text(&page, "Launch captions Noto Sans, 100 px, #FF0000");
    let fonts = call(&c, "GET", "/api/v1/font-profiles", &key, None)
        .await
        .json();
    let font = &fonts["font_profiles"][0];
    assert_eq!(font["caption_style_color"], "#FF0000");
    assert_eq!(font["caption_highlighter_color"], "#FF00FF");
    assert_eq!(
        font["caption_position"]["overlay_visualizer"],
        "Bottom Center"
    );
    let font_id = font["font_profile_id"].as_str().unwrap().to_string();

    // A media profile: the built-in music and a watermark chosen in the file input.
    page.fill("Media profile name", "Brand media");
    page.select("Watermark corner", "Bottom left");
    page.select("Music", "Built-in bed (default)");
    page.choose_file("Watermark PNG", &png);
    page.click("button", "Create media profile");
    page.get("button", "Edit Brand media");
    let media = call(&c, "GET", "/api/v1/media-profiles", &key, None)
        .await
        .json();
    let media = media["media_profiles"][0].clone();
    let media_id = media["media_profile_id"].as_str().unwrap().to_string();
    let watermark = format!("uploads/{account}/{media_id}/watermark.png");
    assert_eq!(media["watermark_key"], watermark.as_str());
    assert_eq!(media["watermark_position"], "bottom_left");
    assert_eq!(media["music"], "default");
    wait_text(
        &page,
        &format!("watermark: {watermark} (bottom_left, 20 % wide)"),
    );
    assert!(text(&page).contains("music: built-in bed"));
    // Then a WAV track (sent as audio/wav, whatever the browser calls it); the
    // watermark stays.
    page.click("button", "Edit Brand media");
    page.get("heading", "Edit media profile: Brand media");
    page.choose_file("Music MP3, M4A or WAV", &wav);
    page.click("button", "Save media profile");
    wait_text(&page, "music: music.wav");
    assert!(text(&page).contains(&watermark));

    // A voice profile and a playlist naming the three.
    page.fill("Voice profile name", "Narrator");
    page.click("button", "Create voice profile");
    page.get("button", "Edit Narrator");
    page.fill("Playlist name", "Launch");
    page.select("Font profile", "Launch captions");
    page.select("Media profile", "Brand media");
    page.select("Voice profile", "Narrator");
    page.click("button", "Create playlist");
    wait_text(
        &page,
        "font profile: Launch captions; media profile: Brand media; voice profile: Narrator",
    );
    let lists = call(&c, "GET", "/api/v1/playlists", &key, None)
        .await
        .json();
    let playlist = &lists["playlists"][0];
    assert_eq!(playlist["font_profile_id"], font_id.as_str());
    assert_eq!(playlist["media_profile_id"], media_id.as_str());

    // A destination: created from the form, shown masked only.
    let (secret, token) = ("client-secret-abcdefghijkl", "refresh-token-qrstuvwx7890");
    page.select("Destination provider", "YouTube");
    page.fill("Destination name", "Channel");
    page.fill("Client ID", "client-id-0123456789");
    page.fill("Client secret", secret);
    page.fill("Refresh token", token);
    page.select("Privacy", "unlisted");
    page.click("button", "Create destination");
    page.get("button", "Delete Channel");
    let shown = text(&page);
    assert!(shown.contains("(youtube, unlisted)"), "{shown}");
    assert!(!shown.contains(secret) && !shown.contains(token), "{shown}");
    assert!(
        shown.contains("7890"),
        "the masked token's last four: {shown}"
    );
    assert_fits(&page, 375);
    page.screenshot(&docs("dashboard-account-phone.png"));

    // Delete the playlist and the destination: a second press confirms.
    page.click("button", "Delete Launch");
    page.click("button", "Confirm delete Launch");
    wait_text(&page, "No playlists yet.");
    page.click("button", "Delete Channel");
    page.click("button", "Confirm delete Channel");
    wait_text(&page, "No destinations yet.");
    let lists = call(&c, "GET", "/api/v1/playlists", &key, None)
        .await
        .json();
    assert_eq!(lists["playlists"], json!([]));
    assert_fits(&page, 375);

    assert_eq!(page.errors(true), Vec::<String>::new());
    assert_eq!(page.dialogs(), Vec::<String>::new());
    assert_same_origin(&page, &origin);
    for url in page.requests() {
        assert!(!url.contains(&key), "the key was in a URL: {url}");
    }
    let _ = std::fs::remove_dir_all(&files);
    eprintln!(
        "dashboard account editors: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
