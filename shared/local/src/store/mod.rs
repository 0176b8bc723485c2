//! The embedded backend: one SQLite file holds records, counters and the stage queue.
//! One connection behind a mutex serialises writers inside the process, and every
//! multi-step write is one `IMMEDIATE` transaction, so another process (the CLI beside a
//! running server) can never interleave with a read-modify-write. WAL with
//! `synchronous=NORMAL`: commits don't wait for fsync, a crash loses at most the last
//! moments of counters, never consistency.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reelforge_core::limiter::{decide, Decision};
use reelforge_core::model::{
    Account, ApiKeyRecord, Campaign, CampaignStatus, DeliveryAttempt, DeliveryState,
    IdempotencyRecord, Principal, QuotaReservation, Stage, StageMessage, WebhookEvent,
};
use reelforge_core::plans::Plan;
use reelforge_core::ports::{
    AccountStore, CampaignPage, CampaignPosition, CampaignStore, CreateOutcome, KeyStore,
    ProfileRecord, ProfileStore, StageQueue, StoreError, StoreResult, TransitionOutcome,
    WebhookStore, WindowCounters,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use uuid::Uuid;

mod accounts;
mod campaigns;
mod keys;
mod media;
mod profiles;
mod queue;
mod webhooks;
mod windows;

pub use media::LINK_PATH_PREFIX;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    plan TEXT NOT NULL,
    videos_per_month INTEGER,
    webhook_secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    previous_webhook_secret TEXT,
    previous_webhook_secret_expires_at TEXT
);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    display TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS api_keys_by_account ON api_keys(account_id, created_at);
CREATE TABLE IF NOT EXISTS campaigns (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS campaigns_by_account ON campaigns(account_id);
-- Produced-video counters per account and UTC day (`day` = '*': all time), written by
-- commit_transition (core::stats); the account overview reads these, not campaigns.
CREATE TABLE IF NOT EXISTS produced (
    account_id TEXT NOT NULL,
    day TEXT NOT NULL,
    videos INTEGER NOT NULL,
    credits INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
);
CREATE TABLE IF NOT EXISTS quota (
    account_id TEXT NOT NULL,
    period TEXT NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (account_id, period)
);
CREATE TABLE IF NOT EXISTS idempotency (
    account_id TEXT NOT NULL,
    key TEXT NOT NULL,
    doc TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE TABLE IF NOT EXISTS windows (
    key TEXT PRIMARY KEY,
    log BLOB NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS windows_by_expiry ON windows(expires_at_ms);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stage TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receives INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_by_visibility ON queue(stage, visible_at_ms);
CREATE TABLE IF NOT EXISTS webhook_events (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_events_by_campaign ON webhook_events(campaign_id, created_at_ms);
CREATE TABLE IF NOT EXISTS profiles (
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (account_id, kind, id)
);
"#;

/// A message taken from the local queue. It stays invisible until its visibility timeout
/// passes; `ack` deletes it. Unacknowledged, it comes back with `receives` + 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: i64,
    pub message: StageMessage,
    pub receives: u32,
}

/// Windows idle longer than this many admits are swept in passing.
const SWEEP_EVERY: u64 = 4096;

pub struct LocalStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    admits: AtomicU64,
    /// The checkpoint thread stops once this is dropped.
    _alive: Arc<()>,
    media: media::MediaDir,
}

/// Moves the WAL into the database file from a second connection, so the fsync a
/// checkpoint needs never happens while a request holds the store's mutex (it did, with
/// SQLite's automatic checkpoints, and showed as a 13 ms p99 under load). PASSIVE
/// checkpoints never block writers.
fn checkpoint_in_background(path: &Path, alive: Weak<()>) {
    let Ok(conn) = Connection::open(path) else {
        return;
    };
    let _ = conn.busy_timeout(Duration::from_millis(100));
    std::thread::spawn(move || {
        while alive.upgrade().is_some() {
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            std::thread::sleep(Duration::from_millis(250));
        }
    });
}

fn db_err(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(
                code.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::ReadOnly
            ) =>
        {
            StoreError::Unavailable(code.to_string())
        }
        other => StoreError::Other(other.to_string()),
    }
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Other(format!("corrupt record: {e}"))
}

fn parse_time(s: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Other(format!("corrupt time: {e}")))
}

fn parse_plan(s: &str) -> StoreResult<Plan> {
    s.parse().map_err(StoreError::Other)
}

fn encode_log(log: &[i64]) -> Vec<u8> {
    log.iter().flat_map(|t| t.to_le_bytes()).collect()
}

fn decode_log(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

/// Columns added after a store file may have been created.
fn migrate(conn: &Connection) -> StoreResult<()> {
    migrate_campaign_listing(conn)?;
    for column in [
        "previous_webhook_secret TEXT",
        "previous_webhook_secret_expires_at TEXT",
    ] {
        let name = column.split(' ').next().unwrap_or_default();
        let exists: bool = conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM pragma_table_info('accounts') WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if !exists {
            conn.execute_batch(&format!("ALTER TABLE accounts ADD COLUMN {column}"))
                .map_err(db_err)?;
        }
    }
    Ok(())
}

/// Adds one campaign's produced videos to its account's counters (its day and the
/// all-time row), inside the caller's transaction.
fn add_produced(
    conn: &Connection,
    account_id: &str,
    produced: &reelforge_core::stats::Produced,
) -> StoreResult<()> {
    for day in [produced.day.as_str(), "*"] {
        conn.prepare_cached(
            "INSERT INTO produced (account_id, day, videos, credits) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account_id, day) DO UPDATE SET
               videos = videos + excluded.videos, credits = credits + excluded.credits",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                account_id,
                day,
                produced.videos as i64,
                produced.credits as i64
            ])
        })
        .map_err(db_err)?;
    }
    Ok(())
}

