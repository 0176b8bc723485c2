//! A small test-side driver for headless Chromium over the DevTools protocol
//! (`--remote-debugging-pipe`: JSON messages ended by NUL on file descriptors 3 and 4).
//! The descriptors are named pipes (FIFOs) that `sh` opens for Chromium (`exec chromium …
//! 3<in 4>out`), so no unsafe code is needed to hand them over.
//!
//! Elements are found the way a screen-reader user finds them: by role and accessible
//! name, as Chromium's own accessibility tree computes them (`Accessibility.queryAXTree`).
//! Every wait polls a condition until a deadline; nothing waits a fixed time.
//!
//! Recorded for the tests: console errors and uncaught exceptions
//! (`Runtime.consoleAPICalled`, `Runtime.exceptionThrown`, `Log.entryAdded`), JavaScript
//! dialogs (`Page.javascriptDialogOpening`, dismissed at once so a page can't block), and
//! the URL of every request the page makes (`Network.requestWillBeSent`).

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

type Pending = Arc<Mutex<HashMap<u64, mpsc::Sender<Value>>>>;

struct Shared {
    writer: Mutex<std::fs::File>,
    next_id: AtomicU64,
    pending: Pending,
    events: Mutex<Vec<Value>>,
}

impl Shared {
    fn send(&self, msg: &Value) {
        let mut w = self.writer.lock().unwrap();
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        w.write_all(&bytes).expect("write to Chromium");
        w.flush().expect("flush to Chromium");
    }

    fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.send(&msg);
        let reply = rx
            .recv_timeout(CALL_TIMEOUT)
            .unwrap_or_else(|_| panic!("Chromium did not answer {method} in {CALL_TIMEOUT:?}"));
        match reply.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(reply["result"].clone()),
        }
    }
}

pub struct Browser {
    child: Child,
    shared: Arc<Shared>,
    dir: PathBuf,
}

