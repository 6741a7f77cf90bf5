//! Integration tests of ragd-embed against the real model in the model cache (`ragd models fetch` puts it
//! there; the test command runs that first).

mod embedder;
mod fetch;
mod tokenizer;

use std::path::PathBuf;

use ragd_config::Config;
use ragd_embed::OnnxEmbedderOptions;

/// The configured model cache (defaults < `RAGD__` environment, as the binary loads it).
pub fn config() -> Config {
    Config::load(None, std::env::vars()).expect("configuration loads")
}

pub fn options() -> OnnxEmbedderOptions {
    let config = config();
    let options = OnnxEmbedderOptions::from_config(&config.models, &config.embed);
    assert!(
        options.model_dir.join("model.onnx").exists(),
        "the model is not in {}; run `ragd models fetch` (the test command does) before these tests",
        options.model_dir.display()
    );
    options
}

pub fn model_dir() -> PathBuf {
    options().model_dir
}
