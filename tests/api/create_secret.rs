//! The create endpoint through the handler, against DynamoDB Local.

use std::collections::HashSet;
use std::sync::Arc;

use org_secrets::crypto::{Cipher, EncryptedValue};
use org_secrets::domain::RequestId;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::support::*;

fn assert_common_headers(answer: &Answer) {
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn create_returns_201_and_stores_the_contract_item() {
    let app = fresh_app().await;
    let event = create_event(
        "org_acme",
        "[ADMIN]",
        &create_body("stripe_api_key", "sk_live_123"),
    );
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
            "secret_name"
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
    let first = app
        .create("org_acme", "ADMIN", &create_body("github_token", "first"))
        .await;
    assert_eq!(first.status, 201);
    let second = app
        .create("org_acme", "ADMIN", &create_body("github_token", "second"))
        .await;
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
async fn organizations_are_isolated_by_claims_and_body_org_id_is_ignored() {
    let app = fresh_app().await;
    let body =
        json!({"secret_name": "shared_name", "secret_value": "acme", "org_id": "org_globex"})
            .to_string();
    assert_eq!(app.create("org_acme", "ADMIN", &body).await.status, 201);
    // The body's org_id changed nothing: the item is under the claim's organization.
    assert!(app.stored_item("org_acme", "shared_name").await.is_some());
    assert!(app.stored_item("org_globex", "shared_name").await.is_none());
    // The second organization can create the same name.
    let globex = app
        .create("org_globex", "ADMIN", &create_body("shared_name", "globex"))
        .await;
    assert_eq!(globex.status, 201, "{}", globex.text);
    assert_eq!(app.item_count().await, 2);
}

/// Each authorizer shape API Gateway produces, from the checked-in real-shaped payloads.
#[tokio::test]
async fn every_authorizer_shape_authenticates() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        ("http-api-jwt-admin-create.json", &[], "alice@acme.example"),
        (
            "http-api-jwt-named-stage-create.json",
            &[],
            "alice@acme.example",
        ),
        (
            "http-api-lambda-authorizer-create.json",
            &[],
            "provisioner@acme.example",
        ),
        (
            "rest-cognito-create.json",
            &[
                ("ORG_ID_CLAIM", "custom:org_id"),
                ("PERMISSIONS_CLAIM", "cognito:groups"),
            ],
            "7d8e9f10-1234-4abc-9def-0123456789ab",
        ),
        (
            "rest-lambda-authorizer-create.json",
            &[],
            "provisioner@acme.example",
        ),
        (
            "http-api-base64-body-create.json",
            &[],
            "alice@acme.example",
        ),
    ];
    for (file, overrides, actor) in cases {
        let app = app_on(fresh_store().await, overrides);
        let answer = app.call(&sample_event(file)).await;
        assert_eq!(answer.status, 201, "{file}: {}", answer.text);
        let item = app
            .stored_item("org_acme", "stripe_api_key")
            .await
            .unwrap_or_else(|| panic!("{file}: not stored under org_acme"));
        assert_eq!(attr(&item, "created_by"), actor, "{file}");
    }
}

