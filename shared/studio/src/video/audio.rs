//! The soundtrack, made once for the whole video: the voice, a music bed ducked under it
//! by volume automation from the sentence timings, the end clip's own sound after it,
//! brought to -14 LUFS integrated (what YouTube, TikTok and Instagram normalise to) with a
//! true peak at or below -1 dBTP.
//!
//! Ducking by automation, not a sidechain compressor: it is deterministic, gives exactly
//! the depth asked for (15 dB) from 0.12 s before each sentence to 0.05 s after it, and
//! does not pump inside sentences (a compressor's depth follows the voice's level).

use super::super::ffmpeg::{file_arg, run, run_output, FfmpegSettings};
use super::music;
use reelforge_core::render::RenderError;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Integrated loudness of the finished soundtrack.
pub const TARGET_LUFS: f64 = -14.0;
/// How far under the voice the music sits between sentences (LU).
pub const MUSIC_UNDER_VOICE_DB: f64 = 6.0;
/// How much further it drops while the voice speaks (dB).
pub const DUCK_DB: f64 = 15.0;
/// The voice's level before the final gain.
const VOICE_LUFS: f64 = -16.0;

/// What the soundtrack is made of.
pub struct Soundtrack<'a> {
    pub voice: &'a Path,
    /// The built-in bed (`None` path), an uploaded track, or no music.
    pub music: Option<Option<&'a Path>>,
    /// When the voice speaks (ms).
    pub speech: &'a [(u64, u64)],
    /// Length of the part before the end clip.
    pub main_ms: u64,
    /// The end clip and whether it has sound of its own.
    pub end_clip: Option<(&'a Path, u64, bool)>,
}

/// Measured loudness of a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loudness {
    pub integrated_lufs: f64,
    pub true_peak_db: f64,
}

/// Makes the soundtrack into `out` (AAC in MP4), working in `work`; its integrated
/// loudness (LUFS), measured as it was encoded.
pub async fn make(
    settings: &FfmpegSettings,
    track: &Soundtrack<'_>,
    work: &Path,
    out: &Path,
) -> Result<f64, RenderError> {
    let voice = measure(settings, track.voice).await?;
    let mix = work.join("mix.wav");
    let (inputs, graph) = match track.music {
        None => voice_only_graph(track, voice),
        Some(choice) => {
            let (path, is_bed) = match choice {
                Some(p) => (p.to_path_buf(), false),
                None => (
                    music::bed_file(&std::env::temp_dir(), (track.main_ms / 1000 + 2) as u32)
                        .await?,
                    true,
                ),
            };
            let level = if is_bed {
                bed_loudness(settings, &path).await?
            } else {
                measure(settings, &path).await?
            };
            music_graph(track, voice, &path, is_bed, level)
        }
    };
    let mut args = measuring_args();
    for input in inputs {
        args.extend(input);
    }
    args.push("-filter_complex".into());
    // The mix is measured on its way to the file (no second read).
    args.push(format!("{graph};[out]{MEASURE}[measured]").into());
    args.extend(["-map", "[measured]", "-c:a", "pcm_s16le", "-ar", "48000"].map(OsString::from));
    args.push(file_arg(&mix)?);
    let mixed = run_measuring(settings, args).await?;

    // Gain to the target, a limiter for the peaks, straight into AAC, measured on the way
    // in; done again with the difference only when the limiter took more than 0.4 LU (a
    // peaky mix).
    let mut gain = TARGET_LUFS - mixed + LIMITER_ALLOWANCE_DB;
    let mut result = None;
    for _ in 0..2 {
        let mut args = measuring_args();
        args.extend(["-i".into(), file_arg(&mix)?]);
        args.push("-af".into());
        args.push(
            format!(
                "volume={gain:.2}dB,alimiter=limit=0.78:attack=1:release=50:level=false,\
                 aresample=48000,{MEASURE}"
            )
            .into(),
        );
        args.extend(["-c:a", "aac", "-b:a", "128k", "-ar", "48000"].map(OsString::from));
        args.push(file_arg(out)?);
        let got = run_measuring(settings, args).await?;
        let off = TARGET_LUFS - got;
        result = Some(got);
        if off.abs() <= 0.4 {
            break;
        }
        gain += off;
    }
    result.ok_or_else(|| RenderError::Probe("no loudness measured".into()))
}

/// ffmpeg's loudness meter, integrated loudness only (a true-peak meter oversamples 4x;
/// the limiter sees to the peaks), its per-frame lines out of the log.
const MEASURE: &str = "ebur128=framelog=verbose";

