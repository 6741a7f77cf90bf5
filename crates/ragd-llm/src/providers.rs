//! [`Providers`]: the configured chat models by name, and how a flow node's `model.provider` picks one.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ChatModel;

/// The chat models a runtime can call, by provider name.
pub struct Providers {
    default: String,
    models: HashMap<String, Arc<dyn ChatModel>>,
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
        }
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
