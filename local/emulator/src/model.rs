//! The embedded License Manager API model: generic request validation against its shapes
//! and the operation list behind the coverage document.

use serde_json::{Map, Value};
use std::sync::LazyLock;

/// The botocore-style API model, embedded so the emulator is self-contained.
pub const MODEL_JSON: &str = include_str!("../model/license-manager-2018-08-01.json");

static MODEL: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(MODEL_JSON).unwrap_or(Value::Null));

fn shapes() -> Option<&'static Map<String, Value>> {
    MODEL.get("shapes")?.as_object()
}

fn operation(name: &str) -> Option<&'static Value> {
    MODEL.get("operations")?.get(name)
}

/// Every operation name of the model, sorted.
pub fn operation_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = MODEL
        .get("operations")
        .and_then(Value::as_object)
        .map(|ops| ops.keys().map(String::as_str).collect())
        .unwrap_or_default();
    names.sort_unstable();
    names
}

/// Whether `op` is an operation of the model.
pub fn has_operation(op: &str) -> bool {
    operation(op).is_some()
}

/// The error shape names the model declares for `op`.
pub fn declared_errors(op: &str) -> Vec<&'static str> {
    operation(op)
        .and_then(|o| o.get("errors"))
        .and_then(Value::as_array)
        .map(|errs| {
            errs.iter()
                .filter_map(|e| e.get("shape").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The first sentence of the model's documentation of `op`, without markup.
pub fn summary(op: &str) -> String {
    let doc = operation(op)
        .and_then(|o| o.get("documentation"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut text = String::new();
    let mut in_tag = false;
    for c in doc.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let first = text.split(". ").next().unwrap_or("").trim_end_matches('.');
    first.replace('|', "\\|")
}

/// Validates `input` against the input shape of `op`: structure, required members, types,
/// enums, lengths and ranges. The error message names the offending member.
pub fn validate_input(op: &str, input: &Value) -> Result<(), String> {
    let Some(shape) = operation(op)
        .and_then(|o| o.get("input"))
        .and_then(|i| i.get("shape"))
        .and_then(Value::as_str)
    else {
        return match input {
            Value::Object(_) => Ok(()),
            _ => Err("The request body must be a JSON object".to_string()),
        };
    };
    let mut errors = Vec::new();
    validate_shape(shape, input, "", &mut errors);
    match errors.len() {
        0 => Ok(()),
        1 => Err(format!("1 validation error detected: {}", errors[0])),
        n => Err(format!(
            "{n} validation errors detected: {}",
            errors.join("; ")
        )),
    }
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_string()
    } else {
        format!("{path}.{member}")
    }
}

fn describe(path: &str) -> String {
    if path.is_empty() {
        "the request body".to_string()
    } else {
        format!("'{path}'")
    }
}

fn validate_shape(name: &str, value: &Value, path: &str, errors: &mut Vec<String>) {
    if let Err(e) = check_shape(name, value, path, errors) {
        errors.push(e);
    }
}

/// Checks one value; nested members report into `errors`, this value's own problem is
/// returned.
fn check_shape(
    name: &str,
    value: &Value,
    path: &str,
    errors: &mut Vec<String>,
) -> Result<(), String> {
    let Some(shape) = shapes().and_then(|s| s.get(name)) else {
        return Ok(());
    };
    let ty = shape.get("type").and_then(Value::as_str).unwrap_or("");
    let at = describe(path);
    let min = shape.get("min").and_then(Value::as_i64);
    let max = shape.get("max").and_then(Value::as_i64);
    match ty {
        "structure" => {
            let obj = value
                .as_object()
                .ok_or_else(|| format!("Value at {at} must be a JSON object (structure {name})"))?;
            for req in shape
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if obj.get(req).is_none_or(Value::is_null) {
                    errors.push(format!(
                        "Value null at '{}' failed to satisfy constraint: Member must not be null",
                        join(path, req)
                    ));
                }
            }
            let members = shape.get("members").and_then(Value::as_object);
            for (key, member_value) in obj {
                if member_value.is_null() {
                    continue;
                }
                if let Some(target) = members
                    .and_then(|m| m.get(key))
                    .and_then(|m| m.get("shape"))
                    .and_then(Value::as_str)
                {
                    validate_shape(target, member_value, &join(path, key), errors);
                }
            }
            Ok(())
        }
        "list" => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("Value at {at} must be a JSON array (list {name})"))?;
            if let Err(e) =
                check_range(items.len() as i64, min, max, &at, "Member must have length")
            {
                errors.push(e);
            }
            let member = shape
                .get("member")
                .and_then(|m| m.get("shape"))
                .and_then(Value::as_str)
                .unwrap_or("");
            for (i, item) in items.iter().enumerate() {
                validate_shape(member, item, &join(path, &i.to_string()), errors);
            }
            Ok(())
        }
        "map" => {
            let obj = value
                .as_object()
                .ok_or_else(|| format!("Value at {at} must be a JSON object (map {name})"))?;
            let target = shape
                .get("value")
                .and_then(|m| m.get("shape"))
                .and_then(Value::as_str)
                .unwrap_or("");
            for (k, v) in obj {
                validate_shape(target, v, &join(path, k), errors);
            }
            Ok(())
        }
        "string" => {
            let s = value
                .as_str()
                .ok_or_else(|| format!("Value at {at} must be a string"))?;
            check_range(
                s.chars().count() as i64,
                min,
                max,
                &at,
                "Member must have length",
            )?;
            if let Some(allowed) = shape.get("enum").and_then(Value::as_array)
                && !allowed.iter().any(|a| a.as_str() == Some(s))
            {
                let set: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
                return Err(format!(
                    "Value '{s}' at {at} failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    set.join(", ")
                ));
            }
            Ok(())
        }
        "integer" | "long" => {
            let n = value
                .as_i64()
                .ok_or_else(|| format!("Value at {at} must be an integer"))?;
            if ty == "integer" && i32::try_from(n).is_err() {
                return Err(format!(
                    "Value at {at} is out of range for a 32-bit integer"
                ));
            }
            check_range(n, min, max, &at, "Member must have value")
        }
        "boolean" => value
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| format!("Value at {at} must be a boolean")),
        "timestamp" => value
            .as_f64()
            .map(|_| ())
            .ok_or_else(|| format!("Value at {at} must be a timestamp in epoch seconds")),
        "blob" => value
            .as_str()
            .map(|_| ())
            .ok_or_else(|| format!("Value at {at} must be a base64 string")),
        _ => Ok(()),
    }
}

