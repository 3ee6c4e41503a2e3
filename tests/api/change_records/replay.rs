//! Resends answered as the first time with nothing written: a client retry, an SDK retry,
//! a redelivery, a resend after later changes, after its record's plain attributes were
//! edited, across a key rotation, and the provisioning event delivered again and at once.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::domain::{OrgId, RequestId};
use org_secrets::rotation::{rotate_keys, RotationOptions};
use org_secrets::storage::RecoverySlot;
use serde_json::Value;

use crate::support::recovery::*;
use crate::support::*;

const CANARY: &str = "CANARY-change_records-replay-7e1a";

const ORG: &str = "org_acme";

/// An update retried before, during and after a key rotation (the old
/// key removed from ENCRYPTION_KEY at the end) is recognised: 200, nothing written, the
/// value it replaced still recoverable.
#[tokio::test]
async fn a_retried_update_is_recognised_across_a_key_rotation() {
    let store = fresh_store().await;
    let before = app_on(store.clone(), &[("ENCRYPTION_KEY", KEY_A)]);
    let during_keys = format!("{KEY_B},{KEY_A}");
    let during = app_on(store.clone(), &[("ENCRYPTION_KEY", &during_keys)]);
    let after = app_on(store.clone(), &[("ENCRYPTION_KEY", KEY_B)]);

    before.seed(ORG, "rotated", "v1").await;
    let update = admin(ORG).update_event("rotated", &update_body("v2"));
    assert_eq!(before.call(&update).await.status, 200);
    let live_token = || async {
        attr(
            &before.stored_item(ORG, "rotated").await.unwrap(),
            "encrypted_value",
        )
        .to_owned()
    };

    let stages: [(&str, &TestApp, bool); 3] = [
        ("before the rotation", &before, false),
        ("during it", &during, true),
        ("after the old key is removed", &after, false),
    ];
    for (stage, app, rotate_first) in stages {
        if rotate_first {
            let summary = rotate_keys(
                &store,
                &app.config().cipher,
                RotationOptions::default(),
                |_| {},
            )
            .await
            .unwrap();
            assert_eq!(summary.failed, 0, "{summary}");
        }
        let token = live_token().await;
        let again = app.call(&update).await;
        assert_eq!(again.status, 200, "{stage}: {}", again.text);
        assert_eq!(live_token().await, token, "{stage}: nothing written");
        assert_eq!(app.stored_value(ORG, "rotated").await, "v2", "{stage}");
        assert_eq!(
            recovery_value(app, ORG, "rotated", RecoverySlot::Previous)
                .await
                .as_deref(),
            Some("v1"),
            "{stage}"
        );
    }
}

/// Items written by versions with a change ledger or a create's idempotency key keep
/// working: the attributes are ignored, and dropped on the item's next write.
#[tokio::test]
async fn legacy_ledger_and_key_attributes_are_ignored_and_dropped_on_the_next_write() {
    let app = fresh_app().await;
    let store = app.store().clone();
    app.seed(ORG, "old", "v1").await;
    let mut item = app.stored_item(ORG, "old").await.unwrap();
    item.insert(
        "changes".to_owned(),
        AttributeValue::L(vec![AttributeValue::S("x".to_owned())]),
    );
    item.insert(
        "idempotency_key".to_owned(),
        AttributeValue::S("k".to_owned()),
    );
    put_raw_item(&store, item).await;
    assert_eq!(app.admin(ORG).update("old", "v2").await.status, 200);
    let live = app.stored_item(ORG, "old").await.unwrap();
    assert!(!live.contains_key("changes") && !live.contains_key("idempotency_key"));
    let org = OrgId::parse(ORG).unwrap();
    let name = org_secrets::domain::SecretName::parse("old").unwrap();
    let previous = store
        .recovery_copy(&org, &name, RecoverySlot::Previous)
        .await
        .unwrap()
        .unwrap();
    assert!(!previous.contains_key("changes") && !previous.contains_key("idempotency_key"));
    assert_eq!(
        app.admin(ORG).restore("old", Some("previous")).await.status,
        200
    );
    assert_eq!(app.stored_value(ORG, "old").await, "v1");
}

#[tokio::test]
async fn retry_of_our_own_write_is_201_and_a_stranger_gets_409() {
    let app = fresh_app().await;
    let event = admin("org_acme").create_event(&create_body("retried", "value"));
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
        history: app.config().history_retention,
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
        app.admin("org_acme")
            .create("retried", "value")
            .await
            .status,
        409
    );
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

/// A retried delete (same key, new request id) after the name was
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

/// A restore redelivered after a later delete is the same restore,
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

/// An update redelivered after a newer update, or after a delete, is
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
    // The same request id with another value is not this request: refused (the
    // identity already names another change), nothing written.
    let other_value = admin(ORG).update_event("r4", &update_body("v9"));
    let mut same_id = other_value;
    same_id["requestContext"]["requestId"] = update["requestContext"]["requestId"].clone();
    let reused = app.call(&same_id).await;
    assert_eq!(reused.status, 409, "{}", reused.text);
    assert_eq!(reused.json["error"]["code"], "request_id_reused");
    assert!(app.stored_item(ORG, "r4").await.is_none());
}

/// A change is recognised however many changes came after it
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

