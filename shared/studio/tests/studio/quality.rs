//! What a viewer judges, measured on rendered files: captions readable over any page
//! (WCAG contrast of the text against what is behind it, on white, dark and busy pages,
//! inside the platforms' safe zone) and music that steps back under the voice.

use crate::render::{ffmpeg, workdir};
use reelforge_core::render::{
    caption_box, safe_zone, AudioTrack, Cam, CaptionCue, CaptionStyle, Captions, FrameSize,
    PixelRect, RenderPlan, Rgb, Scene, Shot, Transition, WordTiming,
};
use reelforge_studio::video::audio::{ducked_music_stem, Soundtrack};
use reelforge_studio::{render_with_ffmpeg, FfmpegSettings};
use reelforge_testkit::media::{caption_contrast, frame};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A still page image from a lavfi source (`color=c=white`, `testsrc2`, …).
fn page(dir: &Path, name: &str, source: &str) -> PathBuf {
    let path = dir.join(name);
    let src = format!("{source}:s=1080x1920,format=rgb24");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-frames:v",
        "1",
        path.to_str().unwrap(),
    ]);
    path
}

fn still(image: PathBuf, duration_ms: u64) -> Scene {
    let cam = Cam {
        x: 0.0,
        y: 0.0,
        zoom: 1.0,
    };
    Scene {
        duration_ms,
        shot: Shot::Camera {
            image,
            image_width: 1080,
            image_height: 1920,
            from: cam,
            to: cam,
            pad: Rgb::WHITE,
        },
        transition: Transition::PushUp,
        note: String::new(),
    }
}

/// Words spoken back to back from `start_ms`, `each_ms` apiece.
fn words(text: &str, start_ms: u64, each_ms: u64) -> Vec<WordTiming> {
    text.split(' ')
        .enumerate()
        .map(|(i, w)| WordTiming {
            text: w.to_string(),
            start_ms: start_ms + i as u64 * each_ms,
            end_ms: start_ms + (i as u64 + 1) * each_ms - 30,
        })
        .collect()
}

/// A plan of still pages with one long caption running over all of them.
fn plan(dir: &Path, pages: Vec<PathBuf>, each_ms: u64, style: CaptionStyle) -> RenderPlan {
    let total = each_ms * pages.len() as u64;
    let voice = dir.join("voice.wav");
    let src = format!(
        "sine=frequency=220:sample_rate=24000:duration={}",
        total as f64 / 1000.0
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-ac",
        "1",
        voice.to_str().unwrap(),
    ]);
    let text =
        "Ship polished product videos from any page in minutes with captions everyone can read";
    let n = text.split(' ').count() as u64;
    RenderPlan {
        size: FrameSize::PORTRAIT_1080,
        fps: 30,
        scenes: pages.into_iter().map(|p| still(p, each_ms)).collect(),
        voiceover: AudioTrack {
            path: voice,
            duration_ms: total,
        },
        speech: vec![(100, total - 100)],
        music: None,
        captions: Some(Captions {
            language: "en".into(),
            style,
            cues: vec![CaptionCue {
                words: words(text, 100, (total - 200) / n),
            }],
        }),
        watermark: None,
        end_clip: None,
    }
}

fn inside(outer: PixelRect, inner: PixelRect) -> bool {
    inner.x >= outer.x
        && inner.y >= outer.y
        && inner.x + inner.width <= outer.x + outer.width
        && inner.y + inner.height <= outer.y + outer.height
}

