//! Render speed of the local renderer: output seconds per wall second for a 40 s
//! 1080x1920 video with motion — the bundled sample page captured whole (Chromium),
//! a storyboard of eight sentences over it (opening card, pushes, scrolls, pulls, pans,
//! transitions, closing card), a 40 s voiceover, a ducked music bed, ~100 highlighted
//! caption words.
//!
//! Run: `cargo bench -p reelforge-studio --bench render_speed`
//! (env BENCH_RUNS, default 3; BENCH_FPS, default 30; BENCH_JOBS, default the cores;
//! BENCH_KEEP=1 keeps the working directory: the clips, caption files and card images).

use reelforge_testkit::bench_report as common;

use reelforge_core::layout::RegionKind;
use reelforge_core::model::Language;
use reelforge_core::ports::PageSource;
use reelforge_core::render::{
    AudioTrack, CaptionCue, CaptionStyle, Captions, FrameSize, Music, RenderPlan, Rgb, WordTiming,
};
use reelforge_core::storyboard::{storyboard, Brand, SpokenSentence, StoryInput};
use reelforge_studio::{
    capture_pages, render_with_ffmpeg_settings, CaptureOptions, FfmpegSettings,
};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SECONDS: u64 = 40;

fn cpu_seconds_of_children() -> f64 {
    // RUSAGE_CHILDREN through /proc is not available; `times` via the shell's accounting
    // is: read this process's own children's totals from /proc/self/stat (fields 16, 17).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = 100.0;
    let cutime: f64 = fields.get(13).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let cstime: f64 = fields.get(14).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (cutime + cstime) / tick
}

async fn plan(dir: &Path, fps: u32) -> RenderPlan {
    let size = FrameSize::PORTRAIT_1080;
    let html = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-site/index.html");
    let shots = capture_pages(
        &[PageSource {
            variant: "page".into(),
            html,
        }],
        &[size],
        &CaptureOptions::from_env(),
        dir,
    )
    .await
    .expect("capture the sample page");
    let shot = &shots[0];
    let texts: Vec<String> = shot
        .layout
        .regions
        .iter()
        .filter(|r| matches!(r.kind, RegionKind::Feature | RegionKind::Heading))
        .map(|r| r.text.clone())
        .collect();
    let mut sentences = vec!["Meet Lumen Notes, the notes app that organises itself.".to_string()];
    sentences.extend(texts.iter().take(6).cloned());
    sentences.push("Start free with Lumen Notes today.".to_string());
    let per = SECONDS * 1000 / sentences.len() as u64;
    let spoken: Vec<SpokenSentence> = sentences
        .iter()
        .enumerate()
        .map(|(i, t)| SpokenSentence {
            text: t.clone(),
            start_ms: i as u64 * per,
            end_ms: i as u64 * per + per - 450,
        })
        .collect();
    let voice = dir.join("voice.wav");
    let ok = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=220:sample_rate=24000:duration={SECONDS}"
        ))
        .args(["-ac", "1"])
        .arg(&voice)
        .status()
        .expect("ffmpeg")
        .success();
    assert!(ok);
    let brand = Brand {
        name: "Lumen Notes".into(),
        tagline: "Notes that organise themselves".into(),
        domain: "lumennotes.app".into(),
        call_to_action: "Start free today".into(),
        colours: shot.layout.brand_colours(),
    };
    let board = storyboard(&StoryInput {
        size,
        page_image: shot.image.clone(),
        layout: &shot.layout,
        sentences: &spoken,
        voice_ms: SECONDS * 1000,
        brand: &brand,
        language: Language::En,
    });
    let cues: Vec<CaptionCue> = spoken
        .iter()
        .map(|s| {
            let words: Vec<&str> = s.text.split_whitespace().collect();
            let step = (s.end_ms - s.start_ms) / words.len().max(1) as u64;
            CaptionCue {
                words: words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| WordTiming {
                        text: w.to_string(),
                        start_ms: s.start_ms + i as u64 * step,
                        end_ms: s.start_ms + (i as u64 + 1) * step - 20,
                    })
                    .collect(),
            }
        })
        .collect();
    RenderPlan {
        size,
        fps,
        speech: spoken.iter().map(|s| (s.start_ms, s.end_ms)).collect(),
        scenes: board.scenes,
        voiceover: AudioTrack {
            path: voice,
            duration_ms: SECONDS * 1000,
        },
        music: Some(Music { path: None }),
        captions: Some(Captions {
            language: "en".into(),
            style: CaptionStyle::default(),
            cues,
        }),
        watermark: None,
        end_clip: None,
    }
}

#[tokio::main]
async fn main() {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let runs: usize = env("BENCH_RUNS").and_then(|v| v.parse().ok()).unwrap_or(3);
    let fps: u32 = env("BENCH_FPS").and_then(|v| v.parse().ok()).unwrap_or(30);
    let mut settings = FfmpegSettings::default();
    if let Some(jobs) = env("BENCH_JOBS").and_then(|v| v.parse().ok()) {
        settings.jobs = jobs;
    }
    let dir = std::env::temp_dir().join(format!("reelforge-bench-render-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let plan = plan(&dir, fps).await;
    println!(
        "plan: {} scenes, {:.1} s, {fps} fps, {} jobs",
        plan.scenes.len(),
        plan.main_duration_ms() as f64 / 1000.0,
        settings.jobs
    );
    let mut speeds = Vec::new();
    let mut results = Vec::new();
    for run in 0..runs {
        let work = dir.join(format!("run{run}"));
        std::fs::create_dir_all(&work).unwrap();
        let out = work.join("out.mp4");
        let cpu0 = cpu_seconds_of_children();
        let started = Instant::now();
        let output = render_with_ffmpeg_settings(&plan, &work, &out, &settings)
            .await
            .expect("render");
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds_of_children() - cpu0;
        let seconds = output.duration_ms as f64 / 1000.0;
        let speed = seconds / wall;
        println!(
            "run {}: {seconds:.1} s of video in {wall:.2} s wall ({speed:.2}x real time), {cpu:.1} s CPU, {:.1} MB",
            run + 1,
            output.bytes as f64 / 1e6
        );
        speeds.push(speed);
        results.push(serde_json::json!({"wall_seconds": wall, "cpu_seconds": cpu, "speed": speed, "bytes": output.bytes}));
        let _ = Rgb::WHITE;
    }
    speeds.sort_by(f64::total_cmp);
    let median = speeds[speeds.len() / 2];
    println!("median: {median:.2}x real time");
    common::write_json(serde_json::json!({
        "output_seconds": SECONDS,
        "fps": fps,
        "preset": "ultrafast+",
        "jobs": settings.jobs,
        "runs": results,
        "median_speed": median,
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }));
    if env("BENCH_KEEP").is_some() {
        println!("kept: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
