//! The render step: a [`RenderPlan`] (pure data: scenes, voiceover, caption cues with word
//! timings and style, watermark, end clip, output size) and its local backend, ffmpeg.
//! The MediaConvert backend builds its job from the same plan.
//!
//! User-provided text never reaches an ffmpeg filter string: captions are written to an
//! ASS subtitle file (text escaped there), colours are parsed [`Rgb`] values, positions
//! are typed enums or numbers, and every input file is passed as a `-i file:` argument.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::str::FromStr;

// ---------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------

/// Output frame size in pixels (both even: H.264 4:2:0 needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameSize {
    pub width: u32,
    pub height: u32,
}

impl FrameSize {
    pub const PORTRAIT_1080: FrameSize = FrameSize {
        width: 1080,
        height: 1920,
    };
    pub const LANDSCAPE_1080: FrameSize = FrameSize {
        width: 1920,
        height: 1080,
    };

    /// Scale factor of style sizes, which are given for a 1080-pixel short side.
    fn style_scale(self) -> f32 {
        self.width.min(self.height) as f32 / 1080.0
    }
}

/// Everything one rendered video is made of. Paths are media keys (the local renderer
/// copies them into a scratch directory; the AWS one reads them from the bucket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderPlan {
    pub size: FrameSize,
    /// Output frames per second.
    pub fps: u32,
    /// Back to back from the start; each begins with its transition from the one before.
    pub scenes: Vec<Scene>,
    pub voiceover: AudioTrack,
    /// When the voice speaks (ms): the music ducks under these.
    #[serde(default)]
    pub speech: Vec<(u64, u64)>,
    #[serde(default)]
    pub music: Option<Music>,
    #[serde(default)]
    pub captions: Option<Captions>,
    #[serde(default)]
    pub watermark: Option<Watermark>,
    /// Appended after the main part, with its own audio (silence when it has none).
    #[serde(default)]
    pub end_clip: Option<EndClip>,
}

/// One shot of the video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub duration_ms: u64,
    pub shot: Shot,
    /// How the previous scene hands over to this one (the first scene's is ignored).
    #[serde(default)]
    pub transition: Transition,
    /// What the storyboard chose it for (shown by the demo, not drawn).
    #[serde(default)]
    pub note: String,
}

/// Tagged `shot` (a card has a `kind` of its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "shot", rename_all = "snake_case")]
pub enum Shot {
    /// A moving window onto a captured page: from `from` to `to` on an eased curve.
    Camera {
        /// The whole page, the output's width wide.
        image: PathBuf,
        image_width: u32,
        image_height: u32,
        from: Cam,
        to: Cam,
        /// Fills the frame where the window runs past the page's bottom.
        pad: Rgb,
    },
    /// A card in the brand's colours.
    Card(Card),
}

/// Where the camera looks: the window's top-left corner in page pixels, and the zoom
/// (1 = one page pixel per output pixel; the window is `W/zoom` x `H/zoom`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cam {
    pub x: f64,
    pub y: f64,
    pub zoom: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    /// The product's name, a line about it and its monogram.
    Opening,
    /// The call to action and the domain.
    Closing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub kind: CardKind,
    pub title: String,
    pub subtitle: String,
    /// A pill under the title (the closing card's domain).
    #[serde(default)]
    pub pill: Option<String>,
    /// One or two letters on a white tile (the opening card's mark).
    #[serde(default)]
    pub monogram: Option<String>,
    /// The gradient's two ends.
    pub colours: (Rgb, Rgb),
}

/// How a scene begins, from the previous scene's last frame.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transition {
    /// The new shot pushes the old one out upwards (ease-out).
    #[default]
    PushUp,
    /// The new shot pushes the old one out to the left (ease-out).
    PushLeft,
    /// A push with a short white flash: cuts between a card and a page in shared colours.
    Flash,
    /// A brand-coloured panel sweeps across; the cut happens under it: cuts between
    /// look-alike shots.
    Wipe { colour: Rgb },
}

