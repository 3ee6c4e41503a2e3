//! Change records judged by their seal: a value's token, a forged record or ledger entry,
//! or an edited plain attribute never makes a change count as done, and `secrets-admin
//! verify` names them. Also duplicates delivered at once, resends at the limit, and the
//! counter under racing writes and duplicates.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::domain::{OrgId, RequestId};
use org_secrets::storage::{RecoverySlot, SecretStore};
use serde_json::{json, Value};

use crate::support::recovery::*;
use crate::support::seals::*;
use crate::support::*;

const ORG: &str = "org_acme";
const PROVISIONING: &str = "provisioning:org-onboarding";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn scan(store: &SecretStore) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .scan()
            .table_name(store.table().as_str())
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan");
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(next) if !next.is_empty() => start = Some(next),
            _ => return items,
        }
    }
}

async fn count(app: &TestApp, org: &str) -> u64 {
    app.store()
        .secret_count(&OrgId::parse(org).unwrap())
        .await
        .unwrap()
}

async fn live_names(app: &TestApp, org: &str) -> Vec<String> {
    let listed = app.admin(org).list().await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    serde_json::from_value(listed.json["secrets"].clone()).unwrap()
}

/// SECURITY.md: "A writer without the key ... cannot forge a change record: a record whose
/// seal does not open, or names another request ... never makes a request count as done".
/// A seal and a secret value's token are both Fernet tokens under the same key, and an ADMIN
/// chooses the bytes of a value. The attack: an ADMIN of any organization (here `org_evil`)
/// who can also write the table (no key needed) stores the facts of someone else's future
/// request as a secret value, and copies the resulting `encrypted_value` into that
/// request's record slot, so that the victim's delete (a provisioning workflow's, whose
/// request id is derived from its upstream event) would be answered 200 "deleted" with the
/// credential still live. The copied token must never count as a seal.
#[tokio::test]
async fn a_secret_values_token_is_never_taken_for_a_change_records_seal() {
    let app = fresh_app().await;
    let store = app.store().clone();
    app.seed(ORG, "leaked_credential", "sk_live_leaked").await;
    let victim_id = "evb-7c1a8f5e:delete:leaked_credential";

    // The attacker's own organization: a value that is exactly the facts of the victim's
    // delete (delete records seal no digest, so the bytes are all known).
    let facts = sealed_delete_facts(
        ORG,
        victim_id,
        &sealed_actor(PROVISIONING),
        "leaked_credential",
        now(),
    );
    let value = String::from_utf8(facts).expect("short fields: UTF-8");
    let planted = app.admin("org_evil").create("carrier", &value).await;
    assert_eq!(planted.status, 201, "{}", planted.text);

    // Table write access only: copy that token into the victim's slot.
    let token = attr(
        &app.stored_item("org_evil", "carrier").await.unwrap(),
        "encrypted_value",
    )
    .to_owned();
    let (partition, sort) = record_slot(&app, ORG, Some(PROVISIONING), victim_id, None);
    put_raw_item(
        &store,
        HashMap::from([
            ("org_id".to_owned(), AttributeValue::S(partition)),
            ("secret_name".to_owned(), AttributeValue::S(sort)),
            ("seal".to_owned(), AttributeValue::S(token)),
            (
                "replay_until".to_owned(),
                AttributeValue::N((now() + 86_400).to_string()),
            ),
        ]),
    )
    .await;

    let delete = direct("DELETE", "/leaked_credential", None, victim_id);
    let answer = deliver(&app, &delete).await;
    let still_live = app.stored_item(ORG, "leaked_credential").await.is_some();
    match answer {
        Ok(answer) => panic!(
            "a value token was taken for a seal: the delete was answered {} ({}) and the \
             credential is {}",
            answer.status,
            answer.text,
            if still_live { "still live" } else { "gone" }
        ),
        Err(error) => assert_eq!(error.error_type, "internal_error", "{error:?}"),
    }
    assert!(still_live);
}

// ---------------------------------------------------------------------------------------
// Concurrent duplicate deliveries: exactly one effect.
// ---------------------------------------------------------------------------------------

const AT_ONCE: usize = 12;

async fn all_at_once(app: &Arc<TestApp>, event: &Value) -> Vec<Answer> {
    let handles: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let app = Arc::clone(app);
            let event = event.clone();
            tokio::spawn(async move { app.call_as_client(&event).await })
        })
        .collect();
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.unwrap());
    }
    answers
}

fn statuses(answers: &[Answer]) -> Vec<u16> {
    answers.iter().map(|a| a.status).collect()
}

