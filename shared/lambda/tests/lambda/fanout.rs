//! The AWS render end to end on the emulator: the render stage fans a video's parts out
//! over a real SQS queue (moto), `render-clip` runs render them with real ffmpeg into
//! real S3 (moto), the run that completes the set joins them and creates the
//! MediaConvert stitch job (a loopback stub, the one part that cannot run here, checked
//! on the exact request), and the render message's periodic look resends a lost part and
//! then finds the job finished.

use crate::render_events::{rendering_campaign, stored};
use reelforge_app::pipeline::process::{captures_key, frame_size, Captured, Captures};
use reelforge_app::pipeline::render::RECHECK_SECS;
use reelforge_app::pipeline::voiceover::VoiceTrack;
use reelforge_app::pipeline::{artifacts, Next};
use reelforge_app::{Context, Ports};
use reelforge_aws::fanout::{
    job_key, joined_key, part_key, stitch_key, FanOutRenderer, PartMessage, PartQueue, Stitcher,
    FANOUT,
};
use reelforge_core::model::{CampaignStatus, Language, Platform, Stage, StageMessage, VideoStatus};
use reelforge_core::ports::{MediaStore, RenderJob};
use reelforge_core::render_parts::Part;
use reelforge_lambda::{handle_part, PartOutcome, Parts};
use reelforge_testkit::media::{duration, ffmpeg, probe, stream};
use reelforge_testkit::moto;
use reelforge_testkit::stub_aws::{sdk_config, Canned, Server};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// A MediaConvert stand-in: CreateJob answers one job per request token (as MediaConvert
/// does for a repeated token) and remembers its metadata; GetJob answers COMPLETE.
async fn mediaconvert_stub() -> Server {
    let jobs: Arc<Mutex<HashMap<String, (String, Value)>>> = Arc::default();
    Server::start(move |req| {
        let mut jobs = jobs.lock().unwrap();
        if req.method == "POST" && req.path == "/2017-08-29/jobs" {
            let body = req.json();
            let token = body["clientRequestToken"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let n = jobs.len() + 1;
            let (id, _) = jobs
                .entry(token)
                .or_insert_with(|| (format!("mc-job-{n}"), body["userMetadata"].clone()))
                .clone();
            Canned::json(201, json!({"job": {"id": id, "status": "SUBMITTED"}}))
        } else if let Some(id) = req.path.strip_prefix("/2017-08-29/jobs/") {
            match jobs.values().find(|(j, _)| j == id) {
                Some((_, meta)) => Canned::json(
                    200,
                    json!({"job": {"id": id, "status": "COMPLETE", "userMetadata": meta,
                        "outputGroupDetails": [{"outputDetails": [{"durationInMs": 3_200}]}]}}),
                ),
                None => Canned::json(404, json!({"message": "no such job"})),
            }
        } else {
            Canned::json(400, json!({"message": "unexpected request"}))
        }
    })
    .await
}

/// A file made by ffmpeg from a lavfi source.
fn made(source: &str, ext: &str, extra: &[&str]) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("reelforge-fanout-{}.{ext}", Uuid::new_v4()));
    let mut args = vec!["-f", "lavfi", "-i", source];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    bytes
}

