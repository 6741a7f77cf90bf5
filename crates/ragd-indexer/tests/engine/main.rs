//! Integration tests of the indexing pipeline and retrieval with real parts: the SQLite metadata store,
//! tantivy BM25 and HNSW vector indexes in a temporary data dir, and the real embedding model and tokenizer
//! from the configured model cache (the test command fetches the model first).

mod datasets;
mod edits;
mod explain;
mod filters;
mod pipeline;
mod search;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ragd_config::Config;
use ragd_core::dataset::{
    Dataset, DocForm, Document, IndexingStatus, IndexingTechnique, NewDataset, NewDocument,
};
use ragd_core::retrieval::{
    FusionMethod, KeywordSetting, MetadataFilter, RetrievalModel, RetrievalSettings, SearchMethod,
    VectorSetting, Weights,
};
use ragd_embed::{Embedder, ModelTokenizer, OnnxEmbedder, OnnxEmbedderOptions};
use ragd_indexer::{IndexReport, Indexer, IndexerOptions, Progress};
use ragd_retrieve::{IndexRegistry, Record, Retrieval, RetrieveError, RetrieveRequest, Retriever};
use ragd_store::{MetadataStore, SqliteStore};
use ragd_vector::HnswOptions;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// The embedding model and its tokenizer, loaded once per test binary.
pub struct Model {
    pub embedder: Arc<dyn Embedder>,
    pub tokenizer: Arc<ModelTokenizer>,
}

pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let config = Config::load(None, std::env::vars()).expect("configuration loads");
        let tokenizer = ModelTokenizer::from_model_dir(&config.model_dir())
            .expect("the model tokenizer loads; run `ragd models fetch` first");
        let embedder = OnnxEmbedder::load(&OnnxEmbedderOptions::from_config(
            &config.models,
            &config.embed,
        ))
        .expect("the embedding model loads; run `ragd models fetch` first");
        Model {
            embedder: Arc::new(embedder),
            tokenizer: Arc::new(tokenizer),
        }
    })
}

/// The English corpus: short documents on distinct topics, by short name (the document's name is
/// `{short}.txt`).
pub const CORPUS: &[(&str, &str)] = &[
    (
        "photosynthesis",
        "Photosynthesis is the process by which green plants, algae and some bacteria convert sunlight \
         into chemical energy. Chlorophyll in the chloroplasts absorbs light, and the plant combines \
         carbon dioxide and water to make glucose, releasing oxygen as a by-product.",
    ),
    (
        "tcp",
        "TCP congestion control keeps a sender from overwhelming the network. Slow start grows the \
         congestion window exponentially until a threshold, then congestion avoidance grows it linearly; \
         on packet loss, algorithms such as Reno and CUBIC shrink the window and retransmit.",
    ),
    (
        "sourdough",
        "Sourdough bread is leavened by a starter, a culture of wild yeast and lactic acid bacteria. The \
         baker feeds the starter with flour and water, mixes the dough, lets it ferment and proof for \
         many hours, then bakes the loaf in a very hot oven for a crisp crust.",
    ),
    (
        "revolution",
        "The French Revolution began in 1789 when the people of Paris stormed the Bastille. The \
         revolutionaries abolished the monarchy, proclaimed the Declaration of the Rights of Man, \
         executed King Louis XVI and went through the Reign of Terror led by Robespierre.",
    ),
    (
        "black_hole",
        "A black hole is a region of spacetime where gravity is so strong that nothing, not even light, \
         can escape. Black holes form when massive stars collapse at the end of their lives; the \
         boundary beyond which escape is impossible is called the event horizon.",
    ),
    (
        "warranty",
        "Warranty registration. Keep the label on the back of the appliance: model XR-7734. Quote this \
         code whenever you contact the service desk about repairs or replacement parts.",
    ),
    (
        "volcano",
        "Volcanoes erupt when molten rock called magma rises through cracks in the Earth's crust. \
         Pressure from dissolved gases drives explosive eruptions that throw ash into the sky, while \
         shield volcanoes like those of Hawaii produce gentle lava flows.",
    ),
    (
        "bees",
        "Honeybees live in colonies ruled by a single queen. Worker bees collect nectar and pollen from \
         flowers, pollinating crops along the way, and turn the nectar into honey stored in wax combs \
         inside the hive.",
    ),
    (
        "git",
        "Git is a distributed version control system. Developers commit changes to branches, merge \
         branches together, resolve merge conflicts, and push their commits to a shared remote \
         repository.",
    ),
    (
        "marathon",
        "Training for a marathon means building weekly mileage gradually, with one long run each week, \
         easy recovery runs and some tempo runs. Runners taper for two weeks before the 42 kilometre \
         race and eat carbohydrates to fuel their muscles.",
    ),
    (
        "coffee",
        "Coffee roasting turns green coffee beans brown through the Maillard reaction and \
         caramelization. A light roast keeps acidity and fruity notes, while a dark roast brings \
         bitterness and body; the first crack signals that the beans are releasing steam.",
    ),
    (
        "chess",
        "In chess, the opening is the first phase of the game. Popular openings include the Sicilian \
         Defence, the Queen's Gambit and the Ruy Lopez; players aim to control the centre, develop \
         knights and bishops, and castle the king to safety.",
    ),
    (
        "aqueduct",
        "Roman aqueducts carried fresh water from distant springs into cities using gravity alone. \
         Engineers built them with a gentle downward slope, arches of stone and concrete, and channels \
         that fed public baths, fountains and private houses.",
    ),
    (
        "vaccine",
        "Vaccines train the immune system to recognise a pathogen without causing the disease. They \
         expose the body to an antigen, such as a weakened virus or a piece of protein, so that B cells \
         make antibodies and memory cells respond quickly to a later infection.",
    ),
];

