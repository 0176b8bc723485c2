//! What the use cases run with: every port as a trait object, the clock, the resolver and
//! the target policy, and the production tools. The backends (SQLite or DynamoDB, local
//! tools or AWS services) are chosen by whoever builds the context: the local stack, a
//! Lambda function's `main`, or a test.

use async_trait::async_trait;
use reelforge_core::clock::{Clock, SystemClock};
use reelforge_core::guard::{Resolver, TargetPolicy};
use reelforge_core::model::Language;
use reelforge_core::ports::{
    AccountStore, CampaignStore, JobStateChange, KeyStore, MediaStore, PageCapture, PageShot,
    PageSource, ProfileStore, RenderJob, RenderStarted, StageQueue, ToolError, UploadInspector,
    VideoRenderer, WebhookStore, WindowCounters,
};
use reelforge_core::render::FrameSize;
use reelforge_core::script::{ProviderFailure, Script, ScriptError, ScriptRequest, ScriptWriter};
use reelforge_core::styles::secrets::{SecretSealer, Unconfigured};
use reelforge_core::styles::ProviderId;
use reelforge_core::voice::{Speech, VoiceError};
use reelforge_core::voice_engine::VoiceEngine;
use std::path::Path;
use std::sync::Arc;

/// Every store port, as trait objects.
#[derive(Clone)]
pub struct Ports {
    pub accounts: Arc<dyn AccountStore>,
    pub keys: Arc<dyn KeyStore>,
    pub campaigns: Arc<dyn CampaignStore>,
    pub windows: Arc<dyn WindowCounters>,
    pub queue: Arc<dyn StageQueue>,
    pub webhooks: Arc<dyn WebhookStore>,
    pub media: Arc<dyn MediaStore>,
    pub profiles: Arc<dyn ProfileStore>,
}

impl Ports {
    /// The record ports from one store object that implements them all, with the queue
    /// and the media store beside it.
    pub fn new<S>(store: Arc<S>, queue: Arc<dyn StageQueue>, media: Arc<dyn MediaStore>) -> Self
    where
        S: AccountStore
            + KeyStore
            + CampaignStore
            + WindowCounters
            + WebhookStore
            + ProfileStore
            + 'static,
    {
        Ports {
            accounts: store.clone(),
            keys: store.clone(),
            campaigns: store.clone(),
            windows: store.clone(),
            webhooks: store.clone(),
            profiles: store,
            queue,
            media,
        }
    }

    /// All ports from one backend object that implements them all (the local store).
    pub fn from_store<S>(store: Arc<S>) -> Self
    where
        S: AccountStore
            + KeyStore
            + CampaignStore
            + WindowCounters
            + StageQueue
            + WebhookStore
            + MediaStore
            + ProfileStore
            + 'static,
    {
        Ports::new(store.clone(), store.clone(), store)
    }
}

/// The tools the pipeline stages produce media with.
#[derive(Clone)]
pub struct Tools {
    pub writer: Arc<dyn ScriptWriter>,
    pub voice: Arc<dyn VoiceEngine>,
    /// The deployment's voice engine, as configuration: the API checks a voice profile's
    /// provider against it without building the engine itself.
    pub voice_provider: ProviderId,
    pub capture: Arc<dyn PageCapture>,
    pub renderer: Arc<dyn VideoRenderer>,
    /// Decodes uploaded watermarks and end clips.
    pub inspector: Arc<dyn UploadInspector>,
    /// Videos of one campaign rendered at the same time.
    pub renders_at_once: usize,
    /// How long a stage's claim on a campaign lasts: longer than the stage takes, and no
    /// longer than the queue's visibility timeout, so a crashed worker's message, when it
    /// comes back, finds the claim expired.
    pub lease_ms: i64,
    /// How long a campaign may stay in `rendering` before the render message gives up on
    /// its unfinished videos: the campaign fails and they are given back to the quota
    /// (a render job or clip that never ends must not hold the campaign forever).
    pub render_deadline_ms: i64,
}

/// The default [`Tools::render_deadline_ms`]: 30 minutes. Locally a campaign renders
/// while the stage runs (about 25 s for three videos here); on AWS the parts of all its
/// videos run in parallel (not measured there), so this is a bound for a stuck render,
/// not an estimate.
pub const DEFAULT_RENDER_DEADLINE_MS: i64 = 30 * 60 * 1000;

