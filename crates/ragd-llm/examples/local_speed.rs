//! Measures the embedded SmolLM2: load time, then for a few prompts (short questions and a RAG-sized
//! one) the time to first token, the generation speed (tokens/s after the first token) and the prompt
//! speed, with the answers. `--concurrency N` runs N identical completions at once (the model admits
//! `llm.local.max_concurrent` of them at a time) and also reports the aggregate tokens/s.
//!
//! ```text
//! cargo run --release -p ragd-llm --example local_speed [-- --max-tokens 64 --runs 3 --concurrency 1]
//! ```
//! The model comes from the configured cache (`ragd models fetch`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ragd_config::Config;
use ragd_llm::{
    ChatMessage, ChatModel, ChatRequest, Completion, CompletionParams, LocalModel, Role,
};
use tokio::sync::mpsc;

const PROMPTS: &[&str] = &[
    "What is the capital of France?",
    "Explain in two sentences what a vector database is.",
    "Write a short poem about the sea.",
    "Context: ragd is a retrieval service. It ingests documents, chunks them, embeds the chunks and \
     answers queries with the most relevant chunks, using BM25 and vector search fused with reciprocal \
     rank fusion.\n\nQuestion: How does ragd find relevant chunks?",
];

/// Repeated to make a RAG-sized prompt (~1,200 tokens of retrieved context before the question).
const PASSAGE: &str = "ragd ingests documents, splits them into chunks of a few hundred tokens, embeds \
                       every chunk with a small sentence model and indexes it twice, for BM25 and for \
                       vector search. ";

struct Args {
    max_tokens: usize,
    runs: usize,
    concurrency: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut parsed = Args {
        max_tokens: 64,
        runs: 3,
        concurrency: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse::<usize>()
            .map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--max-tokens" => parsed.max_tokens = value,
            "--runs" => parsed.runs = value.max(1),
            "--concurrency" => parsed.concurrency = value.max(1),
            other => {
                return Err(format!(
                    "unknown argument {other} (--max-tokens N, --runs N, --concurrency N)"
                ));
            }
        }
    }
    Ok(parsed)
}

async fn complete(model: Arc<LocalModel>, prompt: String, max_tokens: usize) -> Completion {
    let request = ChatRequest {
        model: String::new(),
        messages: vec![ChatMessage::new(Role::User, prompt)],
        params: CompletionParams {
            max_tokens: Some(max_tokens),
            ..CompletionParams::default()
        },
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let completion = model
        .chat(request, tx)
        .await
        .expect("the local model answers");
    let _ = drain.await;
    completion
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let config = Config::load(None, std::env::vars())?;
    let model = Arc::new(LocalModel::new(config.llm_model_dir(), &config.llm.local));
    let started = Instant::now();
    model.load_now().await?;
    println!(
        "loaded {} in {:.0} ms; max_tokens {}, concurrency {}",
        model.model_path().display(),
        ms(started.elapsed()),
        args.max_tokens,
        args.concurrency
    );

    let long_prompt = format!(
        "Context:\n{}\nQuestion: what does ragd do with a document?",
        PASSAGE.repeat(30)
    );
    let prompts: Vec<String> = PROMPTS
        .iter()
        .map(|p| p.to_string())
        .chain([long_prompt])
        .collect();
    let mut generated_tokens = 0u64;
    let mut decode_time = Duration::ZERO;
    let mut ttfts = Vec::new();
    let mut all_tokens = 0u64;
    let mut wall = Duration::ZERO;
    for prompt in &prompts {
        for run in 0..args.runs {
            let round = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..args.concurrency {
                tasks.spawn(complete(model.clone(), prompt.clone(), args.max_tokens));
            }
            let completions = tasks.join_all().await;
            wall += round.elapsed();
            for (n, completion) in completions.iter().enumerate() {
                let ttft = completion.time_to_first_token.unwrap_or(completion.latency);
                let decode = completion.latency.saturating_sub(ttft);
                let tokens_after_first = completion.usage.completion_tokens.saturating_sub(1);
                let tokens_per_sec = tokens_after_first as f64 / decode.as_secs_f64().max(1e-9);
                let shown = if run == 0 && n == 0 {
                    format!("{:?}", completion.text.chars().take(80).collect::<String>())
                } else {
                    String::new()
                };
                println!(
                    "prompt {:>4} tok | ttft {:>7.1} ms | {:>3} tok in {:>6.0} ms | {:>5.1} tok/s | {shown}",
                    completion.usage.prompt_tokens,
                    ms(ttft),
                    completion.usage.completion_tokens,
                    ms(completion.latency),
                    tokens_per_sec,
                );
                generated_tokens += tokens_after_first;
                all_tokens += completion.usage.completion_tokens;
                decode_time += decode;
                ttfts.push(ttft);
            }
        }
    }
    ttfts.sort();
    println!(
        "overall: {:.1} tokens/s per generation after the first token, {:.1} tokens/s in aggregate; \
         time to first token median {:.1} ms (min {:.1}, max {:.1}); {} completions",
        generated_tokens as f64 / decode_time.as_secs_f64().max(1e-9),
        all_tokens as f64 / wall.as_secs_f64().max(1e-9),
        ms(ttfts[ttfts.len() / 2]),
        ms(ttfts[0]),
        ms(ttfts[ttfts.len() - 1]),
        ttfts.len(),
    );
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
