//! BM25 latency on about 20k paragraphs: indexing them, searching (short, typical and long queries, with and
//! without a filter), scoring 100 given keys and computing the score upper bound.
//!
//! The paragraphs are made of Cranfield sentences (`shared/datasets/cranfield/corpus.jsonl`), five per
//! paragraph, drawn by a fixed pseudo-random sequence; without the collection, of synthetic Zipf-like words.
//!
//! Run: `cargo bench -p ragd-lexical --bench bm25`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ragd_lexical::{Analyzer, LexicalEntry, LexicalIndex};

const PARAGRAPHS: usize = 20_000;
const SENTENCES_PER_PARAGRAPH: usize = 5;

/// A small deterministic generator (xorshift64*), so every run indexes the same text.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound
    }
}

fn sentences() -> Vec<String> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/cranfield/corpus.jsonl");
    if let Ok(content) = std::fs::read_to_string(&corpus) {
        let mut sentences = Vec::new();
        for line in content.lines().filter(|line| !line.trim().is_empty()) {
            let value: serde_json::Value = serde_json::from_str(line).expect("json line");
            let text = value["text"].as_str().unwrap_or_default();
            sentences.extend(
                text.split(" . ")
                    .map(str::trim)
                    .filter(|s| s.len() > 20)
                    .map(String::from),
            );
        }
        return sentences;
    }
    // Synthetic fallback: 5000 words with Zipf-like frequencies, 15 words a sentence.
    let mut sequence = Sequence(7);
    (0..20_000)
        .map(|_| {
            let words: Vec<String> = (0..15)
                .map(|_| {
                    let rank_bound = sequence.next(5000) + 1;
                    format!("w{}", sequence.next(rank_bound))
                })
                .collect();
            words.join(" ")
        })
        .collect()
}

fn paragraphs() -> Vec<String> {
    let sentences = sentences();
    let mut sequence = Sequence(42);
    (0..PARAGRAPHS)
        .map(|_| {
            let picked: Vec<&str> = (0..SENTENCES_PER_PARAGRAPH)
                .map(|_| sentences[sequence.next(sentences.len())].as_str())
                .collect();
            picked.join(". ")
        })
        .collect()
}

fn entries(paragraphs: &[String]) -> Vec<LexicalEntry<'_>> {
    paragraphs
        .iter()
        .enumerate()
        .map(|(i, text)| LexicalEntry {
            key: i as u64,
            document: (i / 10) as u64,
            text,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let paragraphs = paragraphs();
    let entries = entries(&paragraphs);
    let bytes: usize = paragraphs.iter().map(String::len).sum();

    let mut group = c.benchmark_group("bm25_index");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("add_commit_20k", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let index = LexicalIndex::open_or_create(dir.path(), Analyzer::English).unwrap();
            index.add(&entries).unwrap();
            index.commit().unwrap();
            black_box(index.num_entries())
        })
    });
    group.finish();

    let dir = tempfile::tempdir().unwrap();
    let index = LexicalIndex::open_or_create(dir.path(), Analyzer::English).unwrap();
    // Four commits, so that searches run over several segments as they do in service.
    for chunk in entries.chunks(PARAGRAPHS / 4) {
        index.add(chunk).unwrap();
        index.commit().unwrap();
    }

    let queries = [
        ("short", "boundary layer"),
        (
            "typical",
            "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft",
        ),
        (
            "long",
            "can the transverse potential flow about a body of revolution be calculated efficiently by an \
             electronic computer and what are the effects of compressibility heat transfer and viscosity on \
             the pressure distribution of slender wings at supersonic and hypersonic speeds",
        ),
    ];
    let odd_documents = |document: u64| document % 2 == 1;
    let mut group = c.benchmark_group("bm25_search");
    for (name, query) in queries {
        group.bench_function(format!("{name}_top10"), |b| {
            b.iter(|| black_box(index.search(query, 10, None).unwrap()))
        });
        group.bench_function(format!("{name}_top100"), |b| {
            b.iter(|| black_box(index.search(query, 100, None).unwrap()))
        });
        group.bench_function(format!("{name}_top10_filtered"), |b| {
            b.iter(|| black_box(index.search(query, 10, Some(&odd_documents)).unwrap()))
        });
    }
    let keys: Vec<u64> = (0..100).map(|i| i * 197).collect();
    group.bench_function("typical_score_100_keys", |b| {
        b.iter(|| black_box(index.score_keys(queries[1].1, &keys).unwrap()))
    });
    group.bench_function("typical_score_upper_bound", |b| {
        b.iter(|| black_box(index.score_upper_bound(queries[1].1).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
