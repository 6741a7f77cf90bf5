//! SDK conformance: the real Python client `dify-dataset-sdk==0.6.3`, unpatched, drives the real
//! `ragd serve` (real model, store and indexes in a temporary data dir) through every Knowledge API call
//! it makes: datasets, documents by text and by file, indexing status, retrieval with each search method,
//! metadata fields and filters, segments, child chunks, document and dataset deletion.
//!
//! `scripts/sdk_venv.sh` installs the SDK into `target/sdk-venv` (once; it needs `python3 -m venv` and, the
//! first time, network access to PyPI); `scripts/sdk_conformance.py` does the calls and assertions and
//! prints one line per step.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// `ragd` with its data dir in `data`.
fn ragd(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ragd"));
    command
        .current_dir(support::repo())
        .env("RAGD__DATA_DIR", data);
    command
}

/// A running `ragd serve`; stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    base_url: String,
    stderr_log: PathBuf,
}

impl Server {
    fn start(data: &Path) -> Self {
        let stderr_log = data.join("serve.stderr.log");
        let stderr = std::fs::File::create(&stderr_log).unwrap();
        let mut child = ragd(data)
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("ragd serve starts");

        // Read stdout on a thread (and keep draining it) so that a server that never prints the line
        // cannot hang the test.
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            base_url: String::new(),
            stderr_log,
        };
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut seen = Vec::new();
        loop {
            match received.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("ragd listening on ") {
                        let url = rest.split_whitespace().next().unwrap_or_default();
                        server.base_url = url.trim_end_matches('/').to_owned();
                        break;
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait().unwrap();
                    panic!(
                        "ragd serve exited ({status}) before listening\nstdout:\n{}\nstderr:\n{}",
                        seen.join("\n"),
                        server.stderr_tail()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "ragd serve did not print its listening line within 180 s\nstdout:\n{}\nstderr:\n{}",
                seen.join("\n"),
                server.stderr_tail()
            );
        }
        assert!(
            server.base_url.starts_with("http://127.0.0.1:"),
            "unexpected listening line: {}",
            server.base_url
        );
        assert!(
            !seen.iter().any(|l| l.contains("dataset-")),
            "serve created a key although one existed: {seen:?}"
        );
        // Drain the rest of stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || while received.recv().is_ok() {});
        server
    }

    fn stderr_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr_log) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// SIGTERM, then waits up to `grace` for the process to exit; `None` if it did not.
    fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.terminate(Duration::from_secs(10)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn dify_dataset_sdk_drives_the_server_without_patches() {
    let python = support::sdk_python();
    let data = tempfile::tempdir().unwrap();

    let output = ragd(data.path())
        .args(["keys", "create", "--name", "sdk", "--json", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("ragd keys create runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ragd keys create failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    let key = created["key"].as_str().expect("the key").to_owned();
    assert!(key.starts_with("dataset-"), "{created}");

    let mut server = Server::start(data.path());
    let output = Command::new(&python)
        .arg(support::repo().join("scripts/sdk_conformance.py"))
        .args([
            "--base-url",
            &server.base_url,
            "--api-key",
            &key,
            "--fixtures",
        ])
        .arg(support::repo().join("fixtures/docs"))
        .current_dir(support::repo())
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "the SDK conformance script failed ({}):\n{stdout}{stderr}\n--- ragd serve stderr (tail) ---\n{}",
        output.status,
        server.stderr_tail()
    );
    assert!(stdout.contains("\nPASS "), "no PASS line:\n{stdout}");

    // SIGTERM stops the server gracefully.
    let status = server.terminate(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "ragd serve did not exit cleanly on SIGTERM ({status:?}):\n{}",
        server.stderr_tail()
    );
    let log = server.stderr_tail();
    assert!(!log.contains("panicked"), "ragd serve panicked:\n{log}");
}
