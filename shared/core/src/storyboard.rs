//! The storyboard: which part of the page each spoken sentence shows, and how the camera
//! moves over it. Pure and deterministic: the same script, timings and page give the same
//! scenes, on both backends.
//!
//! Shape of a video (docs/video.md):
//! 1. an opening card in the brand's colours with the product's name (about 2 s, while
//!    the hook starts);
//! 2. the hook over the page's hero, pushing in;
//! 3. each point over the page region that says it (text overlap between the sentence
//!    and the region, in the video's language), a scroll, a pull-out or a pan, split
//!    into two shots when the sentence is long, so a new shot comes at least every
//!    [`MAX_SHOT_MS`];
//! 4. the call to action over the page's call-to-action button, pushing in;
//! 5. a closing card with the call to action and the domain, after the voice ends.
//!
//! Cuts fall in the middle of the pauses between sentences. Every shot moves on an
//! eased curve that never stops (the renderer's job); consecutive shots differ in size or
//! place, and each cut gets a transition a viewer (and `scdet`) sees.

use crate::layout::{PageLayout, Rect, Region, RegionKind};
use crate::model::Language;
use crate::render::{Cam, Card, CardKind, FrameSize, Rgb, Scene, Shot, Transition};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Longest single shot; a sentence longer than this gets two.
pub const MAX_SHOT_MS: u64 = 5_500;
/// The opening card's length (shorter when the hook is).
pub const OPENING_MS: u64 = 2_000;
/// How long the closing card stays after the voice ends (the music plays out).
pub const CLOSING_TAIL_MS: u64 = 2_200;
/// The framed element's centre lands on this fraction of the frame's height (the upper
/// third), clear of the caption band.
const ANCHOR: f64 = 1.0 / 3.0;
/// Largest zoom onto an element.
const MAX_ZOOM: f64 = 1.3;

/// One sentence of the script and when it is spoken.
#[derive(Debug, Clone, PartialEq)]
pub struct SpokenSentence {
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// What the cards say and look like.
#[derive(Debug, Clone, PartialEq)]
pub struct Brand {
    pub name: String,
    /// A line under the name on the opening card.
    pub tagline: String,
    /// `example.com`, on the closing card.
    pub domain: String,
    /// The closing card's title.
    pub call_to_action: String,
    pub colours: (Rgb, Rgb),
}

pub struct StoryInput<'a> {
    pub size: FrameSize,
    /// The captured page (a media key), `size.width` wide.
    pub page_image: PathBuf,
    pub layout: &'a PageLayout,
    /// Hook, points, call to action, in order.
    pub sentences: &'a [SpokenSentence],
    pub voice_ms: u64,
    pub brand: &'a Brand,
    pub language: Language,
}

/// Why a scene shows what it shows (the demo prints these).
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Index of the sentence, `None` for the cards.
    pub sentence: Option<usize>,
    pub region: Option<RegionKind>,
    pub region_text: String,
    /// Text overlap between the sentence and the region (0..=1).
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Storyboard {
    pub scenes: Vec<Scene>,
    /// One per scene.
    pub choices: Vec<Choice>,
    /// Captions stop here: the closing card says the call to action itself.
    pub captions_until_ms: u64,
}

impl Storyboard {
    pub fn total_ms(&self) -> u64 {
        self.scenes.iter().map(|s| s.duration_ms).sum()
    }
}

/// A shot being planned: what it frames and how.
#[derive(Debug, Clone)]
struct Planned {
    start_ms: u64,
    end_ms: u64,
    shot: Shot,
    choice: Choice,
    /// The region's kind and vertical span, for choosing transitions.
    look: Option<(RegionKind, f64, f64)>,
}

