//! The embedded backend: one SQLite file holds records, counters and the stage queue.
//! One connection behind a mutex serialises writers inside the process, and every
//! multi-step write is one `IMMEDIATE` transaction, so another process (the CLI beside a
//! running server) can never interleave with a read-modify-write. WAL with
//! `synchronous=NORMAL`: commits don't wait for fsync, a crash loses at most the last
//! moments of counters, never consistency.

use crate::limiter::{decide, Decision};
use crate::model::{
    Account, ApiKeyRecord, Campaign, CampaignStatus, DeliveryAttempt, DeliveryState,
    IdempotencyRecord, Principal, QuotaReservation, StageMessage, WebhookEvent,
};
use crate::plans::Plan;
use crate::ports::{
    AccountStore, CampaignStore, CreateOutcome, KeyStore, ProfileRecord, ProfileStore, StageQueue,
    StoreError, StoreResult, TransitionOutcome, WebhookStore, WindowCounters,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use uuid::Uuid;

mod media;
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

fn insert_message(conn: &Connection, message: &StageMessage, delay_secs: u32) -> StoreResult<()> {
    let body = serde_json::to_string(message).map_err(json_err)?;
    let visible = Utc::now().timestamp_millis() + i64::from(delay_secs) * 1000;
    conn.prepare_cached("INSERT INTO queue (stage, body, visible_at_ms) VALUES (?1, ?2, ?3)")
        .and_then(|mut stmt| stmt.execute(params![message.stage, body, visible]))
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

impl LocalStore {
    /// Takes the oldest visible message of one of `stages`, hiding it for `visibility_ms`.
    pub fn receive(&self, stages: &[&str], visibility_ms: i64) -> StoreResult<Option<Received>> {
        let now = Utc::now().timestamp_millis();
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut found = None;
        for stage in stages {
            let row: Option<(i64, String, u32)> = tx
                .prepare_cached(
                    "SELECT id, body, receives FROM queue WHERE stage = ?1 AND visible_at_ms <= ?2
                     ORDER BY visible_at_ms, id LIMIT 1",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![stage, now], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                })
                .map_err(db_err)?;
            if let Some(row) = row {
                found = Some(row);
                break;
            }
        }
        let Some((id, body, receives)) = found else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE queue SET receives = receives + 1, visible_at_ms = ?2 WHERE id = ?1",
            params![id, now + visibility_ms],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(Some(Received {
            id,
            message: serde_json::from_str(&body).map_err(json_err)?,
            receives: receives + 1,
        }))
    }

    /// Deletes a received message: its work is done.
    /// Hides a received message for another `visibility_ms` from now, only if no one has
    /// received it since (a worker still running its stage keeps its message).
    pub fn extend_visibility(&self, received: &Received, visibility_ms: i64) -> StoreResult<bool> {
        let until = Utc::now().timestamp_millis() + visibility_ms;
        let changed = self
            .conn()
            .execute(
                "UPDATE queue SET visible_at_ms = ?3 WHERE id = ?1 AND receives = ?2",
                params![received.id, received.receives, until],
            )
            .map_err(db_err)?;
        Ok(changed == 1)
    }

    /// Deletes a received message, only if no one has received it since (`receives` is
    /// the count it was received with, like an SQS receipt handle): a worker that outlived
    /// its visibility timeout can't delete the copy another worker now holds. `Ok(false)`:
    /// it was received again meanwhile, or is gone.
    pub fn ack(&self, received: &Received) -> StoreResult<bool> {
        let deleted = self
            .conn()
            .execute(
                "DELETE FROM queue WHERE id = ?1 AND receives = ?2",
                params![received.id, received.receives],
            )
            .map_err(db_err)?;
        Ok(deleted == 1)
    }

    /// When the next message of `stages` becomes visible, if any is queued.
    pub fn next_visible_at(&self, stages: &[&str]) -> StoreResult<Option<i64>> {
        let conn = self.conn();
        let mut earliest: Option<i64> = None;
        for stage in stages {
            let t: Option<i64> = conn
                .query_row(
                    "SELECT MIN(visible_at_ms) FROM queue WHERE stage = ?1",
                    [stage],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            earliest = match (earliest, t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(earliest)
    }

    /// Opens (creating when needed) `reelforge.db` in `dir`.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        Self::open_with_busy_timeout(dir, Duration::from_secs(2))
    }

    /// `busy_timeout`: how long a write waits for another process's lock before the
    /// store counts as unavailable (the limiter then answers 503, never a pass).
    pub fn open_with_busy_timeout(dir: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("data dir: {e}")))?;
        let path = dir.join("reelforge.db");
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

    /// Messages waiting in the stage queue, oldest first.
    pub fn pending_messages(&self) -> StoreResult<Vec<StageMessage>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT body FROM queue ORDER BY id")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db_err)?;
        rows.map(|r| {
            r.map_err(db_err)
                .and_then(|body| serde_json::from_str(&body).map_err(json_err))
        })
        .collect()
    }
}

#[async_trait]
impl AccountStore for LocalStore {
    async fn create_account(&self, a: &Account) -> StoreResult<()> {
        self.conn()
            .execute(
                "INSERT INTO accounts (id, name, plan, videos_per_month, webhook_secret, created_at,
                        previous_webhook_secret, previous_webhook_secret_expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    a.id,
                    a.name,
                    a.plan.as_str(),
                    a.videos_per_month,
                    a.webhook_secret,
                    a.created_at.to_rfc3339(),
                    a.previous_webhook_secret,
                    a.previous_webhook_secret_expires_at.map(|t| t.to_rfc3339()),
                ],
            )
            .map_err(db_err)?;
        Ok(())
    }

    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, name, plan, videos_per_month, webhook_secret, created_at,
                        previous_webhook_secret, previous_webhook_secret_expires_at
                 FROM accounts WHERE id = ?1",
            )
            .map_err(db_err)?;
        let row = stmt
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<u32>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })
            .optional()
            .map_err(db_err)?;
        row.map(
            |(id, name, plan, vpm, secret, created, previous, previous_until)| {
                Ok(Account {
                    id,
                    name,
                    plan: parse_plan(&plan)?,
                    videos_per_month: vpm,
                    webhook_secret: secret,
                    previous_webhook_secret: previous,
                    previous_webhook_secret_expires_at: previous_until
                        .as_deref()
                        .map(parse_time)
                        .transpose()?,
                    created_at: parse_time(&created)?,
                })
            },
        )
        .transpose()
    }

    async fn rotate_webhook_secret(
        &self,
        id: &str,
        new_secret: &str,
        previous_until: DateTime<Utc>,
    ) -> StoreResult<Account> {
        let n = self
            .conn()
            .execute(
                "UPDATE accounts SET previous_webhook_secret = webhook_secret,
                        previous_webhook_secret_expires_at = ?3, webhook_secret = ?2
                 WHERE id = ?1",
                params![id, new_secret, previous_until.to_rfc3339()],
            )
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_account(id).await?.ok_or(StoreError::NotFound)
    }

    async fn set_plan(
        &self,
        id: &str,
        plan: Plan,
        videos_per_month: Option<u32>,
    ) -> StoreResult<()> {
        let n = self
            .conn()
            .execute(
                "UPDATE accounts SET plan = ?2, videos_per_month = ?3 WHERE id = ?1",
                params![id, plan.as_str(), videos_per_month],
            )
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

fn key_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, String, String, String, Option<String>)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn key_record(
    (id, account_id, display, scopes, created, revoked): (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
    ),
) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id,
        account_id,
        display,
        scopes: serde_json::from_str(&scopes).map_err(json_err)?,
        created_at: parse_time(&created)?,
        revoked_at: revoked.as_deref().map(parse_time).transpose()?,
    })
}

