//! Style profiles (SPEC §8), with the user-data seed's field names: font profiles (the
//! burned-in caption style), media profiles (watermark, end clip), voice profiles (TTS
//! provider, region, sealed API key), voices and playlists.
//!
//! Every type deserializes leniently (numbers as `i64`, colours and expressions as text,
//! unknown fields such as the seed's `font_profile_id`, `path` or `preview_url` ignored)
//! so that [`FontProfile::validate`] and friends can refuse bad values with a message that
//! names the field. Conversions to the render plan's types assume a validated profile;
//! they stay total (an invalid value falls back to the render default or is clamped).
//!
//! Positions given as the seed's overlay expressions are parsed by [`expr`] and evaluated
//! to numbers: nothing a user writes ever becomes part of a filter string.

pub mod expr;
pub mod secrets;

pub use expr::{parse, Expr, ExprError};
pub use secrets::{mask, PlainSecret, SealedSecret, SecretError, SecretOwner, SecretSealer};

use crate::render::{
    CaptionPosition, CaptionStyle, Corner, EndClip, FontFamily, FrameSize, Rgb, Shadow,
    TextMetrics, Watermark,
};
use serde::{Deserialize, Deserializer, Serialize};
use std::ops::RangeInclusive;
use std::path::PathBuf;

pub const FONT_SIZE: RangeInclusive<i64> = 8..=200;
pub const STROKE_THICKNESS: RangeInclusive<i64> = 0..=20;
pub const SHADOW_OFFSET: RangeInclusive<i64> = -50..=50;
pub const SHADOW_BLUR: RangeInclusive<i64> = 0..=20;
pub const CAPTION_LINES: RangeInclusive<i64> = 1..=4;
pub const WATERMARK_WIDTH: RangeInclusive<f32> = 0.02..=0.5;
pub const MAX_FONT_NAME_CHARS: usize = 64;
pub const MAX_PROFILE_NAME_CHARS: usize = 100;
pub const MAX_REGION_LEN: usize = 32;
pub const MAX_PROVIDER_VOICE_ID_LEN: usize = 128;
pub const MAX_ID_LEN: usize = 64;
/// A media profile's `music` value that picks the built-in bed.
pub const DEFAULT_MUSIC: &str = "default";
pub const MAX_API_KEY_LEN: usize = 512;

/// A refused field: `message` names it and says what is allowed (fit for a 400 body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProfileError {
    pub field: String,
    pub message: String,
}

impl ProfileError {
    fn new(field: &str, what: impl std::fmt::Display) -> Self {
        ProfileError {
            field: field.to_string(),
            message: format!("{field} {what}"),
        }
    }
}

/// At most this many characters of a refused value are echoed back.
const ECHO_CHARS: usize = 24;

fn echo(s: &str) -> String {
    let mut out: String = s.chars().take(ECHO_CHARS).collect();
    if s.chars().nth(ECHO_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn in_range(field: &str, v: i64, range: RangeInclusive<i64>) -> Result<(), ProfileError> {
    if range.contains(&v) {
        Ok(())
    } else {
        Err(ProfileError::new(
            field,
            format!("must be {}..={}, got {v}", range.start(), range.end()),
        ))
    }
}

/// `#RRGGBB` (either case).
fn color(field: &str, v: &str) -> Result<Rgb, ProfileError> {
    v.parse::<Rgb>().map_err(|_| {
        ProfileError::new(
            field,
            format!("must be a #RRGGBB colour, got {:?}", echo(v)),
        )
    })
}

fn display_name(field: &str, v: &str) -> Result<(), ProfileError> {
    let n = v.chars().count();
    if v.trim().is_empty() || n > MAX_PROFILE_NAME_CHARS || v.chars().any(char::is_control) {
        return Err(ProfileError::new(
            field,
            format!("must be 1..={MAX_PROFILE_NAME_CHARS} characters, not blank, without control characters"),
        ));
    }
    Ok(())
}

fn id(field: &str, v: &str) -> Result<(), ProfileError> {
    let ok = !v.is_empty()
        && v.len() <= MAX_ID_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ProfileError::new(
            field,
            format!(
                "must be 1..={MAX_ID_LEN} of A-Z a-z 0-9 _ -, got {:?}",
                echo(v)
            ),
        ))
    }
}

