//! The ffmpeg renderer end to end: each test makes its own inputs with ffmpeg's lavfi
//! sources, renders a short plan (≤ 6 s), and checks the file with ffprobe and with
//! pixels of grabbed frames. Needs ffmpeg, fonts-noto-cjk and fonts-dejavu-core
//! (infra/test.sh installs them).

use reelforge_core::model::Platform;
use reelforge_core::render::{
    caption_box, AudioTrack, Cam, CaptionCue, CaptionStyle, Captions, Corner, EndClip, FrameSize,
    PixelRect, RenderPlan, Rgb, Scene, Shadow, Shot, Transition, Watermark, WordTiming,
};
use reelforge_studio::{render_with_ffmpeg, render_with_ffmpeg_settings, FfmpegSettings};
use std::path::{Path, PathBuf};
use std::process::Command;

use media::{count, duration, frame, mask, mean_volume_db, probe, stream};
use reelforge_testkit::media;

/// A camera scene scrolling 200 px down a page image `page_height` tall (the frame's
/// width wide).
fn scene(image: PathBuf, size: FrameSize, page_height: u32, duration_ms: u64) -> Scene {
    let _ = size;
    Scene {
        duration_ms,
        shot: Shot::Camera {
            image,
            image_width: size.width,
            image_height: page_height,
            from: Cam {
                x: 0.0,
                y: 0.0,
                zoom: 1.0,
            },
            to: Cam {
                x: 0.0,
                y: 200.0,
                zoom: 1.0,
            },
            pad: Rgb::WHITE,
        },
        transition: Transition::PushUp,
        note: String::new(),
    }
}

pub(crate) fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reelforge-render-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) use media::ffmpeg;

fn image(dir: &Path, name: &str, colour: &str, size: &str) -> PathBuf {
    let path = dir.join(name);
    let src = format!("color=c={colour}:s={size},format=rgba");
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

fn tone(dir: &Path, secs: f32) -> PathBuf {
    let path = dir.join("voice.wav");
    let src = format!("sine=frequency=330:sample_rate=24000:duration={secs}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-ac",
        "1",
        path.to_str().unwrap(),
    ]);
    path
}

fn end_clip(dir: &Path, secs: f32) -> PathBuf {
    let path = dir.join("end.mp4");
    let v = format!("testsrc2=s=640x360:r=30:d={secs}");
    let a = format!("sine=frequency=660:duration={secs}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &v,
        "-f",
        "lavfi",
        "-i",
        &a,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-shortest",
        path.to_str().unwrap(),
    ]);
    path
}

fn words(text: &str, sep: char, start_ms: u64, each_ms: u64) -> Vec<WordTiming> {
    text.split(sep)
        .enumerate()
        .map(|(i, w)| WordTiming {
            text: w.to_string(),
            start_ms: start_ms + i as u64 * each_ms,
            end_ms: start_ms + (i as u64 + 1) * each_ms - 50,
        })
        .collect()
}

fn rect_outside(size: FrameSize, r: PixelRect) -> PixelRect {
    // The band above the caption box, same height: nothing caption-coloured belongs there.
    PixelRect {
        x: 0,
        y: r.y.saturating_sub(r.height),
        width: size.width,
        height: r.height.min(r.y),
    }
}

