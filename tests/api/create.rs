//! Create (`POST /v1/organizations/secrets`): what it stores and answers, its validation
//! table, its limits, and one winner among racing creates of a name.

use std::collections::HashSet;
use std::sync::Arc;

use org_secrets::api::body::parse_create_body;
use org_secrets::api::error::ApiError;
use org_secrets::crypto::{Cipher, EncryptedValue};
use org_secrets::domain::OrgId;
use org_secrets::storage::StoreSettings;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::support::hostile::error_code;
use crate::support::recovery::*;
use crate::support::*;

const CANARY: &str = "CANARY-create-7e1a";

#[tokio::test]
async fn create_returns_201_and_stores_the_contract_item() {
    let app = fresh_app().await;
    let event =
        caller("org_acme", "[ADMIN]").create_event(&create_body("stripe_api_key", "sk_live_123"));
    let request_id = event["requestContext"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = app.call(&event).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_common_headers(&answer);
    assert_eq!(
        answer.json,
        json!({"secret_name": "stripe_api_key", "created": true, "updated": null, "deleted": null})
    );
    assert!(!answer.text.contains("sk_live_123"));

    let item = app
        .stored_item("org_acme", "stripe_api_key")
        .await
        .expect("stored");
    let mut attributes: Vec<&str> = item.keys().map(String::as_str).collect();
    attributes.sort_unstable();
    assert_eq!(
        attributes,
        [
            "binding",
            "created_at",
            "created_by",
            "encrypted_value",
            "org_id",
            "request_id",
            "secret_name",
            "version"
        ]
    );
    assert_eq!(attr(&item, "created_by"), "alice@acme.example");
    assert_eq!(attr(&item, "request_id"), request_id);
    let created_at = attr(&item, "created_at");
    assert!(
        created_at.ends_with('Z') && created_at.contains('T'),
        "{created_at}"
    );
    let token = attr(&item, "encrypted_value");
    assert!(!token.contains("sk_live_123"));
    let plaintext = Cipher::from_key_list(KEY_A)
        .unwrap()
        .decrypt(&EncryptedValue::from_stored(token.to_owned()))
        .unwrap();
    assert_eq!(plaintext.expose_secret(), "sk_live_123");
}

#[tokio::test]
async fn duplicate_name_is_409_and_the_first_value_stays() {
    let app = fresh_app().await;
    let first = app.admin("org_acme").create("github_token", "first").await;
    assert_eq!(first.status, 201);
    let second = app.admin("org_acme").create("github_token", "second").await;
    assert_eq!(second.status, 409, "{}", second.text);
    assert_common_headers(&second);
    assert_eq!(second.json["success"], false);
    assert_eq!(second.json["status"], 409);
    assert_eq!(second.json["error"]["type"], "AlreadyExistsError");
    assert_eq!(second.json["error"]["code"], "secret_name_taken");
    assert!(!second.text.contains("second"));

    assert_eq!(app.stored_value("org_acme", "github_token").await, "first");
}

#[tokio::test]
async fn validation_rows_are_fastapi_shaped() {
    let app = fresh_app().await;
    let missing =
        |field: &str| json!({"loc": ["body", field], "msg": "Field required", "type": "missing"});
    let not_string = |field: &str| json!({"loc": ["body", field], "msg": "Input should be a valid string", "type": "string_type"});
    assert_422(
        &app,
        "",
        json!([{"loc": ["body"], "msg": "Field required", "type": "missing"}]),
    )
    .await;
    assert_422(
        &app,
        "{not json",
        json!([{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]),
    )
    .await;
    assert_422(
        &app,
        r#"["secret_name"]"#,
        json!([{"loc": ["body"], "msg": "Input should be a valid dictionary or object to extract fields from", "type": "model_attributes_type"}]),
    )
    .await;
    assert_422(
        &app,
        "{}",
        json!([missing("secret_name"), missing("secret_value")]),
    )
    .await;
    assert_422(
        &app,
        r#"{"secret_name": "a"}"#,
        json!([missing("secret_value")]),
    )
    .await;
    assert_422(
        &app,
        r#"{"secret_value": "a"}"#,
        json!([missing("secret_name")]),
    )
    .await;
    assert_422(
        &app,
        r#"{"secret_name": 7, "secret_value": null}"#,
        json!([not_string("secret_name"), not_string("secret_value")]),
    )
    .await;
    assert_422(
        &app,
        r#"{"secret_name": "a", "secret_value": {"k": 1}}"#,
        json!([not_string("secret_value")]),
    )
    .await;
    assert_422(
        &app,
        &create_body("", "v"),
        json!([{"loc": ["body", "secret_name"], "msg": "String should have at least 1 character", "type": "string_too_short"}]),
    )
    .await;
    assert_422(
        &app,
        &create_body(&"n".repeat(101), "v"),
        json!([{"loc": ["body", "secret_name"], "msg": "String should have at most 100 characters", "type": "string_too_long"}]),
    )
    .await;
    assert_422(
        &app,
        &create_body("line\nbreak", "v"),
        json!([{"loc": ["body", "secret_name"], "msg": "String should not contain control or format characters", "type": "string_pattern_mismatch"}]),
    )
    .await;
    assert_422(
        &app,
        &create_body("empty_value", ""),
        json!([{"loc": ["body", "secret_value"], "msg": "String should have at least 1 character", "type": "string_too_short"}]),
    )
    .await;
    assert_422(
        &app,
        &create_body("big_value", &"x".repeat(65_537)),
        json!([{"loc": ["body", "secret_value"], "msg": "String should have at most 65536 bytes of UTF-8", "type": "string_too_long"}]),
    )
    .await;
    // Both fields wrong at once: one entry per problem.
    assert_422(
        &app,
        &create_body("", ""),
        json!([
            {"loc": ["body", "secret_name"], "msg": "String should have at least 1 character", "type": "string_too_short"},
            {"loc": ["body", "secret_value"], "msg": "String should have at least 1 character", "type": "string_too_short"}
        ]),
    )
    .await;
}

#[tokio::test]
async fn limits_are_characters_for_names_and_bytes_for_values() {
    let app = fresh_app().await;
    // 100 three-byte characters: 300 bytes, but 100 characters.
    let name = "☃".repeat(100);
    let answer = app.admin("org_acme").create(&name, "v").await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    // Exactly the maximum number of bytes is accepted; multibyte characters count as bytes.
    let at_limit = "é".repeat(32_768);
    assert_eq!(at_limit.len(), 65_536);
    assert_eq!(
        app.admin("org_acme")
            .create("at_limit", &at_limit)
            .await
            .status,
        201
    );
    let over = format!("{at_limit}x");
    assert_eq!(
        app.admin("org_acme").create("over", &over).await.status,
        422
    );
    // The configured maximum applies.
    let small = app_on(fresh_store().await, &[("MAX_SECRET_VALUE_BYTES", "8")]);
    assert_eq!(small.admin("o").create("a", "12345678").await.status, 201);
    assert_eq!(small.admin("o").create("b", "123456789").await.status, 422);
}

#[tokio::test]
async fn largest_configurable_value_fits_in_a_dynamodb_item() {
    let app = app_on(fresh_store().await, &[("MAX_SECRET_VALUE_BYTES", "262144")]);
    let value = "v".repeat(262_144);
    let name = "n".repeat(100);
    let answer = app.admin(&"o".repeat(256)).create(&name, &value).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = fresh_app().await;
    let body = json!({"secret_name": "weather_api_key", "secret_value": "abc", "description": "Weather", "extra": [1, 2]});
    assert_eq!(
        app.admin("org_acme")
            .create_body(&body.to_string())
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn validation_errors_never_quote_the_value() {
    let app = fresh_app().await;
    let canary = "CANARY-5f0e1d2c";
    for body in [
        json!({"secret_name": "", "secret_value": canary}).to_string(),
        json!({"secret_name": "x", "secret_value": format!("{canary}{}", "x".repeat(70_000))})
            .to_string(),
        format!("{{\"secret_name\": \"x\", \"secret_value\": \"{canary}"),
        json!({"secret_name": 1, "secret_value": [canary]}).to_string(),
    ] {
        let answer = app.admin("org_acme").create_body(&body).await;
        assert_eq!(answer.status, 422);
        assert!(!answer.text.contains(canary), "{}", answer.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_name_have_exactly_one_winner() {
    let app = Arc::new(fresh_app().await);
    let contenders = 24;
    let tasks: Vec<_> = (0..contenders)
        .map(|i| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let value = format!("value-of-contender-{i}");
                let event = admin("org_acme").create_event(&create_body("contested", &value));
                let answer = app.call_as_client(&event).await;
                (value, answer.status)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut statuses = HashSet::new();
    for task in tasks {
        let (value, status) = task.await.unwrap();
        statuses.insert(status);
        if status == 201 {
            winners.push(value);
        } else {
            assert_eq!(status, 409);
        }
    }
    assert_eq!(winners.len(), 1, "statuses seen: {statuses:?}");
    assert_eq!(app.stored_value("org_acme", "contested").await, winners[0]);
}

async fn assert_422(app: &TestApp, body: &str, expected: Value) {
    let before = app.item_count().await;
    let answer = app.admin("org_acme").create_body(body).await;
    assert_eq!(answer.status, 422, "body {body:?}: {}", answer.text);
    assert_common_headers(&answer);
    assert_eq!(answer.json, json!({ "detail": expected }), "body {body:?}");
    assert_eq!(app.item_count().await, before, "422 must change nothing");
}

/// Names that look alike: not NFC, or with format, control or separator characters, in
/// the body of a create and in the path of an update or delete.
#[tokio::test]
async fn names_that_look_alike_are_refused_everywhere_and_change_nothing() {
    let app = fresh_app().await;
    assert_eq!(
        app.admin("org_a").create("caf\u{e9}", "v").await.status,
        201
    );
    let look_alikes = [
        "cafe\u{301}",
        "\u{212b}ngstrom",
        "\u{1112}\u{1161}\u{11ab}",
        "\u{202e}yek",
        "a\u{202d}b",
        "a\u{200b}b",
        "a\u{200c}b",
        "a\u{200d}b",
        "\u{feff}key",
        "a\u{2060}b",
        "a\u{2066}b",
        "a\u{ad}b",
        "a\u{2028}b",
        "a\u{2029}b",
        "a\u{1b}b",
        "a\u{85}b",
        "a\u{e0041}b",
    ];
    let encode = |name: &str| -> String {
        name.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    for name in look_alikes {
        let answer = app.admin("org_a").create(name, "v").await;
        assert_eq!(answer.status, 422, "{name:?}");
        assert_eq!(
            answer.json["detail"][0]["type"], "string_pattern_mismatch",
            "{name:?}"
        );
        assert_eq!(
            answer.json["detail"][0]["loc"],
            json!(["body", "secret_name"])
        );
        assert!(!answer.text.contains(name), "the name is never quoted");
        for method in ["PUT", "DELETE"] {
            let body = (method == "PUT").then_some(r#"{"secret_value": "w"}"#);
            let event = admin("org_a").event(method, &format!("/{}", encode(name)), body);
            let answer = app.call(&event).await;
            assert_eq!(answer.status, 422, "{method} {name:?}: {}", answer.text);
            assert_eq!(
                answer.json["detail"][0]["loc"],
                json!(["path", "secret_name"])
            );
            assert_eq!(answer.json["detail"][0]["type"], "string_pattern_mismatch");
        }
    }
    assert_eq!(app.item_count().await, 1);
    assert_eq!(app.stored_value("org_a", "caf\u{e9}").await, "v");
}

#[tokio::test]
async fn the_limit_is_enforced_at_create_and_freed_by_delete() {
    let app = set_limit_app(3).await;
    for name in ["a", "b", "c"] {
        assert_eq!(app.admin("org_a").create(name, "v").await.status, 201);
    }
    let over = app.admin("org_a").create("d", "v").await;
    assert_eq!(over.status, 400, "{}", over.text);
    assert_eq!(over.json["error"]["code"], "secret_limit_reached");
    assert_eq!(over.json["error"]["type"], "BadRequestError");
    assert_eq!(over.json["error"]["details"]["limit"], 3);
    assert!(app.stored_item("org_a", "d").await.is_none());
    // A replay of an existing name is still answered as such at the limit.
    let taken = app.admin("org_a").create("a", "v").await;
    assert_eq!(taken.json["error"]["code"], "secret_name_taken");
    // Other organizations have limits of their own; update does not count.
    assert_eq!(app.admin("org_b").create("d", "v").await.status, 201);
    assert_eq!(
        app.admin("org_a")
            .update_body("a", r#"{"secret_value": "w"}"#)
            .await
            .status,
        200
    );
    // Delete frees a place; a delete of a missing name frees nothing.
    assert_eq!(app.admin("org_a").delete("zzz").await.status, 404);
    assert_eq!(app.admin("org_a").create("d", "v").await.status, 400);
    assert_eq!(app.admin("org_a").delete("b").await.status, 200);
    assert_eq!(app.admin("org_a").create("d", "v").await.status, 201);
    assert_eq!(app.admin("org_a").create("e", "v").await.status, 400);
    let org_a = OrgId::parse("org_a").unwrap();
    assert_eq!(app.store().secret_count(&org_a).await.unwrap(), 3);
    // The counter is never listed.
    let list = app.reader("org_a").list().await;
    assert_eq!(list.json, json!({"secrets": ["a", "c", "d"], "count": 3}));
}

/// The counter item makes the limit exact: however many creates race, exactly `limit`
/// succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_limit_is_exact_under_concurrent_creates() {
    let limit = 5;
    let app = Arc::new(set_limit_app(limit).await);
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let event = admin("org_a").create_event(&create_body(&format!("n{i}"), "v"));
                let answer = app.call_as_client(&event).await;
                (answer.status, error_code(&answer))
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let (status, code) = task.await.unwrap();
        match status {
            201 => created += 1,
            400 => assert_eq!(code, "secret_limit_reached"),
            other => panic!("unexpected {other} {code}"),
        }
    }
    assert_eq!(created, limit);
    assert_eq!(app.item_count().await, limit as usize);
    let org_a = OrgId::parse("org_a").unwrap();
    assert_eq!(
        app.store().secret_count(&org_a).await.unwrap(),
        u64::from(limit)
    );
}

/// storage-contract.md, "What each operation costs": a create answered 409
/// `secret_name_taken` (or 400 `secret_limit_reached`) reads the name's version, sends its
/// whole `TransactWriteItems` (secret, counter, version, record), which DynamoDB cancels (and
/// charges), then reads the record to tell a resend: three calls.
#[tokio::test]
async fn a_create_refused_as_taken_costs_its_cancelled_transaction_and_one_read() {
    let dynamodb = FaultyDynamoDb::always(Fault::Pass);
    let store = dynamodb.store_with(&StoreSettings::default(), true).await;
    let app = app_on(store, &[]);
    app.seed(ORG, "taken", "v").await;
    let before = dynamodb.request_count();
    let answer = app.admin(ORG).create("taken", "w").await;
    assert_eq!(answer.status, 409);
    assert_eq!(
        dynamodb.request_count() - before,
        3,
        "DynamoDB calls for a 409 create: the version read, a cancelled TransactWriteItems \
         and the record read"
    );
}

#[tokio::test]
async fn bad_bodies_are_typed_4xx_and_write_nothing() {
    let app = fresh_app().await;
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let nested_object = format!("{}\"x\"{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let oversized = json!({"secret_name": "big", "secret_value": format!("{CANARY}{}", "x".repeat(10 * 1024 * 1024 + 1))}).to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "missing"),
        ("whitespace", "  \n ".to_owned(), "missing"),
        ("not JSON", format!("secret_value={CANARY}"), "json_invalid"),
        ("null", "null".to_owned(), "model_attributes_type"),
        ("array", format!("[\"{CANARY}\"]"), "model_attributes_type"),
        ("number", "42".to_owned(), "model_attributes_type"),
        ("string", format!("\"{CANARY}\""), "model_attributes_type"),
        ("10,000 nested arrays", nested, "json_invalid"),
        ("10,000 nested objects", nested_object, "json_invalid"),
        (
            "lone surrogate in value",
            format!(r#"{{"secret_name":"s","secret_value":"{CANARY}\ud800"}}"#),
            "json_invalid",
        ),
        (
            "lone surrogate in name",
            format!(r#"{{"secret_name":"\udfff","secret_value":"{CANARY}"}}"#),
            "json_invalid",
        ),
        (
            "NUL in name",
            format!(r#"{{"secret_name":"a\u0000b","secret_value":"{CANARY}"}}"#),
            "string_pattern_mismatch",
        ),
        (
            "name as object",
            format!(r#"{{"secret_name":{{"n":1}},"secret_value":"{CANARY}"}}"#),
            "string_type",
        ),
        (
            "value as bool",
            r#"{"secret_name":"n","secret_value":true}"#.to_owned(),
            "string_type",
        ),
        (
            "value as array",
            format!(r#"{{"secret_name":"n","secret_value":["{CANARY}"]}}"#),
            "string_type",
        ),
        (
            "body over the API Gateway payload cap",
            oversized,
            "string_too_long",
        ),
        (
            "truncated",
            format!(r#"{{"secret_name":"n","secret_value":"{CANARY}"#),
            "json_invalid",
        ),
    ];
    for (label, body, kind) in cases {
        let answer = app.admin("org_acme").create_body(&body).await;
        assert_eq!(
            answer.status,
            422,
            "{label}: {}",
            &answer.text[..answer.text.len().min(300)]
        );
        let kinds: Vec<&str> = answer.json["detail"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["type"].as_str())
            .collect();
        assert!(kinds.contains(&kind), "{label}: {kinds:?}");
        assert_no_echo(&answer, CANARY);
    }
    assert_eq!(app.item_count().await, 0);
}

#[tokio::test]
async fn a_non_json_content_type_is_415_and_writes_nothing() {
    let app = fresh_app().await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let event = with_header(
            admin("org_acme").create_event(&create_body("ct", CANARY)),
            "content-type",
            content_type,
        );
        let answer = app.call(&event).await;
        assert_eq!(answer.status, 415, "{content_type}");
        assert_eq!(answer.json["error"]["code"], "unsupported_media_type");
        assert_no_echo(&answer, CANARY);
    }
    let charset = with_header(
        admin("org_acme").create_event(&create_body("ct", "v")),
        "content-type",
        "application/json; charset=utf-8",
    );
    assert_eq!(app.call(&charset).await.status, 201);
    assert_eq!(app.item_count().await, 1);
}

/// Duplicate keys: the last one wins, as in Python's `json` (and so in FastAPI).
#[tokio::test]
async fn duplicate_keys_take_the_last_value() {
    let app = fresh_app().await;
    let body =
        r#"{"secret_name":"first","secret_value":"a","secret_name":"dup","secret_value":"b"}"#;
    let answer = app.admin("org_acme").create_body(body).await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.json["secret_name"], "dup");
    assert_eq!(app.stored_value("org_acme", "dup").await, "b");
    assert_eq!(app.item_count().await, 1);
}

/// `Debug` of every request and error type that can hold a submitted value.
#[test]
fn debug_output_never_shows_a_value() {
    let body = json!({"secret_name": "n", "secret_value": CANARY}).to_string();
    let parsed = parse_create_body(body.as_bytes(), 1024).unwrap();
    assert!(!format!("{parsed:?}").contains(CANARY));
    let errors = [
        parse_create_body(
            json!({"secret_name": "", "secret_value": CANARY})
                .to_string()
                .as_bytes(),
            1024,
        ),
        parse_create_body(
            json!({"secret_name": "n", "secret_value": format!("{CANARY}xxxxxxxx")})
                .to_string()
                .as_bytes(),
            8,
        ),
        parse_create_body(format!("{{\"secret_value\": \"{CANARY}").as_bytes(), 1024),
    ];
    for error in errors {
        let error: ApiError = error.unwrap_err();
        assert!(!format!("{error:?}").contains(CANARY));
        assert!(!error.to_string().contains(CANARY));
    }
}
