//! The AWS renderer: an AWS Elemental MediaConvert job built from the same [`RenderPlan`]
//! the ffmpeg backend renders, and the parsing of the "MediaConvert Job State Change"
//! EventBridge event that reports its end.
//!
//! On AWS the plan's paths are S3 keys relative to the media bucket
//! (`work/<campaign>/screens/1080x1920/screen-1.png` becomes
//! `s3://<bucket>/work/<campaign>/screens/1080x1920/screen-1.png`).
//!
//! # Job shape
//!
//! * **Input 1, the voiceover**: an input without a video file whose "Audio Selector 1"
//!   reads the voiceover WAV as an external audio file. MediaConvert generates black video
//!   for the duration of that audio (its documented audio-only input), and the selector
//!   remixes the mono voice to both stereo channels. This input also carries the caption
//!   selector (the WebVTT sidecar from [`caption_file`]).
//!   *Why not `InputVideoGenerator` here:* the SDK documents that a video generator input
//!   and an input file exclude each other, and that the generated video has no audio track
//!   of its own; an audio-only input is the documented way to get black video of exactly
//!   the audio's length.
//! * **Input 2, padding (only when the scenes outlast the voiceover)**: an
//!   `InputVideoGenerator` of the difference (at least its 50 ms minimum), with silent
//!   stereo audio, so the main part lasts [`RenderPlan::main_duration_ms`] like the ffmpeg
//!   render's (which pads the audio with silence).
//! * **Last input, the end clip**: its file, appended (inputs play in sequence); its own
//!   audio through the default "Audio Selector 1".
//! * **Scenes and watermark**: one output image inserter (output overlays follow the output
//!   timeline, which the job's zero-based timecode makes start at `00:00:00:00`). Scene `i`
//!   is an insertable image on layer `i`, full frame (0,0, frame width × height), opacity
//!   100, `StartTime` = the timecode `HH:MM:SS:FF` of its start at [`FPS`] fps,
//!   `Duration` = its length in ms; the last scene is held to the end of the main part.
//!   Layers are unique (0..=99, a MediaConvert rule), so a plan has at most 99 scenes; the
//!   watermark is layer 99 for the whole main part.
//! * **Output**: one file group to `s3://<bucket>/<output_key>` (MediaConvert appends
//!   `.mp4`): MP4 (moov atom first, for progressive playback), H.264 High profile at the
//!   plan's frame size, 30 fps, QVBR quality 7 capped at 5 Mb/s, 2-second GOPs; AAC-LC
//!   128 kb/s, 48 kHz stereo. 30 fps rather than the local renderer's 15: MediaConvert
//!   prices by output duration, not frames, up to 30 fps, and 30 fps times caption changes
//!   twice as finely.
//!
//! # Captions: what maps and what doesn't
//!
//! The sidecar is WebVTT: it has a defined escape for `&`, `<` and `>` (user text stays
//! text, and `-->` can't appear in a cue), and MediaConvert burns it in. One cue per
//! caption page from [`layout_pages`] — the same line wrapping, kinsoku and page breaks as
//! the ffmpeg render, with the same hold and bridge rules between pages. Style passthrough
//! is **off**: every style field is set explicitly from the plan's [`CaptionStyle`].
//!
//! | CaptionStyle | MediaConvert burn-in | |
//! |---|---|---|
//! | `color` | `FontColor=HEX`, `HexFontColor=RRGGBB` | exact |
//! | `size` | `FontSize` = size × (short side / 1080) px | exact up to 96 px, MediaConvert's maximum (clamped) |
//! | `stroke_thickness` | `OutlineSize` = thickness × scale | exact up to 10 px, MediaConvert's maximum (clamped) |
//! | `stroke_color` | `OutlineColor` | approximated: nearest of black, white, yellow, red, green, blue (exact for those) |
//! | `shadow.x`, `shadow.y` | `ShadowXOffset`, `ShadowYOffset` (× scale) | exact |
//! | `shadow.color` | `ShadowColor` | approximated: black or white by luminance; `NONE` when the shadow has no offset and no blur |
//! | shadow translucency | `ShadowOpacity=159` | exact: the ffmpeg render's shadow alpha (0x60) |
//! | `shadow.blur` | — | not expressible (MediaConvert shadows are hard) |
//! | `position` | `YPosition` = top of [`caption_box`]; `XPosition` = its left edge, omitted when the box is centred (then `Alignment=CENTERED` centres on the frame) | approximated: MediaConvert anchors the page's *top* at `YPosition`, so a page with fewer lines than `lines` sits higher than in the ffmpeg render, which centres each page on the position |
//! | `lines` | pages in the sidecar | exact (same layout code) |
//! | `font` | `FallbackFont` = proportional serif / sans serif by the family name | approximated at best: MediaConvert picks its own face; a named family needs four uploaded TrueType files (`FontFileRegular`/`Bold`/`Italic`/`BoldItalic`), which the plan doesn't carry |
//! | CJK faces | `FontScript=HANS`/`HANT` for Chinese, automatic otherwise; `LanguageCode` from the caption language | approximated: MediaConvert's own CJK faces |
//! | `bold`, `italic` | — | not expressible without uploaded font files |
//! | `underline`, `strikethrough` | — | not expressible |
//! | `highlighter`, `highlight_color` | — | not expressible: burn-in colours whole cues, so there is no per-word highlight; cues change per page, not per word |
//! | no background box | `BackgroundColor=NONE`, `BackgroundOpacity=0` | exact |
//!
//! # Scenes and watermark: what maps and what doesn't
//!
//! * [`ImageFit`](reelforge_core::render::ImageFit): both fits become a full-frame stretch. Screens
//!   are captured at the output's aspect ratio, where the two are the same; `Contain`'s
//!   blurred backdrop for other aspect ratios is not expressible.
//! * Scene and watermark images must be PNG, TGA or BMP (a MediaConvert rule; checked).
//! * Watermark: width = `width_fraction` × frame width (even), margin 4 % of the short side,
//!   as in the ffmpeg render. MediaConvert does not keep the aspect ratio when only the
//!   width is given, so the height comes from [`JobTarget::watermark_pixels`] (the image's
//!   pixel size, which the caller knows); without it the image is assumed square.

