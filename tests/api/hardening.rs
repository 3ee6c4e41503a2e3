//! The holes independent testing found (issue 9), each as a table over its class of input:
//! claims used exactly as presented, the actor-scoped idempotent replay, events that used to
//! fail before the handler ran, the per-organization limit and the bound it puts on list,
//! names that look alike, and the warm-up's own timeout.

use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use lambda_http::http::StatusCode;
use lambda_http::request::RequestOrigin;
use lambda_http::{Body, Response};
use org_secrets::domain::OrgId;
use serde_json::{json, Value};

use crate::support::hostile::error_code;
use crate::support::*;

/// The four shapes in which an authorizer delivers identity.
#[derive(Debug, Clone, Copy)]
enum Shape {
    HttpApiJwt,
    HttpApiLambda,
    RestCognito,
    RestLambda,
}

const SHAPES: [Shape; 4] = [
    Shape::HttpApiJwt,
    Shape::HttpApiLambda,
    Shape::RestCognito,
    Shape::RestLambda,
];

/// An event of `shape` for `method` on the collection (`suffix` "") or one secret
/// (`"/name"`), with the given org and subject claims (`None`: claim absent).
fn shaped_event(
    shape: Shape,
    method: &str,
    suffix: &str,
    org: Option<&str>,
    sub: Option<&str>,
    body: Option<&str>,
) -> Value {
    let path = format!("/v1/organizations/secrets{suffix}");
    let (file, claims_at, org_claim, sub_claim): (_, &[&str], _, _) = match shape {
        Shape::HttpApiJwt => (
            "http-api-jwt-admin-create.json",
            &["requestContext", "authorizer", "jwt", "claims"],
            "org_id",
            "sub",
        ),
        Shape::HttpApiLambda => (
            "http-api-lambda-authorizer-create.json",
            &["requestContext", "authorizer", "lambda"],
            "org_id",
            "sub",
        ),
        Shape::RestCognito => (
            "rest-cognito-create.json",
            &["requestContext", "authorizer", "claims"],
            "custom:org_id",
            "sub",
        ),
        Shape::RestLambda => (
            "rest-lambda-authorizer-create.json",
            &["requestContext", "authorizer"],
            "org_id",
            "principalId",
        ),
    };
    let mut event = sample_event(file);
    let claims = claims_at
        .iter()
        .fold(&mut event, |value, key| &mut value[*key])
        .as_object_mut()
        .expect("claims object");
    match org {
        Some(org) => claims.insert(org_claim.to_owned(), json!(org)),
        None => claims.remove(org_claim),
    };
    match sub {
        Some(sub) => claims.insert(sub_claim.to_owned(), json!(sub)),
        None => claims.remove(sub_claim),
    };
    event["requestContext"]["requestId"] = json!(unique_request_id());
    match shape {
        Shape::HttpApiJwt | Shape::HttpApiLambda => {
            event["rawPath"] = json!(path);
            event["requestContext"]["http"]["path"] = json!(path);
            event["requestContext"]["http"]["method"] = json!(method);
        }
        Shape::RestCognito | Shape::RestLambda => {
            event["path"] = json!(path);
            event["httpMethod"] = json!(method);
            event["requestContext"]["httpMethod"] = json!(method);
            event["requestContext"]["path"] = json!(format!("/prod{path}"));
        }
    }
    match body {
        Some(body) => event["body"] = json!(body),
        None => {
            event.as_object_mut().unwrap().remove("body");
        }
    }
    event
}

/// The app as a deployment using `shape` configures it: REST Cognito pools name their claims
/// `custom:org_id` and `cognito:groups`. Every shape's app shares `store`.
fn app_for(shape: Shape, store: &org_secrets::storage::SecretStore) -> TestApp {
    match shape {
        Shape::RestCognito => app_on(
            store.clone(),
            &[
                ("ORG_ID_CLAIM", "custom:org_id"),
                ("PERMISSIONS_CLAIM", "cognito:groups"),
            ],
        ),
        _ => app_on(store.clone(), &[]),
    }
}

