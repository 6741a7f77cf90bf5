//! The ONNX embedder with the real all-MiniLM-L6-v2 model.

use std::sync::{Arc, OnceLock};

use ragd_embed::{BlockingEmbedder, EmbedError, Embedder, OnnxEmbedder, cosine_similarity};

use crate::options;

fn embedder() -> &'static OnnxEmbedder {
    static EMBEDDER: OnceLock<OnnxEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| OnnxEmbedder::load(&options()).expect("the model loads"))
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn vectors_have_384_dimensions_and_unit_norm() {
    let e = embedder();
    assert_eq!(e.dimensions(), 384);
    assert_eq!(e.model_id(), "all-MiniLM-L6-v2-int8");
    let docs = e
        .embed_documents(&["The wing produces lift.", "", "检索增强生成 🚀"])
        .unwrap();
    assert_eq!(docs.len(), 3);
    for v in docs
        .iter()
        .chain([&e.embed_query("what makes lift").unwrap()])
    {
        assert_eq!(v.len(), 384);
        assert!((norm(v) - 1.0).abs() < 1e-4, "norm {}", norm(v));
    }
}

#[test]
fn a_paraphrase_scores_clearly_above_an_unrelated_sentence() {
    let e = embedder();
    let a = e.embed_query("How do I reset my password?").unwrap();
    let paraphrase = e
        .embed_query("What are the steps to change a forgotten password?")
        .unwrap();
    let unrelated = e
        .embed_query("The boundary layer thickens along a heated flat plate.")
        .unwrap();
    let close = cosine_similarity(&a, &paraphrase);
    let far = cosine_similarity(&a, &unrelated);
    assert!(close > 0.6, "paraphrase similarity {close}");
    assert!(far < 0.2, "unrelated similarity {far}");
    assert!(close - far > 0.4, "margin {close} vs {far}");
}

#[test]
fn a_batch_gives_the_same_vectors_as_one_by_one() {
    let e = embedder();
    let texts = [
        "short",
        "a somewhat longer sentence about the pressure distribution over a swept wing at transonic speed",
        "检索增强生成把检索和生成结合起来。",
        "emoji 🚀🔥 and punctuation!!!",
        "",
    ];
    let batch = e.embed_documents(&texts).unwrap();
    for (text, from_batch) in texts.iter().zip(&batch) {
        let single = e.embed_query(text).unwrap();
        let max_diff = single
            .iter()
            .zip(from_batch)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max_diff < 1e-5, "{text:?}: max difference {max_diff}");
    }
}

#[test]
fn more_texts_than_the_batch_size_keep_their_order() {
    let e = embedder();
    let texts: Vec<String> = (0..70)
        .map(|i| format!("document number {i} about topic {}", i % 7))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let all = e.embed_documents(&refs).unwrap();
    assert_eq!(all.len(), 70);
    let last = e.embed_query(&texts[69]).unwrap();
    assert!(cosine_similarity(&all[69], &last) > 0.99999);
    assert!(e.embed_documents(&[]).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_embedder_serves_concurrent_async_callers() {
    let pool = BlockingEmbedder::new(Arc::new(OnnxEmbedder::load(&options()).unwrap()), 2);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            pool.embed_query(format!("query {i}")).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().len(), 384);
    }
    let docs = pool
        .embed_documents(vec!["a".into(), "b".into()])
        .await
        .unwrap();
    assert_eq!(docs.len(), 2);
}

fn copy_model_to(dir: &std::path::Path) -> ragd_embed::OnnxEmbedderOptions {
    let mut opts = options();
    let model_dir = dir.join("model");
    std::fs::create_dir_all(&model_dir).unwrap();
    for entry in std::fs::read_dir(&opts.model_dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), model_dir.join(entry.file_name())).unwrap();
    }
    opts.model_dir = model_dir;
    opts
}

#[test]
fn a_missing_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let opts = copy_model_to(dir.path());
    std::fs::remove_file(opts.model_dir.join("tokenizer.json")).unwrap();
    let err = OnnxEmbedder::load(&opts).unwrap_err();
    assert!(matches!(err, EmbedError::ModelMissing { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("tokenizer.json") && message.contains("ragd models fetch"),
        "{message}"
    );
}

#[test]
fn a_corrupt_model_file_is_a_load_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let opts = copy_model_to(dir.path());
    let model = opts.model_dir.join("model.onnx");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 3]).unwrap();
    let err = OnnxEmbedder::load(&opts).unwrap_err();
    assert!(matches!(err, EmbedError::Load { .. }), "{err}");
    assert!(err.to_string().contains("model.onnx"), "{err}");

    let opts = copy_model_to(&dir.path().join("second"));
    std::fs::write(opts.model_dir.join("tokenizer.json"), b"{ not json").unwrap();
    let err = OnnxEmbedder::load(&opts).unwrap_err();
    assert!(matches!(err, EmbedError::Load { .. }), "{err}");
}

#[test]
fn a_missing_model_directory_is_reported_by_path() {
    // (A missing or corrupt ONNX Runtime library is tested through the binary, in a fresh process: the
    // runtime is loaded once per process.)
    let mut opts = options();
    opts.model_dir = opts.model_dir.join("does-not-exist");
    let err = OnnxEmbedder::load(&opts).unwrap_err();
    assert!(matches!(err, EmbedError::ModelMissing { .. }), "{err}");
}
