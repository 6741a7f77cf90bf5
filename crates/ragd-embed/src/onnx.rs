//! The default embedder: an ONNX sentence-embedding model run by fastembed on ONNX Runtime, which is
//! loaded dynamically from the model cache (no `ORT_DYLIB_PATH` needed).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use ragd_config::{EmbedConfig, ModelsConfig};

use crate::manifest::ONNXRUNTIME_LIBRARY;
use crate::{EmbedError, Embedder};

/// Where the model files are and how to run them.
#[derive(Debug, Clone)]
pub struct OnnxEmbedderOptions {
    /// Directory holding `model.onnx`, `tokenizer.json`, `config.json`, `special_tokens_map.json` and
    /// `tokenizer_config.json`.
    pub model_dir: PathBuf,
    /// The ONNX Runtime shared library.
    pub runtime_library: PathBuf,
    /// Intra-op threads of ONNX Runtime; 0 means one per available core.
    pub intra_threads: usize,
    /// Texts per inference call.
    pub batch_size: usize,
    /// Longest input in tokens, special tokens included; longer inputs are truncated.
    pub max_length: usize,
}

impl OnnxEmbedderOptions {
    pub fn from_config(models: &ModelsConfig, embed: &EmbedConfig) -> Self {
        OnnxEmbedderOptions {
            model_dir: models.dir.join(&embed.model),
            runtime_library: models.dir.join(ONNXRUNTIME_LIBRARY),
            intra_threads: embed.intra_threads,
            batch_size: embed.batch_size,
            max_length: embed.max_length,
        }
    }
}

/// A sentence-embedding model (mean pooling, unit-norm output) run by fastembed.
///
/// Inference takes `&mut` in ONNX Runtime's bindings, so calls are serialized by a mutex; ONNX Runtime
/// spreads each call over `intra_threads` itself.
pub struct OnnxEmbedder {
    model: Mutex<TextEmbedding>,
    model_id: String,
    dimensions: usize,
    batch_size: usize,
}

impl std::fmt::Debug for OnnxEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxEmbedder")
            .field("model_id", &self.model_id)
            .field("dimensions", &self.dimensions)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

const MODEL_FILES: [&str; 5] = [
    "model.onnx",
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

impl OnnxEmbedder {
    /// Loads the model; a missing file is [`EmbedError::ModelMissing`], a corrupt one [`EmbedError::Load`].
    pub fn load(options: &OnnxEmbedderOptions) -> Result<Self, EmbedError> {
        let [
            model,
            tokenizer,
            config,
            special_tokens_map,
            tokenizer_config,
        ] = MODEL_FILES.map(|name| options.model_dir.join(name));
        for path in [
            &model,
            &tokenizer,
            &config,
            &special_tokens_map,
            &tokenizer_config,
        ] {
            if !path.exists() {
                return Err(EmbedError::ModelMissing { path: path.clone() });
            }
        }
        let environment = runtime_environment(&options.runtime_library)?;
        let user_model = UserDefinedEmbeddingModel::new(
            read(&model)?,
            TokenizerFiles {
                tokenizer_file: read(&tokenizer)?,
                config_file: read(&config)?,
                special_tokens_map_file: read(&special_tokens_map)?,
                tokenizer_config_file: read(&tokenizer_config)?,
            },
        )
        .with_pooling(Pooling::Mean);
        // Tokenize inside the model lock without rayon. The tokenizer would otherwise split a batch over
        // rayon's global pool while this call holds the model lock; when the pool's workers are the ones
        // waiting for that lock (retrieval embeds a query inside `rayon::join`), nobody is left to run
        // the tokenizer's jobs and both sides wait forever. This deadlock was seen in the indexer's
        // tests (a retrieval and an indexing batch at once on 2 cores). Tokenizing a batch is a small
        // share of an inference, so the serial tokenizer costs little.
        tokenizers::utils::parallelism::set_parallelism(false);
        let mut init = InitOptionsUserDefined::new()
            .with_environment(environment)
            .with_max_length(options.max_length);
        if options.intra_threads > 0 {
            init = init.with_intra_threads(options.intra_threads);
        }
        let mut text_embedding = TextEmbedding::try_new_from_user_defined(user_model, init)
            .map_err(|e| EmbedError::Load {
                path: model.clone(),
                message: e.to_string(),
            })?;
        // One real inference proves the model runs and tells its dimensions.
        let probe = text_embedding
            .embed(["dimension probe"], None)
            .map_err(|e| EmbedError::Load {
                path: model.clone(),
                message: e.to_string(),
            })?;
        let dimensions = probe.first().map_or(0, Vec::len);
        if dimensions == 0 {
            return Err(EmbedError::Load {
                path: model,
                message: "the model returned an empty embedding".into(),
            });
        }
        let model_id = options
            .model_dir
            .file_name()
            .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
        Ok(OnnxEmbedder {
            model: Mutex::new(text_embedding),
            model_id,
            dimensions,
            batch_size: options.batch_size.max(1),
        })
    }

    fn run(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut model = self
            .model
            .lock()
            .map_err(|_| EmbedError::Inference("a previous embedding call panicked".into()))?;
        model
            .embed(texts, Some(self.batch_size))
            .map_err(|e| EmbedError::Inference(e.to_string()))
    }
}

impl Embedder for OnnxEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.run(texts)
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.run(&[text])?
            .pop()
            .ok_or_else(|| EmbedError::Inference("the model returned no embedding".into()))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path).map_err(|source| EmbedError::Io {
        path: path.to_owned(),
        source,
    })
}

/// ONNX Runtime is loaded once per process; later calls reuse the environment.
fn runtime_environment(library: &Path) -> Result<ort::environment::Environment, EmbedError> {
    static ENVIRONMENT: Mutex<Option<(PathBuf, ort::environment::Environment)>> = Mutex::new(None);
    let mut slot = ENVIRONMENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((loaded_from, environment)) = slot.as_ref() {
        if loaded_from != library {
            tracing::warn!(
                loaded = %loaded_from.display(),
                requested = %library.display(),
                "onnx runtime already loaded from another path; reusing it"
            );
        }
        return Ok(environment.clone());
    }
    if !library.exists() {
        return Err(EmbedError::ModelMissing {
            path: library.to_owned(),
        });
    }
    let load_error = |message: String| EmbedError::Load {
        path: library.to_owned(),
        message,
    };
    let environment = ort::init_from(library)
        .map_err(|e| load_error(e.to_string()))?
        .with_name("ragd")
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    *slot = Some((library.to_owned(), environment.clone()));
    Ok(environment)
}
