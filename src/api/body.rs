//! Request bodies and path names parsed into domain types, with FastAPI-style 422 issues.

use lambda_http::Request;
use serde_json::Value;

use super::error::{ApiError, LocPart, ValidationIssue};
use crate::domain::{
    Description, DescriptionChange, DescriptionError, IdempotencyKey, SecretName, SecretNameError,
    SecretValue, SecretValueError,
};
use crate::event::{self, QueryConflict};
use crate::storage::RecoverySlot;

/// A create request that passed validation.
#[derive(Debug)]
pub struct CreateSecretRequest {
    pub name: SecretName,
    pub value: SecretValue,
    pub description: Option<Description>,
}

/// An update request that passed validation.
#[derive(Debug)]
pub struct UpdateSecretRequest {
    pub value: SecretValue,
    pub description: DescriptionChange,
}

const SECRET_NAME: &str = "secret_name";
const SECRET_VALUE: &str = "secret_value";
const DESCRIPTION: &str = "description";

/// Parses a create body. Unknown fields are ignored, and so is any `org_id`: the
/// organization comes from claims. Problems are reported FastAPI-style, one entry each, and
/// never quote the input.
pub fn parse_create_body(
    body: &[u8],
    max_value_bytes: usize,
) -> Result<CreateSecretRequest, ApiError> {
    let mut fields = parse_object(body)?;
    let mut issues = Vec::new();
    let name = take_name(&mut fields, &mut issues);
    let value = take_value(&mut fields, max_value_bytes, &mut issues);
    let description = take_description(&mut fields, &mut issues);
    match (name, value, description) {
        // All parsed means no issue was recorded.
        (Some(name), Some(value), Some(description)) => Ok(CreateSecretRequest {
            name,
            value,
            description: match description {
                DescriptionChange::Set(description) => Some(description),
                DescriptionChange::Keep | DescriptionChange::Remove => None,
            },
        }),
        _ => Err(ApiError::Validation(issues)),
    }
}

/// Parses an update body: `{"secret_value", "description"?}`; the name comes from the path.
pub fn parse_update_body(
    body: &[u8],
    max_value_bytes: usize,
) -> Result<UpdateSecretRequest, ApiError> {
    let mut fields = parse_object(body)?;
    let mut issues = Vec::new();
    let value = take_value(&mut fields, max_value_bytes, &mut issues);
    let description = take_description(&mut fields, &mut issues);
    match (value, description) {
        (Some(value), Some(description)) => Ok(UpdateSecretRequest { value, description }),
        _ => Err(ApiError::Validation(issues)),
    }
}

/// The optional `description`: absent keeps it, `null` or `""` removes it, a string sets it.
fn take_description(
    fields: &mut serde_json::Map<String, Value>,
    issues: &mut Vec<ValidationIssue>,
) -> Option<DescriptionChange> {
    let raw = match fields.remove(DESCRIPTION) {
        None => return Some(DescriptionChange::Keep),
        Some(Value::Null) => return Some(DescriptionChange::Remove),
        Some(Value::String(text)) => text,
        Some(_) => {
            issues.push(ValidationIssue::field(
                DESCRIPTION,
                "Input should be a valid string".to_owned(),
                "string_type",
            ));
            return None;
        }
    };
    match Description::parse(raw) {
        Ok(Some(description)) => Some(DescriptionChange::Set(description)),
        Ok(None) => Some(DescriptionChange::Remove),
        Err(err) => {
            let kind = match err {
                DescriptionError::TooLong { .. } => "string_too_long",
                DescriptionError::ControlCharacter => "string_pattern_mismatch",
            };
            issues.push(ValidationIssue::field(DESCRIPTION, err.to_string(), kind));
            None
        }
    }
}