/// A music bed under the voice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Music {
    /// A media key, or the built-in bed when `None`.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioTrack {
    pub path: PathBuf,
    /// Length of the speech, as reported by the voice step.
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Captions {
    /// BCP 47 tag of the spoken language (`en`, `ja`, `ko`, `zh-Hant`, ...): picks the
    /// line-breaking rules and, for CJK, the Noto CJK face.
    pub language: String,
    #[serde(default)]
    pub style: CaptionStyle,
    /// One cue per sentence or phrase; a cue never shares a caption page with another.
    pub cues: Vec<CaptionCue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionCue {
    pub words: Vec<WordTiming>,
}

/// One spoken word (for CJK, whatever unit the speech engine marks) and when it is said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordTiming {
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watermark {
    pub image: PathBuf,
    #[serde(default)]
    pub position: Corner,
    /// Watermark width as a fraction of the frame width (0.02 ..= 0.5).
    #[serde(default = "default_watermark_width")]
    pub width_fraction: f32,
}

fn default_watermark_width() -> f32 {
    0.2
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Corner {
    TopLeft,
    #[default]
    TopRight,
    BottomLeft,
    BottomRight,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndClip {
    pub path: PathBuf,
}

// ---------------------------------------------------------------------------------------
// Style (modelled on the user-data seed's font profile)
// ---------------------------------------------------------------------------------------

/// The burned-in caption style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptionStyle {
    pub font: FontFamily,
    /// Font size in pixels for a 1080-pixel short side (scaled for other sizes).
    pub size: u32,
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
    pub strikethrough: bool,
    pub color: Rgb,
    pub stroke_color: Rgb,
    /// Outline width in pixels (same scale as `size`).
    pub stroke_thickness: u32,
    pub shadow: Shadow,
    /// Lines shown at once (a "page" of a cue).
    pub lines: u8,
    /// Colour the word being spoken.
    pub highlighter: bool,
    pub highlight_color: Rgb,
    /// Where in the safe zone ([`safe_zone`]) the caption block sits.
    pub position: CaptionPosition,
    /// A box behind each caption page, so the text reads over any page (white, dark or a
    /// busy photo); `None` leaves only the outline and shadow.
    pub backdrop: Option<Backdrop>,
}

/// The box behind a caption page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backdrop {
    pub color: Rgb,
    /// 0 (invisible) ..= 255 (solid).
    pub opacity: u8,
    /// Space between the text and the box's edge, in pixels for a 1080-pixel short side.
    pub padding: u32,
}

impl Default for Backdrop {
    /// Near-black at 90 %: white text on it measures 14.8:1 or better over a white page,
    /// the yellow highlight 9.9:1 (docs/video.md).
    fn default() -> Self {
        Backdrop {
            color: Rgb::new(0x0b, 0x0b, 0x0b),
            opacity: 230,
            padding: 24,
        }
    }
}

impl Default for CaptionStyle {
    fn default() -> Self {
        CaptionStyle {
            // Noto Sans CJK covers Latin too; plain "Noto Sans" is not in Debian's fonts.
            font: FontFamily("Noto Sans CJK JP".into()),
            size: 88,
            bold: true,
            italic: false,
            underline: false,
            strikethrough: false,
            color: Rgb::WHITE,
            stroke_color: Rgb::BLACK,
            stroke_thickness: 0,
            shadow: Shadow {
                x: 0,
                y: 0,
                color: Rgb::BLACK,
                blur: 0,
            },
            lines: 2,
            highlighter: true,
            highlight_color: Rgb::new(0xff, 0xd6, 0x0a),
            position: CaptionPosition::LowerThird,
            backdrop: Some(Backdrop::default()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Shadow {
    pub x: i32,
    pub y: i32,
    pub color: Rgb,
    pub blur: u32,
}

impl Default for Shadow {
    fn default() -> Self {
        Shadow {
            x: 3,
            y: 3,
            color: Rgb::BLACK,
            blur: 2,
        }
    }
}

/// Where the caption block's centre sits.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptionPosition {
    TopCenter,
    MiddleCenter,
    /// Centred at 70 % of the height: below the subject, above the platforms' own UI.
    #[default]
    LowerThird,
    BottomCenter,
    /// Centre as fractions of the safe zone (0 ..= 1); see [`safe_zone`].
    At {
        x: f32,
        y: f32,
    },
}

impl CaptionPosition {
    /// The block's centre as fractions of the safe zone (the block is then kept inside it).
    pub fn fractions(self) -> (f32, f32) {
        match self {
            CaptionPosition::TopCenter => (0.5, 0.0),
            CaptionPosition::MiddleCenter => (0.5, 0.5),
            CaptionPosition::LowerThird => (0.5, 0.82),
            CaptionPosition::BottomCenter => (0.5, 1.0),
            CaptionPosition::At { x, y } => (x, y),
        }
    }
}

/// The part of the frame no platform draws over, where captions and card text go.
///
/// Vertical (1080x1920, scaled for other sizes), the union of the three platforms' UI:
/// top 270 px (Reels: 14 %; TikTok's tabs ~150-250), bottom 676 px (Reels: 35 %; TikTok's
/// caption and sound line ~420-440; Shorts' title and channel ~480), 160 px each side
/// (TikTok's action rail ~150-170 on the right; Reels: 6 %). Horizontal (YouTube):
/// 5 % action-safe on every side, 12 % at the bottom for the player's controls.
/// Sources in docs/video.md.
pub fn safe_zone(size: FrameSize) -> PixelRect {
    let (w, h) = (size.width as f32, size.height as f32);
    let (left, right, top, bottom) = if size.height > size.width {
        (
            160.0 / 1080.0 * w,
            160.0 / 1080.0 * w,
            270.0 / 1920.0 * h,
            676.0 / 1920.0 * h,
        )
    } else {
        (0.05 * w, 0.05 * w, 0.05 * h, 0.12 * h)
    };
    PixelRect {
        x: left as u32,
        y: top as u32,
        width: (w - left - right) as u32,
        height: (h - top - bottom) as u32,
    }
}

/// A `#RRGGBB` colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb {
    pub const WHITE: Rgb = Rgb::new(255, 255, 255);
    pub const BLACK: Rgb = Rgb::new(0, 0, 0);
    pub const YELLOW: Rgb = Rgb::new(255, 255, 0);

    pub const fn new(r: u8, g: u8, b: u8) -> Rgb {
        Rgb { r, g, b }
    }

    /// `self` moved `t` (0..=1) of the way towards `other`.
    pub fn mix(self, other: Rgb, t: f64) -> Rgb {
        let t = t.clamp(0.0, 1.0);
        let m = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
        Rgb::new(m(self.r, other.r), m(self.g, other.g), m(self.b, other.b))
    }

    /// WCAG 2 relative luminance (0 = black, 1 = white).
    pub fn luminance(self) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(self.r) + 0.7152 * lin(self.g) + 0.0722 * lin(self.b)
    }

    /// WCAG 2 contrast ratio between two colours (1..=21).
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// ASS colour literal (`&HBBGGRR&`, alpha left opaque).
    pub fn ass(self) -> String {
        format!("&H{:02X}{:02X}{:02X}&", self.b, self.g, self.r)
    }

    /// ASS style colour field (`&HAABBGGRR`).
    pub fn ass_style(self, alpha: u8) -> String {
        format!("&H{alpha:02X}{:02X}{:02X}{:02X}", self.b, self.g, self.r)
    }
}

impl FromStr for Rgb {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix('#')
            .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("colour must be #RRGGBB, got {s:?}"))?;
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string());
        Ok(Rgb::new(byte(0)?, byte(2)?, byte(4)?))
    }
}

impl TryFrom<String> for Rgb {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Rgb> for String {
    fn from(c: Rgb) -> String {
        c.to_string()
    }
}

impl std::fmt::Display for Rgb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{:02X}{:02X}{:02X}", self.r, self.g, self.b)
    }
}

/// A font family name: letters, digits, spaces, `-` and `_` only (it is written into an
/// ASS style line, where a comma would start the next field).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FontFamily(String);

impl FontFamily {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for FontFamily {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.chars().count() <= 64
            && s.chars()
                .all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_');
        if ok {
            Ok(FontFamily(s.to_string()))
        } else {
            Err(format!("invalid font name {s:?}"))
        }
    }
}

impl TryFrom<String> for FontFamily {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<FontFamily> for String {
    fn from(f: FontFamily) -> String {
        f.0
    }
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("invalid render plan: {0}")]
    InvalidPlan(String),
    #[error("input file not found: {}", .0.display())]
    MissingInput(PathBuf),
    #[error("render i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    ToolFailed {
        program: String,
        status: String,
        stderr: String,
    },
    #[error("could not read ffprobe output: {0}")]
    Probe(String),
}

/// An invalid-plan error with `msg`.
pub fn invalid(msg: impl Into<String>) -> RenderError {
    RenderError::InvalidPlan(msg.into())
}

impl RenderPlan {
    /// Checks the plan's numbers; called by every backend before it builds anything.
    pub fn validate(&self) -> Result<(), RenderError> {
        let FrameSize { width, height } = self.size;
        if !(16..=4096).contains(&width) || !(16..=4096).contains(&height) {
            return Err(invalid("frame size must be 16..=4096 pixels"));
        }
        if width % 2 != 0 || height % 2 != 0 {
            return Err(invalid("frame width and height must be even"));
        }
        if self.scenes.is_empty() {
            return Err(invalid("a plan needs at least one scene"));
        }
        if !(10..=60).contains(&self.fps) {
            return Err(invalid("fps must be 10..=60"));
        }
        for scene in &self.scenes {
            if scene.duration_ms == 0 {
                return Err(invalid("scene durations must be positive"));
            }
            if let Shot::Camera {
                image_width,
                image_height,
                from,
                to,
                ..
            } = &scene.shot
            {
                if *image_width == 0 || *image_height == 0 {
                    return Err(invalid("a camera shot needs an image size"));
                }
                for cam in [from, to] {
                    let ok = cam.zoom.is_finite()
                        && (1.0..=4.0).contains(&cam.zoom)
                        && cam.x.is_finite()
                        && cam.y.is_finite()
                        && cam.x >= 0.0
                        && cam.y >= 0.0;
                    if !ok {
                        return Err(invalid("camera positions must be finite, zoom 1..=4"));
                    }
                }
            }
        }
        if self.main_duration_ms() > 30 * 60 * 1000 {
            return Err(invalid("a video is at most 30 minutes long"));
        }
        if self.voiceover.duration_ms == 0 {
            return Err(invalid("voiceover duration must be positive"));
        }
        if let Some(w) = &self.watermark {
            if !(0.02..=0.5).contains(&w.width_fraction) {
                return Err(invalid("watermark width_fraction must be 0.02..=0.5"));
            }
        }
        if let Some(c) = &self.captions {
            c.validate()?;
        }
        Ok(())
    }

