//! The behaviour every [`MetadataStore`] implementation must show, as a test suite.
//!
//! Each `pub fn` checks one behaviour on a fresh, empty store and panics with a message saying what went
//! wrong. [`conformance_tests!`](crate::conformance_tests) turns them into one `#[test]` each for an
//! implementation:
//!
//! ```text
//! ragd_store::conformance_tests!({
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = SqliteStore::open(&dir.path().join("meta.db")).unwrap();
//!     (store, dir) // the second value (here the temp dir) lives as long as the test
//! });
//! ```
//!
//! Checks do not depend on wall-clock timing beyond "timestamps are set and not before creation".

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use ragd_core::dataset::{
    ChildChunkType, ChunkKeys, Dataset, DatasetUpdate, DocForm, Document, DocumentQuery,
    DocumentStatusFilter, IndexingStatus, IndexingTechnique, JobState, MAX_PAGE_LIMIT,
    MetadataType, NewChildChunk, NewDataset, NewDocument, NewSegment, Page, SegmentStatus,
};
use serde_json::{Value, json};

use crate::{MetadataStore, StoreError};

/// Expands to one `#[test]` per conformance check. `$factory` is evaluated afresh for each test and
/// yields `(store, guard)`: the store under test and a value kept alive until the test ends (a temp dir,
/// or `()`).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@tests $factory;
            datasets_are_created_with_defaults,
            dataset_names_are_unique_and_case_sensitive,
            dataset_names_are_validated,
            datasets_are_paged_newest_first_and_filtered,
            datasets_are_updated,
            dataset_versions_are_bumped,
            deleting_a_dataset_cascades,
            documents_are_created_waiting_with_a_queued_job,
            document_creation_checks_metadata_atomically,
            documents_are_found_by_hash_and_batch,
            documents_are_paged_and_filtered_by_status,
            indexing_status_stamps_stage_timestamps,
            replacing_chunks_replaces_and_never_reuses_keys,
            group_writes_apply_to_every_document_or_none,
            completing_documents_bumps_the_version_once,
            failing_a_document_fails_its_job,
            documents_are_enabled_disabled_and_archived,
            deleting_a_document_cascades,
            index_keys_follow_the_doc_form,
            unfinished_documents_span_datasets,
            catalog_lists_documents_with_metadata,
            hydrate_keeps_order_and_resolves_children,
            hydrate_handles_many_keys,
            segments_are_listed_filtered_and_found,
            hit_counts_count_each_segment_once,
            metadata_fields_are_created_renamed_and_deleted,
            metadata_values_are_type_checked,
            document_metadata_is_replaced_or_merged,
            jobs_are_claimed_oldest_first,
            concurrent_claims_never_share_a_job,
            running_jobs_are_requeued,
            readers_run_while_writing,
        );
    };
    (@tests $factory:expr; $($check:ident),+ $(,)?) => {
        $(
            #[test]
            fn $check() {
                let (store, _guard) = $factory;
                $crate::conformance::$check(&store);
            }
        )+
    };
}

// ----- fixtures -----

fn create_dataset(store: &dyn MetadataStore, name: &str) -> Dataset {
    store
        .create_dataset(&NewDataset::named(name))
        .unwrap_or_else(|error| panic!("create dataset {name}: {error}"))
}

fn new_document(dataset_id: &str, name: &str) -> NewDocument {
    NewDocument {
        dataset_id: dataset_id.to_owned(),
        name: name.to_owned(),
        data_source_type: "upload_file".to_owned(),
        source: Some(format!("/data/{name}")),
        content_hash: format!("hash-of-{name}"),
        text: format!("The full text of {name}."),
        batch: "batch-1".to_owned(),
        created_from: "api".to_owned(),
        created_by: "tester".to_owned(),
        doc_form: DocForm::TextModel,
        doc_language: "English".to_owned(),
        process_rule: Some(json!({"mode": "automatic"})),
        metadata: Vec::new(),
    }
}

fn add_document(store: &dyn MetadataStore, dataset_id: &str, name: &str) -> Document {
    create_from(store, &new_document(dataset_id, name))
}

fn create_from(store: &dyn MetadataStore, new: &NewDocument) -> Document {
    store
        .create_document(new)
        .unwrap_or_else(|error| panic!("create document {}: {error}", new.name))
        .0
}

fn new_segment(position: u32, content: &str, children: u32) -> NewSegment {
    NewSegment {
        position,
        content: content.to_owned(),
        answer: None,
        word_count: content.chars().count() as u32,
        tokens: content.split_whitespace().count() as u32,
        keywords: vec![format!("kw{position}")],
        hash: format!("sha-{content}"),
        children: (1..=children)
            .map(|child| {
                let content = format!("{content} / child {child}");
                NewChildChunk {
                    position: child,
                    word_count: content.chars().count() as u32,
                    tokens: content.split_whitespace().count() as u32,
                    hash: format!("sha-{content}"),
                    content,
                }
            })
            .collect(),
    }
}

fn segments(count: u32, prefix: &str, children: u32) -> Vec<NewSegment> {
    (1..=count)
        .map(|position| new_segment(position, &format!("{prefix} segment {position}"), children))
        .collect()
}

fn replace(
    store: &dyn MetadataStore,
    document: &Document,
    segments: &[NewSegment],
) -> Vec<ChunkKeys> {
    store
        .replace_chunks(&document.id, segments)
        .unwrap_or_else(|error| panic!("replace chunks of {}: {error}", document.name))
}

/// Chunks and completes a document; returns its chunk keys.
fn index(
    store: &dyn MetadataStore,
    document: &Document,
    segments: &[NewSegment],
) -> Vec<ChunkKeys> {
    store
        .set_indexing_status(&document.id, IndexingStatus::Indexing, None)
        .expect("set status indexing");
    let keys = replace(store, document, segments);
    store
        .complete_documents(&document.dataset_id, std::slice::from_ref(&document.id))
        .expect("complete document");
    keys
}

fn get_document(store: &dyn MetadataStore, document: &Document) -> Document {
    store
        .document(&document.dataset_id, &document.id)
        .expect("read document")
        .unwrap_or_else(|| panic!("document {} should exist", document.name))
}

fn version(store: &dyn MetadataStore, dataset_id: &str) -> u64 {
    store
        .dataset(dataset_id)
        .expect("read dataset")
        .expect("dataset should exist")
        .version
}

fn all_keys(keys: &[ChunkKeys]) -> Vec<u64> {
    keys.iter()
        .flat_map(|chunk| std::iter::once(chunk.segment).chain(chunk.children.iter().copied()))
        .collect()
}

fn ids(documents: &[Document]) -> Vec<&str> {
    documents
        .iter()
        .map(|document| document.id.as_str())
        .collect()
}

fn list(
    store: &dyn MetadataStore,
    dataset_id: &str,
    status: Option<DocumentStatusFilter>,
) -> Vec<String> {
    let query = DocumentQuery {
        page: Page::new(1, 100),
        keyword: None,
        status,
    };
    store
        .list_documents(dataset_id, &query)
        .expect("list documents")
        .data
        .into_iter()
        .map(|document| document.name)
        .collect()
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::NotFound { .. })),
        "{what}: expected NotFound, got {result:?}"
    );
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "{what}: expected Invalid, got {result:?}"
    );
}

// ----- datasets -----

pub fn datasets_are_created_with_defaults(store: &dyn MetadataStore) {
    let mut new = NewDataset::named("Docs");
    new.description = "Product manuals".to_owned();
    new.indexing_technique = Some(IndexingTechnique::HighQuality);
    new.embedding_model = Some("all-MiniLM-L6-v2".to_owned());
    new.embedding_model_provider = Some("ragd".to_owned());
    new.retrieval_model = Some(json!({"search_method": "hybrid_search", "top_k": 4}));
    new.lexical_analyzer = "cjk".to_owned();
    new.created_by = "alice".to_owned();
    let dataset = store.create_dataset(&new).expect("create dataset");

    assert!(
        uuid::Uuid::parse_str(&dataset.id).is_ok(),
        "dataset id should be a UUID: {}",
        dataset.id
    );
    assert_eq!(dataset.name, "Docs");
    assert_eq!(dataset.description, "Product manuals");
    assert_eq!(
        dataset.indexing_technique,
        Some(IndexingTechnique::HighQuality)
    );
    assert_eq!(dataset.permission, "only_me");
    assert_eq!(dataset.provider, "vendor");
    assert_eq!(dataset.embedding_model.as_deref(), Some("all-MiniLM-L6-v2"));
    assert_eq!(dataset.embedding_model_provider.as_deref(), Some("ragd"));
    assert_eq!(dataset.retrieval_model, new.retrieval_model);
    assert_eq!(dataset.lexical_analyzer, "cjk");
    assert_eq!(dataset.doc_form, DocForm::TextModel);
    assert!(dataset.enable_api, "the API is enabled by default");
    assert!(
        !dataset.built_in_field_enabled,
        "built-in fields are off by default"
    );
    assert_eq!(dataset.process_rule, None);
    assert_eq!((dataset.document_count, dataset.word_count), (0, 0));
    assert_eq!(dataset.created_by, "alice");
    assert!(dataset.created_at > 0 && dataset.updated_at >= dataset.created_at);

    assert_eq!(store.dataset(&dataset.id).unwrap(), Some(dataset.clone()));
    assert_eq!(
        store.dataset_by_name("Docs").unwrap(),
        Some(dataset.clone())
    );
    assert_eq!(
        store.dataset_by_name("docs").unwrap(),
        None,
        "names are case-sensitive"
    );
    assert_eq!(
        store
            .dataset("00000000-0000-4000-8000-000000000000")
            .unwrap(),
        None
    );

    let defaults = create_dataset(store, "Defaults");
    assert_eq!(defaults.indexing_technique, None);
    assert_eq!(defaults.retrieval_model, None);
    assert_eq!(defaults.lexical_analyzer, "english");
    assert_ne!(defaults.id, dataset.id);
}

