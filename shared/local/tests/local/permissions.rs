//! The local data directory and what is in it are the owner's only: the directory 0700,
//! the database 0600, and the media-link key written and checked like the
//! provider-secrets key (create-new 0600, refused when readable by others or of the wrong
//! length, never written through a planted file).

use reelforge_local::LocalStore;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "reelforge-perms-{tag}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_new_data_directory_is_0700_and_its_database_0600() {
    let dir = temp_dir("new");
    let store = LocalStore::open(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(store.path()), 0o600);
    for side in ["reelforge.db-wal", "reelforge.db-shm"] {
        let p = dir.join(side);
        if p.exists() {
            assert_eq!(mode(&p) & 0o077, 0, "{side}");
        }
    }
    assert_eq!(mode(&dir.join("media-link.key")), 0o600);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_existing_open_data_directory_and_database_are_tightened() {
    let dir = temp_dir("existing");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(LocalStore::open(&dir).unwrap());
    let db = dir.join("reelforge.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(LocalStore::open(&dir).unwrap());
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&db), 0o600);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_media_link_key_is_checked_like_the_provider_secrets_key() {
    // Readable by others: refused, not used.
    let dir = temp_dir("loose-key");
    drop(LocalStore::open(&dir).unwrap());
    let key = dir.join("media-link.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = LocalStore::open(&dir)
        .err()
        .expect("a loose key is refused");
    assert!(refused.to_string().contains("chmod 600"), "{refused}");
    // Of the wrong length: refused, not silently replaced (links made with it would
    // all break, and a replaced key would hide tampering).
    std::fs::write(&key, b"short").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(LocalStore::open(&dir).is_err());
    assert_eq!(std::fs::read(&key).unwrap(), b"short");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_planted_temporary_file_is_never_written_through() {
    // The old writer truncated a fixed `media-link.tmp`: a symlink planted there would
    // have had its target overwritten with the new key.
    let dir = temp_dir("planted");
    std::fs::create_dir_all(&dir).unwrap();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, b"keep me").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("media-link.tmp")).unwrap();
    let store = LocalStore::open(&dir).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert_eq!(std::fs::read(dir.join("media-link.key")).unwrap().len(), 32);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
