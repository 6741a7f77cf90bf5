//! The local engine the commands share: the metadata store, the per-dataset indexes, the embedding model,
//! the retriever and the indexing pipeline over one data dir, all configured from one [`Config`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ragd_config::Config;
use ragd_core::dataset::Dataset;
use ragd_embed::{Embedder, ModelTokenizer, OnnxEmbedder, OnnxEmbedderOptions};
use ragd_indexer::{Indexer, IndexerOptions};
use ragd_retrieve::{IndexRegistry, Retriever};
use ragd_store::{MetadataStore, SqliteStore};
use ragd_vector::HnswOptions;

/// File name of the metadata database in the data dir.
pub const STORE_FILE: &str = "ragd.sqlite3";

pub struct Engine {
    pub data_dir: PathBuf,
    pub store: Arc<dyn MetadataStore>,
    pub indexes: Arc<IndexRegistry>,
    pub embedder: Arc<dyn Embedder>,
    pub tokenizer: Arc<ModelTokenizer>,
    indexer_options: IndexerOptions,
}

impl Engine {
    /// Opens (or creates) the data dir and loads the embedding model.
    pub fn open(config: &Config, data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data dir {}", data_dir.display()))?;
        let store = SqliteStore::open(&data_dir.join(STORE_FILE))
            .with_context(|| format!("opening the metadata store in {}", data_dir.display()))?;
        let tokenizer = ModelTokenizer::from_model_dir(&config.model_dir())
            .context("loading the model's tokenizer")?;
        let embedder = OnnxEmbedder::load(&OnnxEmbedderOptions::from_config(
            &config.models,
            &config.embed,
        ))
        .context("loading the embedding model")?;
        let indexes = IndexRegistry::new(
            data_dir.join("indexes"),
            embedder.dimensions(),
            HnswOptions::default(),
        );
        Ok(Self {
            data_dir: data_dir.to_owned(),
            store: Arc::new(store),
            indexes: Arc::new(indexes),
            embedder: Arc::new(embedder),
            tokenizer: Arc::new(tokenizer),
            indexer_options: IndexerOptions {
                embed_batch: config.indexing.embed_batch,
                group_documents: config.indexing.group_documents,
                checkpoint_interval: Duration::from_millis(config.indexing.checkpoint_interval_ms),
            },
        })
    }

    pub fn indexer_options(&self) -> IndexerOptions {
        self.indexer_options
    }

    pub fn retriever(&self) -> Retriever {
        Retriever::new(
            self.store.clone(),
            self.indexes.clone(),
            self.embedder.clone(),
        )
    }

    pub fn indexer(&self) -> Indexer {
        Indexer::new(
            self.store.clone(),
            self.indexes.clone(),
            self.embedder.clone(),
            self.tokenizer.clone(),
            self.indexer_options,
        )
    }

    /// A dataset by name, or by id.
    pub fn dataset(&self, name_or_id: &str) -> anyhow::Result<Option<Dataset>> {
        if let Some(d) = self.store.dataset_by_name(name_or_id)? {
            return Ok(Some(d));
        }
        Ok(self.store.dataset(name_or_id)?)
    }

    /// Like [`Engine::dataset`], with an error that says what exists.
    pub fn require_dataset(&self, name_or_id: &str) -> anyhow::Result<Dataset> {
        if let Some(d) = self.dataset(name_or_id)? {
            return Ok(d);
        }
        let known = self
            .store
            .list_datasets(
                ragd_core::dataset::Page {
                    page: 1,
                    limit: 100,
                },
                None,
            )?
            .data
            .into_iter()
            .map(|d| d.name)
            .collect::<Vec<_>>();
        if known.is_empty() {
            anyhow::bail!(
                "dataset {name_or_id:?} not found: {} has no datasets yet (create one with `ragd import \
                 PATH --dataset NAME --create`)",
                self.data_dir.display()
            )
        }
        anyhow::bail!(
            "dataset {name_or_id:?} not found; datasets in {}: {}",
            self.data_dir.display(),
            known.join(", ")
        )
    }
}