/// The default claim on a campaign, and how long a received local queue message stays
/// hidden: longer than a claimed webhook attempt takes to count as stale, so a retried
/// message can always proceed.
pub const DEFAULT_LEASE_MS: i64 = 90_000;

/// Backoff before the 2nd and 3rd webhook attempts (`reelforge serve --webhook-retry-delays`).
pub const DEFAULT_RETRY_DELAYS: [u32; 2] = [30, 120];

impl Tools {
    /// No tools: what an API function runs with. A stage run with them fails with a clear
    /// error instead of producing anything; uploads are checked by their bytes only.
    pub fn none(voice_provider: ProviderId) -> Tools {
        Tools {
            writer: Arc::new(NoTool),
            voice: Arc::new(NoTool),
            voice_provider,
            capture: Arc::new(NoTool),
            renderer: Arc::new(NoTool),
            inspector: Arc::new(NoTool),
            renders_at_once: 1,
            lease_ms: DEFAULT_LEASE_MS,
            render_deadline_ms: DEFAULT_RENDER_DEADLINE_MS,
        }
    }
}

/// Stands in for every tool a function was built without.
struct NoTool;

const NO_TOOL: &str = "this function was built without that tool";

#[async_trait]
impl ScriptWriter for NoTool {
    async fn write(&self, _req: &ScriptRequest<'_>) -> Result<Script, ScriptError> {
        Err(ScriptError::Provider(ProviderFailure::Unavailable))
    }
}

#[async_trait]
impl VoiceEngine for NoTool {
    fn provider(&self) -> ProviderId {
        ProviderId::Espeak
    }

    async fn speak_as(
        &self,
        _text: &str,
        _language: Language,
        _voice: Option<&str>,
        _out_wav: &Path,
    ) -> Result<Speech, VoiceError> {
        Err(VoiceError::Engine(NO_TOOL.into()))
    }
}

#[async_trait]
impl PageCapture for NoTool {
    async fn capture(
        &self,
        _pages: &[PageSource],
        _sizes: &[FrameSize],
        _out_dir: &Path,
    ) -> Result<Vec<PageShot>, ToolError> {
        Err(ToolError(NO_TOOL.into()))
    }
}

#[async_trait]
impl VideoRenderer for NoTool {
    async fn start(&self, _job: &RenderJob) -> Result<RenderStarted, ToolError> {
        Err(ToolError(NO_TOOL.into()))
    }

    async fn job_state(&self, _job_id: &str) -> Result<Option<JobStateChange>, ToolError> {
        Err(ToolError(NO_TOOL.into()))
    }
}

#[async_trait]
impl UploadInspector for NoTool {
    async fn inspect(
        &self,
        _kind: reelforge_core::ports::UploadKind,
        _bytes: &[u8],
    ) -> Result<(), reelforge_core::ports::UploadRefused> {
        Ok(())
    }
}

/// How the publisher reaches the providers (SPEC §11). The base URLs are configuration
/// so tests (and a proxy, if a deployment wants one) can point them elsewhere; the
/// publisher's requests still pass the target policy (https to public addresses unless
/// `--allow-private-targets`).
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// Google's OAuth 2.0 token endpoint (`REELFORGE_GOOGLE_TOKEN_URL`).
    pub google_token_url: String,
    /// YouTube's resumable upload endpoint for `videos.insert`
    /// (`REELFORGE_YOUTUBE_UPLOAD_URL`).
    pub youtube_upload_url: String,
    /// TikTok's API host (`REELFORGE_TIKTOK_API_BASE`): `/v2/oauth/token/` and
    /// `/v2/post/publish/…` are under it.
    pub tiktok_api_base: String,
    /// Seconds before the 2nd and 3rd attempt of a publication
    /// (`REELFORGE_PUBLISH_RETRY_DELAYS`, e.g. `30,120`).
    pub retry_delays: Vec<u32>,
    /// The first wait inside an attempt after a 5xx or a dropped connection, before the
    /// upload's status is asked for; doubles per retry (`REELFORGE_PUBLISH_BACKOFF_MS`).
    pub backoff: std::time::Duration,
    /// YouTube upload chunk size, a multiple of 256 KiB; `None` sends the whole file in
    /// one request, as Google recommends (`REELFORGE_YOUTUBE_CHUNK_BYTES`).
    pub youtube_chunk_bytes: Option<usize>,
    /// Pause between TikTok status fetches (`REELFORGE_TIKTOK_POLL_MS`); TikTok allows
    /// 30 a minute per token.
    pub tiktok_poll: std::time::Duration,
    /// Status fetches per attempt before it gives up for now (the post keeps processing
    /// at TikTok; the next attempt only asks again).
    pub tiktok_max_polls: u32,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            google_token_url: "https://oauth2.googleapis.com/token".into(),
            youtube_upload_url: "https://www.googleapis.com/upload/youtube/v3/videos".into(),
            tiktok_api_base: "https://open.tiktokapis.com".into(),
            retry_delays: vec![30, 120],
            backoff: std::time::Duration::from_secs(1),
            youtube_chunk_bytes: None,
            tiktok_poll: std::time::Duration::from_secs(5),
            tiktok_max_polls: 24,
        }
    }
}

