//! The one place where errors become HTTP answers.
//!
//! Policy: every error that reaches a client is an [`ApiError`] with Dify's body
//! `{"code", "message", "status"}` (plus `"params"` naming the offending field when known). The `From`
//! conversions below map each library error enum exhaustively, without a wildcard arm, so a new variant
//! is a compile error here rather than a surprise 500. User errors keep their message; internal errors
//! (store, index, model failures) are logged with their detail and answered with a generic 500 body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ragd_core::CoreError;
use ragd_indexer::IndexError;
use ragd_ingest::IngestError;
use ragd_retrieve::RetrieveError;
use ragd_store::StoreError;
use serde::Serialize;

/// Dify's 401 messages (spec §0), exactly.
pub const MISSING_BEARER: &str = "Authorization header must be provided and start with 'Bearer'";
pub const WRONG_SCHEME: &str = "Authorization scheme must be 'Bearer'";
pub const INVALID_TOKEN: &str = "Access token is invalid";
/// Dify's message for a body that is not JSON.
pub const INVALID_JSON: &str = "Invalid JSON payload received or JSON payload is empty.";

/// An error answer: status, Dify error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The request field the error is about, when known.
    pub params: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            params: None,
        }
    }

    pub fn with_params(mut self, params: impl Into<String>) -> Self {
        self.params = Some(params.into());
        self
    }

    /// 400 `invalid_param`: a well-formed request with a wrong value.
    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_param", message)
    }

    /// 400 `bad_request`: a body that cannot be read as JSON.
    pub fn bad_json() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", INVALID_JSON)
    }

    /// 404 `not_found` with Dify's message, e.g. "Dataset not found.".
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn dataset_not_found() -> Self {
        Self::not_found("Dataset not found.")
    }

    pub fn document_not_found() -> Self {
        Self::not_found("Document not found.")
    }

    pub fn segment_not_found() -> Self {
        Self::not_found("Segment not found.")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 401 `unauthorized` (answered with `WWW-Authenticate: Bearer realm="api"`).
    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many requests are being served at once; retry shortly.",
        )
    }

    pub fn timeout(seconds: u64) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "request_timeout",
            format!("The request took longer than {seconds} s and was stopped."),
        )
    }

    pub fn payload_too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            format!("File size exceeded. The request body is over the limit of {limit} bytes."),
        )
    }

    /// 500 with a generic body; `detail` goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "The server encountered an internal error and was unable to complete your request. \
             The details are in the server log.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code,
            message: &self.message,
            status: self.status.as_u16(),
            params: self.params.as_deref(),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"api\""),
            );
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// Dify's wording for a missing thing: "Dataset not found.", "Document not found.".
fn not_found_message(what: &str) -> String {
    let mut chars = what.chars();
    let capitalized: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Resource".to_owned(),
    };
    format!("{} not found.", capitalized.replace('_', " "))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, .. } => Self::not_found(not_found_message(what)),
            StoreError::DatasetNameTaken(_) => Self::new(
                StatusCode::CONFLICT,
                "dataset_name_duplicate",
                "The dataset name already exists. Please modify your dataset name.",
            ),
            StoreError::MetadataNameTaken(name) => {
                Self::invalid_param(format!("Metadata name '{name}' already exists."))
                    .with_params("name")
            }
            StoreError::Invalid(message) => Self::invalid_param(message),
            e @ (StoreError::Sqlite(_)
            | StoreError::Open { .. }
            | StoreError::Migration { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Io { .. }
            | StoreError::Corrupt(_)) => Self::internal(e),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::InvalidProcessRule(m)
            | CoreError::InvalidRetrieval(m)
            | CoreError::InvalidFilter(m)
            | CoreError::Unsupported(m) => Self::invalid_param(m),
            e @ CoreError::Tokenizer(_) => Self::internal(e),
        }
    }
}

impl From<RetrieveError> for ApiError {
    fn from(e: RetrieveError) -> Self {
        match e {
            RetrieveError::DatasetNotFound(_) => Self::dataset_not_found(),
            RetrieveError::Invalid(m) => Self::invalid_param(m),
            RetrieveError::Unsupported(m) => {
                Self::new(StatusCode::BAD_REQUEST, "model_currently_not_support", m)
            }
            RetrieveError::Store(e) => e.into(),
            e @ (RetrieveError::Lexical { .. }
            | RetrieveError::Vector { .. }
            | RetrieveError::Embed(_)
            | RetrieveError::UnknownAnalyzer { .. }) => Self::internal(e),
        }
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Store(e) => e.into(),
            IndexError::Indexes(e) => e.into(),
            IndexError::DatasetNotFound(_) => Self::dataset_not_found(),
            e @ (IndexError::Lexical { .. }
            | IndexError::Vector { .. }
            | IndexError::Embed(_)
            | IndexError::RemoveIndexes { .. }
            | IndexError::WrongDataset { .. }) => Self::internal(e),
        }
    }
}

/// Upload problems: unsupported type 415, too large 413, unreadable content 400.
impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let message = e.to_string();
        match e {
            IngestError::Unsupported { .. } => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_file_type",
                message,
            ),
            IngestError::TooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large", message)
            }
            IngestError::Empty { .. }
            | IngestError::Corrupt { .. }
            | IngestError::Encrypted { .. }
            | IngestError::Encoding { .. }
            | IngestError::NoText { .. }
            | IngestError::InvalidRecord { .. }
            | IngestError::InvalidProcessRule(_) => {
                Self::invalid_param(message).with_params("file")
            }
            IngestError::Io { .. } | IngestError::Tokenizer(_) => Self::internal(message),
        }
    }
}

/// A blocking task that panicked or was cancelled.
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(format!("background task failed: {e}"))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_dify_codes() {
        let e: ApiError = StoreError::not_found("dataset", "x").into();
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, "not_found"));
        assert_eq!(e.message, "Dataset not found.");
        let e: ApiError = StoreError::not_found("child_chunk", "x").into();
        assert_eq!(e.message, "Child chunk not found.");
        let e: ApiError = StoreError::DatasetNameTaken("a".into()).into();
        assert_eq!((e.status.as_u16(), e.code), (409, "dataset_name_duplicate"));
        let e: ApiError = StoreError::Corrupt("secret detail".into()).into();
        assert_eq!(e.status.as_u16(), 500);
        assert!(!e.message.contains("secret"), "{}", e.message);
    }

    #[test]
    fn upload_errors_map_to_413_and_415() {
        let e: ApiError = IngestError::Unsupported {
            path: "a.exe".into(),
            extension: "exe".into(),
        }
        .into();
        assert_eq!((e.status.as_u16(), e.code), (415, "unsupported_file_type"));
        let e: ApiError = IngestError::TooLarge {
            path: "a.txt".into(),
            size: 2,
            limit: 1,
        }
        .into();
        assert_eq!((e.status.as_u16(), e.code), (413, "file_too_large"));
        let e: ApiError = IngestError::Empty {
            path: "a.txt".into(),
        }
        .into();
        assert_eq!((e.status.as_u16(), e.code), (400, "invalid_param"));
    }
}