/// The `{secret_name}` path segment: percent-decoded, then validated like the body field.
pub fn parse_path_name(segment: &str) -> Result<SecretName, ApiError> {
    let issue = |msg: String, kind| {
        ApiError::Validation(vec![ValidationIssue {
            loc: vec![LocPart::Key("path"), LocPart::Key(SECRET_NAME)],
            msg,
            kind,
        }])
    };
    let decoded = percent_decode(segment).ok_or_else(|| {
        issue(
            "Path segment should be valid percent-encoded UTF-8".to_owned(),
            "string_type",
        )
    })?;
    SecretName::parse(decoded).map_err(|err| issue(err.to_string(), name_error_type(err)))
}

/// A body is JSON unless the client says otherwise: a missing `Content-Type` is accepted,
/// `application/json` and `application/*+json` (with parameters) are, anything else is 415.
pub fn require_json(content_type: Option<&[u8]>) -> Result<(), ApiError> {
    let Some(raw) = content_type else {
        return Ok(());
    };
    let media_type = std::str::from_utf8(raw)
        .ok()
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    match media_type.as_deref() {
        Some("application/json") => Ok(()),
        Some(other) if other.starts_with("application/") && other.ends_with("+json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// The optional `Idempotency-Key` header of a write (create, update, delete, restore).
pub fn parse_idempotency_key(raw: Option<&[u8]>) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let parsed = std::str::from_utf8(raw)
        .map_err(|_| crate::domain::IdempotencyKeyError::Characters)
        .and_then(IdempotencyKey::parse);
    parsed.map(Some).map_err(|err| {
        ApiError::Validation(vec![ValidationIssue::header(
            "idempotency-key",
            err.to_string(),
            "value_error",
        )])
    })
}

/// A restore's `?version=deleted` (the default) or `?version=previous`, from the event's
/// `rawQueryString` or `queryStringParameters` (see [`event::query_values`]); anything else,
/// the parameter twice, or the two fields giving it different values, is 422. The value is
/// never echoed.
pub fn parse_restore_version(request: &Request) -> Result<RecoverySlot, ApiError> {
    restore_version(event::query_values(request, "version"))
}

fn restore_version(versions: Result<Vec<&str>, QueryConflict>) -> Result<RecoverySlot, ApiError> {
    let issue = |msg| ApiError::Validation(vec![ValidationIssue::query("version", msg, "enum")]);
    match versions.as_deref() {
        Ok([] | ["deleted"]) => Ok(RecoverySlot::Deleted),
        Ok(["previous"]) => Ok(RecoverySlot::Previous),
        Ok(_) => Err(issue("Input should be 'deleted' or 'previous', given once")),
        Err(QueryConflict) => Err(issue(
            "rawQueryString and queryStringParameters should give the same value",
        )),
    }
}

/// RFC 3986 percent-decoding with the `percent-encoding` crate. That decoder passes a
/// malformed escape (`%zz`, a trailing `%`) through literally; a path segment with one is
/// refused instead, as is one that does not decode to UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

fn parse_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    let invalid = |issue| Err(ApiError::Validation(vec![issue]));
    if body.iter().all(u8::is_ascii_whitespace) {
        return invalid(ValidationIssue::body("Field required", "missing"));
    }
    let Ok(document) = serde_json::from_slice::<Value>(body) else {
        return invalid(ValidationIssue::body("JSON decode error", "json_invalid"));
    };
    match document {
        Value::Object(fields) => Ok(fields),
        _ => invalid(ValidationIssue::body(
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        )),
    }
}

fn take_name(
    fields: &mut serde_json::Map<String, Value>,
    issues: &mut Vec<ValidationIssue>,
) -> Option<SecretName> {
    let raw = take_string(fields, SECRET_NAME, issues)?;
    SecretName::parse(raw)
        .map_err(|err| {
            issues.push(ValidationIssue::field(
                SECRET_NAME,
                err.to_string(),
                name_error_type(err),
            ));
        })
        .ok()
}

fn take_value(
    fields: &mut serde_json::Map<String, Value>,
    max_value_bytes: usize,
    issues: &mut Vec<ValidationIssue>,
) -> Option<SecretValue> {
    let raw = take_string(fields, SECRET_VALUE, issues)?;
    SecretValue::parse(raw, max_value_bytes)
        .map_err(|err| {
            issues.push(ValidationIssue::field(
                SECRET_VALUE,
                err.to_string(),
                value_error_type(err),
            ));
        })
        .ok()
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
        SecretNameError::ControlCharacter | SecretNameError::NotNfc => "string_pattern_mismatch",
    }
}