fn check_range(
    n: i64,
    min: Option<i64>,
    max: Option<i64>,
    at: &str,
    what: &str,
) -> Result<(), String> {
    if let Some(min) = min
        && n < min
    {
        return Err(format!(
            "Value at {at} failed to satisfy constraint: {what} greater than or equal to {min}"
        ));
    }
    if let Some(max) = max
        && n > max
    {
        return Err(format!(
            "Value at {at} failed to satisfy constraint: {what} less than or equal to {max}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_embedded_model_has_62_operations() {
        assert_eq!(operation_names().len(), 62);
        assert!(has_operation("CheckoutLicense"));
    }

    #[test]
    fn missing_required_members_are_named() {
        let err = validate_input("GetLicense", &json!({}))
            .err()
            .unwrap_or_default();
        assert!(err.contains("'LicenseArn'"), "{err}");
    }

    #[test]
    fn nested_enum_violations_are_named_with_their_path() {
        let body = json!({
            "ProductSKU": "p", "CheckoutType": "PROVISIONAL", "KeyFingerprint": "k",
            "ClientToken": "t", "Entitlements": [{"Name": "Users", "Unit": "Parsecs"}]
        });
        let err = validate_input("CheckoutLicense", &body)
            .err()
            .unwrap_or_default();
        assert!(err.contains("'Entitlements.0.Unit'"), "{err}");
        assert!(err.contains("Parsecs"), "{err}");
    }

    #[test]
    fn every_problem_is_reported() {
        let err = validate_input(
            "CreateGrant",
            &json!({"AllowedOperations": [], "ClientToken": 5}),
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("validation errors detected"), "{err}");
        assert!(err.contains("'ClientToken' must be a string"), "{err}");
        assert!(err.contains("'AllowedOperations'"), "{err}");
        assert!(err.contains("'LicenseArn'"), "{err}");
    }

    #[test]
    fn wrong_types_and_ranges_are_refused() {
        let err = validate_input("ListLicenses", &json!({"MaxResults": "ten"}))
            .err()
            .unwrap_or_default();
        assert!(err.contains("'MaxResults'"), "{err}");
        let err = validate_input("ListLicenses", &json!({"MaxResults": 1000}))
            .err()
            .unwrap_or_default();
        assert!(err.contains("less than or equal to 100"), "{err}");
        assert!(validate_input("ListLicenses", &json!([])).is_err());
        assert!(validate_input("ListLicenses", &json!({"MaxResults": 5})).is_ok());
    }
}
