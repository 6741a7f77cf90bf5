//! One dataset's BM25 index: a tantivy index in its own directory.
//!
//! Threads: any number of threads search at once, each on the searcher of the last commit; writes (add,
//! delete, commit, rollback) go through one `IndexWriter` behind a mutex. Tantivy's indexing and merging work
//! runs on one indexing thread and one merge thread of its own.
//!
//! Invariants: searches see exactly the committed state — [`LexicalIndex::commit`] reloads the reader before it
//! returns, and nothing else reloads it. Entry keys are unique among live entries (the caller's contract); a
//! document's entries are deleted by its `document` term, single entries by their `key` term (both fields are indexed).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tantivy::directory::MmapDirectory;
use tantivy::indexer::IndexWriterOptions;
use tantivy::query::{BooleanQuery, BoostQuery, EnableScoring, Occur, Query, TermQuery, Weight};
use tantivy::schema::{
    FAST, Field, FieldType, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocId, DocSet, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher,
    SegmentReader, TERMINATED, TantivyDocument, TantivyError, Term,
};

use crate::analyzer::analyze_with;
use crate::{Analyzer, LexicalError};

/// BM25 term-frequency saturation, as tantivy's (and Lucene's) default.
pub const BM25_K1: f32 = 1.2;
/// BM25 length normalization, as tantivy's (and Lucene's) default.
pub const BM25_B: f32 = 0.75;

/// Memory the writer may buffer before it flushes a segment.
const WRITER_MEMORY_BYTES: usize = 50_000_000;

const KEY: &str = "key";
const DOCUMENT: &str = "document";
const TEXT: &str = "text";

/// One entry to index: a segment (or any passage) of a document.
#[derive(Debug, Clone, Copy)]
pub struct LexicalEntry<'a> {
    /// The entry's key, unique in the index (the segment id).
    pub key: u64,
    /// The document the entry belongs to; deletion is per document.
    pub document: u64,
    /// The text to index (not stored).
    pub text: &'a str,
}

/// A search result: the entry's key and document, and its raw BM25 score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LexicalHit {
    /// The entry's key.
    pub key: u64,
    /// The document the entry belongs to.
    pub document: u64,
    /// The raw BM25 score (not normalized; see [`LexicalIndex::score_upper_bound`]).
    pub score: f32,
}

#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    document: Field,
    text: Field,
}

/// A dataset's BM25 index. `Send + Sync`: share it in an `Arc`.
pub struct LexicalIndex {
    path: PathBuf,
    analyzer: Analyzer,
    fields: Fields,
    /// Analyzes query text; cloned per query because tantivy's analyzers need `&mut`.
    query_analyzer: TextAnalyzer,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
}

impl std::fmt::Debug for LexicalIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LexicalIndex")
            .field("path", &self.path)
            .field("analyzer", &self.analyzer)
            .finish_non_exhaustive()
    }
}

