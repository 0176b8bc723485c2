//! A loopback HTTP proxy between the aws backend and moto that can fail chosen AWS
//! operations: with the service's throttling error, a 5xx, or a dropped connection. Every
//! other request is forwarded to moto unchanged. Operations are told apart by the
//! `X-Amz-Target` header the SDK sends (`DynamoDB_20120810.PutItem`,
//! `AmazonSQS.SendMessage`: both services speak the JSON protocol), optionally narrowed by
//! a string the request body must contain (a key prefix such as `WIN#ip-auth#`).
//!
//! Faults are answered by the proxy itself, so a faulted request never reaches moto: what
//! the store holds afterwards is exactly what the backend wrote around the fault.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::retry::RetryPartition;
use aws_sdk_dynamodb::config::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reelforge_aws::s3::{s3_client, S3Media};
use reelforge_aws::store::{AwsNames, AwsStore};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Attempts the SDK makes per call of a store built by [`FaultProxy::aws_store`] (its
/// standard retry mode's default).
pub const SDK_ATTEMPTS: u32 = 3;

/// How a matched request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The service's throttling error, HTTP 400: DynamoDB `ThrottlingException`, SQS
    /// `RequestThrottled`.
    Throttle,
    /// DynamoDB's `ProvisionedThroughputExceededException`, HTTP 400.
    ThroughputExceeded,
    /// HTTP 500 (`InternalServerError`) or 503 (`ServiceUnavailable`).
    Status(u16),
    /// The connection is closed without an answer; the request never reaches moto.
    Drop,
    /// The request is forwarded to moto (and takes effect there), then the connection is
    /// closed without relaying the answer: the outcome is unknown to the client.
    LoseAnswer,
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub target: String,
    pub body_contains: Option<String>,
}

impl Op {
    pub fn dynamodb(operation: &str) -> Op {
        Op {
            target: format!("DynamoDB_20120810.{operation}"),
            body_contains: None,
        }
    }

    pub fn sqs(operation: &str) -> Op {
        Op {
            target: format!("AmazonSQS.{operation}"),
            body_contains: None,
        }
    }

    /// Only requests whose body contains `needle`.
    pub fn containing(mut self, needle: &str) -> Op {
        self.body_contains = Some(needle.to_string());
        self
    }

    fn matches(&self, target: &str, body: &str) -> bool {
        self.target == target
            && self
                .body_contains
                .as_deref()
                .is_none_or(|needle| body.contains(needle))
    }
}

struct Rule {
    op: Op,
    fault: Fault,
    /// `None`: every matching request; `Some(n)`: the next `n`.
    remaining: Option<u32>,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub target: String,
    pub body: String,
    pub fault: Option<Fault>,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
}

pub struct FaultProxy {
    endpoint: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                let upstream = upstream.clone();
                tokio::spawn(serve(stream, state, upstream));
            }
        });
        FaultProxy {
            endpoint,
            state,
            task,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An `AwsStore` on `names` (a table and queue made on moto) whose DynamoDB and SQS
    /// calls go through this proxy. The SDK runs its standard retry (3 attempts, short
    /// backoff for the tests' sake) in a retry partition of its own, so the token bucket
    /// other clients in the process drain never decides whether a retry happens here.
    pub async fn aws_store(&self, names: AwsNames) -> AwsStore {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(SDK_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(20)),
            )
            .load()
            .await;
        let partition = format!("fault-proxy-{}", uuid::Uuid::new_v4().simple());
        let dynamo = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .retry_partition(RetryPartition::new(partition.clone()))
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config)
                .retry_partition(RetryPartition::new(partition))
                .build(),
        );
        let media = S3Media::new(s3_client(&config), names.media_bucket.clone());
        AwsStore::new(dynamo, sqs, names).with_media(media)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails every request matching `op` until [`FaultProxy::clear`].
    pub fn fail(&self, op: Op, fault: Fault) {
        self.state().rules.push(Rule {
            op,
            fault,
            remaining: None,
        });
    }

    /// Fails the next `times` requests matching `op`, then forwards again.
    pub fn fail_times(&self, op: Op, fault: Fault, times: u32) {
        self.state().rules.push(Rule {
            op,
            fault,
            remaining: Some(times),
        });
    }

    /// Removes every fault: all requests are forwarded from now on.
    pub fn clear(&self) {
        self.state().rules.clear();
    }

    /// Every request seen so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.state().seen.clone()
    }

    /// Requests matching `op` seen so far (faulted or forwarded).
    pub fn count(&self, op: &Op) -> usize {
        self.state()
            .seen
            .iter()
            .filter(|s| op.matches(&s.target, &s.body))
            .count()
    }

    /// Requests matching `op` that were answered with a fault.
    pub fn faulted(&self, op: &Op) -> usize {
        self.state()
            .seen
            .iter()
            .filter(|s| s.fault.is_some() && op.matches(&s.target, &s.body))
            .count()
    }

    /// Records the request and picks its fault, if any.
    fn decide(state: &Mutex<State>, target: &str, body: &str) -> Option<Fault> {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        let fault = state
            .rules
            .iter_mut()
            .find(|r| r.remaining != Some(0) && r.op.matches(target, body))
            .map(|rule| {
                if let Some(n) = rule.remaining.as_mut() {
                    *n -= 1;
                }
                rule.fault
            });
        state.seen.push(Seen {
            target: target.to_string(),
            body: body.to_string(),
            fault,
        });
        fault
    }
}

