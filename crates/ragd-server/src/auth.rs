//! API keys: generation, hashing, the `Authorization: Bearer` check with Dify's exact 401 answers, the
//! per-dataset scope of dataset keys, and app keys (`app-…`), which open one app's App API and nothing
//! else.
//!
//! Tokens are `dataset-` (or `app-`) followed by 24 random characters from a 62-letter alphabet (about 143 bits), so a
//! plain SHA-256 is the right hash: nothing to brute-force, and a lookup is one indexed read. Looked-up
//! keys are cached for [`KEY_CACHE_TTL`], which is therefore how long a revocation made by another
//! process (`ragd keys revoke`) takes to apply.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use ragd_core::dataset::{ApiKey, NewApiKey};
use ragd_store::MetadataStore;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, INVALID_TOKEN, MISSING_BEARER, WRONG_SCHEME};
use crate::state::AppState;

/// Prefix of dataset API keys (Dify's).
pub const DATASET_KEY_PREFIX: &str = "dataset-";
/// How long a looked-up key (or its absence) is trusted before the store is asked again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
const TOKEN_CHARS: usize = 24;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// SHA-256 of a token, lowercase hex: what the store keeps.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Prefix of app API keys (Dify's).
pub const APP_KEY_PREFIX: &str = "app-";

/// A new random dataset token (`dataset-` + 24 characters).
pub fn generate_token() -> Result<String, getrandom::Error> {
    generate_prefixed(DATASET_KEY_PREFIX)
}

fn generate_prefixed(prefix: &str) -> Result<String, getrandom::Error> {
    let mut token = String::from(prefix);
    while token.len() < prefix.len() + TOKEN_CHARS {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        // Rejection sampling keeps every character equally likely.
        for b in bytes {
            if (b as usize) < ALPHABET.len() * 4 && token.len() < prefix.len() + TOKEN_CHARS {
                token.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(token)
}

/// Creates and stores a key; returns the stored record and the token, which is shown once and never
/// stored.
pub fn create_key(
    store: &dyn MetadataStore,
    name: &str,
    datasets: Vec<String>,
) -> Result<(ApiKey, String), String> {
    let token = generate_token().map_err(|e| format!("no randomness for a key: {e}"))?;
    let key = store
        .create_api_key(&NewApiKey {
            name: name.to_owned(),
            prefix: token[..DATASET_KEY_PREFIX.len() + 4].to_owned(),
            token_hash: hash_token(&token),
            datasets,
            app_id: None,
        })
        .map_err(|e| e.to_string())?;
    Ok((key, token))
}

/// Creates and stores an app key for `app_id`; returns the stored record and the token (shown once).
pub fn create_app_key(
    store: &dyn MetadataStore,
    name: &str,
    app_id: &str,
) -> Result<(ApiKey, String), String> {
    let token =
        generate_prefixed(APP_KEY_PREFIX).map_err(|e| format!("no randomness for a key: {e}"))?;
    let key = store
        .create_api_key(&NewApiKey {
            name: name.to_owned(),
            prefix: token[..APP_KEY_PREFIX.len() + 4].to_owned(),
            token_hash: hash_token(&token),
            datasets: Vec::new(),
            app_id: Some(app_id.to_owned()),
        })
        .map_err(|e| e.to_string())?;
    Ok((key, token))
}

/// Who is calling: the key used, or nobody when auth is off.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: Option<ApiKey>,
}

impl Caller {
    /// May this caller use the dataset?
    pub fn may_use(&self, dataset_id: &str) -> bool {
        match &self.key {
            None => true,
            Some(key) => key.datasets.is_empty() || key.datasets.iter().any(|d| d == dataset_id),
        }
    }

    /// Keys limited to some datasets cannot create new ones (they could not use them).
    pub fn is_scoped(&self) -> bool {
        self.key.as_ref().is_some_and(|k| !k.datasets.is_empty())
    }
}

/// Recently looked-up keys by token hash (`None`: no such key).
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (Option<ApiKey>, Instant)>>,
}

const KEY_CACHE_MAX: usize = 10_000;

impl KeyCache {
    fn get(&self, hash: &str) -> Option<Option<ApiKey>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(key, _)| key.clone())
    }

    fn put(&self, hash: String, key: Option<ApiKey>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= KEY_CACHE_MAX {
            entries.retain(|_, (_, at)| at.elapsed() < KEY_CACHE_TTL);
            if entries.len() >= KEY_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(hash, (key, Instant::now()));
    }
}

