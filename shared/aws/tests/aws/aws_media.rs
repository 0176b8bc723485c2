//! The AWS media adapters (Amazon Polly, AWS Elemental MediaConvert) on the exact requests
//! they send: the SDK clients are pointed at a loopback HTTP server started by each test,
//! which records every request and answers with a response shaped like the services'
//! documented ones. Nothing leaves 127.0.0.1.

use reelforge_testkit::stub_aws;

use reelforge_aws::fanout::{stitch_token, Stitcher};
use reelforge_aws::mediaconvert_events::parse_job_state_change;
use reelforge_aws::polly::PollyVoice;
use reelforge_core::model::Language;
use reelforge_core::ports::RenderJob;
use reelforge_core::render::{AudioTrack, FrameSize, RenderError, RenderPlan};
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
// MediaConvert: the stitch job of a fan-out render (the whole flow is in the lambda tests)
// ---------------------------------------------------------------------------------------

const BUCKET: &str = "reelforge-test-media";
const ROLE: &str = "arn:aws:iam::123456789012:role/reelforge-mediaconvert";

fn stitcher(server: &Server, client: aws_sdk_mediaconvert::Client) -> Stitcher {
    let _ = server;
    Stitcher {
        client,
        role_arn: ROLE.into(),
        queue_arn: Some("arn:aws:mediaconvert:us-east-1:123456789012:queues/Default".into()),
        bucket: BUCKET.into(),
        deployment_stage: "prod".into(),
    }
}

fn render_job(stem: &str) -> RenderJob {
    RenderJob {
        plan: RenderPlan {
            size: FrameSize::PORTRAIT_1080,
            fps: 30,
            scenes: vec![],
            voiceover: AudioTrack {
                path: "work/c/voice/en.wav".into(),
                duration_ms: 3000,
            },
            speech: vec![],
            music: None,
            captions: None,
            watermark: None,
            end_clip: None,
        },
        output_stem: stem.into(),
        metadata: BTreeMap::from([
            (
                "campaign_id".to_string(),
                "8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d".to_string(),
            ),
            (
                "video_id".to_string(),
                "3d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d".to_string(),
            ),
        ]),
    }
}

#[tokio::test]
async fn the_stitch_job_is_signed_tokened_and_tagged_with_its_render() {
    let server = Server::start(|_: &Recorded| {
        Canned::json(
            201,
            json!({"job": {"id": "1795320372112-q8x2vn", "status": "SUBMITTED"}}),
        )
    })
    .await;
    let client = aws_sdk_mediaconvert::Client::new(&sdk_config(&server.endpoint).await);
    let s = stitcher(&server, client);
    let job = render_job("videos/c/vertical_en_v");
    let dir = "work/8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d/render/0123456789abcdef";
    assert_eq!(s.submit(dir, &job).await.unwrap(), "1795320372112-q8x2vn");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/2017-08-29/jobs")
    );
    assert!(req
        .header("authorization")
        .unwrap()
        .contains("/us-east-1/mediaconvert/aws4_request"));
    let body = req.json();
    assert_eq!(body["role"], ROLE);
    assert_eq!(
        body["queue"],
        "arn:aws:mediaconvert:us-east-1:123456789012:queues/Default"
    );
    assert_eq!(body["clientRequestToken"], stitch_token(BUCKET, dir));
    assert_eq!(
        body["userMetadata"],
        json!({
            "campaign_id": "8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d",
            "video_id": "3d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d",
            "reelforge_stage": "prod",
            "render_job": format!("fanout:{dir}"),
            "thumbnail_key": "videos/c/vertical_en_v.0000001.jpg",
        })
    );
    let settings = &body["settings"];
    assert_eq!(
        settings["inputs"],
        json!([{
            "fileInput": format!("s3://{BUCKET}/{dir}/joined.mp4"),
            "timecodeSource": "ZEROBASED",
            "audioSelectors": {"Audio Selector 1": {"defaultSelection": "DEFAULT"}},
        }])
    );
    let mp4 = &settings["outputGroups"][0]["outputs"][0];
    let h264 = &mp4["videoDescription"]["codecSettings"]["h264Settings"];
    assert_eq!(h264["rateControlMode"], "QVBR");
    assert_eq!(h264["framerateControl"], "INITIALIZE_FROM_SOURCE");
    assert_eq!(h264["maxBitrate"], 5_000_000);
    assert_eq!(
        mp4["containerSettings"]["mp4Settings"]["moovPlacement"],
        "PROGRESSIVE_DOWNLOAD"
    );
    let audio = &mp4["audioDescriptions"][0];
    assert_eq!(audio["codecSettings"]["aacSettings"]["sampleRate"], 48_000);
    assert_eq!(
        audio["audioNormalizationSettings"],
        json!({
            "algorithm": "ITU_BS_1770_3",
            "algorithmControl": "CORRECT_AUDIO",
            "targetLkfs": -14.0,
            "peakCalculation": "TRUE_PEAK",
            "truePeakLimiterThreshold": -1.0,
            "loudnessLogging": "DONT_LOG",
        })
    );
    let frames = &settings["outputGroups"][1]["outputs"][0];
    assert_eq!(frames["extension"], "jpg");
    assert_eq!(
        frames["videoDescription"]["codecSettings"],
        json!({"codec": "FRAME_CAPTURE", "frameCaptureSettings": {
            "framerateNumerator": 1, "framerateDenominator": 1, "maxCaptures": 2, "quality": 80}})
    );
}

#[tokio::test]
async fn the_stitch_job_refuses_what_it_cannot_send_and_names_service_errors() {
    let server = Server::start(|_: &Recorded| Canned {
        status: 400,
        headers: vec![
            ("content-type", "application/json".into()),
            ("x-amzn-errortype", "BadRequestException".into()),
        ],
        body: br#"{"message":"/settings/inputs/0: bad input"}"#.to_vec(),
    })
    .await;
    let client = aws_sdk_mediaconvert::Client::new(&sdk_config(&server.endpoint).await);
    let s = stitcher(&server, client);
    let dir = "work/8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d/render/0123456789abcdef";
    let err = s.submit(dir, &render_job("videos/c/v")).await.unwrap_err();
    let RenderError::ToolFailed { status, stderr, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(status, "BadRequestException");
    assert!(stderr.contains("bad input"), "{stderr}");
    let sent = server.requests().len();
    // Keys outside the bucket and a role that is not an ARN never reach the service.
    for stem in ["/abs", "videos/../x", "videos//v", ""] {
        assert!(s.submit(dir, &render_job(stem)).await.is_err(), "{stem:?}");
    }
    let mut no_role = s.clone();
    no_role.role_arn = "reelforge-mediaconvert".into();
    assert!(no_role
        .submit(dir, &render_job("videos/c/v"))
        .await
        .is_err());
    assert_eq!(server.requests().len(), sent);
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

    // A stitch job's event is read as its fan-out render's end.
    let mut stitch = event.clone();
    stitch["detail"]["userMetadata"]["render_job"] = json!("fanout:work/c/render/0123456789abcdef");
    assert_eq!(
        parse_job_state_change(&stitch).unwrap().job_id,
        "fanout:work/c/render/0123456789abcdef"
    );

    let mut other = event.clone();
    other["source"] = json!("aws.s3");
    assert!(parse_job_state_change(&other).is_err());
    let mut no_id = event;
    no_id["detail"].as_object_mut().unwrap().remove("jobId");
    assert!(parse_job_state_change(&no_id).is_err());
}
