//! The local (deterministic) script writer.
//!
//! From a page in the requested language (its hreflang alternate, or the page itself): the
//! hook is the product name and the page's description, the three points are the page's
//! feature lines (then its headings, then the rest of its description), each cut to a
//! speakable length, and the call to action is built-in phrasing in that language.
//!
//! With no page in the requested language it writes built-in localized phrasing around
//! the page's names only (the product name, and short feature names already in the
//! language's script): nothing of the page's prose is carried into another language, and
//! the script says so ([`ScriptSource::LocalizedTemplate`]).
//!
//! No network, no randomness, no clock: the same request gives the same script.

use reelforge_core::model::Language;
use reelforge_core::page::PageFacts;
use reelforge_core::script::{
    check_sentences, estimated_speech_seconds, fits_script_system, is_unspaced, language_name,
    normalize_ws, product_name, source_facts, LetterCounts, Script, ScriptError, ScriptRequest,
    ScriptSource, ScriptWriter,
};

/// Deterministic local writer (no network, no randomness: same input, same script).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalWriter;

#[async_trait::async_trait]
impl ScriptWriter for LocalWriter {
    async fn write(&self, req: &ScriptRequest<'_>) -> Result<Script, ScriptError> {
        compose(req)
    }
}

/// Longest hook (name and the page's description), in seconds of speech.
const HOOK_SECONDS: f64 = 12.0;
/// Longest point, in seconds of speech.
const POINT_SECONDS: f64 = 8.5;
/// A script shorter than this takes more of the page's lines into its points, then the
/// longer call to action.
const TARGET_SECONDS: f64 = 30.0;
/// Those additions stop here (the longest hook, points and call to action also stay under
/// it, well inside the 50-second ceiling).
const MAX_SECONDS: f64 = 42.0;
/// Template feature names: short names only, never sentences.
const MAX_FEATURE_NAME_WORDS: usize = 3;
const MAX_FEATURE_NAME_CHARS: usize = 30;
const MAX_FEATURE_NAMES: usize = 3;

fn compose(req: &ScriptRequest<'_>) -> Result<Script, ScriptError> {
    let (facts, same_language) = source_facts(req).ok_or(ScriptError::NothingToWrite)?;
    if same_language {
        match page_language_script(facts, req) {
            Ok(script) => return Ok(script),
            // The page said it was in this language but its text is not (a mislabelled
            // alternate, an English page tagged `ja`): say so on the video instead.
            Err(ScriptError::WrongScriptSystem { .. }) => tracing::warn!(
                language = req.language.as_str(),
                "page text is not in {}; writing the localized template instead",
                language_name(req.language)
            ),
            Err(other) => return Err(other),
        }
    }
    template_script(req)
}

// ---------------------------------------------------------------------------------------
// Built-in phrasing
// ---------------------------------------------------------------------------------------

