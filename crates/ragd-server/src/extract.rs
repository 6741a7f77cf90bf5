//! Extractors that answer bad input in Dify's error shape: [`ApiJson`] for bodies, [`ApiQuery`] for query
//! strings, [`uuid_or_404`] for path ids.
//!
//! Body rules (Dify, spec §0 and §5.1): a body that is empty or not JSON is 400 `bad_request` "Invalid JSON
//! payload received or JSON payload is empty."; JSON of the wrong shape (a missing field, a wrong type) is
//! 400 `invalid_param` naming the field in `params`; a body over the size limit is 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// JSON body extractor with Dify-shaped errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body the way every route does.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_json());
    }
    // Syntax errors are `bad_request`; a body that is JSON but not the expected shape is `invalid_param`.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ApiError::bad_json())?;
    from_value(value)
}

/// Converts parsed JSON into `T`, naming the offending field on failure.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = e.path().to_string();
        let message = e.inner().to_string();
        // A missing field is reported at its parent's path; name the field itself, as Dify does.
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            path = if path == "." || path.is_empty() {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
        }
        if path == "." || path.is_empty() {
            ApiError::invalid_param(message)
        } else {
            ApiError::invalid_param(format!("{path}: {message}")).with_params(path)
        }
    })
}

/// The body could not be read: over the size limit, or the connection failed.
pub fn body_rejection(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            "The request body is over the size limit.",
        )
    } else {
        ApiError::new(e.status(), "bad_request", e.body_text())
    }
}

/// Query-string extractor with Dify-shaped errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded_deserializer(query).map_err(ApiError::invalid_param)?;
        from_value(deserializer).map(ApiQuery)
    }
}

/// Query strings are parsed into a JSON object of strings first, then converted: numbers and booleans
/// are accepted from their text (`limit=20`, `include_all=true`) by the target types' deserializers
/// through [`crate::extract::lenient`].
fn serde_urlencoded_deserializer(query: &str) -> Result<serde_json::Value, String> {
    let mut map = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)?;
        let value = percent_decode(value)?;
        // Repeated keys (tag_ids=a&tag_ids=b) become arrays.
        match map.get_mut(&key) {
            Some(serde_json::Value::Array(items)) => items.push(value.into()),
            Some(existing) => {
                let first = existing.take();
                *existing = serde_json::Value::Array(vec![first, value.into()]);
            }
            None => {
                map.insert(key, value.into());
            }
        }
    }
    Ok(serde_json::Value::Object(map))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                let byte = u8::from_str_radix(hex, 16)
                    .map_err(|_| format!("invalid percent-encoding in the query string: {s}"))?;
                out.push(byte);
                i += 2;
            }
            b'%' => return Err(format!("invalid percent-encoding in the query string: {s}")),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the query string is not valid UTF-8".to_owned())
}

/// Query parameters arrive as strings: these deserialize numbers and booleans from their text.
pub mod lenient {
    use serde::{Deserialize, Deserializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Int(i64),
        Bool(bool),
    }

    pub fn u32_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Text(s)) if s.is_empty() => Ok(None),
            Some(Raw::Text(s)) => {
                s.trim().parse().map(Some).map_err(|_| {
                    D::Error::custom(format!("expected a positive integer, got {s:?}"))
                })
            }
            Some(Raw::Int(n)) => u32::try_from(n)
                .map(Some)
                .map_err(|_| D::Error::custom(format!("expected a positive integer, got {n}"))),
            Some(Raw::Bool(b)) => Err(D::Error::custom(format!(
                "expected a positive integer, got {b}"
            ))),
        }
    }

    pub fn bool_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Bool(b)) => Ok(Some(b)),
            Some(Raw::Text(s)) => match s.to_ascii_lowercase().as_str() {
                "" => Ok(None),
                "true" | "1" | "yes" => Ok(Some(true)),
                "false" | "0" | "no" => Ok(Some(false)),
                _ => Err(D::Error::custom(format!(
                    "expected true or false, got {s:?}"
                ))),
            },
            Some(Raw::Int(n)) => Ok(Some(n != 0)),
        }
    }
}

/// Path ids are UUIDs; anything else is a 404 with `not_found` (Dify's behaviour).
pub fn uuid_or_404(id: &str, not_found: fn() -> ApiError) -> Result<(), ApiError> {
    match uuid::Uuid::try_parse(id) {
        Ok(_) => Ok(()),
        Err(_) => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        top_k: Option<u32>,
    }

    #[test]
    fn empty_and_malformed_bodies_are_bad_request() {
        for body in ["", "  ", "{", "nope", "{\"name\": }"] {
            let e = parse_json::<Body>(body.as_bytes()).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, "bad_request"), "{body}");
            assert_eq!(e.message, crate::error::INVALID_JSON);
        }
    }

    #[test]
    fn wrong_shapes_are_invalid_param_naming_the_field() {
        let e = parse_json::<Body>(br#"{"name": "a", "top_k": "x"}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "invalid_param"));
        assert_eq!(e.params.as_deref(), Some("top_k"));
        let e = parse_json::<Body>(br#"{"top_k": 3}"#).unwrap_err();
        assert!(e.message.contains("name"), "{}", e.message);
        assert_eq!(e.params.as_deref(), Some("name"));
        let e = parse_json::<Body>(b"[1, 2]").unwrap_err();
        assert_eq!(e.code, "invalid_param");
    }

    #[derive(Debug, Deserialize)]
    struct Q {
        #[serde(default, deserialize_with = "lenient::u32_opt")]
        page: Option<u32>,
        #[serde(default, deserialize_with = "lenient::bool_opt")]
        flag: Option<bool>,
        keyword: Option<String>,
    }

    #[test]
    fn query_strings_decode_and_convert() {
        let v =
            serde_urlencoded_deserializer("page=2&flag=true&keyword=caf%C3%A9+au+lait").unwrap();
        let q: Q = from_value(v).unwrap();
        assert_eq!(q.page, Some(2));
        assert_eq!(q.flag, Some(true));
        assert_eq!(q.keyword.as_deref(), Some("café au lait"));
        let v = serde_urlencoded_deserializer("page=abc").unwrap();
        let e = from_value::<Q>(v).unwrap_err();
        assert_eq!(e.params.as_deref(), Some("page"));
        assert!(serde_urlencoded_deserializer("keyword=%zz").is_err());
        assert!(serde_urlencoded_deserializer("keyword=%4").is_err());
    }
}
