//! Voiceover with Amazon Polly (the AWS backend of [`VoiceEngine`]): a WAV file plus word
//! timings that, unlike the espeak-ng estimate, are measured by the engine.
//!
//! One script costs two `SynthesizeSpeech` calls, sent concurrently with the same text,
//! voice and engine:
//!
//! 1. `OutputFormat=pcm`, `SampleRate=16000`: raw signed 16-bit little-endian mono samples,
//!    wrapped here in a RIFF/WAVE header ([`pcm_to_wav`]); the duration is exactly
//!    `samples / 16000`.
//! 2. `OutputFormat=json`, `SpeechMarkTypes=[word]`: newline-delimited speech marks
//!    `{"time":ms,"type":"word","start":byte,"end":byte,"value":"..."}`
//!    ([`word_timings_from_marks`]). A word runs from its mark to the next word's mark; the
//!    last word runs to the end of the audio (trailing silence included).
//!
//! Polly synthesises the same text the same way for both calls (same voice, engine and
//! text), which is what makes the marks line up with the audio.

/// The SDK client this adapter takes.
pub use aws_sdk_polly::Client;

use async_trait::async_trait;
use aws_sdk_polly::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_polly::types::{Engine, LanguageCode, OutputFormat, SpeechMarkType, VoiceId};
use reelforge_core::model::Language;
use reelforge_core::voice::{Speech, VoiceError, WordTiming};
use reelforge_core::voice_engine::VoiceEngine;
use std::path::Path;

/// Sample rate asked of Polly for PCM (Polly offers 8000 and 16000 Hz for PCM).
pub const PCM_SAMPLE_RATE: u32 = 16_000;
/// Polly refuses a request with more billed characters than this (plain text: every
/// character is billed).
pub const MAX_BILLED_CHARACTERS: usize = 3_000;

/// Amazon Polly with the neural engine.
pub struct PollyVoice {
    client: aws_sdk_polly::Client,
}

impl PollyVoice {
    pub fn new(client: aws_sdk_polly::Client) -> Self {
        PollyVoice { client }
    }
}

/// The neural voice and language code for each language. All of these voices are offered
/// by the neural engine (Kazuha is neural-only; the others have a standard variant too).
pub fn polly_voice(language: Language) -> (VoiceId, LanguageCode) {
    match language {
        Language::En => (VoiceId::Joanna, LanguageCode::EnUs),
        Language::Ja => (VoiceId::Kazuha, LanguageCode::JaJp),
        Language::Ko => (VoiceId::Seoyeon, LanguageCode::KoKr),
        Language::Zh => (VoiceId::Zhiyu, LanguageCode::CmnCn),
        Language::Es => (VoiceId::Lucia, LanguageCode::EsEs),
        Language::Fr => (VoiceId::Lea, LanguageCode::FrFr),
        Language::De => (VoiceId::Vicki, LanguageCode::DeDe),
        Language::Pt => (VoiceId::Camila, LanguageCode::PtBr),
    }
}

#[async_trait]
impl VoiceEngine for PollyVoice {
    fn provider(&self) -> reelforge_core::styles::ProviderId {
        reelforge_core::styles::ProviderId::Polly
    }

    async fn speak_as(
        &self,
        text: &str,
        language: Language,
        voice_id: Option<&str>,
        out_wav: &Path,
    ) -> Result<Speech, VoiceError> {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return Err(VoiceError::EmptyText);
        }
        if text.chars().count() > MAX_BILLED_CHARACTERS {
            return Err(VoiceError::TextTooLong(text.len()));
        }
        let (default_voice, language_code) = polly_voice(language);
        let voice = voice_id.map_or(default_voice, VoiceId::from);
        let request = || {
            self.client
                .synthesize_speech()
                .engine(Engine::Neural)
                .voice_id(voice.clone())
                .language_code(language_code.clone())
                .text(text.as_str())
        };
        let audio = async {
            let out = request()
                .output_format(OutputFormat::Pcm)
                .sample_rate(PCM_SAMPLE_RATE.to_string())
                .send()
                .await
                .map_err(|e| provider_error("audio", e))?;
            read_body(out.audio_stream, "audio").await
        };
        let marks = async {
            let out = request()
                .output_format(OutputFormat::Json)
                .speech_mark_types(SpeechMarkType::Word)
                .send()
                .await
                .map_err(|e| provider_error("speech marks", e))?;
            read_body(out.audio_stream, "speech marks").await
        };
        let (pcm, marks) = tokio::try_join!(audio, marks)?;

