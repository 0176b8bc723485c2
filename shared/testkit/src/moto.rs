//! One moto server (a local AWS emulator, from PyPI) per test binary, and `AwsStore`s
//! pointed at it, each with a table and queue of its own so tests never see each other.
//!
//! The server is started through a small shell wrapper that holds the read end of a pipe
//! whose write end stays open in this process. When the test binary exits, however it
//! exits, the OS closes the pipe, the wrapper sees end-of-file and stops the server: no
//! moto process outlives `cargo test`.
//!
//! moto runs with every request handled under one lock (see `SERIALISED_LAUNCHER`): its
//! DynamoDB is not thread-safe, and the concurrency checks of the contract suite would
//! otherwise test moto's races instead of our conditions.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use reelforge_aws::s3::{s3_client, S3Media};
use reelforge_aws::store::{AwsNames, AwsStore};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

const INSTALL_HINT: &str = "moto's server is needed for the aws backend tests. Install it \
    in the workspace root with:\n    python3 -m venv .venv && .venv/bin/pip install 'moto[server]'\n\
    or point MOTO_SERVER at a moto_server executable.";

/// Runs `$2...` (the server) logging to `$1`, and stops it when the pipe on the wrapper's
/// stdin closes (this process exited).
const WRAPPER: &str = r#"
log="$1"; shift
"$@" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT INT TERM HUP
cat >/dev/null
"#;

/// moto's server, with every request handled under one lock. moto's DynamoDB is not
/// thread-safe: two conditional writes can both pass their condition, and a cancelled
/// transaction restores a copy of the whole table taken when it began, erasing what
/// other requests wrote meanwhile. DynamoDB itself makes each conditional write and each
/// transaction atomic; one request at a time is how the emulator keeps that promise.
///
/// Its listen queue is also raised from werkzeug's 128 to the kernel's usual cap: the
/// 500-parallel tests open hundreds of connections at once, and with a short queue the
/// kernel drops their SYNs while the busy server is slow to accept, so the SDK's connect
/// times out (3.1 s) although DynamoDB itself would have taken them all.
const SERIALISED_LAUNCHER: &str = r#"
import sys, threading
from werkzeug import serving
from moto.moto_server import werkzeug_app
from moto.server import main

serving.BaseWSGIServer.request_queue_size = 4096

_lock = threading.Lock()
_dispatch = werkzeug_app.DomainDispatcherApplication.__call__

def _serialised(self, environ, start_response):
    with _lock:
        return list(_dispatch(self, environ, start_response))

werkzeug_app.DomainDispatcherApplication.__call__ = _serialised
main(sys.argv[1:])
"#;