pub fn dataset_names_are_unique_and_case_sensitive(store: &dyn MetadataStore) {
    let docs = create_dataset(store, "Docs");
    let result = store.create_dataset(&NewDataset::named("Docs"));
    assert!(
        matches!(&result, Err(StoreError::DatasetNameTaken(name)) if name == "Docs"),
        "a duplicate name should be DatasetNameTaken, got {result:?}"
    );
    let lower = create_dataset(store, "docs");

    let rename = DatasetUpdate {
        name: Some("Docs".to_owned()),
        ..DatasetUpdate::default()
    };
    let result = store.update_dataset(&lower.id, &rename);
    assert!(
        matches!(result, Err(StoreError::DatasetNameTaken(_))),
        "renaming onto a taken name should be DatasetNameTaken, got {result:?}"
    );
    let same = store
        .update_dataset(&docs.id, &rename)
        .expect("renaming a dataset to its own name is allowed");
    assert_eq!(same.name, "Docs");

    store.delete_dataset(&docs.id).expect("delete");
    create_dataset(store, "Docs");
}

pub fn dataset_names_are_validated(store: &dyn MetadataStore) {
    assert_invalid(store.create_dataset(&NewDataset::named("")), "empty name");
    assert_invalid(
        store.create_dataset(&NewDataset::named("   ")),
        "blank name",
    );
    assert_invalid(
        store.create_dataset(&NewDataset::named("x".repeat(41))),
        "41 characters",
    );
    let long = create_dataset(store, &"ü".repeat(40));
    assert_eq!(
        long.name.chars().count(),
        40,
        "40 characters (not bytes) are allowed"
    );
    let update = DatasetUpdate {
        name: Some(String::new()),
        ..DatasetUpdate::default()
    };
    assert_invalid(
        store.update_dataset(&long.id, &update),
        "renaming to an empty name",
    );
}

pub fn datasets_are_paged_newest_first_and_filtered(store: &dyn MetadataStore) {
    for index in 0..25 {
        create_dataset(store, &format!("set-{index:02}"));
    }
    create_dataset(store, "other");

    let first = store.list_datasets(Page::new(1, 10), None).expect("list");
    assert_eq!(
        (first.total, first.data.len(), first.has_more),
        (26, 10, true)
    );
    assert_eq!((first.page, first.limit), (1, 10));
    assert_eq!(first.data[0].name, "other", "newest first");
    assert_eq!(first.data[1].name, "set-24");
    let last = store
        .list_datasets(Page::new(3, 10), None)
        .expect("list page 3");
    assert_eq!((last.data.len(), last.has_more, last.page), (6, false, 3));
    assert_eq!(last.data[5].name, "set-00", "oldest last");
    let beyond = store
        .list_datasets(Page::new(9, 10), None)
        .expect("list page 9");
    assert!(beyond.data.is_empty() && !beyond.has_more && beyond.total == 26);

    let capped = store
        .list_datasets(Page::new(0, 500), None)
        .expect("list capped");
    assert_eq!(
        (capped.page, capped.limit),
        (1, MAX_PAGE_LIMIT),
        "page 0 → 1, limit capped"
    );
    assert_eq!(capped.data.len(), 26);

    let names = |keyword: &str| -> (u64, Vec<String>) {
        let page = store
            .list_datasets(Page::new(1, 100), Some(keyword))
            .expect("list by keyword");
        (
            page.total,
            page.data.into_iter().map(|dataset| dataset.name).collect(),
        )
    };
    assert_eq!(names("set-1").0, 10, "set-10..set-19");
    assert_eq!(names("SET-2").0, 5, "keyword match ignores ASCII case");
    assert_eq!(names("other"), (1, vec!["other".to_owned()]));
    assert_eq!(names("%").0, 0, "LIKE wildcards in keywords are literal");
    assert_eq!(names("_").0, 0, "LIKE wildcards in keywords are literal");
    assert_eq!(names("").0, 26, "an empty keyword filters nothing");
}

pub fn datasets_are_updated(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let update = DatasetUpdate {
        description: Some("new description".to_owned()),
        permission: Some("all_team_members".to_owned()),
        enable_api: Some(false),
        process_rule: Some(json!({"mode": "custom"})),
        ..DatasetUpdate::default()
    };
    let updated = store.update_dataset(&dataset.id, &update).expect("update");
    assert_eq!(updated.description, "new description");
    assert_eq!(updated.permission, "all_team_members");
    assert!(!updated.enable_api);
    assert_eq!(updated.process_rule, Some(json!({"mode": "custom"})));
    assert_eq!(updated.name, "Docs", "fields left None are unchanged");
    assert_eq!(
        updated.version, dataset.version,
        "these fields do not affect retrieval"
    );
    assert_eq!(store.dataset(&dataset.id).unwrap(), Some(updated.clone()));

    let update = DatasetUpdate {
        retrieval_model: Some(json!({"search_method": "semantic_search"})),
        indexing_technique: Some(IndexingTechnique::Economy),
        ..DatasetUpdate::default()
    };
    let updated = store
        .update_dataset(&dataset.id, &update)
        .expect("update retrieval");
    assert_eq!(updated.retrieval_model, update.retrieval_model);
    assert_eq!(updated.indexing_technique, Some(IndexingTechnique::Economy));
    assert_eq!(
        updated.version,
        dataset.version + 1,
        "retrieval settings bump the version once"
    );
    let update = DatasetUpdate {
        built_in_field_enabled: Some(true),
        embedding_model: Some("other-model".to_owned()),
        ..DatasetUpdate::default()
    };
    let updated = store
        .update_dataset(&dataset.id, &update)
        .expect("update embedding");
    assert!(updated.built_in_field_enabled);
    assert_eq!(updated.version, dataset.version + 2);

    assert_not_found(
        store.update_dataset(
            "00000000-0000-4000-8000-000000000000",
            &DatasetUpdate::default(),
        ),
        "updating a missing dataset",
    );
}

pub fn dataset_versions_are_bumped(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let first = store.bump_dataset_version(&dataset.id).expect("bump");
    assert_eq!(first, dataset.version + 1);
    let second = store.bump_dataset_version(&dataset.id).expect("bump again");
    assert_eq!(second, first + 1);
    assert_eq!(version(store, &dataset.id), second);
    assert_not_found(
        store.bump_dataset_version("missing"),
        "bumping a missing dataset",
    );
}

pub fn deleting_a_dataset_cascades(store: &dyn MetadataStore) {
    let doomed = create_dataset(store, "Doomed");
    let kept = create_dataset(store, "Kept");
    let field = store
        .create_metadata_field(&doomed.id, "author", MetadataType::String)
        .expect("create field");
    let mut new = new_document(&doomed.id, "indexed.txt");
    new.doc_form = DocForm::HierarchicalModel;
    new.metadata = vec![("author".to_owned(), json!("Ann"))];
    let indexed = create_from(store, &new);
    let keys = all_keys(&index(store, &indexed, &segments(2, "doomed", 2)));
    let queued = add_document(store, &doomed.id, "queued.txt");
    let survivor = add_document(store, &kept.id, "survivor.txt");
    let survivor_keys = all_keys(&index(store, &survivor, &segments(1, "kept", 0)));

    assert!(store.delete_dataset(&doomed.id).expect("delete dataset"));
    assert_eq!(store.dataset(&doomed.id).unwrap(), None);
    assert_eq!(store.dataset_by_name("Doomed").unwrap(), None);
    for document in [&indexed, &queued] {
        assert_eq!(store.document(&doomed.id, &document.id).unwrap(), None);
        assert_eq!(
            store.document_text(&document.id).unwrap(),
            None,
            "text is deleted"
        );
        assert_eq!(
            store.job_for_document(&document.id).unwrap(),
            None,
            "jobs are deleted"
        );
    }
    assert!(
        store.hydrate(&keys).unwrap().is_empty(),
        "chunks are deleted"
    );
    assert!(store.unfinished_documents().unwrap().is_empty());
    assert!(
        store.claim_job().unwrap().is_none(),
        "no job of the deleted dataset is left"
    );
    assert_not_found(
        store.metadata_fields(&doomed.id),
        "fields of a deleted dataset",
    );
    assert!(!store.delete_metadata_field(&kept.id, &field.id).unwrap());
    assert!(
        !store.delete_dataset(&doomed.id).unwrap(),
        "deleting twice is false"
    );

    assert_eq!(
        get_document(store, &survivor).indexing_status,
        IndexingStatus::Completed
    );
    assert_eq!(
        store.hydrate(&survivor_keys).unwrap().len(),
        1,
        "other datasets are untouched"
    );
    assert_eq!(store.list_datasets(Page::default(), None).unwrap().total, 1);
}