fn media_key(field: &str, v: &str) -> Result<(), ProfileError> {
    if crate::media_key::media_key_is_valid(v) {
        Ok(())
    } else {
        Err(ProfileError::new(
            field,
            format!(
                "must be a media key (segments of A-Z a-z 0-9 . _ - separated by /), got {:?}",
                echo(v)
            ),
        ))
    }
}

/// `""` and whitespace-only expressions count as not given.
fn given(e: &Option<String>) -> Option<&str> {
    e.as_deref().filter(|s| !s.trim().is_empty())
}

// ---------------------------------------------------------------------------------------
// Caption position
// ---------------------------------------------------------------------------------------

/// The seed's `overlay_visualizer`: a named position, or `Custom` (both expressions).
/// Only positions the renderer can honour are offered: captions are centred lines, so
/// there are no left or right columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OverlayPreset {
    TopCenter,
    #[default]
    MiddleCenter,
    LowerThird,
    BottomCenter,
    Custom,
}

impl OverlayPreset {
    pub const ALL: [OverlayPreset; 5] = [
        OverlayPreset::TopCenter,
        OverlayPreset::MiddleCenter,
        OverlayPreset::LowerThird,
        OverlayPreset::BottomCenter,
        OverlayPreset::Custom,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OverlayPreset::TopCenter => "Top Center",
            OverlayPreset::MiddleCenter => "Middle Center",
            OverlayPreset::LowerThird => "Lower Third",
            OverlayPreset::BottomCenter => "Bottom Center",
            OverlayPreset::Custom => "Custom",
        }
    }

    /// The render plan's named position (`Custom` without expressions: middle centre).
    pub fn caption_position(self) -> CaptionPosition {
        match self {
            OverlayPreset::TopCenter => CaptionPosition::TopCenter,
            OverlayPreset::MiddleCenter | OverlayPreset::Custom => CaptionPosition::MiddleCenter,
            OverlayPreset::LowerThird => CaptionPosition::LowerThird,
            OverlayPreset::BottomCenter => CaptionPosition::BottomCenter,
        }
    }

    /// Centre as fractions of the safe zone; the same numbers the renderer uses.
    fn fractions(self) -> (f64, f64) {
        let (x, y) = self.caption_position().fractions();
        (f64::from(x), f64::from(y))
    }
}

impl TryFrom<String> for OverlayPreset {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        OverlayPreset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = OverlayPreset::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "caption_position.overlay_visualizer must be one of {}, got {:?}",
                    all.join(", "),
                    echo(&s)
                )
            })
    }
}

impl From<OverlayPreset> for String {
    fn from(p: OverlayPreset) -> String {
        p.name().to_string()
    }
}

/// The seed's `caption_position`. `x` and `y` are ffmpeg-overlay-style expressions for
/// the caption block's top-left corner (`(main_w-overlay_w)/2` centres it); each one
/// given overrides the preset on its axis.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptionPositionSpec {
    pub overlay_visualizer: OverlayPreset,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

impl CaptionPositionSpec {
    pub fn preset(preset: OverlayPreset) -> Self {
        CaptionPositionSpec {
            overlay_visualizer: preset,
            x: None,
            y: None,
        }
    }

    pub fn has_expressions(&self) -> bool {
        given(&self.x).is_some() || given(&self.y).is_some()
    }

    /// The parsed expressions (`None` where not given).
    pub fn parsed(&self) -> Result<(Option<Expr>, Option<Expr>), ProfileError> {
        let one = |field: &str, e: &Option<String>| {
            given(e)
                .map(parse)
                .transpose()
                .map_err(|err| ProfileError::new(field, format!("is not a valid position: {err}")))
        };
        Ok((
            one("caption_position.x", &self.x)?,
            one("caption_position.y", &self.y)?,
        ))
    }