/// Receives every message on the queue (until it answers empty).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<PartMessage> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .send()
            .await
            .unwrap();
        let messages = got.messages();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_render_fans_out_over_sqs_joins_in_lambda_and_is_stitched_by_mediaconvert() {
    let store = Arc::new(moto::aws_store().await);
    let bucket = store.names().media_bucket.clone();
    let config = moto::emulator_config().await;
    let parts_url = store
        .create_queue(&format!("reelforge-parts-{}", Uuid::new_v4().simple()))
        .await
        .unwrap();
    let stub = mediaconvert_stub().await;
    let stitcher = Stitcher {
        client: aws_sdk_mediaconvert::Client::new(&sdk_config(&stub.endpoint).await),
        role_arn: "arn:aws:iam::123456789012:role/reelforge-mediaconvert".into(),
        queue_arn: None,
        bucket: bucket.clone(),
        deployment_stage: "test".into(),
    };
    let media: Arc<dyn MediaStore> = store.clone();
    let mut app = Context::new(Ports::from_store(store.clone()));
    app.tools.renderer = Arc::new(FanOutRenderer {
        media: media.clone(),
        parts: PartQueue::from_config(&config, parts_url.clone()),
        stitcher: stitcher.clone(),
    });
    let parts = Parts {
        media: media.clone(),
        stitcher,
        settings: reelforge_studio::FfmpegSettings::default(),
    };

    // A campaign in `rendering` with what the earlier stages left: the page's capture
    // (a real PNG), its facts, and each language's voice (a real WAV) and words.
    let (id, en, ja) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    rendering_campaign(&app, id, &[(en, Language::En), (ja, Language::Ja)]).await;
    let size = frame_size(Platform::YoutubeShorts);
    let image = artifacts::page_capture(id, "page", size);
    let png = made(
        "color=c=0x1a3a6e:s=1080x2400,format=rgba",
        "png",
        &["-frames:v", "1"],
    );
    media
        .put_media(&image, png.into(), "image/png")
        .await
        .unwrap();
    let captures: Captures = BTreeMap::from([(
        captures_key("page", size),
        Captured {
            image,
            layout: reelforge_core::layout::PageLayout {
                image_height: 2400,
                ..Default::default()
            },
        },
    )]);
    artifacts::put_json(&app, &artifacts::captures(id), &captures)
        .await
        .unwrap();
    let collected = reelforge_app::pipeline::collect::CollectedPage {
        url: "https://example.com/".into(),
        facts: Default::default(),
        alternates: Default::default(),
    };
    artifacts::put_json(&app, &artifacts::collected(id), &collected)
        .await
        .unwrap();
    let wav = made(
        "sine=frequency=330:sample_rate=24000:duration=3",
        "wav",
        &["-ac", "1"],
    );
    for language in [Language::En, Language::Ja] {
        media
            .put_media(
                &artifacts::voice_audio(id, language),
                wav.clone().into(),
                "audio/wav",
            )
            .await
            .unwrap();
        let track = VoiceTrack {
            duration_seconds: 3.0,
            words: vec![
                reelforge_core::voice::WordTiming {
                    text: "Make".into(),
                    start: 0.3,
                    end: 0.8,
                },
                reelforge_core::voice::WordTiming {
                    text: "videos.".into(),
                    start: 0.9,
                    end: 1.6,
                },
            ],
            sentences: vec!["Make videos.".into()],
        };
        artifacts::put_json(&app, &artifacts::voice_words(id, language), &track)
            .await
            .unwrap();
    }

    // The render stage: each video's job stored and its parts on the queue.
    let message = StageMessage::stage(Stage::Render, id);
    let next = reelforge_app::pipeline::process(&app, &message)
        .await
        .unwrap();
    assert_eq!(next, Next::RetryIn(RECHECK_SECS));
    let c = stored(&app, id).await;
    let mut dirs = BTreeMap::new();
    for v in &c.videos {
        let job = v.render_job.as_deref().expect("render recorded");
        let dir = job
            .strip_prefix(FANOUT)
            .expect("a fan-out render")
            .to_string();
        assert!(dir.starts_with(&format!("work/{id}/render/")), "{dir}");
        dirs.insert(v.id, dir);
    }
    assert_ne!(dirs[&en], dirs[&ja], "one directory per video");
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut sent = drain(&sqs, &parts_url).await;
    let mut expected = Vec::new();
    for dir in dirs.values() {
        let bytes = media
            .get_media(&job_key(dir))
            .await
            .unwrap()
            .expect("job stored");
        let job: RenderJob = serde_json::from_slice(&bytes).unwrap();
        assert!(job.plan.scenes.len() >= 2, "a storyboard, not one still");
        for part in job.plan.parts() {
            expected.push(PartMessage {
                job: dir.clone(),
                part,
            });
        }
    }
    let key = |m: &PartMessage| (m.job.clone(), m.part);
    sent.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(sent, expected, "one message per part of each video");

    // `render-clip` runs: every part but the English soundtrack (its message is lost),
    // the first English clip twice.
    let lost = PartMessage {
        job: dirs[&en].clone(),
        part: Part::Sound,
    };
    let first = PartMessage {
        job: dirs[&en].clone(),
        part: Part::Scene(0),
    };
    let mut stitched_ja = None;
    for m in sent.iter().filter(|m| **m != lost) {
        let outcome = handle_part(&parts, m).await.unwrap();
        assert!(outcome.rendered, "{m:?}");
        if m.job == dirs[&ja] {
            stitched_ja = stitched_ja.or(outcome.stitched);
        } else {
            assert_eq!(outcome.stitched, None, "English is not complete: {m:?}");
        }
    }
    let again = handle_part(&parts, &first).await.unwrap();
    assert_eq!(
        again,
        PartOutcome {
            rendered: false,
            stitched: None
        },
        "a duplicate renders nothing"
    );
    assert!(
        stitched_ja.is_some(),
        "the run completing Japanese stitched it"
    );
    assert!(!media
        .media_exists(&part_key(&dirs[&en], Part::Sound))
        .await
        .unwrap());
    assert!(!media.media_exists(&stitch_key(&dirs[&en])).await.unwrap());

    // The periodic look: English has a part missing, so its message is sent again;
    // Japanese's stitch job is asked about and found finished.
    let next = reelforge_app::pipeline::process(&app, &message)
        .await
        .unwrap();
    assert_eq!(next, Next::RetryIn(RECHECK_SECS));
    assert_eq!(drain(&sqs, &parts_url).await, vec![lost.clone()]);
    let c = stored(&app, id).await;
    let ja_video = c.videos.iter().find(|v| v.id == ja).unwrap();
    assert_eq!(ja_video.status, VideoStatus::Ready);
    let ja_stem = ja_video.media_stem(id);
    assert_eq!(ja_video.file_key, Some(format!("{ja_stem}.mp4")));
    assert_eq!(
        ja_video.thumbnail_key,
        Some(format!("{ja_stem}.0000001.jpg")),
        "the stitch job's frame capture"
    );
    assert_eq!(ja_video.duration_seconds, Some(3.2));
    assert_eq!(c.status, CampaignStatus::Rendering);

    // The resent soundtrack completes English; the same message again (and concurrently)
    // finds the stitch recorded and creates no second job.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (parts, lost) = (
                Parts {
                    media: parts.media.clone(),
                    stitcher: parts.stitcher.clone(),
                    settings: parts.settings.clone(),
                },
                lost.clone(),
            );
            tokio::spawn(async move { handle_part(&parts, &lost).await.unwrap() })
        })
        .collect();
    let mut stitched = Vec::new();
    for r in runs {
        stitched.push(r.await.unwrap().stitched.expect("complete"));
    }
    assert_eq!(stitched[0], stitched[1], "one stitch job for both runs");
    let creates: Vec<Value> = stub
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.json())
        .collect();
    let tokens: std::collections::BTreeSet<&str> = creates
        .iter()
        .map(|b| b["clientRequestToken"].as_str().unwrap())
        .collect();
    assert_eq!(tokens.len(), 2, "one request token per video");

    // The exact stitch job of English.
    let en_video = c.videos.iter().find(|v| v.id == en).unwrap();
    let en_stem = en_video.media_stem(id);
    let body = creates
        .iter()
        .find(|b| b["userMetadata"]["video_id"] == en.to_string())
        .unwrap();
    assert_eq!(
        body["role"],
        "arn:aws:iam::123456789012:role/reelforge-mediaconvert"
    );
    let meta = &body["userMetadata"];
    assert_eq!(meta["campaign_id"], id.to_string());
    assert_eq!(meta["render_job"], format!("{FANOUT}{}", dirs[&en]));
    assert_eq!(meta["thumbnail_key"], format!("{en_stem}.0000001.jpg"));
    assert_eq!(meta["reelforge_stage"], "test");
    let settings = &body["settings"];
    assert_eq!(
        settings["inputs"].as_array().unwrap().len(),
        1,
        "one joined input"
    );
    assert_eq!(
        settings["inputs"][0]["fileInput"],
        format!("s3://{bucket}/{}", joined_key(&dirs[&en]))
    );
    let groups = settings["outputGroups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    for g in groups {
        assert_eq!(
            g["outputGroupSettings"]["fileGroupSettings"]["destination"],
            format!("s3://{bucket}/{en_stem}")
        );
    }
    let mp4 = &groups[0]["outputs"][0];
    assert_eq!(mp4["containerSettings"]["container"], "MP4");
    assert_eq!(mp4["videoDescription"]["width"], 1080);
    assert_eq!(mp4["videoDescription"]["height"], 1920);
    let norm = &mp4["audioDescriptions"][0]["audioNormalizationSettings"];
    assert_eq!(norm["algorithm"], "ITU_BS_1770_3");
    assert_eq!(norm["algorithmControl"], "CORRECT_AUDIO");
    assert_eq!(norm["targetLkfs"], -14.0);
    assert_eq!(norm["peakCalculation"], "TRUE_PEAK");
    assert_eq!(norm["truePeakLimiterThreshold"], -1.0);
    let thumbs = &groups[1]["outputs"][0];
    assert_eq!(thumbs["containerSettings"]["container"], "RAW");
    let capture = &thumbs["videoDescription"]["codecSettings"]["frameCaptureSettings"];
    assert_eq!(capture["maxCaptures"], 2);
    assert_eq!(thumbs["videoDescription"]["width"], 360);
    assert_eq!(thumbs["videoDescription"]["height"], 640);

    // What the stitch job reads: the joined video, portrait, 30 fps, with sound, as long
    // as the plan.
    let joined = media
        .get_media(&joined_key(&dirs[&en]))
        .await
        .unwrap()
        .unwrap();
    let path = std::env::temp_dir().join(format!("reelforge-fanout-joined-{id}.mp4"));
    std::fs::write(&path, &joined).unwrap();
    let json = probe(&path);
    let v = stream(&json, "video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1080), Some(1920))
    );
    assert_eq!(v["r_frame_rate"], "30/1");
    assert_eq!(stream(&json, "audio")["codec_name"], "aac");
    let bytes = media
        .get_media(&job_key(&dirs[&en]))
        .await
        .unwrap()
        .unwrap();
    let job: RenderJob = serde_json::from_slice(&bytes).unwrap();
    let planned = job.plan.main_duration_ms() as f64 / 1000.0;
    assert!(
        (duration(&json) - planned).abs() < 0.1,
        "{} vs {planned}",
        duration(&json)
    );
    let _ = std::fs::remove_file(&path);

    // The next look (the message comes back after its claim expired) finds English
    // finished too: the campaign is in review.
    let later = Context::new(app.ports.clone())
        .with_tools(app.tools.clone())
        .with_clock(Arc::new(reelforge_core::clock::ManualClock::new(
            (chrono::Utc::now() + chrono::Duration::minutes(5)).timestamp_millis(),
        )));
    assert_eq!(
        reelforge_app::pipeline::process(&later, &message)
            .await
            .unwrap(),
        Next::Done
    );
    let c = stored(&app, id).await;
    assert_eq!(c.status, CampaignStatus::Review);
    assert!(c.videos.iter().all(|v| v.status == VideoStatus::Ready));
}

