//! The comparison operators of if-else conditions, with Dify's semantics
//! (`core/workflow/utils/condition/processor.py`): string and array tests are false on empty values,
//! number tests are false on null, truthiness is Python's. A missing variable counts as null (Dify
//! fails the node instead), so `null` / `empty` conditions work on optional inputs.

use serde_json::Value;

use crate::template::value_text;

/// A comparison operator (`comparison_operator` in the DSL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Contains,
    NotContains,
    StartWith,
    EndWith,
    Is,
    IsNot,
    Empty,
    NotEmpty,
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterOrEqual,
    LessOrEqual,
    Null,
    NotNull,
    In,
    NotIn,
    AllOf,
    Exists,
    NotExists,
}

impl Operator {
    /// Dify's spelling, plus the ASCII and older spellings found in exported files.
    pub fn parse(text: &str) -> Option<Operator> {
        Some(match text {
            "contains" => Operator::Contains,
            "not contains" => Operator::NotContains,
            "start with" | "starts with" => Operator::StartWith,
            "end with" | "ends with" => Operator::EndWith,
            "is" => Operator::Is,
            "is not" => Operator::IsNot,
            "empty" | "is empty" => Operator::Empty,
            "not empty" | "is not empty" => Operator::NotEmpty,
            "=" | "==" => Operator::Equal,
            "≠" | "!=" => Operator::NotEqual,
            ">" => Operator::Greater,
            "<" => Operator::Less,
            "≥" | ">=" => Operator::GreaterOrEqual,
            "≤" | "<=" => Operator::LessOrEqual,
            "null" | "is null" => Operator::Null,
            "not null" | "is not null" => Operator::NotNull,
            "in" => Operator::In,
            "not in" => Operator::NotIn,
            "all of" => Operator::AllOf,
            "exists" => Operator::Exists,
            "not exists" => Operator::NotExists,
            _ => return None,
        })
    }

    /// Whether the operator ignores the expected value.
    pub fn is_unary(self) -> bool {
        matches!(
            self,
            Operator::Empty
                | Operator::NotEmpty
                | Operator::Null
                | Operator::NotNull
                | Operator::Exists
                | Operator::NotExists
        )
    }
}

/// Python's truthiness of a JSON value.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(object) => !object.is_empty(),
    }
}

/// Evaluates `actual <operator> expected`; an error says which types did not fit.
pub(crate) fn evaluate(
    operator: Operator,
    actual: Option<&Value>,
    expected: &Value,
) -> Result<bool, String> {
    let actual = actual.unwrap_or(&Value::Null);
    match operator {
        Operator::Contains => contains(actual, expected).map(|found| found.unwrap_or(false)),
        Operator::NotContains => contains(actual, expected).map(|found| !found.unwrap_or(false)),
        Operator::StartWith | Operator::EndWith => {
            if !truthy(actual) {
                return Ok(false);
            }
            let Value::String(text) = actual else {
                return Err(format!(
                    "`{operator:?}` needs a string, got {}",
                    kind(actual)
                ));
            };
            let wanted = value_text(expected);
            Ok(if operator == Operator::StartWith {
                text.starts_with(&wanted)
            } else {
                text.ends_with(&wanted)
            })
        }
        Operator::Is | Operator::IsNot => {
            if actual.is_null() {
                return Ok(false);
            }
            let same = match (actual, expected) {
                (Value::Bool(flag), expected) => Some(*flag) == as_bool(expected),
                (Value::String(text), expected) => *text == value_text(expected),
                (Value::Number(_), expected) => value_text(actual) == value_text(expected),
                _ => {
                    return Err(format!(
                        "`is` needs a string or a boolean, got {}",
                        kind(actual)
                    ));
                }
            };
            Ok(same == (operator == Operator::Is))
        }
        Operator::Empty => Ok(!truthy(actual)),
        Operator::NotEmpty => Ok(truthy(actual)),
        Operator::Equal
        | Operator::NotEqual
        | Operator::Greater
        | Operator::Less
        | Operator::GreaterOrEqual
        | Operator::LessOrEqual => compare_numbers(operator, actual, expected),
        Operator::Null | Operator::NotExists => Ok(actual.is_null()),
        Operator::NotNull | Operator::Exists => Ok(!actual.is_null()),
        Operator::In | Operator::NotIn => {
            if !truthy(actual) {
                return Ok(operator == Operator::NotIn);
            }
            let Value::Array(options) = expected else {
                return Err(format!(
                    "`in` needs a list of values, got {}",
                    kind(expected)
                ));
            };
            let found = options.iter().any(|option| loosely_equal(option, actual));
            Ok(found == (operator == Operator::In))
        }
        Operator::AllOf => {
            if !truthy(actual) {
                return Ok(false);
            }
            let Value::Array(wanted) = expected else {
                return Err(format!(
                    "`all of` needs a list of values, got {}",
                    kind(expected)
                ));
            };
            let mut all = true;
            for item in wanted {
                all &= contains(actual, item)?.unwrap_or(false);
            }
            Ok(all)
        }
    }
}

