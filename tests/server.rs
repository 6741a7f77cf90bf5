//! End-to-end tests of `ragd serve`: the real binary, model, store and indexes behind Dify's Knowledge
//! API and External Knowledge API, driven over HTTP (spec `dify-compat.md` §0–§2).
//!
//! Each test starts its own server (the harness is in `tests/support`) and groups many checks on it, since
//! every server loads the model. Errors are checked for the exact status, `code` and, where Dify defines
//! it, the exact `message`.

mod support;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{
    Auth, Multipart, Req, TestServer, assert_error, create_key, fixture, fixture_text, model,
    record_documents, record_segments, revoke_key,
};

const MISSING_BEARER: &str = "Authorization header must be provided and start with 'Bearer'";
const WRONG_SCHEME: &str = "Authorization scheme must be 'Bearer'";
const INVALID_TOKEN: &str = "Access token is invalid";
const INVALID_JSON: &str = "Invalid JSON payload received or JSON payload is empty.";
const DATASET_NOT_FOUND: &str = "Dataset not found.";
const BEES_QUERY: &str = "how do honey bees keep warm in winter";

/// The `data` part / by-text settings of a first document.
fn upload_settings() -> Value {
    json!({"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}})
}

/// Text of about `bytes` bytes: a marker paragraph, then the beekeeping guide repeated.
fn large_text(marker: &str, bytes: usize) -> String {
    let guide = fixture_text("docs/guide.txt");
    let mut text =
        format!("Marker paragraph: {marker} is the word that identifies this document.\n\n");
    while text.len() < bytes {
        text.push_str(&guide);
        text.push_str("\n\n");
    }
    text
}

#[track_caller]
fn assert_401(reply: &support::Reply, message: &str) {
    assert_error(
        &(reply.status, reply.json.clone()),
        401,
        "unauthorized",
        Some(message),
    );
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"api\""),
        "{:?}",
        reply.headers
    );
}

