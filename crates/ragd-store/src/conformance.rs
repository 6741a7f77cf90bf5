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
    ApiKey, ChildChunk, ChildChunkType, ChunkKeys, Dataset, DatasetUpdate, DocForm, Document,
    DocumentQuery, DocumentStatusFilter, DocumentUpdate, IndexingJob, IndexingStatus,
    IndexingTechnique, JobState, MAX_PAGE_LIMIT, MetadataType, NewApiKey, NewChildChunk,
    NewDataset, NewDocument, NewSegment, Page, Segment, SegmentContent, SegmentStatus,
    SegmentUpdate,
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
            dataset_changes_are_told_after_commit,
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
            job_batches_are_claimed_from_one_dataset,
            concurrent_batch_claims_never_share_a_job,
            claimed_jobs_are_requeued_by_id,
            queue_depth_counts_queued_jobs_only,
            updating_a_document_text_queues_it_again,
            renaming_a_document_queues_nothing,
            segments_are_added_with_new_keys,
            segments_are_completed_with_one_bump,
            segments_are_updated,
            segments_are_deleted_and_keys_never_reused,
            child_chunks_are_paged_and_edited,
            segment_children_are_replaced_with_new_keys,
            api_keys_are_created_and_found_by_hash,
            apps_conversations_and_messages,
            api_keys_are_revoked_by_id_or_prefix,
            api_key_use_is_recorded,
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
    let update = DatasetUpdate {
        doc_form: Some(DocForm::HierarchicalModel),
        ..DatasetUpdate::default()
    };
    let updated = store
        .update_dataset(&dataset.id, &update)
        .expect("update doc form");
    assert_eq!(updated.doc_form, DocForm::HierarchicalModel);
    assert_eq!(updated.version, dataset.version + 3);
    let again = store
        .update_dataset(&dataset.id, &update)
        .expect("same doc form");
    assert_eq!(
        again.version, updated.version,
        "the same doc form is no change"
    );

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

/// Documents added, claimed, set indexing and given `segments_each` segments, ready to complete.
fn indexed_documents(
    store: &dyn MetadataStore,
    dataset_id: &str,
    names: &[&str],
    segments_each: u32,
) -> Vec<Document> {
    let documents: Vec<Document> = names
        .iter()
        .map(|name| add_document(store, dataset_id, name))
        .collect();
    for document in &documents {
        store.claim_job().unwrap().expect("claim");
        store
            .set_indexing_status(&document.id, IndexingStatus::Indexing, None)
            .unwrap();
        replace(store, document, &segments(segments_each, &document.name, 0));
    }
    documents
}