#[tokio::test]
async fn cognito_groups_without_admin_is_403() {
    let overrides = [
        ("ORG_ID_CLAIM", "custom:org_id"),
        ("PERMISSIONS_CLAIM", "cognito:groups"),
    ];
    let app = app_on(fresh_store().await, &overrides);
    let mut event = sample_event("rest-cognito-create.json");
    event["requestContext"]["authorizer"]["claims"]["cognito:groups"] = json!("READ,WRITE");
    assert_eq!(app.call(&event).await.status, 403);
    // With the default claim names the Cognito event has no org claim at all.
    let default_names = fresh_app().await;
    assert_eq!(
        default_names
            .call(&sample_event("rest-cognito-create.json"))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn permissions_hierarchy_and_whole_tokens() {
    let app = fresh_app().await;
    let cases = [
        ("[ADMIN WRITE]", 201),
        ("admin", 201),
        ("READ,ADMIN", 201),
        (r#"["WRITE","ADMIN"]"#, 201),
        ("read write", 403),
        ("DELETE", 403),
        ("WRITE", 403),
        ("READ", 403),
        ("NOT_ADMIN", 403),
        ("ADMINISTRATOR", 403),
        ("[ADMINS]", 403),
        ("", 403),
    ];
    for (index, (permissions, status)) in cases.into_iter().enumerate() {
        let body = create_body(&format!("perm_case_{index}"), "v");
        let answer = app.create("org_acme", permissions, &body).await;
        assert_eq!(
            answer.status, status,
            "permissions {permissions:?}: {}",
            answer.text
        );
        if status == 403 {
            assert_eq!(answer.json["error"]["type"], "UnauthorizedError");
            assert_eq!(answer.json["error"]["message"], "Insufficient permissions");
            assert_common_headers(&answer);
        }
    }
    assert_eq!(app.item_count().await, 4);
}

#[tokio::test]
async fn permissions_as_a_json_array_in_a_lambda_authorizer_context() {
    let app = fresh_app().await;
    let mut event = sample_event("http-api-lambda-authorizer-create.json");
    event["requestContext"]["authorizer"]["lambda"]["permissions"] = json!(["READ", "NOT_ADMIN"]);
    assert_eq!(app.call(&event).await.status, 403);
    event["requestContext"]["authorizer"]["lambda"]["permissions"] = json!(["read", "admin"]);
    assert_eq!(app.call(&event).await.status, 201);
}

/// 401 and 403 never touch DynamoDB: the store here points at an endpoint that would hang.
#[tokio::test]
async fn unauthenticated_and_forbidden_never_touch_dynamodb() {
    let app = app_on(store_at(&black_hole()).await, &[]);
    let mut no_org = create_event("org_acme", "ADMIN", &create_body("n", "v"));
    no_org["requestContext"]["authorizer"]["jwt"]["claims"]
        .as_object_mut()
        .unwrap()
        .remove("org_id");
    let mut empty_org = create_event("org_acme", "ADMIN", &create_body("n", "v"));
    empty_org["requestContext"]["authorizer"]["jwt"]["claims"]["org_id"] = json!("  ");
    let mut no_authorizer = create_event("org_acme", "ADMIN", &create_body("n", "v"));
    no_authorizer["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    // IAM-only authorization: an authorizer block with no claims.
    let iam = json!({"iam": {"accessKey": "AKIAEXAMPLE", "accountId": "123456789012", "callerId": "AIDAEXAMPLE",
        "principalOrgId": null, "userArn": "arn:aws:iam::123456789012:user/x", "userId": "AIDAEXAMPLE"}});
    let mut iam_only = create_event("org_acme", "ADMIN", &create_body("n", "v"));
    iam_only["requestContext"]["authorizer"] = iam;
    // The org claim is trusted from claims only: a header or query parameter does nothing.
    let mut header_org = no_authorizer.clone();
    header_org["headers"]["x-org-id"] = json!("org_acme");
    header_org["rawQueryString"] = json!("org_id=org_acme");

    for (label, event) in [
        ("no org claim", &no_org),
        ("empty org claim", &empty_org),
        ("no authorizer", &no_authorizer),
        ("IAM only", &iam_only),
        ("org in header/query", &header_org),
    ] {
        let answer = app.call(event).await;
        assert_eq!(answer.status, 401, "{label}: {}", answer.text);
        assert_eq!(
            answer.json["error"]["type"], "AuthenticationError",
            "{label}"
        );
        assert_common_headers(&answer);
    }
    let forbidden = app.create("org_acme", "READ", &create_body("n", "v")).await;
    assert_eq!(forbidden.status, 403);
}

#[tokio::test]
async fn alb_and_function_url_events_are_401() {
    let app = app_on(store_at(&black_hole()).await, &[]);
    let body = create_body("n", "v");
    let alb = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/0123456789abcdef"}},
        "httpMethod": "POST", "path": "/v1/organizations/secrets", "queryStringParameters": {},
        "headers": {"content-type": "application/json", "host": "lb.example"}, "body": body, "isBase64Encoded": false
    });
    assert_eq!(app.call(&alb).await.status, 401);
    let mut function_url = sample_event("http-api-no-authorizer-create.json");
    function_url["requestContext"]["domainName"] = json!("abcdefghij.lambda-url.us-east-1.on.aws");
    assert_eq!(app.call(&function_url).await.status, 401);
}

async fn assert_422(app: &TestApp, body: &str, expected: Value) {
    let before = app.item_count().await;
    let answer = app.create("org_acme", "ADMIN", body).await;
    assert_eq!(answer.status, 422, "body {body:?}: {}", answer.text);
    assert_common_headers(&answer);
    assert_eq!(answer.json, json!({ "detail": expected }), "body {body:?}");
    assert_eq!(app.item_count().await, before, "422 must change nothing");
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
    let answer = app
        .create("org_acme", "ADMIN", &create_body(&name, "v"))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    // Exactly the maximum number of bytes is accepted; multibyte characters count as bytes.
    let at_limit = "é".repeat(32_768);
    assert_eq!(at_limit.len(), 65_536);
    assert_eq!(
        app.create("org_acme", "ADMIN", &create_body("at_limit", &at_limit))
            .await
            .status,
        201
    );
    let over = format!("{at_limit}x");
    assert_eq!(
        app.create("org_acme", "ADMIN", &create_body("over", &over))
            .await
            .status,
        422
    );
    // The configured maximum applies.
    let small = app_on(fresh_store().await, &[("MAX_SECRET_VALUE_BYTES", "8")]);
    assert_eq!(
        small
            .create("o", "ADMIN", &create_body("a", "12345678"))
            .await
            .status,
        201
    );
    assert_eq!(
        small
            .create("o", "ADMIN", &create_body("b", "123456789"))
            .await
            .status,
        422
    );
}

#[tokio::test]
async fn largest_configurable_value_fits_in_a_dynamodb_item() {
    let app = app_on(fresh_store().await, &[("MAX_SECRET_VALUE_BYTES", "262144")]);
    let value = "v".repeat(262_144);
    let name = "n".repeat(100);
    let answer = app
        .create(&"o".repeat(256), "ADMIN", &create_body(&name, &value))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = fresh_app().await;
    let body = json!({"secret_name": "weather_api_key", "secret_value": "abc", "description": "Weather", "extra": [1, 2]});
    assert_eq!(
        app.create("org_acme", "ADMIN", &body.to_string())
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
        let answer = app.create("org_acme", "ADMIN", &body).await;
        assert_eq!(answer.status, 422);
        assert!(!answer.text.contains(canary), "{}", answer.text);
    }
}

#[tokio::test]
async fn routing_404_405_and_stages() {
    let app = fresh_app().await;
    let mut other_path = create_event("org_acme", "ADMIN", &create_body("a", "b"));
    other_path["rawPath"] = json!("/v1/organizations/secretz");
    let answer = app.call(&other_path).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json["error"]["type"], "NotFoundError");
    assert_common_headers(&answer);

    for method in ["PUT", "DELETE", "PATCH", "HEAD"] {
        let mut event = create_event("org_acme", "ADMIN", &create_body("a", "b"));
        event["requestContext"]["http"]["method"] = json!(method);
        let answer = app.call(&event).await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.headers["allow"], "GET, POST");
        assert_eq!(answer.json["status"], 405);
        assert_common_headers(&answer);
    }

    // A REST event with its stage in requestContext.path still routes on the resource path,
    // even when the stage is named like our first path segment.
    let app = fresh_app().await;
    let mut rest = sample_event("rest-lambda-authorizer-create.json");
    rest["requestContext"]["stage"] = json!("v1");
    assert_eq!(app.call(&rest).await.status, 201);
}

