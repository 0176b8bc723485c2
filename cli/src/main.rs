//! `reelforge`: the local server and the operator's tool. Output is one JSON object on
//! stdout; errors are one JSON object on stderr and a non-zero exit.

use clap::{Args, Parser, Subcommand, ValueEnum};
mod demo;

use reelforge_app::Ports;
use reelforge_aws::s3::S3Media;
use reelforge_aws::store::AwsStore;
use reelforge_core::clock::SystemClock;
use reelforge_core::plans::Plan;
use reelforge_core::ports::StoreError;
use reelforge_local::LocalStore;
use reelforge_local::{LocalStack, LocalStackOptions};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "reelforge",
    version,
    about = "Product page to demo videos: local server and operator tool"
)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// Where the local backend keeps its files.
    #[arg(
        long,
        global = true,
        env = "REELFORGE_DATA",
        default_value = "./.reelforge"
    )]
    data: PathBuf,
    /// `local` (SQLite in --data) or `aws` (DynamoDB/SQS via the standard AWS config chain).
    #[arg(
        long,
        global = true,
        env = "REELFORGE_BACKEND",
        default_value = "local"
    )]
    backend: Backend,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Backend {
    Local,
    Aws,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API on the local backend.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Development only: allow loopback/private `url` and `webhook_url` targets and
        /// plain-http webhooks.
        #[arg(long)]
        allow_private_targets: bool,
        /// Pipeline stage workers; 0 serves the API only (campaigns wait in `collecting`).
        #[arg(long, default_value_t = 2)]
        stage_workers: usize,
        /// Seconds before the 2nd and 3rd webhook attempts (default 30,120).
        #[arg(long, value_delimiter = ',', default_value = "30,120")]
        webhook_retry_delays: Vec<u32>,
        /// Seconds a pipeline stage may run before its work is handed to another worker
        /// (also how soon a stage interrupted by a crash is resumed).
        #[arg(long, default_value_t = 600)]
        stage_timeout_secs: u64,
        /// Base URL of the download links in `file_url` (default: the listening address).
        #[arg(long)]
        public_url: Option<String>,
        /// Seconds a client has to send a request's head (also how long an idle
        /// keep-alive connection is kept).
        #[arg(long, default_value_t = 10)]
        header_timeout_secs: u64,
        /// Seconds a client has to send a request's body (else 408).
        #[arg(long, default_value_t = 60)]
        body_timeout_secs: u64,
        /// Connections open at once; more are closed at once.
        #[arg(long, default_value_t = 256)]
        max_connections: usize,
        /// Days after which rendered videos and thumbnails are deleted (their file_url
        /// then stops working); 0 keeps them forever.
        #[arg(long, default_value_t = 0)]
        video_retention_days: u32,
    },
    /// The main job, end to end: serves a bundled sample product site on loopback, runs a
    /// campaign for it over the real HTTP API and writes the MP4s, thumbnails and a
    /// contact sheet to --out.
    Demo {
        #[arg(long, default_value = "./out")]
        out: PathBuf,
        #[arg(long, value_delimiter = ',', default_value = "en,ja,ko")]
        languages: Vec<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Manage accounts.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create the DynamoDB table and SQS queue (for the local AWS emulator or a first deploy
    /// without SAM); prints their names.
    Setup {
        #[arg(long, default_value = "reelforge-collect")]
        queue: String,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        plan: Plan,
        /// Enterprise only (default 1000).
        #[arg(long)]
        videos_per_month: Option<u32>,
    },
    Show {
        #[arg(long)]
        account: String,
    },
    SetPlan {
        #[arg(long)]
        account: String,
        #[arg(long)]
        plan: Plan,
        #[arg(long)]
        videos_per_month: Option<u32>,
    },
    /// Issue a new webhook secret; the old one keeps signing beside it for 24 hours.
    RotateWebhookSecret {
        #[arg(long)]
        account: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Mint a key; the only time the key itself is shown.
    Create {
        #[arg(long)]
        account: String,
    },
    List {
        #[arg(long)]
        account: String,
    },
    Revoke {
        #[arg(long)]
        id: String,
    },
}

struct Failure(String);

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure(match e {
            StoreError::NotFound => "not found".to_string(),
            StoreError::LimitReached(m) => m,
            other => other.to_string(),
        })
    }
}

enum Store {
    Local(Arc<LocalStore>),
    Aws(Arc<AwsStore>),
}

async fn open_store(args: &StoreArgs) -> Result<(Ports, Store), Failure> {
    Ok(match args.backend {
        Backend::Local => {
            let store = Arc::new(LocalStore::open(&args.data)?);
            (Ports::from_store(store.clone()), Store::Local(store))
        }
        Backend::Aws => {
            let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let store = Arc::new(AwsStore::from_config(&config));
            let media = Arc::new(S3Media::from_config(&config));
            (
                Ports::new(store.clone(), store.clone(), media),
                Store::Aws(store),
            )
        }
    })
}

fn key_json(k: &reelforge_core::model::ApiKeyRecord) -> Value {
    json!({
        "id": k.id,
        "display": k.display,
        "account_id": k.account_id,
        "scopes": k.scopes,
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
    })
}

