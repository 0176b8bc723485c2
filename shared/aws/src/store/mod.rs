//! The aws backend: DynamoDB for records and counters, SQS for the stage queue.
//!
//! # Item layout (one table, reference for ops)
//!
//! The table has a string hash key `pk`, a string range key `sk`, TTL on the numeric
//! attribute `ttl` (unix seconds), on-demand billing, and one global secondary index
//! `gsi1` (`gsi1pk` / `gsi1sk`, all attributes projected).
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | account | `ACCOUNT#{id}` | `ACCOUNT` | the `Account` fields; `key_ids` (string set: hashes of the account's unrevoked keys); `plan_ver`, `keys_ver` (numbers, see below) |
//! | API key | `KEY#{sha256}` | `KEY` | the `ApiKeyRecord` fields (`revoked_at` absent until revoked); a snapshot of the account's `plan` and `videos_per_month`; `gsi1pk` = `ACCOUNT#{account}`, `gsi1sk` = `KEY#{created, RFC 3339 ns}#{sha256}` |
//! | campaign | `CAMPAIGN#{uuid}` | `CAMPAIGN` | the `Campaign` fields (videos as a list of maps), `status` top level; `gsi1pk` = `ACCOUNT#{account}`, `gsi1sk` = `CAMPAIGN#{created, RFC 3339 ns}#{uuid}` (the listing's order: `GET /api/v1/campaigns` is a Query on it, newest first, status as a filter) |
//! | profile | `PROFILES#{account}` | `{kind}#{id}` | the `ProfileRecord` fields (`doc` as a map) |
//! | profile count | `PROFILES#{account}` | `COUNT#{kind}` | `n`: records of the kind (the cap's counter) |
//! | quota | `QUOTA#{account}` | `{YYYY-MM}` | `used`: videos reserved in that month |
//! | produced videos | `STATS#{account}` | `DAY#{YYYY-MM-DD}`, `TOTAL` | `videos`, `credits`: added by the transition that finishes a campaign (`core::stats`) |
//! | idempotency | `IDEMP#{account}#{key}` | `IDEMP` | the `IdempotencyRecord` fields; `ttl` = `expires_at_ms / 1000` |
//! | sliding window | `WIN#{window key}` | `WIN` | `log`: list of admission times (unix ms, at most `limit`; appended in arrival order, so sorted on read); `ver`: random version, new on every write; `ttl` = last write's admission + window |
//! | webhook event | `CAMPAIGN#{uuid}` | `EVENT#{event id}` | the `WebhookEvent` fields; `attempts` as a list of maps (attempt `n` at index `n - 1`), `state` top level |
//!
//! Absent optional fields are left out of items (never stored as NULL), so conditions can
//! say `attribute_not_exists(revoked_at)`.
//!
//! # Why this shape
//!
//! * **The create path is at most 5 round trips**: IP window (1 conditional update), key
//!   lookup (1 GetItem: the key item carries a snapshot of the plan, so no account read),
//!   account window (1 conditional update), the atomic campaign write (1
//!   TransactWriteItems: quota update + campaign put + idempotency put), SQS send (1).
//! * **Quota is never oversold**: the quota update is conditional on
//!   `used <= quota - n` inside the same transaction as the campaign put, so either both
//!   are written or neither. A failed condition returns the old item (`ALL_OLD`), which
//!   gives `used` for the 429 body without another read.
//! * **Windows are exact sliding logs**, written so that a burst on one window never
//!   turns into a retry storm. An admission is first one conditional `list_append` of
//!   its time, on the condition that the log holds fewer than `limit` entries: the
//!   store applies it atomically, so any number of concurrent requests each take a slot
//!   of their own with one round trip and none loses a race (`ALL_NEW` gives the log for
//!   the headers). When the log is full, the failed condition returns it (`ALL_OLD`),
//!   still one round trip: if every entry is inside the window the request is refused
//!   on that exact state, so `X-RateLimit-Reset` is exact. Only a full log holding
//!   expired entries needs a read-modify-write: the item is replaced, pruned, with a
//!   conditional put on the version it was read at, and a lost race returns the current
//!   item and is retried on it. Each lost race means another request was admitted, so
//!   the retries are bounded by the limit. Every write sets a new random version
//!   (random rather than a counter, so an item that expired through TTL and was
//!   recreated can never be mistaken for the old one).
//! * **Key cap and plan snapshots**: the account item holds the set of unrevoked key
//!   hashes (`key_ids`). Creating a key is one transaction of the key put and
//!   `ADD key_ids` conditioned on `size(key_ids) < cap` and on the plan version the
//!   snapshot was read at; revoking removes the hash in the same transaction that sets
//!   `revoked_at`. `set_plan` rewrites the account and every key in `key_ids` in one
//!   transaction, conditioned on `plan_ver` and `keys_ver`, so a key created
//!   concurrently can never keep a stale plan. (The design sketch had an `active_keys`
//!   counter and found keys through the GSI; the GSI is only eventually consistent, so
//!   `set_plan` could miss a key created a moment before. The set is exact and also
//!   gives the count.) Transactions hold at most 100 items: an account with more than 99
//!   unrevoked keys (possible only below Growth, where there is no cap) has the rest of
//!   its keys updated in follow-up transactions.
//! * **Listing keys** uses `gsi1` (eventually consistent: a key created a moment ago may
//!   be missing from a listing for about a second, never from `lookup_key`).
//! * Reads on the request path (`lookup_key`, windows, campaigns, quota, idempotency)
//!   are strongly consistent: a revoked key is refused on its very next request.
//! * **Status transitions are one transaction**: the campaign put conditioned on the
//!   status it is expected to have, the refund (`used - n` on the quota item) and the
//!   terminal event's put. A failed status condition returns the stored campaign
//!   (`ALL_OLD`), so a duplicate message costs one round trip and writes nothing. The
//!   event's first delivery is sent to SQS right after the transaction (SQS cannot join
//!   it); if that send fails the call fails, and the message's retry finds the campaign
//!   terminal and re-queues events that never started (`pipeline::advance`).
//! * **Events live in their campaign's partition** (`sk` = `EVENT#{id}`): reading one is
//!   a GetItem, listing a campaign's events is one Query. Claiming attempt `n` is one
//!   conditional `list_append` (state pending, exactly `n - 1` attempts, budget left), so
//!   of any number of concurrent claims exactly one succeeds; finishing it replaces
//!   `attempts[n - 1]` on the condition that it holds attempt `n`.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use rand::Rng;
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
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

mod accounts;
mod campaigns;
mod keys;
#[cfg(feature = "s3")]
mod media;
mod profiles;
mod provision;
mod queue;
mod webhooks;
mod windows;

type Item = HashMap<String, AttributeValue>;

/// Where the store keeps things.
#[derive(Debug, Clone)]
pub struct AwsNames {
    pub table: String,
    /// The queue for any stage without its own entry in `stage_queue_urls`.
    pub queue_url: String,
    /// Per-stage queues, from `REELFORGE_QUEUE_URL_<STAGE>`.
    pub stage_queue_urls: std::collections::BTreeMap<Stage, String>,
    /// The S3 bucket media files go to (`REELFORGE_MEDIA_BUCKET`).
    pub media_bucket: String,
}

impl AwsNames {
    /// `REELFORGE_TABLE` (default `reelforge`), `REELFORGE_QUEUE_URL` (default empty:
    /// sending then fails with `Unavailable`), `REELFORGE_QUEUE_URL_<STAGE>` and
    /// `REELFORGE_MEDIA_BUCKET`.
    pub fn from_env() -> AwsNames {
        AwsNames {
            table: std::env::var("REELFORGE_TABLE").unwrap_or_else(|_| "reelforge".to_string()),
            queue_url: std::env::var("REELFORGE_QUEUE_URL").unwrap_or_default(),
            stage_queue_urls: Stage::ALL
                .iter()
                .filter_map(|&stage| {
                    let var = format!(
                        "REELFORGE_QUEUE_URL_{}",
                        stage.as_str().to_ascii_uppercase()
                    );
                    std::env::var(var)
                        .ok()
                        .filter(|url| !url.is_empty())
                        .map(|url| (stage, url))
                })
                .collect(),
            media_bucket: std::env::var("REELFORGE_MEDIA_BUCKET").unwrap_or_default(),
        }
    }

    /// The queue a stage's messages go to.
    pub fn queue_for(&self, stage: Stage) -> &str {
        self.stage_queue_urls
            .get(&stage)
            .map_or(self.queue_url.as_str(), String::as_str)
    }
}

pub struct AwsStore {
    dynamo: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    names: AwsNames,
    round_trips: AtomicU64,
    /// The media bucket, for setups that want one object for every port (tests, the CLI).
    #[cfg(feature = "s3")]
    media: Option<crate::s3::S3Media>,
}

/// A window as last seen: `ver` is `None` when the item did not exist.
#[derive(Debug, Clone, Default)]
struct WindowState {
    ver: Option<String>,
    log: Vec<i64>,
}

/// Optimistic-concurrency attempts before a write gives up as `Unavailable` (a window
/// allows this many plus twice its limit: each lost race there is another admission).
const MAX_ATTEMPTS: u32 = 64;
/// DynamoDB's limit on items per transaction.
const TRANSACTION_MAX_ITEMS: usize = 100;

const ACCOUNT_SK: &str = "ACCOUNT";
const KEY_SK: &str = "KEY";
const CAMPAIGN_SK: &str = "CAMPAIGN";
const IDEMP_SK: &str = "IDEMP";
const WINDOW_SK: &str = "WIN";
const EVENT_SK_PREFIX: &str = "EVENT#";
const GSI1: &str = "gsi1";

fn account_pk(id: &str) -> String {
    format!("ACCOUNT#{id}")
}
fn key_pk(hash: &str) -> String {
    format!("KEY#{hash}")
}
fn campaign_pk(id: Uuid) -> String {
    format!("CAMPAIGN#{id}")
}
fn quota_pk(account_id: &str) -> String {
    format!("QUOTA#{account_id}")
}
/// Produced-video counters of an account: `sk` = `DAY#{YYYY-MM-DD}`, and `TOTAL`.
fn stats_pk(account_id: &str) -> String {
    format!("STATS#{account_id}")
}
fn idempotency_pk(account_id: &str, key: &str) -> String {
    format!("IDEMP#{account_id}#{key}")
}
fn window_pk(key: &str) -> String {
    format!("WIN#{key}")
}
fn event_sk(event_id: &str) -> String {
    format!("{EVENT_SK_PREFIX}{event_id}")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A campaign's item: its fields, its key, and its place in the account's listing
/// (`gsi1`: `ACCOUNT#{account}` / `CAMPAIGN#{created, RFC 3339 ns}#{uuid}`).
fn campaign_item(campaign: &Campaign) -> StoreResult<Item> {
    let mut item = to_item(campaign)?;
    item.extend(primary_key(campaign_pk(campaign.id), CAMPAIGN_SK));
    item.insert("gsi1pk".to_string(), s(account_pk(&campaign.account_id)));
    item.insert(
        "gsi1sk".to_string(),
        s(campaign_index_sk(campaign.created_at, campaign.id)),
    );
    Ok(item)
}

/// `CAMPAIGN#{created, RFC 3339 with 9 fractional digits}#{uuid}`: fixed width up to the
/// id, so the index orders campaigns by creation time, then id (the listing's order).
fn campaign_index_sk(created_at: DateTime<Utc>, id: Uuid) -> String {
    format!(
        "{CAMPAIGN_INDEX_PREFIX}{}#{id}",
        created_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    )
}

const CAMPAIGN_INDEX_PREFIX: &str = "CAMPAIGN#";
const KEY_INDEX_PREFIX: &str = "KEY#";

fn profiles_pk(account_id: &str) -> String {
    format!("PROFILES#{account_id}")
}

fn profile_sk(kind: &str, id: &str) -> String {
    format!("{kind}#{id}")
}

fn profile_count_sk(kind: &str) -> String {
    format!("COUNT#{kind}")
}

/// Whether a request failed only because its condition did not hold.
fn condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}

fn primary_key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// A record as an item, with absent optional fields left out rather than stored as NULL.
fn to_item<T: Serialize>(value: &T) -> StoreResult<Item> {
    let mut item: Item = serde_dynamo::aws_sdk_dynamodb_1::to_item(value)
        .map_err(|e| StoreError::Other(format!("encoding item: {e}")))?;
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|e| StoreError::Other(format!("decoding item: {e}")))
}

