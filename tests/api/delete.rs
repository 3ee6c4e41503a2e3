//! Delete (`DELETE /v1/organizations/secrets/{name}`): the item goes, the name is free at
//! once, the value is kept for the recovery window (or not, with recovery off), and the
//! per-organization count is freed.

use std::sync::Arc;

use org_secrets::domain::OrgId;
use org_secrets::reader::ReadError;
use org_secrets::storage::RecoverySlot;
use serde_json::json;

use crate::support::recovery::*;
use crate::support::*;

#[tokio::test]
async fn delete_removes_the_item() {
    let app = fresh_app().await;
    app.seed("org_acme", "old_api_key", "v").await;
    let answer = app.admin("org_acme").delete("old_api_key").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json,
        json!({"secret_name": "old_api_key", "created": null, "updated": null, "deleted": true})
    );
    assert!(app.stored_item("org_acme", "old_api_key").await.is_none());
    let again = app.admin("org_acme").delete("old_api_key").await;
    assert_eq!(again.status, 404);
    // The name is free again.
    app.seed("org_acme", "old_api_key", "v2").await;
}

#[tokio::test]
async fn a_delete_keeps_the_value_until_the_windows_end_and_frees_the_name_at_once() {
    let app = fresh_app().await;
    app.seed(ORG, "stripe_api_key", "sk_live_first").await;
    app.seed(ORG, "github_token", "ghp_kept").await;
    let before = now();
    let deleted = app.admin(ORG).delete("stripe_api_key").await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);

    // Kept, with the window's end as its TTL (default 7 days).
    let kept = copy(app.store(), "stripe_api_key", RecoverySlot::Deleted)
        .await
        .expect("a deleted copy");
    assert_eq!(value_of(&kept), "sk_live_first");
    let window = 7 * 24 * 60 * 60;
    assert!((before + window..=now() + window).contains(&expires_at(&kept)));
    assert_eq!(attr(&kept, "removed_by"), "alice@acme.example");

    // Gone for everyone else: not listed, not read, not counted.
    let list = app.reader(ORG).list().await;
    assert_eq!(list.json["secrets"], serde_json::json!(["github_token"]));
    assert_eq!(list.json["count"], 1);
    assert_eq!(
        read(app.store(), "stripe_api_key").await,
        Err(ReadError::NotFound)
    );
    assert_eq!(app.store().secret_count(&org()).await.unwrap(), 1);
    assert_eq!(app.item_count().await, 1);

    // The name is free at once.
    let again = app
        .admin(ORG)
        .create("stripe_api_key", "sk_live_second")
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(
        read(app.store(), "stripe_api_key").await.unwrap(),
        "sk_live_second"
    );
    // Restoring now would overwrite the new secret: 409, and both values stay.
    let blocked = app.admin(ORG).restore("stripe_api_key", None).await;
    assert_eq!(blocked.status, 409, "{}", blocked.text);
    assert_eq!(blocked.json["error"]["code"], "secret_name_taken");
    assert!(copy(app.store(), "stripe_api_key", RecoverySlot::Deleted)
        .await
        .is_some());
    assert_eq!(
        read(app.store(), "stripe_api_key").await.unwrap(),
        "sk_live_second"
    );

    // A configured window (RECOVERY_WINDOW_DAYS) is the kept copy's TTL.
    let app = app_on(fresh_store().await, &[("RECOVERY_WINDOW_DAYS", "3")]);
    app.seed(ORG, "stripe_api_key", "sk_live_first").await;
    let before = now();
    assert_eq!(app.admin(ORG).delete("stripe_api_key").await.status, 200);
    let kept = copy(app.store(), "stripe_api_key", RecoverySlot::Deleted)
        .await
        .expect("a deleted copy");
    let window = 3 * 24 * 60 * 60;
    assert!((before + window..=now() + window).contains(&expires_at(&kept)));
}

