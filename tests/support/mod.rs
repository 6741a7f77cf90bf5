//! Shared harness of the HTTP tests: a real `ragd serve` on a temporary data dir, with an API key, and
//! a blocking HTTP client that answers `(status, json)` whatever the status.
//!
//! A [`TestServer`] is started with [`TestServer::start`] (or [`TestServer::builder`] to pass `RAGD__`
//! settings), waits for the `ragd listening on http://…` line, and is killed when dropped; when the test
//! is failing, the end of the server's log is printed then. [`TestServer::stop`] sends SIGTERM instead
//! and keeps the data dir, so a new server can be started on it ([`Stopped::restart`]).
//!
//! Every server loads the embedding model (a second or two): tests group many checks per server.

#![allow(dead_code)]

pub mod browser;
pub mod redis;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

/// How long a server may take to print its listening line (it loads the model first).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Default wait for a batch to finish indexing.
pub const INDEXING_TIMEOUT: Duration = Duration::from_secs(180);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the repository's fixtures (`fixtures/docs/guide.txt` is `fixture("docs/guide.txt")`).
pub fn fixture(path: &str) -> Vec<u8> {
    let full = repo().join("fixtures").join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

pub fn fixture_text(path: &str) -> String {
    String::from_utf8(fixture(path)).expect("the fixture is UTF-8")
}

/// `ragd` run from the repository root.
pub fn ragd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ragd"));
    command.current_dir(repo());
    command
}

