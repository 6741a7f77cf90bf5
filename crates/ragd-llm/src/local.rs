//! [`LocalModel`]: the embedded chat model, SmolLM2-135M-Instruct quantized to Q4_1 (GGUF), run on the
//! CPU with candle. No network, no key: the default provider of a fresh install.
//!
//! Threads and invariants:
//! - The GGUF is read once, on first use or by [`LocalModel::load_now`] (a failed load is not kept, so a
//!   later `ragd models fetch` fixes it without a restart). The weights are shared: each generation clones
//!   `ModelWeights`, which copies `Arc`s to the quantized tensors and gets its own KV cache.
//! - The Q4_1 matrices are rewritten as Q8_0 at load ([`CPU_WEIGHTS_DTYPE`] says why), ~1 s.
//! - A generation runs on a blocking thread (`spawn_blocking`), at most `max_concurrent` at once (a
//!   semaphore; the others wait their turn, and a caller that goes away while waiting leaves the queue).
//! - Deltas are the incremental decoding of the generated ids (a character split over two tokens is sent
//!   whole), held back while they could be the start of a stop string. The receiver being closed stops the
//!   generation at the next token.
//! - The prompt keeps its end when it does not fit the context window (`context_tokens`, at most what the
//!   model and candle support), leaving room for the answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::{MAX_SEQ_LEN, ModelWeights};
use ragd_config::LocalLlmConfig;
use tokio::sync::{OnceCell, Semaphore, mpsc};

use crate::gguf_tokenizer::{GgufTokenizer, render_chatml};
use crate::stop::StopMatcher;
use crate::{ChatModel, ChatRequest, Completion, LlmError, Usage};

/// The GGUF file inside the model directory (as `ragd models fetch` installs it).
pub const LOCAL_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Provider name of the embedded model.
pub const LOCAL_PROVIDER: &str = "local";

/// Repetition penalty over the last tokens (candle's and llama.cpp's usual 1.1 over 64): a 135M model
/// loops without it, greedy decoding most of all.
const REPEAT_PENALTY: f32 = 1.1;
const REPEAT_LAST_N: usize = 64;

/// The embedded SmolLM2 chat model.
pub struct LocalModel {
    model_dir: PathBuf,
    name: String,
    max_tokens: usize,
    context_tokens: usize,
    permits: Arc<Semaphore>,
    loaded: OnceCell<Arc<Loaded>>,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("model_dir", &self.model_dir)
            .field("max_tokens", &self.max_tokens)
            .field("context_tokens", &self.context_tokens)
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

/// The model in memory.
struct Loaded {
    weights: ModelWeights,
    tokenizer: GgufTokenizer,
    /// Context window actually used (config, model and candle limits).
    context_tokens: usize,
}

impl LocalModel {
    /// The model in `model_dir` (`Config::llm_model_dir()`); nothing is read until the first use.
    pub fn new(model_dir: impl Into<PathBuf>, config: &LocalLlmConfig) -> Self {
        LocalModel {
            model_dir: model_dir.into(),
            name: config.model.clone(),
            max_tokens: config.max_tokens.max(1),
            context_tokens: config.context_tokens.max(16),
            permits: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            loaded: OnceCell::new(),
        }
    }

    /// Path of the GGUF file.
    pub fn model_path(&self) -> PathBuf {
        self.model_dir.join(LOCAL_MODEL_FILE)
    }

    /// Whether the model file is there (so that `ragd serve` can load it at start).
    pub fn files_present(&self) -> bool {
        self.model_path().is_file()
    }

    /// Whether the model is in memory.
    pub fn is_loaded(&self) -> bool {
        self.loaded.initialized()
    }

    /// Loads the model now instead of at the first completion (a warm-up for `ragd serve`). Loading
    /// reads ~100 MB on a blocking thread; concurrent callers wait for the same load.
    pub async fn load_now(&self) -> Result<(), LlmError> {
        self.loaded().await.map(|_| ())
    }

