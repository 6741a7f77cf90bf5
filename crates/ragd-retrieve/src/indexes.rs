//! The per-dataset indexes (a BM25 index and a vector index in the data dir), opened once and shared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ragd_core::dataset::Dataset;
use ragd_lexical::{Analyzer, LexicalIndex};
use ragd_vector::{HnswIndex, HnswOptions, VectorIndex};

use crate::RetrieveError;

/// The indexes of one dataset.
pub struct DatasetIndexes {
    pub lexical: LexicalIndex,
    pub vectors: Box<dyn VectorIndex>,
}

impl std::fmt::Debug for DatasetIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetIndexes")
            .field("lexical", &self.lexical)
            .field("vectors", &self.vectors.len())
            .finish()
    }
}

/// Opens each dataset's indexes on first use (`ROOT/{dataset id}/lexical`, `ROOT/{dataset id}/vectors`) and
/// keeps them open.
#[derive(Debug)]
pub struct IndexRegistry {
    root: PathBuf,
    dimensions: usize,
    hnsw: HnswOptions,
    open: Mutex<HashMap<String, Arc<DatasetIndexes>>>,
}

impl IndexRegistry {
    pub fn new(root: impl Into<PathBuf>, dimensions: usize, hnsw: HnswOptions) -> Self {
        Self {
            root: root.into(),
            dimensions,
            hnsw,
            open: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Length of the vectors these indexes hold.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The indexes of a dataset, opened (or created) on first use.
    pub fn get(&self, dataset: &Dataset) -> Result<Arc<DatasetIndexes>, RetrieveError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(indexes) = open.get(&dataset.id) {
            return Ok(indexes.clone());
        }
        let analyzer: Analyzer =
            dataset
                .lexical_analyzer
                .parse()
                .map_err(|_| RetrieveError::UnknownAnalyzer {
                    dataset: dataset.id.clone(),
                    found: dataset.lexical_analyzer.clone(),
                })?;
        let dir = self.root.join(&dataset.id);
        let lexical =
            LexicalIndex::open_or_create(&dir.join("lexical"), analyzer).map_err(|source| {
                RetrieveError::Lexical {
                    dataset: dataset.id.clone(),
                    source,
                }
            })?;
        let vectors = HnswIndex::open(&dir.join("vectors"), self.dimensions, self.hnsw).map_err(
            |source| RetrieveError::Vector {
                dataset: dataset.id.clone(),
                source,
            },
        )?;
        let indexes = Arc::new(DatasetIndexes {
            lexical,
            vectors: Box::new(vectors),
        });
        open.insert(dataset.id.clone(), indexes.clone());
        Ok(indexes)
    }

    /// Closes a dataset's indexes and deletes their files (after the dataset is deleted from the store).
    pub fn remove(&self, dataset_id: &str) -> std::io::Result<()> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(dataset_id);
        match std::fs::remove_dir_all(self.root.join(dataset_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