/// The SDK client this adapter takes.
pub use aws_sdk_mediaconvert::Client;

use aws_sdk_mediaconvert::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_mediaconvert::types::{
    AacCodecProfile, AacCodingMode, AacRateControlMode, AacSettings, AacSpecification, AudioCodec,
    AudioCodecSettings, AudioDefaultSelection, AudioDescription, AudioSelector,
    BurnInSubtitleStylePassthrough, BurninDestinationSettings, BurninSubtitleAlignment,
    BurninSubtitleBackgroundColor, BurninSubtitleFallbackFont, BurninSubtitleFontColor,
    BurninSubtitleOutlineColor, BurninSubtitleShadowColor, BurninSubtitleTeletextSpacing,
    CaptionDescription, CaptionDestinationSettings, CaptionDestinationType, CaptionSelector,
    CaptionSourceSettings, CaptionSourceType, ChannelMapping, ContainerSettings, ContainerType,
    FileGroupSettings, FileSourceSettings, FontScript, H264CodecLevel, H264CodecProfile,
    H264FramerateControl, H264GopSizeUnits, H264QvbrSettings, H264RateControlMode,
    H264SceneChangeDetect, H264Settings, ImageInserter, Input, InputTimecodeSource,
    InputVideoGenerator, InsertableImage, JobSettings, LanguageCode, Mp4MoovPlacement, Mp4Settings,
    Output, OutputChannelMapping, OutputGroup, OutputGroupSettings, OutputGroupType, RemixSettings,
    ScalingBehavior, TimecodeConfig, TimecodeSource, VideoCodec, VideoCodecSettings,
    VideoDescription, VideoPreprocessor,
};
use reelforge_core::ports::{
    JobStateChange, MediaStore, RenderJob, RenderStarted, ToolError, VideoRenderer,
};
use reelforge_core::render::{
    caption_box, layout_pages, CaptionPosition, CaptionStyle, Captions, Corner, FrameSize,
    RenderError, RenderPlan, Rgb, TextMetrics,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Output frame rate (integer, so overlay timecodes are exact and non-drop-frame).
pub const FPS: u64 = 30;
/// Names MediaConvert's console uses; outputs refer to selectors by these names.
pub const AUDIO_SELECTOR: &str = "Audio Selector 1";
pub const CAPTION_SELECTOR: &str = "Captions Selector 1";
/// Overlay layers are 0..=99 and unique per image.
const WATERMARK_LAYER: i32 = 99;
const MAX_SCENES: usize = 99;
/// A video generator input is at least this long.
const MIN_GENERATOR_MS: u64 = 50;
/// MediaConvert's burn-in limits.
const MAX_FONT_SIZE: i32 = 96;
const MAX_OUTLINE_SIZE: i32 = 10;
/// The ffmpeg render's shadow is drawn with ASS alpha 0x60 (transparency 96/255).
const SHADOW_OPACITY: i32 = 255 - 0x60;
/// Page hold and bridge, as in the ffmpeg render's ASS events (`render::ass_document`).
const PAGE_HOLD_MS: u64 = 400;
const PAGE_BRIDGE_MS: u64 = 1200;

/// Where a job's inputs and output live, and what it is tagged with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTarget {
    pub role_arn: String,
    pub queue_arn: Option<String>,
    pub bucket: String,
    /// Output key without extension, e.g. "videos/<cid>/vertical_en_<vid>"; MediaConvert
    /// writes `<key>.mp4`.
    pub output_key: String,
    /// Copied into the job's UserMetadata (campaign_id, video_id) so the completion event
    /// can be matched.
    pub user_metadata: BTreeMap<String, String>,
    /// Pixel size (width, height) of the plan's watermark image, to keep its aspect ratio
    /// when it is scaled and to place it in a bottom corner. `None`: assumed square.
    pub watermark_pixels: Option<(u32, u32)>,
}

/// The S3 key the caption sidecar must be uploaded to before [`submit`].
pub fn caption_key(target: &JobTarget) -> String {
    format!("{}.vtt", target.output_key)
}

// ---------------------------------------------------------------------------------------
// Caption sidecar
// ---------------------------------------------------------------------------------------