impl LexicalIndex {
    /// Opens the index in `dir`, creating it (with `analyzer`) if absent. The analyzer is recorded in the
    /// index; reopening with a different analyzer is an error ([`LexicalError::AnalyzerMismatch`]).
    pub fn open_or_create(dir: &Path, analyzer: Analyzer) -> Result<Self, LexicalError> {
        let path = dir.to_path_buf();
        let tantivy_error = |context| {
            let path = path.clone();
            move |source| LexicalError::Tantivy {
                path,
                context,
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(|source| LexicalError::Io {
            path: path.clone(),
            source,
        })?;
        let directory = MmapDirectory::open(dir)
            .map_err(|error| tantivy_error("opening the index directory")(error.into()))?;
        let exists = Index::exists(&directory)
            .map_err(|error| tantivy_error("looking for the index")(error.into()))?;
        let index = if exists {
            Index::open(directory).map_err(tantivy_error("opening the index"))?
        } else {
            Index::create(directory, schema(analyzer), IndexSettings::default())
                .map_err(tantivy_error("creating the index"))?
        };
        let (fields, found) =
            read_schema(&index.schema()).map_err(|reason| LexicalError::ForeignIndex {
                path: path.clone(),
                reason,
            })?;
        if found != analyzer {
            return Err(LexicalError::AnalyzerMismatch {
                path,
                found,
                requested: analyzer,
            });
        }
        index
            .tokenizers()
            .register(analyzer.tokenizer_name(), analyzer.text_analyzer());

        let options = IndexWriterOptions::builder()
            .memory_budget_per_thread(WRITER_MEMORY_BYTES)
            .num_worker_threads(1)
            .num_merge_threads(1)
            .build();
        let writer = index
            .writer_with_options(options)
            .map_err(|source| match source {
                TantivyError::LockFailure(..) => LexicalError::Locked { path: path.clone() },
                source => tantivy_error("creating the index writer")(source),
            })?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tantivy_error("opening the index reader"))?;
        Ok(LexicalIndex {
            path,
            analyzer,
            fields,
            query_analyzer: analyzer.text_analyzer(),
            reader,
            writer: Mutex::new(writer),
        })
    }

    /// The analyzer the index was created with.
    pub fn analyzer(&self) -> Analyzer {
        self.analyzer
    }

    /// The index directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stages entries (not visible until [`LexicalIndex::commit`]).
    pub fn add(&self, entries: &[LexicalEntry<'_>]) -> Result<(), LexicalError> {
        let writer = self.writer();
        for entry in entries {
            let mut doc = TantivyDocument::new();
            doc.add_u64(self.fields.key, entry.key);
            doc.add_u64(self.fields.document, entry.document);
            doc.add_text(self.fields.text, entry.text);
            writer
                .add_document(doc)
                .map_err(self.tantivy_error("adding an entry"))?;
        }
        Ok(())
    }

    /// Stages deletion of every entry of a document.
    pub fn delete_document(&self, document: u64) -> Result<(), LexicalError> {
        self.writer()
            .delete_term(Term::from_field_u64(self.fields.document, document));
        Ok(())
    }

    /// Stages deletion of the entries with these keys (absent keys are ignored). Like every write, it is
    /// invisible until [`LexicalIndex::commit`], and applies only to entries added before it: deleting a key
    /// and then adding an entry with that key in the same commit replaces the entry.
    pub fn delete_keys(&self, keys: &[u64]) -> Result<(), LexicalError> {
        if keys.is_empty() {
            return Ok(());
        }
        let writer = self.writer();
        for &key in keys {
            writer.delete_term(Term::from_field_u64(self.fields.key, key));
        }
        Ok(())
    }

    /// Makes staged changes durable (tantivy commit) and visible: the reader is reloaded before this returns.
    pub fn commit(&self) -> Result<(), LexicalError> {
        let mut writer = self.writer();
        writer.commit().map_err(self.tantivy_error("committing"))?;
        self.reader
            .reload()
            .map_err(self.tantivy_error("reloading the reader after a commit"))
    }

    /// Drops staged, uncommitted changes.
    pub fn rollback(&self) -> Result<(), LexicalError> {
        self.writer()
            .rollback()
            .map_err(self.tantivy_error("rolling back"))?;
        Ok(())
    }

    /// BM25 top-`limit` (k1 = 1.2, b = 0.75), best first, ties broken by key ascending.
    ///
    /// `filter` receives a document key and is applied inside the collection, before the top-k, so filtering
    /// never loses results. Query text is analyzed with the index's analyzer and its terms are OR-ed (a term
    /// repeated in the query counts that many times, as in Lucene); it is never parsed as query syntax. An
    /// empty or all-stop-word query returns no hits.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<LexicalHit>, LexicalError> {
        let searcher = self.reader.searcher();
        let terms = self.query_terms(query);
        if limit == 0 || terms.is_empty() {
            return Ok(Vec::new());
        }
        let weight = self.bm25_weight(&searcher, &terms)?;
        let mut top = TopHits::new(limit);
        for segment in searcher.segment_readers() {
            let keys = segment
                .fast_fields()
                .u64(KEY)
                .map_err(self.tantivy_error("reading keys"))?;
            let documents = segment
                .fast_fields()
                .u64(DOCUMENT)
                .map_err(self.tantivy_error("reading documents"))?;
            let threshold = top.threshold();
            let mut collect = |doc: DocId, score: f32| {
                if !segment.is_deleted(doc)
                    && let (Some(key), Some(document)) = (keys.first(doc), documents.first(doc))
                    && filter.is_none_or(|filter| filter(document))
                {
                    top.push(LexicalHit {
                        key,
                        document,
                        score,
                    });
                }
                top.threshold()
            };
            weight
                .for_each_pruning(threshold, segment, &mut collect)
                .map_err(self.tantivy_error("searching"))?;
        }
        Ok(top.into_sorted())
    }

    /// The BM25 score of the query for each given entry key, in order: `None` if the key is absent or matches
    /// no query term. Used by hybrid fusion so that vector-only hits get their real keyword score.
    pub fn score_keys(&self, query: &str, keys: &[u64]) -> Result<Vec<Option<f32>>, LexicalError> {
        let mut scores = vec![None; keys.len()];
        let terms = self.query_terms(query);
        if keys.is_empty() || terms.is_empty() {
            return Ok(scores);
        }
        let searcher = self.reader.searcher();
        // One weight per term rather than the OR of them: each term's postings then skip straight to the
        // wanted docs, where a union scorer would score every doc in between.
        let mut term_weights = Vec::with_capacity(terms.len());
        for (term, count) in &terms {
            let weight = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)
                .weight(EnableScoring::enabled_from_searcher(&searcher))
                .map_err(self.tantivy_error("preparing the query"))?;
            term_weights.push((weight, *count as f32));
        }
        for segment in searcher.segment_readers() {
            // (doc, index into `keys`) of the live entries of this segment with a wanted key, in doc order.
            let mut targets = Vec::new();
            for (position, &key) in keys.iter().enumerate() {
                self.for_each_live_doc(
                    segment,
                    Term::from_field_u64(self.fields.key, key),
                    |doc| targets.push((doc, position)),
                )?;
            }
            if targets.is_empty() {
                continue;
            }
            targets.sort_unstable();
            for (weight, boost) in &term_weights {
                let mut scorer = weight
                    .scorer(segment, *boost)
                    .map_err(self.tantivy_error("scoring keys"))?;
                for &(doc, position) in &targets {
                    if scorer.doc() < doc {
                        scorer.seek(doc);
                    }
                    if scorer.doc() == TERMINATED {
                        break;
                    }
                    if scorer.doc() == doc {
                        *scores[position].get_or_insert(0.0) += scorer.score();
                    }
                }
            }
        }
        Ok(scores)
    }

