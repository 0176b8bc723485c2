//! The contract of the store ports (`ports.rs`), run on both backends: every check is one
//! generic function, called once with the local (SQLite) store and once with the aws
//! (DynamoDB + SQS, through moto's server) store, so the two can never drift.
//!
//! `cargo test -p reelforge --test contract` runs all; `... contract aws_` or `local_`
//! runs one backend. The aws half needs moto's server (see `support/moto.rs`).

use reelforge_testkit as support;

use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reelforge_aws::store::AwsStore;
use reelforge_core::limiter::{decide, Decision};
use reelforge_core::model::{
    Account, ApiKeyRecord, Campaign, CampaignStatus, DeliveryAttempt, DeliveryState,
    IdempotencyRecord, Language, Platform, Principal, QuotaReservation, Stage, StageMessage, Video,
    VideoStatus, WebhookEvent, SCOPE_CAMPAIGNS_CREATE, WEBHOOK_ATTEMPTS,
};
use reelforge_core::plans::Plan;
use reelforge_core::ports::{
    AccountStore, CampaignPosition, CampaignStore, CreateOutcome, KeyStore, MediaStore,
    ProfileRecord, ProfileStore, StageQueue, StoreError, TransitionOutcome, WebhookStore,
    WindowCounters,
};
use reelforge_local::LocalStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Everything a backend provides, and a way for the checks to see its queue.
trait Store:
    AccountStore
    + KeyStore
    + CampaignStore
    + WebhookStore
    + WindowCounters
    + StageQueue
    + MediaStore
    + ProfileStore
    + Queued
{
}
impl<T> Store for T where
    T: AccountStore
        + KeyStore
        + CampaignStore
        + WebhookStore
        + WindowCounters
        + StageQueue
        + MediaStore
        + ProfileStore
        + Queued
{
}

/// The checks' view of the stage queue.
#[async_trait::async_trait]
trait Queued: Send + Sync + 'static {
    /// Removes and returns every message that is visible now, oldest first.
    async fn take_queued(&self) -> Vec<StageMessage>;
}

#[async_trait::async_trait]
impl Queued for LocalStore {
    async fn take_queued(&self) -> Vec<StageMessage> {
        let mut taken = Vec::new();
        while let Some(received) = self
            .receive(&[Stage::Collect, Stage::Webhook], 60_000)
            .expect("receive")
        {
            self.ack(&received).expect("ack");
            taken.push(received.message);
        }
        taken
    }
}

#[async_trait::async_trait]
impl Queued for AwsStore {
    async fn take_queued(&self) -> Vec<StageMessage> {
        let sqs = self.sqs_client();
        let queue_url = &self.names().queue_url;
        let mut taken = Vec::new();
        loop {
            let received = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive from SQS");
            if received.messages().is_empty() {
                return taken;
            }
            for message in received.messages() {
                taken.push(serde_json::from_str(message.body().unwrap()).unwrap());
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("delete from SQS");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Backends

/// A fresh directory under the system temp dir, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "reelforge-contract-{name}-{}-{}",
            std::process::id(),
            Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn local_store(dir: &TempDir) -> LocalStore {
    LocalStore::open(dir.path()).expect("open local store")
}

/// Two wrappers per check: `local_*` on a fresh SQLite store, `aws_*` on a fresh table
/// and queue in moto.
macro_rules! on_both_backends {
    ($($check:ident => $local:ident, $aws:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $local() {
            let dir = TempDir::new(stringify!($check));
            $check(Arc::new(local_store(&dir))).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $aws() {
            $check(Arc::new(support::moto::aws_store().await)).await;
        }
    )*};
}

on_both_backends! {
    accounts_round_trip => local_accounts_round_trip, aws_accounts_round_trip;
    set_plan_reaches_existing_keys => local_set_plan_reaches_existing_keys, aws_set_plan_reaches_existing_keys;
    keys_lookup_list_revoke => local_keys_lookup_list_revoke, aws_keys_lookup_list_revoke;
    key_cap => local_key_cap, aws_key_cap;
    key_cap_under_concurrency => local_key_cap_under_concurrency, aws_key_cap_under_concurrency;
    campaign_round_trip => local_campaign_round_trip, aws_campaign_round_trip;
    quota_sequential => local_quota_sequential, aws_quota_sequential;
    quota_parallel_singles => local_quota_parallel_singles, aws_quota_parallel_singles;
    quota_parallel_mixed_sizes => local_quota_parallel_mixed_sizes, aws_quota_parallel_mixed_sizes;
    idempotency => local_idempotency, aws_idempotency;
    window_concurrent_admits => local_window_concurrent_admits, aws_window_concurrent_admits;
    window_concurrent_admits_on_a_full_expired_log => local_window_concurrent_admits_on_a_full_expired_log, aws_window_concurrent_admits_on_a_full_expired_log;
    window_decisions_match_decide => local_window_decisions_match_decide, aws_window_decisions_match_decide;
    window_random_traces => local_window_random_traces, aws_window_random_traces;
    queue_send => local_queue_send, aws_queue_send;
    transition_only_from_expected_status => local_transition_only_from_expected_status, aws_transition_only_from_expected_status;
    failure_refunds_exactly_once => local_failure_refunds_exactly_once, aws_failure_refunds_exactly_once;
    refund_never_goes_below_zero => local_refund_never_goes_below_zero, aws_refund_never_goes_below_zero;
    terminal_transition_stores_and_queues_its_event => local_terminal_transition_stores_and_queues_its_event, aws_terminal_transition_stores_and_queues_its_event;
    delivery_attempts_are_claimed_once => local_delivery_attempts_are_claimed_once, aws_delivery_attempts_are_claimed_once;
    attempts_wait_for_the_previous_one_and_the_retry_time => local_attempts_wait_for_the_previous_one_and_the_retry_time, aws_attempts_wait_for_the_previous_one_and_the_retry_time;
    reopen_gives_a_new_budget => local_reopen_gives_a_new_budget, aws_reopen_gives_a_new_budget;
    webhook_secret_rotation => local_webhook_secret_rotation, aws_webhook_secret_rotation;
    two_writers_from_one_read => local_two_writers_from_one_read, aws_two_writers_from_one_read;
    media_files => local_media_files, aws_media_files;
    campaigns_listed_per_account_newest_first => local_campaigns_listed_per_account_newest_first, aws_campaigns_listed_per_account_newest_first;
    campaign_pages_by_position => local_campaign_pages_by_position, aws_campaign_pages_by_position;
    profiles_round_trip => local_profiles_round_trip, aws_profiles_round_trip;
    profile_cap_under_concurrency => local_profile_cap_under_concurrency, aws_profile_cap_under_concurrency;
    lease_renewal_belongs_to_its_holder => local_lease_renewal_belongs_to_its_holder, aws_lease_renewal_belongs_to_its_holder;
    produced_counters_count_each_finished_campaign_once => local_produced_counters_count_each_finished_campaign_once, aws_produced_counters_count_each_finished_campaign_once;
}

// ---------------------------------------------------------------------------------------
// Fixtures

const BASE_MS: i64 = 1_790_000_000_123;
const WINDOW_MS: i64 = 60_000;

fn at_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().expect("valid time")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

fn account(plan: Plan, videos_per_month: Option<u32>) -> Account {
    Account {
        id: unique("acct"),
        name: "Contract Test Co".to_string(),
        plan,
        videos_per_month,
        webhook_secret: "whsec_contract".to_string(),
        previous_webhook_secret: None,
        previous_webhook_secret_expires_at: None,
        created_at: at_ms(BASE_MS),
    }
}

async fn new_account<S: Store>(store: &S, plan: Plan, videos_per_month: Option<u32>) -> Account {
    let account = account(plan, videos_per_month);
    store
        .create_account(&account)
        .await
        .expect("create account");
    account
}

fn key_record(account_id: &str, created_ms: i64) -> ApiKeyRecord {
    let minted = reelforge_core::keys::mint();
    ApiKeyRecord {
        id: minted.hash,
        account_id: account_id.to_string(),
        display: minted.display,
        scopes: vec![SCOPE_CAMPAIGNS_CREATE.to_string()],
        created_at: at_ms(created_ms),
        revoked_at: None,
    }
}

fn campaign(account_id: &str, videos: u32) -> Campaign {
    let languages = [Language::En, Language::Ja, Language::Ko, Language::Zh];
    let created = at_ms(BASE_MS);
    Campaign {
        id: Uuid::new_v4(),
        job_id: ulid_like(),
        account_id: account_id.to_string(),
        status: CampaignStatus::Collecting,
        url: "https://example.com/product".to_string(),
        title: "example.com Campaign".to_string(),
        languages: languages
            .iter()
            .copied()
            .take(videos.clamp(1, 4) as usize)
            .collect(),
        platforms: vec![Platform::YoutubeShorts],
        webhook_url: Some("https://hooks.example.com/reelforge".to_string()),
        playlist_id: None,
        created_at: created,
        updated_at: created,
        videos: (0..videos)
            .map(|i| Video {
                id: Uuid::new_v4(),
                platform: Platform::YoutubeShorts,
                language: languages[i as usize % languages.len()],
                status: VideoStatus::Queued,
                file_key: None,
                duration_seconds: None,
                published_at: None,
                credits_cost: None,
                thumbnail_key: None,
                script_source: None,
                render_job: None,
                review: Default::default(),
            })
            .collect(),
        error: None,
        failed_stage: None,
        quota_period: "2026-09".to_string(),
        videos_reserved: videos,
        revision: 0,
        lease: None,
        history: Vec::new(),
        style: None,
        publish: None,
    }
}

fn ulid_like() -> String {
    Uuid::new_v4().simple().to_string()[..26].to_uppercase()
}

fn reservation(account_id: &str, period: &str, videos: u32, quota: u32) -> QuotaReservation {
    QuotaReservation {
        account_id: account_id.to_string(),
        period: period.to_string(),
        videos,
        quota,
    }
}

fn idempotency_record(
    account_id: &str,
    key: &str,
    campaign_id: Uuid,
    now_ms: i64,
) -> IdempotencyRecord {
    IdempotencyRecord {
        account_id: account_id.to_string(),
        key: key.to_string(),
        body_sha256: "ab".repeat(32),
        status: 201,
        response_body: format!(r#"{{"success":true,"campaign_id":"{campaign_id}"}}"#),
        campaign_id: campaign_id.to_string(),
        created_at_ms: now_ms,
        expires_at_ms: now_ms + reelforge_core::model::IDEMPOTENCY_TTL_MS,
    }
}

// ---------------------------------------------------------------------------------------
// Accounts and keys

async fn accounts_round_trip<S: Store>(store: Arc<S>) {
    let growth = new_account(&*store, Plan::Growth, None).await;
    assert_eq!(
        store.get_account(&growth.id).await.unwrap(),
        Some(growth.clone())
    );

    let enterprise = new_account(&*store, Plan::Enterprise, Some(7)).await;
    let read = store.get_account(&enterprise.id).await.unwrap().unwrap();
    assert_eq!(read, enterprise);
    assert_eq!(read.videos_quota(), 7);

    assert_eq!(store.get_account("acct_nobody").await.unwrap(), None);
    // Ids are unique: a second create with the same id is refused, the first stays.
    let mut clash = growth.clone();
    clash.name = "Someone Else".to_string();
    assert!(store.create_account(&clash).await.is_err());
    assert_eq!(store.get_account(&growth.id).await.unwrap(), Some(growth));
}

async fn set_plan_reaches_existing_keys<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Growth, None).await;
    let key = key_record(&account.id, BASE_MS);
    store.create_key(&key, Some(2)).await.unwrap();

    store
        .set_plan(&account.id, Plan::Enterprise, Some(500))
        .await
        .unwrap();
    let principal = store.lookup_key(&key.id).await.unwrap().unwrap();
    assert_eq!(
        (principal.plan, principal.videos_per_month),
        (Plan::Enterprise, Some(500))
    );
    let read = store.get_account(&account.id).await.unwrap().unwrap();
    assert_eq!(
        (read.plan, read.videos_per_month),
        (Plan::Enterprise, Some(500))
    );

    // A key created after the change carries the new plan too; and a downgrade reaches both.
    let second = key_record(&account.id, BASE_MS + 1);
    store.create_key(&second, Some(50)).await.unwrap();
    store
        .set_plan(&account.id, Plan::Starter, None)
        .await
        .unwrap();
    for id in [&key.id, &second.id] {
        let principal = store.lookup_key(id).await.unwrap().unwrap();
        assert_eq!(
            (principal.plan, principal.videos_per_month),
            (Plan::Starter, None)
        );
    }

    assert!(matches!(
        store.set_plan("acct_nobody", Plan::Scale, None).await,
        Err(StoreError::NotFound)
    ));
}

async fn keys_lookup_list_revoke<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Scale, None).await;
    let first = key_record(&account.id, BASE_MS);
    let second = key_record(&account.id, BASE_MS + 1_000);
    store.create_key(&first, Some(10)).await.unwrap();
    store.create_key(&second, Some(10)).await.unwrap();

    assert_eq!(
        store.lookup_key(&first.id).await.unwrap(),
        Some(Principal {
            key_id: first.id.clone(),
            account_id: account.id.clone(),
            plan: Plan::Scale,
            videos_per_month: None,
            scopes: vec![SCOPE_CAMPAIGNS_CREATE.to_string()],
            revoked: false,
        })
    );
    assert_eq!(store.lookup_key(&"0".repeat(64)).await.unwrap(), None);

    let mut listed = store.list_keys(&account.id).await.unwrap();
    listed.sort_by_key(|k| k.created_at);
    assert_eq!(listed, vec![first.clone(), second.clone()]);
    assert_eq!(store.list_keys("acct_nobody").await.unwrap(), vec![]);

    // A key needs an account.
    let orphan = key_record("acct_nobody", BASE_MS);
    assert!(matches!(
        store.create_key(&orphan, None).await,
        Err(StoreError::NotFound)
    ));

    let revoked_at = at_ms(BASE_MS + 5_000);
    assert!(store.revoke_key(&first.id, revoked_at).await.unwrap());
    assert!(store.lookup_key(&first.id).await.unwrap().unwrap().revoked);
    assert!(!store.lookup_key(&second.id).await.unwrap().unwrap().revoked);
    assert!(!store.revoke_key(&first.id, revoked_at).await.unwrap());
    assert!(!store.revoke_key(&"0".repeat(64), revoked_at).await.unwrap());

    let mut listed = store.list_keys(&account.id).await.unwrap();
    listed.sort_by_key(|k| k.created_at);
    let mut expected_first = first.clone();
    expected_first.revoked_at = Some(revoked_at);
    assert_eq!(listed, vec![expected_first, second]);
}

async fn key_cap<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Growth, None).await;
    let keys: Vec<_> = (0..4)
        .map(|i| key_record(&account.id, BASE_MS + i))
        .collect();
    store.create_key(&keys[0], Some(2)).await.unwrap();
    store.create_key(&keys[1], Some(2)).await.unwrap();
    assert!(matches!(
        store.create_key(&keys[2], Some(2)).await,
        Err(StoreError::LimitReached(_))
    ));
    assert_eq!(store.lookup_key(&keys[2].id).await.unwrap(), None);