#[async_trait]
impl KeyStore for LocalStore {
    async fn create_key(&self, key: &ApiKeyRecord, cap: Option<u32>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM accounts WHERE id = ?1)",
                [&key.account_id],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if !exists {
            return Err(StoreError::NotFound);
        }
        if let Some(cap) = cap {
            let active: u32 = tx
                .query_row(
                    "SELECT COUNT(*) FROM api_keys WHERE account_id = ?1 AND revoked_at IS NULL",
                    [&key.account_id],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            if active >= cap {
                return Err(StoreError::LimitReached(format!(
                    "the plan allows {cap} active keys"
                )));
            }
        }
        tx.execute(
            "INSERT INTO api_keys (id, account_id, display, scopes, created_at, revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                key.id,
                key.account_id,
                key.display,
                serde_json::to_string(&key.scopes).map_err(json_err)?,
                key.created_at.to_rfc3339(),
                key.revoked_at.map(|t| t.to_rfc3339()),
            ],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    async fn lookup_key(&self, key_hash: &str) -> StoreResult<Option<Principal>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT k.account_id, k.scopes, k.revoked_at IS NOT NULL, a.plan, a.videos_per_month
                 FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.id = ?1",
            )
            .map_err(db_err)?;
        let row = stmt
            .query_row([key_hash], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<u32>>(4)?,
                ))
            })
            .optional()
            .map_err(db_err)?;
        row.map(|(account_id, scopes, revoked, plan, vpm)| {
            Ok(Principal {
                key_id: key_hash.to_string(),
                account_id,
                plan: parse_plan(&plan)?,
                videos_per_month: vpm,
                scopes: serde_json::from_str(&scopes).map_err(json_err)?,
                revoked,
            })
        })
        .transpose()
    }

    async fn list_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, account_id, display, scopes, created_at, revoked_at
                 FROM api_keys WHERE account_id = ?1 ORDER BY created_at, id",
            )
            .map_err(db_err)?;
        let rows: Vec<_> = stmt
            .query_map([account_id], key_from_row)
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        rows.into_iter().map(key_record).collect()
    }

    async fn revoke_key(&self, key_id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let n = self
            .conn()
            .execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![key_id, at.to_rfc3339()],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }
}

