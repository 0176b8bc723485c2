//! Style profiles and the account overview over HTTP (SPEC §8): CRUD with the seed's
//! field names and validation, provider keys sealed and shown only masked (in every
//! response and log line), playlists applied by `playlist_id`, `GET /api/v1/account`.

use reelforge_testkit::server as support;

use serde_json::{json, Value};
use support::{call, ffmpeg_file, upload, Server};

fn font_profile() -> Value {
    json!({
        "profile_name": "Brand captions",
        "name": "Noto Sans",
        "size": 72,
        "bold": true,
        "italic": false,
        "underlined": false,
        "strikethrough": false,
        "caption_position": {"overlay_visualizer": "Custom", "x": "(main_w-overlay_w)/2", "y": "main_h*0.1"},
        "caption_style_color": "#00FF00",
        "caption_style_stroke_color": "#000000",
        "caption_style_stroke_thickness": 4,
        "caption_shadow_x_pos": 2,
        "caption_shadow_y_pos": 2,
        "caption_shadow_color": "#000000",
        "caption_shadow_blur": 2,
        "caption_lines": 2,
        "caption_highlighter": true,
        "caption_highlighter_color": "#FF00FF"
    })
}

#[tokio::test]
async fn font_profiles_round_trip_with_the_seeds_names_and_stay_in_their_account() {
    let s = Server::api(&[]);
    let (_, key) = s.account("scale", &[]);
    let (_, other) = s.account("scale", &[]);
    let c = s.client();
    let created = call(
        &c,
        "POST",
        "/api/v1/font-profiles",
        &key,
        Some(&font_profile()),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let fp = created.json()["font_profile"].clone();
    let id = fp["font_profile_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("fp_"));
    assert_eq!(fp["caption_style_color"], "#00FF00");
    assert_eq!(fp["caption_position"]["y"], "main_h*0.1");

    let got = call(
        &c,
        "GET",
        &format!("/api/v1/font-profiles/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["font_profile"], fp);
    let list = call(&c, "GET", "/api/v1/font-profiles", &key, None).await;
    assert_eq!(list.json()["font_profiles"], json!([fp]));

    let mut edited = font_profile();
    edited["size"] = json!(90);
    let put = call(
        &c,
        "PUT",
        &format!("/api/v1/font-profiles/{id}"),
        &key,
        Some(&edited),
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.json());
    assert_eq!(put.json()["font_profile"]["size"], 90);

    // Another account sees nothing and can change nothing.
    for (method, body) in [("GET", None), ("PUT", Some(&edited)), ("DELETE", None)] {
        let r = call(
            &c,
            method,
            &format!("/api/v1/font-profiles/{id}"),
            &other,
            body,
        )
        .await;
        assert_eq!(r.status, 404, "{method}");
    }
    let theirs = call(&c, "GET", "/api/v1/font-profiles", &other, None).await;
    assert_eq!(theirs.json()["font_profiles"], json!([]));

    let del = call(
        &c,
        "DELETE",
        &format!("/api/v1/font-profiles/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(del.status, 200);
    let gone = call(
        &c,
        "GET",
        &format!("/api/v1/font-profiles/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(gone.status, 404);
    let again = call(
        &c,
        "DELETE",
        &format!("/api/v1/font-profiles/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(again.status, 404);
    let patch = call(&c, "PATCH", "/api/v1/font-profiles", &key, None).await;
    assert_eq!(patch.status, 405);
}

#[tokio::test]
async fn invalid_profiles_are_refused_naming_the_field_and_nothing_is_stored() {
    let s = Server::api(&[]);
    let (_, key) = s.account("scale", &[]);
    let c = s.client();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("caption_style_color", json!("red"), "caption_style_color"),
        ("caption_style_color", json!("#FFF"), "caption_style_color"),
        (
            "caption_style_stroke_color",
            json!("#GGGGGG"),
            "caption_style_stroke_color",
        ),
        ("size", json!(7), "size"),
        ("size", json!(201), "size"),
        (
            "caption_style_stroke_thickness",
            json!(21),
            "caption_style_stroke_thickness",
        ),
        ("caption_shadow_x_pos", json!(-51), "caption_shadow_x_pos"),
        ("caption_lines", json!(0), "caption_lines"),
        ("name", json!("Noto; rm -rf"), "name"),
    ];
    for (field, value, named) in cases {
        let mut body = font_profile();
        body[field] = value.clone();
        let r = call(&c, "POST", "/api/v1/font-profiles", &key, Some(&body)).await;
        assert_eq!(r.status, 400, "{field}={value}");
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains(named), "{field}={value}: {error}");
    }
    // Position expressions: only the small arithmetic grammar, never filter syntax.
    let long = "1+".repeat(5_000) + "1";
    for bad in [
        "0:enable='between(t,0,5)'",
        "main_w;drawtext=text=x",
        "[in]",
        "\"1\"",
        "'1'",
        "if(1,2,3)",
        "random(1)",
        "t",
        "main_w,overlay_w",
        "1/0",
        "(",
        long.as_str(),
    ] {
        let mut body = font_profile();
        body["caption_position"]["x"] = json!(bad);
        let r = call(&c, "POST", "/api/v1/font-profiles", &key, Some(&body)).await;
        assert_eq!(r.status, 400, "{bad:.40}");
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            error.len() < 300,
            "the error does not echo 10 KB: {}",
            error.len()
        );
    }
    for (path, body) in [
        ("/api/v1/font-profiles", json!([1, 2])),
        ("/api/v1/voice-profiles", json!({"provider_id": "nope"})),
        (
            "/api/v1/voices",
            json!({"voice_name": "V", "voice_profile_id": "vp_missing", "provider_voice_id": "Joanna"}),
        ),
        (
            "/api/v1/playlists",
            json!({"playlist_name": "P", "font_profile_id": "fp_missing"}),
        ),
        (
            "/api/v1/media-profiles",
            json!({"profile_name": "M", "watermark_position": "center"}),
        ),
        (
            "/api/v1/media-profiles",
            json!({"profile_name": "M", "watermark_path": "videos/x/y.png"}),
        ),
    ] {
        let r = call(&c, "POST", path, &key, Some(&body)).await;
        assert_eq!(r.status, 400, "{path} {body}: {:?}", r.json());
    }
    for path in [
        "font-profiles",
        "voice-profiles",
        "voices",
        "playlists",
        "media-profiles",
    ] {
        let list = call(&c, "GET", &format!("/api/v1/{path}"), &key, None).await;
        assert_eq!(list.status, 200);
        let (_, records) = list
            .json()
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| *k != "success")
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap();
        assert_eq!(records, json!([]), "{path}: nothing stored");
    }
}

#[tokio::test]
async fn provider_keys_are_sealed_and_never_shown_or_logged_in_full() {
    let (s, log) = Server::api_logged(&[]);
    let (_, key) = s.account("scale", &[]);
    let c = s.client();
    let secret = "sk_el_7f3a9c2e4b1d8f6a0c5e9b2d4f7a1c3e";
    let created = call(
        &c,
        "POST",
        "/api/v1/voice-profiles",
        &key,
        Some(&json!({"profile_name": "Narrator", "provider_id": "elevenlabs", "region": "westus2", "api_key": secret})),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let vp = created.json()["voice_profile"].clone();
    let id = vp["voice_profile_id"].as_str().unwrap().to_string();
    assert_eq!(vp["api_key"], "…1c3e");
    assert_eq!(vp["provider_name"], "ElevenLabs");
    // An update without the key keeps it; the stored form is sealed.
    let put = call(
        &c,
        "PUT",
        &format!("/api/v1/voice-profiles/{id}"),
        &key,
        Some(&json!({"profile_name": "Narrator 2", "provider_id": "elevenlabs"})),
    )
    .await;
    assert_eq!(put.status, 200);
    assert_eq!(put.json()["voice_profile"]["api_key"], "…1c3e");
    let voice = call(
        &c,
        "POST",
        "/api/v1/voices",
        &key,
        Some(&json!({"voice_name": "Rachel", "voice_profile_id": id, "provider_voice_id": "21m00Tcm4TlvDq8ikWAM"})),
    )
    .await;
    assert_eq!(voice.status, 201, "{:?}", voice.json());

    let mut seen = String::new();
    for path in [
        format!("/api/v1/voice-profiles/{id}"),
        "/api/v1/voice-profiles".to_string(),
        "/api/v1/account".to_string(),
    ] {
        let r = call(&c, "GET", &path, &key, None).await;
        assert_eq!(r.status, 200, "{path}");
        seen.push_str(&String::from_utf8_lossy(&r.body));
    }
    seen.push_str(&String::from_utf8_lossy(&created.body));
    seen.push_str(&String::from_utf8_lossy(&put.body));
    assert!(seen.contains("…1c3e"));
    assert!(
        !seen.contains(secret),
        "a response carries the provider key"
    );
    assert!(!seen.contains(&key), "a response carries the API key");
    // Nor the database (sealed at rest), nor the log.
    let db = std::fs::read(s.data.join("reelforge.db")).unwrap();
    let wal = std::fs::read(s.data.join("reelforge.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the provider key is stored in the clear"
        );
    }
    drop(s);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains(secret), "the provider key was logged");
    assert!(!logged.contains(&key), "the API key was logged");
}

#[tokio::test]
async fn the_account_overview_shows_plan_usage_keys_profiles_and_videos() {
    let s = Server::api(&[]);
    let (account_id, key) = s.account("growth", &[]);
    let c = s.client();
    let fp = call(
        &c,
        "POST",
        "/api/v1/font-profiles",
        &key,
        Some(&font_profile()),
    )
    .await;
    let fp_id = fp.json()["font_profile"]["font_profile_id"]
        .as_str()
        .unwrap()
        .to_string();
    let pl = call(
        &c,
        "POST",
        "/api/v1/playlists",
        &key,
        Some(&json!({"playlist_name": "Launch", "font_profile_id": fp_id})),
    )
    .await;
    assert_eq!(pl.status, 201, "{:?}", pl.json());
    let pl_id = pl.json()["playlist"]["playlist_id"]
        .as_str()
        .unwrap()
        .to_string();
    // playlist_id on a campaign: unknown → 400 and nothing reserved; known → 201.
    let unknown = c
        .create(
            &key,
            &json!({"url": "https://example.com/", "languages": ["en"], "playlist_id": "pl_nope"}),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.json()["error"]
        .as_str()
        .unwrap()
        .contains("playlist_id"));
    let created = c
        .create(&key, &json!({"url": "https://example.com/", "languages": ["en", "ja"], "playlist_id": pl_id}))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json());

    let r = call(&c, "GET", "/api/v1/account", &key, None).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let a = r.json();
    assert_eq!(a["account_id"], account_id);
    assert_eq!(a["plan"]["name"], "growth");
    assert_eq!(a["plan"]["videos_per_month"], 40);
    assert_eq!(a["plan"]["languages_per_campaign"], 5);
    assert_eq!(a["usage"]["videos_used"], 2);
    assert_eq!(a["usage"]["videos_remaining"], 38);
    assert!(a["usage"]["period_start"]
        .as_str()
        .unwrap()
        .ends_with("-01T00:00:00Z"));
    let keys = a["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0]["display"].as_str().unwrap().contains('…')
            || keys[0]["display"].as_str().unwrap().len() < key.len()
    );
    assert!(!r.body.windows(key.len()).any(|w| w == key.as_bytes()));
    assert_eq!(a["total_font_profiles"], 1);
    assert_eq!(a["total_playlists"], 1);
    assert_eq!(a["playlists"][0]["font_profile_id"], fp_id);
    assert_eq!(a["videos"].as_array().unwrap().len(), 2);
    assert_eq!(a["videos"][0]["playlist"], pl_id);
    assert_eq!(a["videos"][0]["resolution"], "1080x1920");
    assert_eq!(a["total_videos"], 0, "none produced yet");
    for field in [
        "avg_credits_per_video_weekly",
        "avg_credits_per_video_increase_monthly",
        "created_videos_increase_yearly",
        "total_credits",
    ] {
        assert!(a[field].is_number(), "{field}");
    }
    // Free plans get the same 403 as every route.
    let (_, free) = s.account("free", &[]);
    assert_eq!(
        call(&c, "GET", "/api/v1/account", &free, None).await.status,
        403
    );
}

#[tokio::test]
async fn media_files_are_uploaded_checked_and_kept_in_their_account() {
    let s = Server::api(&[]);
    let (account, key) = s.account("scale", &[]);
    let (_, other) = s.account("scale", &[]);
    let c = s.client();
    let mp = call(
        &c,
        "POST",
        "/api/v1/media-profiles",
        &key,
        Some(&json!({"profile_name": "Brand", "watermark_position": "bottom_left"})),
    )
    .await;
    assert_eq!(mp.status, 201, "{:?}", mp.json());
    let id = mp.json()["media_profile"]["media_profile_id"]
        .as_str()
        .unwrap()
        .to_string();
    let png = ffmpeg_file(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=120x60",
            "-frames:v",
            "1",
        ],
        "png",
    );
    let clip = ffmpeg_file(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=320x240:d=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-shortest",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
        "mp4",
    );
    let watermark_path = format!("/api/v1/media-profiles/{id}/watermark");
    let clip_path = format!("/api/v1/media-profiles/{id}/end-clip");

    // Refused: another type than declared, not an image, a broken image, too large,
    // another account's profile, a profile that does not exist.
    assert_eq!(
        upload(&c, &key, &watermark_path, "image/jpeg", &png)
            .await
            .status,
        400
    );
    assert_eq!(
        upload(
            &c,
            &key,
            &watermark_path,
            "image/svg+xml",
            b"<svg onload=alert(1)></svg>"
        )
        .await
        .status,
        400
    );
    let mut broken = png.clone();
    broken.truncate(40);
    assert_eq!(
        upload(&c, &key, &watermark_path, "image/png", &broken)
            .await
            .status,
        400
    );
    let huge = vec![0u8; 2 * 1024 * 1024 + 1];
    assert_eq!(
        upload(&c, &key, &watermark_path, "image/png", &huge)
            .await
            .status,
        413
    );
    assert_eq!(
        upload(&c, &key, &clip_path, "video/mp4", &png).await.status,
        400
    );
    assert_eq!(
        upload(&c, &other, &watermark_path, "image/png", &png)
            .await
            .status,
        404
    );
    assert_eq!(
        upload(
            &c,
            &key,
            "/api/v1/media-profiles/mp_nope/watermark",
            "image/png",
            &png
        )
        .await
        .status,
        404
    );
    let after_refusals = call(
        &c,
        "GET",
        &format!("/api/v1/media-profiles/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(
        after_refusals.json()["media_profile"]["watermark_key"],
        Value::Null
    );

    let ok = upload(&c, &key, &watermark_path, "image/png", &png).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json());
    let ok = upload(&c, &key, &clip_path, "video/mp4", &clip).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json());
    let m = ok.json()["media_profile"].clone();
    assert_eq!(
        m["watermark_key"],
        format!("uploads/{account}/{id}/watermark.png")
    );
    assert_eq!(
        m["end_clip_key"],
        format!("uploads/{account}/{id}/end-clip.mp4")
    );
    assert_eq!(
        std::fs::read(
            s.data
                .join("media")
                .join(m["watermark_key"].as_str().unwrap())
        )
        .unwrap(),
        png
    );
    // A profile update keeps the files and can't point them elsewhere.
    let put = call(
        &c,
        "PUT",
        &format!("/api/v1/media-profiles/{id}"),
        &key,
        Some(&json!({"profile_name": "Brand 2", "watermark_position": "top_left"})),
    )
    .await;
    assert_eq!(put.status, 200);
    assert_eq!(
        put.json()["media_profile"]["watermark_key"],
        m["watermark_key"]
    );
    let steal = call(
        &c,
        "PUT",
        &format!("/api/v1/media-profiles/{id}"),
        &key,
        Some(&json!({"profile_name": "X", "watermark_path": "uploads/acct_other/mp_x/watermark.png"})),
    )
    .await;
    assert_eq!(steal.status, 400);
}

#[tokio::test]
async fn a_playlists_voice_profile_must_name_this_deployments_voice_engine() {
    let s = Server::api(&[]);
    let (_, key) = s.account("scale", &[]);
    let c = s.client();
    let mut playlist_for = Vec::new();
    for (provider, voice) in [
        ("polly", "Joanna"),
        ("espeak", "Joanna"),
        ("espeak", "en-us+f3"),
    ] {
        let vp = call(
            &c,
            "POST",
            "/api/v1/voice-profiles",
            &key,
            Some(&json!({"profile_name": provider, "provider_id": provider})),
        )
        .await;
        let vp_id = vp.json()["voice_profile"]["voice_profile_id"]
            .as_str()
            .unwrap()
            .to_string();
        let v = call(
            &c,
            "POST",
            "/api/v1/voices",
            &key,
            Some(&json!({"voice_name": voice, "voice_profile_id": vp_id, "provider_voice_id": voice})),
        )
        .await;
        assert_eq!(v.status, 201, "{:?}", v.json());
        let pl = call(
            &c,
            "POST",
            "/api/v1/playlists",
            &key,
            Some(&json!({"playlist_name": provider, "voice_profile_id": vp_id})),
        )
        .await;
        playlist_for.push(
            pl.json()["playlist"]["playlist_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let create =
        |pl: &str| json!({"url": "https://example.com/", "languages": ["en"], "playlist_id": pl});
    // The local server speaks with espeak-ng: a Polly profile can't be honoured.
    let polly = c.create(&key, &create(&playlist_for[0])).await;
    assert_eq!(polly.status, 400);
    let error = polly.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("Amazon Polly") && error.contains("eSpeak"),
        "{error}"
    );
    // An espeak profile whose voice is not an espeak-ng voice name.
    let bad = c.create(&key, &create(&playlist_for[1])).await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]
        .as_str()
        .unwrap()
        .contains("espeak-ng voice"));
    let ok = c.create(&key, &create(&playlist_for[2])).await;
    assert_eq!(ok.status, 201, "{:?}", ok.json());
    // Refused creates reserved nothing.
    let a = call(&c, "GET", "/api/v1/account", &key, None).await.json();
    assert_eq!(a["usage"]["videos_used"], 1);
}

/// A media profile's music (`PUT …/music`): MP3, M4A and WAV are told apart by their
/// bytes and measured (MP3 by walking every frame), at most 5 minutes; anything else,
/// a broken MP3 or a longer track is a 400 that names the problem and changes nothing.
#[tokio::test]
async fn music_is_checked_by_its_bytes_and_length() {
    let s = Server::api(&[]);
    let (account, key) = s.account("scale", &[]);
    let c = s.client();
    let mp = call(
        &c,
        "POST",
        "/api/v1/media-profiles",
        &key,
        Some(&json!({"profile_name": "Music"})),
    )
    .await;
    assert_eq!(mp.status, 201, "{:?}", mp.json());
    let id = mp.json()["media_profile"]["media_profile_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/media-profiles/{id}/music");
    let tone = |secs: u32, args: &[&str], ext: &str| {
        let src = format!("sine=frequency=330:sample_rate=8000:duration={secs}");
        let mut all = vec!["-f", "lavfi", "-i", src.as_str()];
        all.extend_from_slice(args);
        ffmpeg_file(&all, ext)
    };
    let mp3 = tone(3, &["-c:a", "libmp3lame", "-b:a", "32k"], "mp3");
    let m4a = tone(3, &["-c:a", "aac"], "m4a");
    let wav = tone(3, &["-ac", "1"], "wav");
    let long = tone(301, &["-ac", "1"], "wav");
    let ogg = tone(3, &["-c:a", "libopus"], "ogg");
    let mut broken = mp3.clone();
    let half = broken.len() / 2;
    broken[half..].iter_mut().for_each(|b| *b = 0x5A);

    for (what, content_type, body, needle) in [
        ("over 5 min", "audio/wav", &long, "at most 300 s"),
        ("Ogg", "audio/ogg", &ogg, "MP3, M4A or WAV"),
        ("broken MP3", "audio/mpeg", &broken, "frames don't chain"),
        (
            "mislabelled",
            "audio/wav",
            &mp3,
            "Content-Type must be audio/mpeg",
        ),
    ] {
        let r = upload(&c, &key, &path, content_type, body).await;
        assert_eq!(r.status, 400, "{what}: {:?}", r.json());
        let error = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains(needle), "{what}: {error}");
    }
    let profile = call(
        &c,
        "GET",
        &format!("/api/v1/media-profiles/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(profile.json()["media_profile"]["music"], Value::Null);

    for (content_type, body, ext) in [
        ("audio/mpeg", &mp3, "mp3"),
        ("audio/mp4", &m4a, "m4a"),
        ("audio/wav", &wav, "wav"),
    ] {
        let r = upload(&c, &key, &path, content_type, body).await;
        assert_eq!(r.status, 200, "{content_type}: {:?}", r.json());
        let stored = r.json()["media_profile"]["music"].clone();
        assert_eq!(stored, format!("uploads/{account}/{id}/music.{ext}"));
        assert_eq!(
            &std::fs::read(s.data.join("media").join(stored.as_str().unwrap())).unwrap(),
            body
        );
    }
}