#[tokio::test]
async fn portrait_render_has_size_codecs_duration_audio_captions_and_highlight() {
    let dir = workdir("portrait");
    let size = Platform::Tiktok.frame_size();
    assert_eq!(size, FrameSize::PORTRAIT_1080);
    let style = CaptionStyle::default();
    let plan = RenderPlan {
        size,
        fps: 30,
        speech: vec![],
        music: None,
        scenes: vec![
            scene(
                image(&dir, "a.png", "0x1a3a6e", "1080x2400"),
                size,
                2400,
                1500,
            ),
            scene(
                image(&dir, "b.png", "0x204020", "1080x2400"),
                size,
                2400,
                1500,
            ),
        ],
        voiceover: AudioTrack {
            path: tone(&dir, 3.0),
            duration_ms: 3000,
        },
        captions: Some(Captions {
            language: "en".into(),
            style: style.clone(),
            cues: vec![CaptionCue {
                words: words("Make videos {fast} with Reelforge", ' ', 500, 450),
            }],
        }),
        watermark: Some(Watermark {
            image: image(&dir, "wm.png", "0xff0000", "300x120"),
            position: Corner::TopRight,
            width_fraction: 0.2,
        }),
        end_clip: Some(EndClip {
            path: end_clip(&dir, 1.5),
        }),
    };
    let out = dir.join("out.mp4");
    let result = render_with_ffmpeg(&plan, &dir, &out).await.expect("render");
    assert_eq!((result.width, result.height), (1080, 1920));

    let json = probe(&out);
    let v = stream(&json, "video");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1080), Some(1920))
    );
    assert_eq!(stream(&json, "audio")["codec_name"], "aac");
    let expected = 3.0 + 1.5;
    let got = duration(&json);
    assert!(
        (got - expected).abs() <= 0.5,
        "duration {got} vs {expected}"
    );
    let vol = mean_volume_db(&out);
    assert!(vol > -40.0, "audio is silent: mean {vol} dB");

    let captions = plan.captions.as_ref().unwrap();
    let boxr = caption_box(captions, size, style.lines as usize);
    // Before the first word: no caption.
    let before = frame(&out, 0.2, size);
    assert!(count(&mask(&before, size, boxr, style.color)) < 50);
    // During "videos" (0.95 s .. 1.4 s): white text and the yellow word in the box.
    let during = frame(&out, 1.15, size);
    let white = count(&mask(&during, size, boxr, style.color));
    let yellow = count(&mask(&during, size, boxr, style.highlight_color));
    assert!(white > 2000, "caption text pixels: {white}");
    assert!(yellow > 1000, "highlighted word pixels: {yellow}");
    let above = rect_outside(size, boxr);
    assert!(count(&mask(&during, size, above, style.color)) < 50);
    // The next word highlighted on the same caption page: the yellow moves on to it
    // ("videos" then "{fast}", wherever the page's lines break).
    let later = frame(&out, 1.6, size);
    let yellow_centre = |rgb: &[u8]| {
        let m = mask(rgb, size, boxr, style.highlight_color);
        let (mut n, mut sx, mut sy) = (0usize, 0usize, 0usize);
        for (i, _) in m.iter().enumerate().filter(|(_, &b)| b) {
            n += 1;
            sx += i % boxr.width as usize;
            sy += i / boxr.width as usize;
        }
        assert!(n > 500, "no highlighted word: {n} px");
        (sx as f64 / n as f64, sy as f64 / n as f64)
    };
    let ((x0, y0), (x1, y1)) = (yellow_centre(&during), yellow_centre(&later));
    assert!(
        (x1 - x0).hypot(y1 - y0) > 50.0,
        "highlight centre ({x0}, {y0}) then ({x1}, {y1})"
    );
    // Watermark in the top-right corner.
    let corner = PixelRect {
        x: size.width - 300,
        y: 0,
        width: 300,
        height: 200,
    };
    assert!(count(&mask(&during, size, corner, Rgb::new(255, 0, 0))) > 5000);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-line, highlight-free caption style that makes glyphs easy to segment.
fn plain_style(font: &str) -> CaptionStyle {
    CaptionStyle {
        font: font.parse().unwrap(),
        size: 80,
        bold: false,
        stroke_thickness: 0,
        shadow: Shadow {
            x: 0,
            y: 0,
            color: Rgb::BLACK,
            blur: 0,
        },
        lines: 1,
        highlighter: false,
        backdrop: None,
        ..CaptionStyle::default()
    }
}

