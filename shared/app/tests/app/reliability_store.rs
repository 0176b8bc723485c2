//! The store half of the reliability suite, on both backends (SQLite, and DynamoDB + SQS
//! on moto), through the same request handler the server and the Lambda functions use.
//!
//! * 500 parallel requests: each limiter layer admits exactly its limit and refuses the
//!   rest with honest headers; mixed-size creates never oversell the quota and leave no
//!   more unsold than the sizes force; failing every admitted campaign from several
//!   callers at once (the dead-letter path and `pipeline::fail`) gives back exactly the
//!   unproduced videos, once.
//! * The store failing in the middle of a create, at each of its steps: on AWS through a
//!   fault-injecting proxy between the SDK and moto (throttling, 5xx, dropped
//!   connections, on every attempt the SDK makes; and a single transient throttle the
//!   SDK's retry absorbs); locally with another connection holding SQLite's write lock.
//!   When the limiter's windows cannot be written the answer is 503; any other store
//!   failure is a 500 "safe to retry" (README, "503 is the limiter's answer only"), also
//!   after the commit, when the campaign whose first message could not be queued is
//!   failed and refunded. Bodies carry no internal detail, nothing is left half-written,
//!   and a retry with the same `Idempotency-Key` once the store is back creates exactly
//!   one campaign.

use reelforge_core::model::Stage;
use reelforge_testkit as support;

use reelforge_testkit::fault_proxy;
use reelforge_testkit::sqlite_lock;

use fault_proxy::{Fault, FaultProxy, Op, SDK_ATTEMPTS};
use http::{HeaderValue, Method};
use reelforge_app::api::{handle, ApiRequest, ApiResponse};
use reelforge_app::pipeline;
use reelforge_app::{Context, Ports};
use reelforge_aws::store::AwsStore;
use reelforge_core::clock::{quota_period, Clock, ManualClock, SystemClock};
use reelforge_core::limiter::{IP_AUTHENTICATED_LIMIT, IP_UNAUTHENTICATED_LIMIT, WINDOW_MS};
use reelforge_core::model::{Campaign, CampaignStatus, StageMessage, VideoStatus};
use reelforge_core::plans::Plan;
use reelforge_core::ports::CampaignStore;
use reelforge_local::LocalStore;
use serde_json::{json, Value};
use sqlite_lock::{DbLock, Step, Tripwire};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::api::{aws_ports, local_dir, local_ports, new_account, request};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Requests and responses
// ---------------------------------------------------------------------------------------

const PARALLEL: usize = 500;
const LANGUAGES: [&str; 8] = ["en", "ja", "ko", "zh", "es", "fr", "de", "pt"];

/// A client address of its own for every scenario, so no IP window carries over.
fn fresh_ip() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1_000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// POST /api/v1/campaigns for `languages` videos (one platform each).
fn create(key: &str, ip: u32, languages: usize, idempotency_key: Option<&str>) -> ApiRequest {
    let body = json!({"url": "https://93.184.216.34/", "languages": &LANGUAGES[..languages]});
    let mut req = request(
        Method::POST,
        "/api/v1/campaigns",
        Some(key),
        ip,
        &body.to_string(),
    );
    if let Some(k) = idempotency_key {
        req.headers
            .insert("idempotency-key", HeaderValue::from_str(k).unwrap());
    }
    req
}

fn get(path: &str, key: &str, ip: u32) -> ApiRequest {
    request(Method::GET, path, Some(key), ip, "")
}

fn body(resp: &ApiResponse) -> Value {
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| {
        panic!(
            "body is not JSON ({e}): {}",
            String::from_utf8_lossy(&resp.body)
        )
    })
}

fn header(resp: &ApiResponse, name: &str) -> Option<i64> {
    resp.headers
        .get(name)
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

fn campaign_id(resp: &ApiResponse) -> Uuid {
    body(resp)["campaign_id"].as_str().unwrap().parse().unwrap()
}

/// Runs every request at once; the responses in request order.
async fn parallel(app: Arc<Context>, requests: Vec<ApiRequest>) -> Vec<ApiResponse> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, req) in requests.into_iter().enumerate() {
        let app = app.clone();
        tasks.spawn(async move { (i, handle(&app, req).await) });
    }
    let mut out: Vec<Option<ApiResponse>> = vec![None; tasks.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, resp) = done.unwrap();
        out[i] = Some(resp);
    }
    out.into_iter().map(Option::unwrap).collect()
}

fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// Words that would mean an internal detail reached a client: AWS operation and error
/// names, item keys, window names, SQLite's words, addresses, stack traces.
const INTERNAL_WORDS: [&str; 35] = [
    "dynamodb",
    "sqs",
    "amazon",
    "aws",
    "transactwriteitems",
    "putitem",
    "getitem",
    "sendmessage",
    "query",
    "throttl",
    "provisioned",
    "internalservererror",
    "serviceunavailable",
    "internalfailure",
    "cancel",
    "condition",
    "dispatch",
    "sqlite",
    "database",
    "locked",
    "busy",
    "panick",
    "backtrace",
    ".rs:",
    "win#",
    "key#",
    "idemp#",
    "campaign#",
    "quota#",
    "acct-create",
    "ip-auth",
    "127.0.0.1",
    "localhost",
    "http",
    "000000000000",
];