fn value_error_type(err: SecretValueError) -> &'static str {
    match err {
        SecretValueError::Empty => "string_too_short",
        SecretValueError::TooLarge { .. } => "string_too_long",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_versions_are_known_given_once_and_agreed() {
        let slot = |versions| restore_version(versions).map_err(|err| err.to_string());
        assert_eq!(slot(Ok(vec![])), Ok(RecoverySlot::Deleted));
        assert_eq!(slot(Ok(vec!["deleted"])), Ok(RecoverySlot::Deleted));
        assert_eq!(slot(Ok(vec!["previous"])), Ok(RecoverySlot::Previous));
        for refused in [
            Ok(vec!["previous", "previous"]),
            Ok(vec!["deleted", "previous"]),
            Ok(vec![""]),
            Ok(vec!["Previous"]),
            Ok(vec!["previous,deleted"]),
            Err(QueryConflict),
        ] {
            let err = restore_version(refused.clone()).unwrap_err();
            let ApiError::Validation(issues) = &err else {
                panic!("{refused:?}: {err:?}")
            };
            assert_eq!(issues.len(), 1, "{refused:?}");
            assert_eq!(issues[0].location(), "query.version", "{refused:?}");
        }
    }

    /// Each input's decoding, or its refusal. `%+1` is refused: a sign is not a hex digit,
    /// though `u8::from_str_radix` would take one.
    #[test]
    fn percent_decode_keeps_the_old_decoders_answers() {
        let table: [(&str, Option<&str>); 20] = [
            ("", Some("")),
            ("stripe_api_key", Some("stripe_api_key")),
            ("a%20b", Some("a b")),
            ("%41%42", Some("AB")),
            ("%c3%a9", Some("\u{e9}")),
            ("%C3%A9", Some("\u{e9}")),
            ("\u{e9}", Some("\u{e9}")),
            ("%2541", Some("%41")),
            ("+", Some("+")),
            ("%zz", None),
            ("%", None),
            ("abc%", None),
            ("%4", None),
            ("%4g", None),
            ("%ff", None),
            ("%c3", None),
            ("%%41", None),
            ("%-1", None),
            ("%e9%", None),
            ("%+1", None),
        ];
        for (input, expected) in table {
            assert_eq!(percent_decode(input).as_deref(), expected, "{input:?}");
        }
    }

    /// The `(loc, type)` of every issue, or the parsed name.
    type Parsed = Result<String, Vec<(String, String)>>;

    /// The `(loc, type)` of every issue a create body gets, or `Ok(name)`.
    fn create_issues(body: &str, max: usize) -> Parsed {
        match parse_create_body(body.as_bytes(), max) {
            Ok(request) => Ok(request.name.as_str().to_owned()),
            Err(ApiError::Validation(issues)) => Err(issues
                .iter()
                .map(|issue| {
                    let loc = serde_json::to_string(&issue.loc).unwrap();
                    (loc, issue.kind.to_owned())
                })
                .collect()),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_bodies_report_every_problem_by_field() {
        let name = r#"["body","secret_name"]"#;
        let value = r#"["body","secret_value"]"#;
        let body = r#"["body"]"#;
        let issue = |loc: &str, kind: &str| (loc.to_owned(), kind.to_owned());
        let cases: Vec<(&str, Parsed)> = vec![
            (
                r#"{"secret_name": "n", "secret_value": "v"}"#,
                Ok("n".to_owned()),
            ),
            (
                r#"{"secret_name": "n", "secret_value": "v", "org_id": "x"}"#,
                Ok("n".to_owned()),
            ),
            (
                r#"{"secret_value": "v"}"#,
                Err(vec![issue(name, "missing")]),
            ),
            (
                r#"{"secret_name": "n"}"#,
                Err(vec![issue(value, "missing")]),
            ),
            (
                "{}",
                Err(vec![issue(name, "missing"), issue(value, "missing")]),
            ),
            (
                r#"{"secret_name": 1, "secret_value": "v"}"#,
                Err(vec![issue(name, "string_type")]),
            ),
            (
                r#"{"secret_name": "n", "secret_value": null}"#,
                Err(vec![issue(value, "string_type")]),
            ),
            (
                r#"{"secret_name": "", "secret_value": ""}"#,
                Err(vec![
                    issue(name, "string_too_short"),
                    issue(value, "string_too_short"),
                ]),
            ),
            (
                r#"{"secret_name": "a\u0007", "secret_value": "v"}"#,
                Err(vec![issue(name, "string_pattern_mismatch")]),
            ),
            (
                r#"{"secret_name": "cafe\u0301", "secret_value": "v"}"#,
                Err(vec![issue(name, "string_pattern_mismatch")]),
            ),
            (
                r#"{"secret_name": "n", "secret_value": "12345"}"#,
                Err(vec![issue(value, "string_too_long")]),
            ),
            ("", Err(vec![issue(body, "missing")])),
            (" \n", Err(vec![issue(body, "missing")])),
            ("{", Err(vec![issue(body, "json_invalid")])),
            ("[]", Err(vec![issue(body, "model_attributes_type")])),
            ("null", Err(vec![issue(body, "model_attributes_type")])),
        ];
        for (input, expected) in cases {
            assert_eq!(create_issues(input, 4), expected, "{input}");
        }
        let long_name = format!(
            r#"{{"secret_name": "{}", "secret_value": "v"}}"#,
            "n".repeat(101)
        );
        assert_eq!(
            create_issues(&long_name, 4),
            Err(vec![issue(name, "string_too_long")])
        );
        // Exactly the maximum number of bytes is allowed.
        assert_eq!(
            create_issues(r#"{"secret_name": "n", "secret_value": "1234"}"#, 4),
            Ok("n".to_owned())
        );
    }

    #[test]
    fn update_bodies_need_only_a_value() {
        assert!(parse_update_body(br#"{"secret_value": "v"}"#, 4).is_ok());
        for bad in [
            &br#"{}"#[..],
            br#"{"secret_value": 5}"#,
            br#"{"secret_value": "12345"}"#,
            b"",
            b"[]",
        ] {
            assert!(
                matches!(parse_update_body(bad, 4), Err(ApiError::Validation(ref issues)) if issues.len() == 1),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn path_names_are_percent_decoded_and_validated() {
        assert_eq!(
            parse_path_name("stripe_api_key").unwrap().as_str(),
            "stripe_api_key"
        );
        assert_eq!(parse_path_name("a%20b%E2%98%83").unwrap().as_str(), "a b☃");
        for bad in ["%", "%2", "%zz", "%FF", "a%0Ab", ""] {
            assert!(
                matches!(parse_path_name(bad), Err(ApiError::Validation(_))),
                "{bad:?}"
            );
        }
        assert!(parse_path_name(&"n".repeat(101)).is_err());
    }

    #[test]
    fn content_types() {
        assert!(require_json(None).is_ok());
        assert!(require_json(Some(b"application/json")).is_ok());
        assert!(require_json(Some(b"Application/JSON; charset=utf-8")).is_ok());
        assert!(require_json(Some(b"application/merge-patch+json")).is_ok());
        for bad in [
            &b"text/plain"[..],
            b"application/x-www-form-urlencoded",
            b"",
            b"\xff",
        ] {
            assert!(matches!(
                require_json(Some(bad)),
                Err(ApiError::UnsupportedMediaType)
            ));
        }
    }

    #[test]
    fn idempotency_header_is_optional_but_validated() {
        assert!(parse_idempotency_key(None).unwrap().is_none());
        assert_eq!(
            parse_idempotency_key(Some(b"key-1"))
                .unwrap()
                .unwrap()
                .as_str(),
            "key-1"
        );
        assert!(parse_idempotency_key(Some(b"has space")).is_err());
        assert!(parse_idempotency_key(Some(&[0xff])).is_err());
    }
}
