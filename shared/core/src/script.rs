//! The script writer (the `scripting` stage): one short spoken script per language — a hook,
//! three points and a call to action, about 35 seconds — grounded in the product page's text.
//!
//! A language whose page the site offers (an `hreflang` alternate, or the page itself) is
//! written from that page's own text. Otherwise the Bedrock writer translates the page and
//! the local writer falls back to built-in localized phrasing around the page's names; the
//! [`ScriptSource`] on the script says which, so the video can record it.
//!
//! Every script passes [`check_script_system`] before it is returned: a script in the wrong
//! writing system (English for Japanese, hangul for Japanese, …) is an error, never a video.

use crate::model::Language;
use crate::page::PageFacts;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Script {
    pub language: Language,
    /// Spoken in order: the hook, three points, the call to action (5 sentences).
    pub sentences: Vec<String>,
    pub source: ScriptSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptSource {
    /// Written from page text in this language (the page itself, or its hreflang alternate).
    PageLanguage,
    /// Machine-translated (Bedrock) from the page in another language.
    MachineTranslated,
    /// Local writer, no page in this language: built-in localized phrasing around the
    /// page's own names; the page's sentences were not translated.
    LocalizedTemplate,
}

impl Script {
    /// The sentences joined for speech: with " " for spaced languages, "" for ja and zh (ko
    /// uses spaces).
    pub fn text(&self) -> String {
        join_sentences(&self.sentences, self.language)
    }

    /// True unless the text is in the page's own words in this language.
    pub fn not_from_page_language(&self) -> bool {
        self.source != ScriptSource::PageLanguage
    }
}

pub struct ScriptRequest<'a> {
    pub language: Language,
    /// The campaign's page.
    pub page: &'a PageFacts,
    /// The page's hreflang alternate for `language`, when the site has one and it was fetched.
    pub alternate: Option<&'a PageFacts>,
    /// The campaign title (e.g. "example.com Campaign"); a fallback name only.
    pub title: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error(
        "the page has no text to write a script from (no title, headings, description or features)"
    )]
    NothingToWrite,
    #[error(
        "the {language} script was not written in {}, so it was not used",
        script_system_name(*.language)
    )]
    WrongScriptSystem { language: Language },
    /// The text is safe to show a customer; the provider's own message is only logged.
    #[error("the script could not be written: {0}")]
    Provider(ProviderFailure),
}

impl ScriptError {
    /// True when the same request may succeed later (the provider was busy or unavailable).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ScriptError::Provider(ProviderFailure::Busy | ProviderFailure::Unavailable)
        )
    }
}

/// Why the script provider gave no script, in words fit for a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderFailure {
    /// Throttled: too many requests for now.
    Busy,
    /// Unreachable, timed out or failed on its side.
    Unavailable,
    /// Refused the request (validation, access, unknown model).
    Refused,
    /// Answered something that is not a five-sentence script.
    UnusableAnswer,
}

impl std::fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProviderFailure::Busy => "the script service is busy; please try again later",
            ProviderFailure::Unavailable => {
                "the script service is unavailable; please try again later"
            }
            ProviderFailure::Refused => "the script service refused the request",
            ProviderFailure::UnusableAnswer => "the script service returned an unusable script",
        })
    }
}

