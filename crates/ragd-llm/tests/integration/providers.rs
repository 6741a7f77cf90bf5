//! `Providers::resolve`: exact name, last path segment, default.

use std::collections::HashMap;
use std::sync::Arc;

use ragd_config::ProviderConfig;
use ragd_llm::{ChatModel, OpenAiProvider, Providers};

fn named(name: &str) -> Arc<dyn ChatModel> {
    let config = ProviderConfig {
        base_url: "http://127.0.0.1:9/v1".into(),
        ..ProviderConfig::default()
    };
    Arc::new(OpenAiProvider::new(name, &config).unwrap())
}

#[test]
fn resolve_by_exact_name_last_segment_or_default() {
    let models: HashMap<String, Arc<dyn ChatModel>> =
        ["openai", "local", "langgenius/ollama/ollama"]
            .into_iter()
            .map(|name| (name.to_owned(), named(name)))
            .collect();
    let providers = Providers::new("local", models);

    assert_eq!(providers.resolve("openai").provider(), "openai");
    assert_eq!(
        providers.resolve("langgenius/openai/openai").provider(),
        "openai"
    );
    assert_eq!(
        providers.resolve("langgenius/ollama/ollama").provider(),
        "langgenius/ollama/ollama"
    );
    assert_eq!(
        providers
            .resolve("langgenius/anthropic/anthropic")
            .provider(),
        "local"
    );
    assert_eq!(providers.resolve("").provider(), "local");
}

#[test]
fn from_config_adds_the_local_model_and_every_provider() {
    let mut config = ragd_config::LlmConfig::default();
    let providers = Providers::from_config(&config, "/nonexistent".into()).unwrap();
    assert_eq!(providers.names(), ["local"]);
    assert_eq!(providers.default_provider(), "local");
    assert_eq!(
        providers.resolve("langgenius/openai/openai").provider(),
        "local"
    );
    let local = providers.local().unwrap();
    assert!(!local.files_present());

    config.providers.insert(
        "openai".into(),
        ProviderConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            ..ProviderConfig::default()
        },
    );
    config.default_provider = "openai".into();
    let providers = Providers::from_config(&config, "/nonexistent".into()).unwrap();
    assert_eq!(providers.names(), ["local", "openai"]);
    assert_eq!(
        providers.resolve("langgenius/openai/openai").provider(),
        "openai"
    );
    assert_eq!(providers.resolve("local").provider(), "local");
    assert_eq!(providers.resolve("unknown").provider(), "openai");
}

#[test]
fn from_config_rejects_bad_provider_settings() {
    let mut config = ragd_config::LlmConfig {
        default_provider: "missing".into(),
        ..Default::default()
    };
    let error = Providers::from_config(&config, "/x".into()).unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");

    config.default_provider = "local".into();
    config
        .providers
        .insert("vllm".into(), ProviderConfig::default());
    let error = Providers::from_config(&config, "/x".into()).unwrap_err();
    assert!(error.to_string().contains("base_url"), "{error}");

    config.providers.clear();
    config.providers.insert(
        "local".into(),
        ProviderConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            ..ProviderConfig::default()
        },
    );
    let error = Providers::from_config(&config, "/x".into()).unwrap_err();
    assert!(error.to_string().contains("reserved"), "{error}");
}
