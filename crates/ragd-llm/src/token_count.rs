//! Token counts for providers that report no usage: OpenAI's own BPE (tiktoken's tables, compiled in),
//! picked from the model name, `cl100k_base` for models it does not know (Llama 3's tokenizer is built on
//! it, so open models served by vLLM or Ollama are counted closely, if not exactly).
//!
//! Prompt framing follows OpenAI's cookbook: 3 tokens per message, plus 3 priming the reply.

use tiktoken_rs::CoreBPE;

use crate::ChatMessage;

const TOKENS_PER_MESSAGE: u64 = 3;
const REPLY_PRIMING: u64 = 3;

fn bpe_for_model(model: &str) -> &'static CoreBPE {
    tiktoken_rs::tokenizer::get_tokenizer(model)
        .and_then(|tokenizer| tiktoken_rs::bpe_for_tokenizer(tokenizer).ok())
        .unwrap_or_else(tiktoken_rs::cl100k_base_singleton)
}

/// Tokens of a chat prompt as the model sees it (messages and their framing).
pub(crate) fn count_prompt_tokens(model: &str, messages: &[ChatMessage]) -> u64 {
    let bpe = bpe_for_model(model);
    let mut tokens = REPLY_PRIMING;
    for message in messages {
        let role = match message.role {
            crate::Role::System => "system",
            crate::Role::User => "user",
            crate::Role::Assistant => "assistant",
        };
        tokens += TOKENS_PER_MESSAGE;
        tokens += bpe.encode_ordinary(role).len() as u64;
        tokens += bpe.encode_ordinary(&message.content).len() as u64;
    }
    tokens
}

/// Tokens of generated text.
pub(crate) fn count_text_tokens(model: &str, text: &str) -> u64 {
    bpe_for_model(model).encode_ordinary(text).len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    #[test]
    fn counts_match_openai_cookbook() {
        // "Hello world" is 2 tokens in cl100k_base and o200k_base.
        assert_eq!(count_text_tokens("gpt-4", "Hello world"), 2);
        assert_eq!(count_text_tokens("gpt-4o", "Hello world"), 2);
        assert_eq!(count_text_tokens("some-local-llama", "Hello world"), 2);
        assert_eq!(count_text_tokens("gpt-4o", ""), 0);
        // 3 (priming) + 3 (framing) + 1 ("user") + 2 ("Hello world").
        let messages = [ChatMessage::new(Role::User, "Hello world")];
        assert_eq!(count_prompt_tokens("gpt-4o", &messages), 9);
    }
}
