//! The AWS media adapters (Amazon Polly, AWS Elemental MediaConvert) on the exact requests
//! they send: the SDK clients are pointed at a loopback HTTP server started by each test,
//! which records every request and answers with a response shaped like the services'
//! documented ones. Nothing leaves 127.0.0.1.

use reelforge_testkit::stub_aws;

use reelforge_aws::mediaconvert::{
    caption_file, caption_key, client_request_token, job_settings, submit, JobTarget,
};
use reelforge_aws::mediaconvert_events::parse_job_state_change;
use reelforge_aws::polly::PollyVoice;
use reelforge_core::model::Language;
use reelforge_core::render::{
    caption_box, AudioTrack, CaptionCue, CaptionPosition, CaptionStyle, Captions, Corner, EndClip,
    FrameSize, RenderError, RenderPlan, Rgb, Scene, Shadow, Watermark, WordTiming,
};
use reelforge_core::voice::{parse_wav, VoiceError};
use reelforge_core::voice_engine::VoiceEngine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use stub_aws::{sdk_config, Canned, Recorded, Server};

fn temp_wav(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reelforge-aws-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

// ---------------------------------------------------------------------------------------
// Polly
// ---------------------------------------------------------------------------------------

/// One second of a 440 Hz sine at 16 kHz.
fn sine_samples() -> Vec<i16> {
    (0..16_000)
        .map(|i| {
            let t = i as f64 / 16_000.0;
            ((t * 440.0 * std::f64::consts::TAU).sin() * 12_000.0) as i16
        })
        .collect()
}

const MARKS: &str = concat!(
    r#"{"time":6,"type":"word","start":0,"end":4,"value":"Make"}"#,
    "\n",
    r#"{"time":251,"type":"word","start":5,"end":11,"value":"videos"}"#,
    "\n",
    r#"{"time":640,"type":"word","start":12,"end":16,"value":"fast"}"#,
    "\n"
);

fn polly_responder(pcm: Vec<u8>) -> impl Fn(&Recorded) -> Canned + Send + Sync + 'static {
    move |request: &Recorded| match request.json()["OutputFormat"].as_str() {
        Some("pcm") => Canned {
            status: 200,
            headers: vec![
                ("content-type", "audio/pcm".into()),
                ("x-amzn-requestcharacters", "15".into()),
            ],
            body: pcm.clone(),
        },
        Some("json") => Canned {
            status: 200,
            headers: vec![
                ("content-type", "application/x-json-stream".into()),
                ("x-amzn-requestcharacters", "15".into()),
            ],
            body: MARKS.as_bytes().to_vec(),
        },
        other => panic!("unexpected OutputFormat {other:?}"),
    }
}

#[tokio::test]
async fn polly_sends_two_neural_requests_and_writes_a_wav_with_the_marks_timings() {
    let samples = sine_samples();
    let pcm: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let server = Server::start(polly_responder(pcm)).await;
    let voice = PollyVoice::new(aws_sdk_polly::Client::new(
        &sdk_config(&server.endpoint).await,
    ));
    let out = temp_wav("polly-en.wav");

    let speech = voice
        .speak("  Make videos\n fast ", Language::En, &out)
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for r in &requests {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/speech"));
        let auth = r.header("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDLOOPBACKTEST/")
                && auth.contains("/us-east-1/polly/aws4_request"),
            "{auth}"
        );
    }
    let bodies: Vec<Value> = requests.iter().map(Recorded::json).collect();
    let audio = bodies.iter().find(|b| b["OutputFormat"] == "pcm").unwrap();
    let marks = bodies.iter().find(|b| b["OutputFormat"] == "json").unwrap();
    for body in [audio, marks] {
        assert_eq!(body["Engine"], "neural");
        assert_eq!(body["VoiceId"], "Joanna");
        assert_eq!(body["LanguageCode"], "en-US");
        assert_eq!(body["Text"], "Make videos fast");
    }
    assert_eq!(audio["SampleRate"], "16000");
    assert!(audio.get("SpeechMarkTypes").is_none(), "{audio}");
    assert_eq!(marks["SpeechMarkTypes"], json!(["word"]));

    let wav = parse_wav(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((wav.sample_rate, wav.channels), (16_000, 1));
    assert_eq!(wav.samples, samples);
    assert_eq!(wav.duration_seconds(), 1.0);
    assert_eq!(speech.wav, out);
    assert_eq!(speech.duration_seconds, 1.0);

    let got: Vec<(&str, f64, f64)> = speech
        .words
        .iter()
        .map(|w| (w.text.as_str(), w.start, w.end))
        .collect();
    assert_eq!(
        got,
        [
            ("Make", 0.006, 0.251),
            ("videos", 0.251, 0.64),
            ("fast", 0.64, 1.0)
        ]
    );
}