/// api.md "At least once is safe": the same request delivered at once from separate
/// instances has one effect, and every delivery succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_write_delivered_at_once_has_one_effect_and_every_delivery_succeeds() {
    let app = Arc::new(fresh_app().await);
    let keyed = |event: Value, key: &str| with_header(event, "idempotency-key", key);

    // create
    let create = keyed(admin(ORG).create_event(&create_body("c", "v1")), "k-create");
    let answers = all_at_once(&app, &create).await;
    assert!(
        answers.iter().all(|a| a.status == 201),
        "create: {:?} {:?}",
        statuses(&answers),
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    assert_eq!(count(&app, ORG).await, 1);

    // update (request id identity: the same gateway event delivered again)
    let update = admin(ORG).update_event("c", &update_body("v2"));
    let answers = all_at_once(&app, &update).await;
    assert!(
        answers.iter().all(|a| a.status == 200),
        "update: {:?}",
        statuses(&answers)
    );
    assert_eq!(app.stored_value(ORG, "c").await, "v2");
    assert_eq!(
        recovery_value(&app, ORG, "c", RecoverySlot::Previous)
            .await
            .as_deref(),
        Some("v1"),
        "one update: the previous value is the one before it"
    );

    // restore previous: swapped exactly once
    let swap = admin(ORG).restore_event("c", Some("previous"));
    let answers = all_at_once(&app, &swap).await;
    assert!(
        answers.iter().all(|a| a.status == 200),
        "restore previous: {:?}",
        statuses(&answers)
    );
    assert_eq!(app.stored_value(ORG, "c").await, "v1");
    assert_eq!(
        recovery_value(&app, ORG, "c", RecoverySlot::Previous)
            .await
            .as_deref(),
        Some("v2")
    );

    // delete
    let delete = keyed(admin(ORG).delete_event("c"), "k-delete");
    let answers = all_at_once(&app, &delete).await;
    assert!(
        answers.iter().all(|a| a.status == 200),
        "delete: {:?}",
        statuses(&answers)
    );
    assert_eq!(count(&app, ORG).await, 0);
    assert_eq!(
        recovery_value(&app, ORG, "c", RecoverySlot::Deleted)
            .await
            .as_deref(),
        Some("v1")
    );

    // restore deleted
    let restore = admin(ORG).restore_event("c", None);
    let answers = all_at_once(&app, &restore).await;
    assert!(
        answers.iter().all(|a| a.status == 200),
        "restore deleted: {:?}",
        statuses(&answers)
    );
    assert_eq!(count(&app, ORG).await, 1);
    assert_eq!(app.stored_value(ORG, "c").await, "v1");
    assert_eq!(live_names(&app, ORG).await, ["c"]);
}

// ---------------------------------------------------------------------------------------
// Request ids: exactly as received, or refused.
// ---------------------------------------------------------------------------------------

/// api.md: `requestContext.requestId` "is used exactly as sent ... Anything else is refused
/// with invalid_request_id and nothing is written: never trimmed, never replaced". A
/// workflow whose template yields `null` (a JSONPath that matched nothing) has its id
/// replaced by the Lambda request id, which changes on every Step Functions retry: the
/// redelivered delete then deletes the secret created again since.
#[tokio::test]
async fn a_null_request_id_is_refused_not_replaced() {
    let app = fresh_app().await;
    app.seed(ORG, "n", "first life").await;
    let mut delete = direct("DELETE", "/n", None, "x");
    delete["requestContext"]["requestId"] = Value::Null;
    let first = deliver(&app, &delete).await;
    let Err(error) = first else {
        app.seed(ORG, "n", "second life").await;
        let again = deliver(&app, &delete).await;
        let survived = app.stored_item(ORG, "n").await.is_some();
        panic!(
            "a null request id was replaced by the Lambda request id: the first delivery \
             deleted the secret; the redelivery answered {:?} and {}",
            again.as_ref().map(|a| a.status),
            if survived {
                "left the new secret"
            } else {
                "deleted the secret created since"
            }
        );
    };
    assert_eq!(error.error_type, "invalid_request_id");
}

// ---------------------------------------------------------------------------------------
// Identity: actors.
// ---------------------------------------------------------------------------------------

/// `domain.rs` makes a subject claim `"unknown"` and a caller without a subject two actors
/// (`Actor::parse("unknown") != Actor::unknown()`), and api.md identifies a request by "its
/// actor (subject claim)". The change record keys and seals `Actor::as_str()`, which is
/// `"unknown"` for both: a request of one is taken for a resend of the other's, and the
/// second caller's delete is answered 200 while the secret stays live.
#[tokio::test]
async fn a_delete_by_a_caller_without_a_subject_is_not_taken_for_one_by_unknown() {
    let app = fresh_app().await;
    app.seed(ORG, "shared", "first").await;
    let id = "wf-1:delete:shared";
    let mut named = direct("DELETE", "/shared", None, id);
    named["requestContext"]["authorizer"]["lambda"]["sub"] = json!("unknown");
    assert_eq!(deliver(&app, &named).await.unwrap().status, 200);
    app.seed(ORG, "shared", "second").await;
    let mut anonymous = direct("DELETE", "/shared", None, id);
    anonymous["requestContext"]["authorizer"]["lambda"]
        .as_object_mut()
        .unwrap()
        .remove("sub");
    let answer = deliver(&app, &anonymous).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        app.stored_item(ORG, "shared").await.is_none(),
        "another actor's delete was answered 200 as a resend and deleted nothing"
    );
}