/// storage-contract.md, "Change records": "only its seal decides (its plain attributes are
/// for reading, and anyone who can write the table can change them)", and api.md: a resend
/// within 24 hours "writes nothing, whatever happened to the secret since". But the
/// record's put is conditional on `attribute_not_exists(org_id) OR replay_until < now`: a
/// genuine record whose plain `replay_until` was moved into the past is overwritten without
/// its seal being looked at, and the resend is done a second time. Here an update resent
/// after a newer update puts its old value back over the newer one, pushing the newer one
/// into the previous copy; `verify` reports nothing.
#[tokio::test]
async fn a_resend_writes_nothing_even_when_its_records_plain_replay_until_was_moved_back() {
    let app = fresh_app().await;
    let store = app.store().clone();
    app.seed(ORG, "t", "v1").await;
    let first = admin(ORG).update_event("t", &update_body("v2"));
    assert_eq!(app.call(&first).await.status, 200);
    let slot = record_slot(&app, ORG, Some(JWT_SUBJECT), &request_id_of(&first), None);
    set_attribute(
        &store,
        &slot,
        "replay_until",
        AttributeValue::N("0".to_owned()),
    )
    .await;
    assert_eq!(app.admin(ORG).update("t", "v3").await.status, 200);

    let again = app.call(&first).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        app.stored_value(ORG, "t").await,
        "v3",
        "the resend of the first update wrote its value again over the newer one"
    );
    assert_eq!(
        recovery_value(&app, ORG, "t", RecoverySlot::Previous)
            .await
            .as_deref(),
        Some("v2")
    );
}

/// Every kind of write made under KEY_A, then `rotate-keys --dry-run` (writes nothing),
/// `rotate-keys`, `verify` under KEY_B alone (no problem), and each write sent again by a
/// function that has only KEY_B: its first status, and not one item changed.
#[tokio::test]
async fn every_write_resent_after_rotation_and_the_old_keys_removal_gets_its_first_answer() {
    let store = fresh_store().await;
    let before_rotation = app_on(store.clone(), &[("ENCRYPTION_KEY", KEY_A)]);
    let after_rotation = app_on(store.clone(), &[("ENCRYPTION_KEY", KEY_B)]);
    let c1 = |value: &str| create_body("c1", &format!("{CANARY}-{value}"));
    let writes: Vec<(&str, Value, u16)> = vec![
        (
            "keyed create",
            with_header(admin(ORG).create_event(&c1("1")), "idempotency-key", "k-c1"),
            201,
        ),
        (
            "create by request id",
            admin(ORG).create_event(&create_body("c2", &format!("{CANARY}-2"))),
            201,
        ),
        (
            "update",
            admin(ORG).update_event("c2", &update_body(&format!("{CANARY}-3"))),
            200,
        ),
        (
            "restore previous",
            admin(ORG).restore_event("c2", Some("previous")),
            200,
        ),
        (
            "keyed delete",
            with_header(admin(ORG).delete_event("c1"), "idempotency-key", "k-d1"),
            200,
        ),
        ("restore deleted", admin(ORG).restore_event("c1", None), 200),
        (
            "direct delete",
            direct("DELETE", "/c1", None, "wf-1:delete:c1"),
            200,
        ),
    ];
    for (case, event, status) in &writes {
        let answer = deliver(&before_rotation, event).await.expect(case);
        assert_eq!(answer.status, *status, "{case}: {}", answer.text);
    }

    let keys = format!("{KEY_B},{KEY_A}");
    let before = snapshot(&store).await;
    let (code, dry) = secrets_admin(&store, &keys, &["rotate-keys", "--dry-run"], &[CANARY]);
    assert_eq!(code, Some(0), "{dry}");
    assert!(
        snapshot(&store).await == before,
        "the dry run wrote:\n{dry}"
    );
    let (code, rotated) = secrets_admin(&store, &keys, &["rotate-keys"], &[CANARY]);
    assert_eq!(code, Some(0), "{rotated}");
    assert!(rotated.contains("change records resealed 7"), "{rotated}");
    let (code, verified) = secrets_admin(&store, KEY_B, &["verify"], &[CANARY]);
    assert_eq!(code, Some(0), "{verified}");

    for (case, event, status) in &writes {
        let before = snapshot(&store).await;
        let answer = deliver(&after_rotation, event).await.expect(case);
        assert_eq!(answer.status, *status, "{case}: {}", answer.text);
        assert!(snapshot(&store).await == before, "{case}: the resend wrote");
    }
}

/// At least once is safe: the provisioning event delivered three times in a row, then eight
/// times at once (as to eight separate environments), makes one item holding the value
/// sent, counted once, and every delivery succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_provisioning_event_delivered_again_and_at_once_creates_one_item() {
    let event = sample_event("provisioning-create.json");
    let sent: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let sent_value = sent["secret_value"].as_str().unwrap();

    let app = fresh_app().await;
    for delivery in 1..=3 {
        let answer = deliver(&app, &event)
            .await
            .unwrap_or_else(|err| panic!("delivery {delivery}: {err:?}"));
        assert_eq!(answer.status, 201, "delivery {delivery}");
        assert_eq!(answer.json["created"], true, "delivery {delivery}");
    }
    assert_eq!(app.item_count().await, 1);
    assert_eq!(
        app.stored_value("org_acme", "webhook_signing_secret").await,
        sent_value
    );

    let app = Arc::new(fresh_app().await);
    let deliveries: Vec<_> = (0..8)
        .map(|_| {
            let (app, event) = (Arc::clone(&app), event.clone());
            tokio::spawn(async move { deliver_with_retries(&app, &event).await.map(|a| a.status) })
        })
        .collect();
    for delivery in deliveries {
        let outcome = delivery.await.unwrap();
        assert!(matches!(outcome, Ok(201)), "{outcome:?}");
    }
    assert_eq!(app.item_count().await, 1);
    assert_eq!(
        app.stored_value("org_acme", "webhook_signing_secret").await,
        sent_value
    );
    assert_eq!(
        app.store()
            .secret_count(&OrgId::parse("org_acme").unwrap())
            .await
            .unwrap(),
        1
    );
}
