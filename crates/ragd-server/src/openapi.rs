//! The OpenAPI document served at `/openapi.json`, generated from the request types and the handlers'
//! `#[utoipa::path]` attributes.
//!
//! Each handler documents its own answers (success, 400, 403, 404, 409, 413, 415); the answers of the
//! layers in front of every API route (401 from the key check, 429 from load shedding, 504 from the
//! timeout) are the shared [`KnowledgeErrors`] / [`LimitErrors`]; [`BearerAuth`] declares the key scheme
//! and requires it outside the `ops` tag. The underscore aliases of the hyphenated document routes and
//! `{prefix}/retrieval` are only named in the description of the route they alias; `PATCH
//! …/documents/{document_id}` (the `update-by-file` handler under a second method) is added as an
//! operation by [`Aliases`]. Response bodies are Dify's JSON objects, described in words rather than
//! schemas; error bodies have the [`ErrorBody`] schema.
//!
//! The tests keep the list of every route the router serves and check it against `routes/mod.rs` and
//! the document: a new route fails them until it is documented.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    apps, chat, conversations, datasets, documents, embeddings, external, metadata, ops, retrieve,
    segments,
};

/// Name of the security scheme in the document.
const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ragd",
        description = "Dify-compatible Knowledge API (`/v1/...`) and External Knowledge API (`/retrieval`) of ragd, \
                       plus its operational endpoints. API routes take a dataset API key: \
                       `Authorization: Bearer dataset-...` (unless the server runs with `auth = false`). \
                       Errors of the Knowledge API have Dify's body `{code, message, status, params?}`; \
                       any route may also answer 500 `internal_server_error`."
    ),
    paths(
        datasets::create,
        datasets::list,
        datasets::get,
        datasets::update,
        datasets::delete,
        documents::create_by_text,
        documents::create_by_file,
        documents::list,
        documents::get,
        documents::delete,
        documents::update_by_text,
        documents::update_by_file,
        documents::indexing_status,
        documents::set_status,
        segments::create,
        segments::list,
        segments::get,
        segments::update,
        segments::delete,
        segments::create_child,
        segments::list_children,
        segments::update_child,
        segments::delete_child,
        metadata::create,
        metadata::list,
        metadata::rename,
        metadata::delete,
        metadata::built_in,
        metadata::toggle_built_in,
        metadata::set_document_metadata,
        retrieve::retrieve,
        embeddings::embeddings,
        external::retrieval,
        apps::create,
        apps::list,
        apps::delete,
        apps::create_key,
        chat::chat_messages,
        chat::run_workflow,
        chat::stop,
        conversations::list_conversations,
        conversations::rename_conversation,
        conversations::delete_conversation,
        conversations::list_messages,
        conversations::feedback,
        conversations::suggested,
        conversations::parameters,
        conversations::info,
        conversations::get_run,
        ops::health,
        ops::ready,
        ops::metrics,
        ops::cache_stats,
        ops::cache_page,
        ops::openapi,
        ops::docs,
    ),
    components(schemas(
        ErrorBody,
        ExternalErrorBody,
        FileUpload,
        datasets::CreateDataset,
        datasets::UpdateDataset,
        documents::DocumentSettings,
        documents::CreateByText,
        documents::UpdateByText,
        documents::StatusBody,
        segments::NewSegmentBody,
        segments::CreateSegments,
        segments::SegmentChanges,
        segments::UpdateSegment,
        segments::ChildBody,
        metadata::CreateField,
        metadata::RenameField,
        metadata::MetadataValue,
        metadata::DocumentMetadataOperation,
        metadata::SetDocumentMetadata,
        retrieve::RetrieveBody,
        external::RetrievalSetting,
        external::ExternalRequest,
        embeddings::Input,
        embeddings::EmbeddingsBody,
        apps::CreateAppBody,
        chat::ChatBody,
        chat::WorkflowRunBody,
        chat::StopBody,
        conversations::RenameBody,
        conversations::UserBody,
        conversations::FeedbackBody,
    )),
    tags(
        (name = "datasets", description = "Datasets (knowledge bases): create, list, get, update, delete."),
        (name = "documents", description = "Documents: create and update from text or files, list, get, delete, indexing status, status changes."),
        (name = "segments", description = "Segments (chunks) of a document and, in parent-child documents, their child chunks."),
        (name = "metadata", description = "Metadata fields of a dataset, Dify's built-in fields, and documents' metadata values."),
        (name = "retrieval", description = "Retrieval (Dify's hit testing) over one or more datasets."),
        (name = "external", description = "Dify's External Knowledge API, so a Dify installation can use ragd as an external knowledge base."),
        (name = "embeddings", description = "The service's embedding model, OpenAI-compatible."),
        (name = "apps", description = "Dify's App API for chatflow (`advanced-chat`) and workflow apps: chat messages and workflow runs (blocking or SSE), stop, conversations, messages, feedback, parameters, info, run records. Authorized with the app's key, `Authorization: Bearer app-…`."),
        (name = "apps-admin", description = "Create apps from Dify DSL files, list and delete them, issue app keys (an unscoped dataset key)."),
        (name = "ops", description = "Operational endpoints, outside auth and load shedding: probes, metrics, this document."),
    ),
    modifiers(&BearerAuth, &Aliases)
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