type Answer = Result<Response<Full<Bytes>>, std::convert::Infallible>;

/// Serves one client connection. A `Drop` fault closes it without an answer.
async fn serve(stream: TcpStream, state: Arc<Mutex<State>>, upstream: String) {
    let hang_up = Arc::new(Notify::new());
    let signal = hang_up.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        let upstream = upstream.clone();
        let signal = signal.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let target = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let text = String::from_utf8_lossy(&body).into_owned();
            match FaultProxy::decide(&state, &target, &text) {
                Some(Fault::Drop) => {
                    signal.notify_one();
                    std::future::pending::<Answer>().await
                }
                Some(Fault::LoseAnswer) => {
                    let _ = forward(&upstream, parts, body).await;
                    signal.notify_one();
                    std::future::pending::<Answer>().await
                }
                Some(fault) => Ok(fault_response(&target, fault)),
                None => Ok(forward(&upstream, parts, body).await),
            }
        }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = hang_up.notified() => {}
    }
}

fn json_response(status: u16, headers: &[(&str, &str)], body: String) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", "fault-proxy");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

/// The error the service itself would answer with.
fn fault_response(target: &str, fault: Fault) -> Response<Full<Bytes>> {
    let sqs = target.starts_with("AmazonSQS.");
    let (status, code, message) = match fault {
        Fault::Throttle if sqs => (400, "RequestThrottled", "Request is throttled."),
        Fault::Throttle => (
            400,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        ),
        Fault::ThroughputExceeded => (
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        Fault::Status(503) => (503, "ServiceUnavailable", "Service unavailable."),
        Fault::Status(status) if sqs => (status, "InternalFailure", "Internal failure."),
        Fault::Status(status) => (status, "InternalServerError", "Internal server error."),
        Fault::Drop | Fault::LoseAnswer => unreachable!("dropped connections have no answer"),
    };
    if sqs {
        let query_error = format!(
            "{code};{}",
            if status < 500 { "Sender" } else { "Receiver" }
        );
        json_response(
            status,
            &[("x-amzn-query-error", &query_error)],
            serde_json::json!({"__type": format!("com.amazonaws.sqs#{code}"), "message": message})
                .to_string(),
        )
    } else {
        json_response(
            status,
            &[],
            serde_json::json!({
                "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
                "message": message,
            })
            .to_string(),
        )
    }
}

/// Sends the request to moto on a fresh connection and relays its answer.
async fn forward(
    upstream: &str,
    parts: http::request::Parts,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let bad_gateway = |why: String| {
        Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(why)))
            .unwrap()
    };
    let stream = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => return bad_gateway(format!("proxy: connecting upstream: {e}")),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => return bad_gateway(format!("proxy: handshake: {e}")),
        };
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(parts.method)
        .uri(
            parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
        )
        .body(Full::new(body))
        .unwrap();
    *request.headers_mut() = parts.headers;
    let response = match sender.send_request(request).await {
        Ok(r) => r,
        Err(e) => return bad_gateway(format!("proxy: upstream request: {e}")),
    };
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Response::from_parts(parts, Full::new(body))
}