// ---------------------------------------------------------------------------------------
// Operators: a forged record is named by `secrets-admin verify`.
// ---------------------------------------------------------------------------------------

/// `store.rs` (`forged_record`): "the table was written outside the function. Nothing is
/// written over it; `secrets-admin verify` names it." SECURITY.md: such a record blocks its
/// request "until it expires or an operator removes it". verify scans only items with an
/// `encrypted_value`, so it never sees a record: the operator has no way to find it.
#[tokio::test]
async fn secrets_admin_verify_names_a_forged_change_record() {
    let app = fresh_app().await;
    app.seed(ORG, "blocked", "v").await;
    let id = "wf-2:delete:blocked";
    let (partition, sort) = record_slot(&app, ORG, Some(PROVISIONING), id, None);
    put_raw_item(
        app.store(),
        HashMap::from([
            ("org_id".to_owned(), AttributeValue::S(partition)),
            ("secret_name".to_owned(), AttributeValue::S(sort)),
            (
                "seal".to_owned(),
                AttributeValue::S("gAAAAAforged".to_owned()),
            ),
            (
                "replay_until".to_owned(),
                AttributeValue::N("4900000000".to_owned()),
            ),
        ]),
    )
    .await;
    let Err(error) = deliver(&app, &direct("DELETE", "/blocked", None, id)).await else {
        panic!("a forged record is refused");
    };
    assert_eq!(error.error_type, "internal_error");
    let (code, output) = secrets_admin(app.store(), KEY_A, &["verify"], &[]);
    assert_eq!(
        code,
        Some(1),
        "verify reported no problem although a request is blocked by a forged record:\n{output}"
    );
}

// ---------------------------------------------------------------------------------------
// Tampered live items: an error, not "busy, retry".
// ---------------------------------------------------------------------------------------

/// A live item whose `encrypted_value` is not a string (written outside the function) made
/// update and delete fail their "unchanged" condition on every attempt and answer 503
/// `storage_unavailable` (retry with backoff) for a request that could never succeed. The
/// condition now compares the token as stored, whatever its type: the item can be updated
/// (the new value is a proper token) or deleted, and restore never brings the odd value back.
#[tokio::test]
async fn a_live_item_with_a_value_of_the_wrong_type_can_still_be_updated_or_deleted() {
    let app = fresh_app().await;
    let odd = |name: &'static str| {
        let app = &app;
        async move {
            app.seed(ORG, name, "v").await;
            let mut item = app.stored_item(ORG, name).await.unwrap();
            item.insert(
                "encrypted_value".to_owned(),
                AttributeValue::N("1".to_owned()),
            );
            put_raw_item(app.store(), item).await;
        }
    };
    odd("odd_update").await;
    let update = app.admin(ORG).update("odd_update", "v2").await;
    assert_eq!(update.status, 200, "{}", update.text);
    assert_eq!(app.stored_value(ORG, "odd_update").await, "v2");
    // The odd value went to the previous copy; restoring it is refused, not done.
    let back = app.admin(ORG).restore("odd_update", Some("previous")).await;
    assert_ne!(back.status, 200, "{}", back.text);
    assert_eq!(app.stored_value(ORG, "odd_update").await, "v2");

    odd("odd_delete").await;
    let delete = app.admin(ORG).delete("odd_delete").await;
    assert_eq!(delete.status, 200, "{}", delete.text);
    assert!(app.stored_item(ORG, "odd_delete").await.is_none());
    let back = app.admin(ORG).restore("odd_delete", None).await;
    assert_ne!(back.status, 200, "{}", back.text);
    assert!(app.stored_item(ORG, "odd_delete").await.is_none());
}

// ---------------------------------------------------------------------------------------
// Recovery off: nothing of the value stays.
// ---------------------------------------------------------------------------------------