// 1. Authentication, key revocation and dataset scopes.
#[test]
fn auth_answers_like_dify_and_scopes_keys() {
    let server = TestServer::start();
    let alpha = server.create_dataset("alpha");
    let beta = server.create_dataset("beta");

    for (auth, message) in [
        (Auth::None, MISSING_BEARER),
        (Auth::Header(server.key.clone()), MISSING_BEARER),
        (
            Auth::Header(format!("Bearer{}", server.key)),
            MISSING_BEARER,
        ),
        (Auth::Header("Bearer".into()), MISSING_BEARER),
        (Auth::Header("Basic x".into()), WRONG_SCHEME),
        (
            Auth::Header("Bearer dataset-NoSuchKeyNoSuchKeyNoSuchK".into()),
            INVALID_TOKEN,
        ),
    ] {
        for path in ["/v1/datasets".to_owned(), format!("/v1/datasets/{alpha}")] {
            let reply = server.send(&Req::new("GET", path.as_str()).auth(auth.clone()));
            assert_401(&reply, message);
        }
    }
    // Routes with a body check the key before the body.
    let reply = server.send(
        &Req::new("POST", format!("/v1/datasets/{alpha}/retrieve"))
            .auth(Auth::None)
            .body("{"),
    );
    assert_401(&reply, MISSING_BEARER);
    // The scheme is case-insensitive.
    let reply = server.send(
        &Req::new("GET", "/v1/datasets").auth(Auth::Header(format!("bearer {}", server.key))),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);

    // Probes and metrics need no key.
    for path in ["/health", "/ready", "/metrics"] {
        let reply = server.send(&Req::new("GET", path).auth(Auth::None));
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    }

    // A key limited to alpha: beta does not exist for it, the list shows alpha only, no creating.
    let scoped = create_key(&server.data_dir, "scoped", &["alpha"]);
    let token = scoped["key"].as_str().unwrap();
    assert_eq!(scoped["datasets"], json!([alpha]), "{scoped}");
    let as_scoped = |method: &'static str, path: String| Req::new(method, path).bearer(token);
    let reply = server.send(&as_scoped("GET", format!("/v1/datasets/{alpha}")));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["id"], alpha.as_str());
    for (method, path) in [
        ("GET", format!("/v1/datasets/{beta}")),
        ("GET", format!("/v1/datasets/{beta}/documents")),
        ("DELETE", format!("/v1/datasets/{beta}")),
    ] {
        let reply = server.send(&as_scoped(method, path.clone()));
        assert_error(
            &(reply.status, reply.json),
            404,
            "not_found",
            Some(DATASET_NOT_FOUND),
        );
    }
    let reply = server.send(
        &as_scoped("POST", format!("/v1/datasets/{beta}/retrieve")).json(&json!({"query": "bees"})),
    );
    assert_error(
        &(reply.status, reply.json),
        404,
        "not_found",
        Some(DATASET_NOT_FOUND),
    );
    let reply = server.send(&as_scoped("GET", "/v1/datasets".into()));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let ids: Vec<&str> = reply.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [alpha.as_str()], "{}", reply.json);
    assert_eq!(reply.json["total"], 1, "{}", reply.json);
    let reply =
        server.send(&as_scoped("POST", "/v1/datasets".into()).json(&json!({"name": "gamma"})));
    assert_error(&(reply.status, reply.json), 403, "forbidden", None);
    // beta is untouched by the refused delete.
    assert_eq!(server.get(&format!("/v1/datasets/{beta}")).0, 200);

    // A revoked key stops working within the key cache's 5 s.
    let doomed = create_key(&server.data_dir, "doomed", &[]);
    let doomed_token = doomed["key"].as_str().unwrap();
    let reply = server.send(&Req::new("GET", "/v1/datasets").bearer(doomed_token));
    assert_eq!(reply.status, 200, "{}", reply.text);
    revoke_key(&server.data_dir, doomed["id"].as_str().unwrap());
    let revoked_at = Instant::now();
    loop {
        let reply = server.send(&Req::new("GET", "/v1/datasets").bearer(doomed_token));
        if reply.status == 401 {
            assert_401(&reply, INVALID_TOKEN);
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(10),
            "a revoked key still works after 10 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The other keys still work.
    assert_eq!(server.get("/v1/datasets").0, 200);
    let reply = server.send(&as_scoped("GET", format!("/v1/datasets/{alpha}")));
    assert_eq!(reply.status, 200, "{}", reply.text);
}

// 2. Bad input: Dify's 400/404/409 answers.
#[test]
fn bad_input_gets_difys_errors() {
    let server = TestServer::start();
    let dataset = server.create_dataset("bad-input");
    let unknown = "6f1c1a0e-2a8b-4c3d-9e4f-0123456789ab";

    // Bodies that are not JSON.
    for body in ["", "   ", "{", "nope", "{\"name\": }"] {
        let reply = server.send(&Req::new("POST", "/v1/datasets").body(body));
        assert_error(
            &(reply.status, reply.json),
            400,
            "bad_request",
            Some(INVALID_JSON),
        );
        let reply =
            server.send(&Req::new("POST", format!("/v1/datasets/{dataset}/retrieve")).body(body));
        assert_error(
            &(reply.status, reply.json),
            400,
            "bad_request",
            Some(INVALID_JSON),
        );
    }

    // Unknown datasets: valid UUIDs and other ids alike.
    for id in [unknown, "not-a-uuid", "123"] {
        for (method, path) in [
            ("GET", format!("/v1/datasets/{id}")),
            ("DELETE", format!("/v1/datasets/{id}")),
            ("GET", format!("/v1/datasets/{id}/documents")),
            ("GET", format!("/v1/datasets/{id}/metadata")),
        ] {
            let reply = server.send(&Req::new(method, path.clone()));
            assert_error(
                &(reply.status, reply.json),
                404,
                "not_found",
                Some(DATASET_NOT_FOUND),
            );
        }
        let got = server.post_json(
            &format!("/v1/datasets/{id}/retrieve"),
            &json!({"query": "bees"}),
        );
        assert_error(&got, 404, "not_found", Some(DATASET_NOT_FOUND));
        let got = server.post_json(
            &format!("/v1/datasets/{id}/document/create-by-text"),
            &json!({"name": "a.txt", "text": "a"}),
        );
        assert_error(&got, 404, "not_found", Some(DATASET_NOT_FOUND));
    }

    // A fresh dataset without an indexing technique needs one with its first document.
    let fresh = {
        let (status, body) = server.post_json("/v1/datasets", &json!({"name": "fresh"}));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["indexing_technique"], Value::Null, "{body}");
        body["id"].as_str().unwrap().to_owned()
    };
    let got = server.post_json(
        &format!("/v1/datasets/{fresh}/document/create-by-text"),
        &json!({"name": "a.txt", "text": "Some text about nothing in particular."}),
    );
    assert_error(
        &got,
        400,
        "invalid_param",
        Some("indexing_technique is required."),
    );
    assert_eq!(
        server.get(&format!("/v1/datasets/{fresh}/documents")).1["total"],
        0
    );

    // Duplicate names.
    let got = server.post_json("/v1/datasets", &json!({"name": "bad-input"}));
    assert_error(
        &got,
        409,
        "dataset_name_duplicate",
        Some("The dataset name already exists. Please modify your dataset name."),
    );

    // Unknown documents, batches and segments.
    let (document, batch) =
        server.create_text_document(&dataset, "guide.txt", &fixture_text("docs/guide.txt"));
    server.wait_completed(&dataset, &batch);
    for id in [unknown, "not-a-uuid"] {
        for (method, path) in [
            ("GET", format!("/v1/datasets/{dataset}/documents/{id}")),
            ("DELETE", format!("/v1/datasets/{dataset}/documents/{id}")),
            (
                "GET",
                format!("/v1/datasets/{dataset}/documents/{id}/segments"),
            ),
        ] {
            let reply = server.send(&Req::new(method, path.clone()));
            assert_error(
                &(reply.status, reply.json),
                404,
                "not_found",
                Some("Document not found."),
            );
        }
        let got = server.post_json(
            &format!("/v1/datasets/{dataset}/documents/{id}/update-by-text"),
            &json!({"name": "x.txt", "text": "x"}),
        );
        assert_error(&got, 404, "not_found", Some("Document not found."));
        for (method, path) in [
            (
                "GET",
                format!("/v1/datasets/{dataset}/documents/{document}/segments/{id}"),
            ),
            (
                "DELETE",
                format!("/v1/datasets/{dataset}/documents/{document}/segments/{id}"),
            ),
        ] {
            let reply = server.send(&Req::new(method, path.clone()));
            assert_error(
                &(reply.status, reply.json),
                404,
                "not_found",
                Some("Segment not found."),
            );
        }
    }
    let got = server.get(&format!(
        "/v1/datasets/{dataset}/documents/nosuchbatch/indexing-status"
    ));
    assert_error(&got, 404, "not_found", Some("Documents not found."));
    let got = server.patch_json(
        &format!("/v1/datasets/{dataset}/documents/status/disable"),
        &json!({"document_ids": [unknown]}),
    );
    assert_error(&got, 404, "not_found", Some("Document not found."));

    // Queries: length, blank, missing.
    let retrieve =
        |body: Value| server.post_json(&format!("/v1/datasets/{dataset}/retrieve"), &body);
    let long: String = "b".repeat(251);
    assert_error(
        &retrieve(json!({"query": long})),
        400,
        "invalid_param",
        Some("Query cannot exceed 250 characters"),
    );
    let longest: String = "é".repeat(250);
    assert_eq!(
        retrieve(json!({"query": longest})).0,
        200,
        "250 characters are allowed"
    );
    for body in [json!({"query": "   "}), json!({"query": ""}), json!({})] {
        assert_error(
            &retrieve(body),
            400,
            "invalid_param",
            Some("Query or attachment_ids is required"),
        );
    }

    // Retrieval models out of range.
    for bad in [
        json!({"search_method": "semantic_search", "reranking_enable": false, "top_k": 0,
               "score_threshold_enabled": false}),
        json!({"search_method": "semantic_search", "reranking_enable": false, "top_k": -3,
               "score_threshold_enabled": false}),
        json!({"search_method": "semantic_search", "reranking_enable": false, "top_k": 101,
               "score_threshold_enabled": false}),
        json!({"search_method": "no_such_search", "reranking_enable": false, "top_k": 3,
               "score_threshold_enabled": false}),
        json!({"search_method": "hybrid_search", "reranking_enable": false, "top_k": 3,
               "score_threshold_enabled": false, "reranking_mode": "weighted_score",
               "weights": {"weight_type": "customized",
                           "vector_setting": {"vector_weight": 0.9},
                           "keyword_setting": {"keyword_weight": 0.9}}}),
        json!({"search_method": "hybrid_search", "reranking_enable": false, "top_k": 3,
               "score_threshold_enabled": false, "reranking_mode": "weighted_score",
               "weights": {"weight_type": "customized",
                           "vector_setting": {"vector_weight": 1.5},
                           "keyword_setting": {"keyword_weight": -0.5}}}),
        json!({"search_method": "semantic_search", "reranking_enable": false, "top_k": 3,
               "score_threshold_enabled": true, "score_threshold": 2.0}),
    ] {
        let got = retrieve(json!({"query": "bees", "retrieval_model": bad}));
        assert_error(&got, 400, "invalid_param", None);
    }
    let got = retrieve(json!({"query": "bees", "retrieval_model": {
        "search_method": "semantic_search", "reranking_enable": false, "top_k": 3,
        "score_threshold_enabled": false,
        "metadata_filtering_conditions": {"logical_operator": "and",
            "conditions": [{"name": "nosuchfield", "comparison_operator": "no such op", "value": "x"}]}}}));
    assert_error(&got, 400, "invalid_param", None);

    // Unknown routes and methods answer JSON.
    let nested = format!("/v1/datasets/{dataset}/nope");
    for path in ["/v1/nope", "/nope", nested.as_str()] {
        let reply = server.send(&Req::new("GET", path));
        assert_error(&(reply.status, reply.json), 404, "not_found", None);
    }
    let reply = server.send(&Req::new("PUT", "/v1/datasets").json(&json!({})));
    assert_eq!(reply.status, 405, "{}", reply.text);
    assert!(reply.json["code"].is_string(), "{}", reply.text);

    // Nothing above broke the dataset.
    let records = server.retrieve(&dataset, BEES_QUERY, model("hybrid_search", 3));
    assert_eq!(
        record_documents(&records).first(),
        Some(&document),
        "{records:?}"
    );

    // JSON of the wrong shape: invalid_param naming the field (a wrong type and a missing field alike,
    // as Dify's parsers answer).
    let got = server.post_json("/v1/datasets", &json!({"name": 5}));
    assert_error(&got, 400, "invalid_param", None);
    assert_eq!(got.1["params"], "name", "{}", got.1);
    let got = server.post_json(
        &format!("/v1/datasets/{dataset}/retrieve"),
        &json!({"query": "bees", "retrieval_model": {"search_method": "semantic_search", "top_k": "x"}}),
    );
    assert_error(&got, 400, "invalid_param", None);
    assert!(
        got.1["params"]
            .as_str()
            .is_some_and(|p| p.starts_with("retrieval_model")),
        "{}",
        got.1
    );
    for body in [json!({}), json!({"description": "no name"})] {
        let got = server.post_json("/v1/datasets", &body);
        assert_error(&got, 400, "invalid_param", None);
        assert_eq!(
            got.1["params"], "name",
            "POST /v1/datasets {body}: {}",
            got.1
        );
    }
    let got = server.post_json(
        &format!("/v1/datasets/{dataset}/document/create-by-text"),
        &json!({"name": "a.txt"}),
    );
    assert_error(&got, 400, "invalid_param", None);
    assert_eq!(
        got.1["params"], "text",
        "create-by-text without text: {}",
        got.1
    );
}

