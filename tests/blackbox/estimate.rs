//! Black-box tests of POST /api/v1/estimate (SPEC §9) against `reelforge serve`: every row
//! of every table in the credit-costs seed, priced through HTTP, plus the refusals.

use reelforge_testkit::server as support;

use serde_json::{json, Value};
use support::{Client, Response, Server};

const PATH: &str = "/api/v1/estimate";
const MIN: f64 = 60.0;

/// One server, one key, and a client that moves to a fresh source IP every 50 requests
/// (the per-IP authenticated layer admits 120 a minute).
struct Api {
    server: Server,
    key: String,
    client: Client,
    sent: usize,
}

impl Api {
    fn new(plan: &str) -> Api {
        let server = Server::api(&[]);
        let (_, key) = server.account(plan, &[]);
        let client = server.client();
        Api {
            server,
            key,
            client,
            sent: 0,
        }
    }

    async fn request(&mut self, method: &str, body: Option<&[u8]>) -> Response {
        if self.sent == 50 {
            self.client = self.server.client();
            self.sent = 0;
        }
        self.sent += 1;
        let auth = format!("Bearer {}", self.key);
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        self.client.request(method, PATH, &headers, body).await
    }

    async fn post_raw(&mut self, raw: &[u8]) -> Response {
        self.request("POST", Some(raw)).await
    }