fn value_digest(org: &str, name: &str, value: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in [org, name] {
        hasher.update((part.len() as u32).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.update(value.as_bytes());
    hasher.finalize().into()
}

/// With `RECOVERY_WINDOW_DAYS=0` a delete leaves no value of the secret in the table. The
/// change records of the writes before it keep a SHA-256 of each value as long as the
/// history keeps them, as SECURITY.md says: only sealed (no attribute of any item holds the
/// digest or the value readable without a key; the key that encrypts values does not open
/// a seal), and for `CHANGE_HISTORY_DAYS` (here 2), after which TTL removes the record.
#[tokio::test]
async fn with_recovery_off_value_digests_stay_only_sealed_and_only_for_the_history() {
    let store = fresh_store().await;
    let app = app_on(
        store.clone(),
        &[("RECOVERY_WINDOW_DAYS", "0"), ("CHANGE_HISTORY_DAYS", "2")],
    );
    app.seed(ORG, "pin", "pin-4711").await;
    assert_eq!(app.admin(ORG).update("pin", "pin-0815").await.status, 200);
    assert_eq!(app.admin(ORG).delete("pin").await.status, 200);
    let fernet = fernet::Fernet::new(KEY_A).unwrap();
    let digests: Vec<[u8; 32]> = ["pin-4711", "pin-0815"]
        .iter()
        .map(|value| value_digest(ORG, "pin", value))
        .collect();
    let mut records = 0;
    for item in scan(&store).await {
        let text = format!("{item:?}");
        for (value, digest) in ["pin-4711", "pin-0815"].iter().zip(&digests) {
            assert!(!text.contains(value), "{value} in {text}");
            for encoded in [
                digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest),
                base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest),
            ] {
                assert!(!text.contains(&encoded), "a digest readable in {text}");
            }
        }
        let Some(seal) = item.get("seal").and_then(|v| v.as_s().ok()) else {
            continue;
        };
        records += 1;
        assert!(fernet.decrypt(seal).is_err(), "the value key opens a seal");
        let until: i64 = item["replay_until"].as_n().unwrap().parse().unwrap();
        assert!(until <= now() + 24 * 60 * 60, "{until}");
        let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
        assert_eq!(expires, until + 24 * 60 * 60, "two days after the change");
    }
    assert_eq!(records, 3, "create, update and delete");
}

// ---------------------------------------------------------------------------------------
// TransactionInProgressException: retry later, not "an operator must look".
// ---------------------------------------------------------------------------------------

/// Resends in every order: a random walk of writes on one name (create, update, delete,
/// both restores, by two actors, keyed and not, with recovery on and off alternately);
/// after every step, every earlier write that succeeded is sent again through both
/// configurations. Each resend gets its first status and changes no item at all, and the
/// counter always equals the live secrets.
#[tokio::test]
async fn every_done_write_resent_after_any_interleaving_writes_nothing() {
    for seed in [1u64, 7, 42, 1_234] {
        let store = fresh_store().await;
        let on = app_on(store.clone(), &[]);
        let off = app_on(store.clone(), &[("RECOVERY_WINDOW_DAYS", "0")]);
        let mut state = seed;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        let mut done: Vec<(Value, u16, String)> = Vec::new();
        for step in 0..14 {
            let value = format!("v{seed}-{step}");
            let mut event = match next(5) {
                0 => admin(ORG).create_event(&create_body("a", &value)),
                1 => admin(ORG).update_event("a", &update_body(&value)),
                2 => admin(ORG).delete_event("a"),
                3 => admin(ORG).restore_event("a", None),
                _ => admin(ORG).restore_event("a", Some("previous")),
            };
            if next(2) == 0 {
                event = with_header(event, "idempotency-key", &format!("k-{seed}-{step}"));
            }
            if next(2) == 0 {
                event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("bob");
            }
            let app = if next(2) == 0 { &on } else { &off };
            let first = app.call(&event).await;
            assert!(
                [200, 201, 404, 409].contains(&first.status),
                "seed {seed} step {step}: {}",
                first.text
            );
            let label = format!("seed {seed} step {step} {}", event["routeKey"]);
            if first.status < 300 {
                done.push((event, first.status, label));
            }
            for (event, status, label) in &done {
                for app in [&on, &off] {
                    let before = snapshot(&store).await;
                    let again = app.call(event).await;
                    assert_eq!(again.status, *status, "{label}: {}", again.text);
                    assert!(
                        snapshot(&store).await == before,
                        "{label}: the resend wrote"
                    );
                }
            }
            assert_eq!(
                count(&on, ORG).await as usize,
                live_names(&on, ORG).await.len(),
                "seed {seed} step {step}"
            );
        }
    }
}

