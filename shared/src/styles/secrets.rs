//! Provider API keys at rest (SPEC §8): sealed with an AEAD whose associated data binds
//! the secret to its owner (account and profile), so a sealed value copied onto another
//! profile or account does not open. Only [`SealedSecret::masked`] is ever shown.
//!
//! [`SecretSealer`] is async so a KMS implementation (encryption context = the owner's
//! fields) fits beside [`LocalKeySealer`] (AES-256-GCM, key in a local 0600 file).

use async_trait::async_trait;
use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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

/// First four and last four characters around `…` (`sk_l…9f3a`); `****` for secrets
/// shorter than [`MASK_MIN_CHARS`] characters, so at least four stay hidden.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < MASK_MIN_CHARS {
        return "****".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
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

/// AES-256-GCM with a random 96-bit nonce per seal and a 32-byte key kept in a local
/// file (created 0600 with random bytes on first use).
pub struct LocalKeySealer {
    key: RandomizedNonceKey,
    key_id: String,
}

impl fmt::Debug for LocalKeySealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeySealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl LocalKeySealer {
    /// Reads the key from `path`, creating the file (mode 0600, parent directories as
    /// needed) with fresh random bytes when it does not exist. Two processes racing to
    /// create it end up with the same key. An existing file must hold exactly
    /// [`KEY_LEN`] bytes and (on Unix) be unreadable by group and others.
    pub fn from_key_file(path: &Path) -> Result<Self, SecretError> {
        let key = read_or_create_key(path)?;
        Self::from_key(&key)
    }

    pub fn from_key(key: &[u8; KEY_LEN]) -> Result<Self, SecretError> {
        let sealing =
            RandomizedNonceKey::new(&AES_256_GCM, key).map_err(|_| SecretError::InvalidKey)?;
        // A fingerprint, not the key: the first 8 bytes of a labelled hash.
        let mut h = Sha256::new();
        h.update(b"reelforge-local-key-id");
        h.update(key);
        let key_id = format!("local-{}", hex::encode(&h.finalize()[..8]));
        Ok(LocalKeySealer {
            key: sealing,
            key_id,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn seal_sync(
        &self,
        plaintext: &str,
        owner: &SecretOwner,
    ) -> Result<SealedSecret, SecretError> {
        if plaintext.len() > MAX_SECRET_LEN {
            return Err(SecretError::TooLong);
        }
        let mut buf = plaintext.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(owner.aad()), &mut buf)
            .map_err(|_| SecretError::SealFailed)?;
        Ok(SealedSecret {
            ciphertext_b64: B64.encode(&buf),
            nonce_b64: B64.encode(nonce.as_ref()),
            key_id: self.key_id.clone(),
            masked: mask(plaintext),
        })
    }

    pub fn open_sync(
        &self,
        sealed: &SealedSecret,
        owner: &SecretOwner,
    ) -> Result<PlainSecret, SecretError> {
        if sealed.key_id != self.key_id {
            return Err(SecretError::WrongKey {
                expected: self.key_id.clone(),
                found: sealed.key_id.chars().take(64).collect(),
            });
        }
        let nonce_bytes = B64
            .decode(&sealed.nonce_b64)
            .map_err(|_| SecretError::Malformed("nonce is not base64"))?;
        let nonce_arr: [u8; NONCE_LEN] = nonce_bytes
            .try_into()
            .map_err(|_| SecretError::Malformed("nonce is not 96 bits"))?;
        if sealed.ciphertext_b64.len() > 2 * MAX_SECRET_LEN {
            return Err(SecretError::Malformed("ciphertext too long"));
        }
        let mut buf = B64
            .decode(&sealed.ciphertext_b64)
            .map_err(|_| SecretError::Malformed("ciphertext is not base64"))?;
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce_arr),
                Aad::from(owner.aad()),
                &mut buf,
            )
            .map_err(|_| SecretError::OpenFailed)?;
        let text = std::str::from_utf8(plain).map_err(|_| SecretError::OpenFailed)?;
        Ok(PlainSecret::new(text))
    }
}

#[async_trait]
impl SecretSealer for LocalKeySealer {
    async fn seal(
        &self,
        plaintext: &str,
        owner: &SecretOwner,
    ) -> Result<SealedSecret, SecretError> {
        self.seal_sync(plaintext, owner)
    }