#[tokio::test]
async fn retry_of_our_own_write_is_201_and_a_stranger_gets_409() {
    let app = fresh_app().await;
    let event = create_event("org_acme", "ADMIN", &create_body("retried", "value"));
    assert_eq!(app.call(&event).await.status, 201);
    // The same request id again: what an SDK retry sees when its first attempt succeeded
    // but the response was lost.
    let again = app.call(&event).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.json["created"], true);
    // The store recognises it by the request's change record, and writes nothing.
    let store = app.store();
    let cipher = &app.config().cipher;
    let org = org_secrets::domain::OrgId::parse("org_acme").unwrap();
    let name = org_secrets::domain::SecretName::parse("retried").unwrap();
    // The JWT sample event's subject.
    let actor = org_secrets::domain::Actor::parse("alice@acme.example").unwrap();
    let request_id =
        RequestId::parse(event["requestContext"]["requestId"].as_str().unwrap()).unwrap();
    let change = org_secrets::storage::Change {
        org_id: &org,
        actor: &actor,
        request_id: &request_id,
        idempotency_key: None,
        cipher,
    };
    let create = |value: &str| {
        let value = org_secrets::domain::SecretValue::parse(value.to_owned(), 100).unwrap();
        let digest = org_secrets::storage::ValueDigest::of(
            &org,
            &name,
            &value,
            &org_secrets::domain::DescriptionChange::Keep,
        );
        (cipher.encrypt(&value), digest)
    };
    for (value, expected) in [
        ("value", org_secrets::storage::CreateOutcome::AlreadyCreated),
        ("other", org_secrets::storage::CreateOutcome::RequestReused),
    ] {
        let (token, digest) = create(value);
        let outcome = store
            .create(
                org_secrets::storage::NewSecret {
                    name: &name,
                    encrypted_value: token,
                    binding: org_secrets::crypto::TokenBinding::from_stored("v1:unused".to_owned()),
                    value: &digest,
                    description: None,
                    max_secrets: 1_000,
                },
                &change,
            )
            .await
            .unwrap();
        assert_eq!(outcome, expected, "{value}");
    }
    // A different request for the same name is a conflict.
    assert_eq!(
        app.create("org_acme", "ADMIN", &create_body("retried", "value"))
            .await
            .status,
        409
    );
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
                let answer = app
                    .create("org_acme", "ADMIN", &create_body("contested", &value))
                    .await;
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

