//! A request's identity: a request id used byte for byte or refused, an
//! `Idempotency-Key` that names one change of one actor (never another operation, name or
//! value), in every authorizer shape and for direct invocations.

use org_secrets::domain::RequestId;
use org_secrets::storage::RecoverySlot;
use serde_json::{json, Value};

use crate::support::recovery::*;
use crate::support::shapes::*;
use crate::support::*;

const CANARY: &str = "CANARY-change_records-identity-7e1a";
const ORG: &str = "org_acme";

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
