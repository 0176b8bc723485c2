//! Everything `reelforge serve` (and `reelforge demo`) runs in one process: the HTTP API
//! with the local media links, the stage workers and the webhook sender, on the embedded
//! backend.

use crate::store::LocalStore;
use crate::worker::WorkerSet;
use reelforge_app::{Context, Ports, DEFAULT_RETRY_DELAYS};
use reelforge_core::guard::TargetPolicy;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a local stage may run before its work is handed to another worker: long
/// enough for the largest campaign (8 languages x 4 platforms renders in about 2 minutes
/// on 2 cores), and also how long a stage interrupted by a crash waits to resume.
pub const DEFAULT_STAGE_TIMEOUT_SECS: u64 = 600;

pub struct LocalStackOptions {
    pub addr: SocketAddr,
    /// Development only: loopback/private page and webhook targets, plain-http webhooks.
    pub allow_private_targets: bool,
    pub stage_workers: usize,
    pub webhook_workers: usize,
    pub webhook_retry_delays: Vec<u32>,
    /// How long a stage may run before its message is given to another worker.
    pub stage_timeout: Duration,
    /// The base of media links (`http://host:port`); the listening address by default.
    pub public_url: Option<String>,
    /// Read timeouts and the connection cap of the HTTP server.
    pub limits: crate::server::ServerLimits,
    /// Videos (and their thumbnails) older than this are deleted; `None` keeps them.
    pub video_retention: Option<Duration>,
}

impl Default for LocalStackOptions {
    fn default() -> Self {
        LocalStackOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allow_private_targets: false,
            stage_workers: 2,
            webhook_workers: 4,
            webhook_retry_delays: DEFAULT_RETRY_DELAYS.to_vec(),
            stage_timeout: Duration::from_secs(DEFAULT_STAGE_TIMEOUT_SECS),
            public_url: None,
            limits: crate::server::ServerLimits::default(),
            video_retention: None,
        }
    }
}

pub struct LocalStack {
    pub addr: SocketAddr,
    /// `http://addr`, or the public URL when one was given.
    pub url: String,
    pub app: Arc<Context>,
    pub store: Arc<LocalStore>,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    workers: WorkerSet,
    sweeper: Option<tokio::task::JoinHandle<()>>,
}

/// How often the retention sweep looks for expired videos.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Deletes videos older than `retention`, at start and then hourly.
fn start_sweeper(store: Arc<LocalStore>, retention: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tick.tick().await;
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.sweep_expired_videos(retention)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(files = n, "expired videos deleted"),
                Ok(Err(e)) => tracing::warn!(error = %e, "video retention sweep failed"),
                Err(e) => tracing::warn!(error = %e, "video retention sweep panicked"),
            }
        }
    })
}

impl LocalStack {
    pub async fn start(store: Arc<LocalStore>, opts: LocalStackOptions) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(opts.addr).await?;
        let addr = listener.local_addr()?;
        let url = match &opts.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        store.set_media_base_url(&url);
        let lease_ms = opts.stage_timeout.as_millis().clamp(1_000, 900_000) as i64;
        let mut tools = crate::tools::local_tools(store.clone());
        tools.lease_ms = lease_ms;
        // Provider keys of voice profiles are sealed with a key kept beside the database.
        let key_file = store
            .path()
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("provider-secrets.key");
        let sealer = crate::secrets::LocalKeySealer::from_key_file(&key_file)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let app = Arc::new(
            Context::new(Ports::from_store(store.clone()))
                .with_sealer(Arc::new(sealer))
                .with_policy(TargetPolicy {
                    allow_private: opts.allow_private_targets,
                })
                .with_webhook_retry_delays(opts.webhook_retry_delays)
                .with_tools(tools)
                // Provider endpoints (tests point them at loopback fakes) and retry
                // settings from the environment.
                .with_publishing(reelforge_app::PublishConfig::from_env()),
        );
        // Scratch directories left by a previous server that was killed mid-stage.
        reelforge_core::scratch::sweep_dead_scratch_once();
        let workers = WorkerSet::start_with_visibility(
            app.clone(),
            store.clone(),
            opts.stage_workers,
            opts.webhook_workers,
            lease_ms,
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(crate::server::serve_with_limits(
            app.clone(),
            listener,
            Some(store.clone()),
            opts.limits,
            async {
                let _ = stopped.await;
            },
        ));
        let sweeper = opts
            .video_retention
            .map(|retention| start_sweeper(store.clone(), retention));
        Ok(LocalStack {
            addr,
            url,
            app,
            store,
            stop,
            server,
            workers,
            sweeper,
        })
    }

    /// Stops accepting, lets open requests and running stages finish.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        if let Some(sweeper) = &self.sweeper {
            sweeper.abort();
        }
        let served = self.server.await.unwrap_or(Ok(()));
        self.workers.shutdown().await;
        served
    }
}
