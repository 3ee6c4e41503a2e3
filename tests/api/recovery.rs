//! Recoverable deletes and updates, restore, and deletes that are safe to retry, through the
//! handler on DynamoDB Local (the compiled `bootstrap` runs the same story in
//! `lambda_binary.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::crypto::{Cipher, EncryptedValue};
use org_secrets::domain::{OrgId, SecretName};
use org_secrets::reader::{ReadError, SecretReader};
use org_secrets::storage::{RecoverySlot, SecretStore};
use secrecy::ExposeSecret;

use crate::support::*;

const ORG: &str = "org_acme";

fn org() -> OrgId {
    OrgId::parse(ORG).unwrap()
}

fn name(raw: &str) -> SecretName {
    SecretName::parse(raw).unwrap()
}

/// The recovery copy of `raw` in `slot`, as stored.
async fn copy(
    store: &SecretStore,
    raw: &str,
    slot: RecoverySlot,
) -> Option<HashMap<String, AttributeValue>> {
    store.recovery_copy(&org(), &name(raw), slot).await.unwrap()
}

fn value_of(item: &HashMap<String, AttributeValue>) -> String {
    Cipher::from_key_list(KEY_A)
        .unwrap()
        .decrypt(&EncryptedValue::from_stored(
            attr(item, "encrypted_value").to_owned(),
        ))
        .unwrap()
        .expose_secret()
        .to_owned()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn expires_at(item: &HashMap<String, AttributeValue>) -> i64 {
    item["expires_at"].as_n().unwrap().parse().unwrap()
}

async fn read(store: &SecretStore, raw: &str) -> Result<String, ReadError> {
    SecretReader::new(store.clone(), Cipher::from_key_list(KEY_A).unwrap())
        .read(&org(), &name(raw))
        .await
        .map(|value| value.expose_secret().to_owned())
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
}

#[tokio::test]
async fn a_restore_brings_the_deleted_value_back_once() {
    let app = fresh_app().await;
    app.seed(ORG, "webhook", "whsec_1").await;
    assert_eq!(app.admin(ORG).delete("webhook").await.status, 200);

    let restored = app.admin(ORG).restore("webhook", None).await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(
        restored.json,
        serde_json::json!({"secret_name": "webhook", "restored": true,
            "created": null, "updated": null, "deleted": null})
    );
    assert_eq!(read(app.store(), "webhook").await.unwrap(), "whsec_1");
    assert_eq!(app.store().secret_count(&org()).await.unwrap(), 1);
    assert!(copy(app.store(), "webhook", RecoverySlot::Deleted)
        .await
        .is_none());
    let item = app.stored_item(ORG, "webhook").await.unwrap();
    assert_eq!(attr(&item, "restored_by"), "alice@acme.example");
    // `?version=deleted` is the default, spelled out.
    assert_eq!(app.admin(ORG).delete("webhook").await.status, 200);
    let spelled = app.admin(ORG).restore("webhook", Some("deleted")).await;
    assert_eq!(spelled.status, 200, "{}", spelled.text);

    // Nothing left to restore (already restored: the name is live, but there is nothing
    // to put over it), and never anything for an unknown name: 404, nothing written.
    assert_eq!(app.admin(ORG).delete("webhook").await.status, 200);
    assert_eq!(app.admin(ORG).restore("webhook", None).await.status, 200);
    let already = app.admin(ORG).restore("webhook", None).await;
    assert_eq!(already.status, 404, "{}", already.text);
    assert_eq!(already.json["error"]["code"], "nothing_to_restore");
    let unknown = app.admin(ORG).restore("never_existed", None).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.json["error"]["code"], "nothing_to_restore");
    assert_eq!(app.item_count().await, 1);
}

