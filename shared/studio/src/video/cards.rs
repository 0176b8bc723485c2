//! The opening and closing cards: a background in the brand's colours (made once per
//! video), and their text drawn by libass from an ASS file, so no page text ever enters
//! an ffmpeg filter string.
//!
//! The background is a gradient between the two brand colours with two soft light bands
//! and a faint grid, a little larger than the frame; the clip pans across it (a crop per
//! frame, no scaling), so a card is never a frozen frame.

use reelforge_core::render::{ass_text, safe_zone, Card, CardKind, FrameSize, Rgb};
use std::fmt::Write as _;

/// The background's size: 1.6 x the frame's width and 240 px taller (pan room: a card is
/// never still long enough to read as a frozen frame).
pub fn background_size(frame: FrameSize) -> (u32, u32) {
    ((frame.width * 160 / 100) & !1, frame.height + 240)
}

/// An ffmpeg graph (no inputs) that draws a card background of `colours` into `[bg]`.
pub fn background_graph(frame: FrameSize, colours: (Rgb, Rgb)) -> String {
    let (bw, bh) = background_size(frame);
    let (a, b) = colours;
    let q = "(0.35*X/W+0.65*Y/H)";
    let sheen =
        "(0.09*exp(-pow((X/W*1.35-Y/H*0.5-0.25)/0.10,2))+0.06*exp(-pow((X/W*1.35-Y/H*0.5-0.85)/0.14,2)))";
    let ch = |c0: u8, c1: u8| {
        format!(
            "({c0}+({d})*{q})*(1-{sheen})+255*{sheen}",
            d = i32::from(c1) - i32::from(c0)
        )
    };
    format!(
        "color=black:s=146x212:d=0.04,format=rgb24,geq=r='{}':g='{}':b='{}',\
         scale={bw}:{bh}:flags=bicubic,drawgrid=w=72:h=72:t=2:c=white@0.10[bg]",
        ch(a.r, b.r),
        ch(a.g, b.g),
        ch(a.b, b.b),
    )
}

/// The card styles for the clip's ASS file (beside the `Caption` style).
pub fn styles(frame: FrameSize) -> String {
    let s = frame.width.min(frame.height) as f32 / 1080.0;
    let px = |v: f32| (v * s).round();
    format!(
        "Style: CardTitle,Noto Sans CJK JP,{},&H00FFFFFF,&H00FFFFFF,&H00000000,&H60000000,-1,0,0,0,100,100,0,0,1,0,{},5,0,0,0,1\n\
         Style: CardSub,Noto Sans CJK JP,{},&H10FFFFFF,&H10FFFFFF,&H00000000,&H60000000,0,0,0,0,100,100,0,0,1,0,0,5,0,0,0,1\n\
         Style: CardPill,Noto Sans CJK JP,{},&H00FFFFFF,&H00FFFFFF,&H00FFFFFF,&H00FFFFFF,-1,0,0,0,100,100,0,0,3,{},0,5,0,0,0,1\n\
         Style: CardMark,Noto Sans CJK JP,{},&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,-1,0,0,0,100,100,0,0,1,0,0,5,0,0,0,1\n",
        px(112.0),
        px(3.0),
        px(56.0),
        px(68.0),
        px(26.0),
        px(150.0),
    )
}

/// A rounded square of side `side` and corner radius `r`, as an ASS drawing.
fn rounded_square(side: f32, r: f32) -> String {
    let (s, r) = (side.round(), r.round());
    format!(
        "m {r} 0 l {a} 0 b {s} 0 {s} 0 {s} {r} l {s} {a} b {s} {s} {s} {s} {a} {s} l {r} {s} b 0 {s} 0 {s} 0 {a} l 0 {r} b 0 0 0 0 {r} 0",
        a = s - r
    )
}

fn em(c: char) -> f32 {
    if (c as u32) >= 0x2E80 {
        1.0
    } else {
        0.56
    }
}

/// Scripts written without spaces between words (Chinese characters, kana, their
/// punctuation), broken between characters; Korean spaces its words like English.
fn unspaced(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x303F | 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

/// Text laid out in at most `lines` lines of `max_em` ems each (CJK characters are one em,
/// others about half): broken at spaces where the text has them, else between characters;
/// what does not fit ends in an ellipsis. Lines are joined with ASS's `\N` after escaping.
fn fit(text: &str, max_em: f32, lines: usize) -> String {
    wrap(text, max_em, lines)
        .0
        .iter()
        .map(|l| ass_text(l))
        .collect::<Vec<_>>()
        .join("\\N")
}

/// [`fit`]'s lines, and whether text was cut.
fn wrap(text: &str, max_em: f32, lines: usize) -> (Vec<String>, bool) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let spaced = words.len() > 1 && !text.chars().any(unspaced);
    let units: Vec<String> = if spaced {
        words.iter().map(|w| w.to_string()).collect()
    } else {
        text.chars().map(String::from).collect()
    };
    let width = |s: &str| s.chars().map(em).sum::<f32>();
    let mut out: Vec<String> = vec![String::new()];
    for unit in &units {
        let line = out.last_mut().expect("one line at least");
        let joined = if spaced && !line.is_empty() {
            format!("{line} {unit}")
        } else {
            format!("{line}{unit}")
        };
        if width(&joined) <= max_em || line.is_empty() {
            *line = joined;
            continue;
        }
        if out.len() == lines {
            let last = out.last_mut().expect("one line at least");
            while width(last) + 1.0 > max_em && last.pop().is_some() {}
            *last = format!("{}…", last.trim_end());
            return (out, true);
        }
        out.push(unit.clone());
    }
    (out, false)
}