    /// Token ids of `text` under the model's tokenizer (loading the model if needed); for tests and
    /// measurements.
    pub async fn tokenize(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        self.loaded().await?.tokenizer.encode(text)
    }

    /// Text of token ids (special tokens left out).
    pub async fn detokenize(&self, ids: &[u32]) -> Result<String, LlmError> {
        self.loaded().await?.tokenizer.decode(ids)
    }

    async fn loaded(&self) -> Result<Arc<Loaded>, LlmError> {
        self.loaded
            .get_or_try_init(|| async {
                let path = self.model_path();
                let context_tokens = self.context_tokens;
                tokio::task::spawn_blocking(move || load(&path, context_tokens))
                    .await
                    .map_err(|e| LlmError::Model(format!("the loading thread failed: {e}")))?
                    .map(Arc::new)
            })
            .await
            .cloned()
    }
}

fn load(path: &Path, context_tokens: usize) -> Result<Loaded, LlmError> {
    let started = Instant::now();
    let mut file = std::fs::File::open(path).map_err(|e| {
        LlmError::Model(format!(
            "cannot open {} ({e}); run `ragd models fetch` to download the model",
            path.display()
        ))
    })?;
    let bad_file = |e: candle_core::Error| {
        LlmError::Model(format!(
            "{} is not a usable GGUF model ({e}); run `ragd models fetch` to repair it",
            path.display()
        ))
    };
    let content = gguf_file::Content::read(&mut file).map_err(bad_file)?;
    let tokenizer = GgufTokenizer::from_gguf(&content)?;
    let model_context = content
        .metadata
        .get("llama.context_length")
        .and_then(|v| v.to_u32().ok())
        .map_or(MAX_SEQ_LEN, |n| n as usize);
    let (content, mut weights_file) = requantize_for_cpu(content, &mut file).map_err(bad_file)?;
    let weights =
        ModelWeights::from_gguf(content, &mut weights_file, &Device::Cpu).map_err(bad_file)?;
    let context_tokens = context_tokens.min(model_context).min(MAX_SEQ_LEN);
    tracing::info!(
        path = %path.display(),
        context_tokens,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "local llm loaded"
    );
    Ok(Loaded {
        weights,
        tokenizer,
        context_tokens,
    })
}

/// What the Q4_1 matrices become at load. candle has AVX2 kernels for Q8_0 (chosen at run time) but only
/// portable scalar code for Q4_1, 5-10× slower. Q8_0 holds every Q4_1 value to within 1/254 of its
/// block's largest, so answers barely change; the weights take ~170 MB instead of ~100.
///
/// Measured with `examples/local_speed.rs` on 2 idle cores: Q8_0 generates ~70 tokens/s and reads a
/// prompt at ~180 tokens/s (~110 for 1,200 tokens); `F32` (~500 MB, candle's gemm) generates ~28
/// tokens/s but reads prompts at ~250 (~200 for 1,200 tokens) and degrades less when other processes
/// compete for the cores (candle's quantized kernels split each matmul statically across its threads).
const CPU_WEIGHTS_DTYPE: candle_core::quantized::GgmlDType =
    candle_core::quantized::GgmlDType::Q8_0;

/// Rewrites the Q4_1 matrices as [`CPU_WEIGHTS_DTYPE`], in memory.
fn requantize_for_cpu(
    content: gguf_file::Content,
    file: &mut std::fs::File,
) -> candle_core::Result<(gguf_file::Content, std::io::Cursor<Vec<u8>>)> {
    use candle_core::quantized::{GgmlDType, QTensor};

    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(content.tensor_infos.len());
    for name in content.tensor_infos.keys() {
        let tensor = content.tensor(file, name, &Device::Cpu)?;
        let tensor = if tensor.dtype() == GgmlDType::Q4_1 {
            QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, CPU_WEIGHTS_DTYPE)?
        } else {
            tensor
        };
        tensors.push((name.clone(), tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut buffer = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut buffer, &metadata, &tensor_refs)?;
    // The tensors are in the buffer now: free them before the model is built from it.
    drop(tensor_refs);
    drop(tensors);
    buffer.set_position(0);
    let content = gguf_file::Content::read(&mut buffer)?;
    Ok((content, buffer))
}

#[async_trait::async_trait]
impl ChatModel for LocalModel {
    fn provider(&self) -> &str {
        LOCAL_PROVIDER
    }

    async fn chat(
        &self,
        request: ChatRequest,
        deltas: mpsc::UnboundedSender<String>,
    ) -> Result<Completion, LlmError> {
        if request.messages.is_empty() {
            return Err(LlmError::Invalid("the chat request has no messages".into()));
        }
        if deltas.is_closed() {
            return Err(LlmError::Cancelled);
        }
        let started = Instant::now();
        let loaded = self.loaded().await?;
        let permit = tokio::select! {
            permit = self.permits.clone().acquire_owned() => {
                permit.map_err(|_| LlmError::Model("the local model is shut down".into()))?
            }
            () = deltas.closed() => return Err(LlmError::Cancelled),
        };
        let settings = Settings::from_request(&request, self.max_tokens);
        let name = self.name.clone();
        let generated = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            generate(&loaded, &request, &settings, &deltas, started)
        })
        .await
        .map_err(|e| LlmError::Model(format!("the generation thread failed: {e}")))??;
        Ok(Completion {
            text: generated.text,
            usage: Usage {
                prompt_tokens: generated.prompt_tokens as u64,
                completion_tokens: generated.completion_tokens as u64,
                total_tokens: (generated.prompt_tokens + generated.completion_tokens) as u64,
            },
            usage_reported: true,
            time_to_first_token: generated.time_to_first_token,
            latency: started.elapsed(),
            model: name,
            finish_reason: Some(generated.finish_reason.to_owned()),
        })
    }
}