// 3. Uploads: every supported type, bad files, limits, multipart shapes.
#[test]
fn uploads_index_good_files_and_refuse_bad_ones() {
    let server = TestServer::builder()
        .env("RAGD__SERVER__MAX_BODY_BYTES", 200_000)
        .start();
    let dataset = server.create_dataset("uploads");
    let settings = upload_settings();
    let documents_path = format!("/v1/datasets/{dataset}/documents");
    let create_path = format!("/v1/datasets/{dataset}/document/create-by-file");

    // On a fresh dataset a file without process_rule (and no rule to reuse) is refused.
    let got = server.upload_file(
        &dataset,
        "guide.txt",
        &fixture("docs/guide.txt"),
        Some(&json!({"indexing_technique": "high_quality"})),
    );
    assert_error(
        &got,
        400,
        "invalid_param",
        Some("process_rule is required."),
    );

    let mut good: Vec<(String, String, String)> = Vec::new(); // (name, document id, batch)
    let mut upload_ok = |name: &str, bytes: &[u8], data: Option<&Value>| {
        let (status, body) = server.upload_file(&dataset, name, bytes, data);
        assert_eq!(status, 200, "uploading {name}: {body}");
        assert_eq!(body["document"]["name"], name, "{body}");
        assert_eq!(body["document"]["indexing_status"], "waiting", "{body}");
        assert_eq!(
            body["document"]["data_source_type"], "upload_file",
            "{body}"
        );
        good.push((
            name.to_owned(),
            body["document"]["id"].as_str().unwrap().to_owned(),
            body["batch"].as_str().unwrap().to_owned(),
        ));
    };
    for name in [
        "guide.txt",
        "articles.jsonl",
        "chinese.txt",
        "emoji.md",
        "faq.json",
        "notes.md",
        "page.html",
        "paper.pdf",
        "products.csv",
        "report.docx",
    ] {
        upload_ok(name, &fixture(&format!("docs/{name}")), Some(&settings));
    }
    // Text that is not UTF-8 is decoded; the dataset's rule is reused when `data` is absent.
    upload_ok("latin1.txt", &fixture("bad/latin1.txt"), None);
    upload_ok("utf16le.txt", &fixture("bad/utf16le.txt"), Some(&settings));
    // `data` as a plain form field (no Content-Type) works too.
    {
        let body = Multipart::new()
            .part("data", None, None, settings.to_string().as_bytes())
            .file(
                "plain-data.md",
                b"# Plain data\n\nThe quarrelsome narwhal guards the fjord.\n",
            );
        let (status, reply) = server.post_multipart(&create_path, body);
        assert_eq!(status, 200, "{reply}");
        good.push((
            "plain-data.md".into(),
            reply["document"]["id"].as_str().unwrap().to_owned(),
            reply["batch"].as_str().unwrap().to_owned(),
        ));
    }

    // Bad files: nothing is created.
    let total_before = {
        let (status, body) = server.get(&format!("{documents_path}?limit=100"));
        assert_eq!(status, 200, "{body}");
        body["total"].as_u64().unwrap()
    };
    assert_eq!(total_before, good.len() as u64);
    for name in [
        "empty.txt",
        "corrupt.pdf",
        "corrupt.docx",
        "blank.md",
        "binary.txt",
    ] {
        let got = server.upload_file(
            &dataset,
            name,
            &fixture(&format!("bad/{name}")),
            Some(&settings),
        );
        assert_eq!(got.0, 400, "{name}: {}", got.1);
        assert!(
            got.1["code"].is_string() && got.1["message"].is_string(),
            "{name}: {}",
            got.1
        );
        assert_eq!(got.1["status"], 400, "{}", got.1);
    }
    for (name, bytes) in [
        ("image.png", fixture("bad/image.png")),
        ("setup.exe", b"MZ\x90\x00 not really a program".to_vec()),
        ("noextension", b"plain words".to_vec()),
    ] {
        let got = server.upload_file(&dataset, name, &bytes, Some(&settings));
        assert_error(&got, 415, "unsupported_file_type", None);
        assert!(
            got.1["message"]
                .as_str()
                .unwrap()
                .starts_with("File type not allowed"),
            "{}",
            got.1
        );
    }
    // Over the 200 000-byte limit: within the multipart slack (the handler sees it) and far over it.
    let big = "honey ".repeat(250_000 / 6);
    let got = server.upload_file(&dataset, "big.txt", big.as_bytes(), Some(&settings));
    assert_error(&got, 413, "file_too_large", None);
    assert!(
        got.1["message"]
            .as_str()
            .unwrap()
            .starts_with("File size exceeded."),
        "{}",
        got.1
    );
    let bigger = "honey ".repeat(400_000 / 6);
    let got = server.upload_file(&dataset, "bigger.txt", bigger.as_bytes(), Some(&settings));
    assert_error(&got, 413, "file_too_large", None);
    // Multipart shapes.
    let got = server.post_multipart(&create_path, Multipart::new().data(&settings));
    assert_error(
        &got,
        400,
        "no_file_uploaded",
        Some("Please upload your file."),
    );
    let reply = server.send(&Req::new("POST", create_path.as_str()).json(&settings));
    assert_error(
        &(reply.status, reply.json),
        400,
        "no_file_uploaded",
        Some("Please upload your file."),
    );
    let got = server.post_multipart(
        &create_path,
        Multipart::new()
            .part("file", Some(""), Some("text/plain"), b"some text")
            .data(&settings),
    );
    assert_error(
        &got,
        400,
        "filename_not_exists_error",
        Some("The specified filename does not exist."),
    );
    let got = server.post_multipart(
        &create_path,
        Multipart::new()
            .file("one.txt", b"first file")
            .file("two.txt", b"second file")
            .data(&settings),
    );
    assert_error(
        &got,
        400,
        "too_many_files",
        Some("Only one file is allowed."),
    );
    let got = server.post_multipart(
        &create_path,
        Multipart::new().file("one.txt", b"first file").part(
            "data",
            None,
            Some("application/json"),
            b"{not json",
        ),
    );
    assert_error(&got, 400, "bad_request", Some(INVALID_JSON));

    // Everything uploaded before indexes completely, and nothing was lost to the failures.
    for (name, _, batch) in &good {
        let status = server.wait_for_indexing(&dataset, batch);
        assert_eq!(
            status[0]["indexing_status"], "completed",
            "{name}: {status:?}"
        );
        assert!(
            status[0]["total_segments"].as_u64().unwrap() > 0,
            "{name}: {status:?}"
        );
    }
    let (status, list) = server.get(&format!("{documents_path}?limit=100"));
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"].as_u64(), Some(good.len() as u64), "{list}");
    let listed: HashSet<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    for (name, id, _) in &good {
        assert!(listed.contains(id.as_str()), "{name} missing from the list");
    }
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["indexing_status"] == "completed" && d["display_status"] == "available"),
        "{list}"
    );
    let id_of = |name: &str| good.iter().find(|(n, _, _)| n == name).unwrap().1.clone();
    for (query, name, expected) in [
        ("Zürich crêpes", "latin1.txt", "Zürich"),
        ("Köln Meister", "utf16le.txt", "Köln"),
        ("quarrelsome narwhal", "plain-data.md", "narwhal"),
    ] {
        let records = server.full_text(&dataset, query);
        assert_eq!(
            record_documents(&records).first(),
            Some(&id_of(name)),
            "{query}: {records:?}"
        );
        let content = records[0]["segment"]["content"].as_str().unwrap();
        assert!(
            content.contains(expected),
            "{name} decoded wrongly: {content:?}"
        );
    }
    let records = server.retrieve(&dataset, BEES_QUERY, model("hybrid_search", 3));
    assert_eq!(
        record_documents(&records).first(),
        Some(&id_of("guide.txt")),
        "{records:?}"
    );

    // update-by-file (PATCH …/documents/{id}): the document takes the new file's name and content.
    let faq = id_of("faq.json");
    let body = Multipart::new().file(
        "replacement.md",
        b"# Replacement\n\nThe gryphonesque weathervane points north.\n",
    );
    let reply = server.send(
        &Req::new("PATCH", format!("{documents_path}/{faq}"))
            .header("Content-Type", &Multipart::content_type())
            .body(body.finish()),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["document"]["id"], faq.as_str(), "{}", reply.text);
    let batch = reply.json["batch"].as_str().unwrap().to_owned();
    server.wait_completed(&dataset, &batch);
    let records = server.full_text(&dataset, "gryphonesque weathervane");
    assert_eq!(
        record_documents(&records).first(),
        Some(&faq),
        "{records:?}"
    );
    assert_eq!(records[0]["segment"]["document"]["name"], "replacement.md");
    let records = server.retrieve(
        &dataset,
        "Olbers paradox dark night sky",
        model("hybrid_search", 3),
    );
    assert_eq!(
        record_documents(&records).first(),
        Some(&id_of("articles.jsonl")),
        "{records:?}"
    );
}