#[async_trait]
impl CampaignStore for LocalStore {
    async fn create_campaign(
        &self,
        campaign: &Campaign,
        reservation: &QuotaReservation,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<CreateOutcome> {
        let doc = serde_json::to_string(campaign).map_err(json_err)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        if let Some(rec) = idempotency {
            let live: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM idempotency
                     WHERE account_id = ?1 AND key = ?2 AND expires_at_ms >= ?3)",
                    params![rec.account_id, rec.key, rec.created_at_ms],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            if live {
                return Ok(CreateOutcome::IdempotencyTaken);
            }
        }
        let used: u32 = tx
            .query_row(
                "SELECT used FROM quota WHERE account_id = ?1 AND period = ?2",
                params![reservation.account_id, reservation.period],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?
            .unwrap_or(0);
        if u64::from(used) + u64::from(reservation.videos) > u64::from(reservation.quota) {
            return Ok(CreateOutcome::QuotaExceeded { used });
        }
        tx.execute(
            "INSERT INTO quota (account_id, period, used) VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id, period) DO UPDATE SET used = used + excluded.used",
            params![
                reservation.account_id,
                reservation.period,
                reservation.videos
            ],
        )
        .map_err(db_err)?;
        tx.execute(
            "INSERT INTO campaigns (id, account_id, status, doc) VALUES (?1, ?2, ?3, ?4)",
            params![
                campaign.id.to_string(),
                campaign.account_id,
                campaign.status.as_str(),
                doc
            ],
        )
        .map_err(db_err)?;
        if let Some(rec) = idempotency {
            tx.execute(
                "INSERT OR REPLACE INTO idempotency (account_id, key, doc, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    rec.account_id,
                    rec.key,
                    serde_json::to_string(rec).map_err(json_err)?,
                    rec.expires_at_ms
                ],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(CreateOutcome::Created)
    }

    async fn commit_transition(
        &self,
        next: &Campaign,
        expected: CampaignStatus,
        refund: u32,
        event: Option<&WebhookEvent>,
    ) -> StoreResult<TransitionOutcome> {
        let read_at = next.revision.checked_sub(1).ok_or_else(|| {
            StoreError::Other("a transition carries the revision it creates".into())
        })?;
        let doc = serde_json::to_string(next).map_err(json_err)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let changed = tx
            .execute(
                "UPDATE campaigns SET status = ?2, doc = ?3 WHERE id = ?1 AND status = ?4 \
                 AND IFNULL(json_extract(doc, '$.revision'), 0) = ?5",
                params![
                    next.id.to_string(),
                    next.status.as_str(),
                    doc,
                    expected.as_str(),
                    read_at as i64
                ],
            )
            .map_err(db_err)?;
        if changed == 0 {
            let current: Option<String> = tx
                .query_row(
                    "SELECT doc FROM campaigns WHERE id = ?1",
                    [next.id.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            let current = current.ok_or(StoreError::NotFound)?;
            return Ok(TransitionOutcome::Stale(Box::new(
                serde_json::from_str(&current).map_err(json_err)?,
            )));
        }
        if refund > 0 {
            tx.execute(
                "UPDATE quota SET used = MAX(used - ?3, 0) WHERE account_id = ?1 AND period = ?2",
                params![next.account_id, next.quota_period, refund],
            )
            .map_err(db_err)?;
        }
        if let Some(event) = event {
            tx.execute(
                "INSERT INTO webhook_events (id, campaign_id, doc, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![
                    event.id,
                    event.campaign_id.to_string(),
                    serde_json::to_string(event).map_err(json_err)?,
                    event.created_at_ms
                ],
            )
            .map_err(db_err)?;
            insert_message(&tx, &StageMessage::webhook(event.campaign_id, &event.id), 0)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(TransitionOutcome::Applied)
    }

    async fn renew_lease(&self, id: Uuid, holder: &str, until_ms: i64) -> StoreResult<bool> {
        let changed = self
            .conn()
            .execute(
                "UPDATE campaigns SET doc = json_set(doc, '$.lease.until_ms', ?3) \
                 WHERE id = ?1 AND json_extract(doc, '$.lease.holder') = ?2",
                params![id.to_string(), holder, until_ms],
            )
            .map_err(db_err)?;
        Ok(changed == 1)
    }

    async fn list_campaigns(&self, account_id: &str) -> StoreResult<Vec<Campaign>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT doc FROM campaigns WHERE account_id = ?1")
            .map_err(db_err)?;
        let docs = stmt
            .query_map([account_id], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        let mut campaigns = docs
            .iter()
            .map(|d| serde_json::from_str::<Campaign>(d).map_err(json_err))
            .collect::<StoreResult<Vec<_>>>()?;
        campaigns.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(campaigns)
    }

    async fn get_campaign(&self, id: Uuid) -> StoreResult<Option<Campaign>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT doc FROM campaigns WHERE id = ?1")
            .map_err(db_err)?;
        let doc: Option<String> = stmt
            .query_row([id.to_string()], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        doc.map(|d| serde_json::from_str(&d).map_err(json_err))
            .transpose()
    }

    async fn get_idempotency(
        &self,
        account_id: &str,
        key: &str,
        now_ms: i64,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT doc FROM idempotency WHERE account_id = ?1 AND key = ?2 AND expires_at_ms >= ?3",
            )
            .map_err(db_err)?;
        let doc: Option<String> = stmt
            .query_row(params![account_id, key, now_ms], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        doc.map(|d| serde_json::from_str(&d).map_err(json_err))
            .transpose()
    }

    async fn release_idempotency(
        &self,
        account_id: &str,
        key: &str,
        campaign_id: Uuid,
    ) -> StoreResult<()> {
        self.conn()
            .execute(
                "DELETE FROM idempotency WHERE account_id = ?1 AND key = ?2
                 AND json_extract(doc, '$.campaign_id') = ?3",
                params![account_id, key, campaign_id.to_string()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    async fn quota_used(&self, account_id: &str, period: &str) -> StoreResult<u32> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT used FROM quota WHERE account_id = ?1 AND period = ?2")
            .map_err(db_err)?;
        Ok(stmt
            .query_row(params![account_id, period], |r| r.get(0))
            .optional()
            .map_err(db_err)?
            .unwrap_or(0))
    }
}

#[async_trait]
impl WindowCounters for LocalStore {
    async fn admit(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        let sweep = self.admits.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut log = {
            let mut stmt = tx
                .prepare_cached("SELECT log FROM windows WHERE key = ?1")
                .map_err(db_err)?;
            stmt.query_row([key], |r| r.get::<_, Vec<u8>>(0))
                .optional()
                .map_err(db_err)?
                .map(|b| decode_log(&b))
                .unwrap_or_default()
        };
        let decision = decide(&mut log, now_ms, limit, window_ms);
        if decision.admitted {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO windows (key, log, expires_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET log = excluded.log, expires_at_ms = excluded.expires_at_ms",
                )
                .map_err(db_err)?;
            stmt.execute(params![key, encode_log(&log), now_ms + window_ms])
                .map_err(db_err)?;
        }
        if sweep {
            tx.execute("DELETE FROM windows WHERE expires_at_ms < ?1", [now_ms])
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(decision)
    }
}

#[async_trait]
impl StageQueue for LocalStore {
    async fn send(&self, message: &StageMessage, delay_secs: u32) -> StoreResult<()> {
        insert_message(&self.conn(), message, delay_secs.min(900))
    }
}

#[async_trait]
impl WebhookStore for LocalStore {
    async fn get_event(
        &self,
        campaign_id: Uuid,
        event_id: &str,
    ) -> StoreResult<Option<WebhookEvent>> {
        event_doc(&self.conn(), campaign_id, event_id)
    }

    async fn list_events(&self, campaign_id: Uuid) -> StoreResult<Vec<WebhookEvent>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT doc FROM webhook_events WHERE campaign_id = ?1 ORDER BY created_at_ms, id",
            )
            .map_err(db_err)?;
        let docs: Vec<String> = stmt
            .query_map([campaign_id.to_string()], |r| r.get(0))
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(json_err))
            .collect()
    }

    async fn claim_attempt(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        attempt: &DeliveryAttempt,
    ) -> StoreResult<Option<WebhookEvent>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let Some(mut event) = event_doc(&tx, campaign_id, event_id)? else {
            return Ok(None);
        };
        if !event.can_claim(attempt) {
            return Ok(None);
        }
        event.attempts.push(attempt.clone());
        save_event(&tx, &event)?;
        tx.commit().map_err(db_err)?;
        Ok(Some(event))
    }

    async fn finish_attempt(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        attempt: &DeliveryAttempt,
        state: DeliveryState,
        next_attempt_at_ms: i64,
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut event = event_doc(&tx, campaign_id, event_id)?.ok_or(StoreError::NotFound)?;
        let Some(slot) = event
            .attempts
            .iter_mut()
            .find(|a| a.number == attempt.number)
        else {
            return Err(StoreError::NotFound);
        };
        *slot = attempt.clone();
        // Only the latest attempt of a pending event decides its state: a late finish of
        // an attempt already judged stale must not undo a later outcome.
        if event.state == DeliveryState::Pending && event.attempts.len() as u32 == attempt.number {
            event.state = state;
            event.next_attempt_at_ms = next_attempt_at_ms;
        }
        save_event(&tx, &event)?;
        tx.commit().map_err(db_err)
    }

    async fn reopen_event(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        extra: u32,
        now_ms: i64,
    ) -> StoreResult<Option<WebhookEvent>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut event = event_doc(&tx, campaign_id, event_id)?.ok_or(StoreError::NotFound)?;
        if event.state == DeliveryState::Pending {
            return Ok(None);
        }
        event.state = DeliveryState::Pending;
        event.attempt_budget = event.attempts.len() as u32 + extra;
        event.next_attempt_at_ms = now_ms;
        save_event(&tx, &event)?;
        insert_message(&tx, &StageMessage::webhook(campaign_id, event_id), 0)?;
        tx.commit().map_err(db_err)?;
        Ok(Some(event))
    }
}

#[async_trait]
impl ProfileStore for LocalStore {
    async fn create_profile(&self, record: &ProfileRecord, cap: u32) -> StoreResult<()> {
        let doc = serde_json::to_string(record).map_err(json_err)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let count: u32 = tx
            .query_row(
                "SELECT COUNT(*) FROM profiles WHERE account_id = ?1 AND kind = ?2",
                params![record.account_id, record.kind],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if count >= cap {
            return Err(StoreError::LimitReached(format!(
                "at most {cap} of this kind per account"
            )));
        }
        tx.execute(
            "INSERT INTO profiles (account_id, kind, id, doc, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                record.account_id,
                record.kind,
                record.id,
                doc,
                record.created_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            ],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    async fn replace_profile(&self, record: &ProfileRecord) -> StoreResult<bool> {
        let doc = serde_json::to_string(record).map_err(json_err)?;
        let changed = self
            .conn()
            .execute(
                "UPDATE profiles SET doc = ?4 WHERE account_id = ?1 AND kind = ?2 AND id = ?3",
                params![record.account_id, record.kind, record.id, doc],
            )
            .map_err(db_err)?;
        Ok(changed == 1)
    }

    async fn get_profile(
        &self,
        account_id: &str,
        kind: &str,
        id: &str,
    ) -> StoreResult<Option<ProfileRecord>> {
        let doc: Option<String> = self
            .conn()
            .query_row(
                "SELECT doc FROM profiles WHERE account_id = ?1 AND kind = ?2 AND id = ?3",
                params![account_id, kind, id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        doc.map(|d| serde_json::from_str(&d).map_err(json_err))
            .transpose()
    }

    async fn list_profiles(&self, account_id: &str, kind: &str) -> StoreResult<Vec<ProfileRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT doc FROM profiles WHERE account_id = ?1 AND kind = ?2 ORDER BY created_at, id",
            )
            .map_err(db_err)?;
        let docs = stmt
            .query_map(params![account_id, kind], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(json_err))
            .collect()
    }

    async fn delete_profile(&self, account_id: &str, kind: &str, id: &str) -> StoreResult<bool> {
        let changed = self
            .conn()
            .execute(
                "DELETE FROM profiles WHERE account_id = ?1 AND kind = ?2 AND id = ?3",
                params![account_id, kind, id],
            )
            .map_err(db_err)?;
        Ok(changed == 1)
    }
}
