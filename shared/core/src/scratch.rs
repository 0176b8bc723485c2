//! Scratch directories for a stage run's files on this machine (tools read and write
//! files: Chromium's screenshots, espeak-ng's audio, ffmpeg's video).

use crate::model::Stage;
use std::path::Path;
use uuid::Uuid;

/// A scratch directory for one stage run, removed when dropped:
/// `TMPDIR/reelforge-{stage}-{campaign}-{ulid}-p{pid}`. A process killed mid-stage
/// (SIGKILL, the OOM killer, a crash) cannot remove its own; the next process to start
/// a stage or a local server removes them ([`sweep_dead_scratch`]).
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn new(campaign: Uuid, stage: Stage) -> std::io::Result<Scratch> {
        sweep_dead_scratch_once();
        let dir = std::env::temp_dir().join(format!(
            "reelforge-{stage}-{campaign}-{}-p{}",
            ulid::Ulid::generate(),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The process id in a scratch directory's name, if the name is exactly one that
/// [`Scratch::new`] makes (`reelforge-{stage}-{uuid}-{ulid}-p{pid}`).
fn scratch_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("reelforge-")?;
    let (stage, rest) = rest.split_once('-')?;
    if stage.is_empty() || !stage.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let (campaign, rest) = (rest.get(..36)?, rest.get(36..)?);
    Uuid::parse_str(campaign).ok()?;
    let (ulid, pid) = rest.strip_prefix('-')?.split_once("-p")?;
    ulid::Ulid::from_string(ulid).ok()?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the scratch directories in `tmp` whose process no longer runs; returns how
/// many. Only names [`Scratch::new`] makes are touched, never this process's own or a
/// running process's; without `/proc` (not Linux) nothing is removed.
pub fn sweep_dead_scratch(tmp: &Path) -> usize {
    let proc_fs = Path::new("/proc");
    if !proc_fs.join("self").exists() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(scratch_owner) else {
            continue;
        };
        if pid == me || proc_fs.join(pid.to_string()).exists() {
            continue;
        }
        if std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// [`sweep_dead_scratch`] of `TMPDIR`, once per process: at a local server's start and
/// before a process's first stage run.
pub fn sweep_dead_scratch_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let removed = sweep_dead_scratch(&std::env::temp_dir());
        if removed > 0 {
            tracing::info!(
                removed,
                "removed scratch directories of stage runs whose process died"
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_of_dead_processes_is_swept_and_nothing_else() {
        let tmp =
            std::env::temp_dir().join(format!("reelforge-sweep-test-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&tmp).unwrap();
        // A process that has exited (and been reaped): its pid no longer runs.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let campaign = Uuid::new_v4();
        let ulid = ulid::Ulid::generate();
        let name = |stage: &str, pid: u32| format!("reelforge-{stage}-{campaign}-{ulid}-p{pid}");
        let dead_dir = tmp.join(name("render", dead));
        std::fs::create_dir_all(dead_dir.join("video")).unwrap();
        std::fs::write(dead_dir.join("video/out.mp4"), b"partial").unwrap();
        let kept = [
            name("render", std::process::id()), // this process
            name("process", 1),                 // a running process (init)
            format!("reelforge-upload-{ulid}"), // not a stage's scratch
            format!("reelforge-render-not-a-uuid-{ulid}-p{dead}"),
            format!("reelforge-render-{campaign}-{ulid}-p{dead}x"),
        ];
        for k in &kept {
            std::fs::create_dir_all(tmp.join(k)).unwrap();
        }
        assert_eq!(sweep_dead_scratch(&tmp), 1);
        assert!(!dead_dir.exists());
        for k in &kept {
            assert!(tmp.join(k).exists(), "{k} was removed");
        }
        // Scratch::new makes names the sweep recognises, owned by this process.
        let scratch = Scratch::new(campaign, Stage::Voiceover).unwrap();
        let own = scratch.path().file_name().unwrap().to_str().unwrap();
        assert_eq!(scratch_owner(own), Some(std::process::id()));
        drop(scratch);
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
