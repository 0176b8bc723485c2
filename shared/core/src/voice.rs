//! Voiceover with the local TTS engine, `espeak-ng`: a WAV file plus word timings.
//!
//! # Word timings are an estimate
//!
//! The `espeak-ng` command line gives no per-word events, so the timings are **estimated**,
//! not measured:
//!
//! 1. The text is split into words: on whitespace, and for Japanese and Chinese (written
//!    without spaces) into short chunks, see [`split_words`]. Punctuation stays on the word
//!    it follows, so the words put back together give the text again.
//! 2. Each word gets a weight: the number of phonemes `espeak-ng -q --ipa` produces for it
//!    (one line per word, one extra process), or, when that isn't usable, a per-character
//!    guess ([`estimate_words`]), plus a small per-word constant.
//! 3. Only the voiced part of the WAV is used: leading and trailing silence (10 ms frames
//!    under 5 % of the loudest frame's RMS) is cut off.
//! 4. Clause punctuation (`, . ! ? ; :` and the CJK ones) makes espeak-ng pause. When the
//!    audio has at least as many inner pauses (≥ 150 ms) as the text has clause breaks, the
//!    longest ones are taken as those breaks and each clause's words are spread over its own
//!    stretch of audio; otherwise pauses are modelled as extra weight after the punctuation
//!    and the words are spread over the whole voiced span.
//!
//! The result is monotonic, never overlapping and inside `[0, duration]`. Caveats: inside a
//! clause a word's time is proportional to its phoneme count, whereas the engine's real
//! durations vary with stress and phoneme kind (errors of a word or so inside long clauses
//! are normal); numbers, abbreviations and symbols are spoken longer than they are written
//! (the phoneme pass accounts for that, the character fallback only roughly); the chunks of
//! Japanese and Chinese text are character groups, not dictionary words. Good enough for
//! caption highlighting, not for lip sync.

use crate::model::Language;
use std::path::PathBuf;

/// Inner silences at least this long are candidate clause pauses.
const MIN_PAUSE_SECONDS: f64 = 0.15;
/// Analysis frame for silence detection.
const FRAME_SECONDS: f64 = 0.01;
/// A frame is silent below this share of the loudest frame's RMS.
const SILENCE_RATIO: f64 = 0.05;

/// Weight units (≈ phonemes) every word gets on top of its own.
pub const WORD_OVERHEAD: f64 = 1.0;
/// Modelled pause after a comma-like mark, and after a sentence end, in weight units.
const PAUSE_CLAUSE: f64 = 2.5;
const PAUSE_SENTENCE: f64 = 5.0;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WordTiming {
    pub text: String,
    /// Seconds from the start of the audio.
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Speech {
    pub wav: PathBuf,
    pub duration_seconds: f64,
    /// Estimated word timings (see the module docs).
    pub words: Vec<WordTiming>,
}

#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("there is no text to speak")]
    EmptyText,
    #[error("the text to speak is too long ({0} bytes)")]
    TextTooLong(usize),
    #[error("espeak-ng is not installed (install the Debian package `espeak-ng`)")]
    NotInstalled,
    #[error("espeak-ng failed: {0}")]
    Engine(String),
    #[error("the WAV file can't be read: {0}")]
    Wav(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Whether `voice` can be an espeak-ng voice name (`en-us`, `en-us+f3`, `ja`): it is
/// passed to `-v` as one argument, never through a shell.
pub fn is_espeak_voice_name(voice: &str) -> bool {
    !voice.is_empty()
        && voice.len() <= 32
        && voice.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'_')
        })
}

/// espeak-ng's `--ipa` input for `spoken_words`: the speakable core of each word, one per
/// line (so its output has one line per word).
pub fn phoneme_input(spoken_words: &[String]) -> String {
    spoken_words
        .iter()
        .filter_map(|w| speakable_core(w))
        .map(|core| format!("{core}\n"))
        .collect()
}

