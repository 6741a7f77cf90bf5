//! `ragd import --server URL PATH... --dataset NAME`: the same import, through a server's Knowledge API
//! (Dify's `/v1/datasets…`) instead of the local data dir. Files are uploaded whole (`create-by-file`,
//! a small pool of concurrent uploads) with the process rule of the chunking flags; the server parses,
//! chunks and indexes them, and the command polls each batch's `indexing-status` until every document is
//! `completed` or `error`. Idempotent through ragd's `skip_if_exists` (the server answers an upload of
//! content it already has with the existing document); per-file errors (the server's `code` and
//! `message`) go to the summary table and a non-zero exit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use comfy_table::{Cell, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ragd_core::{ProcessMode, ProcessRule};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::import::ImportArgs;
use super::ui::{collect_files, file_name, glob_set, print_file_errors, progress, right};

/// Uploads (and status polls) in flight at once.
const CONCURRENCY: usize = 4;
/// Pause between two rounds of indexing-status polls.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Give up on documents whose indexing shows no progress at all for this long.
const STALL_LIMIT: Duration = Duration::from_secs(30 * 60);
/// Retries of a request the server shed (429) or could not serve (503).
const RETRIES: u32 = 5;

/// One file's outcome (as the local import reports it).
#[derive(Debug, Clone, Default, Serialize)]
struct FileOutcome {
    path: PathBuf,
    documents: usize,
    imported: usize,
    unchanged: usize,
    failed: usize,
    error: Option<String>,
    /// The server's document id, once uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    document_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Summary {
    server: String,
    dataset: String,
    dataset_id: String,
    created: bool,
    files: usize,
    skipped: BTreeMap<String, usize>,
    documents: usize,
    imported: usize,
    unchanged: usize,
    failed: usize,
    segments: usize,
    seconds: f64,
    upload_seconds: f64,
    index_seconds: f64,
    errors: Vec<FileOutcome>,
}