pub fn dataset_changes_are_told_after_commit(store: &dyn MetadataStore) {
    use std::sync::{Arc, Mutex};
    let dataset = create_dataset(store, "Docs");
    let told: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let sink = told.clone();
    store.on_dataset_change(Arc::new(move |id: &str, version: u64| {
        sink.lock().unwrap().push((id.to_owned(), version));
    }));
    let bumped = store.bump_dataset_version(&dataset.id).expect("bump");
    let documents = indexed_documents(store, &dataset.id, &["a", "b"], 1);
    let ids: Vec<String> = documents.iter().map(|d| d.id.clone()).collect();
    let completed = store
        .complete_documents(&dataset.id, &ids)
        .expect("complete");
    let _ = store.bump_dataset_version("missing");
    let told = told.lock().unwrap().clone();
    assert_eq!(
        told,
        vec![
            (dataset.id.clone(), bumped),
            (dataset.id.clone(), completed)
        ],
        "each committed bump once, with its version; a failed one never"
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
    store
        .set_segment_progress(&document.id, 3, 7)
        .expect("progress with a total");
    let progressed = get_document(store, &document);
    assert_eq!(
        (progressed.completed_segments, progressed.total_segments),
        (3, 7)
    );
    assert_not_found(
        store.set_segment_progress("missing", 1, 2),
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
    let documents = indexed_documents(store, &dataset.id, &["a", "b", "c"], 2);
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
    store
        .add_hit_counts(&[
            (keys[0].segment, 5),
            (keys[2].segment, 2),
            (u64::MAX / 2, 9),
        ])
        .expect("add batched hits");
    store.add_hit_counts(&[]).expect("no hits");
    let counts: Vec<u64> = store
        .list_segments(&tree.id, Page::default(), None, None)
        .unwrap()
        .data
        .iter()
        .map(|segment| segment.hit_count)
        .collect();
    assert_eq!(counts, vec![6, 2, 2], "batched hits add their counts");
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

// ----- job batches -----

fn document_ids(claimed: &[(IndexingJob, Document)]) -> Vec<String> {
    claimed
        .iter()
        .map(|(job, document)| {
            assert_eq!(
                job.document_id, document.id,
                "each job comes with its document"
            );
            document.id.clone()
        })
        .collect()
}

pub fn job_batches_are_claimed_from_one_dataset(store: &dyn MetadataStore) {
    assert!(
        store.claim_jobs(10, &[]).unwrap().is_empty(),
        "an empty queue"
    );
    let a = create_dataset(store, "A");
    let b = create_dataset(store, "B");
    let a1 = add_document(store, &a.id, "a1");
    let b1 = add_document(store, &b.id, "b1");
    let a2 = add_document(store, &a.id, "a2");
    let a3 = add_document(store, &a.id, "a3");
    let b2 = add_document(store, &b.id, "b2");
    assert_eq!(store.queued_jobs().unwrap(), 5);

    assert!(
        store.claim_jobs(0, &[]).unwrap().is_empty(),
        "a limit of 0 claims nothing"
    );
    assert_eq!(store.queued_jobs().unwrap(), 5, "nothing claimed");

    let first = store.claim_jobs(2, &[]).expect("claim a batch");
    assert_eq!(
        document_ids(&first),
        vec![a1.id.clone(), a2.id.clone()],
        "the oldest job's dataset, oldest first, at most `limit`"
    );
    for (job, _) in &first {
        assert_eq!((job.state, job.attempts), (JobState::Running, 1));
        assert_eq!(job.dataset_id, a.id);
        assert_eq!(
            store.job_for_document(&job.document_id).unwrap().as_ref(),
            Some(job),
            "the claim is stored"
        );
    }
    assert_eq!(store.queued_jobs().unwrap(), 3);

    let busy = vec![a.id.clone(), "not-a-dataset".to_owned()];
    let second = store.claim_jobs(10, &busy).expect("claim around busy");
    assert_eq!(
        document_ids(&second),
        vec![b1.id.clone(), b2.id.clone()],
        "a busy dataset is skipped even when its job is older; one dataset per batch"
    );
    assert!(
        store.claim_jobs(10, &busy).unwrap().is_empty(),
        "only busy datasets have queued jobs"
    );
    let third = store
        .claim_jobs(10, std::slice::from_ref(&b.id))
        .expect("claim the rest");
    assert_eq!(document_ids(&third), vec![a3.id.clone()]);
    assert_eq!(store.queued_jobs().unwrap(), 0);
    assert!(store.claim_jobs(10, &[]).unwrap().is_empty());
    assert!(store.claim_job().unwrap().is_none(), "every job claimed");
}

pub fn concurrent_batch_claims_never_share_a_job(store: &dyn MetadataStore) {
    let datasets: Vec<Dataset> = (0..3)
        .map(|index| create_dataset(store, &format!("set {index}")))
        .collect();
    for index in 0..30 {
        add_document(store, &datasets[index % 3].id, &format!("d{index}"));
    }
    let claimed: Vec<Vec<String>> = thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let batch = store.claim_jobs(4, &[]).expect("claim a batch");
                        if batch.is_empty() {
                            break;
                        }
                        assert!(batch.len() <= 4, "at most `limit` jobs");
                        let dataset = &batch[0].0.dataset_id;
                        assert!(
                            batch.iter().all(|(job, _)| &job.dataset_id == dataset),
                            "one dataset per batch"
                        );
                        mine.extend(batch.into_iter().map(|(job, _)| job.id));
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
    assert_eq!(all.len(), 30, "every job claimed: {claimed:?}");
    assert_eq!(unique.len(), 30, "no job claimed twice");
}

pub fn claimed_jobs_are_requeued_by_id(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let a = add_document(store, &dataset.id, "a");
    let b = add_document(store, &dataset.id, "b");
    let c = add_document(store, &dataset.id, "c");
    let claimed = store.claim_jobs(2, &[]).expect("claim a and b");
    assert_eq!(document_ids(&claimed), vec![a.id.clone(), b.id.clone()]);
    let (job_a, job_b) = (claimed[0].0.clone(), claimed[1].0.clone());
    store
        .set_indexing_status(&a.id, IndexingStatus::Indexing, None)
        .unwrap();
    let job_c = store.job_for_document(&c.id).unwrap().expect("c's job");

    store
        .requeue_jobs(&[job_a.id.clone(), job_c.id.clone(), "missing".to_owned()])
        .expect("requeue");
    let requeued = store.job_for_document(&a.id).unwrap().expect("a's job");
    assert_eq!(
        (requeued.id.as_str(), requeued.state, requeued.attempts),
        (job_a.id.as_str(), JobState::Queued, 1),
        "the same job, queued again"
    );
    let document = get_document(store, &a);
    assert_eq!(document.indexing_status, IndexingStatus::Waiting);
    assert_eq!(
        (
            document.processing_started_at,
            document.splitting_completed_at
        ),
        (None, None),
        "the document starts over"
    );
    assert_eq!(
        store.job_for_document(&b.id).unwrap().map(|job| job.state),
        Some(JobState::Running),
        "jobs not named stay running"
    );
    assert_eq!(
        store.job_for_document(&c.id).unwrap(),
        Some(job_c),
        "a queued job is left alone"
    );
    assert_eq!(store.queued_jobs().unwrap(), 2);
    store.requeue_jobs(&[]).expect("requeue nothing");

    let again = store.claim_jobs(1, &[]).expect("claim again");
    assert_eq!(
        document_ids(&again),
        vec![a.id.clone()],
        "a requeued job keeps its place"
    );
    assert_eq!(again[0].0.attempts, 2, "attempts count claims");

    // A job that ended is not brought back.
    index(store, &b, &segments(1, "b", 0));
    store
        .requeue_jobs(std::slice::from_ref(&job_b.id))
        .expect("requeue a finished job");
    assert_eq!(
        store.job_for_document(&b.id).unwrap().map(|job| job.state),
        Some(JobState::Done)
    );
    assert_eq!(
        get_document(store, &b).indexing_status,
        IndexingStatus::Completed
    );
}

pub fn queue_depth_counts_queued_jobs_only(store: &dyn MetadataStore) {
    assert_eq!(store.queued_jobs().unwrap(), 0);
    let first = create_dataset(store, "First");
    let second = create_dataset(store, "Second");
    let done = add_document(store, &first.id, "done");
    let failed = add_document(store, &first.id, "failed");
    add_document(store, &second.id, "queued");
    let deleted = add_document(store, &second.id, "deleted");
    assert_eq!(store.queued_jobs().unwrap(), 4, "across datasets");
    index(store, &done, &segments(1, "done", 0));
    store.fail_document(&failed.id, "boom").unwrap();
    assert!(store.delete_document(&second.id, &deleted.id).unwrap());
    assert_eq!(store.queued_jobs().unwrap(), 1);
    store.claim_job().unwrap().expect("claim");
    assert_eq!(
        store.queued_jobs().unwrap(),
        0,
        "running jobs are not queued"
    );
}

// ----- document updates -----

fn text_update(text: &str, batch: &str) -> DocumentUpdate {
    DocumentUpdate {
        text: Some((text.to_owned(), format!("hash-of-{text}"))),
        batch: batch.to_owned(),
        ..DocumentUpdate::default()
    }
}

pub fn updating_a_document_text_queues_it_again(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let document = add_document(store, &dataset.id, "a.txt");
    let old_keys = all_keys(&index(store, &document, &segments(2, "old", 0)));
    let old_job = store.job_for_document(&document.id).unwrap().expect("job");
    let before = version(store, &dataset.id);

    let (updated, job) = store
        .update_document(
            &dataset.id,
            &document.id,
            &text_update("new text", "batch-2"),
        )
        .expect("update text");
    let job = job.expect("a new text queues a job");
    assert_ne!(job.id, old_job.id);
    assert_eq!(
        (job.state, job.attempts, job.document_id.as_str()),
        (JobState::Queued, 0, document.id.as_str())
    );
    assert_eq!(
        store.job_for_document(&document.id).unwrap(),
        Some(job.clone())
    );
    assert_eq!(updated.indexing_status, IndexingStatus::Waiting);
    assert_eq!(
        (
            updated.processing_started_at,
            updated.completed_at,
            updated.error.as_deref()
        ),
        (None, None, None),
        "the lifecycle starts over"
    );
    assert_eq!(
        (
            updated.segment_count,
            updated.total_segments,
            updated.completed_segments,
            updated.word_count,
            updated.tokens
        ),
        (0, 0, 0, 0, 0),
        "counts cleared"
    );
    assert_eq!(updated.batch, "batch-2");
    assert_eq!(updated.content_hash, "hash-of-new text");
    assert_eq!(updated.name, "a.txt", "the name is kept");
    assert_eq!(updated.key, document.key, "the key is kept");
    assert_eq!(
        store.document_text(&document.id).unwrap().as_deref(),
        Some("new text")
    );
    assert_eq!(get_document(store, &document), updated);
    assert_eq!(
        version(store, &dataset.id),
        before + 1,
        "leaving completed bumps the version"
    );
    assert!(
        store.hydrate(&old_keys).unwrap().is_empty(),
        "the old chunks are gone"
    );
    assert_eq!(
        store
            .list_segments(&document.id, Page::default(), None, None)
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        store
            .documents_by_batch(&dataset.id, "batch-2")
            .unwrap()
            .len(),
        1
    );

    // Updating a document that is still queued replaces its job: one job per document in the queue.
    let before = version(store, &dataset.id);
    let (_, second_job) = store
        .update_document(&dataset.id, &document.id, &text_update("newer", "batch-3"))
        .expect("update again");
    let second_job = second_job.expect("a job");
    assert_eq!(
        store.queued_jobs().unwrap(),
        1,
        "the superseded job left the queue"
    );
    assert_eq!(
        version(store, &dataset.id),
        before,
        "an unpublished document changes no result"
    );
    let claimed = store.claim_jobs(10, &[]).unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].0.id, second_job.id);
    assert_eq!(
        store.document_text(&document.id).unwrap().as_deref(),
        Some("newer")
    );

    // A new process rule alone also re-indexes.
    let rule = json!({"mode": "custom", "rules": {"segmentation": {"separator": "###"}}});
    let update = DocumentUpdate {
        process_rule: Some(rule.clone()),
        batch: "batch-4".to_owned(),
        ..DocumentUpdate::default()
    };
    let (updated, job) = store
        .update_document(&dataset.id, &document.id, &update)
        .expect("update rule");
    assert!(job.is_some(), "a new process rule queues a job");
    assert_eq!(updated.process_rule, Some(rule));
    assert_eq!(updated.indexing_status, IndexingStatus::Waiting);
    assert_eq!(
        store.document_text(&document.id).unwrap().as_deref(),
        Some("newer"),
        "the text is kept"
    );
}

pub fn renaming_a_document_queues_nothing(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let document = add_document(store, &dataset.id, "a.txt");
    let keys = all_keys(&index(store, &document, &segments(2, "kept", 0)));
    let job = store.job_for_document(&document.id).unwrap();
    let before = version(store, &dataset.id);

    let rename = DocumentUpdate {
        name: Some("renamed.txt".to_owned()),
        ..DocumentUpdate::default()
    };
    let (renamed, queued) = store
        .update_document(&dataset.id, &document.id, &rename)
        .expect("rename");
    assert_eq!(queued, None, "a rename queues nothing");
    assert_eq!(renamed.name, "renamed.txt");
    assert_eq!(renamed.indexing_status, IndexingStatus::Completed);
    assert_eq!(renamed.batch, document.batch, "the batch is kept");
    assert_eq!(renamed.segment_count, 2);
    assert_eq!(
        version(store, &dataset.id),
        before + 1,
        "document_name is filterable"
    );
    assert_eq!(store.job_for_document(&document.id).unwrap(), job);
    assert_eq!(store.queued_jobs().unwrap(), 0);
    assert_eq!(store.hydrate(&keys).unwrap().len(), 2, "chunks are kept");
    assert_eq!(store.catalog(&dataset.id).unwrap()[0].name, "renamed.txt");

    let settings = DocumentUpdate {
        doc_language: Some("German".to_owned()),
        data_source_type: Some("website_crawl".to_owned()),
        ..DocumentUpdate::default()
    };
    let (changed, queued) = store
        .update_document(&dataset.id, &document.id, &settings)
        .expect("settings");
    assert_eq!(queued, None);
    assert_eq!(
        (
            changed.doc_language.as_str(),
            changed.data_source_type.as_str()
        ),
        ("German", "website_crawl")
    );
    assert_eq!(changed.name, "renamed.txt");
    assert_eq!(
        version(store, &dataset.id),
        before + 1,
        "these fields change no result"
    );

    let both = DocumentUpdate {
        name: Some("final.txt".to_owned()),
        ..text_update("replacement", "batch-9")
    };
    let (updated, queued) = store
        .update_document(&dataset.id, &document.id, &both)
        .expect("rename and new text");
    assert!(queued.is_some());
    assert_eq!(
        (updated.name.as_str(), updated.indexing_status),
        ("final.txt", IndexingStatus::Waiting)
    );
    assert_eq!(
        version(store, &dataset.id),
        before + 2,
        "one bump for one update"
    );

    let before = version(store, &dataset.id);
    let empty = DocumentUpdate {
        name: Some(String::new()),
        ..text_update("never stored", "batch-x")
    };
    assert_invalid(
        store.update_document(&dataset.id, &document.id, &empty),
        "an empty name",
    );
    assert_eq!(
        get_document(store, &document),
        updated,
        "a rejected update changes nothing"
    );
    assert_eq!(
        store.document_text(&document.id).unwrap().as_deref(),
        Some("replacement")
    );
    assert_eq!(version(store, &dataset.id), before);
    assert_not_found(
        store.update_document(&other.id, &document.id, &rename),
        "a document of another dataset",
    );
    assert_not_found(
        store.update_document(&dataset.id, "missing", &rename),
        "a missing document",
    );
    assert_not_found(
        store.update_document("missing", &document.id, &rename),
        "a missing dataset",
    );
}

// ----- segment edits -----

fn content(text: &str) -> SegmentContent {
    SegmentContent {
        content: text.to_owned(),
        word_count: text.chars().count() as u32,
        tokens: text.split_whitespace().count() as u32,
        hash: format!("sha-{text}"),
    }
}

fn all_segments(store: &dyn MetadataStore, document: &Document) -> Vec<Segment> {
    store
        .list_segments(&document.id, Page::new(1, 100), None, None)
        .expect("list segments")
        .data
}

/// The document's counts match its segments.
fn assert_counts(store: &dyn MetadataStore, document: &Document, what: &str) -> Document {
    let stored = get_document(store, document);
    let segments = all_segments(store, document);
    let characters: u64 = segments.iter().map(|s| u64::from(s.word_count)).sum();
    let tokens: u64 = segments.iter().map(|s| u64::from(s.tokens)).sum();
    let completed = segments
        .iter()
        .filter(|s| s.status == SegmentStatus::Completed)
        .count() as u64;
    let count = segments.len() as u64;
    assert_eq!(
        (
            stored.segment_count,
            stored.total_segments,
            stored.completed_segments,
            stored.word_count,
            stored.tokens
        ),
        (count, count, completed, characters, tokens),
        "{what}: counts (segments, total, completed, characters, tokens) match the segments"
    );
    stored
}

pub fn segments_are_added_with_new_keys(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let document = add_document(store, &dataset.id, "a.txt");
    let old_keys = all_keys(&index(store, &document, &segments(2, "old", 0)));
    let before = version(store, &dataset.id);

    let mut added = vec![
        new_segment(99, "added one", 0),
        new_segment(7, "added two", 0),
    ];
    added[1].answer = Some("an answer".to_owned());
    let stored = store
        .add_segments(&dataset.id, &document.id, &added, "editor")
        .expect("add segments");
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored.iter().map(|s| s.position).collect::<Vec<_>>(),
        vec![3, 4],
        "positions continue after the last segment"
    );
    assert_eq!(
        stored
            .iter()
            .map(|s| s.content.as_str())
            .collect::<Vec<_>>(),
        vec!["added one", "added two"],
        "in the order given"
    );
    for segment in &stored {
        assert_eq!(segment.status, SegmentStatus::Indexing);
        assert!(segment.indexing_at.is_some() && segment.completed_at.is_none());
        assert_eq!(segment.created_by, "editor");
        assert_eq!(
            (segment.dataset_id.as_str(), segment.document_id.as_str()),
            (dataset.id.as_str(), document.id.as_str())
        );
        assert!(segment.enabled);
        assert_eq!(
            store.segment(&dataset.id, &segment.id).unwrap().as_ref(),
            Some(segment)
        );
    }
    assert_eq!(stored[1].answer.as_deref(), Some("an answer"));
    assert_eq!(stored[0].index_node_hash, "sha-added one");
    let old_max = old_keys.iter().max().copied().unwrap_or(0);
    assert!(
        stored.iter().all(|s| s.key > old_max) && stored[0].key != stored[1].key,
        "new, distinct keys"
    );
    let counted = assert_counts(store, &document, "after adding");
    assert_eq!((counted.segment_count, counted.completed_segments), (4, 2));
    assert_eq!(
        counted.indexing_status,
        IndexingStatus::Completed,
        "the document stays published"
    );
    assert_eq!(
        version(store, &dataset.id),
        before,
        "nothing new is searchable before it is completed"
    );
    let mut index_keys = old_keys.clone();
    index_keys.extend(stored.iter().map(|s| s.key));
    index_keys.sort_unstable();
    assert_eq!(store.document_index_keys(&document.id).unwrap(), index_keys);

    let mut tree = new_document(&dataset.id, "tree.txt");
    tree.doc_form = DocForm::HierarchicalModel;
    let tree = create_from(store, &tree);
    index(store, &tree, &segments(1, "tree", 1));
    let parents = store
        .add_segments(&dataset.id, &tree.id, &segments(1, "parent", 3), "editor")
        .expect("add a parent with children");
    let children = store.child_chunks(&parents[0].id).unwrap();
    assert_eq!(children.len(), 3, "children are stored with their segment");
    assert!(
        children
            .iter()
            .all(|child| child.kind == ChildChunkType::Automatic && child.key > parents[0].key)
    );
    assert_eq!(parents[0].position, 2);

    assert!(
        store
            .add_segments(&dataset.id, &document.id, &[], "editor")
            .unwrap()
            .is_empty()
    );
    assert_not_found(
        store.add_segments(&other.id, &document.id, &added, "editor"),
        "a document of another dataset",
    );
    assert_not_found(
        store.add_segments(&dataset.id, "missing", &added, "editor"),
        "a missing document",
    );
    assert_not_found(
        store.add_segments("missing", &document.id, &added, "editor"),
        "a missing dataset",
    );
    assert_eq!(
        all_segments(store, &document).len(),
        4,
        "failed adds add nothing"
    );
}

