//! Page extraction for the `collect` stage: the facts a script is written from, pulled out of
//! a fetched product page's HTML (title, description, headings, feature text, images, Open
//! Graph tags, `hreflang` alternates and the page's language).
//!
//! The HTML is tokenized by `html5gum` (WHATWG tokenizer: entities decoded, `script`/`style`
//! content kept as raw text) and walked with a small open-element stack that closes the
//! usual implied ends (`<li>`, `<p>`, `<dt>`/`<dd>`). It is not a browser-grade tree builder,
//! which is enough for reading text out of a page.
//!
//! **Ignored content**: `script`, `style`, `noscript`, `template`, `iframe`, `svg`, form
//! controls, and anything hidden: the `hidden` attribute, `aria-hidden="true"`, inline
//! `display:none` / `visibility:hidden`, screen-reader-only classes (`sr-only`,
//! `visually-hidden`, …) and cookie / consent banners (`cookie`, `consent`, `gdpr` in a class or
//! id).
//!
//! **Features** (the heuristic): text of list items and short paragraphs (≤ 200 characters)
//! that sit in a *feature-like section*, which is either
//! - an element whose class or id has a token starting with `feature`, `benefit`,
//!   `highlight`, `advantage`, `capabilit`, or equal to `usp` / `why`, or
//! - the content after an `h2`/`h3` whose text names features in one of the supported
//!   languages ("Features", "Why …", "特長", "기능", "功能", "Características", …), up to the
//!   next heading of the same or a higher level.
//!
//! When a page has no such section, list items of the main content (outside `nav`, `header`,
//! `footer`, `aside` and forms) that read like a sentence (≥ 3 words, or ≥ 8 characters of
//! CJK text), are at most 200 characters and are not mostly link text are used instead.
//!
//! Every string is whitespace-normalised and capped at [`MAX_TEXT_CHARS`] characters; every
//! list at [`MAX_ITEMS`] entries (duplicates dropped, document order kept).

use html5gum::{DefaultEmitter, Token, Tokenizer};
use std::collections::BTreeMap;
use url::Url;

/// Longest kept string (characters).
pub const MAX_TEXT_CHARS: usize = 300;
/// Longest kept list (headings, features, images).
pub const MAX_ITEMS: usize = 20;
/// Open Graph values may be URLs: they get a longer cap than text.
const MAX_OG_CHARS: usize = 1000;
const MAX_OG_TAGS: usize = 40;
/// Deepest element nesting tracked.
const MAX_DEPTH: usize = 512;
/// A paragraph longer than this is prose, not a feature line.
const MAX_FEATURE_CHARS: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageFacts {
    /// `<title>`, else `og:title`, else the first `h1`.
    pub title: Option<String>,
    /// `<meta name="description">`, else `og:description`.
    pub description: Option<String>,
    /// `h1`–`h3` text in document order.
    pub headings: Vec<String>,
    /// Feature lines (see the module docs for the heuristic).
    pub features: Vec<String>,
    /// Absolute http(s) image URLs: `og:image` first, then `<img>` in document order.
    pub images: Vec<Url>,
    /// Open Graph tags by full property name (`"og:title"`); the first of a repeated one.
    pub og: BTreeMap<String, String>,
    /// Language versions of the page by primary language subtag (`"ja"` for `ja-JP`),
    /// from `<link rel="alternate" hreflang href>`; `x-default` is left out.
    pub alternates: BTreeMap<String, Url>,
    /// The primary language subtag of `<html lang>`, lower-cased (`"ja"` for `ja-JP`).
    pub lang: Option<String>,
}

/// Extracts the page facts from `html`, resolving relative URLs against `base` (or the
/// page's own `<base href>` when it has one).
pub fn extract(html: &str, base: &Url) -> PageFacts {
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut walker = Walker::new(base.clone());
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                let attrs: Vec<(String, String)> = tag
                    .attributes
                    .iter()
                    .map(|(k, v)| {
                        (
                            String::from_utf8_lossy(k).to_ascii_lowercase(),
                            String::from_utf8_lossy(v).into_owned(),
                        )
                    })
                    .collect();
                walker.start(&name, &Attrs(attrs));
            }
            Token::EndTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                walker.end(&name);
            }
            Token::String(text) => walker.text(&text),
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }
    walker.finish()
}

struct Attrs(Vec<(String, String)>);