/// A store made before the counters existed: count its finished campaigns once.
fn backfill_produced(conn: &Connection) -> StoreResult<()> {
    let has_counters: bool = conn
        .query_row("SELECT EXISTS(SELECT 1 FROM produced)", [], |r| r.get(0))
        .map_err(db_err)?;
    if has_counters {
        return Ok(());
    }
    let mut stmt = conn
        .prepare("SELECT doc FROM campaigns WHERE status IN ('review', 'published', 'failed')")
        .map_err(db_err)?;
    let docs = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    for doc in docs {
        let Ok(campaign) = serde_json::from_str::<Campaign>(&doc) else {
            continue;
        };
        let mut finished = campaign.clone();
        finished.status = match campaign.status {
            CampaignStatus::Published => CampaignStatus::Review,
            other => other,
        };
        if let Some(p) = reelforge_core::stats::produced_by(CampaignStatus::Rendering, &finished) {
            add_produced(conn, &campaign.account_id, &p)?;
        }
    }
    Ok(())
}

/// The listing's order (SPEC §11): `created_ns` (creation time in unix nanoseconds, set
/// by the create) and the id, indexed per account. Files from before the listing get the
/// column filled from each campaign's record.
fn migrate_campaign_listing(conn: &Connection) -> StoreResult<()> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM pragma_table_info('campaigns') WHERE name = 'created_ns')",
            [],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    if !exists {
        conn.execute_batch("ALTER TABLE campaigns ADD COLUMN created_ns INTEGER")
            .map_err(db_err)?;
    }
    let unfilled: Vec<(String, String)> = conn
        .prepare("SELECT id, doc FROM campaigns WHERE created_ns IS NULL")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(db_err)?;
    for (id, doc) in unfilled {
        let campaign: Campaign = serde_json::from_str(&doc).map_err(json_err)?;
        conn.execute(
            "UPDATE campaigns SET created_ns = ?2 WHERE id = ?1",
            params![id, created_ns(&campaign)],
        )
        .map_err(db_err)?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS campaigns_listed ON campaigns(account_id, created_ns, id)",
    )
    .map_err(db_err)
}

/// A campaign's creation time in unix nanoseconds (the listing's sort key).
fn created_ns(campaign: &Campaign) -> i64 {
    campaign
        .created_at
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX)
}

fn insert_message(conn: &Connection, message: &StageMessage, delay_secs: u32) -> StoreResult<()> {
    let body = serde_json::to_string(message).map_err(json_err)?;
    let visible = Utc::now().timestamp_millis() + i64::from(delay_secs) * 1000;
    conn.prepare_cached("INSERT INTO queue (stage, body, visible_at_ms) VALUES (?1, ?2, ?3)")
        .and_then(|mut stmt| stmt.execute(params![message.stage.as_str(), body, visible]))
        .map_err(db_err)?;
    Ok(())
}

fn event_doc(
    conn: &Connection,
    campaign_id: Uuid,
    event_id: &str,
) -> StoreResult<Option<WebhookEvent>> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM webhook_events WHERE id = ?1 AND campaign_id = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![event_id, campaign_id.to_string()], |r| r.get(0))
                .optional()
        })
        .map_err(db_err)?;
    doc.map(|d| serde_json::from_str(&d).map_err(json_err))
        .transpose()
}

fn save_event(conn: &Connection, event: &WebhookEvent) -> StoreResult<()> {
    conn.execute(
        "UPDATE webhook_events SET doc = ?2 WHERE id = ?1",
        params![event.id, serde_json::to_string(event).map_err(json_err)?],
    )
    .map_err(db_err)?;
    Ok(())
}

/// The data directory holds keys, webhook secrets and customers' files: it is made (or
/// tightened to) 0700, owner only. A shared directory with the sticky bit (`/tmp`) is
/// never chmodded; use a directory of its own.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o1000 != 0 {
            return Err(std::io::Error::other(
                "a shared directory (sticky bit, like /tmp) can't be a data directory; give it one of its own",
            ));
        }
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// The database file (and SQLite's `-wal`/`-shm` beside it, which SQLite creates with
/// the database's mode) is 0600.
fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        for p in [
            path.to_path_buf(),
            path.with_extension("db-wal"),
            path.with_extension("db-shm"),
        ] {
            match std::fs::metadata(&p) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?
                }
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl LocalStore {
    /// Opens (creating when needed) `reelforge.db` in `dir`.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        Self::open_with_busy_timeout(dir, Duration::from_secs(2))
    }

    /// `busy_timeout`: how long a write waits for another process's lock before the
    /// store counts as unavailable (the limiter then answers 503, never a pass).
    pub fn open_with_busy_timeout(dir: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        private_dir(dir).map_err(|e| StoreError::Unavailable(format!("data dir: {e}")))?;
        let path = dir.join("reelforge.db");
        private_file(&path).map_err(|e| StoreError::Unavailable(format!("database: {e}")))?;
        let conn = Connection::open(&path).map_err(db_err)?;
        conn.busy_timeout(busy_timeout).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        // Checkpoints fsync; run them off the request path (see `checkpoint_in_background`).
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        migrate(&conn)?;
        backfill_produced(&conn)?;
        let alive = Arc::new(());
        checkpoint_in_background(&path, Arc::downgrade(&alive));
        Ok(Self {
            conn: Mutex::new(conn),
            path,
            admits: AtomicU64::new(0),
            _alive: alive,
            media: media::MediaDir::open(dir)?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (the open
        // transaction rolls back on drop), so a poisoned mutex is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}