/// Built-in sentences for one language; `{name}` is the product name, `{features}` a list
/// of short feature names.
struct Phrases {
    /// Said before the page's description: "Meet {name}."
    intro: &'static str,
    /// The hook when there is no description to use.
    hook: &'static str,
    /// The first template point when short feature names are known.
    highlights: &'static str,
    /// The template's three points; also fill a thin page's missing points.
    points: [&'static str; 3],
    cta: &'static str,
    /// The call to action of a short script.
    cta_long: &'static str,
    list_separator: &'static str,
    list_last: &'static str,
}

fn phrases(language: Language) -> &'static Phrases {
    match language {
        Language::En => &Phrases {
            intro: "Meet {name}.",
            hook: "Meet {name}, and take a quick look at what it has to offer you.",
            highlights: "Highlights of {name} include {features}.",
            points: [
                "{name} brings its most important features together in one place.",
                "Take a moment to imagine how it could fit into your everyday life.",
                "You can find all the details on the {name} website, whenever you are ready.",
            ],
            cta: "Try {name} today.",
            cta_long: "Try {name} today and see the difference for yourself.",
            list_separator: ", ",
            list_last: " and ",
        },
        Language::Ja => &Phrases {
            intro: "今日ご紹介するのは{name}です。",
            hook: "今日ご紹介するのは{name}です。何ができるのか、さっそく見ていきましょう。",
            highlights: "{name}の注目ポイントは、{features}です。",
            points: [
                "{name}は、大切な機能をひとつにまとめています。",
                "毎日の暮らしや仕事にどうなじむか、ぜひイメージしてみてください。",
                "くわしい内容は、{name}のウェブサイトでいつでも確認できます。",
            ],
            cta: "{name}を今すぐお試しください。",
            cta_long: "{name}を今すぐお試しください。その違いを、ぜひ実感してください。",
            list_separator: "、",
            list_last: "、",
        },
        // Only particles that do not change with the name's last sound (의, 에서, 입니다).
        Language::Ko => &Phrases {
            intro: "오늘 소개할 주인공은 {name}입니다.",
            hook: "오늘 소개할 주인공은 {name}입니다. 무엇을 할 수 있는지 함께 살펴보세요.",
            highlights: "{name}의 주요 특징은 {features}입니다.",
            points: [
                "{name}의 핵심 기능이 한곳에 모여 있습니다.",
                "일상과 업무에 어떻게 어울릴지 한번 떠올려 보세요.",
                "자세한 내용은 {name}의 웹사이트에서 언제든지 확인하실 수 있습니다.",
            ],
            cta: "지금 바로 {name}의 기능을 직접 체험해 보세요.",
            cta_long: "지금 바로 {name}의 기능을 직접 체험해 보세요. 그 차이를 직접 느끼실 수 있습니다.",
            list_separator: ", ",
            list_last: ", ",
        },
        Language::Zh => &Phrases {
            intro: "今天为您介绍{name}。",
            hook: "今天为您介绍{name}，一起来看看它能为您带来什么。",
            highlights: "{name}的亮点包括{features}。",
            points: [
                "{name}把最重要的功能集中在一个地方。",
                "不妨想一想，它会如何融入您的日常生活和工作。",
                "更多详细信息，请随时访问{name}的网站。",
            ],
            cta: "立即试用{name}。",
            cta_long: "立即试用{name}，亲自感受它带来的不同。",
            list_separator: "、",
            list_last: "和",
        },
        Language::Es => &Phrases {
            intro: "Te presentamos {name}.",
            hook: "Te presentamos {name}: echa un vistazo rápido a todo lo que puede ofrecerte.",
            highlights: "Entre los puntos fuertes de {name} están {features}.",
            points: [
                "{name} reúne sus funciones más importantes en un solo lugar.",
                "Tómate un momento para imaginar cómo podría encajar en tu día a día.",
                "Encontrarás todos los detalles en el sitio web de {name}, cuando quieras.",
            ],
            cta: "Prueba {name} hoy mismo.",
            cta_long: "Prueba {name} hoy mismo y descubre la diferencia por ti mismo.",
            list_separator: ", ",
            list_last: " y ",
        },
        // No "de {name}": French elides it before a vowel ("d'Acme").
        Language::Fr => &Phrases {
            intro: "Découvrez {name}.",
            hook: "Découvrez {name} et jetez un coup d'œil rapide à tout ce que vous y trouverez.",
            highlights: "Parmi ses points forts : {features}.",
            points: [
                "{name} réunit ses fonctions essentielles en un seul endroit.",
                "Prenez un instant pour imaginer comment {name} pourrait s'intégrer à votre quotidien.",
                "Retrouvez tous les détails sur le site {name}, quand vous le souhaitez.",
            ],
            cta: "Essayez {name} dès aujourd'hui.",
            cta_long: "Essayez {name} dès aujourd'hui et constatez la différence par vous-même.",
            list_separator: ", ",
            list_last: " et ",
        },
        Language::De => &Phrases {
            intro: "Das ist {name}.",
            hook: "Lernen Sie {name} kennen – hier ist ein kurzer Überblick über das Angebot.",
            highlights: "Zu den Highlights von {name} gehören {features}.",
            points: [
                "{name} vereint die wichtigsten Funktionen an einem Ort.",
                "Stellen Sie sich einen Moment lang vor, wie {name} in Ihren Alltag passen könnte.",
                "Alle Details finden Sie jederzeit auf der Website von {name}.",
            ],
            cta: "Probieren Sie {name} noch heute aus.",
            cta_long: "Probieren Sie {name} noch heute aus und überzeugen Sie sich selbst.",
            list_separator: ", ",
            list_last: " und ",
        },
        Language::Pt => &Phrases {
            intro: "Conheça {name}.",
            hook: "Conheça {name} e veja rapidamente tudo o que você vai encontrar.",
            highlights: "Entre os destaques de {name} estão {features}.",
            points: [
                "{name} reúne as funções mais importantes em um só lugar.",
                "Reserve um momento para imaginar como {name} pode se encaixar no seu dia a dia.",
                "Você encontra todos os detalhes no site de {name}, quando quiser.",
            ],
            cta: "Experimente {name} hoje mesmo.",
            cta_long: "Experimente {name} hoje mesmo e veja a diferença com os seus próprios olhos.",
            list_separator: ", ",
            list_last: " e ",
        },
    }
}

