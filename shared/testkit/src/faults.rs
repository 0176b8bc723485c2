//! Fault-injection support for the black-box tests: `reelforge serve` started with any
//! environment, a log file kept across restarts and an optional command in front of it
//! (`unshare …` for a private mount), logging wrapper scripts around the production
//! tools, their logs read back per stage run, and a loopback product site that counts
//! the fetches of each page.

use crate::server::{bin, Server};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How to start `reelforge serve` (`--addr 127.0.0.1:0 --data <data>` always).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub data: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The server's log (stderr) is appended here, so it survives restarts.
    pub log: Option<PathBuf>,
    /// A command that runs the server (`["unshare", "--mount", "sh", "-c", …]`): the
    /// server's own argv is appended to it.
    pub wrap: Vec<String>,
}

impl Launch {
    pub fn new(data: &Path, args: &[&str]) -> Launch {
        Launch {
            data: data.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Launch::default()
        }
    }

    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Launch {
        let value = value.as_ref().to_string_lossy().into_owned();
        self.env.push((name.to_string(), value));
        self
    }

    pub fn log(mut self, path: &Path) -> Launch {
        self.log = Some(path.to_path_buf());
        self
    }

    pub fn wrap(mut self, command: &[&str]) -> Launch {
        self.wrap = command.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Starts the server and waits for its `listening` line. Dropping the returned
    /// `Server` kills it with SIGKILL, as always.
    pub fn start(&self) -> Server {
        let data = self.data.to_string_lossy().into_owned();
        let mut argv: Vec<String> = self.wrap.clone();
        argv.push(bin().to_string_lossy().into_owned());
        argv.extend(
            ["serve", "--addr", "127.0.0.1:0", "--data", data.as_str()]
                .iter()
                .map(|a| a.to_string()),
        );
        argv.extend(self.args.iter().cloned());
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env_remove("REELFORGE_BACKEND")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped());
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        match &self.log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("server log file");
                command.stderr(Stdio::from(file));
            }
            None => {
                command.stderr(Stdio::inherit());
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            let log = self
                .log
                .as_ref()
                .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                .unwrap_or_default();
            panic!("`{}` did not start: {line:?}\n{log}", argv.join(" "))
        });
        let addr = v["listening"]
            .as_str()
            .expect("listening")
            .parse()
            .expect("addr");
        Server::adopt(self.data.clone(), addr, child)
    }
}

/// The server's process id (the `reelforge` process itself: wrappers `exec` it).
pub fn pid(server: &Server) -> u32 {
    server.pid()
}

/// Where `tool` is on `PATH`.
pub fn which(tool: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "{tool} is not installed"
    );
    PathBuf::from(path)
}

/// Writes an executable `sh` script.
pub fn script(path: &Path, body: &str) -> PathBuf {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_path_buf()
}

/// A wrapper for the real tool at `real`: appends `$PWD<TAB>$*` to `log`, runs `body`
/// (which may `exit`, sleep, or fill a disk), then execs the tool.
pub fn logging_wrapper(path: &Path, log: &Path, body: &str, real: &Path) -> PathBuf {
    script(
        path,
        &format!(
            "printf '%s\\t%s\\n' \"$PWD\" \"$*\" >> '{}'\n{body}\nexec '{}' \"$@\"",
            log.display(),
            real.display()
        ),
    )
}

/// One logged tool run: its working directory and its arguments.
#[derive(Debug, Clone)]
pub struct ToolRun {
    pub cwd: String,
    pub args: String,
}

impl ToolRun {
    /// The stage scratch directory (`reelforge-{stage}-{campaign}-{ulid}`) the run worked
    /// in or wrote to, if any.
    pub fn scratch(&self, stage: &str, campaign: &str) -> Option<String> {
        let prefix = format!("reelforge-{stage}-{campaign}-");
        [&self.cwd, &self.args].iter().find_map(|s| {
            let at = s.find(&prefix)?;
            let rest = &s[at + prefix.len()..];
            let ulid: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            Some(format!("{prefix}{ulid}"))
        })
    }
}

pub fn tool_runs(log: &Path) -> Vec<ToolRun> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(cwd, args)| ToolRun {
            cwd: cwd.to_string(),
            args: args.to_string(),
        })
        .collect()
}

/// The runs of one stage of one campaign, by scratch directory (= by stage run).
pub fn runs_by_scratch<'a>(
    runs: &'a [ToolRun],
    stage: &str,
    campaign: &str,
) -> BTreeMap<String, Vec<&'a ToolRun>> {
    let mut by = BTreeMap::<String, Vec<&ToolRun>>::new();
    for run in runs {
        if let Some(dir) = run.scratch(stage, campaign) {
            by.entry(dir).or_default().push(run);
        }
    }
    by
}

/// An ffmpeg run that renders a video (not its thumbnail, not a probe).
pub fn is_render(run: &ToolRun) -> bool {
    run.args.contains("out.mp4") && !run.args.contains("thumb.jpg")
}

/// An espeak-ng run that writes the voiceover (not the phoneme pass).
pub fn is_voice(run: &ToolRun) -> bool {
    run.args.contains(" -w ")
}

/// A loopback site answering `GET <path>` with its page (404 otherwise) and counting the
/// requests for each path.
pub struct Site {
    pub base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Site {
    pub async fn serve(pages: Vec<(String, String)>) -> Site {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind site");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
        let counted = hits.clone();
        let pages = Arc::new(pages);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let pages = pages.clone();
                let counted = counted.clone();
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
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    *counted.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let (status, body) = match pages.iter().find(|(p, _)| *p == path) {
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
        Site { base, hits }
    }

    /// Requests so far for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The bundled sample site's English page as another product: every "Lumen Notes"
/// becomes `name`, and its `hreflang` links are dropped (one page, fetched once).
pub fn product_page(name: &str) -> String {
    include_str!("../../../sample-site/index.html")
        .lines()
        .filter(|l| !l.contains("rel=\"alternate\""))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("Lumen Notes", name)
}

/// The `.mp4` files (whole files only: a write in progress is a hidden `.tmp`) and the
/// leftover temporary files under `<data>/media/videos/<campaign>`.
pub fn media_files(data: &Path, campaign: &str) -> (Vec<String>, Vec<String>) {
    let dir = data.join("media/videos").join(campaign);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
        })
        .unwrap_or_default();
    let mp4 = names.iter().filter(|n| n.ends_with(".mp4")).cloned();
    let tmp = names.iter().filter(|n| n.ends_with(".tmp")).cloned();
    (mp4.collect(), tmp.collect())
}

/// Entries of `dir` whose names start with `prefix`.
pub fn entries_named(dir: &Path, prefix: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}