/// A refusal with `status`, a body of exactly `{"success":false,"error":"…"}` and no
/// internal detail in it (nor any of `secrets`: table and queue names, endpoints).
fn assert_clean_refusal(resp: &ApiResponse, status: u16, context: &str, secrets: &[String]) {
    let text = String::from_utf8_lossy(&resp.body).to_string();
    assert_eq!(resp.status.as_u16(), status, "{context}: {text}");
    let value = body(resp);
    let object = value.as_object().expect("an object");
    assert_eq!(
        object.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["error", "success"],
        "{context}: {text}"
    );
    assert_eq!(value["success"], false, "{context}");
    assert!(value["error"].is_string(), "{context}: {text}");
    let lower = text.to_lowercase();
    for word in INTERNAL_WORDS
        .iter()
        .map(|w| w.to_string())
        .chain(secrets.iter().map(|s| s.to_lowercase()))
    {
        assert!(
            !lower.contains(&word),
            "{context}: {word:?} leaked in {text}"
        );
    }
    if status == 503 {
        assert!(
            header(resp, "retry-after").is_some_and(|s| s >= 1),
            "{context}: a 503 says when to retry"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 500 parallel: the limiter
// ---------------------------------------------------------------------------------------

/// 500 creates at one instant on an Enterprise account (120 creates a minute), from 50
/// client IPs (10 each: no IP window is near its limit). Exactly 120 are admitted, each
/// taking a slot of its own; the other 380 are 429s whose headers say exactly when the
/// first slot frees, and at that moment (not a millisecond before) a create is admitted.
async fn five_hundred_creates_admit_exactly_the_account_limit(ports: Ports) {
    let t0 = now_ms();
    let clock = Arc::new(ManualClock::new(t0));
    let (_, key) = new_account(&ports, Plan::Enterprise, Some(10_000)).await;
    let app = Arc::new(Context::new(ports).with_clock(clock.clone()));
    let limit = Plan::Enterprise.create_per_minute() as usize;

    let started = Instant::now();
    let responses = parallel(
        app.clone(),
        (0..PARALLEL)
            .map(|i| create(&key, i as u32 % 50, 1, None))
            .collect(),
    )
    .await;
    println!("500 parallel creates: {:?}", started.elapsed());

    let admitted: Vec<&ApiResponse> = responses.iter().filter(|r| r.status == 201).collect();
    let refused: Vec<&ApiResponse> = responses.iter().filter(|r| r.status == 429).collect();
    let others: Vec<String> = responses
        .iter()
        .filter(|r| r.status != 201 && r.status != 429)
        .map(|r| format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))
        .collect();
    assert!(others.is_empty(), "only 201 and 429: {others:?}");
    assert_eq!(admitted.len(), limit, "no over- or under-admission");
    assert_eq!(refused.len(), PARALLEL - limit);

    // Every admission took a slot of its own: the slots left count down without a repeat.
    let mut remaining: Vec<i64> = admitted
        .iter()
        .map(|r| header(r, "x-ratelimit-remaining").unwrap())
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, (0..limit as i64).collect::<Vec<_>>());
    for r in &admitted {
        assert_eq!(header(r, "x-ratelimit-limit"), Some(limit as i64));
        assert_eq!(header(r, "x-ratelimit-reset"), Some(t0 + WINDOW_MS));
    }
    for r in &refused {
        assert_eq!(
            body(r),
            json!({"success": false, "error": "Too many requests"})
        );
        assert_eq!(header(r, "x-ratelimit-limit"), Some(limit as i64));
        assert_eq!(header(r, "x-ratelimit-remaining"), Some(0));
        assert_eq!(header(r, "x-ratelimit-reset"), Some(t0 + WINDOW_MS));
        assert_eq!(header(r, "retry-after"), Some(WINDOW_MS / 1000));
    }

    // Honest reset: full until the first admission leaves the window, free at that instant.
    clock.set(t0 + WINDOW_MS - 1);
    let still_full = handle(&app, create(&key, 60, 1, None)).await;
    assert_eq!(still_full.status, 429);
    assert_eq!(header(&still_full, "retry-after"), Some(1));
    clock.set(t0 + WINDOW_MS);
    assert_eq!(handle(&app, create(&key, 61, 1, None)).await.status, 201);
}

/// 500 requests at one instant from one client IP: with a valid key, exactly 120 pass the
/// authenticated IP layer (and find no such campaign); without one, exactly 10 pass the
/// unauthenticated layer (and are told the key is missing). Every refusal is an honest 429.
async fn five_hundred_requests_from_one_ip_admit_exactly_the_ip_limits(ports: Ports) {
    let t0 = now_ms();
    let clock = Arc::new(ManualClock::new(t0));
    let (_, key) = new_account(&ports, Plan::Enterprise, None).await;
    let app = Arc::new(Context::new(ports).with_clock(clock.clone()));
    let missing = format!("/api/v1/campaigns/{}", Uuid::new_v4());

    let (keyed_ip, anonymous_ip) = (fresh_ip(), fresh_ip());
    let mut requests: Vec<ApiRequest> = (0..PARALLEL)
        .map(|_| get(&missing, &key, keyed_ip))
        .collect();
    requests.extend((0..PARALLEL).map(|_| request(Method::GET, &missing, None, anonymous_ip, "")));
    let started = Instant::now();
    let responses = parallel(app, requests).await;
    println!("2 x 500 parallel GETs: {:?}", started.elapsed());

    let (keyed, anonymous) = responses.split_at(PARALLEL);
    for (responses, passed, limit) in [
        (keyed, 404, IP_AUTHENTICATED_LIMIT),
        (anonymous, 401, IP_UNAUTHENTICATED_LIMIT),
    ] {
        let count = |status: u16| responses.iter().filter(|r| r.status == status).count();
        let others: Vec<String> = responses
            .iter()
            .filter(|r| r.status != passed && r.status != 429)
            .map(|r| format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))
            .collect();
        assert!(
            others.is_empty(),
            "layer of {limit}/min: only {passed} and 429: {others:?}"
        );
        assert_eq!(count(passed), limit as usize, "layer of {limit}/min");
        assert_eq!(
            count(429),
            PARALLEL - limit as usize,
            "layer of {limit}/min"
        );
        for r in responses.iter().filter(|r| r.status == 429) {
            assert_eq!(header(r, "x-ratelimit-limit"), Some(i64::from(limit)));
            assert_eq!(header(r, "x-ratelimit-remaining"), Some(0));
            assert_eq!(header(r, "x-ratelimit-reset"), Some(t0 + WINDOW_MS));
            assert_eq!(header(r, "retry-after"), Some(WINDOW_MS / 1000));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_five_hundred_parallel_creates_admit_exactly_the_account_limit() {
    five_hundred_creates_admit_exactly_the_account_limit(local_ports("limit")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_five_hundred_parallel_creates_admit_exactly_the_account_limit() {
    let _turn = support::moto::turn().await;
    five_hundred_creates_admit_exactly_the_account_limit(aws_ports().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_five_hundred_parallel_requests_from_one_ip_admit_exactly_the_ip_limits() {
    five_hundred_requests_from_one_ip_admit_exactly_the_ip_limits(local_ports("ip")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_five_hundred_parallel_requests_from_one_ip_admit_exactly_the_ip_limits() {
    let _turn = support::moto::turn().await;
    five_hundred_requests_from_one_ip_admit_exactly_the_ip_limits(aws_ports().await).await;
}

// ---------------------------------------------------------------------------------------
// 500 parallel: the quota, then failures refunding exactly once
// ---------------------------------------------------------------------------------------

const QUOTA: u32 = 100;
const ALREADY_USED: usize = 6;

/// How an admitted campaign is taken to its failure: the status it fails in, how many of
/// its videos are ready by then, and the stage whose message is dead-lettered.
#[derive(Debug, Clone, Copy)]
struct Doomed {
    id: Uuid,
    status: CampaignStatus,
    ready: usize,
    stage: Stage,
}

fn doom(j: usize, id: Uuid, size: usize) -> Doomed {
    match j % 3 {
        0 => Doomed {
            id,
            status: CampaignStatus::Collecting,
            ready: 0,
            stage: Stage::Collect,
        },
        1 => Doomed {
            id,
            status: CampaignStatus::Rendering,
            ready: j % (size + 1),
            stage: Stage::Render,
        },
        _ => Doomed {
            id,
            status: CampaignStatus::Voiceover,
            ready: 0,
            stage: Stage::Voiceover,
        },
    }
}

async fn campaign(app: &Context, id: Uuid) -> Campaign {
    app.ports.campaigns.get_campaign(id).await.unwrap().unwrap()
}

/// Walks the campaign forward to `d.status` and marks `d.ready` of its videos ready, as
/// the stages would have.
async fn prepare(app: &Context, d: &Doomed) {
    let path = [
        CampaignStatus::Processing,
        CampaignStatus::Scripting,
        CampaignStatus::Voiceover,
        CampaignStatus::Rendering,
    ];
    for to in path {
        let c = campaign(app, d.id).await;
        if c.status == d.status {
            break;
        }
        assert!(reelforge_app::lifecycle::advance(app, &c, to, |_| {})
            .await
            .unwrap());
    }
    if d.ready > 0 {
        let c = campaign(app, d.id).await;
        let ready = d.ready;
        assert!(reelforge_app::lifecycle::rewrite(app, &c, |c| {
            for v in c.videos.iter_mut().take(ready) {
                v.status = VideoStatus::Ready;
            }
        })
        .await
        .unwrap());
    }
    assert_eq!(campaign(app, d.id).await.status, d.status);
}

/// Every caller that fails `d` at once: its stage's message dead-lettered twice (SQS can
/// deliver a message more than once), the stage itself giving up, and a stale
/// dead-letter of an earlier stage, which must change nothing. Returns how many callers
/// raced.
async fn fail_from_everywhere(app: Arc<Context>, doomed: &[Doomed]) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for d in doomed {
        let message = StageMessage::stage(d.stage, d.id);
        for _ in 0..2 {
            let (app, message) = (app.clone(), message.clone());
            tasks.spawn(async move { pipeline::dead_letter(&app, &message).await });
        }
        let (app2, id, status) = (app.clone(), d.id, d.status);
        tasks.spawn(async move {
            reelforge_app::lifecycle::fail(&app2, id, status, "The stage gave up").await
        });
        if d.status != CampaignStatus::Collecting {
            let stale = StageMessage::stage(Stage::Collect, d.id);
            let app = app.clone();
            tasks.spawn(async move { pipeline::dead_letter(&app, &stale).await });
        }
    }
    let callers = tasks.len();
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    callers
}

/// An Enterprise account with 100 videos a month and 6 used; 500 creates of 1 to 8 videos
/// (sizes cycling) at one instant. The account window lets 119 through to the quota (the
/// first create took a slot; the other 381 are rate-limited 429s); those race for the last
/// 94 videos.
///
/// Each reservation is one atomic "used + n <= quota, then add n", and `used` only grows
/// while they race. So: what was sold never exceeds what was left; every quota-refused
/// request of size s saw more than `left - s` used, so what stays unsold at the end is
/// less than the smallest refused size; and as one-video requests are among the refused
/// (there are ~15 among the 119, spread through the race, and the last videos go long
/// before the race ends), the quota is used to the last video. The usage counter equals
/// the videos of the admitted campaigns.
///
/// Then every admitted campaign is failed (in collecting, voiceover, or rendering with
/// some videos ready) by several callers at once: the usage drops by exactly each
/// campaign's unproduced videos, once; a second wave of the same failures changes nothing.
async fn mixed_sizes_never_oversell_and_racing_failures_refund_exactly_once(ports: Ports) {
    let t0 = now_ms();
    let period = quota_period(chrono::DateTime::from_timestamp_millis(t0).unwrap());
    let clock = Arc::new(ManualClock::new(t0));
    let (account_id, key) = new_account(&ports, Plan::Enterprise, Some(QUOTA)).await;
    let app = Arc::new(Context::new(ports).with_clock(clock.clone()));
    let first = handle(&app, create(&key, 999, ALREADY_USED, None)).await;
    assert_eq!(first.status, 201);
    let left = QUOTA - ALREADY_USED as u32;

    let sizes: Vec<usize> = (0..PARALLEL).map(|i| i % 8 + 1).collect();
    let started = Instant::now();
    let responses = parallel(
        app.clone(),
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| create(&key, i as u32 % 50, n, None))
            .collect(),
    )
    .await;
    println!("500 parallel mixed-size creates: {:?}", started.elapsed());

    let mut admitted: Vec<(Uuid, usize)> = Vec::new();
    let mut quota_refused: Vec<usize> = Vec::new();
    let mut rate_refused = 0;
    for (resp, &size) in responses.iter().zip(&sizes) {
        let value = body(resp);
        match (resp.status.as_u16(), value["error"].as_str()) {
            (201, _) => admitted.push((campaign_id(resp), size)),
            (429, Some("Too many requests")) => rate_refused += 1,
            (429, Some("Monthly video quota exceeded")) => {
                let used = value["videos_used"].as_u64().unwrap() as usize;
                assert_eq!(value["videos_quota"], QUOTA);
                assert!(used <= QUOTA as usize, "{value}");
                assert!(
                    used + size > QUOTA as usize,
                    "a {size}-video create refused while {used} of {QUOTA} were used"
                );
                quota_refused.push(size);
            }
            (status, _) => panic!("unexpected {status}: {value}"),
        }
    }
    // The first create took one of the window's slots.
    let slots = Plan::Enterprise.create_per_minute() as usize - 1;
    assert_eq!(admitted.len() + quota_refused.len(), slots);
    assert_eq!(rate_refused, PARALLEL - slots);

    let sold: u32 = admitted.iter().map(|(_, n)| *n as u32).sum();
    let demand: usize =
        admitted.iter().map(|(_, n)| n).sum::<usize>() + quota_refused.iter().sum::<usize>();
    assert!(
        demand > left as usize,
        "demand {demand} exceeds the {left} left"
    );
    assert!(sold <= left, "oversold: {sold} of {left}");
    let smallest_refused = *quota_refused.iter().min().expect("some create was refused");
    assert!(
        ((left - sold) as usize) < smallest_refused,
        "{} videos unsold although a {smallest_refused}-video create was refused",
        left - sold
    );
    assert_eq!(smallest_refused, 1, "one-video creates lost the race");
    assert_eq!(sold, left, "the quota is used to the last video");

    let used = app
        .ports
        .campaigns
        .quota_used(&account_id, &period)
        .await
        .unwrap();
    assert_eq!(
        used, QUOTA,
        "usage counter = videos of the admitted campaigns"
    );
    let reserved: u32 = app
        .ports
        .campaigns
        .list_campaigns(&account_id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.videos_reserved)
        .sum();
    assert_eq!(reserved, QUOTA);

    // Exact refunds.
    let doomed: Vec<Doomed> = admitted
        .iter()
        .enumerate()
        .map(|(j, &(id, size))| doom(j, id, size))
        .collect();
    let started = Instant::now();
    let mut preparing = tokio::task::JoinSet::new();
    for &d in &doomed {
        let app = app.clone();
        preparing.spawn(async move { prepare(&app, &d).await });
    }
    while let Some(done) = preparing.join_next().await {
        done.unwrap();
    }
    let produced: u32 = doomed.iter().map(|d| d.ready as u32).sum();
    assert!(
        produced > 0
            && doomed
                .iter()
                .any(|d| d.status == CampaignStatus::Collecting)
    );

    let callers = fail_from_everywhere(app.clone(), &doomed).await;
    println!(
        "{} campaigns failed by {callers} racing callers: {:?}",
        doomed.len(),
        started.elapsed()
    );
    let expected = ALREADY_USED as u32 + produced;
    let after = app
        .ports
        .campaigns
        .quota_used(&account_id, &period)
        .await
        .unwrap();
    assert_eq!(
        after, expected,
        "usage = the first campaign's videos + the videos produced before the failures"
    );
    for d in &doomed {
        let c = campaign(&app, d.id).await;
        assert_eq!(c.status, CampaignStatus::Failed);
        assert_eq!(c.failed_stage, Some(d.status));
        assert_eq!(c.videos_reserved, d.ready as u32, "kept = produced");
        let ready = c
            .videos
            .iter()
            .filter(|v| v.status == VideoStatus::Ready)
            .count();
        assert_eq!(ready, d.ready);
        assert!(c
            .videos
            .iter()
            .all(|v| matches!(v.status, VideoStatus::Ready | VideoStatus::Failed)));
    }

    // Redelivered dead letters and late give-ups change nothing: the refund happened once.
    fail_from_everywhere(app.clone(), &doomed).await;
    let again = app
        .ports
        .campaigns
        .quota_used(&account_id, &period)
        .await
        .unwrap();
    assert_eq!(again, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_five_hundred_mixed_size_creates_never_oversell_and_racing_failures_refund_exactly_once(
) {
    mixed_sizes_never_oversell_and_racing_failures_refund_exactly_once(local_ports("quota")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_five_hundred_mixed_size_creates_never_oversell_and_racing_failures_refund_exactly_once(
) {
    let _turn = support::moto::turn().await;
    mixed_sizes_never_oversell_and_racing_failures_refund_exactly_once(aws_ports().await).await;
}

// ---------------------------------------------------------------------------------------
// The store failing mid-request: AWS, through the fault proxy
// ---------------------------------------------------------------------------------------

/// The create path's store and queue calls, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CreateStep {
    IpWindow,
    KeyLookup,
    IdempotencyLookup,
    AccountWindow,
    CampaignWrite,
    QueueSend,
}

impl CreateStep {
    const ALL: [CreateStep; 6] = [
        CreateStep::IpWindow,
        CreateStep::KeyLookup,
        CreateStep::IdempotencyLookup,
        CreateStep::AccountWindow,
        CreateStep::CampaignWrite,
        CreateStep::QueueSend,
    ];

    fn op(self) -> Op {
        match self {
            CreateStep::IpWindow => Op::dynamodb("UpdateItem").containing("WIN#ip-auth#"),
            CreateStep::KeyLookup => Op::dynamodb("GetItem").containing("\"KEY#"),
            CreateStep::IdempotencyLookup => Op::dynamodb("GetItem").containing("\"IDEMP#"),
            CreateStep::AccountWindow => Op::dynamodb("UpdateItem").containing("WIN#acct-create#"),
            CreateStep::CampaignWrite => Op::dynamodb("TransactWriteItems"),
            CreateStep::QueueSend => Op::sqs("SendMessage"),
        }
    }

    /// Calls of the step one create makes when each fails: the first stage message is
    /// sent up to three times.
    fn calls(self) -> usize {
        match self {
            CreateStep::QueueSend => 3,
            _ => 1,
        }
    }

    /// On AWS: 503 when the limiter's window cannot be written, 500 for any other store
    /// failure; after the commit a failed hand-off fails the campaign (videos given back)
    /// and answers 500.
    fn aws_status(self) -> u16 {
        match self {
            CreateStep::IpWindow | CreateStep::AccountWindow => 503,
            _ => 500,
        }
    }

    /// Locally: SQLite readers are not blocked by another connection's write lock, so a
    /// lock taken at a lookup is met by the next write, the account window's: 503.
    fn local_status(self) -> u16 {
        match self {
            CreateStep::CampaignWrite | CreateStep::QueueSend => 500,
            _ => 503,
        }
    }

    fn faults(self) -> Vec<Fault> {
        let mut faults = vec![
            Fault::Throttle,
            Fault::Status(500),
            Fault::Status(503),
            Fault::Drop,
        ];
        if self != CreateStep::QueueSend {
            faults.push(Fault::ThroughputExceeded);
        }
        faults
    }
}

struct AwsRig {
    /// Straight to moto: setup and inspection.
    direct: Arc<AwsStore>,
    direct_ports: Ports,
    proxy: FaultProxy,
    /// The API on a store whose calls go through the proxy.
    app: Context,
}

impl AwsRig {
    async fn new() -> AwsRig {
        let direct = Arc::new(support::moto::aws_store().await);
        let proxy = FaultProxy::start(support::moto::endpoint()).await;
        let through = Arc::new(proxy.aws_store(direct.names().clone()).await);
        AwsRig {
            direct_ports: Ports::from_store(direct.clone()),
            direct,
            proxy,
            app: Context::new(Ports::from_store(through)),
        }
    }

    async fn account(&self) -> (String, String) {
        new_account(&self.direct_ports, Plan::Enterprise, Some(50)).await
    }

    /// Names that must never reach a client.
    fn secrets(&self) -> Vec<String> {
        let names = self.direct.names();
        vec![
            names.table.clone(),
            names.queue_url.clone(),
            names.queue_url.rsplit('/').next().unwrap().to_string(),
            self.proxy
                .endpoint()
                .trim_start_matches("http://")
                .to_string(),
            support::moto::endpoint()
                .trim_start_matches("http://")
                .to_string(),
        ]
    }

    /// Takes every message off the stage queue, reading moto directly.
    async fn drain_queue(&self) -> Vec<StageMessage> {
        let sqs = self.direct.sqs_client();
        let url = &self.direct.names().queue_url;
        let mut messages = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .send()
                .await
                .unwrap();
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                return messages;
            }
            for m in batch {
                messages.push(serde_json::from_str(m.body().unwrap()).unwrap());
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// What the store holds for an account after a create.
struct Holdings {
    used: u32,
    campaigns: Vec<Campaign>,
    idempotent_campaign: Option<String>,
}

async fn holdings(campaigns: &dyn CampaignStore, account_id: &str, key: &str) -> Holdings {
    let now = now_ms();
    let period = quota_period(chrono::Utc::now());
    Holdings {
        used: campaigns.quota_used(account_id, &period).await.unwrap(),
        campaigns: campaigns.list_campaigns(account_id).await.unwrap(),
        idempotent_campaign: campaigns
            .get_idempotency(account_id, key, now)
            .await
            .unwrap()
            .map(|r| r.campaign_id),
    }
}

/// What a create that met a failure at `step` may leave behind: nothing at all; or, after
/// the commit, one campaign failed in collecting with its videos given back and its
/// `Idempotency-Key` free again.
fn assert_nothing_half_written(h: &Holdings, step_commits: bool, context: &str) {
    assert_eq!(h.used, 0, "{context}: no videos stay reserved");
    assert_eq!(h.idempotent_campaign, None, "{context}: the key is free");
    if step_commits {
        assert_eq!(h.campaigns.len(), 1, "{context}");
        let c = &h.campaigns[0];
        assert_eq!(c.status, CampaignStatus::Failed, "{context}");
        assert_eq!(
            c.failed_stage,
            Some(CampaignStatus::Collecting),
            "{context}"
        );
        assert_eq!(c.videos_reserved, 0, "{context}");
    } else {
        assert!(h.campaigns.is_empty(), "{context}: no campaign");
    }
}

/// After the retry: one live campaign (`id`) with its 2 videos reserved, beside at most
/// the failed one.
fn assert_exactly_one_live_campaign(h: &Holdings, id: Uuid, context: &str) {
    assert_eq!(h.used, 2, "{context}");
    let live: Vec<&Campaign> = h
        .campaigns
        .iter()
        .filter(|c| c.status != CampaignStatus::Failed)
        .collect();
    assert_eq!(live.len(), 1, "{context}: exactly one campaign was created");
    assert_eq!(live[0].id, id, "{context}");
    assert_eq!(live[0].status, CampaignStatus::Collecting, "{context}");
    assert_eq!(h.idempotent_campaign, Some(id.to_string()), "{context}");
}

/// One create meeting `fault` on every attempt of `step`, then its retry.
async fn aws_create_meets_fault(rig: &AwsRig, step: CreateStep, fault: Fault) {
    let context = format!("{step:?} failing with {fault:?}");
    let (account_id, key) = rig.account().await;
    let ip = fresh_ip();
    let idem = format!("rel-{}", Uuid::new_v4().simple());
    let op = step.op();
    let faulted_before = rig.proxy.faulted(&op);

    rig.proxy.fail(op.clone(), fault);
    let resp = handle(&rig.app, create(&key, ip, 2, Some(&idem))).await;
    rig.proxy.clear();

    assert_eq!(
        rig.proxy.faulted(&op) - faulted_before,
        step.calls() * SDK_ATTEMPTS as usize,
        "{context}: every attempt the SDK made met the fault"
    );
    assert_clean_refusal(&resp, step.aws_status(), &context, &rig.secrets());
    let h = holdings(&*rig.direct, &account_id, &idem).await;
    assert_nothing_half_written(&h, step == CreateStep::QueueSend, &context);
    assert_eq!(rig.drain_queue().await, vec![], "{context}: nothing queued");

    // The store is back: the same request with the same key creates exactly one campaign.
    let retry = handle(&rig.app, create(&key, ip, 2, Some(&idem))).await;
    assert_eq!(retry.status, 201, "{context}: {:?}", body(&retry));
    assert!(
        retry.headers.get("idempotent-replayed").is_none(),
        "{context}"
    );
    let id = campaign_id(&retry);
    let h = holdings(&*rig.direct, &account_id, &idem).await;
    assert_exactly_one_live_campaign(&h, id, &context);
    assert_eq!(
        rig.drain_queue().await,
        vec![StageMessage::stage(Stage::Collect, id)],
        "{context}: its first stage is queued, once"
    );

    // And a repeat is a replay of it, creating nothing. (No worker has claimed the
    // campaign yet, so the replay queues its first message again: harmless, stages claim.)
    let repeat = handle(&rig.app, create(&key, ip, 2, Some(&idem))).await;
    assert_replayed(&repeat, id, &context);
    let h = holdings(&*rig.direct, &account_id, &idem).await;
    assert_exactly_one_live_campaign(&h, id, &context);
    assert_only_first_messages_of(&rig.drain_queue().await, id, &context);
}

fn assert_replayed(resp: &ApiResponse, id: Uuid, context: &str) {
    assert_eq!(resp.status, 201, "{context}: {:?}", body(resp));
    assert_eq!(
        resp.headers
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true"),
        "{context}"
    );
    assert_eq!(campaign_id(resp), id, "{context}");
}

fn assert_only_first_messages_of(queued: &[StageMessage], id: Uuid, context: &str) {
    assert!(
        queued
            .iter()
            .all(|m| *m == StageMessage::stage(Stage::Collect, id)),
        "{context}: {queued:?}"
    )
}

async fn aws_step_fails_cleanly(step: CreateStep) {
    let _turn = support::moto::turn().await;
    let rig = AwsRig::new().await;
    let started = Instant::now();
    for fault in step.faults() {
        aws_create_meets_fault(&rig, step, fault).await;
    }
    println!("{step:?}: {:?}", started.elapsed());
}

#[tokio::test]
async fn aws_ip_window_failing_is_503_with_nothing_written() {
    aws_step_fails_cleanly(CreateStep::IpWindow).await;
}

#[tokio::test]
async fn aws_key_lookup_failing_is_500_with_nothing_written() {
    aws_step_fails_cleanly(CreateStep::KeyLookup).await;
}

#[tokio::test]
async fn aws_idempotency_lookup_failing_is_500_with_nothing_written() {
    aws_step_fails_cleanly(CreateStep::IdempotencyLookup).await;
}

#[tokio::test]
async fn aws_account_window_failing_is_503_with_nothing_written() {
    aws_step_fails_cleanly(CreateStep::AccountWindow).await;
}

#[tokio::test]
async fn aws_campaign_write_failing_is_500_with_nothing_written() {
    aws_step_fails_cleanly(CreateStep::CampaignWrite).await;
}

#[tokio::test]
async fn aws_first_message_failing_is_500_with_the_campaign_failed_and_refunded() {
    aws_step_fails_cleanly(CreateStep::QueueSend).await;
}

/// A single throttle at any step is absorbed by the SDK's own retry: the create succeeds,
/// once, with one campaign, its videos reserved once and one first-stage message.
#[tokio::test]
async fn aws_a_single_transient_throttle_at_any_step_is_absorbed_by_the_sdk_retry() {
    let _turn = support::moto::turn().await;
    let rig = AwsRig::new().await;
    for step in CreateStep::ALL {
        let context = format!("one throttle at {step:?}");
        let (account_id, key) = rig.account().await;
        let idem = format!("rel-{}", Uuid::new_v4().simple());
        let op = step.op();
        let (seen_before, faulted_before) = (rig.proxy.count(&op), rig.proxy.faulted(&op));
        rig.proxy.fail_times(op.clone(), Fault::Throttle, 1);
        let resp = handle(&rig.app, create(&key, fresh_ip(), 2, Some(&idem))).await;
        rig.proxy.clear();
        assert_eq!(resp.status, 201, "{context}: {:?}", body(&resp));
        assert_eq!(rig.proxy.faulted(&op) - faulted_before, 1, "{context}");
        assert_eq!(
            rig.proxy.count(&op) - seen_before,
            2,
            "{context}: the throttled attempt and the retry"
        );
        let id = campaign_id(&resp);
        let h = holdings(&*rig.direct, &account_id, &idem).await;
        assert_eq!(h.campaigns.len(), 1, "{context}");
        assert_exactly_one_live_campaign(&h, id, &context);
        assert_eq!(
            rig.drain_queue().await,
            vec![StageMessage::stage(Stage::Collect, id)],
            "{context}"
        );
    }
}

/// The campaign write takes effect but its answer is lost, on every attempt the SDK makes
/// (on DynamoDB a retry with the same client token would succeed; moto runs it again and
/// cancels it, which is lost as well). The handler reads the campaign back, finds the one
/// it wrote, and carries on: 201, one campaign, its videos reserved once, its first
/// message queued — with or without an `Idempotency-Key`.
#[tokio::test]
async fn aws_a_campaign_write_whose_answer_is_lost_is_found_and_queued() {
    let _turn = support::moto::turn().await;
    let rig = AwsRig::new().await;
    for idem in [Some(format!("rel-{}", Uuid::new_v4().simple())), None] {
        let context = format!("answer lost, key {idem:?}");
        let (account_id, key) = rig.account().await;
        let op = CreateStep::CampaignWrite.op();
        rig.proxy.fail(op.clone(), Fault::LoseAnswer);
        let resp = handle(&rig.app, create(&key, fresh_ip(), 2, idem.as_deref())).await;
        rig.proxy.clear();
        assert!(rig.proxy.faulted(&op) >= SDK_ATTEMPTS as usize, "{context}");
        assert_eq!(resp.status, 201, "{context}: {:?}", body(&resp));
        let id = campaign_id(&resp);
        let h = holdings(&*rig.direct, &account_id, idem.as_deref().unwrap_or("-")).await;
        assert_eq!(h.used, 2, "{context}");
        assert_eq!(h.campaigns.len(), 1, "{context}");
        assert_eq!(h.campaigns[0].id, id, "{context}");
        assert_eq!(
            rig.drain_queue().await,
            vec![StageMessage::stage(Stage::Collect, id)],
            "{context}"
        );
    }
}

/// The campaign write takes effect, its answer is lost and the store stays unreachable
/// for the read-back: the outcome is unknown, so the answer is 500 and the campaign stays
/// as written, unqueued. The client's retry with its `Idempotency-Key` replays the 201
/// and queues the campaign's first message: it does not wait forever with its videos
/// reserved.
#[tokio::test]
async fn aws_an_unknown_outcome_is_settled_by_the_idempotent_retry() {
    let _turn = support::moto::turn().await;
    let rig = AwsRig::new().await;
    let context = "answer and read-back lost";
    let (account_id, key) = rig.account().await;
    let idem = format!("rel-{}", Uuid::new_v4().simple());
    let ip = fresh_ip();
    rig.proxy
        .fail(CreateStep::CampaignWrite.op(), Fault::LoseAnswer);
    rig.proxy.fail(
        Op::dynamodb("GetItem").containing("\"CAMPAIGN#"),
        Fault::Status(503),
    );
    let resp = handle(&rig.app, create(&key, ip, 2, Some(&idem))).await;
    rig.proxy.clear();
    assert_clean_refusal(&resp, 500, context, &rig.secrets());
    let h = holdings(&*rig.direct, &account_id, &idem).await;
    assert_eq!(h.campaigns.len(), 1, "{context}: the write took effect");
    let id = h.campaigns[0].id;
    assert_eq!(rig.drain_queue().await, vec![], "{context}: not queued yet");

    let retry = handle(&rig.app, create(&key, ip, 2, Some(&idem))).await;
    assert_replayed(&retry, id, context);
    let h = holdings(&*rig.direct, &account_id, &idem).await;
    assert_exactly_one_live_campaign(&h, id, context);
    assert_eq!(
        rig.drain_queue().await,
        vec![StageMessage::stage(Stage::Collect, id)],
        "{context}: the retry queued it"
    );
}

/// GET /api/v1/campaigns/:id and GET /api/v1/account while the store fails under them:
/// 503 when it is the limiter's window, 500 for the key or the records they read; nothing
/// leaked either way, and both answer again once the store is back.
#[tokio::test]
async fn aws_reads_with_the_store_failing_are_refused_and_leak_nothing() {
    let _turn = support::moto::turn().await;
    let rig = AwsRig::new().await;
    let (_, key) = rig.account().await;
    let created = handle(&rig.app, create(&key, fresh_ip(), 1, None)).await;
    assert_eq!(created.status, 201);
    let campaign_path = format!("/api/v1/campaigns/{}", campaign_id(&created));
    let account_path = "/api/v1/account".to_string();
    let everywhere = [
        Op::dynamodb("UpdateItem").containing("WIN#ip-auth#"),
        Op::dynamodb("GetItem").containing("\"KEY#"),
    ];
    let cases: Vec<(&String, Op)> = everywhere
        .iter()
        .flat_map(|op| [(&campaign_path, op.clone()), (&account_path, op.clone())])
        .chain([
            (
                &campaign_path,
                Op::dynamodb("GetItem").containing("\"CAMPAIGN#"),
            ),
            (
                &account_path,
                Op::dynamodb("GetItem").containing("\"ACCOUNT#"),
            ),
            (
                &account_path,
                Op::dynamodb("GetItem").containing("\"QUOTA#"),
            ),
            (&account_path, Op::dynamodb("Query")),
        ])
        .collect();
    for (path, op) in cases {
        for fault in [Fault::Throttle, Fault::Status(500), Fault::Drop] {
            let context = format!("GET {path} with {op:?} failing with {fault:?}");
            let before = rig.proxy.faulted(&op);
            rig.proxy.fail(op.clone(), fault);
            let resp = handle(&rig.app, get(path, &key, fresh_ip())).await;
            rig.proxy.clear();
            assert!(
                rig.proxy.faulted(&op) > before,
                "{context}: the fault was met"
            );
            let limiter = op.body_contains.as_deref() == Some("WIN#ip-auth#");
            let status = if limiter { 503 } else { 500 };
            assert_clean_refusal(&resp, status, &context, &rig.secrets());
        }
        let back = handle(&rig.app, get(path, &key, fresh_ip())).await;
        assert_eq!(back.status, 200, "GET {path} once the store is back");
    }
}

/// `release_idempotency` frees a key only for the campaign it names: a record taken over by
/// another campaign is left alone, a freed key creates anew (once), and releasing twice is
/// harmless.
async fn a_released_key_creates_anew_once(ports: Ports) {
    let (account_id, key) = new_account(&ports, Plan::Enterprise, Some(50)).await;
    let app = Context::new(ports);
    let campaigns = &app.ports.campaigns;
    let (ip, idem) = (fresh_ip(), "order-7");
    let first = handle(&app, create(&key, ip, 1, Some(idem))).await;
    assert_eq!(first.status, 201);
    let first_id = campaign_id(&first);
    let record = |now| campaigns.get_idempotency(&account_id, idem, now);

    campaigns
        .release_idempotency(&account_id, idem, Uuid::new_v4())
        .await
        .unwrap();
    let kept = record(now_ms())
        .await
        .unwrap()
        .expect("another campaign's record stays");
    assert_eq!(kept.campaign_id, first_id.to_string());

    for _ in 0..2 {
        campaigns
            .release_idempotency(&account_id, idem, first_id)
            .await
            .unwrap();
        assert_eq!(record(now_ms()).await.unwrap(), None);
    }
    let second = handle(&app, create(&key, ip, 1, Some(idem))).await;
    assert_eq!(second.status, 201);
    assert!(second.headers.get("idempotent-replayed").is_none());
    let second_id = campaign_id(&second);
    assert_ne!(second_id, first_id);
    let repeat = handle(&app, create(&key, ip, 1, Some(idem))).await;
    assert_eq!(campaign_id(&repeat), second_id);
    assert!(repeat.headers.get("idempotent-replayed").is_some());
}

#[tokio::test]
async fn local_a_released_idempotency_key_creates_anew_once() {
    a_released_key_creates_anew_once(local_ports("release")).await;
}

#[tokio::test]
async fn aws_a_released_idempotency_key_creates_anew_once() {
    let _turn = support::moto::turn().await;
    a_released_key_creates_anew_once(aws_ports().await).await;
}

// ---------------------------------------------------------------------------------------
// The store failing mid-request: SQLite, locked by another connection
// ---------------------------------------------------------------------------------------

/// How long a local store waits for a lock before it counts as unavailable, here.
const BUSY_TIMEOUT: Duration = Duration::from_millis(250);

struct LocalRig {
    store: Arc<LocalStore>,
    lock: Arc<DbLock>,
}

impl LocalRig {
    fn new(tag: &str) -> LocalRig {
        let store =
            Arc::new(LocalStore::open_with_busy_timeout(&local_dir(tag), BUSY_TIMEOUT).unwrap());
        let lock = DbLock::new(store.path());
        LocalRig { store, lock }
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.store.path().display().to_string()]
    }
}

fn local_step(step: CreateStep) -> Step {
    match step {
        CreateStep::IpWindow => Step::IpWindow,
        CreateStep::KeyLookup => Step::KeyLookup,
        CreateStep::IdempotencyLookup => Step::IdempotencyLookup,
        CreateStep::AccountWindow => Step::AccountWindow,
        CreateStep::CampaignWrite => Step::CreateCampaign,
        CreateStep::QueueSend => Step::QueueSend,
    }
}

/// For each step of the create path: the database's write lock is taken by another
/// connection when the request reaches it (reads still work in WAL mode; the next write
/// waits its busy timeout and fails). The request is refused — 503 when that write is a
/// limiter window's, 500 when it is the campaign write, and 500 when it is the first
/// message's hand-off (the campaign is then failed and refunded; the lock is gone by the
/// time that lands) — nothing is left half-written, and the retry with the same key
/// creates exactly one campaign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_database_locked_at_each_create_step_is_refused_with_nothing_written() {
    let rig = LocalRig::new("locked");
    for step in CreateStep::ALL {
        let context = format!("database locked at {step:?}");
        let tripwire = Tripwire::new(rig.store.clone(), rig.lock.clone(), local_step(step));
        let app = Context::new(tripwire.ports());
        let (account_id, key) = new_account(&app.ports, Plan::Enterprise, Some(50)).await;
        let ip = fresh_ip();
        let idem = format!("rel-{}", Uuid::new_v4().simple());
        let queued_before = rig.store.pending_messages().unwrap().len();

        tripwire.arm();
        let resp = handle(&app, create(&key, ip, 2, Some(&idem))).await;
        assert!(tripwire.fired(), "{context}: the request reached the step");
        rig.lock.release();

        assert_clean_refusal(&resp, step.local_status(), &context, &rig.secrets());
        let h = holdings(&*rig.store, &account_id, &idem).await;
        assert_nothing_half_written(&h, step == CreateStep::QueueSend, &context);
        assert_eq!(
            rig.store.pending_messages().unwrap().len(),
            queued_before,
            "{context}: nothing queued"
        );

        let retry = handle(&app, create(&key, ip, 2, Some(&idem))).await;
        assert_eq!(retry.status, 201, "{context}: {:?}", body(&retry));
        assert!(
            retry.headers.get("idempotent-replayed").is_none(),
            "{context}"
        );
        let id = campaign_id(&retry);
        let h = holdings(&*rig.store, &account_id, &idem).await;
        assert_exactly_one_live_campaign(&h, id, &context);
        let queued = rig.store.pending_messages().unwrap();
        assert_eq!(queued.len(), queued_before + 1, "{context}");
        assert_eq!(
            queued.last(),
            Some(&StageMessage::stage(Stage::Collect, id))
        );
    }
}

/// The write lock is taken at the first message's hand-off and held for the rest of the
/// request, so the campaign can be neither queued nor failed: 500, and the campaign stays
/// as written. Once the lock is gone the client's retry with its `Idempotency-Key`
/// replays the 201 and queues the first message, so the campaign does not wait forever
/// with its videos reserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_an_outage_through_the_hand_off_is_settled_by_the_idempotent_retry() {
    let rig = LocalRig::new("outage");
    let context = "database locked from the hand-off on";
    let tripwire = Tripwire::new(rig.store.clone(), rig.lock.clone(), Step::QueueSendOutage);
    let app = Context::new(tripwire.ports());
    let (account_id, key) = new_account(&app.ports, Plan::Enterprise, Some(50)).await;
    let (ip, idem) = (fresh_ip(), "order-outage");

    tripwire.arm();
    let resp = handle(&app, create(&key, ip, 2, Some(idem))).await;
    assert!(tripwire.fired() && rig.lock.is_engaged(), "{context}");
    rig.lock.release();
    assert_clean_refusal(&resp, 500, context, &rig.secrets());
    let h = holdings(&*rig.store, &account_id, idem).await;
    assert_eq!(h.campaigns.len(), 1, "{context}");
    let id = h.campaigns[0].id;
    assert_eq!(rig.store.pending_messages().unwrap(), vec![], "{context}");

    let retry = handle(&app, create(&key, ip, 2, Some(idem))).await;
    assert_replayed(&retry, id, context);
    let h = holdings(&*rig.store, &account_id, idem).await;
    assert_exactly_one_live_campaign(&h, id, context);
    assert_eq!(
        rig.store.pending_messages().unwrap(),
        vec![StageMessage::stage(Stage::Collect, id)],
        "{context}: the retry queued it"
    );
}

/// GET /api/v1/campaigns/:id and GET /api/v1/account while another connection holds the
/// write lock: the limiter cannot record the request, so 503 with nothing leaked; both
/// answer again once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_reads_with_the_database_locked_are_503_and_leak_nothing() {
    let rig = LocalRig::new("locked-reads");
    let ports = Ports::from_store(rig.store.clone());
    let (_, key) = new_account(&ports, Plan::Enterprise, Some(50)).await;
    let app = Context::new(ports);
    let created = handle(&app, create(&key, fresh_ip(), 1, None)).await;
    assert_eq!(created.status, 201);
    let paths = [
        format!("/api/v1/campaigns/{}", campaign_id(&created)),
        "/api/v1/account".to_string(),
    ];
    rig.lock.engage();
    for path in &paths {
        let resp = handle(&app, get(path, &key, fresh_ip())).await;
        assert_clean_refusal(&resp, 503, &format!("GET {path} locked"), &rig.secrets());
    }
    rig.lock.release();
    for path in &paths {
        assert_eq!(handle(&app, get(path, &key, fresh_ip())).await.status, 200);
    }
}
