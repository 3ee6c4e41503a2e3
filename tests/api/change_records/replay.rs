//! Resends and the request's identity: a request id used byte for byte or refused, an
//! `Idempotency-Key` that names one change of one actor, and every kind of resend (client
//! retry, SDK retry, redelivery, after later changes, across a key rotation) answered as
//! the first time with nothing written.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::domain::{OrgId, RequestId};
use org_secrets::rotation::{rotate_keys, RotationOptions};
use org_secrets::storage::{RecoverySlot, SecretStore};
use serde_json::{json, Value};

use crate::support::recovery::*;
use crate::support::shapes::*;
use crate::support::*;

const CANARY: &str = "CANARY-change_records-replay-7e1a";

const ORG: &str = "org_acme";
/// The subject of the JWT sample event every `op_event` carries.
const JWT_SUBJECT: &str = "alice@acme.example";

/// The longest request id a Step Functions workflow derives from its execution and the
/// state it is in (`States.Format('{}/{}', $$.Execution.Id, $$.State.Name)`): an execution
/// ARN at its limit of 256 characters and a state name at its limit of 80, every
/// character a 4-byte one where the ARN's format allows (its names).
fn longest_step_functions_id() -> String {
    let prefix = "arn:aws-us-gov:states:us-gov-west-1:123456789012:express:";
    let names = 256 - prefix.chars().count();
    let arn = format!("{prefix}{}", "𝔖".repeat(names));
    assert_eq!(arn.chars().count(), 256);
    format!("{arn}/{}", "𝔖".repeat(80))
}

/// A direct invocation's request id over 256 bytes, with a control
/// character, or with surrounding spaces was silently replaced by the Lambda request id
/// (or trimmed), so a redelivered delete deleted a secret created again since and a
/// redelivered update pushed the original value out of recovery. Now an id is used byte
/// for byte (up to 2,048 bytes) or refused as `invalid_request_id`, with nothing written.
#[tokio::test]
async fn direct_request_ids_are_used_exactly_or_refused() {
    let app = fresh_app().await;
    let longest = longest_step_functions_id();
    assert!(longest.len() > 1_000, "{}", longest.len());
    let accepted = [
        ("257 bytes", "r".repeat(257)),
        ("2,048 bytes", "x".repeat(RequestId::MAX_BYTES)),
        ("the longest Step Functions id", longest),
        ("inner spaces", "Create Secret/1".to_owned()),
    ];
    for (index, (case, id)) in accepted.iter().enumerate() {
        // A delete, the name created again, the delete delivered again: the new secret
        // stays, and so does the deleted value kept from the first life.
        let name = format!("d{index}");
        app.seed(ORG, &name, "first life").await;
        let delete = direct("DELETE", &format!("/{name}"), None, id);
        assert_eq!(deliver(&app, &delete).await.unwrap().status, 200, "{case}");
        app.seed(ORG, &name, "second life").await;
        let again = deliver(&app, &delete).await.unwrap();
        assert_eq!(again.status, 200, "{case}: {}", again.text);
        assert_eq!(app.stored_value(ORG, &name).await, "second life", "{case}");
        assert_eq!(
            recovery_value(&app, ORG, &name, RecoverySlot::Deleted)
                .await
                .as_deref(),
            Some("first life"),
            "{case}"
        );

        // An update delivered twice, then again after a newer update: the value it
        // replaced stays recoverable, and the newer value stays live.
        let name = format!("u{index}");
        app.seed(ORG, &name, "v1").await;
        let update = direct(
            "PUT",
            &format!("/{name}"),
            Some(&update_body("v2")),
            // Another request: the same length and kind of id.
            &format!("u{}", &id[1..]),
        );
        for _ in 0..2 {
            assert_eq!(deliver(&app, &update).await.unwrap().status, 200, "{case}");
        }
        assert_eq!(
            recovery_value(&app, ORG, &name, RecoverySlot::Previous)
                .await
                .as_deref(),
            Some("v1"),
            "{case}"
        );
        assert_eq!(app.admin(ORG).update(&name, "v3").await.status, 200);
        assert_eq!(deliver(&app, &update).await.unwrap().status, 200, "{case}");
        assert_eq!(app.stored_value(ORG, &name).await, "v3", "{case}");
        assert_eq!(
            recovery_value(&app, ORG, &name, RecoverySlot::Previous)
                .await
                .as_deref(),
            Some("v2"),
            "{case}"
        );
    }

    let refused = [
        ("2,049 bytes", "x".repeat(RequestId::MAX_BYTES + 1)),
        ("a TAB", "a\tb".to_owned()),
        ("surrounding spaces", " R ".to_owned()),
        ("a trailing space", "R ".to_owned()),
        ("a leading TAB", "\tR".to_owned()),
        ("a newline", "R\n".to_owned()),
        ("a zero-width space", "R\u{200b}".to_owned()),
        ("empty", String::new()),
    ];
    app.seed(ORG, "kept", "v1").await;
    let records_before = change_records(app.store()).await;
    for (case, id) in refused {
        for event in [
            direct("DELETE", "/kept", None, &id),
            direct("PUT", "/kept", Some(&update_body("v2")), &id),
            direct("POST", "/kept/restore", None, &id),
        ] {
            let Err(error) = deliver(&app, &event).await else {
                panic!("{case}: a direct invocation with this id must fail");
            };
            assert_eq!(error.error_type, "invalid_request_id", "{case}");
            assert!(!error.message.contains(&id) || id.is_empty(), "{case}");
            // Through API Gateway (which never sends such an id): a 400 of the same code.
            let mut gateway = event.clone();
            gateway.as_object_mut().unwrap().remove("directInvocation");
            let answer = deliver(&app, &gateway).await.expect(case);
            assert_eq!(answer.status, 400, "{case}");
            assert_eq!(answer.json["error"]["code"], "invalid_request_id", "{case}");
        }
        assert_eq!(app.stored_value(ORG, "kept").await, "v1", "{case}");
        assert_eq!(
            recovery_value(&app, ORG, "kept", RecoverySlot::Previous).await,
            None
        );
        assert_eq!(change_records(app.store()).await, records_before, "{case}");
    }
}