impl Browser {
    pub fn launch() -> Browser {
        let dir = reelforge_testkit::server::temp_dir("chromium");
        std::fs::create_dir_all(&dir).unwrap();
        let (fifo_in, fifo_out) = (dir.join("cdp-in"), dir.join("cdp-out"));
        let made = Command::new("mkfifo")
            .arg(&fifo_in)
            .arg(&fifo_out)
            .status()
            .expect("mkfifo");
        assert!(made.success(), "mkfifo failed");
        let chromium = std::env::var("REELFORGE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<"$CDP_IN" 4>"$CDP_OUT""#)
            .arg(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-pipe",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--mute-audio",
                "--hide-scrollbars",
                "--font-render-hinting=none",
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .env("CDP_IN", &fifo_in)
            .env("CDP_OUT", &fifo_out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Opening a FIFO blocks until the other end opens: in the order sh opens them,
        // on a thread, so a Chromium that never starts fails the test instead of hanging it.
        let (tx, rx) = mpsc::channel();
        let (fi, fo) = (fifo_in.clone(), fifo_out.clone());
        std::thread::spawn(move || {
            let w = std::fs::OpenOptions::new().write(true).open(&fi);
            let r = w.and_then(|w| std::fs::File::open(&fo).map(|r| (w, r)));
            let _ = tx.send(r);
        });
        let (writer, reader) = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(pair)) => pair,
            other => {
                let _ = child.kill();
                panic!("Chromium's DevTools pipe did not open: {other:?}");
            }
        };
        let shared = Arc::new(Shared {
            writer: Mutex::new(writer),
            next_id: AtomicU64::new(1),
            pending: Arc::default(),
            events: Mutex::default(),
        });
        let reading = shared.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                buf.pop();
                let Ok(msg) = serde_json::from_slice::<Value>(&buf) else {
                    continue;
                };
                if let Some(id) = msg["id"].as_u64() {
                    if let Some(tx) = reading.pending.lock().unwrap().remove(&id) {
                        let _ = tx.send(msg);
                    }
                    continue;
                }
                if msg["method"] == "Page.javascriptDialogOpening" {
                    // Dismiss at once (a dialog blocks the page); the test sees the event.
                    let id = reading.next_id.fetch_add(1, Ordering::SeqCst);
                    let mut m = json!({"id": id, "method": "Page.handleJavaScriptDialog",
                        "params": {"accept": false}});
                    if let Some(s) = msg["sessionId"].as_str() {
                        m["sessionId"] = json!(s);
                    }
                    reading.send(&m);
                }
                reading.events.lock().unwrap().push(msg);
            }
        });
        Browser { child, shared, dir }
    }

    /// A new tab at `width`×`height`, with the domains the tests observe enabled.
    pub fn page(&self, width: u32, height: u32) -> Page {
        let target = self
            .shared
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .expect("createTarget");
        let attached = self
            .shared
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .expect("attachToTarget");
        let page = Page {
            shared: self.shared.clone(),
            session: attached["sessionId"].as_str().unwrap().to_string(),
        };
        for domain in ["Page", "Runtime", "Log", "Network", "DOM", "Accessibility"] {
            page.call(&format!("{domain}.enable"), json!({}));
        }
        page.viewport(width, height);
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Page {
    shared: Arc<Shared>,
    session: String,
}

impl Page {
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.shared
            .call(Some(&self.session), method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    pub fn viewport(&self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": width < 600}),
        );
    }

    pub fn goto(&self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for("the document to load", Duration::from_secs(30), || {
            (self.eval("document.readyState") == "complete").then_some(())
        });
    }

    /// The value of `expression` (promises awaited); panics on an exception.
    pub fn eval(&self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression} threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `f` until it gives a value; panics with `what` after `timeout`.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; page text: {}",
                self.eval("document.body.innerText")
            );
            std::thread::sleep(POLL);
        }
    }

    /// The DOM nodes (backend ids) of the accessibility tree with this role and name.
    pub fn find_all(&self, role: &str, name: &str) -> Vec<i64> {
        let doc = self.call("DOM.getDocument", json!({"depth": 0}));
        let found = self.shared.call(
            Some(&self.session),
            "Accessibility.queryAXTree",
            json!({"nodeId": doc["root"]["nodeId"], "accessibleName": name, "role": role}),
        );
        let Ok(found) = found else {
            return Vec::new();
        };
        found["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["ignored"] != true)
            .filter_map(|n| n["backendDOMNodeId"].as_i64())
            .collect()
    }

    /// Waits for exactly one element with `role` and accessible `name`.
    pub fn get(&self, role: &str, name: &str) -> i64 {
        self.wait_for(
            &format!("one {role} named {name:?}"),
            Duration::from_secs(20),
            || match self.find_all(role, name).as_slice() {
                [one] => Some(*one),
                _ => None,
            },
        )
    }

    /// Calls `function` (a JavaScript function source) with `this` the element.
    pub fn on(&self, node: i64, function: &str) -> Value {
        let object = self.call("DOM.resolveNode", json!({"backendNodeId": node}));
        let r = self.call(
            "Runtime.callFunctionOn",
            json!({"objectId": object["object"]["objectId"], "functionDeclaration": function,
                   "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{function} threw: {e}");
        }
        r["result"]["value"].clone()
    }

    pub fn click(&self, role: &str, name: &str) {
        let node = self.get(role, name);
        let enabled = self.on(node, "function() { return !this.disabled; }");
        assert_eq!(enabled, true, "{role} {name:?} is disabled");
        self.on(
            node,
            "function() { this.scrollIntoView({block: 'center'}); this.focus(); this.click(); }",
        );
    }

    /// Focuses the field named `name`, clears it and types `text` (as keyboard input).
    pub fn fill(&self, name: &str, text: &str) {
        let node = self.get("textbox", name);
        self.on(node, "function() { this.focus(); this.select(); }");
        self.call("Input.insertText", json!({"text": text}));
        let value = self.on(node, "function() { return this.value; }");
        assert_eq!(value, text, "typing into {name:?}");
    }

    /// Presses a key (`Enter`, `Tab`, ` `) on whatever has the focus, as a keyboard does.
    pub fn press(&self, key: &str) {
        let (code, vk, text) = match key {
            "Enter" => ("Enter", 13, "\r"),
            "Tab" => ("Tab", 9, ""),
            " " => ("Space", 32, " "),
            other => panic!("no key {other}"),
        };
        let mut down = json!({"type": "keyDown", "key": key, "code": code,
            "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk});
        if !text.is_empty() {
            down["text"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down);
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": code,
                   "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}),
        );
    }

    /// The accessible name-ish label of the focused element: its text, or its label's.
    pub fn focused(&self) -> Value {
        self.eval(
            "(() => { const e = document.activeElement; \
              return e.labels && e.labels.length ? e.labels[0].textContent : e.textContent; })()",
        )
    }

    pub fn checked(&self, name: &str) -> bool {
        let node = self.get("checkbox", name);
        self.on(node, "function() { return this.checked; }") == true
    }

    pub fn set_checked(&self, name: &str, on: bool) {
        if self.checked(name) != on {
            self.click("checkbox", name);
        }
        assert_eq!(self.checked(name), on, "checkbox {name:?}");
    }

    /// Chooses the option whose text is `option` in the select (combobox) named `name`,
    /// as a user does: the value changes and `input` and `change` fire.
    pub fn select(&self, name: &str, option: &str) {
        let node = self.get("combobox", name);
        let chosen = self.on(
            node,
            &format!(
                "function() {{ const o = [...this.options].find(o => o.textContent === {option}); \
                   if (!o) return false; this.focus(); this.value = o.value; \
                   this.dispatchEvent(new Event('input', {{bubbles: true}})); \
                   this.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }}",
                option = json!(option)
            ),
        );
        assert_eq!(chosen, true, "no option {option:?} in {name:?}");
    }

    /// Sets the value of the control that the label with text `label` labels (a colour
    /// or number field, which take no typed text), firing `input` and `change`.
    pub fn set_by_label(&self, label: &str, value: &str) {
        let done = self.eval(&format!(
            "(() => {{ const l = [...document.querySelectorAll('label')].find(l => l.textContent === {label}); \
               const c = l && l.control; if (!c) return false; c.focus(); c.value = {value}; \
               c.dispatchEvent(new Event('input', {{bubbles: true}})); \
               c.dispatchEvent(new Event('change', {{bubbles: true}})); return c.value === {value}; }})()",
            label = json!(label),
            value = json!(value)
        ));
        assert_eq!(done, true, "setting {label:?} to {value:?}");
    }

    /// Chooses `file` in the file input that the label starting with `label` labels, as
    /// the file picker does (`DOM.setFileInputFiles`, which fires `input` and `change`).
    pub fn choose_file(&self, label: &str, file: &Path) {
        let object = self.call(
            "Runtime.evaluate",
            json!({"expression": format!(
                "[...document.querySelectorAll('label')].find(l => l.textContent.startsWith({})).control",
                json!(label))}),
        );
        let object_id = object["result"]["objectId"]
            .as_str()
            .unwrap_or_else(|| panic!("no file input labelled {label:?}: {object}"));
        // requestNode needs the document pushed to the client first.
        self.call("DOM.getDocument", json!({"depth": 0}));
        let node = self.call("DOM.requestNode", json!({"objectId": object_id}));
        self.call(
            "DOM.setFileInputFiles",
            json!({"files": [file.display().to_string()], "nodeId": node["nodeId"]}),
        );
        let name = self.call(
            "Runtime.callFunctionOn",
            json!({"objectId": object_id, "returnByValue": true,
                   "functionDeclaration": "function() { return this.files[0]?.name; }"}),
        );
        assert_eq!(
            name["result"]["value"],
            json!(file.file_name().unwrap().to_str().unwrap())
        );
    }

    /// A PNG of the whole page (beyond the viewport) at the current width.
    pub fn screenshot(&self, path: &Path) -> usize {
        use base64::Engine;
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let width = metrics["cssLayoutViewport"]["clientWidth"]
            .as_f64()
            .unwrap();
        let height = size["height"].as_f64().unwrap().min(4000.0);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, &png).unwrap();
        png.len()
    }

    fn events(&self) -> Vec<Value> {
        self.shared
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["sessionId"] == self.session.as_str())
            .cloned()
            .collect()
    }

    /// Console errors, uncaught exceptions and browser-logged errors (a CSP violation, a
    /// failed load), each as a line of text. With `network_errors: false`, a failed
    /// request's own log line (an API answering 401 to a wrong key) is left out.
    pub fn errors(&self, network_errors: bool) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e["method"].as_str()? {
                "Runtime.consoleAPICalled"
                    if matches!(e["params"]["type"].as_str(), Some("error" | "assert")) =>
                {
                    Some(format!("console: {}", e["params"]["args"]))
                }
                "Runtime.exceptionThrown" => {
                    Some(format!("exception: {}", e["params"]["exceptionDetails"]))
                }
                "Log.entryAdded" if e["params"]["entry"]["level"] == "error" => {
                    if !network_errors && e["params"]["entry"]["source"] == "network" {
                        return None;
                    }
                    Some(format!("log: {}", e["params"]["entry"]))
                }
                _ => None,
            })
            .collect()
    }

    /// JavaScript dialogs the page opened (alert, confirm, prompt).
    pub fn dialogs(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e["method"] == "Page.javascriptDialogOpening")
            .map(|e| e["params"]["message"].to_string())
            .collect()
    }

    /// The URL of every request the page made.
    pub fn requests(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(String::from))
            .collect()
    }
}