    /// Checks the expressions parse and evaluate for both 1080p frame shapes with a
    /// caption block of `block(frame)`.
    fn validate(&self, block: impl Fn(FrameSize) -> (f64, f64)) -> Result<(), ProfileError> {
        let (x, y) = self.parsed()?;
        if self.overlay_visualizer == OverlayPreset::Custom && (x.is_none() || y.is_none()) {
            return Err(ProfileError::new(
                "caption_position",
                "with overlay_visualizer \"Custom\" needs both x and y expressions",
            ));
        }
        for frame in [FrameSize::PORTRAIT_1080, FrameSize::LANDSCAPE_1080] {
            let (bw, bh) = block(frame);
            let (fw, fh) = (frame.width as f64, frame.height as f64);
            for (field, e) in [("caption_position.x", &x), ("caption_position.y", &y)] {
                if let Some(e) = e {
                    e.eval(fw, fh, bw, bh).map_err(|err| {
                        ProfileError::new(
                            field,
                            format!(
                                "cannot be evaluated for a {}x{} frame: {err}",
                                frame.width, frame.height
                            ),
                        )
                    })?;
                }
            }
        }
        Ok(())
    }

    /// The caption block's centre as fractions of the frame, clamped into 0..=1, for a
    /// frame and caption block of the given pixel sizes. Axes without an expression take
    /// the preset's position.
    pub fn resolve(
        &self,
        frame_w: f64,
        frame_h: f64,
        caption_w: f64,
        caption_h: f64,
    ) -> Result<CaptionPosition, ExprError> {
        if !(frame_w > 0.0 && frame_h > 0.0 && frame_w.is_finite() && frame_h.is_finite()) {
            return Err(ExprError::NotFinite);
        }
        let (px, py) = self.overlay_visualizer.fractions();
        let axis = |e: &Option<String>, preset: f64, half: f64, total: f64| match given(e) {
            None => Ok(preset),
            Some(src) => {
                let left = parse(src)?.eval(frame_w, frame_h, caption_w, caption_h)?;
                let f = (left + half) / total;
                if f.is_finite() {
                    Ok(f)
                } else {
                    Err(ExprError::NotFinite)
                }
            }
        };
        let x = axis(&self.x, px, caption_w / 2.0, frame_w)?;
        let y = axis(&self.y, py, caption_h / 2.0, frame_h)?;
        Ok(CaptionPosition::At {
            x: x.clamp(0.0, 1.0) as f32,
            y: y.clamp(0.0, 1.0) as f32,
        })
    }
}

/// The pixel size of the area a full caption page of `style` covers on `frame` (text
/// lines at the widest allowed line, outline and shadow) — what the renderer reserves,
/// and what `overlay_w` / `overlay_h` stand for.
pub fn estimated_caption_block(style: &CaptionStyle, frame: FrameSize) -> (f64, f64) {
    let m = TextMetrics::new(style, frame);
    let scale = frame.width.min(frame.height) as f64 / 1080.0;
    let pad = match style.backdrop {
        Some(b) => b.padding as f64 * scale,
        None => {
            (style.stroke_thickness as f64
                + style
                    .shadow
                    .x
                    .unsigned_abs()
                    .max(style.shadow.y.unsigned_abs()) as f64
                + style.shadow.blur as f64)
                * scale
        }
    };
    let line_h = m.font_px as f64 * 1.45;
    (
        m.max_line_px as f64 + 2.0 * pad,
        line_h * style.lines.max(1) as f64 + 2.0 * pad,
    )
}

// ---------------------------------------------------------------------------------------
// Font profile
// ---------------------------------------------------------------------------------------

/// The seed's font profile. Defaults are the seed's "New Font Profile".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FontProfile {
    pub profile_name: String,
    /// Font family: letters, digits, spaces and hyphens, at most 64 characters.
    pub name: String,
    /// Pixels for a 1080-pixel short side.
    pub size: i64,
    pub bold: bool,
    pub italic: bool,
    pub underlined: bool,
    pub strikethrough: bool,
    pub caption_position: CaptionPositionSpec,
    pub caption_style_color: String,
    pub caption_style_stroke_color: String,
    pub caption_style_stroke_thickness: i64,
    pub caption_shadow_x_pos: i64,
    pub caption_shadow_y_pos: i64,
    pub caption_shadow_color: String,
    pub caption_shadow_blur: i64,
    pub caption_lines: i64,
    /// Colour the word being spoken.
    pub caption_highlighter: bool,
    pub caption_highlighter_color: String,
    /// Colour keywords picked by the script model (not a render style: carried for the
    /// script stage, not mapped into [`CaptionStyle`]).
    pub caption_ai_keyword_highlighter: bool,
    pub caption_ai_keyword_highlighter_color: String,
}