pub fn segments_are_completed_with_one_bump(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let document = add_document(store, &dataset.id, "a.txt");
    index(store, &document, &segments(1, "old", 0));
    let added = store
        .add_segments(&dataset.id, &document.id, &segments(3, "new", 0), "editor")
        .unwrap();
    let ids: Vec<String> = added.iter().map(|s| s.id.clone()).collect();
    let before = version(store, &dataset.id);

    assert_eq!(
        store.complete_segments(&dataset.id, &[]).unwrap(),
        before,
        "nothing to complete"
    );
    let with_missing = vec![ids[0].clone(), "missing".to_owned()];
    assert_not_found(
        store.complete_segments(&dataset.id, &with_missing),
        "a missing segment",
    );
    assert_not_found(
        store.complete_segments(&other.id, &ids),
        "segments of another dataset",
    );
    assert_not_found(
        store.complete_segments("missing", &ids),
        "a missing dataset",
    );
    assert_eq!(
        store
            .segment(&dataset.id, &ids[0])
            .unwrap()
            .map(|s| s.status),
        Some(SegmentStatus::Indexing),
        "a failed completion changes nothing"
    );
    assert_eq!(version(store, &dataset.id), before);

    let after = store
        .complete_segments(&dataset.id, &ids[..2])
        .expect("complete two");
    assert_eq!(after, before + 1, "one bump for the batch");
    assert_eq!(version(store, &dataset.id), after);
    for id in &ids[..2] {
        let segment = store.segment(&dataset.id, id).unwrap().expect("segment");
        assert_eq!(segment.status, SegmentStatus::Completed);
        assert!(segment.completed_at.is_some());
    }
    assert_eq!(
        store
            .segment(&dataset.id, &ids[2])
            .unwrap()
            .map(|s| s.status),
        Some(SegmentStatus::Indexing)
    );
    let counted = assert_counts(store, &document, "after completing");
    assert_eq!(counted.completed_segments, 3);
}

