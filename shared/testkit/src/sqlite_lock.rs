//! Makes a local store's SQLite file genuinely unavailable in the middle of a request:
//! a second connection takes the database's write lock (`BEGIN EXCLUSIVE`), as another
//! process (the CLI beside a running server) can, and every write of the store then waits
//! its busy timeout and fails with `SQLITE_BUSY`. In WAL mode readers are never blocked,
//! so reads keep working while writes are refused — which is SQLite's real behaviour.
//!
//! [`Tripwire`] ports sit in front of a `LocalStore` and take the lock when the request
//! reaches a chosen step, so the steps before it succeed and the rest meet a locked
//! database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reelforge_app::Ports;
use reelforge_core::limiter::Decision;
use reelforge_core::model::{
    ApiKeyRecord, Campaign, CampaignStatus, IdempotencyRecord, Principal, QuotaReservation,
    StageMessage, WebhookEvent,
};
use reelforge_core::ports::{
    CampaignPage, CampaignPosition, CampaignStore, CreateOutcome, KeyStore, StageQueue,
    StoreResult, TransitionOutcome, WindowCounters,
};
use reelforge_local::LocalStore;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// Another connection holding the database's write lock while engaged.
pub struct DbLock {
    path: PathBuf,
    held: Mutex<Option<Connection>>,
}

impl DbLock {
    pub fn new(path: &Path) -> Arc<DbLock> {
        Arc::new(DbLock {
            path: path.to_path_buf(),
            held: Mutex::new(None),
        })
    }

    /// Takes the write lock (waiting for a store write in flight to finish).
    pub fn engage(&self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_some() {
            return;
        }
        let conn = Connection::open(&self.path).expect("open the store's database");
        conn.busy_timeout(Duration::from_secs(30)).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE")
            .expect("take the database's write lock");
        *held = Some(conn);
    }

    /// Gives the lock back: the store can write again.
    pub fn release(&self) {
        let conn = self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(conn) = conn {
            conn.execute_batch("ROLLBACK")
                .expect("release the write lock");
        }
    }

    pub fn is_engaged(&self) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

/// Where on the create path the lock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The per-IP window's admission (the request's first store call).
    IpWindow,
    /// The key lookup (a read).
    KeyLookup,
    /// The idempotency record lookup (a read).
    IdempotencyLookup,
    /// The per-account creation window's admission.
    AccountWindow,
    /// The one transaction of quota reservation, campaign and idempotency record.
    CreateCampaign,
    /// The hand-off of the campaign's first stage message (after the commit). The lock
    /// is given back when the campaign is next transitioned, so the failure that follows
    /// can land (the outage is over by then).
    QueueSend,
    /// The same hand-off, with the lock held for the rest of the request: the campaign
    /// can be neither queued nor failed.
    QueueSendOutage,
}

/// Ports that take the lock once, when armed and the request reaches `step`.
pub struct Tripwire {
    inner: Arc<LocalStore>,
    lock: Arc<DbLock>,
    step: Step,
    armed: AtomicBool,
}

impl Tripwire {
    pub fn new(inner: Arc<LocalStore>, lock: Arc<DbLock>, step: Step) -> Arc<Tripwire> {
        Arc::new(Tripwire {
            inner,
            lock,
            step,
            armed: AtomicBool::new(false),
        })
    }

    /// The next time a request reaches the step, the lock is taken.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Whether the armed tripwire fired.
    pub fn fired(&self) -> bool {
        !self.armed.load(Ordering::SeqCst)
    }

    fn at(&self, step: Step) {
        if step == self.step && self.armed.swap(false, Ordering::SeqCst) {
            self.lock.engage();
        }
    }

    /// The store's ports with the key, campaign, window and queue ports behind the tripwire.
    pub fn ports(self: &Arc<Self>) -> Ports {
        let mut ports = Ports::from_store(self.inner.clone());
        ports.keys = self.clone();
        ports.campaigns = self.clone();
        ports.windows = self.clone();
        ports.queue = self.clone();
        ports
    }
}

#[async_trait]
impl WindowCounters for Tripwire {
    async fn admit(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        if key.starts_with("ip-") {
            self.at(Step::IpWindow);
        } else {
            self.at(Step::AccountWindow);
        }
        self.inner.admit(key, limit, window_ms, now_ms).await
    }
}

#[async_trait]
impl KeyStore for Tripwire {
    async fn create_key(&self, key: &ApiKeyRecord, cap: Option<u32>) -> StoreResult<()> {
        self.inner.create_key(key, cap).await
    }

    async fn lookup_key(&self, key_hash: &str) -> StoreResult<Option<Principal>> {
        self.at(Step::KeyLookup);
        self.inner.lookup_key(key_hash).await
    }

    async fn list_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        self.inner.list_keys(account_id).await
    }

    async fn revoke_key(&self, key_id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.revoke_key(key_id, at).await
    }
}

#[async_trait]
impl CampaignStore for Tripwire {
    async fn create_campaign(
        &self,
        campaign: &Campaign,
        reservation: &QuotaReservation,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<CreateOutcome> {
        self.at(Step::CreateCampaign);
        self.inner
            .create_campaign(campaign, reservation, idempotency)
            .await
    }

    async fn get_campaign(&self, id: Uuid) -> StoreResult<Option<Campaign>> {
        self.inner.get_campaign(id).await
    }

    async fn list_campaigns(&self, account_id: &str) -> StoreResult<Vec<Campaign>> {
        self.inner.list_campaigns(account_id).await
    }
    async fn account_stats(
        &self,
        account_id: &str,
        from_day: &str,
    ) -> StoreResult<reelforge_core::stats::AccountStats> {
        self.inner.account_stats(account_id, from_day).await
    }

    async fn list_campaign_page(
        &self,
        account_id: &str,
        status: Option<CampaignStatus>,
        before: Option<&CampaignPosition>,
        limit: u32,
    ) -> StoreResult<CampaignPage> {
        self.inner
            .list_campaign_page(account_id, status, before, limit)
            .await
    }

    async fn get_idempotency(
        &self,
        account_id: &str,
        key: &str,
        now_ms: i64,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        self.at(Step::IdempotencyLookup);
        self.inner.get_idempotency(account_id, key, now_ms).await
    }

    async fn release_idempotency(
        &self,
        account_id: &str,
        key: &str,
        campaign_id: Uuid,
    ) -> StoreResult<()> {
        self.inner
            .release_idempotency(account_id, key, campaign_id)
            .await
    }

    async fn quota_used(&self, account_id: &str, period: &str) -> StoreResult<u32> {
        self.inner.quota_used(account_id, period).await
    }

    async fn renew_lease(&self, id: Uuid, holder: &str, until_ms: i64) -> StoreResult<bool> {
        self.inner.renew_lease(id, holder, until_ms).await
    }

    async fn commit_transition(
        &self,
        next: &Campaign,
        expected: CampaignStatus,
        refund: u32,
        event: Option<&WebhookEvent>,
    ) -> StoreResult<TransitionOutcome> {
        if self.step == Step::QueueSend {
            self.lock.release();
        }
        self.inner
            .commit_transition(next, expected, refund, event)
            .await
    }
}

#[async_trait]
impl StageQueue for Tripwire {
    async fn send(&self, message: &StageMessage, delay_secs: u32) -> StoreResult<()> {
        self.at(Step::QueueSend);
        self.at(Step::QueueSendOutage);
        self.inner.send(message, delay_secs).await
    }
}