/// With recovery off, a delete leaves no value of the secret anywhere in the
/// table: not the live item, not its previous value, not an older deleted copy kept from
/// before recovery was turned off. A retried delete is still recognised (by its change
/// record), and nothing is restorable.
#[tokio::test]
async fn with_recovery_off_a_delete_leaves_no_value_of_the_secret_and_updates_keep_nothing() {
    let store = fresh_store().await;
    // Recovery on: an older life of the name is deleted (a deleted copy), the name is
    // created again and updated (a previous copy).
    let on = app_on(store.clone(), &[]);
    on.seed(ORG, "gone", "sk_first_life").await;
    assert_eq!(on.admin(ORG).delete("gone").await.status, 200);
    on.seed(ORG, "gone", "sk_gone").await;
    assert_eq!(on.admin(ORG).update("gone", "sk_gone_2").await.status, 200);
    let before = every_value_in_the_table(&store).await;
    for value in ["sk_first_life", "sk_gone", "sk_gone_2"] {
        assert!(before.iter().any(|v| v == value), "{value} before");
    }
    // Recovery off: an update keeps nothing, a delete leaves nothing.
    let off = app_on(store.clone(), &[("RECOVERY_WINDOW_DAYS", "0")]);
    assert_eq!(off.admin(ORG).update("gone", "sk_gone_3").await.status, 200);
    assert!(copy(off.store(), "gone", RecoverySlot::Previous)
        .await
        .is_none());
    let delete = admin(ORG).delete_event("gone");
    assert_eq!(off.call(&delete).await.status, 200);
    assert_eq!(every_value_in_the_table(&store).await, Vec::<String>::new());
    for slot in [RecoverySlot::Deleted, RecoverySlot::Previous] {
        assert!(copy(off.store(), "gone", slot).await.is_none(), "{slot:?}");
    }
    // Still safe to retry, and nothing to restore.
    let again = off.call(&delete).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["deleted"], true);
    for version in [None, Some("previous")] {
        let restore = off.admin(ORG).restore("gone", version).await;
        assert_eq!(restore.status, 404, "{version:?}: {}", restore.text);
    }
}

/// Only the most recent deleted value of a name is kept: after a 409 (a new secret holds
/// the name), the deleted value stays recoverable until the name's next delete, which
/// keeps the value it deletes instead. The 409's message says so.
#[tokio::test]
async fn the_next_delete_of_a_name_replaces_its_kept_deleted_value() {
    let app = fresh_app().await;
    app.seed(ORG, "r1", "v1").await;
    assert_eq!(app.admin(ORG).delete("r1").await.status, 200);
    app.seed(ORG, "r1", "v2").await;
    let blocked = app.admin(ORG).restore("r1", None).await;
    assert_eq!(blocked.status, 409, "{}", blocked.text);
    let message = blocked.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("next delete replaces it"), "{message}");
    assert!(!message.contains("delete it before"), "{message}");
    assert_eq!(app.admin(ORG).delete("r1").await.status, 200);
    assert_eq!(app.admin(ORG).restore("r1", None).await.status, 200);
    assert_eq!(read(app.store(), "r1").await.unwrap(), "v2");
}

/// Racing writers: every outcome is a documented answer, and every value that was written
/// is still either live or kept as a recovery copy.
#[tokio::test]
async fn delete_racing_update_loses_no_value() {
    let app = Arc::new(fresh_app().await);
    for round in 0..8 {
        let secret = format!("race_{round}");
        app.seed(ORG, &secret, "v1").await;
        let body = update_body("v2");
        let (deleted, updated) = tokio::join!(
            app.admin(ORG).delete(&secret),
            app.admin(ORG).update_body(&secret, &body),
        );
        assert_eq!(deleted.status, 200, "{}", deleted.text);
        assert!(
            [200, 404].contains(&updated.status),
            "update: {}",
            updated.text
        );
        assert!(app.stored_item(ORG, &secret).await.is_none());
        let kept = value_of(
            &copy(app.store(), &secret, RecoverySlot::Deleted)
                .await
                .unwrap(),
        );
        if updated.status == 200 {
            // The update came first: the delete kept v2, the update kept v1.
            assert_eq!(kept, "v2");
            let previous = copy(app.store(), &secret, RecoverySlot::Previous).await;
            assert_eq!(value_of(&previous.unwrap()), "v1");
        } else {
            assert_eq!(kept, "v1");
        }
    }
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
