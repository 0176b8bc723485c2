//! Media keys: the names of stored files, safe as S3 keys and as paths under a directory.

/// Longest media key.
pub const MAX_MEDIA_KEY: usize = 512;

/// Keys are `/`-separated segments of ASCII letters, digits, `.`, `_` and `-`; no empty,
/// `.` or `..` segment, no leading `/`. Both backends refuse anything else, so a key can
/// never leave its directory or bucket prefix.
pub fn media_key_is_valid(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_MEDIA_KEY
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// Where a media profile's upload is stored (`name` is `watermark` or `end-clip`): only
/// that account's profile can name it.
pub fn upload_key(account_id: &str, profile_id: &str, name: &str, ext: &str) -> String {
    format!("uploads/{account_id}/{profile_id}/{name}.{ext}")
}

/// Every key a media profile's uploads can have (deleted with the profile).
pub fn upload_keys(account_id: &str, profile_id: &str) -> [String; 2] {
    [
        upload_key(account_id, profile_id, "watermark", "png"),
        upload_key(account_id, profile_id, "end-clip", "mp4"),
    ]
}
