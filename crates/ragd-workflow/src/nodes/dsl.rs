//! Serde helpers for the shapes Dify exports: `null` where a default is meant, ids written as numbers,
//! selectors as lists of strings or numbers, and the per-node parse with a path in its error.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::Value;

use crate::WorkflowError;
use crate::template::Selector;

/// `null` (or an absent key, with `#[serde(default)]`) becomes `T::default()`.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string, or a number or boolean written without quotes (`id: 1718000000000`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Text(text)),
            Value::Number(number) => Ok(Text(number.to_string())),
            Value::Bool(flag) => Ok(Text(flag.to_string())),
            Value::Null => Ok(Text(String::new())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, got {other}"
            ))),
        }
    }
}

/// A selector: a list of strings (numbers allowed); `null` is empty.
pub(crate) fn selector<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Selector, D::Error> {
    let parts: Option<Vec<Text>> = Option::deserialize(deserializer)?;
    Ok(parts
        .unwrap_or_default()
        .into_iter()
        .map(|part| part.0)
        .collect())
}

/// A list of selectors.
pub(crate) fn selectors<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Selector>, D::Error> {
    let lists: Option<Vec<Option<Vec<Text>>>> = Option::deserialize(deserializer)?;
    Ok(lists
        .unwrap_or_default()
        .into_iter()
        .map(|list| {
            list.unwrap_or_default()
                .into_iter()
                .map(|part| part.0)
                .collect()
        })
        .collect())
}

/// Optional string: `null` and absent are `None`.
pub(crate) fn opt_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(Option::<Text>::deserialize(deserializer)?.map(|text| text.0))
}

/// A non-negative number written as a number or a numeric string; `null` is `None`.
pub(crate) fn opt_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<f64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Number(number) => Ok(number.as_f64()),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a number"))),
        other => Err(serde::de::Error::custom(format!(
            "expected a number, got {other}"
        ))),
    }
}

/// Deserializes a node's `data` into its typed configuration; the error names the node and the path.
pub(crate) fn parse_data<T: DeserializeOwned>(
    node_id: &str,
    title: &str,
    data: &Value,
) -> Result<T, WorkflowError> {
    serde_path_to_error::deserialize(data).map_err(|error| {
        let path = error.path().to_string();
        WorkflowError::Invalid(format!(
            "node {node_id} ({title}): data.{path}: {}",
            error.into_inner()
        ))
    })
}

/// An `Invalid` error about one node.
pub(crate) fn invalid(
    node_id: &str,
    title: &str,
    message: impl std::fmt::Display,
) -> WorkflowError {
    WorkflowError::Invalid(format!("node {node_id} ({title}): {message}"))
}
