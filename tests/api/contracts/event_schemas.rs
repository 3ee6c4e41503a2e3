//! `docs/events/`: one JSON Schema (draft 2020-12) per change event's `detail-type`, held
//! equal to what the publisher emits. Each kind's event, built by the publisher from a stream
//! record of the shape the table writes, validates against its schema; the schema's
//! `properties` and `required` are exactly the detail's fields; and each schema names its
//! `detail-type`. `publisher.rs` validates every event it receives through moto against the
//! same schemas. The validator covers the keywords these schemas use, and refuses any other.

use org_secrets::publisher::{classify, Classified, EventKind};
use serde_json::{json, Value};

use crate::support::project_path;

pub(crate) fn schema(kind: EventKind) -> Value {
    let path = project_path("docs/events").join(kind.schema_file());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("a schema is JSON")
}

/// The problems of `value` against `schema`, empty when it validates.
pub(crate) fn violations(schema: &Value, value: &Value, at: &str) -> Vec<String> {
    const KNOWN: [&str; 13] = [
        "$schema",
        "$id",
        "title",
        "description",
        "type",
        "required",
        "additionalProperties",
        "properties",
        "minLength",
        "maxLength",
        "minimum",
        "format",
        "const",
    ];
    let mut problems = Vec::new();
    let object = schema.as_object().expect("a schema is an object");
    for keyword in object.keys() {
        assert!(
            KNOWN.contains(&keyword.as_str()),
            "{at}: keyword {keyword} is not checked here"
        );
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            other => panic!("{at}: type {other}"),
        };
        let fits = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "null" => value.is_null(),
            other => panic!("{at}: type {other} is not checked here"),
        });
        if !fits {
            problems.push(format!("{at}: {value} is not {types:?}"));
        }
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|min| chars < min)
        {
            problems.push(format!("{at}: shorter than minLength"));
        }
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|max| chars > max)
        {
            problems.push(format!("{at}: longer than maxLength"));
        }
        if schema.get("format").and_then(Value::as_str) == Some("date-time")
            && !(text.len() >= 20 && text.as_bytes()[10] == b'T' && text.ends_with('Z'))
        {
            problems.push(format!("{at}: not an RFC 3339 UTC date-time"));
        }
    }
    if let (Some(min), Some(number)) = (
        schema.get("minimum").and_then(Value::as_u64),
        value.as_u64(),
    ) {
        if number < min {
            problems.push(format!("{at}: below minimum"));
        }
    }
    if let Some(expected) = schema.get("const") {
        if expected != value {
            problems.push(format!("{at}: not {expected}"));
        }
    }
    if let Some(fields) = value.as_object() {
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().expect("required names");
            if !fields.contains_key(name) {
                problems.push(format!("{at}: missing {name}"));
            }
        }
        for (name, field) in fields {
            match properties.get(name) {
                Some(sub) => problems.extend(violations(sub, field, &format!("{at}.{name}"))),
                None if schema["additionalProperties"] == false => {
                    problems.push(format!("{at}: {name} is not in the schema"))
                }
                None => {}
            }
        }
    }
    problems
}