#[async_trait::async_trait]
pub trait ScriptWriter: Send + Sync {
    async fn write(&self, req: &ScriptRequest<'_>) -> Result<Script, ScriptError>;

    /// Whether the writer is a language model: its scripts are priced as AI planning
    /// (SPEC §9).
    fn is_language_model(&self) -> bool {
        false
    }
}

// ---------------------------------------------------------------------------------------
// Writing systems
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Letter {
    Latin,
    Kana,
    Han,
    Hangul,
    Other,
}

/// The writing system of a letter; `None` for digits, punctuation, spaces and marks.
fn classify(c: char) -> Option<Letter> {
    if !c.is_alphabetic() {
        return None;
    }
    Some(match c as u32 {
        0x41..=0x5A
        | 0x61..=0x7A
        | 0xAA
        | 0xBA
        | 0xC0..=0x24F
        | 0x1E00..=0x1EFF
        | 0xFF21..=0xFF3A
        | 0xFF41..=0xFF5A => Letter::Latin,
        0x3040..=0x309F | 0x30A0..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Letter::Kana,
        0x3005
        | 0x3007
        | 0x3021..=0x3029
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0x20000..=0x3134F => Letter::Han,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xAC00..=0xD7FF | 0xFFA0..=0xFFDC => {
            Letter::Hangul
        }
        _ => Letter::Other,
    })
}

#[derive(Debug, Default, Clone, Copy)]
pub struct LetterCounts {
    pub latin: usize,
    /// Runs of Latin letters ("Acme Notes" is 2; an apostrophe or hyphen does not end a run).
    pub latin_words: usize,
    pub kana: usize,
    pub han: usize,
    pub hangul: usize,
    pub other: usize,
    /// Runs of digits ("2024" is 1).
    pub numbers: usize,
}

impl LetterCounts {
    pub fn of(text: &str) -> Self {
        let mut n = LetterCounts::default();
        let (mut in_latin, mut in_number) = (false, false);
        for c in text.chars() {
            let letter = classify(c);
            if letter == Some(Letter::Latin) {
                if !in_latin {
                    n.latin_words += 1;
                }
                in_latin = true;
            } else if !(in_latin && matches!(c, '\'' | '’' | '-')) {
                in_latin = false;
            }
            if c.is_numeric() {
                if !in_number {
                    n.numbers += 1;
                }
                in_number = true;
            } else {
                in_number = false;
            }
            match letter {
                Some(Letter::Latin) => n.latin += 1,
                Some(Letter::Kana) => n.kana += 1,
                Some(Letter::Han) => n.han += 1,
                Some(Letter::Hangul) => n.hangul += 1,
                Some(Letter::Other) => n.other += 1,
                None => {}
            }
        }
        n
    }

    pub fn total(&self) -> usize {
        self.latin + self.kana + self.han + self.hangul + self.other
    }
}

/// Prose of this many Han characters without a single kana is Chinese, not Japanese.
const KANA_FREE_HAN_LIMIT: usize = 20;

pub fn fits_script_system(text: &str, language: Language) -> bool {
    let n = LetterCounts::of(text);
    // In a CJK sentence a Latin word (a product name) weighs about as much as two
    // characters of the language's own script.
    let foreign = n.latin_words + n.other;
    match language {
        Language::Ja => {
            let own = n.kana + n.han;
            own > 0
                && n.hangul * 10 <= own
                && 2 * own >= foreign
                && !(n.kana == 0 && n.han >= KANA_FREE_HAN_LIMIT)
        }
        Language::Ko => {
            let cjk = n.hangul + n.han + n.kana;
            n.hangul > 0 && n.kana == 0 && 4 * n.hangul >= 3 * cjk && 2 * n.hangul >= foreign
        }
        Language::Zh => n.han > 0 && n.kana == 0 && n.hangul == 0 && 2 * n.han >= foreign,
        Language::En | Language::Es | Language::Fr | Language::De | Language::Pt => {
            n.latin > 0 && n.latin * 10 >= n.total() * 8
        }
    }
}

/// Refuses text whose letters are not in the language's script system: ja needs kana or
/// kanji (and mostly not hangul; long kanji-only prose is Chinese), ko needs hangul, zh
/// needs Han and no kana/hangul, the Latin-script languages must be mostly Latin letters.
/// Product names in Latin inside a ja/ko/zh sentence are fine (e.g. "Acme Notesは…"), as
/// long as the language's own script carries the sentence.
pub fn check_script_system(text: &str, language: Language) -> Result<(), ScriptError> {
    if fits_script_system(text, language) {
        Ok(())
    } else {
        Err(ScriptError::WrongScriptSystem { language })
    }
}

/// Checks every sentence and the whole text, so one foreign sentence cannot hide among
/// good ones.
pub fn check_sentences(sentences: &[String], language: Language) -> Result<(), ScriptError> {
    for sentence in sentences {
        check_script_system(sentence, language)?;
    }
    check_script_system(&join_sentences(sentences, language), language)
}

pub fn script_system_name(language: Language) -> &'static str {
    match language {
        Language::Ja => "Japanese script",
        Language::Ko => "Korean script (hangul)",
        Language::Zh => "Chinese characters",
        _ => "Latin script",
    }
}

