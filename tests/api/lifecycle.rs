//! List, update, delete and idempotent create, through the handler, on DynamoDB Local.

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
    let answer = app.list("org_a", "READ").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(
        answer.json,
        json!({"secrets": ["Mid", "alpha", "zeta"], "count": 3})
    );
    assert!(!answer.text.contains("VALUE-"));
    let other = app.list("org_b", "READ").await;
    assert_eq!(
        other.json,
        json!({"secrets": ["other_org_secret"], "count": 1})
    );
    let empty = app.list("org_c", "READ").await;
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
        .key_condition_expression("org_id = :o")
        .expression_attribute_values(
            ":o",
            aws_sdk_dynamodb::types::AttributeValue::S("org_big".into()),
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

    let answer = app.list("org_big", "READ").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["count"], count);
    let expected: Vec<String> = (0..count).map(|i| format!("secret_{i:03}")).collect();
    assert_eq!(answer.json["secrets"], json!(expected));
}

#[tokio::test]
async fn update_replaces_the_value_and_keeps_created_fields() {
    let app = fresh_app().await;
    app.seed("org_acme", "github_token", "old-value").await;
    let before = app.stored_item("org_acme", "github_token").await.unwrap();

    let body = update_body("new-value");
    let answer = app.update("org_acme", "ADMIN", "github_token", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json,
        json!({"secret_name": "github_token", "created": null, "updated": true, "deleted": null})
    );
    assert!(!answer.text.contains("new-value"));
    let after = app.stored_item("org_acme", "github_token").await.unwrap();
    assert_eq!(attr(&after, "created_at"), attr(&before, "created_at"));
    assert_eq!(attr(&after, "created_by"), attr(&before, "created_by"));
    assert_eq!(attr(&after, "updated_by"), "alice@acme.example");
    assert!(attr(&after, "updated_at").ends_with('Z'));
    assert_eq!(
        app.stored_value("org_acme", "github_token").await,
        "new-value"
    );
}

#[tokio::test]
async fn update_and_delete_of_missing_secrets_are_404() {
    let app = fresh_app().await;
    let body = update_body("v");
    for (method, body) in [("PUT", Some(body.as_str())), ("DELETE", None)] {
        let answer = app
            .call(&op_event(method, "/nope", "org_acme", "ADMIN", body))
            .await;
        assert_eq!(answer.status, 404, "{method}: {}", answer.text);
        assert_eq!(answer.json["error"]["type"], "NotFoundError");
        assert_eq!(answer.json["error"]["code"], "secret_not_found");
    }
    // Another organization's secret is missing too, from here.
    app.seed("org_b", "theirs", "v").await;
    let answer = app.delete("org_acme", "ADMIN", "theirs").await;
    assert_eq!(answer.status, 404);
    let answer = app.update("org_acme", "ADMIN", "theirs", &body).await;
    assert_eq!(answer.status, 404);
    assert_eq!(app.stored_value("org_b", "theirs").await, "v");
    assert_eq!(
        app.item_count().await,
        1,
        "update of a missing secret must not create it"
    );
}

#[tokio::test]
async fn delete_removes_the_item() {
    let app = fresh_app().await;
    app.seed("org_acme", "old_api_key", "v").await;
    let answer = app.delete("org_acme", "ADMIN", "old_api_key").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json,
        json!({"secret_name": "old_api_key", "created": null, "updated": null, "deleted": true})
    );
    assert!(app.stored_item("org_acme", "old_api_key").await.is_none());
    let again = app.delete("org_acme", "ADMIN", "old_api_key").await;
    assert_eq!(again.status, 404);
    // The name is free again.
    app.seed("org_acme", "old_api_key", "v2").await;
}

#[tokio::test]
async fn path_names_are_percent_decoded_and_validated() {
    let app = fresh_app().await;
    app.seed("org_acme", "weather key ☃", "v").await;
    let body = update_body("v2");
    let answer = app
        .update("org_acme", "ADMIN", "weather%20key%20%E2%98%83", &body)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["secret_name"], "weather key ☃");
    for bad in [
        "/%FF",
        "/%zz",
        "/line%0Abreak",
        &format!("/{}", "n".repeat(101)),
    ] {
        let answer = app
            .call(&op_event("DELETE", bad, "org_acme", "ADMIN", None))
            .await;
        assert_eq!(answer.status, 422, "{bad}: {}", answer.text);
        assert_eq!(
            answer.json["detail"][0]["loc"],
            json!(["path", "secret_name"])
        );
    }
    let nested = app.delete("org_acme", "ADMIN", "a/b").await;
    assert_eq!(nested.status, 404);
}

