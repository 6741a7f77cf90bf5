//! Which documents of a dataset a search may return: completed, enabled, not archived, and passing the
//! request's metadata filter. Evaluated in memory over the store's catalog, cached per dataset version.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ragd_core::dataset::{CatalogEntry, IndexingStatus};
use ragd_core::retrieval::MetadataFilter;
use ragd_store::MetadataStore;
use serde_json::Value;

use crate::RetrieveError;

/// The documents of one dataset at one version.
#[derive(Debug)]
pub struct Catalog {
    pub version: u64,
    entries: Vec<CatalogEntry>,
    /// Keys of the documents a search may return when no filter is given.
    searchable: HashSet<u64>,
}

/// The documents a search may return: every document in the index, or only these.
#[derive(Debug, Clone)]
pub enum Allowed {
    All,
    Only(Arc<HashSet<u64>>),
}

impl Allowed {
    pub fn allows(&self, document: u64) -> bool {
        match self {
            Self::All => true,
            Self::Only(set) => set.contains(&document),
        }
    }

    /// Whether nothing can match (then searches are skipped).
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Only(set) if set.is_empty())
    }
}

impl Catalog {
    fn new(version: u64, entries: Vec<CatalogEntry>) -> Self {
        let searchable = entries
            .iter()
            .filter(|e| is_searchable(e))
            .map(|e| e.key)
            .collect();
        Self {
            version,
            entries,
            searchable,
        }
    }

    /// Whether a document may be returned regardless of filters.
    pub fn is_searchable(&self, document: u64) -> bool {
        self.searchable.contains(&document)
    }

    /// The documents a search with this filter may return. Without a filter, and when every document is
    /// searchable, `All` (so the index searches unfiltered, at full speed).
    pub fn allowed(&self, filter: Option<&MetadataFilter>) -> Allowed {
        match filter.filter(|f| !f.conditions.is_empty()) {
            None if self.searchable.len() == self.entries.len() => Allowed::All,
            None => Allowed::Only(Arc::new(self.searchable.clone())),
            Some(filter) => Allowed::Only(Arc::new(
                self.entries
                    .iter()
                    .filter(|e| is_searchable(e))
                    .filter(|e| filter.matches(|name| e.metadata.get(name)))
                    .map(|e| e.key)
                    .collect(),
            )),
        }
    }
}

fn is_searchable(e: &CatalogEntry) -> bool {
    e.enabled && !e.archived && e.indexing_status == IndexingStatus::Completed
}

/// Adds Dify's built-in fields (document_name, uploader, upload_date, last_update_date, source) to an
/// entry's metadata, once per catalog load, so filters read them like user fields. The store refuses
/// user fields with these names, so nothing is shadowed.
fn with_built_ins(mut entry: CatalogEntry) -> CatalogEntry {
    let built_ins = [
        ("document_name", Value::from(entry.name.clone())),
        ("uploader", Value::from(entry.created_by.clone())),
        ("upload_date", Value::from(entry.created_at)),
        ("last_update_date", Value::from(entry.updated_at)),
        (
            "source",
            entry.source.clone().map_or(Value::Null, Value::from),
        ),
    ];
    for (name, value) in built_ins {
        entry.metadata.insert(name.to_owned(), value);
    }
    entry
}

/// Catalogs by dataset id, reloaded when the dataset's version moves.
#[derive(Debug, Default)]
pub struct CatalogCache {
    cached: Mutex<HashMap<String, Arc<Catalog>>>,
}

impl CatalogCache {
    /// The catalog of a dataset at `version`, from the cache or the store.
    pub fn get(
        &self,
        store: &dyn MetadataStore,
        dataset_id: &str,
        version: u64,
    ) -> Result<Arc<Catalog>, RetrieveError> {
        if let Some(c) = self.lock().get(dataset_id)
            && c.version == version
        {
            return Ok(c.clone());
        }
        let entries = store
            .catalog(dataset_id)?
            .into_iter()
            .map(with_built_ins)
            .collect();
        let catalog = Arc::new(Catalog::new(version, entries));
        self.lock().insert(dataset_id.to_owned(), catalog.clone());
        Ok(catalog)
    }

    /// Forgets a dataset (deleted).
    pub fn forget(&self, dataset_id: &str) {
        self.lock().remove(dataset_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Catalog>>> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn entry(key: u64, status: IndexingStatus, enabled: bool, meta: Value) -> CatalogEntry {
        with_built_ins(CatalogEntry {
            key,
            id: format!("doc-{key}"),
            name: format!("file{key}.txt"),
            enabled,
            archived: false,
            indexing_status: status,
            metadata: serde_json::from_value::<BTreeMap<String, Value>>(meta).unwrap(),
            created_by: "alice".into(),
            created_at: 1_700_000_000 + key as i64,
            updated_at: 1_700_000_000,
            source: None,
        })
    }

    #[test]
    fn unfinished_and_disabled_documents_are_never_searchable() {
        let catalog = Catalog::new(
            1,
            vec![
                entry(1, IndexingStatus::Completed, true, json!({})),
                entry(2, IndexingStatus::Indexing, true, json!({})),
                entry(3, IndexingStatus::Completed, false, json!({})),
            ],
        );
        let allowed = catalog.allowed(None);
        assert!(allowed.allows(1) && !allowed.allows(2) && !allowed.allows(3));
        let all = Catalog::new(
            1,
            vec![entry(1, IndexingStatus::Completed, true, json!({}))],
        );
        assert!(matches!(all.allowed(None), Allowed::All));
    }

    #[test]
    fn filters_read_user_and_built_in_fields() {
        let catalog = Catalog::new(
            1,
            vec![
                entry(
                    1,
                    IndexingStatus::Completed,
                    true,
                    json!({"team": "infra", "year": 2023}),
                ),
                entry(
                    2,
                    IndexingStatus::Completed,
                    true,
                    json!({"team": "ml", "year": 2024}),
                ),
            ],
        );
        let filter: MetadataFilter = serde_json::from_value(json!({"conditions": [
            {"name": "year", "comparison_operator": "≥", "value": 2024}]}))
        .unwrap();
        let allowed = catalog.allowed(Some(&filter));
        assert!(!allowed.allows(1) && allowed.allows(2));
        let by_name: MetadataFilter = serde_json::from_value(json!({"conditions": [
            {"name": "document_name", "comparison_operator": "is", "value": "file1.txt"}]}))
        .unwrap();
        let allowed = catalog.allowed(Some(&by_name));
        assert!(allowed.allows(1) && !allowed.allows(2));
        let uploader: MetadataFilter = serde_json::from_value(json!({"conditions": [
            {"name": "upload_date", "comparison_operator": "after", "value": 1_700_000_001}]}))
        .unwrap();
        let allowed = catalog.allowed(Some(&uploader));
        assert!(!allowed.allows(1) && allowed.allows(2));
    }
}