    async fn open(
        &self,
        sealed: &SealedSecret,
        owner: &SecretOwner,
    ) -> Result<PlainSecret, SecretError> {
        self.open_sync(sealed, owner)
    }
}

fn key_file_error(path: &Path, message: impl fmt::Display) -> SecretError {
    SecretError::KeyFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn read_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], SecretError> {
    if let Some(key) = read_key(path)? {
        return Ok(key);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| key_file_error(path, e))?;
    }
    let mut key = [0u8; KEY_LEN];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| key_file_error(path, "no randomness"))?;
    // Written in full to a private temporary file, then linked into place: the link
    // fails if another process got there first, and nobody ever reads a partial key.
    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::fill(&mut suffix).map_err(|_| key_file_error(path, "no randomness"))?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp-{}", hex::encode(suffix)));
    let tmp = PathBuf::from(tmp_name);
    let written = write_private(&tmp, &key).and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(path)?.ok_or_else(|| key_file_error(path, "vanished while being created"))
        }
        Err(e) => Err(key_file_error(path, e)),
    }
}

/// `Ok(None)`: no such file.
fn read_key(path: &Path) -> Result<Option<[u8; KEY_LEN]>, SecretError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(key_file_error(path, e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = file.metadata().map_err(|e| key_file_error(path, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(key_file_error(
                path,
                "readable by group or others; chmod 600 it",
            ));
        }
    }
    let mut buf = Vec::with_capacity(KEY_LEN + 1);
    file.take(KEY_LEN as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| key_file_error(path, e))?;
    let key: [u8; KEY_LEN] = buf
        .try_into()
        .map_err(|_| key_file_error(path, format!("must hold exactly {KEY_LEN} bytes")))?;
    Ok(Some(key))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    #[cfg(unix)]
    {
        // The umask may only take bits away; make sure it is exactly 0600.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_shows_at_most_eight_characters() {
        assert_eq!(mask("sk_live_0123456789f3a"), "sk_l…9f3a");
        assert_eq!(mask("abcdefghijkl"), "abcd…ijkl");
        assert_eq!(mask("abcdefghijk"), "****");
        assert_eq!(mask(""), "****");
        // Characters, not bytes.
        assert_eq!(mask("ééééxxxxyyyyzzzz"), "éééé…zzzz");
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

    #[test]
    fn wrong_key_is_reported_before_decrypting() {
        let a = LocalKeySealer::from_key(&[1; KEY_LEN]).unwrap();
        let b = LocalKeySealer::from_key(&[2; KEY_LEN]).unwrap();
        assert_ne!(a.key_id(), b.key_id());
        let owner = SecretOwner::new("acct", "vp1");
        let sealed = a.seal_sync("some-provider-key", &owner).unwrap();
        assert!(matches!(
            b.open_sync(&sealed, &owner),
            Err(SecretError::WrongKey { .. })
        ));
        // Same key id but a different key (a forged id) still fails to open.
        let forged = SealedSecret {
            key_id: b.key_id().to_string(),
            ..sealed
        };
        assert!(matches!(
            b.open_sync(&forged, &owner),
            Err(SecretError::OpenFailed)
        ));
    }

    #[test]
    fn malformed_nonce_is_refused() {
        let s = LocalKeySealer::from_key(&[3; KEY_LEN]).unwrap();
        let owner = SecretOwner::new("acct", "vp1");
        let mut sealed = s.seal_sync("some-provider-key", &owner).unwrap();
        sealed.nonce_b64 = B64.encode([0u8; 8]);
        assert!(matches!(
            s.open_sync(&sealed, &owner),
            Err(SecretError::Malformed(_))
        ));
        sealed.nonce_b64 = "***".into();
        assert!(matches!(
            s.open_sync(&sealed, &owner),
            Err(SecretError::Malformed(_))
        ));
    }

    #[test]
    fn too_long_plaintext_is_refused() {
        let s = LocalKeySealer::from_key(&[4; KEY_LEN]).unwrap();
        let owner = SecretOwner::new("acct", "vp1");
        assert!(matches!(
            s.seal_sync(&"x".repeat(MAX_SECRET_LEN + 1), &owner),
            Err(SecretError::TooLong)
        ));
        assert!(s.seal_sync(&"x".repeat(MAX_SECRET_LEN), &owner).is_ok());
    }
}