    // Revoking frees a slot; revoked keys do not count.
    assert!(store
        .revoke_key(&keys[0].id, at_ms(BASE_MS + 10))
        .await
        .unwrap());
    store.create_key(&keys[2], Some(2)).await.unwrap();
    assert!(matches!(
        store.create_key(&keys[3], Some(2)).await,
        Err(StoreError::LimitReached(_))
    ));
    // No cap (below Growth): operators may keep adding.
    store.create_key(&keys[3], None).await.unwrap();
    assert_eq!(store.list_keys(&account.id).await.unwrap().len(), 4);
}

async fn key_cap_under_concurrency<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Growth, None).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let key = key_record(&account.id, BASE_MS + i);
            tokio::spawn(async move { store.create_key(&key, Some(2)).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::LimitReached(_)) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(created, 2);
    assert_eq!(store.list_keys(&account.id).await.unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Campaigns, quota, idempotency

async fn campaign_round_trip<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Scale, None).await;
    let mut campaign = campaign(&account.id, 3);
    // Exercise every optional field, set and unset.
    campaign.playlist_id = Some("pl_1".to_string());
    campaign.error = Some("could not reach the page".to_string());
    campaign.failed_stage = Some(CampaignStatus::Collecting);
    campaign.videos[0].file_key = Some("videos/a.mp4".to_string());
    campaign.videos[0].duration_seconds = Some(34.56);
    campaign.videos[0].published_at = Some(at_ms(BASE_MS + 9));
    campaign.videos[0].credits_cost = Some(12);
    campaign.videos[0].status = VideoStatus::Ready;
    campaign.platforms = vec![Platform::YoutubeShorts, Platform::Youtube];

    let outcome = store
        .create_campaign(
            &campaign,
            &reservation(&account.id, "2026-09", 3, 100),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
    assert_eq!(
        store.get_campaign(campaign.id).await.unwrap(),
        Some(campaign)
    );
    assert_eq!(store.get_campaign(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 3);
    assert_eq!(store.quota_used(&account.id, "2026-10").await.unwrap(), 0);
}

async fn quota_sequential<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Growth, None).await;
    let id = &account.id;
    let create = |videos: u32, period: &'static str| {
        let store = store.clone();
        let campaign = campaign(id, videos);
        let reservation = reservation(id, period, videos, 10);
        async move {
            let outcome = store
                .create_campaign(&campaign, &reservation, None)
                .await
                .unwrap();
            let stored = store.get_campaign(campaign.id).await.unwrap();
            // Nothing is written unless created.
            assert_eq!(stored.is_some(), outcome == CreateOutcome::Created);
            outcome
        }
    };
    assert_eq!(create(4, "2026-09").await, CreateOutcome::Created);
    assert_eq!(create(4, "2026-09").await, CreateOutcome::Created);
    assert_eq!(
        create(3, "2026-09").await,
        CreateOutcome::QuotaExceeded { used: 8 }
    );
    assert_eq!(create(2, "2026-09").await, CreateOutcome::Created);
    assert_eq!(
        create(1, "2026-09").await,
        CreateOutcome::QuotaExceeded { used: 10 }
    );
    // Another month starts empty; more than the whole quota is refused outright.
    assert_eq!(
        create(11, "2026-10").await,
        CreateOutcome::QuotaExceeded { used: 0 }
    );
    assert_eq!(create(10, "2026-10").await, CreateOutcome::Created);
    assert_eq!(store.quota_used(id, "2026-09").await.unwrap(), 10);
    assert_eq!(store.quota_used(id, "2026-10").await.unwrap(), 10);
}

/// Fires `sizes.len()` concurrent creates against one quota; returns (created videos,
/// outcomes) after checking that exactly the created campaigns exist.
async fn concurrent_creates<S: Store>(
    store: &Arc<S>,
    account_id: &str,
    sizes: &[u32],
    quota: u32,
) -> (u32, Vec<CreateOutcome>) {
    let tasks: Vec<_> = sizes
        .iter()
        .map(|&videos| {
            let store = store.clone();
            let campaign = campaign(account_id, videos);
            let reservation = reservation(account_id, "2026-09", videos, quota);
            tokio::spawn(async move {
                let outcome = store.create_campaign(&campaign, &reservation, None).await;
                (campaign.id, videos, outcome)
            })
        })
        .collect();
    let mut created_videos = 0;
    let mut outcomes = Vec::new();
    for task in tasks {
        let (id, videos, outcome) = task.await.unwrap();
        let outcome = outcome.expect("create_campaign");
        match &outcome {
            CreateOutcome::Created => created_videos += videos,
            CreateOutcome::QuotaExceeded { used } => assert!(*used <= quota),
            CreateOutcome::IdempotencyTaken => panic!("no idempotency key was given"),
        }
        let stored = store.get_campaign(id).await.unwrap();
        assert_eq!(stored.is_some(), outcome == CreateOutcome::Created);
        outcomes.push(outcome);
    }
    (created_videos, outcomes)
}

async fn quota_parallel_singles<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Growth, None).await;
    let first = campaign(&account.id, 4);
    let outcome = store
        .create_campaign(&first, &reservation(&account.id, "2026-09", 4, 10), None)
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);

    let (created, outcomes) = concurrent_creates(&store, &account.id, &[1; 40], 10).await;
    let created_count = outcomes
        .iter()
        .filter(|o| **o == CreateOutcome::Created)
        .count();
    assert_eq!(created_count, 6);
    assert_eq!(created, 6);
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 10);
}

async fn quota_parallel_mixed_sizes<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Growth, None).await;
    let (created, _) = concurrent_creates(&store, &account.id, &[3; 20], 10).await;
    assert_eq!(created, 9);
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 9);

    let other = new_account(&*store, Plan::Growth, None).await;
    let mut rng = StdRng::seed_from_u64(7);
    let sizes: Vec<u32> = (0..30).map(|_| rng.random_range(1..=4)).collect();
    let (created, _) = concurrent_creates(&store, &other.id, &sizes, 40).await;
    assert!(created <= 40, "oversold: {created}");
    // Every refusal saw a quota too full for it, so the quota ends nearly full.
    assert!(created > 40 - 4, "undersold: {created}");
    assert_eq!(
        store.quota_used(&other.id, "2026-09").await.unwrap(),
        created
    );
}