impl Attrs {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];
/// Elements whose text is never page copy.
const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "iframe", "svg", "math", "select", "option",
    "textarea", "button", "object", "canvas",
];
/// Page chrome: text in here is not feature copy.
const BOILERPLATE: &[&str] = &["nav", "header", "footer", "aside", "form", "dialog"];
/// Inline elements: they don't end a paragraph and add no word break.
const PHRASING: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd",
    "label", "mark", "q", "ruby", "rb", "rt", "rp", "s", "samp", "small", "span", "strong", "sub",
    "sup", "time", "u", "var",
];
/// Elements whose start closes an open `<p>` (HTML's implied end tags).
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "details",
    "div",
    "dl",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "ul",
    "li",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Capture {
    Title,
    Heading(u8),
    Item,
    Para,
}

struct Open {
    name: String,
    /// This element or an ancestor is hidden or never page copy.
    skipped: bool,
    /// This element or an ancestor is a feature-like section (by class/id), or it was opened
    /// inside a feature-like heading's section.
    featureish: bool,
    boilerplate: bool,
    capture: Option<CaptureBuf>,
}

struct CaptureBuf {
    kind: Capture,
    text: Vec<u8>,
    link_bytes: usize,
}

struct Walker {
    base: Url,
    base_set: bool,
    stack: Vec<Open>,
    /// Indices into `stack` of the elements collecting text.
    capturing: Vec<usize>,
    /// Open `<a>` elements (for telling link lists from copy).
    links_open: usize,
    /// Level of the feature-like heading whose section we are in.
    feature_zone: Option<u8>,
    title: Option<String>,
    description: Option<String>,
    first_h1: Option<String>,
    headings: Vec<String>,
    features: Vec<String>,
    fallback_items: Vec<String>,
    og_images: Vec<Url>,
    images: Vec<Url>,
    og: BTreeMap<String, String>,
    alternates: BTreeMap<String, (Url, bool)>,
    lang: Option<String>,
    seen_html: bool,
}

impl Walker {
    fn new(base: Url) -> Self {
        Walker {
            base,
            base_set: false,
            stack: Vec::new(),
            capturing: Vec::new(),
            links_open: 0,
            feature_zone: None,
            title: None,
            description: None,
            first_h1: None,
            headings: Vec::new(),
            features: Vec::new(),
            fallback_items: Vec::new(),
            og_images: Vec::new(),
            images: Vec::new(),
            og: BTreeMap::new(),
            alternates: BTreeMap::new(),
            lang: None,
            seen_html: false,
        }
    }

    fn skipped(&self) -> bool {
        self.stack.last().is_some_and(|o| o.skipped)
    }

    fn start(&mut self, name: &str, attrs: &Attrs) {
        self.close_implied(name);
        match name {
            "html" if !self.seen_html => {
                self.seen_html = true;
                self.lang = attrs.get("lang").and_then(primary_language);
            }
            "base" if !self.base_set => {
                if let Some(href) = attrs.get("href") {
                    if let Ok(url) = self.base.join(href.trim()) {
                        self.base = url;
                        self.base_set = true;
                    }
                }
            }
            "meta" => self.meta(attrs),
            "link" => self.link(attrs),
            "img" if !self.skipped() && !is_hidden(attrs) => self.img(attrs),
            "br" | "hr" => self.text(b" "),
            _ => {}
        }
        // Past MAX_DEPTH (tag soup that never closes) elements are read as inline.
        if VOID.contains(&name) || self.stack.len() >= MAX_DEPTH {
            return;
        }
        let parent = self.stack.last();
        let skipped = parent.is_some_and(|p| p.skipped) || SKIP.contains(&name) || is_hidden(attrs);
        let featureish = parent.is_some_and(|p| p.featureish)
            || self.feature_zone.is_some()
            || has_feature_class(attrs);
        let boilerplate = parent.is_some_and(|p| p.boilerplate) || BOILERPLATE.contains(&name);
        let in_svg = self.stack.iter().any(|o| o.name == "svg");
        let kind = match name {
            "title" if !in_svg && self.title.is_none() => Some(Capture::Title),
            "h1" => Some(Capture::Heading(1)),
            "h2" => Some(Capture::Heading(2)),
            "h3" => Some(Capture::Heading(3)),
            "li" | "dt" | "dd" => Some(Capture::Item),
            "p" => Some(Capture::Para),
            _ => None,
        };
        // Title text is read even in <head>; everything else only when visible.
        let capture = kind
            .filter(|k| *k == Capture::Title || !skipped)
            .map(|kind| CaptureBuf {
                kind,
                text: Vec::new(),
                link_bytes: 0,
            });
        if !PHRASING.contains(&name) {
            self.text(b" ");
        }
        if name == "a" {
            self.links_open += 1;
        }
        if capture.is_some() {
            self.capturing.push(self.stack.len());
        }
        self.stack.push(Open {
            name: name.to_string(),
            skipped: skipped && kind != Some(Capture::Title),
            featureish,
            boilerplate,
            capture,
        });
    }