/// `Ok(None)`: the command already printed its output (serve prints its address at start).
async fn run(cli: Cli) -> Result<Option<Value>, Failure> {
    let clock = SystemClock;
    let (ports, store) = open_store(&cli.store).await?;
    match cli.command {
        Command::Serve {
            addr,
            allow_private_targets,
            stage_workers,
            webhook_retry_delays,
            stage_timeout_secs,
            public_url,
            header_timeout_secs,
            body_timeout_secs,
            max_connections,
            video_retention_days,
        } => {
            let Store::Local(local_store) = store else {
                return Err(Failure("serve runs on the local backend only".into()));
            };
            if header_timeout_secs == 0 || body_timeout_secs == 0 || max_connections == 0 {
                return Err(Failure(
                    "--header-timeout-secs, --body-timeout-secs and --max-connections take at least 1".into(),
                ));
            }
            validate_retry_delays(&webhook_retry_delays)?;
            if !(1..=900).contains(&stage_timeout_secs) {
                return Err(Failure(
                    "--stage-timeout-secs takes 1 to 900 seconds".into(),
                ));
            }
            let stack = LocalStack::start(
                local_store,
                LocalStackOptions {
                    addr,
                    allow_private_targets,
                    stage_workers,
                    webhook_workers: 4,
                    webhook_retry_delays,
                    stage_timeout: Duration::from_secs(stage_timeout_secs),
                    public_url,
                    limits: reelforge_local::ServerLimits {
                        header_timeout: Duration::from_secs(header_timeout_secs),
                        body_timeout: Duration::from_secs(body_timeout_secs),
                        max_connections,
                    },
                    video_retention: (video_retention_days > 0)
                        .then(|| Duration::from_secs(u64::from(video_retention_days) * 86_400)),
                },
            )
            .await
            .map_err(|e| Failure(format!("cannot listen on {addr}: {e}")))?;
            println!(
                "{}",
                json!({"listening": stack.addr.to_string(), "url": stack.url, "data": cli.store.data})
            );
            shutdown_signal().await;
            stack.shutdown().await.map_err(|e| Failure(e.to_string()))?;
            Ok(None)
        }
        Command::Demo {
            out,
            languages,
            timeout_secs,
        } => {
            let Store::Local(local_store) = store else {
                return Err(Failure("demo runs on the local backend only".into()));
            };
            demo::run(
                local_store,
                &out,
                &languages,
                Duration::from_secs(timeout_secs),
            )
            .await
            .map(Some)
            .map_err(Failure)
        }
        Command::Accounts { command } => account_command(&ports, &clock, command).await.map(Some),
        Command::Keys { command } => key_command(&ports, &clock, command).await.map(Some),
        Command::Setup { queue } => {
            let Store::Aws(store) = store else {
                return Ok(Some(json!({"data": cli.store.data, "ready": true})));
            };
            store.create_table().await?;
            let queue_url = store.create_queue(&queue).await?;
            Ok(Some(json!({"ready": true, "queue_url": queue_url})))
        }
    }
}

async fn account_command(
    ports: &Ports,
    clock: &SystemClock,
    command: AccountsCommand,
) -> Result<Value, Failure> {
    match command {
        AccountsCommand::Create {
            name,
            plan,
            videos_per_month,
        } => {
            let a = reelforge_app::admin::create_account(
                &*ports.accounts,
                clock,
                &name,
                plan,
                videos_per_month,
            )
            .await?;
            Ok(json!({
                "account_id": a.id,
                "name": a.name,
                "plan": a.plan,
                "videos_per_month": a.videos_quota(),
                "webhook_secret": a.webhook_secret,
                "created_at": a.created_at,
            }))
        }
        AccountsCommand::Show { account } => {
            let a = ports
                .accounts
                .get_account(&account)
                .await?
                .ok_or(StoreError::NotFound)?;
            Ok(json!({
                "account_id": a.id,
                "name": a.name,
                "plan": a.plan,
                "videos_per_month": a.videos_quota(),
                "created_at": a.created_at,
            }))
        }
        AccountsCommand::RotateWebhookSecret { account } => {
            let a = reelforge_app::admin::rotate_webhook_secret(&*ports.accounts, clock, &account)
                .await?;
            Ok(json!({
                "account_id": a.id,
                "webhook_secret": a.webhook_secret,
                "previous_secret_valid_until": a.previous_webhook_secret_expires_at,
            }))
        }
        AccountsCommand::SetPlan {
            account,
            plan,
            videos_per_month,
        } => {
            let a =
                reelforge_app::admin::set_plan(&*ports.accounts, &account, plan, videos_per_month)
                    .await?;
            Ok(json!({"account_id": a.id, "plan": a.plan, "videos_per_month": a.videos_quota()}))
        }
    }
}

async fn key_command(
    ports: &Ports,
    clock: &SystemClock,
    command: KeysCommand,
) -> Result<Value, Failure> {
    match command {
        KeysCommand::Create { account } => {
            let (minted, record) =
                reelforge_app::admin::create_key(&*ports.accounts, &*ports.keys, clock, &account)
                    .await?;
            let mut out = key_json(&record);
            out["key"] = json!(minted.secret);
            Ok(out)
        }
        KeysCommand::List { account } => {
            let keys = ports.keys.list_keys(&account).await?;
            Ok(json!({"keys": keys.iter().map(key_json).collect::<Vec<_>>()}))
        }
        KeysCommand::Revoke { id } => {
            let revoked = ports.keys.revoke_key(&id, chrono::Utc::now()).await?;
            if !revoked {
                return Err(Failure("no such key, or already revoked".into()));
            }
            Ok(json!({"id": id, "revoked": true}))
        }
    }
}

fn validate_retry_delays(delays: &[u32]) -> Result<(), Failure> {
    if delays.is_empty() || delays.iter().any(|&d| d == 0 || d > 900) {
        return Err(Failure(
            "--webhook-retry-delays takes 1 to 900 seconds per retry, e.g. 30,120".into(),
        ));
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    reelforge_app::telemetry::init_text();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}", json!({"error": format!("cannot start runtime: {e}")}));
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(out) => {
            if let Some(out) = out {
                println!("{out}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(Failure(message)) => {
            eprintln!("{}", json!({"error": message}));
            std::process::ExitCode::FAILURE
        }
    }
}