pub fn storyboard(input: &StoryInput<'_>) -> Storyboard {
    let sentences = input.sentences;
    let voice_end = input.voice_ms.max(sentences.last().map_or(0, |s| s.end_ms));
    let total = voice_end + CLOSING_TAIL_MS;
    let page = PageView::new(input);
    let mut used: BTreeSet<usize> = BTreeSet::new();
    let mut planned: Vec<Planned> = Vec::new();

    // Cut points: the middle of the pause between two sentences.
    let cuts: Vec<u64> = sentences
        .windows(2)
        .map(|w| (w[0].end_ms + w[1].start_ms.max(w[0].end_ms)) / 2)
        .collect();
    let sentence_span = |i: usize| -> (u64, u64) {
        let start = if i == 0 { 0 } else { cuts[i - 1] };
        let end = cuts.get(i).copied().unwrap_or(voice_end);
        (start, end)
    };

    // The closing card: from just past the middle of the last sentence (its words are on
    // the card), never before the call-to-action shot has had 1.5 s.
    let close_start = match sentences.len() {
        0 => voice_end.min(OPENING_MS),
        n => {
            let last = &sentences[n - 1];
            let (span_start, _) = sentence_span(n - 1);
            let mid = last.start_ms + (last.end_ms.saturating_sub(last.start_ms)) * 55 / 100;
            mid.max(span_start + 1_500).min(voice_end)
        }
    };

    // 1. Opening card.
    let open_end = match sentences.first() {
        Some(_) => OPENING_MS
            .min(sentence_span(0).1.saturating_sub(600))
            .max(1_000),
        None => OPENING_MS,
    }
    .min(close_start);
    planned.push(Planned {
        start_ms: 0,
        end_ms: open_end,
        shot: Shot::Card(opening_card(input.brand)),
        choice: Choice {
            sentence: None,
            region: None,
            region_text: input.brand.name.clone(),
            score: 0.0,
        },
        look: None,
    });

    let n = sentences.len();
    for (i, sentence) in sentences.iter().enumerate() {
        let (mut start, mut end) = sentence_span(i);
        start = start.max(open_end);
        if i + 1 == n {
            end = close_start;
        }
        end = end.min(close_start);
        if end <= start + 300 {
            // Too short to show (the card took it): the previous shot runs on.
            if let Some(last) = planned.last_mut() {
                last.end_ms = last.end_ms.max(end);
            }
            continue;
        }
        let (region, score) = if i == 0 {
            (page.hero(), 1.0)
        } else if i + 1 == n {
            match page.call_to_action() {
                Some(r) => (Some(r), 1.0),
                None => page.best_match(&sentence.text, input.language, &used),
            }
        } else {
            page.best_match(&sentence.text, input.language, &used)
        };
        if let Some(r) = region {
            used.insert(r);
        }
        let choice = |region: Option<usize>| Choice {
            sentence: Some(i),
            region: region.map(|r| page.regions[r].kind),
            region_text: region.map_or(String::new(), |r| short(&page.regions[r].text)),
            score,
        };
        // Which move: the hook and the call to action push in; the points take turns.
        let moves: Vec<Move> = if i == 0 || i + 1 == n {
            vec![Move::PushIn]
        } else {
            match i % 3 {
                1 => vec![Move::ScrollTo, Move::PullOut],
                2 => vec![Move::PullOut, Move::Pan],
                _ => vec![Move::Pan, Move::PushIn],
            }
        };
        let parts = if end - start > MAX_SHOT_MS { 2 } else { 1 };
        for part in 0..parts {
            let (s, e) = if parts == 1 {
                (start, end)
            } else {
                let mid = start + (end - start) / 2;
                if part == 0 {
                    (start, mid)
                } else {
                    (mid, end)
                }
            };
            let mv = moves[part.min(moves.len() - 1)];
            let (from, to) = match region {
                Some(r) => page.camera(mv, &page.regions[r].rect),
                None => page.flyover(part, parts),
            };
            planned.push(Planned {
                start_ms: s,
                end_ms: e,
                shot: page.shot(from, to),
                choice: choice(region),
                look: region.map(|r| {
                    let rect = page.regions[r].rect;
                    (page.regions[r].kind, rect.y, rect.bottom())
                }),
            });
        }
    }

    // 5. Closing card.
    planned.push(Planned {
        start_ms: close_start,
        end_ms: total,
        shot: Shot::Card(closing_card(input.brand)),
        choice: Choice {
            sentence: None,
            region: None,
            region_text: input.brand.call_to_action.clone(),
            score: 0.0,
        },
        look: None,
    });

    // Consecutive shots must differ: a repeated camera move gets a drift of its own.
    for k in 1..planned.len() {
        if let (Shot::Camera { from: a, to: b, .. }, Shot::Camera { from: c, to: d, .. }) =
            (&planned[k - 1].shot, &planned[k].shot)
        {
            if near(*a, *c) && near(*b, *d) {
                let (from, to) = (*c, *d);
                planned[k].shot = page.shot(to, from);
            }
        }
    }

    let mut scenes = Vec::with_capacity(planned.len());
    let mut choices = Vec::with_capacity(planned.len());
    let mut left = true;
    for k in 0..planned.len() {
        let p = &planned[k];
        let transition = if k == 0 {
            Transition::PushUp
        } else {
            let prev = &planned[k - 1];
            let is_card = |s: &Shot| matches!(s, Shot::Card(_));
            if is_card(&prev.shot) || is_card(&p.shot) {
                Transition::Flash
            } else if looks_alike(prev.look, p.look) {
                Transition::Wipe {
                    colour: input.brand.colours.0,
                }
            } else {
                left = !left;
                if left {
                    Transition::PushLeft
                } else {
                    Transition::PushUp
                }
            }
        };
        scenes.push(Scene {
            duration_ms: p.end_ms.saturating_sub(p.start_ms).max(1),
            shot: p.shot.clone(),
            transition,
            note: describe(&p.choice),
        });
        choices.push(p.choice.clone());
    }
    Storyboard {
        scenes,
        choices,
        captions_until_ms: close_start,
    }
}