/// `ragd keys create --json` on a data dir: `{"id", "name", "prefix", "datasets", "key"}`.
pub fn create_key(data_dir: &Path, name: &str, datasets: &[&str]) -> Value {
    let mut command = ragd();
    command
        .args(["keys", "create", "--json", "--name", name, "--data-dir"])
        .arg(data_dir);
    for dataset in datasets {
        command.args(["--dataset", dataset]);
    }
    let output = command.output().expect("ragd keys create runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ragd keys create failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let key: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("ragd keys create --json printed no JSON ({e}): {stdout}"));
    assert!(
        key["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("dataset-")),
        "{key}"
    );
    key
}

/// `ragd keys revoke ID_OR_PREFIX` on a data dir.
pub fn revoke_key(data_dir: &Path, id_or_prefix: &str) {
    let output = ragd()
        .args(["keys", "revoke", id_or_prefix, "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("ragd keys revoke runs");
    assert!(
        output.status.success(),
        "ragd keys revoke failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A blocking HTTP client that never turns a status into an error.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: Bearer <the server's key>`.
    Key,
    /// No `Authorization` header.
    None,
    /// This exact `Authorization` header value.
    Header(String),
}

/// One request, for the cases the short helpers do not cover (headers, raw bodies, other auth).
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub auth: Auth,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Req {
    pub fn new(method: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            auth: Auth::Key,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.auth(Auth::Header(format!("Bearer {token}")))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A raw body, sent as `application/json` unless a content type is given.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.body(serde_json::to_vec(body).unwrap())
    }
}

/// An answer: status, headers (names lowercase), raw body and the body as JSON (`Null` when empty,
/// a JSON string holding the raw text when it is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `req` to `base` with `key` as the default bearer token.
pub fn send(agent: &ureq::Agent, base: &str, key: &str, req: &Req) -> Reply {
    let url = format!("{base}{}", req.path);
    let mut builder = ureq::http::Request::builder().method(req.method).uri(&url);
    match &req.auth {
        Auth::Key => builder = builder.header("Authorization", format!("Bearer {key}")),
        Auth::None => {}
        Auth::Header(value) => builder = builder.header("Authorization", value.as_str()),
    }
    let has_content_type = req
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if req.body.is_some() && !has_content_type {
        builder = builder.header("Content-Type", "application/json");
    }
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let result = match &req.body {
        Some(body) => agent.run(builder.body(body.clone()).unwrap()),
        None => agent.run(builder.body(()).unwrap()),
    };
    let mut response =
        result.unwrap_or_else(|e| panic!("{} {url}: no HTTP answer: {e}", req.method));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_else(|e| panic!("{} {url}: reading the body: {e}", req.method));
    let json = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
    };
    Reply {
        status,
        headers,
        text,
        json,
    }
}

/// A multipart/form-data body built by hand.
#[derive(Debug, Clone, Default)]
pub struct Multipart {
    parts: Vec<u8>,
}

pub const BOUNDARY: &str = "ragd-test-boundary-7f3a9c2e51";

impl Multipart {
    pub fn new() -> Self {
        Self::default()
    }

    /// A part with the given disposition parameters (`filename` is written only when given).
    pub fn part(
        mut self,
        name: &str,
        filename: Option<&str>,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Self {
        self.parts
            .extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(filename) = filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        self.parts.extend_from_slice(disposition.as_bytes());
        self.parts.extend_from_slice(b"\r\n");
        if let Some(content_type) = content_type {
            self.parts
                .extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        self.parts.extend_from_slice(b"\r\n");
        self.parts.extend_from_slice(bytes);
        self.parts.extend_from_slice(b"\r\n");
        self
    }

    /// The `file` part.
    pub fn file(self, filename: &str, bytes: &[u8]) -> Self {
        self.part(
            "file",
            Some(filename),
            Some("application/octet-stream"),
            bytes,
        )
    }

    /// The `data` part as the Python SDK sends it: a form field with `Content-Type: application/json`.
    pub fn data(self, data: &Value) -> Self {
        self.part(
            "data",
            None,
            Some("application/json"),
            data.to_string().as_bytes(),
        )
    }

    pub fn content_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.parts
            .extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        self.parts
    }
}

/// Options of a server to start.
#[derive(Debug, Default)]
pub struct Builder {
    env: Vec<(String, String)>,
    root: Option<TempDir>,
    key: Option<String>,
}

impl Builder {
    /// Starts on a copy of another (stopped) server's data dir, with its key: a second replica that
    /// holds the same datasets.
    pub fn copy_of(mut self, data_dir: &Path, key: &str) -> Self {
        let root = tempfile::tempdir().expect("a temporary dir");
        copy_dir(data_dir, &root.path().join("data"));
        self.root = Some(root);
        self.key = Some(key.to_owned());
        self
    }

    /// A `RAGD__…` setting (or any environment variable) for the server process.
    pub fn env(mut self, name: &str, value: impl ToString) -> Self {
        self.env.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn start(self) -> TestServer {
        let root = match self.root {
            Some(root) => root,
            None => tempfile::tempdir().expect("a temporary dir"),
        };
        let data_dir = root.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let key = match self.key {
            Some(key) => key,
            None => create_key(&data_dir, "test", &[])["key"]
                .as_str()
                .unwrap()
                .to_owned(),
        };
        let log_path = root.path().join("server.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("the server log opens");
        let mut command = ragd();
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("ragd serve starts");
        let stdout = child.stdout.take().unwrap();
        let (lines, line) = mpsc::channel();
        // Reads the listening line, then keeps draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buffer = String::new();
            while reader.read_line(&mut buffer).is_ok_and(|n| n > 0) {
                let _ = lines.send(std::mem::take(&mut buffer));
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match line.recv_timeout(left) {
                Ok(text) => {
                    if let Some(rest) = text.trim().strip_prefix("ragd listening on ") {
                        let url = rest.split_whitespace().next().unwrap().to_owned();
                        break url;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "ragd serve did not print its listening line within {START_TIMEOUT:?}; log:\n{}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                }
            }
        };
        TestServer {
            base,
            key,
            data_dir,
            log_path,
            child: Some(child),
            agent: agent(),
            root: Some(root),
            env: self.env,
        }
    }
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A running `ragd serve`.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// An API key for every dataset.
    pub key: String,
    pub data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    agent: ureq::Agent,
    root: Option<TempDir>,
    env: Vec<(String, String)>,
}

/// A server stopped by [`TestServer::stop`]: its data dir and key, to start again.
pub struct Stopped {
    pub status: ExitStatus,
    pub key: String,
    pub data_dir: PathBuf,
    root: TempDir,
    env: Vec<(String, String)>,
}

impl Stopped {
    /// A new server on the same data dir, with the same key and settings, plus `env`.
    pub fn restart(self, env: &[(&str, &str)]) -> TestServer {
        let mut builder = Builder {
            env: self.env,
            root: Some(self.root),
            key: Some(self.key),
        };
        for (name, value) in env {
            builder = builder.env(name, value);
        }
        builder.start()
    }
}

impl TestServer {
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub fn start() -> Self {
        Self::builder().start()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The server's log so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops the server with SIGTERM and waits for it to exit (at most `timeout`).
    pub fn stop(mut self, timeout: Duration) -> Stopped {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ragd serve did not exit within {timeout:?} of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Stopped {
            status,
            key: self.key.clone(),
            data_dir: self.data_dir.clone(),
            root: self.root.take().unwrap(),
            env: std::mem::take(&mut self.env),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn send(&self, req: &Req) -> Reply {
        send(&self.agent, &self.base, &self.key, req)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self.send(&Req::new("GET", path));
        (r.status, r.json)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.send(&Req::new("POST", path).json(body));
        (r.status, r.json)
    }

    pub fn patch_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.send(&Req::new("PATCH", path).json(body));
        (r.status, r.json)
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        let r = self.send(&Req::new("DELETE", path));
        (r.status, r.json)
    }

    /// Posts a multipart body built with [`Multipart`].
    pub fn post_multipart(&self, path: &str, body: Multipart) -> (u16, Value) {
        let r = self.send(
            &Req::new("POST", path)
                .header("Content-Type", &Multipart::content_type())
                .body(body.finish()),
        );
        (r.status, r.json)
    }

    /// `create-by-file` of one file, with the `data` part when given.
    pub fn upload_file(
        &self,
        dataset: &str,
        filename: &str,
        bytes: &[u8],
        data: Option<&Value>,
    ) -> (u16, Value) {
        let mut body = Multipart::new().file(filename, bytes);
        if let Some(data) = data {
            body = body.data(data);
        }
        self.post_multipart(
            &format!("/v1/datasets/{dataset}/document/create-by-file"),
            body,
        )
    }

    /// Creates a dataset (with `indexing_technique: high_quality`); returns its id.
    pub fn create_dataset(&self, name: &str) -> String {
        let (status, body) = self.post_json(
            "/v1/datasets",
            &json!({"name": name, "indexing_technique": "high_quality"}),
        );
        assert_eq!(status, 200, "creating dataset {name}: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// `create-by-text` with the automatic rule; returns the document id and the batch.
    pub fn create_text_document(&self, dataset: &str, name: &str, text: &str) -> (String, String) {
        let (status, body) = self.post_json(
            &format!("/v1/datasets/{dataset}/document/create-by-text"),
            &json!({
                "name": name,
                "text": text,
                "indexing_technique": "high_quality",
                "process_rule": {"mode": "automatic"},
            }),
        );
        assert_eq!(status, 200, "creating document {name}: {body}");
        (
            body["document"]["id"].as_str().unwrap().to_owned(),
            body["batch"].as_str().unwrap().to_owned(),
        )
    }

    /// Polls the batch's indexing status until every document is `completed` or `error`; returns
    /// the batch's statuses.
    pub fn wait_for_indexing_within(
        &self,
        dataset: &str,
        batch: &str,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let path = format!("/v1/datasets/{dataset}/documents/{batch}/indexing-status");
        loop {
            let (status, body) = self.get(&path);
            assert_eq!(status, 200, "GET {path}: {body}");
            let data = body["data"].as_array().cloned().unwrap_or_default();
            assert!(!data.is_empty(), "GET {path}: no documents: {body}");
            let done = data.iter().all(|d| {
                matches!(
                    d["indexing_status"].as_str(),
                    Some("completed") | Some("error")
                )
            });
            if done {
                return data;
            }
            assert!(
                Instant::now() < deadline,
                "batch {batch} not indexed within {timeout:?}: {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for_indexing(&self, dataset: &str, batch: &str) -> Vec<Value> {
        self.wait_for_indexing_within(dataset, batch, INDEXING_TIMEOUT)
    }

    /// Waits for the batch and asserts it completed with all its segments.
    pub fn wait_completed(&self, dataset: &str, batch: &str) -> Value {
        let data = self.wait_for_indexing(dataset, batch);
        for d in &data {
            assert_eq!(d["indexing_status"], "completed", "batch {batch}: {d}");
            let total = d["total_segments"].as_u64().unwrap_or(0);
            assert!(total > 0, "batch {batch}: no segments: {d}");
            assert_eq!(d["completed_segments"].as_u64(), Some(total), "{d}");
        }
        data.into_iter().next().unwrap()
    }

    /// `POST /v1/datasets/{dataset}/retrieve`; asserts 200 and returns the records.
    pub fn retrieve(&self, dataset: &str, query: &str, retrieval_model: Value) -> Vec<Value> {
        let mut body = json!({"query": query});
        if !retrieval_model.is_null() {
            body["retrieval_model"] = retrieval_model;
        }
        let (status, reply) = self.post_json(&format!("/v1/datasets/{dataset}/retrieve"), &body);
        assert_eq!(status, 200, "retrieve {query:?}: {reply}");
        reply["records"].as_array().cloned().unwrap_or_default()
    }

    /// Full-text retrieval (top 10) of `query`: the records.
    pub fn full_text(&self, dataset: &str, query: &str) -> Vec<Value> {
        self.retrieve(
            dataset,
            query,
            json!({"search_method": "full_text_search", "reranking_enable": false, "top_k": 10,
                   "score_threshold_enabled": false}),
        )
    }
}

/// `retrieval_model` for a search method, top `top_k`, no threshold.
pub fn model(method: &str, top_k: u32) -> Value {
    json!({
        "search_method": method,
        "reranking_enable": false,
        "top_k": top_k,
        "score_threshold_enabled": false,
    })
}

/// The document ids of retrieval records.
pub fn record_documents(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            r["segment"]["document"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The segment ids of retrieval records.
pub fn record_segments(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["segment"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Asserts a Dify error body: status, code and (when given) the exact message.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, code: &str, message: Option<&str>) {
    let (got_status, body) = got;
    assert_eq!(
        (*got_status, body["code"].as_str()),
        (status, Some(code)),
        "expected {status} {code}, got {got_status}: {body}"
    );
    assert_eq!(body["status"].as_u64(), Some(u64::from(status)), "{body}");
    assert!(body["message"].is_string(), "no message: {body}");
    if let Some(message) = message {
        assert_eq!(body["message"], message, "{body}");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!(
                "--- last lines of the server log ({}) ---\n{tail}",
                self.base
            );
        }
    }
}

/// The dataset id that `fixtures/flows/*.yml` use, replaced by a real one before an app is created.
pub const PLACEHOLDER_DATASET: &str = "00000000-0000-0000-0000-00000000da7a";

/// Runs `scripts/sdk_venv.sh` and returns the venv's python.
pub fn sdk_python() -> PathBuf {
    let output = Command::new("bash")
        .arg(repo().join("scripts/sdk_venv.sh"))
        .current_dir(repo())
        .output()
        .expect("bash runs scripts/sdk_venv.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/sdk_venv.sh failed ({}):\n{stdout}{stderr}",
        output.status
    );
    let python = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("scripts/sdk_venv.sh printed no python path:\n{stderr}"));
    let python = repo().join(python.trim());
    assert!(
        python.exists(),
        "{} does not exist:\n{stderr}",
        python.display()
    );
    python
}

/// `fixtures/flows/NAME` with the placeholder dataset id replaced by `dataset`, written into `dir`.
pub fn flow_with_dataset(name: &str, dataset: &str, dir: &Path) -> PathBuf {
    std::fs::write(dir.join(name), flow_text(name, dataset)).unwrap();
    dir.join(name)
}

/// `fixtures/flows/NAME` with the placeholder dataset id replaced by `dataset`.
pub fn flow_text(name: &str, dataset: &str) -> String {
    let source = repo().join("fixtures/flows").join(name);
    let text = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("reading {}: {e}", source.display()));
    assert!(
        text.contains(PLACEHOLDER_DATASET),
        "{} does not name the placeholder dataset {PLACEHOLDER_DATASET}",
        source.display()
    );
    text.replace(PLACEHOLDER_DATASET, dataset)
}
