//! Measures the embedded SmolLM2: load time, then for a few prompts the time to first token, the
//! generation speed (tokens/s after the first token) and the prompt speed, with the answers.
//!
//! ```text
//! cargo run --release -p ragd-llm --example local_speed [-- --max-tokens 64 --runs 3]
//! ```
//! The model comes from the configured cache (`ragd models fetch`).

use std::time::{Duration, Instant};

use ragd_config::Config;
use ragd_llm::{ChatMessage, ChatModel, ChatRequest, CompletionParams, LocalModel, Role};
use tokio::sync::mpsc;

const PROMPTS: &[&str] = &[
    "What is the capital of France?",
    "Explain in two sentences what a vector database is.",
    "Write a short poem about the sea.",
    "Context: ragd is a retrieval service. It ingests documents, chunks them, embeds the chunks and \
     answers queries with the most relevant chunks, using BM25 and vector search fused with reciprocal \
     rank fusion.\n\nQuestion: How does ragd find relevant chunks?",
];

fn parse_args() -> Result<(usize, usize), String> {
    let (mut max_tokens, mut runs) = (64, 3);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse::<usize>()
            .map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--max-tokens" => max_tokens = value,
            "--runs" => runs = value.max(1),
            other => {
                return Err(format!(
                    "unknown argument {other} (--max-tokens N, --runs N)"
                ));
            }
        }
    }
    Ok((max_tokens, runs))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (max_tokens, runs) = parse_args()?;
    let config = Config::load(None, std::env::vars())?;
    let model = LocalModel::new(config.llm_model_dir(), &config.llm.local);
    let started = Instant::now();
    model.load_now().await?;
    println!(
        "loaded {} in {:.0} ms",
        model.model_path().display(),
        ms(started.elapsed())
    );

    let mut generated_tokens = 0u64;
    let mut decode_time = Duration::ZERO;
    let mut ttfts = Vec::new();
    for prompt in PROMPTS {
        for run in 0..runs {
            let request = ChatRequest {
                model: String::new(),
                messages: vec![ChatMessage::new(Role::User, *prompt)],
                params: CompletionParams {
                    max_tokens: Some(max_tokens),
                    ..CompletionParams::default()
                },
            };
            let (tx, mut rx) = mpsc::unbounded_channel();
            let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
            let completion = model.chat(request, tx).await?;
            drain.await?;
            let ttft = completion.time_to_first_token.unwrap_or(completion.latency);
            let decode = completion.latency.saturating_sub(ttft);
            let tokens_after_first = completion.usage.completion_tokens.saturating_sub(1);
            let tokens_per_sec = tokens_after_first as f64 / decode.as_secs_f64().max(1e-9);
            println!(
                "prompt {:>3} tok | ttft {:>6.1} ms ({:>5.0} prompt tok/s) | {:>3} tok in {:>6.0} ms | {:>5.1} tok/s | {}",
                completion.usage.prompt_tokens,
                ms(ttft),
                completion.usage.prompt_tokens as f64 / ttft.as_secs_f64(),
                completion.usage.completion_tokens,
                ms(completion.latency),
                tokens_per_sec,
                if run == 0 {
                    format!("{:?}", completion.text.chars().take(90).collect::<String>())
                } else {
                    String::new()
                },
            );
            generated_tokens += tokens_after_first;
            decode_time += decode;
            ttfts.push(ttft);
        }
    }
    ttfts.sort();
    println!(
        "overall: {:.1} tokens/s generating, time to first token median {:.1} ms (min {:.1}, max {:.1}), \
         {} completions, max_tokens {max_tokens}",
        generated_tokens as f64 / decode_time.as_secs_f64().max(1e-9),
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