async fn idempotency<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Growth, None).await;
    let now = BASE_MS;
    let first = campaign(&account.id, 2);
    let record = idempotency_record(&account.id, "retry-1", first.id, now);
    let outcome = store
        .create_campaign(
            &first,
            &reservation(&account.id, "2026-09", 2, 40),
            Some(&record),
        )
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
    assert_eq!(
        store
            .get_idempotency(&account.id, "retry-1", now + 1)
            .await
            .unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        store
            .get_idempotency(&account.id, "retry-2", now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_idempotency("acct_other", "retry-1", now)
            .await
            .unwrap(),
        None
    );

    // The same key again: refused, and nothing of it is written.
    let second = campaign(&account.id, 3);
    let again = idempotency_record(&account.id, "retry-1", second.id, now + 10);
    let outcome = store
        .create_campaign(
            &second,
            &reservation(&account.id, "2026-09", 3, 40),
            Some(&again),
        )
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::IdempotencyTaken);
    assert_eq!(store.get_campaign(second.id).await.unwrap(), None);
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 2);
    assert_eq!(
        store
            .get_idempotency(&account.id, "retry-1", now + 10)
            .await
            .unwrap(),
        Some(record.clone())
    );

    // Live through its last millisecond; expired after, and then it may be replaced.
    let last = record.expires_at_ms;
    assert!(store
        .get_idempotency(&account.id, "retry-1", last)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .get_idempotency(&account.id, "retry-1", last + 1)
            .await
            .unwrap(),
        None
    );
    let third = campaign(&account.id, 1);
    let fresh = idempotency_record(&account.id, "retry-1", third.id, last + 1);
    let outcome = store
        .create_campaign(
            &third,
            &reservation(&account.id, "2026-09", 1, 40),
            Some(&fresh),
        )
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
    assert_eq!(
        store
            .get_idempotency(&account.id, "retry-1", last + 2)
            .await
            .unwrap(),
        Some(fresh)
    );
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 3);

    // Racing the same key: exactly one wins.
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            let campaign = campaign(&account.id, 1);
            let record = idempotency_record(&account.id, "race", campaign.id, now);
            let reservation = reservation(&account.id, "2026-09", 1, 40);
            tokio::spawn(async move {
                store
                    .create_campaign(&campaign, &reservation, Some(&record))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let created = outcomes
        .iter()
        .filter(|o| **o == CreateOutcome::Created)
        .count();
    let taken = outcomes
        .iter()
        .filter(|o| **o == CreateOutcome::IdempotencyTaken)
        .count();
    assert_eq!((created, taken), (1, 9));
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 4);
}

// ---------------------------------------------------------------------------------------
// Sliding windows

async fn window_concurrent_admits<S: Store>(store: Arc<S>) {
    let key = unique("ip-auth#203.0.113.7");
    let now = BASE_MS;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let store = store.clone();
            let key = key.clone();
            tokio::spawn(async move { store.admit(&key, 10, WINDOW_MS, now).await })
        })
        .collect();
    let mut admitted_remaining = Vec::new();
    for task in tasks {
        let decision = task.await.unwrap().expect("admit");
        assert_eq!(decision.limit, 10);
        if decision.admitted {
            admitted_remaining.push(decision.remaining);
            assert_eq!(decision.reset_ms, now + WINDOW_MS);
        } else {
            assert_eq!(
                decision,
                Decision {
                    admitted: false,
                    limit: 10,
                    remaining: 0,
                    reset_ms: now + WINDOW_MS
                }
            );
        }
    }
    admitted_remaining.sort_unstable();
    // Exactly ten, and each saw a distinct count: the admissions were serialised.
    assert_eq!(admitted_remaining, (0..10).collect::<Vec<u32>>());

    // Just before the window passes: still full. At the boundary: a slot is free.
    let d = store
        .admit(&key, 10, WINDOW_MS, now + WINDOW_MS - 1)
        .await
        .unwrap();
    assert!(!d.admitted);
    assert_eq!(d.retry_after_secs(now + WINDOW_MS - 1), 1);
    let d = store
        .admit(&key, 10, WINDOW_MS, now + WINDOW_MS)
        .await
        .unwrap();
    assert_eq!(
        d,
        Decision {
            admitted: true,
            limit: 10,
            remaining: 9,
            reset_ms: now + 2 * WINDOW_MS
        }
    );
    // Other keys are untouched.
    let other = store
        .admit(&unique("ip-anon"), 10, WINDOW_MS, now)
        .await
        .unwrap();
    assert_eq!((other.admitted, other.remaining), (true, 9));
}

/// A window at steady state: full, every entry just expired. 200 requests at once must
/// prune and refill it with exactly its limit, each taking a slot of its own, and
/// none may give up (the aws backend's read-modify-write path under contention).
async fn window_concurrent_admits_on_a_full_expired_log<S: Store>(store: Arc<S>) {
    let key = unique("ip-auth#203.0.113.8");
    let limit = 10u32;
    for i in 0..limit {
        let at = BASE_MS + i64::from(i);
        assert!(
            store
                .admit(&key, limit, WINDOW_MS, at)
                .await
                .unwrap()
                .admitted
        );
    }
    // All ten entries have left the window of `now`.
    let now = BASE_MS + WINDOW_MS + i64::from(limit);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let store = store.clone();
            let key = key.clone();
            tokio::spawn(async move { store.admit(&key, limit, WINDOW_MS, now).await })
        })
        .collect();
    let mut remaining = Vec::new();
    for task in tasks {
        let decision = task.await.unwrap().expect("no request gives up");
        assert_eq!(decision.reset_ms, now + WINDOW_MS);
        if decision.admitted {
            remaining.push(decision.remaining);
        } else {
            assert_eq!(decision.remaining, 0);
        }
    }
    remaining.sort_unstable();
    assert_eq!(remaining, (0..limit).collect::<Vec<u32>>());
}

async fn window_decisions_match_decide<S: Store>(store: Arc<S>) {
    let key = unique("acct-create");
    let mut reference = Vec::new();
    // Bursts, pauses, requests exactly at the boundaries, and a zero limit.
    let offsets = [
        0, 0, 10, 500, 999, 1_000, 1_001, 30_000, 59_999, 60_000, 60_001, 60_010, 61_000, 61_000,
        119_999, 120_000, 200_000, 200_000, 200_000, 200_001,
    ];
    for offset in offsets {
        let now = BASE_MS + offset;
        let expected = decide(&mut reference, now, 3, WINDOW_MS);
        let got = store.admit(&key, 3, WINDOW_MS, now).await.unwrap();
        assert_eq!(got, expected, "at +{offset} ms");
    }
    let zero = store
        .admit(&unique("zero"), 0, WINDOW_MS, BASE_MS)
        .await
        .unwrap();
    assert!(!zero.admitted);
    assert_eq!(zero.remaining, 0);
}

/// Random traces against an exact sliding log computed here, independently of
/// `limiter::decide`: admitted exactly when fewer than `limit` admissions fall in the
/// last window, with the same `remaining` and an honest `reset_ms`.
async fn window_random_traces<S: Store>(store: Arc<S>) {
    for (seed, limit, window) in [(1u64, 5u32, 2_000i64), (2, 1, 700), (3, 12, 5_000)] {
        let mut rng = StdRng::seed_from_u64(seed);
        let key = unique("trace");
        let mut admitted: Vec<i64> = Vec::new();
        let mut now = BASE_MS;
        for step in 0..150 {
            now += if rng.random_bool(0.3) {
                0
            } else {
                rng.random_range(0..window / 3)
            };
            let in_window = admitted.iter().filter(|&&t| t > now - window).count();
            let d = store.admit(&key, limit, window, now).await.unwrap();
            let context = format!("seed {seed}, step {step}, now {now}");
            assert_eq!(d.admitted, in_window < limit as usize, "{context}");
            assert_eq!(d.limit, limit);
            if d.admitted {
                admitted.push(now);
                assert_eq!(
                    d.remaining as usize,
                    limit as usize - in_window - 1,
                    "{context}"
                );
            } else {
                assert_eq!(d.remaining, 0);
                assert!(d.reset_ms > now, "{context}");
                let at_reset = admitted
                    .iter()
                    .filter(|&&t| t > d.reset_ms - window)
                    .count();
                assert!(at_reset < limit as usize, "dishonest reset: {context}");
                let just_before = admitted
                    .iter()
                    .filter(|&&t| t > d.reset_ms - 1 - window)
                    .count();
                assert!(just_before >= limit as usize, "late reset: {context}");
            }
        }
    }
}

