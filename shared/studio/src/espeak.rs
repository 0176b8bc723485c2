//! The local voice engine, `espeak-ng` (Japanese spoken from its `kakasi` kana reading):
//! a WAV file plus word timings estimated from the audio (`reelforge_core::voice`).

use async_trait::async_trait;
use reelforge_core::model::Language;
use reelforge_core::styles::ProviderId;
use reelforge_core::voice::*;
use reelforge_core::voice_engine::VoiceEngine;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The engine binary, found on `PATH`.
pub const ESPEAK: &str = "espeak-ng";
const ENGINE_TIMEOUT: Duration = Duration::from_secs(120);
/// Text longer than this is refused (a ~35 s script is well under 1,000 characters).
const MAX_TEXT_BYTES: usize = 20_000;

/// The espeak-ng voice for a language.
pub fn espeak_voice(language: Language) -> &'static str {
    match language {
        Language::En => "en-us",
        Language::Ja => "ja",
        Language::Ko => "ko",
        Language::Zh => "cmn",
        Language::Es => "es",
        Language::Fr => "fr-fr",
        Language::De => "de",
        Language::Pt => "pt-br",
    }
}

/// Speaks `text` with espeak-ng into `out_wav` (16-bit mono PCM) and estimates its word
/// timings (module docs).
pub async fn speak_espeak(
    text: &str,
    language: Language,
    out_wav: &Path,
) -> Result<Speech, VoiceError> {
    speak_espeak_as(text, language, None, out_wav).await
}