fn describe(c: &Choice) -> String {
    match (c.sentence, c.region) {
        (None, _) => format!("card: {}", c.region_text),
        (Some(i), Some(kind)) => format!(
            "sentence {}: {:?} \"{}\" (overlap {:.2})",
            i + 1,
            kind,
            c.region_text,
            c.score
        ),
        (Some(i), None) => format!("sentence {}: the whole page", i + 1),
    }
}

fn short(text: &str) -> String {
    let t: String = text.chars().take(48).collect();
    if text.chars().count() > 48 {
        format!("{t}…")
    } else {
        t
    }
}

fn near(a: Cam, b: Cam) -> bool {
    (a.x - b.x).abs() < 8.0 && (a.y - b.y).abs() < 8.0 && (a.zoom - b.zoom).abs() < 0.02
}

/// Two shots of the same kind of region that overlap vertically look alike: a push
/// between them would hardly show.
fn looks_alike(a: Option<(RegionKind, f64, f64)>, b: Option<(RegionKind, f64, f64)>) -> bool {
    match (a, b) {
        (Some((ka, a0, a1)), Some((kb, b0, b1))) => ka == kb && a0 < b1 && b0 < a1,
        _ => false,
    }
}

fn opening_card(brand: &Brand) -> Card {
    Card {
        kind: CardKind::Opening,
        title: brand.name.clone(),
        subtitle: brand.tagline.clone(),
        pill: None,
        monogram: brand
            .name
            .chars()
            .find(|c| c.is_alphanumeric())
            .map(|c| c.to_uppercase().collect()),
        colours: under_white_text(brand.colours),
    }
}

fn closing_card(brand: &Brand) -> Card {
    Card {
        kind: CardKind::Closing,
        title: brand.call_to_action.clone(),
        subtitle: String::new(),
        pill: Some(brand.domain.clone()),
        monogram: None,
        colours: under_white_text((brand.colours.1, brand.colours.0)),
    }
}

/// Contrast a card's colours keep against white: the cards draw white text over their
/// gradient (whose light sheen adds up to 15 % white) and brand-coloured text on white
/// (the monogram, the pill), so both ways need AA's 4.5:1 with room to spare.
pub const CARD_CONTRAST: f64 = 5.5;