/// The token of an `Authorization` header, or Dify's 401 for what is wrong with it.
pub fn bearer_token(header: Option<&str>) -> Result<&str, &'static str> {
    let Some(value) = header else {
        return Err(MISSING_BEARER);
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return Err(MISSING_BEARER);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(WRONG_SCHEME);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(INVALID_TOKEN);
    }
    Ok(token)
}

/// Resolves a token to a live dataset key (cached), or `None` (app keys are not dataset keys).
pub async fn lookup_dataset_key(state: &AppState, token: &str) -> Result<Option<ApiKey>, ApiError> {
    Ok(lookup(state, token).await?.filter(|k| k.app_id.is_none()))
}

/// Resolves a token to a live key of either kind (cached), or `None`.
pub async fn lookup(state: &AppState, token: &str) -> Result<Option<ApiKey>, ApiError> {
    let hash = hash_token(token);
    if let Some(cached) = state.keys.get(&hash) {
        return Ok(cached);
    }
    let store = state.store.clone();
    let lookup_hash = hash.clone();
    let found = tokio::task::spawn_blocking(move || store.api_key_by_hash(&lookup_hash)).await??;
    let live = found.filter(|k| k.revoked_at.is_none());
    if let Some(key) = &live {
        let stale = key
            .last_used_at
            .is_none_or(|t| crate::state::now() - t >= 60);
        if stale {
            let store = state.store.clone();
            let id = key.id.clone();
            // Best effort, off the response path.
            tokio::task::spawn_blocking(move || {
                if let Err(e) = store.touch_api_key(&id) {
                    tracing::warn!(error = %e, "recording an api key's last use failed");
                }
            });
        }
    }
    state.keys.put(hash, live.clone());
    Ok(live)
}

/// Middleware on every Knowledge API route: checks the key (when auth is on) and records the caller.
pub async fn require_dataset_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = if state.config.auth {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = bearer_token(header).map_err(ApiError::unauthorized)?;
        match lookup_dataset_key(&state, token).await? {
            Some(key) => Caller { key: Some(key) },
            None => return Err(ApiError::unauthorized(INVALID_TOKEN)),
        }
    } else {
        Caller { key: None }
    };
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// The app an App API request is for: the one its `app-…` key serves.
#[derive(Debug, Clone)]
pub struct AppCaller {
    pub app: ragd_core::app::App,
}

/// Middleware on every App API route: an app key is always required (it names the app), whatever
/// `server.auth` says; a dataset key is not an app key.
pub async fn require_app_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = bearer_token(header).map_err(ApiError::unauthorized)?;
    let app_id = match lookup(&state, token).await? {
        Some(ApiKey {
            app_id: Some(app_id),
            ..
        }) => app_id,
        _ => return Err(ApiError::unauthorized(INVALID_TOKEN)),
    };
    let app = state
        .apps
        .app(&state, &app_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized(INVALID_TOKEN))?;
    request.extensions_mut().insert(AppCaller { app });
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hash_stably() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert!(a.starts_with("dataset-") && a.len() == 32, "{a}");
        assert!(a[8..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token(&a).len(), 64);
    }

    #[test]
    fn bearer_header_errors_are_difys() {
        assert_eq!(bearer_token(None), Err(MISSING_BEARER));
        assert_eq!(bearer_token(Some("dataset-abc")), Err(MISSING_BEARER));
        assert_eq!(bearer_token(Some("Basic abc")), Err(WRONG_SCHEME));
        assert_eq!(bearer_token(Some("bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("BEARER  abc ")), Ok("abc"));
    }
}