/// YouTube's chunk granularity: every chunk but the last is a multiple of it.
pub const YOUTUBE_CHUNK_UNIT: usize = 256 * 1024;

impl PublishConfig {
    /// The defaults, with each variable above that is set (and valid) instead.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut config = PublishConfig::default();
        if let Some(v) = var("REELFORGE_GOOGLE_TOKEN_URL") {
            config.google_token_url = v;
        }
        if let Some(v) = var("REELFORGE_YOUTUBE_UPLOAD_URL") {
            config.youtube_upload_url = v;
        }
        if let Some(v) = var("REELFORGE_TIKTOK_API_BASE") {
            config.tiktok_api_base = v.trim_end_matches('/').to_string();
        }
        if let Some(v) = var("REELFORGE_PUBLISH_RETRY_DELAYS") {
            let delays: Vec<u32> = v.split(',').filter_map(|d| d.trim().parse().ok()).collect();
            if !delays.is_empty() {
                config.retry_delays = delays;
            }
        }
        if let Some(ms) = var("REELFORGE_PUBLISH_BACKOFF_MS").and_then(|v| v.parse::<u64>().ok()) {
            config.backoff = std::time::Duration::from_millis(ms);
        }
        if let Some(n) = var("REELFORGE_YOUTUBE_CHUNK_BYTES").and_then(|v| v.parse::<usize>().ok())
        {
            config.youtube_chunk_bytes = (n > 0 && n % YOUTUBE_CHUNK_UNIT == 0).then_some(n);
        }
        if let Some(ms) = var("REELFORGE_TIKTOK_POLL_MS").and_then(|v| v.parse::<u64>().ok()) {
            config.tiktok_poll = std::time::Duration::from_millis(ms);
        }
        config
    }
}

/// The context every handler and stage takes.
pub struct Context {
    pub ports: Ports,
    pub clock: Arc<dyn Clock>,
    pub resolver: Arc<dyn Resolver>,
    pub policy: TargetPolicy,
    /// Seconds before the 2nd and 3rd webhook attempts.
    pub webhook_retry_delays: Vec<u32>,
    pub tools: Tools,
    /// Seals provider API keys of voice profiles and destination credentials before they
    /// are stored (and opens them in the publisher).
    pub sealer: Arc<dyn SecretSealer>,
    pub publishing: PublishConfig,
}

impl Context {
    /// A context over `ports` with the system clock and resolver, the strict target
    /// policy, the default webhook backoff, no tools, no sealer and the providers' real
    /// endpoints.
    pub fn new(ports: Ports) -> Self {
        Context {
            ports,
            clock: Arc::new(SystemClock),
            resolver: Arc::new(reelforge_net::SystemResolver::default()),
            policy: TargetPolicy::default(),
            webhook_retry_delays: DEFAULT_RETRY_DELAYS.to_vec(),
            tools: Tools::none(ProviderId::Espeak),
            sealer: Arc::new(Unconfigured),
            publishing: PublishConfig::default(),
        }
    }

    pub fn with_publishing(mut self, publishing: PublishConfig) -> Self {
        self.publishing = publishing;
        self
    }

    pub fn with_sealer(mut self, sealer: Arc<dyn SecretSealer>) -> Self {
        self.sealer = sealer;
        self
    }

    pub fn with_tools(mut self, tools: Tools) -> Self {
        self.tools = tools;
        self
    }

    pub fn with_webhook_retry_delays(mut self, delays: Vec<u32>) -> Self {
        self.webhook_retry_delays = delays;
        self
    }

    pub fn with_policy(mut self, policy: TargetPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_resolver(mut self, resolver: Arc<dyn Resolver>) -> Self {
        self.resolver = resolver;
        self
    }
}
