//! A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe`: Chromium reads
//! commands from its fd 3 and writes replies and events to its fd 4, each message one JSON
//! object followed by a NUL byte. One browser-level connection; pages are reached through
//! flattened sessions (`Target.attachToTarget {flatten: true}`: `sessionId` on the message).
//!
//! No TCP listener, no WebSocket, no HTTP: tokio pipes + serde_json.

use std::collections::HashMap;
use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

/// Largest message read from Chromium (a full-page PNG in base64 is the big one).
const MAX_MESSAGE: usize = 256 << 20;

#[derive(Debug)]
pub enum CdpError {
    /// The browser closed the pipe (exited or crashed) before replying.
    Closed,
    /// Chromium answered with `{"error": {code, message}}`.
    Protocol {
        method: String,
        code: i64,
        message: String,
    },
    Io(std::io::Error),
}

impl fmt::Display for CdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CdpError::Closed => write!(f, "browser closed the DevTools pipe"),
            CdpError::Protocol {
                method,
                code,
                message,
            } => {
                write!(f, "{method}: {message} ({code})")
            }
            CdpError::Io(e) => write!(f, "DevTools pipe: {e}"),
        }
    }
}

impl std::error::Error for CdpError {}

/// An event (`method`, `params`) of the session it was subscribed for.
#[derive(Debug, Clone)]
pub struct Event {
    pub method: String,
    pub params: Value,
}

type Reply = oneshot::Sender<Result<Value, CdpError>>;

pub struct Cdp {
    writer: tokio::sync::Mutex<pipe::Sender>,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, (String, Reply)>>,
    /// Event streams by session id ("" = browser-level events).
    subscribers: Mutex<HashMap<String, mpsc::UnboundedSender<Event>>>,
}

impl Cdp {
    /// Our ends of the two pipes: `to_browser` writes into Chromium's fd 3,
    /// `from_browser` reads Chromium's fd 4.
    pub fn start(to_browser: OwnedFd, from_browser: OwnedFd) -> std::io::Result<Arc<Cdp>> {
        let cdp = Arc::new(Cdp {
            writer: tokio::sync::Mutex::new(pipe::Sender::from_owned_fd(to_browser)?),
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            subscribers: Mutex::new(HashMap::new()),
        });
        let reader = pipe::Receiver::from_owned_fd(from_browser)?;
        tokio::spawn(read_loop(Arc::clone(&cdp), reader));
        Ok(cdp)
    }

    /// Sends `method` (on `session`, or to the browser) and waits for its reply.
    pub async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, CdpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let mut bytes = serde_json::to_vec(&msg).map_err(|e| CdpError::Io(e.into()))?;
        bytes.push(0);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (method.to_string(), tx));
        let written = self.writer.lock().await.write_all(&bytes).await;
        if let Err(e) = written {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            return Err(CdpError::Io(e));
        }
        rx.await.unwrap_or(Err(CdpError::Closed))
    }

    /// Every event of `session` from now on (None: browser-level events). Subscribe
    /// before sending the command whose events you want.
    pub fn subscribe(&self, session: Option<&str>) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        let key = session.unwrap_or_default().to_string();
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, tx);
        rx
    }

    pub fn unsubscribe(&self, session: &str) {
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(session);
    }
}

async fn read_loop(cdp: Arc<Cdp>, from_browser: pipe::Receiver) {
    let mut reader = BufReader::with_capacity(1 << 16, from_browser);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_MESSAGE as u64)
            .read_until(0, &mut buf)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) if buf.last() != Some(&0) => break, // too long, or EOF mid-message
            Ok(_) => buf.pop(),
        };
        let Ok(mut msg) = serde_json::from_slice::<Value>(&buf) else {
            continue;
        };
        if let Some(id) = msg.get("id").and_then(Value::as_u64) {
            let Some((method, reply)) = cdp
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id)
            else {
                continue;
            };
            let result = match msg.get("error") {
                Some(e) => Err(CdpError::Protocol {
                    method,
                    code: e["code"].as_i64().unwrap_or_default(),
                    message: e["message"].as_str().unwrap_or_default().to_string(),
                }),
                None => Ok(msg["result"].take()),
            };
            let _ = reply.send(result);
        } else if let Some(method) = msg["method"].as_str() {
            let method = method.to_string();
            let subscribers = cdp.subscribers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(tx) = subscribers.get(msg["sessionId"].as_str().unwrap_or_default()) {
                let _ = tx.send(Event {
                    method,
                    params: msg["params"].take(),
                });
            }
        }
    }
    // The browser is gone: fail every pending call, end every event stream.
    cdp.pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    cdp.subscribers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
}