fn fill(phrase: &str, name: &str) -> String {
    phrase.replace("{name}", name)
}

fn list(items: &[String], phrases: &Phrases) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!(
            "{}{}{}",
            init.join(phrases.list_separator),
            phrases.list_last,
            last
        ),
    }
}

// ---------------------------------------------------------------------------------------
// From a page in the language
// ---------------------------------------------------------------------------------------

fn page_language_script(facts: &PageFacts, req: &ScriptRequest<'_>) -> Result<Script, ScriptError> {
    let language = req.language;
    let ph = phrases(language);
    let name =
        product_name(&[facts, req.page], req.title, language).ok_or(ScriptError::NothingToWrite)?;
    let raw_description = facts
        .description
        .as_deref()
        .or(facts.og.get("og:description").map(String::as_str))
        .map(normalize_ws)
        .filter(|d| !d.is_empty());
    let description = raw_description
        .as_deref()
        .filter(|d| fits_script_system(d, language))
        .map(split_sentences)
        .unwrap_or_default();

    let hook = match description.first() {
        Some(first) if key(first).contains(&key(&name)) => {
            trim_to_seconds(first, language, HOOK_SECONDS)
        }
        Some(first) => {
            let intro = fill(ph.intro, &name);
            let room = HOOK_SECONDS - estimated_speech_seconds(&intro, language);
            join(&intro, &trim_to_seconds(first, language, room), language)
        }
        None => fill(ph.hook, &name),
    };

    // The page's lines in this language, best first, each cut to a point's length, without
    // repeats of the name, the hook or each other.
    let headings = facts
        .headings
        .iter()
        .filter(|h| is_point_heading(h, &name, facts));
    let candidates = facts
        .features
        .iter()
        .chain(headings)
        .chain(description.iter().skip(1));
    let mut lines: Vec<String> = Vec::new();
    for candidate in candidates {
        let candidate = normalize_ws(candidate);
        if !fits_script_system(&candidate, language) {
            continue;
        }
        let line = trim_to_seconds(&candidate, language, POINT_SECONDS);
        let k = key(&line);
        let repeated = k.is_empty()
            || k == key(&name)
            || key(&hook).contains(&k)
            || lines.iter().any(|p| {
                let p = key(p);
                p.contains(&k) || k.contains(&p)
            });
        if !repeated && fits_script_system(&line, language) {
            lines.push(line);
        }
    }

    // Text on the page, none of it usable in this language: the page is not in this
    // language whatever it declares.
    let foreign_text = raw_description
        .iter()
        .chain(&facts.features)
        .chain(&facts.headings)
        .any(|t| !t.trim().is_empty() && !fits_script_system(t, language));
    if description.is_empty() && lines.is_empty() && foreign_text {
        return Err(ScriptError::WrongScriptSystem { language });
    }

    let mut spare = lines.split_off(lines.len().min(3));
    let mut points = lines;
    // A thin page: built-in points around the name fill the gaps.
    for filler in &ph.points[points.len()..] {
        points.push(fill(filler, &name));
    }
    let mut sentences = vec![hook];
    sentences.extend(points);
    sentences.push(fill(ph.cta, &name));

    // A short script takes the page's remaining lines into its shortest points, as long as
    // it stays inside the cap.
    let seconds = |s: &str| estimated_speech_seconds(s, language);
    let total = |sentences: &[String]| sentences.iter().map(|s| seconds(s)).sum::<f64>();
    spare.reverse();
    while total(&sentences) < TARGET_SECONDS {
        let Some(extra) = spare.pop() else { break };
        if total(&sentences) + seconds(&extra) > MAX_SECONDS {
            continue;
        }
        let shortest = (1..4)
            .min_by(|&a, &b| seconds(&sentences[a]).total_cmp(&seconds(&sentences[b])))
            .unwrap_or(1);
        sentences[shortest] = join(&sentences[shortest], &extra, language);
    }
    if total(&sentences) < TARGET_SECONDS {
        sentences[4] = fill(ph.cta_long, &name);
    }
    check_sentences(&sentences, language)?;
    Ok(Script {
        language,
        sentences,
        source: ScriptSource::PageLanguage,
    })
}