/// Word timings of `words` spoken as `wav` (module docs): weights from the phonemes in
/// `ipa` (the engine's `--ipa` output for `spoken_words`) when they line up with the
/// words, else from the characters; spread over the voiced span and its clause pauses.
pub fn time_words(
    words: &[String],
    spoken_words: &[String],
    ipa: Option<&str>,
    wav: &Wav,
    language: Language,
) -> Vec<WordTiming> {
    let weights = match ipa.and_then(|out| phoneme_weights(spoken_words, out)) {
        Some(w) => w,
        None => {
            tracing::debug!("engine phonemes unusable; using character weights");
            words.iter().map(|w| char_weight(w, language)).collect()
        }
    };
    let analysis = analyse(wav);
    place_words(words, &weights, analysis.voiced, &analysis.pauses)
}

/// The pure estimate: `text`'s words spread over `[0, total]` by character weights, with
/// pauses after clause punctuation (module docs). Empty for empty text.
pub fn estimate_words(text: &str, language: Language, total: f64) -> Vec<WordTiming> {
    let words = split_words(text, language);
    let weights: Vec<f64> = words.iter().map(|w| char_weight(w, language)).collect();
    place_words(&words, &weights, (0.0, total.max(0.0)), &[])
}

// ---------------------------------------------------------------------------------------------
// Words

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CharClass {
    Han,
    Hiragana,
    Katakana,
    Hangul,
    /// Letters and digits of other scripts.
    Word,
    /// Opening brackets and quotes: they go with the next word.
    Opening,
    /// Other punctuation and symbols: they stay with the word before.
    Closing,
}

fn class(c: char) -> CharClass {
    match c as u32 {
        0x3041..=0x309F => CharClass::Hiragana,
        0x30A0..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => CharClass::Katakana,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x3005 => CharClass::Han,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => CharClass::Hangul,
        _ if c.is_alphanumeric() => CharClass::Word,
        _ if "([{「『（【〔〈《“‘¿¡".contains(c) => CharClass::Opening,
        _ => CharClass::Closing,
    }
}

fn is_cjk_text(class: CharClass) -> bool {
    matches!(
        class,
        CharClass::Han | CharClass::Hiragana | CharClass::Katakana
    )
}

/// Splits text into the words that get timings. Whitespace separates words; a
/// Japanese or Chinese run (no spaces) is cut into chunks: for Japanese where a kana run
/// ends and kanji/katakana/Latin begins (roughly "content word + particles"), for Chinese
/// every two characters; both at most [`max_chunk`] characters, and after clause punctuation.
/// Punctuation stays with the word before it (opening brackets with the one after), and
/// a token of punctuation alone joins its neighbour, so no word is unspeakable and
/// `words.concat()` equals the text without its whitespace.
pub fn split_words(text: &str, language: Language) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut pending_prefix = String::new();
    for token in text.split_whitespace() {
        let chunks = if token.chars().any(|c| is_cjk_text(class(c))) {
            split_cjk(token, language)
        } else if language == Language::Ko && token.chars().count() > 10 {
            split_fixed(token, 4)
        } else {
            vec![token.to_string()]
        };
        for chunk in chunks {
            if chunk.chars().any(|c| speakable(class(c))) {
                words.push(format!("{pending_prefix}{chunk}"));
                pending_prefix.clear();
            } else if let Some(last) = words.last_mut() {
                // Punctuation alone ("—", "!") joins the word before.
                if !last.is_empty() && needs_space(language) {
                    last.push(' ');
                }
                last.push_str(&chunk);
            } else {
                pending_prefix.push_str(&chunk);
                if needs_space(language) {
                    pending_prefix.push(' ');
                }
            }
        }
    }
    if !pending_prefix.is_empty() {
        words.push(pending_prefix.trim_end().to_string());
    }
    words
}

fn needs_space(language: Language) -> bool {
    !matches!(language, Language::Ja | Language::Zh)
}

