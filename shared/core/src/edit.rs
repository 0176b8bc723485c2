//! A video's edited script (SPEC §11): checked like a generated one before it is
//! accepted, and split into sentences for its voice track.

use crate::model::Language;
use crate::publish::MAX_SCRIPT_CHARS;
use crate::script::check_script_system;

/// Why an edited script was refused: the message of a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScriptRefused(pub String);

/// The edited script as it will be spoken: 1 to [`MAX_SCRIPT_CHARS`] characters (after
/// trimming), no control characters but line breaks, in the language's writing system
/// (the same check generated scripts pass).
pub fn check_edited_script(script: &str, language: Language) -> Result<String, ScriptRefused> {
    let text = script.trim();
    let chars = text.chars().count();
    if chars == 0 {
        return Err(ScriptRefused("script must not be empty".into()));
    }
    if chars > MAX_SCRIPT_CHARS {
        return Err(ScriptRefused(format!(
            "script must be at most {MAX_SCRIPT_CHARS} characters, got {chars}"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ScriptRefused(
            "script must not contain control characters".into(),
        ));
    }
    check_script_system(text, language).map_err(|e| ScriptRefused(format!("script: {e}")))?;
    Ok(text.to_string())
}

/// The script's sentences, for captions and the voice track: split after terminal
/// punctuation (and at line breaks), kept whole otherwise.
pub fn script_sentences(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in script.chars() {
        if c == '\n' || c == '\r' {
            push_sentence(&mut out, &mut current);
            continue;
        }
        current.push(c);
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '…') {
            push_sentence(&mut out, &mut current);
        }
    }
    push_sentence(&mut out, &mut current);
    out
}

fn push_sentence(out: &mut Vec<String>, current: &mut String) {
    let s = current.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
    current.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edited_scripts_are_checked_like_generated_ones() {
        assert_eq!(
            check_edited_script("  Try Acme today.  ", Language::En).unwrap(),
            "Try Acme today."
        );
        assert!(check_edited_script("", Language::En).is_err());
        assert!(check_edited_script("   ", Language::En).is_err());
        assert!(check_edited_script(&"a".repeat(1_501), Language::En).is_err());
        assert!(check_edited_script(&"a".repeat(1_500), Language::En).is_ok());
        // Characters, not bytes: 1,500 kana are 4,500 bytes.
        assert!(check_edited_script(&"あ".repeat(1_500), Language::Ja).is_ok());
        assert!(check_edited_script("This is English.", Language::Ja).is_err());
        assert!(check_edited_script("Acme Notesは便利です。", Language::Ja).is_ok());
        assert!(check_edited_script("bad\u{0}text", Language::En).is_err());
    }

    #[test]
    fn sentences_split_after_terminal_punctuation_and_line_breaks() {
        assert_eq!(
            script_sentences("One. Two!\nThree"),
            vec!["One.", "Two!", "Three"]
        );
        assert_eq!(
            script_sentences("便利です。使ってね"),
            vec!["便利です。", "使ってね"]
        );
        assert!(script_sentences("  ").is_empty());
    }
}