/// Section titles that say nothing about the product.
const SECTION_HEADINGS: &[&str] = &[
    "features",
    "key features",
    "main features",
    "frequently asked questions",
    "contact us",
    "get in touch",
    "what our customers say",
    "主な機能",
    "よくある質問",
    "お問い合わせ",
    "주요 기능",
    "자주 묻는 질문",
    "常见问题",
    "主要功能",
    "preguntas frecuentes",
    "questions fréquentes",
    "foire aux questions",
    "häufig gestellte fragen",
    "perguntas frequentes",
];

/// A heading that can stand as a point: a phrase (≥ 3 words, or ≥ 5 CJK letters), not a
/// question, not a section title, not the product's name or the page title.
fn is_point_heading(heading: &str, name: &str, facts: &PageFacts) -> bool {
    let heading = normalize_ws(heading);
    let n = LetterCounts::of(&heading);
    let long_enough = heading.split_whitespace().count() >= 3 || n.kana + n.han + n.hangul >= 5;
    long_enough
        && !heading.ends_with(['?', '？'])
        && !SECTION_HEADINGS.contains(&heading.to_lowercase().as_str())
        && key(&heading) != key(name)
        && facts
            .title
            .as_deref()
            .is_none_or(|title| key(title) != key(&heading))
}

/// Text reduced to its lower-cased letters and digits, for spotting repeats.
fn key(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

// ---------------------------------------------------------------------------------------
// No page in the language: the localized template
// ---------------------------------------------------------------------------------------

fn template_script(req: &ScriptRequest<'_>) -> Result<Script, ScriptError> {
    let language = req.language;
    let ph = phrases(language);
    let facts: Vec<&PageFacts> = std::iter::once(req.page).chain(req.alternate).collect();
    let name = product_name(&facts, req.title, language).ok_or(ScriptError::NothingToWrite)?;
    let features = feature_names(req.page, &name, language);
    let first = if features.is_empty() {
        fill(ph.points[0], &name)
    } else {
        fill(ph.highlights, &name).replace("{features}", &list(&features, ph))
    };
    let sentences = vec![
        fill(ph.hook, &name),
        first,
        fill(ph.points[1], &name),
        fill(ph.points[2], &name),
        fill(ph.cta_long, &name),
    ];
    check_sentences(&sentences, language)?;
    Ok(Script {
        language,
        sentences,
        source: ScriptSource::LocalizedTemplate,
    })
}

/// The page's short feature names that are already written in `language`'s script (never
/// sentences). Chinese takes none: a kanji-only name could as well be Japanese.
fn feature_names(page: &PageFacts, name: &str, language: Language) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for feature in &page.features {
        let feature = normalize_ws(feature);
        let n = LetterCounts::of(&feature);
        let in_script = match language {
            Language::Ja => n.kana > 0 && n.kana + n.han == n.total(),
            Language::Ko => n.hangul > 0 && n.hangul == n.total(),
            Language::Zh => false,
            _ => n.latin > 0 && n.latin == n.total(),
        };
        let short = feature.split_whitespace().count() <= MAX_FEATURE_NAME_WORDS
            && feature.chars().count() <= MAX_FEATURE_NAME_CHARS
            && !feature.contains(['.', ',', '!', '?', ';', ':', '。', '、', '！', '？', '，']);
        if in_script && short && key(&feature) != key(name) && !names.contains(&feature) {
            names.push(feature);
        }
        if names.len() == MAX_FEATURE_NAMES {
            break;
        }
    }
    names
}

// ---------------------------------------------------------------------------------------
// Cutting text to a speakable length
// ---------------------------------------------------------------------------------------

fn join(first: &str, second: &str, language: Language) -> String {
    if is_unspaced(language) {
        format!("{first}{second}")
    } else {
        format!("{first} {second}")
    }
}

