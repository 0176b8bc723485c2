//! The local renderer of a [`RenderPlan`]: the card backgrounds (once), the soundtrack
//! (once, in parallel with the clips), one clip per scene, the end clip (one ffmpeg run
//! per core at a time), then a stream-copy join and the mux. The same clip graphs serve
//! the AWS backend, where each clip is its own Lambda run.

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
pub use reelforge_core::render_parts::Part;
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

/// Checks the plan and that `files` exist, and writes the fonts configuration.
async fn prepare(
    plan: &RenderPlan,
    files: &[&Path],
    workdir: &Path,
    settings: &FfmpegSettings,
) -> Result<(), RenderError> {
    plan.validate()?;
    for path in files {
        if !tokio::fs::try_exists(path).await.unwrap_or(false) {
            return Err(RenderError::MissingInput(path.to_path_buf()));
        }
    }
    if let Some(dir) = &settings.fonts_dir {
        tokio::fs::write(
            workdir.join(FONTS_CONF),
            crate::ffmpeg::fontconfig_file(dir, &workdir.join("fontcache"))?,
        )
        .await?;
    }
    Ok(())
}

/// The input files of a whole plan (every part's).
fn input_files(plan: &RenderPlan) -> Vec<&Path> {
    let mut files: Vec<&Path> = Vec::new();
    for part in plan.parts() {
        for f in plan.part_inputs(part) {
            if !files.contains(&f) {
                files.push(f);
            }
        }
    }
    files
}

/// How [`scene_images`] hands the clips their pages.
#[derive(Clone, Copy, PartialEq)]
enum Pages {
    /// As they are (PNG): one clip reads its page once.
    AsTheyAre,
    /// Converted once to uncompressed PPM (the same RGB pixels), which a clip reads
    /// without decoding: a whole video's clips read the same page a dozen times.
    Uncompressed,
}