    /// Closes the elements HTML ends implicitly when `name` starts.
    fn close_implied(&mut self, name: &str) {
        let find_before = |stack: &[Open], target: &[&str], barrier: &[&str]| {
            for (i, o) in stack.iter().enumerate().rev() {
                if target.contains(&o.name.as_str()) {
                    return Some(i);
                }
                if barrier.contains(&o.name.as_str()) {
                    return None;
                }
            }
            None
        };
        let close_at = match name {
            "li" => find_before(&self.stack, &["li"], &["ul", "ol", "menu"]),
            "dt" | "dd" => find_before(&self.stack, &["dt", "dd"], &["dl"]),
            _ => None,
        };
        if let Some(i) = close_at {
            self.pop_to(i);
        }
        if CLOSES_P.contains(&name) {
            // An open <p> with only inline elements above it ends here.
            if let Some(i) = self
                .stack
                .iter()
                .rposition(|o| !PHRASING.contains(&o.name.as_str()))
            {
                if self.stack[i].name == "p" {
                    self.pop_to(i);
                }
            }
        }
        if matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
            if let Some(top) = self.stack.last() {
                if matches!(top.name.as_str(), "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
                    self.pop_to(self.stack.len() - 1);
                }
            }
        }
    }

    fn end(&mut self, name: &str) {
        if let Some(i) = self.stack.iter().rposition(|o| o.name == name) {
            self.pop_to(i);
        }
    }

    /// Closes `stack[i..]`, innermost first.
    fn pop_to(&mut self, i: usize) {
        while self.stack.len() > i {
            let open = self.stack.pop().expect("len > i");
            if self.capturing.last() == Some(&self.stack.len()) {
                self.capturing.pop();
            }
            if open.name == "a" {
                self.links_open = self.links_open.saturating_sub(1);
            }
            if !PHRASING.contains(&open.name.as_str()) {
                self.text(b" ");
            }
            if let Some(buf) = open.capture {
                self.finish_capture(buf, open.featureish, open.boilerplate);
            }
        }
    }

    fn text(&mut self, bytes: &[u8]) {
        if self.stack.is_empty() {
            return;
        }
        let skipped = self.skipped();
        let in_link = self.links_open > 0;
        for &i in &self.capturing {
            if let Some(buf) = &mut self.stack[i].capture {
                if skipped && buf.kind != Capture::Title {
                    continue;
                }
                if buf.text.len() < 64 * 1024 {
                    buf.text.extend_from_slice(bytes);
                    if in_link {
                        buf.link_bytes += bytes.len();
                    }
                }
            }
        }
    }

    fn finish_capture(&mut self, buf: CaptureBuf, featureish: bool, boilerplate: bool) {
        let raw = String::from_utf8_lossy(&buf.text);
        let full = normalize(&raw);
        if full.is_empty() {
            return;
        }
        let long = full.chars().count() > MAX_FEATURE_CHARS;
        let text = cap(&full, MAX_TEXT_CHARS);
        match buf.kind {
            Capture::Title => self.title = Some(text),
            Capture::Heading(level) => {
                if level == 1 && self.first_h1.is_none() {
                    self.first_h1 = Some(text.clone());
                }
                if is_feature_heading(&text) && level >= 2 {
                    self.feature_zone = Some(level);
                } else if self.feature_zone.is_some_and(|zone| level <= zone) {
                    self.feature_zone = None;
                }
                push_unique(&mut self.headings, text);
            }
            Capture::Item | Capture::Para if featureish && !boilerplate && !long => {
                push_unique(&mut self.features, text);
            }
            Capture::Item if !boilerplate && !long => {
                let mostly_links = buf.link_bytes * 2 >= buf.text.len();
                if !mostly_links && reads_like_a_sentence(&text) {
                    push_unique(&mut self.fallback_items, text);
                }
            }
            Capture::Item | Capture::Para => {}
        }
    }

    fn meta(&mut self, attrs: &Attrs) {
        let Some(content) = attrs.get("content") else {
            return;
        };
        let key = attrs
            .get("property")
            .or_else(|| attrs.get("name"))
            .map(|k| k.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if key == "description" && self.description.is_none() {
            let text = cap(&normalize(content), MAX_TEXT_CHARS);
            if !text.is_empty() {
                self.description = Some(text);
            }
        } else if key.starts_with("og:") && key.len() > 3 {
            let value = cap(&normalize(content), MAX_OG_CHARS);
            if value.is_empty() {
                return;
            }
            if matches!(
                key.as_str(),
                "og:image" | "og:image:url" | "og:image:secure_url"
            ) {
                if let Some(url) = self.image_url(&value) {
                    push_unique_url(&mut self.og_images, url);
                }
            }
            if self.og.len() < MAX_OG_TAGS {
                self.og.entry(key).or_insert(value);
            }
        }
    }

    fn link(&mut self, attrs: &Attrs) {
        let rel_alternate = attrs.get("rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("alternate"))
        });
        let (Some(hreflang), Some(href)) = (attrs.get("hreflang"), attrs.get("href")) else {
            return;
        };
        if !rel_alternate || hreflang.trim().eq_ignore_ascii_case("x-default") {
            return;
        }
        let Some(code) = primary_language(hreflang) else {
            return;
        };
        let Ok(url) = self.base.join(href.trim()) else {
            return;
        };
        if !matches!(url.scheme(), "http" | "https") {
            return;
        }
        // The bare language tag ("ja") beats a regional one ("ja-JP"); otherwise first wins.
        let exact = !hreflang.contains(['-', '_']);
        match self.alternates.get(&code) {
            Some((_, true)) => {}
            Some((_, false)) if !exact => {}
            _ => {
                if self.alternates.len() < 50 || self.alternates.contains_key(&code) {
                    self.alternates.insert(code, (url, exact));
                }
            }
        }
    }

    fn img(&mut self, attrs: &Attrs) {
        let tiny = ["width", "height"].iter().any(|a| {
            attrs
                .get(a)
                .and_then(leading_number)
                .is_some_and(|n| n <= 2)
        });
        if tiny {
            return;
        }
        let usable = |v: &str| {
            let v = v.trim();
            !v.is_empty() && !v.to_ascii_lowercase().starts_with("data:")
        };
        let candidate = ["src", "data-src", "data-lazy-src", "data-original"]
            .iter()
            .filter_map(|a| attrs.get(a))
            .find(|v| usable(v))
            .map(str::to_string)
            .or_else(|| {
                ["srcset", "data-srcset"]
                    .iter()
                    .filter_map(|a| attrs.get(a))
                    .filter_map(first_srcset_candidate)
                    .find(|v| usable(v))
            });
        if let Some(url) = candidate.and_then(|c| self.image_url(&c)) {
            push_unique_url(&mut self.images, url);
        }
    }

    fn image_url(&self, raw: &str) -> Option<Url> {
        let url = self.base.join(raw.trim()).ok()?;
        matches!(url.scheme(), "http" | "https").then_some(url)
    }

    fn finish(mut self) -> PageFacts {
        self.pop_to(0);
        let features = if self.features.is_empty() {
            self.fallback_items
        } else {
            self.features
        };
        let mut images = self.og_images;
        for url in self.images {
            push_unique_url(&mut images, url);
        }
        let title = self
            .title
            .or_else(|| self.og.get("og:title").map(|t| cap(t, MAX_TEXT_CHARS)))
            .or(self.first_h1);
        let description = self.description.or_else(|| {
            self.og
                .get("og:description")
                .map(|t| cap(t, MAX_TEXT_CHARS))
        });
        PageFacts {
            title,
            description,
            headings: self.headings,
            features,
            images,
            og: self.og,
            alternates: self
                .alternates
                .into_iter()
                .map(|(code, (url, _))| (code, url))
                .collect(),
            lang: self.lang,
        }
    }
}