/// A resend of a create when the organization is now full (name taken or not) is 201, and
/// a restore's resend at the limit is 200; neither writes.
#[tokio::test]
async fn resends_at_the_limit_get_their_first_answer() {
    let store = fresh_store().await;
    let app = app_on(store.clone(), &[("MAX_SECRETS_PER_ORG", "1")]);
    let create = with_header(
        admin(ORG).create_event(&create_body("a", "va")),
        "idempotency-key",
        "k-a",
    );
    assert_eq!(app.call(&create).await.status, 201);
    // Full, and the name taken by this very create.
    assert_eq!(app.call(&create).await.status, 201);
    assert_eq!(app.admin(ORG).delete("a").await.status, 200);
    app.seed(ORG, "b", "vb").await;
    // Full, the name free.
    let before = snapshot(&store).await;
    let again = app.call(&create).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert!(snapshot(&store).await == before);
    let direct_create = {
        let mut event = sample_event("provisioning-create.json");
        event["body"] = json!(create_body("c", "vc"));
        event
    };
    // A direct create refused at the limit is an error, and writes nothing.
    let Err(error) = deliver(&app, &direct_create).await else {
        panic!("created over the limit");
    };
    assert_eq!(error.error_type, "secret_limit_reached");

    // A restore, then its resend when the name was deleted again and the org is full.
    assert_eq!(app.admin(ORG).delete("b").await.status, 200);
    let restore = admin(ORG).restore_event("b", None);
    assert_eq!(app.call(&restore).await.status, 200);
    assert_eq!(app.admin(ORG).delete("b").await.status, 200);
    app.seed(ORG, "c", "vc").await;
    let before = snapshot(&store).await;
    let again = app.call(&restore).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(snapshot(&store).await == before);
    // A new restore is refused at the limit, the copy stays.
    let refused = app.admin(ORG).restore("b", None).await;
    assert_eq!(refused.json["error"]["code"], "secret_limit_reached");
    assert_eq!(count(&app, ORG).await, 1);
}

/// Request ids: used byte for byte (ids that differ only in Unicode normalization are two
/// requests), 2,048 bytes of 4-byte characters accepted and 2,049 bytes refused, in the REST
/// shape too; a key and a request id with the same text, the same key in two organizations
/// or by two actors are different requests.
#[tokio::test]
async fn request_ids_and_keys_are_exact_identities() {
    let app = fresh_app().await;
    // NFC and NFD of the same text.
    let nfc = "wf:caf\u{e9}";
    let nfd = "wf:cafe\u{301}";
    app.seed(ORG, "n1", "v").await;
    app.seed(ORG, "n2", "v").await;
    let first = deliver(&app, &direct("DELETE", "/n1", None, nfc))
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    let other = deliver(&app, &direct("DELETE", "/n2", None, nfd))
        .await
        .unwrap();
    assert_eq!(other.status, 200, "another request, not a reused id");
    assert!(app.stored_item(ORG, "n2").await.is_none());

    // 512 four-byte characters, and one byte more.
    let longest = "𝔖".repeat(512);
    assert_eq!(longest.len(), RequestId::MAX_BYTES);
    app.seed(ORG, "long", "v").await;
    let delete = direct("DELETE", "/long", None, &longest);
    assert_eq!(deliver(&app, &delete).await.unwrap().status, 200);
    app.seed(ORG, "long", "v2").await;
    assert_eq!(deliver(&app, &delete).await.unwrap().status, 200);
    assert!(app.stored_item(ORG, "long").await.is_some(), "a resend");
    let too_long = format!("{longest}x");
    let Err(error) = deliver(&app, &direct("DELETE", "/long", None, &too_long)).await else {
        panic!("2,049 bytes accepted");
    };
    assert_eq!(error.error_type, "invalid_request_id");

    // The REST shape.
    let mut rest = sample_event("rest-lambda-authorizer-create.json");
    rest["body"] = json!(create_body("rest", "v"));
    rest["requestContext"]["requestId"] = json!("x".repeat(2_049));
    let answer = app.call(&rest).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json["error"]["code"], "invalid_request_id");
    rest["requestContext"]["requestId"] = json!("x".repeat(2_048));
    assert_eq!(app.call(&rest).await.status, 201);
    assert_eq!(app.call(&rest).await.status, 201, "the same request again");

    // A key and a request id with the same text; one key in two orgs; two actors.
    let keyed = |org: &str, sub: &str, body: &str| {
        let mut event = with_header(admin(org).create_event(body), "idempotency-key", "same");
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(sub);
        event
    };
    assert_eq!(
        app.call(&keyed(ORG, "alice", &create_body("k1", "v")))
            .await
            .status,
        201
    );
    assert_eq!(
        app.call(&keyed("org_b", "alice", &create_body("k2", "v")))
            .await
            .status,
        201
    );
    assert_eq!(
        app.call(&keyed(ORG, "bob", &create_body("k3", "v")))
            .await
            .status,
        201
    );
    let mut by_id = admin(ORG).create_event(&create_body("k4", "v"));
    by_id["requestContext"]["requestId"] = json!("same");
    by_id["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("alice");
    assert_eq!(app.call(&by_id).await.status, 201);
}

