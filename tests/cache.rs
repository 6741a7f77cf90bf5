//! The two-tier cache end to end: the real binary and model, real Redis servers started on free loopback
//! ports by the tests (never the machine's own on 6379), real HTTP.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::redis::RedisServer;
use support::{Req, TestServer};

const DOCS: &[(&str, &str)] = &[
    (
        "password.txt",
        "To reset your password, open Settings, choose Security and click Reset password. \
         A reset link is emailed to you and stays valid for one hour.",
    ),
    (
        "billing.txt",
        "Invoices are issued on the first day of each month. Download them as PDF from the Billing \
         page; the invoice lists every seat and add-on.",
    ),
    (
        "shipping.txt",
        "Orders ship within two business days. A tracking number is sent by email once the parcel \
         leaves the warehouse.",
    ),
];

const TWO_FACTOR: (&str, &str) = (
    "two-factor.txt",
    "Two-factor authentication protects your account: after your password, enter the one-time code \
     from your authenticator app. Turn it on under Settings, Security.",
);

fn hybrid() -> Value {
    json!({"search_method": "hybrid_search", "top_k": 3, "score_threshold_enabled": false})
}

/// Adds a text document and waits until it is searchable.
fn add_text(server: &TestServer, dataset: &str, (name, text): (&str, &str)) {
    let (status, body) = server.post_json(
        &format!("/v1/datasets/{dataset}/document/create-by-text"),
        &json!({"name": name, "text": text, "indexing_technique": "high_quality",
                "process_rule": {"mode": "automatic"}}),
    );
    assert_eq!(status, 200, "{body}");
    server.wait_completed(dataset, body["batch"].as_str().unwrap());
}

/// A server with the three documents in one dataset.
fn server_with_docs(builder: support::Builder) -> (TestServer, String) {
    let server = builder.start();
    let dataset = server.create_dataset("Help");
    for doc in DOCS {
        add_text(&server, &dataset, *doc);
    }
    (server, dataset)
}

