//! Sealed provider keys with the local sealer (AES-256-GCM, key file beside the data).

use reelforge_core::styles::*;
use reelforge_local::LocalKeySealer;
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "reelforge-styles-{tag}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn voice_input(json: &str) -> VoiceProfileInput {
    serde_json::from_str(json).unwrap()
}

// ---------------------------------------------------------------------------------------
// Sealed secrets
// ---------------------------------------------------------------------------------------

const KEY: &str = "sk_live_4f1c0de5ecret9f3a";

fn sealer() -> LocalKeySealer {
    LocalKeySealer::from_key(&[7u8; 32]).unwrap()
}

#[tokio::test]
async fn sealing_round_trips_through_the_trait() {
    let s = sealer();
    let owner = SecretOwner::new("acct_1", "vp_1");
    let dyn_sealer: &dyn SecretSealer = &s;
    let sealed = dyn_sealer.seal(KEY, &owner).await.unwrap();
    assert_eq!(sealed.masked, "…9f3a");
    assert_eq!(sealed.key_id, s.key_id());
    assert_eq!(
        dyn_sealer.open(&sealed, &owner).await.unwrap().expose(),
        KEY
    );
    // Survives storage as JSON.
    let stored: SealedSecret =
        serde_json::from_str(&serde_json::to_string(&sealed).unwrap()).unwrap();
    assert_eq!(s.open_sync(&stored, &owner).unwrap().expose(), KEY);
    // Non-ASCII and empty plaintexts too.
    for p in ["", "ключ-🔑-鍵"] {
        let sealed = s.seal_sync(p, &owner).unwrap();
        assert_eq!(s.open_sync(&sealed, &owner).unwrap().expose(), p);
    }
}

#[test]
fn tampering_or_another_owner_fails_to_open() {
    let s = sealer();
    let owner = SecretOwner::new("acct_1", "vp_1");
    let sealed = s.seal_sync(KEY, &owner).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let ct = b64.decode(&sealed.ciphertext_b64).unwrap();
    assert_eq!(ct.len(), KEY.len() + 16);
    for i in [0, ct.len() / 2, ct.len() - 1] {
        let mut t = ct.clone();
        t[i] ^= 0x01;
        let tampered = SealedSecret {
            ciphertext_b64: b64.encode(&t),
            ..sealed.clone()
        };
        assert!(
            matches!(s.open_sync(&tampered, &owner), Err(SecretError::OpenFailed)),
            "byte {i}"
        );
    }
    let truncated = SealedSecret {
        ciphertext_b64: b64.encode(&ct[..ct.len() - 1]),
        ..sealed.clone()
    };
    assert!(s.open_sync(&truncated, &owner).is_err());
    let mut nonce = b64.decode(&sealed.nonce_b64).unwrap();
    assert_eq!(nonce.len(), 12);
    nonce[0] ^= 0x80;
    let other_nonce = SealedSecret {
        nonce_b64: b64.encode(&nonce),
        ..sealed.clone()
    };
    assert!(matches!(
        s.open_sync(&other_nonce, &owner),
        Err(SecretError::OpenFailed)
    ));
    for other in [
        SecretOwner::new("acct_2", "vp_1"),
        SecretOwner::new("acct_1", "vp_2"),
        SecretOwner::new("acct_1vp_1", ""),
        SecretOwner::new("", "acct_1vp_1"),
    ] {
        assert!(
            matches!(s.open_sync(&sealed, &other), Err(SecretError::OpenFailed)),
            "{other:?}"
        );
    }
    // A different key never opens it either.
    let other_key = LocalKeySealer::from_key(&[8u8; 32]).unwrap();
    assert!(other_key.open_sync(&sealed, &owner).is_err());
    // And the untouched one still does.
    assert_eq!(s.open_sync(&sealed, &owner).unwrap().expose(), KEY);
}

#[test]
fn two_seals_of_the_same_plaintext_differ() {
    let s = sealer();
    let owner = SecretOwner::new("acct_1", "vp_1");
    let a = s.seal_sync(KEY, &owner).unwrap();
    let b = s.seal_sync(KEY, &owner).unwrap();
    assert_ne!(a.nonce_b64, b.nonce_b64);
    assert_ne!(a.ciphertext_b64, b.ciphertext_b64);
    assert_eq!(a.masked, b.masked);
}