/// `"ja-JP"` → `"ja"`, `"zh_Hant"` → `"zh"`; `None` for `x-default` and anything that isn't a
/// language tag.
fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase()))
        .then_some(primary)
}

fn is_hidden(attrs: &Attrs) -> bool {
    if attrs.has("hidden") {
        return true;
    }
    if attrs
        .get("aria-hidden")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return true;
    }
    if let Some(style) = attrs.get("style") {
        let style: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if style.contains("display:none") || style.contains("visibility:hidden") {
            return true;
        }
    }
    let class = attrs.get("class").unwrap_or("").to_ascii_lowercase();
    if class.split_ascii_whitespace().any(|c| {
        matches!(
            c,
            "hidden"
                | "sr-only"
                | "visually-hidden"
                | "screen-reader-text"
                | "d-none"
                | "is-hidden"
        )
    }) {
        return true;
    }
    let id = attrs.get("id").unwrap_or("").to_ascii_lowercase();
    ["cookie", "consent", "gdpr"]
        .iter()
        .any(|junk| class.contains(junk) || id.contains(junk))
}

fn has_feature_class(attrs: &Attrs) -> bool {
    let names = format!(
        "{} {}",
        attrs.get("class").unwrap_or(""),
        attrs.get("id").unwrap_or("")
    )
    .to_ascii_lowercase();
    names
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|token| {
            ["feature", "benefit", "highlight", "advantage", "capabilit"]
                .iter()
                .any(|p| token.starts_with(p))
                || token == "usp"
                || token == "why"
        })
}