    /// An upper bound of any entry's BM25 score for this query: the sum over the distinct analyzed query terms
    /// of `count × idf(t) × (k1 + 1)`, the saturation limit of BM25 (`count` is how often the term occurs in
    /// the query, 1 for most queries). Normalizes scores into [0, 1] per query without depending on the result
    /// set. 0 when no query term is in the index.
    pub fn score_upper_bound(&self, query: &str) -> Result<f32, LexicalError> {
        let searcher = self.reader.searcher();
        let total_docs: u64 = searcher
            .segment_readers()
            .iter()
            .map(|segment| u64::from(segment.max_doc()))
            .sum();
        let mut bound = 0.0;
        for (term, count) in self.query_terms(query) {
            let doc_freq = searcher
                .doc_freq(&term)
                .map_err(self.tantivy_error("reading term statistics"))?;
            if doc_freq > 0 {
                bound += count as f32 * idf(doc_freq, total_docs) * (BM25_K1 + 1.0);
            }
        }
        Ok(bound)
    }

    /// The number of committed, live entries.
    pub fn num_entries(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The number of committed, live entries of a document (for consistency checks).
    pub fn document_entries(&self, document: u64) -> Result<u64, LexicalError> {
        let searcher = self.reader.searcher();
        let term = Term::from_field_u64(self.fields.document, document);
        let mut count = 0;
        for segment in searcher.segment_readers() {
            self.for_each_live_doc(segment, term.clone(), |_| count += 1)?;
        }
        Ok(count)
    }

    /// The keys of the committed, live entries of a document, sorted.
    pub fn document_keys(&self, document: u64) -> Result<Vec<u64>, LexicalError> {
        let searcher = self.reader.searcher();
        let term = Term::from_field_u64(self.fields.document, document);
        let mut keys = Vec::new();
        for segment in searcher.segment_readers() {
            let column = segment
                .fast_fields()
                .u64(KEY)
                .map_err(self.tantivy_error("reading keys"))?;
            self.for_each_live_doc(segment, term.clone(), |doc| keys.extend(column.first(doc)))?;
        }
        keys.sort_unstable();
        Ok(keys)
    }

    /// The distinct terms of the analyzed query with how often each occurs, in first-occurrence order.
    fn query_terms(&self, query: &str) -> Vec<(Term, u32)> {
        let mut terms: Vec<(Term, u32)> = Vec::new();
        let mut positions: HashMap<String, usize> = HashMap::new();
        for text in analyze_with(&mut self.query_analyzer.clone(), query) {
            match positions.get(&text) {
                Some(&position) => terms[position].1 += 1,
                None => {
                    terms.push((Term::from_field_text(self.fields.text, &text), 1));
                    positions.insert(text, terms.len() - 1);
                }
            }
        }
        terms
    }

    /// The BM25 weight of the OR of the query terms, each boosted by its count in the query.
    fn bm25_weight(
        &self,
        searcher: &Searcher,
        terms: &[(Term, u32)],
    ) -> Result<Box<dyn Weight>, LexicalError> {
        let clauses = terms
            .iter()
            .map(|(term, count)| {
                let query: Box<dyn Query> =
                    Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs));
                let query: Box<dyn Query> = if *count == 1 {
                    query
                } else {
                    Box::new(BoostQuery::new(query, *count as f32))
                };
                (Occur::Should, query)
            })
            .collect();
        BooleanQuery::new(clauses)
            .weight(EnableScoring::enabled_from_searcher(searcher))
            .map_err(self.tantivy_error("preparing the query"))
    }

    /// Calls `f` with every live doc of `segment` that has `term` (a `key` or `document` term).
    fn for_each_live_doc(
        &self,
        segment: &SegmentReader,
        term: Term,
        mut f: impl FnMut(DocId),
    ) -> Result<(), LexicalError> {
        let inverted_index = segment
            .inverted_index(term.field())
            .map_err(self.tantivy_error("reading postings"))?;
        let postings = inverted_index
            .read_postings(&term, IndexRecordOption::Basic)
            .map_err(|error| self.tantivy_error("reading postings")(error.into()))?;
        if let Some(mut postings) = postings {
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if !segment.is_deleted(doc) {
                    f(doc);
                }
                doc = postings.advance();
            }
        }
        Ok(())
    }

    fn writer(&self) -> MutexGuard<'_, IndexWriter> {
        // A panic while holding the lock cannot leave the writer half-updated in a way tantivy cannot handle:
        // at worst some staged operations are lost, which a rollback or the next commit settles.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tantivy_error(
        &self,
        context: &'static str,
    ) -> impl FnOnce(TantivyError) -> LexicalError + '_ {
        move |source| LexicalError::Tantivy {
            path: self.path.clone(),
            context,
            source,
        }
    }
}

