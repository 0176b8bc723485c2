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
}

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

/// The context every handler and stage takes.
pub struct Context {
    pub ports: Ports,
    pub clock: Arc<dyn Clock>,
    pub resolver: Arc<dyn Resolver>,
    pub policy: TargetPolicy,
    /// Seconds before the 2nd and 3rd webhook attempts.
    pub webhook_retry_delays: Vec<u32>,
    pub tools: Tools,
    /// Seals provider API keys of voice profiles before they are stored.
    pub sealer: Arc<dyn SecretSealer>,
}

impl Context {
    /// A context over `ports` with the system clock and resolver, the strict target
    /// policy, the default webhook backoff, no tools and no sealer.
    pub fn new(ports: Ports) -> Self {
        Context {
            ports,
            clock: Arc::new(SystemClock),
            resolver: Arc::new(reelforge_net::SystemResolver::default()),
            policy: TargetPolicy::default(),
            webhook_retry_delays: DEFAULT_RETRY_DELAYS.to_vec(),
            tools: Tools::none(ProviderId::Espeak),
            sealer: Arc::new(Unconfigured),
        }
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
