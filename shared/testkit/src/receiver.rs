//! A scripted webhook receiver on loopback: answers the n-th request with the n-th
//! scripted reply (the last one repeats) and records every request it gets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// 302 to the given address.
    Redirect(SocketAddr),
    /// Accept, read the request, never answer (until the client gives up).
    Hang,
    /// Send a 200 status line and headers at once, then hold the promised body back.
    SlowBody,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub connections: Arc<Mutex<usize>>,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    pub async fn start(script: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = mpsc::unbounded_channel();
        let connections = Arc::new(Mutex::new(0usize));
        let count = connections.clone();
        tokio::spawn(async move {
            let mut n = 0usize;
            while let Ok((mut stream, _)) = listener.accept().await {
                *count.lock().unwrap() += 1;
                let reply = script
                    .get(n)
                    .or(script.last())
                    .copied()
                    .unwrap_or(Reply::Status(200));
                n += 1;
                let tx = tx.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut stream).await else {
                        return;
                    };
                    let _ = tx.send(req);
                    let head = match reply {
                        Reply::Status(code) => format!("HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"),
                        Reply::Redirect(to) => format!("HTTP/1.1 302 Found\r\nLocation: http://{to}/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        Reply::SlowBody => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                                .await;
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                    };
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Receiver {
            addr,
            connections,
            rx,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The next request, waiting at most `within` for it.
    pub async fn next(&mut self, within: Duration) -> Option<Received> {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    pub fn try_next(&mut self) -> Option<Received> {
        self.rx.try_recv().ok()
    }

    pub fn connection_count(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let headers: HashMap<String, String> = head
                .split("\r\n")
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let len: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(Received {
                headers,
                body: buf[end + 4..end + 4 + len].to_vec(),
            });
        }
    }
}