/// The language's English name (prompts and logs).
pub fn language_name(language: Language) -> &'static str {
    match language {
        Language::En => "English",
        Language::Ja => "Japanese",
        Language::Ko => "Korean",
        Language::Zh => "Simplified Chinese",
        Language::Es => "Spanish",
        Language::Fr => "French",
        Language::De => "German",
        Language::Pt => "Portuguese",
    }
}

pub fn is_unspaced(language: Language) -> bool {
    matches!(language, Language::Ja | Language::Zh)
}

pub fn join_sentences(sentences: &[String], language: Language) -> String {
    sentences.join(if is_unspaced(language) { "" } else { " " })
}

// ---------------------------------------------------------------------------------------
// Speech length
// ---------------------------------------------------------------------------------------

/// A rough spoken length of `text` in `language` at a narrator's pace: words per second
/// for the Latin-script languages, morae (ja) or syllables (ko, zh) per second for the
/// others, counting a Latin word inside them as a few syllables.
pub fn estimated_speech_seconds(text: &str, language: Language) -> f64 {
    let n = LetterCounts::of(text);
    let words = || {
        text.split_whitespace()
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .count() as f64
    };
    let (units, per_second) = match language {
        // A kanji averages about two morae.
        Language::Ja => (
            n.kana as f64 + 2.0 * n.han as f64 + 3.0 * (n.latin_words + n.numbers) as f64,
            7.5,
        ),
        Language::Zh => (n.han as f64 + 2.0 * (n.latin_words + n.numbers) as f64, 4.5),
        Language::Ko => (
            n.hangul as f64 + n.han as f64 + 2.0 * (n.latin_words + n.numbers) as f64,
            5.5,
        ),
        Language::De => (words(), 2.2),
        Language::En => (words(), 2.5),
        Language::Es | Language::Fr | Language::Pt => (words(), 2.6),
    };
    units / per_second
}

// ---------------------------------------------------------------------------------------
// Source selection and names (shared by both writers)
// ---------------------------------------------------------------------------------------

/// Whether the facts give anything to write about.
fn has_text(facts: &PageFacts) -> bool {
    let filled = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
    filled(&facts.title)
        || filled(&facts.description)
        || facts.headings.iter().any(|h| !h.trim().is_empty())
        || facts.features.iter().any(|f| !f.trim().is_empty())
}

/// The primary language subtag of a `lang` value ("ja" for "ja-JP").
fn primary_subtag(lang: &str) -> String {
    lang.split(['-', '_'])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The facts a script is written from: the alternate when it has text, else the page; and
/// whether they are in the requested language. `None` when neither has any text.
pub fn source_facts<'a>(req: &ScriptRequest<'a>) -> Option<(&'a PageFacts, bool)> {
    if let Some(alternate) = req.alternate.filter(|a| has_text(a)) {
        return Some((alternate, true));
    }
    if !has_text(req.page) {
        return None;
    }
    Some((req.page, page_is_in(req.page, req.language)))
}

/// The page's declared language is `language` (an undeclared page counts as English).
fn page_is_in(page: &PageFacts, language: Language) -> bool {
    match page.lang.as_deref().map(primary_subtag) {
        Some(lang) if !lang.is_empty() => lang == language.as_str(),
        _ => language == Language::En,
    }
}