/// The default captions read at WCAG AA (4.5:1) or better over a white page, a dark page
/// and a busy one (colour bars, gradients and text), and sit inside the portrait safe
/// zone; the same text drawn plainly (white, no box, no outline) over the white page
/// measures below 1.5:1, so the measure tells the two apart.
#[tokio::test]
async fn captions_read_at_aa_contrast_over_white_dark_and_busy_pages_inside_the_safe_zone() {
    let dir = workdir("contrast");
    let size = FrameSize::PORTRAIT_1080;
    let pages = vec![
        page(&dir, "white.png", "color=c=white"),
        page(&dir, "dark.png", "color=c=0x101418"),
        page(&dir, "busy.png", "testsrc2=r=1"),
    ];
    let style = CaptionStyle::default();
    let colours = [style.color, style.highlight_color];
    let green = || page(&dir, "green.png", "color=c=0x00ff00");
    // The plan over the pages, and the same plan over green pages (the text's mask).
    let render = |name: &'static str, pages: Vec<PathBuf>, style: CaptionStyle| {
        let plan = plan(&dir, pages, 1500, style);
        let out = dir.join(format!("{name}.mp4"));
        let work = workdir(name);
        async move {
            render_with_ffmpeg(&plan, &work, &out)
                .await
                .expect("render");
            (plan, out)
        }
    };
    let (boxed, out) = render("boxed", pages, style.clone()).await;
    let (_, masks) = render(
        "boxed-green",
        vec![green(), green(), green()],
        style.clone(),
    )
    .await;
    let rect = caption_box(boxed.captions.as_ref().unwrap(), size, style.lines as usize);
    assert!(
        inside(safe_zone(size), rect),
        "caption box {rect:?} outside the safe zone {:?}",
        safe_zone(size)
    );
    let mut measured = Vec::new();
    for (name, t) in [("white", 0.8), ("dark", 2.3), ("busy", 3.8)] {
        let contrast = caption_contrast(
            &frame(&out, t, size),
            &frame(&masks, t, size),
            size,
            rect,
            &colours,
        );
        measured.push((name, (contrast * 10.0).round() / 10.0));
    }
    assert!(
        measured.iter().all(|(_, c)| *c >= 4.5),
        "caption contrast per page: {measured:?}"
    );

    let mut plain = style.clone();
    plain.backdrop = None;
    plain.stroke_thickness = 0;
    plain.highlighter = false;
    let white = page(&dir, "white2.png", "color=c=white");
    let (bare, out) = render("bare", vec![white], plain.clone()).await;
    let (_, masks) = render("bare-green", vec![green()], plain.clone()).await;
    let rect = caption_box(bare.captions.as_ref().unwrap(), size, 2);
    let contrast = caption_contrast(
        &frame(&out, 0.8, size),
        &frame(&masks, 0.8, size),
        size,
        rect,
        &[plain.color],
    );
    println!("caption contrast per page: {measured:?}; plain white on white: {contrast:.2}");
    assert!(contrast < 1.5, "plain white on white measured {contrast}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Mean volume (dB) of `path`'s audio between `from` and `to` seconds.
fn window_volume_db(path: &Path, from: f64, to: f64) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(path)
        .args([
            "-af",
            &format!("atrim={from}:{to},volumedetect"),
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg on PATH");
    let log = String::from_utf8_lossy(&out.stderr);
    log.lines()
        .find_map(|l| l.split("mean_volume:").nth(1))
        .expect("volumedetect output")
        .trim()
        .trim_end_matches(" dB")
        .parse()
        .unwrap()
}

/// The music bed under a sentence spoken from 1 s to 4 s is at least 10 dB quieter
/// than where nobody speaks (5.2–6.8 s), so the voice is never fighting the music.
#[tokio::test]
async fn music_steps_back_at_least_10_db_while_the_voice_speaks() {
    let dir = workdir("ducking");
    let speech = [(1000, 4000)];
    let voice = dir.join("unused-voice.wav");
    let track = Soundtrack {
        voice: &voice,
        music: Some(None),
        speech: &speech,
        main_ms: 7000,
        end_clip: None,
    };
    let stem = ducked_music_stem(&FfmpegSettings::default(), &track, &dir.join("music.wav"))
        .await
        .expect("ducked music");
    let under_voice = window_volume_db(&stem, 1.5, 3.5);
    let alone = window_volume_db(&stem, 5.2, 6.8);
    println!("music {under_voice:.1} dB under the voice, {alone:.1} dB alone");
    assert!(
        alone - under_voice >= 10.0,
        "music {under_voice:.1} dB under the voice, {alone:.1} dB alone"
    );
    assert!(alone > -40.0, "the bed is silent: {alone:.1} dB");
    let _ = std::fs::remove_dir_all(&dir);
}