/// Renders a 2 s still with `text` as its only caption; returns the caption-box mask.
async fn caption_mask(
    name: &str,
    size: FrameSize,
    language: &str,
    text: &str,
    style: CaptionStyle,
    fonts_dir: Option<PathBuf>,
) -> (Vec<bool>, PixelRect) {
    let dir = workdir(name);
    let plan = RenderPlan {
        size,
        fps: 30,
        speech: vec![],
        music: None,
        scenes: vec![scene(
            image(
                &dir,
                "bg.png",
                "0x202840",
                &format!("{}x{}", size.width, size.height + 400),
            ),
            size,
            size.height + 400,
            2000,
        )],
        voiceover: AudioTrack {
            path: tone(&dir, 2.0),
            duration_ms: 2000,
        },
        captions: Some(Captions {
            language: language.into(),
            style: style.clone(),
            cues: vec![CaptionCue {
                words: vec![WordTiming {
                    text: text.into(),
                    start_ms: 0,
                    end_ms: 1900,
                }],
            }],
        }),
        watermark: None,
        end_clip: None,
    };
    let settings = FfmpegSettings {
        fonts_dir,
        ..FfmpegSettings::default()
    };
    let out = dir.join("out.mp4");
    let result = render_with_ffmpeg_settings(&plan, &dir, &out, &settings)
        .await
        .expect("render");
    assert_eq!((result.width, result.height), (size.width, size.height));
    assert_eq!(result.video_codec, "h264");
    assert_eq!(result.audio_codec.as_deref(), Some("aac"));
    assert!((result.duration_ms as i64 - 2000).abs() <= 500);
    let rgb = frame(&out, 1.0, size);
    let rect = caption_box(plan.captions.as_ref().unwrap(), size, 1);
    let m = mask(&rgb, size, rect, style.color);
    let _ = std::fs::remove_dir_all(&dir);
    (m, rect)
}

/// Splits a mask into blobs separated by empty columns and counts the distinct shapes
/// among them. Tofu is the same box for every missing character, so a tofu caption has
/// one or two distinct shapes however many characters it has; real glyphs differ.
fn distinct_glyph_shapes(m: &[bool], rect: PixelRect) -> (usize, usize) {
    let (w, h) = (rect.width as usize, rect.height as usize);
    let col_on = |x: usize| (0..h).any(|y| m[y * w + x]);
    let mut blobs = Vec::new();
    let mut x = 0;
    while x < w {
        if !col_on(x) {
            x += 1;
            continue;
        }
        let start = x;
        while x < w && col_on(x) {
            x += 1;
        }
        blobs.push((start, x));
    }
    // Signature: the blob's bounding box scaled to an 8x8 occupancy grid, plus its size.
    let sigs: Vec<(usize, usize, Vec<bool>)> = blobs
        .iter()
        .filter(|(a, b)| b - a >= 3)
        .map(|&(a, b)| {
            let rows: Vec<usize> = (0..h).filter(|&y| (a..b).any(|x| m[y * w + x])).collect();
            let (y0, y1) = (rows[0], rows[rows.len() - 1] + 1);
            let mut grid = vec![false; 64];
            for y in y0..y1 {
                for x in a..b {
                    if m[y * w + x] {
                        let gy = (y - y0) * 8 / (y1 - y0);
                        let gx = (x - a) * 8 / (b - a);
                        grid[gy * 8 + gx] = true;
                    }
                }
            }
            (b - a, y1 - y0, grid)
        })
        .collect();
    let mut reps: Vec<&(usize, usize, Vec<bool>)> = Vec::new();
    for s in &sigs {
        let same = reps.iter().any(|r| {
            r.0.abs_diff(s.0) <= 3
                && r.1.abs_diff(s.1) <= 3
                && r.2.iter().zip(&s.2).filter(|(a, b)| a != b).count() <= 6
        });
        if !same {
            reps.push(s);
        }
    }
    (reps.len(), sigs.len())
}

/// A fonts directory holding only DejaVu Sans, which has no CJK glyphs.
fn latin_only_fonts(name: &str) -> PathBuf {
    let dir = workdir(&format!("{name}-fonts"));
    std::fs::copy(
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        dir.join("DejaVuSans.ttf"),
    )
    .expect("fonts-dejavu-core installed");
    dir
}