#[tokio::test]
async fn polly_uses_each_languages_voice() {
    let pcm = vec![0u8; 3200]; // 0.1 s of silence
    let server = Server::start(polly_responder(pcm)).await;
    let voice = PollyVoice::new(aws_sdk_polly::Client::new(
        &sdk_config(&server.endpoint).await,
    ));
    let out = temp_wav("polly-ja.wav");
    let speech = voice
        .speak("この製品は便利です", Language::Ja, &out)
        .await
        .unwrap();
    assert!((speech.duration_seconds - 0.1).abs() < 1e-9);
    // Marks after the end of the audio are clamped into it.
    assert!(speech
        .words
        .iter()
        .all(|w| w.start <= w.end && w.end <= 0.1));
    for body in server.requests().iter().map(Recorded::json) {
        assert_eq!(body["VoiceId"], "Kazuha");
        assert_eq!(body["LanguageCode"], "ja-JP");
        assert_eq!(body["Engine"], "neural");
        assert_eq!(body["Text"], "この製品は便利です");
    }
}

#[tokio::test]
async fn polly_speaks_with_the_voice_a_profile_chose() {
    let server = Server::start(polly_responder(vec![0u8; 3200])).await;
    let voice = PollyVoice::new(aws_sdk_polly::Client::new(
        &sdk_config(&server.endpoint).await,
    ));
    let out = temp_wav("polly-chosen.wav");
    voice
        .speak_as("Make videos fast", Language::En, Some("Matthew"), &out)
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for body in requests.iter().map(Recorded::json) {
        assert_eq!(body["VoiceId"], "Matthew");
        assert_eq!(body["LanguageCode"], "en-US");
    }
    assert_eq!(voice.provider(), reelforge_core::styles::ProviderId::Polly);
}