pub fn segments_are_updated(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let document = add_document(store, &dataset.id, "a.txt");
    let keys = index(store, &document, &segments(2, "old", 0));
    let first = all_segments(store, &document).remove(0);
    let v0 = version(store, &dataset.id);

    let update = SegmentUpdate {
        content: Some(content("brand new content here")),
        by: "editor".to_owned(),
        ..SegmentUpdate::default()
    };
    let updated = store
        .update_segment(&dataset.id, &first.id, &update)
        .expect("update content");
    assert_eq!(updated.content, "brand new content here");
    assert_eq!(
        (
            updated.word_count,
            updated.tokens,
            updated.index_node_hash.as_str()
        ),
        (22, 4, "sha-brand new content here")
    );
    assert_eq!(
        updated.status,
        SegmentStatus::Indexing,
        "new content must be indexed"
    );
    assert!(updated.indexing_at.is_some());
    assert_eq!(updated.completed_at, None);
    assert_eq!(
        (updated.key, updated.index_node_id.as_str()),
        (keys[0].segment, first.index_node_id.as_str()),
        "the key and index node id stay"
    );
    assert_eq!(
        updated.keywords, first.keywords,
        "fields left None are kept"
    );
    assert_eq!(
        store.segment(&dataset.id, &first.id).unwrap(),
        Some(updated.clone())
    );
    assert_counts(store, &document, "after a content change");
    assert_eq!(
        version(store, &dataset.id),
        v0 + 1,
        "retrieval sees the change"
    );
    store
        .complete_segments(&dataset.id, std::slice::from_ref(&first.id))
        .unwrap();

    let update = SegmentUpdate {
        answer: Some("the answer".to_owned()),
        keywords: Some(vec!["alpha".to_owned(), "beta".to_owned()]),
        ..SegmentUpdate::default()
    };
    let v1 = version(store, &dataset.id);
    let updated = store
        .update_segment(&dataset.id, &first.id, &update)
        .expect("update answer and keywords");
    assert_eq!(updated.answer.as_deref(), Some("the answer"));
    assert_eq!(
        updated.keywords,
        vec!["alpha".to_owned(), "beta".to_owned()]
    );
    assert_eq!(
        updated.status,
        SegmentStatus::Completed,
        "no new content, nothing to index"
    );
    assert_eq!(updated.content, "brand new content here");
    assert_eq!(version(store, &dataset.id), v1 + 1);

    let same = SegmentUpdate {
        content: Some(content("brand new content here")),
        ..SegmentUpdate::default()
    };
    let unchanged = store
        .update_segment(&dataset.id, &first.id, &same)
        .expect("same content");
    assert_eq!(
        unchanged.status,
        SegmentStatus::Completed,
        "the same content is no change"
    );
    assert_eq!(version(store, &dataset.id), v1 + 1, "nothing changed");

    let disable = SegmentUpdate {
        enabled: Some(false),
        by: "bob".to_owned(),
        ..SegmentUpdate::default()
    };
    let disabled = store
        .update_segment(&dataset.id, &first.id, &disable)
        .expect("disable");
    assert!(!disabled.enabled);
    assert!(disabled.disabled_at.is_some());
    assert_eq!(disabled.disabled_by.as_deref(), Some("bob"));
    assert_eq!(disabled.status, SegmentStatus::Completed);
    assert_eq!(
        version(store, &dataset.id),
        v1 + 2,
        "disabled segments are not returned"
    );
    let enable = SegmentUpdate {
        enabled: Some(true),
        by: "carol".to_owned(),
        ..SegmentUpdate::default()
    };
    let enabled = store
        .update_segment(&dataset.id, &first.id, &enable)
        .expect("enable");
    assert!(enabled.enabled);
    assert_eq!((enabled.disabled_at, enabled.disabled_by), (None, None));
    assert_eq!(version(store, &dataset.id), v1 + 3);
    store
        .update_segment(&dataset.id, &first.id, &enable)
        .expect("enable again");
    assert_eq!(
        version(store, &dataset.id),
        v1 + 3,
        "enabling an enabled segment changes nothing"
    );

    assert_not_found(
        store.update_segment(&other.id, &first.id, &enable),
        "a segment of another dataset",
    );
    assert_not_found(
        store.update_segment(&dataset.id, "missing", &enable),
        "a missing segment",
    );
    assert_not_found(
        store.update_segment("missing", &first.id, &enable),
        "a missing dataset",
    );

    // A document that is not published: edits change no result.
    let waiting = add_document(store, &dataset.id, "waiting.txt");
    replace(store, &waiting, &segments(2, "draft", 0));
    let draft = all_segments(store, &waiting).remove(0);
    let before = version(store, &dataset.id);
    let update = SegmentUpdate {
        content: Some(content("rewritten draft")),
        enabled: Some(false),
        ..SegmentUpdate::default()
    };
    store
        .update_segment(&dataset.id, &draft.id, &update)
        .expect("update a draft");
    assert_counts(store, &waiting, "after editing a draft");
    assert_eq!(version(store, &dataset.id), before);
}