    /// Length of the part before the end clip: the scenes (which outlast the voiceover).
    pub fn main_duration_ms(&self) -> u64 {
        let scenes: u64 = self.scenes.iter().map(|s| s.duration_ms).sum();
        scenes.max(self.voiceover.duration_ms)
    }

    /// Each scene's first frame and frame count: frame numbers come from cumulative times,
    /// so rounding never drifts; the last scene runs to the end of the main part.
    pub fn scene_frames(&self) -> Vec<(u64, u64)> {
        let fps = u64::from(self.fps.max(1));
        let total = (self.main_duration_ms() * fps).div_ceil(1000);
        let mut out = Vec::with_capacity(self.scenes.len());
        let (mut cum_ms, mut at) = (0u64, 0u64);
        for (i, scene) in self.scenes.iter().enumerate() {
            cum_ms += scene.duration_ms;
            let end = if i + 1 == self.scenes.len() {
                total
            } else {
                (cum_ms * fps / 1000).min(total)
            };
            let frames = end.saturating_sub(at).max(1);
            out.push((at, frames));
            at += frames;
        }
        out
    }
}

impl Captions {
    fn validate(&self) -> Result<(), RenderError> {
        let lang_ok = !self.language.is_empty()
            && self.language.len() <= 35
            && self
                .language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !lang_ok {
            return Err(invalid("caption language must be a BCP 47 tag"));
        }
        let s = &self.style;
        if !(8..=300).contains(&s.size) {
            return Err(invalid("caption size must be 8..=300"));
        }
        if s.stroke_thickness > 20 {
            return Err(invalid("caption stroke thickness must be at most 20"));
        }
        if s.shadow.x.abs() > 60 || s.shadow.y.abs() > 60 || s.shadow.blur > 30 {
            return Err(invalid(
                "caption shadow offsets must be within ±60, blur ≤ 30",
            ));
        }
        if !(1..=4).contains(&s.lines) {
            return Err(invalid("caption lines must be 1..=4"));
        }
        if let CaptionPosition::At { x, y } = s.position {
            if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) {
                return Err(invalid("caption position fractions must be 0..=1"));
            }
        }
        let mut last_start = 0;
        for w in self.cues.iter().flat_map(|c| &c.words) {
            if w.end_ms < w.start_ms || w.start_ms < last_start {
                return Err(invalid("caption word timings must be ordered"));
            }
            last_start = w.start_ms;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Caption layout: line breaking with CJK kinsoku rules
// ---------------------------------------------------------------------------------------

/// Characters that may not start a line (closing brackets and punctuation, small kana,
/// prolonged sound and iteration marks), per JIS X 4051's strict rules.
const NO_LINE_START: &str = "、。，．・：；？！‼⁇⁈⁉ー―‐゠–〜～…‥）〕］｝〉》」』】〙〗〟’”｠»ゝゞヽヾ々〻ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ｡｣､･ｰ,.!?:;)]}%";
/// Characters that may not end a line (opening brackets).
const NO_LINE_END: &str = "（〔［｛〈《「『【〘〖〝‘“｟«([{";

fn no_line_start(c: char) -> bool {
    NO_LINE_START.contains(c)
}

fn no_line_end(c: char) -> bool {
    NO_LINE_END.contains(c)
}

fn is_hangul(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xAC00..=0xD7AF | 0xD7B0..=0xD7FF)
}

/// East Asian wide characters: one em of advance.
fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA960..=0xA97F
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)
}

/// Scripts written without spaces, where a line may break between any two characters
/// (Korean separates words with spaces and breaks there, like Latin).
fn breaks_anywhere(c: char) -> bool {
    is_wide(c) && !is_hangul(c)
}

/// Approximate advance in ems. Errs wide so a laid-out line fits the frame.
fn advance_em(c: char) -> f32 {
    if is_wide(c) {
        return 1.0;
    }
    match c {
        ' ' => 0.28,
        'i' | 'j' | 'l' | 'I' | '.' | ',' | ':' | ';' | '!' | '\'' | '|' => 0.3,
        'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' => 0.4,
        'm' | 'w' => 0.85,
        'M' | 'W' | '@' => 0.95,
        c if c.is_ascii_uppercase() || c.is_ascii_digit() => 0.66,
        c if c.is_ascii() => 0.57,
        _ => 0.66,
    }
}

/// Geometry the layout needs, derived from the style and frame size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextMetrics {
    /// Font size in output pixels.
    pub font_px: f32,
    /// Widest line allowed, in output pixels.
    pub max_line_px: f32,
}

impl TextMetrics {
    pub fn new(style: &CaptionStyle, size: FrameSize) -> TextMetrics {
        let scale = size.style_scale();
        let font_px = (style.size as f32 * scale).max(1.0);
        let stroke = style.stroke_thickness as f32 * scale;
        let padding = style.backdrop.map_or(0.0, |b| b.padding as f32 * scale);
        // The safe zone's width, minus the outline and the box's padding on both ends.
        let max_line_px = (safe_zone(size).width as f32 - 2.0 * stroke.max(padding)).max(font_px);
        TextMetrics {
            font_px,
            max_line_px,
        }
    }

    /// How many full-width (CJK) characters fit on one line.
    pub fn max_cjk_chars_per_line(&self) -> usize {
        ((self.max_line_px / self.font_px).floor() as usize).max(1)
    }

    fn width_px(&self, chars: &[char], bold: bool) -> f32 {
        // Bold widens proportional Latin glyphs; CJK faces keep a one-em advance.
        let bold_factor = if bold { 1.05 } else { 1.0 };
        let em: f32 = chars
            .iter()
            .map(|&c| {
                if is_wide(c) {
                    1.0
                } else {
                    advance_em(c) * bold_factor
                }
            })
            .sum();
        em * self.font_px
    }
}

/// Whether two adjacent words are written with a space between them.
fn needs_space(prev_last: char, next_first: char) -> bool {
    !(breaks_anywhere(prev_last)
        || breaks_anywhere(next_first)
        || no_line_start(next_first)
        || no_line_end(prev_last))
}

/// Whether a line may break before `chars[i]` (a space before `i` is dropped at the break).
fn can_break_before(chars: &[char], i: usize) -> bool {
    if i == 0 || i >= chars.len() {
        return false;
    }
    let (prev, cur) = (chars[i - 1], chars[i]);
    if cur == ' ' || no_line_start(cur) || no_line_end(prev) {
        return false;
    }
    if prev == ' ' {
        return true;
    }
    breaks_anywhere(prev) || breaks_anywhere(cur)
}

/// Breaks `text` into lines no wider than the metrics allow, never splitting a Latin or
/// Hangul word and never starting a line with closing punctuation (kinsoku). A single
/// word wider than a line gets a line of its own.
pub fn wrap_text(text: &str, metrics: &TextMetrics, bold: bool) -> Vec<String> {
    let chars: Vec<char> = sanitize(text).chars().collect();
    wrap_chars(&chars, metrics, bold)
        .into_iter()
        .map(|(a, b)| chars[a..b].iter().collect())
        .collect()
}

