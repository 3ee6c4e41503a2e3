//! Second outside review of issue 19: rotation with change records, `verify` on tampered
//! records, the bindings marker, `secrets-admin` output, and the Python reader recipe. Each
//! test states what the code or the documentation promises and checks it against the real
//! handler, the real `secrets-admin` binary and the real Python recipe on DynamoDB Local. A
//! test that fails is a finding (see the review report); the others record what held.

use std::collections::HashMap;
use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::crypto::{Cipher, DecryptError, EncryptedValue};
use org_secrets::domain::{OrgId, SecretName};
use org_secrets::reader::{ReadError, SecretReader};
use org_secrets::storage::{RecoverySlot, SecretStore};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::support::*;

const ORG: &str = "org_acme";
/// The subject of the JWT sample event every `op_event` carries.
const JWT_SUBJECT: &str = "alice@acme.example";
const CANARY: &str = "review2-canary-5c1e";

// ---------------------------------------------------------------------------------------
// Helpers (copied from change_records.rs and binding.rs, which keep theirs private).
// ---------------------------------------------------------------------------------------

fn request_id_of(event: &Value) -> String {
    event["requestContext"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn set_attribute(
    store: &SecretStore,
    key: &(String, String),
    name: &str,
    value: AttributeValue,
) {
    let mut item = stored_item(store, &key.0, &key.1).await.expect("the item");
    item.insert(name.to_owned(), value);
    put_raw_item(store, item).await;
}

async fn copy_value(app: &TestApp, name: &str, slot: RecoverySlot) -> Option<String> {
    app.store()
        .recovery_copy(
            &OrgId::parse(ORG).unwrap(),
            &SecretName::parse(name).unwrap(),
            slot,
        )
        .await
        .unwrap()
        .map(|item| {
            app.config()
                .cipher
                .decrypt(&EncryptedValue::from_stored(
                    attr(&item, "encrypted_value").to_owned(),
                ))
                .expect("decrypts")
                .expose_secret()
                .to_owned()
        })
}

fn is_record(item: &HashMap<String, AttributeValue>) -> bool {
    attr(item, "org_id").starts_with("\u{3}changes:")
}

/// (partition, sort key) -> the item's token, or its seal for a change record.
async fn tokens_and_seals(store: &SecretStore) -> HashMap<(String, String), String> {
    all_items(store)
        .await
        .into_iter()
        .filter_map(|item| {
            let field = if is_record(&item) {
                "seal"
            } else {
                "encrypted_value"
            };
            let value = item.get(field)?.as_s().ok()?.clone();
            Some((
                (
                    attr(&item, "org_id").to_owned(),
                    attr(&item, "secret_name").to_owned(),
                ),
                value,
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Finding: `rotate-keys --limit N` does not bound a batch's writes.
// ---------------------------------------------------------------------------------------

/// `RotationOptions::limit`: "Stop after this many rotations (a batch); a rerun continues";
/// operations.md: `rotate-keys --limit N` "for batches". Re-sealing a change record is a
/// conditional write like re-encrypting a token, but it is not counted against the limit:
/// a table whose tokens are current and whose last day of change records is under the old
/// key has every record re-sealed by `--limit 1`, and the run does not even say it stopped.
#[tokio::test]
async fn rotate_keys_limit_bounds_every_write_of_a_batch_reseals_included() {
    let store = fresh_store().await;
    // Tokens under KEY_B (current for "KEY_B,KEY_A"); the deletes' records under KEY_A, as
    // a function still on the old list writes them.
    let on_b = app_on(store.clone(), &[("ENCRYPTION_KEY", KEY_B)]);
    let on_a = app_on(store.clone(), &[("ENCRYPTION_KEY", KEY_A)]);
    for name in ["l0", "l1", "l2", "l3"] {
        on_b.seed(ORG, name, &format!("{CANARY}-{name}")).await;
        assert_eq!(on_a.admin(ORG).delete(name).await.status, 200);
    }
    let before = tokens_and_seals(&store).await;
    let keys = format!("{KEY_B},{KEY_A}");
    let (code, output) = secrets_admin(&store, &keys, &["rotate-keys", "--limit", "1"], &[CANARY]);
    assert_eq!(code, Some(0), "{output}");
    let after = tokens_and_seals(&store).await;
    let written = before
        .iter()
        .filter(|(key, value)| after.get(*key) != Some(value))
        .count();
    assert!(
        written <= 1,
        "`rotate-keys --limit 1` wrote {written} items:\n{output}"
    );
}

// ---------------------------------------------------------------------------------------
// Finding: a record's plain `replay_until` decides, not only its seal.
// ---------------------------------------------------------------------------------------

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
        copy_value(&app, "t", RecoverySlot::Previous)
            .await
            .as_deref(),
        Some("v2")
    );
}

// ---------------------------------------------------------------------------------------
// Finding: verify does not check the plain attributes that are not in the seal.
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Finding: verify prints what the table holds, control characters included.
// ---------------------------------------------------------------------------------------

/// `verify` prints each finding as `org/name: problem`, the organization and name taken
/// from the item's key or, for a change record, from its plain `changed_secret`: text that
/// anyone who can write the table chooses. No name the function writes holds a control
/// character, so one in the output can only come from an item written around the function,
/// and a terminal obeys it: cursor movement and line erasure (ESC [1A, ESC [2K) or a carriage
/// return let a planted item rewrite or hide the report of another finding, or forge a
/// `verify: ok` line. The output should show such characters escaped.
#[tokio::test]
async fn verify_output_carries_no_control_character_from_the_table() {
    let app = fresh_app().await;
    let store = app.store().clone();
    app.seed(ORG, "real", &format!("{CANARY}-real")).await;
    let genuine = app.stored_item(ORG, "real").await.unwrap();
    let erase = "\u{1b}[1A\u{1b}[2K\rverify: ok: scanned 9, verified 9";
    // A live item whose name erases the line above it (its token copied: a mismatch).
    let mut planted = genuine.clone();
    planted.insert(
        "secret_name".to_owned(),
        AttributeValue::S(format!("x{erase}")),
    );
    put_raw_item(&store, planted).await;
    // A change record whose plain `changed_secret` does the same.
    let delete = admin(ORG).delete_event("real");
    assert_eq!(app.call(&delete).await.status, 200);
    let slot = record_slot(&app, ORG, Some(JWT_SUBJECT), &request_id_of(&delete), None);
    set_attribute(
        &store,
        &slot,
        "changed_secret",
        AttributeValue::S(format!("real{erase}")),
    )
    .await;

    let (code, output) = secrets_admin(&store, KEY_A, &["verify"], &[CANARY]);
    assert_eq!(code, Some(1), "{output}");
    let controls: Vec<char> = output
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(
        controls.is_empty(),
        "verify printed control characters from the table: {controls:?}\n{output:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Finding: the two readers disagree on a token stamped in the future.
// ---------------------------------------------------------------------------------------

/// `SecretReader` (and `verify`, and `rotate-keys`) apply the Fernet spec's 60 s clock-skew
/// rule (SECURITY.md: "The spec's 60 s clock-skew rule is applied"): a token stamped further
/// ahead is `Undecryptable`. The Python recipe (`examples/python/read_secret.py`, the
/// storage contract's reader) calls `MultiFernet.decrypt(token)` without a `ttl`, and
/// `cryptography` checks the clock skew only when a `ttl` is given, so it returns the value
/// of the very item `SecretReader` refuses and `verify` reports.
#[tokio::test]
async fn both_readers_give_the_same_answer_for_a_token_stamped_an_hour_ahead() {
    let app = fresh_app().await;
    let store = app.store().clone();
    let value = format!("{CANARY}-future");
    app.seed(ORG, "ahead", &value).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // The fernet crate keeps `encrypt_at_time` behind a feature; cryptography has it.
    let output = Command::new(python())
        .args([
            "-c",
            "import sys; from cryptography.fernet import Fernet; \
             print(Fernet(sys.argv[1]).encrypt_at_time(sys.argv[2].encode(), int(sys.argv[3])).decode())",
            KEY_A,
            &value,
            &(now + 3_600).to_string(),
        ])
        .output()
        .expect("python");
    assert!(output.status.success());
    let token =
        EncryptedValue::from_stored(String::from_utf8(output.stdout).unwrap().trim().to_owned());
    let binding = app.config().cipher.bind(ORG, "ahead", &token);
    let key = (ORG.to_owned(), "ahead".to_owned());
    set_attribute(
        &store,
        &key,
        "encrypted_value",
        AttributeValue::S(token.as_str().to_owned()),
    )
    .await;
    set_attribute(
        &store,
        &key,
        "binding",
        AttributeValue::S(binding.as_str().to_owned()),
    )
    .await;

    let rust = SecretReader::new(store.clone(), Cipher::from_key_list(KEY_A).unwrap())
        .read(
            &OrgId::parse(ORG).unwrap(),
            &SecretName::parse("ahead").unwrap(),
        )
        .await
        .map(|value| sha256_hex(value.expose_secret()));
    assert_eq!(
        rust,
        Err(ReadError::Undecryptable(DecryptError::NoKeyOpensToken)),
        "SecretReader"
    );
    let python = python_recipe(&store, KEY_A, (ORG, "ahead"), CANARY);
    assert!(
        python.is_err(),
        "SecretReader refuses the item, the Python recipe returns its value: {python:?}"
    );
}

// ---------------------------------------------------------------------------------------
// What held.
// ---------------------------------------------------------------------------------------

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

/// A table holding only change records and a counter (every secret deleted with recovery
/// off) whose marker was deleted: `verify` says so (exit 1), `bind` marks it (exit 0), and
/// from then on a copied token with its binding stripped is refused by `bind` (exit 1),
/// reported by `verify` and never re-encrypted by `rotate-keys`.
#[tokio::test]
async fn a_table_of_only_records_and_counters_is_marked_by_bind_and_never_laundered_after() {
    let store = fresh_store().await;
    let app = app_on(store.clone(), &[("RECOVERY_WINDOW_DAYS", "0")]);
    app.seed(ORG, "gone", &format!("{CANARY}-gone")).await;
    assert_eq!(app.admin(ORG).delete("gone").await.status, 200);
    unmark(&store).await;
    let (code, report) = secrets_admin(&store, KEY_A, &["verify"], &[CANARY]);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("NOT marked bound"), "{report}");
    let (code, bound) = secrets_admin(&store, KEY_A, &["bind"], &[CANARY]);
    assert_eq!(code, Some(0), "{bound}");
    assert!(bound.contains("scanned 0, bound 0"), "{bound}");
    let (code, report) = secrets_admin(&store, KEY_A, &["verify"], &[CANARY]);
    assert_eq!(code, Some(0), "{report}");

    // A copy of org_b's token onto org_acme's item, its binding stripped.
    app.seed("org_b", "x", &format!("{CANARY}-b")).await;
    app.seed(ORG, "x", &format!("{CANARY}-a")).await;
    let mut copied = stored_item(&store, "org_b", "x").await.unwrap();
    copied.insert("org_id".to_owned(), AttributeValue::S(ORG.to_owned()));
    copied.remove("binding");
    put_raw_item(&store, copied.clone()).await;
    let (code, refused) = secrets_admin(&store, KEY_A, &["bind"], &[CANARY]);
    assert_eq!(code, Some(1), "{refused}");
    let (code, report) = secrets_admin(&store, KEY_A, &["verify"], &[CANARY]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains("verify: org_acme/x: the item has no binding, in a table marked bound"),
        "{report}"
    );
    let (code, rotated) = secrets_admin(
        &store,
        &format!("{KEY_B},{KEY_A}"),
        &["rotate-keys"],
        &[CANARY],
    );
    assert_eq!(code, Some(1), "{rotated}");
    assert_eq!(stored_item(&store, ORG, "x").await.unwrap(), copied);
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