#[tokio::test]
async fn update_body_is_validated_and_changes_nothing_when_invalid() {
    let app = fresh_app().await;
    app.seed("org_acme", "k", "original").await;
    for (body, kind) in [
        ("", "missing"),
        ("{}", "missing"),
        (r#"{"secret_value": ""}"#, "string_too_short"),
        (r#"{"secret_value": 5}"#, "string_type"),
    ] {
        let answer = app.update("org_acme", "ADMIN", "k", body).await;
        assert_eq!(answer.status, 422, "{body:?}");
        assert_eq!(answer.json["detail"][0]["type"], kind, "{body:?}");
    }
    let big = json!({"secret_value": "x".repeat(65_537)}).to_string();
    assert_eq!(app.update("org_acme", "ADMIN", "k", &big).await.status, 422);
    assert_eq!(app.stored_value("org_acme", "k").await, "original");
}

#[tokio::test]
async fn item_route_allows_get_put_and_delete_only() {
    let app = fresh_app().await;
    for method in ["POST", "PATCH", "HEAD"] {
        let answer = app
            .call(&op_event(method, "/k", "org_acme", "ADMIN", None))
            .await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.headers["allow"], "DELETE, GET, PUT");
    }
}

/// The hierarchy ADMIN > DELETE > WRITE > READ on all four operations: list needs READ,
/// the rest need ADMIN.
#[tokio::test]
async fn permission_hierarchy_on_all_four_operations() {
    let app = fresh_app().await;
    app.seed("org_acme", "existing", "v").await;
    let changed = update_body("changed");
    for permission in ["READ", "WRITE", "DELETE", "ADMIN"] {
        let is_admin = permission == "ADMIN";
        let list = app.list("org_acme", permission).await;
        assert_eq!(list.status, 200, "{permission} list");
        let describe = app
            .call(&op_event("GET", "/existing", "org_acme", permission, None))
            .await;
        assert_eq!(describe.status, 200, "{permission} describe");

        let create_body = create_body(&format!("new_{permission}"), "v");
        let created = app.create("org_acme", permission, &create_body).await;
        let update = app
            .update("org_acme", permission, "existing", &changed)
            .await;
        let (expected_write, expected_delete) = if is_admin { (200, 200) } else { (403, 403) };
        assert_eq!(
            created.status,
            if is_admin { 201 } else { 403 },
            "{permission} create"
        );
        assert_eq!(update.status, expected_write, "{permission} update");
        if !is_admin {
            assert_eq!(
                update.json["error"]["details"]["required_permission"],
                "ADMIN"
            );
        }
        let delete = app.delete("org_acme", permission, "existing").await;
        assert_eq!(delete.status, expected_delete, "{permission} delete");
    }
    // No permission at all: authenticated, but even list is forbidden.
    let nothing = app.list("org_acme", "NOT_READ").await;
    assert_eq!(nothing.status, 403);
    let anonymous = {
        let mut event = op_event("GET", "", "org_acme", "READ", None);
        event["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        app.call(&event).await
    };
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn idempotent_create_replays_the_same_request() {
    let app = fresh_app().await;
    let body = create_body("stripe_api_key", "sk_live_1");
    let first = app.create_keyed("org_acme", "ADMIN", &body, "key-1").await;
    assert_eq!(first.status, 201, "{}", first.text);
    // A client retry: a new API Gateway request id, the same key and value.
    let retry = app.create_keyed("org_acme", "ADMIN", &body, "key-1").await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.json, first.json);
    assert_eq!(app.item_count().await, 1);
}

#[tokio::test]
async fn idempotency_key_reused_with_another_value_is_409() {
    let app = fresh_app().await;
    let first = create_body("stripe_api_key", "sk_live_1");
    let other = create_body("stripe_api_key", "sk_live_2");
    let created = app.create_keyed("org_acme", "ADMIN", &first, "key-1").await;
    assert_eq!(created.status, 201);
    let reused = app.create_keyed("org_acme", "ADMIN", &other, "key-1").await;
    assert_eq!(reused.status, 409, "{}", reused.text);
    assert_eq!(reused.json["error"]["code"], "idempotency_key_reused");
    assert!(!reused.text.contains("sk_live"));
    // A different key for a taken name is a plain conflict.
    let other_key = app.create_keyed("org_acme", "ADMIN", &first, "key-2").await;
    assert_eq!(other_key.json["error"]["code"], "secret_name_taken");
    assert_eq!(
        app.stored_value("org_acme", "stripe_api_key").await,
        "sk_live_1"
    );
}

#[tokio::test]
async fn without_a_key_a_duplicate_is_a_plain_409() {
    let app = fresh_app().await;
    let body = create_body("stripe_api_key", "sk_live_1");
    let keyed = app.create_keyed("org_acme", "ADMIN", &body, "key-1").await;
    assert_eq!(keyed.status, 201);
    let unkeyed = app.create("org_acme", "ADMIN", &body).await;
    assert_eq!(unkeyed.status, 409);
    assert_eq!(unkeyed.json["error"]["code"], "secret_name_taken");
}

/// A keyed create retried after the secret changed gets its first answer (201) and writes
/// nothing: its change record, not the item, recognises it (issue 19).
#[tokio::test]
async fn a_late_retry_of_a_keyed_create_gets_its_first_answer_and_writes_nothing() {
    let app = fresh_app().await;
    let body = create_body("k", "v1");
    let keyed = || app.create_keyed("org_acme", "ADMIN", &body, "key-1");
    assert_eq!(keyed().await.status, 201);
    let update = update_body("v2");
    assert_eq!(
        app.update("org_acme", "ADMIN", "k", &update).await.status,
        200
    );
    let late_retry = keyed().await;
    assert_eq!(late_retry.status, 201, "{}", late_retry.text);
    assert_eq!(app.stored_value("org_acme", "k").await, "v2");
}

#[tokio::test]
async fn invalid_idempotency_keys_are_422() {
    let app = fresh_app().await;
    let body = create_body("k", "v");
    for bad in ["", "has space", &"k".repeat(256)] {
        let answer = app.create_keyed("org_acme", "ADMIN", &body, bad).await;
        assert_eq!(answer.status, 422, "{bad:?}");
        assert_eq!(
            answer.json["detail"][0]["loc"],
            json!(["header", "idempotency-key"])
        );
    }
    assert_eq!(app.item_count().await, 0);
}
