//! Update (`PUT /v1/organizations/secrets/{name}`): the value replaced, the created fields
//! kept, the previous value kept for recovery, a missing secret 404, and racing writes.

use std::sync::Arc;

use org_secrets::crypto::EncryptedValue;
use org_secrets::storage::RecoverySlot;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::support::recovery::*;
use crate::support::*;

#[tokio::test]
async fn update_replaces_the_value_and_keeps_created_fields() {
    let app = fresh_app().await;
    app.seed("org_acme", "github_token", "old-value").await;
    let before = app.stored_item("org_acme", "github_token").await.unwrap();

    let body = update_body("new-value");
    let answer = app
        .admin("org_acme")
        .update_body("github_token", &body)
        .await;
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
            .call(&admin("org_acme").event(method, "/nope", body))
            .await;
        assert_eq!(answer.status, 404, "{method}: {}", answer.text);
        assert_eq!(answer.json["error"]["type"], "NotFoundError");
        assert_eq!(answer.json["error"]["code"], "secret_not_found");
    }
    // Another organization's secret is missing too, from here.
    app.seed("org_b", "theirs", "v").await;
    let answer = app.admin("org_acme").delete("theirs").await;
    assert_eq!(answer.status, 404);
    let answer = app.admin("org_acme").update_body("theirs", &body).await;
    assert_eq!(answer.status, 404);
    assert_eq!(app.stored_value("org_b", "theirs").await, "v");
    assert_eq!(
        app.item_count().await,
        1,
        "update of a missing secret must not create it"
    );
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
        let answer = app.admin("org_acme").update_body("k", body).await;
        assert_eq!(answer.status, 422, "{body:?}");
        assert_eq!(answer.json["detail"][0]["type"], kind, "{body:?}");
    }
    let big = json!({"secret_value": "x".repeat(65_537)}).to_string();
    assert_eq!(
        app.admin("org_acme").update_body("k", &big).await.status,
        422
    );
    assert_eq!(app.stored_value("org_acme", "k").await, "original");
}

#[tokio::test]
async fn an_update_keeps_the_previous_value_and_restore_swaps_it_back() {
    let app = fresh_app().await;
    app.seed(ORG, "api_key", "v1").await;
    // Nothing replaced yet.
    let early = app.admin(ORG).restore("api_key", Some("previous")).await;
    assert_eq!(early.status, 404, "{}", early.text);

    let update = admin(ORG).update_event("api_key", &update_body("v2"));
    // The same update request twice (an SDK retry after a lost response): the second
    // writes nothing, so the previous value is still v1, not v2.
    assert_eq!(app.call(&update).await.status, 200);
    let retried = app.call(&update).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    let previous = copy(app.store(), "api_key", RecoverySlot::Previous)
        .await
        .unwrap();
    assert_eq!(value_of(&previous), "v1");
    assert_eq!(attr(&previous, "removed_by"), "alice@acme.example");

    let back = app.admin(ORG).restore("api_key", Some("previous")).await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(back.json["restored"], true);
    assert_eq!(read(app.store(), "api_key").await.unwrap(), "v1");
    // The value it replaced is now the previous one: a restore can be undone.
    let undo = app.admin(ORG).restore("api_key", Some("previous")).await;
    assert_eq!(undo.status, 200);
    assert_eq!(read(app.store(), "api_key").await.unwrap(), "v2");
    // The same restore request twice swaps once.
    let restore = admin(ORG).restore_event("api_key", Some("previous"));
    assert_eq!(app.call(&restore).await.status, 200);
    assert_eq!(app.call(&restore).await.status, 200);
    assert_eq!(read(app.store(), "api_key").await.unwrap(), "v1");
    // Restores never change the count.
    assert_eq!(app.store().secret_count(&org()).await.unwrap(), 1);
}

#[tokio::test]
async fn a_previous_value_belongs_to_its_secret_not_to_a_new_one_of_the_same_name() {
    let app = fresh_app().await;
    app.seed(ORG, "token", "old_lineage_1").await;
    assert_eq!(
        app.admin(ORG).update("token", "old_lineage_2").await.status,
        200
    );
    assert_eq!(app.admin(ORG).delete("token").await.status, 200);
    app.seed(ORG, "token", "new_secret").await;
    let answer = app.admin(ORG).restore("token", Some("previous")).await;
    assert_eq!(answer.status, 404, "{}", answer.text);
    assert_eq!(read(app.store(), "token").await.unwrap(), "new_secret");
    // Previous of a deleted secret: nothing live to restore it into.
    assert_eq!(app.admin(ORG).delete("token").await.status, 200);
    let deleted = app.admin(ORG).restore("token", Some("previous")).await;
    assert_eq!(deleted.status, 404);
}

/// With recovery switched off, an update must not leave an older
/// previous value standing in for the one it replaced.
#[tokio::test]
async fn turning_recovery_off_drops_the_older_previous_value_at_the_next_update() {
    let store = fresh_store().await;
    let on = app_on(store.clone(), &[]);
    on.seed(ORG, "r9", "v1").await;
    assert_eq!(on.admin(ORG).update("r9", "v2").await.status, 200);
    assert!(copy(on.store(), "r9", RecoverySlot::Previous)
        .await
        .is_some());
    let off = app_on(store, &[("RECOVERY_WINDOW_DAYS", "0")]);
    assert_eq!(off.admin(ORG).update("r9", "v3").await.status, 200);
    assert!(copy(off.store(), "r9", RecoverySlot::Previous)
        .await
        .is_none());
    assert_eq!(
        off.admin(ORG).restore("r9", Some("previous")).await.status,
        404
    );
}

/// create, update and delete of one name racing: whatever is stored at the end was
/// written by a request that was acknowledged. A request answered 503 is sent again, as
/// its `Retry-After` asks: a write that did commit before the 503 is then answered as the
/// first time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interleaved_create_update_delete_never_store_an_unacknowledged_value() {
    let app = Arc::new(fresh_app().await);
    let tasks: Vec<_> = (0..48)
        .map(|i| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let value = format!("value-{i}");
                let (event, ok_status) = match i % 3 {
                    0 => (
                        admin("org_acme").create_event(&create_body("raced", &value)),
                        201,
                    ),
                    1 => {
                        let body = update_body(&value);
                        (admin("org_acme").update_event("raced", &body), 200)
                    }
                    _ => (admin("org_acme").delete_event("raced"), 200),
                };
                let answer = app.call_as_client(&event).await;
                let status = answer.status;
                assert!(
                    [200, 201, 404, 409].contains(&status),
                    "unexpected {status}: {}",
                    answer.text
                );
                (i % 3 != 2 && status == ok_status).then_some(value)
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for task in tasks {
        if let Some(value) = task.await.unwrap() {
            acknowledged.push(value);
        }
    }
    if let Some(item) = app.stored_item("org_acme", "raced").await {
        let value = app
            .config()
            .cipher
            .decrypt(&EncryptedValue::from_stored(
                attr(&item, "encrypted_value").to_owned(),
            ))
            .unwrap();
        assert!(
            acknowledged.iter().any(|v| v == value.expose_secret()),
            "stored value was never acknowledged"
        );
    }
}