/// A heading that introduces features, in the languages reelforge speaks.
fn is_feature_heading(text: &str) -> bool {
    let lower = text.to_lowercase();
    if lower.starts_with("why ") || lower.starts_with("why?") {
        return true;
    }
    const WORDS: &[&str] = &[
        "feature",
        "benefit",
        "highlights",
        "capabilit",
        "what you get",
        "advantages",
        "特長",
        "特徴",
        "機能",
        "メリット",
        "選ばれる理由",
        "기능",
        "특징",
        "장점",
        "功能",
        "特点",
        "特色",
        "优势",
        "優勢",
        "característic",
        "ventaja",
        "beneficio",
        "fonctionnalit",
        "avantage",
        "funktion",
        "vorteil",
        "recursos",
        "funcionalidade",
        "vantage",
        "benefício",
    ];
    WORDS.iter().any(|w| lower.contains(w))
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // hangul syllables
        | 0xF900..=0xFAFF)
}

fn reads_like_a_sentence(text: &str) -> bool {
    text.split_whitespace().count() >= 3 || text.chars().filter(|c| is_cjk(*c)).count() >= 8
}

fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cap(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => s[..i].trim_end().to_string(),
        None => s.to_string(),
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if list.len() < MAX_ITEMS && !list.contains(&item) {
        list.push(item);
    }
}

fn push_unique_url(list: &mut Vec<Url>, url: Url) {
    if list.len() < MAX_ITEMS && !list.contains(&url) {
        list.push(url);
    }
}