/// Sampling settings of one generation.
#[derive(Debug)]
struct Settings {
    sampling: Sampling,
    max_tokens: usize,
    stop: Vec<String>,
    seed: u64,
}

impl Settings {
    fn from_request(request: &ChatRequest, default_max_tokens: usize) -> Self {
        let params = &request.params;
        let temperature = params.temperature.unwrap_or(0.0);
        let sampling = if temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            match params.top_p {
                Some(p) if p > 0.0 && p < 1.0 => Sampling::TopP { p, temperature },
                _ => Sampling::All { temperature },
            }
        };
        Settings {
            sampling,
            max_tokens: params.max_tokens.unwrap_or(default_max_tokens).max(1),
            stop: params.stop.clone(),
            seed: fresh_seed(),
        }
    }
}

/// A different seed for every sampled generation (greedy decoding ignores it).
fn fresh_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The result of a generation.
#[derive(Debug)]
struct Generated {
    text: String,
    prompt_tokens: usize,
    completion_tokens: usize,
    finish_reason: &'static str,
    time_to_first_token: Option<Duration>,
}

/// Sends text to the caller, timing the first non-empty piece.
struct DeltaSink<'a> {
    deltas: &'a mpsc::UnboundedSender<String>,
    started: Instant,
    text: String,
    time_to_first_token: Option<Duration>,
}

impl DeltaSink<'_> {
    fn send(&mut self, piece: String) -> Result<(), LlmError> {
        if piece.is_empty() {
            return Ok(());
        }
        if self.time_to_first_token.is_none() {
            self.time_to_first_token = Some(self.started.elapsed());
        }
        self.text.push_str(&piece);
        self.deltas.send(piece).map_err(|_| LlmError::Cancelled)
    }
}