impl Default for FontProfile {
    fn default() -> Self {
        FontProfile {
            profile_name: "New Font Profile".into(),
            name: "Poppins".into(),
            size: 30,
            bold: false,
            italic: false,
            underlined: false,
            strikethrough: false,
            caption_position: CaptionPositionSpec::default(),
            caption_style_color: "#FFFFFF".into(),
            caption_style_stroke_color: "#000000".into(),
            caption_style_stroke_thickness: 2,
            caption_shadow_x_pos: 16,
            caption_shadow_y_pos: 14,
            caption_shadow_color: "#000000".into(),
            caption_shadow_blur: 6,
            caption_lines: 1,
            caption_highlighter: true,
            caption_highlighter_color: "#FFFF00".into(),
            caption_ai_keyword_highlighter: false,
            caption_ai_keyword_highlighter_color: "#80B8FF".into(),
        }
    }
}

fn font_name(field: &str, v: &str) -> Result<(), ProfileError> {
    let n = v.chars().count();
    let ok = n > 0
        && n <= MAX_FONT_NAME_CHARS
        && v.trim() == v
        && v.chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ProfileError::new(
            field,
            format!(
                "must be a font family of 1..={MAX_FONT_NAME_CHARS} letters, digits, spaces and hyphens, got {:?}",
                echo(v)
            ),
        ))
    }
}

impl FontProfile {
    /// The first refused field, if any.
    pub fn validate(&self) -> Result<(), ProfileError> {
        display_name("profile_name", &self.profile_name)?;
        font_name("name", &self.name)?;
        in_range("size", self.size, FONT_SIZE)?;
        color("caption_style_color", &self.caption_style_color)?;
        color(
            "caption_style_stroke_color",
            &self.caption_style_stroke_color,
        )?;
        in_range(
            "caption_style_stroke_thickness",
            self.caption_style_stroke_thickness,
            STROKE_THICKNESS,
        )?;
        in_range(
            "caption_shadow_x_pos",
            self.caption_shadow_x_pos,
            SHADOW_OFFSET,
        )?;
        in_range(
            "caption_shadow_y_pos",
            self.caption_shadow_y_pos,
            SHADOW_OFFSET,
        )?;
        color("caption_shadow_color", &self.caption_shadow_color)?;
        in_range("caption_shadow_blur", self.caption_shadow_blur, SHADOW_BLUR)?;
        in_range("caption_lines", self.caption_lines, CAPTION_LINES)?;
        color("caption_highlighter_color", &self.caption_highlighter_color)?;
        color(
            "caption_ai_keyword_highlighter_color",
            &self.caption_ai_keyword_highlighter_color,
        )?;
        let style = self.style_without_position();
        self.caption_position
            .validate(|frame| estimated_caption_block(&style, frame))
    }

    /// The caption style for a 1080x1920 frame (positions given as expressions depend
    /// on the frame; see [`FontProfile::caption_style_for`]).
    pub fn caption_style(&self) -> CaptionStyle {
        self.caption_style_for(FrameSize::PORTRAIT_1080)
    }