pub fn segments_are_deleted_and_keys_never_reused(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let mut new = new_document(&dataset.id, "tree.txt");
    new.doc_form = DocForm::HierarchicalModel;
    let document = create_from(store, &new);
    let keys = index(store, &document, &segments(3, "tree", 2));
    let listed = all_segments(store, &document);
    let (first, last) = (listed[0].clone(), listed[2].clone());
    let before = version(store, &dataset.id);

    assert!(
        !store.delete_segment(&other.id, &first.id).unwrap(),
        "scoped to its dataset"
    );
    assert!(
        store.segment(&dataset.id, &first.id).unwrap().is_some(),
        "still there"
    );
    assert_not_found(
        store.delete_segment("missing", &first.id),
        "a missing dataset",
    );
    assert_eq!(version(store, &dataset.id), before);

    assert!(
        store
            .delete_segment(&dataset.id, &last.id)
            .expect("delete the last segment")
    );
    assert_eq!(
        version(store, &dataset.id),
        before + 1,
        "a published segment is gone"
    );
    assert_eq!(store.segment(&dataset.id, &last.id).unwrap(), None);
    assert!(
        store.hydrate(&all_keys(&keys[2..])).unwrap().is_empty(),
        "the segment and its children are gone"
    );
    assert!(store.child_chunks(&last.id).unwrap().is_empty());
    let counted = assert_counts(store, &document, "after a delete");
    assert_eq!(counted.segment_count, 2);
    assert!(
        !store.delete_segment(&dataset.id, &last.id).unwrap(),
        "deleting twice is false"
    );
    assert_eq!(version(store, &dataset.id), before + 1);

    // The freed position and keys are not handed out again.
    let added = store
        .add_segments(
            &dataset.id,
            &document.id,
            &segments(1, "again", 1),
            "editor",
        )
        .unwrap();
    let max_before = all_keys(&keys).into_iter().max().unwrap_or(0);
    let children = store.child_chunks(&added[0].id).unwrap();
    assert!(
        added[0].key > max_before && children.iter().all(|child| child.key > max_before),
        "keys of deleted chunks are never reused"
    );
    assert_eq!(added[0].position, 3, "after the last remaining segment");
    assert_counts(store, &document, "after adding again");

    let waiting = add_document(store, &dataset.id, "waiting.txt");
    replace(store, &waiting, &segments(2, "draft", 0));
    let draft = all_segments(store, &waiting).remove(0);
    let before = version(store, &dataset.id);
    assert!(store.delete_segment(&dataset.id, &draft.id).unwrap());
    assert_eq!(
        version(store, &dataset.id),
        before,
        "an unpublished segment changes no result"
    );
    assert_eq!(
        assert_counts(store, &waiting, "after deleting a draft").segment_count,
        1
    );
}

// ----- child chunk edits -----

