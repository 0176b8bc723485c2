//! Provider API keys at rest (SPEC §8): sealed with an AEAD whose associated data binds
//! the secret to its owner (account and profile), so a sealed value copied onto another
//! profile or account does not open. Only [`SealedSecret::masked`] is ever shown.
//!
//! [`SecretSealer`] is async so a KMS implementation (encryption context = the owner's
//! fields) fits beside [`LocalKeySealer`] (AES-256-GCM, key in a local 0600 file).

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::path::PathBuf;

/// Length of a local key in bytes (AES-256).
pub const KEY_LEN: usize = 32;
/// Longest plaintext a sealer accepts, in bytes.
pub const MAX_SECRET_LEN: usize = 4096;
/// Secrets shorter than this (in characters) are masked as `****` entirely.
pub const MASK_MIN_CHARS: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret key file {}: {message}", .path.display())]
    KeyFile { path: PathBuf, message: String },
    #[error("secret is longer than {MAX_SECRET_LEN} bytes")]
    TooLong,
    #[error("sealed secret is malformed: {0}")]
    Malformed(&'static str),
    #[error("secret was sealed with key {found:?}, this sealer holds {expected:?}")]
    WrongKey { expected: String, found: String },
    /// Tampered ciphertext, or associated data of another owner.
    #[error("sealed secret could not be opened")]
    OpenFailed,
    #[error("secret could not be sealed")]
    SealFailed,
    #[error("secret key rejected by the cipher")]
    InvalidKey,
    /// A remote sealer (KMS) failed; the message must not contain the secret.
    #[error("secret sealer unavailable: {0}")]
    Backend(String),
}

/// Whose secret it is: the associated data of the AEAD (for KMS, its encryption context).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretOwner {
    pub account_id: String,
    pub profile_id: String,
}

impl SecretOwner {
    pub fn new(account_id: impl Into<String>, profile_id: impl Into<String>) -> Self {
        SecretOwner {
            account_id: account_id.into(),
            profile_id: profile_id.into(),
        }
    }

    /// Unambiguous associated data: a version label, then each field length-prefixed.
    pub fn aad(&self) -> Vec<u8> {
        let mut out = b"reelforge-secret-v1".to_vec();
        for field in [&self.account_id, &self.profile_id] {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }
}

/// A plaintext secret in memory (an API key as received, or as opened for a provider
/// call). `Debug` prints `****`; there is no `Display` or `Serialize`, and
/// [`PlainSecret::expose`] is the only way to the text.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainSecret(String);

impl PlainSecret {
    pub fn new(s: impl Into<String>) -> Self {
        PlainSecret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The display form: see [`mask`].
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainSecret(****)")
    }
}

impl<'de> Deserialize<'de> for PlainSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(PlainSecret)
    }
}

/// At most the last four characters after `…` (`…9f3a`); `****` for secrets shorter
/// than [`MASK_MIN_CHARS`] characters, so at least eight always stay hidden. The head is
/// never shown: many providers' keys begin with a fixed prefix, and showing it and the
/// tail together narrows what is left to guess for no benefit to the customer.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < MASK_MIN_CHARS {
        return "****".to_string();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("…{tail}")
}

/// What may be shown of a stored masked form: records sealed before masks lost their
/// head (`sk_l…9f3a`) show only `…9f3a` too.
pub fn shown_mask(masked: &str) -> String {
    match masked.rsplit_once('…') {
        Some((_, tail)) if tail.chars().count() <= 4 => format!("…{tail}"),
        _ => "****".to_string(),
    }
}

/// A secret as stored. `masked` is the only part ever shown to anyone.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// Ciphertext followed by the 16-byte tag, standard base64.
    pub ciphertext_b64: String,
    /// The 96-bit nonce, standard base64 (empty for sealers that embed their own).
    pub nonce_b64: String,
    /// Which key sealed it (`local-…` for [`LocalKeySealer`], a KMS key id otherwise).
    pub key_id: String,
    pub masked: String,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("key_id", &self.key_id)
            .field("masked", &self.masked)
            .finish_non_exhaustive()
    }
}

/// Seals and opens secrets for an owner. Async so a KMS-backed implementation fits.
#[async_trait]
pub trait SecretSealer: Send + Sync {
    async fn seal(&self, plaintext: &str, owner: &SecretOwner)
        -> Result<SealedSecret, SecretError>;
    async fn open(
        &self,
        sealed: &SealedSecret,
        owner: &SecretOwner,
    ) -> Result<PlainSecret, SecretError>;
}

/// The sealer of a deployment with no key configured: every seal and open fails, so a
/// provider key is never stored unsealed.
pub struct Unconfigured;

#[async_trait]
impl SecretSealer for Unconfigured {
    async fn seal(&self, _: &str, _: &SecretOwner) -> Result<SealedSecret, SecretError> {
        Err(SecretError::Backend("no secret key is configured".into()))
    }

    async fn open(&self, _: &SealedSecret, _: &SecretOwner) -> Result<PlainSecret, SecretError> {
        Err(SecretError::Backend("no secret key is configured".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_shows_at_most_the_last_four_characters() {
        assert_eq!(mask("sk_live_0123456789f3a"), "…9f3a");
        assert_eq!(mask("abcdefghijkl"), "…ijkl");
        assert_eq!(mask("abcdefghijk"), "****");
        assert_eq!(mask(""), "****");
        // Characters, not bytes.
        assert_eq!(mask("ééééxxxxyyyyzzzz"), "…zzzz");
    }

    #[test]
    fn aad_is_unambiguous() {
        let a = SecretOwner::new("ab", "c").aad();
        let b = SecretOwner::new("a", "bc").aad();
        assert_ne!(a, b);
    }

    #[test]
    fn plain_secret_debug_hides_the_text() {
        let s = PlainSecret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "PlainSecret(****)");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }
}