// Documentation only, like the other types below: the answers are written by `crate::error::ApiError`
// and the handlers.

/// Dify's error body: `code`, `message`, `status`, and `params` when the error is about one field.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    /// Machine-readable error code: `invalid_param`, `bad_request`, `not_found`, `unauthorized`,
    /// `forbidden`, `dataset_name_duplicate`, `document_indexing`, `archived_document_immutable`,
    /// `no_file_uploaded`, `too_many_files`, `filename_not_exists_error`, `file_too_large`,
    /// `unsupported_file_type`, `model_currently_not_support`, `too_many_requests`,
    /// `request_timeout`, `internal_server_error`, ...
    #[schema(example = "invalid_param")]
    code: String,
    /// Human-readable message.
    #[schema(example = "Name must be between 1 to 40 characters.")]
    message: String,
    /// The HTTP status, repeated.
    #[schema(example = 400)]
    status: u16,
    /// The request field the error is about, when known (omitted otherwise).
    #[schema(example = "name")]
    params: Option<String>,
}

/// The External Knowledge API's error body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ExternalErrorBody {
    /// 1001 malformed Authorization header, 1002 unknown key, 2001 unknown knowledge base; otherwise
    /// the HTTP status.
    #[schema(example = 2001)]
    error_code: u32,
    #[schema(example = "The knowledge does not exist")]
    error_msg: String,
}

/// The multipart body of the by-file routes.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct FileUpload {
    /// The file: txt, md, markdown, html, htm, pdf, docx, csv, json or jsonl (by its extension). One
    /// file per request. On the update routes, without it only the settings change.
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
    /// JSON text of the document settings (`DocumentSettings`), e.g.
    /// `{"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}}`.
    #[schema(
        example = r#"{"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}}"#
    )]
    data: Option<String>,
}

/// Answers every Knowledge API route can give besides its own: from the key check and the limits.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum KnowledgeErrors {
    /// `unauthorized`: the `Authorization: Bearer dataset-…` header is missing or malformed, or names
    /// no live key (answered with `WWW-Authenticate: Bearer realm="api"`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// `too_many_requests`: more requests in flight than `max_concurrent_requests`; retry shortly.
    #[response(status = 429)]
    TooManyRequests(ErrorBody),
    /// `request_timeout`: the request took longer than `request_timeout_secs` and was stopped.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// Answers every App API route can give besides its own: from the app key check and the limits.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum AppErrors {
    /// `unauthorized`: the `Authorization: Bearer app-…` header is missing or malformed, or names no
    /// live app key (a dataset key is not one).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// `too_many_requests`: more requests in flight than `max_concurrent_requests`; retry shortly.
    #[response(status = 429)]
    TooManyRequests(ErrorBody),
    /// `request_timeout`: the request took longer than `request_timeout_secs` and was stopped.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// Answers of the limits in front of the External Knowledge API (which has no 401: see its 403).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum LimitErrors {
    /// `too_many_requests`: more requests in flight than `max_concurrent_requests`; retry shortly.
    #[response(status = 429)]
    TooManyRequests(ErrorBody),
    /// `request_timeout`: the request took longer than `request_timeout_secs` and was stopped.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// The operations of a path item, whatever their method.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
        &mut item.query,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
    .chain(item.additional_operations.values_mut())
}

