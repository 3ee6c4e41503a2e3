//! Issue 19: one change record per write request. The scenarios independent testing found
//! in the change ledger, each a table of cases: request ids that were silently trimmed or
//! replaced, a retry after the old key left `ENCRYPTION_KEY`, forged records and ledger
//! entries, and identities reused for another change.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::crypto::Cipher;
use org_secrets::domain::{OrgId, RequestId};
use org_secrets::rotation::{rotate_keys, RotationOptions};
use org_secrets::storage::{RecoverySlot, SecretStore};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::support::*;

const ORG: &str = "org_acme";
/// The subject of the JWT sample event every `op_event` carries.
const JWT_SUBJECT: &str = "alice@acme.example";

fn value_of(store_cipher: &Cipher, item: &HashMap<String, AttributeValue>) -> String {
    store_cipher
        .decrypt(&org_secrets::crypto::EncryptedValue::from_stored(
            attr(item, "encrypted_value").to_owned(),
        ))
        .expect("decrypts")
        .expose_secret()
        .to_owned()
}

async fn copy_value(app: &TestApp, name: &str, slot: RecoverySlot) -> Option<String> {
    let org = OrgId::parse(ORG).unwrap();
    let name = org_secrets::domain::SecretName::parse(name).unwrap();
    app.store()
        .recovery_copy(&org, &name, slot)
        .await
        .unwrap()
        .map(|item| value_of(&app.config().cipher, &item))
}

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

/// Issue 19, "Why" 1: a direct invocation's request id over 256 bytes, with a control
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
            copy_value(&app, &name, RecoverySlot::Deleted)
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
            copy_value(&app, &name, RecoverySlot::Previous)
                .await
                .as_deref(),
            Some("v1"),
            "{case}"
        );
        assert_eq!(app.admin(ORG).update(&name, "v3").await.status, 200);
        assert_eq!(deliver(&app, &update).await.unwrap().status, 200, "{case}");
        assert_eq!(app.stored_value(ORG, &name).await, "v3", "{case}");
        assert_eq!(
            copy_value(&app, &name, RecoverySlot::Previous)
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
        assert_eq!(copy_value(&app, "kept", RecoverySlot::Previous).await, None);
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

/// Issue 19, "Why" 2: an update retried before, during and after a key rotation (the old
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
            copy_value(app, "rotated", RecoverySlot::Previous)
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

/// Issue 19, "Why" 3: a ledger entry or change record forged by someone who can write the
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

/// Issue 19, "What to build" 1: the same identity used for another operation, secret or
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