/// How many change records the table holds.
async fn change_records(store: &SecretStore) -> usize {
    all_items(store)
        .await
        .iter()
        .filter(|item| attr(item, "org_id").starts_with("\u{3}changes:"))
        .count()
}

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

async fn get(
    store: &SecretStore,
    key: &(String, String),
) -> Option<HashMap<String, AttributeValue>> {
    stored_item(store, &key.0, &key.1).await
}

/// A forged record for the slot (`org_id`, `secret_name`) given.
type Forgery<'a> = Box<dyn Fn(&(String, String)) -> HashMap<String, AttributeValue> + 'a>;

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
    let forgeries: [(&str, Forgery<'_>); 4] = [
        (
            "plain attributes, no seal, dated far ahead",
            Box::new(|key| {
                let mut item = genuine_of_another.clone();
                item.remove("seal");
                item.insert("org_id".to_owned(), AttributeValue::S(key.0.clone()));
                item.insert("secret_name".to_owned(), AttributeValue::S(key.1.clone()));
                item.insert(
                    "changed_secret".to_owned(),
                    AttributeValue::S("target".to_owned()),
                );
                item.insert(
                    "replay_until".to_owned(),
                    AttributeValue::N("4900000000".to_owned()),
                );
                item.insert(
                    "expires_at".to_owned(),
                    AttributeValue::N("4900000000".to_owned()),
                );
                item
            }),
        ),
        (
            "another request's genuine record, copied",
            Box::new(|key| {
                let mut item = genuine_of_another.clone();
                item.insert("org_id".to_owned(), AttributeValue::S(key.0.clone()));
                item.insert("secret_name".to_owned(), AttributeValue::S(key.1.clone()));
                item.insert(
                    "changed_secret".to_owned(),
                    AttributeValue::S("target".to_owned()),
                );
                item
            }),
        ),
        (
            "a seal that is not a token",
            Box::new(|key| {
                let mut item = genuine_of_another.clone();
                item.insert("org_id".to_owned(), AttributeValue::S(key.0.clone()));
                item.insert("secret_name".to_owned(), AttributeValue::S(key.1.clone()));
                item.insert(
                    "seal".to_owned(),
                    AttributeValue::S("gAAAAAforged".to_owned()),
                );
                item
            }),
        ),
        (
            "a seal of the wrong type",
            Box::new(|key| {
                let mut item = genuine_of_another.clone();
                item.insert("org_id".to_owned(), AttributeValue::S(key.0.clone()));
                item.insert("secret_name".to_owned(), AttributeValue::S(key.1.clone()));
                item.insert("seal".to_owned(), AttributeValue::N("1".to_owned()));
                item
            }),
        ),
    ];
    for (case, forge) in &forgeries {
        app.seed(ORG, "target", "sk_target").await;
        let delete = admin(ORG).delete_event("target");
        let request_id = delete["requestContext"]["requestId"].as_str().unwrap();
        let key = record_slot(&app, ORG, Some(JWT_SUBJECT), request_id, None);
        let forged = forge(&key);
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

/// The same identity used for another operation, secret or
/// value is refused with a code of its own, and nothing is written; the same request sent
/// again gets its first answer however the secret changed since.
#[tokio::test]
async fn an_identity_names_one_change_and_a_resend_gets_the_first_answer() {
    let app = fresh_app().await;
    let keyed = |event: Value, key: &str| {
        let mut event = with_header(event, "idempotency-key", key);
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("alice");
        event
    };
    app.seed(ORG, "b", "vb").await;
    let create = keyed(admin(ORG).create_event(&create_body("a", "va")), "k1");
    assert_eq!(app.call(&create).await.status, 201);
    // The same key for another change: refused, nothing written.
    let misuses = [
        (
            "create, another value",
            keyed(admin(ORG).create_event(&create_body("a", "vX")), "k1"),
        ),
        (
            "create, another name",
            keyed(admin(ORG).create_event(&create_body("c", "va")), "k1"),
        ),
        (
            "update",
            keyed(admin(ORG).update_event("a", &update_body("va")), "k1"),
        ),
        (
            "update of another secret",
            keyed(admin(ORG).update_event("b", &update_body("va")), "k1"),
        ),
        ("delete", keyed(admin(ORG).delete_event("a"), "k1")),
        (
            "restore",
            keyed(admin(ORG).restore_event("a", Some("previous")), "k1"),
        ),
    ];
    for (case, event) in &misuses {
        let answer = app.call(event).await;
        assert_eq!(answer.status, 409, "{case}: {}", answer.text);
        assert_eq!(
            answer.json["error"]["code"], "idempotency_key_reused",
            "{case}"
        );
        assert_eq!(app.stored_value(ORG, "a").await, "va", "{case}");
        assert_eq!(app.stored_value(ORG, "b").await, "vb", "{case}");
        assert!(app.stored_item(ORG, "c").await.is_none(), "{case}");
    }
    // The create sent again gets 201 whatever happened since: updated, deleted, created
    // again by someone else.
    assert_eq!(app.admin(ORG).update("a", "va2").await.status, 200);
    assert_eq!(app.call(&create).await.status, 201);
    assert_eq!(app.admin(ORG).delete("a").await.status, 200);
    assert_eq!(app.call(&create).await.status, 201);
    assert!(
        app.stored_item(ORG, "a").await.is_none(),
        "the resend wrote nothing"
    );
    app.seed(ORG, "a", "someone else's").await;
    assert_eq!(app.call(&create).await.status, 201);
    assert_eq!(app.stored_value(ORG, "a").await, "someone else's");
    // Another actor's same key is another request.
    let mut bob = create.clone();
    bob["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("bob");
    assert_eq!(app.call(&bob).await.status, 409);
    assert_eq!(
        app.call(&bob).await.json["error"]["code"],
        "secret_name_taken"
    );
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
    };
    let create = |value: &str| {
        let value = org_secrets::domain::SecretValue::parse(value.to_owned(), 100).unwrap();
        let digest = org_secrets::storage::ValueDigest::of(&org, &name, &value);
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

/// A create with an `Idempotency-Key`, then other creates of its name, in order: the
/// client's retry (the same key and value, a new request id) gets the first answer, also
/// after the secret changed since, and writes nothing; the key with another value is
/// `idempotency_key_reused`; another key, or no key, is a plain `secret_name_taken`. No
/// answer quotes a value.
#[tokio::test]
async fn a_keyed_create_is_answered_by_its_key() {
    let app = fresh_app().await;
    let first = create_body("stripe_api_key", "sk_live_1");
    let other = create_body("stripe_api_key", "sk_live_2");
    let created = app
        .admin("org_acme")
        .keyed("key-1")
        .create_body(&first)
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    // (label, key, body, status, error code)
    type Row<'a> = (&'a str, Option<&'a str>, &'a str, u16, Option<&'a str>);
    let rows: [Row; 4] = [
        ("the client's retry", Some("key-1"), &first, 201, None),
        (
            "the key with another value",
            Some("key-1"),
            &other,
            409,
            Some("idempotency_key_reused"),
        ),
        (
            "another key",
            Some("key-2"),
            &first,
            409,
            Some("secret_name_taken"),
        ),
        ("no key", None, &first, 409, Some("secret_name_taken")),
    ];
    for (label, key, body, status, code) in rows {
        let answer = match key {
            Some(key) => app.admin("org_acme").keyed(key).create_body(body).await,
            None => app.admin("org_acme").create_body(body).await,
        };
        assert_eq!(answer.status, status, "{label}: {}", answer.text);
        match code {
            Some(code) => assert_eq!(answer.json["error"]["code"], code, "{label}"),
            None => assert_eq!(answer.json, created.json, "{label}"),
        }
        assert!(!answer.text.contains("sk_live"), "{label}: {}", answer.text);
        assert_eq!(app.item_count().await, 1, "{label}");
        assert_eq!(
            app.stored_value("org_acme", "stripe_api_key").await,
            "sk_live_1",
            "{label}"
        );
    }
    // A late retry, after the secret changed: still its first answer, and nothing written
    // (its change record, not the item, recognises it).
    assert_eq!(
        app.admin("org_acme")
            .update("stripe_api_key", "v2")
            .await
            .status,
        200
    );
    let late = app
        .admin("org_acme")
        .keyed("key-1")
        .create_body(&first)
        .await;
    assert_eq!(late.status, 201, "{}", late.text);
    assert_eq!(late.json, created.json);
    assert_eq!(app.stored_value("org_acme", "stripe_api_key").await, "v2");
}

#[tokio::test]
async fn invalid_idempotency_keys_are_422() {
    let app = fresh_app().await;
    let body = create_body("k", "v");
    for bad in ["", "has space", &"k".repeat(256)] {
        let answer = app.admin("org_acme").keyed(bad).create_body(&body).await;
        assert_eq!(answer.status, 422, "{bad:?}");
        assert_eq!(
            answer.json["detail"][0]["loc"],
            json!(["header", "idempotency-key"])
        );
    }
    assert_eq!(app.item_count().await, 0);
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

/// Idempotency-Keys are used exactly as sent in the REST shape too: a key with a space
/// around it is 422 (never trimmed to the key it resembles), a resend with a new request
/// id and the same key is the same request; a `requestId` that is a number is
/// `invalid_request_id` in the REST shape as in the HTTP one.
#[tokio::test]
async fn rest_and_http_shapes_use_keys_and_request_ids_exactly_or_refuse_them() {
    let app = fresh_app().await;
    let rest = |key: &str| {
        let mut event = sample_event("rest-lambda-authorizer-create.json");
        event["body"] = json!(create_body("rest", &format!("{CANARY}-rest")));
        event["requestContext"]["requestId"] = json!(unique_request_id());
        event["headers"]["Idempotency-Key"] = json!(key);
        event
    };
    assert_eq!(app.call(&rest("k-rest")).await.status, 201);
    let before = snapshot(app.store()).await;
    assert_eq!(
        app.call(&rest("k-rest")).await.status,
        201,
        "a resend by key"
    );
    for near in [" k-rest", "k-rest ", "k-rest\t"] {
        let answer = app.call(&rest(near)).await;
        assert_eq!(answer.status, 422, "{near:?}: {}", answer.text);
        assert_eq!(
            answer.json["detail"][0]["loc"],
            json!(["header", "idempotency-key"])
        );
    }
    assert!(snapshot(app.store()).await == before);
    for mut event in [rest("k-2"), admin(ORG).create_event(&create_body("h", "v"))] {
        event["requestContext"]["requestId"] = json!(12345);
        let answer = app.call(&event).await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert_eq!(answer.json["error"]["code"], "invalid_request_id");
    }
    assert!(snapshot(app.store()).await == before);
}

/// For every kind of caller (each authorizer shape, and a direct invocation): a second create
/// of a name whose event repeats the first one's request id but carries another value is a
/// conflict named by its own code, and the stored value stays the first one. The same
/// request with the same value is the SDK retry it looks like (201, `created`). A direct
/// create must carry an `Idempotency-Key`, so there the two events share the key too:
/// `idempotency_key_reused`; the others share the request id alone: `request_id_reused`.
#[tokio::test]
async fn a_repeated_request_id_with_another_value_is_a_conflict_for_every_caller() {
    let app = fresh_app().await;
    let callers = [
        ("http-api-jwt-admin-create.json", false, "request_id_reused"),
        (
            "http-api-lambda-authorizer-create.json",
            false,
            "request_id_reused",
        ),
        ("rest-cognito-create.json", false, "request_id_reused"),
        (
            "rest-lambda-authorizer-create.json",
            false,
            "request_id_reused",
        ),
        ("provisioning-create.json", true, "idempotency_key_reused"),
    ];
    let with_value = |mut event: Value, name: &str, value: &str| {
        event["body"] = json!(create_body(name, value));
        event
    };
    for (file, direct, code) in callers {
        let mut event = sample_event(file);
        if file == "rest-cognito-create.json" {
            // This shape's claims are Cognito's; the function reads the default names.
            let claims = &mut event["requestContext"]["authorizer"]["claims"];
            claims["org_id"] = claims["custom:org_id"].clone();
            claims["permissions"] = claims["cognito:groups"].clone();
        }
        // No Idempotency-Key (but for the direct create): the request id is all the two
        // events share.
        if let Some(headers) = event["headers"].as_object_mut().filter(|_| !direct) {
            headers.remove("idempotency-key");
        }
        event["requestContext"]["requestId"] = json!(format!("template-request-{file}"));
        let name = format!("shared_{}", file.replace(['-', '.'], "_"));
        let first = with_value(event.clone(), &name, "value-A");
        let second = with_value(event.clone(), &name, "value-B");

        let created = deliver(&app, &first).await.expect("first create");
        assert_eq!(created.status, 201, "{file}");
        match deliver(&app, &second).await {
            Ok(answer) => {
                assert!(!direct, "{file}: a direct invocation must fail");
                assert_eq!(answer.status, 409, "{file}");
                assert_eq!(answer.json["error"]["code"], code, "{file}");
            }
            Err(error) => {
                assert!(
                    direct,
                    "{file}: a gateway event must get a response: {error:?}"
                );
                assert_eq!(error.error_type, code, "{file}");
            }
        }
        assert_eq!(
            app.stored_value("org_acme", &name).await,
            "value-A",
            "{file}: the stored value changed"
        );
        // The same request with the same value: an SDK retry of a create that happened.
        let retried = deliver(&app, &first).await.expect("retry");
        assert_eq!(retried.status, 201, "{file}");
        assert_eq!(retried.json["created"], true, "{file}");
    }
    assert_eq!(app.item_count().await, callers.len());
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
            tokio::spawn(async move { deliver(&app, &event).await.map(|a| a.status) })
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