/// Records tampered with in the table: another organization's genuine record copied into
/// this request's slot is refused (500, nothing written); an expired genuine record whose
/// plain `replay_until` was moved ahead does not keep the slot; a record dated within the
/// clock skew is this request's; one dated beyond it is refused; a genuine record whose
/// attributes have the wrong types is still judged by its seal.
#[tokio::test]
async fn tampered_records_are_judged_by_their_seal() {
    let app = fresh_app().await;
    let store = app.store().clone();
    let fernet = seal_fernet(KEY_A);
    let plant = |id: &str, seal: String, until: AttributeValue| {
        let (partition, sort) = record_slot(&app, ORG, Some(PROVISIONING), id, None);
        HashMap::from([
            ("org_id".to_owned(), AttributeValue::S(partition)),
            ("secret_name".to_owned(), AttributeValue::S(sort)),
            ("seal".to_owned(), AttributeValue::S(seal)),
            ("replay_until".to_owned(), until),
        ])
    };
    let far = AttributeValue::N("4900000000".to_owned());
    let seal_for = |org: &str, id: &str, at: i64| {
        fernet.encrypt(&sealed_delete_facts(
            org,
            id,
            &sealed_actor(PROVISIONING),
            "t",
            at,
        ))
    };

    // Another organization's record of the same actor and id.
    app.seed(ORG, "t", "v").await;
    put_raw_item(
        &store,
        plant("copied", seal_for("org_b", "copied", now()), far.clone()),
    )
    .await;
    let Err(error) = deliver(&app, &direct("DELETE", "/t", None, "copied")).await else {
        panic!("another org's record accepted");
    };
    assert_eq!(error.error_type, "internal_error");
    assert!(app.stored_item(ORG, "t").await.is_some());

    // Expired by its seal, kept by its plain attribute: the slot is free.
    put_raw_item(
        &store,
        plant(
            "expired",
            seal_for(ORG, "expired", now() - 86_401),
            far.clone(),
        ),
    )
    .await;
    let answer = deliver(&app, &direct("DELETE", "/t", None, "expired"))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert!(
        app.stored_item(ORG, "t").await.is_none(),
        "deleted for real"
    );

    // Dated 50 s ahead (clock skew): this request's own; 120 s ahead: refused.
    app.seed(ORG, "t", "v").await;
    put_raw_item(
        &store,
        plant("skewed", seal_for(ORG, "skewed", now() + 50), far.clone()),
    )
    .await;
    assert_eq!(
        deliver(&app, &direct("DELETE", "/t", None, "skewed"))
            .await
            .unwrap()
            .status,
        200
    );
    assert!(
        app.stored_item(ORG, "t").await.is_some(),
        "taken for a resend"
    );
    put_raw_item(
        &store,
        plant("ahead", seal_for(ORG, "ahead", now() + 120), far.clone()),
    )
    .await;
    assert!(deliver(&app, &direct("DELETE", "/t", None, "ahead"))
        .await
        .is_err());
    assert!(app.stored_item(ORG, "t").await.is_some());

    // replay_until of the wrong type: the seal decides (a resend).
    put_raw_item(
        &store,
        plant(
            "typed",
            seal_for(ORG, "typed", now()),
            AttributeValue::S("x".to_owned()),
        ),
    )
    .await;
    assert_eq!(
        deliver(&app, &direct("DELETE", "/t", None, "typed"))
            .await
            .unwrap()
            .status,
        200
    );
    assert!(
        app.stored_item(ORG, "t").await.is_some(),
        "taken for a resend"
    );
}

/// Many different writes and duplicates on a few names at once: every answer is a
/// documented one and the counter equals the live secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writes_and_duplicates_keep_the_counter_exact() {
    let app = Arc::new(fresh_app().await);
    for name in ["r0", "r1", "r2"] {
        app.seed(ORG, name, "v0").await;
    }
    let mut events = Vec::new();
    for (index, name) in ["r0", "r1", "r2"].iter().enumerate() {
        let create = with_header(
            admin(ORG).create_event(&create_body(name, "vc")),
            "idempotency-key",
            &format!("kc{index}"),
        );
        let delete = admin(ORG).event("DELETE", &format!("/{name}"), None);
        let update = admin(ORG).event("PUT", &format!("/{name}"), Some(&update_body("vu")));
        let restore = admin(ORG).restore_event(name, None);
        let swap = admin(ORG).restore_event(name, Some("previous"));
        for event in [create, delete, update, restore, swap] {
            events.push(event.clone());
            events.push(event);
        }
    }
    let handles: Vec<_> = events
        .into_iter()
        .map(|event| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { (app.call(&event).await, event["routeKey"].clone()) })
        })
        .collect();
    for handle in handles {
        let (answer, route) = handle.await.unwrap();
        assert!(
            [200, 201, 404, 409, 503].contains(&answer.status),
            "{route}: {}",
            answer.text
        );
    }
    assert_eq!(
        count(&app, ORG).await as usize,
        live_names(&app, ORG).await.len()
    );
}