#[tokio::test]
async fn the_same_delete_request_twice_is_200_both_times_and_another_is_404() {
    let app = fresh_app().await;
    app.seed(ORG, "old_key", "v").await;
    let delete = admin(ORG).delete_event("old_key");
    let first = app.call(&delete).await;
    let second = app.call(&delete).await;
    assert_eq!((first.status, second.status), (200, 200), "{}", second.text);
    assert_eq!(second.json["deleted"], true);
    // A delete of its own (another request id) finds nothing: 404.
    let other = app.admin(ORG).delete("old_key").await;
    assert_eq!(other.status, 404, "{}", other.text);
    // Another actor repeating the request id is not the same request.
    let mut impostor = delete.clone();
    impostor["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] =
        serde_json::json!("someone-else");
    assert_eq!(app.call(&impostor).await.status, 404);
    // The kept value is the one deleted, once.
    let kept = copy(app.store(), "old_key", RecoverySlot::Deleted)
        .await
        .unwrap();
    assert_eq!(value_of(&kept), "v");
    assert_eq!(app.store().secret_count(&org()).await.unwrap(), 0);
    let never = app.admin(ORG).delete("never_existed").await;
    assert_eq!(never.status, 404);
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

/// Every value any item of the table holds (live secrets and recovery copies): what an
/// operator who turned recovery off must be able to trust is gone.
async fn every_value_in_the_table(store: &SecretStore) -> Vec<String> {
    let items = all_items(store).await;
    items
        .iter()
        .filter(|item| item.contains_key("encrypted_value"))
        .map(value_of)
        .collect()
}

/// Issue 19: with recovery off, a delete leaves no value of the secret anywhere in the
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

#[tokio::test]
async fn a_restore_counts_against_the_limit_and_keeps_the_copy_when_refused() {
    let store = fresh_store().await;
    let app = app_on(store, &[("MAX_SECRETS_PER_ORG", "1")]);
    app.seed(ORG, "a", "va").await;
    assert_eq!(app.admin(ORG).delete("a").await.status, 200);
    app.seed(ORG, "b", "vb").await;
    let refused = app.admin(ORG).restore("a", None).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "secret_limit_reached");
    assert!(copy(app.store(), "a", RecoverySlot::Deleted)
        .await
        .is_some());
    assert_eq!(app.admin(ORG).delete("b").await.status, 200);
    assert_eq!(app.admin(ORG).restore("a", None).await.status, 200);
    assert_eq!(read(app.store(), "a").await.unwrap(), "va");
}

#[tokio::test]
async fn restore_needs_admin_and_a_known_version() {
    let app = fresh_app().await;
    app.seed(ORG, "n", "v").await;
    assert_eq!(app.admin(ORG).delete("n").await.status, 200);
    let reader = app.reader(ORG).restore("n", None).await;
    assert_eq!(reader.status, 403);
    for version in ["Previous", "latest", "", "previous%00"] {
        let answer = app.admin(ORG).restore("n", Some(version)).await;
        assert_eq!(answer.status, 422, "{version:?}: {}", answer.text);
        assert!(!answer.text.contains("latest"), "the value is not echoed");
    }
    let mut twice = admin(ORG).restore_event("n", Some("previous"));
    twice["rawQueryString"] = serde_json::json!("version=previous&version=deleted");
    twice["queryStringParameters"] = serde_json::json!({ "version": "previous,deleted" });
    assert_eq!(app.call(&twice).await.status, 422);
    // None of those touched the kept copy.
    assert_eq!(app.admin(ORG).restore("n", None).await.status, 200);
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

#[tokio::test]
async fn restore_racing_create_has_one_winner_and_keeps_the_loser_recoverable() {
    let app = Arc::new(fresh_app().await);
    for round in 0..8 {
        let secret = format!("race_{round}");
        app.seed(ORG, &secret, "deleted_value").await;
        assert_eq!(app.admin(ORG).delete(&secret).await.status, 200);
        let body = create_body(&secret, "new_value");
        let (restored, created) = tokio::join!(
            app.admin(ORG).restore(&secret, None),
            app.admin(ORG).create_body(&body),
        );
        match (restored.status, created.status) {
            (200, 409) => {
                assert_eq!(read(app.store(), &secret).await.unwrap(), "deleted_value");
                assert!(copy(app.store(), &secret, RecoverySlot::Deleted)
                    .await
                    .is_none());
            }
            (409, 201) => {
                assert_eq!(read(app.store(), &secret).await.unwrap(), "new_value");
                let kept = copy(app.store(), &secret, RecoverySlot::Deleted).await;
                assert_eq!(value_of(&kept.unwrap()), "deleted_value");
            }
            other => panic!(
                "undocumented outcome {other:?}: {} / {}",
                restored.text, created.text
            ),
        }
    }
    assert_eq!(app.store().secret_count(&org()).await.unwrap(), 8);
}

#[tokio::test]
async fn two_restores_racing_restore_once() {
    let app = Arc::new(fresh_app().await);
    for round in 0..8 {
        let secret = format!("race_{round}");
        app.seed(ORG, &secret, "v").await;
        assert_eq!(app.admin(ORG).delete(&secret).await.status, 200);
        let (a, b) = tokio::join!(
            app.admin(ORG).restore(&secret, None),
            app.admin(ORG).restore(&secret, None),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        // The loser finds the name live and the copy gone (404), or reads between the
        // winner's two items (409); either way nothing is written twice.
        assert!(
            statuses == [200, 404] || statuses == [200, 409],
            "{statuses:?}: {} / {}",
            a.text,
            b.text
        );
        assert_eq!(read(app.store(), &secret).await.unwrap(), "v");
    }
    assert_eq!(app.store().secret_count(&org()).await.unwrap(), 8);

    // Two restores of the previous value racing: one swap, or two (each a documented
    // 200); never a value lost.
    app.seed(ORG, "swap", "v1").await;
    assert_eq!(app.admin(ORG).update("swap", "v2").await.status, 200);
    let (a, b) = tokio::join!(
        app.admin(ORG).restore("swap", Some("previous")),
        app.admin(ORG).restore("swap", Some("previous")),
    );
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.text, b.text);
    let live = read(app.store(), "swap").await.unwrap();
    let previous = value_of(
        &copy(app.store(), "swap", RecoverySlot::Previous)
            .await
            .unwrap(),
    );
    let mut both = [live, previous];
    both.sort();
    assert_eq!(both, ["v1".to_owned(), "v2".to_owned()]);
}

/// A client retrying through API Gateway sends a new request (a new request id): with the
/// same `Idempotency-Key` and subject it is still recognised, for delete, update and
/// restore, as for create.
#[tokio::test]
async fn a_client_retry_with_the_same_idempotency_key_is_recognised() {
    let app = fresh_app().await;
    app.seed(ORG, "keyed", "v1").await;
    let keyed = |event: serde_json::Value, key: &str| with_header(event, "idempotency-key", key);
    let fresh_id = |mut event: serde_json::Value| {
        event["requestContext"]["requestId"] = serde_json::json!(unique_request_id());
        event
    };

    // Update v1 -> v2 with key u-1, then the client's retry: 200, nothing written.
    let update = keyed(admin(ORG).update_event("keyed", &update_body("v2")), "u-1");
    assert_eq!(app.call(&update).await.status, 200);
    assert_eq!(app.call(&fresh_id(update.clone())).await.status, 200);
    let previous = copy(app.store(), "keyed", RecoverySlot::Previous)
        .await
        .unwrap();
    assert_eq!(value_of(&previous), "v1", "the retry did not write again");

    // Restore the previous value with key r-1, retried: swapped once.
    let restore = keyed(admin(ORG).restore_event("keyed", Some("previous")), "r-1");
    assert_eq!(app.call(&restore).await.status, 200);
    assert_eq!(app.call(&fresh_id(restore.clone())).await.status, 200);
    assert_eq!(read(app.store(), "keyed").await.unwrap(), "v1");

    // Delete with key d-1, retried: 200 twice. Another key, or no key, is a new delete: 404.
    let delete = keyed(admin(ORG).delete_event("keyed"), "d-1");
    assert_eq!(app.call(&delete).await.status, 200);
    assert_eq!(app.call(&fresh_id(delete.clone())).await.status, 200);
    assert_eq!(
        app.call(&keyed(admin(ORG).delete_event("keyed"), "d-2"))
            .await
            .status,
        404
    );
    assert_eq!(app.admin(ORG).delete("keyed").await.status, 404);
    // Another actor with the same key is not the same client.
    let mut impostor = fresh_id(delete.clone());
    impostor["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] =
        serde_json::json!("mallory@acme.example");
    assert_eq!(app.call(&impostor).await.status, 404);
    // Nor is a caller without a subject, whose key is never stored or matched.
    let mut anonymous = fresh_id(delete);
    anonymous["requestContext"]["authorizer"]["jwt"]["claims"]
        .as_object_mut()
        .unwrap()
        .remove("sub");
    assert_eq!(app.call(&anonymous).await.status, 404);
    // A malformed key is 422, and changes nothing.
    app.seed(ORG, "other", "v").await;
    let bad = with_header(admin(ORG).delete_event("other"), "idempotency-key", "");
    assert_eq!(app.call(&bad).await.status, 422);
    assert!(app.stored_item(ORG, "other").await.is_some());
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

/// Found in review: a retried delete (same key, new request id) after the name was
/// created again is the same delete, already done: 200, and the new secret stays.
#[tokio::test]
async fn a_retried_delete_does_not_delete_a_secret_created_since() {
    let app = fresh_app().await;
    app.seed(ORG, "r2", "v1").await;
    let delete = with_header(admin(ORG).delete_event("r2"), "idempotency-key", "d-1");
    assert_eq!(app.call(&delete).await.status, 200);
    app.seed(ORG, "r2", "v2").await;
    let mut retry = delete.clone();
    retry["requestContext"]["requestId"] = serde_json::json!(unique_request_id());
    for event in [&retry, &delete] {
        assert_eq!(app.call(event).await.status, 200);
        assert_eq!(read(app.store(), "r2").await.unwrap(), "v2");
    }
    // The kept deleted value is still the one the delete removed.
    let kept = copy(app.store(), "r2", RecoverySlot::Deleted)
        .await
        .unwrap();
    assert_eq!(value_of(&kept), "v1");
}

/// Found in review: a restore redelivered after a later delete is the same restore,
/// already done: 200, and the secret stays deleted.
#[tokio::test]
async fn a_redelivered_restore_does_not_undo_a_later_delete() {
    let app = fresh_app().await;
    app.seed(ORG, "r3", "v1").await;
    assert_eq!(app.admin(ORG).delete("r3").await.status, 200);
    let restore = admin(ORG).restore_event("r3", None);
    assert_eq!(app.call(&restore).await.status, 200);
    assert_eq!(app.admin(ORG).delete("r3").await.status, 200);
    assert_eq!(app.call(&restore).await.status, 200);
    assert!(app.stored_item(ORG, "r3").await.is_none());
    // The same for a restore of the previous value redelivered after a later update.
    app.seed(ORG, "r3b", "v1").await;
    assert_eq!(app.admin(ORG).update("r3b", "v2").await.status, 200);
    let back = admin(ORG).restore_event("r3b", Some("previous"));
    assert_eq!(app.call(&back).await.status, 200);
    assert_eq!(app.admin(ORG).update("r3b", "v3").await.status, 200);
    assert_eq!(app.call(&back).await.status, 200);
    assert_eq!(read(app.store(), "r3b").await.unwrap(), "v3");
}

/// Found in review: an update redelivered after a newer update, or after a delete, is
/// the same update, already done: 200, and the newer state stays.
#[tokio::test]
async fn a_redelivered_update_does_not_overwrite_a_later_change() {
    let app = fresh_app().await;
    app.seed(ORG, "r4", "v1").await;
    let update = admin(ORG).update_event("r4", &update_body("v2"));
    assert_eq!(app.call(&update).await.status, 200);
    assert_eq!(app.admin(ORG).update("r4", "v3").await.status, 200);
    assert_eq!(app.call(&update).await.status, 200);
    assert_eq!(read(app.store(), "r4").await.unwrap(), "v3");
    assert_eq!(app.admin(ORG).delete("r4").await.status, 200);
    assert_eq!(app.call(&update).await.status, 200);
    assert!(app.stored_item(ORG, "r4").await.is_none());
    // The same request id with another value is not this request: refused (issue 19:
    // the identity already names another change), nothing written.
    let other_value = admin(ORG).update_event("r4", &update_body("v9"));
    let mut same_id = other_value;
    same_id["requestContext"]["requestId"] = update["requestContext"]["requestId"].clone();
    let reused = app.call(&same_id).await;
    assert_eq!(reused.status, 409, "{}", reused.text);
    assert_eq!(reused.json["error"]["code"], "request_id_reused");
    assert!(app.stored_item(ORG, "r4").await.is_none());
}

/// Found in review: with recovery switched off, an update must not leave an older
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

/// Found in the second review: a change is recognised however many changes came after it
/// (within the replay horizon), through swaps, deletes, restores and with recovery off; a
/// redelivery never overwrites a newer state or loses a kept value.
#[tokio::test]
async fn a_redelivered_change_is_recognised_after_any_later_changes() {
    let app = fresh_app().await;
    let update_event = |name: &str, value: &str| {
        admin(ORG).event("PUT", &format!("/{name}"), Some(&update_body(value)))
    };

    // U1, U2, restore of the previous value, then U1 again: v3 stays recoverable.
    app.seed(ORG, "a", "v1").await;
    let u1 = update_event("a", "v2");
    assert_eq!(app.call(&u1).await.status, 200);
    assert_eq!(app.admin(ORG).update("a", "v3").await.status, 200);
    assert_eq!(
        app.admin(ORG).restore("a", Some("previous")).await.status,
        200
    );
    assert_eq!(app.call(&u1).await.status, 200);
    assert_eq!(read(app.store(), "a").await.unwrap(), "v2");
    let previous = copy(app.store(), "a", RecoverySlot::Previous)
        .await
        .unwrap();
    assert_eq!(value_of(&previous), "v3");

    // U1, U2, U3, then U1 again: v4 stays live.
    app.seed(ORG, "b", "v1").await;
    let u1 = update_event("b", "v2");
    assert_eq!(app.call(&u1).await.status, 200);
    for value in ["v3", "v4"] {
        assert_eq!(app.admin(ORG).update("b", value).await.status, 200);
    }
    assert_eq!(app.call(&u1).await.status, 200);
    assert_eq!(read(app.store(), "b").await.unwrap(), "v4");

    // A delete, a restore, then the delete again: the restored secret stays.
    app.seed(ORG, "c", "v1").await;
    let d1 = admin(ORG).delete_event("c");
    assert_eq!(app.call(&d1).await.status, 200);
    assert_eq!(app.admin(ORG).restore("c", None).await.status, 200);
    assert_eq!(app.call(&d1).await.status, 200);
    assert_eq!(read(app.store(), "c").await.unwrap(), "v1");

    // With recovery off: U1, U2, U1 again keeps v3; U1 after a delete is 200, not 404.
    let off = app_on(app.store().clone(), &[("RECOVERY_WINDOW_DAYS", "0")]);
    off.seed(ORG, "d", "v1").await;
    let u1 = update_event("d", "v2");
    assert_eq!(off.call(&u1).await.status, 200);
    assert_eq!(off.admin(ORG).update("d", "v3").await.status, 200);
    assert_eq!(off.call(&u1).await.status, 200);
    assert_eq!(read(off.store(), "d").await.unwrap(), "v3");
    assert_eq!(off.admin(ORG).delete("d").await.status, 200);
    assert_eq!(off.call(&u1).await.status, 200);
    assert!(off.stored_item(ORG, "d").await.is_none());

    // No item carries a ledger any more: each request has one change record instead, and
    // the redelivery wrote none.
    let item = app.stored_item(ORG, "b").await.unwrap();
    assert!(!item.contains_key("changes"));
}
