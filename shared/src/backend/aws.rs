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
//! | campaign | `CAMPAIGN#{uuid}` | `CAMPAIGN` | the `Campaign` fields (videos as a list of maps), `status` top level; `gsi1pk` = `ACCOUNT#{account}`, `gsi1sk` = `CAMPAIGN#{created, RFC 3339 ns}#{uuid}` |
//! | profile | `PROFILES#{account}` | `{kind}#{id}` | the `ProfileRecord` fields (`doc` as a map) |
//! | profile count | `PROFILES#{account}` | `COUNT#{kind}` | `n`: records of the kind (the cap's counter) |
//! | quota | `QUOTA#{account}` | `{YYYY-MM}` | `used`: videos reserved in that month |
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
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

mod media;
pub use media::s3_client;

type Item = HashMap<String, AttributeValue>;

/// Where the store keeps things.
#[derive(Debug, Clone)]
pub struct AwsNames {
    pub table: String,
    /// The queue for any stage without its own entry in `stage_queue_urls`.
    pub queue_url: String,
    /// Per-stage queues (`collect`, `webhook`, …), from `REELFORGE_QUEUE_URL_<STAGE>`.
    pub stage_queue_urls: std::collections::BTreeMap<String, String>,
    /// The S3 bucket media files go to (`REELFORGE_MEDIA_BUCKET`).
    pub media_bucket: String,
}

/// Stages whose queue can be configured on its own.
const QUEUED_STAGES: [&str; 6] = crate::pipeline::STAGES;

impl AwsNames {
    /// The queue a stage's messages go to.
    pub fn queue_for(&self, stage: &str) -> &str {
        self.stage_queue_urls
            .get(stage)
            .map_or(self.queue_url.as_str(), String::as_str)
    }
}