/// BM25's inverse document frequency, as Lucene and tantivy compute it.
fn idf(doc_freq: u64, total_docs: u64) -> f32 {
    let ratio = (total_docs.saturating_sub(doc_freq) as f32 + 0.5) / (doc_freq as f32 + 0.5);
    (1.0 + ratio).ln()
}

fn schema(analyzer: Analyzer) -> Schema {
    let mut builder = Schema::builder();
    builder.add_u64_field(KEY, FAST | INDEXED);
    builder.add_u64_field(DOCUMENT, FAST | INDEXED);
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(analyzer.tokenizer_name())
        .set_index_option(IndexRecordOption::WithFreqs);
    builder.add_text_field(TEXT, TextOptions::default().set_indexing_options(indexing));
    builder.build()
}

/// The fields of an existing index and the analyzer recorded in it, or why it is not one of ours.
fn read_schema(schema: &Schema) -> Result<(Fields, Analyzer), String> {
    let field = |name: &str| {
        schema
            .get_field(name)
            .map_err(|_| format!("no `{name}` field"))
    };
    let fields = Fields {
        key: field(KEY)?,
        document: field(DOCUMENT)?,
        text: field(TEXT)?,
    };
    // Deletion goes by `key` and `document` terms, and search reads both as fast fields.
    for (name, field) in [(KEY, fields.key), (DOCUMENT, fields.document)] {
        let entry = schema.get_field_entry(field);
        if !matches!(entry.field_type(), FieldType::U64(_))
            || !entry.is_indexed()
            || !entry.is_fast()
        {
            return Err(format!(
                "the `{name}` field is not an indexed, fast u64 field"
            ));
        }
    }
    let FieldType::Str(options) = schema.get_field_entry(fields.text).field_type() else {
        return Err("the `text` field is not a text field".to_string());
    };
    let tokenizer = options
        .get_indexing_options()
        .map(|indexing| indexing.tokenizer())
        .unwrap_or_default();
    let analyzer = Analyzer::from_tokenizer_name(tokenizer)
        .ok_or_else(|| format!("the `text` field uses the unknown tokenizer `{tokenizer}`"))?;
    Ok((fields, analyzer))
}