fn is_not_authenticated(answer: &Answer) -> bool {
    answer.status == 401 && answer.json["error"]["code"] == "not_authenticated"
}

/// Org claims with surrounding Unicode whitespace, or control, format or separator
/// characters anywhere: each would have acted on `org_a` when it was trimmed.
const LOOK_ALIKE_ORGS: &[&str] = &[
    "org_a\u{3000}",
    "\u{a0}org_a",
    " org_a",
    "org_a ",
    "org_a\t",
    "org_a\n",
    "\rorg_a",
    "org_a\u{b}",
    "org_a\u{2028}",
    "org_a\u{2029}",
    "org_a\u{85}",
    "\u{1680}org_a",
    "org_a\u{2000}",
    "org_a\u{200a}",
    "\u{202f}org_a",
    "org_a\u{205f}",
    "org_a\u{200b}",
    "\u{feff}org_a",
    "org_a\u{200d}",
    "\u{202e}org_a",
    "org_a\u{2066}",
    "org\u{ad}_a",
    "org_a\u{0}",
    "org_a\u{1b}",
    "org_a\u{7f}",
    "org_a\u{9c}",
];

#[tokio::test]
async fn org_claims_are_used_as_presented_or_refused_in_every_shape_and_operation() {
    let app = fresh_app().await;
    let setup = shaped_event(
        Shape::HttpApiJwt,
        "POST",
        "",
        Some("org_a"),
        Some("alice"),
        Some(&create_body("shared", "original")),
    );
    assert_eq!(app.call(&setup).await.status, 201);

    for shape in SHAPES {
        let app = app_for(shape, app.store());
        // The control: the presented org itself works in this shape, so a 401 below is the
        // rule at work and not a shape the app cannot read.
        let list = app
            .call(&shaped_event(
                shape,
                "GET",
                "",
                Some("org_a"),
                Some("alice"),
                None,
            ))
            .await;
        assert_eq!(list.status, 200, "{shape:?}: {}", list.text);
        assert_eq!(list.json["secrets"], json!(["shared"]), "{shape:?}");
        for org in LOOK_ALIKE_ORGS {
            let operations = [
                ("GET", "", None),
                ("POST", "", Some(create_body("shared", "taken-over"))),
                ("POST", "", Some(create_body("planted", "x"))),
                (
                    "PUT",
                    "/shared",
                    Some(r#"{"secret_value": "taken-over"}"#.to_owned()),
                ),
                ("DELETE", "/shared", None),
            ];
            for (method, suffix, body) in operations {
                let event = shaped_event(
                    shape,
                    method,
                    suffix,
                    Some(org),
                    Some("mallory"),
                    body.as_deref(),
                );
                let answer = app.call(&event).await;
                assert!(
                    is_not_authenticated(&answer),
                    "{shape:?} {method}{suffix} as org {org:?}: {} {}",
                    answer.status,
                    answer.text
                );
            }
        }
    }
    // org_a's secret is exactly as it was, and nothing else was written anywhere.
    assert_eq!(app.stored_value("org_a", "shared").await, "original");
    assert_eq!(app.item_count().await, 1);
    // An org id with inner spaces or non-ASCII letters is an id like any other: used as is.
    for org in ["org a", "组织", "org-ÄÖÜ"] {
        let event = shaped_event(
            Shape::HttpApiLambda,
            "POST",
            "",
            Some(org),
            Some("alice"),
            Some(&create_body("shared", "theirs")),
        );
        assert_eq!(app.call(&event).await.status, 201, "{org:?}");
        assert_eq!(app.stored_value(org, "shared").await, "theirs");
    }
}

#[tokio::test]
async fn subject_claims_follow_the_same_rule_and_are_never_cut() {
    let store = fresh_store().await;
    let max = "é".repeat(256); // 512 bytes
    let refused: Vec<String> = LOOK_ALIKE_ORGS
        .iter()
        .map(|bad| bad.replace("org_a", "alice"))
        .chain([
            String::new(),
            format!("a{}", "é".repeat(600)),
            "x".repeat(513),
            format!("{max}a"),
        ])
        .collect();
    for shape in SHAPES {
        let app = app_for(shape, &store);
        for (i, sub) in refused.iter().enumerate() {
            let body = create_body(&format!("by_{i}"), "v");
            let event = shaped_event(shape, "POST", "", Some("org_a"), Some(sub), Some(&body));
            let answer = app.call(&event).await;
            assert!(
                is_not_authenticated(&answer),
                "{shape:?} subject #{i} ({} bytes): {} {}",
                sub.len(),
                answer.status,
                answer.text
            );
        }
        // The longest subject allowed is stored whole, as are a subject with inner spaces
        // and no subject at all ("unknown").
        for (name, sub, stored) in [
            ("longest", Some(max.as_str()), max.as_str()),
            ("spaced", Some("alice smith"), "alice smith"),
            ("anonymous", None, "unknown"),
        ] {
            let name = format!("{name}_{shape:?}");
            let event = shaped_event(
                shape,
                "POST",
                "",
                Some("org_a"),
                sub,
                Some(&create_body(&name, "v")),
            );
            // The REST Lambda authorizer's principalId is also its subject; remove both.
            let event = if sub.is_none() {
                without_subject(event)
            } else {
                event
            };
            let answer = app.call(&event).await;
            assert_eq!(answer.status, 201, "{shape:?} {name}: {}", answer.text);
            let item = app.stored_item("org_a", &name).await.unwrap();
            assert_eq!(attr(&item, "created_by"), stored, "{shape:?} {name}");
        }
    }
    assert_eq!(item_count(&store).await, 3 * SHAPES.len());
}

fn without_subject(mut event: Value) -> Value {
    // pointer_mut, not indexing: indexing would add the maps a shape does not have.
    for path in ["/jwt/claims", "/lambda", "/claims", ""] {
        let claims = format!("/requestContext/authorizer{path}");
        if let Some(map) = event.pointer_mut(&claims).and_then(Value::as_object_mut) {
            map.remove("sub");
            map.remove("principalId");
        }
    }
    event
}

/// Who may replay a create with its `Idempotency-Key`: only the actor that made it. Anyone
/// else gets the same plain 409 whatever value they send.
#[tokio::test]
async fn idempotent_replay_is_recognised_only_for_the_original_actor() {
    let app = fresh_app().await;
    let create = |sub: Option<&str>, key: Option<&str>, name: &str, value: &str| {
        let event = shaped_event(
            Shape::HttpApiJwt,
            "POST",
            "",
            Some("org_a"),
            sub,
            Some(&create_body(name, value)),
        );
        let event = if sub.is_none() {
            without_subject(event)
        } else {
            event
        };
        match key {
            Some(key) => with_header(event, "Idempotency-Key", key),
            None => event,
        }
    };
    assert_eq!(
        app.call(&create(Some("alice"), Some("k-1"), "pin", "4711"))
            .await
            .status,
        201
    );
    assert_eq!(
        app.call(&create(None, Some("k-anon"), "anon_pin", "1234"))
            .await
            .status,
        201
    );

    // (subject, key, name, value) -> (status, code)
    type Row<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
        &'a str,
        u16,
        &'a str,
    );
    let rows: &[Row] = &[
        (Some("alice"), Some("k-1"), "pin", "4711", 201, ""),
        (
            Some("alice"),
            Some("k-1"),
            "pin",
            "0000",
            409,
            "idempotency_key_reused",
        ),
        (
            Some("alice"),
            Some("k-2"),
            "pin",
            "4711",
            409,
            "secret_name_taken",
        ),
        (Some("alice"), None, "pin", "4711", 409, "secret_name_taken"),
        (
            Some("bob"),
            Some("k-1"),
            "pin",
            "4711",
            409,
            "secret_name_taken",
        ),
        (
            Some("bob"),
            Some("k-1"),
            "pin",
            "0000",
            409,
            "secret_name_taken",
        ),
        (Some("bob"), None, "pin", "4711", 409, "secret_name_taken"),
        (
            Some("Alice"),
            Some("k-1"),
            "pin",
            "4711",
            409,
            "secret_name_taken",
        ),
        (None, Some("k-1"), "pin", "4711", 409, "secret_name_taken"),
        (None, Some("k-1"), "pin", "0000", 409, "secret_name_taken"),
        // Without a subject no replay is possible, not even for the anonymous creator, and
        // a subject literally called "unknown" is not that creator.
        (
            None,
            Some("k-anon"),
            "anon_pin",
            "1234",
            409,
            "secret_name_taken",
        ),
        (
            Some("unknown"),
            Some("k-anon"),
            "anon_pin",
            "1234",
            409,
            "secret_name_taken",
        ),
        (
            Some("unknown"),
            Some("k-anon"),
            "anon_pin",
            "9999",
            409,
            "secret_name_taken",
        ),
    ];
    let mut stranger_bodies = Vec::new();
    for (sub, key, name, value, status, code) in rows {
        let answer = app.call(&create(*sub, *key, name, value)).await;
        assert_eq!(
            answer.status, *status,
            "{sub:?} {key:?} {value}: {}",
            answer.text
        );
        if !code.is_empty() {
            assert_eq!(
                answer.json["error"]["code"], *code,
                "{sub:?} {key:?} {value}"
            );
        }
        if *sub != Some("alice") && *name == "pin" {
            stranger_bodies.push(answer.text);
        }
    }
    // A stranger's answers are identical whether the guess was right or wrong.
    stranger_bodies.dedup();
    assert_eq!(stranger_bodies.len(), 1, "{stranger_bodies:#?}");
    assert_eq!(app.stored_value("org_a", "pin").await, "4711");
}

