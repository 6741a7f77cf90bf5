//! Integration tests of ragd-ingest: parsing the committed fixtures, and chunking with the real model
//! tokenizer (the test command fetches the model first).

mod chunk;
mod parse;

use std::sync::OnceLock;

use ragd_config::Config;
use ragd_embed::ModelTokenizer;

/// The embedding model's tokenizer from the configured model cache.
pub fn tokenizer() -> &'static ModelTokenizer {
    static TOKENIZER: OnceLock<ModelTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let config = Config::load(None, std::env::vars()).expect("configuration loads");
        ModelTokenizer::from_model_dir(&config.model_dir())
            .expect("the model tokenizer loads; run `ragd models fetch` first")
    })
}