/// Arguments for a run whose log carries the meter's summary.
fn measuring_args() -> Vec<OsString> {
    [
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "info",
        "-y",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

/// Runs ffmpeg with a [`MEASURE`] in its graph; the integrated loudness it logged.
async fn run_measuring(settings: &FfmpegSettings, args: Vec<OsString>) -> Result<f64, RenderError> {
    let mut cmd = tokio::process::Command::new(&settings.ffmpeg);
    cmd.args(args);
    let output = run_output(cmd, &settings.ffmpeg, settings.timeout).await?;
    parse_ebur128(&String::from_utf8_lossy(&output.stderr))
        .map(|l| l.integrated_lufs)
        .ok_or_else(|| RenderError::Probe("no loudness summary".into()))
}

/// What the limiter usually takes from a voice-and-music mix, added to the first guess.
const LIMITER_ALLOWANCE_DB: f64 = 0.3;

fn base_args() -> Vec<OsString> {
    ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        .into_iter()
        .map(OsString::from)
        .collect()
}

async fn run_ffmpeg(
    settings: &FfmpegSettings,
    args: Vec<OsString>,
) -> Result<Vec<u8>, RenderError> {
    let mut cmd = tokio::process::Command::new(&settings.ffmpeg);
    cmd.args(args);
    run(cmd, &settings.ffmpeg, settings.timeout).await
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// The voice, at [`VOICE_LUFS`], stereo, padded to the main part's length.
fn voice_chain(track: &Soundtrack<'_>, voice_lufs: f64) -> String {
    format!(
        "[0:a]aresample=48000,volume={:.2}dB,highpass=f=80,pan=stereo|c0=c0|c1=c0,\
         apad=whole_dur={d},atrim=end={d},asetpts=PTS-STARTPTS",
        VOICE_LUFS - voice_lufs,
        d = secs(track.main_ms)
    )
}

/// The end clip's sound (or its length in silence) after the main part, then `[out]`.
fn end_clip(track: &Soundtrack<'_>, index: usize, graph: &mut String, main: &str) {
    match track.end_clip {
        Some((_, ms, true)) => {
            let _ = write!(
                graph,
                ";[{index}:a]aresample=48000,aformat=channel_layouts=stereo,\
                 apad=whole_dur={d},atrim=end={d},asetpts=PTS-STARTPTS[end];\
                 [{main}][end]concat=n=2:v=0:a=1[out]",
                d = secs(ms)
            );
        }
        Some((_, ms, false)) => {
            let _ = write!(graph, ";[{main}]apad=pad_dur={}[out]", secs(ms));
        }
        None => {
            let _ = write!(graph, ";[{main}]anull[out]");
        }
    }
}

fn input(path: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["-i".into()];
    v.push(file_arg(path).unwrap_or_else(|_| path.as_os_str().to_owned()));
    v
}

fn voice_only_graph(track: &Soundtrack<'_>, voice: f64) -> (Vec<Vec<OsString>>, String) {
    let mut inputs = vec![input(track.voice)];
    let mut graph = format!("{}[main]", voice_chain(track, voice));
    if let Some((path, _, true)) = track.end_clip {
        inputs.push(input(path));
    }
    end_clip(track, 1, &mut graph, "main");
    (inputs, graph)
}

/// The music's gain over time (an ffmpeg expression of `t`): 0 dB between sentences,
/// -[`DUCK_DB`] while the voice speaks, with 120 ms ramps down (starting 0.24 s before a
/// sentence) and 180 ms ramps up (ending 0.23 s after it).
pub fn duck_expression(speech: &[(u64, u64)]) -> String {
    let windows: Vec<String> = speech
        .iter()
        .map(|&(a, b)| {
            let (a, b) = (a as f64 / 1000.0, b as f64 / 1000.0);
            format!(
                "clip((t-{:.3})/0.12,0,1)*clip(({:.3}-t)/0.18,0,1)",
                a - 0.24,
                b + 0.23
            )
        })
        .collect();
    let depth = windows
        .into_iter()
        .reduce(|acc, w| format!("max({acc},{w})"))
        .unwrap_or_else(|| "0".into());
    format!("pow(10,-{:.4}*{depth})", DUCK_DB / 20.0)
}

/// The music chain (looped, filtered, ducked, faded out), ending `[m]`.
pub fn music_chain(track: &Soundtrack<'_>, is_bed: bool, level: f64, index: usize) -> String {
    let total = track.main_ms;
    let trim = if is_bed {
        // The bed starts a cycle in, so its room (echo) tail at the start is the one that
        // follows a cycle's end: the loop has no seam.
        format!(
            "highpass=f=70,lowpass=f=4500,aecho=0.8:0.5:180|290:0.22|0.14,atrim=start={}:end={},",
            music::CYCLE_SECONDS,
            secs(total + u64::from(music::CYCLE_SECONDS) * 1000)
        )
    } else {
        format!("atrim=end={},", secs(total))
    };
    format!(
        "[{index}:a]aresample=48000,aformat=channel_layouts=stereo,{trim}asetpts=PTS-STARTPTS,\
         volume={:.2}dB,asetnsamples=n=480,volume=volume='{}':eval=frame,\
         afade=t=out:st={}:d=1.2,apad=whole_dur={d},atrim=end={d}[m]",
        VOICE_LUFS - MUSIC_UNDER_VOICE_DB - level,
        duck_expression(track.speech),
        secs(total.saturating_sub(1_200)),
        d = secs(total)
    )
}

fn music_graph(
    track: &Soundtrack<'_>,
    voice: f64,
    music: &Path,
    is_bed: bool,
    level: f64,
) -> (Vec<Vec<OsString>>, String) {
    let mut looped: Vec<OsString> = Vec::new();
    if !is_bed {
        // An uploaded track shorter than the video repeats (read again by the demuxer, not
        // held in memory).
        looped.extend(["-stream_loop", "-1"].map(OsString::from));
    }
    looped.extend(input(music));
    let mut inputs = vec![input(track.voice), looped];
    let mut graph = format!(
        "{}[v];{};[v][m]amix=inputs=2:normalize=0:duration=first[main]",
        voice_chain(track, voice),
        music_chain(track, is_bed, level, 1)
    );
    if let Some((path, _, true)) = track.end_clip {
        inputs.push(input(path));
    }
    end_clip(track, 2, &mut graph, "main");
    (inputs, graph)
}

/// The bed's loudness, measured once per process (it never changes).
async fn bed_loudness(settings: &FfmpegSettings, bed: &Path) -> Result<f64, RenderError> {
    static LEVEL: tokio::sync::OnceCell<f64> = tokio::sync::OnceCell::const_new();
    LEVEL
        .get_or_try_init(|| measure(settings, bed))
        .await
        .copied()
}

/// Integrated loudness of a file (LUFS).
pub async fn measure(settings: &FfmpegSettings, path: &Path) -> Result<f64, RenderError> {
    let mut args = measuring_args();
    args.extend(["-i".into(), file_arg(path)?]);
    args.extend(["-af", MEASURE, "-f", "null", "-"].map(OsString::from));
    run_measuring(settings, args).await
}

/// The summary of ffmpeg's `ebur128` filter: `I: -14.1 LUFS` and `Peak: -1.9 dBFS`.
pub fn parse_ebur128(text: &str) -> Option<Loudness> {
    let summary = &text[text.rfind("Summary:")?..];
    let value = |label: &str| -> Option<f64> {
        let at = summary.find(label)? + label.len();
        summary[at..].split_whitespace().next()?.parse::<f64>().ok()
    };
    let integrated = value("I:")?;
    let peak = value("Peak:").unwrap_or(f64::NEG_INFINITY);
    Some(Loudness {
        integrated_lufs: if integrated.is_finite() {
            integrated
        } else {
            -70.0
        },
        true_peak_db: peak,
    })
}

/// Renders only the ducked music (no voice, no final gain) into `out`: what tests
/// measure the ducking on.
pub async fn ducked_music_stem(
    settings: &FfmpegSettings,
    track: &Soundtrack<'_>,
    out: &Path,
) -> Result<PathBuf, RenderError> {
    let bed = music::bed_file(&std::env::temp_dir(), (track.main_ms / 1000 + 2) as u32).await?;
    let level = bed_loudness(settings, &bed).await?;
    let mut args = base_args();
    args.extend(input(&bed));
    args.push("-filter_complex".into());
    args.push(music_chain(track, true, level, 0).into());
    args.extend(["-map", "[m]", "-c:a", "pcm_s16le"].map(OsString::from));
    args.push(file_arg(out)?);
    run_ffmpeg(settings, args).await?;
    Ok(out.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebur128_summaries_parse() {
        let text = "[Parsed_ebur128_0 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -14.1 LUFS\n    Threshold: -24.3 LUFS\n\n  Loudness range:\n    LRA:         1.6 LU\n\n  True peak:\n    Peak:       -1.9 dBFS\n";
        let l = parse_ebur128(text).unwrap();
        assert_eq!(l.integrated_lufs, -14.1);
        assert_eq!(l.true_peak_db, -1.9);
        assert!(parse_ebur128("nothing").is_none());
    }

    #[test]
    fn ducking_covers_each_sentence() {
        let e = duck_expression(&[(1000, 2000), (3000, 4000)]);
        assert!(e.starts_with("pow(10,-0.7500*max("), "{e}");
        assert!(
            e.contains("(t-0.760)/0.12") && e.contains("(4.230-t)/0.18"),
            "{e}"
        );
        assert_eq!(duck_expression(&[]), "pow(10,-0.7500*0)");
    }
}
