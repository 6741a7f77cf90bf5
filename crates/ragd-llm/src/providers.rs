//! [`Providers`]: the configured chat models by name, and how a flow node's `model.provider` picks one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use ragd_config::LlmConfig;

use crate::{ChatModel, LOCAL_PROVIDER, LlmError, LocalModel, OpenAiProvider};

/// The chat models a runtime can call, by provider name.
pub struct Providers {
    default: String,
    models: HashMap<String, Arc<dyn ChatModel>>,
    local: Option<Arc<LocalModel>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("default", &self.default)
            .field("names", &self.models.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Providers {
    /// Providers from explicit models; `default` must be one of the names.
    pub fn new(default: impl Into<String>, models: HashMap<String, Arc<dyn ChatModel>>) -> Self {
        Providers {
            default: default.into(),
            models,
            local: None,
        }
    }

    /// The embedded model as `local` (loaded lazily from `local_model_dir`, normally
    /// `Config::llm_model_dir()`) plus one [`OpenAiProvider`] per configured provider. Fails when a
    /// provider is misconfigured, is named `local`, or when `default_provider` names none of them.
    pub fn from_config(
        config: &LlmConfig,
        local_model_dir: PathBuf,
    ) -> Result<Providers, LlmError> {
        let local = Arc::new(LocalModel::new(local_model_dir, &config.local));
        let mut models: HashMap<String, Arc<dyn ChatModel>> = HashMap::new();
        models.insert(LOCAL_PROVIDER.to_owned(), local.clone());
        for (name, provider) in &config.providers {
            if name == LOCAL_PROVIDER {
                return Err(LlmError::Invalid(format!(
                    "the LLM provider name `{LOCAL_PROVIDER}` is reserved for the embedded model; \
                     rename [llm.providers.{LOCAL_PROVIDER}]"
                )));
            }
            models.insert(name.clone(), Arc::new(OpenAiProvider::new(name, provider)?));
        }
        if !models.contains_key(&config.default_provider) {
            let mut names: Vec<&str> = models.keys().map(String::as_str).collect();
            names.sort_unstable();
            return Err(LlmError::Invalid(format!(
                "llm.default_provider is `{}`, which is not a provider (have: {})",
                config.default_provider,
                names.join(", ")
            )));
        }
        Ok(Providers {
            default: config.default_provider.clone(),
            models,
            local: Some(local),
        })
    }

    /// The embedded model, when built by [`Providers::from_config`] (to warm it with
    /// [`LocalModel::load_now`] at start).
    pub fn local(&self) -> Option<&Arc<LocalModel>> {
        self.local.as_ref()
    }

    /// Name of the default provider.
    pub fn default_provider(&self) -> &str {
        &self.default
    }

    /// Provider names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.models.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The model for a flow node's `model.provider` (e.g. `langgenius/openai/openai`): an exact name,
    /// else the last `/` segment, else the default provider.
    pub fn resolve(&self, provider: &str) -> Arc<dyn ChatModel> {
        let last = provider.rsplit('/').next().unwrap_or(provider);
        self.models
            .get(provider)
            .or_else(|| self.models.get(last))
            .or_else(|| self.models.get(&self.default))
            .cloned()
            .unwrap_or_else(|| {
                self.models
                    .values()
                    .next()
                    .cloned()
                    .expect("Providers holds at least one model")
            })
    }
}