// ----- documents -----

pub fn documents_are_created_waiting_with_a_queued_job(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let new = new_document(&dataset.id, "a.txt");
    let (document, job) = store.create_document(&new).expect("create document");

    assert!(
        uuid::Uuid::parse_str(&document.id).is_ok(),
        "document id should be a UUID"
    );
    assert_eq!(document.dataset_id, dataset.id);
    assert_eq!(document.position, 1);
    assert_eq!(document.name, "a.txt");
    assert_eq!(document.data_source_type, "upload_file");
    assert_eq!(document.source.as_deref(), Some("/data/a.txt"));
    assert_eq!(document.content_hash, "hash-of-a.txt");
    assert_eq!(document.batch, "batch-1");
    assert_eq!(
        (document.created_from.as_str(), document.created_by.as_str()),
        ("api", "tester")
    );
    assert_eq!(document.indexing_status, IndexingStatus::Waiting);
    assert!(document.enabled && !document.archived);
    assert_eq!(document.error, None);
    assert_eq!(document.processing_started_at, None);
    assert_eq!(document.completed_at, None);
    assert_eq!(
        (document.word_count, document.tokens, document.segment_count),
        (0, 0, 0)
    );
    assert_eq!(
        (document.completed_segments, document.total_segments),
        (0, 0)
    );
    assert_eq!(document.doc_form, DocForm::TextModel);
    assert_eq!(document.doc_language, "English");
    assert_eq!(document.process_rule, new.process_rule);
    assert!(document.metadata.is_empty());
    assert!(document.created_at > 0 && document.updated_at >= document.created_at);

    assert_eq!(job.document_id, document.id);
    assert_eq!(job.dataset_id, dataset.id);
    assert_eq!(
        (job.state, job.attempts, job.error.as_deref()),
        (JobState::Queued, 0, None)
    );
    assert_eq!(store.job_for_document(&document.id).unwrap(), Some(job));
    assert_eq!(
        store.document_text(&document.id).unwrap().as_deref(),
        Some(new.text.as_str())
    );
    assert_eq!(store.document_text("missing").unwrap(), None);

    assert_eq!(
        store.document(&dataset.id, &document.id).unwrap(),
        Some(document.clone())
    );
    assert_eq!(
        store.document(&other.id, &document.id).unwrap(),
        None,
        "scoped to its dataset"
    );

    let second = add_document(store, &dataset.id, "b.txt");
    let third = add_document(store, &dataset.id, "c.txt");
    assert_eq!(
        (second.position, third.position),
        (2, 3),
        "positions count up per dataset"
    );
    assert!(
        document.key < second.key && second.key < third.key,
        "document keys increase"
    );
    assert_eq!(add_document(store, &other.id, "x.txt").position, 1);
    assert_eq!(
        store.dataset(&dataset.id).unwrap().unwrap().document_count,
        3
    );

    assert_not_found(
        store.create_document(&new_document(
            "00000000-0000-4000-8000-000000000000",
            "a.txt",
        )),
        "a document in a missing dataset",
    );
    assert_invalid(
        store.create_document(&new_document(&dataset.id, "")),
        "an empty document name",
    );
}

pub fn document_creation_checks_metadata_atomically(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let author = store
        .create_metadata_field(&dataset.id, "author", MetadataType::String)
        .expect("field author");
    let year = store
        .create_metadata_field(&dataset.id, "year", MetadataType::Number)
        .expect("field year");
    let mut new = new_document(&dataset.id, "a.txt");
    new.metadata = vec![
        ("author".to_owned(), json!("Ann")),
        ("year".to_owned(), json!("2020")),
    ];
    let (document, _) = store.create_document(&new).expect("create with metadata");
    let values: Vec<_> = document
        .metadata
        .iter()
        .map(|value| {
            (
                value.field_id.as_str(),
                value.name.as_str(),
                value.field_type,
                value.value.clone(),
            )
        })
        .collect();
    assert_eq!(
        values,
        vec![
            (
                author.id.as_str(),
                "author",
                MetadataType::String,
                json!("Ann")
            ),
            (year.id.as_str(), "year", MetadataType::Number, json!(2020)),
        ],
        "values in field order, numbers stored as numbers"
    );

    new.metadata = vec![
        ("author".to_owned(), json!("Bob")),
        ("pages".to_owned(), json!(3)),
    ];
    assert_invalid(
        store.create_document(&new),
        "an unknown metadata field name",
    );
    new.metadata = vec![("year".to_owned(), json!("last year"))];
    assert_invalid(
        store.create_document(&new),
        "a non-number for a number field",
    );
    assert_eq!(
        store.dataset(&dataset.id).unwrap().unwrap().document_count,
        1,
        "nothing created"
    );
    store
        .claim_job()
        .expect("claim")
        .expect("the first document's job");
    assert!(
        store.claim_job().unwrap().is_none(),
        "failed creations queue no job"
    );
}

pub fn documents_are_found_by_hash_and_batch(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let mut new = new_document(&dataset.id, "a.txt");
    new.content_hash = "h1".to_owned();
    let first = create_from(store, &new);
    new.name = "b.txt".to_owned();
    new.content_hash = "h2".to_owned();
    let second = create_from(store, &new);
    new.name = "c.txt".to_owned();
    new.content_hash = "h1".to_owned();
    new.batch = "batch-2".to_owned();
    let third = create_from(store, &new);

    let found = store
        .document_by_hash(&dataset.id, "h1")
        .unwrap()
        .expect("by hash");
    assert_eq!(found.id, first.id, "the oldest document with the hash");
    assert_eq!(
        store
            .document_by_hash(&dataset.id, "h2")
            .unwrap()
            .map(|d| d.id),
        Some(second.id.clone())
    );
    assert_eq!(store.document_by_hash(&dataset.id, "h3").unwrap(), None);
    assert_eq!(
        store.document_by_hash(&other.id, "h1").unwrap(),
        None,
        "scoped to the dataset"
    );

    let batch = store.documents_by_batch(&dataset.id, "batch-1").unwrap();
    assert_eq!(
        ids(&batch),
        vec![first.id.as_str(), second.id.as_str()],
        "by position"
    );
    let batch = store.documents_by_batch(&dataset.id, "batch-2").unwrap();
    assert_eq!(ids(&batch), vec![third.id.as_str()]);
    assert!(
        store
            .documents_by_batch(&dataset.id, "nope")
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .documents_by_batch(&other.id, "batch-1")
            .unwrap()
            .is_empty()
    );
}