/// Splits text into sentences: after 。！？, and after . ! ? followed by a space and a
/// word that does not start in lower case.
fn split_sentences(text: &str) -> Vec<String> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut sentences = Vec::new();
    let mut start = 0;
    for (k, &(i, c)) in chars.iter().enumerate() {
        let boundary = match c {
            '。' | '！' | '？' => true,
            '.' | '!' | '?' => {
                let next = chars.get(k + 1).map(|&(_, n)| n);
                let after = chars[k + 1..]
                    .iter()
                    .map(|&(_, n)| n)
                    .find(|n| !n.is_whitespace());
                next.is_some_and(char::is_whitespace) && after.is_some_and(|a| !a.is_lowercase())
            }
            _ => false,
        };
        if boundary {
            let end = i + c.len_utf8();
            sentences.push(text[start..end].trim().to_string());
            start = end;
        }
    }
    sentences.push(text[start..].trim().to_string());
    sentences.retain(|s| !s.is_empty());
    sentences
}

/// Cuts text to at most `max_seconds` of speech: whole sentences when they fit, else the
/// first sentence cut at a clause boundary (a comma, 、) or, failing that, a word boundary,
/// without a dangling "and"/"the"; always ending as a sentence.
fn trim_to_seconds(text: &str, language: Language, max_seconds: f64) -> String {
    let text = normalize_ws(text);
    let fits = |s: &str| estimated_speech_seconds(s, language) <= max_seconds;
    if fits(&text) {
        return end_sentence(&text, language);
    }
    let sentences = split_sentences(&text);
    let mut kept = String::new();
    for sentence in &sentences {
        let candidate = if kept.is_empty() {
            sentence.clone()
        } else {
            join(&kept, sentence, language)
        };
        if !fits(&candidate) {
            break;
        }
        kept = candidate;
    }
    if !kept.is_empty() {
        return end_sentence(&kept, language);
    }
    let Some(first) = sentences.first() else {
        return String::new();
    };
    let cuts = cut_points(first, language);
    let fitting: Vec<(usize, bool)> = cuts
        .iter()
        .copied()
        .filter(|&(i, _)| fits(&first[..i]))
        .collect();
    let Some(&(longest, _)) = fitting.last().or(cuts.first()) else {
        return end_sentence(first, language);
    };
    let clause = fitting
        .iter()
        .rev()
        .find(|&&(i, is_clause)| is_clause && i * 2 >= longest)
        .map(|&(i, _)| i);
    let cut = clause.unwrap_or(longest);
    end_sentence(&strip_dangling(&first[..cut], language), language)
}

/// Byte offsets where a prefix of `sentence` ends cleanly, each with whether it ends a
/// clause: word ends for spaced languages, character ends (not inside a Latin word) for
/// ja and zh.
fn cut_points(sentence: &str, language: Language) -> Vec<(usize, bool)> {
    const CLAUSE_ENDS: &[char] = &[',', ';', ':', ')', '、', '，', '；', '：', '）'];
    let mut cuts = Vec::new();
    let chars: Vec<(usize, char)> = sentence.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let end = i + c.len_utf8();
        let next = chars.get(k + 1).map(|&(_, n)| n);
        if is_unspaced(language) {
            let in_word =
                c.is_ascii_alphanumeric() && next.is_some_and(|n| n.is_ascii_alphanumeric());
            if !in_word && next.is_some() && !c.is_whitespace() {
                cuts.push((end, CLAUSE_ENDS.contains(&c)));
            }
        } else if next.is_some_and(char::is_whitespace) {
            let dash_follows = chars
                .get(k + 2)
                .is_some_and(|&(_, n)| matches!(n, '–' | '—' | '('));
            cuts.push((end, CLAUSE_ENDS.contains(&c) || dash_follows));
        }
    }
    cuts
}