async fn assert_real_glyphs(name: &str, size: FrameSize, language: &str, text: &str) {
    let chars = text.chars().filter(|c| !c.is_whitespace()).count();
    let (real, rect) = caption_mask(
        &format!("{name}-noto"),
        size,
        language,
        text,
        plain_style("Noto Sans CJK JP"),
        None,
    )
    .await;
    let (tofu, _) = caption_mask(
        &format!("{name}-tofu"),
        size,
        language,
        text,
        plain_style("DejaVu Sans"),
        Some(latin_only_fonts(name)),
    )
    .await;
    let (real_shapes, real_blobs) = distinct_glyph_shapes(&real, rect);
    let (tofu_shapes, tofu_blobs) = distinct_glyph_shapes(&tofu, rect);
    let differing = real.iter().zip(&tofu).filter(|(a, b)| a != b).count();
    let union = real.iter().zip(&tofu).filter(|(a, b)| **a || **b).count();
    eprintln!(
        "{name}: {chars} chars; real {} px, {real_blobs} blobs, {real_shapes} shapes; \
         tofu {} px, {tofu_blobs} blobs, {tofu_shapes} shapes; differing {differing}/{union}",
        count(&real),
        count(&tofu)
    );
    // Something was drawn in the caption colour in both renders.
    assert!(count(&real) > 3000, "real glyphs drawn");
    // The Noto render shows many different shapes; the fallback shows the same box.
    assert!(
        real_shapes * 2 >= chars,
        "real render has {real_shapes} shapes for {chars} chars"
    );
    assert!(
        tofu_shapes <= 2,
        "tofu render should repeat one shape, got {tofu_shapes}"
    );
    // And the two frames differ over most of the drawn area.
    assert!(
        differing * 2 > union,
        "frames differ in {differing} of {union} pixels"
    );
}

#[tokio::test]
async fn japanese_captions_render_real_glyphs_not_tofu() {
    assert_real_glyphs("ja", FrameSize::LANDSCAPE_1080, "ja", "動画を今すぐ作ろう").await;
}

#[tokio::test]
async fn korean_captions_render_real_glyphs_not_tofu() {
    assert_real_glyphs("ko", FrameSize::PORTRAIT_1080, "ko", "동영상을 지금 만들기").await;
}