pub fn child_chunks_are_paged_and_edited(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let other = create_dataset(store, "Other");
    let mut new = new_document(&dataset.id, "tree.txt");
    new.doc_form = DocForm::HierarchicalModel;
    let document = create_from(store, &new);
    let keys = index(store, &document, &segments(2, "tree", 3));
    let parents = all_segments(store, &document);
    let parent = &parents[0];
    let sibling = &parents[1];
    let counts = get_document(store, &document);

    let page = store
        .list_child_chunks(&parent.id, Page::new(1, 2), None)
        .expect("list children");
    assert_eq!(
        (
            page.total,
            page.data.len(),
            page.has_more,
            page.page,
            page.limit
        ),
        (3, 2, true, 1, 2)
    );
    assert_eq!(
        page.data.iter().map(|c| c.position).collect::<Vec<_>>(),
        vec![1, 2],
        "by position"
    );
    let page = store
        .list_child_chunks(&parent.id, Page::new(2, 2), None)
        .unwrap();
    assert_eq!((page.data.len(), page.has_more), (1, false));
    assert_eq!(page.data[0].content, "tree segment 1 / child 3");
    let capped = store
        .list_child_chunks(&parent.id, Page::new(0, 1000), None)
        .unwrap();
    assert_eq!((capped.page, capped.limit), (1, MAX_PAGE_LIMIT));
    let found = store
        .list_child_chunks(&parent.id, Page::default(), Some("CHILD 2"))
        .unwrap();
    assert_eq!(
        (found.total, found.data[0].position),
        (1, 2),
        "keyword matches content, ignoring ASCII case"
    );
    assert_eq!(
        store
            .list_child_chunks(&parent.id, Page::default(), Some("%"))
            .unwrap()
            .total,
        0,
        "LIKE wildcards are literal"
    );
    assert_not_found(
        store.list_child_chunks("missing", Page::default(), None),
        "children of a missing segment",
    );

    let first = page_first_child(store, &parent.id);
    assert_eq!(
        store.child_chunk(&dataset.id, &first.id).unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.child_chunk(&other.id, &first.id).unwrap(),
        None,
        "scoped to its dataset"
    );
    assert_eq!(store.child_chunk(&dataset.id, "missing").unwrap(), None);

    // Add: next position, customized, a new key; not searchable until completed.
    let before = version(store, &dataset.id);
    let max_key = all_keys(&keys).into_iter().max().unwrap_or(0);
    let added = store
        .add_child_chunk(&dataset.id, &parent.id, &content("a custom child"))
        .expect("add a child");
    assert_eq!(added.position, 4);
    assert_eq!(added.kind, ChildChunkType::Customized);
    assert!(added.key > max_key, "a new key");
    assert_eq!(
        (
            added.segment_id.as_str(),
            added.document_id.as_str(),
            added.dataset_id.as_str()
        ),
        (
            parent.id.as_str(),
            document.id.as_str(),
            dataset.id.as_str()
        )
    );
    assert_eq!(
        (
            added.content.as_str(),
            added.word_count,
            added.tokens,
            added.index_node_hash.as_str()
        ),
        ("a custom child", 14, 3, "sha-a custom child")
    );
    assert_eq!(version(store, &dataset.id), before);
    assert_eq!(
        store
            .list_child_chunks(&parent.id, Page::default(), None)
            .unwrap()
            .total,
        4
    );
    let hit = store.hydrate(&[added.key]).unwrap();
    assert_eq!(
        hit[0].child.as_ref().map(|c| c.id.as_str()),
        Some(added.id.as_str())
    );
    let stored = get_document(store, &document);
    assert_eq!(
        (stored.segment_count, stored.word_count, stored.tokens),
        (counts.segment_count, counts.word_count, counts.tokens),
        "document counts come from segments"
    );

    // Update: same key, customized, bumps for a published document.
    let updated = store
        .update_child_chunk(
            &dataset.id,
            &parent.id,
            &first.id,
            &content("edited child text"),
        )
        .expect("update a child");
    assert_eq!(
        (updated.key, updated.position),
        (first.key, first.position),
        "key and position stay"
    );
    assert_eq!(updated.content, "edited child text");
    assert_eq!(
        (updated.word_count, updated.index_node_hash.as_str()),
        (17, "sha-edited child text")
    );
    assert_eq!(
        updated.kind,
        ChildChunkType::Customized,
        "an edited child is customized"
    );
    assert_eq!(
        store.child_chunk(&dataset.id, &first.id).unwrap(),
        Some(updated.clone())
    );
    assert_eq!(version(store, &dataset.id), before + 1);
    assert_not_found(
        store.update_child_chunk(&dataset.id, &sibling.id, &first.id, &content("x")),
        "a child of another segment",
    );
    assert_not_found(
        store.update_child_chunk(&dataset.id, &parent.id, "missing", &content("x")),
        "a missing child",
    );
    assert_not_found(
        store.update_child_chunk(&other.id, &parent.id, &first.id, &content("x")),
        "a segment of another dataset",
    );
    assert_eq!(
        store.child_chunk(&dataset.id, &first.id).unwrap(),
        Some(updated),
        "failed updates change nothing"
    );

    // Delete: bumps for a published document, false the second time.
    let before = version(store, &dataset.id);
    assert!(
        !store
            .delete_child_chunk(&dataset.id, &sibling.id, &first.id)
            .unwrap(),
        "not a child of that segment"
    );
    assert!(
        store
            .delete_child_chunk(&dataset.id, &parent.id, &first.id)
            .expect("delete a child")
    );
    assert_eq!(version(store, &dataset.id), before + 1);
    assert_eq!(store.child_chunk(&dataset.id, &first.id).unwrap(), None);
    assert!(store.hydrate(&[first.key]).unwrap().is_empty());
    assert!(
        !store
            .delete_child_chunk(&dataset.id, &parent.id, &first.id)
            .unwrap(),
        "deleting twice is false"
    );
    assert_eq!(version(store, &dataset.id), before + 1);
    assert_eq!(
        store
            .list_child_chunks(&parent.id, Page::default(), None)
            .unwrap()
            .total,
        3
    );
    assert_not_found(
        store.delete_child_chunk(&dataset.id, "missing", &first.id),
        "a missing segment",
    );
    assert_not_found(
        store.add_child_chunk(&other.id, &parent.id, &content("x")),
        "a segment of another dataset",
    );
    assert_not_found(
        store.add_child_chunk("missing", &parent.id, &content("x")),
        "a missing dataset",
    );

    // Another add after a delete: keys keep increasing.
    let again = store
        .add_child_chunk(&dataset.id, &parent.id, &content("another"))
        .unwrap();
    assert!(again.key > added.key, "keys are never reused");
    assert_eq!(again.position, 5, "after the last child");
}

fn page_first_child(store: &dyn MetadataStore, segment_id: &str) -> ChildChunk {
    store
        .list_child_chunks(segment_id, Page::new(1, 1), None)
        .expect("list children")
        .data
        .remove(0)
}