/// Line ranges `[start, end)` into `chars`, spaces at the breaks excluded.
fn wrap_chars(chars: &[char], metrics: &TextMetrics, bold: bool) -> Vec<(usize, usize)> {
    wrap_paged(chars, metrics, bold, usize::MAX, |_| false)
}

/// Greedy line filling over break opportunities. Every `page_lines` lines a page ends;
/// when that break would split a word (`splits_word(i)` for a break before `i`), it moves
/// back to the last word boundary in the second half of the line, so a word is not cut
/// across two caption pages when it can be avoided.
fn wrap_paged(
    chars: &[char],
    metrics: &TextMetrics,
    bold: bool,
    page_lines: usize,
    splits_word: impl Fn(usize) -> bool,
) -> Vec<(usize, usize)> {
    let mut bounds = vec![0];
    bounds.extend((1..chars.len()).filter(|&i| can_break_before(chars, i)));
    bounds.push(chars.len());
    let trim_end = |a: usize, mut b: usize| {
        while b > a && chars[b - 1] == ' ' {
            b -= 1;
        }
        b
    };
    let width = |a: usize, b: usize| metrics.width_px(&chars[a..trim_end(a, b)], bold);
    let mut lines = Vec::new();
    let mut from = 0;
    while from + 1 < bounds.len() {
        let s = bounds[from];
        // At least one chunk, then as many as fit.
        let mut k = from + 1;
        while k + 1 < bounds.len() && width(s, bounds[k + 1]) <= metrics.max_line_px {
            k += 1;
        }
        let page_end = (lines.len() + 1) % page_lines.max(1) == 0;
        if page_end && k + 1 < bounds.len() && splits_word(bounds[k]) {
            let half = metrics.max_line_px / 2.0;
            if let Some(k2) = (from + 1..k)
                .rev()
                .find(|&k2| !splits_word(bounds[k2]) && width(s, bounds[k2]) >= half)
            {
                k = k2;
            }
        }
        let e = trim_end(s, bounds[k]);
        if e > s {
            lines.push((s, e));
        }
        from = k;
    }
    lines
}

/// Control characters (newlines included) would end an ASS event line: they become
/// spaces; runs of whitespace collapse.
fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

/// One character of a laid-out cue, with the word it belongs to and when it is spoken.
#[derive(Debug, Clone, Copy)]
struct TimedChar {
    ch: char,
    /// Index of the word in the cue; `None` for inserted spaces.
    word: Option<usize>,
    start_ms: u64,
    end_ms: u64,
}

/// A caption page: up to `style.lines` lines of one cue, shown together.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionPage {
    pub lines: Vec<String>,
    pub start_ms: u64,
    pub end_ms: u64,
    /// Word pieces on this page, in order: (start, end, char range `[a, b)` in `text`).
    pieces: Vec<(u64, u64, usize, usize)>,
    /// The page text, lines joined by `\n`.
    text: Vec<char>,
}

fn timed_chars(cue: &CaptionCue) -> Vec<TimedChar> {
    let mut out: Vec<TimedChar> = Vec::new();
    for (wi, w) in cue.words.iter().enumerate() {
        let text: Vec<char> = sanitize(&w.text).chars().collect();
        if text.is_empty() {
            continue;
        }
        if let Some(prev) = out.last() {
            if needs_space(prev.ch, text[0]) {
                out.push(TimedChar {
                    ch: ' ',
                    word: None,
                    start_ms: prev.end_ms,
                    end_ms: w.start_ms,
                });
            }
        }
        // Spread the word's time evenly over its characters, so a word split across
        // pages gives each part its share.
        let span = w.end_ms.saturating_sub(w.start_ms);
        let n = text.len() as u64;
        for (ci, &ch) in text.iter().enumerate() {
            let ci = ci as u64;
            out.push(TimedChar {
                ch,
                word: Some(wi),
                start_ms: w.start_ms + span * ci / n,
                end_ms: w.start_ms + span * (ci + 1) / n,
            });
        }
    }
    out
}

/// Lays out every cue into pages of at most `style.lines` lines.
pub fn layout_pages(captions: &Captions, size: FrameSize) -> Vec<CaptionPage> {
    let style = &captions.style;
    let metrics = TextMetrics::new(style, size);
    let mut pages = Vec::new();
    for cue in &captions.cues {
        let tc = timed_chars(cue);
        if tc.is_empty() {
            continue;
        }
        let chars: Vec<char> = tc.iter().map(|t| t.ch).collect();
        let splits_word = |i: usize| {
            i > 0 && i < tc.len() && tc[i].word.is_some() && tc[i].word == tc[i - 1].word
        };
        let lines = wrap_paged(
            &chars,
            &metrics,
            style.bold,
            style.lines as usize,
            splits_word,
        );
        for group in lines.chunks(style.lines as usize) {
            pages.push(page_from_lines(&tc, group));
        }
    }
    pages
}

fn page_from_lines(tc: &[TimedChar], lines: &[(usize, usize)]) -> CaptionPage {
    let mut text = Vec::new();
    let mut owners: Vec<Option<usize>> = Vec::new();
    let mut times: Vec<(u64, u64)> = Vec::new();
    for (li, &(a, b)) in lines.iter().enumerate() {
        if li > 0 {
            text.push('\n');
            owners.push(None);
            times.push((0, 0));
        }
        for t in &tc[a..b] {
            text.push(t.ch);
            owners.push(t.word);
            times.push((t.start_ms, t.end_ms));
        }
    }
    // Word pieces: maximal runs of one word (a line break inside a word keeps the run).
    let mut pieces: Vec<(u64, u64, usize, usize)> = Vec::new();
    let mut current: Option<(usize, usize)> = None; // (word, piece index)
    for (i, owner) in owners.iter().enumerate() {
        match (owner, current) {
            (Some(w), Some((cw, pi))) if *w == cw => {
                let p = &mut pieces[pi];
                p.1 = p.1.max(times[i].1);
                p.3 = i + 1;
            }
            (Some(w), _) => {
                pieces.push((times[i].0, times[i].1, i, i + 1));
                current = Some((*w, pieces.len() - 1));
            }
            (None, _) if text[i] == '\n' => {}
            (None, _) => current = None,
        }
    }
    let start_ms = pieces.first().map(|p| p.0).unwrap_or(0);
    let end_ms = pieces.iter().map(|p| p.1).max().unwrap_or(start_ms);
    CaptionPage {
        lines: text
            .iter()
            .collect::<String>()
            .split('\n')
            .map(str::to_string)
            .collect(),
        start_ms,
        end_ms,
        pieces,
        text,
    }
}

// ---------------------------------------------------------------------------------------
// ASS subtitles
// ---------------------------------------------------------------------------------------

