//! Validation shared by every store implementation: dataset and metadata names, metadata values.

use ragd_core::dataset::{BUILT_IN_METADATA_FIELDS, MAX_DATASET_NAME_CHARS, MetadataType};
use serde_json::{Number, Value};

use crate::StoreError;

/// Longest metadata field name, in characters (Dify's limit).
const MAX_METADATA_NAME_CHARS: usize = 255;
/// Longest document name, in characters (Dify's limit).
pub(crate) const MAX_DOCUMENT_NAME_CHARS: usize = 255;

/// Checks a dataset name: 1 to 40 characters, not blank.
pub fn validate_dataset_name(name: &str) -> Result<(), StoreError> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > MAX_DATASET_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "Name must be between 1 to {MAX_DATASET_NAME_CHARS} characters."
        )));
    }
    Ok(())
}

/// Checks a metadata field name: 1 to 255 characters, not blank, not a built-in field's name.
pub fn validate_metadata_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::Invalid(
            "Metadata name cannot be empty.".to_owned(),
        ));
    }
    if name.chars().count() > MAX_METADATA_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "Metadata name cannot exceed {MAX_METADATA_NAME_CHARS} characters."
        )));
    }
    if BUILT_IN_METADATA_FIELDS.contains(&name) {
        return Err(StoreError::Invalid(
            "Metadata name already exists in Built-in fields.".to_owned(),
        ));
    }
    Ok(())
}

pub(crate) fn validate_document_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.chars().count() > MAX_DOCUMENT_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "Document name must be between 1 to {MAX_DOCUMENT_NAME_CHARS} characters."
        )));
    }
    Ok(())
}

/// Longest API key name, in characters.
const MAX_API_KEY_NAME_CHARS: usize = 255;

pub(crate) fn validate_api_key_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.chars().count() > MAX_API_KEY_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "API key name must be between 1 to {MAX_API_KEY_NAME_CHARS} characters."
        )));
    }
    Ok(())
}

/// Checks a metadata value against its field type and returns it in stored form, `None` for `null`
/// (no value).
///
/// - `string`: a string; a number is accepted and written as its decimal text.
/// - `number`: a number, or a string holding one (clients often send numbers as text); stored as a number.
/// - `time`: integer Unix seconds, as a number or a string of digits; stored as an integer.
pub fn normalize_metadata_value(
    field_name: &str,
    field_type: MetadataType,
    value: &Value,
) -> Result<Option<Value>, StoreError> {
    let invalid = |expected: &str| {
        StoreError::Invalid(format!(
            "metadata field `{field_name}` expects {expected}, got {value}"
        ))
    };
    if value.is_null() {
        return Ok(None);
    }
    let normalized = match field_type {
        MetadataType::String => match value {
            Value::String(_) => value.clone(),
            Value::Number(number) => Value::String(number.to_string()),
            _ => return Err(invalid("a string")),
        },
        MetadataType::Number => match value {
            Value::Number(_) => value.clone(),
            Value::String(text) => parse_number(text.trim()).ok_or_else(|| invalid("a number"))?,
            _ => return Err(invalid("a number")),
        },
        MetadataType::Time => {
            let seconds = match value {
                Value::Number(number) => number.as_i64().or_else(|| {
                    number
                        .as_f64()
                        .filter(|float| float.fract() == 0.0 && float.abs() < 9.0e15)
                        .map(|float| float as i64)
                }),
                Value::String(text) => text.trim().parse::<i64>().ok(),
                _ => None,
            };
            Value::from(seconds.ok_or_else(|| invalid("a time in Unix seconds"))?)
        }
    };
    Ok(Some(normalized))
}

fn parse_number(text: &str) -> Option<Value> {
    if let Ok(integer) = text.parse::<i64>() {
        return Some(Value::from(integer));
    }
    let float = text.parse::<f64>().ok()?;
    Number::from_f64(float).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dataset_names_are_one_to_forty_characters() {
        assert!(validate_dataset_name("a").is_ok());
        assert!(validate_dataset_name(&"é".repeat(40)).is_ok());
        assert!(validate_dataset_name(&"é".repeat(41)).is_err());
        assert!(validate_dataset_name("").is_err());
        assert!(validate_dataset_name("   ").is_err());
    }

    #[test]
    fn metadata_names_exclude_built_in_fields() {
        assert!(validate_metadata_name("author").is_ok());
        assert!(validate_metadata_name("document_name").is_err());
        assert!(validate_metadata_name("").is_err());
        assert!(validate_metadata_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn values_are_checked_and_normalized_per_type() {
        let check = |field_type, value: Value| normalize_metadata_value("f", field_type, &value);
        assert_eq!(
            check(MetadataType::String, json!("x")).unwrap(),
            Some(json!("x"))
        );
        assert_eq!(
            check(MetadataType::String, json!(12)).unwrap(),
            Some(json!("12"))
        );
        assert!(check(MetadataType::String, json!(true)).is_err());
        assert_eq!(
            check(MetadataType::Number, json!(1.5)).unwrap(),
            Some(json!(1.5))
        );
        assert_eq!(
            check(MetadataType::Number, json!(" 42 ")).unwrap(),
            Some(json!(42))
        );
        assert_eq!(
            check(MetadataType::Number, json!("2.5")).unwrap(),
            Some(json!(2.5))
        );
        assert!(check(MetadataType::Number, json!("abc")).is_err());
        assert!(check(MetadataType::Number, json!([1])).is_err());
        assert_eq!(
            check(MetadataType::Time, json!(1_700_000_000)).unwrap(),
            Some(json!(1_700_000_000))
        );
        assert_eq!(
            check(MetadataType::Time, json!("1700000000")).unwrap(),
            Some(json!(1_700_000_000))
        );
        assert_eq!(
            check(MetadataType::Time, json!(5.0)).unwrap(),
            Some(json!(5))
        );
        assert!(check(MetadataType::Time, json!(1.5)).is_err());
        assert!(check(MetadataType::Time, json!("yesterday")).is_err());
        assert_eq!(check(MetadataType::Time, Value::Null).unwrap(), None);
    }
}