#[tokio::test]
async fn landscape_japanese_wrapped_captions_and_silent_end_clip() {
    let dir = workdir("landscape");
    let size = Platform::Youtube.frame_size();
    // An end clip without an audio stream gets silence of its own length.
    let clip = dir.join("end-silent.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0x000000:s=1280x720:r=25:d=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        clip.to_str().unwrap(),
    ]);
    let style = CaptionStyle {
        lines: 2,
        size: 90,
        ..CaptionStyle::default()
    };
    let cue = CaptionCue {
        words: words("この動画は|商品ページから|自動で|作られました。|字幕も|話している|言葉を|追いかけます！", '|', 200, 300),
    };
    let plan = RenderPlan {
        size,
        fps: 30,
        speech: vec![],
        music: None,
        scenes: vec![scene(
            image(&dir, "a.png", "0x301020", "1920x1400"),
            size,
            1400,
            2500,
        )],
        voiceover: AudioTrack {
            path: tone(&dir, 2.6),
            duration_ms: 2600,
        },
        captions: Some(Captions {
            language: "ja".into(),
            style: style.clone(),
            cues: vec![cue],
        }),
        watermark: None,
        end_clip: Some(EndClip { path: clip }),
    };
    let out = dir.join("out.mp4");
    let result = render_with_ffmpeg(&plan, &dir, &out).await.expect("render");
    assert_eq!((result.width, result.height), (1920, 1080));
    let got = result.duration_ms as f64 / 1000.0;
    assert!((got - 3.6).abs() <= 0.5, "duration {got}");
    let json = probe(&out);
    assert_eq!(stream(&json, "audio")["codec_name"], "aac");
    assert!(mean_volume_db(&out) > -45.0);
    let boxr = caption_box(plan.captions.as_ref().unwrap(), size, 2);
    let rgb = frame(&out, 0.6, size);
    assert!(count(&mask(&rgb, size, boxr, style.color)) > 2000);
    assert!(count(&mask(&rgb, size, boxr, style.highlight_color)) > 500);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn missing_inputs_and_bad_plans_fail_before_ffmpeg_runs() {
    let dir = workdir("missing");
    let plan = RenderPlan {
        size: FrameSize::PORTRAIT_1080,
        fps: 30,
        speech: vec![],
        music: None,
        scenes: vec![scene(
            dir.join("nope.png"),
            FrameSize::PORTRAIT_1080,
            4000,
            1000,
        )],
        voiceover: AudioTrack {
            path: dir.join("nope.wav"),
            duration_ms: 1000,
        },
        captions: None,
        watermark: None,
        end_clip: None,
    };
    let err = render_with_ffmpeg(&plan, &dir, &dir.join("o.mp4"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    let mut bad = plan.clone();
    bad.size.height = 1919;
    let err = render_with_ffmpeg(&bad, &dir, &dir.join("o.mp4"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("even"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The MD5 of one stream of `file`, copied as coded (`v` or `a`).
fn stream_md5(file: &Path, stream: &str) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args([
            "-map",
            &format!("0:{stream}"),
            "-c",
            "copy",
            "-f",
            "md5",
            "-",
        ])
        .output()
        .expect("ffmpeg on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// What one `render-clip` run on AWS does: each part rendered in a directory of its own
/// holding only that part's inputs (under other names), then the join in a third. The
/// result must be the local render, stream for stream.
#[tokio::test]
async fn parts_rendered_apart_join_into_the_local_render() {
    use reelforge_core::render::{Card, CardKind};
    use reelforge_studio::video::{join, render_part, Part};
    let dir = workdir("parts");
    let size = FrameSize {
        width: 360,
        height: 640,
    };
    let card = Scene {
        duration_ms: 1000,
        shot: Shot::Card(Card {
            kind: CardKind::Opening,
            title: "Acme".into(),
            subtitle: "Videos from pages".into(),
            pill: None,
            monogram: Some("A".into()),
            colours: (Rgb::new(20, 40, 120), Rgb::new(200, 60, 90)),
        }),
        transition: Transition::Flash,
        note: String::new(),
    };
    let page = image(&dir, "page.png", "0x1a3a6e", "360x900");
    let plan = RenderPlan {
        size,
        fps: 30,
        speech: vec![(200, 2000)],
        music: Some(reelforge_core::render::Music { path: None }),
        scenes: vec![
            card,
            scene(page.clone(), size, 900, 1000),
            scene(page, size, 900, 1000),
        ],
        voiceover: AudioTrack {
            path: tone(&dir, 2.5),
            duration_ms: 2500,
        },
        captions: Some(Captions {
            language: "en".into(),
            style: CaptionStyle::default(),
            cues: vec![CaptionCue {
                words: words("Parts join into one", ' ', 300, 400),
            }],
        }),
        watermark: Some(Watermark {
            image: image(&dir, "wm.png", "0xff0000", "120x60"),
            position: Corner::BottomLeft,
            width_fraction: 0.2,
        }),
        end_clip: Some(EndClip {
            path: end_clip(&dir, 1.0),
        }),
    };
    let local = dir.join("local.mp4");
    render_with_ffmpeg(&plan, &dir, &local)
        .await
        .expect("local render");

    let settings = FfmpegSettings::default();
    let mut parts = std::collections::BTreeMap::new();
    for part in plan.parts() {
        let work = dir.join(format!("run-{}", part.file_name()));
        std::fs::create_dir_all(&work).unwrap();
        // Only this part's inputs, renamed, as the function downloads them.
        let mut apart = plan.clone();
        let inputs: Vec<PathBuf> = plan
            .part_inputs(part)
            .iter()
            .map(|p| p.to_path_buf())
            .collect();
        for (k, input) in inputs.iter().enumerate() {
            let ext = input.extension().unwrap().to_str().unwrap();
            let copy = work.join(format!("input-{k}.{ext}"));
            std::fs::copy(input, &copy).unwrap();
            let swap = |p: &mut PathBuf| {
                if p == input {
                    *p = copy.clone();
                }
            };
            for s in &mut apart.scenes {
                if let Shot::Camera { image, .. } = &mut s.shot {
                    swap(image);
                }
            }
            swap(&mut apart.voiceover.path);
            if let Some(w) = &mut apart.watermark {
                swap(&mut w.image);
            }
            if let Some(c) = &mut apart.end_clip {
                swap(&mut c.path);
            }
        }
        let out = work.join(part.file_name());
        render_part(&apart, part, &work, &settings, &out)
            .await
            .unwrap_or_else(|e| panic!("{part:?}: {e}"));
        parts.insert(part, out);
    }
    let joined_dir = dir.join("join");
    std::fs::create_dir_all(&joined_dir).unwrap();
    let joined = joined_dir.join("joined.mp4");
    let output = join(&plan, &parts, &joined_dir, &settings, &joined)
        .await
        .expect("join");
    assert_eq!((output.width, output.height), (360, 640));
    assert_eq!(stream_md5(&joined, "v"), stream_md5(&local, "v"));
    assert_eq!(stream_md5(&joined, "a"), stream_md5(&local, "a"));

    // A part the plan doesn't have, and a join with a part missing, are refused.
    let none = render_part(&plan, Part::Scene(3), &dir, &settings, &dir.join("x.mp4")).await;
    assert!(none.unwrap_err().to_string().contains("no part"));
    parts.remove(&Part::Scene(1));
    let missing = join(&plan, &parts, &joined_dir, &settings, &dir.join("y.mp4")).await;
    assert!(missing.unwrap_err().to_string().contains("missing"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Renders that share slots never run more ffmpeg processes at once than there are
/// slots: two videos rendered at the same time through one slot take turns, run by run,
/// and both come out whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_sharing_one_slot_take_turns() {
    use reelforge_studio::video::{clip_slots, render_sharing};
    use std::os::unix::fs::PermissionsExt;
    let dir = workdir("slots");
    let size = FrameSize {
        width: 360,
        height: 640,
    };
    let page = image(&dir, "page.png", "0x1a3a6e", "360x900");
    let plan = RenderPlan {
        size,
        fps: 30,
        speech: vec![(200, 1400)],
        music: Some(reelforge_core::render::Music { path: None }),
        scenes: vec![
            scene(page.clone(), size, 900, 800),
            scene(page, size, 900, 800),
        ],
        voiceover: AudioTrack {
            path: tone(&dir, 1.6),
            duration_ms: 1600,
        },
        captions: None,
        watermark: None,
        end_clip: None,
    };
    // An ffmpeg that notes when each run starts and ends (short appends are atomic).
    let log = dir.join("runs.log");
    let wrapper = dir.join("ffmpeg-noted");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho start >> '{log}'\nffmpeg \"$@\"\nstatus=$?\necho end >> '{log}'\nexit $status\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let settings = FfmpegSettings {
        ffmpeg: wrapper,
        jobs: 1,
        ..FfmpegSettings::default()
    };
    let slots = clip_slots(1);
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let (out_a, out_b) = (a.join("out.mp4"), b.join("out.mp4"));
    let (ra, rb) = tokio::join!(
        render_sharing(&plan, &a, &out_a, &settings, &slots),
        render_sharing(&plan, &b, &out_b, &settings, &slots)
    );
    for r in [ra, rb] {
        let out = r.expect("render");
        assert!((out.duration_ms as i64 - 1600).abs() < 100, "{out:?}");
    }
    let noted = std::fs::read_to_string(&log).unwrap();
    let (mut running, mut most, mut runs) = (0, 0, 0);
    for line in noted.lines() {
        if line == "start" {
            running += 1;
            runs += 1;
            most = most.max(running);
        } else {
            running -= 1;
        }
    }
    // Per video: the page conversion, two clips, the soundtrack's runs and the join.
    assert!(runs >= 2 * 6, "{runs} runs: {noted}");
    assert_eq!(running, 0, "{noted}");
    assert_eq!(most, 1, "two runs at once with one slot: {noted}");
}