    /// Posts `body`, checks the success shape, and returns (credits, breakdown).
    async fn price(&mut self, body: &Value) -> (u64, Vec<(String, f64)>) {
        let r = self.post_raw(body.to_string().as_bytes()).await;
        assert_eq!(
            r.status,
            200,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v = r.json();
        let obj = v.as_object().expect("object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["breakdown", "credits", "success"], "{v}");
        assert_eq!(v["success"], json!(true));
        let credits = v["credits"]
            .as_u64()
            .unwrap_or_else(|| panic!("credits must be a whole number: {v}"));
        let items: Vec<(String, f64)> = v["breakdown"]
            .as_array()
            .expect("breakdown array")
            .iter()
            .map(|i| {
                let item = i["item"].as_str().expect("item string").to_string();
                let c = i["credits"].as_f64().expect("item credits number");
                assert!(c > 0.0, "{v}");
                (item, c)
            })
            .collect();
        let sum: f64 = items.iter().map(|(_, c)| c).sum();
        assert!(
            (sum - credits as f64).abs() < 1e-9,
            "breakdown adds up to {sum}, not {credits}: {v}"
        );
        (credits, items)
    }

    /// Prices every row and checks its credits, naming the seed row on failure.
    async fn rows(&mut self, rows: &[(&str, Value, u64)]) {
        for (row, body, expected) in rows {
            let (credits, items) = self.price(body).await;
            assert_eq!(credits, *expected, "seed row {row:?}: {body} -> {items:?}");
        }
    }

    async fn refused(&mut self, raw: &[u8], status: u16, message_part: &str) -> Response {
        let r = self.post_raw(raw).await;
        assert_error(&r, status, message_part);
        r
    }
}

fn assert_error(r: &Response, status: u16, message_part: &str) {
    assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["success"], json!(false), "{v}");
    let msg = v["error"].as_str().expect("error string");
    assert!(msg.contains(message_part), "{msg:?} lacks {message_part:?}");
}

fn item(name: &str, credits: f64) -> (String, f64) {
    (name.to_string(), credits)
}

const ROUNDING: &str = "rounding up to a whole credit";

#[tokio::test]
async fn viral_captions_table() {
    let mut api = Api::new("scale");
    api.rows(&[
        (
            "1 minute, no face tracking",
            json!({"kind": "viral_captions", "duration_seconds": MIN}),
            3,
        ),
        (
            "1 minute, face tracking",
            json!({"kind": "viral_captions", "duration_seconds": MIN, "face_tracking": true}),
            4,
        ),
        (
            "3 minutes, no face tracking",
            json!({"kind": "viral_captions", "duration_seconds": 3.0 * MIN, "face_tracking": false}),
            5,
        ),
        (
            "3 minutes, face tracking",
            json!({"kind": "viral_captions", "duration_seconds": 3.0 * MIN, "face_tracking": true}),
            8,
        ),
    ])
    .await;
    let (_, items) = api
        .price(&json!({"kind": "viral_captions", "duration_seconds": 180, "face_tracking": true}))
        .await;
    assert_eq!(
        items,
        vec![
            item("render (1 per rendered minute)", 3.0),
            item("transcription", 1.0),
            item("caption analysis", 1.0),
            item("face tracking (1 per rendered minute, minimum 1)", 3.0),
        ]
    );
    // Partial minutes are pro rata and the total is rounded up: 90 s = 1.5 + 2 + 1.5.
    let (credits, _) = api
        .price(&json!({"kind": "viral_captions", "duration_seconds": 90, "face_tracking": true}))
        .await;
    assert_eq!(credits, 5);
    let (credits, items) = api
        .price(&json!({"kind": "viral_captions", "duration_seconds": 30}))
        .await;
    assert_eq!(credits, 3);
    assert_eq!(items.last(), Some(&item(ROUNDING, 0.5)));
}

#[tokio::test]
async fn ai_dubbing_table() {
    let mut api = Api::new("scale");
    let m3 = 3.0 * MIN;
    api.rows(&[
        (
            "3 minutes, transcript supplied, catalog voice",
            json!({"kind": "ai_dubbing", "duration_seconds": m3, "transcript_supplied": true}),
            3,
        ),
        (
            "3 minutes, no transcript, catalog voice",
            json!({"kind": "ai_dubbing", "duration_seconds": m3}),
            6,
        ),
        (
            "3 minutes, no transcript, clone voice, video background preserved",
            json!({"kind": "ai_dubbing", "duration_seconds": m3, "transcript_supplied": false,
                   "voice_clone": true, "preserve_background": true}),
            14,
        ),
        (
            "3 minutes, multi-speaker",
            json!({"kind": "ai_dubbing", "duration_seconds": m3, "multi_speaker": true}),
            11,
        ),
    ])
    .await;
    // Reading of the multi-speaker row: transcription 3 + dubbing 3 + 5.
    let (_, items) = api
        .price(&json!({"kind": "ai_dubbing", "duration_seconds": m3, "multi_speaker": true}))
        .await;
    assert_eq!(
        items,
        vec![
            item("transcription (1 per minute)", 3.0),
            item("dubbing (1 per minute)", 3.0),
            item("voice clone / multi-speaker", 5.0),
        ]
    );
    // Voice clone and multi-speaker together add 5 once.
    let (credits, _) = api
        .price(&json!({"kind": "ai_dubbing", "duration_seconds": m3,
                       "voice_clone": true, "multi_speaker": true}))
        .await;
    assert_eq!(credits, 11);
}

#[tokio::test]
async fn ai_clipping_table() {
    let mut api = Api::new("scale");
    api.rows(&[
        (
            "Selected segments, dynamicCaptions false = +5 API credits",
            json!({"kind": "ai_clipping", "duration_seconds": 600, "dynamic_captions": false}),
            5,
        ),
        (
            "AI-selected clips = pipeline credits + 5 API credits",
            json!({"kind": "ai_clipping", "duration_seconds": 600, "pipeline_credits": 12}),
            17,
        ),
        (
            "AI-selected clips with dynamicCaptions true = pipeline + Viral Captions analysis + 5",
            json!({"kind": "ai_clipping", "duration_seconds": 600, "pipeline_credits": 12,
                   "dynamic_captions": true}),
            19,
        ),
        (
            "YouTube transcript fetched = any AI Clipping job + 1 (selected segments)",
            json!({"kind": "ai_clipping", "duration_seconds": 600,
                   "youtube_transcript_fetched": true}),
            6,
        ),
        (
            "YouTube transcript fetched = any AI Clipping job + 1 (AI-selected)",
            json!({"kind": "ai_clipping", "duration_seconds": 600, "pipeline_credits": 12,
                   "youtube_transcript_fetched": true}),
            18,
        ),
        (
            "YouTube transcript fetched = any AI Clipping job + 1 (dynamic captions)",
            json!({"kind": "ai_clipping", "duration_seconds": 600, "pipeline_credits": 12,
                   "dynamic_captions": true, "youtube_transcript_fetched": true}),
            20,
        ),
    ])
    .await;
    let (credits, items) = api
        .price(
            &json!({"kind": "ai_clipping", "duration_seconds": 0, "pipeline_credits": 12.25,
                       "dynamic_captions": true}),
        )
        .await;
    assert_eq!(credits, 20);
    assert_eq!(
        items,
        vec![
            item("AI clipping pipeline", 12.25),
            item("API orchestration", 5.0),
            item(
                "Viral Captions analysis (transcription 1 + caption analysis 1)",
                2.0
            ),
            item(ROUNDING, 0.75),
        ]
    );
}

#[tokio::test]
async fn text_to_speech_table() {
    let mut api = Api::new("scale");
    api.rows(&[
        (
            "30 seconds generated speech",
            json!({"kind": "text_to_speech", "duration_seconds": 30}),
            3,
        ),
        (
            "1 minute generated speech",
            json!({"kind": "text_to_speech", "duration_seconds": MIN}),
            5,
        ),
        (
            "1 minute generated speech with voice clone",
            json!({"kind": "text_to_speech", "duration_seconds": MIN, "voice_clone": true}),
            10,
        ),
        (
            "3 minutes generated speech",
            json!({"kind": "text_to_speech", "duration_seconds": 3.0 * MIN}),
            15,
        ),
    ])
    .await;
    let (_, items) = api
        .price(&json!({"kind": "text_to_speech", "duration_seconds": 30}))
        .await;
    assert_eq!(
        items,
        vec![
            item("speech generation (5 per minute, minimum 1)", 2.5),
            item(ROUNDING, 0.5),
        ]
    );
    // The 1-credit minimum: 6 s would be 0.5.
    let (credits, _) = api
        .price(&json!({"kind": "text_to_speech", "duration_seconds": 6}))
        .await;
    assert_eq!(credits, 1);
}

#[tokio::test]
async fn video_studio_table() {
    let mut api = Api::new("scale");
    let m3 = 3.0 * MIN;
    api.rows(&[
        (
            "1 minute render, no AI or add-ons",
            json!({"kind": "video_studio", "duration_seconds": MIN}),
            2,
        ),
        (
            "3 minute render, no AI or add-ons",
            json!({"kind": "video_studio", "duration_seconds": m3}),
            3,
        ),
        (
            "3 minute render with AI planning only",
            json!({"kind": "video_studio", "duration_seconds": m3, "ai_analysis": true}),
            5,
        ),
        (
            "3 minute render with AI planning, 4 images, 1 video",
            json!({"kind": "video_studio", "duration_seconds": m3, "ai_analysis": true,
                   "images": 4, "videos": 1}),
            7,
        ),
        (
            "3 minute render with BGM or SFX",
            json!({"kind": "video_studio", "duration_seconds": m3, "bgm_or_sfx": true}),
            4,
        ),
        (
            "3 minute render with voiceover",
            json!({"kind": "video_studio", "duration_seconds": m3, "voiceover": true}),
            18,
        ),
    ])
    .await;
    let (_, items) = api
        .price(
            &json!({"kind": "video_studio", "duration_seconds": m3, "ai_analysis": true,
                       "images": 4, "videos": 1, "audio_files": 2}),
        )
        .await;
    assert_eq!(
        items,
        vec![
            item("render (1 per rendered minute, minimum 2)", 3.0),
            item("AI planning", 2.0),
            item("vision analysis: images (0.25 each)", 1.0),
            item("vision analysis: videos (1 each)", 1.0),
            item("audio analysis (1 per audio file)", 2.0),
        ]
    );
    // Vision and audio analysis are charged only with AI analysis.
    let (credits, _) = api
        .price(&json!({"kind": "video_studio", "duration_seconds": m3,
                       "images": 4, "videos": 1, "audio_files": 2}))
        .await;
    assert_eq!(credits, 3);
    // 3 images = 0.75: the total is rounded up at the end.
    let (credits, items) = api
        .price(
            &json!({"kind": "video_studio", "duration_seconds": m3, "ai_analysis": true,
                       "images": 3}),
        )
        .await;
    assert_eq!(credits, 6);
    assert_eq!(items.last(), Some(&item(ROUNDING, 0.25)));
}

#[tokio::test]
async fn enhance_audio_table() {
    let mut api = Api::new("scale");
    api.rows(&[
        (
            "1 minute",
            json!({"kind": "enhance_audio", "duration_seconds": MIN}),
            7,
        ),
        (
            "3 minutes",
            json!({"kind": "enhance_audio", "duration_seconds": 3.0 * MIN}),
            20,
        ),
        (
            "10 minutes",
            json!({"kind": "enhance_audio", "duration_seconds": 10.0 * MIN}),
            65,
        ),
    ])
    .await;
    let (_, items) = api
        .price(&json!({"kind": "enhance_audio", "duration_seconds": 60}))
        .await;
    assert_eq!(
        items,
        vec![
            item("audio enhancement (0.10816 per second, minimum 1)", 6.4896),
            item(ROUNDING, 0.5104),
        ]
    );
    // Exact arithmetic: 12 500 s × 0.10816 is 1352 credits, not 1353.
    let (credits, items) = api
        .price(&json!({"kind": "enhance_audio", "duration_seconds": 12500}))
        .await;
    assert_eq!(credits, 1352);
    assert_eq!(items.len(), 1);
}

#[tokio::test]
async fn social_media_transcript_rounds_up_to_whole_minutes() {
    // The seed has no table for this kind; these are its sentence, row by row.
    let mut api = Api::new("scale");
    api.rows(&[
        (
            "1 minute",
            json!({"kind": "social_media_transcript", "duration_seconds": 60}),
            1,
        ),
        (
            "61 seconds is 2 started minutes",
            json!({"kind": "social_media_transcript", "duration_seconds": 61}),
            2,
        ),
        (
            "1 second",
            json!({"kind": "social_media_transcript", "duration_seconds": 1}),
            1,
        ),
        (
            "3 minutes",
            json!({"kind": "social_media_transcript", "duration_seconds": 180}),
            3,
        ),
    ])
    .await;
}

#[tokio::test]
async fn zero_and_maximum_durations() {
    let mut api = Api::new("scale");
    // 0 seconds is accepted: the stated minimum charges apply.
    api.rows(&[
        (
            "viral captions minimum",
            json!({"kind": "viral_captions", "duration_seconds": 0}),
            2,
        ),
        (
            "text to speech minimum",
            json!({"kind": "text_to_speech", "duration_seconds": 0}),
            1,
        ),
        (
            "video studio minimum",
            json!({"kind": "video_studio", "duration_seconds": 0}),
            2,
        ),
        (
            "video studio voiceover minimum",
            json!({"kind": "video_studio", "duration_seconds": 0, "voiceover": true}),
            3,
        ),
        (
            "enhance audio minimum",
            json!({"kind": "enhance_audio", "duration_seconds": 0}),
            1,
        ),
        (
            "ai clipping orchestration",
            json!({"kind": "ai_clipping", "duration_seconds": 0}),
            5,
        ),
        (
            "social media transcript has no minimum",
            json!({"kind": "social_media_transcript", "duration_seconds": 0}),
            0,
        ),
        (
            "24 hours is the cap",
            json!({"kind": "social_media_transcript", "duration_seconds": 86400}),
            1440,
        ),
        (
            "largest counts",
            json!({"kind": "video_studio", "duration_seconds": 86400, "ai_analysis": true,
                   "images": 10000, "videos": 10000, "audio_files": 10000}),
            1440 + 2 + 2500 + 10000 + 10000,
        ),
    ])
    .await;
    let (credits, items) = api
        .price(&json!({"kind": "ai_dubbing", "duration_seconds": 0}))
        .await;
    assert_eq!((credits, items), (0, vec![]));
}

#[tokio::test]
async fn bad_bodies_are_400_naming_what_is_allowed() {
    let mut api = Api::new("scale");
    let kinds = "viral_captions, ai_dubbing, ai_clipping, text_to_speech, \
                 social_media_transcript, video_studio, enhance_audio";
    let cases: &[(&[u8], &str)] = &[
        (b"", "valid JSON"),
        (b"{\"kind\":", "valid JSON"),
        (b"[\"viral_captions\", 60]", "JSON object"),
        (b"\"viral_captions\"", "JSON object"),
        (br#"{"duration_seconds": 60}"#, "kind is required"),
        (br#"{"kind": null, "duration_seconds": 60}"#, "kind is required"),
        (br#"{"kind": 7, "duration_seconds": 60}"#, "kind must be a string"),
        (
            br#"{"kind": "voiceover", "duration_seconds": 60}"#,
            "Unknown kind \"voiceover\"; allowed kinds: ",
        ),
        (
            br#"{"kind": "Viral_Captions", "duration_seconds": 60}"#,
            "Unknown kind",
        ),
        (br#"{"kind": "viral_captions"}"#, "duration_seconds is required"),
        (
            br#"{"kind": "viral_captions", "duration_seconds": "60"}"#,
            "duration_seconds must be a number from 0 to 86400",
        ),
        (
            br#"{"kind": "viral_captions", "duration_seconds": -1}"#,
            "duration_seconds must be a number from 0 to 86400",
        ),
        (
            br#"{"kind": "viral_captions", "duration_seconds": -0.001}"#,
            "duration_seconds must be",
        ),
        (
            br#"{"kind": "viral_captions", "duration_seconds": 86401}"#,
            "duration_seconds must be",
        ),
        (
            br#"{"kind": "viral_captions", "duration_seconds": 1e999}"#,
            "valid JSON",
        ),
        (
            br#"{"kind": "viral_captions", "duration_seconds": NaN}"#,
            "valid JSON",
        ),
        (
            br#"{"kind": "viral_captions", "duration_seconds": 60, "face_tracking": "true"}"#,
            "face_tracking must be true or false",
        ),
        (
            br#"{"kind": "ai_dubbing", "duration_seconds": 60, "voice_clone": 1}"#,
            "voice_clone must be true or false",
        ),
        (
            br#"{"kind": "ai_dubbing", "duration_seconds": 60, "face_tracking": true}"#,
            "\"face_tracking\" is an option of viral_captions, not of ai_dubbing; allowed \
             fields: kind, duration_seconds, transcript_supplied, voice_clone, multi_speaker, \
             preserve_background",
        ),
        (
            br#"{"kind": "text_to_speech", "duration_seconds": 60, "multi_speaker": true}"#,
            "allowed fields: kind, duration_seconds, voice_clone",
        ),
        (
            br#"{"kind": "video_studio", "duration_seconds": 60, "voice_clone": true}"#,
            "allowed fields: kind, duration_seconds, ai_analysis, images, videos, audio_files, \
             bgm_or_sfx, voiceover",
        ),
        (
            br#"{"kind": "enhance_audio", "duration_seconds": 60, "provider": "x"}"#,
            "Unknown field \"provider\" for kind enhance_audio; allowed fields: kind, \
             duration_seconds",
        ),
        (
            br#"{"kind": "social_media_transcript", "duration_seconds": 60, "durationSeconds": 60}"#,
            "Unknown field \"durationSeconds\"",
        ),
        (
            br#"{"kind": "video_studio", "duration_seconds": 60, "images": -1}"#,
            "images must be a whole number from 0 to 10000",
        ),
        (
            br#"{"kind": "video_studio", "duration_seconds": 60, "images": 2.5}"#,
            "images must be a whole number",
        ),
        (
            br#"{"kind": "video_studio", "duration_seconds": 60, "videos": 10001}"#,
            "videos must be a whole number from 0 to 10000",
        ),
        (
            br#"{"kind": "video_studio", "duration_seconds": 60, "audio_files": "2"}"#,
            "audio_files must be a whole number",
        ),
        (
            br#"{"kind": "video_studio", "duration_seconds": 60, "voiceover": "yes"}"#,
            "voiceover must be true or false",
        ),
        (
            br#"{"kind": "ai_clipping", "duration_seconds": 60, "pipeline_credits": -5}"#,
            "pipeline_credits must be a number from 0 to 1000000",
        ),
        (
            br#"{"kind": "ai_clipping", "duration_seconds": 60, "pipeline_credits": "12"}"#,
            "pipeline_credits must be a number",
        ),
        (
            br#"{"kind": "ai_clipping", "duration_seconds": 60, "pipeline_credits": 1000001}"#,
            "pipeline_credits must be a number",
        ),
    ];
    for (raw, part) in cases {
        let r = api.refused(raw, 400, part).await;
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let r = api
        .refused(br#"{"kind": "x", "duration_seconds": 1}"#, 400, kinds)
        .await;
    assert_eq!(r.header("x-clipus-api-scopes"), Some("campaigns:create"));
}

#[tokio::test]
async fn auth_plan_method_and_size_rules() {
    let mut api = Api::new("growth");
    let body = json!({"kind": "viral_captions", "duration_seconds": 60}).to_string();
    // Not metered by the account's creation window (growth: 10 a minute): 15 estimates,
    // then a creation is still admitted.
    for _ in 0..15 {
        assert_eq!(api.price(&serde_json::from_str(&body).unwrap()).await.0, 3);
    }
    let r = api
        .client
        .create(
            &api.key,
            &json!({"url": "https://93.184.216.34/product", "languages": ["en"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", String::from_utf8_lossy(&r.body));

    let r = api.request("GET", None).await;
    assert_error(&r, 405, "Method not allowed");
    assert_eq!(r.header("allow"), Some("POST"));

    let mut big = body.clone().into_bytes();
    big.resize(16 * 1024 + 1, b' ');
    api.refused(&big, 413, "16 KiB").await;
    big.truncate(16 * 1024);
    assert_eq!(api.post_raw(&big).await.status, 200);

    let c = api.server.client();
    let r = c.request("POST", PATH, &[], Some(body.as_bytes())).await;
    assert_error(&r, 401, "Missing API key");

    for plan in ["free", "starter"] {
        let (_, key) = api.server.account(plan, &[]);
        let auth = format!("Bearer {key}");
        let r = c
            .request(
                "POST",
                PATH,
                &[("Authorization", &auth)],
                Some(body.as_bytes()),
            )
            .await;
        assert_error(&r, 403, "does not include API access");
        assert_eq!(r.header("x-ratelimit-plan"), Some(plan));
    }
}