fn to_value<T: Serialize>(value: &T) -> StoreResult<AttributeValue> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value)
        .map_err(|e| StoreError::Other(format!("encoding value: {e}")))
}

fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn string_set_len(item: &Item, name: &str) -> usize {
    item.get(name)
        .and_then(|v| v.as_ss().ok())
        .map_or(0, |set| set.len())
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(format!("building request: {e}"))
}

/// Error codes that mean "the service is there but cannot serve us now".
fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "Throttling"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "InternalServerError"
            | "InternalFailure"
            | "InternalError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "TransactionInProgressException"
            | "RequestThrottled"
            | "KmsThrottled"
    )
}

/// Maps an SDK error: transport failures, timeouts and throttling (the SDK has already
/// retried those) are `Unavailable`; anything else the service refused is `Other`. Only
/// the operation and the error code reach the message; details go to the log.
fn sdk_err<E, R>(op: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    tracing::warn!(op, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "aws call failed");
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown error").to_string();
            if is_transient_code(&code) {
                StoreError::Unavailable(format!("{op}: {code}"))
            } else {
                StoreError::Other(format!("{op}: {code}"))
            }
        }
        SdkError::ConstructionFailure(_) => {
            StoreError::Other(format!("{op}: request could not be built"))
        }
        SdkError::TimeoutError(_) => StoreError::Unavailable(format!("{op}: timed out")),
        SdkError::DispatchFailure(_) => {
            StoreError::Unavailable(format!("{op}: could not reach the service"))
        }
        _ => StoreError::Unavailable(format!("{op}: unreadable response")),
    }
}

