//! The bundled sample product site (`sample-site/`: an English page with `hreflang`
//! versions in Japanese and Korean), served on a loopback port for `reelforge demo` and
//! the pipeline tests. Inline styles only, no scripts, no external resources.

use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SITE_EN: &str = include_str!("../../../sample-site/index.html");
const SITE_JA: &str = include_str!("../../../sample-site/ja.html");
const SITE_KO: &str = include_str!("../../../sample-site/ko.html");

/// Serves the sample site on `127.0.0.1:<free port>` until the runtime stops; returns
/// its base URL (`http://127.0.0.1:port`; pages at `/`, `/ja/`, `/ko/`).
pub async fn serve() -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let pages: Arc<[(String, String); 3]> = Arc::new([
        ("/".to_string(), SITE_EN.replace("{{BASE}}", &base)),
        ("/ja/".to_string(), SITE_JA.replace("{{BASE}}", &base)),
        ("/ko/".to_string(), SITE_KO.replace("{{BASE}}", &base)),
    ]);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let pages = pages.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = match pages.iter().find(|(p, _)| p == path) {
                    Some((_, html)) => ("200 OK", html.as_str()),
                    None => ("404 Not Found", "<!doctype html><title>Not found</title>"),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(base)
}