/// One retrieval: (X-Ragd-Cache, body).
fn ask(
    server: &TestServer,
    dataset: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (String, Value) {
    let mut req = Req::new("POST", format!("/v1/datasets/{dataset}/retrieve")).json(&body);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let reply = server.send(&req);
    assert_eq!(reply.status, 200, "{}", reply.json);
    let label = reply
        .header("x-ragd-cache")
        .expect("every retrieval says where it came from")
        .to_owned();
    assert_eq!(
        reply.json["cache"]["hit"].as_bool(),
        Some(label.starts_with("l1") || label == "l2"),
        "{label}: {}",
        reply.json
    );
    (label, reply.json)
}

fn query(q: &str) -> Value {
    json!({"query": q, "retrieval_model": hybrid()})
}

fn names(body: &Value) -> Vec<String> {
    body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["segment"]["document"]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Records without what may differ between two computations of the same answer (nothing should).
fn records(body: &Value) -> Value {
    body["records"].clone()
}

fn stats(server: &TestServer) -> Value {
    let (status, body) = server.get("/cache/stats?secs=120");
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls until `done` holds (cross-process effects: pub/sub delivery, Redis writes in the background).
fn eventually(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn l1_exact_and_semantic_hits_controls_invalidation_and_monitoring() {
    let (server, dataset) =
        server_with_docs(TestServer::builder().env("RAGD__CACHE__SEMANTIC_THRESHOLD", "0.9"));

    // A miss computes and stores; the same query (any case or spacing) is an exact L1 hit with the
    // same records.
    let (label, first) = ask(&server, &dataset, query("How do I reset my password?"), &[]);
    assert_eq!(label, "miss");
    assert_eq!(first["cache"]["kind"], "miss");
    assert_eq!(names(&first)[0], "password.txt");
    let (label, again) = ask(
        &server,
        &dataset,
        query("  how do I   RESET my password? "),
        &[],
    );
    assert_eq!(label, "l1-exact");
    assert_eq!(again["cache"]["tier"], "l1");
    assert_eq!(
        again["query"]["content"],
        "  how do I   RESET my password? "
    );
    assert_eq!(records(&again), records(&first));

    // What normalization drops changes no result: the same query computed afresh (bypass) in another
    // case and spacing gives the same records and scores.
    let (label, fresh) = ask(
        &server,
        &dataset,
        query("HOW do i reset MY password?"),
        &[("Cache-Control", "no-store")],
    );
    assert_eq!(label, "bypass");
    assert_eq!(records(&fresh), records(&first));

    // A paraphrase is a semantic hit (same datasets and settings); an unrelated question is a miss.
    let (label, para) = ask(
        &server,
        &dataset,
        query("How can I reset my password?"),
        &[],
    );
    assert_eq!(label, "l1-semantic", "{para}");
    let similarity = para["cache"]["similarity"].as_f64().unwrap();
    assert!((0.9..1.0).contains(&similarity), "{similarity}");
    assert_eq!(records(&para), records(&first));
    let (label, _) = ask(
        &server,
        &dataset,
        query("How can I reset my password?"),
        &[],
    );
    assert_eq!(label, "l1-exact", "the semantic decision is remembered");
    let (label, billing) = ask(
        &server,
        &dataset,
        query("Where can I download my invoices?"),
        &[],
    );
    assert_eq!(label, "miss");
    assert_eq!(names(&billing)[0], "billing.txt");

    // Other settings are another group: no hit across them; keyword-only search has no semantic hits.
    let top1 = json!({"query": "How do I reset my password?",
                      "retrieval_model": {"search_method": "hybrid_search", "top_k": 1}});
    assert_eq!(ask(&server, &dataset, top1.clone(), &[]).0, "miss");
    assert_eq!(ask(&server, &dataset, top1, &[]).0, "l1-exact");
    let keyword = |q: &str| json!({"query": q, "retrieval_model": {"search_method": "full_text_search", "top_k": 3}});
    assert_eq!(
        ask(&server, &dataset, keyword("reset password"), &[]).0,
        "miss"
    );
    assert_eq!(
        ask(&server, &dataset, keyword("Reset  Password"), &[]).0,
        "l1-exact"
    );
    assert_eq!(
        ask(&server, &dataset, keyword("password reset"), &[]).0,
        "miss"
    );

    // Per-request control: refresh recomputes and stores, bypass neither reads nor stores.
    let (label, _) = ask(
        &server,
        &dataset,
        query("How do I reset my password?"),
        &[("Cache-Control", "no-cache")],
    );
    assert_eq!(label, "refresh");
    let mut body = query("a question never asked before");
    body["cache"] = json!("bypass");
    assert_eq!(ask(&server, &dataset, body.clone(), &[]).0, "bypass");
    body["cache"] = json!("use");
    assert_eq!(
        ask(&server, &dataset, body, &[]).0,
        "miss",
        "bypass stored nothing"
    );
    let mut bad = query("x");
    bad["cache"] = json!("sometimes");
    let reply =
        server.send(&Req::new("POST", format!("/v1/datasets/{dataset}/retrieve")).json(&bad));
    assert_eq!(reply.status, 400, "{}", reply.json);
    assert_eq!(reply.json["code"], "invalid_param");

    // Invalidation: a new document is searchable at once, and no answer computed before is served.
    let two_factor = query("How do I turn on two-factor authentication with a one-time code?");
    let (label, before) = ask(&server, &dataset, two_factor.clone(), &[]);
    assert_eq!(label, "miss");
    assert!(!names(&before).contains(&"two-factor.txt".to_owned()));
    assert_eq!(
        ask(&server, &dataset, two_factor.clone(), &[]).0,
        "l1-exact"
    );
    add_text(&server, &dataset, TWO_FACTOR);
    let (label, after) = ask(&server, &dataset, two_factor.clone(), &[]);
    assert_eq!(label, "miss", "the version moved: {after}");
    assert_eq!(names(&after)[0], "two-factor.txt");
    assert_eq!(
        ask(&server, &dataset, two_factor.clone(), &[]).0,
        "l1-exact"
    );

    // Disabling a document and editing a segment invalidate too.
    let doc_id = after["records"][0]["segment"]["document"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = server.patch_json(
        &format!("/v1/datasets/{dataset}/documents/status/disable"),
        &json!({"document_ids": [doc_id]}),
    );
    assert_eq!(status, 200, "{body}");
    let (label, disabled) = ask(&server, &dataset, two_factor.clone(), &[]);
    assert_eq!(label, "miss");
    assert!(!names(&disabled).contains(&"two-factor.txt".to_owned()));
    let segment = &first["records"][0]["segment"];
    let (status, body) = server.post_json(
        &format!(
            "/v1/datasets/{dataset}/documents/{}/segments/{}",
            segment["document"]["id"].as_str().unwrap(),
            segment["id"].as_str().unwrap()
        ),
        &json!({"segment": {"content": "Passwords are reset by the administrator on request."}}),
    );
    assert_eq!(status, 200, "{body}");
    let (label, edited) = ask(&server, &dataset, query("How do I reset my password?"), &[]);
    assert_eq!(label, "miss");
    assert_eq!(
        edited["records"][0]["segment"]["content"],
        "Passwords are reset by the administrator on request."
    );

    // The External Knowledge API and flows share the cache; the header says so there too.
    let external = json!({"knowledge_id": dataset, "query": "Where can I download my invoices?",
                          "retrieval_setting": {"top_k": 3, "score_threshold": 0.0}});
    let reply = server.send(&Req::new("POST", "/retrieval").json(&external));
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert!(reply.header("x-ragd-cache").is_some());

    // Monitoring: JSON figures per dataset, Prometheus counters, sizes.
    let figures = stats(&server);
    let mine = &figures["datasets"][&dataset];
    assert!(mine["l1_exact"].as_u64().unwrap() >= 6, "{figures}");
    assert_eq!(mine["l1_semantic"], 1, "{figures}");
    assert!(mine["misses"].as_u64().unwrap() >= 8, "{figures}");
    assert_eq!(mine["bypassed"], 2, "{figures}");
    assert!(figures["hit_ratio"].as_f64().unwrap() > 0.0);
    // Entries of older versions were dropped at each bump, not left to age out.
    assert!(figures["l1"]["entries"].as_u64().unwrap() >= 2, "{figures}");
    assert!(
        figures["l1"]["semantic_indexed"].as_u64().unwrap() >= 1,
        "{figures}"
    );
    assert_eq!(figures["l2_configured"], false);
    assert!(!figures["series"].as_array().unwrap().is_empty());
    let metrics = server.send(&Req::new("GET", "/metrics")).text;
    let exact =
        format!("ragd_cache_hits_total{{tier=\"l1\",kind=\"exact\",dataset=\"{dataset}\"}}");
    assert!(metrics.contains(&exact), "{metrics}");
    assert!(metrics.contains("ragd_cache_hits_total{tier=\"l1\",kind=\"semantic\""));
    assert!(metrics.contains(&format!("ragd_cache_misses_total{{dataset=\"{dataset}\"}}")));
    assert!(metrics.contains("ragd_cache_lookup_seconds_bucket"));
    assert!(metrics.contains("ragd_cache_l1_entries "), "{metrics}");

    // The page plots it in a real browser: the script ran, fetched the figures and drew the lines.
    let dom = support::browser::dump_dom(&server.url("/cache"), 4_000);
    assert!(dom.contains(r#"data-ready="yes""#), "{dom}");
    assert!(dom.contains(r#"data-series="hit_ratio""#), "{dom}");
    assert!(dom.contains(r#"data-series="hit_p50""#), "{dom}");
    assert!(dom.contains(&dataset), "the per-dataset table: {dom}");
}

#[test]
fn l1_entries_expire_and_are_evicted_by_size() {
    let (server, dataset) = server_with_docs(
        TestServer::builder()
            .env("RAGD__CACHE__L1_TTL_SECS", "1")
            .env("RAGD__CACHE__SEMANTIC_THRESHOLD", "0"),
    );
    assert_eq!(
        ask(&server, &dataset, query("reset my password"), &[]).0,
        "miss"
    );
    assert_eq!(
        ask(&server, &dataset, query("reset my password"), &[]).0,
        "l1-exact"
    );
    std::thread::sleep(Duration::from_millis(1_300));
    assert_eq!(
        ask(&server, &dataset, query("reset my password"), &[]).0,
        "miss",
        "expired"
    );
    drop(server);

    // A budget of about two entries: the oldest ones go, and the size stays within it.
    let budget = 12_000;
    let (server, dataset) = server_with_docs(
        TestServer::builder()
            .env("RAGD__CACHE__L1_MAX_BYTES", budget)
            .env("RAGD__CACHE__SEMANTIC_THRESHOLD", "0.99"),
    );
    let topics = [
        "invoices",
        "shipping",
        "passwords",
        "refunds",
        "pricing",
        "security",
        "exports",
        "teams",
        "billing cycles",
        "tracking numbers",
        "account deletion",
        "email settings",
    ];
    let questions: Vec<String> = topics
        .iter()
        .map(|t| format!("tell me about {t}"))
        .collect();
    for q in &questions {
        assert_eq!(ask(&server, &dataset, query(q), &[]).0, "miss");
    }
    let figures = stats(&server);
    let bytes = figures["l1"]["bytes"].as_u64().unwrap();
    let entries = figures["l1"]["entries"].as_u64().unwrap();
    assert!(bytes <= budget, "{figures}");
    assert!((1..12).contains(&entries), "evicted to fit: {figures}");
    let semantic = figures["l1"]["semantic_indexed"].as_u64().unwrap();
    assert_eq!(
        semantic, entries,
        "evictions leave the semantic index too: {figures}"
    );
    // Which entries stay is moka's choice (TinyLFU admission); the ones that left are misses again.
    let hits = questions
        .iter()
        .filter(|q| ask(&server, &dataset, query(q), &[]).0 == "l1-exact")
        .count();
    assert!(
        hits < questions.len(),
        "{hits} of {} still cached",
        questions.len()
    );
}

/// L2 alone (an L1 of 0 bytes): entries are read from Redis and expire there with their TTL.
#[test]
fn l2_entries_expire_with_their_ttl() {
    let redis = RedisServer::start();
    let (server, dataset) = server_with_docs(
        TestServer::builder()
            .env("RAGD__CACHE__REDIS_URL", redis.url())
            .env("RAGD__CACHE__L1_MAX_BYTES", 0)
            .env("RAGD__CACHE__L2_TTL_SECS", 1),
    );
    let q = query("Where can I download my invoices?");
    let (label, first) = ask(&server, &dataset, q.clone(), &[]);
    assert_eq!(label, "miss");
    eventually("the entry reaches Redis", Duration::from_secs(5), || {
        redis.keys("ragd:r:*").len() == 1
    });
    let (label, again) = ask(&server, &dataset, q.clone(), &[]);
    assert_eq!(
        label, "l2",
        "L1 holds nothing, so the answer comes from Redis"
    );
    assert_eq!(records(&again), records(&first));
    eventually("Redis expires the entry", Duration::from_secs(5), || {
        redis.keys("ragd:r:*").is_empty()
    });
    assert_eq!(ask(&server, &dataset, q, &[]).0, "miss", "expired");
}

/// Two replicas (copies of one data dir) sharing one Redis: L2 hits across them, and a document added
/// on one invalidates both.
#[test]
fn replicas_share_l2_and_invalidate_each_other() {
    let redis = RedisServer::start();
    let (first, dataset) = server_with_docs(TestServer::builder());
    let stopped = first.stop(Duration::from_secs(20));
    let b = TestServer::builder()
        .copy_of(&stopped.data_dir, &stopped.key)
        .env("RAGD__CACHE__REDIS_URL", redis.url())
        .env("RAGD__CACHE__L2_TTL_SECS", 30)
        .start();
    let a = stopped.restart(&[
        ("RAGD__CACHE__REDIS_URL", redis.url().as_str()),
        ("RAGD__CACHE__L2_TTL_SECS", "30"),
    ]);

    let q = query("How do I reset my password?");
    let (label, on_a) = ask(&a, &dataset, q.clone(), &[]);
    assert_eq!(label, "miss");
    eventually("A's entry reaches Redis", Duration::from_secs(5), || {
        redis.keys("ragd:r:*").len() == 1
    });
    let key = &redis.keys("ragd:r:*")[0];
    let ttl: i64 = redis.command(&["TTL", key]).trim().parse().unwrap();
    assert!((1..=30).contains(&ttl), "entries carry the TTL: {ttl}");
    assert_eq!(redis.keys("ragd:e:*").len(), 1, "and the query embedding");
    let value = redis.command(&["GET", key]);
    assert!(
        !value.trim_start().starts_with(['{', '[']),
        "a binary value, not JSON"
    );
    let compact: usize = redis.command(&["STRLEN", key]).trim().parse().unwrap();
    let json_size = serde_json::to_vec_pretty(&on_a["records"]).unwrap().len();
    assert!(
        compact < json_size + 384 * 4,
        "compact: {compact} bytes for records and embedding; the records alone are {json_size} bytes of JSON"
    );

    let (label, on_b) = ask(&b, &dataset, q.clone(), &[]);
    assert_eq!(label, "l2", "B uses what A computed");
    assert_eq!(records(&on_b), records(&on_a));
    assert_eq!(
        ask(&b, &dataset, q.clone(), &[]).0,
        "l1-exact",
        "and filled its L1"
    );
    assert_eq!(ask(&a, &dataset, q.clone(), &[]).0, "l1-exact");

    // A document added on A: both stop serving what they cached before.
    let two_factor = query("How do I turn on two-factor authentication with a one-time code?");
    let stored = redis.keys("ragd:r:*").len();
    assert_eq!(ask(&a, &dataset, two_factor.clone(), &[]).0, "miss");
    eventually("A's answer reaches Redis", Duration::from_secs(5), || {
        redis.keys("ragd:r:*").len() > stored
    });
    assert_eq!(ask(&b, &dataset, two_factor.clone(), &[]).0, "l2");
    assert_eq!(ask(&b, &dataset, two_factor.clone(), &[]).0, "l1-exact");
    add_text(&a, &dataset, TWO_FACTOR);
    let known = |server: &TestServer| stats(server)["versions"][&dataset].as_u64();
    let on_a_version = known(&a).expect("A knows its own bump");
    eventually(
        "B learns A's bump by pub/sub",
        Duration::from_secs(5),
        || known(&b) == Some(on_a_version),
    );
    let stored = redis.keys("ragd:r:*").len();
    let (label, fresh_a) = ask(&a, &dataset, two_factor.clone(), &[]);
    assert_eq!(label, "miss");
    assert_eq!(names(&fresh_a)[0], "two-factor.txt");
    eventually(
        "A's new answer reaches Redis",
        Duration::from_secs(5),
        || redis.keys("ragd:r:*").len() > stored,
    );
    let (label, fresh_b) = ask(&b, &dataset, two_factor.clone(), &[]);
    assert_eq!(
        label, "l2",
        "B's stale L1 entry is not served; A's new answer is"
    );
    assert_eq!(names(&fresh_b)[0], "two-factor.txt");
    assert_eq!(
        stats(&b)["l2_up"],
        true,
        "the shared tier stayed up throughout"
    );
}

/// Redis killed while requests flow: no request fails, one warning per outage, a metric, and L2 comes
/// back by itself when Redis does.
#[test]
fn redis_outage_degrades_to_l1_and_recovers() {
    let mut redis = RedisServer::start();
    let (server, dataset) = server_with_docs(
        TestServer::builder()
            .env("RAGD__CACHE__REDIS_URL", redis.url())
            .env("RAGD__CACHE__L2_BREAKER_COOLDOWN_MS", 200),
    );
    let server = Arc::new(server);
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..3)
        .map(|client| {
            let (server, dataset, stop, served) = (
                server.clone(),
                dataset.clone(),
                stop.clone(),
                served.clone(),
            );
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    // New and repeated questions: misses, L1 hits and L2 lookups all happen.
                    let q = format!("question {} from client {client}", n % 40);
                    let (label, body) = ask(&server, &dataset, query(&q), &[]);
                    assert!(body["records"].is_array(), "{label}: {body}");
                    served.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    eventually("traffic fills Redis", Duration::from_secs(30), || {
        redis.keys("ragd:r:*").len() >= 5
    });
    redis.kill();
    let at_kill = served.load(Ordering::Relaxed);
    eventually(
        "requests go on without Redis",
        Duration::from_secs(30),
        || served.load(Ordering::Relaxed) >= at_kill + 30,
    );
    let figures = stats(&server);
    assert_eq!(figures["l2_up"], false, "{figures}");
    assert!(figures["l2_errors"].as_u64().unwrap() >= 1);
    assert_eq!(figures["l2_outages"], 1);
    let metrics = server.send(&Req::new("GET", "/metrics")).text;
    assert!(metrics.contains("ragd_cache_l2_up 0"), "{metrics}");

    redis.restart();
    eventually("L2 resumes by itself", Duration::from_secs(30), || {
        stats(&server)["l2_up"] == true && !redis.keys("ragd:r:*").is_empty()
    });
    let resumed = served.load(Ordering::Relaxed);
    eventually("and traffic goes on", Duration::from_secs(30), || {
        served.load(Ordering::Relaxed) >= resumed + 10
    });
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("no client saw an error");
    }
    let log = server.log();
    let warnings = log.matches("Redis (cache L2) is unavailable").count();
    assert_eq!(warnings, 1, "one warning per outage:\n{log}");
    assert!(log.contains("reachable again"), "{log}");
    let figures = stats(&server);
    assert_eq!(figures["l2_outages"], 1, "{figures}");
    let metrics = server.send(&Req::new("GET", "/metrics")).text;
    assert!(metrics.contains("ragd_cache_l2_up 1"), "{metrics}");
    assert!(metrics.contains("ragd_cache_l2_errors_total"), "{metrics}");
}