fn leading_number(v: &str) -> Option<u32> {
    let digits: String = v.trim().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The URL of a `srcset`'s first candidate (`"a.png 1x, b.png 2x"` → `"a.png"`).
fn first_srcset_candidate(srcset: &str) -> Option<String> {
    srcset
        .split(',')
        .next()?
        .split_whitespace()
        .next()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://shop.example.com/products/widget").unwrap()
    }

    fn urls(list: &[Url]) -> Vec<&str> {
        list.iter().map(Url::as_str).collect()
    }

    const EN_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en-US">
<head>
  <meta charset="utf-8">
  <title>  Acme   Widget &amp; Co &mdash; Ship faster </title>
  <meta name="description" content="The widget that ships   itself.&nbsp;Really.">
  <meta property="og:title" content="Acme Widget">
  <meta property="og:image" content="/img/og.png">
  <meta property="og:image" content="/img/og-second.png">
  <meta property="og:type" content="product">
  <link rel="alternate" hreflang="ja-JP" href="https://shop.example.com/ja/products/widget">
  <link rel="alternate" hreflang="ko" href="/ko/products/widget">
  <link rel="alternate" hreflang="zh-Hant" href="/zh-tw/widget">
  <link rel="alternate" hreflang="zh" href="/zh/widget">
  <link rel="alternate" hreflang="x-default" href="/products/widget">
  <link rel="stylesheet" hreflang="fr" href="/style.css">
  <style>h1 { color: red } .features li::before { content: "junk" }</style>
  <script>var headings = "<h2>Not a heading</h2>"; document.write("<li>nope</li>");</script>
</head>
<body>
  <nav><ul><li><a href="/">Home</a></li><li><a href="/pricing">Pricing and plans for teams</a></li></ul></nav>
  <div id="cookie-banner"><p>We use cookies to improve your experience.</p><h2>Cookie settings</h2></div>
  <h1>Acme <em>Widget</em></h1>
  <p>Plenty of long marketing prose that is not a feature list item, just an introduction.</p>
  <img src="hero.jpg" width="1200" height="600" alt="">
  <img src="https://tracker.example.net/pixel.gif" width="1" height="1">
  <img src="data:image/png;base64,iVBORw0KGgo=">
  <img srcset="/img/card-1x.webp 1x, /img/card-2x.webp 2x">
  <img data-src="//cdn.example.com/lazy.png" src="data:image/gif;base64,R0lGOD">
  <img src="/img/hidden.png" style="display: none">
  <section class="product-features">
    <h2>Built for speed</h2>
    <ul>
      <li><strong>Fast:</strong>   ships in one day
      <li>Secure by default<br>with end-to-end encryption</li>
      <li hidden>Hidden feature that should not show</li>
    </ul>
  </section>
  <h2>Why teams love it</h2>
  <p>Works with the tools you already use.</p>
  <p class="sr-only">Screen reader only text</p>
  <h3>Details</h3>
  <h2>Pricing</h2>
  <ul><li>Not a feature: this list sits after the features section ends</li></ul>
  <noscript><p>Enable JavaScript to see the features.</p></noscript>
  <template><h2>Template heading</h2></template>
  <footer><ul><li>Copyright 2024 Acme Incorporated worldwide</li></ul></footer>
</body>
</html>"#;

    #[test]
    fn english_page_facts() {
        let facts = extract(EN_PAGE, &base());
        assert_eq!(
            facts.title.as_deref(),
            Some("Acme Widget & Co — Ship faster")
        );
        assert_eq!(
            facts.description.as_deref(),
            Some("The widget that ships itself. Really.")
        );
        assert_eq!(
            facts.headings,
            vec![
                "Acme Widget",
                "Built for speed",
                "Why teams love it",
                "Details",
                "Pricing"
            ]
        );
        assert_eq!(
            facts.features,
            vec![
                "Fast: ships in one day",
                "Secure by default with end-to-end encryption",
                "Works with the tools you already use.",
            ]
        );
        assert_eq!(facts.lang.as_deref(), Some("en"));
    }

    #[test]
    fn images_are_absolute_and_filtered() {
        let facts = extract(EN_PAGE, &base());
        assert_eq!(
            urls(&facts.images),
            vec![
                "https://shop.example.com/img/og.png",
                "https://shop.example.com/img/og-second.png",
                "https://shop.example.com/products/hero.jpg",
                "https://shop.example.com/img/card-1x.webp",
                "https://cdn.example.com/lazy.png",
            ]
        );
    }

    #[test]
    fn og_tags_and_alternates() {
        let facts = extract(EN_PAGE, &base());
        assert_eq!(
            facts.og.get("og:title").map(String::as_str),
            Some("Acme Widget")
        );
        // The first of a repeated tag, as written (the images list has them resolved).
        assert_eq!(
            facts.og.get("og:image").map(String::as_str),
            Some("/img/og.png")
        );
        assert_eq!(facts.og.get("og:type").map(String::as_str), Some("product"));
        assert_eq!(facts.og.len(), 3);
        let alternates: Vec<(&str, &str)> = facts
            .alternates
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            alternates,
            vec![
                ("ja", "https://shop.example.com/ja/products/widget"),
                ("ko", "https://shop.example.com/ko/products/widget"),
                // The bare "zh" wins over the earlier regional "zh-Hant".
                ("zh", "https://shop.example.com/zh/widget"),
            ]
        );
    }

    #[test]
    fn japanese_page() {
        let html = r#"<html lang="ja-JP"><head>
<title>ウィジェット｜公式サイト</title>
<meta property="og:description" content="毎日の仕事を、もっと速く。">
<link rel="alternate" hreflang="en-US" href="https://example.jp/en/">
<link rel="alternate" hreflang="ja" href="https://example.jp/">
</head><body>
<h1>仕事を　もっと速く</h1>
<h2>主な特長</h2>
<ul>
  <li>ワンクリックで&#x8A2D;定完了</li>
  <li>チームで   共有できる</li>
</ul>
<p>24時間365日のサポート。</p>
<h2>料金</h2>
<p>月額980円から。</p>
<img src="画像/トップ.png">
</body></html>"#;
        let facts = extract(html, &Url::parse("https://example.jp/products/").unwrap());
        assert_eq!(facts.lang.as_deref(), Some("ja"));
        assert_eq!(facts.title.as_deref(), Some("ウィジェット｜公式サイト"));
        assert_eq!(
            facts.description.as_deref(),
            Some("毎日の仕事を、もっと速く。")
        );
        // The ideographic space is whitespace: normalised to one ASCII space.
        assert_eq!(
            facts.headings,
            vec!["仕事を もっと速く", "主な特長", "料金"]
        );
        assert_eq!(
            facts.features,
            vec![
                "ワンクリックで設定完了",
                "チームで 共有できる",
                "24時間365日のサポート。"
            ]
        );
        assert_eq!(
            urls(&facts.images),
            vec!["https://example.jp/products/%E7%94%BB%E5%83%8F/%E3%83%88%E3%83%83%E3%83%97.png"]
        );
        assert_eq!(facts.alternates["en"].as_str(), "https://example.jp/en/");
        assert_eq!(facts.alternates["ja"].as_str(), "https://example.jp/");
    }

    #[test]
    fn base_href_and_fallback_features() {
        let html = r#"<html><head><base href="https://static.example.org/assets/">
<meta property="og:title" content="Gadget Pro"></head><body>
<header><ul><li>Sign in to your account now please</li></ul></header>
<main>
<h1>Gadget Pro</h1>
<ul>
<li>Charges your phone in under ten minutes</li>
<li>Fits in any pocket or bag</li>
<li>Short</li>
<li><a href="/more">A list item that is only a link</a></li>
</ul>
<img src="gadget.png" width="2" height="300">
<img src="gadget-big.png">
</main></body></html>"#;
        let facts = extract(html, &base());
        // No <title>: og:title, then h1.
        assert_eq!(facts.title.as_deref(), Some("Gadget Pro"));
        assert_eq!(facts.description, None);
        assert_eq!(facts.lang, None);
        assert_eq!(
            facts.features,
            vec![
                "Charges your phone in under ten minutes",
                "Fits in any pocket or bag"
            ]
        );
        assert_eq!(
            urls(&facts.images),
            vec!["https://static.example.org/assets/gadget-big.png"]
        );
    }

    #[test]
    fn caps_strings_and_lists() {
        let long = "word ".repeat(200);
        let mut html = format!("<title>{long}</title><ul class=\"features\">");
        for i in 0..50 {
            html.push_str(&format!(
                "<li>Feature number {i}</li><img src=\"/i{i}.png\">"
            ));
        }
        html.push_str("</ul>");
        for i in 0..30 {
            html.push_str(&format!("<h2>Heading {i}</h2>"));
        }
        let facts = extract(&html, &base());
        let title = facts.title.unwrap();
        assert!(title.chars().count() <= MAX_TEXT_CHARS, "{}", title.len());
        assert!(title.starts_with("word word"));
        assert_eq!(facts.features.len(), MAX_ITEMS);
        assert_eq!(facts.features[0], "Feature number 0");
        assert_eq!(facts.images.len(), MAX_ITEMS);
        assert_eq!(facts.headings.len(), MAX_ITEMS);
    }

    #[test]
    fn tolerates_tag_soup() {
        let facts = extract(
            "<h1>Un<b>closed <p>para</h1></div></span><li>x<<<>>&bogus;",
            &base(),
        );
        assert_eq!(
            facts.headings.first().map(String::as_str),
            Some("Unclosed para")
        );
        assert_eq!(extract("", &base()), PageFacts::default());
        // Never-closed elements: bounded depth, still readable.
        let soup = format!("{}<h1>Deep</h1>", "<div><span>".repeat(20_000));
        assert!(extract(&soup, &base()).headings.len() <= 1);
        let soup = format!("<h1>Deep{}</h1>", "<div>x".repeat(20_000));
        assert!(extract(&soup, &base()).headings[0].starts_with("Deep x x"));
    }

    #[test]
    fn language_tags() {
        assert_eq!(primary_language("ja-JP").as_deref(), Some("ja"));
        assert_eq!(primary_language(" PT_br ").as_deref(), Some("pt"));
        assert_eq!(primary_language("zh-Hans-CN").as_deref(), Some("zh"));
        assert_eq!(primary_language("x-default"), None);
        assert_eq!(primary_language(""), None);
        assert_eq!(primary_language("english"), None);
    }
}