/// As [`speak_espeak`], with the espeak-ng voice `voice` (a name such as `en-us+f3`)
/// instead of the language's default.
pub async fn speak_espeak_as(
    text: &str,
    language: Language,
    voice: Option<&str>,
    out_wav: &Path,
) -> Result<Speech, VoiceError> {
    if let Some(v) = voice {
        if !is_espeak_voice_name(v) {
            return Err(VoiceError::Engine(format!(
                "{v:?} is not an espeak-ng voice name"
            )));
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Err(VoiceError::EmptyText);
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(VoiceError::TextTooLong(text.len()));
    }
    let words = split_words(&text, language);
    // espeak-ng's Japanese voice reads kana only (each kanji comes out as the English
    // words "Chinese letter"), so Japanese is spoken from its kana reading; the timings
    // keep the written words for the captions.
    let spoken_words = match language {
        Language::Ja => japanese_readings(&words).await,
        _ => words.clone(),
    };
    let spoken_text = match language {
        Language::Ja => spoken_words.concat(),
        _ => text.clone(),
    };
    let voice = voice.unwrap_or(espeak_voice(language));

    // Audio and phonemes in parallel: two independent engine runs.
    let mut audio = Command::new(ESPEAK);
    audio
        .args(["-v", voice, "-b", "1", "--stdin", "-w"])
        .arg(out_wav);
    let phoneme_input = phoneme_input(&spoken_words);
    let mut phonemes = Command::new(ESPEAK);
    phonemes.args(["-v", voice, "-b", "1", "-q", "--ipa"]);
    let (audio_run, phoneme_run) = tokio::join!(
        run_engine(audio, &spoken_text),
        run_engine(phonemes, &phoneme_input)
    );
    audio_run?;

    let bytes = tokio::fs::read(out_wav).await?;
    let wav = parse_wav(&bytes)?;
    let duration = wav.duration_seconds();
    if duration <= 0.0 {
        return Err(VoiceError::Engine("it produced no audio".into()));
    }
    let ipa = phoneme_run.ok();
    let words = time_words(&words, &spoken_words, ipa.as_deref(), &wav, language);
    Ok(Speech {
        wav: out_wav.to_path_buf(),
        duration_seconds: duration,
        words,
    })
}

/// The converter from Japanese text to its hiragana reading (Debian package `kakasi`).
pub const KAKASI: &str = "kakasi";

/// Each word's hiragana reading, by `kakasi` (one line per word). Falls back to the words
/// as written, with a warning, when kakasi is missing or its lines don't line up.
async fn japanese_readings(words: &[String]) -> Vec<String> {
    let mut command = Command::new(KAKASI);
    command.args(["-JH", "-KH", "-i", "utf8", "-o", "utf8"]);
    let input: String = words.iter().map(|w| format!("{w}\n")).collect();
    match run_engine(command, &input).await {
        Ok(out) => {
            let lines: Vec<String> = out.lines().map(str::to_string).collect();
            if lines.len() == words.len() {
                return lines;
            }
            tracing::warn!(
                "kakasi's readings don't line up with the words; speaking the text as written"
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "kakasi unavailable (install the Debian package `kakasi`); Japanese kanji will be spoken badly")
        }
    }
    words.to_vec()
}

/// Runs the engine with `input` on its standard input; its standard output on success.
async fn run_engine(mut command: Command, input: &str) -> Result<String, VoiceError> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => VoiceError::NotInstalled,
        _ => VoiceError::Io(e),
    })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.as_bytes().to_vec();
    let writer = tokio::spawn(async move {
        // A write error shows up as the engine's own failure below.
        let _ = stdin.write_all(&input).await;
        let _ = stdin.shutdown().await;
    });
    let output = tokio::time::timeout(ENGINE_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| VoiceError::Engine("timed out".into()))??;
    let _ = writer.await;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(VoiceError::Engine(format!(
            "{} {}",
            output.status,
            stderr.trim().chars().take(300).collect::<String>()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The local engine: espeak-ng with estimated word timings (see `voice`).
pub struct EspeakVoice;

#[async_trait]
impl VoiceEngine for EspeakVoice {
    fn provider(&self) -> ProviderId {
        ProviderId::Espeak
    }

    async fn speak_as(
        &self,
        text: &str,
        language: Language,
        voice: Option<&str>,
        out_wav: &Path,
    ) -> Result<Speech, VoiceError> {
        speak_espeak_as(text, language, voice, out_wav).await
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

    async fn speak_and_check(text: &str, language: Language) -> Speech {
        let dir = std::env::temp_dir().join(format!("reelforge-voice-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("speech.wav");
        let speech = speak_espeak(text, language, &out).await.unwrap();
        assert_eq!(speech.wav, out);
        let wav = parse_wav(&std::fs::read(&out).unwrap()).unwrap();
        assert!(speech.duration_seconds > 0.5, "{}", speech.duration_seconds);
        assert!((wav.duration_seconds() - speech.duration_seconds).abs() < 1e-9);
        assert!(wav.rms() > 300.0, "silent audio: rms {}", wav.rms());
        check_cover(&speech.words, speech.duration_seconds);
        std::fs::remove_dir_all(&dir).unwrap();
        speech
    }

    #[tokio::test]
    async fn speaks_english() {
        let text = "Meet Acme Cloud, the fastest way to ship. Try it free today!";
        let speech = speak_and_check(text, Language::En).await;
        let texts: Vec<&str> = speech.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts.join(" "), text);
        // The first word starts near the start, the last ends near the end.
        assert!(speech.words[0].start < 0.3, "{:?}", speech.words[0]);
        assert!(speech.words.last().unwrap().end > speech.duration_seconds - 0.6);
        // The engine pauses at the full stop; the timings leave that pause out of the words.
        let ship = speech.words.iter().position(|w| w.text == "ship.").unwrap();
        let gap = speech.words[ship + 1].start - speech.words[ship].end;
        assert!(gap > 0.1, "{:?}", &speech.words[ship..ship + 2]);
    }

    #[tokio::test]
    async fn speaks_japanese() {
        let text = "こんにちは、世界。今日は良い天気です。";
        let speech = speak_and_check(text, Language::Ja).await;
        assert_eq!(
            speech
                .words
                .iter()
                .map(|w| w.text.as_str())
                .collect::<String>(),
            text
        );
    }

    /// espeak-ng gives one IPA line per word, so the phoneme weights are the ones used.
    #[tokio::test]
    async fn phonemes_line_up_with_words() {
        for (text, language) in [
            (
                "Meet Acme Cloud, the fastest way to ship in 2024. Try it free!",
                Language::En,
            ),
            ("こんにちは、世界。今日は良い天気です。", Language::Ja),
            ("我们的产品，让视频制作更简单。", Language::Zh),
            ("빠르고 간편한 동영상 제작!", Language::Ko),
            (
                "Créez des vidéos — rapidement, et sans effort.",
                Language::Fr,
            ),
        ] {
            let words = split_words(text, language);
            let input = phoneme_input(&words);
            let mut command = Command::new(ESPEAK);
            command.args(["-v", espeak_voice(language), "-b", "1", "-q", "--ipa"]);
            let ipa = run_engine(command, &input).await.unwrap();
            let weights = phoneme_weights(&words, &ipa);
            assert!(weights.is_some(), "{language}: {words:?} vs {ipa:?}");
            let weights = weights.unwrap();
            assert!(weights.iter().all(|w| *w > WORD_OVERHEAD), "{weights:?}");
        }
    }

    #[tokio::test]
    async fn empty_text_is_refused() {
        let out = std::env::temp_dir().join("reelforge-never-written.wav");
        assert!(matches!(
            speak_espeak("  \n ", Language::En, &out).await,
            Err(VoiceError::EmptyText)
        ));
    }

    #[test]
    fn every_language_has_a_voice() {
        for &language in Language::ALL {
            assert!(!espeak_voice(language).is_empty());
        }
    }
}