pub fn segment_children_are_replaced_with_new_keys(store: &dyn MetadataStore) {
    let dataset = create_dataset(store, "Docs");
    let mut new = new_document(&dataset.id, "tree.txt");
    new.doc_form = DocForm::HierarchicalModel;
    let document = create_from(store, &new);
    let keys = index(store, &document, &segments(2, "tree", 2));
    let parent = all_segments(store, &document).remove(0);
    let before = version(store, &dataset.id);

    let regenerated = new_segment(1, "regenerated parent", 3).children;
    let update = SegmentUpdate {
        content: Some(content("regenerated parent")),
        children: Some(regenerated.clone()),
        by: "editor".to_owned(),
        ..SegmentUpdate::default()
    };
    let updated = store
        .update_segment(&dataset.id, &parent.id, &update)
        .expect("replace children");
    assert_eq!(updated.status, SegmentStatus::Indexing);
    assert_eq!(updated.key, parent.key, "the segment keeps its key");
    let children = store.child_chunks(&parent.id).unwrap();
    assert_eq!(
        children
            .iter()
            .map(|c| c.content.clone())
            .collect::<Vec<_>>(),
        regenerated
            .iter()
            .map(|c| c.content.clone())
            .collect::<Vec<_>>()
    );
    let max_key = all_keys(&keys).into_iter().max().unwrap_or(0);
    assert!(
        children.iter().all(|child| child.key > max_key),
        "replaced children get new keys"
    );
    assert!(
        children
            .iter()
            .all(|child| child.kind == ChildChunkType::Automatic)
    );
    assert!(
        store.hydrate(&keys[0].children).unwrap().is_empty(),
        "the old children are gone"
    );
    let mut expected: Vec<u64> = keys[1].children.clone();
    expected.extend(children.iter().map(|child| child.key));
    expected.sort_unstable();
    assert_eq!(store.document_index_keys(&document.id).unwrap(), expected);
    assert_eq!(version(store, &dataset.id), before + 1);

    // Children alone (same content) also need indexing.
    let sibling = all_segments(store, &document).remove(1);
    let update = SegmentUpdate {
        children: Some(Vec::new()),
        ..SegmentUpdate::default()
    };
    let emptied = store
        .update_segment(&dataset.id, &sibling.id, &update)
        .expect("remove children");
    assert_eq!(emptied.status, SegmentStatus::Indexing);
    assert!(store.child_chunks(&sibling.id).unwrap().is_empty());
    assert_eq!(emptied.content, sibling.content);
    let after = store
        .complete_segments(&dataset.id, &[parent.id.clone(), sibling.id.clone()])
        .unwrap();
    assert_eq!(after, version(store, &dataset.id));
    assert_eq!(
        assert_counts(store, &document, "after completing").completed_segments,
        2
    );
}

// ----- API keys -----

fn new_api_key(name: &str, prefix: &str, hash: &str) -> NewApiKey {
    NewApiKey {
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        token_hash: hash.to_owned(),
        datasets: Vec::new(),
        app_id: None,
    }
}

pub fn api_keys_are_created_and_found_by_hash(store: &dyn MetadataStore) {
    assert!(store.list_api_keys().unwrap().is_empty());
    let dataset = create_dataset(store, "Docs");
    let mut new = new_api_key("ci", "dataset-AbCd", "hash-1");
    new.datasets = vec![dataset.id.clone(), "another".to_owned()];
    let key = store.create_api_key(&new).expect("create key");
    assert!(
        uuid::Uuid::parse_str(&key.id).is_ok(),
        "the id is a UUID: {}",
        key.id
    );
    assert_eq!(
        (key.name.as_str(), key.prefix.as_str()),
        ("ci", "dataset-AbCd")
    );
    assert_eq!(key.datasets, new.datasets, "datasets in order");
    assert!(key.created_at > 0);
    assert_eq!((key.last_used_at, key.revoked_at), (None, None));
    assert_eq!(store.api_key_by_hash("hash-1").unwrap(), Some(key.clone()));
    assert_eq!(store.api_key_by_hash("hash-2").unwrap(), None);

    let all = store
        .create_api_key(&new_api_key("all", "dataset-Qrst", "hash-2"))
        .expect("a key for every dataset");
    assert!(all.datasets.is_empty(), "empty means every dataset");

    assert_invalid(
        store.create_api_key(&new_api_key("again", "dataset-Zzzz", "hash-1")),
        "a token hash already stored",
    );
    assert_invalid(
        store.create_api_key(&new_api_key("", "dataset-Zzzz", "hash-3")),
        "an empty name",
    );
    assert_invalid(
        store.create_api_key(&new_api_key(&"n".repeat(256), "dataset-Zzzz", "hash-3")),
        "a 256-character name",
    );
    store
        .create_api_key(&new_api_key(&"é".repeat(255), "dataset-Long", "hash-4"))
        .expect("255 characters (not bytes) are allowed");
    assert_invalid(
        store.create_api_key(&new_api_key("x", "", "hash-5")),
        "an empty prefix",
    );
    assert_invalid(
        store.create_api_key(&new_api_key("x", "dataset-Zzzz", "")),
        "an empty hash",
    );
    let listed = store.list_api_keys().unwrap();
    assert_eq!(listed.len(), 3, "failed creations store nothing");
    assert_eq!(listed[0], key, "oldest first");
    assert_eq!(listed[1], all);
}

pub fn api_keys_are_revoked_by_id_or_prefix(store: &dyn MetadataStore) {
    let first = store
        .create_api_key(&new_api_key("first", "dataset-AbCd", "h1"))
        .unwrap();
    let second = store
        .create_api_key(&new_api_key("second", "dataset-AbCd", "h2"))
        .unwrap();
    let third = store
        .create_api_key(&new_api_key("third", "dataset-XyZw", "h3"))
        .unwrap();

    let ambiguous = store.revoke_api_key("dataset-AbCd");
    match &ambiguous {
        Err(StoreError::Invalid(message)) => assert!(
            message.contains("dataset-AbCd"),
            "the message names the prefix: {message}"
        ),
        other => panic!("an ambiguous prefix should be Invalid, got {other:?}"),
    }
    assert!(
        store
            .list_api_keys()
            .unwrap()
            .iter()
            .all(|key| key.revoked_at.is_none()),
        "an ambiguous prefix revokes nothing"
    );

    assert!(store.revoke_api_key(&first.id).expect("revoke by id"));
    let revoked = store.api_key_by_hash("h1").unwrap().expect("still found");
    assert!(
        revoked.revoked_at.is_some_and(|at| at >= first.created_at),
        "revoked keys are found, with revoked_at"
    );
    assert!(
        !store.revoke_api_key(&first.id).unwrap(),
        "already revoked: nothing to revoke"
    );
    assert_eq!(
        store.api_key_by_hash("h1").unwrap(),
        Some(revoked),
        "revoked_at is kept"
    );

    assert!(
        store
            .revoke_api_key("dataset-AbCd")
            .expect("the prefix now names one live key"),
        "revoke by prefix"
    );
    assert!(
        store
            .api_key_by_hash("h2")
            .unwrap()
            .is_some_and(|key| key.revoked_at.is_some())
    );
    assert!(
        store
            .api_key_by_hash("h3")
            .unwrap()
            .is_some_and(|key| key.revoked_at.is_none()),
        "other keys are untouched"
    );
    assert!(
        !store.revoke_api_key("dataset-AbCd").unwrap(),
        "no live key left"
    );
    assert!(
        !store.revoke_api_key("dataset-").unwrap(),
        "a prefix matches exactly"
    );
    assert!(!store.revoke_api_key("unknown").unwrap());
    assert!(!store.revoke_api_key("").unwrap());
    assert!(store.revoke_api_key(&third.id).unwrap());

    let listed = store.list_api_keys().unwrap();
    assert_eq!(
        listed.iter().map(|key| key.id.as_str()).collect::<Vec<_>>(),
        vec![first.id.as_str(), second.id.as_str(), third.id.as_str()],
        "revoked keys are listed"
    );
    assert!(listed.iter().all(|key| key.revoked_at.is_some()));
}