fn vtt_time(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

fn vtt_escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// The WebVTT sidecar the job burns in: one cue per caption page (lines as laid out by
/// [`layout_pages`]), shown from its first word until the next page (when the gap is
/// short) or a moment after its last word, never past the main part. Only the header
/// when the plan has no captions.
pub fn caption_file(plan: &RenderPlan) -> String {
    let mut out = String::from("WEBVTT\n");
    let Some(captions) = &plan.captions else {
        return out;
    };
    let until_ms = plan.main_duration_ms();
    let pages = layout_pages(captions, plan.size);
    let mut cue = 0;
    for (i, page) in pages.iter().enumerate() {
        let next_start = pages.get(i + 1).map_or(u64::MAX, |p| p.start_ms);
        let shown_until = if next_start.saturating_sub(page.end_ms) <= PAGE_BRIDGE_MS {
            next_start
        } else {
            page.end_ms + PAGE_HOLD_MS
        }
        .min(next_start)
        .min(until_ms);
        let lines: Vec<&String> = page.lines.iter().filter(|l| !l.is_empty()).collect();
        if shown_until <= page.start_ms || lines.is_empty() {
            continue;
        }
        cue += 1;
        let _ = write!(
            out,
            "\n{cue}\n{} --> {}\n",
            vtt_time(page.start_ms),
            vtt_time(shown_until)
        );
        for line in lines {
            vtt_escape(line, &mut out);
            out.push('\n');
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Job settings
// ---------------------------------------------------------------------------------------

fn invalid(msg: impl Into<String>) -> RenderError {
    RenderError::InvalidPlan(msg.into())
}

/// An S3 key as the plan or target gives it: relative, `/`-separated, no `.`/`..`
/// segments, no control characters.
fn check_key<'a>(key: &'a str, what: &str) -> Result<&'a str, RenderError> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && !key.starts_with('/')
        && !key.ends_with('/')
        && !key.contains('\\')
        && !key.chars().any(char::is_control)
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if ok {
        Ok(key)
    } else {
        Err(invalid(format!(
            "{what} must be an S3 key relative to the media bucket, got {key:?}"
        )))
    }
}

fn check_bucket(bucket: &str) -> Result<(), RenderError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("invalid S3 bucket name {bucket:?}")))
    }
}

fn s3_url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

fn path_url(bucket: &str, path: &Path, what: &str) -> Result<String, RenderError> {
    let key = path
        .to_str()
        .ok_or_else(|| invalid(format!("{what} key is not UTF-8")))?;
    Ok(s3_url(bucket, check_key(key, what)?))
}

/// Overlay images must be PNG, TGA or BMP files.
fn image_url(bucket: &str, path: &Path, what: &str) -> Result<String, RenderError> {
    let url = path_url(bucket, path, what)?;
    let lower = url.to_ascii_lowercase();
    if [".png", ".tga", ".bmp"].iter().any(|e| lower.ends_with(e)) {
        Ok(url)
    } else {
        Err(invalid(format!(
            "{what} must be a PNG, TGA or BMP file for MediaConvert"
        )))
    }
}

fn i32_ms(ms: u64) -> Result<i32, RenderError> {
    i32::try_from(ms).map_err(|_| invalid("duration out of range"))
}

/// Frame index of an instant, rounded to the nearest frame.
fn frame_at(ms: u64) -> u64 {
    (ms * FPS + 500) / 1000
}

/// Where the end clip's input is cut (`ports::MAX_END_CLIP_MS`, whole seconds, so the
/// frame field is 00 at any input frame rate).
pub const END_CLIP_END_TIMECODE: &str = "00:00:15:00";

/// The timecode `HH:MM:SS:FF` of a frame at [`FPS`].
pub fn timecode(frame: u64) -> String {
    let secs = frame / FPS;
    format!(
        "{:02}:{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        frame % FPS
    )
}

/// Start (ms, on a frame) of a frame, rounded down, and its end (rounded up).
fn frame_floor_ms(frame: u64) -> u64 {
    frame * 1000 / FPS
}
fn frame_ceil_ms(frame: u64) -> u64 {
    (frame * 1000).div_ceil(FPS)
}

/// One scene's overlay window: start frame and duration in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SceneWindow {
    start_frame: u64,
    duration_ms: u64,
}

/// Scene windows on the output timeline. Starts are rounded to frames; each duration
/// reaches (rounded up) the next scene's start frame, so consecutive scenes leave no gap
/// (a sub-millisecond overlap is covered by the later scene's higher layer). Durations
/// that fall on frames (any multiple of 100 ms) are the scenes' own. The last scene runs
/// to `main_end_ms`.
fn scene_windows(plan: &RenderPlan, main_end_ms: u64) -> Vec<SceneWindow> {
    let mut starts: Vec<u64> = Vec::with_capacity(plan.scenes.len() + 1);
    let mut at = 0;
    for scene in &plan.scenes {
        starts.push(frame_at(at));
        at += scene.duration_ms;
    }
    let end_frame = (main_end_ms * FPS).div_ceil(1000);
    starts.push(end_frame);
    starts
        .windows(2)
        .map(|w| {
            let end = w[1].max(w[0] + 1);
            SceneWindow {
                start_frame: w[0],
                duration_ms: frame_ceil_ms(end) - frame_floor_ms(w[0]),
            }
        })
        .collect()
}