/// The best `limit` hits seen so far: highest score first, then lowest key.
struct TopHits {
    limit: usize,
    /// The worst kept hit is at the top.
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl TopHits {
    fn new(limit: usize) -> Self {
        TopHits {
            limit,
            heap: BinaryHeap::with_capacity(limit.min(1024) + 1),
        }
    }

    fn push(&mut self, hit: LexicalHit) {
        if self.heap.len() < self.limit {
            self.heap.push(Reverse(Ranked(hit)));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && Ranked(hit) > worst.0
        {
            *worst = Reverse(Ranked(hit));
        }
    }

    /// Scores at or below this cannot enter. Once full, it is just below the worst kept score, so that a hit
    /// with an equal score still reaches [`TopHits::push`] and wins if its key is lower.
    fn threshold(&self) -> f32 {
        match self.heap.peek() {
            Some(worst) if self.heap.len() >= self.limit => worst.0.0.score.next_down(),
            _ => f32::MIN,
        }
    }

    fn into_sorted(self) -> Vec<LexicalHit> {
        // Ascending `Reverse` order is best first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(Ranked(hit))| hit)
            .collect()
    }
}

/// A hit ordered by quality: a greater `Ranked` has a higher score, or the same score and a lower key.
struct Ranked(LexicalHit);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .score
            .total_cmp(&other.0.score)
            .then_with(|| other.0.key.cmp(&self.0.key))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(key: u64, score: f32) -> LexicalHit {
        LexicalHit {
            key,
            document: 0,
            score,
        }
    }

    #[test]
    fn top_hits_keep_the_best_and_break_ties_by_key() {
        let mut top = TopHits::new(3);
        assert_eq!(top.threshold(), f32::MIN);
        for (key, score) in [(5, 1.0), (4, 2.0), (9, 2.0), (1, 0.5), (7, 2.0), (2, 3.0)] {
            top.push(hit(key, score));
        }
        let kept: Vec<(u64, f32)> = top
            .into_sorted()
            .iter()
            .map(|hit| (hit.key, hit.score))
            .collect();
        assert_eq!(kept, [(2, 3.0), (4, 2.0), (7, 2.0)]);
    }

    #[test]
    fn threshold_lets_equal_scores_through() {
        let mut top = TopHits::new(1);
        top.push(hit(3, 2.0));
        assert!(top.threshold() < 2.0);
        top.push(hit(1, 2.0));
        assert_eq!(top.into_sorted()[0].key, 1);
    }

    #[test]
    fn idf_matches_lucene() {
        assert!((idf(1, 2) - 2.0f32.ln()).abs() < 1e-6);
        assert!((idf(3, 10) - (1.0f32 + 7.5 / 3.5).ln()).abs() < 1e-6);
    }

    #[test]
    fn lexical_index_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LexicalIndex>();
    }
}