        let samples = pcm.len() / 2;
        if samples == 0 {
            return Err(VoiceError::Engine("Polly returned no audio".into()));
        }
        let duration = samples as f64 / f64::from(PCM_SAMPLE_RATE);
        let marks = std::str::from_utf8(&marks)
            .map_err(|_| VoiceError::Engine("Polly speech marks are not UTF-8".into()))?;
        let words = word_timings_from_marks(marks, duration)?;
        tokio::fs::write(out_wav, pcm_to_wav(&pcm, PCM_SAMPLE_RATE)).await?;
        Ok(Speech {
            wav: out_wav.to_path_buf(),
            duration_seconds: duration,
            words,
        })
    }
}

async fn read_body(
    body: aws_sdk_polly::primitives::ByteStream,
    what: &str,
) -> Result<Vec<u8>, VoiceError> {
    body.collect()
        .await
        .map(|b| b.into_bytes().to_vec())
        .map_err(|_| VoiceError::Engine(format!("Polly {what} response was cut off")))
}

/// A short message that names the failing call and the service's error code, never the
/// request (the script text) or credentials.
fn provider_error<E, R>(what: &str, error: SdkError<E, R>) -> VoiceError
where
    E: ProvideErrorMetadata,
{
    let detail = match &error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("unknown error");
            match e.message() {
                Some(m) => format!("{code}: {}", m.chars().take(160).collect::<String>()),
                None => code.to_string(),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(_) => "could not reach the service".to_string(),
        SdkError::ResponseError(_) => "unreadable response".to_string(),
        SdkError::ConstructionFailure(_) => "request could not be built".to_string(),
        _ => "request failed".to_string(),
    };
    VoiceError::Engine(format!("Polly {what}: {detail}"))
}