    /// The caption style on `frame`. A preset maps to the renderer's named position;
    /// expressions are evaluated with `overlay_w`/`overlay_h` = the
    /// [`estimated_caption_block`], falling back to the preset if they cannot be.
    pub fn caption_style_for(&self, frame: FrameSize) -> CaptionStyle {
        let mut style = self.style_without_position();
        let preset = self.caption_position.overlay_visualizer;
        style.position = if self.caption_position.has_expressions() {
            // Expressions are evaluated inside the safe zone: `main_w`/`main_h` are its size
            // and (0, 0) its top-left corner, so no position puts captions under a
            // platform's buttons.
            let (bw, bh) = estimated_caption_block(&style, frame);
            let zone = crate::render::safe_zone(frame);
            self.caption_position
                .resolve(zone.width as f64, zone.height as f64, bw, bh)
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "caption position expression failed; using the preset");
                    preset.caption_position()
                })
        } else {
            preset.caption_position()
        };
        style
    }

    fn style_without_position(&self) -> CaptionStyle {
        let d = CaptionStyle::default();
        let rgb = |s: &str, fallback: Rgb| s.parse().unwrap_or(fallback);
        let clamp = |v: i64, r: RangeInclusive<i64>| v.clamp(*r.start(), *r.end());
        CaptionStyle {
            font: self
                .name
                .parse::<FontFamily>()
                .unwrap_or_else(|_| d.font.clone()),
            size: clamp(self.size, FONT_SIZE) as u32,
            bold: self.bold,
            italic: self.italic,
            underline: self.underlined,
            strikethrough: self.strikethrough,
            color: rgb(&self.caption_style_color, d.color),
            stroke_color: rgb(&self.caption_style_stroke_color, d.stroke_color),
            stroke_thickness: clamp(self.caption_style_stroke_thickness, STROKE_THICKNESS) as u32,
            shadow: Shadow {
                x: clamp(self.caption_shadow_x_pos, SHADOW_OFFSET) as i32,
                y: clamp(self.caption_shadow_y_pos, SHADOW_OFFSET) as i32,
                color: rgb(&self.caption_shadow_color, d.shadow.color),
                blur: clamp(self.caption_shadow_blur, SHADOW_BLUR) as u32,
            },
            lines: clamp(self.caption_lines, CAPTION_LINES) as u8,
            highlighter: self.caption_highlighter,
            highlight_color: rgb(&self.caption_highlighter_color, d.highlight_color),
            position: d.position,
            // The box stays: a profile styles the text, the box keeps it readable on any page.
            backdrop: d.backdrop,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Media profile
// ---------------------------------------------------------------------------------------

/// Watermark image and corner, end clip. Keys are media-store keys of uploaded files
/// (the seed's `watermark_path` / `end_clip_path` are accepted as aliases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaProfile {
    pub profile_name: String,
    #[serde(alias = "watermark_path")]
    pub watermark_key: Option<String>,
    #[serde(deserialize_with = "de_corner")]
    pub watermark_position: Option<Corner>,
    pub watermark_width_fraction: f32,
    #[serde(alias = "end_clip_path")]
    pub end_clip_key: Option<String>,
    /// The music bed under the voice: `"default"` (the bed reelforge ships), or the key of
    /// a track uploaded with `PUT /api/v1/media-profiles/{id}/music`; none when absent.
    pub music: Option<String>,
}

impl Default for MediaProfile {
    fn default() -> Self {
        MediaProfile {
            profile_name: "New Media Profile".into(),
            watermark_key: None,
            watermark_position: None,
            watermark_width_fraction: 0.2,
            end_clip_key: None,
            music: None,
        }
    }
}

fn de_corner<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Corner>, D::Error> {
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    let corner = match s.as_str() {
        "top_left" => Corner::TopLeft,
        "top_right" => Corner::TopRight,
        "bottom_left" => Corner::BottomLeft,
        "bottom_right" => Corner::BottomRight,
        _ => {
            return Err(serde::de::Error::custom(format!(
                "watermark_position must be one of top_left, top_right, bottom_left, bottom_right, got {:?}",
                echo(&s)
            )))
        }
    };
    Ok(Some(corner))
}

impl MediaProfile {
    pub fn validate(&self) -> Result<(), ProfileError> {
        display_name("profile_name", &self.profile_name)?;
        if let Some(k) = &self.watermark_key {
            media_key("watermark_key", k)?;
        }
        if !WATERMARK_WIDTH.contains(&self.watermark_width_fraction) {
            return Err(ProfileError::new(
                "watermark_width_fraction",
                format!(
                    "must be {}..={}, got {}",
                    WATERMARK_WIDTH.start(),
                    WATERMARK_WIDTH.end(),
                    self.watermark_width_fraction
                ),
            ));
        }
        if let Some(k) = &self.end_clip_key {
            media_key("end_clip_key", k)?;
        }
        if let Some(m) = &self.music {
            if m != DEFAULT_MUSIC {
                media_key("music", m)?;
            }
        }
        Ok(())
    }

    /// The music the profile asks for: `None` (no music), `Some(None)` (the built-in
    /// bed) or `Some(Some(key))` (an uploaded track).
    pub fn music_choice(&self) -> Option<Option<String>> {
        match self.music.as_deref()? {
            DEFAULT_MUSIC => Some(None),
            key => Some(Some(key.to_string())),
        }
    }

    /// The render plan's watermark, with the image fetched to `local_path`; `None` when
    /// the profile has no watermark. No corner given: the renderer's default (top right).
    pub fn watermark(&self, local_path: impl Into<PathBuf>) -> Option<Watermark> {
        self.watermark_key.as_ref()?;
        Some(Watermark {
            image: local_path.into(),
            position: self.watermark_position.unwrap_or_default(),
            width_fraction: self
                .watermark_width_fraction
                .clamp(*WATERMARK_WIDTH.start(), *WATERMARK_WIDTH.end()),
        })
    }

    /// The render plan's end clip, fetched to `local_path`; `None` without one.
    pub fn end_clip(&self, local_path: impl Into<PathBuf>) -> Option<EndClip> {
        self.end_clip_key.as_ref()?;
        Some(EndClip {
            path: local_path.into(),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Voice profile, voice, playlist
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ProviderId {
    Polly,
    Elevenlabs,
    Azure,
    Espeak,
}

impl ProviderId {
    pub const ALL: [ProviderId; 4] = [
        ProviderId::Polly,
        ProviderId::Elevenlabs,
        ProviderId::Azure,
        ProviderId::Espeak,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::Polly => "polly",
            ProviderId::Elevenlabs => "elevenlabs",
            ProviderId::Azure => "azure",
            ProviderId::Espeak => "espeak",
        }
    }

    /// The seed's `provider_name`.
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderId::Polly => "Amazon Polly",
            ProviderId::Elevenlabs => "ElevenLabs",
            ProviderId::Azure => "Azure",
            ProviderId::Espeak => "eSpeak NG",
        }
    }
}

impl std::fmt::Display for ProviderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for ProviderId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ProviderId::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "provider_id must be one of polly, elevenlabs, azure, espeak, got {:?}",
                    echo(&s)
                )
            })
    }
}