/// Words a cut sentence must not end on.
fn dangling_words(language: Language) -> &'static [&'static str] {
    match language {
        Language::En => &[
            "a", "an", "the", "and", "or", "but", "with", "for", "to", "of", "in", "on", "at",
            "by", "from", "your", "our", "its", "their", "that", "which", "who", "as", "so",
        ],
        Language::Es => &[
            "y", "o", "de", "del", "la", "el", "los", "las", "un", "una", "con", "para", "en",
            "por", "que", "su", "sus", "tu", "al",
        ],
        Language::Fr => &[
            "et", "ou", "de", "du", "des", "la", "le", "les", "un", "une", "avec", "pour", "en",
            "par", "que", "qui", "sur", "à", "au", "aux", "votre", "vos", "son", "sa", "ses",
        ],
        Language::De => &[
            "und", "oder", "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "mit",
            "für", "zu", "von", "im", "in", "auf", "als", "ihr", "ihre", "ihren",
        ],
        Language::Pt => &[
            "e", "ou", "de", "do", "da", "dos", "das", "o", "a", "os", "as", "um", "uma", "com",
            "para", "em", "por", "que", "no", "na", "seu", "sua",
        ],
        Language::Ja | Language::Ko | Language::Zh => &[],
    }
}

fn strip_dangling(text: &str, language: Language) -> String {
    const TRAILING: &[char] = &[
        ',', ';', ':', '-', '–', '—', '(', '（', '「', '『', '"', '\'', '/', '、', '，', '；', '：',
    ];
    let trim = |s: &str| {
        s.trim_end_matches(|c: char| c.is_whitespace() || TRAILING.contains(&c))
            .to_string()
    };
    let mut text = trim(text);
    let dangling = dangling_words(language);
    while let Some((head, last)) = text.rsplit_once(' ') {
        if !dangling.contains(&last.to_lowercase().as_str()) {
            break;
        }
        text = trim(head);
    }
    text
}

fn end_sentence(text: &str, language: Language) -> String {
    let text = text.trim();
    let terminal = |c: char| matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '…');
    let mut tail = text.chars().rev();
    let ended = match tail.next() {
        None => return String::new(),
        Some(c) if terminal(c) => true,
        Some('"' | '\'' | '”' | '’' | ')' | '」' | '』' | '）') => {
            tail.next().is_some_and(terminal)
        }
        Some(_) => false,
    };
    if ended {
        text.to_string()
    } else if is_unspaced(language) {
        format!("{text}。")
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_clause_and_ends_as_a_sentence() {
        let long = "Plan every sprint with boards, timelines and calendars, then share progress \
                    with stakeholders through automatic weekly reports that everyone on the team \
                    and outside it can read without an account";
        let cut = trim_to_seconds(long, Language::En, 8.5);
        assert!(cut.ends_with('.'), "{cut}");
        assert!(estimated_speech_seconds(&cut, Language::En) <= 8.5, "{cut}");
        assert!(
            cut.starts_with("Plan every sprint with boards, timelines and calendars"),
            "{cut}"
        );
        assert!(!cut.ends_with(" and."), "{cut}");
    }

    #[test]
    fn japanese_is_cut_after_a_comma() {
        let long = "チームのメモや資料、議事録、タスクをひとつの場所にまとめて、誰でもすぐに見つけられるようにし、\
                    さらに外部のツールとも自動で連携して最新の状態を保ちます";
        let cut = trim_to_seconds(long, Language::Ja, 8.5);
        assert!(cut.ends_with('。'), "{cut}");
        assert!(estimated_speech_seconds(&cut, Language::Ja) <= 8.5, "{cut}");
        assert!(!cut.contains("、。"), "{cut}");
    }

    #[test]
    fn whole_sentences_are_kept_when_they_fit() {
        let text = "Notes sync instantly. Everything works offline too.";
        assert_eq!(trim_to_seconds(text, Language::En, 10.0), text);
        assert_eq!(
            trim_to_seconds(text, Language::En, 2.0),
            "Notes sync instantly."
        );
    }

    #[test]
    fn sentences_split_on_terminal_punctuation_only() {
        assert_eq!(
            split_sentences("Version 2.0 is here. It is fast, e.g. really fast!"),
            vec!["Version 2.0 is here.", "It is fast, e.g. really fast!"]
        );
        assert_eq!(split_sentences("速い。簡単！"), vec!["速い。", "簡単！"]);
    }

    #[test]
    fn lists_use_the_language_conjunction() {
        let items = vec!["A".to_string(), "B".to_string(), "C".to_string()];
        assert_eq!(list(&items, phrases(Language::En)), "A, B and C");
        assert_eq!(list(&items, phrases(Language::Fr)), "A, B et C");
        assert_eq!(list(&items, phrases(Language::Zh)), "A、B和C");
    }
}