#[tokio::test]
async fn throttling_after_retries_is_503_with_retry_after() {
    let app = app_on(
        store_at(&failing_dynamodb("ProvisionedThroughputExceededException")).await,
        &[],
    );
    let answer = app
        .create("org_acme", "ADMIN", &create_body("a", "CANARY-throttle"))
        .await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.headers["retry-after"], "1");
    assert_eq!(answer.json["error"]["type"], "ServiceUnavailableError");
    assert_common_headers(&answer);
    assert!(!answer.text.contains("CANARY"));
}

#[tokio::test]
async fn stuck_dynamodb_times_out_into_503() {
    let app = app_on(store_at(&black_hole()).await, &[]);
    let answer = app
        .create("org_acme", "ADMIN", &create_body("a", "b"))
        .await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.headers["retry-after"], "1");
}

#[tokio::test]
async fn other_dynamodb_errors_are_500_with_the_request_id() {
    let app = app_on(
        store_at(&failing_dynamodb("ValidationException")).await,
        &[],
    );
    let event = create_event("org_acme", "ADMIN", &create_body("a", "CANARY-500"));
    let answer = app.call(&event).await;
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert_eq!(answer.json["error"]["type"], "InternalServerError");
    assert_eq!(answer.json["error"]["message"], "Internal server error");
    assert_eq!(
        answer.json["error"]["details"]["request_id"],
        event["requestContext"]["requestId"]
    );
    assert!(!answer.text.contains("CANARY"));
    assert!(
        !answer.text.contains("ValidationException"),
        "internals stay in the log"
    );
}

/// One deadline bounds a request (`api::REQUEST_DEADLINE`), whatever the DynamoDB client's
/// own limits are: here its timeouts are a minute, and every operation against a DynamoDB
/// that never answers ends at the deadline as 503 `storage_unavailable` (with
/// `Retry-After`), not as a Lambda timeout. Time is virtual (tokio's paused clock), so this
/// checks which limit fired, not speed.
#[tokio::test(start_paused = true)]
async fn one_deadline_bounds_every_operation_against_a_dynamodb_that_never_answers() {
    let sdk = local_sdk_config(&black_hole()).await;
    let minute = std::time::Duration::from_secs(60);
    let patient = org_secrets::storage::StoreSettings {
        connect_timeout: minute,
        attempt_timeout: minute,
        operation_timeout: minute,
        max_attempts: 3,
    };
    let table = unique_table_name();
    let store = org_secrets::storage::SecretStore::from_sdk_config(&sdk, table, &patient);
    let app = app_on(store, &[]);
    let events = [
        create_event("org_acme", "ADMIN", &create_body("n", "v")),
        op_event("GET", "", "org_acme", "ADMIN", None),
        op_event("PUT", "/n", "org_acme", "ADMIN", Some(&update_body("v2"))),
        op_event("DELETE", "/n", "org_acme", "ADMIN", None),
        restore_event("org_acme", "ADMIN", "n", None),
    ];
    for event in &events {
        let started = tokio::time::Instant::now();
        let answer = app.call(event).await;
        let waited = started.elapsed();
        let route = &event["routeKey"];
        assert_eq!(answer.status, 503, "{route}: {}", answer.text);
        assert_eq!(answer.json["error"]["code"], "storage_unavailable");
        assert!(answer.headers.contains_key("retry-after"));
        assert!(
            waited >= org_secrets::api::REQUEST_DEADLINE && waited < minute,
            "{route}: virtual wait {waited:?}"
        );
    }
}