/// Audio selector reading an input's default track; `remix_mono` spreads a mono source
/// over both stereo channels.
fn audio_selector(external: Option<String>, remix_mono: bool) -> AudioSelector {
    let mut selector = AudioSelector::builder()
        .default_selection(AudioDefaultSelection::Default)
        .set_external_audio_file_input(external);
    if remix_mono {
        let both = || OutputChannelMapping::builder().input_channels(0).build();
        selector = selector.remix_settings(
            RemixSettings::builder()
                .channels_in(1)
                .channels_out(2)
                .channel_mapping(
                    ChannelMapping::builder()
                        .output_channels(both())
                        .output_channels(both())
                        .build(),
                )
                .build(),
        );
    }
    selector.build()
}

fn rgb_hex(c: Rgb) -> String {
    format!("{:02X}{:02X}{:02X}", c.r, c.g, c.b)
}

fn distance(a: Rgb, b: Rgb) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).unsigned_abs().pow(2);
    d(a.r, b.r) + d(a.g, b.g) + d(a.b, b.b)
}

/// The nearest of MediaConvert's fixed outline colours.
pub fn outline_color(c: Rgb) -> BurninSubtitleOutlineColor {
    let palette = [
        (Rgb::BLACK, BurninSubtitleOutlineColor::Black),
        (Rgb::WHITE, BurninSubtitleOutlineColor::White),
        (Rgb::YELLOW, BurninSubtitleOutlineColor::Yellow),
        (Rgb::new(255, 0, 0), BurninSubtitleOutlineColor::Red),
        (Rgb::new(0, 255, 0), BurninSubtitleOutlineColor::Green),
        (Rgb::new(0, 0, 255), BurninSubtitleOutlineColor::Blue),
    ];
    palette
        .into_iter()
        .min_by_key(|(p, _)| distance(c, *p))
        .map(|(_, v)| v)
        .unwrap_or(BurninSubtitleOutlineColor::Black)
}

/// Black or white, whichever is closer in luminance.
pub fn shadow_color(c: Rgb) -> BurninSubtitleShadowColor {
    let luma = 299 * u32::from(c.r) + 587 * u32::from(c.g) + 114 * u32::from(c.b);
    if luma >= 128 * 1000 {
        BurninSubtitleShadowColor::White
    } else {
        BurninSubtitleShadowColor::Black
    }
}