pub fn documents_are_paged_and_filtered_by_status(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let names = [
        "queued report",
        "parsing",
        "paused",
        "failed report",
        "available",
        "disabled",
        "archived",
    ];
    let documents: Vec<Document> = names
        .iter()
        .map(|name| add_document(store, &dataset.id, name))
        .collect();
    store
        .set_indexing_status(&documents[1].id, IndexingStatus::Parsing, None)
        .unwrap();
    store
        .set_indexing_status(&documents[2].id, IndexingStatus::Paused, None)
        .unwrap();
    store.fail_document(&documents[3].id, "boom").unwrap();
    for document in &documents[4..] {
        index(store, document, &segments(1, &document.name, 0));
    }
    store
        .set_documents_enabled(
            &dataset.id,
            std::slice::from_ref(&documents[5].id),
            false,
            "bob",
        )
        .unwrap();
    store
        .set_documents_archived(&dataset.id, std::slice::from_ref(&documents[6].id), true)
        .unwrap();

    let all = list(store, &dataset.id, None);
    let newest_first: Vec<String> = names.iter().rev().map(|name| name.to_string()).collect();
    assert_eq!(all, newest_first, "newest first");
    let filters = [
        (DocumentStatusFilter::Queuing, "queued report"),
        (DocumentStatusFilter::Indexing, "parsing"),
        (DocumentStatusFilter::Paused, "paused"),
        (DocumentStatusFilter::Error, "failed report"),
        (DocumentStatusFilter::Available, "available"),
        (DocumentStatusFilter::Disabled, "disabled"),
        (DocumentStatusFilter::Archived, "archived"),
    ];
    for (filter, expected) in filters {
        assert_eq!(
            list(store, &dataset.id, Some(filter)),
            vec![expected.to_owned()],
            "status filter {filter:?}"
        );
    }

    let query = |page, limit, keyword: Option<&str>, status| DocumentQuery {
        page: Page::new(page, limit),
        keyword: keyword.map(str::to_owned),
        status,
    };
    let page = store
        .list_documents(&dataset.id, &query(1, 3, None, None))
        .unwrap();
    assert_eq!(
        (page.total, page.data.len(), page.has_more, page.limit),
        (7, 3, true, 3)
    );
    let page = store
        .list_documents(&dataset.id, &query(3, 3, None, None))
        .unwrap();
    assert_eq!((page.data.len(), page.has_more, page.page), (1, false, 3));
    assert_eq!(page.data[0].name, "queued report");
    let page = store
        .list_documents(&dataset.id, &query(1, 1000, None, None))
        .unwrap();
    assert_eq!(page.limit, MAX_PAGE_LIMIT);
    let page = store
        .list_documents(&dataset.id, &query(1, 20, Some("REPORT"), None))
        .unwrap();
    assert_eq!(page.total, 2, "keyword matches names, ignoring ASCII case");
    let page = store
        .list_documents(
            &dataset.id,
            &query(1, 20, Some("report"), Some(DocumentStatusFilter::Error)),
        )
        .unwrap();
    assert_eq!(
        page.data
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        vec!["failed report"]
    );
    assert_not_found(
        store.list_documents("missing", &DocumentQuery::default()),
        "listing a missing dataset",
    );
}

pub fn indexing_status_stamps_stage_timestamps(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let document = add_document(store, &dataset.id, "a.txt");
    let set = |status, error: Option<&str>| {
        store
            .set_indexing_status(&document.id, status, error)
            .unwrap_or_else(|error| panic!("set status {status:?}: {error}"))
    };
    let created = document.created_at;

    let parsing = set(IndexingStatus::Parsing, None);
    assert_eq!(parsing.indexing_status, IndexingStatus::Parsing);
    assert!(
        parsing
            .processing_started_at
            .is_some_and(|at| at >= created)
    );
    assert_eq!(parsing.parsing_completed_at, None);
    let cleaning = set(IndexingStatus::Cleaning, None);
    assert!(
        cleaning
            .parsing_completed_at
            .is_some_and(|at| at >= created)
    );
    assert_eq!(
        cleaning.processing_started_at, parsing.processing_started_at,
        "kept"
    );
    assert_eq!(cleaning.cleaning_completed_at, None);
    let splitting = set(IndexingStatus::Splitting, None);
    assert!(splitting.cleaning_completed_at.is_some());
    assert_eq!(splitting.splitting_completed_at, None);
    let indexing = set(IndexingStatus::Indexing, None);
    assert!(indexing.splitting_completed_at.is_some());
    assert_eq!(indexing.completed_at, None);

    let paused = set(IndexingStatus::Paused, None);
    assert_eq!(paused.indexing_status, IndexingStatus::Paused);
    assert!(paused.paused_at.is_some());
    let resumed = set(IndexingStatus::Indexing, None);
    assert_eq!(resumed.paused_at, None, "resuming clears paused_at");

    let failed = set(IndexingStatus::Error, Some("embedding failed"));
    assert_eq!(failed.indexing_status, IndexingStatus::Error);
    assert_eq!(failed.error.as_deref(), Some("embedding failed"));
    assert!(failed.stopped_at.is_some());

    let restarted = set(IndexingStatus::Waiting, None);
    assert_eq!(restarted.indexing_status, IndexingStatus::Waiting);
    assert_eq!(restarted.error, None);
    assert_eq!(
        (
            restarted.processing_started_at,
            restarted.parsing_completed_at,
            restarted.stopped_at
        ),
        (None, None, None),
        "waiting starts the lifecycle over"
    );

    assert_invalid(
        store.set_indexing_status(&document.id, IndexingStatus::Completed, None),
        "completing outside complete_documents",
    );
    assert_not_found(
        store.set_indexing_status("missing", IndexingStatus::Parsing, None),
        "status of a missing document",
    );

    set(IndexingStatus::Indexing, None);
    store
        .complete_documents(&dataset.id, std::slice::from_ref(&document.id))
        .unwrap();
    let completed = get_document(store, &document);
    assert_eq!(completed.indexing_status, IndexingStatus::Completed);
    assert!(completed.completed_at.is_some_and(|at| at >= created));
    assert!(completed.parsing_completed_at.is_some() && completed.splitting_completed_at.is_some());
    assert_eq!(completed.error, None);
}

pub fn replacing_chunks_replaces_and_never_reuses_keys(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let document = add_document(store, &dataset.id, "a.txt");
    let first_segments = segments(3, "first", 0);
    let first = replace(store, &document, &first_segments);
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|keys| keys.children.is_empty()));
    let first_keys = all_keys(&first);
    assert_eq!(
        first_keys.iter().collect::<BTreeSet<_>>().len(),
        3,
        "distinct keys"
    );

    let stored = get_document(store, &document);
    let characters: u64 = first_segments
        .iter()
        .map(|segment| u64::from(segment.word_count))
        .sum();
    let tokens: u64 = first_segments
        .iter()
        .map(|segment| u64::from(segment.tokens))
        .sum();
    assert_eq!(
        (
            stored.total_segments,
            stored.segment_count,
            stored.completed_segments
        ),
        (3, 3, 0)
    );
    assert_eq!((stored.word_count, stored.tokens), (characters, tokens));
    assert_eq!(
        store.dataset(&dataset.id).unwrap().unwrap().word_count,
        characters
    );
    let listed = store
        .list_segments(&document.id, Page::default(), None, None)
        .unwrap();
    assert!(
        listed
            .data
            .iter()
            .all(|segment| segment.status == SegmentStatus::Indexing)
    );
    assert!(
        listed
            .data
            .iter()
            .all(|segment| segment.indexing_at.is_some())
    );

    store
        .set_completed_segments(&document.id, 2)
        .expect("progress");
    assert_eq!(get_document(store, &document).completed_segments, 2);
    assert_not_found(
        store.set_completed_segments("missing", 1),
        "progress of a missing document",
    );

    let second = replace(store, &document, &segments(2, "second", 2));
    let second_keys = all_keys(&second);
    assert_eq!(second_keys.len(), 6);
    assert_eq!(
        second_keys.iter().collect::<BTreeSet<_>>().len(),
        6,
        "distinct keys"
    );
    let first_max = first_keys.iter().max().copied().unwrap_or(0);
    assert!(
        second_keys.iter().all(|key| *key > first_max),
        "new keys never reuse old ones"
    );
    assert!(
        store.hydrate(&first_keys).unwrap().is_empty(),
        "old chunks are gone"
    );
    assert_eq!(store.hydrate(&second_keys).unwrap().len(), 6);
    let stored = get_document(store, &document);
    assert_eq!(
        (
            stored.total_segments,
            stored.segment_count,
            stored.completed_segments
        ),
        (2, 2, 0)
    );
    assert_eq!(
        store
            .list_segments(&document.id, Page::default(), None, None)
            .unwrap()
            .total,
        2
    );

    assert!(store.delete_document(&dataset.id, &document.id).unwrap());
    let successor = add_document(store, &dataset.id, "b.txt");
    assert!(
        successor.key > document.key,
        "document keys are never reused"
    );
    let third = all_keys(&replace(store, &successor, &segments(2, "third", 0)));
    let second_max = second_keys.iter().max().copied().unwrap_or(0);
    assert!(
        third.iter().all(|key| *key > second_max),
        "keys of deleted chunks are never reused"
    );

    let emptied = replace(store, &successor, &[]);
    assert!(emptied.is_empty());
    assert_eq!(get_document(store, &successor).total_segments, 0);
    assert_not_found(
        store.replace_chunks("missing", &segments(1, "x", 0)),
        "chunks of a missing document",
    );
}