impl From<ProviderId> for String {
    fn from(p: ProviderId) -> String {
        p.as_str().to_string()
    }
}

fn region(field: &str, v: &str) -> Result<(), ProfileError> {
    let ok = v.len() <= MAX_REGION_LEN
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ProfileError::new(
            field,
            format!(
                "must be at most {MAX_REGION_LEN} of a-z 0-9 -, got {:?}",
                echo(v)
            ),
        ))
    }
}

/// A voice profile as received (create/update body): the API key in plaintext.
/// Deserialize only; [`VoiceProfileInput::seal`] turns it into the stored form.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VoiceProfileInput {
    #[serde(default = "default_voice_profile_name")]
    pub profile_name: String,
    pub provider_id: ProviderId,
    /// Empty: the provider's default.
    #[serde(default)]
    pub region: String,
    /// `""` or absent: no key.
    #[serde(default)]
    pub api_key: Option<PlainSecret>,
}

fn default_voice_profile_name() -> String {
    "New Voice Profile".into()
}

impl VoiceProfileInput {
    pub fn validate(&self) -> Result<(), ProfileError> {
        display_name("profile_name", &self.profile_name)?;
        region("region", &self.region)?;
        if let Some(k) = self.api_key.as_ref().filter(|k| !k.is_empty()) {
            let s = k.expose();
            // Never echoes the key.
            if s.len() > MAX_API_KEY_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ProfileError::new(
                    "api_key",
                    format!("must be at most {MAX_API_KEY_LEN} printable ASCII characters without spaces"),
                ));
            }
        }
        Ok(())
    }

    /// The stored form, the key sealed for `owner` (its account and this profile's id).
    pub async fn seal(
        self,
        sealer: &dyn SecretSealer,
        owner: &SecretOwner,
    ) -> Result<VoiceProfile, SecretError> {
        let api_key = match self.api_key.as_ref().filter(|k| !k.is_empty()) {
            Some(k) => Some(sealer.seal(k.expose(), owner).await?),
            None => None,
        };
        Ok(VoiceProfile {
            profile_name: self.profile_name,
            provider_id: self.provider_id,
            region: self.region,
            api_key,
        })
    }
}

