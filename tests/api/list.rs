//! List (`GET /v1/organizations/secrets`): sorted names of the caller's organization, every
//! page, and a response that stays under Lambda's limit at the organization's limit.

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use lambda_http::http::StatusCode;
use lambda_http::request::RequestOrigin;
use lambda_http::{Body, Response};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn list_returns_sorted_names_of_the_callers_org_only() {
    let app = fresh_app().await;
    for (org, name) in [
        ("org_a", "zeta"),
        ("org_a", "alpha"),
        ("org_a", "Mid"),
        ("org_b", "other_org_secret"),
    ] {
        app.seed(org, name, &format!("VALUE-{name}")).await;
    }
    let answer = app.reader("org_a").list().await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(
        answer.json,
        json!({"secrets": ["Mid", "alpha", "zeta"], "count": 3})
    );
    assert!(!answer.text.contains("VALUE-"));
    let other = app.reader("org_b").list().await;
    assert_eq!(
        other.json,
        json!({"secrets": ["other_org_secret"], "count": 1})
    );
    let empty = app.reader("org_c").list().await;
    assert_eq!(empty.json, json!({"secrets": [], "count": 0}));
}

/// DynamoDB returns at most 1 MB per query page; an org with more still lists completely.
#[tokio::test]
async fn list_follows_every_page_past_one_megabyte() {
    let app = fresh_app().await;
    let big_value = "v".repeat(60_000); // an ~80 KB token per item
    let count = 20; // ~1.6 MB in all
    for i in 0..count {
        app.seed("org_big", &format!("secret_{i:03}"), &big_value)
            .await;
    }
    // Prove the data really spans pages: one raw query stops early.
    let first_page = app
        .store()
        .client()
        .query()
        .table_name(app.store().table().as_str())
        // From the first name on, as list reads: the names' version items sort first.
        .key_condition_expression("org_id = :o AND secret_name >= :first")
        .expression_attribute_values(
            ":o",
            aws_sdk_dynamodb::types::AttributeValue::S("org_big".into()),
        )
        .expression_attribute_values(
            ":first",
            aws_sdk_dynamodb::types::AttributeValue::S(" ".into()),
        )
        .projection_expression("secret_name")
        .send()
        .await
        .unwrap();
    assert!(
        first_page.last_evaluated_key.is_some(),
        "test data should exceed one page"
    );
    assert!((first_page.count as usize) < count);

    let answer = app.reader("org_big").list().await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["count"], count);
    let expected: Vec<String> = (0..count).map(|i| format!("secret_{i:03}")).collect();
    assert_eq!(answer.json["secrets"], json!(expected));
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