#[tokio::test]
async fn polly_refuses_empty_and_over_long_text_without_a_request() {
    let server = Server::start(polly_responder(vec![0; 2])).await;
    let voice = PollyVoice::new(aws_sdk_polly::Client::new(
        &sdk_config(&server.endpoint).await,
    ));
    let out = temp_wav("polly-refused.wav");
    let err = voice.speak(" \n\t", Language::En, &out).await.unwrap_err();
    assert!(matches!(err, VoiceError::EmptyText), "{err:?}");
    let long = "a".repeat(3_001);
    let err = voice.speak(&long, Language::En, &out).await.unwrap_err();
    assert!(matches!(err, VoiceError::TextTooLong(3_001)), "{err:?}");
    // 3,000 characters is still allowed (CJK: characters, not bytes).
    let ok = "語".repeat(3_000);
    voice.speak(&ok, Language::Ja, &out).await.unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn polly_service_errors_become_short_engine_errors() {
    let server = Server::start(|_: &Recorded| Canned {
        status: 400,
        headers: vec![
            ("content-type", "application/json".into()),
            ("x-amzn-errortype", "TextLengthExceededException".into()),
        ],
        body: br#"{"message":"Maximum text length has been exceeded"}"#.to_vec(),
    })
    .await;
    let voice = PollyVoice::new(aws_sdk_polly::Client::new(
        &sdk_config(&server.endpoint).await,
    ));
    let out = temp_wav("polly-error.wav");
    let err = voice
        .speak("Make videos fast", Language::En, &out)
        .await
        .unwrap_err();
    let VoiceError::Engine(message) = err else {
        panic!("{err:?}");
    };
    assert!(message.contains("TextLengthExceededException"), "{message}");
    assert!(!message.contains("Make videos"), "{message}");
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------------------
// MediaConvert
// ---------------------------------------------------------------------------------------

const BUCKET: &str = "reelforge-test-media";
const ROLE: &str = "arn:aws:iam::123456789012:role/reelforge-mediaconvert";
const QUEUE: &str = "arn:aws:mediaconvert:us-east-1:123456789012:queues/Default";

fn target(output_key: &str) -> JobTarget {
    JobTarget {
        role_arn: ROLE.into(),
        queue_arn: Some(QUEUE.into()),
        bucket: BUCKET.into(),
        output_key: output_key.into(),
        user_metadata: BTreeMap::from([
            ("campaign_id".to_string(), "cid-1".to_string()),
            ("video_id".to_string(), "vid-1".to_string()),
        ]),
        watermark_pixels: Some((400, 200)),
    }
}

fn cue(words: &[(&str, u64, u64)]) -> CaptionCue {
    CaptionCue {
        words: words
            .iter()
            .map(|&(text, start_ms, end_ms)| WordTiming {
                text: text.into(),
                start_ms,
                end_ms,
            })
            .collect(),
    }
}

fn set_image(scene: &mut Scene, key: &str) {
    if let reelforge_core::render::Shot::Camera { image, .. } = &mut scene.shot {
        *image = key.into();
    }
}

/// Three scenes (4.7 s) over a 4.5 s voiceover, styled captions, a watermark and an end
/// clip.
fn full_plan() -> RenderPlan {
    let cam = reelforge_core::render::Cam {
        x: 0.0,
        y: 0.0,
        zoom: 1.0,
    };
    let scene = |n: u32, ms: u64| Scene {
        duration_ms: ms,
        shot: reelforge_core::render::Shot::Camera {
            image: format!("work/cid-1/screens/1080x1920/screen-{n}.png").into(),
            image_width: 1080,
            image_height: 1920,
            from: cam,
            to: cam,
            pad: Rgb::WHITE,
        },
        transition: Default::default(),
        note: String::new(),
    };
    RenderPlan {
        size: FrameSize::PORTRAIT_1080,
        fps: 30,
        speech: vec![],
        music: None,
        scenes: vec![scene(1, 1000), scene(2, 2500), scene(3, 1200)],
        voiceover: AudioTrack {
            path: "audio/cid-1/en.wav".into(),
            duration_ms: 4500,
        },
        captions: Some(Captions {
            language: "en".into(),
            style: CaptionStyle {
                size: 64,
                color: Rgb::new(0xFF, 0x80, 0x00),
                stroke_color: Rgb::new(0x10, 0x10, 0x10),
                stroke_thickness: 6,
                shadow: Shadow {
                    x: 4,
                    y: 5,
                    color: Rgb::new(0x20, 0x20, 0x20),
                    blur: 2,
                },
                position: CaptionPosition::LowerThird,
                ..CaptionStyle::default()
            },
            cues: vec![
                cue(&[("Make", 0, 400), ("videos", 400, 900), ("fast", 900, 1400)]),
                cue(&[
                    ("from", 2000, 2300),
                    ("any", 2300, 2600),
                    ("page", 2600, 3000),
                ]),
            ],
        }),
        watermark: Some(Watermark {
            image: "assets/acct-1/watermark.png".into(),
            position: Corner::BottomRight,
            width_fraction: 0.25,
        }),
        end_clip: Some(EndClip {
            path: "assets/acct-1/end.mp4".into(),
        }),
    }
}

fn create_job_response() -> Canned {
    Canned::json(
        201,
        json!({
            "job": {
                "id": "1234-abcd",
                "arn": "arn:aws:mediaconvert:us-east-1:123456789012:jobs/1234-abcd",
                "role": ROLE,
                "queue": QUEUE,
                "status": "SUBMITTED",
                "settings": {},
                "userMetadata": {"campaign_id": "cid-1", "video_id": "vid-1"}
            }
        }),
    )
}

async fn mediaconvert_client(server: &Server) -> aws_sdk_mediaconvert::Client {
    aws_sdk_mediaconvert::Client::new(&sdk_config(&server.endpoint).await)
}

fn s3(key: &str) -> String {
    format!("s3://{BUCKET}/{key}")
}

#[tokio::test]
async fn mediaconvert_create_job_request_matches_the_plan() {
    let server = Server::start(|_: &Recorded| create_job_response()).await;
    let client = mediaconvert_client(&server).await;
    let plan = full_plan();
    let target = target("videos/cid-1/vertical_en_vid-1");

    let id = submit(&client, &plan, &target).await.unwrap();
    assert_eq!(id, "1234-abcd");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/2017-08-29/jobs")
    );
    assert!(request
        .header("authorization")
        .unwrap()
        .contains("/us-east-1/mediaconvert/aws4_request"));
    let body = request.json();
    assert_eq!(body["role"], ROLE);
    assert_eq!(body["queue"], QUEUE);
    assert_eq!(
        body["userMetadata"],
        json!({"campaign_id": "cid-1", "video_id": "vid-1"})
    );
    assert_eq!(body["clientRequestToken"], client_request_token(&target));

    let settings = &body["settings"];
    assert_eq!(settings["timecodeConfig"]["source"], "ZEROBASED");

    // Inputs in playing order: voiceover (black video + captions), 200 ms of padding so
    // the main part lasts the scenes' 4.7 s, the end clip.
    let inputs = settings["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 3, "{settings:#}");
    let voice = &inputs[0];
    assert!(voice.get("fileInput").is_none() && voice.get("videoGenerator").is_none());
    let voice_audio = &voice["audioSelectors"]["Audio Selector 1"];
    assert_eq!(
        voice_audio["externalAudioFileInput"],
        s3("audio/cid-1/en.wav")
    );
    assert_eq!(voice_audio["remixSettings"]["channelsIn"], 1);
    assert_eq!(voice_audio["remixSettings"]["channelsOut"], 2);
    let captions_in = &voice["captionSelectors"]["Captions Selector 1"]["sourceSettings"];
    assert_eq!(captions_in["sourceType"], "WEBVTT");
    assert_eq!(
        captions_in["fileSourceSettings"]["sourceFile"],
        s3(&caption_key(&target))
    );
    assert_eq!(caption_key(&target), "videos/cid-1/vertical_en_vid-1.vtt");
    let padding = &inputs[1]["videoGenerator"];
    assert_eq!(padding["duration"], 200);
    assert_eq!(
        (&padding["width"], &padding["height"]),
        (&json!(1080), &json!(1920))
    );
    assert_eq!(inputs[2]["fileInput"], s3("assets/acct-1/end.mp4"));

    // One MP4 file output at the frame size.
    let group = &settings["outputGroups"][0];
    assert_eq!(group["outputGroupSettings"]["type"], "FILE_GROUP_SETTINGS");
    assert_eq!(
        group["outputGroupSettings"]["fileGroupSettings"]["destination"],
        s3("videos/cid-1/vertical_en_vid-1")
    );
    let outputs = group["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1);
    let output = &outputs[0];
    assert_eq!(output["extension"], "mp4");
    assert_eq!(output["containerSettings"]["container"], "MP4");
    let video = &output["videoDescription"];
    assert_eq!(
        (&video["width"], &video["height"]),
        (&json!(1080), &json!(1920))
    );
    assert_eq!(video["codecSettings"]["codec"], "H_264");
    let h264 = &video["codecSettings"]["h264Settings"];
    assert_eq!(h264["rateControlMode"], "QVBR");
    assert_eq!(
        (&h264["framerateNumerator"], &h264["framerateDenominator"]),
        (&json!(30), &json!(1))
    );
    let audio = &output["audioDescriptions"][0];
    assert_eq!(audio["audioSourceName"], "Audio Selector 1");
    assert_eq!(audio["codecSettings"]["codec"], "AAC");
    let aac = &audio["codecSettings"]["aacSettings"];
    assert_eq!(aac["sampleRate"], 48000);
    assert_eq!(aac["codingMode"], "CODING_MODE_2_0");

    // Scenes in order, full frame, each for its own duration; watermark on top.
    let images = video["videoPreprocessors"]["imageInserter"]["insertableImages"]
        .as_array()
        .unwrap();
    assert_eq!(images.len(), 4);
    let scenes: Vec<(String, String, i64, i64)> = images[..3]
        .iter()
        .map(|i| {
            assert_eq!(
                (&i["imageX"], &i["imageY"], &i["width"], &i["height"]),
                (&json!(0), &json!(0), &json!(1080), &json!(1920))
            );
            assert_eq!(i["opacity"], 100);
            (
                i["imageInserterInput"].as_str().unwrap().to_string(),
                i["startTime"].as_str().unwrap().to_string(),
                i["duration"].as_i64().unwrap(),
                i["layer"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String, i64, i64)> = [
        (1, "00:00:00:00", 1000, 0),
        (2, "00:00:01:00", 2500, 1),
        (3, "00:00:03:15", 1200, 2),
    ]
    .iter()
    .map(|&(n, start, duration, layer)| {
        (
            s3(&format!("work/cid-1/screens/1080x1920/screen-{n}.png")),
            start.to_string(),
            duration,
            layer,
        )
    })
    .collect();
    assert_eq!(scenes, expected);
    let wm = &images[3];
    assert_eq!(wm["imageInserterInput"], s3("assets/acct-1/watermark.png"));
    assert_eq!(wm["layer"], 99);
    assert_eq!(wm["startTime"], "00:00:00:00");
    assert_eq!(wm["duration"], 4700);
    // 25 % of 1080 = 270 wide, 2:1 image -> 134 high (even); 43 px margins.
    assert_eq!((&wm["width"], &wm["height"]), (&json!(270), &json!(134)));
    assert_eq!(
        (&wm["imageX"], &wm["imageY"]),
        (&json!(1080 - 270 - 43), &json!(1920 - 134 - 43))
    );

    // Burned-in captions in the plan's style.
    let caption = &output["captionDescriptions"][0];
    assert_eq!(caption["captionSelectorName"], "Captions Selector 1");
    assert_eq!(caption["languageCode"], "ENG");
    let dest = &caption["destinationSettings"];
    assert_eq!(dest["destinationType"], "BURN_IN");
    let burn = &dest["burninDestinationSettings"];
    assert_eq!(burn["stylePassthrough"], "DISABLED");
    assert_eq!(burn["fontColor"], "HEX");
    assert_eq!(burn["hexFontColor"], "FF8000");
    assert_eq!(burn["fontSize"], 64);
    assert_eq!(burn["outlineColor"], "BLACK");
    assert_eq!(burn["outlineSize"], 6);
    assert_eq!(burn["shadowColor"], "BLACK");
    assert_eq!(burn["shadowOpacity"], 159);
    assert_eq!(
        (&burn["shadowXOffset"], &burn["shadowYOffset"]),
        (&json!(4), &json!(5))
    );
    assert_eq!(burn["backgroundOpacity"], 0);
    assert_eq!(burn["alignment"], "CENTERED");
    assert_eq!(burn["fontScript"], "AUTOMATIC");
    let captions = plan.captions.as_ref().unwrap();
    let area = caption_box(captions, plan.size, 2);
    assert_eq!(burn["yPosition"], area.y);
    assert!(
        burn.get("xPosition").is_none(),
        "centred captions are centred by alignment: {burn}"
    );

    // The sidecar the job reads: one cue per page, in the plan's timing.
    let vtt = caption_file(&plan);
    assert!(vtt.starts_with("WEBVTT\n"), "{vtt}");
    assert!(
        vtt.contains("00:00:00.000 --> 00:00:02.000\nMake videos fast\n"),
        "{vtt}"
    );
    assert!(
        vtt.contains("00:00:02.000 --> 00:00:03.400\nfrom any page\n"),
        "{vtt}"
    );
}

#[tokio::test]
async fn mediaconvert_request_token_is_stable_per_output() {
    let server = Server::start(|_: &Recorded| create_job_response()).await;
    let client = mediaconvert_client(&server).await;
    let plan = full_plan();
    let first = target("videos/cid-1/vertical_en_vid-1");
    let mut same = first.clone();
    same.user_metadata.insert("attempt".into(), "2".into());
    let other = target("videos/cid-1/vertical_ja_vid-2");
    for t in [&first, &same, &other] {
        submit(&client, &plan, t).await.unwrap();
    }
    let tokens: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.json()["clientRequestToken"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tokens.len(), 3);
    assert_eq!(tokens[0], tokens[1], "same output, same token");
    assert_ne!(tokens[0], tokens[2], "another output, another token");
    assert!(!tokens[0].is_empty());
}

#[tokio::test]
async fn mediaconvert_landscape_plan_without_extras_and_custom_caption_position() {
    let server = Server::start(|_: &Recorded| create_job_response()).await;
    let client = mediaconvert_client(&server).await;
    let mut plan = full_plan();
    plan.size = FrameSize::LANDSCAPE_1080;
    plan.scenes.truncate(2); // 1000 + 2500 ms, held to the 4.5 s voiceover
    plan.watermark = None;
    plan.end_clip = None;
    let captions = plan.captions.as_mut().unwrap();
    captions.language = "zh-Hant".into();
    captions.style.position = CaptionPosition::At { x: 0.45, y: 0.2 };
    captions.style.stroke_color = Rgb::new(0, 0, 230);
    captions.style.shadow = Shadow {
        x: 0,
        y: 0,
        color: Rgb::BLACK,
        blur: 0,
    };
    let mut t = target("videos/cid-1/landscape_zh_vid-3");
    t.queue_arn = None;
    submit(&client, &plan, &t).await.unwrap();

    let body = server.requests()[0].json();
    assert!(body.get("queue").is_none(), "{body}");
    let settings = &body["settings"];
    let inputs = settings["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 1, "no padding, no end clip: {settings:#}");
    let output = &settings["outputGroups"][0]["outputs"][0];
    let video = &output["videoDescription"];
    assert_eq!(
        (&video["width"], &video["height"]),
        (&json!(1920), &json!(1080))
    );
    let images = video["videoPreprocessors"]["imageInserter"]["insertableImages"]
        .as_array()
        .unwrap();
    let timing: Vec<(&str, i64)> = images
        .iter()
        .map(|i| {
            (
                i["startTime"].as_str().unwrap(),
                i["duration"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(timing, [("00:00:00:00", 1000), ("00:00:01:00", 3500)]);
    assert_eq!(
        (&images[0]["width"], &images[0]["height"]),
        (&json!(1920), &json!(1080))
    );

    let caption = &output["captionDescriptions"][0];
    assert_eq!(caption["languageCode"], "ZHO");
    let burn = &caption["destinationSettings"]["burninDestinationSettings"];
    assert_eq!(burn["fontScript"], "HANT");
    assert_eq!(burn["outlineColor"], "BLUE");
    assert_eq!(burn["shadowColor"], "NONE");
    assert_eq!(burn["shadowOpacity"], 0);
    let area = caption_box(plan.captions.as_ref().unwrap(), plan.size, 2);
    assert_eq!(
        (&burn["xPosition"], &burn["yPosition"]),
        (&json!(area.x), &json!(area.y))
    );
    assert!(area.x > 0 && area.x < 1920 / 2);
}

#[test]
fn mediaconvert_without_captions_has_no_caption_selector_or_burn_in() {
    let mut plan = full_plan();
    plan.captions = None;
    let settings = job_settings(&plan, &target("videos/c/v")).unwrap();
    let input = &settings.inputs()[0];
    assert!(input.caption_selectors().is_none());
    let output = &settings.output_groups()[0].outputs()[0];
    assert!(output.caption_descriptions().is_empty());
    assert_eq!(caption_file(&plan), "WEBVTT\n");
}

#[tokio::test]
async fn mediaconvert_refuses_plans_it_cannot_render_before_sending() {
    let server = Server::start(|_: &Recorded| create_job_response()).await;
    let client = mediaconvert_client(&server).await;
    let t = target("videos/cid-1/v");
    type Change = fn(&mut RenderPlan, &mut JobTarget);
    let cases: Vec<(&str, Change)> = vec![
        (
            "absolute path",
            (|p: &mut RenderPlan, _: &mut JobTarget| {
                set_image(&mut p.scenes[0], "/etc/passwd.png")
            }),
        ),
        (
            "escaping key",
            (|p: &mut RenderPlan, _: &mut JobTarget| p.voiceover.path = "audio/../../x.wav".into()),
        ),
        (
            "jpeg overlay",
            (|p: &mut RenderPlan, _: &mut JobTarget| set_image(&mut p.scenes[1], "work/c/s.jpg")),
        ),
        (
            "too many scenes",
            (|p: &mut RenderPlan, _: &mut JobTarget| {
                let s = p.scenes[0].clone();
                p.scenes = vec![s; 100];
            }),
        ),
        (
            "bad bucket",
            (|_: &mut RenderPlan, t: &mut JobTarget| t.bucket = "Not_A_Bucket".into()),
        ),
        (
            "bad role",
            (|_: &mut RenderPlan, t: &mut JobTarget| t.role_arn = "reelforge".into()),
        ),
        (
            "invalid plan",
            (|p: &mut RenderPlan, _: &mut JobTarget| p.scenes.clear()),
        ),
    ];
    for (name, change) in cases {
        let (mut plan, mut target) = (full_plan(), t.clone());
        change(&mut plan, &mut target);
        let err = submit(&client, &plan, &target).await.unwrap_err();
        assert!(
            matches!(err, RenderError::InvalidPlan(_)),
            "{name}: {err:?}"
        );
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn mediaconvert_service_errors_name_the_error_code() {
    let server = Server::start(|_: &Recorded| Canned {
        status: 400,
        headers: vec![
            ("content-type", "application/json".into()),
            ("x-amzn-errortype", "BadRequestException".into()),
        ],
        body: br#"{"message":"/settings/inputs/0: bad input"}"#.to_vec(),
    })
    .await;
    let client = mediaconvert_client(&server).await;
    let err = submit(&client, &full_plan(), &target("videos/c/v"))
        .await
        .unwrap_err();
    let RenderError::ToolFailed { status, stderr, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(status, "BadRequestException");
    assert!(stderr.contains("bad input"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Job state change events
// ---------------------------------------------------------------------------------------

#[test]
fn the_repos_complete_event_parses() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/render-events.json"
    );
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let change = parse_job_state_change(&event).unwrap();
    assert_eq!(change.job_id, "1795320372112-q8x2vn");
    assert_eq!(change.status, "COMPLETE");
    assert_eq!(
        change.user_metadata.get("campaign_id").map(String::as_str),
        Some("8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d")
    );
    assert_eq!(
        change.user_metadata.get("video_id").map(String::as_str),
        Some("3d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d")
    );
    assert_eq!(change.user_metadata.len(), 3);
    assert_eq!(change.output_duration_ms, Some(35_040));
    assert_eq!(change.error_message, None);
}

#[test]
fn an_error_event_carries_its_code_and_message() {
    let event = json!({
        "version": "0",
        "id": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "detail-type": "MediaConvert Job State Change",
        "source": "aws.mediaconvert",
        "account": "111122223333",
        "time": "2018-01-07T23:35:20Z",
        "region": "us-west-2",
        "resources": ["arn:aws:mediaconvert:us-west-2:111122223333:jobs/1515368087458-qnoxtd"],
        "detail": {
            "timestamp": 1515368120764u64,
            "accountId": "111122223333",
            "queue": "arn:aws:mediaconvert:us-west-2:111122223333:queues/Default",
            "jobId": "1515368087458-qnoxtd",
            "status": "ERROR",
            "errorCode": 1040,
            "errorMessage": "Example error message",
            "userMetadata": {"campaign_id": "c-9", "video_id": "v-9"}
        }
    });
    let change = parse_job_state_change(&event).unwrap();
    assert_eq!(change.job_id, "1515368087458-qnoxtd");
    assert_eq!(change.status, "ERROR");
    assert_eq!(
        change.error_message.as_deref(),
        Some("1040: Example error message")
    );
    assert_eq!(change.output_duration_ms, None);
    assert_eq!(change.user_metadata["video_id"], "v-9");

    let mut other = event.clone();
    other["source"] = json!("aws.s3");
    assert!(parse_job_state_change(&other).is_err());
    let mut no_id = event;
    no_id["detail"].as_object_mut().unwrap().remove("jobId");
    assert!(parse_job_state_change(&no_id).is_err());
}

/// An end clip is cut at 15 s by the job itself, whatever its file says.
#[test]
fn the_end_clip_input_is_clipped_at_15_s() {
    let settings = job_settings(&full_plan(), &target("videos/c/v")).unwrap();
    let clip = settings
        .inputs()
        .iter()
        .find(|i| {
            i.file_input()
                .is_some_and(|f| f.ends_with("assets/acct-1/end.mp4"))
        })
        .expect("the end clip's input");
    let cut = clip.input_clippings();
    assert_eq!(cut.len(), 1);
    assert_eq!(cut[0].end_timecode(), Some("00:00:15:00"));
    assert_eq!(
        reelforge_core::ports::MAX_END_CLIP_MS,
        15_000,
        "END_CLIP_END_TIMECODE follows MAX_END_CLIP_MS"
    );
}