/// The text of a corpus document.
pub fn corpus_text(short: &str) -> &'static str {
    CORPUS
        .iter()
        .find(|(name, _)| *name == short)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("no corpus document {short}"))
}

/// Topical queries and the corpus document each must rank first, whatever the search method.
pub const TOPICAL: &[(&str, &str)] = &[
    (
        "how do green plants turn sunlight into glucose",
        "photosynthesis",
    ),
    ("congestion window after packet loss", "tcp"),
    ("wild yeast starter for sourdough bread", "sourdough"),
    ("storming of the Bastille in 1789", "revolution"),
    (
        "gravity so strong that light cannot escape the event horizon",
        "black_hole",
    ),
];

/// Lowercase hex SHA-256.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

pub fn no_progress(_: Progress<'_>) {}

/// A data dir with a store, the indexes, an indexer and a retriever over them.
pub struct Fixture {
    /// Keeps the temporary data dir alive (absent when the caller owns the dir).
    _dir: Option<TempDir>,
    pub root: PathBuf,
    pub store: Arc<dyn MetadataStore>,
    pub indexes: Arc<IndexRegistry>,
    pub indexer: Indexer,
    pub retriever: Retriever,
}

impl Fixture {
    /// A fresh data dir with the default indexer options.
    pub fn temporary() -> Self {
        let dir = tempfile::tempdir().expect("temporary dir");
        let mut fixture = Self::open(dir.path(), IndexerOptions::default());
        fixture._dir = Some(dir);
        fixture
    }

    /// Opens (or creates) the store and indexes of a data dir the caller owns.
    pub fn open(root: &Path, options: IndexerOptions) -> Self {
        let model = model();
        let store: Arc<dyn MetadataStore> =
            Arc::new(SqliteStore::open(&root.join("ragd.sqlite3")).expect("the store opens"));
        let indexes = Arc::new(IndexRegistry::new(
            root.join("indexes"),
            model.embedder.dimensions(),
            HnswOptions::default(),
        ));
        let indexer = Indexer::new(
            store.clone(),
            indexes.clone(),
            model.embedder.clone(),
            model.tokenizer.clone(),
            options,
        );
        let retriever = Retriever::new(store.clone(), indexes.clone(), model.embedder.clone());
        Self {
            _dir: None,
            root: root.to_owned(),
            store,
            indexes,
            indexer,
            retriever,
        }
    }

    /// Creates a high-quality dataset.
    pub fn dataset(&self, name: &str, analyzer: &str, doc_form: DocForm) -> Dataset {
        let mut new = NewDataset::named(name);
        new.indexing_technique = Some(IndexingTechnique::HighQuality);
        new.lexical_analyzer = analyzer.to_owned();
        new.doc_form = doc_form;
        new.created_by = "tester".to_owned();
        self.store
            .create_dataset(&new)
            .expect("the dataset is created")
    }

    /// The dataset as stored now (fresh version).
    pub fn reload(&self, dataset: &Dataset) -> Dataset {
        self.store
            .dataset(&dataset.id)
            .unwrap()
            .expect("the dataset exists")
    }

    /// The document as stored now.
    pub fn document(&self, document: &Document) -> Document {
        self.store
            .document(&document.dataset_id, &document.id)
            .unwrap()
            .expect("the document exists")
    }

    /// Creates a document (waiting) with a process rule (`None` = automatic).
    pub fn add_document(
        &self,
        dataset: &Dataset,
        name: &str,
        text: &str,
        doc_form: DocForm,
        process_rule: Option<Value>,
    ) -> Document {
        let (document, _job) = self
            .store
            .create_document(&NewDocument {
                dataset_id: dataset.id.clone(),
                name: name.to_owned(),
                data_source_type: "upload_file".to_owned(),
                source: Some(format!("/corpus/{name}")),
                content_hash: sha256_hex(text),
                text: text.to_owned(),
                batch: "batch-1".to_owned(),
                created_from: "api".to_owned(),
                created_by: "tester".to_owned(),
                doc_form,
                doc_language: "English".to_owned(),
                process_rule,
                metadata: Vec::new(),
            })
            .expect("the document is created");
        document
    }

    /// Runs the pipeline over documents of a dataset.
    pub fn index(&self, dataset: &Dataset, documents: &[Document]) -> IndexReport {
        self.indexer
            .index_documents(&dataset.id, documents, &no_progress)
            .expect("indexing runs")
    }

    /// Creates a text dataset holding the given corpus documents, indexed; documents by short name.
    pub fn corpus_dataset(&self, name: &str, shorts: &[&str]) -> Corpus {
        let dataset = self.dataset(name, "english", DocForm::TextModel);
        let documents: Vec<Document> = shorts
            .iter()
            .map(|short| {
                self.add_document(
                    &dataset,
                    &format!("{short}.txt"),
                    corpus_text(short),
                    DocForm::TextModel,
                    None,
                )
            })
            .collect();
        let report = self.index(&dataset, &documents);
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert_eq!(report.completed.len(), documents.len());
        let documents = shorts
            .iter()
            .zip(documents)
            .map(|(short, d)| ((*short).to_owned(), self.document(&d)))
            .collect();
        Corpus {
            dataset: self.reload(&dataset),
            documents,
        }
    }

    /// The whole English corpus in one dataset.
    pub fn full_corpus(&self) -> Corpus {
        let shorts: Vec<&str> = CORPUS.iter().map(|(short, _)| *short).collect();
        self.corpus_dataset("corpus", &shorts)
    }

    pub fn try_search(
        &self,
        dataset_ids: &[&str],
        query: &str,
        settings: RetrievalSettings,
        explain: bool,
    ) -> Result<Retrieval, RetrieveError> {
        let mut request = RetrieveRequest::new(
            dataset_ids.iter().map(|id| (*id).to_owned()).collect(),
            query,
            settings,
        );
        request.explain = explain;
        self.retriever.retrieve(&request)
    }

    /// Runs a retrieval over one dataset, checking the invariants every retrieval keeps.
    pub fn search(
        &self,
        dataset: &Dataset,
        query: &str,
        settings: RetrievalSettings,
    ) -> Vec<Record> {
        let top_k = settings.top_k;
        let retrieval = self
            .try_search(&[&dataset.id], query, settings, false)
            .expect("retrieval runs");
        assert_well_formed(&retrieval.records, top_k);
        retrieval.records
    }

    /// Like [`Fixture::search`], with explanations.
    pub fn explain(
        &self,
        dataset: &Dataset,
        query: &str,
        settings: RetrievalSettings,
    ) -> Vec<Record> {
        let top_k = settings.top_k;
        let retrieval = self
            .try_search(&[&dataset.id], query, settings, true)
            .expect("retrieval runs");
        assert_well_formed(&retrieval.records, top_k);
        for r in &retrieval.records {
            let explain = r.explain.as_ref().expect("explain was asked for");
            assert_eq!(explain.score, r.score);
        }
        retrieval.records
    }
}

/// A dataset and its documents by short name.
pub struct Corpus {
    pub dataset: Dataset,
    pub documents: BTreeMap<String, Document>,
}

impl Corpus {
    pub fn doc(&self, short: &str) -> &Document {
        &self.documents[short]
    }

    /// The short name of a retrieved record's document.
    pub fn short_of(&self, record: &Record) -> String {
        self.documents
            .iter()
            .find(|(_, d)| d.id == record.document.id)
            .map(|(short, _)| short.clone())
            .unwrap_or_else(|| panic!("record of an unknown document {}", record.document.name))
    }

    pub fn shorts(&self, records: &[Record]) -> Vec<String> {
        records.iter().map(|r| self.short_of(r)).collect()
    }
}

/// Settings of a search method (Dify's defaults otherwise) with this top-k.
pub fn settings(method: SearchMethod, top_k: i64) -> RetrievalSettings {
    let mut model = RetrievalModel::for_method(method);
    model.top_k = top_k;
    model.resolve().expect("valid retrieval model")
}

/// Hybrid search with Dify's weighted score and these weights.
pub fn weighted(vector: f64, keyword: f64, top_k: i64) -> RetrievalSettings {
    let mut model = RetrievalModel::for_method(SearchMethod::HybridSearch);
    model.top_k = top_k;
    model.reranking_enable = true;
    model.reranking_mode = Some(ragd_core::retrieval::RerankingMode::WeightedScore);
    model.weights = Some(Weights {
        weight_type: Some("customized".to_owned()),
        vector_setting: VectorSetting {
            vector_weight: vector,
            embedding_provider_name: None,
            embedding_model_name: None,
        },
        keyword_setting: KeywordSetting {
            keyword_weight: keyword,
        },
    });
    model.resolve().expect("valid retrieval model")
}

/// Hybrid search with reciprocal rank fusion.
pub fn rrf(k: Option<u32>, top_k: i64) -> RetrievalSettings {
    let mut model = RetrievalModel::for_method(SearchMethod::HybridSearch);
    model.top_k = top_k;
    model.fusion = Some(FusionMethod::Rrf);
    model.rrf_k = k;
    model.resolve().expect("valid retrieval model")
}

/// Settings with a score threshold.
pub fn with_threshold(mut model: RetrievalModel, threshold: f64) -> RetrievalSettings {
    model.score_threshold_enabled = true;
    model.score_threshold = Some(threshold);
    model.resolve().expect("valid retrieval model")
}

/// Settings with a metadata filter, from Dify's JSON.
pub fn with_filter(mut settings: RetrievalSettings, filter: Value) -> RetrievalSettings {
    let filter: MetadataFilter = serde_json::from_value(filter).expect("a Dify metadata filter");
    filter.validate().expect("a valid filter");
    settings.filter = Some(filter);
    settings
}

/// Every retrieval's invariants: at most top-k records, scores in [0, 1] best first, one record per
/// segment, each record's ids consistent, children under their own segment.
pub fn assert_well_formed(records: &[Record], top_k: usize) {
    assert!(
        records.len() <= top_k,
        "{} records for top_k {top_k}",
        records.len()
    );
    let mut segments = HashSet::new();
    for (i, r) in records.iter().enumerate() {
        assert!(
            r.score.is_finite() && (0.0..=1.0).contains(&r.score),
            "score {} of record {i} out of [0, 1]",
            r.score
        );
        if i > 0 {
            assert!(
                records[i - 1].score >= r.score,
                "records not sorted by score: {} then {}",
                records[i - 1].score,
                r.score
            );
        }
        assert!(
            segments.insert(r.segment.id.clone()),
            "segment {} twice",
            r.segment.id
        );
        assert_eq!(r.dataset_id, r.document.dataset_id);
        assert_eq!(r.dataset_id, r.segment.dataset_id);
        assert_eq!(r.segment.document_id, r.document.id);
        assert!(
            r.document.enabled,
            "disabled document {} returned",
            r.document.name
        );
        assert_eq!(r.document.indexing_status, IndexingStatus::Completed);
        for c in &r.child_chunks {
            assert_eq!(c.chunk.segment_id, r.segment.id);
            assert_eq!(c.chunk.document_id, r.document.id);
            assert!((0.0..=1.0).contains(&c.score));
        }
        if let Some(e) = &r.explain {
            for s in [e.vector_score, e.keyword_score].into_iter().flatten() {
                assert!(
                    (0.0..=1.0).contains(&s),
                    "component score {s} out of [0, 1]"
                );
            }
        }
    }
}