/// A card title's size in pixels at 1080 (the style's 112, or smaller so a longer title
/// fits its two lines whole), its text and its number of lines; `width` is the space it
/// has.
fn title(text: &str, width: f32, s: f32) -> (f32, String, usize) {
    let sizes = [112.0, 96.0, 84.0, 72.0];
    let px = sizes
        .into_iter()
        .find(|px| !wrap(text, width / (px * s), 2).1)
        .unwrap_or(sizes[sizes.len() - 1]);
    let lines = wrap(text, width / (px * s), 2).0.len();
    (px, fit(text, width / (px * s), 2), lines)
}

/// The ASS override that sets a title's size, when it is not the style's.
fn title_size_tag(px: f32, s: f32) -> String {
    if px < 112.0 {
        format!("\\fs{:.0}", px * s)
    } else {
        String::new()
    }
}

/// The card's text events for a clip `duration_ms` long (clip-local times).
pub fn events(card: &Card, frame: FrameSize, duration_ms: u64) -> String {
    let zone = safe_zone(frame);
    let cx = (zone.x + zone.width / 2) as f32;
    let s = frame.width.min(frame.height) as f32 / 1080.0;
    let (w, h) = (zone.width as f32, zone.height as f32);
    let top = zone.y as f32;
    let end = reelforge_core::render::ass_time(duration_ms);
    let mut out = String::new();
    let mut line = |layer: u8, style: &str, text: &str| {
        let _ = writeln!(
            out,
            "Dialogue: {layer},0:00:00.00,{end},{style},,0,0,0,,{text}"
        );
    };
    match card.kind {
        CardKind::Opening => {
            let mark_y = top + h * 0.22;
            if let Some(letter) = &card.monogram {
                let side = 300.0 * s;
                let tile = rounded_square(side, 66.0 * s);
                // The tile pops in with a little overshoot, then its letter.
                line(
                    1,
                    "CardMark",
                    &format!(
                        "{{\\an7\\pos({:.0},{:.0})\\p1\\1c&HFFFFFF&\\fscx55\\fscy55\\t(0,330,\\fscx108\\fscy108)\\t(330,550,\\fscx100\\fscy100)\\fad(200,0)}}{tile}",
                        cx - side / 2.0,
                        mark_y - side / 2.0,
                    ),
                );
                line(
                    2,
                    "CardMark",
                    &format!(
                        "{{\\an5\\pos({cx:.0},{mark_y:.0})\\1c{}\\fad(350,0)}}{}",
                        card.colours.0.ass(),
                        ass_text(letter)
                    ),
                );
            }
            let title_y = top + h * 0.47;
            let (px, text, lines) = title(&card.title, w, s);
            line(
                1,
                "CardTitle",
                &format!(
                    "{{\\an5{}\\fad(220,0)\\move({cx:.0},{:.0},{cx:.0},{title_y:.0},100,600)\\t(600,{duration_ms},\\fscx108\\fscy108\\fsp4)}}{text}",
                    title_size_tag(px, s),
                    title_y + 60.0 * s,
                ),
            );
            if !card.subtitle.is_empty() {
                // Below the title's last line (the title is centred on `title_y`).
                let sub_y = title_y + 150.0 * s + (lines - 1) as f32 * px * s * 0.6;
                line(
                    1,
                    "CardSub",
                    &format!(
                        "{{\\an5\\fad(400,0)\\move({cx:.0},{:.0},{cx:.0},{sub_y:.0},250,800)}}{}",
                        sub_y + 40.0 * s,
                        fit(&card.subtitle, w / (56.0 * s), 2)
                    ),
                );
            }
        }
        CardKind::Closing => {
            let title_y = top + h * 0.36;
            let (px, text, _) = title(&card.title, w, s);
            line(
                1,
                "CardTitle",
                &format!(
                    "{{\\an5{}\\fad(200,0)\\fscx85\\fscy85\\t(0,300,\\fscx100\\fscy100)\\t(300,{duration_ms},\\fscx110\\fscy110)\\pos({cx:.0},{title_y:.0})}}{text}",
                    title_size_tag(px, s),
                ),
            );
            if let Some(pill) = &card.pill {
                let pill_y = title_y + 230.0 * s;
                line(
                    1,
                    "CardPill",
                    &format!(
                        "{{\\an5\\pos({cx:.0},{pill_y:.0})\\1c{}\\fscx70\\fscy70\\t(250,550,\\fscx100\\fscy100)\\t(1300,1500,\\fscx106\\fscy106)\\t(1500,1700,\\fscx100\\fscy100)}}{}",
                        card.colours.1.ass(),
                        fit(pill, w / (68.0 * s) * 0.9, 1)
                    ),
                );
            }
            if !card.subtitle.is_empty() {
                line(
                    1,
                    "CardSub",
                    &format!(
                        "{{\\an5\\pos({cx:.0},{:.0})\\fad(500,0)}}{}",
                        title_y + 380.0 * s,
                        fit(&card.subtitle, w / (56.0 * s), 2)
                    ),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(kind: CardKind, title: &str) -> Card {
        Card {
            kind,
            title: title.into(),
            subtitle: "Notes that organise themselves".into(),
            pill: Some("lumennotes.app".into()),
            monogram: Some("L".into()),
            colours: (Rgb::new(0x4f, 0x46, 0xe5), Rgb::new(0xdb, 0x27, 0x77)),
        }
    }

    /// Page text never reaches a filter string: the card's text is escaped ASS.
    #[test]
    fn hostile_titles_stay_text() {
        let e = events(
            &card(
                CardKind::Opening,
                "evil}{\\fs400\\p1 m 0 0';[x]drawtext=text=boom",
            ),
            FrameSize::PORTRAIT_1080,
            2000,
        );
        assert!(e.contains("evil\\}\\{"), "{e}");
        assert!(!e.contains("{\\fs400"), "{e}");
        // The background graph takes only numbers.
        let g = background_graph(FrameSize::PORTRAIT_1080, (Rgb::BLACK, Rgb::WHITE));
        assert!(!g.contains("evil"));
    }

    #[test]
    fn long_titles_wrap_then_shorten() {
        let t = fit(&"word ".repeat(40), 10.0, 2);
        assert_eq!(t.matches("\\N").count(), 1, "{t}");
        assert!(t.ends_with('…'), "{t}");
        assert_eq!(fit("Lumen", 10.0, 2), "Lumen");
        let ja = fit("Lumen Notesを無料で始める今すぐ始めましょう", 6.8, 2);
        assert_eq!(ja.matches("\\N").count(), 1, "{ja}");
        for line in ja.split("\\N") {
            assert!(line.chars().map(em).sum::<f32>() <= 6.8 + 1.0, "{line}");
        }
    }

    #[test]
    fn closing_card_shows_the_domain_pill() {
        let e = events(
            &card(CardKind::Closing, "Start free today"),
            FrameSize::PORTRAIT_1080,
            2500,
        );
        assert!(
            e.contains("CardPill") && e.contains("lumennotes.app"),
            "{e}"
        );
        // The title may wrap (`\\N`) but is all there.
        assert!(e.replace("\\N", " ").contains("Start free today"), "{e}");
    }

    /// A call to action too long for two lines at the title's size is set smaller, whole,
    /// in every language of the demo; a short one keeps the style's size.
    #[test]
    fn long_calls_to_action_are_set_smaller_not_cut() {
        for cta in [
            "Start free with Lumen Notes",
            "Lumen Notesを無料で始める",
            "Lumen Notes 무료로 시작하기",
        ] {
            let e = events(
                &card(CardKind::Closing, cta),
                FrameSize::PORTRAIT_1080,
                3000,
            );
            let title = e.lines().find(|l| l.contains("CardTitle")).unwrap();
            assert!(!title.contains('…'), "{title}");
            assert!(sized(title), "{title}");
            let words: String = cta.split_whitespace().collect();
            let shown: String = title
                .rsplit('}')
                .next()
                .unwrap()
                .replace("\\N", "")
                .split_whitespace()
                .collect();
            assert_eq!(shown, words, "{title}");
            // Korean breaks between words, as English does.
            if cta.contains("무료로") {
                assert!(title.contains("무료로"), "{title}");
            }
        }
        let e = events(
            &card(CardKind::Closing, "Start free"),
            FrameSize::PORTRAIT_1080,
            3000,
        );
        assert!(!sized(&e), "{e}");
    }

    /// Whether an event sets a font size (`\\fs` and a number, not `\\fscx`).
    fn sized(event: &str) -> bool {
        event
            .match_indices("\\fs")
            .any(|(i, _)| event[i + 3..].starts_with(|c: char| c.is_ascii_digit()))
    }
}