/// The group writes of the indexing pipeline: statuses and chunks of several documents at once, all or
/// nothing.
pub fn group_writes_apply_to_every_document_or_none(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "groups");
    let a = add_document(store, &dataset.id, "a.txt");
    let b = add_document(store, &dataset.id, "b.txt");
    let ids = vec![a.id.clone(), b.id.clone()];
    store
        .set_indexing_status_many(&ids, IndexingStatus::Indexing)
        .unwrap();
    for d in [&a, &b] {
        let d = get_document(store, d);
        assert_eq!(d.indexing_status, IndexingStatus::Indexing, "{}", d.name);
        assert!(
            d.splitting_completed_at.is_some(),
            "{}: stages passed are stamped",
            d.name
        );
    }
    let (sa, sb) = (segments(2, "a", 0), segments(3, "b", 1));
    let keys = store
        .replace_chunks_many(&[
            (a.id.as_str(), sa.as_slice()),
            (b.id.as_str(), sb.as_slice()),
        ])
        .unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].len(), 2);
    assert_eq!(keys[1].len(), 3);
    assert!(keys[1].iter().all(|k| k.children.len() == 1));
    assert_eq!(get_document(store, &a).total_segments, 2);
    assert_eq!(get_document(store, &b).total_segments, 3);

    // One unknown document: nothing of the group is written.
    let c = add_document(store, &dataset.id, "c.txt");
    let bad = vec![c.id.clone(), "no-such-document".to_owned()];
    assert_not_found(
        store.set_indexing_status_many(&bad, IndexingStatus::Splitting),
        "document",
    );
    assert_eq!(
        get_document(store, &c).indexing_status,
        IndexingStatus::Waiting
    );
    let sc = segments(1, "c", 0);
    assert_not_found(
        store.replace_chunks_many(&[
            (c.id.as_str(), sc.as_slice()),
            ("no-such-document", sc.as_slice()),
        ]),
        "document",
    );
    assert_eq!(get_document(store, &c).total_segments, 0);
    assert!(store.document_index_keys(&c.id).unwrap().is_empty());
}

pub fn completing_documents_bumps_the_version_once(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let documents: Vec<Document> = ["a", "b", "c"]
        .iter()
        .map(|name| add_document(store, &dataset.id, name))
        .collect();
    for document in &documents {
        store.claim_job().unwrap().expect("claim");
        store
            .set_indexing_status(&document.id, IndexingStatus::Indexing, None)
            .unwrap();
        replace(store, document, &segments(2, &document.name, 0));
    }
    let before = version(store, &dataset.id);
    let pair = vec![documents[0].id.clone(), documents[1].id.clone()];
    let after = store
        .complete_documents(&dataset.id, &pair)
        .expect("complete");
    assert_eq!(after, before + 1, "one bump for the whole batch");
    assert_eq!(version(store, &dataset.id), after);

    for document in &documents[..2] {
        let stored = get_document(store, document);
        assert_eq!(stored.indexing_status, IndexingStatus::Completed);
        assert!(stored.completed_at.is_some());
        assert_eq!(stored.completed_segments, stored.total_segments);
        let job = store.job_for_document(&document.id).unwrap().expect("job");
        assert_eq!(job.state, JobState::Done);
        let listed = store
            .list_segments(&document.id, Page::default(), None, None)
            .unwrap();
        assert!(
            listed
                .data
                .iter()
                .all(|s| s.status == SegmentStatus::Completed && s.completed_at.is_some())
        );
    }
    assert_eq!(
        get_document(store, &documents[2]).indexing_status,
        IndexingStatus::Indexing
    );

    assert_eq!(
        store.complete_documents(&dataset.id, &[]).unwrap(),
        after,
        "nothing to complete"
    );
    let with_missing = vec![documents[2].id.clone(), "missing".to_owned()];
    assert_not_found(
        store.complete_documents(&dataset.id, &with_missing),
        "completing a missing document",
    );
    assert_eq!(
        get_document(store, &documents[2]).indexing_status,
        IndexingStatus::Indexing,
        "a failed completion changes nothing"
    );
    assert_eq!(version(store, &dataset.id), after);
    assert_not_found(
        store.complete_documents(&other.id, std::slice::from_ref(&documents[2].id)),
        "completing a document of another dataset",
    );
    assert_not_found(
        store.complete_documents("missing", &pair),
        "completing in a missing dataset",
    );
}

pub fn failing_a_document_fails_its_job(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let document = add_document(store, &dataset.id, "a.txt");
    store.claim_job().unwrap().expect("claim");
    let before = version(store, &dataset.id);
    store
        .fail_document(&document.id, "parser crashed")
        .expect("fail");
    let failed = get_document(store, &document);
    assert_eq!(failed.indexing_status, IndexingStatus::Error);
    assert_eq!(failed.error.as_deref(), Some("parser crashed"));
    assert!(failed.stopped_at.is_some());
    let job = store.job_for_document(&document.id).unwrap().expect("job");
    assert_eq!(
        (job.state, job.error.as_deref()),
        (JobState::Failed, Some("parser crashed"))
    );
    assert_eq!(version(store, &dataset.id), before, "it was never visible");
    assert!(store.unfinished_documents().unwrap().is_empty());

    let published = add_document(store, &dataset.id, "b.txt");
    index(store, &published, &segments(1, "b", 0));
    let before = version(store, &dataset.id);
    store
        .fail_document(&published.id, "re-index failed")
        .expect("fail");
    assert_eq!(
        version(store, &dataset.id),
        before + 1,
        "failing a completed document unpublishes it"
    );
    assert_not_found(
        store.fail_document("missing", "x"),
        "failing a missing document",
    );
}

pub fn documents_are_enabled_disabled_and_archived(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let first = add_document(store, &dataset.id, "a.txt");
    let second = add_document(store, &dataset.id, "b.txt");
    let start = version(store, &dataset.id);

    let disabled = store
        .set_documents_enabled(&dataset.id, std::slice::from_ref(&first.id), false, "bob")
        .expect("disable");
    assert_eq!(disabled, start + 1);
    let stored = get_document(store, &first);
    assert!(!stored.enabled);
    assert!(stored.disabled_at.is_some());
    assert_eq!(stored.disabled_by.as_deref(), Some("bob"));
    assert!(get_document(store, &second).enabled, "others untouched");

    let enabled = store
        .set_documents_enabled(&dataset.id, std::slice::from_ref(&first.id), true, "bob")
        .expect("enable");
    assert_eq!(enabled, start + 2);
    let stored = get_document(store, &first);
    assert!(stored.enabled);
    assert_eq!((stored.disabled_at, stored.disabled_by), (None, None));

    let both = vec![first.id.clone(), second.id.clone()];
    assert_eq!(
        store
            .set_documents_archived(&dataset.id, &both, true)
            .unwrap(),
        start + 3,
        "one bump"
    );
    assert!(get_document(store, &first).archived && get_document(store, &second).archived);
    store
        .set_documents_archived(&dataset.id, &both, false)
        .unwrap();
    assert!(!get_document(store, &first).archived);

    let current = version(store, &dataset.id);
    let with_missing = vec![first.id.clone(), "missing".to_owned()];
    assert_not_found(
        store.set_documents_enabled(&dataset.id, &with_missing, false, "bob"),
        "disabling a missing document",
    );
    assert!(
        get_document(store, &first).enabled,
        "a failed update changes nothing"
    );
    assert_eq!(version(store, &dataset.id), current);
    assert_not_found(
        store.set_documents_archived(&dataset.id, &with_missing, true),
        "archiving a missing document",
    );
    assert_not_found(
        store.set_documents_archived("missing", &both, true),
        "archiving in a missing dataset",
    );
}

pub fn deleting_a_document_cascades(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let field = store
        .create_metadata_field(&dataset.id, "author", MetadataType::String)
        .unwrap();
    let mut new = new_document(&dataset.id, "indexed.txt");
    new.doc_form = DocForm::HierarchicalModel;
    new.metadata = vec![("author".to_owned(), json!("Ann"))];
    let indexed = create_from(store, &new);
    let chunks = index(store, &indexed, &segments(2, "indexed", 2));
    let waiting = add_document(store, &dataset.id, "waiting.txt");

    let before = version(store, &dataset.id);
    assert!(
        !store.delete_document(&other.id, &waiting.id).unwrap(),
        "scoped to its dataset"
    );
    assert!(
        store
            .delete_document(&dataset.id, &waiting.id)
            .expect("delete waiting")
    );
    assert_eq!(
        version(store, &dataset.id),
        before,
        "an unpublished document changes no result"
    );
    assert!(
        store
            .delete_document(&dataset.id, &indexed.id)
            .expect("delete completed")
    );
    assert_eq!(
        version(store, &dataset.id),
        before + 1,
        "a published document does"
    );

    assert_eq!(store.document(&dataset.id, &indexed.id).unwrap(), None);
    assert_eq!(store.document_text(&indexed.id).unwrap(), None);
    assert_eq!(store.job_for_document(&indexed.id).unwrap(), None);
    assert!(store.hydrate(&all_keys(&chunks)).unwrap().is_empty());
    let segment_id = chunks.first().map(|keys| keys.segment).unwrap_or_default();
    assert!(store.hydrate(&[segment_id]).unwrap().is_empty());
    assert_eq!(
        store.metadata_fields(&dataset.id).unwrap(),
        vec![(field, 0)],
        "values are deleted, fields kept"
    );
    assert!(store.catalog(&dataset.id).unwrap().is_empty());
    assert_not_found(
        store.list_segments(&indexed.id, Page::default(), None, None),
        "segments of a deleted document",
    );
    assert!(
        !store.delete_document(&dataset.id, &indexed.id).unwrap(),
        "deleting twice is false"
    );
    assert_eq!(
        store.dataset(&dataset.id).unwrap().unwrap().document_count,
        0
    );
}