/// operations.md: `verify` checks that each change record's seal "says what its plain
/// attributes say"; storage-contract.md: records are what "an organization's change
/// history and change events are built from". `check_record` compares only `change_op`,
/// `changed_secret`, `changed_by` and the identity attribute. A record re-dated
/// (`changed_at`), whose `replay_until` frees its slot early (the test above), whose TTL
/// `expires_at` has DynamoDB delete it at once, whose `request_id` names another request
/// (a keyed record: the request id is not sealed at all), or that gains an
/// `idempotency_key` it never had, passes `verify`.
#[tokio::test]
async fn verify_names_records_whose_unsealed_plain_attributes_were_edited() {
    let app = fresh_app().await;
    let store = app.store().clone();
    let text = |value: &str| AttributeValue::S(value.to_owned());
    let number = |value: &str| AttributeValue::N(value.to_owned());
    let cases: Vec<(&str, Option<&str>, &str, AttributeValue)> = vec![
        ("re-dated", None, "changed_at", text("2020-01-01T00:00:00Z")),
        (
            "replay horizon moved back",
            None,
            "replay_until",
            number("0"),
        ),
        ("TTL moved back", None, "expires_at", number("0")),
        (
            "request id of a keyed record",
            Some("k-1"),
            "request_id",
            text("someone-else"),
        ),
        (
            "a key it never had",
            None,
            "idempotency_key",
            text("k-forged"),
        ),
    ];
    let mut tampered = Vec::new();
    for (index, (case, key, attribute, value)) in cases.into_iter().enumerate() {
        let name = format!("n{index}");
        app.seed(ORG, &name, "v").await;
        let mut delete = admin(ORG).event("DELETE", &format!("/{name}"), None);
        if let Some(key) = key {
            delete = with_header(delete, "idempotency-key", key);
        }
        assert_eq!(app.call(&delete).await.status, 200, "{case}");
        let slot = record_slot(&app, ORG, Some(JWT_SUBJECT), &request_id_of(&delete), key);
        set_attribute(&store, &slot, attribute, value).await;
        tampered.push(case);
    }
    let mut named = Vec::new();
    let summary =
        org_secrets::integrity::verify_table(&store, &app.config().cipher, 50, |place, problem| {
            named.push(format!("{place}: {problem}"));
        })
        .await
        .unwrap();
    assert_eq!(
        summary.bad_change_records,
        tampered.len() as u64,
        "tampered {tampered:?}; verify named {named:#?} ({summary})"
    );
}

async fn get(
    store: &SecretStore,
    key: &(String, String),
) -> Option<HashMap<String, AttributeValue>> {
    stored_item(store, &key.0, &key.1).await
}

