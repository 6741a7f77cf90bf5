//! Headless Chromium for the tests that check a page as a browser renders it.
//!
//! [`dump_dom`] loads a URL, lets its scripts run (their fetches included) for up to `wait_ms` of
//! virtual time, and returns the serialized DOM; [`screenshot`] writes a 1200×800 PNG instead. Each run
//! uses its own temporary profile (`--user-data-dir`, and `XDG_CONFIG_HOME`/`XDG_CACHE_HOME` for what
//! Chromium keeps outside it), so tests and parallel runs never share one, and is killed (with the
//! processes of its group) when it takes longer than [`RUN_TIMEOUT`].
//!
//! Chromium is `chromium` on PATH, else /usr/bin/chromium (Debian package chromium); scripts/test.sh
//! installs it when missing. It runs with `--no-sandbox`, which it needs as root (CI) and in containers.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one Chromium run may take before it is killed.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Where Chromium is looked for, in order: PATH, then the Debian package's binary.
const CHROMIUM: [&str; 2] = ["chromium", "/usr/bin/chromium"];

/// The DOM of `url` after its scripts ran for up to `wait_ms` milliseconds of virtual time
/// (`--virtual-time-budget`; pending fetches hold the clock, so a page that fetches then renders is
/// done well before), serialized as HTML.
pub fn dump_dom(url: &str, wait_ms: u64) -> String {
    run(&[
        format!("--virtual-time-budget={wait_ms}"),
        "--dump-dom".to_owned(),
        url.to_owned(),
    ])
}

/// Writes a 1200×800 PNG screenshot of `url` to `path`, after its scripts ran for up to `wait_ms`
/// milliseconds of virtual time.
pub fn screenshot(url: &str, path: &Path, wait_ms: u64) {
    run(&[
        format!("--virtual-time-budget={wait_ms}"),
        format!("--screenshot={}", path.display()),
        "--window-size=1200,800".to_owned(),
        url.to_owned(),
    ]);
    assert!(
        path.is_file(),
        "chromium --screenshot exited successfully but wrote no {}",
        path.display()
    );
}

/// Runs headless Chromium with `args` after the common flags, on a fresh profile; panics (with its
/// stderr) when it fails or times out; returns what it printed on stdout.
fn run(args: &[String]) -> String {
    let dir = tempfile::tempdir().expect("a temporary dir for chromium");
    let profile = dir.path().join("profile");
    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");
    let mut child = spawn(|binary| {
        // Files, not pipes: a renderer outliving the browser process cannot block the reads.
        let stdout = File::create(&stdout_path).expect("chromium's stdout file");
        let stderr = File::create(&stderr_path).expect("chromium's stderr file");
        let mut command = Command::new(binary);
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            // Keeps what Chromium writes outside the profile (crash reports, caches) in the temporary
            // dir too, not in the user's ~/.config and ~/.cache.
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            // Its own process group, so a timeout kills the renderers and helpers too.
            .process_group(0);
        command
    });
    let read = |path: &Path| {
        String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
    };
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium {args:?} did not finish within {RUN_TIMEOUT:?} and was killed; stderr:\n{}",
                read(&stderr_path)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "chromium {args:?} failed ({status}); stderr:\n{}",
        read(&stderr_path)
    );
    read(&stdout_path)
}

/// Spawns the command `build` makes for the first of [`CHROMIUM`] that exists.
fn spawn(build: impl Fn(&str) -> Command) -> Child {
    for binary in CHROMIUM {
        match build(binary).spawn() {
            Ok(child) => return child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => panic!("starting {binary}: {e}"),
        }
    }
    panic!(
        "chromium is not installed (neither `chromium` on PATH nor /usr/bin/chromium); run \
         scripts/test.sh, which installs it (Debian package chromium)"
    )
}

/// SIGKILLs the process group `pgid` (a Chromium run started with `process_group(0)`).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