pub struct AwsStore {
    dynamo: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    names: AwsNames,
    round_trips: AtomicU64,
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
        s(format!(
            "{CAMPAIGN_INDEX_PREFIX}{}#{}",
            campaign
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            campaign.id
        )),
    );
    Ok(item)
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
        s3: aws_sdk_s3::Client,
        names: AwsNames,
    ) -> Self {
        Self {
            dynamo,
            sqs,
            s3,
            names,
            round_trips: AtomicU64::new(0),
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
        let names = AwsNames {
            table: std::env::var("REELFORGE_TABLE").unwrap_or_else(|_| "reelforge".to_string()),
            queue_url: std::env::var("REELFORGE_QUEUE_URL").unwrap_or_default(),
            stage_queue_urls: QUEUED_STAGES
                .iter()
                .filter_map(|stage| {
                    let var = format!("REELFORGE_QUEUE_URL_{}", stage.to_ascii_uppercase());
                    std::env::var(var)
                        .ok()
                        .filter(|url| !url.is_empty())
                        .map(|url| (stage.to_string(), url))
                })
                .collect(),
            media_bucket: std::env::var("REELFORGE_MEDIA_BUCKET").unwrap_or_default(),
        };
        Self::new(
            aws_sdk_dynamodb::Client::new(config),
            aws_sdk_sqs::Client::new(config),
            s3_client(config),
            names,
        )
    }

    /// Creates the media bucket (tests and `reelforge setup` against an emulator).
    pub async fn create_bucket(&self) -> StoreResult<()> {
        self.s3
            .create_bucket()
            .bucket(&self.names.media_bucket)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(media::s3_error(&e)))?;
        Ok(())
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

    /// Creates the table with its GSI and TTL, and waits until it is active. Idempotent.
    pub async fn create_table(&self) -> StoreResult<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_err)
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash)?)
            .key_schema(key("gsi1sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_err)?;
        self.count();
        let created = self
            .dynamo
            .create_table()
            .table_name(&self.names.table)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        if let Err(err) = created {
            let exists = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception());
            if !exists {
                return Err(sdk_err("CreateTable", err));
            }
        }
        self.wait_for_table().await?;

        self.count();
        let ttl = self
            .dynamo
            .describe_time_to_live()
            .table_name(&self.names.table)
            .send()
            .await
            .map_err(|e| sdk_err("DescribeTimeToLive", e))?;
        let status = ttl
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status());
        if !matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            self.count();
            self.dynamo
                .update_time_to_live()
                .table_name(&self.names.table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name("ttl")
                        .enabled(true)
                        .build()
                        .map_err(build_err)?,
                )
                .send()
                .await
                .map_err(|e| sdk_err("UpdateTimeToLive", e))?;
        }
        Ok(())
    }

    async fn wait_for_table(&self) -> StoreResult<()> {
        // On-demand tables usually turn active within half a minute.
        for attempt in 0..180u32 {
            self.count();
            let described = self
                .dynamo
                .describe_table()
                .table_name(&self.names.table)
                .send()
                .await
                .map_err(|e| sdk_err("DescribeTable", e))?;
            let status = described.table().and_then(|t| t.table_status());
            if matches!(status, Some(TableStatus::Active)) {
                return Ok(());
            }
            let wait = if attempt < 10 { 100 } else { 1_000 };
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        Err(StoreError::Unavailable(
            "table did not become active".to_string(),
        ))
    }

    /// Creates an SQS queue and returns its URL. Idempotent for the same name.
    pub async fn create_queue(&self, name: &str) -> StoreResult<String> {
        self.count();
        let out = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| sdk_err("CreateQueue", e))?;
        out.queue_url()
            .map(str::to_string)
            .ok_or_else(|| StoreError::Other("CreateQueue: no queue URL returned".to_string()))
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

    fn window_state(item: Option<&Item>) -> WindowState {
        let Some(item) = item else {
            return WindowState::default();
        };
        let ver = item.get("ver").and_then(|v| v.as_n().ok()).cloned();
        let mut log: Vec<i64> = item
            .get("log")
            .and_then(|v| v.as_l().ok())
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_n().ok()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        log.sort_unstable();
        WindowState { ver, log }
    }

    async fn read_window(&self, key: &str) -> StoreResult<WindowState> {
        let item = self.get(window_pk(key), WINDOW_SK).await?;
        Ok(Self::window_state(item.as_ref()))
    }

    /// The window as a refused conditional write found it: the item the refusal returned
    /// (`ALL_OLD`). Without one, either the item is gone (TTL) or the endpoint does not
    /// return old items, and one consistent read settles it.
    async fn window_after_refusal(
        &self,
        key: &str,
        returned: Option<&Item>,
    ) -> StoreResult<WindowState> {
        match returned {
            Some(current) => Ok(Self::window_state(Some(current))),
            None => self.read_window(key).await,
        }
    }

    /// Appends `now_ms` to the window's log (creating the item) if the log holds fewer
    /// than `limit` entries. `Ok(Ok(log))`: appended, with the log as it now stands;
    /// `Ok(Err(current))`: the log was full, as it stands.
    async fn append_window(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Result<Vec<i64>, WindowState>> {
        let expires_s = (now_ms + window_ms + 999) / 1000;
        let request = self
            .update_item(window_pk(key), WINDOW_SK)
            .update_expression(
                "SET #log = list_append(if_not_exists(#log, :empty), :now), #ver = :ver, #ttl = :ttl",
            )
            .condition_expression("attribute_not_exists(pk) OR size(#log) < :limit")
            .expression_attribute_names("#log", "log")
            .expression_attribute_names("#ver", "ver")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":now", AttributeValue::L(vec![n(now_ms)]))
            .expression_attribute_values(":ver", n(random_version()))
            .expression_attribute_values(":ttl", n(expires_s))
            .expression_attribute_values(":limit", n(limit))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        self.count();
        match request.send().await {
            Ok(output) => Ok(Ok(Self::window_state(output.attributes()).log)),
            Err(err) => {
                let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
                    err.as_service_error()
                else {
                    return Err(sdk_err("UpdateItem", err));
                };
                Ok(Err(self.window_after_refusal(key, failed.item()).await?))
            }
        }
    }

    /// Replaces the window's log if it is still at `expected`'s version. `Ok(None)` when
    /// written; `Ok(Some(current))` when another writer got there first.
    async fn put_window(
        &self,
        key: &str,
        expected: &WindowState,
        new_ver: &str,
        log: &[i64],
        window_ms: i64,
    ) -> StoreResult<Option<WindowState>> {
        let last = log.last().copied().unwrap_or(0);
        let expires_s = (last + window_ms + 999) / 1000;
        let mut item = primary_key(window_pk(key), WINDOW_SK);
        item.insert(
            "log".to_string(),
            AttributeValue::L(log.iter().map(n).collect()),
        );
        item.insert("ver".to_string(), n(new_ver));
        item.insert("ttl".to_string(), n(expires_s));
        let request = self
            .dynamo
            .put_item()
            .table_name(&self.names.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match &expected.ver {
            Some(ver) => request
                .condition_expression("#ver = :ver")
                .expression_attribute_names("#ver", "ver")
                .expression_attribute_values(":ver", n(ver)),
            None => request.condition_expression("attribute_not_exists(pk)"),
        };
        self.count();
        match request.send().await {
            Ok(_) => Ok(None),
            Err(err) => {
                let Some(PutItemError::ConditionalCheckFailedException(failed)) =
                    err.as_service_error()
                else {
                    return Err(sdk_err("PutItem", err));
                };
                Ok(Some(self.window_after_refusal(key, failed.item()).await?))
            }
        }
    }
}

#[async_trait]
impl AccountStore for AwsStore {
    async fn create_account(&self, account: &Account) -> StoreResult<()> {
        let mut item = to_item(account)?;
        item.extend(primary_key(account_pk(&account.id), ACCOUNT_SK));
        item.insert("plan_ver".to_string(), n(0));
        item.insert("keys_ver".to_string(), n(0));
        self.count();
        let result = self
            .dynamo
            .put_item()
            .table_name(&self.names.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => {
                Err(StoreError::Other("account already exists".to_string()))
            }
            Err(err) => Err(sdk_err("PutItem", err)),
        }
    }

    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>> {
        self.get(account_pk(id), ACCOUNT_SK)
            .await?
            .map(from_item)
            .transpose()
    }

    async fn set_plan(
        &self,
        id: &str,
        plan: Plan,
        videos_per_month: Option<u32>,
    ) -> StoreResult<()> {
        for attempt in 0..MAX_ATTEMPTS {
            let account = self
                .get(account_pk(id), ACCOUNT_SK)
                .await?
                .ok_or(StoreError::NotFound)?;
            let plan_ver: u64 = number(&account, "plan_ver").unwrap_or(0);
            let keys_ver: u64 = number(&account, "keys_ver").unwrap_or(0);
            let key_ids: Vec<String> = account
                .get("key_ids")
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default();

            let account_update = self
                .update(account_pk(id), ACCOUNT_SK)
                .condition_expression("#pv = :pv AND #kv = :kv")
                .expression_attribute_names("#pv", "plan_ver")
                .expression_attribute_names("#kv", "keys_ver")
                .expression_attribute_names("#plan", "plan")
                .expression_attribute_names("#vpm", "videos_per_month")
                .expression_attribute_values(":pv", n(plan_ver))
                .expression_attribute_values(":kv", n(keys_ver))
                .expression_attribute_values(":next", n(plan_ver + 1))
                .expression_attribute_values(":plan", s(plan.as_str()));
            let account_update = match videos_per_month {
                Some(v) => account_update
                    .update_expression("SET #plan = :plan, #vpm = :vpm, #pv = :next")
                    .expression_attribute_values(":vpm", n(v)),
                None => {
                    account_update.update_expression("SET #plan = :plan, #pv = :next REMOVE #vpm")
                }
            };
            let mut items = vec![TransactWriteItem::builder()
                .update(account_update.build().map_err(build_err)?)
                .build()];
            let first = key_ids.len().min(TRANSACTION_MAX_ITEMS - 1);
            for hash in &key_ids[..first] {
                items.push(self.key_plan_update(hash, plan, videos_per_month)?);
            }
            match self.transact(items).await {
                Ok(()) => {
                    // Keys beyond one transaction's reach (uncapped plans only).
                    for chunk in key_ids[first..].chunks(TRANSACTION_MAX_ITEMS) {
                        let items = chunk
                            .iter()
                            .map(|hash| self.key_plan_update(hash, plan, videos_per_month))
                            .collect::<StoreResult<Vec<_>>>()?;
                        match self.transact(items).await {
                            Ok(()) => {}
                            Err(TxError::Store(e)) => return Err(e),
                            Err(TxError::Cancelled(reasons)) => {
                                return Err(StoreError::Other(format!(
                                    "updating key plans: {}",
                                    cancellation_codes(&reasons)
                                )))
                            }
                        }
                    }
                    return Ok(());
                }
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(reasons)) => {
                    let account_changed = reason_code(&reasons, 0) == CONDITION_FAILED;
                    if !account_changed && !is_retryable_cancellation(&reasons) {
                        return Err(StoreError::Other(format!(
                            "set_plan cancelled: {}",
                            cancellation_codes(&reasons)
                        )));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "set_plan: too much contention".to_string(),
        ))
    }

    async fn rotate_webhook_secret(
        &self,
        id: &str,
        new_secret: &str,
        previous_until: DateTime<Utc>,
    ) -> StoreResult<Account> {
        // One atomic update: every operand of an update expression is read before any
        // of it is applied, so `#prev` takes the secret that was current.
        let request = self
            .update_item(account_pk(id), ACCOUNT_SK)
            .update_expression("SET #prev = #cur, #prev_until = :until, #cur = :new")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#prev", "previous_webhook_secret")
            .expression_attribute_names("#prev_until", "previous_webhook_secret_expires_at")
            .expression_attribute_names("#cur", "webhook_secret")
            .expression_attribute_values(":until", to_value(&previous_until)?)
            .expression_attribute_values(":new", s(new_secret))
            .return_values(ReturnValue::AllNew);
        match self.conditional_update(request).await? {
            Some(item) => from_item(item),
            None => Err(StoreError::NotFound),
        }
    }
}

#[async_trait]
impl KeyStore for AwsStore {
    async fn create_key(&self, key: &ApiKeyRecord, cap: Option<u32>) -> StoreResult<()> {
        for attempt in 0..MAX_ATTEMPTS {
            let account = self
                .get(account_pk(&key.account_id), ACCOUNT_SK)
                .await?
                .ok_or(StoreError::NotFound)?;
            let active = string_set_len(&account, "key_ids");
            if let Some(cap) = cap {
                if active >= cap as usize {
                    return Err(StoreError::LimitReached(format!(
                        "the plan allows {cap} active keys"
                    )));
                }
            }
            let plan: Plan = account
                .get("plan")
                .and_then(|v| v.as_s().ok())
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| StoreError::Other("account item has no plan".to_string()))?;
            let videos_per_month: Option<u32> = number(&account, "videos_per_month");
            let plan_ver: u64 = number(&account, "plan_ver").unwrap_or(0);

            let snapshot = KeyItem {
                id: key.id.clone(),
                account_id: key.account_id.clone(),
                display: key.display.clone(),
                scopes: key.scopes.clone(),
                created_at: key.created_at,
                revoked_at: key.revoked_at,
                plan,
                videos_per_month,
            };
            let mut item = to_item(&snapshot)?;
            item.extend(primary_key(key_pk(&key.id), KEY_SK));
            item.insert("gsi1pk".to_string(), s(account_pk(&key.account_id)));
            item.insert(
                "gsi1sk".to_string(),
                s(format!(
                    "KEY#{}#{}",
                    key.created_at.format("%Y-%m-%dT%H:%M:%S%.9fZ"),
                    key.id
                )),
            );
            let put = self.put(item, "attribute_not_exists(pk)")?;

            let mut condition = "#pv = :pv".to_string();
            let account_update = self
                .update(account_pk(&key.account_id), ACCOUNT_SK)
                .expression_attribute_names("#pv", "plan_ver")
                .expression_attribute_names("#kv", "keys_ver")
                .expression_attribute_values(":pv", n(plan_ver))
                .expression_attribute_values(":one", n(1));
            // Only unrevoked keys count against the cap.
            let account_update = if key.revoked_at.is_none() {
                let with_set = account_update
                    .expression_attribute_names("#ids", "key_ids")
                    .expression_attribute_values(":ids", AttributeValue::Ss(vec![key.id.clone()]))
                    .update_expression("ADD #ids :ids, #kv :one");
                match cap {
                    Some(cap) => {
                        condition
                            .push_str(" AND (attribute_not_exists(#ids) OR size(#ids) < :cap)");
                        with_set.expression_attribute_values(":cap", n(cap))
                    }
                    None => with_set,
                }
            } else {
                account_update.update_expression("ADD #kv :one")
            };
            let account_update = account_update
                .condition_expression(condition)
                .build()
                .map_err(build_err)?;
            let items = vec![
                TransactWriteItem::builder().put(put).build(),
                TransactWriteItem::builder().update(account_update).build(),
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(reasons)) => {
                    if reason_code(&reasons, 0) == CONDITION_FAILED {
                        return Err(StoreError::Other("key already exists".to_string()));
                    }
                    // The account moved (plan change or a key taken): re-read and decide again.
                    let account_changed = reason_code(&reasons, 1) == CONDITION_FAILED;
                    if !account_changed && !is_retryable_cancellation(&reasons) {
                        return Err(StoreError::Other(format!(
                            "create_key cancelled: {}",
                            cancellation_codes(&reasons)
                        )));
                    }
                    if attempt > 0 {
                        backoff(attempt).await;
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "create_key: too much contention".to_string(),
        ))
    }

    async fn lookup_key(&self, key_hash: &str) -> StoreResult<Option<Principal>> {
        let Some(item) = self.get(key_pk(key_hash), KEY_SK).await? else {
            return Ok(None);
        };
        let key: KeyItem = from_item(item)?;
        Ok(Some(Principal {
            revoked: key.revoked_at.is_some(),
            key_id: key.id,
            account_id: key.account_id,
            plan: key.plan,
            videos_per_month: key.videos_per_month,
            scopes: key.scopes,
        }))
    }

    async fn list_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        self.account_index(account_id, KEY_INDEX_PREFIX, true)
            .await?
            .into_iter()
            .map(|item| Ok(from_item::<KeyItem>(item)?.record()))
            .collect()
    }

    async fn revoke_key(&self, key_id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let Some(item) = self.get(key_pk(key_id), KEY_SK).await? else {
            return Ok(false);
        };
        let key: KeyItem = from_item(item)?;
        if key.revoked_at.is_some() {
            return Ok(false);
        }
        let at = to_value(&at)?;
        let revoke = || {
            self.update(key_pk(key_id), KEY_SK)
                .update_expression("SET #r = :at")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(#r)")
                .expression_attribute_names("#r", "revoked_at")
                .expression_attribute_values(":at", at.clone())
                .build()
                .map_err(build_err)
        };
        let release = self
            .update(account_pk(&key.account_id), ACCOUNT_SK)
            .update_expression("DELETE #ids :ids")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#ids", "key_ids")
            .expression_attribute_values(":ids", AttributeValue::Ss(vec![key_id.to_string()]))
            .build()
            .map_err(build_err)?;
        let mut with_account = true;
        for attempt in 0..MAX_ATTEMPTS {
            let mut items = vec![TransactWriteItem::builder().update(revoke()?).build()];
            if with_account {
                items.push(TransactWriteItem::builder().update(release.clone()).build());
            }
            match self.transact(items).await {
                Ok(()) => return Ok(true),
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(reasons)) => {
                    if reason_code(&reasons, 0) == CONDITION_FAILED {
                        return Ok(false);
                    }
                    if reason_code(&reasons, 1) == CONDITION_FAILED {
                        // The account is gone; the key can still be revoked on its own.
                        with_account = false;
                        continue;
                    }
                    if !is_retryable_cancellation(&reasons) {
                        return Err(StoreError::Other(format!(
                            "revoke_key cancelled: {}",
                            cancellation_codes(&reasons)
                        )));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "revoke_key: too much contention".to_string(),
        ))
    }
}

#[async_trait]
impl CampaignStore for AwsStore {
    async fn create_campaign(
        &self,
        campaign: &Campaign,
        reservation: &QuotaReservation,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<CreateOutcome> {
        let Some(max_before) = reservation.quota.checked_sub(reservation.videos) else {
            let used = self
                .quota_used(&reservation.account_id, &reservation.period)
                .await?;
            return Ok(CreateOutcome::QuotaExceeded { used });
        };
        let quota = self
            .update(quota_pk(&reservation.account_id), &reservation.period)
            .update_expression("SET #used = if_not_exists(#used, :zero) + :n")
            .condition_expression("attribute_not_exists(#used) OR #used <= :max")
            .expression_attribute_names("#used", "used")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":n", n(reservation.videos))
            .expression_attribute_values(":max", n(max_before))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        let campaign_item = campaign_item(campaign)?;
        let mut items = vec![
            TransactWriteItem::builder().update(quota).build(),
            TransactWriteItem::builder()
                .put(self.put(campaign_item, "attribute_not_exists(pk)")?)
                .build(),
        ];
        if let Some(record) = idempotency {
            let mut item = to_item(record)?;
            item.extend(primary_key(
                idempotency_pk(&record.account_id, &record.key),
                IDEMP_SK,
            ));
            item.insert("ttl".to_string(), n(record.expires_at_ms.div_euclid(1000)));
            // An expired record may be replaced; "now" is the new record's creation time.
            let put = Put::builder()
                .table_name(&self.names.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk) OR #exp < :now")
                .expression_attribute_names("#exp", "expires_at_ms")
                .expression_attribute_values(":now", n(record.created_at_ms))
                .build()
                .map_err(build_err)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }

        for attempt in 0..MAX_ATTEMPTS {
            match self.transact(items.clone()).await {
                Ok(()) => return Ok(CreateOutcome::Created),
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(reasons)) => {
                    if idempotency.is_some() && reason_code(&reasons, 2) == CONDITION_FAILED {
                        return Ok(CreateOutcome::IdempotencyTaken);
                    }
                    if reason_code(&reasons, 0) == CONDITION_FAILED {
                        let old_used = reasons
                            .first()
                            .and_then(|r| r.item())
                            .and_then(|item| number::<u32>(item, "used"));
                        let used = match old_used {
                            Some(used) => used,
                            None => {
                                self.quota_used(&reservation.account_id, &reservation.period)
                                    .await?
                            }
                        };
                        return Ok(CreateOutcome::QuotaExceeded { used });
                    }
                    if reason_code(&reasons, 1) == CONDITION_FAILED {
                        return Err(StoreError::Other("campaign id already exists".to_string()));
                    }
                    if !is_retryable_cancellation(&reasons) {
                        return Err(StoreError::Other(format!(
                            "create_campaign cancelled: {}",
                            cancellation_codes(&reasons)
                        )));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "create_campaign: too much contention".to_string(),
        ))
    }

    async fn renew_lease(&self, id: Uuid, holder: &str, until_ms: i64) -> StoreResult<bool> {
        self.count();
        match self
            .dynamo
            .update_item()
            .table_name(&self.names.table)
            .set_key(Some(primary_key(campaign_pk(id), CAMPAIGN_SK)))
            .update_expression("SET #l.#u = :u")
            .condition_expression("#l.#h = :h")
            .expression_attribute_names("#l", "lease")
            .expression_attribute_names("#u", "until_ms")
            .expression_attribute_names("#h", "holder")
            .expression_attribute_values(":u", AttributeValue::N(until_ms.to_string()))
            .expression_attribute_values(":h", s(holder))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_err("UpdateItem", e)),
        }
    }

    async fn list_campaigns(&self, account_id: &str) -> StoreResult<Vec<Campaign>> {
        self.account_index(account_id, CAMPAIGN_INDEX_PREFIX, false)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    async fn get_campaign(&self, id: Uuid) -> StoreResult<Option<Campaign>> {
        self.get(campaign_pk(id), CAMPAIGN_SK)
            .await?
            .map(from_item)
            .transpose()
    }

    async fn get_idempotency(
        &self,
        account_id: &str,
        key: &str,
        now_ms: i64,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let Some(item) = self.get(idempotency_pk(account_id, key), IDEMP_SK).await? else {
            return Ok(None);
        };
        let record: IdempotencyRecord = from_item(item)?;
        // Live through its last millisecond, as in the local backend.
        Ok((record.expires_at_ms >= now_ms).then_some(record))
    }

    async fn release_idempotency(
        &self,
        account_id: &str,
        key: &str,
        campaign_id: Uuid,
    ) -> StoreResult<()> {
        // Expired rather than deleted (the API's role has no DeleteItem): an expired record
        // reads as absent and the next create with the key replaces it; TTL removes it.
        // Gone, or already replaced by another campaign: nothing to do.
        let request = self
            .update_item(idempotency_pk(account_id, key), IDEMP_SK)
            .update_expression("SET #exp = :gone, #ttl = :gone")
            .condition_expression("#c = :c")
            .expression_attribute_names("#exp", "expires_at_ms")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#c", "campaign_id")
            .expression_attribute_values(":gone", n(0))
            .expression_attribute_values(":c", s(campaign_id.to_string()));
        self.conditional_update(request).await.map(|_| ())
    }

    async fn quota_used(&self, account_id: &str, period: &str) -> StoreResult<u32> {
        Ok(self
            .get(quota_pk(account_id), period)
            .await?
            .and_then(|item| number(&item, "used"))
            .unwrap_or(0))
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
        let campaign_item = campaign_item(next)?;
        // Items written before revisions existed have none: they count as revision 0.
        let revision_condition = if read_at == 0 {
            "(attribute_not_exists(#rev) OR #rev = :rev)"
        } else {
            "#rev = :rev"
        };
        let campaign_put = Put::builder()
            .table_name(&self.names.table)
            .set_item(Some(campaign_item))
            .condition_expression(format!(
                "attribute_exists(pk) AND #status = :expected AND {revision_condition}"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#rev", "revision")
            .expression_attribute_values(":expected", s(expected.as_str()))
            .expression_attribute_values(":rev", AttributeValue::N(read_at.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        let event_put = match event {
            Some(event) => {
                let mut item = to_item(event)?;
                item.extend(primary_key(
                    campaign_pk(event.campaign_id),
                    &event_sk(&event.id),
                ));
                Some(
                    TransactWriteItem::builder()
                        .put(self.put(item, "attribute_not_exists(pk)")?)
                        .build(),
                )
            }
            None => None,
        };

        // The refund is clamped at zero, as the local backend's `MAX(used - n, 0)` is, and
        // a missing quota item stays missing. In normal operation the clamp never acts:
        // `used` includes this campaign's reservation, and a campaign is refunded once
        // (the refund rides on the write that makes it terminal, and terminal statuses
        // never move again), so `used >= refund`. Only an out-of-band edit of the quota
        // item could break that; then the transition must still happen, so a failed
        // refund condition is retried with what is left (`ALL_OLD` gives it).
        let mut refund_now = refund;
        for attempt in 0..MAX_ATTEMPTS {
            let mut items = vec![TransactWriteItem::builder()
                .put(campaign_put.clone())
                .build()];
            let quota_index = (refund_now > 0).then_some(items.len());
            if quota_index.is_some() {
                items.push(self.refund_update(next, refund_now)?);
            }
            let event_index = event_put.as_ref().map(|put| {
                items.push(put.clone());
                items.len() - 1
            });
            let reasons = match self.transact(items).await {
                Ok(()) => {
                    if let Some(event) = event {
                        self.hand_off(event.campaign_id, &event.id).await?;
                    }
                    return Ok(TransitionOutcome::Applied);
                }
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Cancelled(reasons)) => reasons,
            };
            if reason_code(&reasons, 0) == CONDITION_FAILED {
                let current = match reasons.first().and_then(|r| r.item()) {
                    Some(item) if !item.is_empty() => from_item(item.clone())?,
                    // Missing, or an endpoint that does not return old items.
                    _ => self
                        .get_campaign(next.id)
                        .await?
                        .ok_or(StoreError::NotFound)?,
                };
                return Ok(TransitionOutcome::Stale(Box::new(current)));
            }
            if let Some(index) = quota_index {
                if reason_code(&reasons, index) == CONDITION_FAILED {
                    let old_used = reasons
                        .get(index)
                        .and_then(|r| r.item())
                        .map(|item| number::<u32>(item, "used").unwrap_or(0));
                    let used = match old_used {
                        Some(used) => used,
                        None => {
                            self.quota_used(&next.account_id, &next.quota_period)
                                .await?
                        }
                    };
                    tracing::warn!(
                        campaign_id = %next.id,
                        refund = refund_now,
                        used,
                        "refund larger than the quota used; clamping at zero"
                    );
                    refund_now = refund_now.min(used);
                    continue;
                }
            }
            if event_index.is_some_and(|i| reason_code(&reasons, i) == CONDITION_FAILED) {
                return Err(StoreError::Other("event id already exists".to_string()));
            }
            if !is_retryable_cancellation(&reasons) {
                return Err(StoreError::Other(format!(
                    "commit_transition cancelled: {}",
                    cancellation_codes(&reasons)
                )));
            }
            backoff(attempt).await;
        }
        Err(StoreError::Unavailable(
            "commit_transition: too much contention".to_string(),
        ))
    }
}

#[async_trait]
impl WindowCounters for AwsStore {
    async fn admit(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Decision> {
        if limit == 0 {
            return Ok(decide(&mut Vec::new(), now_ms, limit, window_ms));
        }
        // `None`: not known yet, and the atomic append is tried first.
        let mut state: Option<WindowState> = None;
        for attempt in 0..MAX_ATTEMPTS.saturating_add(limit.saturating_mul(2)) {
            let current = match state.take() {
                Some(current) if current.log.len() >= limit as usize => current,
                _ => match self.append_window(key, limit, window_ms, now_ms).await? {
                    Ok(mut log) => {
                        // The decision as it stood just before this append.
                        if let Some(mine) = log.iter().position(|&t| t == now_ms) {
                            log.remove(mine);
                        }
                        return Ok(decide(&mut log, now_ms, limit, window_ms));
                    }
                    Err(full) => full,
                },
            };
            let mut log = current.log.clone();
            let decision = decide(&mut log, now_ms, limit, window_ms);
            if !decision.admitted {
                // Refused on the state the store just returned: exact.
                return Ok(decision);
            }
            // Full, but holding expired entries: prune them and admit in one replace.
            match self
                .put_window(key, &current, &random_version(), &log, window_ms)
                .await?
            {
                None => return Ok(decision),
                Some(newer) => {
                    state = Some(newer);
                    if attempt > 0 {
                        backoff(attempt).await;
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "rate window: too much contention".to_string(),
        ))
    }
}

#[async_trait]
impl StageQueue for AwsStore {
    async fn send(&self, message: &StageMessage, delay_secs: u32) -> StoreResult<()> {
        let queue_url = self.names.queue_for(&message.stage);
        if queue_url.is_empty() {
            return Err(StoreError::Unavailable(format!(
                "no queue configured for stage {} (REELFORGE_QUEUE_URL_{} or REELFORGE_QUEUE_URL)",
                message.stage,
                message.stage.to_ascii_uppercase()
            )));
        }
        let body = serde_json::to_string(message)
            .map_err(|e| StoreError::Other(format!("encoding stage message: {e}")))?;
        self.count();
        self.sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .delay_seconds(delay_secs.min(900) as i32)
            .send()
            .await
            .map_err(|e| sdk_err("SendMessage", e))?;
        Ok(())
    }
}

#[cfg(feature = "lambda")]
#[async_trait]
impl crate::lambda::RetryReceived for AwsStore {
    async fn retry_received(
        &self,
        stage: &str,
        receipt_handle: &str,
        delay_secs: u32,
    ) -> StoreResult<()> {
        let queue_url = self.names.queue_for(stage);
        self.count();
        self.sqs
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay_secs).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_err("ChangeMessageVisibility", e))?;
        Ok(())
    }
}

#[async_trait]
impl WebhookStore for AwsStore {
    async fn get_event(
        &self,
        campaign_id: Uuid,
        event_id: &str,
    ) -> StoreResult<Option<WebhookEvent>> {
        self.get(campaign_pk(campaign_id), &event_sk(event_id))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn list_events(&self, campaign_id: Uuid) -> StoreResult<Vec<WebhookEvent>> {
        let mut events: Vec<WebhookEvent> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.count();
            let page = self
                .dynamo
                .query()
                .table_name(&self.names.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(campaign_pk(campaign_id)))
                .expression_attribute_values(":prefix", s(EVENT_SK_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_err("Query", e))?;
            for item in page.items.unwrap_or_default() {
                events.push(from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        // Ids are ULIDs and the query returns them in time order already; the explicit
        // order is the local backend's (creation time, then id), which also holds for
        // events whose creation time came from an injected clock.
        events.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(events)
    }

    async fn claim_attempt(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        attempt: &DeliveryAttempt,
    ) -> StoreResult<Option<WebhookEvent>> {
        let Some(before) = attempt.number.checked_sub(1) else {
            return Ok(None);
        };
        // The same rule as `WebhookEvent::can_claim`, as one condition: pending, exactly
        // `n - 1` attempts, budget left, retry time reached, previous attempt finished
        // or stale (its worker died).
        let mut condition = String::from(
            "attribute_exists(pk) AND #state = :pending AND size(#attempts) = :before \
             AND #budget >= :number AND #next <= :now",
        );
        if let Some(last) = before.checked_sub(1) {
            condition.push_str(&format!(
                " AND (#attempts[{last}].#finished = :true OR #attempts[{last}].#started <= :stale_before)"
            ));
        }
        let mut request = self
            .update_item(campaign_pk(campaign_id), &event_sk(event_id))
            .update_expression("SET #attempts = list_append(#attempts, :new)")
            .condition_expression(condition)
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#budget", "attempt_budget")
            .expression_attribute_names("#next", "next_attempt_at_ms")
            .expression_attribute_values(":new", AttributeValue::L(vec![to_value(attempt)?]))
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":before", n(before))
            .expression_attribute_values(":number", n(attempt.number))
            .expression_attribute_values(":now", n(attempt.started_at_ms))
            .return_values(ReturnValue::AllNew);
        if before > 0 {
            request = request
                .expression_attribute_names("#finished", "finished")
                .expression_attribute_names("#started", "started_at_ms")
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(
                    ":stale_before",
                    n(attempt.started_at_ms - crate::model::ATTEMPT_STALE_AFTER_MS),
                );
        }
        self.conditional_update(request)
            .await?
            .map(from_item)
            .transpose()
    }

    async fn finish_attempt(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        attempt: &DeliveryAttempt,
        state: DeliveryState,
        next_attempt_at_ms: i64,
    ) -> StoreResult<()> {
        // Attempt `n` is claimed only onto `n - 1` attempts, so it sits at index `n - 1`.
        let Some(index) = attempt.number.checked_sub(1) else {
            return Err(StoreError::NotFound);
        };
        // Only the latest attempt of a pending event decides its state (a late finish of
        // an attempt already judged stale must not undo a later outcome); otherwise the
        // attempt's own record is all that changes.
        let decides = self
            .update_item(campaign_pk(campaign_id), &event_sk(event_id))
            .update_expression(format!(
                "SET #attempts[{index}] = :attempt, #state = :state, #next = :next"
            ))
            .condition_expression(format!(
                "#attempts[{index}].#number = :number AND size(#attempts) = :number AND #state = :pending"
            ))
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#number", "number")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#next", "next_attempt_at_ms")
            .expression_attribute_values(":attempt", to_value(attempt)?)
            .expression_attribute_values(":number", n(attempt.number))
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":state", s(state.as_str()))
            .expression_attribute_values(":next", n(next_attempt_at_ms));
        if self.conditional_update(decides).await?.is_some() {
            return Ok(());
        }
        let request = self
            .update_item(campaign_pk(campaign_id), &event_sk(event_id))
            .update_expression(format!("SET #attempts[{index}] = :attempt"))
            .condition_expression(format!("#attempts[{index}].#number = :number"))
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#number", "number")
            .expression_attribute_values(":attempt", to_value(attempt)?)
            .expression_attribute_values(":number", n(attempt.number));
        match self.conditional_update(request).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }

    async fn reopen_event(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        extra: u32,
        now_ms: i64,
    ) -> StoreResult<Option<WebhookEvent>> {
        let pk = || campaign_pk(campaign_id);
        let sk = event_sk(event_id);
        for attempt in 0..MAX_ATTEMPTS {
            let event = self
                .get_event(campaign_id, event_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            if event.state == DeliveryState::Pending {
                return Ok(None);
            }
            // The budget counts from the attempts read; the condition on their number
            // makes sure it is still right when the update lands.
            let made = event.attempts.len() as u32;
            let budget = made + extra;
            let reopen = self
                .update_item(pk(), &sk)
                .update_expression("SET #state = :pending, #budget = :budget, #next = :now")
                .condition_expression("#state <> :pending AND size(#attempts) = :made")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#budget", "attempt_budget")
                .expression_attribute_names("#next", "next_attempt_at_ms")
                .expression_attribute_names("#attempts", "attempts")
                .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
                .expression_attribute_values(":budget", n(budget))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":made", n(made))
                .return_values(ReturnValue::AllNew);
            let Some(item) = self.conditional_update(reopen).await? else {
                // Changed since the read (reopened or finished by someone else): read again.
                backoff(attempt).await;
                continue;
            };
            let reopened: WebhookEvent = from_item(item)?;
            let Err(send_error) = self.hand_off(campaign_id, event_id).await else {
                return Ok(Some(reopened));
            };
            // A pending event with no message would never be delivered, and could not be
            // reopened again (it reads as "delivery under way"). Undo the reopen unless an
            // attempt was claimed meanwhile — then a delivery is under way after all.
            let undo = self
                .update_item(pk(), &sk)
                .update_expression("SET #state = :was, #budget = :old_budget, #next = :old_next")
                .condition_expression(
                    "#state = :pending AND size(#attempts) = :made AND #budget = :budget",
                )
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#budget", "attempt_budget")
                .expression_attribute_names("#next", "next_attempt_at_ms")
                .expression_attribute_names("#attempts", "attempts")
                .expression_attribute_values(":was", s(event.state.as_str()))
                .expression_attribute_values(":old_budget", n(event.attempt_budget))
                .expression_attribute_values(":old_next", n(event.next_attempt_at_ms))
                .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
                .expression_attribute_values(":made", n(made))
                .expression_attribute_values(":budget", n(budget));
            return match self.conditional_update(undo).await {
                Ok(Some(_)) => Err(send_error),
                Ok(None) => Ok(Some(reopened)),
                Err(undo_error) => {
                    tracing::error!(
                        %campaign_id,
                        event_id,
                        error = %undo_error,
                        "reopened event left pending without a queued delivery"
                    );
                    Err(send_error)
                }
            };
        }
        Err(StoreError::Unavailable(
            "reopen_event: too much contention".to_string(),
        ))
    }
}

/// Profiles: one item per record (`PROFILES#{account}` / `{kind}#{id}`) and a counter per
/// kind (`COUNT#{kind}`, `n`), changed in the same transaction as the record, so the cap
/// holds under concurrent creates.
#[async_trait]
impl ProfileStore for AwsStore {
    async fn create_profile(&self, record: &ProfileRecord, cap: u32) -> StoreResult<()> {
        let mut item = to_item(record)?;
        item.extend(primary_key(
            profiles_pk(&record.account_id),
            &profile_sk(&record.kind, &record.id),
        ));
        let counter = self
            .update(
                profiles_pk(&record.account_id),
                &profile_count_sk(&record.kind),
            )
            .update_expression("ADD #n :one")
            .condition_expression("attribute_not_exists(#n) OR #n < :cap")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cap", AttributeValue::N(cap.to_string()))
            .build()
            .map_err(build_err)?;
        let items = vec![
            TransactWriteItem::builder()
                .put(self.put(item, "attribute_not_exists(pk)")?)
                .build(),
            TransactWriteItem::builder().update(counter).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) => {
                if reason_code(&reasons, 1) == CONDITION_FAILED {
                    Err(StoreError::LimitReached(format!(
                        "at most {cap} of this kind per account"
                    )))
                } else {
                    Err(StoreError::Unavailable(format!(
                        "profile create cancelled: {}",
                        reasons
                            .iter()
                            .filter_map(|r| r.code())
                            .collect::<Vec<_>>()
                            .join(",")
                    )))
                }
            }
        }
    }

    async fn replace_profile(&self, record: &ProfileRecord) -> StoreResult<bool> {
        let mut item = to_item(record)?;
        item.extend(primary_key(
            profiles_pk(&record.account_id),
            &profile_sk(&record.kind, &record.id),
        ));
        self.count();
        match self
            .dynamo
            .put_item()
            .table_name(&self.names.table)
            .set_item(Some(item))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_err("PutItem", e)),
        }
    }

    async fn get_profile(
        &self,
        account_id: &str,
        kind: &str,
        id: &str,
    ) -> StoreResult<Option<ProfileRecord>> {
        self.get(profiles_pk(account_id), &profile_sk(kind, id))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn list_profiles(&self, account_id: &str, kind: &str) -> StoreResult<Vec<ProfileRecord>> {
        let mut records: Vec<ProfileRecord> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.count();
            let page = self
                .dynamo
                .query()
                .table_name(&self.names.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(profiles_pk(account_id)))
                .expression_attribute_values(":prefix", s(format!("{kind}#")))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_err("Query", e))?;
            for item in page.items.unwrap_or_default() {
                records.push(from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        records.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(records)
    }

    async fn delete_profile(&self, account_id: &str, kind: &str, id: &str) -> StoreResult<bool> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.names.table)
            .set_key(Some(primary_key(
                profiles_pk(account_id),
                &profile_sk(kind, id),
            )))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_err)?;
        let counter = self
            .update(profiles_pk(account_id), &profile_count_sk(kind))
            .update_expression("ADD #n :minus")
            .condition_expression("#n > :zero")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .build()
            .map_err(build_err)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(counter).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) if reason_code(&reasons, 0) == CONDITION_FAILED => {
                Ok(false)
            }
            Err(TxError::Cancelled(_)) => {
                Err(StoreError::Unavailable("profile delete cancelled".into()))
            }
        }
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
