//! Load generator for `reelforge serve` (local backend): authenticated GET and POST
//! throughput and latency percentiles. Each connection is keep-alive from its own
//! loopback source address and sends fewer requests than the per-IP limit, and creates
//! are spread over enough accounts to stay under each account's rate, so every request
//! measured takes the full path (limiter writes, key lookup, store) and must succeed.
//!
//! Then the limiter under a 10x overload: ten times each layer's limit, sent at once,
//! must admit exactly the limit (the unauthenticated and authenticated per-IP layers,
//! and one account's creation window).
//!
//! Run: `cargo bench -p reelforge-cli --bench api_load` (env BENCH_SECONDS, BENCH_CONNS,
//! BENCH_JSON to write the figures as JSON).

use reelforge_testkit::server as support;

use reelforge_testkit::bench_report as common;

use serde_json::json;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Requests per connection before it moves to a new source address (< 120/min per IP).
const PER_CONNECTION: u32 = 100;

static NEXT_IP: AtomicU32 = AtomicU32::new(0);

fn next_source() -> IpAddr {
    let n = NEXT_IP.fetch_add(1, Ordering::Relaxed);
    // Never .0 and never repeated: 254 hosts per /24, 256 /24s per /16.
    let (host, net) = (n % 254 + 1, n / 254);
    IpAddr::V4(Ipv4Addr::new(
        127,
        60 + (net / 256) as u8,
        (net % 256) as u8,
        host as u8,
    ))
}

async fn connect(server: SocketAddr) -> TcpStream {
    connect_from(server, next_source()).await
}

async fn connect_from(server: SocketAddr, source: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(source, 0)).expect("bind");
    let s = socket.connect(server).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Sends one request on a keep-alive connection and returns the status code.
async fn round_trip(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> u16 {
    stream.write_all(request).await.expect("write");
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).await.expect("read body");
                assert!(n > 0, "server closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return head[9..12].parse().expect("status");
        }
    }
}

struct Outcome {
    requests: u64,
    unexpected: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

async fn drive(
    server: SocketAddr,
    conns: usize,
    seconds: u64,
    expect: u16,
    make_request: Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>,
) -> Outcome {
    let counter = Arc::new(AtomicU64::new(0));
    let unexpected = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let make_request = make_request.clone();
        let counter = counter.clone();
        let unexpected = unexpected.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut buf = Vec::with_capacity(8192);
            while Instant::now() < deadline {
                let mut stream = connect(server).await;
                for i in 0..PER_CONNECTION {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let req = make_request(n);
                    let t = Instant::now();
                    let status = round_trip(&mut stream, &req, &mut buf).await;
                    latencies.push(t.elapsed().as_micros() as u64);
                    if status != expect && unexpected.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("unexpected {status} after {i} requests on this connection");
                    }
                }
            }
            latencies
        });
    }
    let mut latencies_us = Vec::new();
    while let Some(l) = tasks.join_next().await {
        latencies_us.extend(l.expect("task"));
    }
    let elapsed = start.elapsed();
    latencies_us.sort_unstable();
    Outcome {
        requests: latencies_us.len() as u64,
        unexpected: unexpected.load(Ordering::Relaxed),
        elapsed,
        latencies_us,
    }
}

fn report(name: &str, o: &Outcome) -> serde_json::Value {
    let rps = o.requests as f64 / o.elapsed.as_secs_f64();
    let (p50, p99) = (
        common::pct_ms(&o.latencies_us, 0.50),
        common::pct_ms(&o.latencies_us, 0.99),
    );
    println!(
        "{name:<28} {:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests, {} unexpected)",
        rps, p50, p99, o.requests, o.unexpected
    );
    assert_eq!(
        o.unexpected, 0,
        "{name}: responses other than the expected status"
    );
    json!({"scenario": name, "requests": o.requests, "seconds": o.elapsed.as_secs_f64(),
           "req_per_s": rps.round(), "p50_ms": p50, "p99_ms": p99,
           "distribution_ms": common::distribution_ms(&o.latencies_us)})
}

/// `total` requests sent at once over `conns` keep-alive connections, connection `c`
/// from `source(c)`; returns how many got each status and the latencies of the 429s.
async fn burst(
    server: SocketAddr,
    total: u64,
    conns: u64,
    source: Arc<dyn Fn(u64) -> IpAddr + Send + Sync>,
    make_request: Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>,
) -> (BTreeMap<u16, u64>, Vec<u64>) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..conns {
        let (source, make_request) = (source.clone(), make_request.clone());
        tasks.spawn(async move {
            let mut stream = connect_from(server, source(c)).await;
            let mut buf = Vec::with_capacity(8192);
            let mut seen = Vec::new();
            let mut n = c;
            while n < total {
                let t = Instant::now();
                let status = round_trip(&mut stream, &make_request(n), &mut buf).await;
                seen.push((status, t.elapsed().as_micros() as u64));
                n += conns;
            }
            seen
        });
    }
    let mut counts = BTreeMap::new();
    let mut refused_us = Vec::new();
    while let Some(seen) = tasks.join_next().await {
        for (status, us) in seen.expect("burst task") {
            *counts.entry(status).or_insert(0) += 1;
            if status == 429 {
                refused_us.push(us);
            }
        }
    }
    refused_us.sort_unstable();
    (counts, refused_us)
}