fn speakable(class: CharClass) -> bool {
    !matches!(class, CharClass::Opening | CharClass::Closing)
}

/// The longest chunk of a space-less run, in characters.
fn max_chunk(language: Language) -> usize {
    match language {
        Language::Zh => 2,
        Language::Ja => 8,
        _ => 6,
    }
}

fn split_cjk(token: &str, language: Language) -> Vec<String> {
    let max = max_chunk(language);
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize; // speakable characters in `current`
    let mut prev: Option<CharClass> = None;
    let mut prev_char = ' ';
    for c in token.chars() {
        let cl = class(c);
        let boundary = match (prev, cl) {
            (None, _) => false,
            (_, CharClass::Closing) => false,
            (Some(CharClass::Opening), _) => false,
            (_, CharClass::Opening) => true,
            // After a clause mark (not after a closing bracket: 「リール」で is one chunk).
            (Some(CharClass::Closing), _) if pause_after(&prev_char.to_string()) > 0.0 => true,
            _ if current_len >= max => true,
            (Some(p), _) if language == Language::Zh => {
                // Chinese: Latin/digit runs apart from characters.
                (p == CharClass::Word) != (cl == CharClass::Word)
            }
            (Some(CharClass::Hiragana), CharClass::Han | CharClass::Katakana | CharClass::Word) => {
                true
            }
            (Some(CharClass::Han), CharClass::Katakana | CharClass::Word) => true,
            (Some(CharClass::Katakana), CharClass::Han | CharClass::Word) => true,
            (Some(CharClass::Word), CharClass::Han | CharClass::Katakana | CharClass::Hiragana) => {
                true
            }
            _ => false,
        };
        if boundary && !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
            current_len = 0;
        }
        current.push(c);
        if speakable(cl) {
            current_len += 1;
        }
        prev = Some(cl);
        prev_char = c;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

fn split_fixed(token: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = token.chars().collect();
    let mut chunks: Vec<String> = chars.chunks(size).map(|c| c.iter().collect()).collect();
    // Trailing punctuation alone joins the chunk before.
    if chunks.len() > 1
        && !chunks
            .last()
            .is_some_and(|c| c.chars().any(|ch| speakable(class(ch))))
    {
        let tail = chunks.pop().expect("len > 1");
        chunks.last_mut().expect("len > 0").push_str(&tail);
    }
    chunks
}

/// The part of a word espeak-ng is asked for phonemes: without surrounding punctuation.
/// `None` for a word with nothing to say.
fn speakable_core(word: &str) -> Option<&str> {
    let core = word.trim_matches(|c: char| !speakable(class(c)));
    (!core.is_empty()).then_some(core)
}

/// Per-character weight guess, in ≈ phonemes: a Latin letter ≈ 1, a digit ≈ 3 (numbers are
/// spoken long), a kana ≈ 2 (one mora), a kanji ≈ 4 (two morae), a hanzi ≈ 3 (a syllable),
/// a hangul block ≈ 2.5; plus the per-word constant.
fn char_weight(word: &str, language: Language) -> f64 {
    let letters: f64 = word
        .chars()
        .map(|c| match class(c) {
            CharClass::Hiragana | CharClass::Katakana => 2.0,
            CharClass::Han if language == Language::Ja => 4.0,
            CharClass::Han => 3.0,
            CharClass::Hangul => 2.5,
            CharClass::Word if c.is_numeric() => 3.0,
            CharClass::Word => 1.0,
            CharClass::Opening | CharClass::Closing => 0.0,
        })
        .sum();
    letters + WORD_OVERHEAD
}

/// Weights from espeak-ng's IPA output for the words' [`speakable_core`]s (one line each).
/// `None` when the lines don't line up with the words.
pub fn phoneme_weights(words: &[String], ipa: &str) -> Option<Vec<f64>> {
    let lines: Vec<&str> = ipa.lines().filter(|l| !l.trim().is_empty()).collect();
    let speakable_words = words.iter().filter(|w| speakable_core(w).is_some()).count();
    if lines.len() != speakable_words {
        return None;
    }
    let mut lines = lines.into_iter();
    let weights = words
        .iter()
        .map(|w| match speakable_core(w) {
            Some(_) => count_phonemes(lines.next().unwrap_or("")) as f64 + WORD_OVERHEAD,
            None => WORD_OVERHEAD,
        })
        .collect();
    Some(weights)
}

/// Phoneme symbols in one IPA line: letters, without stress and length marks, diacritics
/// and espeak-ng's `(en)` language-switch markers.
fn count_phonemes(ipa: &str) -> usize {
    let mut depth = 0usize;
    ipa.chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            depth == 0 && c != ')'
        })
        .filter(|&c| {
            let u = c as u32;
            !c.is_whitespace()
                && !matches!(c, 'ˈ' | 'ˌ' | 'ː' | 'ˑ' | '‿' | '-' | '_' | '|' | '\'')
                && !(0x0300..=0x036F).contains(&u) // combining diacritics
                && !(0x02B0..=0x02FF).contains(&u) // modifier letters
                && !(0x1D2C..=0x1DBF).contains(&u) // phonetic modifiers (ᵝ, ᵊ)
        })
        .count()
}

