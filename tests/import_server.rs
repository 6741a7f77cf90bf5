//! End-to-end test of `ragd import --server`: a real `ragd serve` (real model, temporary data dir), the
//! fixtures uploaded through the Knowledge API, idempotent re-import, retrieval over HTTP, and the
//! errors (a refused key, an unreachable server, an unsupported file).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ragd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ragd"));
    command.current_dir(repo()).env_remove("RAGD_API_KEY");
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("ragd runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "ragd panicked: {stderr}");
    (output, stdout, stderr)
}

fn json(stdout: &str, stderr: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"))
}

/// A `ragd serve` on a free port over `data`; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path) -> Self {
        let mut child = ragd()
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ragd serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("ragd listening on ") {
                        break rest.split_whitespace().next().unwrap().to_owned();
                    }
                }
                _ => {
                    let status = child.wait().ok();
                    panic!("ragd serve exited before listening: {status:?}");
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn create_key(data: &Path) -> String {
    let (output, stdout, stderr) = run(ragd()
        .args(["keys", "create", "--name", "t", "--json", "--data-dir"])
        .arg(data));
    assert!(output.status.success(), "keys create failed: {stderr}");
    json(&stdout, &stderr)["key"].as_str().unwrap().to_owned()
}

fn import(url: &str, key: &str, args: &[&str]) -> (bool, String, String) {
    let (output, stdout, stderr) = run(ragd()
        .args(["import", "--server", url, "--api-key", key])
        .args(args));
    (output.status.success(), stdout, stderr)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn get(url: &str, key: &str) -> Value {
    let mut response = agent()
        .get(url)
        .header("Authorization", format!("Bearer {key}"))
        .call()
        .unwrap();
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.body_mut().read_json().unwrap()
}

fn post(url: &str, key: &str, body: &Value) -> Value {
    let mut response = agent()
        .post(url)
        .header("Authorization", format!("Bearer {key}"))
        .send_json(body)
        .unwrap();
    assert!(
        response.status().is_success(),
        "POST {url}: {}",
        response.status()
    );
    response.body_mut().read_json().unwrap()
}

#[test]
fn import_through_the_server_is_idempotent_and_searchable() {
    let data = tempfile::tempdir().unwrap();
    let key = create_key(data.path());
    let server = Server::start(data.path());
    let files = std::fs::read_dir(repo().join("fixtures/docs"))
        .unwrap()
        .count();

    // The URL with a trailing `/v1/` works as well as without.
    let (ok, stdout, stderr) = import(
        &format!("{}/v1/", server.url),
        &key,
        &["fixtures/docs", "--dataset", "demo", "--create", "--json"],
    );
    let first = json(&stdout, &stderr);
    assert!(ok, "{first}\n{stderr}");
    assert_eq!(first["failed"], 0, "{first}");
    assert_eq!(first["created"], true, "{first}");
    assert_eq!(first["files"].as_u64().unwrap() as usize, files, "{first}");
    assert_eq!(
        first["imported"].as_u64().unwrap() as usize,
        files,
        "all completed: {first}"
    );
    assert!(
        first["segments"].as_u64().unwrap() as usize >= files,
        "{first}"
    );
    let dataset_id = first["dataset_id"].as_str().unwrap().to_owned();
    let base = format!("{}/v1/datasets/{dataset_id}", server.url);
    let listed = get(&format!("{base}/documents?limit=100"), &key);
    assert_eq!(
        listed["total"].as_u64().unwrap() as usize,
        files,
        "{listed}"
    );
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["indexing_status"] == "completed"),
        "{listed}"
    );

    // Again (the key from the environment this time): nothing new.
    let (output, stdout, stderr) = run(ragd()
        .env("RAGD_API_KEY", &key)
        .args(["import", "--server", &server.url])
        .args(["fixtures/docs", "--dataset", "demo", "--json"]));
    let second = json(&stdout, &stderr);
    assert!(output.status.success(), "{second}\n{stderr}");
    assert_eq!(second["created"], false, "{second}");
    assert_eq!(second["dataset_id"], dataset_id.as_str(), "{second}");
    assert_eq!(second["imported"], 0, "{second}");
    assert_eq!(
        second["unchanged"].as_u64().unwrap() as usize,
        files,
        "{second}"
    );
    let listed = get(&format!("{base}/documents?limit=100"), &key);
    assert_eq!(
        listed["total"].as_u64().unwrap() as usize,
        files,
        "{listed}"
    );

    // The content is searchable through the server.
    let found = post(
        &format!("{base}/retrieve"),
        &key,
        &json!({"query": "how do honey bees keep warm in winter"}),
    );
    let records = found["records"].as_array().unwrap();
    assert!(!records.is_empty(), "{found}");
    assert_eq!(
        records[0]["segment"]["document"]["name"], "guide.txt",
        "{found}"
    );

    // An unsupported file fails with the server's code and message; the table says which file.
    let (ok, stdout, stderr) = import(
        &server.url,
        &key,
        &[
            "fixtures/bad/image.png",
            "fixtures/docs/guide.txt",
            "--dataset",
            "demo",
        ],
    );
    assert!(!ok, "a failed file exits 1: {stdout}\n{stderr}");
    assert!(stdout.contains("image.png"), "{stdout}");
    assert!(stdout.contains("415 unsupported_file_type"), "{stdout}");
    assert!(stdout.contains("File type not allowed"), "{stdout}");

    // A wrong key is refused, with the server's message.
    let (output, stdout, stderr) = run(ragd()
        .args([
            "import",
            "--server",
            &server.url,
            "--api-key",
            "dataset-wrong",
        ])
        .args(["fixtures/docs", "--dataset", "demo", "--json"]));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the server refused the API key (Access token is invalid)"),
        "{stderr}"
    );

    // A dataset that does not exist, without --create.
    let (ok, _, stderr) = import(&server.url, &key, &["fixtures/docs", "--dataset", "nope"]);
    assert!(!ok);
    assert!(stderr.contains("pass --create"), "{stderr}");

    // An unreachable server is named.
    drop(server);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (ok, _, stderr) = import(&url, &key, &["fixtures/docs", "--dataset", "demo"]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("cannot reach the server at {url}/v1")),
        "{stderr}"
    );
}