pub fn normalize_ws(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Title separators: "Name | Site", "Name – tagline", "Name｜キャッチコピー", "Name: tagline".
const TITLE_SEPARATORS: &[&str] = &[
    " | ", "｜", "|", " – ", " — ", " - ", " − ", ": ", "：", " · ", " • ", " » ", " :: ",
];

/// Title segments that are never a product's name.
const GENERIC_TITLES: &[&str] = &[
    "home",
    "homepage",
    "home page",
    "welcome",
    "official site",
    "official website",
    "ホーム",
    "トップ",
    "トップページ",
    "公式サイト",
    "公式",
    "홈",
    "홈페이지",
    "공식 사이트",
    "首页",
    "首頁",
    "官网",
    "官方网站",
    "inicio",
    "página principal",
    "accueil",
    "startseite",
    "início",
    "página inicial",
];

const MAX_NAME_WORDS: usize = 5;
const MAX_NAME_CHARS: usize = 40;
const MAX_NAME_CJK: usize = 16;

fn is_name_like(segment: &str) -> bool {
    let n = LetterCounts::of(segment);
    segment.split_whitespace().count() <= MAX_NAME_WORDS
        && segment.chars().count() <= MAX_NAME_CHARS
        && n.kana + n.han + n.hangul <= MAX_NAME_CJK
        && n.total() > 0
        && !segment.ends_with(['.', '!', '?', '。', '！', '？'])
        && !GENERIC_TITLES.contains(&segment.to_lowercase().as_str())
}

/// The product name inside a page title: "Acme Notes – Notes for teams | Acme" gives
/// "Acme Notes", "Home | Acme" gives "Acme", "【公式】Acme Notes｜共有ノート" gives "Acme Notes".
/// `None` when no segment reads like a name (a title that is all tagline).
fn name_from_title(raw: &str) -> Option<String> {
    let segments = title_segments(raw);
    let first = segments.first().filter(|s| is_name_like(s));
    first
        .or_else(|| {
            segments
                .iter()
                .filter(|s| is_name_like(s))
                .min_by_key(|s| s.chars().count())
        })
        .cloned()
}

/// A title's parts between its separators, without a leading "【公式】"-style label.
fn title_segments(raw: &str) -> Vec<String> {
    let mut title = normalize_ws(raw);
    // A leading "【公式】"-style label.
    while let Some(rest) = title.strip_prefix('【') {
        match rest.find('】') {
            Some(end) => title = rest[end + '】'.len_utf8()..].trim().to_string(),
            None => break,
        }
    }
    let mut segments = vec![title];
    for separator in TITLE_SEPARATORS {
        segments = segments
            .iter()
            .flat_map(|s| s.split(separator))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    segments
}

/// The longest tagline the opening card takes, in width units (a CJK letter is two): about
/// the two lines its subtitle holds, so a chosen tagline is shown whole.
pub const MAX_TAGLINE_UNITS: usize = 56;

fn tagline_units(text: &str) -> usize {
    let n = LetterCounts::of(text);
    text.chars().count() + n.kana + n.han + n.hangul
}

/// The line under the product's name on the opening card, from the page: its headline
/// (the first heading) when that is not the name; else the title's tagline part ("Acme –
/// Notes for teams"); else the description's first sentence; the first of them that
/// fits [`MAX_TAGLINE_UNITS`], without a closing full stop. Else the description itself
/// (the card cuts it at two lines). `None` when the page has none of these.
pub fn tagline(facts: &PageFacts, name: &str) -> Option<String> {
    let plain = |t: &str| {
        normalize_ws(t)
            .trim_end_matches(['.', '。', '．'])
            .trim()
            .to_string()
    };
    let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
    let not_name = |t: &String| !t.is_empty() && !same(t, name);
    // A phrase, not a label ("Features", "特長", "Home"): at least two words, or four
    // CJK letters.
    let phrase = |t: &String| {
        let n = LetterCounts::of(t);
        not_name(t)
            && !GENERIC_TITLES.contains(&t.to_lowercase().as_str())
            && (t.split_whitespace().count() > 1
                || (n.latin == 0 && n.kana + n.han + n.hangul >= 4))
    };
    let headline = facts.headings.first().map(|h| plain(h)).filter(phrase);
    let from_title = facts.title.as_deref().and_then(|t| {
        title_segments(t)
            .into_iter()
            .map(|s| plain(&s))
            .find(phrase)
    });
    let description = facts.description.as_deref().map(plain);
    let first_sentence = description
        .as_deref()
        .map(|d| {
            let end = [". ", "! ", "? ", "。", "！", "？"]
                .iter()
                .filter_map(|stop| d.find(stop).map(|i| i + stop.trim_end().len()))
                .min()
                .unwrap_or(d.len());
            plain(&d[..end])
        })
        .filter(|t| {
            // "Acme Inc. makes notes." does not end at "Acme Inc".
            let n = LetterCounts::of(t);
            n.latin == 0 || t.split_whitespace().count() >= 3
        });
    [headline, from_title, first_sentence]
        .into_iter()
        .flatten()
        .find(|t| not_name(t) && tagline_units(t) <= MAX_TAGLINE_UNITS)
        .or(description.filter(|d| not_name(d)))
        .map(|t| sentence_case(&t))
}

/// "notes for teams" as a line of its own: "Notes for teams" ("iPhone cases" stays).
fn sentence_case(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), second)
            if first.is_lowercase() && !second.is_some_and(char::is_uppercase) =>
        {
            first.to_uppercase().chain(text.chars().skip(1)).collect()
        }
        _ => text.to_string(),
    }
}