struct Moto {
    endpoint: String,
    /// Held for the life of the process: dropping the write end stops the server.
    _wrapper: Mutex<(Child, ChildStdin)>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

fn moto_executable() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap_or(Path::new("."));
    let venv = workspace.join(".venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("moto_server"))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| panic!("moto_server not found.\n{INSTALL_HINT}"))
}

/// The Python interpreter a `moto_server` script starts with (its `#!` line), so the
/// serialised launcher can run in the same environment.
fn python_of(exe: &Path) -> Option<Vec<String>> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(exe)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let first_line = std::str::from_utf8(&head[..n]).ok()?.lines().next()?;
    let interpreter: Vec<String> = first_line
        .strip_prefix("#!")?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    interpreter
        .iter()
        .any(|part| part.contains("python"))
        .then_some(interpreter)
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// True once the server answers an HTTP request.
fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

fn start() -> Moto {
    let exe = moto_executable();
    if !exe.is_file() {
        panic!("{} does not exist.\n{INSTALL_HINT}", exe.display());
    }
    let port = free_port();
    let log =
        std::env::temp_dir().join(format!("reelforge-moto-{}-{port}.log", std::process::id()));
    let mut command = Command::new("sh");
    command.arg("-c").arg(WRAPPER).arg("moto-wrapper").arg(&log);
    match python_of(&exe) {
        Some(interpreter) => command.args(interpreter).arg("-c").arg(SERIALISED_LAUNCHER),
        None => command.arg(&exe),
    };
    let mut child = command
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}\n{INSTALL_HINT}", exe.display()));
    let stdin = child.stdin.take().expect("wrapper stdin");
    // Python start-up takes a second or two; give it up to 30 s, checking every 50 ms.
    for _ in 0..600 {
        if answers_http(port) {
            return Moto {
                endpoint: format!("http://127.0.0.1:{port}"),
                _wrapper: Mutex::new((child, stdin)),
            };
        }
        if let Ok(Some(status)) = child.try_wait() {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("moto_server exited ({status}) before answering:\n{output}\n{INSTALL_HINT}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    panic!("moto_server did not answer on port {port} within 30 s:\n{output}");
}

/// moto handles one request at a time, so the tests of a process that send it bursts of
/// hundreds of requests take turns: each measures the backend under its own load only.
/// (With two bursts at once, moto's queue grows past the SDK's 30 s operation timeout and
/// some requests rightly answer 503: the store did not answer in time.)
pub async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// The emulator's endpoint, starting it on first use.
pub fn endpoint() -> &'static str {
    &MOTO.get_or_init(start).endpoint
}

async fn sdk_config(endpoint: &str, timeouts: TimeoutConfig, retries: RetryConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .timeout_config(timeouts)
        .retry_config(retries)
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// An SDK configuration for the emulator (for clients a store doesn't make).
pub async fn emulator_config() -> SdkConfig {
    sdk_config(
        endpoint(),
        TimeoutConfig::builder()
            .operation_timeout(Duration::from_secs(30))
            .build(),
        RetryConfig::standard(),
    )
    .await
}

fn store_on(config: &SdkConfig, names: AwsNames) -> AwsStore {
    let media = S3Media::new(s3_client(config), names.media_bucket.clone());
    AwsStore::new(
        aws_sdk_dynamodb::Client::new(config),
        aws_sdk_sqs::Client::new(config),
        names,
    )
    .with_media(media)
}

/// A store on the emulator with a fresh table and queue of its own.
pub async fn aws_store() -> AwsStore {
    let config = emulator_config().await;
    let setup = store_on(
        &config,
        AwsNames {
            table: unique("reelforge-test"),
            queue_url: String::new(),
            stage_queue_urls: Default::default(),
            media_bucket: unique("reelforge-media"),
        },
    );
    setup.create_table().await.expect("create table on moto");
    S3Media::new(s3_client(&config), setup.names().media_bucket.clone())
        .create_bucket()
        .await
        .expect("create bucket on moto");
    let queue_url = setup
        .create_queue(&unique("reelforge-stage"))
        .await
        .expect("create queue on moto");
    store_on(
        &config,
        AwsNames {
            table: setup.names().table.clone(),
            queue_url,
            stage_queue_urls: Default::default(),
            media_bucket: setup.names().media_bucket.clone(),
        },
    )
}

/// Another store on the same table and queue, as a second process would have (its own
/// clients, its own cache of window states).
pub async fn aws_store_sharing(store: &AwsStore) -> AwsStore {
    store_on(&emulator_config().await, store.names().clone())
}

/// Another store on the same table whose stage queue is `queue_url` (an empty URL makes
/// every send fail with `Unavailable`).
pub async fn aws_store_with_queue(store: &AwsStore, queue_url: &str) -> AwsStore {
    let names = AwsNames {
        table: store.names().table.clone(),
        queue_url: queue_url.to_string(),
        stage_queue_urls: Default::default(),
        media_bucket: store.names().media_bucket.clone(),
    };
    store_on(&emulator_config().await, names)
}

/// A store whose endpoint is a closed loopback port: every call fails fast.
pub async fn dead_aws_store() -> AwsStore {
    let port = free_port();
    let config = sdk_config(
        &format!("http://127.0.0.1:{port}"),
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(300))
            .operation_timeout(Duration::from_secs(2))
            .build(),
        RetryConfig::disabled(),
    )
    .await;
    store_on(
        &config,
        AwsNames {
            table: "reelforge-dead".to_string(),
            queue_url: format!("http://127.0.0.1:{port}/000000000000/dead"),
            stage_queue_urls: Default::default(),
            media_bucket: "reelforge-dead".to_string(),
        },
    )
}
