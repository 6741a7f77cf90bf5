//! Times one `embed_documents` call per batch size on texts of equal length (a quick look at how batch
//! size affects throughput on this machine): `cargo run --release -p ragd-embed --example batch_probe`.

use std::time::Instant;

use ragd_config::Config;
use ragd_embed::{Embedder, OnnxEmbedder, OnnxEmbedderOptions};

fn main() {
    let config = Config::load(None, std::env::vars()).expect("configuration loads");
    let mut options = OnnxEmbedderOptions::from_config(&config.models, &config.embed);
    options.batch_size = 1024;
    let embedder = OnnxEmbedder::load(&options).expect("model loads; run `ragd models fetch`");
    let words: Vec<String> = (0..40).map(|i| format!("word{i}")).collect();
    let text = words.join(" ");
    for batch in [1usize, 2, 4, 8, 12, 16, 24, 32, 64] {
        let texts: Vec<&str> = vec![text.as_str(); batch];
        embedder.embed_documents(&texts).unwrap();
        let rounds = (64 / batch).max(2);
        let started = Instant::now();
        for _ in 0..rounds {
            embedder.embed_documents(&texts).unwrap();
        }
        let per_text = started.elapsed().as_secs_f64() * 1e3 / (rounds * batch) as f64;
        println!(
            "batch {batch:>3}: {per_text:.2} ms per text, {:.0} texts/s",
            1e3 / per_text
        );
    }
}