/// Sleeps a random while that grows with the attempt number (at most ~100 ms), so
/// contending writers spread out.
async fn backoff(attempt: u32) {
    let cap_ms = (2u64 << attempt.min(6)).min(100);
    let ms = rand::rng().random_range(0..=cap_ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A version for a window item: random, so an item recreated after TTL never matches
/// a version some process cached before it expired.
fn random_version() -> String {
    (rand::rng().random::<u64>() >> 11).to_string()
}

/// How a transaction ended when DynamoDB cancelled it.
enum TxError {
    Cancelled(Vec<CancellationReason>),
    Store(StoreError),
}

fn reason_code(reasons: &[CancellationReason], index: usize) -> &str {
    reasons.get(index).and_then(|r| r.code()).unwrap_or("None")
}

/// Cancellations worth another attempt: another transaction held an item, or throttling.
fn is_retryable_cancellation(reasons: &[CancellationReason]) -> bool {
    reasons.iter().any(|r| {
        matches!(
            r.code(),
            Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
        )
    })
}

fn cancellation_codes(reasons: &[CancellationReason]) -> String {
    reasons
        .iter()
        .map(|r| r.code().unwrap_or("None"))
        .collect::<Vec<_>>()
        .join(",")
}

const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// The key item: the record plus a snapshot of the account's plan.
#[derive(Debug, Serialize, Deserialize)]
struct KeyItem {
    id: String,
    account_id: String,
    display: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    plan: Plan,
    videos_per_month: Option<u32>,
}

impl KeyItem {
    fn record(self) -> ApiKeyRecord {
        ApiKeyRecord {
            id: self.id,
            account_id: self.account_id,
            display: self.display,
            scopes: self.scopes,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        }
    }
}

impl AwsStore {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        names: AwsNames,
    ) -> Self {
        Self {
            dynamo,
            sqs,
            names,
            round_trips: AtomicU64::new(0),
            #[cfg(feature = "s3")]
            media: None,
        }
    }

    /// Reads `REELFORGE_TABLE` (default `reelforge`) and `REELFORGE_QUEUE_URL` (default
    /// empty: `send` then fails with `Unavailable`), and the standard AWS config chain
    /// (which honours `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::from_config(&config)
    }

    /// As [`AwsStore::from_env`], on an AWS config already loaded (a Lambda's other
    /// clients share it).
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(
            aws_sdk_dynamodb::Client::new(config),
            aws_sdk_sqs::Client::new(config),
            AwsNames::from_env(),
        )
    }

    /// This store, answering for the media port too (through `media`).
    #[cfg(feature = "s3")]
    pub fn with_media(mut self, media: crate::s3::S3Media) -> Self {
        self.media = Some(media);
        self
    }

    #[cfg(feature = "s3")]
    pub(crate) fn media(&self) -> StoreResult<&crate::s3::S3Media> {
        self.media
            .as_ref()
            .ok_or_else(|| StoreError::Other("this store has no media bucket".into()))
    }

    pub fn names(&self) -> &AwsNames {
        &self.names
    }

    /// The SQS client (tests read the queue back through it).
    pub fn sqs_client(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }

    /// Number of DynamoDB and SQS calls this store has made (SDK-internal retries of one
    /// call are not counted separately).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// A strongly consistent read of one item.
    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        self.count();
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.names.table)
            .set_key(Some(primary_key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("GetItem", e))?;
        Ok(out.item)
    }

    /// Every item of an account's `gsi1` partition whose sort key starts with `prefix`
    /// (keys, campaigns), oldest first when `ascending`.
    async fn account_index(
        &self,
        account_id: &str,
        prefix: &str,
        ascending: bool,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.count();
            let page = self
                .dynamo
                .query()
                .table_name(&self.names.table)
                .index_name(GSI1)
                .key_condition_expression("#g = :g AND begins_with(#s, :p)")
                .expression_attribute_names("#g", "gsi1pk")
                .expression_attribute_names("#s", "gsi1sk")
                .expression_attribute_values(":g", s(account_pk(account_id)))
                .expression_attribute_values(":p", s(prefix))
                .scan_index_forward(ascending)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_err("Query", e))?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        self.count();
        match self
            .dynamo
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    err.as_service_error()
                {
                    return Err(TxError::Cancelled(
                        cancelled.cancellation_reasons().to_vec(),
                    ));
                }
                Err(TxError::Store(sdk_err("TransactWriteItems", err)))
            }
        }
    }

    fn put(&self, item: Item, condition: &str) -> StoreResult<Put> {
        Put::builder()
            .table_name(&self.names.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(build_err)
    }

    fn update(&self, pk: String, sk: &str) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.names.table)
            .set_key(Some(primary_key(pk, sk)))
    }

    /// An UpdateItem request on one item (sent by `conditional_update`).
    fn update_item(&self, pk: String, sk: &str) -> UpdateItemFluentBuilder {
        self.dynamo
            .update_item()
            .table_name(&self.names.table)
            .set_key(Some(primary_key(pk, sk)))
    }

    /// Sends an UpdateItem: `Ok(None)` when its condition failed, otherwise the attributes
    /// it was asked to return (empty when none).
    async fn conditional_update(
        &self,
        request: UpdateItemFluentBuilder,
    ) -> StoreResult<Option<Item>> {
        self.count();
        match request.send().await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(err) if condition_failed(&err) => Ok(None),
            Err(err) => Err(sdk_err("UpdateItem", err)),
        }
    }

    /// The refund half of a transition: gives `videos` back to the quota of the
    /// campaign's period, on the condition that this leaves `used` at zero or above.
    /// `ADD` one campaign's produced videos to a counter item (its day, or the total).
    fn produced_update(
        &self,
        account_id: &str,
        sk: &str,
        produced: &reelforge_core::stats::Produced,
    ) -> StoreResult<TransactWriteItem> {
        let update = self
            .update(stats_pk(account_id), sk)
            .update_expression("ADD #v :v, #c :c")
            .expression_attribute_names("#v", "videos")
            .expression_attribute_names("#c", "credits")
            .expression_attribute_values(":v", n(produced.videos))
            .expression_attribute_values(":c", n(produced.credits))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn refund_update(&self, next: &Campaign, videos: u32) -> StoreResult<TransactWriteItem> {
        let update = self
            .update(quota_pk(&next.account_id), &next.quota_period)
            .update_expression("SET #used = #used - :n")
            .condition_expression("#used >= :n")
            .expression_attribute_names("#used", "used")
            .expression_attribute_values(":n", n(videos))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Queues the webhook delivery of an event whose write has already happened. Any
    /// failure is `Unavailable`: the write stands, and the caller's retry re-sends.
    async fn hand_off(&self, campaign_id: Uuid, event_id: &str) -> StoreResult<()> {
        self.send(&StageMessage::webhook(campaign_id, event_id), 0)
            .await
            .map_err(|e| match e {
                StoreError::Unavailable(m) => StoreError::Unavailable(m),
                other => StoreError::Unavailable(format!("webhook hand-off: {other}")),
            })
    }

    fn key_plan_update(
        &self,
        key_hash: &str,
        plan: Plan,
        videos_per_month: Option<u32>,
    ) -> StoreResult<TransactWriteItem> {
        let builder = self
            .update(key_pk(key_hash), KEY_SK)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#plan", "plan")
            .expression_attribute_names("#vpm", "videos_per_month")
            .expression_attribute_values(":plan", s(plan.as_str()));
        let builder = match videos_per_month {
            Some(v) => builder
                .update_expression("SET #plan = :plan, #vpm = :vpm")
                .expression_attribute_values(":vpm", n(v)),
            None => builder.update_expression("SET #plan = :plan REMOVE #vpm"),
        };
        Ok(TransactWriteItem::builder()
            .update(builder.build().map_err(build_err)?)
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(code: &str) -> CancellationReason {
        CancellationReason::builder().code(code).build()
    }

    #[test]
    fn conflicts_and_throttling_are_retried_conditions_are_answers() {
        let conflict = [reason("None"), reason("TransactionConflict")];
        assert!(is_retryable_cancellation(&conflict));
        assert!(is_retryable_cancellation(&[reason("ThrottlingError")]));
        let failed = [reason(CONDITION_FAILED), reason("None")];
        assert!(!is_retryable_cancellation(&failed));
        assert_eq!(reason_code(&failed, 0), CONDITION_FAILED);
        assert_eq!(reason_code(&failed, 5), "None");
        assert_eq!(cancellation_codes(&failed), "ConditionalCheckFailed,None");
    }

    #[test]
    fn window_items_decode_sorted_and_absent_is_empty() {
        let item = HashMap::from([
            ("ver".to_string(), n(42)),
            (
                "log".to_string(),
                AttributeValue::L(vec![n(30), n(10), n(20)]),
            ),
        ]);
        let state = AwsStore::window_state(Some(&item));
        assert_eq!(state.ver.as_deref(), Some("42"));
        assert_eq!(state.log, vec![10, 20, 30]);
        let absent = AwsStore::window_state(None);
        assert_eq!((absent.ver, absent.log), (None, vec![]));
    }

    #[test]
    fn items_leave_out_absent_fields() {
        let key = KeyItem {
            id: "h".to_string(),
            account_id: "a".to_string(),
            display: "d".to_string(),
            scopes: vec![],
            created_at: DateTime::<Utc>::default(),
            revoked_at: None,
            plan: Plan::Growth,
            videos_per_month: None,
        };
        let item = to_item(&key).unwrap();
        assert!(!item.contains_key("revoked_at"));
        assert!(!item.contains_key("videos_per_month"));
        assert_eq!(item.get("plan"), Some(&s("growth")));
        let back: KeyItem = from_item(item).unwrap();
        assert_eq!(back.revoked_at, None);
    }

    #[test]
    fn transient_codes_are_unavailable() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "InternalServerError",
        ] {
            assert!(is_transient_code(code), "{code}");
        }
        assert!(!is_transient_code("ValidationException"));
        assert!(!is_transient_code("ResourceNotFoundException"));
    }
}