/// One layer under ten times its limit: exactly `limit` must get `admitted_status`.
fn overload_report(
    layer: &str,
    limit: u64,
    admitted_status: u16,
    (counts, refused_us): &(BTreeMap<u16, u64>, Vec<u64>),
) -> serde_json::Value {
    let sent: u64 = counts.values().sum();
    let admitted = counts.get(&admitted_status).copied().unwrap_or(0);
    let refused = counts.get(&429).copied().unwrap_or(0);
    println!(
        "limiter {layer:<34} limit {limit:>4}  sent {sent:>5}  admitted {admitted:>4}  429 {refused:>5}  (429 p50 {:.2} ms, p99 {:.2} ms)",
        common::pct_ms(refused_us, 0.5),
        common::pct_ms(refused_us, 0.99)
    );
    assert_eq!(
        admitted + refused,
        sent,
        "{layer}: statuses other than {admitted_status} and 429: {counts:?}"
    );
    assert_eq!(
        admitted, limit,
        "{layer}: admitted {admitted} of limit {limit}"
    );
    json!({"layer": layer, "limit": limit, "sent": sent, "admitted": admitted,
           "refused": refused, "accuracy": admitted as f64 / limit as f64,
           "refused_p50_ms": common::pct_ms(refused_us, 0.5),
           "refused_p99_ms": common::pct_ms(refused_us, 0.99)})
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let conns: usize = std::env::var("BENCH_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = support::Server::api(&[]);
    // Enough enterprise accounts that creates stay under 120/min per account.
    let accounts = 300;
    let keys: Vec<String> = (0..accounts)
        .map(|_| {
            server
                .account("enterprise", &["--videos-per-month", "100000000"])
                .1
        })
        .collect();
    let addr = server.addr;
    let results = rt.block_on(async {
        let c = server.client();
        let id = c
            .create(&keys[0], &json!({"url": "https://93.184.216.34/", "languages": ["en"]}))
            .await
            .json()["campaign_id"]
            .as_str()
            .expect("campaign id")
            .to_string();
        let get_key = keys[0].clone();
        let get = Arc::new(move |_n: u64| {
            format!("GET /api/v1/campaigns/{id} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {get_key}\r\n\r\n")
                .into_bytes()
        });
        let keys = Arc::new(keys);
        let post = Arc::new(move |n: u64| {
            let body = r#"{"url":"https://93.184.216.34/","languages":["en","ja"]}"#;
            let key = &keys[(n as usize) % keys.len()];
            format!(
                "POST /api/v1/campaigns HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        });
        // Warm-up, then the measured runs.
        drive(addr, conns, 1, 200, get.clone()).await;
        let g = drive(addr, conns, seconds, 200, get).await;
        // Creates: at most 120/min per account over `accounts` accounts.
        let budget = (accounts as u64) * 110;
        let p = drive(addr, conns, seconds.min(budget / 2_000).max(1), 201, post).await;
        (g, p)
    });
    let overload = rt.block_on(overload(&server));
    println!(
        "\nreelforge serve, local backend (SQLite), {} cores, {conns} connections, loopback",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    common::write_json(json!({
        "connections": conns,
        "get": report("GET /api/v1/campaigns/:id", &results.0),
        "post": report("POST /api/v1/campaigns", &results.1),
        "overload": overload,
    }));
}

/// Each limiter layer under ten times its limit at once, on a fresh window.
async fn overload(server: &support::Server) -> serde_json::Value {
    let addr = server.addr;
    let mut layers = Vec::new();
    // Unauthenticated per-IP layer (10/min): 100 requests with an unknown key, one IP.
    let ip: IpAddr = Ipv4Addr::new(127, 59, 0, 1).into();
    let unknown = "sk_live_00000000000000000000000000000000";
    let r = burst(
        addr,
        100,
        10,
        Arc::new(move |_| ip),
        Arc::new(move |_| {
            format!("GET /api/v1/account HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {unknown}\r\n\r\n").into_bytes()
        }),
    )
    .await;
    layers.push(overload_report(
        "per IP, unauthenticated (401s)",
        10,
        401,
        &r,
    ));
    // Authenticated per-IP layer (120/min): 1,200 GETs with a valid key, one IP.
    let (_, key) = server.account("enterprise", &["--videos-per-month", "100000"]);
    let ip: IpAddr = Ipv4Addr::new(127, 59, 0, 2).into();
    let get_key = key.clone();
    let r = burst(
        addr,
        1200,
        16,
        Arc::new(move |_| ip),
        Arc::new(move |_| {
            format!("GET /api/v1/account HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {get_key}\r\n\r\n").into_bytes()
        }),
    )
    .await;
    layers.push(overload_report("per IP, authenticated", 120, 200, &r));
    // One account's creation window (enterprise: 120/min): 1,200 creates from 16 IPs
    // (75 each, under the per-IP layer), so only the account window refuses.
    let r = burst(
        addr,
        1200,
        16,
        Arc::new(|c| Ipv4Addr::new(127, 59, 1, 1 + c as u8).into()),
        Arc::new(move |_| {
            let body = r#"{"url":"https://93.184.216.34/","languages":["en"]}"#;
            format!(
                "POST /api/v1/campaigns HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }),
    )
    .await;
    layers.push(overload_report(
        "per account, creation (enterprise)",
        120,
        201,
        &r,
    ));
    serde_json::Value::Array(layers)
}
