//! The local renderer of a [`RenderPlan`]: the card backgrounds (once), the soundtrack
//! (once, in parallel with the clips), one clip per scene (two at a time), the end clip,
//! then a stream-copy join and the mux. The same clip graphs serve the AWS backend, where
//! each clip is its own Lambda run.

pub mod audio;
pub mod cards;
pub mod clip;
pub mod music;
mod renderer;

pub use renderer::{render_with_ffmpeg, render_with_ffmpeg_settings, FfmpegRenderer};

use crate::ffmpeg::{
    file_arg, probe_clip, probe_output, run, FfmpegSettings, RenderOutput, FONTS_CONF,
};
use reelforge_core::render::{
    ass_dialogue, ass_header, caption_events, Corner, RenderError, RenderPlan, Shot, ASS_EVENTS,
};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// x264 settings shared by every clip (a stream-copy join needs them equal): `ultrafast`
/// with CABAC, two B-frames, 8x8 transforms and no deblocking. At CRF 31 a 40 s video is
/// about 6 MB (today's plain `ultrafast` CRF 23 made 23 MB) for about the same CPU time.
const X264_PARAMS: &str = "cabac=1:bframes=2:b-adapt=0:partitions=i8x8,i4x4:8x8dct=1:deblock=0,0";

/// Encoder arguments of one clip; `zoom` turns on sub-pixel motion search, which pays
/// only when the picture scales (pans and scrolls move by whole pixels).
pub fn encode_args(settings: &FfmpegSettings, fps: u32, zoom: bool) -> Vec<OsString> {
    let params = if zoom {
        format!("{X264_PARAMS}:subme=1")
    } else {
        X264_PARAMS.to_string()
    };
    [
        "-c:v",
        "libx264",
        "-preset",
        settings.preset.as_str(),
        "-crf",
        &settings.crf.to_string(),
        "-x264-params",
        &params,
        "-threads",
        "1",
        "-g",
        &(fps * 10).to_string(),
        "-pix_fmt",
        "yuv420p",
        "-r",
        &fps.to_string(),
        "-color_primaries",
        "bt709",
        "-color_trc",
        "bt709",
        "-colorspace",
        "bt709",
        "-an",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

fn base_args() -> Vec<OsString> {
    ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        .into_iter()
        .map(OsString::from)
        .collect()
}

/// The ASS file of clip `i`: captions that overlap the clip, shifted to its start, and a
/// card's text.
fn clip_ass(plan: &RenderPlan, i: usize, frames: &[(u64, u64)]) -> Option<String> {
    let fps = u64::from(plan.fps);
    let (first, n) = frames[i];
    let (start, end) = (first * 1000 / fps, (first + n) * 1000 / fps);
    let card = match &plan.scenes[i].shot {
        Shot::Card(c) => Some(c),
        Shot::Camera { .. } => None,
    };
    let captions = plan.captions.as_ref();
    if card.is_none() && captions.is_none() {
        return None;
    }
    let mut doc = match captions {
        Some(c) => ass_header(c, plan.size),
        None => {
            let mut plain = reelforge_core::render::Captions {
                language: "en".into(),
                style: Default::default(),
                cues: Vec::new(),
            };
            plain.style.lines = 1;
            ass_header(&plain, plan.size)
        }
    };
    doc.push_str(&cards::styles(plan.size));
    doc.push_str(ASS_EVENTS);
    if let Some(card) = card {
        doc.push_str(&cards::events(card, plan.size, end - start));
    }
    if let Some(c) = captions {
        for e in caption_events(c, plan.size, plan.main_duration_ms()) {
            if e.start_ms >= end || e.end_ms <= start {
                continue;
            }
            let mut clipped = e.clone();
            clipped.start_ms = e.start_ms.max(start);
            clipped.end_ms = e.end_ms.min(end);
            doc.push_str(&ass_dialogue(&clipped, start, e.start_ms >= start));
        }
    }
    Some(doc)
}

/// Where the watermark goes: its width and overlay position expressions.
fn watermark_spec(plan: &RenderPlan) -> Option<(u32, String, String)> {
    let wm = plan.watermark.as_ref()?;
    let (w, h) = (plan.size.width, plan.size.height);
    let width = ((w as f32 * wm.width_fraction) as u32).max(2) & !1;
    let margin = (w.min(h) as f32 * 0.04) as u32;
    let (x, y) = match wm.position {
        Corner::TopLeft => (format!("{margin}"), format!("{margin}")),
        Corner::TopRight => (format!("W-w-{margin}"), format!("{margin}")),
        Corner::BottomLeft => (format!("{margin}"), format!("H-h-{margin}")),
        Corner::BottomRight => (format!("W-w-{margin}"), format!("H-h-{margin}")),
    };
    Some((width, x, y))
}

/// A running ffmpeg with the fonts configuration of `settings`.
fn command(settings: &FfmpegSettings, workdir: &Path) -> std::io::Result<tokio::process::Command> {
    let mut cmd = tokio::process::Command::new(&settings.ffmpeg);
    cmd.current_dir(workdir);
    if settings.fonts_dir.is_some() {
        cmd.env(
            "FONTCONFIG_FILE",
            std::path::absolute(workdir.join(FONTS_CONF))?,
        );
    }
    Ok(cmd)
}

/// The input files of a plan that must exist.
fn input_files(plan: &RenderPlan) -> Vec<&Path> {
    let mut files: Vec<&Path> = vec![plan.voiceover.path.as_path()];
    for s in &plan.scenes {
        if let Shot::Camera { image, .. } = &s.shot {
            files.push(image);
        }
    }
    files.extend(plan.watermark.iter().map(|w| w.image.as_path()));
    files.extend(plan.end_clip.iter().map(|c| c.path.as_path()));
    if let Some(Some(path)) = plan.music.as_ref().map(|m| m.path.as_ref()) {
        files.push(path);
    }
    files
}

/// Renders `plan` into `out`; `workdir` (which must exist) holds the clips and files.
pub async fn render(
    plan: &RenderPlan,
    workdir: &Path,
    out: &Path,
    settings: &FfmpegSettings,
) -> Result<RenderOutput, RenderError> {
    plan.validate()?;
    for path in input_files(plan) {
        if !tokio::fs::try_exists(path).await.unwrap_or(false) {
            return Err(RenderError::MissingInput(path.to_path_buf()));
        }
    }
    let started = Instant::now();
    if let Some(dir) = &settings.fonts_dir {
        tokio::fs::write(
            workdir.join(FONTS_CONF),
            crate::ffmpeg::fontconfig_file(dir, &workdir.join("fontcache"))?,
        )
        .await?;
    }
    let frames = plan.scene_frames();
    let main_ms = plan.main_duration_ms();
    let end_clip = match &plan.end_clip {
        Some(c) => Some((c.path.clone(), probe_clip(settings, &c.path).await?)),
        None => None,
    };

    // The soundtrack, in parallel with everything below.
    let audio_out = workdir.join("audio.m4a");
    let audio = {
        let settings = settings.clone();
        let voice = plan.voiceover.path.clone();
        let music: Option<Option<PathBuf>> = plan.music.as_ref().map(|m| m.path.clone());
        let speech = plan.speech.clone();
        let end = end_clip
            .as_ref()
            .map(|(p, info)| (p.clone(), info.duration_ms, info.has_audio));
        let (work, out) = (workdir.to_path_buf(), audio_out.clone());
        tokio::spawn(async move {
            let track = audio::Soundtrack {
                voice: &voice,
                music: music.as_ref().map(|m| m.as_deref()),
                speech: &speech,
                main_ms,
                end_clip: end.as_ref().map(|(p, ms, a)| (p.as_path(), *ms, *a)),
            };
            audio::make(&settings, &track, &work, &out).await
        })
    };

    // Card backgrounds, once per video.
    let mut card_bg: Vec<(reelforge_core::render::CardKind, PathBuf)> = Vec::new();
    let cards: Vec<&reelforge_core::render::Card> = plan
        .scenes
        .iter()
        .filter_map(|s| match &s.shot {
            Shot::Card(c) => Some(c),
            Shot::Camera { .. } => None,
        })
        .collect();
    if !cards.is_empty() {
        let mut args = base_args();
        let mut graph = String::new();
        for (k, card) in cards.iter().enumerate() {
            if k > 0 {
                graph.push(';');
            }
            graph.push_str(
                &cards::background_graph(plan.size, card.colours)
                    .replace("[bg]", &format!("[bg{k}]")),
            );
        }
        args.push("-filter_complex".into());
        args.push(graph.into());
        for (k, card) in cards.iter().enumerate() {
            let path = workdir.join(format!("card{k}.png"));
            args.extend([
                "-map".into(),
                format!("[bg{k}]").into(),
                "-frames:v".into(),
                "1".into(),
            ]);
            args.push(file_arg(&path)?);
            card_bg.push((card.kind, path));
        }
        let mut cmd = command(settings, workdir)?;
        cmd.args(args);
        run(cmd, &settings.ffmpeg, settings.timeout).await?;
    }
    // Which image each scene draws from.
    let mut card_index = 0;
    let mut images: Vec<PathBuf> = Vec::with_capacity(plan.scenes.len());
    for s in &plan.scenes {
        match &s.shot {
            Shot::Camera { image, .. } => images.push(image.clone()),
            Shot::Card(_) => {
                images.push(card_bg[card_index].1.clone());
                card_index += 1;
            }
        }
    }

    // The clips, two (or `jobs`) at a time, longest first.
    let slots = Arc::new(tokio::sync::Semaphore::new(settings.jobs.max(1)));
    let mut order: Vec<usize> = (0..plan.scenes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(frames[i].1));
    let mut runs = tokio::task::JoinSet::new();
    let watermark = watermark_spec(plan);
    for i in order {
        let ass = clip_ass(plan, i, &frames);
        let ass_name = ass.as_ref().map(|_| format!("clip{i}.ass"));
        if let (Some(doc), Some(name)) = (&ass, &ass_name) {
            tokio::fs::write(workdir.join(name), doc).await?;
        }
        let mut args = base_args();
        let mut files: Vec<&Path> = vec![&images[i]];
        if i > 0 && images[i - 1] != images[i] {
            files.push(&images[i - 1]);
        }
        if let Some(wm) = &plan.watermark {
            files.push(&wm.image);
        }
        for f in &files {
            args.push("-i".into());
            args.push(file_arg(f)?);
        }
        let index = |p: &Path| files.iter().position(|f| *f == p);
        let inputs = clip::Inputs {
            this: 0,
            prev: if i > 0 { index(&images[i - 1]) } else { None },
            watermark: plan.watermark.as_ref().and_then(|w| index(&w.image)),
        };
        let graph = clip::clip_graph(
            plan,
            i,
            &frames,
            &inputs,
            ass_name.as_deref(),
            watermark.clone(),
        );
        args.push("-filter_complex".into());
        args.push(graph.into());
        args.extend(["-map", "[vout]"].map(OsString::from));
        let zoom = matches!(&plan.scenes[i].shot, Shot::Camera { from, to, .. } if (from.zoom - to.zoom).abs() > 1e-6);
        args.extend(encode_args(settings, plan.fps, zoom));
        args.extend([
            "-frames:v".into(),
            frames[i].1.to_string().into(),
            "-f".into(),
            "mp4".into(),
        ]);
        args.push(file_arg(&workdir.join(format!("clip{i}.mp4")))?);
        let mut cmd = command(settings, workdir)?;
        cmd.args(args);
        let (slots, program, timeout) = (slots.clone(), settings.ffmpeg.clone(), settings.timeout);
        runs.spawn(async move {
            let _slot = slots.acquire_owned().await;
            run(cmd, &program, timeout).await.map(|_| ())
        });
    }
    // The end clip, as one more clip with the same encoding.
    if let Some((path, _)) = &end_clip {
        let mut args = base_args();
        args.push("-i".into());
        args.push(file_arg(path)?);
        let (w, h) = (plan.size.width, plan.size.height);
        args.push("-vf".into());
        args.push(
            format!(
                "scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,\
                 fps={},format=yuv420p,setsar=1",
                plan.fps
            )
            .into(),
        );
        args.extend(encode_args(settings, plan.fps, false));
        args.extend(["-f".into(), "mp4".into()]);
        args.push(file_arg(&workdir.join("clip-end.mp4"))?);
        let mut cmd = command(settings, workdir)?;
        cmd.args(args);
        let (slots, program, timeout) = (slots.clone(), settings.ffmpeg.clone(), settings.timeout);
        runs.spawn(async move {
            let _slot = slots.acquire_owned().await;
            run(cmd, &program, timeout).await.map(|_| ())
        });
    }
    let mut failure = None;
    while let Some(joined) = runs.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(RenderError::Probe(format!("clip task: {e}")))),
        }
    }
    let loudness = audio
        .await
        .map_err(|e| RenderError::Probe(format!("audio task: {e}")))?;
    if let Some(e) = failure {
        return Err(e);
    }
    loudness?;

    // Join: the clips back to back (stream copy), the soundtrack muxed in.
    let mut list = String::new();
    for i in 0..plan.scenes.len() {
        list.push_str(&format!("file 'clip{i}.mp4'\n"));
    }
    if end_clip.is_some() {
        list.push_str("file 'clip-end.mp4'\n");
    }
    tokio::fs::write(workdir.join("clips.txt"), list).await?;
    let mut args = base_args();
    args.extend(["-f", "concat", "-safe", "0", "-i", "clips.txt", "-i"].map(OsString::from));
    args.push(file_arg(&audio_out)?);
    args.extend(
        [
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c",
            "copy",
            "-shortest",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ]
        .map(OsString::from),
    );
    args.push(file_arg(out)?);
    let mut cmd = command(settings, workdir)?;
    cmd.args(args);
    run(cmd, &settings.ffmpeg, settings.timeout).await?;
    let mut output = probe_output(settings, out).await?;
    output.elapsed = started.elapsed();
    Ok(output)
}
