//! The local model's tokenizer, rebuilt from its GGUF metadata (the GGUF ships no `tokenizer.json`), and
//! its chat template.
//!
//! SmolLM2's GGUF says `tokenizer.ggml.model = gpt2` and `tokenizer.ggml.pre = smollm`: a byte-level BPE
//! (`tokens` + `merges`), whose pre-tokenizer splits every digit apart and then applies GPT-2's regex, as
//! llama.cpp does for `smollm` and as the model's original `tokenizer.json` does. Control tokens
//! (`token_type` 3, e.g. `<|im_start|>`) are special added tokens, so the rendered chat prompt encodes each
//! marker as one id.

use candle_core::quantized::gguf_file;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

use crate::{ChatMessage, LlmError, Role};

/// GGUF `token_type` of control tokens (llama.cpp's `LLAMA_TOKEN_TYPE_CONTROL`).
const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF `token_type` of user-defined tokens.
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// ChatML markers (SmolLM2's template).
pub(crate) const IM_START: &str = "<|im_start|>";
pub(crate) const IM_END: &str = "<|im_end|>";
pub(crate) const END_OF_TEXT: &str = "<|endoftext|>";
/// The system message SmolLM2's template adds when the conversation has none.
const DEFAULT_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// The tokenizer and the ids that end an answer.
pub(crate) struct GgufTokenizer {
    pub(crate) tokenizer: Tokenizer,
    /// `eos_token_id`, `<|im_end|>` and `<|endoftext|>`: any of them ends generation.
    pub(crate) stop_ids: Vec<u32>,
}

impl GgufTokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.*` metadata. Fails on a GGUF that is not a byte-level
    /// BPE (only those are supported).
    pub(crate) fn from_gguf(content: &gguf_file::Content) -> Result<Self, LlmError> {
        let metadata = |key: &str| {
            content
                .metadata
                .get(key)
                .ok_or_else(|| LlmError::Model(format!("the GGUF has no {key}")))
        };
        let bad =
            |key: &str, e: candle_core::Error| LlmError::Model(format!("the GGUF's {key}: {e}"));

        let kind = metadata("tokenizer.ggml.model")?
            .to_string()
            .map_err(|e| bad("tokenizer.ggml.model", e))?;
        if kind != "gpt2" {
            return Err(LlmError::Model(format!(
                "the GGUF's tokenizer is {kind:?}; only byte-level BPE (gpt2) is supported"
            )));
        }
        let tokens: Vec<String> = metadata("tokenizer.ggml.tokens")?
            .to_vec()
            .map_err(|e| bad("tokenizer.ggml.tokens", e))?
            .iter()
            .map(|token| token.to_string().cloned())
            .collect::<Result<_, _>>()
            .map_err(|e| bad("tokenizer.ggml.tokens", e))?;
        let merges: Vec<(String, String)> = metadata("tokenizer.ggml.merges")?
            .to_vec()
            .map_err(|e| bad("tokenizer.ggml.merges", e))?
            .iter()
            .map(|merge| {
                let merge = merge
                    .to_string()
                    .map_err(|e| bad("tokenizer.ggml.merges", e))?;
                merge
                    .split_once(' ')
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .ok_or_else(|| LlmError::Model(format!("the GGUF has a bad merge {merge:?}")))
            })
            .collect::<Result<_, _>>()?;
        let token_types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(types) => types
                .to_vec()
                .map_err(|e| bad("tokenizer.ggml.token_type", e))?
                .iter()
                .map(|t| t.to_i32())
                .collect::<Result<_, _>>()
                .map_err(|e| bad("tokenizer.ggml.token_type", e))?,
            None => Vec::new(),
        };

        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), id as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| LlmError::Model(format!("cannot build the BPE tokenizer: {e}")))?;
        let mut tokenizer = Tokenizer::new(bpe);
        tokenizer.with_pre_tokenizer(Some(PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
        ]))));
        tokenizer.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevelDecoder::default())));

        let mut special = Vec::new();
        let mut user_defined = Vec::new();
        for (token, kind) in tokens.iter().zip(&token_types) {
            match *kind {
                TOKEN_TYPE_CONTROL => special.push(AddedToken::from(token.clone(), true)),
                TOKEN_TYPE_USER_DEFINED => {
                    user_defined.push(AddedToken::from(token.clone(), false))
                }
                _ => {}
            }
        }
        let added =
            |e: tokenizers::Error| LlmError::Model(format!("cannot add special tokens: {e}"));
        tokenizer.add_special_tokens(special).map_err(added)?;
        tokenizer.add_tokens(user_defined).map_err(added)?;

        let mut stop_ids = Vec::new();
        if let Some(eos) = content.metadata.get("tokenizer.ggml.eos_token_id")
            && let Ok(eos) = eos.to_u32()
        {
            stop_ids.push(eos);
        }
        for marker in [IM_END, END_OF_TEXT] {
            if let Some(id) = tokenizer.token_to_id(marker)
                && !stop_ids.contains(&id)
            {
                stop_ids.push(id);
            }
        }
        if tokenizer.token_to_id(IM_START).is_none() || tokenizer.token_to_id(IM_END).is_none() {
            return Err(LlmError::Model(
                "the GGUF's vocabulary has no ChatML markers (<|im_start|>, <|im_end|>)".into(),
            ));
        }
        Ok(GgufTokenizer {
            tokenizer,
            stop_ids,
        })
    }

    /// Token ids of `text` (special markers in it are encoded as their single ids).
    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        self.tokenizer
            .encode_fast(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|e| LlmError::Model(format!("cannot tokenize the prompt: {e}")))
    }

    /// Text of `ids`, special tokens left out.
    pub(crate) fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| LlmError::Model(format!("cannot decode tokens: {e}")))
    }
}

/// The prompt as SmolLM2's chat template renders it, with the generation prompt: ChatML, and the
/// template's default system message when the conversation does not start with one.
pub(crate) fn render_chatml(messages: &[ChatMessage]) -> String {
    let mut prompt = String::new();
    if messages.first().is_none_or(|m| m.role != Role::System) {
        push_turn(&mut prompt, "system", DEFAULT_SYSTEM);
    }
    for message in messages {
        let role = match message.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        push_turn(&mut prompt, role, &message.content);
    }
    prompt.push_str(IM_START);
    prompt.push_str("assistant\n");
    prompt
}

fn push_turn(prompt: &mut String, role: &str, content: &str) {
    prompt.push_str(IM_START);
    prompt.push_str(role);
    prompt.push('\n');
    prompt.push_str(content);
    prompt.push_str(IM_END);
    prompt.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_adds_the_default_system_message() {
        let prompt = render_chatml(&[ChatMessage::new(Role::User, "Hi")]);
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let prompt = render_chatml(&[
            ChatMessage::new(Role::System, "Be brief."),
            ChatMessage::new(Role::User, "Hi"),
            ChatMessage::new(Role::Assistant, "Hello."),
            ChatMessage::new(Role::User, "Bye"),
        ]);
        assert_eq!(
            prompt,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
             <|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n\
             <|im_start|>assistant\n"
        );
    }
}