#[test]
fn masks() {
    assert_eq!(mask(KEY), "…9f3a");
    assert_eq!(mask("123456789012"), "…9012");
    assert_eq!(mask("12345678901"), "****");
    assert_eq!(mask("short"), "****");
    let s = sealer();
    let owner = SecretOwner::new("a", "b");
    assert_eq!(s.seal_sync("short-key", &owner).unwrap().masked, "****");
    // Never more than the last four characters, whatever the key's length.
    for len in 12..80 {
        let secret: String = (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let masked = mask(&secret);
        let visible: String = masked.chars().filter(|c| *c != '…').collect();
        assert!(visible.chars().count() <= 4, "{masked}");
        assert!(secret.ends_with(&visible), "{masked}");
    }
    // A record sealed when masks showed the head shows only the tail now.
    assert_eq!(
        reelforge_core::styles::secrets::shown_mask("sk_l…9f3a"),
        "…9f3a"
    );
    assert_eq!(reelforge_core::styles::secrets::shown_mask("****"), "****");
}

#[tokio::test]
async fn plaintext_never_shows_in_debug_or_json() {
    let s = sealer();
    let owner = SecretOwner::new("acct_1", "vp_1");
    let sealed = s.seal_sync(KEY, &owner).unwrap();
    let shown = [
        format!("{sealed:?}"),
        format!("{sealed:#?}"),
        serde_json::to_string(&sealed).unwrap(),
        format!("{:?}", s.open_sync(&sealed, &owner).unwrap()),
        format!("{:?}", PlainSecret::new(KEY)),
        format!("{s:?}"),
    ];
    for text in &shown {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("4f1c0de5ecret"), "{text}");
    }
    assert!(shown[0].contains("…9f3a"));
    // Through the voice profile: input, stored form and view.
    let input = voice_input(&format!(
        r#"{{"profile_name":"Main","provider_id":"elevenlabs","api_key":"{KEY}"}}"#
    ));
    assert!(!format!("{input:?}").contains(KEY));
    let stored = input.clone().seal(&s, &owner).await.unwrap();
    let view = stored.view();
    for text in [
        format!("{stored:?}"),
        serde_json::to_string(&stored).unwrap(),
        format!("{view:?}"),
        serde_json::to_string(&view).unwrap(),
    ] {
        assert!(!text.contains(KEY), "{text}");
    }
    assert_eq!(view.api_key.as_deref(), Some("…9f3a"));
    assert_eq!(view.provider_name, "ElevenLabs");
    assert_eq!(serde_json::to_value(&view).unwrap()["api_key"], "…9f3a");
    // The stored key opens for its owner only.
    let key = stored.api_key.as_ref().unwrap();
    assert_eq!(s.open_sync(key, &owner).unwrap().expose(), KEY);
    assert!(s
        .open_sync(key, &SecretOwner::new("acct_1", "vp_2"))
        .is_err());
    // An empty key is no key.
    let no_key = voice_input(r#"{"provider_id":"azure","api_key":""}"#)
        .seal(&s, &owner)
        .await
        .unwrap();
    assert_eq!(no_key.api_key, None);
    assert_eq!(no_key.view().api_key, None);
}

#[cfg(unix)]
#[tokio::test]
async fn key_file_is_created_0600_and_reused() {
    let dir = temp_dir("key");
    let path = dir.join("nested/dir/secret.key");
    let a = LocalKeySealer::from_key_file(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(std::fs::read(&path).unwrap().len(), 32);
    // No temporary files left beside it.
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
    let owner = SecretOwner::new("acct_1", "vp_1");
    let sealed = a.seal(KEY, &owner).await.unwrap();
    let b = LocalKeySealer::from_key_file(&path).unwrap();
    assert_eq!(a.key_id(), b.key_id());
    assert_eq!(b.open(&sealed, &owner).await.unwrap().expose(), KEY);
    assert!(!format!("{b:?}").contains(&hex::encode(std::fs::read(&path).unwrap())));
    // Another key file is another key.
    let c = LocalKeySealer::from_key_file(&dir.join("other.key")).unwrap();
    assert_ne!(a.key_id(), c.key_id());
    assert!(c.open(&sealed, &owner).await.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn key_file_with_loose_permissions_or_wrong_length_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("badkey");
    let path = dir.join("k");
    std::fs::write(&path, [1u8; 32]).unwrap();
    for loose in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
        let err = LocalKeySealer::from_key_file(&path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("chmod 600"), "{loose:o}: {err}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let ok = LocalKeySealer::from_key_file(&path).unwrap();
    assert_eq!(
        ok.key_id(),
        LocalKeySealer::from_key(&[1u8; 32]).unwrap().key_id()
    );
    for len in [0usize, 31, 33, 64] {
        std::fs::write(&path, vec![1u8; len]).unwrap();
        let err = LocalKeySealer::from_key_file(&path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly 32 bytes"), "{len}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn racing_creators_share_one_key() {
    let dir = temp_dir("race");
    let path = dir.join("k");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    LocalKeySealer::from_key_file(&path)
                        .unwrap()
                        .key_id()
                        .to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert_eq!(mode(&path), 0o600);
    std::fs::remove_dir_all(&dir).unwrap();
}