/// The function's sample event through its batch handler: the part message is read and
/// handled. With no render job stored (the render was given up) it is acknowledged and
/// renders nothing; a message naming something other than a render directory, and an
/// unreadable body, fail and only those records are reported (SQS shows them again).
/// Giving the render up (`cancel`) removes its job, and a part message still queued
/// then does nothing. Nothing reaches MediaConvert.
#[tokio::test]
async fn the_sample_event_reaches_the_part_handler_and_failures_are_reported() {
    let stub = mediaconvert_stub().await;
    let dir = std::env::temp_dir().join(format!("reelforge-render-clip-{}", Uuid::new_v4()));
    let media: Arc<dyn MediaStore> = Arc::new(reelforge_local::LocalStore::open(&dir).unwrap());
    let config = sdk_config(&stub.endpoint).await;
    let stitcher = Stitcher {
        client: aws_sdk_mediaconvert::Client::new(&config),
        role_arn: "arn:aws:iam::123456789012:role/reelforge-mediaconvert".into(),
        queue_arn: None,
        bucket: "reelforge-test-media".into(),
        deployment_stage: "test".into(),
    };
    let parts = Parts {
        media: media.clone(),
        stitcher: stitcher.clone(),
        settings: reelforge_studio::FfmpegSettings::default(),
    };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/render-clip.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let message: PartMessage =
        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(message.part, Part::Scene(0));
    let mut outside = event["Records"][0].clone();
    outside["messageId"] = json!("outside-1");
    outside["body"] = json!(r#"{"job":"videos/x","part":"scene","index":0}"#);
    let mut unreadable = event["Records"][0].clone();
    unreadable["messageId"] = json!("unreadable-1");
    unreadable["body"] = json!("{\"job\": 7}");
    event["Records"].as_array_mut().unwrap().push(outside);
    event["Records"].as_array_mut().unwrap().push(unreadable);
    let batch: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(event).unwrap();
    let response = reelforge_lambda::handle_part_batch(&parts, batch).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, ["outside-1", "unreadable-1"]);
    assert_eq!(
        handle_part(&parts, &message).await.unwrap(),
        PartOutcome::default()
    );
    let key = part_key(&message.job, message.part);
    assert_eq!(media.get_media(&key).await.unwrap(), None);

    // A job stored (here one the handler cannot read) makes the message fail; once the
    // render is given up, the same message does nothing.
    media
        .put_media(
            &job_key(&message.job),
            "not a job".into(),
            "application/json",
        )
        .await
        .unwrap();
    assert!(handle_part(&parts, &message).await.is_err());
    let renderer = FanOutRenderer {
        media: media.clone(),
        parts: PartQueue::from_config(&config, "http://127.0.0.1:9/unused".into()),
        stitcher,
    };
    use reelforge_core::ports::VideoRenderer;
    renderer
        .cancel(&format!("{FANOUT}{}", message.job))
        .await
        .unwrap();
    assert_eq!(media.get_media(&job_key(&message.job)).await.unwrap(), None);
    assert_eq!(
        handle_part(&parts, &message).await.unwrap(),
        PartOutcome::default()
    );
    // Only a render directory is removed; a job that is not a fan-out has nothing to give up.
    assert!(renderer.cancel(&format!("{FANOUT}videos/x")).await.is_err());
    renderer.cancel("1234567890123-abcdef").await.unwrap();
    assert!(stub.requests().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