/// One stream record of each kind, as the table's stream carries it.
fn sample_record(kind: EventKind) -> Value {
    let op = match kind {
        EventKind::Created => "create",
        EventKind::Updated => "update",
        EventKind::Deleted => "delete",
        EventKind::Restored => "restore_deleted",
        EventKind::PreviousRestored => "restore_previous",
        EventKind::DeletedExpired | EventKind::PreviousExpired => {
            let slot = if kind == EventKind::DeletedExpired {
                "deleted:"
            } else {
                "previous:"
            };
            return json!({
                "eventName": "REMOVE",
                "userIdentity": { "type": "Service", "principalId": "dynamodb.amazonaws.com" },
                "dynamodb": {
                    "SequenceNumber": "100",
                    "Keys": {
                        "org_id": { "S": "\u{2}recovery:org_acme" },
                        "secret_name": { "S": format!("{slot}stripe_api_key") }
                    },
                    "OldImage": {
                        "org_id": { "S": "\u{2}recovery:org_acme" },
                        "secret_name": { "S": format!("{slot}stripe_api_key") },
                        "encrypted_value": { "S": "gAAAAA-not-a-real-token" },
                        "binding": { "S": "v1:not-a-real-binding" },
                        "removed_at": { "S": "2026-01-02T03:04:05.678Z" },
                        "removed_by": { "S": "alice@acme.example" },
                        "expires_at": { "N": "1767323045" },
                        "version": { "N": "7" }
                    }
                }
            });
        }
    };
    json!({
        "eventName": "INSERT",
        "dynamodb": {
            "SequenceNumber": "100",
            "Keys": {
                "org_id": { "S": "\u{3}changes:org_acme" },
                "secret_name": { "S": "request:abc" }
            },
            "NewImage": {
                "org_id": { "S": "\u{3}changes:org_acme" },
                "secret_name": { "S": "request:abc" },
                "change_op": { "S": op },
                "changed_secret": { "S": "stripe_api_key" },
                "changed_by": { "S": "alice@acme.example" },
                "changed_at": { "S": "2026-01-02T03:04:05.678Z" },
                "request_id": { "S": "req-1" },
                "idempotency_key": { "S": "run-42" },
                "replay_until": { "N": "1767409445" },
                "expires_at": { "N": "1767409445" },
                "seal": { "S": "gAAAAA-not-a-real-seal" },
                "version": { "N": "7" },
                "history_key": { "S": "org_acme\u{1f}stripe_api_key" }
            }
        }
    })
}

#[test]
fn every_kind_has_a_schema_equal_to_what_the_publisher_emits() {
    for kind in EventKind::ALL {
        let schema = schema(kind);
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(
            schema["title"],
            kind.detail_type(),
            "{}",
            kind.schema_file()
        );
        let Classified::Event(event) = classify(&sample_record(kind)) else {
            panic!("{kind:?}: no event");
        };
        assert_eq!(event.kind, kind);
        let problems = violations(&schema, &event.detail, kind.detail_type());
        assert!(problems.is_empty(), "{problems:#?}");
        // The schema's fields are exactly the detail's, and all of them are required.
        let mut fields: Vec<&String> = event.detail.as_object().unwrap().keys().collect();
        let mut properties: Vec<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        fields.sort();
        properties.sort();
        required.sort();
        assert_eq!(fields, properties, "{}", kind.schema_file());
        assert_eq!(
            required,
            fields.iter().map(|f| f.as_str()).collect::<Vec<_>>()
        );
        // Nothing from the record beyond what the schema allows (no token, seal or key).
        let text = event.detail.to_string();
        for hidden in ["gAAAAA", "v1:not-a-real", "run-42", "\u{1f}"] {
            assert!(!text.contains(hidden), "{kind:?}: {text}");
        }
    }
    // Every file in docs/events/ belongs to a kind.
    let mut files: Vec<String> = std::fs::read_dir(project_path("docs/events"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".schema.json"))
        .collect();
    files.sort();
    let mut expected: Vec<String> = EventKind::ALL
        .iter()
        .map(|k| k.schema_file().to_owned())
        .collect();
    expected.sort();
    assert_eq!(files, expected);
}

#[test]
fn the_validator_refuses_what_the_schemas_forbid() {
    let schema = schema(EventKind::Created);
    let Classified::Event(event) = classify(&sample_record(EventKind::Created)) else {
        panic!("no event");
    };
    let mut extra = event.detail.clone();
    extra["secret_value"] = json!("x");
    let mut missing = event.detail.clone();
    missing.as_object_mut().unwrap().remove("version");
    let mut wrong = event.detail.clone();
    wrong["version"] = json!("7");
    for bad in [extra, missing, wrong] {
        assert!(!violations(&schema, &bad, "detail").is_empty(), "{bad}");
    }
}