pub fn index_keys_follow_the_doc_form(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let text = add_document(store, &dataset.id, "text.txt");
    let text_chunks = replace(store, &text, &segments(3, "text", 0));
    let mut expected: Vec<u64> = text_chunks.iter().map(|keys| keys.segment).collect();
    expected.sort_unstable();
    assert_eq!(
        store.document_index_keys(&text.id).unwrap(),
        expected,
        "segment keys, sorted"
    );

    let mut new = new_document(&dataset.id, "tree.txt");
    new.doc_form = DocForm::HierarchicalModel;
    let tree = create_from(store, &new);
    let tree_chunks = replace(store, &tree, &segments(2, "tree", 3));
    let mut expected: Vec<u64> = tree_chunks
        .iter()
        .flat_map(|keys| keys.children.clone())
        .collect();
    expected.sort_unstable();
    assert_eq!(expected.len(), 6);
    assert_eq!(
        store.document_index_keys(&tree.id).unwrap(),
        expected,
        "child keys, sorted"
    );

    let mut new = new_document(&dataset.id, "qa.txt");
    new.doc_form = DocForm::QaModel;
    let qa = create_from(store, &new);
    let mut qa_segments = segments(2, "question", 0);
    qa_segments[0].answer = Some("answer".to_owned());
    let qa_chunks = replace(store, &qa, &qa_segments);
    let expected: Vec<u64> = qa_chunks.iter().map(|keys| keys.segment).collect();
    assert_eq!(store.document_index_keys(&qa.id).unwrap(), expected);
    assert_not_found(
        store.document_index_keys("missing"),
        "index keys of a missing document",
    );
}

pub fn unfinished_documents_span_datasets(store: &dyn MetadataStore) {
    let first = create_dataset(store, "First");
    let second = create_dataset(store, "Second");
    let waiting = add_document(store, &first.id, "waiting");
    let indexing = add_document(store, &first.id, "indexing");
    let completed = add_document(store, &first.id, "completed");
    let other_waiting = add_document(store, &second.id, "other waiting");
    let paused = add_document(store, &second.id, "paused");
    let failed = add_document(store, &second.id, "failed");
    store
        .set_indexing_status(&indexing.id, IndexingStatus::Indexing, None)
        .unwrap();
    index(store, &completed, &segments(1, "done", 0));
    store
        .set_indexing_status(&paused.id, IndexingStatus::Paused, None)
        .unwrap();
    store.fail_document(&failed.id, "boom").unwrap();

    let unfinished = store.unfinished_documents().unwrap();
    assert_eq!(
        ids(&unfinished),
        vec![
            waiting.id.as_str(),
            indexing.id.as_str(),
            other_waiting.id.as_str()
        ],
        "not completed, error or paused, by key"
    );
}

pub fn catalog_lists_documents_with_metadata(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    store
        .create_metadata_field(&dataset.id, "author", MetadataType::String)
        .unwrap();
    store
        .create_metadata_field(&dataset.id, "year", MetadataType::Number)
        .unwrap();
    let mut new = new_document(&dataset.id, "a.txt");
    new.metadata = vec![
        ("author".to_owned(), json!("Ann")),
        ("year".to_owned(), json!(2020)),
    ];
    let first = create_from(store, &new);
    index(store, &first, &segments(1, "a", 0));
    let second = add_document(store, &dataset.id, "b.txt");
    let third = add_document(store, &dataset.id, "c.txt");
    store
        .set_documents_enabled(&dataset.id, std::slice::from_ref(&second.id), false, "bob")
        .unwrap();
    store
        .set_documents_archived(&dataset.id, std::slice::from_ref(&third.id), true)
        .unwrap();
    add_document(store, &other.id, "elsewhere.txt");

    let catalog = store.catalog(&dataset.id).expect("catalog");
    assert_eq!(catalog.len(), 3);
    let keys: Vec<u64> = catalog.iter().map(|entry| entry.key).collect();
    assert_eq!(keys, vec![first.key, second.key, third.key], "by key");
    let entry = &catalog[0];
    assert_eq!(
        (entry.id.as_str(), entry.name.as_str()),
        (first.id.as_str(), "a.txt")
    );
    assert_eq!(entry.indexing_status, IndexingStatus::Completed);
    assert!(entry.enabled && !entry.archived);
    assert_eq!(entry.metadata.get("author"), Some(&json!("Ann")));
    assert_eq!(entry.metadata.get("year"), Some(&json!(2020)));
    assert_eq!(entry.created_by, "tester");
    assert_eq!(entry.source.as_deref(), Some("/data/a.txt"));
    assert!(entry.created_at > 0 && entry.updated_at >= entry.created_at);
    assert!(catalog[1].metadata.is_empty());
    assert!(!catalog[1].enabled);
    assert!(catalog[2].archived);
    assert_eq!(catalog[1].indexing_status, IndexingStatus::Waiting);
    assert_not_found(store.catalog("missing"), "catalog of a missing dataset");
}

// ----- segments -----

pub fn hydrate_keeps_order_and_resolves_children(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    store
        .create_metadata_field(&dataset.id, "author", MetadataType::String)
        .unwrap();
    let text = add_document(store, &dataset.id, "text.txt");
    let text_keys = index(store, &text, &segments(3, "text", 0));
    let mut new = new_document(&dataset.id, "tree.txt");
    new.doc_form = DocForm::HierarchicalModel;
    new.metadata = vec![("author".to_owned(), json!("Ann"))];
    let tree = create_from(store, &new);
    let tree_keys = index(store, &tree, &segments(2, "tree", 2));

    let missing = u64::MAX / 2;
    let keys = [
        tree_keys[1].children[0],
        text_keys[2].segment,
        missing,
        text_keys[0].segment,
        tree_keys[0].children[1],
    ];
    let hydrated = store.hydrate(&keys).expect("hydrate");
    let returned: Vec<u64> = hydrated.iter().map(|hit| hit.key).collect();
    assert_eq!(
        returned,
        vec![keys[0], keys[1], keys[3], keys[4]],
        "order of keys, missing skipped"
    );

    let child_hit = &hydrated[0];
    let child = child_hit
        .child
        .as_ref()
        .expect("a child key comes with its child chunk");
    assert_eq!(child.key, keys[0]);
    assert_eq!(child.content, "tree segment 2 / child 1");
    assert_eq!(child.position, 1);
    assert_eq!(child.kind, ChildChunkType::Automatic);
    assert_eq!(child.index_node_hash, "sha-tree segment 2 / child 1");
    assert_eq!(
        (child.document_id.as_str(), child.dataset_id.as_str()),
        (tree.id.as_str(), dataset.id.as_str())
    );
    assert_eq!(
        child_hit.segment.id, child.segment_id,
        "with its parent segment"
    );
    assert_eq!(child_hit.segment.key, tree_keys[1].segment);
    assert_eq!(child_hit.segment.content, "tree segment 2");
    assert_eq!(child_hit.document.id, tree.id);
    assert_eq!(
        child_hit.document.metadata.len(),
        1,
        "documents come with metadata"
    );
    assert_eq!(child_hit.document.metadata[0].value, json!("Ann"));

    let segment_hit = &hydrated[1];
    assert_eq!(segment_hit.child, None);
    assert_eq!(segment_hit.segment.key, keys[1]);
    assert_eq!(segment_hit.segment.content, "text segment 3");
    assert_eq!(segment_hit.segment.document_id, text.id);
    assert_eq!(segment_hit.document.id, text.id);
    assert_eq!(
        segment_hit.document.indexing_status,
        IndexingStatus::Completed
    );
    assert_eq!(hydrated[3].segment.key, tree_keys[0].segment);

    assert!(store.hydrate(&[]).unwrap().is_empty());
    assert!(store.hydrate(&[missing]).unwrap().is_empty());
}

pub fn hydrate_handles_many_keys(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let document = add_document(store, &dataset.id, "big.txt");
    let keys = replace(store, &document, &segments(1_200, "big", 0));
    let mut wanted: Vec<u64> = keys.iter().map(|keys| keys.segment).collect();
    wanted.reverse();
    let hydrated = store.hydrate(&wanted).expect("hydrate 1200 keys");
    let returned: Vec<u64> = hydrated.iter().map(|hit| hit.key).collect();
    assert_eq!(returned, wanted, "every key, in the order asked");
    assert_eq!(hydrated[0].segment.position, 1_200);
}

