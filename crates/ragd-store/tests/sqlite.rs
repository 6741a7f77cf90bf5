//! `SqliteStore` against the conformance suite (on a temp file and in memory), plus what only SQLite
//! has: persistence across reopening, schema versions, the file itself.

use ragd_core::dataset::{IndexingStatus, NewChildChunk, NewDataset, NewDocument, NewSegment};
use ragd_store::{MetadataStore, SqliteStore, StoreError};

fn temp_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("meta.db")).expect("open store");
    (store, dir)
}

mod file {
    ragd_store::conformance_tests!(super::temp_store());
}

mod in_memory {
    ragd_store::conformance_tests!((
        ragd_store::SqliteStore::open_in_memory().expect("open in-memory store"),
        ()
    ));
}

fn new_document(dataset_id: &str, name: &str) -> NewDocument {
    NewDocument {
        dataset_id: dataset_id.to_owned(),
        name: name.to_owned(),
        data_source_type: "upload_file".to_owned(),
        source: None,
        content_hash: format!("hash-{name}"),
        text: format!("text of {name}"),
        batch: "b".to_owned(),
        created_from: "api".to_owned(),
        created_by: "tester".to_owned(),
        doc_form: Default::default(),
        doc_language: "English".to_owned(),
        process_rule: None,
        metadata: Vec::new(),
    }
}

fn segment(content: &str) -> NewSegment {
    NewSegment {
        position: 1,
        content: content.to_owned(),
        answer: None,
        word_count: content.chars().count() as u32,
        tokens: 1,
        keywords: Vec::new(),
        hash: format!("sha-{content}"),
        children: vec![NewChildChunk {
            position: 1,
            content: content.to_owned(),
            word_count: 1,
            tokens: 1,
            hash: "c".to_owned(),
        }],
    }
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let (dataset, document, keys, version) = {
        let store = SqliteStore::open(&path).unwrap();
        let dataset = store.create_dataset(&NewDataset::named("Docs")).unwrap();
        let (document, _) = store
            .create_document(&new_document(&dataset.id, "a.txt"))
            .unwrap();
        let keys = store
            .replace_chunks(&document.id, &[segment("hello")])
            .unwrap();
        let version = store
            .complete_documents(&dataset.id, std::slice::from_ref(&document.id))
            .unwrap();
        (dataset, document, keys, version)
    };

    let store = SqliteStore::open(&path).unwrap();
    let reopened = store
        .dataset(&dataset.id)
        .unwrap()
        .expect("dataset persisted");
    assert_eq!(reopened.version, version);
    let stored = store
        .document(&dataset.id, &document.id)
        .unwrap()
        .expect("document persisted");
    assert_eq!(stored.indexing_status, IndexingStatus::Completed);
    assert_eq!(
        store.document_text(&document.id).unwrap().as_deref(),
        Some("text of a.txt")
    );
    let hits = store.hydrate(&[keys[0].children[0]]).unwrap();
    assert_eq!(hits[0].segment.content, "hello");

    // Keys stay unique across restarts, even after deleting the newest rows.
    assert!(store.delete_document(&dataset.id, &document.id).unwrap());
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    let (successor, _) = store
        .create_document(&new_document(&dataset.id, "b.txt"))
        .unwrap();
    assert!(
        successor.key > document.key,
        "document keys are not reused after a restart"
    );
    let new_keys = store
        .replace_chunks(&successor.id, &[segment("again")])
        .unwrap();
    assert!(
        new_keys[0].segment > keys[0].children[0],
        "chunk keys are not reused after a restart"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    drop(SqliteStore::open(&path).unwrap());
    let future = SqliteStore::schema_version() + 1;
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", future)
        .unwrap();

    let error = SqliteStore::open(&path).expect_err("a newer schema must be refused");
    match &error {
        StoreError::SchemaTooNew {
            found, supported, ..
        } => assert_eq!(
            (*found, *supported),
            (future, SqliteStore::schema_version())
        ),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(
        error.to_string().contains("newer"),
        "clear message: {error}"
    );
}

#[test]
fn open_creates_parent_directories_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("nested").join("meta.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create_dataset(&NewDataset::named("Docs")).unwrap();
    assert!(path.exists());
    let mode: String = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_file_that_is_not_a_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    std::fs::write(
        &path,
        b"this is not a sqlite database, just some text that is long enough",
    )
    .unwrap();
    let error = SqliteStore::open(&path).expect_err("garbage must not open");
    assert!(!error.is_user_error());
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "names the file: {error}"
    );
}

#[test]
fn a_directory_in_place_of_the_parent_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let error = SqliteStore::open(&blocker.join("meta.db")).expect_err("parent is a file");
    assert!(matches!(error, StoreError::Io { .. }), "got {error:?}");
}

#[test]
fn stores_are_usable_as_trait_objects_across_threads() {
    let (store, _dir) = temp_store();
    let shared: std::sync::Arc<dyn MetadataStore> = std::sync::Arc::new(store);
    let worker = {
        let shared = shared.clone();
        std::thread::spawn(move || shared.create_dataset(&NewDataset::named("Docs")).unwrap())
    };
    let created = worker.join().unwrap();
    assert_eq!(shared.dataset_by_name("Docs").unwrap(), Some(created));
}

#[test]
fn a_version_1_database_is_migrated_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(include_str!("../migrations/0001_initial.sql"))
            .unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();
        connection
            .execute(
                "INSERT INTO datasets (id, name, description, permission, provider, \
                     lexical_analyzer, doc_form, built_in_field_enabled, enable_api, version, \
                     created_by, created_at, updated_at) \
                 VALUES ('ds-1', 'Old', '', 'only_me', 'vendor', 'english', 'text_model', 0, 1, 3, \
                     '', 1, 1)",
                [],
            )
            .unwrap();
    }
    assert_eq!(SqliteStore::schema_version(), 3);
    let store = SqliteStore::open(&path).expect("migrate from version 1");
    let version: usize = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());
    assert_eq!(
        store.dataset("ds-1").unwrap().map(|d| (d.name, d.version)),
        Some(("Old".to_owned(), 3)),
        "data survives the migration"
    );
    let key = store
        .create_api_key(&ragd_core::dataset::NewApiKey {
            name: "ci".to_owned(),
            prefix: "dataset-AbCd".to_owned(),
            token_hash: "h".to_owned(),
            datasets: vec!["ds-1".to_owned()],
            app_id: None,
        })
        .expect("the new table exists");
    drop(store);
    let store = SqliteStore::open(&path).expect("reopen at the latest version");
    assert_eq!(store.list_api_keys().unwrap(), vec![key]);
}

#[test]
fn claims_use_the_job_indexes() {
    let (store, dir) = temp_store();
    drop(store);
    let connection = rusqlite::Connection::open(dir.path().join("meta.db")).unwrap();
    let plan = |sql: &str| -> String {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let details: Vec<String> = statement
            .query_map([], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        details.join("; ")
    };
    let batch = plan(
        "SELECT seq FROM indexing_jobs WHERE state = 'queued' AND dataset_id = 'd' \
         ORDER BY seq LIMIT 8",
    );
    assert!(
        batch.contains("indexing_jobs_by_state_dataset") && !batch.contains("TEMP B-TREE"),
        "a batch of one dataset is read from (state, dataset_id, seq): {batch}"
    );
}