// Two handles on one store (two processes of the aws backend; two connections to one
// SQLite file): still an exact sliding log.
async fn window_shared_between_handles<S: Store>(a: Arc<S>, b: Arc<S>) {
    let key = unique("acct-create");
    let mut rng = StdRng::seed_from_u64(11);
    let mut reference = Vec::new();
    let mut now = BASE_MS;
    for step in 0..120 {
        now += rng.random_range(0..400);
        let store = if rng.random_bool(0.5) { &a } else { &b };
        let expected = decide(&mut reference, now, 4, 3_000);
        let got = store.admit(&key, 4, 3_000, now).await.unwrap();
        assert_eq!(got, expected, "step {step}");
    }
    // And concurrently from both: never more than the limit.
    let key = unique("acct-create");
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let key = key.clone();
            tokio::spawn(async move { store.admit(&key, 7, WINDOW_MS, BASE_MS).await })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap().unwrap().admitted);
    }
    assert_eq!(admitted, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_window_shared_between_handles() {
    let dir = TempDir::new("shared-window");
    let a = Arc::new(local_store(&dir));
    let b = Arc::new(local_store(&dir));
    window_shared_between_handles(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_window_shared_between_handles() {
    let a = support::moto::aws_store().await;
    let b = support::moto::aws_store_sharing(&a).await;
    window_shared_between_handles(Arc::new(a), Arc::new(b)).await;
}

// ---------------------------------------------------------------------------------------
// Status transitions, webhook events and their delivery attempts

/// A stored campaign of `videos` videos, reserved against its quota period.
async fn stored_campaign<S: Store>(store: &S, account_id: &str, videos: u32) -> Campaign {
    let campaign = campaign(account_id, videos);
    let reservation = reservation(account_id, &campaign.quota_period, videos, 100);
    let outcome = store
        .create_campaign(&campaign, &reservation, None)
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
    campaign
}

/// `campaign` as it is after moving to `status` at `ms`.
fn moved(campaign: &Campaign, status: CampaignStatus, ms: i64) -> Campaign {
    let mut next = campaign.clone();
    next.status = status;
    next.updated_at = at_ms(ms);
    next.revision = campaign.revision + 1;
    next
}

/// `campaign` failed at `ms`, with its first `ready` videos produced.
fn failed(campaign: &Campaign, ready: usize, ms: i64) -> Campaign {
    let mut next = moved(campaign, CampaignStatus::Failed, ms);
    next.error = Some("The page could not be captured".to_string());
    next.failed_stage = Some(campaign.status);
    for (i, video) in next.videos.iter_mut().enumerate() {
        video.status = if i < ready {
            VideoStatus::Ready
        } else {
            VideoStatus::Failed
        };
    }
    next.videos_reserved = ready as u32;
    next
}

fn event_id() -> String {
    format!("evt_{}", ulid::Ulid::generate().to_string().to_lowercase())
}

fn webhook_event(campaign: &Campaign, id: &str, created_ms: i64) -> WebhookEvent {
    let event = match campaign.status {
        CampaignStatus::Failed => "campaign.failed",
        _ => "campaign.completed",
    };
    WebhookEvent {
        id: id.to_string(),
        campaign_id: campaign.id,
        account_id: campaign.account_id.clone(),
        event: event.to_string(),
        url: campaign.webhook_url.clone().expect("webhook_url"),
        body: format!(
            r#"{{"event":"{event}","campaign_id":"{}","status":"{}"}}"#,
            campaign.id, campaign.status
        ),
        created_at_ms: created_ms,
        state: DeliveryState::Pending,
        attempts: Vec::new(),
        attempt_budget: WEBHOOK_ATTEMPTS,
        next_attempt_at_ms: created_ms,
    }
}

fn started(number: u32, ms: i64) -> DeliveryAttempt {
    DeliveryAttempt {
        number,
        started_at_ms: ms,
        finished: false,
        status_code: None,
        error: None,
        latency_ms: None,
    }
}

fn finished(
    attempt: &DeliveryAttempt,
    status_code: Option<u16>,
    error: Option<&str>,
) -> DeliveryAttempt {
    DeliveryAttempt {
        finished: true,
        status_code,
        error: error.map(str::to_string),
        latency_ms: Some(42),
        ..attempt.clone()
    }
}

/// A campaign moved to `review` with its `campaign.completed` event (its hand-off taken
/// off the queue).
async fn campaign_with_event<S: Store>(store: &S) -> (Campaign, WebhookEvent) {
    let account = new_account(store, Plan::Scale, None).await;
    let campaign = stored_campaign(store, &account.id, 2).await;
    let review = moved(&campaign, CampaignStatus::Review, BASE_MS + 5_000);
    let event = webhook_event(&review, &event_id(), BASE_MS + 5_000);
    let outcome = store
        .commit_transition(&review, CampaignStatus::Collecting, 0, Some(&event))
        .await
        .unwrap();
    assert_eq!(outcome, TransitionOutcome::Applied);
    assert_eq!(
        store.take_queued().await,
        vec![StageMessage::webhook(review.id, &event.id)]
    );
    (review, event)
}

async fn transition_only_from_expected_status<S: Store>(store: Arc<S>) {
    use CampaignStatus::*;
    let account = new_account(&*store, Plan::Scale, None).await;
    let campaign = stored_campaign(&*store, &account.id, 3).await;
    let processing = moved(&campaign, Processing, BASE_MS + 1_000);
    assert_eq!(
        store
            .commit_transition(&processing, Collecting, 0, None)
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    assert_eq!(
        store.get_campaign(campaign.id).await.unwrap(),
        Some(processing.clone())
    );

    // The same step again (a duplicate message): stale, carrying what is stored.
    let mut again = moved(&campaign, Processing, BASE_MS + 2_000);
    again.title = "Written by the duplicate".to_string();
    assert_eq!(
        store
            .commit_transition(&again, Collecting, 0, None)
            .await
            .unwrap(),
        TransitionOutcome::Stale(Box::new(processing.clone()))
    );
    // A terminal step from the wrong status writes none of its parts either: no status,
    // no refund, no event, nothing queued.
    let failure = failed(&campaign, 0, BASE_MS + 3_000);
    let event = webhook_event(&failure, &event_id(), BASE_MS + 3_000);
    assert_eq!(
        store
            .commit_transition(&failure, Collecting, 3, Some(&event))
            .await
            .unwrap(),
        TransitionOutcome::Stale(Box::new(processing.clone()))
    );
    assert_eq!(
        store.get_campaign(campaign.id).await.unwrap(),
        Some(processing.clone())
    );
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 3);
    assert_eq!(store.list_events(campaign.id).await.unwrap(), vec![]);
    assert_eq!(store.get_event(campaign.id, &event.id).await.unwrap(), None);
    assert_eq!(store.take_queued().await, vec![]);

    // Onwards from the stored status.
    let scripting = moved(&processing, Scripting, BASE_MS + 4_000);
    assert_eq!(
        store
            .commit_transition(&scripting, Processing, 0, None)
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    assert_eq!(
        store.get_campaign(campaign.id).await.unwrap(),
        Some(scripting)
    );

    // No such campaign: NotFound, and the conditional write does not create it.
    let ghost = self::campaign(&account.id, 1);
    assert!(matches!(
        store
            .commit_transition(&moved(&ghost, Processing, BASE_MS), Collecting, 0, None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.get_campaign(ghost.id).await.unwrap(), None);
}

async fn failure_refunds_exactly_once<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Scale, None).await;
    let _other = stored_campaign(&*store, &account.id, 3).await;
    let campaign = stored_campaign(&*store, &account.id, 4).await;
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 7);
    let rendering = moved(&campaign, CampaignStatus::Rendering, BASE_MS + 1_000);
    assert_eq!(
        store
            .commit_transition(&rendering, CampaignStatus::Collecting, 0, None)
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 7);

    // One of four videos was produced: three go back.
    let failure = failed(&rendering, 1, BASE_MS + 2_000);
    assert_eq!(
        store
            .commit_transition(&failure, CampaignStatus::Rendering, 3, None)
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 4);
    assert_eq!(
        store.get_campaign(campaign.id).await.unwrap(),
        Some(failure.clone())
    );

    // The duplicate failure is stale and refunds nothing.
    assert_eq!(
        store
            .commit_transition(&failure, CampaignStatus::Rendering, 3, None)
            .await
            .unwrap(),
        TransitionOutcome::Stale(Box::new(failure.clone()))
    );
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 4);
    assert_eq!(store.quota_used(&account.id, "2026-10").await.unwrap(), 0);
}

/// The refund is clamped at zero and never creates a quota record (only an out-of-band
/// edit could make a refund larger than what is used; the transition still happens).
async fn refund_never_goes_below_zero<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Scale, None).await;
    // The quota record holds one video; the campaign says it reserved three.
    let campaign = campaign(&account.id, 3);
    let outcome = store
        .create_campaign(
            &campaign,
            &reservation(&account.id, "2026-09", 1, 100),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
    let failure = failed(&campaign, 0, BASE_MS + 1_000);
    assert_eq!(
        store
            .commit_transition(&failure, CampaignStatus::Collecting, 3, None)
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 0);
    assert_eq!(
        store.get_campaign(campaign.id).await.unwrap(),
        Some(failure)
    );

    // A period with no quota record: the campaign still fails, and no record appears.
    let mut elsewhere = self::campaign(&account.id, 2);
    elsewhere.quota_period = "2026-11".to_string();
    let outcome = store
        .create_campaign(
            &elsewhere,
            &reservation(&account.id, "2026-09", 2, 100),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
    let failure = failed(&elsewhere, 0, BASE_MS + 2_000);
    assert_eq!(
        store
            .commit_transition(&failure, CampaignStatus::Collecting, 2, None)
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    assert_eq!(
        store.get_campaign(elsewhere.id).await.unwrap(),
        Some(failure)
    );
    assert_eq!(store.quota_used(&account.id, "2026-11").await.unwrap(), 0);
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 2);
}

async fn terminal_transition_stores_and_queues_its_event<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Scale, None).await;
    let campaign = stored_campaign(&*store, &account.id, 2).await;
    assert_eq!(store.take_queued().await, vec![]);

    // Ids that sort against creation time, so the listing order is the creation order.
    let suffix = Uuid::new_v4().simple().to_string();
    let review = moved(&campaign, CampaignStatus::Review, BASE_MS + 5_000);
    let first = webhook_event(&review, &format!("evt_9{suffix}"), BASE_MS + 5_000);
    assert_eq!(
        store
            .commit_transition(&review, CampaignStatus::Collecting, 0, Some(&first))
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    assert_eq!(
        store.get_event(campaign.id, &first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.list_events(campaign.id).await.unwrap(),
        vec![first.clone()]
    );
    assert_eq!(
        store.take_queued().await,
        vec![StageMessage::webhook(campaign.id, &first.id)]
    );
    // Events are found under their own campaign only.
    assert_eq!(
        store.get_event(Uuid::new_v4(), &first.id).await.unwrap(),
        None
    );
    assert_eq!(store.list_events(Uuid::new_v4()).await.unwrap(), vec![]);

    // The duplicate: stale, no second event, nothing queued.
    let duplicate = webhook_event(&review, &event_id(), BASE_MS + 6_000);
    assert_eq!(
        store
            .commit_transition(&review, CampaignStatus::Collecting, 0, Some(&duplicate))
            .await
            .unwrap(),
        TransitionOutcome::Stale(Box::new(review.clone()))
    );
    assert_eq!(
        store.get_event(campaign.id, &duplicate.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.list_events(campaign.id).await.unwrap(),
        vec![first.clone()]
    );
    assert_eq!(store.take_queued().await, vec![]);

    // `review` may still fail: a second event, listed after the first.
    let failure = failed(&review, 2, BASE_MS + 7_000);
    let second = webhook_event(&failure, &format!("evt_0{suffix}"), BASE_MS + 7_000);
    assert_eq!(
        store
            .commit_transition(&failure, CampaignStatus::Review, 0, Some(&second))
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    assert_eq!(
        store.list_events(campaign.id).await.unwrap(),
        vec![first, second.clone()]
    );
    assert_eq!(
        store.take_queued().await,
        vec![StageMessage::webhook(campaign.id, &second.id)]
    );
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 2);
}

/// Attempt `n + 1` never starts while attempt `n` is in flight (a duplicate message must
/// not send beside it) nor before its retry time; a claim whose worker died (unfinished
/// for `ATTEMPT_STALE_AFTER_MS`) no longer blocks the next.
async fn attempts_wait_for_the_previous_one_and_the_retry_time<S: Store>(store: Arc<S>) {
    let (campaign, event) = campaign_with_event(&*store).await;
    let (c, e) = (campaign.id, event.id.clone());
    let first = started(1, BASE_MS + 10_000);
    assert!(store.claim_attempt(c, &e, &first).await.unwrap().is_some());
    // In flight: a second worker may not start attempt 2.
    let second = started(2, BASE_MS + 10_001);
    assert_eq!(store.claim_attempt(c, &e, &second).await.unwrap(), None);
    // Finished with a retry time: not before it, then yes.
    store
        .finish_attempt(
            c,
            &e,
            &finished(&first, Some(500), Some("HTTP 500")),
            DeliveryState::Pending,
            BASE_MS + 40_000,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_attempt(c, &e, &started(2, BASE_MS + 39_999))
            .await
            .unwrap(),
        None
    );
    assert!(store
        .claim_attempt(c, &e, &started(2, BASE_MS + 40_000))
        .await
        .unwrap()
        .is_some());
    // Attempt 2's worker dies without finishing: attempt 3 waits out the stale period.
    let stale = reelforge_core::model::ATTEMPT_STALE_AFTER_MS;
    let early = started(3, BASE_MS + 40_000 + stale - 1);
    assert_eq!(store.claim_attempt(c, &e, &early).await.unwrap(), None);
    let late = started(3, BASE_MS + 40_000 + stale);
    let claimed = store.claim_attempt(c, &e, &late).await.unwrap().unwrap();
    assert_eq!(claimed.attempts.len(), 3);
    assert!(!claimed.attempts[1].finished);
}

async fn delivery_attempts_are_claimed_once<S: Store>(store: Arc<S>) {
    let (campaign, event) = campaign_with_event(&*store).await;
    let (c, e) = (campaign.id, event.id.clone());

    // Ten workers race for attempt 1: exactly one claims it.
    let first = started(1, BASE_MS + 10_000);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            let (e, first) = (e.clone(), first.clone());
            tokio::spawn(async move { store.claim_attempt(c, &e, &first).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        if let Some(event) = task.await.unwrap().expect("claim") {
            claimed.push(event);
        }
    }
    let mut expected = event.clone();
    expected.attempts = vec![first.clone()];
    assert_eq!(claimed, vec![expected.clone()]);
    assert_eq!(store.get_event(c, &e).await.unwrap(), Some(expected));

    // Out of turn: attempt 3 with one made, attempt 1 again, attempt 0.
    for number in [3, 1, 0] {
        let attempt = started(number, BASE_MS + 11_000);
        assert_eq!(store.claim_attempt(c, &e, &attempt).await.unwrap(), None);
    }

    // Finishing records the outcome, the state and the next time.
    let first_done = finished(&first, Some(500), Some("HTTP 500"));
    store
        .finish_attempt(c, &e, &first_done, DeliveryState::Pending, BASE_MS + 40_000)
        .await
        .unwrap();
    let read = store.get_event(c, &e).await.unwrap().unwrap();
    assert_eq!(read.attempts, vec![first_done.clone()]);
    assert_eq!(read.state, DeliveryState::Pending);
    assert_eq!(read.next_attempt_at_ms, BASE_MS + 40_000);

    // Attempts 2 and 3 use up the budget of three: a fourth is refused though pending.
    let mut made = vec![first_done];
    for number in 2..=3 {
        let attempt = started(number, BASE_MS + i64::from(number) * 50_000);
        let claimed = store.claim_attempt(c, &e, &attempt).await.unwrap().unwrap();
        assert_eq!(claimed.attempts.len(), number as usize);
        let done = finished(&attempt, None, Some("connection refused"));
        let retry_at = attempt.started_at_ms + 10_000;
        store
            .finish_attempt(c, &e, &done, DeliveryState::Pending, retry_at)
            .await
            .unwrap();
        made.push(done);
    }
    let fourth = started(4, BASE_MS + 300_000);
    assert_eq!(store.claim_attempt(c, &e, &fourth).await.unwrap(), None);
    // The last attempt finishes the event as failed (finishing again replaces it).
    store
        .finish_attempt(c, &e, &made[2], DeliveryState::Failed, BASE_MS + 300_000)
        .await
        .unwrap();
    let read = store.get_event(c, &e).await.unwrap().unwrap();
    assert_eq!(read.attempts, made);
    assert_eq!(
        (read.state, read.attempt_budget, read.next_attempt_at_ms),
        (DeliveryState::Failed, 3, BASE_MS + 300_000)
    );
    assert_eq!(store.claim_attempt(c, &e, &fourth).await.unwrap(), None);

    // Attempts and events that do not exist.
    let never = finished(&started(7, BASE_MS), Some(200), None);
    assert!(matches!(
        store
            .finish_attempt(c, &e, &never, DeliveryState::Delivered, BASE_MS)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .finish_attempt(
                c,
                "evt_missing",
                &made[0],
                DeliveryState::Delivered,
                BASE_MS
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.claim_attempt(c, "evt_missing", &first).await.unwrap(),
        None
    );
    assert_eq!(store.get_event(c, "evt_missing").await.unwrap(), None);
    assert_eq!(
        store.get_event(c, &e).await.unwrap().unwrap().attempts,
        made
    );
    // Claims and finishes queue nothing (retries are the sender's business).
    assert_eq!(store.take_queued().await, vec![]);
}

async fn reopen_gives_a_new_budget<S: Store>(store: Arc<S>) {
    let (campaign, event) = campaign_with_event(&*store).await;
    let (c, e) = (campaign.id, event.id.clone());

    // Pending (its first delivery is under way): nothing to reopen.
    assert_eq!(store.reopen_event(c, &e, 3, BASE_MS).await.unwrap(), None);
    assert_eq!(store.take_queued().await, vec![]);

    // All three attempts fail (the event is due from BASE_MS + 5_000).
    for number in 1..=3 {
        let attempt = started(number, BASE_MS + 10_000 + i64::from(number) * 1_000);
        store.claim_attempt(c, &e, &attempt).await.unwrap().unwrap();
        let state = if number == 3 {
            DeliveryState::Failed
        } else {
            DeliveryState::Pending
        };
        let done = finished(&attempt, Some(503), Some("HTTP 503"));
        let retry_at = attempt.started_at_ms;
        store
            .finish_attempt(c, &e, &done, state, retry_at)
            .await
            .unwrap();
    }

    // Reopened: pending, three more attempts, due now, and its delivery queued.
    let now = BASE_MS + 100_000;
    let reopened = store.reopen_event(c, &e, 3, now).await.unwrap().unwrap();
    assert_eq!(
        (
            reopened.state,
            reopened.attempt_budget,
            reopened.next_attempt_at_ms,
            reopened.attempts.len()
        ),
        (DeliveryState::Pending, 6, now, 3)
    );
    assert_eq!(store.get_event(c, &e).await.unwrap(), Some(reopened));
    assert_eq!(
        store.take_queued().await,
        vec![StageMessage::webhook(c, &e)]
    );
    // While it is pending, reopening again is refused and queues nothing.
    assert_eq!(store.reopen_event(c, &e, 3, now + 1).await.unwrap(), None);
    assert_eq!(store.take_queued().await, vec![]);

    // The new budget is usable; a delivered event can be reopened too.
    let fourth = started(4, now + 1_000);
    store.claim_attempt(c, &e, &fourth).await.unwrap().unwrap();
    let done = finished(&fourth, Some(204), None);
    store
        .finish_attempt(c, &e, &done, DeliveryState::Delivered, now + 1_000)
        .await
        .unwrap();
    let again = store
        .reopen_event(c, &e, 3, now + 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.state, again.attempt_budget, again.next_attempt_at_ms),
        (DeliveryState::Pending, 7, now + 5_000)
    );
    assert_eq!(again.attempts.last(), Some(&done));
    assert_eq!(
        store.take_queued().await,
        vec![StageMessage::webhook(c, &e)]
    );

    assert!(matches!(
        store.reopen_event(c, "evt_missing", 3, now).await,
        Err(StoreError::NotFound)
    ));
}

async fn webhook_secret_rotation<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Growth, None).await;
    let until = at_ms(BASE_MS + 24 * 60 * 60 * 1000);
    let rotated = store
        .rotate_webhook_secret(&account.id, "whsec_next", until)
        .await
        .unwrap();
    let mut expected = account.clone();
    expected.webhook_secret = "whsec_next".to_string();
    expected.previous_webhook_secret = Some("whsec_contract".to_string());
    expected.previous_webhook_secret_expires_at = Some(until);
    assert_eq!(rotated, expected);
    let read = store.get_account(&account.id).await.unwrap().unwrap();
    assert_eq!(read, expected);
    let just_before = until - chrono::Duration::milliseconds(1);
    assert_eq!(
        read.signing_secrets(just_before),
        vec!["whsec_next", "whsec_contract"]
    );
    assert_eq!(read.signing_secrets(until), vec!["whsec_next"]);

    // Rotating again keeps the secret it replaces, with the new expiry.
    let later = at_ms(BASE_MS + 48 * 60 * 60 * 1000);
    let again = store
        .rotate_webhook_secret(&account.id, "whsec_third", later)
        .await
        .unwrap();
    assert_eq!(
        (
            again.webhook_secret.as_str(),
            again.previous_webhook_secret.as_deref(),
            again.previous_webhook_secret_expires_at
        ),
        ("whsec_third", Some("whsec_next"), Some(later))
    );
    assert_eq!(store.get_account(&account.id).await.unwrap(), Some(again));

    assert!(matches!(
        store
            .rotate_webhook_secret("acct_nobody", "whsec_x", until)
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.get_account("acct_nobody").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------
// Stage queue

fn stage_message() -> StageMessage {
    StageMessage::stage(reelforge_core::model::Stage::Collect, Uuid::new_v4())
}

async fn queue_send<S: Store>(store: Arc<S>) {
    // What was sent is checked per backend below; here: sending works and keeps order.
    for _ in 0..2 {
        store.send(&stage_message(), 0).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_queue_send_delivers_the_message() {
    let dir = TempDir::new("queue");
    let store = local_store(&dir);
    let message = stage_message();
    store.send(&message, 0).await.unwrap();
    assert_eq!(store.pending_messages().unwrap(), vec![message]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_queue_send_delivers_the_message() {
    let store = support::moto::aws_store().await;
    let message = stage_message();
    store.send(&message, 0).await.unwrap();
    let received = store
        .sqs_client()
        .receive_message()
        .queue_url(&store.names().queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let bodies: Vec<StageMessage> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies, vec![message]);
}

// ---------------------------------------------------------------------------------------
// aws only: an unreachable store, and the round-trip budget of the create path

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_unreachable_store_is_unavailable_quickly() {
    let store = support::moto::dead_aws_store().await;
    let started = Instant::now();
    let result = store
        .admit("ip-anon#198.51.100.1", 10, WINDOW_MS, BASE_MS)
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    assert!(matches!(
        store.lookup_key(&"0".repeat(64)).await,
        Err(StoreError::Unavailable(_))
    ));
    let account_id = "acct_dead";
    let campaign = campaign(account_id, 1);
    assert!(matches!(
        store
            .create_campaign(&campaign, &reservation(account_id, "2026-09", 1, 10), None)
            .await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.send(&stage_message(), 0).await,
        Err(StoreError::Unavailable(_))
    ));
    // No endpoint, port or internal name leaks into the error text.
    if let Err(e) = result {
        let text = e.to_string();
        assert!(
            !text.contains("127.0.0.1") && !text.contains("reelforge-dead"),
            "{text}"
        );
    }
}

/// The create path: IP window, key lookup, account window, the atomic write, the
/// enqueue. Returns its round trips.
async fn create_path(store: &AwsStore, principal_key: &str, account_id: &str, now: i64) -> u64 {
    let before = store.round_trips();
    let ip = store
        .admit("ip-auth#203.0.113.9", 120, WINDOW_MS, now)
        .await
        .unwrap();
    assert!(ip.admitted);
    let principal = store.lookup_key(principal_key).await.unwrap().unwrap();
    let account = store
        .admit(
            &reelforge_core::limiter::account_window_key(account_id),
            principal.plan.create_per_minute(),
            WINDOW_MS,
            now,
        )
        .await
        .unwrap();
    assert!(account.admitted);
    let campaign = campaign(account_id, 3);
    let outcome = store
        .create_campaign(&campaign, &reservation(account_id, "2026-09", 3, 100), None)
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
    store
        .send(
            &StageMessage::stage(reelforge_core::model::Stage::Collect, campaign.id),
            0,
        )
        .await
        .unwrap();
    store.round_trips() - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_create_path_round_trips() {
    let store = support::moto::aws_store().await;
    let account = new_account(&store, Plan::Scale, None).await;
    let key = key_record(&account.id, BASE_MS);
    store.create_key(&key, Some(10)).await.unwrap();

    let cold = create_path(&store, &key.id, &account.id, BASE_MS).await;
    let warm = create_path(&store, &key.id, &account.id, BASE_MS + 1_000).await;
    // Another process already wrote the windows: a window keeps no per-process state,
    // so its first request costs the same.
    let other = support::moto::aws_store_sharing(&store).await;
    let cold_process = create_path(&other, &key.id, &account.id, BASE_MS + 2_000).await;
    println!(
        "round trips per create: first ever {cold}, warm {warm}, new process on existing windows {cold_process}"
    );
    assert_eq!((cold, warm, cold_process), (5, 5, 5));

    // One window on its own: an admission and a refusal are one round trip each; a
    // full log holding expired entries costs two (the refused append returns it, then
    // the pruned log replaces it), once per prune.
    for (offset, expected) in [
        (0, (true, 1)),
        (1, (true, 1)),
        (2, (false, 1)),
        (1_001, (true, 2)),
        // The prune dropped both old entries: the next fits by append.
        (1_002, (true, 1)),
        (1_003, (false, 1)),
    ] {
        let before = store.round_trips();
        let d = store
            .admit("ip-anon#198.51.100.7", 2, 1_000, BASE_MS + offset)
            .await
            .unwrap();
        let got = (d.admitted, store.round_trips() - before);
        assert_eq!(got, expected, "at +{offset} ms");
    }
}

// ---------------------------------------------------------------------------------------
// aws only: the webhook hand-off after a committed write, and round trips per operation

/// SQS cannot join a DynamoDB transaction, so the first delivery is sent after the
/// transition commits. When that send fails, the call fails (`Unavailable`) but the
/// write stands; the retry sees the campaign terminal, and the unstarted event is found
/// through `list_events` to be queued again (what `pipeline::advance` does).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_lost_hand_off_is_recoverable() {
    let store = support::moto::aws_store().await;
    let no_queue = support::moto::aws_store_with_queue(&store, "").await;
    let account = new_account(&store, Plan::Scale, None).await;
    let campaign = stored_campaign(&store, &account.id, 2).await;
    let failure = failed(&campaign, 0, BASE_MS + 1_000);
    let event = webhook_event(&failure, &event_id(), BASE_MS + 1_000);

    let result = no_queue
        .commit_transition(&failure, CampaignStatus::Collecting, 2, Some(&event))
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(
        store.get_campaign(campaign.id).await.unwrap(),
        Some(failure.clone())
    );
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 0);
    assert_eq!(store.take_queued().await, vec![]);

    // The retry: stale, refunding nothing again; the event is there, never started.
    assert_eq!(
        store
            .commit_transition(&failure, CampaignStatus::Collecting, 2, Some(&event))
            .await
            .unwrap(),
        TransitionOutcome::Stale(Box::new(failure.clone()))
    );
    assert_eq!(store.quota_used(&account.id, "2026-09").await.unwrap(), 0);
    let events = store.list_events(campaign.id).await.unwrap();
    assert_eq!(events, vec![event.clone()]);
    assert!(events[0].attempts.is_empty());

    // A reopen whose hand-off fails is undone, so the event can be reopened later
    // (a pending event without a message would never be delivered nor reopened).
    let attempt = started(1, BASE_MS + 2_000);
    store
        .claim_attempt(campaign.id, &event.id, &attempt)
        .await
        .unwrap()
        .unwrap();
    let done = finished(&attempt, Some(410), Some("HTTP 410"));
    store
        .finish_attempt(
            campaign.id,
            &event.id,
            &done,
            DeliveryState::Failed,
            BASE_MS + 2_000,
        )
        .await
        .unwrap();
    let before = store.get_event(campaign.id, &event.id).await.unwrap();
    let result = no_queue
        .reopen_event(campaign.id, &event.id, 3, BASE_MS + 3_000)
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(
        store.get_event(campaign.id, &event.id).await.unwrap(),
        before
    );
    let reopened = store
        .reopen_event(campaign.id, &event.id, 3, BASE_MS + 4_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (reopened.state, reopened.attempt_budget),
        (DeliveryState::Pending, 4)
    );
    assert_eq!(
        store.take_queued().await,
        vec![StageMessage::webhook(campaign.id, &event.id)]
    );
}

/// Round trips (DynamoDB and SQS calls) of each transition and delivery operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_transition_and_delivery_round_trips() {
    let store = support::moto::aws_store().await;
    let account = new_account(&store, Plan::Scale, None).await;
    let campaign = stored_campaign(&store, &account.id, 2).await;
    let trips = |before: u64| store.round_trips() - before;

    let processing = moved(&campaign, CampaignStatus::Processing, BASE_MS + 1_000);
    let before = store.round_trips();
    store
        .commit_transition(&processing, CampaignStatus::Collecting, 0, None)
        .await
        .unwrap();
    let step = trips(before);

    let before = store.round_trips();
    let outcome = store
        .commit_transition(&processing, CampaignStatus::Collecting, 0, None)
        .await
        .unwrap();
    assert!(matches!(outcome, TransitionOutcome::Stale(_)));
    let stale = trips(before);

    let failure = failed(&processing, 0, BASE_MS + 2_000);
    let event = webhook_event(&failure, &event_id(), BASE_MS + 2_000);
    let before = store.round_trips();
    store
        .commit_transition(&failure, CampaignStatus::Processing, 2, Some(&event))
        .await
        .unwrap();
    let terminal = trips(before);

    let (c, e) = (campaign.id, event.id.as_str());
    let before = store.round_trips();
    store.list_events(c).await.unwrap();
    let list = trips(before);
    let attempt = started(1, BASE_MS + 3_000);
    let before = store.round_trips();
    store.claim_attempt(c, e, &attempt).await.unwrap().unwrap();
    let claim = trips(before);
    let before = store.round_trips();
    store
        .finish_attempt(
            c,
            e,
            &finished(&attempt, Some(500), None),
            DeliveryState::Failed,
            BASE_MS,
        )
        .await
        .unwrap();
    let finish = trips(before);
    let before = store.round_trips();
    store.reopen_event(c, e, 3, BASE_MS).await.unwrap().unwrap();
    let reopen = trips(before);
    let before = store.round_trips();
    store
        .rotate_webhook_secret(&account.id, "whsec_next", at_ms(BASE_MS))
        .await
        .unwrap();
    let rotate = trips(before);

    println!(
        "round trips: step {step}, stale {stale}, terminal with refund and event {terminal}, \
         list_events {list}, claim {claim}, finish {finish}, reopen {reopen}, rotate {rotate}"
    );
    assert_eq!(
        (step, stale, terminal, list, claim, finish, reopen, rotate),
        (1, 1, 2, 1, 1, 1, 3, 1)
    );
}

// ---------------------------------------------------------------------------------------
// Revisions and media files

/// Two workers that read the campaign at the same revision (a duplicated stage message
/// taking the stage's lease): only one write applies, even with the status unchanged.
async fn two_writers_from_one_read<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Scale, None).await;
    let campaign = stored_campaign(&*store, &account.id, 1).await;
    let writers = (0..4).map(|i| {
        let store = store.clone();
        let mut next = campaign.clone();
        next.revision += 1;
        next.lease = Some(reelforge_core::model::StageLease {
            stage: Stage::Process,
            holder: format!("worker-{i}"),
            until_ms: BASE_MS + 60_000,
        });
        tokio::spawn(async move {
            store
                .commit_transition(&next, CampaignStatus::Collecting, 0, None)
                .await
                .unwrap()
        })
    });
    let mut applied = 0;
    for w in writers {
        if w.await.unwrap() == TransitionOutcome::Applied {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "exactly one writer from the same read applies");
    let stored = store.get_campaign(campaign.id).await.unwrap().unwrap();
    assert_eq!(stored.revision, 1);
    assert!(stored.lease.is_some());
    // A write that skips a revision, or repeats the stored one, is stale.
    for revision in [1, 3] {
        let mut next = stored.clone();
        next.revision = revision;
        assert!(matches!(
            store
                .commit_transition(&next, CampaignStatus::Collecting, 0, None)
                .await
                .unwrap(),
            TransitionOutcome::Stale(_)
        ));
    }
}

/// Plain HTTP GET of an absolute `http://` URL on loopback: status and body.
fn http_get(url: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let head_lower = head.to_ascii_lowercase();
    let mut body = response[split + 4..].to_vec();
    if head_lower.contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                    .unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[line_end + 4 + size..];
        }
        body = out;
    }
    (status, body)
}

async fn media_files<S: Store>(store: Arc<S>) {
    let key = format!(
        "videos/{}/vertical_en_{}.mp4",
        Uuid::new_v4(),
        Uuid::new_v4()
    );
    assert_eq!(store.get_media(&key).await.unwrap(), None);
    assert!(!store.media_exists(&key).await.unwrap());
    store
        .put_media(&key, bytes::Bytes::from_static(b"first"), "video/mp4")
        .await
        .unwrap();
    assert_eq!(
        store.get_media(&key).await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert!(store.media_exists(&key).await.unwrap());
    // A key that only starts another's name is not there.
    assert!(!store.media_exists(&key[..key.len() - 1]).await.unwrap());
    // Rewriting a deterministic key (a retried stage) replaces the file whole.
    let big = bytes::Bytes::from(vec![7u8; 300_000]);
    store
        .put_media(&key, big.clone(), "video/mp4")
        .await
        .unwrap();
    assert_eq!(store.get_media(&key).await.unwrap(), Some(big));

    for bad in [
        "../escape",
        "/absolute",
        "a//b",
        "a/./b",
        "a/../b",
        "",
        "spaces not allowed",
        "back\\slash",
        "nul\0byte",
    ] {
        assert!(
            store
                .put_media(bad, bytes::Bytes::from_static(b"x"), "text/plain")
                .await
                .is_err(),
            "{bad:?} must be refused"
        );
        assert!(
            store.get_media(bad).await.is_err(),
            "{bad:?} must be refused"
        );
        assert!(store.media_exists(bad).await.is_err(), "{bad:?}");
        assert!(store
            .download_url(bad, Duration::from_secs(60))
            .await
            .is_err());
    }
    let long = "a/".repeat(300) + "b";
    assert!(store
        .put_media(&long, bytes::Bytes::new(), "x")
        .await
        .is_err());
    // Many writers of one key: the file is always one of the writes, whole.
    let writers = (0..8u8).map(|i| {
        let store = store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            store
                .put_media(&key, bytes::Bytes::from(vec![i; 100_000]), "video/mp4")
                .await
                .unwrap()
        })
    });
    for w in writers {
        w.await.unwrap();
    }
    let got = store.get_media(&key).await.unwrap().unwrap();
    assert_eq!(got.len(), 100_000);
    assert!(got.iter().all(|b| *b == got[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_download_url_is_a_working_presigned_get() {
    let store = support::moto::aws_store().await;
    let key = format!("videos/{}/thumb.jpg", Uuid::new_v4());
    store
        .put_media(&key, bytes::Bytes::from_static(b"jpeg bytes"), "image/jpeg")
        .await
        .unwrap();
    let url = store
        .download_url(&key, Duration::from_secs(300))
        .await
        .unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let (status, body) = tokio::task::spawn_blocking(move || http_get(&url))
        .await
        .unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"jpeg bytes"[..]));
}

#[tokio::test]
async fn local_download_links_are_signed_and_expire() {
    let dir = TempDir::new("links");
    let store = local_store(&dir);
    let key = "videos/abc/vertical_en_1.mp4";
    store
        .put_media(key, bytes::Bytes::from_static(b"mp4"), "video/mp4")
        .await
        .unwrap();
    store.set_media_base_url("http://127.0.0.1:9");
    let url = store
        .download_url(key, Duration::from_secs(600))
        .await
        .unwrap();
    let rest = url
        .strip_prefix("http://127.0.0.1:9/files/videos/abc/vertical_en_1.mp4?expires=")
        .expect(&url);
    let (expires, sig) = rest.split_once("&sig=").unwrap();
    let expires: i64 = expires.parse().unwrap();
    let now = Utc::now().timestamp();
    assert!((now + 590..=now + 610).contains(&expires));
    assert_eq!(
        store.resolve_media_link(key, expires, sig, now),
        Some(store.media_root().join(key))
    );
    // Expired, tampered signature, another key, a later expiry: all refused.
    assert_eq!(
        store.resolve_media_link(key, expires, sig, expires + 1),
        None
    );
    let mut tampered = sig.to_string();
    tampered.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
    assert_eq!(store.resolve_media_link(key, expires, &tampered, now), None);
    assert_eq!(
        store.resolve_media_link("videos/abc/other.mp4", expires, sig, now),
        None
    );
    assert_eq!(store.resolve_media_link(key, expires + 1, sig, now), None);
    // Another store on the same data dir (a restarted server) keeps honouring the link.
    drop(store);
    let reopened = local_store(&dir);
    assert!(reopened
        .resolve_media_link(key, expires, sig, now)
        .is_some());
    // A fresh data dir has a different secret.
    let other_dir = TempDir::new("links-other");
    assert_eq!(
        local_store(&other_dir).resolve_media_link(key, expires, sig, now),
        None
    );
}

// ---------------------------------------------------------------------------------------
// Account listings and profiles

/// Waits out the secondary index's eventual consistency on AWS (moto is immediate; the
/// loop is for the real service's semantics, bounded).
async fn listed_campaigns<S: Store>(store: &S, account_id: &str, want: usize) -> Vec<Campaign> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = store.list_campaigns(account_id).await.unwrap();
        if listed.len() >= want || Instant::now() > deadline {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn campaigns_listed_per_account_newest_first<S: Store>(store: Arc<S>) {
    let mine = new_account(&*store, Plan::Scale, None).await;
    let theirs = new_account(&*store, Plan::Scale, None).await;
    let mut created = Vec::new();
    for i in 0..3 {
        let mut c = campaign(&mine.id, 1);
        c.created_at = at_ms(BASE_MS + i * 1_000);
        let r = reservation(&mine.id, &c.quota_period, 1, 100);
        store.create_campaign(&c, &r, None).await.unwrap();
        created.push(c);
    }
    stored_campaign(&*store, &theirs.id, 1).await;
    // A key of the account shares the index partition: it must not show up as a campaign
    // (and campaigns must not show up as keys).
    store
        .create_key(&key_record(&mine.id, BASE_MS), None)
        .await
        .unwrap();
    let listed = listed_campaigns(&*store, &mine.id, 3).await;
    let ids: Vec<Uuid> = listed.iter().map(|c| c.id).collect();
    let expected: Vec<Uuid> = created.iter().rev().map(|c| c.id).collect();
    assert_eq!(ids, expected);
    assert_eq!(store.list_keys(&mine.id).await.unwrap().len(), 1);
    // A transition keeps the campaign listed once, with its new status.
    let next = moved(&created[0], CampaignStatus::Processing, BASE_MS + 9_000);
    store
        .commit_transition(&next, CampaignStatus::Collecting, 0, None)
        .await
        .unwrap();
    let listed = listed_campaigns(&*store, &mine.id, 3).await;
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2].status, CampaignStatus::Processing);
    assert!(store
        .list_campaigns("acct_nobody")
        .await
        .unwrap()
        .is_empty());
}

/// Walks `c` through the pipeline to `rendering`, committing each step.
async fn to_rendering<S: Store>(store: &S, c: &Campaign) -> Campaign {
    let mut current = c.clone();
    for (from, to) in [
        (CampaignStatus::Collecting, CampaignStatus::Processing),
        (CampaignStatus::Processing, CampaignStatus::Scripting),
        (CampaignStatus::Scripting, CampaignStatus::Voiceover),
        (CampaignStatus::Voiceover, CampaignStatus::Rendering),
    ] {
        let next = moved(&current, to, BASE_MS + 1_000);
        assert_eq!(
            store.commit_transition(&next, from, 0, None).await.unwrap(),
            TransitionOutcome::Applied
        );
        current = next;
    }
    current
}

/// The account overview's counters (`core::stats`): a campaign's ready videos and their
/// credits are added once, by the write that moves it from a working status to review
/// or failed, on its creation day; a stale duplicate of that write, review → published
/// and changes while in review add nothing.
async fn produced_counters_count_each_finished_campaign_once<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Scale, None).await;
    let day = reelforge_core::stats::day_of(at_ms(BASE_MS));
    let empty = store
        .account_stats(&account.id, "2000-01-01")
        .await
        .unwrap();
    assert_eq!(empty, reelforge_core::stats::AccountStats::default());

    // Two videos ready at 5 and 7 credits: review.
    let c = stored_campaign(&*store, &account.id, 2).await;
    let rendering = to_rendering(&*store, &c).await;
    let mut review = moved(&rendering, CampaignStatus::Review, BASE_MS + 2_000);
    for (v, credits) in review.videos.iter_mut().zip([5, 7]) {
        v.status = VideoStatus::Ready;
        v.credits_cost = Some(credits);
    }
    assert_eq!(
        store
            .commit_transition(&review, CampaignStatus::Rendering, 0, None)
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    // The same write again (a duplicated message) is stale and counts nothing.
    assert!(matches!(
        store
            .commit_transition(&review, CampaignStatus::Rendering, 0, None)
            .await
            .unwrap(),
        TransitionOutcome::Stale(_)
    ));
    // Published: no second count.
    let published = moved(&review, CampaignStatus::Published, BASE_MS + 3_000);
    store
        .commit_transition(&published, CampaignStatus::Review, 0, None)
        .await
        .unwrap();
    // A failed campaign with one of its three videos ready counts that one.
    let f = stored_campaign(&*store, &account.id, 3).await;
    let mut gone = failed(&f, 1, BASE_MS + 4_000);
    gone.videos[0].credits_cost = Some(4);
    store
        .commit_transition(&gone, CampaignStatus::Collecting, 2, None)
        .await
        .unwrap();
    // Another account's campaign is not ours.
    let other = new_account(&*store, Plan::Scale, None).await;
    let theirs = stored_campaign(&*store, &other.id, 1).await;
    let mut theirs_failed = failed(&theirs, 1, BASE_MS + 5_000);
    theirs_failed.videos[0].credits_cost = Some(100);
    store
        .commit_transition(&theirs_failed, CampaignStatus::Collecting, 0, None)
        .await
        .unwrap();

    let stats = store
        .account_stats(&account.id, "2000-01-01")
        .await
        .unwrap();
    assert_eq!(
        stats,
        reelforge_core::stats::AccountStats {
            days: vec![reelforge_core::stats::Produced {
                day: day.clone(),
                videos: 3,
                credits: 16,
            }],
            total_videos: 3,
            total_credits: 16,
        }
    );
    // Days before `from_day` are left out; the totals are not.
    let later = store
        .account_stats(&account.id, "2999-01-01")
        .await
        .unwrap();
    assert!(later.days.is_empty());
    assert_eq!((later.total_videos, later.total_credits), (3, 16));
}

/// `list_campaign_page` (SPEC §11's listing): newest first by `(created_at, id)`, strictly
/// after the position given, the status filter applied before the limit, `more` exact,
/// other accounts and keys left out; a status change moves nothing in the order.
async fn campaign_pages_by_position<S: Store>(store: Arc<S>) {
    let mine = new_account(&*store, Plan::Scale, None).await;
    let theirs = new_account(&*store, Plan::Scale, None).await;
    let mut created = Vec::new();
    for i in 0..7i64 {
        let mut c = campaign(&mine.id, 1);
        // Nanosecond times, and three campaigns in the same instant (the id orders them).
        c.created_at = at_ms(BASE_MS + i.max(2) * 1_000) + chrono::Duration::nanoseconds(7);
        if i % 3 == 0 {
            c.status = CampaignStatus::Review;
        }
        let r = reservation(&mine.id, &c.quota_period, 1, 100);
        store.create_campaign(&c, &r, None).await.unwrap();
        created.push(c);
    }
    stored_campaign(&*store, &theirs.id, 1).await;
    store
        .create_key(&key_record(&mine.id, BASE_MS), None)
        .await
        .unwrap();
    created.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let order: Vec<Uuid> = created.iter().map(|c| c.id).collect();
    listed_campaigns(&*store, &mine.id, 7).await;

    let page = |before: Option<CampaignPosition>, status, limit| {
        let store = store.clone();
        let account = mine.id.clone();
        async move {
            store
                .list_campaign_page(&account, status, before.as_ref(), limit)
                .await
                .unwrap()
        }
    };
    let first = page(None, None, 3).await;
    assert_eq!(
        first.campaigns.iter().map(|c| c.id).collect::<Vec<_>>(),
        order[..3]
    );
    assert!(first.more);
    let after = CampaignPosition::of(&first.campaigns[2]);
    let second = page(Some(after), None, 3).await;
    assert_eq!(
        second.campaigns.iter().map(|c| c.id).collect::<Vec<_>>(),
        order[3..6]
    );
    assert!(second.more);
    let third = page(Some(CampaignPosition::of(&second.campaigns[2])), None, 3).await;
    assert_eq!(
        third.campaigns.iter().map(|c| c.id).collect::<Vec<_>>(),
        order[6..]
    );
    assert!(!third.more);
    let exact = page(None, None, 7).await;
    assert_eq!(exact.campaigns.len(), 7);
    assert!(!exact.more, "more means another campaign exists");

    // The status filter counts matches only.
    let reviewed: Vec<Uuid> = created
        .iter()
        .filter(|c| c.status == CampaignStatus::Review)
        .map(|c| c.id)
        .collect();
    let one = page(None, Some(CampaignStatus::Review), 1).await;
    assert_eq!(
        one.campaigns.iter().map(|c| c.id).collect::<Vec<_>>(),
        reviewed[..1]
    );
    assert!(one.more);
    let rest = page(
        Some(CampaignPosition::of(&one.campaigns[0])),
        Some(CampaignStatus::Review),
        10,
    )
    .await;
    assert_eq!(
        rest.campaigns.iter().map(|c| c.id).collect::<Vec<_>>(),
        reviewed[1..]
    );
    assert!(!rest.more);

    // A transition changes the status the filter sees, not the order.
    let target = created[1].clone();
    let next = moved(&target, CampaignStatus::Processing, BASE_MS + 60_000);
    store
        .commit_transition(&next, target.status, 0, None)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = page(None, Some(CampaignStatus::Processing), 10).await;
        if all.campaigns.iter().any(|c| c.id == target.id) || Instant::now() > deadline {
            assert!(all.campaigns.iter().any(|c| c.id == target.id));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = page(None, None, 7).await;
    assert_eq!(
        again.campaigns.iter().map(|c| c.id).collect::<Vec<_>>(),
        order
    );
    assert!(store
        .list_campaign_page("acct_nobody", None, None, 5)
        .await
        .unwrap()
        .campaigns
        .is_empty());
}

fn profile(account_id: &str, kind: &str, name: &str, ms: i64) -> ProfileRecord {
    ProfileRecord {
        account_id: account_id.to_string(),
        kind: kind.to_string(),
        id: format!("{kind}_{}", Uuid::new_v4().simple()),
        doc: serde_json::json!({"profile_name": name, "size": 30, "nested": {"x": "(main_w-overlay_w)/2"}}),
        created_at: at_ms(ms),
        updated_at: at_ms(ms),
    }
}

async fn profiles_round_trip<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Scale, None).await;
    let a = profile(&account.id, "font_profile", "A", BASE_MS);
    let b = profile(&account.id, "font_profile", "B", BASE_MS + 1);
    let other_kind = profile(&account.id, "media_profile", "M", BASE_MS);
    let other_account = profile("acct_other", "font_profile", "X", BASE_MS);
    for r in [&b, &a, &other_kind, &other_account] {
        store.create_profile(r, 10).await.unwrap();
    }
    assert_eq!(
        store
            .list_profiles(&account.id, "font_profile")
            .await
            .unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store
            .get_profile(&account.id, "font_profile", &a.id)
            .await
            .unwrap(),
        Some(a.clone())
    );
    // Another account's id, or another kind's, is not found.
    assert_eq!(
        store
            .get_profile(&account.id, "font_profile", &other_account.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_profile(&account.id, "font_profile", &other_kind.id)
            .await
            .unwrap(),
        None
    );
    let mut edited = a.clone();
    edited.doc["profile_name"] = serde_json::json!("A2");
    edited.updated_at = at_ms(BASE_MS + 5);
    assert!(store.replace_profile(&edited).await.unwrap());
    assert_eq!(
        store
            .get_profile(&account.id, "font_profile", &a.id)
            .await
            .unwrap(),
        Some(edited)
    );
    let ghost = profile(&account.id, "font_profile", "G", BASE_MS);
    assert!(!store.replace_profile(&ghost).await.unwrap());
    assert_eq!(
        store
            .get_profile(&account.id, "font_profile", &ghost.id)
            .await
            .unwrap(),
        None
    );
    assert!(store
        .delete_profile(&account.id, "font_profile", &a.id)
        .await
        .unwrap());
    assert!(!store
        .delete_profile(&account.id, "font_profile", &a.id)
        .await
        .unwrap());
    assert_eq!(
        store
            .list_profiles(&account.id, "font_profile")
            .await
            .unwrap(),
        vec![b]
    );
}

async fn profile_cap_under_concurrency<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Scale, None).await;
    let tries = (0..12).map(|i| {
        let store = store.clone();
        let record = profile(&account.id, "voice", &format!("v{i}"), BASE_MS + i);
        tokio::spawn(async move { store.create_profile(&record, 5).await })
    });
    let mut created = 0;
    for t in tries {
        match t.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::LimitReached(_)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(created, 5);
    let listed = store.list_profiles(&account.id, "voice").await.unwrap();
    assert_eq!(listed.len(), 5);
    // Deleting frees a slot, exactly one.
    assert!(store
        .delete_profile(&account.id, "voice", &listed[0].id)
        .await
        .unwrap());
    store
        .create_profile(&profile(&account.id, "voice", "again", BASE_MS), 5)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_profile(&profile(&account.id, "voice", "over", BASE_MS), 5)
            .await,
        Err(StoreError::LimitReached(_))
    ));
}

/// A local worker that outlived its visibility timeout can't delete the copy another
/// worker received since (the receive count is the receipt).
#[tokio::test]
async fn local_ack_is_refused_after_the_message_was_received_again() {
    let dir = TempDir::new("ack-receipt");
    let store = local_store(&dir);
    store.send(&stage_message(), 0).await.unwrap();
    // Visibility 0: the message is visible again at once, as after a timeout.
    let first = store.receive(&[Stage::Collect], 0).unwrap().unwrap();
    let second = store.receive(&[Stage::Collect], 60_000).unwrap().unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(second.receives, first.receives + 1);
    assert!(
        !store.ack(&first).unwrap(),
        "the stale receipt deletes nothing"
    );
    assert!(store.ack(&second).unwrap());
    assert!(store.receive(&[Stage::Collect], 0).unwrap().is_none());
}

async fn lease_renewal_belongs_to_its_holder<S: Store>(store: Arc<S>) {
    let account = new_account(&*store, Plan::Scale, None).await;
    let campaign = stored_campaign(&*store, &account.id, 1).await;
    let mut held = campaign.clone();
    held.revision = 1;
    held.lease = Some(reelforge_core::model::StageLease {
        stage: Stage::Process,
        holder: "worker-a".into(),
        until_ms: BASE_MS + 1_000,
    });
    store
        .commit_transition(&held, CampaignStatus::Collecting, 0, None)
        .await
        .unwrap();
    assert!(store
        .renew_lease(campaign.id, "worker-a", BASE_MS + 9_000)
        .await
        .unwrap());
    assert!(!store
        .renew_lease(campaign.id, "worker-b", BASE_MS + 99_000)
        .await
        .unwrap());
    let stored = store.get_campaign(campaign.id).await.unwrap().unwrap();
    assert_eq!(stored.lease.as_ref().unwrap().until_ms, BASE_MS + 9_000);
    assert_eq!(stored.revision, 1, "a renewal leaves the revision alone");
    // The holder's transition still applies from the revision it read.
    let mut done = held.clone();
    done.revision = 2;
    done.lease = None;
    assert_eq!(
        store
            .commit_transition(&done, CampaignStatus::Collecting, 0, None)
            .await
            .unwrap(),
        TransitionOutcome::Applied
    );
    // With the claim gone, nothing can be renewed.
    assert!(!store
        .renew_lease(campaign.id, "worker-a", BASE_MS + 9_000)
        .await
        .unwrap());
    assert!(!store
        .renew_lease(Uuid::new_v4(), "worker-a", BASE_MS)
        .await
        .unwrap());
}

#[tokio::test]
async fn local_extend_visibility_needs_the_current_receipt() {
    let dir = TempDir::new("extend-visibility");
    let store = local_store(&dir);
    store.send(&stage_message(), 0).await.unwrap();
    let first = store.receive(&[Stage::Collect], 0).unwrap().unwrap();
    assert!(store.extend_visibility(&first, 60_000).unwrap());
    assert!(
        store.receive(&[Stage::Collect], 0).unwrap().is_none(),
        "hidden again"
    );
    assert!(
        store.next_visible_at(&[Stage::Collect]).unwrap().unwrap()
            > chrono::Utc::now().timestamp_millis() + 50_000
    );
    // Received by someone else since: the first worker can no longer hide it.
    assert!(store.extend_visibility(&first, 0).unwrap());
    let second = store.receive(&[Stage::Collect], 60_000).unwrap().unwrap();
    assert!(!store.extend_visibility(&first, 600_000).unwrap());
    assert!(store.ack(&second).unwrap());
}
