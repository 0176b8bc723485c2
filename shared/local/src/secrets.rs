//! The local secret sealer: AES-256-GCM with a key kept in a 0600 file of the data
//! directory (the aws deployment seals with KMS instead).

use async_trait::async_trait;
use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use reelforge_core::styles::secrets::*;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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

/// Reads a 32-byte key file, creating it on first use: written in full to a new private
/// file (create-new, mode 0600) and linked into place, never over an existing file; an
/// existing file must be exactly 32 bytes and unreadable by group and others. Used for the
/// provider-secrets key and the media-link key alike.
pub(crate) fn read_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], SecretError> {
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
