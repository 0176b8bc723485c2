//! Media files of the embedded backend: a directory (`<data>/media/<key>`), and signed,
//! time-limited links that `reelforge serve` answers under [`LINK_PATH_PREFIX`].
//!
//! A link is `{base}/files/{key}?expires={unix seconds}&sig={hex}` where `sig` is
//! HMAC-SHA256 over `"{key}\n{expires}"` with a 32-byte secret kept in
//! `<data>/media-link.key` (created once, mode 0600, checked like the provider-secrets key). Without the secret nobody can make
//! a link, and a link stops working when it expires — the local stand-in for an S3
//! presigned GET.

use super::LocalStore;
use async_trait::async_trait;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use reelforge_core::ports::{media_key_is_valid, MediaStore, StoreError, StoreResult};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

/// Where the local server answers media links.
pub const LINK_PATH_PREFIX: &str = "/files/";

pub(super) struct MediaDir {
    root: PathBuf,
    secret: [u8; 32],
    /// `http://host:port` of the serving process, once it listens; links are relative
    /// (`/files/…`) before that.
    base_url: RwLock<String>,
}

fn io_err(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("media directory: {e}"))
}

fn invalid_key(key: &str) -> StoreError {
    StoreError::Other(format!("invalid media key {key:?}"))
}

impl MediaDir {
    pub(super) fn open(data_dir: &Path) -> StoreResult<MediaDir> {
        let root = data_dir.join("media");
        std::fs::create_dir_all(&root).map_err(io_err)?;
        Ok(MediaDir {
            root,
            secret: link_secret(&data_dir.join("media-link.key"))?,
            base_url: RwLock::new(String::new()),
        })
    }

    fn path(&self, key: &str) -> StoreResult<PathBuf> {
        if !media_key_is_valid(key) {
            return Err(invalid_key(key));
        }
        Ok(self.root.join(key))
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Reads the link secret, creating it on first use exactly like the provider-secrets key
/// (`secrets::read_or_create_key`: create-new 0600 file linked into place, an existing
/// file readable by group or others refused rather than used, a file of the wrong length
/// refused rather than silently replaced).
fn link_secret(path: &Path) -> StoreResult<[u8; 32]> {
    crate::secrets::read_or_create_key(path).map_err(|e| StoreError::Unavailable(e.to_string()))
}

impl LocalStore {
    /// Deletes rendered videos and thumbnails (`media/videos/…`) last written more than
    /// `older_than` ago: the local counterpart of the S3 lifecycle rule that expires
    /// `videos/` after the retention the operator sets. Their `file_url` links then
    /// answer 404. Returns how many files went.
    pub fn sweep_expired_videos(&self, older_than: Duration) -> std::io::Result<usize> {
        let Some(cutoff) = std::time::SystemTime::now().checked_sub(older_than) else {
            return Ok(0);
        };
        let videos = self.media.root.join("videos");
        let campaigns = match std::fs::read_dir(&videos) {
            Ok(dirs) => dirs,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for campaign in campaigns.flatten() {
            let Ok(files) = std::fs::read_dir(campaign.path()) else {
                continue;
            };
            let mut left = 0;
            for file in files.flatten() {
                let old = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < cutoff);
                if old && file.path().is_file() && std::fs::remove_file(file.path()).is_ok() {
                    removed += 1;
                } else {
                    left += 1;
                }
            }
            if left == 0 {
                let _ = std::fs::remove_dir(campaign.path());
            }
        }
        Ok(removed)
    }

    /// Links from now on start with `base_url` (`http://127.0.0.1:8080`).
    pub fn set_media_base_url(&self, base_url: &str) {
        *self.media.base_url.write().expect("lock") = base_url.trim_end_matches('/').to_string();
    }

    /// The file a valid, unexpired link names (`now_unix` in seconds), or `None`.
    pub fn resolve_media_link(
        &self,
        key: &str,
        expires: i64,
        sig: &str,
        now_unix: i64,
    ) -> Option<PathBuf> {
        if expires < now_unix || !media_key_is_valid(key) {
            return None;
        }
        let expected = self.media.signature(key, expires);
        // Constant-time comparison of the hex strings.
        let same = expected.len() == sig.len()
            && expected
                .bytes()
                .zip(sig.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then(|| self.media.root.join(key))
    }

    /// The directory media keys live under.
    pub fn media_root(&self) -> &Path {
        &self.media.root
    }
}

#[async_trait]
impl MediaStore for LocalStore {
    async fn put_media(&self, key: &str, body: Bytes, _content_type: &str) -> StoreResult<()> {
        let path = self.media.path(key)?;
        let dir = path.parent().expect("a key has a parent").to_path_buf();
        // Write beside, then rename: a reader sees the old file or the new one, whole.
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("media"),
            ulid::Ulid::generate()
        ));
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let result = std::fs::write(&tmp, &body).and_then(|()| std::fs::rename(&tmp, &path));
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Other(e.to_string()))?
        .map_err(io_err)
    }

    async fn delete_media(&self, key: &str) -> StoreResult<()> {
        let path = self.media.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn get_media(&self, key: &str) -> StoreResult<Option<Bytes>> {
        let path = self.media.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn download_url(&self, key: &str, ttl: Duration) -> StoreResult<String> {
        if !media_key_is_valid(key) {
            return Err(invalid_key(key));
        }
        let expires = chrono::Utc::now().timestamp() + ttl.as_secs() as i64;
        let sig = self.media.signature(key, expires);
        let base = self.media.base_url.read().expect("lock").clone();
        Ok(format!(
            "{base}{LINK_PATH_PREFIX}{key}?expires={expires}&sig={sig}"
        ))
    }
}