/// Wraps raw signed 16-bit little-endian mono PCM in a 44-byte RIFF/WAVE header. A
/// trailing odd byte (half a sample) is dropped.
pub fn pcm_to_wav(pcm: &[u8], sample_rate: u32) -> Vec<u8> {
    // The RIFF size field is 32 bits; Polly's 3,000-character audio is far below that.
    let len = pcm.len().min((u32::MAX - 36) as usize) & !1;
    let data = &pcm[..len];
    let data_len = len as u32;
    let channels: u16 = 1;
    let bits: u16 = 16;
    let block_align = channels * bits / 8;
    let mut wav = Vec::with_capacity(44 + data.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVE");
    wav.extend_from_slice(b"fmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&channels.to_le_bytes());
    wav.extend_from_slice(&sample_rate.to_le_bytes());
    wav.extend_from_slice(&(sample_rate * u32::from(block_align)).to_le_bytes());
    wav.extend_from_slice(&block_align.to_le_bytes());
    wav.extend_from_slice(&bits.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.extend_from_slice(data);
    wav
}

#[derive(serde::Deserialize)]
struct SpeechMark {
    time: u64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: String,
}

/// Word timings from Polly's newline-delimited speech marks. Marks of other types are
/// skipped; blank lines are ignored. Each word starts at its mark and ends where the next
/// word starts; the last one ends at `duration` (seconds). Marks are put in time order
/// first and every time is clamped to `[0, duration]`, so the result is monotonic and
/// never overlapping.
pub fn word_timings_from_marks(marks: &str, duration: f64) -> Result<Vec<WordTiming>, VoiceError> {
    let mut words: Vec<(u64, String)> = Vec::new();
    for line in marks.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mark: SpeechMark = serde_json::from_str(line)
            .map_err(|_| VoiceError::Engine("Polly returned a malformed speech mark".into()))?;
        if mark.kind == "word" && !mark.value.trim().is_empty() {
            words.push((mark.time, mark.value));
        }
    }
    // Stable: words with the same time keep their order in the text.
    words.sort_by_key(|(time, _)| *time);
    let duration = duration.max(0.0);
    let at = |ms: u64| (ms as f64 / 1000.0).min(duration);
    let timings = words
        .iter()
        .enumerate()
        .map(|(i, (time, value))| {
            let start = at(*time);
            let end = words.get(i + 1).map_or(duration, |(next, _)| at(*next));
            WordTiming {
                text: value.clone(),
                start,
                end: end.max(start),
            }
        })
        .collect();
    Ok(timings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelforge_core::voice::parse_wav;

    #[test]
    fn pcm_becomes_a_wav_the_voice_module_reads() {
        let samples: Vec<i16> = (0..16_000)
            .map(|i| ((i % 100) * 300 - 15_000) as i16)
            .collect();
        let pcm: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let wav = pcm_to_wav(&pcm, 16_000);
        assert_eq!(wav.len(), 44 + pcm.len());
        let parsed = parse_wav(&wav).unwrap();
        assert_eq!(parsed.sample_rate, 16_000);
        assert_eq!(parsed.channels, 1);
        assert_eq!(parsed.samples, samples);
        assert_eq!(parsed.duration_seconds(), 1.0);
        // RIFF size = file size - 8.
        assert_eq!(
            u32::from_le_bytes([wav[4], wav[5], wav[6], wav[7]]) as usize,
            wav.len() - 8
        );
    }

    #[test]
    fn an_odd_trailing_byte_is_dropped() {
        let wav = pcm_to_wav(&[1, 0, 2, 0, 3], 16_000);
        assert_eq!(parse_wav(&wav).unwrap().samples, vec![1, 2]);
        assert_eq!(u32::from_le_bytes([wav[40], wav[41], wav[42], wav[43]]), 4);
    }

    #[test]
    fn marks_become_contiguous_word_timings() {
        let marks = r#"{"time":6,"type":"sentence","start":0,"end":22,"value":"Mary had a little lamb."}
{"time":6,"type":"word","start":0,"end":4,"value":"Mary"}
{"time":373,"type":"word","start":5,"end":8,"value":"had"}

{"time":604,"type":"word","start":9,"end":10,"value":"a"}
{"time":643,"type":"word","start":11,"end":17,"value":"little"}
{"time":882,"type":"word","start":18,"end":22,"value":"lamb"}
"#;
        let words = word_timings_from_marks(marks, 1.5).unwrap();
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["Mary", "had", "a", "little", "lamb"]);
        let starts: Vec<f64> = words.iter().map(|w| w.start).collect();
        assert_eq!(starts, [0.006, 0.373, 0.604, 0.643, 0.882]);
        for pair in words.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        assert_eq!(words.last().unwrap().end, 1.5);
    }

    #[test]
    fn out_of_order_and_late_marks_stay_monotonic_and_inside_the_audio() {
        let marks = "{\"time\":900,\"type\":\"word\",\"value\":\"b\"}\n\
                     {\"time\":100,\"type\":\"word\",\"value\":\"a\"}\n\
                     {\"time\":2500,\"type\":\"word\",\"value\":\"c\"}\n\
                     {\"time\":300,\"type\":\"viseme\",\"value\":\"p\"}";
        let words = word_timings_from_marks(marks, 2.0).unwrap();
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        assert_eq!((words[0].start, words[0].end), (0.1, 0.9));
        assert_eq!((words[1].start, words[1].end), (0.9, 2.0));
        assert_eq!((words[2].start, words[2].end), (2.0, 2.0));
    }

    #[test]
    fn malformed_marks_are_an_engine_error() {
        let err = word_timings_from_marks("{\"time\":1,\"type\":\"word\"\n", 1.0).unwrap_err();
        assert!(matches!(err, VoiceError::Engine(_)), "{err:?}");
        assert!(word_timings_from_marks("", 1.0).unwrap().is_empty());
    }

    #[test]
    fn every_language_has_a_neural_voice_in_its_own_language() {
        let expected = [
            (Language::En, "Joanna", "en-US"),
            (Language::Ja, "Kazuha", "ja-JP"),
            (Language::Ko, "Seoyeon", "ko-KR"),
            (Language::Zh, "Zhiyu", "cmn-CN"),
            (Language::Es, "Lucia", "es-ES"),
            (Language::Fr, "Lea", "fr-FR"),
            (Language::De, "Vicki", "de-DE"),
            (Language::Pt, "Camila", "pt-BR"),
        ];
        assert_eq!(expected.len(), Language::ALL.len());
        for (language, voice, code) in expected {
            let (v, c) = polly_voice(language);
            assert_eq!((v.as_str(), c.as_str()), (voice, code));
        }
    }
}