/// What the engine's pause after a word is worth, in weight units.
fn pause_after(word: &str) -> f64 {
    match word
        .trim_end_matches(['"', '\'', ')', ']', '」', '』', '）', '”', '’'])
        .chars()
        .last()
    {
        Some('.' | '!' | '?' | '。' | '！' | '？' | '…') => PAUSE_SENTENCE,
        Some(',' | ';' | ':' | '、' | '，' | '；' | '：' | '—') => PAUSE_CLAUSE,
        _ => 0.0,
    }
}

/// Spreads the words over `voiced` (start, end seconds). With at least as many measured
/// `pauses` as clause breaks, each clause gets its own stretch between pauses; otherwise
/// pauses are weights.
fn place_words(
    words: &[String],
    weights: &[f64],
    voiced: (f64, f64),
    pauses: &[(f64, f64)],
) -> Vec<WordTiming> {
    if words.is_empty() {
        return Vec::new();
    }
    let (start, end) = (voiced.0.max(0.0), voiced.1.max(voiced.0.max(0.0)));
    let breaks: Vec<usize> = (0..words.len() - 1)
        .filter(|&i| pause_after(&words[i]) > 0.0)
        .collect();
    if !breaks.is_empty() && pauses.len() >= breaks.len() {
        if let Some(timings) = place_by_clauses(words, weights, (start, end), pauses, &breaks) {
            return timings;
        }
    }
    let pauses: Vec<f64> = words.iter().map(|w| pause_after(w)).collect();
    layout(words, weights, &pauses, start, end)
}

fn place_by_clauses(
    words: &[String],
    weights: &[f64],
    (start, end): (f64, f64),
    pauses: &[(f64, f64)],
    breaks: &[usize],
) -> Option<Vec<WordTiming>> {
    // The longest inner silences are the clause pauses, in time order.
    let mut chosen: Vec<(f64, f64)> = pauses.to_vec();
    chosen.sort_by(|a, b| (b.1 - b.0).total_cmp(&(a.1 - a.0)));
    chosen.truncate(breaks.len());
    chosen.sort_by(|a, b| a.0.total_cmp(&b.0));

    let total_weight: f64 = weights.iter().sum();
    let speech_time = (end - start) - chosen.iter().map(|p| p.1 - p.0).sum::<f64>();
    if total_weight <= 0.0 || speech_time <= 0.0 {
        return None;
    }
    let mut timings = Vec::with_capacity(words.len());
    let mut first = 0usize;
    let mut seg_start = start;
    for (k, &last) in breaks
        .iter()
        .chain(std::iter::once(&(words.len() - 1)))
        .enumerate()
    {
        let seg_end = chosen.get(k).map_or(end, |p| p.0);
        let next_start = chosen.get(k).map_or(end, |p| p.1);
        let clause = first..=last;
        // A stretch far off its clause's share means the pauses didn't line up.
        let share = weights[clause.clone()].iter().sum::<f64>() / total_weight * speech_time;
        let actual = seg_end - seg_start;
        if actual <= 0.0 || actual > share * 3.0 || actual < share / 3.0 {
            return None;
        }
        let zero = vec![0.0; last + 1 - first];
        timings.extend(layout(
            &words[clause.clone()],
            &weights[clause],
            &zero,
            seg_start,
            seg_end,
        ));
        first = last + 1;
        seg_start = next_start;
    }
    Some(timings)
}