pub fn api_key_use_is_recorded(store: &dyn MetadataStore) {
    let key = store
        .create_api_key(&new_api_key("ci", "dataset-AbCd", "h1"))
        .unwrap();
    let other = store
        .create_api_key(&new_api_key("other", "dataset-Efgh", "h2"))
        .unwrap();
    store.touch_api_key(&key.id).expect("touch");
    let touched = store.api_key_by_hash("h1").unwrap().expect("key");
    assert!(
        touched.last_used_at.is_some_and(|at| at >= key.created_at),
        "last_used_at is set: {touched:?}"
    );
    assert_eq!(
        ApiKey {
            last_used_at: None,
            ..touched
        },
        key,
        "nothing else changes"
    );
    assert_eq!(
        store.api_key_by_hash("h2").unwrap(),
        Some(other),
        "only that key"
    );
    assert_not_found(store.touch_api_key("missing"), "touching a missing key");
}

// ----- apps, conversations, messages -----

fn chat_message(
    id: &str,
    conversation: &str,
    app: &str,
    query: &str,
    at: i64,
) -> ragd_core::app::Message {
    ragd_core::app::Message {
        id: id.to_owned(),
        conversation_id: conversation.to_owned(),
        app_id: app.to_owned(),
        user: "u1".to_owned(),
        parent_message_id: None,
        inputs: json!({}),
        query: query.to_owned(),
        answer: format!("answer to {query}"),
        status: "normal".to_owned(),
        error: None,
        retriever_resources: json!([]),
        feedback: None,
        feedback_content: None,
        message_tokens: 10,
        answer_tokens: 5,
        total_tokens: 15,
        provider_response_latency: 0.25,
        workflow_run_id: Some("run-1".to_owned()),
        created_at: at,
    }
}

pub fn apps_conversations_and_messages(store: &dyn MetadataStore) {
    use ragd_core::app::{ConversationSort, NewApp};
    let new = |mode: &str| NewApp {
        name: "Support bot".to_owned(),
        description: String::new(),
        mode: mode.to_owned(),
        dsl: "app: {}".to_owned(),
    };
    assert!(matches!(
        store.create_app(&new("agent-chat")),
        Err(StoreError::Invalid(_))
    ));
    let app = store.create_app(&new("advanced-chat")).unwrap();
    assert_eq!(store.get_app(&app.id).unwrap().as_ref(), Some(&app));
    assert_eq!(store.list_apps().unwrap(), vec![app.clone()]);
    assert_ne!(app.workflow_id, app.id);

    let key = store
        .create_api_key(&NewApiKey {
            name: "app key".to_owned(),
            prefix: "app-AbCd".to_owned(),
            token_hash: "apphash".to_owned(),
            datasets: Vec::new(),
            app_id: Some(app.id.clone()),
        })
        .unwrap();
    assert_eq!(key.app_id.as_deref(), Some(app.id.as_str()));

    let c1 = store
        .create_conversation("c1", &app.id, "u1", "first", &json!({"x": 1}), &json!({}))
        .unwrap();
    assert_eq!(c1.inputs, json!({"x": 1}));
    store
        .create_conversation("c2", &app.id, "u1", "second", &json!({}), &json!({}))
        .unwrap();
    store
        .create_conversation("c3", &app.id, "u2", "other user", &json!({}), &json!({}))
        .unwrap();
    assert!(
        store
            .get_conversation(&app.id, "u2", "c1")
            .unwrap()
            .is_none()
    );

    let (page, more) = store
        .list_conversations(&app.id, "u1", None, 1, ConversationSort::CreatedAt)
        .unwrap();
    assert_eq!((page[0].id.as_str(), more), ("c1", true));
    let (page, more) = store
        .list_conversations(&app.id, "u1", Some("c1"), 1, ConversationSort::CreatedAt)
        .unwrap();
    assert_eq!((page[0].id.as_str(), more), ("c2", false));
    assert!(matches!(
        store.list_conversations(&app.id, "u1", Some("nope"), 5, ConversationSort::default()),
        Err(StoreError::NotFound { .. })
    ));

    for (i, id) in ["m1", "m2", "m3"].iter().enumerate() {
        store
            .add_message(
                &chat_message(id, "c1", &app.id, &format!("q{i}"), 100 + i as i64),
                Some(&json!({"turns": i + 1})),
            )
            .unwrap();
    }
    let conversation = store
        .get_conversation(&app.id, "u1", "c1")
        .unwrap()
        .unwrap();
    assert_eq!(conversation.variables, json!({"turns": 3}));
    let (page, more) = store.list_messages("c1", None, 2).unwrap();
    let ids: Vec<_> = page.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        (ids, more),
        (vec!["m2", "m3"], true),
        "newest page, oldest first"
    );
    let (page, more) = store.list_messages("c1", Some("m2"), 2).unwrap();
    let ids: Vec<_> = page.iter().map(|m| m.id.as_str()).collect();
    assert_eq!((ids, more), (vec!["m1"], false));
    assert_eq!(page[0], chat_message("m1", "c1", &app.id, "q0", 100));

    assert!(
        store
            .set_feedback(&app.id, "m1", Some("like"), Some("good"))
            .unwrap()
    );
    assert!(
        !store
            .set_feedback(&app.id, "nope", Some("like"), None)
            .unwrap()
    );
    let m1 = store.get_message(&app.id, "m1").unwrap().unwrap();
    assert_eq!(m1.feedback.as_deref(), Some("like"));

    let renamed = store
        .rename_conversation(&app.id, "u1", "c1", "renamed")
        .unwrap();
    assert_eq!(renamed.name, "renamed");
    assert!(matches!(
        store.rename_conversation(&app.id, "u2", "c1", "x"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(!store.delete_conversation(&app.id, "u2", "c1").unwrap());
    assert!(store.delete_conversation(&app.id, "u1", "c1").unwrap());
    assert!(
        store.get_message(&app.id, "m1").unwrap().is_none(),
        "messages go with it"
    );

    assert!(store.delete_app(&app.id).unwrap());
    assert!(store.get_app(&app.id).unwrap().is_none());
    assert!(
        store.api_key_by_hash("apphash").unwrap().is_none(),
        "app keys go with their app"
    );
    assert!(!store.delete_app(&app.id).unwrap());
}
