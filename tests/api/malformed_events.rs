//! Events that are not what API Gateway or a direct caller should send: each gets a typed
//! answer in its caller's shape (an HTTP status, or an invocation error for a direct
//! invocation), never a panic, and writes nothing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

use crate::support::hostile::error_code;
use crate::support::*;

const CANARY: &str = "CANARY-malformed_events-7e1a";

#[tokio::test]
async fn every_hostile_event_gets_a_typed_answer() {
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

#[tokio::test]
async fn invalid_base64_body_is_422_not_a_panic() {
    let app = fresh_app().await;
    let mut event = admin("org_acme").create_event("");
    event["body"] = json!(format!("%%%not base64 {CANARY}%%%"));
    event["isBase64Encoded"] = json!(true);
    let answer = app.call(&event).await;
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert_eq!(answer.json["detail"][0]["type"], "json_invalid");
    assert_no_echo(&answer, CANARY);
    // Valid base64 of bad JSON is the same 422.
    event["body"] = json!(STANDARD.encode(format!("not json {CANARY}")));
    assert_eq!(app.call(&event).await.status, 422);
    assert_eq!(app.item_count().await, 0);
}

#[tokio::test]
async fn hostile_event_fields_do_not_panic() {
    let app = fresh_app().await;
    let mut event = admin("org_acme").create_event(&create_body("hostile_fields", "v"));
    event["rawQueryString"] = json!("a=b c&d=\"é\"");
    event["headers"]["host"] = json!("bad host/with spaces");
    let answer = app.call(&event).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
}

/// Authority fields lambda_http builds the request URL from: a Host with a bad port (which
/// panics in lambda_http's URL building when it is not caught first). Also the neighbours: a bad X-Forwarded-Proto, a path without
/// its leading slash and an invalid domain name.
#[tokio::test]
async fn hostile_authority_fields_never_panic() {
    let app = fresh_app().await;
    let cases = [
        (
            "headers",
            "Host",
            json!("xyz987wvut.execute-api.us-east-1.amazo:aws.com"),
        ),
        ("headers", "Host", json!("[::1")),
        ("headers", "Host", json!("999.1.1.1")),
        ("headers", "X-Forwarded-Proto", json!("ht tp")),
        // Url accepts a backtick in a host, http::Uri does not.
        (
            "headers",
            "Host",
            json!("xyz987wvut.ex`ecute-api.us-east-1.amazonaws.com"),
        ),
        ("requestContext", "domainName", json!("bad:port")),
    ];
    for (index, (section, field, value)) in cases.into_iter().enumerate() {
        let mut event = sample_event("rest-lambda-authorizer-create.json");
        event["body"] = json!(create_body(&format!("authority_{index}"), "v"));
        event["requestContext"]["requestId"] = json!(unique_request_id());
        event[section][field] = value.clone();
        let answer = app.call(&event).await;
        assert_eq!(answer.status, 201, "{field}={value}: {}", answer.text);
    }
    let mut no_slash = sample_event("rest-lambda-authorizer-create.json");
    no_slash["path"] = json!(":8080/x");
    assert_eq!(app.call(&no_slash).await.status, 404);
}