/// The brand's colours, made dark enough for [`CARD_CONTRAST`]: a near-grey colour (a
/// white or grey page background picked as a brand colour) is replaced by a darker shade
/// of the other; a colourful one is darkened in steps, keeping its hue.
pub fn under_white_text((a, b): (Rgb, Rgb)) -> (Rgb, Rgb) {
    let legible = |c: Rgb| c.contrast(Rgb::WHITE) >= CARD_CONTRAST;
    let darken = |mut c: Rgb| {
        while !legible(c) {
            c = c.mix(Rgb::BLACK, 0.1);
        }
        c
    };
    let greyish = |c: Rgb| {
        let (hi, lo) = (c.r.max(c.g).max(c.b), c.r.min(c.g).min(c.b));
        i32::from(hi) - i32::from(lo) < 40
    };
    let (da, db) = (darken(a), darken(b));
    match (greyish(a) && !legible(a), greyish(b) && !legible(b)) {
        (true, false) => (db.mix(Rgb::BLACK, 0.35), db),
        (false, true) => (da, da.mix(Rgb::BLACK, 0.35)),
        _ => (da, db),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Move {
    PushIn,
    PullOut,
    ScrollTo,
    Pan,
}

/// The page as the camera sees it.
struct PageView<'a> {
    frame: (f64, f64),
    page: (f64, f64),
    image: PathBuf,
    pad: Rgb,
    regions: Vec<&'a Region>,
}

impl<'a> PageView<'a> {
    fn new(input: &'a StoryInput<'_>) -> PageView<'a> {
        let frame = (f64::from(input.size.width), f64::from(input.size.height));
        let page_h = f64::from(input.layout.image_height.max(1));
        PageView {
            frame,
            page: (frame.0, page_h),
            image: input.page_image.clone(),
            pad: input.layout.background.unwrap_or(Rgb::WHITE),
            regions: input
                .layout
                .regions
                .iter()
                .filter(|r| r.rect.is_visible() && r.rect.y < page_h)
                .collect(),
        }
    }

    fn hero(&self) -> Option<usize> {
        self.regions
            .iter()
            .position(|r| r.kind == RegionKind::Hero)
            .or_else(|| {
                self.regions
                    .iter()
                    .position(|r| r.kind == RegionKind::Heading)
            })
    }

    fn call_to_action(&self) -> Option<usize> {
        self.regions
            .iter()
            .position(|r| r.kind == RegionKind::CallToAction)
    }

    /// The region whose text overlaps the sentence most (features before headings and
    /// images on a tie; a region already shown loses to an unused one); with no overlap
    /// at all, the first unused feature or heading in page order.
    fn best_match(
        &self,
        sentence: &str,
        language: Language,
        used: &BTreeSet<usize>,
    ) -> (Option<usize>, f64) {
        let said = tokens(sentence, language);
        let mut best: Option<(f64, usize, f64)> = None;
        for (i, r) in self.regions.iter().enumerate() {
            let bonus = match r.kind {
                RegionKind::Feature => 0.02,
                RegionKind::Heading | RegionKind::Image => 0.0,
                _ => continue,
            };
            let score = overlap(&said, &tokens(&r.text, language));
            let penalty = if used.contains(&i) { 0.5 } else { 1.0 };
            let rank = score * penalty + bonus;
            if score > 0.0 && best.is_none_or(|(b, _, _)| rank > b) {
                best = Some((rank, i, score));
            }
        }
        if let Some((_, i, score)) = best {
            return (Some(i), score);
        }
        let fallback = self
            .regions
            .iter()
            .enumerate()
            .find(|(i, r)| {
                !used.contains(i) && matches!(r.kind, RegionKind::Feature | RegionKind::Heading)
            })
            .map(|(i, _)| i);
        (fallback, 0.0)
    }

    /// The zoom that frames `r` without cutting its edges: at most 94 % of the width and
    /// 60 % of the height, between 1 and [`MAX_ZOOM`].
    fn fit_zoom(&self, r: &Rect) -> f64 {
        let z = (0.94 * self.frame.0 / r.w.max(1.0)).min(0.6 * self.frame.1 / r.h.max(1.0));
        z.clamp(1.0, MAX_ZOOM)
    }

    /// The window at `zoom` with `r`'s centre on the anchor line, inside the page.
    fn frame_on(&self, r: &Rect, zoom: f64) -> Cam {
        let (ww, wh) = (self.frame.0 / zoom, self.frame.1 / zoom);
        let x = (r.x + r.w / 2.0 - ww / 2.0).clamp(0.0, (self.page.0 - ww).max(0.0));
        let y =
            (r.center_y() - ANCHOR * self.frame.1 / zoom).clamp(0.0, (self.page.1 - wh).max(0.0));
        Cam {
            x: x.round(),
            y: y.round(),
            zoom,
        }
    }

    fn camera(&self, mv: Move, r: &Rect) -> (Cam, Cam) {
        let fit = self.fit_zoom(r);
        let tight = if fit > 1.04 { fit } else { 1.15 };
        match mv {
            Move::PushIn => (self.frame_on(r, 1.0), self.frame_on(r, tight)),
            Move::PullOut => (self.frame_on(r, tight), self.frame_on(r, 1.0)),
            Move::ScrollTo => {
                let at = self.frame_on(r, 1.0);
                let room = (self.page.1 - self.frame.1).max(0.0);
                let travel = 0.45 * self.frame.1;
                let from_y = if at.y >= travel {
                    at.y - travel
                } else {
                    (at.y + travel).min(room)
                };
                let from = Cam {
                    y: from_y.round(),
                    ..at
                };
                if near(from, at) {
                    (self.frame_on(r, 1.0), self.frame_on(r, tight))
                } else {
                    (from, at)
                }
            }
            Move::Pan => {
                let z = tight.max(1.12);
                let at = self.frame_on(r, z);
                let room = (self.page.0 - self.frame.0 / z).max(0.0);
                (
                    Cam { x: 0.0, ..at },
                    Cam {
                        x: room.round(),
                        ..at
                    },
                )
            }
        }
    }

    /// The whole page from the top down (a sentence that names nothing on it), in
    /// `parts` pieces.
    fn flyover(&self, part: usize, parts: usize) -> (Cam, Cam) {
        let room = (self.page.1 - self.frame.1).max(0.0);
        let at = |k: usize| Cam {
            x: 0.0,
            y: (room * k as f64 / parts as f64).round(),
            zoom: 1.0,
        };
        let (from, to) = (at(part), at(part + 1));
        if near(from, to) {
            (Cam { zoom: 1.0, ..from }, Cam { zoom: 1.12, ..from })
        } else {
            (from, to)
        }
    }

    fn shot(&self, from: Cam, to: Cam) -> Shot {
        Shot::Camera {
            image: self.image.clone(),
            image_width: self.page.0 as u32,
            image_height: self.page.1 as u32,
            from,
            to,
            pad: self.pad,
        }
    }
}