/// A voice profile as stored: the API key only in sealed form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceProfile {
    pub profile_name: String,
    pub provider_id: ProviderId,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub api_key: Option<SealedSecret>,
}

/// What the API shows of a voice profile: the key masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoiceProfileView {
    pub profile_name: String,
    pub provider_id: ProviderId,
    pub provider_name: &'static str,
    pub region: String,
    pub api_key: Option<String>,
}

impl VoiceProfile {
    pub fn validate(&self) -> Result<(), ProfileError> {
        display_name("profile_name", &self.profile_name)?;
        region("region", &self.region)
    }

    pub fn view(&self) -> VoiceProfileView {
        VoiceProfileView {
            profile_name: self.profile_name.clone(),
            provider_id: self.provider_id,
            provider_name: self.provider_id.display_name(),
            region: self.region.clone(),
            api_key: self
                .api_key
                .as_ref()
                .map(|k| secrets::shown_mask(&k.masked)),
        }
    }
}

/// A provider voice under a voice profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voice {
    pub voice_name: String,
    pub voice_profile_id: String,
    pub provider_voice_id: String,
}

impl Voice {
    pub fn validate(&self) -> Result<(), ProfileError> {
        display_name("voice_name", &self.voice_name)?;
        id("voice_profile_id", &self.voice_profile_id)?;
        let v = &self.provider_voice_id;
        let ok = !v.is_empty()
            && v.len() <= MAX_PROVIDER_VOICE_ID_LEN
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'+'));
        if !ok {
            return Err(ProfileError::new(
                "provider_voice_id",
                format!(
                    "must be 1..={MAX_PROVIDER_VOICE_ID_LEN} of A-Z a-z 0-9 _ . - +, got {:?}",
                    echo(v)
                ),
            ));
        }
        Ok(())
    }
}

/// A font + media + voice profile bundle; `playlist_id` on a campaign applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playlist {
    pub playlist_name: String,
    #[serde(default)]
    pub font_profile_id: Option<String>,
    #[serde(default)]
    pub media_profile_id: Option<String>,
    #[serde(default)]
    pub voice_profile_id: Option<String>,
}

impl Playlist {
    pub fn validate(&self) -> Result<(), ProfileError> {
        display_name("playlist_name", &self.playlist_name)?;
        for (field, v) in [
            ("font_profile_id", &self.font_profile_id),
            ("media_profile_id", &self.media_profile_id),
            ("voice_profile_id", &self.voice_profile_id),
        ] {
            if let Some(v) = v {
                id(field, v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_names_the_field_and_echoes_little() {
        let p = FontProfile {
            caption_style_color: "x".repeat(10_000),
            ..FontProfile::default()
        };
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "caption_style_color");
        assert!(e.message.starts_with("caption_style_color must be"));
        assert!(e.message.len() < 120, "{}", e.message);
    }

    #[test]
    fn presets_match_the_renderer() {
        // resolve() of a preset and the renderer's named position agree.
        for p in OverlayPreset::ALL {
            let spec = CaptionPositionSpec::preset(p);
            let (fx, fy) = p.fractions();
            assert_eq!(
                spec.resolve(1080.0, 1920.0, 900.0, 200.0),
                Ok(CaptionPosition::At {
                    x: fx as f32,
                    y: fy as f32
                })
            );
        }
        assert_eq!(
            OverlayPreset::LowerThird.caption_position(),
            CaptionPosition::LowerThird
        );
    }

    #[test]
    fn estimated_block_matches_the_renderers_caption_box() {
        use crate::render::{caption_box, Captions};
        let style = CaptionStyle {
            position: CaptionPosition::MiddleCenter,
            lines: 2,
            ..CaptionStyle::default()
        };
        let frame = FrameSize::PORTRAIT_1080;
        let (w, h) = estimated_caption_block(&style, frame);
        let b = caption_box(
            &Captions {
                language: "en".into(),
                style: style.clone(),
                cues: vec![],
            },
            frame,
            2,
        );
        assert!((w - b.width as f64).abs() <= 2.0, "{w} vs {}", b.width);
        assert!((h - b.height as f64).abs() <= 2.0, "{h} vs {}", b.height);
    }
}