/// The image each of `scenes` draws from: its page (see [`Pages`]), or its card's
/// background, drawn here as `card-<scene>.png`; all in one ffmpeg run.
async fn scene_images(
    plan: &RenderPlan,
    scenes: &[usize],
    workdir: &Path,
    settings: &FfmpegSettings,
    pages: Pages,
) -> Result<std::collections::BTreeMap<usize, PathBuf>, RenderError> {
    let mut images = std::collections::BTreeMap::new();
    let mut cards: Vec<(usize, &reelforge_core::render::Card)> = Vec::new();
    // Each page once: (its file, the copy clips read).
    let mut converted: Vec<(&Path, PathBuf)> = Vec::new();
    for &i in scenes {
        match &plan.scenes[i].shot {
            Shot::Camera { image, .. } if pages == Pages::Uncompressed => {
                let copy = match converted.iter().find(|(from, _)| *from == image.as_path()) {
                    Some((_, copy)) => copy.clone(),
                    None => {
                        // In a directory of their own: their names never meet an input's.
                        let copy = workdir
                            .join("pages")
                            .join(format!("page-{}.ppm", converted.len()));
                        converted.push((image.as_path(), copy.clone()));
                        copy
                    }
                };
                images.insert(i, copy);
            }
            Shot::Camera { image, .. } => {
                images.insert(i, image.clone());
            }
            Shot::Card(c) => cards.push((i, c)),
        }
    }
    if cards.is_empty() && converted.is_empty() {
        return Ok(images);
    }
    if !converted.is_empty() {
        tokio::fs::create_dir_all(workdir.join("pages")).await?;
    }
    let mut args = base_args();
    for (from, _) in &converted {
        args.push("-i".into());
        args.push(file_arg(from)?);
    }
    for (k, (_, copy)) in converted.iter().enumerate() {
        args.extend([
            "-map".into(),
            format!("{k}:v").into(),
            "-frames:v".into(),
            "1".into(),
            "-c:v".into(),
            "ppm".into(),
            "-pix_fmt".into(),
            "rgb24".into(),
            "-f".into(),
            "image2".into(),
        ]);
        args.push(file_arg(copy)?);
    }
    if !cards.is_empty() {
        let mut graph = String::new();
        for (k, (_, card)) in cards.iter().enumerate() {
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
        for (k, (i, _)) in cards.iter().enumerate() {
            let path = workdir.join(format!("card-{i}.png"));
            args.extend([
                "-map".into(),
                format!("[bg{k}]").into(),
                "-frames:v".into(),
                "1".into(),
            ]);
            args.push(file_arg(&path)?);
            images.insert(*i, path);
        }
    }
    let mut cmd = command(settings, workdir)?;
    cmd.args(args);
    run(cmd, &settings.ffmpeg, settings.timeout).await?;
    Ok(images)
}

/// The ffmpeg command that renders scene `i` into `out`: `this` is its image, `prev` the
/// previous scene's when it differs (the transition blends from it). Writes the clip's
/// caption file into `workdir`.
async fn scene_command(
    plan: &RenderPlan,
    i: usize,
    this: &Path,
    prev: Option<&Path>,
    workdir: &Path,
    settings: &FfmpegSettings,
    out: &Path,
) -> Result<tokio::process::Command, RenderError> {
    let frames = plan.scene_frames();
    let ass = clip_ass(plan, i, &frames);
    let ass_name = ass.as_ref().map(|_| format!("clip{i}.ass"));
    if let (Some(doc), Some(name)) = (&ass, &ass_name) {
        tokio::fs::write(workdir.join(name), doc).await?;
    }
    let mut args = base_args();
    let mut files: Vec<&Path> = vec![this];
    if let Some(p) = prev.filter(|p| *p != this) {
        files.push(p);
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
        prev: prev.and_then(index),
        watermark: plan.watermark.as_ref().and_then(|w| index(&w.image)),
    };
    let graph = clip::clip_graph(
        plan,
        i,
        &frames,
        &inputs,
        ass_name.as_deref(),
        watermark_spec(plan),
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
    args.push(file_arg(out)?);
    let mut cmd = command(settings, workdir)?;
    cmd.args(args);
    Ok(cmd)
}

/// The ffmpeg command that re-encodes the end clip `path` like the scenes, into `out`.
fn end_clip_command(
    plan: &RenderPlan,
    path: &Path,
    workdir: &Path,
    settings: &FfmpegSettings,
    out: &Path,
) -> Result<tokio::process::Command, RenderError> {
    let mut args = base_args();
    // Never more than an end clip may last, whatever the file says (its upload was
    // checked by its headers; this bounds the work a forged one could cause).
    args.push("-t".into());
    args.push(format!("{}ms", reelforge_core::ports::MAX_END_CLIP_MS).into());
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
    args.push(file_arg(out)?);
    let mut cmd = command(settings, workdir)?;
    cmd.args(args);
    Ok(cmd)
}

/// The soundtrack of `plan` into `out` (voice, ducked music, the end clip's sound).
async fn sound(
    plan: &RenderPlan,
    workdir: &Path,
    settings: &FfmpegSettings,
    out: &Path,
) -> Result<(), RenderError> {
    let end = match &plan.end_clip {
        Some(c) => {
            let info = probe_clip(settings, &c.path).await?;
            let ms = info.duration_ms.min(reelforge_core::ports::MAX_END_CLIP_MS);
            Some((c.path.as_path(), ms, info.has_audio))
        }
        None => None,
    };
    let music: Option<Option<&Path>> = plan.music.as_ref().map(|m| m.path.as_deref());
    let track = audio::Soundtrack {
        voice: &plan.voiceover.path,
        music,
        speech: &plan.speech,
        main_ms: plan.main_duration_ms(),
        end_clip: end,
    };
    audio::make(settings, &track, workdir, out)
        .await
        .map(|_| ())
}

/// Renders one part of `plan` into `out` (named as [`Part::file_name`] says: an MP4 clip
/// or the M4A soundtrack). `workdir` must exist; only the part's own inputs
/// ([`RenderPlan::part_inputs`]) need to be there. This is what one `render-clip` run
/// does on AWS; [`render`] runs the same commands for every part.
pub async fn render_part(
    plan: &RenderPlan,
    part: Part,
    workdir: &Path,
    settings: &FfmpegSettings,
    out: &Path,
) -> Result<(), RenderError> {
    if !plan.has_part(part) {
        return Err(reelforge_core::render::invalid(format!(
            "the plan has no part {part:?}"
        )));
    }
    prepare(plan, &plan.part_inputs(part), workdir, settings).await?;
    match part {
        Part::Scene(i) => {
            let wanted: Vec<usize> = [i.checked_sub(1), Some(i)].into_iter().flatten().collect();
            let images = scene_images(plan, &wanted, workdir, settings, Pages::AsTheyAre).await?;
            let prev = i.checked_sub(1).and_then(|p| images.get(&p));
            let cmd = scene_command(
                plan,
                i,
                &images[&i],
                prev.map(PathBuf::as_path),
                workdir,
                settings,
                out,
            )
            .await?;
            run(cmd, &settings.ffmpeg, settings.timeout).await?;
        }
        Part::EndClip => {
            let clip = plan.end_clip.as_ref().map(|c| c.path.as_path());
            let cmd =
                end_clip_command(plan, clip.unwrap_or(Path::new("")), workdir, settings, out)?;
            run(cmd, &settings.ffmpeg, settings.timeout).await?;
        }
        Part::Sound => sound(plan, workdir, settings, out).await?,
    }
    Ok(())
}

/// Joins rendered parts into `out`: the video parts back to back by stream copy (they
/// share one encoding), the soundtrack muxed in, `moov` first. `parts` maps each of the
/// plan's parts to its file; every part must be there.
pub async fn join(
    plan: &RenderPlan,
    parts: &std::collections::BTreeMap<Part, PathBuf>,
    workdir: &Path,
    settings: &FfmpegSettings,
    out: &Path,
) -> Result<RenderOutput, RenderError> {
    let started = Instant::now();
    let file = |part: Part| {
        parts
            .get(&part)
            .ok_or_else(|| RenderError::InvalidPlan(format!("part {part:?} is missing")))
    };
    let mut list = String::new();
    for part in plan.video_parts() {
        let path = std::path::absolute(file(part)?)?;
        let path = path.to_string_lossy();
        if path.contains(['\'', '\n', '\r']) {
            return Err(reelforge_core::render::invalid(
                "a part's path has a quote or newline",
            ));
        }
        list.push_str(&format!("file 'file:{path}'\n"));
    }
    let list_path = workdir.join("clips.txt");
    tokio::fs::write(&list_path, list).await?;
    let mut args = base_args();
    args.extend(["-f", "concat", "-safe", "0", "-i"].map(OsString::from));
    args.push(file_arg(&list_path)?);
    args.push("-i".into());
    args.push(file_arg(file(Part::Sound)?)?);
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

/// Renders `plan` into `out`; `workdir` (which must exist) holds the parts and files.
/// Every part of [`RenderPlan::parts`] with [`render_part`]'s commands, the soundtrack in
/// parallel with the clips, at most `settings.jobs` runs at a time, clips longest first
/// (card backgrounds drawn once for all), then [`join`].
pub async fn render(
    plan: &RenderPlan,
    workdir: &Path,
    out: &Path,
    settings: &FfmpegSettings,
) -> Result<RenderOutput, RenderError> {
    render_sharing(plan, workdir, out, settings, &clip_slots(settings.jobs)).await
}

/// Slots for the ffmpeg runs of renders that share one machine: a render's soundtrack
/// chain, its card backgrounds, each clip and the join take one while they run.
pub type ClipSlots = Arc<tokio::sync::Semaphore>;

/// `jobs` slots (at least one).
pub fn clip_slots(jobs: usize) -> ClipSlots {
    Arc::new(tokio::sync::Semaphore::new(jobs.max(1)))
}

/// [`render`] with its heavy runs in `slots`, which other renders share: the videos of a
/// campaign rendered at once queue their runs in one line (first come, first served),
/// so the cores stay busy while one video joins and another still has clips to draw.
pub async fn render_sharing(
    plan: &RenderPlan,
    workdir: &Path,
    out: &Path,
    settings: &FfmpegSettings,
    slots: &ClipSlots,
) -> Result<RenderOutput, RenderError> {
    let started = Instant::now();
    prepare(plan, &input_files(plan), workdir, settings).await?;
    let frames = plan.scene_frames();
    // The parts in a directory of their own: their names never meet an input's.
    let parts_dir = workdir.join("parts");
    tokio::fs::create_dir_all(&parts_dir).await?;
    let mut files: std::collections::BTreeMap<Part, PathBuf> = plan
        .parts()
        .into_iter()
        .map(|p| (p, parts_dir.join(p.file_name())))
        .collect();

    // Every heavy run waits for its slot here, in this order, before it is started, so
    // renders sharing `slots` are served in turn.
    let slot = || async {
        slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RenderError::Probe("render slots closed".into()))
    };
    // The soundtrack (one chain of runs), in parallel with everything below.
    let sound_task = {
        let (plan, work, settings) = (plan.clone(), workdir.to_path_buf(), settings.clone());
        let out = files[&Part::Sound].clone();
        let slot = slot().await?;
        tokio::spawn(async move {
            let _slot = slot;
            sound(&plan, &work, &settings, &out).await
        })
    };

    let all: Vec<usize> = (0..plan.scenes.len()).collect();
    let images = {
        let _slot = slot().await?;
        scene_images(plan, &all, workdir, settings, Pages::Uncompressed).await?
    };
    let mut order: Vec<usize> = all.clone();
    order.sort_by_key(|&i| std::cmp::Reverse(frames[i].1));
    let mut runs = tokio::task::JoinSet::new();
    let mut commands = Vec::new();
    for i in order {
        let prev = i.checked_sub(1).map(|p| images[&p].as_path());
        let out = &files[&Part::Scene(i)];
        commands.push(scene_command(plan, i, &images[&i], prev, workdir, settings, out).await?);
    }
    if let Some(clip) = &plan.end_clip {
        commands.push(end_clip_command(
            plan,
            &clip.path,
            workdir,
            settings,
            &files[&Part::EndClip],
        )?);
    }
    for cmd in commands {
        let (program, timeout) = (settings.ffmpeg.clone(), settings.timeout);
        let slot = slot().await?;
        runs.spawn(async move {
            let _slot = slot;
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
    let sounded = sound_task
        .await
        .map_err(|e| RenderError::Probe(format!("audio task: {e}")))?;
    if let Some(e) = failure {
        return Err(e);
    }
    sounded?;
    files.retain(|_, p| p.exists());
    let mut output = {
        let _slot = slot().await?;
        join(plan, &files, workdir, settings, out).await?
    };
    output.elapsed = started.elapsed();
    Ok(output)
}