// 4. Documents, metadata, statuses and segments through their whole life.
#[test]
fn document_lifecycle() {
    let server = TestServer::start();
    let dataset = server.create_dataset("lifecycle");
    let ds = format!("/v1/datasets/{dataset}");

    // create-by-text answers at once with the queued document and its batch.
    let (status, created) = server.post_json(
        &format!("{ds}/document/create-by-text"),
        &json!({"name": "bees-guide.txt", "text": fixture_text("docs/guide.txt"),
                "indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}}),
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        created["document"]["indexing_status"], "waiting",
        "{created}"
    );
    assert_eq!(
        created["document"]["display_status"], "queuing",
        "{created}"
    );
    assert_eq!(created["document"]["created_from"], "api", "{created}");
    assert_eq!(created["document"]["name"], "bees-guide.txt", "{created}");
    let bees = created["document"]["id"].as_str().unwrap().to_owned();
    let bees_batch = created["batch"].as_str().unwrap().to_owned();
    assert!(!bees_batch.is_empty());
    // Later documents reuse the dataset's rule and technique.
    let mut later = Vec::new();
    for (name, text) in [
        ("rag-notes.md", fixture_text("docs/notes.md")),
        (
            "bread.txt",
            "Sourdough bread relies on a starter of wild yeast and lactobacilli. Feed the starter with \
             flour and water every day, and bake when it doubles within a few hours."
                .to_owned(),
        ),
        (
            "tides.txt",
            "Ocean tides are caused by the gravitational pull of the Moon and the Sun on the oceans. \
             Spring tides follow the full and new moon; neap tides follow the quarter moons."
                .to_owned(),
        ),
    ] {
        let (status, body) = server.post_json(
            &format!("{ds}/document/create-by-text"),
            &json!({"name": name, "text": text}),
        );
        assert_eq!(status, 200, "{name}: {body}");
        later.push((
            body["document"]["id"].as_str().unwrap().to_owned(),
            body["batch"].as_str().unwrap().to_owned(),
        ));
    }
    let status = server.wait_completed(&dataset, &bees_batch);
    assert_eq!(status["id"], bees.as_str());
    for (_, batch) in &later {
        server.wait_completed(&dataset, batch);
    }
    let notes = later[0].0.clone();
    let bread = later[1].0.clone();
    let tides = later[2].0.clone();

    // Every search method finds the guide first.
    for retrieval_model in [
        model("semantic_search", 3),
        model("full_text_search", 3),
        model("keyword_search", 3),
        model("hybrid_search", 3),
        json!({"search_method": "hybrid_search", "reranking_enable": false, "top_k": 3,
               "score_threshold_enabled": false, "fusion": "rrf"}),
        json!({"search_method": "hybrid_search", "reranking_enable": true,
               "reranking_mode": "weighted_score", "top_k": 3, "score_threshold_enabled": false,
               "weights": {"weight_type": "customized",
                           "vector_setting": {"vector_weight": 0.7, "embedding_provider_name": "",
                                              "embedding_model_name": ""},
                           "keyword_setting": {"keyword_weight": 0.3}}}),
    ] {
        let (status, body) = server.post_json(
            &format!("{ds}/retrieve"),
            &json!({"query": BEES_QUERY, "retrieval_model": retrieval_model}),
        );
        assert_eq!(status, 200, "{retrieval_model}: {body}");
        assert_eq!(body["query"]["content"], BEES_QUERY);
        let records = body["records"].as_array().unwrap();
        assert!(
            !records.is_empty() && records.len() <= 3,
            "{retrieval_model}: {body}"
        );
        assert_eq!(
            record_documents(records)[0],
            bees,
            "{retrieval_model}: {body}"
        );
        let scores: Vec<f64> = records
            .iter()
            .map(|r| r["score"].as_f64().unwrap())
            .collect();
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{scores:?}");
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "not sorted: {scores:?}"
        );
        let record = &records[0];
        assert_eq!(record["segment"]["document"]["name"], "bees-guide.txt");
        assert_eq!(record["child_chunks"], json!([]));
        assert_eq!(record["files"], json!([]));
        assert_eq!(record["tsne_position"], Value::Null);
        assert!(
            record.get("explain").is_none(),
            "explain only when asked: {record}"
        );
    }
    // The dataset's stored model applies when the request has none (Dify's default: semantic).
    let records = server.retrieve(&dataset, BEES_QUERY, Value::Null);
    assert_eq!(record_documents(&records)[0], bees);
    assert!(records.len() <= 4, "Dify's default top_k is 4: {records:?}");
    let (status, body) = server.post_json(
        &format!("{ds}/retrieve"),
        &json!({"query": BEES_QUERY, "retrieval_model": model("hybrid_search", 2), "explain": true}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["records"][0]["explain"].is_object(), "{body}");

    // Metadata: a field, values on documents, filters.
    let (status, field) = server.post_json(
        &format!("{ds}/metadata"),
        &json!({"type": "string", "name": "topic"}),
    );
    assert_eq!(status, 201, "{field}");
    assert_eq!(
        (field["name"].as_str(), field["type"].as_str()),
        (Some("topic"), Some("string"))
    );
    let field_id = field["id"].as_str().unwrap().to_owned();
    let got = server.post_json(
        &format!("{ds}/metadata"),
        &json!({"type": "string", "name": "topic"}),
    );
    assert_eq!(got.0, 400, "a duplicate field name: {}", got.1);
    let set = |doc: &str, value: &str| json!({"document_id": doc, "metadata_list": [{"id": field_id, "name": "topic", "value": value}]});
    let (status, body) = server.post_json(
        &format!("{ds}/documents/metadata"),
        &json!({"operation_data": [set(&bees, "insects"), set(&notes, "ml"), set(&bread, "food")]}),
    );
    assert_eq!(
        (status, body.clone()),
        (200, json!({"result": "success"})),
        "{body}"
    );
    let (status, fields) = server.get(&format!("{ds}/metadata"));
    assert_eq!(status, 200, "{fields}");
    assert_eq!(fields["doc_metadata"][0]["name"], "topic", "{fields}");
    assert_eq!(fields["doc_metadata"][0]["count"], 3, "{fields}");
    let filtered = |operator: &str, value: Value| {
        let mut m = model("hybrid_search", 5);
        m["metadata_filtering_conditions"] = json!({"logical_operator": "and",
            "conditions": [{"name": "topic", "comparison_operator": operator, "value": value}]});
        record_documents(&server.retrieve(&dataset, BEES_QUERY, m))
    };
    let only_ml = filtered("is", json!("ml"));
    assert!(
        !only_ml.is_empty() && only_ml.iter().all(|d| *d == notes),
        "{only_ml:?}"
    );
    let not_ml = filtered("is not", json!("ml"));
    assert_eq!(not_ml.first(), Some(&bees), "{not_ml:?}");
    assert!(!not_ml.contains(&notes), "{not_ml:?}");
    let some = filtered("in", json!(["insects", "food"]));
    assert_eq!(some.first(), Some(&bees), "{some:?}");
    assert!(some.iter().all(|d| *d == bees || *d == bread), "{some:?}");
    let records = server.retrieve(&dataset, BEES_QUERY, model("semantic_search", 1));
    assert_eq!(
        records[0]["segment"]["document"]["doc_metadata"],
        json!({"topic": "insects"})
    );

    // Listing: paging, keyword, status.
    let list = |query: &str| {
        let (status, body) = server.get(&format!("{ds}/documents?{query}"));
        assert_eq!(status, 200, "{query}: {body}");
        body
    };
    let page1 = list("page=1&limit=2");
    assert_eq!(
        (
            &page1["page"],
            &page1["limit"],
            &page1["total"],
            &page1["has_more"]
        ),
        (&json!(1), &json!(2), &json!(4), &json!(true)),
        "{page1}"
    );
    let page2 = list("page=2&limit=2");
    assert_eq!(
        (&page2["page"], &page2["has_more"]),
        (&json!(2), &json!(false)),
        "{page2}"
    );
    let mut ids: Vec<String> = [&page1, &page2]
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().iter())
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut all = vec![bees.clone(), notes.clone(), bread.clone(), tides.clone()];
    all.sort();
    assert_eq!(ids, all, "the two pages hold every document once");
    assert_eq!(list("page=3&limit=2")["data"], json!([]));
    let default = list("");
    assert_eq!(
        (&default["page"], &default["limit"]),
        (&json!(1), &json!(20)),
        "{default}"
    );
    let keyword = list("keyword=bees");
    assert_eq!(keyword["total"], 1, "{keyword}");
    assert_eq!(keyword["data"][0]["id"], bees.as_str());
    assert_eq!(list("status=available")["total"], 4);
    assert_eq!(list("status=queuing")["total"], 0);
    assert_eq!(list("status=disabled")["total"], 0);
    let got = server.get(&format!("{ds}/documents?status=bogus"));
    assert_error(&got, 400, "invalid_param", None);

    // One document: all, only its metadata, without it.
    let (status, detail) = server.get(&format!("{ds}/documents/{bees}"));
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["name"], "bees-guide.txt");
    assert_eq!(detail["doc_metadata"][0]["value"], "insects", "{detail}");
    assert!(detail["segment_count"].as_u64().unwrap() > 0, "{detail}");
    let (status, only) = server.get(&format!("{ds}/documents/{bees}?metadata=only"));
    assert_eq!(status, 200, "{only}");
    assert_eq!(only["id"], bees.as_str());
    assert_eq!(only["doc_metadata"][0]["name"], "topic", "{only}");
    assert!(
        only.get("name").is_none(),
        "metadata=only has no other fields: {only}"
    );
    let (status, without) = server.get(&format!("{ds}/documents/{bees}?metadata=without"));
    assert_eq!(status, 200, "{without}");
    assert_eq!(without["name"], "bees-guide.txt");
    assert!(without.get("doc_metadata").is_none(), "{without}");
    assert_error(
        &server.get(&format!("{ds}/documents/{bees}?metadata=bogus")),
        400,
        "invalid_param",
        None,
    );

    // update-by-text changes what retrieval finds.
    assert_eq!(
        record_documents(&server.full_text(&dataset, "sourdough starter")).first(),
        Some(&bread)
    );
    let (status, updated) = server.post_json(
        &format!("{ds}/documents/{bread}/update-by-text"),
        &json!({"name": "spices.txt", "text": "Zanzibar's spice markets sell cloves, nutmeg and cinnamon bark \
                 harvested on the island's plantations."}),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["document"]["id"], bread.as_str());
    let batch = updated["batch"].as_str().unwrap().to_owned();
    server.wait_completed(&dataset, &batch);
    assert!(!record_documents(&server.full_text(&dataset, "sourdough starter")).contains(&bread));
    assert_eq!(
        record_documents(&server.full_text(&dataset, "Zanzibar cloves")).first(),
        Some(&bread)
    );
    assert_eq!(
        server.get(&format!("{ds}/documents/{bread}")).1["name"],
        "spices.txt"
    );
    let got = server.post_json(
        &format!("{ds}/documents/{bread}/update-by-text"),
        &json!({"text": "text without a name"}),
    );
    assert_error(&got, 400, "invalid_param", None);

    // Disable / enable.
    let bees_found = || {
        record_documents(&server.full_text(&dataset, "honey bees cluster winter")).contains(&bees)
    };
    assert!(bees_found());
    let status_path = |action: &str| format!("{ds}/documents/status/{action}");
    let (status, body) =
        server.patch_json(&status_path("disable"), &json!({"document_ids": [bees]}));
    assert_eq!(
        (status, body.clone()),
        (200, json!({"result": "success"})),
        "{body}"
    );
    assert!(!bees_found(), "a disabled document is still retrieved");
    assert!(
        !record_documents(&server.retrieve(&dataset, BEES_QUERY, model("semantic_search", 4)))
            .contains(&bees)
    );
    assert_eq!(list("status=disabled")["total"], 1);
    assert_eq!(
        server.get(&format!("{ds}/documents/{bees}")).1["display_status"],
        "disabled"
    );
    let (status, body) =
        server.patch_json(&status_path("enable"), &json!({"document_ids": [bees]}));
    assert_eq!(status, 200, "{body}");
    assert!(bees_found(), "an enabled document is not retrieved");

    // Archive: not retrieved, not deletable; un_archive brings it back.
    let tides_found = || {
        record_documents(&server.full_text(&dataset, "tides gravitational moon")).contains(&tides)
    };
    assert!(tides_found());
    let (status, body) =
        server.patch_json(&status_path("archive"), &json!({"document_ids": [tides]}));
    assert_eq!(status, 200, "{body}");
    assert!(!tides_found(), "an archived document is still retrieved");
    assert_eq!(list("status=archived")["total"], 1);
    let got = server.delete(&format!("{ds}/documents/{tides}"));
    assert_error(&got, 403, "archived_document_immutable", None);
    let got = server.post_json(
        &format!("{ds}/documents/{tides}/update-by-text"),
        &json!({"name": "tides.txt", "text": "new text"}),
    );
    assert_error(&got, 403, "archived_document_immutable", None);
    let (status, body) = server.patch_json(
        &status_path("un_archive"),
        &json!({"document_ids": [tides]}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(tides_found());
    let got = server.patch_json(&status_path("bogus"), &json!({"document_ids": [tides]}));
    assert_eq!(got.0, 400, "{}", got.1);

    // Delete.
    let (status, body) = server.delete(&format!("{ds}/documents/{tides}"));
    assert_eq!((status, body), (204, Value::Null));
    assert_error(
        &server.get(&format!("{ds}/documents/{tides}")),
        404,
        "not_found",
        Some("Document not found."),
    );
    assert!(!tides_found(), "a deleted document is still retrieved");
    assert_eq!(list("")["total"], 3);
    assert_error(
        &server.delete(&format!("{ds}/documents/{tides}")),
        404,
        "not_found",
        None,
    );

    // Segments.
    let segments_path = format!("{ds}/documents/{bees}/segments");
    let (status, segments) = server.get(&segments_path);
    assert_eq!(status, 200, "{segments}");
    assert_eq!(segments["doc_form"], "text_model");
    let count = segments["total"].as_u64().unwrap();
    assert!(
        count > 0 && segments["data"].as_array().unwrap().len() as u64 == count.min(20),
        "{segments}"
    );
    assert_eq!(segments["page"], 1);
    let (status, created) = server.post_json(
        &segments_path,
        &json!({"segments": [{"content": "The zorblaxian lantern festival glows over Lake Quimbly every spring.",
                               "keywords": ["zorblaxian"]}]}),
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["doc_form"], "text_model");
    let segment = created["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"][0]["status"], "completed", "{created}");
    let finds =
        |query: &str| record_segments(&server.full_text(&dataset, query)).contains(&segment);
    assert!(
        finds("zorblaxian lantern"),
        "a new segment is not retrieved"
    );
    assert_eq!(
        server.get(&segments_path).1["total"].as_u64(),
        Some(count + 1)
    );
    let segment_path = format!("{segments_path}/{segment}");
    let (status, got) = server.get(&segment_path);
    assert_eq!(status, 200, "{got}");
    assert!(
        got["data"]["content"]
            .as_str()
            .unwrap()
            .contains("zorblaxian")
    );
    let (status, updated) = server.post_json(
        &segment_path,
        &json!({"segment": {"content": "The flumberwick regatta sails across Lake Quimbly each autumn."}}),
    );
    assert_eq!(status, 200, "{updated}");
    assert!(
        updated["data"]["content"]
            .as_str()
            .unwrap()
            .contains("flumberwick")
    );
    assert!(
        !finds("zorblaxian lantern"),
        "the old content of an updated segment is still found"
    );
    assert!(
        finds("flumberwick regatta"),
        "the new content of an updated segment is not found"
    );
    let (status, body) = server.post_json(&segment_path, &json!({"segment": {"enabled": false}}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["enabled"], false, "{body}");
    assert!(
        !finds("flumberwick regatta"),
        "a disabled segment is still found"
    );
    let (status, body) = server.post_json(&segment_path, &json!({"segment": {"enabled": true}}));
    assert_eq!(status, 200, "{body}");
    assert!(
        finds("flumberwick regatta"),
        "a re-enabled segment is not found"
    );
    let (status, body) = server.delete(&segment_path);
    assert_eq!((status, body), (204, Value::Null));
    assert_error(
        &server.get(&segment_path),
        404,
        "not_found",
        Some("Segment not found."),
    );
    assert!(
        !finds("flumberwick regatta"),
        "a deleted segment is still found"
    );
    let got = server.post_json(&segments_path, &json!({"segments": []}));
    assert_error(&got, 400, "invalid_param", None);

    // Deleting the dataset.
    let (status, body) = server.delete(&ds);
    assert_eq!((status, body), (204, Value::Null));
    assert_error(&server.get(&ds), 404, "not_found", Some(DATASET_NOT_FOUND));
    assert_error(
        &server.post_json(&format!("{ds}/retrieve"), &json!({"query": "bees"})),
        404,
        "not_found",
        Some(DATASET_NOT_FOUND),
    );
    assert_error(
        &server.delete(&ds),
        404,
        "not_found",
        Some(DATASET_NOT_FOUND),
    );
    // The name is free again.
    server.create_dataset("lifecycle");
}

// 5a. Load shedding: over the concurrency limit, 429 at once, never 5xx.
#[test]
fn load_is_shed_with_429() {
    let server = TestServer::builder()
        .env("RAGD__SERVER__MAX_CONCURRENT_REQUESTS", 1)
        .start();
    let dataset = server.create_dataset("shed");
    let (_, batch) =
        server.create_text_document(&dataset, "guide.txt", &fixture_text("docs/guide.txt"));
    server.wait_completed(&dataset, &batch);

    let mut statuses = Vec::new();
    for _round in 0..3 {
        let threads = 20;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = barrier.clone();
                let base = server.base.clone();
                let key = server.key.clone();
                let path = format!("/v1/datasets/{dataset}/retrieve");
                std::thread::spawn(move || {
                    let agent = support::agent();
                    let req = Req::new("POST", path).json(&json!({
                        "query": BEES_QUERY, "retrieval_model": model("hybrid_search", 4)}));
                    barrier.wait();
                    support::send(&agent, &base, &key, &req)
                })
            })
            .collect();
        statuses.extend(handles.into_iter().map(|h| h.join().unwrap()));
        if statuses.iter().any(|r| r.status == 429) {
            break;
        }
    }
    for reply in &statuses {
        match reply.status {
            200 => assert!(
                reply.json["records"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty()),
                "{}",
                reply.text
            ),
            429 => assert_error(&(429, reply.json.clone()), 429, "too_many_requests", None),
            other => panic!("a retrieve under load got {other}: {}", reply.text),
        }
    }
    let shed = statuses.iter().filter(|r| r.status == 429).count();
    assert!(
        shed > 0,
        "no request was shed with max_concurrent_requests = 1"
    );
    assert!(
        statuses.iter().any(|r| r.status == 200),
        "every request was shed"
    );
    // The probes answer whatever the load.
    assert_eq!(
        server
            .send(&Req::new("GET", "/ready").auth(Auth::None))
            .status,
        200
    );

    // A request in flight (its body not yet all sent) holds the only slot: other API requests are refused
    // at once, whatever their route; the probes still answer; the held request then completes.
    let retrieve_path = format!("/v1/datasets/{dataset}/retrieve");
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = json!({"query": BEES_QUERY}).to_string();
    let (head, tail) = body.split_at(5);
    let hold = || {
        let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            stalled,
            "POST {retrieve_path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
            server.key,
            body.len()
        )
        .unwrap();
        stalled.flush().unwrap();
        stalled
    };
    let mut stalled = hold();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let got = server.post_json(&retrieve_path, &json!({"query": "bees"}));
        if got.0 == 429 {
            assert_error(&got, 429, "too_many_requests", None);
            break;
        }
        assert_eq!(got.0, 200, "{}", got.1);
        assert!(
            Instant::now() < deadline,
            "a request in flight does not hold the concurrency slot"
        );
        // The probe may have been served before the held request arrived; then hold it again.
        stalled = hold();
    }
    stalled
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let other_routes: Vec<(String, u16, Value)> = [
        "/v1/datasets".to_owned(),
        format!("/v1/datasets/{dataset}"),
        format!("/v1/datasets/{dataset}/documents"),
    ]
    .into_iter()
    .map(|path| {
        let reply = server.send(&Req::new("GET", path.as_str()));
        (path, reply.status, reply.json)
    })
    .collect();
    for path in ["/health", "/ready", "/metrics"] {
        assert_eq!(
            server.send(&Req::new("GET", path).auth(Auth::None)).status,
            200,
            "{path}"
        );
    }
    stalled.write_all(tail.as_bytes()).unwrap();
    let mut response = String::new();
    stalled.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "the held request: {response}"
    );
    assert_eq!(
        server
            .post_json(&retrieve_path, &json!({"query": "bees"}))
            .0,
        200
    );
    for (path, status, body) in other_routes {
        assert_eq!(
            (status, body["code"].as_str()),
            (429, Some("too_many_requests")),
            "GET {path} while another request held the only slot (max_concurrent_requests = 1): {status} {body}"
        );
    }
}