#[tokio::test]
async fn events_that_used_to_fail_before_the_handler_get_typed_answers() {
    let app = fresh_app().await;
    for (label, raw, status, code) in hostile::hostile_events() {
        let before = app.item_count().await;
        let answer = app.call_raw(&raw).await;
        assert_eq!(answer.status, status, "{label}: {}", answer.text);
        if !code.is_empty() {
            assert_eq!(error_code(&answer), code, "{label}: {}", answer.text);
        }
        assert_eq!(
            answer
                .headers
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{label}"
        );
        let written = app.item_count().await - before;
        assert_eq!(written, usize::from(status == 201), "{label}");
        if status == 201 {
            // Served normally; clear the name for the next row.
            assert_eq!(
                app.admin("org_a").delete("from_bad_event").await.status,
                200,
                "{label}"
            );
        }
        // The next, ordinary event is served.
        assert_eq!(
            app.reader("org_a").list().await.status,
            200,
            "after {label}"
        );
    }
}

/// A malformed event is answered in the shape its caller expects (REST, HTTP API or ALB).
#[tokio::test]
async fn malformed_events_are_answered_in_their_callers_shape() {
    let app = fresh_app().await;
    let mut rest = sample_event("rest-lambda-authorizer-create.json");
    rest["body"] = json!(5);
    let response = app.handle_event(&rest.to_string(), None).await.unwrap();
    assert_eq!(response["statusCode"], 400);
    assert_eq!(
        response["multiValueHeaders"]["cache-control"],
        json!(["no-store"])
    );
    let mut http = sample_event("http-api-jwt-admin-create.json");
    http["body"] = json!(5);
    let response = app.handle_event(&http.to_string(), None).await.unwrap();
    assert_eq!(response["statusCode"], 400);
    assert_eq!(response["headers"]["cache-control"], "no-store");
    assert!(response["cookies"].is_array());
    let alb = json!({"requestContext": {"elb": {"targetGroupArn": "arn"}}, "httpMethod": "GET", "path": "/", "body": 5});
    let response = app.handle_event(&alb.to_string(), None).await.unwrap();
    assert_eq!(response["statusCode"], 400);
    assert_eq!(response["statusDescription"], "400 Bad Request");
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

async fn set_limit_app(limit: u32) -> TestApp {
    let limit = limit.to_string();
    app_on(fresh_store().await, &[("MAX_SECRETS_PER_ORG", &limit)])
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
                let answer = app.admin("org_a").create(&format!("n{i}"), "v").await;
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

/// Lambda's limit for a synchronous response payload.
const LAMBDA_RESPONSE_LIMIT: usize = 6 * 1024 * 1024;

/// The longest name: 100 characters of 4 bytes each, distinct per index.
fn longest_name(index: usize) -> String {
    let mut name: Vec<char> = vec!['\u{1F511}'; 100];
    let mut rest = index;
    for slot in name.iter_mut().take(4) {
        *slot = char::from_u32(0x1F600 + (rest % 64) as u32).unwrap();
        rest /= 64;
    }
    name.into_iter().collect()
}

#[tokio::test]
async fn list_at_the_default_limit_with_the_longest_names_stays_far_below_the_response_limit() {
    let app = fresh_app().await;
    let limit = app.config().max_secrets_per_org as usize;
    assert_eq!(limit, 1_000);
    // Fill org_a to its limit directly (25 items per BatchWriteItem), counter included,
    // as 1,000 creates would have.
    let names: Vec<String> = (0..limit).map(longest_name).collect();
    for chunk in names.chunks(25) {
        let writes = chunk
            .iter()
            .map(|name| {
                let item = [
                    ("org_id", "org_a"),
                    ("secret_name", name.as_str()),
                    ("encrypted_value", "gAAAAA-placeholder"),
                    ("created_at", "2026-11-27T00:00:00Z"),
                    ("created_by", "filler"),
                    ("request_id", "filler"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())))
                .collect();
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
            .collect();
        app.store()
            .client()
            .batch_write_item()
            .request_items(app.store().table().as_str(), writes)
            .send()
            .await
            .unwrap();
    }
    app.store()
        .client()
        .put_item()
        .table_name(app.store().table().as_str())
        .item("org_id", AttributeValue::S("org_a".to_owned()))
        .item(
            "secret_name",
            AttributeValue::S(org_secrets::storage::COUNTER_SORT_KEY.to_owned()),
        )
        .item("secret_count", AttributeValue::N(limit.to_string()))
        .send()
        .await
        .unwrap();

    let event = reader("org_a").list_event();
    let response = app.handle_event(&event.to_string(), None).await.unwrap();
    let payload = response.to_string().len();
    let answer = lambda_answer(&response);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["count"], limit);
    // Far below: under a tenth of the limit.
    assert!(payload < LAMBDA_RESPONSE_LIMIT / 10, "{payload} bytes");
    // And the limit holds: one more is refused.
    let more = app.admin("org_a").create("one_more", "v").await;
    assert_eq!(more.json["error"]["code"], "secret_limit_reached");
}

/// At the highest limit the configuration accepts, list's response still fits.
#[test]
fn list_at_the_configurable_ceiling_fits_the_response_limit() {
    let ceiling = org_secrets::config::MAX_SECRETS_PER_ORG_CEILING as usize;
    let names: Vec<String> = (0..ceiling).map(longest_name).collect();
    let body = json!({ "secrets": names, "count": names.len() }).to_string();
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = StatusCode::OK;
    for origin in [
        RequestOrigin::ApiGatewayV2,
        RequestOrigin::ApiGatewayV1,
        RequestOrigin::Alb,
    ] {
        let payload = org_secrets::event::lambda_response(&origin, response_clone(&response))
            .to_string()
            .len();
        assert!(
            payload < LAMBDA_RESPONSE_LIMIT,
            "{origin:?}: {payload} bytes"
        );
    }
}

fn response_clone(response: &Response<Body>) -> Response<Body> {
    let text = match response.body() {
        Body::Text(text) => text.clone(),
        _ => unreachable!(),
    };
    let mut copy = Response::new(Body::Text(text));
    *copy.status_mut() = response.status();
    copy
}

/// The warm-up call has its own short timeout: against a DynamoDB that accepts connections
/// and never answers it gives up after ~1 s, not after the 5 s a request may take. Time is
/// virtual here (tokio's paused clock), so this measures which timeout fired, not speed.
#[tokio::test(start_paused = true)]
async fn the_warm_up_gives_up_on_its_own_short_timeout() {
    let store = FaultyDynamoDb::always(Fault::Hang)
        .store_with(&org_secrets::storage::StoreSettings::default(), false)
        .await;
    let started = tokio::time::Instant::now();
    let err = store.warm_up().await.unwrap_err();
    let waited = started.elapsed();
    // The operation timed out: the endpoint never answers, so no attempt can end first.
    assert_eq!(
        err,
        org_secrets::storage::StoreError::Unavailable("timeout".to_owned())
    );
    assert!(
        waited >= org_secrets::storage::WARM_UP_TIMEOUT
            && waited < org_secrets::storage::StoreSettings::default().attempt_timeout,
        "virtual wait {waited:?}"
    );
}

/// Writes an item as a version before the counter did: no counter item, and `unknown` with
/// the idempotency key when the caller had no subject.
async fn put_legacy_item(
    store: &org_secrets::storage::SecretStore,
    org: &str,
    name: &str,
    extra: &[(&str, &str)],
) {
    let mut request = store
        .client()
        .put_item()
        .table_name(store.table().as_str())
        .item("org_id", AttributeValue::S(org.to_owned()))
        .item("secret_name", AttributeValue::S(name.to_owned()))
        .item(
            "created_at",
            AttributeValue::S("2026-11-01T00:00:00Z".to_owned()),
        )
        .item("request_id", AttributeValue::S("legacy".to_owned()));
    for (attribute, value) in extra {
        request = request.item(*attribute, AttributeValue::S((*value).to_owned()));
    }
    request.send().await.unwrap();
}

/// Secrets written before the counter were never counted: deleting one must not push the
/// counter below zero, or the organization would get that many extra places for good.
#[tokio::test]
async fn deleting_secrets_from_before_the_counter_never_adds_places() {
    let app = set_limit_app(2).await;
    let token = app
        .config()
        .cipher
        .encrypt(&org_secrets::domain::SecretValue::parse("old".to_owned(), 64).unwrap());
    for name in ["legacy_1", "legacy_2"] {
        put_legacy_item(
            app.store(),
            "org_a",
            name,
            &[
                ("encrypted_value", token.as_str()),
                ("created_by", "someone"),
            ],
        )
        .await;
    }
    for name in ["legacy_1", "legacy_2"] {
        assert_eq!(app.admin("org_a").delete(name).await.status, 200, "{name}");
        assert!(app.stored_item("org_a", name).await.is_none());
    }
    let org_a = OrgId::parse("org_a").unwrap();
    assert_eq!(app.store().secret_count(&org_a).await.unwrap(), 0);
    let statuses: Vec<u16> = sequential_create_statuses(&app, &["n1", "n2", "n3"]).await;
    assert_eq!(statuses, [201, 201, 400]);
    // A delete of a missing name is still 404 when the counter is zero.
    let answer = app.admin("org_a").delete("legacy_1").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json["error"]["code"], "secret_not_found");
}

async fn sequential_create_statuses(app: &TestApp, names: &[&str]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for name in names {
        statuses.push(app.admin("org_a").create(name, "v").await.status);
    }
    statuses
}

/// Before subjects were exact, a create without a subject stored `unknown` together with
/// its key. A caller whose subject is literally "unknown" is not that creator.
#[tokio::test]
async fn items_from_before_exact_subjects_cannot_be_replayed_by_a_subject_named_unknown() {
    let app = fresh_app().await;
    let token = app
        .config()
        .cipher
        .encrypt(&org_secrets::domain::SecretValue::parse("1234".to_owned(), 64).unwrap());
    put_legacy_item(
        app.store(),
        "org_a",
        "pin",
        &[
            ("encrypted_value", token.as_str()),
            ("created_by", "unknown"),
            ("idempotency_key", "k-legacy"),
        ],
    )
    .await;
    for value in ["1234", "0000"] {
        let event = admin("org_a").create_event(&create_body("pin", value));
        let mut event = with_header(event, "Idempotency-Key", "k-legacy");
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("unknown");
        let answer = app.call(&event).await;
        assert_eq!(answer.status, 409, "{value}");
        assert_eq!(answer.json["error"]["code"], "secret_name_taken", "{value}");
    }
}

/// A transaction cancelled for a reason that is not "busy" (here: no reasons at all) is a
/// fault, 500, not "retry later".
#[tokio::test]
async fn a_transaction_cancelled_for_no_busy_reason_is_a_500() {
    let app = app_on(
        FaultyDynamoDb::always(Fault::Error("TransactionCanceledException"))
            .store_without_table()
            .await,
        &[],
    );
    let answer = app.admin("org_a").create("n", "v").await;
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert!(answer.headers.get("retry-after").is_none());
}

/// A restore's `version` from an HTTP API event's `rawQueryString` or its
/// `queryStringParameters`, one row per class of input, each sent as a direct invocation and
/// through API Gateway. A direct caller may fill either field (the provisioning events carry
/// `"rawQueryString": ""`); when both name `version` they must agree (compared as API
/// Gateway fills them: decoded, repeated values joined by commas), else 422
/// `validation_error`. No answer quotes the value.
#[tokio::test]
async fn a_restore_version_comes_from_either_query_field_and_both_must_agree() {
    const CANARY: &str = "CANARY-version-5e1f";
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Previous,
        Deleted,
        Refused,
    }
    use Expect::*;
    let absent = Value::Null;
    let rows: [(&str, Option<&str>, Value, Expect); 26] = [
        ("neither", Some(""), absent.clone(), Deleted),
        (
            "explicit deleted",
            Some("version=deleted"),
            absent.clone(),
            Deleted,
        ),
        (
            "only raw",
            Some("version=previous"),
            absent.clone(),
            Previous,
        ),
        (
            "only raw, params empty",
            Some("version=previous"),
            json!({}),
            Previous,
        ),
        (
            "only params, no raw",
            None,
            json!({"version": "previous"}),
            Previous,
        ),
        (
            "only params, raw empty",
            Some(""),
            json!({"version": "previous"}),
            Previous,
        ),
        (
            "only params, raw has others",
            Some("a=1"),
            json!({"version": "previous"}),
            Previous,
        ),
        (
            "both equal",
            Some("version=previous"),
            json!({"version": "previous"}),
            Previous,
        ),
        (
            "both equal, deleted",
            Some("version=deleted"),
            json!({"version": "deleted"}),
            Deleted,
        ),
        (
            "both differ",
            Some("version=deleted"),
            json!({"version": "previous"}),
            Refused,
        ),
        (
            "both differ, reversed",
            Some("version=previous"),
            json!({"version": "deleted"}),
            Refused,
        ),
        (
            "repeated in raw",
            Some("version=previous&version=previous"),
            absent.clone(),
            Refused,
        ),
        (
            "repeated, as API Gateway fills both",
            Some("version=previous&version=deleted"),
            json!({"version": "previous,deleted"}),
            Refused,
        ),
        (
            "empty value in raw",
            Some("version="),
            absent.clone(),
            Refused,
        ),
        (
            "empty value in params",
            None,
            json!({"version": ""}),
            Refused,
        ),
        (
            "unknown value in both",
            Some(&format!("version={CANARY}")),
            json!({"version": CANARY}),
            Refused,
        ),
        (
            "unknown value in params",
            Some(""),
            json!({"version": CANARY}),
            Refused,
        ),
        (
            "wrong case",
            Some("version=Previous"),
            absent.clone(),
            Refused,
        ),
        (
            "percent-encoded in raw",
            Some("version=%70revious"),
            absent.clone(),
            Previous,
        ),
        (
            "percent-encoded in raw, decoded in params (API Gateway)",
            Some("version=%70revious"),
            json!({"version": "previous"}),
            Previous,
        ),
        (
            "percent-encoded in params",
            None,
            json!({"version": "%70revious"}),
            Refused,
        ),
        (
            "comma-joined in params",
            None,
            json!({"version": "previous,deleted"}),
            Refused,
        ),
        (
            "a comma in raw",
            Some("version=previous,deleted"),
            absent.clone(),
            Refused,
        ),
        (
            "params as a list",
            None,
            json!({"version": ["previous"]}),
            Previous,
        ),
        (
            "other parameters, all agreeing",
            Some("a=1&version=previous&b=2"),
            json!({"a": "1", "version": "previous", "b": "2"}),
            Previous,
        ),
        (
            "other parameters differing, version agreeing",
            Some("a=1&version=previous"),
            json!({"a": "2", "version": "previous"}),
            Previous,
        ),
    ];
    let app = fresh_app().await;
    for (row, (label, raw, params, expect)) in rows.iter().enumerate() {
        for direct in [true, false] {
            // A live value v2 whose previous value v1 is kept; nothing was ever deleted.
            let name = format!("r{row}_{direct}");
            app.seed("org_a", &name, "v1").await;
            let updated = app.admin("org_a").update(&name, "v2").await;
            assert_eq!(updated.status, 200, "{label}");
            let mut event = admin("org_a").restore_event(&name, None);
            event["requestContext"]["requestId"] = json!(unique_request_id());
            match raw {
                Some(raw) => event["rawQueryString"] = json!(raw),
                None => {
                    event.as_object_mut().unwrap().remove("rawQueryString");
                }
            }
            if !params.is_null() {
                event["queryStringParameters"] = params.clone();
            }
            let outcome = if direct {
                event["directInvocation"] = json!(true);
                match app.handle_event(&event.to_string(), None).await {
                    Ok(response) => (response["statusCode"].as_u64(), String::new()),
                    Err(err) => {
                        assert!(!err.message.contains(CANARY), "{label}: {}", err.message);
                        (None, err.error_type.to_owned())
                    }
                }
            } else {
                let answer = app.call(&event).await;
                assert!(!answer.text.contains(CANARY), "{label}: {}", answer.text);
                let code = match answer.status {
                    422 => "validation_error".to_owned(),
                    _ => error_code(&answer),
                };
                (Some(u64::from(answer.status)), code)
            };
            let expected = match (expect, direct) {
                (Previous, _) => (Some(200), String::new()),
                (Deleted, true) => (None, "nothing_to_restore".to_owned()),
                (Deleted, false) => (Some(404), "nothing_to_restore".to_owned()),
                (Refused, true) => (None, "validation_error".to_owned()),
                (Refused, false) => (Some(422), "validation_error".to_owned()),
            };
            assert_eq!(outcome, expected, "{label} (direct: {direct})");
            let live = if *expect == Previous { "v1" } else { "v2" };
            assert_eq!(
                app.stored_value("org_a", &name).await,
                live,
                "{label} (direct: {direct})"
            );
        }
    }
}