/// Runs one generation on the calling (blocking) thread.
fn generate(
    loaded: &Loaded,
    request: &ChatRequest,
    settings: &Settings,
    deltas: &mpsc::UnboundedSender<String>,
    started: Instant,
) -> Result<Generated, LlmError> {
    let tokenizer = &loaded.tokenizer;
    let mut prompt = tokenizer.encode(&render_chatml(&request.messages))?;
    // Room for the answer, but never less than half the window for the prompt.
    let context = loaded.context_tokens;
    let answer_room = settings.max_tokens.min(context / 2);
    let prompt_room = context - answer_room;
    if prompt.len() > prompt_room {
        tracing::debug!(
            prompt_tokens = prompt.len(),
            kept = prompt_room,
            "local llm prompt truncated at its start"
        );
        prompt.drain(..prompt.len() - prompt_room);
    }
    let max_tokens = settings.max_tokens.min(context - prompt.len());

    let model_error = |e: candle_core::Error| LlmError::Model(format!("generation failed: {e}"));
    let mut weights = loaded.weights.clone();
    let mut sampler = LogitsProcessor::from_sampling(settings.seed, settings.sampling.clone());
    let mut decoder = tokenizer.tokenizer.decode_stream(true);
    let mut stops = StopMatcher::new(&settings.stop);
    let mut sink = DeltaSink {
        deltas,
        started,
        text: String::new(),
        time_to_first_token: None,
    };

    let mut generated: Vec<u32> = Vec::with_capacity(max_tokens);
    let input = Tensor::new(prompt.as_slice(), &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .map_err(model_error)?;
    let mut logits = weights.forward(&input, 0).map_err(model_error)?;
    let finish_reason = loop {
        let next = sample(&mut sampler, &logits, &prompt, &generated).map_err(model_error)?;
        if tokenizer.stop_ids.contains(&next) {
            break "stop";
        }
        generated.push(next);
        let piece = decoder
            .step(next)
            .map_err(|e| LlmError::Model(format!("cannot decode token {next}: {e}")))?;
        if let Some(piece) = piece {
            let released = stops.push(&piece);
            sink.send(released.text)?;
            if released.stopped {
                break "stop";
            }
        }
        if generated.len() >= max_tokens {
            break "length";
        }
        if deltas.is_closed() {
            return Err(LlmError::Cancelled);
        }
        let input = Tensor::new(&[next], &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .map_err(model_error)?;
        let position = prompt.len() + generated.len() - 1;
        logits = weights.forward(&input, position).map_err(model_error)?;
    };
    sink.send(stops.finish())?;

    Ok(Generated {
        text: sink.text,
        prompt_tokens: prompt.len(),
        completion_tokens: generated.len(),
        finish_reason,
        time_to_first_token: sink.time_to_first_token,
    })
}

/// The next token from the last position's logits, after the repetition penalty.
fn sample(
    sampler: &mut LogitsProcessor,
    logits: &Tensor,
    prompt: &[u32],
    generated: &[u32],
) -> candle_core::Result<u32> {
    let logits = logits.squeeze(0)?.to_dtype(candle_core::DType::F32)?;
    let mut recent: Vec<u32> = prompt.iter().chain(generated).copied().collect();
    recent.drain(..recent.len().saturating_sub(REPEAT_LAST_N));
    let logits =
        candle_transformers::utils::apply_repeat_penalty(&logits, REPEAT_PENALTY, &recent)?;
    sampler.sample(&logits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChatMessage, CompletionParams, Role};

    fn request(params: CompletionParams) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage::new(Role::User, "hi")],
            params,
        }
    }

    #[test]
    fn greedy_unless_a_temperature_is_set() {
        let settings = Settings::from_request(&request(CompletionParams::default()), 7);
        assert!(matches!(settings.sampling, Sampling::ArgMax));
        assert_eq!(settings.max_tokens, 7);
        let params = CompletionParams {
            temperature: Some(0.7),
            top_p: Some(0.9),
            max_tokens: Some(3),
            stop: vec![],
        };
        let settings = Settings::from_request(&request(params), 7);
        assert!(
            matches!(settings.sampling, Sampling::TopP { p, temperature } if p == 0.9 && temperature == 0.7)
        );
        assert_eq!(settings.max_tokens, 3);
        let params = CompletionParams {
            temperature: Some(0.7),
            ..CompletionParams::default()
        };
        let settings = Settings::from_request(&request(params), 7);
        assert!(matches!(settings.sampling, Sampling::All { .. }));
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(fresh_seed(), fresh_seed());
    }
}