/// Declares the dataset API key scheme and requires it on every operation outside the `ops` tag.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("dataset-…")
            .description(Some(
                "A dataset API key, `Authorization: Bearer dataset-…` (create one with `ragd keys create`), \
                 on the Knowledge API and the apps admin routes: a key may be limited to some datasets, and \
                 it is not checked when the server runs with `auth = false`. The App API (tag `apps`) takes \
                 an app key instead, `Authorization: Bearer app-…` (from `ragd apps create`), always.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let is_ops = operation
                    .tags
                    .as_ref()
                    .is_some_and(|tags| tags.iter().any(|t| t == "ops"));
                if !is_ops {
                    operation.security =
                        Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
                }
            }
        }
    }
}

/// Documents the second method a handler is served under: `PATCH …/documents/{document_id}` runs
/// `update-by-file`.
struct Aliases;

impl Modify for Aliases {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let paths = &mut openapi.paths.paths;
        let update_by_file = paths
            .get("/v1/datasets/{dataset_id}/documents/{document_id}/update-by-file")
            .and_then(|item| item.post.clone());
        if let (Some(mut operation), Some(item)) = (
            update_by_file,
            paths.get_mut("/v1/datasets/{dataset_id}/documents/{document_id}"),
        ) {
            operation.operation_id = Some("update_document_by_file_patch".to_owned());
            operation.summary =
                Some("Update a document with a file (PATCH form of update-by-file)".to_owned());
            item.patch = Some(operation);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    /// Every route the router serves, as (method, path served, the documented route it aliases).
    /// Aliases must be named in the description of the route they alias.
    const ROUTES: &[(&str, &str, Option<&str>)] = &[
        ("post", "/v1/datasets", None),
        ("get", "/v1/datasets", None),
        ("get", "/v1/datasets/{dataset_id}", None),
        ("patch", "/v1/datasets/{dataset_id}", None),
        ("delete", "/v1/datasets/{dataset_id}", None),
        (
            "post",
            "/v1/datasets/{dataset_id}/document/create-by-text",
            None,
        ),
        (
            "post",
            "/v1/datasets/{dataset_id}/document/create_by_text",
            Some("/v1/datasets/{dataset_id}/document/create-by-text"),
        ),
        (
            "post",
            "/v1/datasets/{dataset_id}/document/create-by-file",
            None,
        ),
        (
            "post",
            "/v1/datasets/{dataset_id}/document/create_by_file",
            Some("/v1/datasets/{dataset_id}/document/create-by-file"),
        ),
        ("get", "/v1/datasets/{dataset_id}/documents", None),
        ("post", "/v1/datasets/{dataset_id}/documents/metadata", None),
        (
            "patch",
            "/v1/datasets/{dataset_id}/documents/status/{action}",
            None,
        ),
        (
            "get",
            "/v1/datasets/{dataset_id}/documents/{document_id}",
            None,
        ),
        (
            "delete",
            "/v1/datasets/{dataset_id}/documents/{document_id}",
            None,
        ),
        (
            "patch",
            "/v1/datasets/{dataset_id}/documents/{document_id}",
            None,
        ),
        (
            "post",
            "/v1/datasets/{dataset_id}/documents/{document_id}/update-by-text",
            None,
        ),
        (
            "post",
            "/v1/datasets/{dataset_id}/documents/{document_id}/update_by_text",
            Some("/v1/datasets/{dataset_id}/documents/{document_id}/update-by-text"),
        ),
        (
            "post",
            "/v1/datasets/{dataset_id}/documents/{document_id}/update-by-file",
            None,
        ),
        (
            "post",
            "/v1/datasets/{dataset_id}/documents/{document_id}/update_by_file",
            Some("/v1/datasets/{dataset_id}/documents/{document_id}/update-by-file"),
        ),
        (
            "get",
            "/v1/datasets/{dataset_id}/documents/{document_id}/indexing-status",
            None,
        ),
        (
            "post",
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments",
            None,
        ),
        (
            "get",
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments",
            None,
        ),
        (
            "get",
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
            None,
        ),
        (
            "post",
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
            None,
        ),
        (
            "delete",
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
            None,
        ),
        (
            "post",
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
            None,
        ),
        (
            "get",
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
            None,
        ),
        (
            "patch",
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
            None,
        ),
        (
            "delete",
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
            None,
        ),
        ("post", "/v1/datasets/{dataset_id}/metadata", None),
        ("get", "/v1/datasets/{dataset_id}/metadata", None),
        ("get", "/v1/datasets/{dataset_id}/metadata/built-in", None),
        (
            "post",
            "/v1/datasets/{dataset_id}/metadata/built-in/{action}",
            None,
        ),
        (
            "patch",
            "/v1/datasets/{dataset_id}/metadata/{metadata_id}",
            None,
        ),
        (
            "delete",
            "/v1/datasets/{dataset_id}/metadata/{metadata_id}",
            None,
        ),
        ("post", "/v1/datasets/{dataset_id}/retrieve", None),
        ("post", "/v1/embeddings", None),
        ("post", "/retrieval", None),
        // `{prefix}/retrieval` with the default `external_knowledge_prefix` (checked below).
        ("post", "/external/retrieval", Some("/retrieval")),
        ("post", "/v1/apps", None),
        ("get", "/v1/apps", None),
        ("delete", "/v1/apps/{app_id}", None),
        ("post", "/v1/apps/{app_id}/keys", None),
        ("post", "/v1/chat-messages", None),
        ("post", "/v1/chat-messages/{task_id}/stop", None),
        ("post", "/v1/workflows/run", None),
        ("post", "/v1/workflows/{id}/run", Some("/v1/workflows/run")),
        ("get", "/v1/workflows/run/{workflow_run_id}", None),
        (
            "post",
            "/v1/workflows/tasks/{task_id}/stop",
            Some("/v1/chat-messages/{task_id}/stop"),
        ),
        (
            "post",
            "/v1/workflows/{id}/stop",
            Some("/v1/chat-messages/{task_id}/stop"),
        ),
        ("get", "/v1/conversations", None),
        ("delete", "/v1/conversations/{conversation_id}", None),
        ("post", "/v1/conversations/{conversation_id}/name", None),
        ("get", "/v1/messages", None),
        ("post", "/v1/messages/{message_id}/feedbacks", None),
        ("get", "/v1/messages/{message_id}/suggested", None),
        ("get", "/v1/parameters", None),
        ("get", "/v1/info", None),
        ("get", "/health", None),
        ("get", "/ready", None),
        ("get", "/metrics", None),
        ("get", "/cache/stats", None),
        ("get", "/cache", None),
        ("get", "/openapi.json", None),
        ("get", "/docs", None),
    ];

    fn document_json() -> Value {
        let text = document()
            .to_pretty_json()
            .expect("the document serializes");
        serde_json::from_str(&text).expect("the document is JSON")
    }

    fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
        doc["paths"].get(path)?.get(method)
    }