// 5b. Deleting documents of a dataset while it is being indexed: the first victim is the document being
// indexed (400 document_indexing until it is done), the second is queued behind it (its delete waits for
// the indexing group). Every answer is 204, 400 or 404, never 5xx; the other documents complete.
#[test]
fn concurrent_deletes_during_indexing() {
    let server = TestServer::start();
    let dataset = server.create_dataset("churn");
    let plan = [
        ("quillwortia", 80_000, true),
        ("marramgrassa", 60_000, false),
        ("saltwortium", 20_000, true),
        ("glasswortel", 20_000, false),
    ];
    let docs: Vec<(String, String)> = plan
        .iter()
        .map(|(marker, bytes, _)| {
            server.create_text_document(
                &dataset,
                &format!("{marker}.txt"),
                &large_text(marker, *bytes),
            )
        })
        .collect();

    // Two threads per victim, deleting until the document is gone.
    let handles: Vec<_> = plan
        .iter()
        .zip(&docs)
        .filter(|((_, _, victim), _)| *victim)
        .flat_map(|(_, (id, _))| [id.clone(), id.clone()])
        .map(|victim| {
            let base = server.base.clone();
            let key = server.key.clone();
            let path = format!("/v1/datasets/{dataset}/documents/{victim}");
            std::thread::spawn(move || {
                let agent = support::agent();
                let mut replies = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let reply =
                        support::send(&agent, &base, &key, &Req::new("DELETE", path.as_str()));
                    let status = reply.status;
                    replies.push(reply);
                    if status == 404 || Instant::now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                (victim, replies)
            })
        })
        .collect();
    let mut deleted: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    for handle in handles {
        let (victim, replies) = handle.join().unwrap();
        for reply in &replies {
            seen.push(reply.status);
            match reply.status {
                204 => deleted.push(victim.clone()),
                400 => assert_error(&(400, reply.json.clone()), 400, "document_indexing", None),
                404 => assert_error(
                    &(404, reply.json.clone()),
                    404,
                    "not_found",
                    Some("Document not found."),
                ),
                other => panic!("DELETE during indexing got {other}: {}", reply.text),
            }
        }
        assert_eq!(
            replies.last().map(|r| r.status),
            Some(404),
            "{victim} was never deleted"
        );
    }
    let count = |status: u16| seen.iter().filter(|s| **s == status).count();
    eprintln!(
        "DELETE answers during indexing: {} × 204, {} × 400, {} × 404",
        count(204),
        count(400),
        count(404)
    );
    deleted.sort();
    let mut victims: Vec<String> = plan
        .iter()
        .zip(&docs)
        .filter(|((_, _, victim), _)| *victim)
        .map(|(_, (id, _))| id.clone())
        .collect();
    victims.sort();
    assert_eq!(
        deleted, victims,
        "exactly one delete of each victim succeeds: {seen:?}"
    );

    for ((marker, _, victim), (id, batch)) in plan.iter().zip(&docs) {
        if *victim {
            continue;
        }
        server.wait_completed(&dataset, batch);
        let found = record_documents(&server.full_text(&dataset, marker));
        assert_eq!(found.first(), Some(id), "{marker}: {found:?}");
    }
    // The deleted documents never come back (checked again after the indexing groups are over).
    for _ in 0..3 {
        for ((marker, _, victim), (id, batch)) in plan.iter().zip(&docs) {
            if !*victim {
                continue;
            }
            assert!(
                server.full_text(&dataset, marker).is_empty(),
                "the deleted {marker} is retrieved"
            );
            let found = record_documents(&server.retrieve(
                &dataset,
                BEES_QUERY,
                model("hybrid_search", 10),
            ));
            assert!(
                !found.contains(id),
                "the deleted {marker} is retrieved: {found:?}"
            );
            assert_error(
                &server.get(&format!("/v1/datasets/{dataset}/documents/{id}")),
                404,
                "not_found",
                Some("Document not found."),
            );
            assert_error(
                &server.get(&format!(
                    "/v1/datasets/{dataset}/documents/{batch}/indexing-status"
                )),
                404,
                "not_found",
                Some("Documents not found."),
            );
        }
        let (_, list) = server.get(&format!("/v1/datasets/{dataset}/documents"));
        assert_eq!(list["total"], 2, "{list}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let (_, dataset_view) = server.get(&format!("/v1/datasets/{dataset}"));
    assert_eq!(dataset_view["document_count"], 2, "{dataset_view}");
}

// 5c. Jobs survive a restart: SIGTERM right after creating documents, then a new server finishes them.
#[test]
fn indexing_jobs_survive_a_restart() {
    let server = TestServer::builder()
        .env("RAGD__SERVER__WORKERS", 1)
        .env("RAGD__INDEXING__GROUP_DOCUMENTS", 1)
        .start();
    let dataset = server.create_dataset("restart");
    let markers = ["ptarmiganite", "wolverinox", "lemmingford", "snowyowlish"];
    let docs: Vec<(String, String)> = markers
        .iter()
        .enumerate()
        .map(|(i, marker)| {
            let bytes = if i == 0 { 40_000 } else { 12_000 };
            server.create_text_document(
                &dataset,
                &format!("{marker}.txt"),
                &large_text(marker, bytes),
            )
        })
        .collect();
    let (status, before) = server.get(&format!("/v1/datasets/{dataset}"));
    assert_eq!(status, 200, "{before}");
    let version_before = before["version"]
        .as_i64()
        .expect("the dataset view has a version");
    let stopped = server.stop(Duration::from_secs(90));
    assert!(
        stopped.status.success(),
        "ragd serve exited with {} after SIGTERM",
        stopped.status
    );

    // Some documents were left for the next start (else the test proves nothing).
    let db = stopped.data_dir.join("ragd.sqlite3");
    let completed: u64 = {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("the store opens");
        conn.query_row(
            "SELECT count(*) FROM documents WHERE indexing_status = 'completed'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(
        completed < markers.len() as u64,
        "every document completed before the stop; nothing was left to resume"
    );

    let server = stopped.restart(&[]);
    for (i, (id, batch)) in docs.iter().enumerate() {
        server.wait_completed(&dataset, batch);
        let found = record_documents(&server.full_text(&dataset, markers[i]));
        assert_eq!(found.first(), Some(id), "{}: {found:?}", markers[i]);
    }
    let (status, after) = server.get(&format!("/v1/datasets/{dataset}"));
    assert_eq!(status, 200, "{after}");
    let version_after = after["version"].as_i64().unwrap();
    assert!(
        version_after > version_before,
        "version {version_before} → {version_after}"
    );
    assert_eq!(after["document_count"], markers.len(), "{after}");
}

// 6. Dify's External Knowledge API.
#[test]
fn external_knowledge_api() {
    let server = TestServer::start();
    let dataset = server.create_dataset("external-kb");
    let (bees, b1) =
        server.create_text_document(&dataset, "bees-guide.txt", &fixture_text("docs/guide.txt"));
    let (notes, b2) =
        server.create_text_document(&dataset, "rag-notes.md", &fixture_text("docs/notes.md"));
    server.wait_completed(&dataset, &b1);
    server.wait_completed(&dataset, &b2);
    let (status, field) = server.post_json(
        &format!("/v1/datasets/{dataset}/metadata"),
        &json!({"type": "string", "name": "topic"}),
    );
    assert_eq!(status, 201, "{field}");
    let field_id = field["id"].as_str().unwrap();
    let (status, body) = server.post_json(
        &format!("/v1/datasets/{dataset}/documents/metadata"),
        &json!({"operation_data": [
            {"document_id": bees, "metadata_list": [{"id": field_id, "name": "topic", "value": "insects"}]},
            {"document_id": notes, "metadata_list": [{"id": field_id, "name": "topic", "value": "ml"}]},
        ]}),
    );
    assert_eq!(status, 200, "{body}");

    let request = |knowledge_id: &str, top_k: u32, threshold: f64| {
        json!({"knowledge_id": knowledge_id, "query": BEES_QUERY,
               "retrieval_setting": {"top_k": top_k, "score_threshold": threshold}})
    };
    let post = |path: &str, auth: Auth, body: &Value| {
        let reply = server.send(&Req::new("POST", path).auth(auth).json(body));
        (reply.status, reply.json)
    };
    for knowledge_id in [dataset.as_str(), "external-kb"] {
        for path in ["/retrieval", "/external/retrieval"] {
            let (status, body) = post(path, Auth::Key, &request(knowledge_id, 3, 0.0));
            assert_eq!(status, 200, "{path} {knowledge_id}: {body}");
            let records = body["records"].as_array().unwrap();
            assert!(!records.is_empty() && records.len() <= 3, "{body}");
            for record in records {
                assert!(
                    record["content"].as_str().is_some_and(|c| !c.is_empty()),
                    "{record}"
                );
                assert!(
                    record["score"]
                        .as_f64()
                        .is_some_and(|s| (0.0..=1.0).contains(&s)),
                    "{record}"
                );
                assert!(record["title"].is_string(), "{record}");
                assert!(
                    record["metadata"].is_object(),
                    "metadata must be an object: {record}"
                );
            }
            assert_eq!(records[0]["title"], "bees-guide.txt", "{body}");
            assert_eq!(records[0]["metadata"]["topic"], "insects", "{body}");
        }
    }
    let (status, body) = post("/retrieval", Auth::Key, &request(&dataset, 1, 0.0));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"].as_array().unwrap().len(), 1, "{body}");
    let (status, body) = post("/retrieval", Auth::Key, &request(&dataset, 5, 0.99));
    assert_eq!(status, 200, "{body}");
    assert!(
        body["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["score"].as_f64().unwrap() >= 0.99),
        "{body}"
    );
    let (status, body) = post("/retrieval", Auth::Key, &request(&dataset, 5, 1.0));
    assert_eq!(status, 200, "{body}");
    assert!(body["records"].is_array(), "{body}");

    // metadata_condition filters.
    let mut filtered = request(&dataset, 5, 0.0);
    filtered["metadata_condition"] = json!({"logical_operator": "and",
        "conditions": [{"name": "topic", "comparison_operator": "is", "value": "ml"}]});
    let (status, body) = post("/retrieval", Auth::Key, &filtered);
    assert_eq!(status, 200, "{body}");
    let records = body["records"].as_array().unwrap();
    assert!(!records.is_empty(), "{body}");
    assert!(
        records
            .iter()
            .all(|r| r["title"] == "rag-notes.md" && r["metadata"]["topic"] == "ml"),
        "{body}"
    );

    // Errors in the External Knowledge API's own shape.
    let external_error = |got: (u16, Value), status: u16, code: u64| {
        assert_eq!(got.0, status, "{}", got.1);
        assert_eq!(got.1["error_code"], code, "{}", got.1);
        assert!(got.1["error_msg"].is_string(), "{}", got.1);
    };
    for knowledge_id in ["6f1c1a0e-2a8b-4c3d-9e4f-0123456789ab", "no-such-knowledge"] {
        external_error(
            post("/retrieval", Auth::Key, &request(knowledge_id, 3, 0.0)),
            404,
            2001,
        );
    }
    for auth in [
        Auth::None,
        Auth::Header("Basic abc".into()),
        Auth::Header(server.key.clone()),
    ] {
        external_error(
            post("/retrieval", auth, &request(&dataset, 3, 0.0)),
            403,
            1001,
        );
    }
    external_error(
        post(
            "/retrieval",
            Auth::Header("Bearer dataset-NoSuchKeyNoSuchKeyNoSuchK".into()),
            &request(&dataset, 3, 0.0),
        ),
        403,
        1002,
    );
    // A key scoped to another dataset does not see this knowledge base.
    let other = server.create_dataset("other-kb");
    let scoped = create_key(&server.data_dir, "other-only", &[other.as_str()]);
    external_error(
        post(
            "/retrieval",
            Auth::Header(format!("Bearer {}", scoped["key"].as_str().unwrap())),
            &request(&dataset, 3, 0.0),
        ),
        404,
        2001,
    );
}

// 7. Metrics, request ids, readiness, OpenAPI, embeddings.
#[test]
fn observability_endpoints() {
    let server = TestServer::start();
    let dataset = server.create_dataset("observed");
    let (_, batch) =
        server.create_text_document(&dataset, "guide.txt", &fixture_text("docs/guide.txt"));
    server.wait_completed(&dataset, &batch);
    server.retrieve(&dataset, BEES_QUERY, model("hybrid_search", 3));
    server.retrieve(&dataset, BEES_QUERY, model("semantic_search", 3));

    // Request ids: generated, or echoed when the client sends one.
    let reply = server.send(&Req::new("GET", format!("/v1/datasets/{dataset}")));
    assert_eq!(reply.status, 200);
    let id = reply
        .header("x-request-id")
        .expect("x-request-id on an API answer");
    assert!(!id.is_empty());
    let reply = server.send(&Req::new("GET", "/v1/datasets").auth(Auth::None));
    assert_eq!(reply.status, 401);
    assert!(
        reply.header("x-request-id").is_some(),
        "x-request-id on a 401"
    );
    let reply = server.send(&Req::new("GET", "/health").header("x-request-id", "test-request-42"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-request-id"), Some("test-request-42"));

    let reply = server.send(&Req::new("GET", "/ready").auth(Auth::None));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["status"], "ready", "{}", reply.text);
    let reply = server.send(&Req::new("GET", "/health").auth(Auth::None));
    assert_eq!(reply.json["status"], "ok", "{}", reply.text);

    let reply = server.send(&Req::new("GET", "/openapi.json").auth(Auth::None));
    assert_eq!(reply.status, 200);
    assert!(
        reply.json["openapi"].is_string(),
        "{}",
        &reply.text[..reply.text.len().min(300)]
    );
    assert!(reply.json["paths"].is_object());

    let (status, body) = server.post_json("/v1/embeddings", &json!({"input": "x"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"][0]["embedding"].as_array().map(Vec::len),
        Some(384),
        "{body}"
    );
    let (status, body) = server.post_json("/v1/embeddings", &json!({"input": ["a", "b"]}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(2), "{body}");
    let reply = server.send(
        &Req::new("POST", "/v1/embeddings")
            .auth(Auth::None)
            .json(&json!({"input": "x"})),
    );
    assert_eq!(reply.status, 401, "embeddings need a key");

    let reply = server.send(&Req::new("GET", "/metrics").auth(Auth::None));
    assert_eq!(reply.status, 200);
    let metrics = reply.text;
    let has_line = |parts: &[&str]| {
        metrics
            .lines()
            .any(|l| !l.starts_with('#') && parts.iter().all(|p| l.contains(p)))
    };
    assert!(
        has_line(&[
            "ragd_http_requests_total{",
            "route=\"/v1/datasets/{dataset_id}/retrieve\"",
            "status=\"200\"",
            "method=\"POST\"",
        ]),
        "no request count of the retrieve route:\n{metrics}"
    );
    assert!(
        has_line(&["ragd_http_requests_total{", "status=\"401\""]),
        "no count of the 401:\n{metrics}"
    );
    for stage in ["embed", "bm25", "ann", "fusion", "hydrate"] {
        assert!(
            has_line(&["ragd_retrieve_stage_seconds", &format!("stage=\"{stage}\"")]),
            "no {stage} stage timing:\n{metrics}"
        );
    }
    assert!(
        has_line(&["ragd_indexing_queue_depth"]),
        "no queue depth:\n{metrics}"
    );
    assert!(
        has_line(&["ragd_embed_batch_size"]),
        "no embed batch sizes:\n{metrics}"
    );
    assert!(
        has_line(&["ragd_http_request_duration_seconds"]),
        "no request latencies:\n{metrics}"
    );
}