/// The face used for captions: CJK languages get the matching Noto CJK face unless the
/// profile already names a CJK font (a Latin face would leave the choice of CJK glyph
/// variants to fontconfig's fallback).
pub fn caption_font(captions: &Captions) -> String {
    let font = captions.style.font.as_str();
    let primary = captions
        .language
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let region_or_script = captions.language.to_ascii_lowercase();
    let cjk_face = match primary.as_str() {
        "ja" => Some("Noto Sans CJK JP"),
        "ko" => Some("Noto Sans CJK KR"),
        "zh" if region_or_script.contains("hant")
            || region_or_script.contains("-tw")
            || region_or_script.contains("-hk") =>
        {
            Some("Noto Sans CJK TC")
        }
        "zh" => Some("Noto Sans CJK SC"),
        _ => None,
    };
    // A Noto Sans CJK face (the default is the JP one, which covers Latin too) becomes
    // the language's regional face: the same family, that region's glyph forms. Another
    // face that names CJK is the customer's choice and stays.
    let noto_cjk = font.starts_with("Noto Sans CJK");
    let names_cjk = ["CJK", "JP", "KR", "SC", "TC", "Gothic", "Mincho"]
        .iter()
        .any(|k| font.contains(k));
    match cjk_face {
        Some(face) if noto_cjk || !names_cjk => face.to_string(),
        _ => font.to_string(),
    }
}

/// Escapes caption text for an ASS event: `{`/`}` would open override blocks and a
/// backslash could form `\N`, `\h`; a word joiner after each backslash defuses it.
fn ass_escape(c: char, out: &mut String) {
    match c {
        '{' => out.push_str("\\{"),
        '}' => out.push_str("\\}"),
        '\\' => out.push_str("\\\u{2060}"),
        '\n' => out.push_str("\\N"),
        c => out.push(c),
    }
}

pub fn ass_time(ms: u64) -> String {
    let cs = ms / 10;
    format!(
        "{}:{:02}:{:02}.{:02}",
        cs / 360_000,
        (cs / 6000) % 60,
        (cs / 100) % 60,
        cs % 100
    )
}

/// Pixel rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The area a caption page of `lines` lines can cover (text, box or outline, shadow):
/// the block placed in the safe zone at the style's position and kept inside it. Pages
/// share its bottom edge, so a one-line page sits where a two-line page ends.
pub fn caption_box(captions: &Captions, size: FrameSize, lines: usize) -> PixelRect {
    let (x0, full_top, x1, bottom) = caption_block(captions, size);
    let style = &captions.style;
    let m = TextMetrics::new(style, size);
    let pad = block_padding(style, size);
    let h = m.font_px * 1.45 * lines.max(1) as f32 + 2.0 * pad;
    let top = (bottom - h).max(full_top.min(bottom));
    PixelRect {
        x: x0 as u32,
        y: top as u32,
        width: (x1 - x0) as u32,
        height: (bottom - top) as u32,
    }
}

/// Padding around the text: the box's, or the outline plus the shadow's reach.
fn block_padding(style: &CaptionStyle, size: FrameSize) -> f32 {
    let scale = size.style_scale();
    match style.backdrop {
        Some(b) => b.padding as f32 * scale,
        None => {
            style.stroke_thickness as f32 * scale
                + (style.shadow.x.abs().max(style.shadow.y.abs()) as f32 + style.shadow.blur as f32)
                    * scale
        }
    }
}

/// The full block (`style.lines` lines at the widest line) as `(left, top, right, bottom)`
/// in frame pixels: centred on the position's fractions of the safe zone, then moved so it
/// stays inside the safe zone (or the frame, for a block larger than the zone).
fn caption_block(captions: &Captions, size: FrameSize) -> (f32, f32, f32, f32) {
    let style = &captions.style;
    let m = TextMetrics::new(style, size);
    let pad = block_padding(style, size);
    let w = m.max_line_px + 2.0 * pad;
    let h = m.font_px * 1.45 * style.lines.max(1) as f32 + 2.0 * pad;
    let zone = safe_zone(size);
    let (zx, zy, zw, zh) = (
        zone.x as f32,
        zone.y as f32,
        zone.width as f32,
        zone.height as f32,
    );
    let (fx, fy) = style.position.fractions();
    let place = |frac: f32, start: f32, len: f32, block: f32, frame: f32| {
        let centre = start + frac * len;
        let lo = centre - block / 2.0;
        let lo = if block <= len {
            lo.clamp(start, start + len - block)
        } else {
            lo.clamp(0.0, (frame - block).max(0.0))
        };
        (lo, lo + block.min(frame))
    };
    let (x0, x1) = place(fx, zx, zw, w, size.width as f32);
    let (y0, y1) = place(fy, zy, zh, h, size.height as f32);
    (x0, y0, x1, y1)
}

/// How long a page stays up after its last word when the next page is far off.
const PAGE_HOLD_MS: u64 = 400;
/// Gaps up to this long keep the previous page on screen until the next one.
const PAGE_BRIDGE_MS: u64 = 1200;

/// One caption event: shown from `start_ms` to `end_ms`; `pop` marks the first event of
/// a page (which scales in), `text` is ASS event text (overrides and escaped words).
#[derive(Debug, Clone, PartialEq)]
pub struct AssEvent {
    pub start_ms: u64,
    pub end_ms: u64,
    pub pop: bool,
    pub text: String,
}

/// The caption file's `[Script Info]` and `[V4+ Styles]` (the `Caption` style), without
/// the `[Events]` section.
pub fn ass_header(captions: &Captions, size: FrameSize) -> String {
    let style = &captions.style;
    let m = TextMetrics::new(style, size);
    let scale = size.style_scale();
    let flag = |b: bool| if b { -1 } else { 0 };
    format!(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {w}\nPlayResY: {h}\nWrapStyle: 2\n\
         ScaledBorderAndShadow: yes\nYCbCr Matrix: TV.709\n\n[V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, \
         BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, \
         BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         Style: Caption,{font},{size:.0},{pc},{pc},{oc},{bc},{b},{i},{u},{s},100,100,0,0,{border},\
         {outline:.1},0,2,0,0,0,1\n",
        w = size.width,
        h = size.height,
        font = caption_font(captions),
        size = m.font_px,
        pc = style.color.ass_style(0),
        oc = style.stroke_color.ass_style(0),
        // With a backdrop (BorderStyle 4: one box around the whole page) the back colour
        // is the box's; without, it colours the shadow.
        bc = match style.backdrop {
            Some(b) => b.color.ass_style(255 - b.opacity),
            None => style.shadow.color.ass_style(0x60),
        },
        border = if style.backdrop.is_some() { 4 } else { 1 },
        b = flag(style.bold),
        i = flag(style.italic),
        u = flag(style.underline),
        s = flag(style.strikethrough),
        outline = match style.backdrop {
            Some(b) => b.padding as f32 * scale,
            None => style.stroke_thickness as f32 * scale,
        },
    )
}

/// The `[Events]` section's first two lines.
pub const ASS_EVENTS: &str =
    "\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n";

/// A page pops in from 90 % (the box too; a fade would leave the box behind).
const POP: &str = "{\\fscx90\\fscy90\\t(0,120,\\fscx100\\fscy100)}";

/// One `Dialogue` line of the `Caption` style, its times shifted by `-offset_ms`.
pub fn ass_dialogue(event: &AssEvent, offset_ms: u64, with_pop: bool) -> String {
    format!(
        "Dialogue: 0,{},{},Caption,,0,0,0,,{}{}\n",
        ass_time(event.start_ms.saturating_sub(offset_ms)),
        ass_time(event.end_ms.saturating_sub(offset_ms)),
        if with_pop && event.pop { POP } else { "" },
        event.text
    )
}

/// The whole caption file (header and every event up to `until_ms`).
pub fn ass_document(captions: &Captions, size: FrameSize, until_ms: u64) -> String {
    let mut out = ass_header(captions, size);
    out.push_str(ASS_EVENTS);
    for e in caption_events(captions, size, until_ms) {
        out.push_str(&ass_dialogue(&e, 0, true));
    }
    out
}

/// Escapes text for an ASS event (see [`ass_escape`]).
pub fn ass_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        ass_escape(c, &mut out);
    }
    out
}

