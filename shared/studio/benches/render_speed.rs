//! Render speed of the local ffmpeg backend: output seconds per wall second for a 40 s
//! 1080x1920 video (5 landscape screenshots fitted over blurred backgrounds, a 40 s
//! voiceover, ~110 highlighted caption words in 2-line pages, a watermark).
//!
//! Run: `cargo bench -p reelforge-studio --bench render_speed`
//! (env BENCH_RUNS, default 3; BENCH_FPS, BENCH_PRESET = ultrafast|superfast|veryfast,
//! BENCH_END_CLIP=1 adds a 3 s end clip).

use reelforge_testkit::bench_report as common;

use reelforge_core::model::Platform;
use reelforge_core::render::{
    AudioTrack, CaptionCue, CaptionStyle, Captions, Corner, EndClip, ImageFit, RenderPlan, Scene,
    Watermark, WordTiming,
};
use reelforge_studio::{render_with_ffmpeg_settings, FfmpegSettings, X264Preset};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg")
        .success();
    assert!(ok, "ffmpeg {args:?}");
}

fn inputs(dir: &Path, end_clip: bool) -> RenderPlan {
    let mut scenes = Vec::new();
    for i in 0..5 {
        let path = dir.join(format!("scene{i}.png"));
        // Detailed content (not a flat colour) so intra frames cost what screenshots do.
        let src = format!("testsrc2=s=1440x900,hue=h={}", i * 60);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &src,
            "-frames:v",
            "1",
            path.to_str().unwrap(),
        ]);
        scenes.push(Scene {
            image: path,
            duration_ms: 8000,
            fit: ImageFit::Contain,
        });
    }
    let voice = dir.join("voice.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=220:sample_rate=24000:duration=40",
        "-ac",
        "1",
        voice.to_str().unwrap(),
    ]);
    let wm = dir.join("wm.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=white@0.7:s=400x120,format=rgba",
        "-frames:v",
        "1",
        wm.to_str().unwrap(),
    ]);
    let text = "Reelforge turns any product page into a short video with a voiceover and \
                captions that follow every spoken word so viewers keep watching until the end";
    let vocab: Vec<&str> = text.split(' ').collect();
    let mut cues = Vec::new();
    let mut t = 300;
    while t + 3600 < 40_000 {
        let words = (0..10)
            .map(|i| {
                let w = WordTiming {
                    text: vocab[(t as usize / 360 + i) % vocab.len()].to_string(),
                    start_ms: t,
                    end_ms: t + 300,
                };
                t += 340;
                w
            })
            .collect();
        cues.push(CaptionCue { words });
        t += 200;
    }
    let end = end_clip.then(|| {
        let path = dir.join("end.mp4");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1280x720:r=30:d=3",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            path.to_str().unwrap(),
        ]);
        EndClip { path }
    });
    RenderPlan {
        size: Platform::YoutubeShorts.frame_size(),
        scenes,
        voiceover: AudioTrack {
            path: voice,
            duration_ms: 40_000,
        },
        captions: Some(Captions {
            language: "en".into(),
            style: CaptionStyle::default(),
            cues,
        }),
        watermark: Some(Watermark {
            image: wm,
            position: Corner::TopRight,
            width_fraction: 0.2,
        }),
        end_clip: end,
    }
}

fn main() {
    let env = |k: &str| std::env::var(k).ok();
    let runs: usize = env("BENCH_RUNS").and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut settings = FfmpegSettings::default();
    if let Some(fps) = env("BENCH_FPS").and_then(|v| v.parse().ok()) {
        settings.fps = fps;
    }
    settings.preset = match env("BENCH_PRESET").as_deref() {
        Some("superfast") => X264Preset::Superfast,
        Some("veryfast") => X264Preset::Veryfast,
        _ => X264Preset::Ultrafast,
    };
    let end_clip = env("BENCH_END_CLIP").as_deref() == Some("1");
    let dir: PathBuf =
        std::env::temp_dir().join(format!("reelforge-render-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("workdir");
    let plan = inputs(&dir, end_clip);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut speeds = Vec::new();
    let mut output_seconds = 0.0;
    for run in 0..runs {
        let out = dir.join(format!("out{run}.mp4"));
        let started = Instant::now();
        let result = rt
            .block_on(render_with_ffmpeg_settings(&plan, &dir, &out, &settings))
            .expect("render");
        let wall = started.elapsed().as_secs_f64();
        let secs = result.duration_ms as f64 / 1000.0;
        let speed = secs / wall;
        output_seconds = secs;
        println!(
            "run {run}: {secs:.2} s of {}x{} video in {wall:.2} s wall = {speed:.2}x ({} KiB)",
            result.width,
            result.height,
            result.bytes / 1024
        );
        speeds.push(speed);
    }
    speeds.sort_by(|a, b| a.total_cmp(b));
    println!(
        "render_speed fps={} preset={:?} end_clip={end_clip}: median {:.2}x output s / wall s (min {:.2}x, max {:.2}x)",
        settings.fps,
        settings.preset,
        speeds[speeds.len() / 2],
        speeds[0],
        speeds[speeds.len() - 1]
    );
    common::write_json(serde_json::json!({
        "output_seconds": output_seconds,
        "width": 1080,
        "height": 1920,
        "fps": settings.fps,
        "preset": format!("{:?}", settings.preset),
        "runs": speeds,
        "median_speed": speeds[speeds.len() / 2],
    }));
    let _ = std::fs::remove_dir_all(&dir);
}