/// Whether a name can be said inside a sentence of `language`: Latin names anywhere;
/// kana/kanji names in ja, hangul in ko, Han in zh; Latin-script languages take only
/// mostly-Latin names.
fn name_fits(name: &str, language: Language) -> bool {
    let n = LetterCounts::of(name);
    match language {
        Language::Ja => n.hangul == 0 && n.other == 0,
        Language::Ko => n.kana == 0 && n.han == 0 && n.other == 0,
        Language::Zh => n.kana == 0 && n.hangul == 0 && n.other == 0,
        _ => n.latin > 0 && n.latin * 10 >= n.total() * 8,
    }
}

/// The product's name for a script in `language`: from the title / `og:title`, else
/// `og:site_name`, else a short first heading, of each of `facts` in turn, else the
/// campaign title without its " Campaign" suffix; the first that can be said in
/// `language`. When none can, the first found (the script check then refuses it).
pub fn product_name(
    facts: &[&PageFacts],
    campaign_title: &str,
    language: Language,
) -> Option<String> {
    let mut candidates = Vec::new();
    for f in facts {
        for raw in [f.og.get("og:title"), f.title.as_ref()]
            .into_iter()
            .flatten()
        {
            candidates.extend(name_from_title(raw));
        }
        if let Some(site) = f.og.get("og:site_name") {
            candidates.extend(name_from_title(site));
        }
        if let Some(heading) = f.headings.first().map(|h| normalize_ws(h)) {
            if is_name_like(&heading) && heading.split_whitespace().count() <= 3 {
                candidates.push(heading);
            }
        }
    }
    let campaign = normalize_ws(campaign_title);
    let campaign = campaign
        .strip_suffix(" Campaign")
        .map(str::to_string)
        .unwrap_or(campaign);
    if !campaign.is_empty() {
        candidates.push(campaign);
    }
    candidates
        .iter()
        .find(|c| name_fits(c, language))
        .or(candidates.first())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_out_of_titles() {
        assert_eq!(
            name_from_title("Acme Notes – Notes for teams | Acme").as_deref(),
            Some("Acme Notes")
        );
        assert_eq!(name_from_title("Home | Acme").as_deref(), Some("Acme"));
        assert_eq!(
            name_from_title("【公式】Acme Notes｜チームで使える共有ノート").as_deref(),
            Some("Acme Notes")
        );
        assert_eq!(
            name_from_title("The easiest way to share notes with your whole team | Acme")
                .as_deref(),
            Some("Acme")
        );
        assert_eq!(
            name_from_title("Wi-Fi Finder").as_deref(),
            Some("Wi-Fi Finder")
        );
        assert_eq!(
            name_from_title("Keep every note your team writes in one place."),
            None
        );
    }

    #[test]
    fn a_name_in_another_script_gives_way_to_one_that_can_be_said() {
        let page = PageFacts {
            title: Some("アクメノート｜チームの共有ノート".into()),
            lang: Some("ja".into()),
            ..PageFacts::default()
        };
        assert_eq!(
            product_name(&[&page], "example.jp Campaign", Language::Ja).as_deref(),
            Some("アクメノート")
        );
        assert_eq!(
            product_name(&[&page], "example.jp Campaign", Language::Ko).as_deref(),
            Some("example.jp")
        );
        assert_eq!(
            product_name(&[&page], "example.jp Campaign", Language::En).as_deref(),
            Some("example.jp")
        );
    }

    #[test]
    fn the_opening_cards_tagline_is_the_pages_headline_when_it_fits() {
        // The bundled sample site: its description (65+ characters) would be cut on the
        // card; its headline is the tagline, whole, in each language.
        let base = url::Url::parse("http://127.0.0.1:1/").unwrap();
        for (html, want) in [
            (
                include_str!("../../../sample-site/index.html"),
                "Notes that organise themselves",
            ),
            (
                include_str!("../../../sample-site/ja.html"),
                "自動で整理されるノート",
            ),
            (
                include_str!("../../../sample-site/ko.html"),
                "스스로 정리되는 노트",
            ),
        ] {
            let facts = crate::page::extract(html, &base);
            assert_eq!(tagline(&facts, "Lumen Notes").as_deref(), Some(want));
        }
        let page = |title: &str, headings: &[&str], description: &str| PageFacts {
            title: Some(title.into()),
            headings: headings.iter().map(|h| h.to_string()).collect(),
            description: Some(description.into()),
            ..PageFacts::default()
        };
        let long = "Acme keeps every note your team writes, from meeting minutes to plans, in one searchable place";
        // The headline is the name, or a label: the title's tagline part.
        for headings in [&["Acme Notes"][..], &["Features"], &[]] {
            assert_eq!(
                tagline(
                    &page("Acme Notes – Notes for teams. | Acme", headings, long),
                    "Acme Notes"
                )
                .as_deref(),
                Some("Notes for teams")
            );
        }
        // No tagline in the title ("Home" and the site's name are not one): the
        // description's first sentence when it fits, else the description.
        assert_eq!(
            tagline(
                &page("Home | Acme", &[], "Notes for busy teams. Try it today."),
                "Acme"
            )
            .as_deref(),
            Some("Notes for busy teams")
        );
        assert_eq!(
            tagline(&page("Home | Acme", &[long], long), "Acme").as_deref(),
            Some(long)
        );
        // A section label is not a headline, in any script.
        assert_eq!(
            tagline(&page("アクメ", &["特長"], "短い説明です。"), "アクメ").as_deref(),
            Some("短い説明です")
        );
        // A description whose first full stop ends an abbreviation is used whole.
        assert_eq!(
            tagline(&page("Acme", &[], "Acme Inc. makes notes."), "Acme").as_deref(),
            Some("Acme Inc. makes notes")
        );
        // CJK letters are twice as wide: 29 of them do not fit, 28 do.
        let wide = |n: usize| "あ".repeat(n);
        for (n, fits) in [(28, true), (29, false)] {
            let got = tagline(&page("アクメ", &[&wide(n)], "短い説明。"), "アクメ");
            assert_eq!(got == Some(wide(n)), fits, "{n}: {got:?}");
        }
        assert_eq!(tagline(&PageFacts::default(), "Acme"), None);
        // A title's lower-case tagline part starts with a capital on its own line; a
        // name like "iPhone" keeps its case.
        assert_eq!(
            tagline(&page("Acme – notes for teams", &[], long), "Acme").as_deref(),
            Some("Notes for teams")
        );
        assert_eq!(
            tagline(&page("Acme – iPhone cases for teams", &[], long), "Acme").as_deref(),
            Some("iPhone cases for teams")
        );
    }

    #[test]
    fn letters_are_counted_by_writing_system() {
        let n = LetterCounts::of("Acme Notesは、team's 2024年版です。");
        assert_eq!((n.latin_words, n.numbers), (3, 1));
        assert_eq!((n.kana, n.han, n.hangul), (3, 2, 0));
        assert_eq!(LetterCounts::of("지금 바로").hangul, 4);
    }

    #[test]
    fn kanji_only_prose_is_not_japanese() {
        let chinese = "立即试用这款产品体验全新的团队协作方式与高效的文档管理功能";
        assert!(check_script_system(chinese, Language::Zh).is_ok());
        assert!(check_script_system(chinese, Language::Ja).is_err());
        assert!(check_script_system("多言語対応", Language::Ja).is_ok());
    }

    #[test]
    fn speech_estimates_are_in_a_plausible_range() {
        let en = "word ".repeat(100);
        assert!((39.0..=41.0).contains(&estimated_speech_seconds(&en, Language::En)));
        let ja = "あ".repeat(150);
        assert!((19.0..=21.0).contains(&estimated_speech_seconds(&ja, Language::Ja)));
    }
}