/// The caption events: one per page and, with the highlighter, one per spoken word of
/// the page, ending by `until_ms`.
pub fn caption_events(captions: &Captions, size: FrameSize, until_ms: u64) -> Vec<AssEvent> {
    let style = &captions.style;
    let scale = size.style_scale();
    // Bottom-centre anchored at the block's bottom edge (less the padding): one- and
    // two-line pages end at the same line.
    let (x0, _, x1, bottom) = caption_block(captions, size);
    let anchor = format!(
        "\\an2\\pos({:.0},{:.0})",
        (x0 + x1) / 2.0,
        bottom - block_padding(style, size)
    );
    let prefix = match style.backdrop {
        Some(_) => format!("{{{anchor}}}"),
        None => format!(
            "{{{anchor}\\xshad{:.1}\\yshad{:.1}\\blur{:.1}\\4c{}}}",
            style.shadow.x as f32 * scale,
            style.shadow.y as f32 * scale,
            style.shadow.blur as f32 * scale,
            style.shadow.color.ass(),
        ),
    };
    let mut out = Vec::new();
    let pages = layout_pages(captions, size);
    for (pi, page) in pages.iter().enumerate() {
        let next_start = pages.get(pi + 1).map(|p| p.start_ms).unwrap_or(u64::MAX);
        let mut show_until = if next_start.saturating_sub(page.end_ms) <= PAGE_BRIDGE_MS {
            next_start
        } else {
            page.end_ms + PAGE_HOLD_MS
        };
        show_until = show_until.min(next_start).min(until_ms);
        if show_until <= page.start_ms {
            continue;
        }
        let mut first = true;
        let mut emit = |from: u64, to: u64, highlight: Option<(usize, usize)>| {
            if to <= from {
                return;
            }
            let mut text = prefix.clone();
            for (i, &c) in page.text.iter().enumerate() {
                if highlight.is_some_and(|h| h.0 == i) {
                    let _ = write!(text, "{{\\1c{}}}", style.highlight_color.ass());
                }
                ass_escape(c, &mut text);
                if highlight.is_some_and(|h| h.1 == i + 1) {
                    let _ = write!(text, "{{\\1c{}}}", style.color.ass());
                }
            }
            out.push(AssEvent {
                start_ms: from,
                end_ms: to,
                pop: std::mem::take(&mut first),
                text,
            });
        };
        if !style.highlighter || page.pieces.is_empty() {
            emit(page.start_ms, show_until, None);
            continue;
        }
        for (k, piece) in page.pieces.iter().enumerate() {
            let from = if k == 0 { page.start_ms } else { piece.0 };
            let to = page
                .pieces
                .get(k + 1)
                .map(|p| p.0)
                .unwrap_or(show_until)
                .min(show_until);
            emit(from, to, Some((piece.2, piece.3)));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Unit tests: layout, kinsoku, ASS generation, command building
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(size: u32) -> TextMetrics {
        let style = CaptionStyle {
            size,
            ..CaptionStyle::default()
        };
        TextMetrics::new(&style, FrameSize::PORTRAIT_1080)
    }

    fn words(text: &str, sep: char) -> CaptionCue {
        let parts: Vec<&str> = text.split(sep).filter(|p| !p.is_empty()).collect();
        CaptionCue {
            words: parts
                .iter()
                .enumerate()
                .map(|(i, p)| WordTiming {
                    text: p.to_string(),
                    start_ms: i as u64 * 300,
                    end_ms: i as u64 * 300 + 250,
                })
                .collect(),
        }
    }

    fn captions(language: &str, cues: Vec<CaptionCue>) -> Captions {
        Captions {
            language: language.into(),
            style: CaptionStyle::default(),
            cues,
        }
    }

    #[test]
    fn colours_parse_only_rrggbb() {
        assert_eq!("#FF8000".parse::<Rgb>().unwrap(), Rgb::new(255, 128, 0));
        assert_eq!("#ff8000".parse::<Rgb>().unwrap().to_string(), "#FF8000");
        for bad in [
            "FF8000",
            "#FF800",
            "#FF80001",
            "#GG0000",
            "red",
            "#FF0000,x",
            "",
        ] {
            assert!(bad.parse::<Rgb>().is_err(), "{bad}");
        }
        assert_eq!(Rgb::new(0x11, 0x22, 0x33).ass(), "&H332211&");
        let json: Result<CaptionStyle, _> = serde_json::from_str(r##"{"color":"#12"}"##);
        assert!(json.is_err());
    }

    #[test]
    fn font_names_cannot_break_the_style_line() {
        assert!("Noto Sans CJK JP".parse::<FontFamily>().is_ok());
        for bad in ["Arial,Bold", "a\nb", "x{y}", "", "\\fn"] {
            assert!(bad.parse::<FontFamily>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cjk_chars_per_line_follow_font_size_and_width() {
        // The safe zone's 760 px less the backdrop's padding on both ends: 712 px.
        assert_eq!(metrics(64).max_cjk_chars_per_line(), 11);
        assert_eq!(metrics(92).max_cjk_chars_per_line(), 7);
        assert_eq!(metrics(40).max_cjk_chars_per_line(), 17);
        let style = CaptionStyle {
            size: 64,
            ..CaptionStyle::default()
        };
        // Landscape 1920x1080: short side 1080, so the same font size, wider lines.
        let wide = TextMetrics::new(&style, FrameSize::LANDSCAPE_1080);
        // 1920 - 2 * 5 % = 1728 px, less the padding: 1680 px.
        assert_eq!(wide.max_cjk_chars_per_line(), 26);
        // A 720-wide portrait frame scales the font with it: same count.
        let small = TextMetrics::new(
            &style,
            FrameSize {
                width: 720,
                height: 1280,
            },
        );
        assert_eq!(small.max_cjk_chars_per_line(), 11);
    }

    #[test]
    fn japanese_wraps_at_max_chars_without_spaces() {
        let m = metrics(64);
        let text = "この製品はあなたの毎日の作業をもっと簡単にして時間を大幅に節約します";
        let lines = wrap_text(text, &m, false);
        assert!(lines.len() >= 3, "{lines:?}");
        for l in &lines {
            assert!(l.chars().count() <= m.max_cjk_chars_per_line(), "{l}");
            assert!(!l.contains(' '));
        }
        assert_eq!(lines.concat(), text);
    }

    #[test]
    fn kinsoku_no_line_starts_with_closing_punctuation() {
        let m = metrics(64); // 14 chars a line
                             // Punctuation placed exactly where a naive 14-char split would start a line.
        let cases = [
            "あいうえおかきくけこさしすせ。そたちつてと",
            "あいうえおかきくけこさしすせ、そたちつてと",
            "あいうえおかきくけこさしす「せ」そたちつてと",
            "あいうえおかきくけこさしすせ）そたちつてと",
            "あいうえおかきくけこさしすせ！？そたちつ",
            "あいうえおかきくけこさしすせっそたちつてと",
            "カタカナカタカナカタカナカターそたちつ",
            "あいうえおかきくけこさしすせ』です",
            "あいうえおかきくけこさし「すせそたちつてと」",
        ];
        for text in cases {
            let lines = wrap_text(text, &m, false);
            assert!(lines.len() >= 2, "{text}: {lines:?}");
            for (i, l) in lines.iter().enumerate() {
                let first = l.chars().next().unwrap();
                let last = l.chars().last().unwrap();
                assert!(
                    !no_line_start(first),
                    "{text}: line {i} {l:?} starts with {first}"
                );
                assert!(
                    !no_line_end(last),
                    "{text}: line {i} {l:?} ends with {last}"
                );
                assert!(m.width_px(&l.chars().collect::<Vec<_>>(), false) <= m.max_line_px);
            }
            assert_eq!(lines.concat(), text);
        }
        for c in "、。）」』！？ー".chars() {
            assert!(no_line_start(c), "{c}");
        }
    }

    #[test]
    fn latin_words_are_never_split() {
        let m = metrics(64);
        let text = "Reelforge turns any product page into short demo videos automatically, \
                    with captions that highlight every spoken word";
        let lines = wrap_text(text, &m, true);
        assert!(lines.len() >= 3);
        let original: Vec<&str> = text.split_whitespace().collect();
        let rewrapped: Vec<&str> = lines.iter().flat_map(|l| l.split(' ')).collect();
        assert_eq!(original, rewrapped);
        for l in &lines {
            assert!(!l.starts_with(' ') && !l.ends_with(' '));
            assert!(m.width_px(&l.chars().collect::<Vec<_>>(), true) <= m.max_line_px);
        }
        // A word longer than a line stays whole on its own line.
        let long = "a Pneumonoultramicroscopicsilicovolcanoconiosisxxxxxxxx b";
        let lines = wrap_text(long, &metrics(120), false);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(
            lines[1],
            "Pneumonoultramicroscopicsilicovolcanoconiosisxxxxxxxx"
        );
    }

    #[test]
    fn latin_inside_japanese_stays_whole_and_korean_breaks_at_spaces() {
        let m = metrics(64);
        let text = "新しいアプリReelforgeProで動画をすぐに作れますよ";
        let lines = wrap_text(text, &m, false);
        assert!(
            lines.iter().any(|l| l.contains("ReelforgePro")),
            "{lines:?}"
        );
        let ko = "이 제품은 여러분의 하루 작업을 훨씬 더 쉽게 만들어 시간을 크게 절약해 줍니다";
        let lines = wrap_text(ko, &m, false);
        assert!(lines.len() >= 2);
        let original: Vec<&str> = ko.split(' ').collect();
        let rewrapped: Vec<&str> = lines.iter().flat_map(|l| l.split(' ')).collect();
        assert_eq!(
            original, rewrapped,
            "Hangul words must not split: {lines:?}"
        );
    }

    #[test]
    fn words_join_with_spaces_only_where_the_script_uses_them() {
        let en = timed_chars(&words("Hello world , again", ' '));
        let s: String = en.iter().map(|t| t.ch).collect();
        assert_eq!(s, "Hello world, again");
        let ja = timed_chars(&words("この|製品は|便利です|。", '|'));
        let s: String = ja.iter().map(|t| t.ch).collect();
        assert_eq!(s, "この製品は便利です。");
        let ko = timed_chars(&words("이 제품은 좋아요", ' '));
        let s: String = ko.iter().map(|t| t.ch).collect();
        assert_eq!(s, "이 제품은 좋아요");
    }

    #[test]
    fn pages_hold_at_most_style_lines_and_cover_every_word_once() {
        let mut c = captions(
            "en",
            vec![words(
                "one two three four five six seven eight nine ten eleven twelve thirteen \
                 fourteen fifteen sixteen seventeen eighteen nineteen twenty",
                ' ',
            )],
        );
        c.style.lines = 1;
        let pages = layout_pages(&c, FrameSize::PORTRAIT_1080);
        assert!(pages.len() >= 3);
        let mut all = Vec::new();
        for p in &pages {
            assert_eq!(p.lines.len(), 1);
            all.extend(p.lines[0].split(' ').map(str::to_string));
        }
        assert_eq!(all.len(), 20);
        for w in pages.windows(2) {
            assert!(w[0].end_ms <= w[1].start_ms);
        }
        c.style.lines = 2;
        let pages2 = layout_pages(&c, FrameSize::PORTRAIT_1080);
        assert!(pages2.len() < pages.len());
        assert!(pages2.iter().all(|p| p.lines.len() <= 2));
    }

    #[test]
    fn page_breaks_prefer_word_boundaries() {
        // 14 CJK chars a line (712 px / 50 px), 1 line a page: the third word would
        // straddle the break.
        let mut c = captions(
            "ja",
            vec![words("この動画は|商品ページから|自動で作られました", '|')],
        );
        c.style.lines = 1;
        c.style.size = 50;
        assert_eq!(
            TextMetrics::new(&c.style, FrameSize::PORTRAIT_1080).max_cjk_chars_per_line(),
            14
        );
        let pages = layout_pages(&c, FrameSize::PORTRAIT_1080);
        assert_eq!(
            pages[0].lines,
            vec!["この動画は商品ページから"],
            "{pages:?}"
        );
        assert_eq!(pages[1].lines, vec!["自動で作られました"]);
        // A single long word still has to break somewhere: by characters, with kinsoku.
        c.cues = vec![words("この動画は商品ページから自動で作られました。", '|')];
        let pages = layout_pages(&c, FrameSize::PORTRAIT_1080);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].lines[0].chars().count(), 14);
        assert!(pages[1].start_ms > pages[0].start_ms && pages[1].start_ms < 250);
    }

    #[test]
    fn ass_has_one_event_per_word_with_only_that_word_highlighted() {
        let mut c = captions("en", vec![words("Make videos {fast} now", ' ')]);
        c.style.font = "Noto Sans".parse().unwrap();
        c.style.size = 64;
        c.style.highlight_color = Rgb::YELLOW;
        let doc = ass_document(&c, FrameSize::PORTRAIT_1080, 60_000);
        let events: Vec<&str> = doc.lines().filter(|l| l.starts_with("Dialogue:")).collect();
        assert_eq!(events.len(), 4, "{doc}");
        let yellow = "{\\1c&H00FFFF&}";
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.matches(yellow).count(), 1, "{e}");
            let word = ["Make", "videos", "\\{fast\\}", "now"][i];
            assert!(e.contains(&format!("{yellow}{word}{{")), "{e}");
            // User braces are escaped: exactly the override blocks we wrote remain.
            assert!(e.contains("\\{fast\\}"));
        }
        // Events are contiguous and do not overlap.
        assert!(events[0].starts_with("Dialogue: 0,0:00:00.00,0:00:00.30,"));
        assert!(events[1].starts_with("Dialogue: 0,0:00:00.30,0:00:00.60,"));
        assert!(events[3].starts_with("Dialogue: 0,0:00:00.90,0:00:01.55,"));
        assert!(doc.contains("Style: Caption,Noto Sans,64,&H00FFFFFF"));
    }

    #[test]
    fn hostile_caption_text_stays_text() {
        let cue = CaptionCue {
            words: vec![WordTiming {
                text: "a\\N{\\fnEvil}b\nDialogue: 0,0:00:00.00,9:00:00.00,Caption,,0,0,0,,x".into(),
                start_ms: 0,
                end_ms: 500,
            }],
        };
        let mut c = captions("en", vec![cue]);
        c.style.highlighter = false;
        c.style.size = 16;
        let doc = ass_document(&c, FrameSize::PORTRAIT_1080, 10_000);
        let events: Vec<&str> = doc.lines().filter(|l| l.starts_with("Dialogue:")).collect();
        assert_eq!(events.len(), 1, "{doc}");
        assert!(events[0].contains("a\\\u{2060}N\\{\\\u{2060}fnEvil\\}b"));
        assert!(!events[0].contains("\\N"));
    }

    #[test]
    fn cjk_languages_get_noto_cjk_faces() {
        let mut c = captions("ja", vec![]);
        assert_eq!(caption_font(&c), "Noto Sans CJK JP");
        c.language = "ko-KR".into();
        assert_eq!(caption_font(&c), "Noto Sans CJK KR");
        c.language = "zh-Hant".into();
        assert_eq!(caption_font(&c), "Noto Sans CJK TC");
        c.language = "zh-CN".into();
        assert_eq!(caption_font(&c), "Noto Sans CJK SC");
        // English keeps the default face (its Latin glyphs are the same in every region).
        c.language = "en".into();
        assert_eq!(caption_font(&c), "Noto Sans CJK JP");
        c.style.font = "Noto Sans".parse().unwrap();
        assert_eq!(caption_font(&c), "Noto Sans");
        c.language = "ko".into();
        assert_eq!(caption_font(&c), "Noto Sans CJK KR");
        c.language = "ja".into();
        c.style.font = "Noto Serif CJK JP".parse().unwrap();
        assert_eq!(caption_font(&c), "Noto Serif CJK JP");
    }

    #[test]
    fn plan_validation_rejects_bad_numbers() {
        let good = RenderPlan {
            size: crate::model::Platform::Tiktok.frame_size(),
            fps: 30,
            scenes: vec![Scene {
                duration_ms: 1000,
                shot: Shot::Camera {
                    image: "a.png".into(),
                    image_width: 1080,
                    image_height: 4000,
                    from: Cam {
                        x: 0.0,
                        y: 0.0,
                        zoom: 1.0,
                    },
                    to: Cam {
                        x: 0.0,
                        y: 400.0,
                        zoom: 1.0,
                    },
                    pad: Rgb::WHITE,
                },
                transition: Transition::PushUp,
                note: String::new(),
            }],
            voiceover: AudioTrack {
                path: "v.wav".into(),
                duration_ms: 1500,
            },
            speech: vec![(0, 1500)],
            music: None,
            captions: Some(captions("en", vec![words("a b c", ' ')])),
            watermark: None,
            end_clip: None,
        };
        good.validate().unwrap();
        assert_eq!(good.main_duration_ms(), 1500);
        let mut p = good.clone();
        p.size.width = 1081;
        assert!(p.validate().is_err());
        let mut p = good.clone();
        p.scenes.clear();
        assert!(p.validate().is_err());
        let mut p = good.clone();
        p.captions.as_mut().unwrap().style.position = CaptionPosition::At { x: 1.5, y: 0.5 };
        assert!(p.validate().is_err());
        let mut p = good.clone();
        p.captions.as_mut().unwrap().language = "en;rm -rf".into();
        assert!(p.validate().is_err());
        let mut p = good.clone();
        p.captions.as_mut().unwrap().cues[0].words[1].start_ms = 5000;
        assert!(p.validate().is_err());
        let mut p = good.clone();
        p.fps = 0;
        assert!(p.validate().is_err());
        let mut p = good.clone();
        if let Shot::Camera { to, .. } = &mut p.scenes[0].shot {
            to.zoom = f64::NAN;
        }
        assert!(p.validate().is_err());
    }

    /// Frame numbers come from cumulative times: no drift, every frame of the main part
    /// belongs to exactly one scene.
    #[test]
    fn scene_frames_cover_the_main_part_without_drift() {
        let scene = |ms: u64| Scene {
            duration_ms: ms,
            shot: Shot::Card(Card {
                kind: CardKind::Opening,
                title: "x".into(),
                subtitle: String::new(),
                pill: None,
                monogram: None,
                colours: (Rgb::BLACK, Rgb::WHITE),
            }),
            transition: Transition::PushUp,
            note: String::new(),
        };
        let plan = RenderPlan {
            size: FrameSize::PORTRAIT_1080,
            fps: 30,
            scenes: vec![scene(1_017), scene(2_033), scene(3_001)],
            voiceover: AudioTrack {
                path: "v.wav".into(),
                duration_ms: 6_051,
            },
            speech: vec![],
            music: None,
            captions: None,
            watermark: None,
            end_clip: None,
        };
        let frames = plan.scene_frames();
        assert_eq!(frames[0], (0, 30));
        assert_eq!(frames[1], (30, 61));
        let total: u64 = frames.iter().map(|f| f.1).sum();
        assert_eq!(total, (6_051u64 * 30).div_ceil(1000));
        assert_eq!(frames[2].0 + frames[2].1, total);
    }

    /// Captions sit inside the safe zone whatever the position asks for.
    #[test]
    fn caption_blocks_stay_in_the_safe_zone() {
        let zone = safe_zone(FrameSize::PORTRAIT_1080);
        assert_eq!(
            (zone.x, zone.y, zone.width, zone.height),
            (160, 270, 760, 974)
        );
        for position in [
            CaptionPosition::TopCenter,
            CaptionPosition::MiddleCenter,
            CaptionPosition::LowerThird,
            CaptionPosition::BottomCenter,
            CaptionPosition::At { x: 0.0, y: 0.0 },
            CaptionPosition::At { x: 1.0, y: 1.0 },
        ] {
            let mut c = captions("en", vec![words("a b c", ' ')]);
            c.style.position = position;
            let b = caption_box(&c, FrameSize::PORTRAIT_1080, 2);
            assert!(
                b.x >= zone.x && b.x + b.width <= zone.x + zone.width,
                "{position:?} {b:?}"
            );
            assert!(
                b.y >= zone.y && b.y + b.height <= zone.y + zone.height,
                "{position:?} {b:?}"
            );
        }
    }

    #[test]
    fn contrast_ratios_follow_wcag() {
        assert!((Rgb::WHITE.contrast(Rgb::BLACK) - 21.0).abs() < 0.01);
        assert!((Rgb::WHITE.contrast(Rgb::WHITE) - 1.0).abs() < 1e-9);
        // The default highlight on the default box.
        let b = Backdrop::default();
        let behind = b.color.mix(Rgb::WHITE, 1.0 - f64::from(b.opacity) / 255.0);
        assert!(CaptionStyle::default().highlight_color.contrast(behind) >= 4.5);
    }
}