    #[test]
    fn document_serializes_with_info_tags_and_schemas() {
        let doc = document_json();
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "{}",
            doc["openapi"]
        );
        assert_eq!(doc["info"]["title"], "ragd");
        let tags: BTreeSet<&str> = doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        for tag in [
            "datasets",
            "documents",
            "segments",
            "metadata",
            "retrieval",
            "external",
            "embeddings",
            "ops",
        ] {
            assert!(tags.contains(tag), "tag {tag} is not declared");
        }
        let schemas = &doc["components"]["schemas"];
        for name in [
            "ErrorBody",
            "CreateDataset",
            "CreateByText",
            "DocumentSettings",
            "RetrieveBody",
            "ExternalRequest",
            "EmbeddingsBody",
        ] {
            assert!(schemas.get(name).is_some(), "schema {name} is missing");
        }
        let required: Vec<&str> = schemas["ErrorBody"]["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, ["code", "message", "status"]);
    }

    #[test]
    fn every_route_is_documented() {
        let doc = document_json();
        let mut operation_ids = BTreeSet::new();
        for &(method, path, alias_of) in ROUTES {
            match alias_of {
                None => {
                    let op = operation(&doc, method, path)
                        .unwrap_or_else(|| panic!("{method} {path} is not in the document"));
                    assert!(
                        op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                        "{method} {path}: no summary"
                    );
                    assert_eq!(
                        op["tags"].as_array().map(Vec::len),
                        Some(1),
                        "{method} {path}: one tag"
                    );
                    assert!(
                        !op["responses"].as_object().unwrap().is_empty(),
                        "{method} {path}: no responses"
                    );
                    let id = op["operationId"].as_str().unwrap();
                    assert!(
                        operation_ids.insert(id.to_owned()),
                        "operationId {id} is used twice"
                    );
                }
                Some(documented) => {
                    let op = operation(&doc, method, documented).unwrap_or_else(|| {
                        panic!("{method} {documented} (aliased by {path}) is not in the document")
                    });
                    let description = op["description"].as_str().unwrap_or_default();
                    assert!(
                        description.contains(path),
                        "the description of {method} {documented} does not mention its alias {path}"
                    );
                }
            }
        }
        // Nothing documented that is not served.
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    ROUTES
                        .iter()
                        .any(|&(m, p, alias)| m == method && p == path && alias.is_none()),
                    "{method} {path} is documented but not in ROUTES"
                );
            }
        }
        let prefix = ragd_config::ServerConfig::default().external_knowledge_prefix;
        assert_eq!(format!("{prefix}/retrieval"), "/external/retrieval");
    }

    /// `(method, path)` of every `.route("literal", method(..).method(..))` in a router's source.
    fn routes_in_source(source: &str) -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (start, _) in source.match_indices(".route(") {
            let rest = source[start + ".route(".len()..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue; // a computed path, e.g. `{prefix}/retrieval`
            };
            let path = &rest[..rest.find('"').unwrap()];
            // The rest of the `.route(...)` call.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            let call = &rest[..end];
            for method in ["get", "post", "put", "patch", "delete"] {
                let token = format!("{method}(");
                for (at, _) in call.match_indices(&token) {
                    let before = call[..at].chars().next_back();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                        found.insert((method.to_owned(), path.to_owned()));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn routes_list_matches_the_router() {
        let mut registered = routes_in_source(include_str!("routes/mod.rs"));
        registered.extend(routes_in_source(include_str!("routes/ops.rs")));
        assert!(
            registered.len() > 30,
            "the route parser found only {registered:?}"
        );
        // Knowledge API routes are nested under /v1.
        for (method, path) in &registered {
            let served = |p: &str| ROUTES.iter().any(|&(m, r, _)| m == method && r == p);
            assert!(
                served(path) || served(&format!("/v1{path}")),
                "{method} {path} is registered in the router but not in ROUTES (document it)"
            );
        }
        for &(method, path, _) in ROUTES {
            let unprefixed = path.strip_prefix("/v1").unwrap_or(path);
            let known = registered.contains(&(method.to_owned(), path.to_owned()))
                || registered.contains(&(method.to_owned(), unprefixed.to_owned()))
                || path == "/external/retrieval";
            assert!(
                known,
                "{method} {path} is in ROUTES but not registered in the router"
            );
        }
    }

    #[test]
    fn declares_the_bearer_scheme_on_api_routes_only() {
        let doc = document_json();
        let scheme = &doc["components"]["securitySchemes"][BEARER];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
        for &(method, path, alias_of) in ROUTES {
            if alias_of.is_some() {
                continue;
            }
            let op = operation(&doc, method, path).unwrap();
            let secured = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get(BEARER).is_some()));
            let is_ops = op["tags"][0] == "ops";
            assert_eq!(
                secured, !is_ops,
                "{method} {path}: security {}",
                op["security"]
            );
            if !is_ops {
                assert!(
                    op["responses"].get("429").is_some(),
                    "{method} {path}: no 429"
                );
                assert!(
                    op["responses"].get("504").is_some(),
                    "{method} {path}: no 504"
                );
            }
        }
        let op = operation(&doc, "get", "/v1/datasets").unwrap();
        assert_eq!(
            op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
    }
}