/// Words back to back from `start` to `end`, each taking its weight's share, with
/// `pauses[i]` units of silence after word `i` (not after the last).
fn layout(
    words: &[String],
    weights: &[f64],
    pauses: &[f64],
    start: f64,
    end: f64,
) -> Vec<WordTiming> {
    let n = words.len();
    let units: f64 = weights.iter().map(|w| w.max(0.0)).sum::<f64>()
        + pauses.iter().take(n.saturating_sub(1)).sum::<f64>();
    let scale = if units > 0.0 {
        (end - start) / units
    } else {
        0.0
    };
    let mut t = start;
    let mut out = Vec::with_capacity(n);
    for (i, word) in words.iter().enumerate() {
        let s = t.min(end);
        let e = if i + 1 == n {
            end
        } else {
            (s + weights[i].max(0.0) * scale).min(end)
        };
        out.push(WordTiming {
            text: word.clone(),
            start: s,
            end: e,
        });
        t = e + pauses.get(i).copied().unwrap_or(0.0) * scale;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// WAV

/// A decoded 16-bit PCM WAV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Wav {
    pub sample_rate: u32,
    pub channels: u16,
    /// Interleaved samples.
    pub samples: Vec<i16>,
}

impl Wav {
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    pub fn duration_seconds(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.frames() as f64 / f64::from(self.sample_rate)
    }

    /// Root mean square over all samples, in sample units (0–32768).
    pub fn rms(&self) -> f64 {
        rms(&self.samples)
    }
}

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// Parses a RIFF/WAVE file of 16-bit PCM (format 1, or WAVE_FORMAT_EXTENSIBLE holding it).
/// A `data` size past the end of the file (as streaming writers leave it) is read to the end.
pub fn parse_wav(bytes: &[u8]) -> Result<Wav, VoiceError> {
    let bad = |m: &str| VoiceError::Wav(m.to_string());
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut pos = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None; // (tag, channels, rate, bits)
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32_at(pos + 4) as usize;
        let body = pos + 8;
        let body_end = body.saturating_add(size).min(bytes.len());
        match id {
            b"fmt " => {
                if body_end - body < 16 {
                    return Err(bad("short fmt chunk"));
                }
                let mut tag = u16_at(body);
                if tag == 0xFFFE && body_end - body >= 26 {
                    tag = u16_at(body + 24); // the sub-format GUID's first two bytes
                }
                format = Some((tag, u16_at(body + 2), u32_at(body + 4), u16_at(body + 14)));
            }
            b"data" => {
                let (tag, channels, sample_rate, bits) =
                    format.ok_or_else(|| bad("data before fmt"))?;
                if tag != 1 || bits != 16 {
                    return Err(bad(&format!(
                        "unsupported format {tag} with {bits} bits (16-bit PCM expected)"
                    )));
                }
                if channels == 0 {
                    return Err(bad("no channels"));
                }
                let samples = bytes[body..body_end]
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                return Ok(Wav {
                    sample_rate,
                    channels,
                    samples,
                });
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
    Err(bad("no data chunk"))
}

struct Analysis {
    /// First and last voiced instant, seconds.
    voiced: (f64, f64),
    /// Inner silences of at least [`MIN_PAUSE_SECONDS`], (start, end) seconds.
    pauses: Vec<(f64, f64)>,
}

/// Finds the voiced span and the pauses inside it from 10 ms frame energies.
fn analyse(wav: &Wav) -> Analysis {
    let duration = wav.duration_seconds();
    let channels = usize::from(wav.channels.max(1));
    let frame_len = ((f64::from(wav.sample_rate) * FRAME_SECONDS) as usize).max(1) * channels;
    let energies: Vec<f64> = wav.samples.chunks(frame_len).map(rms).collect();
    let loudest = energies.iter().copied().fold(0.0, f64::max);
    if loudest <= 0.0 {
        return Analysis {
            voiced: (0.0, duration),
            pauses: Vec::new(),
        };
    }
    let threshold = loudest * SILENCE_RATIO;
    let voiced: Vec<bool> = energies.iter().map(|&e| e >= threshold).collect();
    let frame_seconds = (frame_len / channels) as f64 / f64::from(wav.sample_rate);
    let first = voiced.iter().position(|&v| v).unwrap_or(0);
    let last = voiced.iter().rposition(|&v| v).unwrap_or(voiced.len() - 1);
    let span = (
        (first as f64 * frame_seconds).min(duration),
        ((last + 1) as f64 * frame_seconds).min(duration),
    );
    let mut pauses = Vec::new();
    let mut run_start: Option<usize> = None;
    for (i, &v) in voiced.iter().enumerate().take(last + 1).skip(first) {
        match (v, run_start) {
            (false, None) => run_start = Some(i),
            (true, Some(s)) => {
                let (a, b) = (s as f64 * frame_seconds, i as f64 * frame_seconds);
                if b - a >= MIN_PAUSE_SECONDS - 1e-9 {
                    pauses.push((a, b));
                }
                run_start = None;
            }
            _ => {}
        }
    }
    Analysis {
        voiced: span,
        pauses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_cover(words: &[WordTiming], total: f64) {
        assert!(!words.is_empty());
        let mut t = 0.0;
        for w in words {
            assert!(w.start >= t - 1e-9, "{w:?} starts before {t}");
            assert!(w.end > w.start, "{w:?} is empty");
            assert!(w.end <= total + 1e-9, "{w:?} ends after {total}");
            t = w.end;
        }
    }

    #[test]
    fn english_words_and_estimate() {
        let text = "Meet Acme Cloud, the fastest way to ship. Try it free!";
        let words = estimate_words(text, Language::En, 4.0);
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "Meet", "Acme", "Cloud,", "the", "fastest", "way", "to", "ship.", "Try", "it",
                "free!"
            ]
        );
        check_cover(&words, 4.0);
        assert_eq!(words[0].start, 0.0);
        assert_eq!(words.last().unwrap().end, 4.0);
        // Longer words take longer; punctuation leaves a pause.
        let len = |i: usize| words[i].end - words[i].start;
        assert!(len(4) > len(6), "fastest vs to");
        assert!(words[8].start - words[7].end > words[3].start - words[2].end);
        assert!(words[3].start - words[2].end > 0.0);
        assert!(
            words[5].start == words[4].end,
            "no pause without punctuation"
        );
    }

    #[test]
    fn japanese_chunks_reassemble() {
        let text = "こんにちは、世界。今日は良い天気ですね！「リール」で動画を作ろう。";
        let words = split_words(text, Language::Ja);
        assert_eq!(words.concat(), text);
        assert_eq!(
            &words[..5],
            &["こんにちは、", "世界。", "今日は", "良い", "天気ですね！"]
        );
        assert!(words.contains(&"「リール」で".to_string()), "{words:?}");
        assert!(words.iter().all(|w| w.chars().count() <= 10), "{words:?}");
        let timed = estimate_words(text, Language::Ja, 6.0);
        check_cover(&timed, 6.0);
        assert_eq!(
            timed.iter().map(|w| w.text.as_str()).collect::<String>(),
            text
        );
    }

    #[test]
    fn chinese_and_korean_split() {
        let zh = "我们的产品，让视频制作更简单。";
        let words = split_words(zh, Language::Zh);
        assert_eq!(words.concat(), zh);
        assert_eq!(words[0], "我们");
        assert!(words
            .iter()
            .all(|w| w.chars().filter(|c| class(*c) == CharClass::Han).count() <= 2));
        let ko = "빠르고 간편한 동영상 제작!";
        assert_eq!(
            split_words(ko, Language::Ko),
            vec!["빠르고", "간편한", "동영상", "제작!"]
        );
    }

    #[test]
    fn punctuation_only_tokens_join_a_word() {
        assert_eq!(
            split_words("— Fast — and cheap !", Language::En),
            vec!["— Fast —", "and", "cheap !"]
        );
        assert!(split_words("   ", Language::En).is_empty());
        assert!(estimate_words("", Language::Fr, 3.0).is_empty());
        let one = estimate_words("Bonjour", Language::Fr, 1.5);
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].start, one[0].end), (0.0, 1.5));
    }

    #[test]
    fn phoneme_counting() {
        assert_eq!(count_phonemes("həlˈəʊ"), 5);
        assert_eq!(count_phonemes("(en)tʃˈaɪniːz(ja)lˈe̞tə"), 11);
        assert_eq!(count_phonemes("fˈɔːti tˈuː"), 6);
        let words = vec!["Hello,".to_string(), "—".to_string(), "world".to_string()];
        assert_eq!(
            phoneme_weights(&words, "həlˈəʊ\n\nwˈɜːld\n"),
            Some(vec![6.0, 1.0, 5.0])
        );
        assert_eq!(phoneme_weights(&words, "həlˈəʊ\n"), None);
    }

    #[test]
    fn clause_pauses_from_audio_are_used() {
        let words: Vec<String> = ["One", "two,", "three", "four."]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let weights = vec![2.0, 2.0, 3.0, 3.0];
        let timed = place_words(&words, &weights, (0.1, 3.1), &[(0.2, 0.3), (1.0, 1.5)]);
        check_cover(&timed, 3.1);
        // The longest pause (1.0–1.5) is the comma's.
        assert!((timed[1].end - 1.0).abs() < 1e-9, "{timed:?}");
        assert!((timed[2].start - 1.5).abs() < 1e-9, "{timed:?}");
        assert!((timed[0].start - 0.1).abs() < 1e-9);
        assert!((timed[3].end - 3.1).abs() < 1e-9);
        // A pause far from where the clause should end is not trusted.
        let odd = place_words(&words, &weights, (0.0, 3.0), &[(0.05, 0.3)]);
        assert!(odd[1].end > 0.5, "{odd:?}");
    }

    #[test]
    fn wav_parsing() {
        let mut bytes = Vec::new();
        let samples: Vec<i16> = (0..8000)
            .map(|i| if i % 2 == 0 { 1000 } else { -1000 })
            .collect();
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&16000u32.to_le_bytes());
        bytes.extend_from_slice(&32000u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(b"LIST");
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0]); // odd chunk + pad byte
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&u32::MAX.to_le_bytes()); // streaming writer's size
        bytes.extend_from_slice(&data);
        let wav = parse_wav(&bytes).unwrap();
        assert_eq!(wav.sample_rate, 16000);
        assert_eq!(wav.frames(), 8000);
        assert!((wav.duration_seconds() - 0.5).abs() < 1e-9);
        assert!((wav.rms() - 1000.0).abs() < 1e-6);
        assert!(parse_wav(b"RIFF....WAVX").is_err());
        assert!(parse_wav(&bytes[..40]).is_err());
    }
}