/// `Some(found)` for strings and arrays, `None` for empty values; an error for other types.
fn contains(actual: &Value, expected: &Value) -> Result<Option<bool>, String> {
    if !truthy(actual) {
        return Ok(None);
    }
    match actual {
        Value::String(text) => Ok(Some(text.contains(&value_text(expected)))),
        Value::Array(items) => Ok(Some(items.iter().any(|item| loosely_equal(item, expected)))),
        other => Err(format!(
            "`contains` needs a string or an array, got {}",
            kind(other)
        )),
    }
}

/// Equality across the string forms the UI stores (`"3"` equals `3`).
fn loosely_equal(left: &Value, right: &Value) -> bool {
    left == right || value_text(left) == value_text(right)
}

fn compare_numbers(operator: Operator, actual: &Value, expected: &Value) -> Result<bool, String> {
    if actual.is_null() {
        return Ok(false);
    }
    if let Value::Bool(flag) = actual {
        let wanted = as_bool(expected)
            .ok_or_else(|| format!("`{}` is not a boolean", value_text(expected)))?;
        return match operator {
            Operator::Equal => Ok(*flag == wanted),
            Operator::NotEqual => Ok(*flag != wanted),
            _ => Err("an order comparison needs a number, got a boolean".to_string()),
        };
    }
    let left = as_number(actual).ok_or_else(|| {
        format!(
            "a number comparison needs a number, got {} `{}`",
            kind(actual),
            value_text(actual)
        )
    })?;
    let right =
        as_number(expected).ok_or_else(|| format!("`{}` is not a number", value_text(expected)))?;
    Ok(match operator {
        Operator::Equal => left == right,
        Operator::NotEqual => left != right,
        Operator::Greater => left > right,
        Operator::Less => left < right,
        Operator::GreaterOrEqual => left >= right,
        _ => left <= right,
    })
}

pub(crate) fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => number.as_f64().map(|n| n != 0.0),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(operator: &str, actual: Value, expected: Value) -> bool {
        evaluate(Operator::parse(operator).unwrap(), Some(&actual), &expected).unwrap()
    }

    #[test]
    fn string_operators() {
        assert!(check("contains", json!("hello world"), json!("world")));
        assert!(!check("contains", json!(""), json!("x")));
        assert!(check("not contains", json!(""), json!("x")));
        assert!(check("not contains", json!("abc"), json!("x")));
        assert!(check("start with", json!("abc"), json!("ab")));
        assert!(check("end with", json!("abc"), json!("bc")));
        assert!(!check("end with", json!(null), json!("bc")));
        assert!(check("is", json!("abc"), json!("abc")));
        assert!(check("is not", json!("abc"), json!("abd")));
        assert!(!check("is not", json!(null), json!("abd")));
        assert!(check("is", json!(true), json!("true")));
    }

    #[test]
    fn emptiness_and_null() {
        assert!(check("empty", json!(""), json!(null)));
        assert!(check("empty", json!([]), json!(null)));
        assert!(check("not empty", json!("x"), json!(null)));
        assert!(check("null", json!(null), json!(null)));
        assert!(check("not null", json!(""), json!(null)));
        assert!(evaluate(Operator::Null, None, &Value::Null).unwrap());
        assert!(evaluate(Operator::Empty, None, &Value::Null).unwrap());
    }

    #[test]
    fn number_operators() {
        assert!(check("=", json!(3), json!("3")));
        assert!(check("≠", json!(3), json!("4")));
        assert!(check(">", json!(3.5), json!("3")));
        assert!(check("<", json!(2), json!(3)));
        assert!(check("≥", json!(3), json!("3")));
        assert!(check("≤", json!("2"), json!("3")));
        assert!(!check(">", json!(null), json!("3")));
        assert!(check("=", json!(true), json!("true")));
        assert!(evaluate(Operator::Greater, Some(&json!("abc")), &json!("1")).is_err());
        assert!(evaluate(Operator::Greater, Some(&json!(1)), &json!("abc")).is_err());
    }

    #[test]
    fn membership() {
        assert!(check("in", json!("b"), json!(["a", "b"])));
        assert!(check("not in", json!("c"), json!(["a", "b"])));
        assert!(check("contains", json!(["a", "b"]), json!("b")));
        assert!(check("all of", json!(["a", "b", "c"]), json!(["a", "c"])));
        assert!(!check("all of", json!(["a"]), json!(["a", "c"])));
        assert!(evaluate(Operator::In, Some(&json!("b")), &json!("b")).is_err());
    }

    #[test]
    fn aliases() {
        assert_eq!(Operator::parse("is not empty"), Some(Operator::NotEmpty));
        assert_eq!(Operator::parse(">="), Some(Operator::GreaterOrEqual));
        assert_eq!(Operator::parse("between"), None);
    }
}