/// What went wrong with one request.
#[derive(Debug)]
enum HttpError {
    /// No HTTP answer: connection refused, name not resolved, timeout, TLS, broken connection.
    Transport(String),
    /// An answer with an error status, and Dify's `{code, message}` when the body has them.
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// A success status whose body is not the JSON expected.
    Invalid(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Transport(e) | HttpError::Invalid(e) => f.write_str(e),
            HttpError::Api {
                status,
                code,
                message,
            } if code.is_empty() => write!(f, "HTTP {status}: {message}"),
            HttpError::Api {
                status,
                code,
                message,
            } => write!(f, "HTTP {status} {code}: {message}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl HttpError {
    fn status(&self) -> Option<u16> {
        match self {
            HttpError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn is_retryable(&self) -> bool {
        matches!(self.status(), Some(429 | 503))
    }
}

/// A blocking client of one server's Knowledge API.
struct Client {
    agent: ureq::Agent,
    /// `http(s)://host[:port][/prefix]/v1`, without a trailing `/`.
    base: String,
    key: Option<String>,
}

/// The API base of a server URL given with or without a trailing `/` and with or without `/v1`.
fn api_base(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let lower = trimmed.to_ascii_lowercase();
    anyhow::ensure!(
        (lower.starts_with("http://") || lower.starts_with("https://"))
            && trimmed
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.is_empty()),
        "--server must be an http:// or https:// URL (e.g. http://127.0.0.1:8080), not {url:?}"
    );
    let root = trimmed
        .strip_suffix("/v1")
        .unwrap_or(trimmed)
        .trim_end_matches('/');
    Ok(format!("{root}/v1"))
}

impl Client {
    fn new(server: &str, key: Option<String>) -> anyhow::Result<Self> {
        let base = api_base(server)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(600)))
            .user_agent(format!("ragd/{}", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(CONCURRENCY * 2)
            .build()
            .into();
        Ok(Self {
            agent,
            base,
            key: key.filter(|k| !k.trim().is_empty()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorization(&self) -> Option<String> {
        self.key.as_ref().map(|k| format!("Bearer {}", k.trim()))
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, HttpError> {
        let mut request = self.agent.get(self.url(path));
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        if let Some(auth) = self.authorization() {
            request = request.header("Authorization", auth);
        }
        self.answer(request.call())
    }

    fn post_json(&self, path: &str, body: &Value) -> Result<Value, HttpError> {
        let mut request = self.agent.post(self.url(path));
        if let Some(auth) = self.authorization() {
            request = request.header("Authorization", auth);
        }
        self.answer(request.send_json(body))
    }

    /// A multipart upload: the `file` part (named `filename`) and the `data` part (JSON settings).
    fn post_file(
        &self,
        path: &str,
        filename: &str,
        bytes: &[u8],
        data: &Value,
    ) -> Result<Value, HttpError> {
        let (content_type, body) = multipart_body(filename, bytes, data);
        let mut request = self
            .agent
            .post(self.url(path))
            .header("Content-Type", content_type);
        if let Some(auth) = self.authorization() {
            request = request.header("Authorization", auth);
        }
        self.answer(request.send(&body[..]))
    }

    /// Retries `call` while the server sheds load (429) or is unavailable (503), backing off.
    fn with_retries(
        &self,
        call: impl Fn() -> Result<Value, HttpError>,
    ) -> Result<Value, HttpError> {
        let mut attempt = 0;
        loop {
            match call() {
                Err(e) if e.is_retryable() && attempt < RETRIES => {
                    std::thread::sleep(Duration::from_millis(250 << attempt));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn answer(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, HttpError> {
        let unreachable = |e: ureq::Error| {
            HttpError::Transport(format!("cannot reach the server at {}: {e}", self.base))
        };
        let mut response = result.map_err(unreachable)?;
        let status = response.status();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(unreachable)?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| {
                HttpError::Invalid(format!(
                    "the server at {} answered {status} with a body that is not JSON ({e}): {}",
                    self.base,
                    snippet(&text)
                ))
            });
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = body["code"].as_str().unwrap_or_default().to_owned();
        let message = body["message"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| (!text.trim().is_empty()).then(|| snippet(&text)))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
        Err(HttpError::Api {
            status: status.as_u16(),
            code,
            message,
        })
    }

    /// The error for a request the server refused as unauthenticated, or `e` itself.
    fn explain(&self, e: HttpError) -> anyhow::Error {
        match e {
            HttpError::Api {
                status: 401,
                message,
                ..
            } => {
                if self.key.is_some() {
                    anyhow::anyhow!(
                        "the server refused the API key ({message}); check --api-key or RAGD_API_KEY \
                         (keys are created with `ragd keys create` on the server)"
                    )
                } else {
                    anyhow::anyhow!(
                        "the server refused the request without an API key ({message}); pass --api-key \
                         or set RAGD_API_KEY"
                    )
                }
            }
            e => anyhow::Error::new(e),
        }
    }
}

fn snippet(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// A `multipart/form-data` body (its content type and bytes) with the file part and the `data` part.
fn multipart_body(filename: &str, bytes: &[u8], data: &Value) -> (String, Vec<u8>) {
    let data = data.to_string();
    let mut counter = 0u64;
    let boundary = loop {
        let mut h = Sha256::new();
        h.update(filename.as_bytes());
        h.update(counter.to_le_bytes());
        h.update(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_le_bytes(),
        );
        let candidate = format!("ragd-{}", &hex::encode(h.finalize())[..32]);
        let clash = |haystack: &[u8]| {
            haystack
                .windows(candidate.len())
                .any(|w| w == candidate.as_bytes())
        };
        if !clash(bytes) && !clash(data.as_bytes()) {
            break candidate;
        }
        counter += 1;
    };
    // Quotes and line breaks cannot appear in a quoted header parameter; browsers percent-encode them.
    let quoted = filename
        .replace('\\', "\\\\")
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    let mut body = Vec::with_capacity(bytes.len() + data.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quoted}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"data\"\r\n\
             Content-Type: application/json\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Runs `f` on every item with `threads` worker threads; the results are in the items' order.
fn pool_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = f(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item was processed"))
        .collect()
}

/// A dataset on the server: its id and name, and whether this run created it.
struct RemoteDataset {
    id: String,
    name: String,
    created: bool,
}

/// Finds the dataset by exact name (or by id), creating it with `--create`.
fn open_dataset(
    client: &Client,
    args: &ImportArgs,
    rule: &ProcessRule,
) -> anyhow::Result<RemoteDataset> {
    let wanted = args.dataset.trim();
    let mut page = 1u32;
    loop {
        let page_text = page.to_string();
        let body = client
            .get(
                "/datasets",
                &[("keyword", wanted), ("limit", "100"), ("page", &page_text)],
            )
            .map_err(|e| client.explain(e))
            .with_context(|| format!("looking for dataset {wanted:?}"))?;
        let data = body["data"].as_array().cloned().unwrap_or_default();
        if let Some(d) = data.iter().find(|d| d["name"].as_str() == Some(wanted)) {
            return Ok(RemoteDataset {
                id: string(&d["id"]),
                name: string(&d["name"]),
                created: false,
            });
        }
        if body["has_more"].as_bool() != Some(true) || data.is_empty() || page >= 1000 {
            break;
        }
        page += 1;
    }
    // Not a name: perhaps an id (ids are UUIDs; anything else answers 404).
    let looks_like_id =
        wanted.len() == 36 && wanted.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if looks_like_id {
        match client.get(&format!("/datasets/{wanted}"), &[]) {
            Ok(d) => {
                return Ok(RemoteDataset {
                    id: string(&d["id"]),
                    name: string(&d["name"]),
                    created: false,
                });
            }
            Err(HttpError::Api {
                status: 404 | 403, ..
            }) => {}
            Err(e) => return Err(client.explain(e)),
        }
    }
    anyhow::ensure!(
        args.create,
        "dataset {wanted:?} not found on {}; pass --create to create it",
        client.base
    );
    let mut body = json!({
        "name": wanted,
        "indexing_technique": "high_quality",
        "lexical_analyzer": args.analyzer,
    });
    if rule.mode == ProcessMode::Hierarchical {
        body["doc_form"] = json!("hierarchical_model");
    }
    let d = client
        .post_json("/datasets", &body)
        .map_err(|e| client.explain(e))
        .with_context(|| format!("creating dataset {wanted:?} on {}", client.base))?;
    Ok(RemoteDataset {
        id: string(&d["id"]),
        name: string(&d["name"]),
        created: true,
    })
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// An uploaded document still being indexed.
#[derive(Debug, Clone)]
struct Pending {
    file: usize,
    document_id: String,
    batch: String,
}

/// The last indexing status seen of a document.
#[derive(Debug, Clone, Default)]
struct Status {
    state: String,
    completed_segments: usize,
    total_segments: usize,
    error: Option<String>,
}

impl Status {
    fn of(v: &Value) -> Self {
        let count = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
        Status {
            state: v["indexing_status"]
                .as_str()
                .unwrap_or("waiting")
                .to_owned(),
            completed_segments: count("completed_segments"),
            total_segments: count("total_segments"),
            error: v["error"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(str::to_owned),
        }
    }

    fn is_final(&self) -> bool {
        matches!(self.state.as_str(), "completed" | "error" | "paused")
    }
}

/// What an upload came to.
enum Uploaded {
    /// The server already had this content, indexed.
    Unchanged(String),
    /// Queued on the server (new, or already there but not finished).
    Queued(Pending),
    Failed(String),
}

pub fn run(args: &ImportArgs, server: &str) -> anyhow::Result<ExitCode> {
    let rule = args.chunking.process_rule()?;
    let client = Client::new(server, args.api_key.clone())?;
    let include = glob_set(&args.include)?;
    let exclude = glob_set(&args.exclude)?;
    let found = collect_files(&args.paths, include.as_ref(), exclude.as_ref());
    anyhow::ensure!(
        !found.files.is_empty(),
        "no files to import under {:?}{}",
        args.paths,
        if found.skipped.is_empty() {
            String::new()
        } else {
            format!(" (skipped: {:?})", found.skipped)
        }
    );

    let dataset = open_dataset(&client, args, &rule)?;
    let started = Instant::now();
    let mut data = json!({
        "indexing_technique": "high_quality",
        "process_rule": serde_json::to_value(&rule)?,
        "skip_if_exists": true,
    });
    if rule.mode == ProcessMode::Hierarchical {
        data["doc_form"] = json!("hierarchical_model");
    }

    // Upload every file (a small pool of concurrent uploads).
    let bar = progress(found.files.len() as u64, "uploading", "files");
    if args.json {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let seen: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    let create_path = format!("/datasets/{}/document/create-by-file", dataset.id);
    let indexed: Vec<usize> = (0..found.files.len()).collect();
    let uploads: Vec<Uploaded> = pool_map(&indexed, CONCURRENCY, |&file| {
        let result = upload(
            &client,
            &dataset,
            &create_path,
            &found.files[file],
            file,
            &data,
            &seen,
        );
        bar.inc(1);
        result
    });
    bar.finish_and_clear();
    let upload_seconds = started.elapsed().as_secs_f64();
    // A refused key fails every upload the same way: say it once, clearly.
    if let Some(Uploaded::Failed(message)) = uploads.first()
        && message.starts_with("the server refused")
        && uploads.iter().all(|u| matches!(u, Uploaded::Failed(_)))
    {
        anyhow::bail!("{message}");
    }

    let mut outcomes: Vec<FileOutcome> = found
        .files
        .iter()
        .map(|path| FileOutcome {
            path: path.clone(),
            ..FileOutcome::default()
        })
        .collect();
    let mut pending = Vec::new();
    for (file, uploaded) in uploads.into_iter().enumerate() {
        let outcome = &mut outcomes[file];
        match uploaded {
            Uploaded::Unchanged(id) => {
                outcome.documents = 1;
                outcome.unchanged = 1;
                outcome.document_id = (!id.is_empty()).then_some(id);
            }
            Uploaded::Queued(p) => {
                outcome.documents = 1;
                outcome.document_id = Some(p.document_id.clone());
                pending.push(p);
            }
            Uploaded::Failed(error) => {
                outcome.failed = 1;
                outcome.error = Some(error);
            }
        }
    }

    // Poll the batches until every uploaded document is completed or failed.
    let index_started = Instant::now();
    let statuses = wait_for_indexing(&client, &dataset, &pending, args.json);
    let mut segments = 0;
    for p in &pending {
        let outcome = &mut outcomes[p.file];
        match statuses.get(&p.document_id) {
            Some(s) if s.state == "completed" => {
                outcome.imported = 1;
                segments += s.completed_segments.max(s.total_segments);
            }
            Some(s) => {
                outcome.failed = 1;
                outcome.error = Some(match (&s.error, s.state.as_str()) {
                    (Some(e), _) => format!("indexing failed on the server: {e}"),
                    (None, "error") => "indexing failed on the server".to_owned(),
                    (None, state) => format!("indexing stopped on the server ({state})"),
                });
            }
            None => {
                outcome.failed = 1;
                outcome.error = Some("no indexing status from the server".to_owned());
            }
        }
    }

    let seconds = started.elapsed().as_secs_f64();
    let summary = Summary {
        server: client.base.clone(),
        dataset: dataset.name.clone(),
        dataset_id: dataset.id.clone(),
        created: dataset.created,
        files: outcomes.len(),
        skipped: found.skipped,
        documents: outcomes.iter().map(|o| o.documents).sum(),
        imported: outcomes.iter().map(|o| o.imported).sum(),
        unchanged: outcomes.iter().map(|o| o.unchanged).sum(),
        failed: outcomes.iter().map(|o| o.failed).sum(),
        segments,
        seconds,
        upload_seconds,
        index_seconds: index_started.elapsed().as_secs_f64(),
        errors: outcomes.into_iter().filter(|o| o.failed > 0).collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(if summary.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Uploads one file; an identical file earlier in this run is counted as unchanged, and a document the
/// server already has in `error` is sent again (`update-by-file`), which queues it anew.
fn upload(
    client: &Client,
    dataset: &RemoteDataset,
    create_path: &str,
    path: &Path,
    file: usize,
    data: &Value,
    seen: &Mutex<HashSet<String>>,
) -> Uploaded {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Uploaded::Failed(format!("reading {}: {e}", path.display())),
    };
    let name = file_name(path);
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(&bytes);
    let hash = hex::encode(h.finalize());
    if !seen.lock().unwrap_or_else(|e| e.into_inner()).insert(hash) {
        return Uploaded::Unchanged(String::new());
    }
    let send = |path: &str| client.with_retries(|| client.post_file(path, &name, &bytes, data));
    let answer = match send(create_path) {
        Ok(a) => a,
        Err(e) => return Uploaded::Failed(refusal_or(client, e)),
    };
    let mut document = answer["document"].clone();
    let mut batch = string(&answer["batch"]);
    let status = Status::of(&document);
    if status.state == "completed" {
        return Uploaded::Unchanged(string(&document["id"]));
    }
    if status.state == "error" {
        let update = format!(
            "/datasets/{}/documents/{}/update-by-file",
            dataset.id,
            string(&document["id"])
        );
        match send(&update) {
            Ok(a) => {
                document = a["document"].clone();
                batch = string(&a["batch"]);
            }
            Err(e) => {
                return Uploaded::Failed(format!(
                    "{} (indexing it again failed: {})",
                    status
                        .error
                        .as_deref()
                        .unwrap_or("indexing failed on the server"),
                    refusal_or(client, e)
                ));
            }
        }
    }
    let document_id = string(&document["id"]);
    if document_id.is_empty() || batch.is_empty() {
        return Uploaded::Failed(format!(
            "the server's answer has no document id or batch: {}",
            snippet(&answer.to_string())
        ));
    }
    Uploaded::Queued(Pending {
        file,
        document_id,
        batch,
    })
}

/// A per-file error message (a refused key worded as such).
fn refusal_or(client: &Client, e: HttpError) -> String {
    if e.status() == Some(401) {
        client.explain(e).to_string()
    } else {
        e.to_string()
    }
}

/// Polls the indexing status of every batch of `pending` until all its documents are final, with a
/// progress bar of documents indexed and segments; returns the last status of each document.
fn wait_for_indexing(
    client: &Client,
    dataset: &RemoteDataset,
    pending: &[Pending],
    quiet: bool,
) -> HashMap<String, Status> {
    let mut statuses: HashMap<String, Status> = HashMap::new();
    if pending.is_empty() {
        return statuses;
    }
    let bar = ProgressBar::new(pending.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "  indexing [{bar:30}] {pos}/{len} documents · {msg} · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_message("waiting for the server");
    let mut by_batch: BTreeMap<&str, Vec<&Pending>> = BTreeMap::new();
    for p in pending {
        by_batch.entry(p.batch.as_str()).or_default().push(p);
    }
    let mut open: Vec<&str> = by_batch.keys().copied().collect();
    let mut failures: HashMap<&str, u32> = HashMap::new();
    let mut last_change = Instant::now();
    while !open.is_empty() {
        let answers = pool_map(&open, CONCURRENCY, |batch| {
            client.get(
                &format!("/datasets/{}/documents/{batch}/indexing-status", dataset.id),
                &[],
            )
        });
        let mut still_open = Vec::new();
        for (batch, answer) in open.iter().copied().zip(answers) {
            let ours = &by_batch[batch];
            match answer {
                Ok(body) => {
                    failures.remove(batch);
                    let rows = body["data"].as_array().cloned().unwrap_or_default();
                    for p in ours {
                        let Some(row) = rows
                            .iter()
                            .find(|r| r["id"].as_str() == Some(&p.document_id))
                        else {
                            let gone = Status {
                                state: "error".into(),
                                error: Some("the document was removed from the server".into()),
                                ..Status::default()
                            };
                            statuses.insert(p.document_id.clone(), gone);
                            continue;
                        };
                        let status = Status::of(row);
                        let before = statuses.get(&p.document_id);
                        if before.is_none_or(|b| {
                            b.state != status.state
                                || b.completed_segments != status.completed_segments
                        }) {
                            last_change = Instant::now();
                        }
                        statuses.insert(p.document_id.clone(), status);
                    }
                    if ours
                        .iter()
                        .any(|p| statuses.get(&p.document_id).is_none_or(|s| !s.is_final()))
                    {
                        still_open.push(batch);
                    }
                }
                Err(HttpError::Api { status: 404, .. }) => {
                    for p in ours {
                        statuses.insert(
                            p.document_id.clone(),
                            Status {
                                state: "error".into(),
                                error: Some("the document was removed from the server".into()),
                                ..Status::default()
                            },
                        );
                    }
                }
                Err(e) => {
                    // Transient (shed load, a restart): try again next round, a few times.
                    let count = failures.entry(batch).or_insert(0);
                    *count += 1;
                    if *count >= 20 {
                        let reason = refusal_or(client, e);
                        for p in ours {
                            let mut s = statuses.get(&p.document_id).cloned().unwrap_or_default();
                            s.state = "error".into();
                            s.error = Some(format!("polling the indexing status failed: {reason}"));
                            statuses.insert(p.document_id.clone(), s);
                        }
                    } else {
                        still_open.push(batch);
                    }
                }
            }
        }
        let done = pending
            .iter()
            .filter(|p| statuses.get(&p.document_id).is_some_and(Status::is_final))
            .count();
        let (completed, total) = statuses.values().fold((0, 0), |(c, t), s| {
            (c + s.completed_segments, t + s.total_segments)
        });
        bar.set_position(done as u64);
        bar.set_message(format!("{completed}/{total} segments"));
        open = still_open;
        if open.is_empty() {
            break;
        }
        if last_change.elapsed() > STALL_LIMIT {
            for batch in &open {
                for p in &by_batch[batch] {
                    let mut s = statuses.get(&p.document_id).cloned().unwrap_or_default();
                    if !s.is_final() {
                        let state = if s.state.is_empty() {
                            "waiting".to_owned()
                        } else {
                            s.state.clone()
                        };
                        s.error = Some(format!(
                            "still {state} on the server after {} min without progress; it may finish \
                             later (re-run the import to check)",
                            STALL_LIMIT.as_secs() / 60
                        ));
                        s.state = "error".into();
                        statuses.insert(p.document_id.clone(), s);
                    }
                }
            }
            break;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    bar.finish_and_clear();
    statuses
}

fn print_summary(s: &Summary) {
    print_file_errors(
        s.errors
            .iter()
            .map(|e| (e.path.as_path(), e.documents, e.failed, e.error.as_deref())),
    );
    let mut table = Table::new();
    table.set_header([
        "dataset",
        "files",
        "documents",
        "imported",
        "unchanged",
        "failed",
        "segments",
        "seconds",
    ]);
    table.add_row(vec![
        Cell::new(&s.dataset),
        right(s.files),
        right(s.documents),
        right(s.imported),
        right(s.unchanged),
        right(s.failed),
        right(s.segments),
        Cell::new(format!("{:.1}", s.seconds)),
    ]);
    println!("{table}");
    if !s.skipped.is_empty() {
        let skipped: Vec<String> = s.skipped.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("skipped in folders: {}", skipped.join(", "));
    }
    println!(
        "dataset {} ({}){} on {}",
        s.dataset,
        s.dataset_id,
        if s.created { ", created," } else { "" },
        s.server
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_normalize_to_the_v1_base() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/v1",
            "http://127.0.0.1:8080/v1/",
        ] {
            assert_eq!(api_base(url).unwrap(), "http://127.0.0.1:8080/v1", "{url}");
        }
        assert_eq!(
            api_base("https://example.com/dify/v1").unwrap(),
            "https://example.com/dify/v1"
        );
        assert!(api_base("127.0.0.1:8080").is_err());
        assert!(api_base("http://").is_err());
    }

    #[test]
    fn multipart_bodies_frame_both_parts() {
        let (content_type, body) =
            multipart_body("a \"b\".txt", b"hello", &json!({"skip_if_exists": true}));
        let boundary = content_type.split("boundary=").nth(1).unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("filename=\"a %22b%22.txt\""));
        assert!(text.contains("\r\n\r\nhello\r\n"));
        assert!(text.contains(
            "name=\"data\"\r\nContent-Type: application/json\r\n\r\n{\"skip_if_exists\":true}\r\n"
        ));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }

    #[test]
    fn pool_map_keeps_the_order() {
        let items: Vec<usize> = (0..50).collect();
        assert_eq!(
            pool_map(&items, 4, |i| i * 2),
            items.iter().map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(pool_map(&Vec::<usize>::new(), 4, |i| *i).is_empty());
    }
}
