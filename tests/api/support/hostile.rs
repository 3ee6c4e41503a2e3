//! Hostile events: ones that would fail before the handler ran (a panic, a process exit or an
//! invocation error), and more of their classes: shared by the handler-level test and the
//! compiled-`bootstrap` test.

use serde_json::{json, Value};

use super::{admin, create_body, sample_event, unique_request_id, Answer};

/// A well-formed create with one field of the event replaced.
fn create_with(mutate: impl FnOnce(&mut Value)) -> Value {
    let mut event = admin("org_a").create_event(&create_body("from_bad_event", "v"));
    mutate(&mut event);
    event
}

fn many_headers(count: usize) -> Value {
    Value::Object(
        (0..count)
            .map(|i| (format!("x-h{i}"), json!("v")))
            .collect(),
    )
}

/// Events that end in a panic, a process exit or an invocation error before the handler
/// runs unless the event parser catches them, and more of their classes. (label, event, status, error code or 422 type)
pub fn hostile_events() -> Vec<(&'static str, String, u16, &'static str)> {
    let ok_rest = || {
        let mut event = sample_event("rest-lambda-authorizer-create.json");
        event["requestContext"]["requestId"] = json!(unique_request_id());
        event["body"] = json!(create_body("from_bad_event", "v"));
        event
    };
    let mut cases: Vec<(&'static str, Value, u16, &'static str)> = vec![
        (
            "25,000 header names",
            create_with(|e| e["headers"] = many_headers(25_000)),
            400,
            "malformed_event",
        ),
        (
            "513 header names",
            create_with(|e| e["headers"] = many_headers(513)),
            400,
            "malformed_event",
        ),
        (
            "REST: 25,000 multi-value header names",
            {
                let mut e = ok_rest();
                e["multiValueHeaders"] = Value::Object(
                    (0..25_000)
                        .map(|i| (format!("x-h{i}"), json!(["v"])))
                        .collect(),
                );
                e
            },
            400,
            "malformed_event",
        ),
        (
            "REST: one header with 5,000 values",
            {
                let mut e = ok_rest();
                e["multiValueHeaders"] = json!({ "x-many": vec!["v"; 5_000] });
                e
            },
            400,
            "malformed_event",
        ),
        (
            "rawQueryString of 70,000 bytes",
            create_with(|e| e["rawQueryString"] = json!("a".repeat(70_000))),
            400,
            "malformed_event",
        ),
        (
            "rawQueryString of 65,535 bytes",
            create_with(|e| e["rawQueryString"] = json!(format!("q={}", "b".repeat(65_533)))),
            400,
            "malformed_event",
        ),
        (
            "rawPath of 70,000 bytes",
            create_with(|e| e["rawPath"] = json!(format!("/{}", "p".repeat(70_000)))),
            400,
            "malformed_event",
        ),
        (
            "REST: query parameters of 70,000 bytes",
            {
                let mut e = ok_rest();
                e["queryStringParameters"] = json!({ "q": "c".repeat(70_000) });
                e["multiValueQueryStringParameters"] = json!({ "q": ["c".repeat(70_000)] });
                e
            },
            400,
            "malformed_event",
        ),
        (
            "ESC in an unrelated header",
            create_with(|e| e["headers"]["x-note"] = json!("a\u{1b}b")),
            201,
            "",
        ),
        (
            "SOH in an unrelated header",
            create_with(|e| e["headers"]["x-note"] = json!("\u{1}")),
            201,
            "",
        ),
        (
            "DEL in an unrelated header",
            create_with(|e| e["headers"]["x-note"] = json!("a\u{7f}")),
            201,
            "",
        ),
        (
            "NUL in an unrelated header",
            create_with(|e| e["headers"]["x-note"] = json!("\u{0}")),
            201,
            "",
        ),
        (
            "a number as a header value",
            create_with(|e| e["headers"]["x-note"] = json!(5)),
            201,
            "",
        ),
        (
            "an invalid header name",
            create_with(|e| e["headers"]["bad name"] = json!("v")),
            201,
            "",
        ),
        (
            "ESC in Idempotency-Key",
            create_with(|e| e["headers"]["idempotency-key"] = json!("k\u{1b}1")),
            422,
            "value_error",
        ),
        (
            "NUL in Idempotency-Key",
            create_with(|e| e["headers"]["idempotency-key"] = json!("\u{0}")),
            422,
            "value_error",
        ),
        (
            "DEL in Idempotency-Key",
            create_with(|e| e["headers"]["idempotency-key"] = json!("k\u{7f}")),
            422,
            "value_error",
        ),
        (
            "SOH in Content-Type",
            create_with(|e| e["headers"]["content-type"] = json!("application/json\u{1}")),
            415,
            "unsupported_media_type",
        ),
        (
            "REST: ESC in a multi-value Idempotency-Key",
            {
                let mut e = ok_rest();
                e["multiValueHeaders"] = json!({ "Idempotency-Key": ["k\u{1b}"] });
                e
            },
            422,
            "value_error",
        ),
        (
            "a numeric JWT org claim",
            create_with(|e| {
                e["requestContext"]["authorizer"]["jwt"]["claims"]["org_id"] = json!(42)
            }),
            401,
            "not_authenticated",
        ),
        (
            "a JWT permissions array",
            create_with(|e| {
                e["requestContext"]["authorizer"]["jwt"]["claims"]["permissions"] = json!(["ADMIN"])
            }),
            401,
            "not_authenticated",
        ),
        (
            "an unrelated JWT claim that is an object",
            create_with(|e| {
                e["requestContext"]["authorizer"]["jwt"]["claims"]["extra"] = json!({"a": 1})
            }),
            401,
            "not_authenticated",
        ),
        (
            "a null JWT claim",
            create_with(|e| {
                e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::Null
            }),
            401,
            "not_authenticated",
        ),
        (
            "JWT claims that are a string",
            create_with(|e| {
                e["requestContext"]["authorizer"]["jwt"]["claims"] = json!("org_id=org_a")
            }),
            401,
            "not_authenticated",
        ),
        (
            "JWT scopes that are a number",
            create_with(|e| e["requestContext"]["authorizer"]["jwt"]["scopes"] = json!(5)),
            401,
            "not_authenticated",
        ),
        (
            "a jwt that is a list",
            create_with(|e| e["requestContext"]["authorizer"]["jwt"] = json!([])),
            401,
            "not_authenticated",
        ),
        (
            "a body that is a number",
            create_with(|e| e["body"] = json!(12)),
            400,
            "malformed_event",
        ),
        (
            "a body that is an object",
            create_with(|e| e["body"] = json!({"secret_name": "x", "secret_value": "y"})),
            400,
            "malformed_event",
        ),
        (
            "isBase64Encoded that is a string",
            create_with(|e| e["isBase64Encoded"] = json!("yes")),
            400,
            "malformed_event",
        ),
        (
            "invalid base64",
            create_with(|e| e["isBase64Encoded"] = json!(true)),
            422,
            "json_invalid",
        ),
        (
            "headers that are a list",
            create_with(|e| e["headers"] = json!(["host"])),
            400,
            "malformed_event",
        ),
        (
            "a rawQueryString that is a number",
            create_with(|e| e["rawQueryString"] = json!(7)),
            400,
            "malformed_event",
        ),
        (
            "a method that is not a token",
            create_with(|e| e["requestContext"]["http"]["method"] = json!("PO ST")),
            400,
            "malformed_event",
        ),
        (
            "a requestContext that is a string",
            create_with(|e| e["requestContext"] = json!("ctx")),
            400,
            "malformed_event",
        ),
        ("an empty object", json!({}), 400, "malformed_event"),
        // A payload that is not an object is never API Gateway's: an invocation error
        // (lambda_binary.rs, `payloads_that_are_not_objects_...`).
        (
            "an EventBridge event",
            json!({"version": "0", "id": "e1", "detail-type": "x", "source": "s", "detail": {}}),
            400,
            "malformed_event",
        ),
    ];
    let mut deep = admin("org_a").create_event(&create_body("from_bad_event", "v"));
    deep["extra"] = json!(null);
    let deep = deep.to_string().replacen(
        "null",
        &format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
        1,
    );
    let mut raw: Vec<(&'static str, String, u16, &'static str)> = cases
        .drain(..)
        .map(|(label, event, status, code)| (label, event.to_string(), status, code))
        .collect();
    raw.push(("JSON nested 100,000 deep", deep, 400, "malformed_event"));
    raw
}

/// The error code of an answer: `error.code`, or the first 422 issue's `type`.
pub fn error_code(answer: &Answer) -> String {
    answer.json["error"]["code"]
        .as_str()
        .or_else(|| answer.json["detail"][0]["type"].as_str())
        .unwrap_or_default()
        .to_owned()
}