pub fn segments_are_listed_filtered_and_found(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let document = add_document(store, &dataset.id, "a.txt");
    let new_segments: Vec<NewSegment> = (1..=120)
        .map(|position| {
            let fruit = if position % 2 == 0 { "Apple" } else { "banana" };
            new_segment(position, &format!("segment {position} about {fruit}"), 0)
        })
        .collect();
    let keys = replace(store, &document, &new_segments);

    let page = store
        .list_segments(&document.id, Page::new(1, 500), None, None)
        .unwrap();
    assert_eq!(
        (page.total, page.data.len(), page.has_more, page.limit),
        (120, 100, true, 100)
    );
    let positions: Vec<u32> = page.data.iter().map(|segment| segment.position).collect();
    assert_eq!(positions, (1..=100).collect::<Vec<_>>(), "by position");
    let page = store
        .list_segments(&document.id, Page::new(2, 100), None, None)
        .unwrap();
    assert_eq!((page.data.len(), page.has_more), (20, false));
    let apples = store
        .list_segments(&document.id, Page::new(1, 100), Some("apple"), None)
        .unwrap();
    assert_eq!(
        apples.total, 60,
        "keyword matches content, ignoring ASCII case"
    );
    let completed = Some(SegmentStatus::Completed);
    assert_eq!(
        store
            .list_segments(&document.id, Page::default(), None, completed)
            .unwrap()
            .total,
        0
    );
    store
        .complete_documents(&dataset.id, std::slice::from_ref(&document.id))
        .unwrap();
    assert_eq!(
        store
            .list_segments(&document.id, Page::default(), None, completed)
            .unwrap()
            .total,
        120
    );
    let indexing = Some(SegmentStatus::Indexing);
    assert_eq!(
        store
            .list_segments(&document.id, Page::default(), None, indexing)
            .unwrap()
            .total,
        0
    );
    let both = store
        .list_segments(&document.id, Page::default(), Some("banana"), completed)
        .unwrap();
    assert_eq!(both.total, 60);

    let first = &store
        .list_segments(&document.id, Page::new(1, 1), None, None)
        .unwrap()
        .data[0];
    assert_eq!(first.key, keys[0].segment);
    assert_eq!(first.content, "segment 1 about banana");
    assert_eq!(first.dataset_id, dataset.id);
    assert_eq!(first.document_id, document.id);
    assert_eq!(first.word_count, new_segments[0].word_count);
    assert_eq!(first.tokens, new_segments[0].tokens);
    assert_eq!(first.keywords, vec!["kw1".to_owned()]);
    assert_eq!(first.index_node_hash, new_segments[0].hash);
    assert!(!first.index_node_id.is_empty());
    assert_eq!((first.hit_count, first.enabled), (0, true));
    assert_eq!(first.created_by, "tester");
    assert_eq!(
        store.segment(&dataset.id, &first.id).unwrap().as_ref(),
        Some(first)
    );
    assert_eq!(
        store.segment(&other.id, &first.id).unwrap(),
        None,
        "scoped to its dataset"
    );
    assert_eq!(store.segment(&dataset.id, "missing").unwrap(), None);
    assert_not_found(
        store.list_segments("missing", Page::default(), None, None),
        "segments of a missing document",
    );

    let mut new = new_document(&dataset.id, "tree.txt");
    new.doc_form = DocForm::HierarchicalModel;
    let tree = create_from(store, &new);
    let mut tree_segments = segments(1, "parent", 0);
    tree_segments[0].answer = Some("an answer".to_owned());
    tree_segments[0].children = (1..=3)
        .rev()
        .map(|position| NewChildChunk {
            position,
            content: format!("child {position}"),
            word_count: 7,
            tokens: 2,
            hash: format!("h{position}"),
        })
        .collect();
    let tree_keys = replace(store, &tree, &tree_segments);
    let parent = store
        .hydrate(&[tree_keys[0].segment])
        .unwrap()
        .remove(0)
        .segment;
    assert_eq!(parent.answer.as_deref(), Some("an answer"));
    let children = store.child_chunks(&parent.id).unwrap();
    let positions: Vec<u32> = children.iter().map(|child| child.position).collect();
    assert_eq!(positions, vec![1, 2, 3], "by position");
    assert!(
        children
            .iter()
            .all(|child| child.segment_id == parent.id && child.document_id == tree.id)
    );
    assert_eq!(
        (
            children[0].content.as_str(),
            children[0].word_count,
            children[0].tokens
        ),
        ("child 1", 7, 2)
    );
    assert!(store.child_chunks("missing").unwrap().is_empty());
}

pub fn hit_counts_count_each_segment_once(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let mut new = new_document(&dataset.id, "tree.txt");
    new.doc_form = DocForm::HierarchicalModel;
    let tree = create_from(store, &new);
    let keys = index(store, &tree, &segments(3, "tree", 2));
    store
        .increment_hit_counts(&[
            keys[0].segment,
            keys[0].children[0],
            keys[0].children[1],
            keys[1].children[0],
        ])
        .expect("count hits");
    store
        .increment_hit_counts(&[keys[1].children[1], u64::MAX / 2])
        .expect("count hits");
    store.increment_hit_counts(&[]).expect("no hits");
    let counts: Vec<u64> = store
        .list_segments(&tree.id, Page::default(), None, None)
        .unwrap()
        .data
        .iter()
        .map(|segment| segment.hit_count)
        .collect();
    assert_eq!(
        counts,
        vec![1, 2, 0],
        "one hit per segment per call; children count for parents"
    );
}

// ----- metadata -----

pub fn metadata_fields_are_created_renamed_and_deleted(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let author = store
        .create_metadata_field(&dataset.id, "author", MetadataType::String)
        .expect("create author");
    assert_eq!(
        (author.name.as_str(), author.field_type),
        ("author", MetadataType::String)
    );
    assert_eq!(author.dataset_id, dataset.id);
    let year = store
        .create_metadata_field(&dataset.id, "year", MetadataType::Number)
        .expect("create year");
    let result = store.create_metadata_field(&dataset.id, "author", MetadataType::Time);
    assert!(
        matches!(&result, Err(StoreError::MetadataNameTaken(name)) if name == "author"),
        "a duplicate name should be MetadataNameTaken, got {result:?}"
    );
    assert_invalid(
        store.create_metadata_field(&dataset.id, "document_name", MetadataType::String),
        "a built-in field name",
    );
    assert_invalid(
        store.create_metadata_field(&dataset.id, "", MetadataType::String),
        "an empty name",
    );
    assert_not_found(
        store.create_metadata_field("missing", "author", MetadataType::String),
        "a field of a missing dataset",
    );
    store
        .create_metadata_field(&other.id, "author", MetadataType::String)
        .expect("names are per dataset");

    let mut new = new_document(&dataset.id, "a.txt");
    new.metadata = vec![
        ("author".to_owned(), json!("Ann")),
        ("year".to_owned(), json!(2020)),
    ];
    let document = create_from(store, &new);
    add_document(store, &dataset.id, "b.txt");
    assert_eq!(
        store.metadata_fields(&dataset.id).unwrap(),
        vec![(author.clone(), 1), (year.clone(), 1)],
        "creation order, with usage counts"
    );

    let before = version(store, &dataset.id);
    let renamed = store
        .rename_metadata_field(&dataset.id, &author.id, "writer")
        .expect("rename");
    assert_eq!(
        (renamed.id.as_str(), renamed.name.as_str()),
        (author.id.as_str(), "writer")
    );
    assert_eq!(
        version(store, &dataset.id),
        before + 1,
        "renaming changes filter results"
    );
    let stored = get_document(store, &document);
    assert_eq!(
        stored.metadata[0].name, "writer",
        "values follow the rename"
    );
    assert_eq!(stored.metadata[0].value, json!("Ann"));
    let result = store.rename_metadata_field(&dataset.id, &author.id, "year");
    assert!(
        matches!(result, Err(StoreError::MetadataNameTaken(_))),
        "got {result:?}"
    );
    assert_invalid(
        store.rename_metadata_field(&dataset.id, &author.id, "uploader"),
        "renaming to a built-in name",
    );
    assert_not_found(
        store.rename_metadata_field(&dataset.id, "missing", "x"),
        "renaming a missing field",
    );
    assert_not_found(
        store.rename_metadata_field(&other.id, &author.id, "x"),
        "renaming another dataset's field",
    );

    let before = version(store, &dataset.id);
    assert!(
        store
            .delete_metadata_field(&dataset.id, &year.id)
            .expect("delete")
    );
    assert_eq!(version(store, &dataset.id), before + 1);
    let stored = get_document(store, &document);
    assert_eq!(
        stored.metadata.len(),
        1,
        "the deleted field's values are gone"
    );
    assert!(
        !store.catalog(&dataset.id).unwrap()[0]
            .metadata
            .contains_key("year")
    );
    assert!(
        !store.delete_metadata_field(&dataset.id, &year.id).unwrap(),
        "deleting twice is false"
    );
    assert!(
        !store.delete_metadata_field(&other.id, &author.id).unwrap(),
        "scoped to its dataset"
    );
    assert_eq!(
        store.metadata_fields(&dataset.id).unwrap(),
        vec![(renamed, 1)]
    );
}