/// A ledger entry or change record forged by someone who can write the
/// table but holds no key never makes a request count as done: a forged ledger entry is
/// ignored, and a forged, copied or relabelled record is refused (nothing written over it,
/// the secret untouched) or taken for what its seal says.
#[tokio::test]
async fn forged_records_and_ledger_entries_never_make_a_change_count_as_done() {
    let app = fresh_app().await;
    let store = app.store().clone();

    // A forged ledger entry (the attribute older versions read) naming the delete that is
    // about to come: ignored, the delete happens.
    app.seed(ORG, "ledgered", "v").await;
    let delete = admin(ORG).delete_event("ledgered");
    let request_id = delete["requestContext"]["requestId"].as_str().unwrap();
    let mut item = app.stored_item(ORG, "ledgered").await.unwrap();
    let entry = |at: i64| {
        AttributeValue::M(HashMap::from([
            ("op".to_owned(), AttributeValue::S("delete".to_owned())),
            // The JWT sample event's subject: the actor of the delete.
            (
                "by".to_owned(),
                AttributeValue::S("alice@acme.example".to_owned()),
            ),
            (
                "request_id".to_owned(),
                AttributeValue::S(request_id.to_owned()),
            ),
            ("at".to_owned(), AttributeValue::N(at.to_string())),
        ]))
    };
    // One dated now and one dated in a hundred years.
    item.insert(
        "changes".to_owned(),
        AttributeValue::L(vec![entry(1_800_000_000), entry(4_900_000_000)]),
    );
    put_raw_item(&store, item).await;
    let answer = app.call(&delete).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        app.stored_item(ORG, "ledgered").await.is_none(),
        "deleted for real"
    );

    // Records forged into the slot of a delete that is about to come.
    app.seed(ORG, "other", "v").await;
    let genuine_of_another = {
        let other = admin(ORG).delete_event("other");
        assert_eq!(app.call(&other).await.status, 200);
        let request_id = other["requestContext"]["requestId"].as_str().unwrap();
        let key = record_slot(&app, ORG, Some(JWT_SUBJECT), request_id, None);
        get(&store, &key).await.expect("the other delete's record")
    };
    // Each forgery: the other delete's genuine record, placed in the coming delete's slot,
    // with these attributes set (or removed, for `None`).
    let text = |value: &str| Some(AttributeValue::S(value.to_owned()));
    let far = || Some(AttributeValue::N("4900000000".to_owned()));
    let forgeries: [(&str, Vec<Edit>); 4] = [
        (
            "plain attributes, no seal, dated far ahead",
            vec![
                ("seal", None),
                ("changed_secret", text("target")),
                ("replay_until", far()),
                ("expires_at", far()),
            ],
        ),
        (
            "another request's genuine record, copied",
            vec![("changed_secret", text("target"))],
        ),
        (
            "a seal that is not a token",
            vec![("seal", text("gAAAAAforged"))],
        ),
        (
            "a seal of the wrong type",
            vec![("seal", Some(AttributeValue::N("1".to_owned())))],
        ),
    ];
    let forge = |key: &(String, String), edits: &[Edit]| {
        let mut item = genuine_of_another.clone();
        item.insert("org_id".to_owned(), AttributeValue::S(key.0.clone()));
        item.insert("secret_name".to_owned(), AttributeValue::S(key.1.clone()));
        for (name, value) in edits {
            match value {
                Some(value) => item.insert((*name).to_owned(), value.clone()),
                None => item.remove(*name),
            };
        }
        item
    };
    for (case, edits) in &forgeries {
        app.seed(ORG, "target", "sk_target").await;
        let delete = admin(ORG).delete_event("target");
        let request_id = delete["requestContext"]["requestId"].as_str().unwrap();
        let key = record_slot(&app, ORG, Some(JWT_SUBJECT), request_id, None);
        let forged = forge(&key, edits);
        put_raw_item(&store, forged.clone()).await;
        let answer = app.call(&delete).await;
        assert_eq!(answer.status, 500, "{case}: {}", answer.text);
        assert_eq!(app.stored_value(ORG, "target").await, "sk_target", "{case}");
        assert_eq!(
            get(&store, &key).await,
            Some(forged),
            "{case}: nothing over it"
        );
        // Any other request goes ahead: a forgery blocks only its own slot.
        assert_eq!(app.admin(ORG).delete("target").await.status, 200, "{case}");
    }

    // A genuine record relabelled in its plain attributes: its seal decides, and it says
    // "delete of another secret", so the same request id for this one is refused.
    app.seed(ORG, "relabelled", "v").await;
    app.seed(ORG, "first", "v").await;
    let first = admin(ORG).delete_event("first");
    assert_eq!(app.call(&first).await.status, 200);
    let request_id = first["requestContext"]["requestId"].as_str().unwrap();
    let key = record_slot(&app, ORG, Some(JWT_SUBJECT), request_id, None);
    let mut record = get(&store, &key).await.unwrap();
    record.insert(
        "changed_secret".to_owned(),
        AttributeValue::S("relabelled".to_owned()),
    );
    put_raw_item(&store, record).await;
    let mut reused = admin(ORG).delete_event("relabelled");
    reused["requestContext"]["requestId"] = first["requestContext"]["requestId"].clone();
    let answer = app.call(&reused).await;
    assert_eq!(answer.status, 409, "{}", answer.text);
    assert_eq!(answer.json["error"]["code"], "request_id_reused");
    assert_eq!(app.stored_value(ORG, "relabelled").await, "v");

    // `secrets-admin verify` names each record that does not verify, and only those.
    let mut named = Vec::new();
    let summary =
        org_secrets::integrity::verify_table(&store, &app.config().cipher, 7, |place, problem| {
            named.push(format!("{place}: {problem}"));
        })
        .await
        .unwrap();
    assert_eq!(summary.bad_change_records, 5, "{summary}: {named:#?}");
    assert_eq!(named.len(), 5, "{named:#?}");
    assert!(
        named
            .iter()
            .all(|line| line.contains("(change record request:")),
        "{named:#?}"
    );
    assert!(summary.change_records > 5, "{summary}");
}

/// An attribute set to a value, or removed (`None`).
type Edit = (&'static str, Option<AttributeValue>);