/// Words worth matching: lower-cased, without punctuation; for Japanese, Chinese and
/// Korean (where particles cling to words), overlapping character pairs instead.
pub fn tokens(text: &str, language: Language) -> BTreeSet<String> {
    let lower = text.to_lowercase();
    match language {
        Language::Ja | Language::Zh | Language::Ko => {
            let chars: Vec<char> = lower.chars().filter(|c| c.is_alphanumeric()).collect();
            let mut out: BTreeSet<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
            // Latin words inside CJK text (product names) count whole.
            out.extend(latin_words(&lower));
            out
        }
        _ => latin_words(&lower),
    }
}

fn latin_words(lower: &str) -> BTreeSet<String> {
    const STOP: &[&str] = &[
        "the", "and", "for", "with", "your", "you", "that", "this", "are", "from", "our", "all",
        "its", "into", "one", "can", "les", "des", "une", "pour", "avec", "und", "der", "die",
        "das", "mit", "für", "los", "las", "una", "con", "para", "que", "com", "uma", "dos",
    ];
    lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3 && !w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !STOP.contains(w))
        .map(|w| {
            // A light stem: "folders" and "folder" match.
            let w = w
                .strip_suffix('s')
                .filter(|s| s.chars().count() >= 3)
                .unwrap_or(w);
            w.to_string()
        })
        .collect()
}

