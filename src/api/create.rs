//! `POST /v1/organizations/secrets`: parse the body into domain types, encrypt, store.

use serde_json::Value;

use super::error::{ApiError, ValidationIssue};
use crate::domain::{SecretName, SecretNameError, SecretValue, SecretValueError};

/// A create request that passed validation.
#[derive(Debug)]
pub struct CreateSecretRequest {
    pub name: SecretName,
    pub value: SecretValue,
}

const SECRET_NAME: &str = "secret_name";
const SECRET_VALUE: &str = "secret_value";

/// Parses the request body. Unknown fields (the contract's own examples carry
/// `description`) are ignored, and so is any `org_id`: the organization comes from claims.
/// Problems are reported FastAPI-style, one entry each, and never quote the input.
pub fn parse_create_body(
    body: &[u8],
    max_value_bytes: usize,
) -> Result<CreateSecretRequest, ApiError> {
    let invalid = |issue| Err(ApiError::Validation(vec![issue]));
    if body.iter().all(u8::is_ascii_whitespace) {
        return invalid(ValidationIssue::body("Field required", "missing"));
    }
    let Ok(document) = serde_json::from_slice::<Value>(body) else {
        return invalid(ValidationIssue::body("JSON decode error", "json_invalid"));
    };
    let Value::Object(mut fields) = document else {
        return invalid(ValidationIssue::body(
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        ));
    };

    let mut issues = Vec::new();
    let name = match take_string(&mut fields, SECRET_NAME, &mut issues) {
        Some(raw) => match SecretName::parse(raw) {
            Ok(name) => Some(name),
            Err(err) => {
                issues.push(ValidationIssue::field(
                    SECRET_NAME,
                    err.to_string(),
                    name_error_type(err),
                ));
                None
            }
        },
        None => None,
    };
    let value = match take_string(&mut fields, SECRET_VALUE, &mut issues) {
        Some(raw) => match SecretValue::parse(raw, max_value_bytes) {
            Ok(value) => Some(value),
            Err(err) => {
                issues.push(ValidationIssue::field(
                    SECRET_VALUE,
                    err.to_string(),
                    value_error_type(err),
                ));
                None
            }
        },
        None => None,
    };
    match (name, value) {
        (Some(name), Some(value)) if issues.is_empty() => Ok(CreateSecretRequest { name, value }),
        _ => Err(ApiError::Validation(issues)),
    }
}

/// Moves the string out of the document (no copy of a secret) or records why it cannot.
fn take_string(
    fields: &mut serde_json::Map<String, Value>,
    field: &'static str,
    issues: &mut Vec<ValidationIssue>,
) -> Option<String> {
    match fields.remove(field) {
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            issues.push(ValidationIssue::field(
                field,
                "Input should be a valid string",
                "string_type",
            ));
            None
        }
        None => {
            issues.push(ValidationIssue::field(field, "Field required", "missing"));
            None
        }
    }
}

fn name_error_type(err: SecretNameError) -> &'static str {
    match err {
        SecretNameError::Empty => "string_too_short",
        SecretNameError::TooLong { .. } => "string_too_long",
        SecretNameError::ControlCharacter => "string_pattern_mismatch",
    }
}

fn value_error_type(err: SecretValueError) -> &'static str {
    match err {
        SecretValueError::Empty => "string_too_short",
        SecretValueError::TooLarge { .. } => "string_too_long",
    }
}
