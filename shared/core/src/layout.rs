//! What a page capture reports besides the image: where the page's parts are (hero,
//! headings, feature blocks, images, calls to action, logo), in the captured image's
//! pixels, with their text, and the page's brand colours. The storyboard maps script
//! sentences onto these regions.

use crate::render::{FrameSize, Rgb};
use serde::{Deserialize, Serialize};

/// A rectangle in page pixels (CSS px at device scale 1: the captured image's pixels).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }

    pub fn center_y(&self) -> f64 {
        self.y + self.h / 2.0
    }

    /// Usable: at least a few pixels each way.
    pub fn is_visible(&self) -> bool {
        self.w >= 4.0 && self.h >= 4.0
    }
}

/// What part of the page a region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    /// The first screen's main block (the one holding the first `h1`).
    Hero,
    Heading,
    /// One item of the features list (a card, a list item).
    Feature,
    Image,
    /// A link or button that asks the visitor to act.
    CallToAction,
    Logo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub kind: RegionKind,
    /// Its visible text (at most a few hundred characters), empty for images without alt.
    pub text: String,
    pub rect: Rect,
}

/// One page captured at one viewport.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PageLayout {
    /// The viewport (the output frame size) the page was laid out in.
    pub viewport: Option<FrameSize>,
    /// Height of the captured image in pixels (the page, cut at a maximum).
    pub image_height: u32,
    pub title: String,
    /// `<html lang>`.
    pub lang: Option<String>,
    /// In page order (top to bottom), hero first.
    pub regions: Vec<Region>,
    /// `<meta name="theme-color">`.
    pub theme_color: Option<Rgb>,
    /// The two most common clearly different colours of the hero's pixels.
    pub hero_colours: Vec<Rgb>,
    /// The page background.
    pub background: Option<Rgb>,
    /// `og:image` and the logo image's URL as the page gives them (not fetched).
    pub og_image: Option<String>,
    pub logo_src: Option<String>,
    /// A text logo (the brand's name in a `.logo`/`.brand` element).
    pub logo_text: Option<String>,
}

impl PageLayout {
    pub fn regions_of(&self, kind: RegionKind) -> impl Iterator<Item = &Region> {
        self.regions.iter().filter(move |r| r.kind == kind)
    }

    pub fn hero(&self) -> Option<&Region> {
        self.regions_of(RegionKind::Hero).next()
    }

    /// The brand's two colours: the theme colour when the page names one, then the hero's
    /// own colours; a calm default when the page gives neither.
    pub fn brand_colours(&self) -> (Rgb, Rgb) {
        let mut picks: Vec<Rgb> = Vec::new();
        for c in self
            .theme_color
            .iter()
            .chain(self.hero_colours.iter())
            .copied()
        {
            if picks.iter().all(|p| colour_distance(*p, c) > 48.0) {
                picks.push(c);
            }
        }
        let first = picks.first().copied().unwrap_or(Rgb {
            r: 0x1f,
            g: 0x2a,
            b: 0x44,
        });
        let second = picks
            .get(1)
            .copied()
            .unwrap_or_else(|| first.mix(Rgb { r: 0, g: 0, b: 0 }, 0.45));
        (first, second)
    }
}

fn colour_distance(a: Rgb, b: Rgb) -> f64 {
    let d = |x: u8, y: u8| (f64::from(x) - f64::from(y)).powi(2);
    (d(a.r, b.r) + d(a.g, b.g) + d(a.b, b.b)).sqrt()
}

/// Parses `#rgb`, `#rrggbb` and `rgb(r, g, b)` / `rgba(r, g, b, a)` (a page's colour
/// values); anything else, or a fully transparent `rgba`, is `None`.
pub fn parse_css_colour(text: &str) -> Option<Rgb> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix('#') {
        let hex: String = match hex.len() {
            3 => hex.chars().flat_map(|c| [c, c]).collect(),
            6 => hex.to_string(),
            _ => return None,
        };
        return format!("#{hex}").parse().ok();
    }
    let inner = t
        .strip_prefix("rgba(")
        .or_else(|| t.strip_prefix("rgb("))?
        .strip_suffix(')')?;
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    if parts.len() < 3 {
        return None;
    }
    if parts.len() == 4 && parts[3].parse::<f64>().ok()? < 0.05 {
        return None;
    }
    let channel = |s: &str| {
        s.parse::<f64>()
            .ok()
            .map(|v| v.clamp(0.0, 255.0).round() as u8)
    };
    Some(Rgb {
        r: channel(parts[0])?,
        g: channel(parts[1])?,
        b: channel(parts[2])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn css_colours() {
        assert_eq!(
            parse_css_colour("#7c3aed"),
            Some(Rgb {
                r: 0x7c,
                g: 0x3a,
                b: 0xed
            })
        );
        assert_eq!(
            parse_css_colour("#fff"),
            Some(Rgb {
                r: 255,
                g: 255,
                b: 255
            })
        );
        assert_eq!(
            parse_css_colour("rgb(12, 74, 110)"),
            Some(Rgb {
                r: 12,
                g: 74,
                b: 110
            })
        );
        assert_eq!(parse_css_colour("rgba(0, 0, 0, 0)"), None);
        assert_eq!(parse_css_colour("red"), None);
        assert_eq!(parse_css_colour("#12345"), None);
    }

    #[test]
    fn brand_colours_prefer_the_theme_colour_and_skip_near_duplicates() {
        let purple = Rgb {
            r: 0x72,
            g: 0x3c,
            b: 0xeb,
        };
        let near = Rgb {
            r: 0x74,
            g: 0x3e,
            b: 0xe9,
        };
        let white = Rgb {
            r: 0xfc,
            g: 0xfc,
            b: 0xfd,
        };
        let layout = PageLayout {
            theme_color: Some(purple),
            hero_colours: vec![near, white],
            ..PageLayout::default()
        };
        assert_eq!(layout.brand_colours(), (purple, white));
        let (a, b) = PageLayout::default().brand_colours();
        assert_ne!(a, b);
    }
}