/// Shared tokens over the geometric mean of the two sets' sizes (0..=1).
pub fn overlap(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count() as f64;
    shared / ((a.len() * b.len()) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// White card text stays legible whatever the page's colours: a near-white page
    /// colour gives way to a shade of the other, a light colourful one is darkened, dark
    /// ones are kept.
    #[test]
    fn card_colours_keep_white_text_legible() {
        let purple = Rgb::new(0x72, 0x3c, 0xeb);
        let near_white = Rgb::new(0xfc, 0xfc, 0xfd);
        let yellow = Rgb::new(0xfa, 0xcc, 0x15);
        let navy = Rgb::new(0x1f, 0x2a, 0x44);
        for pair in [
            (purple, near_white),
            (near_white, purple),
            (yellow, near_white),
            (yellow, purple),
            (navy, purple),
            (near_white, near_white),
        ] {
            let (a, b) = under_white_text(pair);
            for c in [a, b] {
                assert!(c.contrast(Rgb::WHITE) >= CARD_CONTRAST, "{pair:?} -> {c:?}");
            }
        }
        // Dark enough already: unchanged.
        assert_eq!(under_white_text((navy, purple)), (navy, purple));
        // The white page colour becomes a darker purple, not grey.
        let (_, b) = under_white_text((purple, near_white));
        assert!(b.b > b.g && b.r > b.g, "{b:?}");
        // A light yellow keeps its hue: red and green still above blue.
        let (y, _) = under_white_text((yellow, purple));
        assert!(y.r > y.b && y.g > y.b, "{y:?}");
    }

    fn region(kind: RegionKind, text: &str, y: f64, h: f64) -> Region {
        Region {
            kind,
            text: text.into(),
            rect: Rect {
                x: 60.0,
                y,
                w: 960.0,
                h,
            },
        }
    }

    fn layout() -> PageLayout {
        PageLayout {
            image_height: 5200,
            regions: vec![
                region(
                    RegionKind::Hero,
                    "Lumen Notes Notes that organise themselves",
                    0.0,
                    1920.0,
                ),
                region(RegionKind::Heading, "Features", 2000.0, 80.0),
                region(
                    RegionKind::Feature,
                    "Smart folders sort every note by topic the moment you save it.",
                    2100.0,
                    300.0,
                ),
                region(
                    RegionKind::Feature,
                    "Instant search finds any word across thousands of notes in under a second.",
                    2450.0,
                    300.0,
                ),
                region(
                    RegionKind::Feature,
                    "Shared spaces let your whole team edit the same page at the same time.",
                    2800.0,
                    300.0,
                ),
                region(
                    RegionKind::CallToAction,
                    "Start free with Lumen Notes",
                    4600.0,
                    160.0,
                ),
            ],
            ..PageLayout::default()
        }
    }

    fn brand() -> Brand {
        Brand {
            name: "Lumen Notes".into(),
            tagline: "Notes that organise themselves".into(),
            domain: "lumennotes.app".into(),
            call_to_action: "Start free today".into(),
            colours: (Rgb::new(0x4f, 0x46, 0xe5), Rgb::new(0xdb, 0x27, 0x77)),
        }
    }

    fn sentences(texts: &[&str], each_ms: u64) -> Vec<SpokenSentence> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| SpokenSentence {
                text: t.to_string(),
                start_ms: i as u64 * each_ms,
                end_ms: i as u64 * each_ms + each_ms - 500,
            })
            .collect()
    }

    fn board(texts: &[&str], each_ms: u64, language: Language) -> Storyboard {
        let layout = layout();
        let spoken = sentences(texts, each_ms);
        let brand = brand();
        storyboard(&StoryInput {
            size: FrameSize::PORTRAIT_1080,
            page_image: "work/c/pages/page/1080x1920.png".into(),
            layout: &layout,
            sentences: &spoken,
            voice_ms: spoken.last().unwrap().end_ms,
            brand: &brand,
            language,
        })
    }

    const SCRIPT: [&str; 5] = [
        "Meet Lumen Notes, the notes app that organises itself.",
        "Instant search finds any word in a second.",
        "Shared spaces let your team edit one page together.",
        "Smart folders sort each note by topic as you save it.",
        "Start free with Lumen Notes today.",
    ];

    /// Each point is shown over the feature that says it (whatever order the script
    /// takes them in), the hook over the hero, the call to action over its button.
    #[test]
    fn each_sentence_shows_the_region_that_says_it() {
        let b = board(&SCRIPT, 6_000, Language::En);
        let by_sentence = |i: usize| {
            b.choices
                .iter()
                .find(|c| c.sentence == Some(i))
                .unwrap_or_else(|| panic!("sentence {i} not shown: {:?}", b.choices))
        };
        assert_eq!(by_sentence(0).region, Some(RegionKind::Hero));
        assert!(
            by_sentence(1).region_text.starts_with("Instant search"),
            "{:?}",
            by_sentence(1)
        );
        assert!(
            by_sentence(2).region_text.starts_with("Shared spaces"),
            "{:?}",
            by_sentence(2)
        );
        assert!(
            by_sentence(3).region_text.starts_with("Smart folders"),
            "{:?}",
            by_sentence(3)
        );
        assert_eq!(by_sentence(4).region, Some(RegionKind::CallToAction));
        assert!(matches!(
            b.scenes.first().unwrap().shot,
            Shot::Card(Card {
                kind: CardKind::Opening,
                ..
            })
        ));
        assert!(matches!(
            b.scenes.last().unwrap().shot,
            Shot::Card(Card {
                kind: CardKind::Closing,
                ..
            })
        ));
    }

    #[test]
    fn the_storyboard_is_deterministic_and_covers_the_voice_and_the_tail() {
        let a = board(&SCRIPT, 6_000, Language::En);
        let b = board(&SCRIPT, 6_000, Language::En);
        assert_eq!(a, b);
        let voice = sentences(&SCRIPT, 6_000).last().unwrap().end_ms;
        assert_eq!(a.total_ms(), voice + CLOSING_TAIL_MS);
        assert!(a.captions_until_ms <= voice);
    }

    /// No shot is longer than MAX_SHOT_MS (long sentences are split) except the cards,
    /// and so a new scene comes at least every 6 s on average.
    #[test]
    fn long_sentences_get_two_shots() {
        let b = board(&SCRIPT, 9_000, Language::En);
        for s in &b.scenes {
            if matches!(s.shot, Shot::Camera { .. }) {
                assert!(s.duration_ms <= MAX_SHOT_MS, "{s:?}");
            }
        }
        let average = b.total_ms() as f64 / b.scenes.len() as f64;
        assert!(average <= 6_000.0, "{average}");
    }

    /// Every camera shot moves, no two consecutive shots are the same move, and each
    /// window stays on the page.
    #[test]
    fn every_shot_moves_and_stays_on_the_page() {
        let b = board(&SCRIPT, 6_000, Language::En);
        let mut last: Option<(Cam, Cam)> = None;
        for s in &b.scenes {
            if let Shot::Camera {
                from,
                to,
                image_height,
                ..
            } = &s.shot
            {
                assert!(!near(*from, *to), "a still shot: {s:?}");
                for c in [from, to] {
                    assert!(c.zoom >= 1.0 && c.zoom <= MAX_ZOOM + 1e-9);
                    assert!(c.x >= 0.0 && c.y >= 0.0);
                    assert!(
                        c.y + 1920.0 / c.zoom <= f64::from(*image_height) + 1.0,
                        "{c:?}"
                    );
                    assert!(c.x + 1080.0 / c.zoom <= 1080.0 + 1.0, "{c:?}");
                }
                if let Some(prev) = last {
                    assert!(!(near(prev.0, *from) && near(prev.1, *to)));
                }
                last = Some((*from, *to));
            } else {
                last = None;
            }
        }
    }

    /// Cards cut with a flash; look-alike neighbours (two feature cards) with a wipe.
    #[test]
    fn transitions_fit_the_cut() {
        let b = board(&SCRIPT, 6_000, Language::En);
        assert_eq!(b.scenes[1].transition, Transition::Flash);
        assert_eq!(b.scenes.last().unwrap().transition, Transition::Flash);
        for w in b.scenes.windows(2) {
            if let Transition::Wipe { .. } = w[1].transition {
                assert!(matches!(w[0].shot, Shot::Camera { .. }));
            }
        }
    }

    /// Japanese: overlap by character pairs finds the feature without word spaces.
    #[test]
    fn japanese_sentences_find_their_features() {
        let mut layout = layout();
        layout.regions[2].text =
            "スマートフォルダが保存した瞬間にノートをトピックごとに整理します。".into();
        layout.regions[3].text =
            "瞬時検索で何千ものノートから一秒以内にどんな言葉も見つかります。".into();
        layout.regions[4].text =
            "共有スペースでチーム全員が同じページを同時に編集できます。".into();
        let script = [
            "ルーメンノートをご紹介します。",
            "共有スペースでチームが同時に編集できます。",
            "瞬時検索でどんな言葉もすぐ見つかります。",
            "スマートフォルダがノートを自動で整理します。",
            "今すぐ無料で始めましょう。",
        ];
        let spoken = sentences(&script, 6_000);
        let brand = brand();
        let b = storyboard(&StoryInput {
            size: FrameSize::PORTRAIT_1080,
            page_image: "p.png".into(),
            layout: &layout,
            sentences: &spoken,
            voice_ms: spoken.last().unwrap().end_ms,
            brand: &brand,
            language: Language::Ja,
        });
        let text = |i: usize| {
            b.choices
                .iter()
                .find(|c| c.sentence == Some(i))
                .unwrap()
                .region_text
                .clone()
        };
        assert!(text(1).starts_with("共有"), "{}", text(1));
        assert!(text(2).starts_with("瞬時"), "{}", text(2));
        assert!(text(3).starts_with("スマート"), "{}", text(3));
    }

    /// A page with nothing that matches (no features, no call to action) still gets a
    /// moving video: the whole page flies by.
    #[test]
    fn a_bare_page_flies_by() {
        let layout = PageLayout {
            image_height: 4000,
            ..PageLayout::default()
        };
        let spoken = sentences(&SCRIPT, 6_000);
        let brand = brand();
        let b = storyboard(&StoryInput {
            size: FrameSize::PORTRAIT_1080,
            page_image: "p.png".into(),
            layout: &layout,
            sentences: &spoken,
            voice_ms: spoken.last().unwrap().end_ms,
            brand: &brand,
            language: Language::En,
        });
        assert!(b.scenes.len() >= 5);
        for s in &b.scenes {
            if let Shot::Camera { from, to, .. } = s.shot {
                assert!(!near(from, to));
            }
        }
    }

    #[test]
    fn tokens_and_overlap() {
        let a = tokens("Smart folders sort every note", Language::En);
        let b = tokens("smart FOLDER, sorted notes!", Language::En);
        assert!(a.contains("folder") && b.contains("folder"));
        assert!(overlap(&a, &b) > 0.4);
        assert_eq!(overlap(&a, &BTreeSet::new()), 0.0);
        let ja = tokens("共有スペース", Language::Ja);
        assert!(ja.contains("共有"));
    }
}