pub fn metadata_values_are_type_checked(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let text = store
        .create_metadata_field(&dataset.id, "label", MetadataType::String)
        .unwrap();
    let number = store
        .create_metadata_field(&dataset.id, "score", MetadataType::Number)
        .unwrap();
    let time = store
        .create_metadata_field(&dataset.id, "published", MetadataType::Time)
        .unwrap();
    let document = add_document(store, &dataset.id, "a.txt");
    let set = |field: &str, value: Value| {
        store.set_document_metadata(
            &dataset.id,
            &document.id,
            &[(field.to_owned(), value)],
            true,
        )
    };

    assert_invalid(
        set(&number.id, json!("abc")),
        "a non-number for a number field",
    );
    assert_invalid(set(&number.id, json!(true)), "a bool for a number field");
    assert_invalid(
        set(&time.id, json!("yesterday")),
        "a non-time for a time field",
    );
    assert_invalid(set(&time.id, json!(1.5)), "a fractional time");
    assert_invalid(
        set(&text.id, json!({"a": 1})),
        "an object for a string field",
    );
    assert_not_found(set("missing", json!("x")), "an unknown field id");
    let foreign = store
        .create_metadata_field(&other.id, "label", MetadataType::String)
        .unwrap();
    assert_not_found(set(&foreign.id, json!("x")), "another dataset's field");
    assert_not_found(
        store.set_document_metadata(&other.id, &document.id, &[], true),
        "a document of another dataset",
    );

    set(&number.id, json!("42.5")).expect("a number as text");
    set(&time.id, json!(1_700_000_000)).expect("a time");
    set(&text.id, json!("draft")).expect("a string");
    let values: Vec<Value> = get_document(store, &document)
        .metadata
        .into_iter()
        .map(|value| value.value)
        .collect();
    assert_eq!(
        values,
        vec![json!("draft"), json!(42.5), json!(1_700_000_000)],
        "normalized, in field order"
    );

    let mixed = [
        (text.id.clone(), json!("final")),
        (number.id.clone(), json!("bad")),
    ];
    assert_invalid(
        store.set_document_metadata(&dataset.id, &document.id, &mixed, true),
        "one bad value",
    );
    let stored = get_document(store, &document);
    assert_eq!(
        stored.metadata[0].value,
        json!("draft"),
        "a rejected update changes nothing"
    );
}

pub fn document_metadata_is_replaced_or_merged(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let label = store
        .create_metadata_field(&dataset.id, "label", MetadataType::String)
        .unwrap();
    let score = store
        .create_metadata_field(&dataset.id, "score", MetadataType::Number)
        .unwrap();
    let document = add_document(store, &dataset.id, "a.txt");
    let values = || -> Vec<(String, Value)> {
        get_document(store, &document)
            .metadata
            .into_iter()
            .map(|value| (value.name, value.value))
            .collect()
    };
    let start = version(store, &dataset.id);

    let all = [(label.id.clone(), json!("a")), (score.id.clone(), json!(1))];
    let bumped = store
        .set_document_metadata(&dataset.id, &document.id, &all, false)
        .expect("replace");
    assert_eq!(bumped, start + 1, "returns the bumped version");
    assert_eq!(
        values(),
        vec![
            ("label".to_owned(), json!("a")),
            ("score".to_owned(), json!(1))
        ]
    );

    let merge = [(score.id.clone(), json!(2))];
    store
        .set_document_metadata(&dataset.id, &document.id, &merge, true)
        .expect("merge");
    assert_eq!(
        values(),
        vec![
            ("label".to_owned(), json!("a")),
            ("score".to_owned(), json!(2))
        ]
    );

    let replace_all = [(score.id.clone(), json!(3))];
    store
        .set_document_metadata(&dataset.id, &document.id, &replace_all, false)
        .expect("replace");
    assert_eq!(
        values(),
        vec![("score".to_owned(), json!(3))],
        "values not given are removed"
    );

    let clear = [(score.id.clone(), Value::Null)];
    store
        .set_document_metadata(&dataset.id, &document.id, &clear, true)
        .expect("clear");
    assert!(values().is_empty(), "null removes a value");
    assert_eq!(
        version(store, &dataset.id),
        start + 4,
        "every change bumps the version"
    );
    assert_eq!(
        store.metadata_fields(&dataset.id).unwrap(),
        vec![(label, 0), (score, 0)]
    );
}

// ----- jobs -----

pub fn jobs_are_claimed_oldest_first(store: &dyn MetadataStore) {
    assert!(store.claim_job().unwrap().is_none(), "an empty queue");
    let dataset = create_dataset(store, "Docs");
    let documents: Vec<Document> = ["a", "b", "c"]
        .iter()
        .map(|name| add_document(store, &dataset.id, name))
        .collect();
    for document in &documents {
        let (job, claimed) = store.claim_job().unwrap().expect("a queued job");
        assert_eq!(job.document_id, document.id, "oldest first");
        assert_eq!((job.state, job.attempts), (JobState::Running, 1));
        assert_eq!(claimed.id, document.id, "with its document");
        assert_eq!(store.job_for_document(&document.id).unwrap(), Some(job));
    }
    assert!(store.claim_job().unwrap().is_none(), "every job claimed");
    assert_eq!(store.job_for_document("missing").unwrap(), None);
}

pub fn concurrent_claims_never_share_a_job(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let documents: Vec<Document> = (0..24)
        .map(|index| add_document(store, &dataset.id, &format!("d{index}")))
        .collect();
    let claimed: Vec<Vec<String>> = thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    while let Some((job, _)) = store.claim_job().expect("claim") {
                        mine.push(job.id);
                        thread::yield_now();
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("worker panicked"))
            .collect()
    });
    let all: Vec<&String> = claimed.iter().flatten().collect();
    let unique: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        documents.len(),
        "every job claimed exactly once: {claimed:?}"
    );
    assert_eq!(unique.len(), documents.len(), "no job claimed twice");
}

pub fn running_jobs_are_requeued(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let first = add_document(store, &dataset.id, "a");
    add_document(store, &dataset.id, "b");
    add_document(store, &dataset.id, "c");
    store.claim_job().unwrap().expect("claim a");
    store.claim_job().unwrap().expect("claim b");
    assert_eq!(store.requeue_running_jobs().expect("requeue"), 2);
    assert_eq!(
        store.requeue_running_jobs().unwrap(),
        0,
        "nothing left running"
    );
    let (job, _) = store.claim_job().unwrap().expect("claim again");
    assert_eq!(job.document_id, first.id, "a requeued job keeps its place");
    assert_eq!(
        (job.state, job.attempts),
        (JobState::Running, 2),
        "attempts count claims"
    );
}

// ----- concurrency -----

pub fn readers_run_while_writing(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let seed = add_document(store, &dataset.id, "seed");
    let seed_keys = all_keys(&index(store, &seed, &segments(5, "seed", 0)));
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let readers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let mut last_version = 0;
                    let mut rounds = 0_u32;
                    while !done.load(Ordering::Acquire) || rounds == 0 {
                        let current = version(store, &dataset.id);
                        assert!(current >= last_version, "versions never go back");
                        last_version = current;
                        let hits = store.hydrate(&seed_keys).expect("hydrate while writing");
                        assert_eq!(
                            hits.len(),
                            seed_keys.len(),
                            "published chunks stay readable"
                        );
                        let catalog = store.catalog(&dataset.id).expect("catalog while writing");
                        assert!(!catalog.is_empty());
                        store
                            .list_documents(&dataset.id, &DocumentQuery::default())
                            .expect("list while writing");
                        rounds += 1;
                    }
                    rounds
                })
            })
            .collect();
        for index in 0..15 {
            let document = add_document(store, &dataset.id, &format!("doc {index}"));
            let keys = all_keys(&index_with_claim(store, &document));
            assert_eq!(
                store.hydrate(&keys).expect("hydrate own write").len(),
                keys.len()
            );
        }
        done.store(true, Ordering::Release);
        for reader in readers {
            assert!(reader.join().expect("reader panicked") > 0);
        }
    });
    assert_eq!(store.catalog(&dataset.id).unwrap().len(), 16);
}

fn index_with_claim(store: &dyn MetadataStore, document: &Document) -> Vec<ChunkKeys> {
    let (job, _) = store.claim_job().expect("claim").expect("a queued job");
    assert_eq!(job.document_id, document.id);
    index(store, document, &segments(4, &document.name, 0))
}