fn primary_language(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn caption_language(tag: &str) -> Option<LanguageCode> {
    Some(match primary_language(tag).as_str() {
        "en" => LanguageCode::Eng,
        "ja" => LanguageCode::Jpn,
        "ko" => LanguageCode::Kor,
        "zh" => LanguageCode::Zho,
        "es" => LanguageCode::Spa,
        "fr" => LanguageCode::Fra,
        "de" => LanguageCode::Deu,
        "pt" => LanguageCode::Por,
        _ => return None,
    })
}

fn font_script(tag: &str) -> FontScript {
    let lower = tag.to_ascii_lowercase();
    if primary_language(tag) != "zh" {
        FontScript::Automatic
    } else if lower.contains("hant") || lower.contains("-tw") || lower.contains("-hk") {
        FontScript::Hant
    } else {
        FontScript::Hans
    }
}

fn scaled(v: f32) -> i32 {
    v.round() as i32
}

/// The burn-in settings for a plan's caption style (see the module docs, field by field).
pub fn burnin_settings(captions: &Captions, size: FrameSize) -> BurninDestinationSettings {
    let style: &CaptionStyle = &captions.style;
    let metrics = TextMetrics::new(style, size);
    let scale = size.width.min(size.height) as f32 / 1080.0;
    let area = caption_box(captions, size, usize::from(style.lines));
    // Every preset position is horizontally centred; so is `At` with x = 0.5.
    let centred =
        !matches!(style.position, CaptionPosition::At { x, .. } if (x - 0.5).abs() > 0.001);
    let shadow = style.shadow;
    let has_shadow = shadow.x != 0 || shadow.y != 0 || shadow.blur != 0;
    let font = style.font.as_str();
    let serif = font.contains("Serif") || font.contains("Mincho");
    BurninDestinationSettings::builder()
        .style_passthrough(BurnInSubtitleStylePassthrough::Disabled)
        .font_color(BurninSubtitleFontColor::Hex)
        .hex_font_color(rgb_hex(style.color))
        .font_opacity(255)
        .font_size(scaled(metrics.font_px).clamp(1, MAX_FONT_SIZE))
        .font_script(font_script(&captions.language))
        .fallback_font(if serif {
            BurninSubtitleFallbackFont::ProportionalSerif
        } else {
            BurninSubtitleFallbackFont::ProportionalSansserif
        })
        .outline_color(outline_color(style.stroke_color))
        .outline_size(scaled(style.stroke_thickness as f32 * scale).clamp(0, MAX_OUTLINE_SIZE))
        .shadow_color(if has_shadow {
            shadow_color(shadow.color)
        } else {
            BurninSubtitleShadowColor::None
        })
        .shadow_opacity(if has_shadow { SHADOW_OPACITY } else { 0 })
        .shadow_x_offset(scaled(shadow.x as f32 * scale))
        .shadow_y_offset(scaled(shadow.y as f32 * scale))
        .background_color(BurninSubtitleBackgroundColor::None)
        .background_opacity(0)
        .alignment(BurninSubtitleAlignment::Centered)
        .teletext_spacing(BurninSubtitleTeletextSpacing::Proportional)
        .set_x_position((!centred).then_some(area.x as i32))
        .y_position(area.y as i32)
        .build()
}

fn watermark_image(
    plan: &RenderPlan,
    target: &JobTarget,
    main_end_ms: u64,
) -> Result<Option<InsertableImage>, RenderError> {
    let Some(wm) = &plan.watermark else {
        return Ok(None);
    };
    let FrameSize {
        width: w,
        height: h,
    } = plan.size;
    let ww = ((w as f32 * wm.width_fraction) as u32).max(2) & !1;
    let wh = match target.watermark_pixels {
        Some((iw, ih)) if iw > 0 && ih > 0 => {
            ((u64::from(ww) * u64::from(ih) + u64::from(iw) / 2) / u64::from(iw)) as u32
        }
        _ => ww,
    }
    .clamp(2, h)
        & !1;
    let margin = (w.min(h) as f32 * 0.04) as u32;
    let right = w.saturating_sub(ww + margin);
    let bottom = h.saturating_sub(wh + margin);
    let (x, y) = match wm.position {
        Corner::TopLeft => (margin, margin),
        Corner::TopRight => (right, margin),
        Corner::BottomLeft => (margin, bottom),
        Corner::BottomRight => (right, bottom),
    };
    Ok(Some(
        InsertableImage::builder()
            .image_inserter_input(image_url(&target.bucket, &wm.image, "watermark image")?)
            .layer(WATERMARK_LAYER)
            .opacity(100)
            .start_time(timecode(0))
            .duration(i32_ms(main_end_ms)?)
            .image_x(x as i32)
            .image_y(y as i32)
            .width(ww as i32)
            .height(wh as i32)
            .build(),
    ))
}

/// The JobSettings for `plan` (pure: no network), laid out as the module docs describe.
pub fn job_settings(plan: &RenderPlan, target: &JobTarget) -> Result<JobSettings, RenderError> {
    plan.validate()?;
    check_bucket(&target.bucket)?;
    check_key(&target.output_key, "output key")?;
    if plan.scenes.len() > MAX_SCENES {
        return Err(invalid(format!(
            "MediaConvert takes at most {MAX_SCENES} scenes (one overlay layer each)"
        )));
    }
    let FrameSize {
        width: w,
        height: h,
    } = plan.size;
    let bucket = target.bucket.as_str();
    let voice_ms = plan.voiceover.duration_ms;
    let scenes_ms: u64 = plan.scenes.iter().map(|s| s.duration_ms).sum();
    let padding_ms = match scenes_ms.saturating_sub(voice_ms) {
        0 => 0,
        gap => gap.max(MIN_GENERATOR_MS),
    };
    let main_end_ms = voice_ms + padding_ms;

    // Inputs, in playing order.
    let mut voice = Input::builder()
        .timecode_source(InputTimecodeSource::Zerobased)
        .audio_selectors(
            AUDIO_SELECTOR,
            audio_selector(
                Some(path_url(bucket, &plan.voiceover.path, "voiceover")?),
                true,
            ),
        );
    if plan.captions.is_some() {
        voice = voice.caption_selectors(
            CAPTION_SELECTOR,
            CaptionSelector::builder()
                .source_settings(
                    CaptionSourceSettings::builder()
                        .source_type(CaptionSourceType::Webvtt)
                        .file_source_settings(
                            FileSourceSettings::builder()
                                .source_file(s3_url(bucket, &caption_key(target)))
                                .build(),
                        )
                        .build(),
                )
                .build(),
        );
    }
    let mut settings = JobSettings::builder()
        .timecode_config(
            TimecodeConfig::builder()
                .source(TimecodeSource::Zerobased)
                .build(),
        )
        .inputs(voice.build());
    if padding_ms > 0 {
        settings = settings.inputs(
            Input::builder()
                .timecode_source(InputTimecodeSource::Zerobased)
                .video_generator(
                    InputVideoGenerator::builder()
                        .duration(i32_ms(padding_ms)?)
                        .width(w as i32)
                        .height(h as i32)
                        .framerate_numerator(FPS as i32)
                        .framerate_denominator(1)
                        .channels(2)
                        .sample_rate(48_000)
                        .build(),
                )
                .audio_selectors(AUDIO_SELECTOR, audio_selector(None, false))
                .build(),
        );
    }
    if let Some(clip) = &plan.end_clip {
        settings = settings.inputs(
            Input::builder()
                .file_input(path_url(bucket, &clip.path, "end clip")?)
                .timecode_source(InputTimecodeSource::Zerobased)
                // The upload's length was checked from its own MP4 headers; the job also
                // stops reading it at 15 s, so no file can bill more minutes than that.
                .input_clippings(
                    aws_sdk_mediaconvert::types::InputClipping::builder()
                        .start_timecode("00:00:00:00")
                        .end_timecode(END_CLIP_END_TIMECODE)
                        .build(),
                )
                .audio_selectors(AUDIO_SELECTOR, audio_selector(None, false))
                .build(),
        );
    }

    // Scenes and watermark.
    let mut inserter = ImageInserter::builder();
    for (i, (scene, window)) in plan
        .scenes
        .iter()
        .zip(scene_windows(plan, main_end_ms))
        .enumerate()
    {
        // MediaConvert cannot move a camera or draw a card: a page scene is inserted as its
        // page's image; cards are left to the black generator.
        let reelforge_core::render::Shot::Camera { image, .. } = &scene.shot else {
            continue;
        };
        inserter = inserter.insertable_images(
            InsertableImage::builder()
                .image_inserter_input(image_url(bucket, image, &format!("scene {} image", i + 1))?)
                .layer(i as i32)
                .opacity(100)
                .start_time(timecode(window.start_frame))
                .duration(i32_ms(window.duration_ms)?)
                .image_x(0)
                .image_y(0)
                .width(w as i32)
                .height(h as i32)
                .build(),
        );
    }
    if let Some(wm) = watermark_image(plan, target, main_end_ms)? {
        inserter = inserter.insertable_images(wm);
    }

    let video = VideoDescription::builder()
        .width(w as i32)
        .height(h as i32)
        .scaling_behavior(ScalingBehavior::Default)
        .video_preprocessors(
            VideoPreprocessor::builder()
                .image_inserter(inserter.build())
                .build(),
        )
        .codec_settings(
            VideoCodecSettings::builder()
                .codec(VideoCodec::H264)
                .h264_settings(
                    H264Settings::builder()
                        .rate_control_mode(H264RateControlMode::Qvbr)
                        .qvbr_settings(H264QvbrSettings::builder().qvbr_quality_level(7).build())
                        .max_bitrate(5_000_000)
                        .codec_profile(H264CodecProfile::High)
                        .codec_level(H264CodecLevel::Auto)
                        .framerate_control(H264FramerateControl::Specified)
                        .framerate_numerator(FPS as i32)
                        .framerate_denominator(1)
                        .gop_size(2.0)
                        .gop_size_units(H264GopSizeUnits::Seconds)
                        .scene_change_detect(H264SceneChangeDetect::TransitionDetection)
                        .build(),
                )
                .build(),
        )
        .build();
    let audio = AudioDescription::builder()
        .audio_source_name(AUDIO_SELECTOR)
        .codec_settings(
            AudioCodecSettings::builder()
                .codec(AudioCodec::Aac)
                .aac_settings(
                    AacSettings::builder()
                        .codec_profile(AacCodecProfile::Lc)
                        .coding_mode(AacCodingMode::CodingMode20)
                        .rate_control_mode(AacRateControlMode::Cbr)
                        .bitrate(128_000)
                        .sample_rate(48_000)
                        .specification(AacSpecification::Mpeg4)
                        .build(),
                )
                .build(),
        )
        .build();
    let mut output = Output::builder()
        .extension("mp4")
        .container_settings(
            ContainerSettings::builder()
                .container(ContainerType::Mp4)
                .mp4_settings(
                    Mp4Settings::builder()
                        .moov_placement(Mp4MoovPlacement::ProgressiveDownload)
                        .build(),
                )
                .build(),
        )
        .video_description(video)
        .audio_descriptions(audio);
    if let Some(captions) = &plan.captions {
        output = output.caption_descriptions(
            CaptionDescription::builder()
                .caption_selector_name(CAPTION_SELECTOR)
                .set_language_code(caption_language(&captions.language))
                .destination_settings(
                    CaptionDestinationSettings::builder()
                        .destination_type(CaptionDestinationType::BurnIn)
                        .burnin_destination_settings(burnin_settings(captions, plan.size))
                        .build(),
                )
                .build(),
        );
    }
    let group = OutputGroup::builder()
        .name("File Group")
        .output_group_settings(
            OutputGroupSettings::builder()
                .r#type(OutputGroupType::FileGroupSettings)
                .file_group_settings(
                    FileGroupSettings::builder()
                        .destination(s3_url(bucket, &target.output_key))
                        .build(),
                )
                .build(),
        )
        .outputs(output.build())
        .build();
    Ok(settings.output_groups(group).build())
}

/// The CreateJob idempotency token for a target: the same output always gets the same
/// token, so a redelivered render message does not start a second job.
pub fn client_request_token(target: &JobTarget) -> String {
    let digest = Sha256::digest(s3_url(&target.bucket, &target.output_key).as_bytes());
    format!("reelforge-{}", hex::encode(&digest[..16]))
}

/// Sends CreateJob for `plan` and returns the job id. The caption sidecar
/// ([`caption_file`]) must already be at [`caption_key`].
pub async fn submit(
    client: &aws_sdk_mediaconvert::Client,
    plan: &RenderPlan,
    target: &JobTarget,
) -> Result<String, RenderError> {
    if !target.role_arn.starts_with("arn:") {
        return Err(invalid("the MediaConvert role must be an IAM role ARN"));
    }
    let settings = job_settings(plan, target)?;
    let response = client
        .create_job()
        .role(&target.role_arn)
        .set_queue(target.queue_arn.clone())
        .settings(settings)
        .set_user_metadata(Some(
            target
                .user_metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .client_request_token(client_request_token(target))
        .send()
        .await
        .map_err(service_error)?;
    response
        .job
        .and_then(|job| job.id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| RenderError::ToolFailed {
            program: "MediaConvert CreateJob".into(),
            status: "no job id".into(),
            stderr: "the response named no job".into(),
        })
}

fn service_error<E, R>(error: SdkError<E, R>) -> RenderError
where
    E: ProvideErrorMetadata,
{
    let (status, detail) = match &error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            (
                e.code().unwrap_or("service error").to_string(),
                e.message()
                    .unwrap_or("")
                    .chars()
                    .take(300)
                    .collect::<String>(),
            )
        }
        SdkError::TimeoutError(_) => ("timeout".into(), "no answer in time".into()),
        SdkError::DispatchFailure(_) => ("unreachable".into(), "could not send".into()),
        SdkError::ResponseError(_) => ("bad response".into(), "unreadable response".into()),
        _ => ("request failed".into(), String::new()),
    };
    RenderError::ToolFailed {
        program: "MediaConvert CreateJob".into(),
        status,
        stderr: detail,
    }
}

// ---------------------------------------------------------------------------------------
// The renderer port
// ---------------------------------------------------------------------------------------

/// The AWS [`VideoRenderer`]: one MediaConvert job per video, reading the plan's media
/// keys from the bucket in place. The caption sidecar is written to the media store
/// first; the job's end arrives as an EventBridge event (`render-events`) or is found by
/// [`VideoRenderer::job_state`].
pub struct MediaConvertRenderer {
    pub client: aws_sdk_mediaconvert::Client,
    pub media: std::sync::Arc<dyn MediaStore>,
    /// The role jobs run as (`REELFORGE_MEDIACONVERT_ROLE_ARN`).
    pub role_arn: String,
    /// A queue other than the default (`REELFORGE_MEDIACONVERT_QUEUE_ARN`).
    pub queue_arn: Option<String>,
    /// The media bucket, where the plan's keys are.
    pub bucket: String,
    /// The deployment stage (`REELFORGE_STAGE`): each stage's EventBridge rule matches
    /// its own jobs only.
    pub deployment_stage: String,
}

#[async_trait::async_trait]
impl VideoRenderer for MediaConvertRenderer {
    async fn start(&self, job: &RenderJob) -> Result<RenderStarted, ToolError> {
        let mut user_metadata = job.metadata.clone();
        user_metadata.insert("reelforge_stage".into(), self.deployment_stage.clone());
        let target = JobTarget {
            role_arn: self.role_arn.clone(),
            queue_arn: self.queue_arn.clone(),
            bucket: self.bucket.clone(),
            output_key: job.output_stem.clone(),
            user_metadata,
            watermark_pixels: None,
        };
        self.media
            .put_media(
                &caption_key(&target),
                caption_file(&job.plan).into(),
                "text/vtt",
            )
            .await
            .map_err(|e| ToolError(format!("caption file: {e}")))?;
        let job_id = submit(&self.client, &job.plan, &target)
            .await
            .map_err(|e| ToolError(format!("MediaConvert: {e}")))?;
        Ok(RenderStarted::Submitted { job_id })
    }

    async fn job_state(&self, job_id: &str) -> Result<Option<JobStateChange>, ToolError> {
        let job = self
            .client
            .get_job()
            .id(job_id)
            .send()
            .await
            .map_err(|e| {
                ToolError(format!(
                    "MediaConvert GetJob: {}",
                    e.code().unwrap_or("unreachable")
                ))
            })?
            .job
            .ok_or_else(|| ToolError("MediaConvert GetJob: no job".into()))?;
        let status = job
            .status
            .as_ref()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        if !matches!(status.as_str(), "COMPLETE" | "ERROR" | "CANCELED") {
            return Ok(None);
        }
        let output_duration_ms = job
            .output_group_details()
            .iter()
            .flat_map(|g| g.output_details())
            .find_map(|o| o.duration_in_ms())
            .and_then(|ms| u64::try_from(ms).ok());
        Ok(Some(JobStateChange {
            job_id: job_id.to_string(),
            status,
            user_metadata: job
                .user_metadata
                .map(|m| m.into_iter().collect())
                .unwrap_or_default(),
            output_duration_ms,
            error_message: job.error_message,
        }))
    }
}

// ---------------------------------------------------------------------------------------
// Completion events
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use reelforge_core::render::{AudioTrack, Cam, CaptionCue, Scene, Shot, WordTiming};

    fn plan(scene_ms: &[u64], voice_ms: u64) -> RenderPlan {
        let cam = Cam {
            x: 0.0,
            y: 0.0,
            zoom: 1.0,
        };
        RenderPlan {
            size: FrameSize::PORTRAIT_1080,
            fps: 30,
            scenes: scene_ms
                .iter()
                .enumerate()
                .map(|(i, &ms)| Scene {
                    duration_ms: ms,
                    shot: Shot::Camera {
                        image: format!("work/c/screens/s{i}.png").into(),
                        image_width: 1080,
                        image_height: 1920,
                        from: cam,
                        to: cam,
                        pad: Rgb::WHITE,
                    },
                    transition: Default::default(),
                    note: String::new(),
                })
                .collect(),
            voiceover: AudioTrack {
                path: "audio/c/en.wav".into(),
                duration_ms: voice_ms,
            },
            speech: vec![],
            music: None,
            captions: None,
            watermark: None,
            end_clip: None,
        }
    }

    fn words(list: &[(&str, u64, u64)]) -> CaptionCue {
        CaptionCue {
            words: list
                .iter()
                .map(|&(t, s, e)| WordTiming {
                    text: t.into(),
                    start_ms: s,
                    end_ms: e,
                })
                .collect(),
        }
    }

    #[test]
    fn timecodes_count_frames_at_30_fps() {
        assert_eq!(timecode(0), "00:00:00:00");
        assert_eq!(timecode(frame_at(1500)), "00:00:01:15");
        assert_eq!(timecode(frame_at(61_000)), "00:01:01:00");
        assert_eq!(timecode(frame_at(3_600_000 + 33)), "01:00:00:01");
    }

    #[test]
    fn scene_windows_are_the_scene_durations_when_they_fall_on_frames() {
        let p = plan(&[1000, 2500, 1200], 4700);
        let windows = scene_windows(&p, 4700);
        let starts: Vec<String> = windows.iter().map(|w| timecode(w.start_frame)).collect();
        assert_eq!(starts, ["00:00:00:00", "00:00:01:00", "00:00:03:15"]);
        let durations: Vec<u64> = windows.iter().map(|w| w.duration_ms).collect();
        assert_eq!(durations, [1000, 2500, 1200]);
    }

    #[test]
    fn scene_windows_off_the_frame_grid_never_leave_a_gap() {
        // 1017 ms ends 0.51 of a frame into frame 30; 1049 ms more ends in frame 61.
        let p = plan(&[1017, 1049, 500], 2000);
        let windows = scene_windows(&p, 2566);
        for pair in windows.windows(2) {
            let end = frame_floor_ms(pair[0].start_frame) + pair[0].duration_ms;
            assert!(end >= frame_floor_ms(pair[1].start_frame), "{windows:?}");
            assert!(end <= frame_ceil_ms(pair[1].start_frame), "{windows:?}");
        }
        let last = windows.last().unwrap();
        assert!(frame_floor_ms(last.start_frame) + last.duration_ms >= 2566);
    }

    #[test]
    fn the_webvtt_sidecar_has_one_cue_per_page_and_escapes_text() {
        let mut p = plan(&[3000], 3000);
        p.captions = Some(Captions {
            language: "en".into(),
            style: CaptionStyle {
                lines: 1,
                ..CaptionStyle::default()
            },
            cues: vec![
                words(&[("Fast", 0, 300), ("<b>&", 300, 600), ("-->", 600, 900)]),
                words(&[("Later", 2500, 2800)]),
            ],
        });
        let vtt = caption_file(&p);
        assert!(vtt.starts_with("WEBVTT\n\n1\n"), "{vtt}");
        assert!(
            vtt.contains("00:00:00.000 --> 00:00:01.300\nFast &lt;b&gt;&amp; --&gt;\n"),
            "{vtt}"
        );
        // The last page is held 400 ms but never past the main part (3 s).
        assert!(
            vtt.contains("\n2\n00:00:02.500 --> 00:00:03.000\nLater\n"),
            "{vtt}"
        );
        assert!(!vtt.contains("<b>") && !vtt.contains("--> --"));
        p.captions = None;
        assert_eq!(caption_file(&p), "WEBVTT\n");
    }

    #[test]
    fn fixed_colour_sets_take_the_nearest_colour() {
        assert_eq!(outline_color(Rgb::BLACK), BurninSubtitleOutlineColor::Black);
        assert_eq!(
            outline_color(Rgb::new(20, 10, 200)),
            BurninSubtitleOutlineColor::Blue
        );
        assert_eq!(
            outline_color(Rgb::new(240, 230, 40)),
            BurninSubtitleOutlineColor::Yellow
        );
        assert_eq!(
            outline_color(Rgb::new(200, 200, 200)),
            BurninSubtitleOutlineColor::White
        );
        assert_eq!(
            shadow_color(Rgb::new(40, 40, 60)),
            BurninSubtitleShadowColor::Black
        );
        assert_eq!(
            shadow_color(Rgb::new(230, 230, 230)),
            BurninSubtitleShadowColor::White
        );
    }

    #[test]
    fn keys_must_stay_inside_the_bucket() {
        for bad in [
            "",
            "/abs.png",
            "a/../b.png",
            "./a.png",
            "a//b.png",
            "a\nb.png",
            "dir/",
        ] {
            assert!(check_key(bad, "k").is_err(), "{bad:?}");
        }
        assert!(check_key("work/c/screens/1080x1920/screen-1.png", "k").is_ok());
        for bad in ["ab", "Bucket", "-bucket", "bucket_x", "bucket-"] {
            assert!(check_bucket(bad).is_err(), "{bad:?}");
        }
        assert!(check_bucket("reelforge-prod-media-123456789012-us-east-1").is_ok());
    }

    #[test]
    fn chinese_captions_choose_their_script() {
        assert_eq!(font_script("zh-Hant"), FontScript::Hant);
        assert_eq!(font_script("zh-TW"), FontScript::Hant);
        assert_eq!(font_script("zh"), FontScript::Hans);
        assert_eq!(font_script("ja"), FontScript::Automatic);
        assert_eq!(caption_language("pt-BR"), Some(LanguageCode::Por));
        assert_eq!(caption_language("xx"), None);
    }
}
