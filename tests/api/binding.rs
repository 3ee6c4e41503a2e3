//! Tokens bound to their organization and name: a token (with its binding) copied onto
//! another organization's item or another name is refused by `SecretReader`, by the Python
//! reader (the package in `python/`, run here against DynamoDB Local) and by
//! `secrets-admin verify`; `bind` and `rotate-keys` keep bindings without laundering a copy.

use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::crypto::{BindingError, Cipher, DecryptError, EncryptedValue};
use org_secrets::domain::{OrgId, SecretName};
use org_secrets::reader::{ReadError, SecretReader};
use org_secrets::storage::SecretStore;
use secrecy::ExposeSecret;

use crate::support::recovery::*;
use crate::support::*;

const CANARY: &str = "binding-canary-7f3a";

/// Seeds org_a/x, org_b/x and org_a/y with values that carry the canary.
async fn seeded() -> TestApp {
    let app = fresh_app().await;
    for (org, name) in [("org_a", "x"), ("org_b", "x"), ("org_a", "y")] {
        app.seed(org, name, &format!("{CANARY}-{org}-{name}")).await;
    }
    app
}

/// Overwrites the existing item `to`'s (partition and sort key) token and binding with
/// `from`'s, as someone with write access to the table could.
async fn copy_token(store: &SecretStore, from: (&str, &str), to: (&str, &str)) {
    let source = stored_item(store, from.0, from.1).await.unwrap();
    store
        .client()
        .update_item()
        .table_name(store.table().as_str())
        .key("org_id", AttributeValue::S(to.0.to_owned()))
        .key("secret_name", AttributeValue::S(to.1.to_owned()))
        .update_expression("SET encrypted_value = :v, binding = :b")
        .condition_expression("attribute_exists(org_id)")
        .expression_attribute_values(":v", source["encrypted_value"].clone())
        .expression_attribute_values(":b", source["binding"].clone())
        .send()
        .await
        .unwrap();
}

async fn strip_binding(store: &SecretStore, org: &str, name: &str) {
    store
        .client()
        .update_item()
        .table_name(store.table().as_str())
        .key("org_id", AttributeValue::S(org.to_owned()))
        .key("secret_name", AttributeValue::S(name.to_owned()))
        .update_expression("REMOVE binding")
        .send()
        .await
        .unwrap();
}

async fn read(store: &SecretStore, keys: &str, org: &str, name: &str) -> Result<String, ReadError> {
    SecretReader::new(store.clone(), Cipher::from_key_list(keys).unwrap())
        .read(
            &OrgId::parse(org).unwrap(),
            &SecretName::parse(name).unwrap(),
        )
        .await
        .map(|value| value.expose_secret().to_owned())
}

/// `secrets-admin` with `args` (see support::secrets_admin); the canary never printed.
fn run_admin(store: &SecretStore, keys: &str, args: &[&str]) -> (Option<i32>, String) {
    secrets_admin(store, keys, args, &[CANARY])
}

#[tokio::test]
async fn the_python_reader_reads_what_the_function_wrote() {
    let app = seeded().await;
    let store = app.store();
    for (org, name) in [("org_a", "x"), ("org_b", "x"), ("org_a", "y")] {
        let expected = sha256_hex(&format!("{CANARY}-{org}-{name}"));
        assert_eq!(
            python_reader(store, KEY_A, (org, name), CANARY),
            Ok(expected)
        );
    }
    // The key list in either order, as during a rotation.
    assert!(python_reader(store, &format!("{KEY_B},{KEY_A}"), ("org_a", "x"), CANARY).is_ok());
    assert!(python_reader(store, KEY_B, ("org_a", "x"), CANARY).is_err());
}

#[tokio::test]
async fn a_token_copied_to_another_organization_or_name_is_refused_by_every_reader() {
    let app = seeded().await;
    let store = app.store();
    copy_token(store, ("org_a", "x"), ("org_b", "x")).await;
    copy_token(store, ("org_a", "x"), ("org_a", "y")).await;

    for (org, name) in [("org_b", "x"), ("org_a", "y")] {
        // SecretReader: a typed error naming the item, never the value.
        let err = read(store, KEY_A, org, name).await.unwrap_err();
        assert_eq!(
            err,
            ReadError::NotBound {
                org_id: org.to_owned(),
                secret_name: name.to_owned(),
                reason: BindingError::Mismatch,
            }
        );
        let message = err.to_string();
        assert!(message.contains(&format!("{org}/{name}")), "{message}");
        assert!(!message.contains(CANARY));
        // The Python reader.
        let refusal = python_reader(store, KEY_A, (org, name), CANARY).unwrap_err();
        assert!(refusal.contains("binding"), "{refusal}");
    }
    // The original still reads.
    assert_eq!(
        read(store, KEY_A, "org_a", "x").await.unwrap(),
        format!("{CANARY}-org_a-x")
    );
    assert!(python_reader(store, KEY_A, ("org_a", "x"), CANARY).is_ok());

    // secrets-admin verify names both, and only them.
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains("verify: org_b/x: the binding does not match"),
        "{report}"
    );
    assert!(
        report.contains("verify: org_a/y: the binding does not match"),
        "{report}"
    );
    assert!(!report.contains("verify: org_a/x:"), "{report}");
    assert!(
        report.contains("scanned 3, verified 1, undecryptable 0, unbound 0, binding mismatch 2"),
        "{report}"
    );
}

#[tokio::test]
async fn recovery_copies_are_verified_and_a_tampered_one_is_reported() {
    let app = seeded().await;
    let store = app.store();
    assert_eq!(app.admin("org_a").update("x", "v2").await.status, 200);
    assert_eq!(app.admin("org_b").delete("x").await.status, 200);
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(0), "{report}");
    // Two live secrets, org_a/x's previous value and org_b/x's deleted one.
    assert!(
        report.contains("verify: ok: scanned 4, verified 4"),
        "{report}"
    );
    // A restored value still verifies where it belongs.
    assert_eq!(app.admin("org_b").restore("x", None).await.status, 200);
    assert_eq!(
        read(store, KEY_A, "org_b", "x").await.unwrap(),
        format!("{CANARY}-org_b-x")
    );
    // Another secret's token placed in a previous-value copy is found, and restoring it is
    // refused by readers afterwards.
    let previous_key = |item: &mut std::collections::HashMap<String, AttributeValue>| {
        item.insert(
            "org_id".to_owned(),
            AttributeValue::S("\u{2}recovery:org_a".to_owned()),
        );
        item.insert(
            "secret_name".to_owned(),
            AttributeValue::S("previous:x".to_owned()),
        );
    };
    let mut forged = stored_item(store, "org_a", "y").await.unwrap();
    let real_previous = {
        let mut key_only = forged.clone();
        previous_key(&mut key_only);
        key_only
    };
    let original = store
        .client()
        .get_item()
        .table_name(store.table().as_str())
        .key("org_id", real_previous["org_id"].clone())
        .key("secret_name", real_previous["secret_name"].clone())
        .send()
        .await
        .unwrap()
        .item
        .expect("org_a/x has a previous value");
    for attribute in ["created_at", "request_id", "expires_at"] {
        forged.insert(attribute.to_owned(), original[attribute].clone());
    }
    previous_key(&mut forged);
    put_raw_item(store, forged).await;
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains("verify: org_a/x (previous copy): the binding does not match"),
        "{report}"
    );
    // Restore refuses to bring it back: 500 (a table changed outside the function),
    // nothing written, the live value as it was.
    let refused = app.admin("org_a").restore("x", Some("previous")).await;
    assert_eq!(refused.status, 500, "{}", refused.text);
    assert!(!refused.text.contains(CANARY));
    assert_eq!(read(store, KEY_A, "org_a", "x").await.unwrap(), "v2");
    // The same for a deleted copy holding another secret's token.
    assert_eq!(app.admin("org_a").delete("y").await.status, 200);
    copy_token_to_copy(store, ("org_a", "x"), "org_a", "deleted:y").await;
    let refused = app.admin("org_a").restore("y", None).await;
    assert_eq!(refused.status, 500, "{}", refused.text);
    assert!(app.stored_item("org_a", "y").await.is_none());
}

/// Overwrites a recovery copy's token and binding with a live secret's.
async fn copy_token_to_copy(store: &SecretStore, from: (&str, &str), org: &str, sort_key: &str) {
    let recovery_partition = format!("\u{2}recovery:{org}");
    copy_token(store, from, (&recovery_partition, sort_key)).await;
}

/// The one-time upgrade of a table written before bindings: here a legacy table, so the
/// marker `create-table` wrote is removed first (on a marked table `bind` refuses, see
/// `bind_on_a_bound_table_never_launders_a_copied_token_whose_binding_was_stripped`). `bind` binds the item without a binding,
/// never replaces a wrong one, and marks the table; a second run refuses.
#[tokio::test]
async fn unbound_items_are_refused_until_bind_and_bind_never_launders_a_copy() {
    let app = seeded().await;
    let store = app.store();
    unmark(store).await;
    // org_a/x as written before bindings existed; org_a/y holds a copied token.
    strip_binding(store, "org_a", "x").await;
    copy_token(store, ("org_b", "x"), ("org_a", "y")).await;

    assert_eq!(
        read(store, KEY_A, "org_a", "x").await.unwrap_err(),
        ReadError::NotBound {
            org_id: "org_a".to_owned(),
            secret_name: "x".to_owned(),
            reason: BindingError::Missing,
        }
    );
    assert!(python_reader(store, KEY_A, ("org_a", "x"), CANARY).is_err());
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1));
    assert!(
        report.contains(
            "verify: org_a/x: the item has no binding (written before bindings existed: run `secrets-admin bind`)"
        ),
        "{report}"
    );
    assert!(
        report.contains("is not marked bound: if its unbound items were written before bindings"),
        "{report}"
    );
    assert!(
        report
            .contains("unbound 1, binding mismatch 1, malformed 0, tombstones 0; NOT marked bound"),
        "{report}"
    );

    let (code, dry) = run_admin(store, KEY_A, &["bind", "--dry-run"]);
    assert_eq!(code, Some(0), "{dry}");
    assert!(
        dry.contains(
            "bind: done (dry run: nothing is written): scanned 3, bound 1, already bound 2, \
             skipped 0, failed 0; a run would mark the table bound"
        ),
        "{dry}"
    );
    assert!(read(store, KEY_A, "org_a", "x").await.is_err());
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1));
    assert!(
        report.contains("NOT marked bound"),
        "a dry run marked it: {report}"
    );

    let (code, bound) = run_admin(store, KEY_A, &["bind"]);
    assert_eq!(code, Some(0), "{bound}");
    assert!(
        bound.contains(
            "bind: done: scanned 3, bound 1, already bound 2, skipped 0, failed 0; table"
        ),
        "{bound}"
    );
    assert!(bound.contains("marked bound"), "{bound}");
    assert_eq!(
        read(store, KEY_A, "org_a", "x").await.unwrap(),
        format!("{CANARY}-org_a-x")
    );
    assert!(python_reader(store, KEY_A, ("org_a", "x"), CANARY).is_ok());
    // Once is all: the table is marked now, so a rerun binds nothing.
    let (code, rerun) = run_admin(store, KEY_A, &["bind"]);
    assert_eq!(code, Some(1), "{rerun}");
    assert!(rerun.contains("bind: refused:"), "{rerun}");
    assert!(rerun.contains("by bind, so nothing was bound"), "{rerun}");
    // The copied token keeps its (wrong) binding and is still reported.
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1));
    assert!(
        report.contains("verify: org_a/y: the binding does not match"),
        "{report}"
    );
    assert!(
        report
            .contains("unbound 0, binding mismatch 1, malformed 0, tombstones 0; marked bound at"),
        "{report}"
    );
    assert!(!report.contains("not marked bound"), "{report}");
    let (code, usage) = run_admin(store, KEY_A, &["bind", "--everything"]);
    assert_eq!(code, Some(2));
    assert!(usage.contains("usage:"));
}

/// `bind` marks a table only after a pass that left nothing unbound and nothing failed; and
/// `verify` reports a table without the marker, naming what it may mean.
#[tokio::test]
async fn bind_marks_the_table_only_after_a_complete_pass_and_verify_reports_a_missing_marker() {
    let app = seeded().await;
    let store = app.store();
    // Marked at birth by create-table (the library call behind `secrets-admin create-table`).
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains(
            "verify: ok: scanned 3, verified 3, undecryptable 0, unbound 0, binding mismatch 0, \
             malformed 0, tombstones 0; marked bound at "
        ),
        "{report}"
    );
    assert!(report.contains(" by create-table"), "{report}");

    // Every item bound but no marker: a table bind never completed on, or a deleted marker.
    unmark(store).await;
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains(
            "is not marked bound, though every item has a binding: either `secrets-admin bind` \
             has never completed on it, or someone deleted the marker"
        ),
        "{report}"
    );
    assert!(
        report.contains("verify: PROBLEMS: scanned 3, verified 3"),
        "{report}"
    );

    // A legacy item no configured key opens stays unbound, and the table unmarked; a dry
    // run says so and exits as the run will.
    strip_binding(store, "org_a", "y").await;
    let (code, dry) = run_admin(store, KEY_B, &["bind", "--dry-run"]);
    assert_eq!(code, Some(1), "{dry}");
    assert!(
        dry.contains("failed 1; a run would leave the table unmarked"),
        "{dry}"
    );
    let (code, failed) = run_admin(store, KEY_B, &["bind"]);
    assert_eq!(code, Some(1), "{failed}");
    assert!(
        failed.contains("bind: left unbound org_a/y: no configured key opens its token"),
        "{failed}"
    );
    assert!(
        failed.contains("bound 0, already bound 2, skipped 0, failed 1; table"),
        "{failed}"
    );
    assert!(failed.contains("NOT marked bound"), "{failed}");
    // So does a malformed item, whatever the key.
    set_attribute(
        store,
        "org_b",
        "x",
        "binding",
        Some(AttributeValue::N("1".to_owned())),
    )
    .await;
    let (code, failed) = run_admin(store, KEY_A, &["bind"]);
    assert_eq!(code, Some(1), "{failed}");
    assert!(
        failed.contains(
            "bind: left unbound org_b/x: malformed: binding is a number (N), not a string"
        ),
        "{failed}"
    );
    assert!(
        failed.contains("bound 1, already bound 1, skipped 0, failed 1; table"),
        "{failed}"
    );
    assert!(failed.contains("NOT marked bound"), "{failed}");
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("; NOT marked bound"), "{report}");
    // Once that is dealt with (here: the item deleted), bind marks the table.
    store
        .client()
        .delete_item()
        .table_name(store.table().as_str())
        .key("org_id", AttributeValue::S("org_b".to_owned()))
        .key("secret_name", AttributeValue::S("x".to_owned()))
        .send()
        .await
        .unwrap();
    let (code, done) = run_admin(store, KEY_A, &["bind"]);
    assert_eq!(code, Some(0), "{done}");
    assert!(
        done.contains("bind: done: scanned 2, bound 0, already bound 2, skipped 0, failed 0"),
        "{done}"
    );
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains("verify: ok: scanned 2, verified 2"),
        "{report}"
    );
    assert!(report.contains(" by bind"), "{report}");
}

/// `secrets-admin create-table` marks the table it creates, and only that one.
#[tokio::test]
async fn create_table_marks_a_new_table_bound_and_leaves_an_existing_one_alone() {
    // A table name nothing has created yet.
    let store = SecretStore::from_sdk_config(
        &local_sdk_config(&dynamodb_endpoint()).await,
        unique_table_name(),
        &Default::default(),
    );
    let (code, created) = run_admin(&store, KEY_A, &["create-table"]);
    assert_eq!(code, Some(0), "{created}");
    assert!(created.contains("created table"), "{created}");
    assert!(created.contains("marked bound"), "{created}");
    let marker = store
        .bindings_marker()
        .await
        .unwrap()
        .expect("marked at birth");
    assert_eq!(marker.marked_by, "create-table");
    assert!(marker.marked_at.ends_with('Z'), "{}", marker.marked_at);
    // The marker is no organization's item: it is not listed, and not counted.
    assert_eq!(item_count(&store).await, 0);
    // An existing table, here one unmarked since, is left as it is.
    unmark(&store).await;
    let (code, exists) = run_admin(&store, KEY_A, &["create-table"]);
    assert_eq!(code, Some(0), "{exists}");
    assert!(exists.contains("exists"), "{exists}");
    assert_eq!(store.bindings_marker().await.unwrap(), None);
}

#[tokio::test]
async fn rotation_rebinds_what_it_reencrypts_and_leaves_a_copied_token_alone() {
    let app = seeded().await;
    let store = app.store();
    copy_token(store, ("org_a", "x"), ("org_a", "y")).await;
    let (code, rotated) = run_admin(store, &format!("{KEY_B},{KEY_A}"), &["rotate-keys"]);
    assert_eq!(code, Some(1), "a refused item is a failure: {rotated}");
    assert!(
        rotated.contains("rotate-keys: failed org_a/y: the binding does not match"),
        "{rotated}"
    );
    assert!(
        rotated.contains("rotated 2, skipped 0, failed 1"),
        "{rotated}"
    );
    // Under the new key alone, the rotated items read and verify: their bindings moved too.
    for (org, name) in [("org_a", "x"), ("org_b", "x")] {
        assert_eq!(
            read(store, KEY_B, org, name).await.unwrap(),
            format!("{CANARY}-{org}-{name}")
        );
    }
    let (code, report) = run_admin(store, KEY_B, &["verify"]);
    assert_eq!(code, Some(1));
    assert!(
        report.contains("scanned 3, verified 2, undecryptable 1, unbound 0, binding mismatch 0"),
        "{report}"
    );
}

// `bind` never launders once a table is bound, and `verify` checks every item.

/// Sets (or, with `None`, removes) one attribute of the existing item `partition`/`sort`,
/// as someone with write access to the table could.
async fn set_attribute(
    store: &SecretStore,
    partition: &str,
    sort: &str,
    attribute: &str,
    value: Option<AttributeValue>,
) {
    let request = store
        .client()
        .update_item()
        .table_name(store.table().as_str())
        .key("org_id", AttributeValue::S(partition.to_owned()))
        .key("secret_name", AttributeValue::S(sort.to_owned()))
        .condition_expression("attribute_exists(org_id)")
        .expression_attribute_names("#attribute", attribute);
    let request = match value {
        Some(value) => request
            .update_expression("SET #attribute = :value")
            .expression_attribute_values(":value", value),
        None => request.update_expression("REMOVE #attribute"),
    };
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{partition:?}/{sort:?}: {e}"));
}

/// The shapes a token's attributes must never take, by name: absent, and each DynamoDB type
/// that is not a string.
fn wrong_shapes() -> Vec<(&'static str, Option<AttributeValue>)> {
    use aws_sdk_dynamodb::primitives::Blob;
    vec![
        ("missing", None),
        ("number", Some(AttributeValue::N("42".to_owned()))),
        (
            "binary",
            Some(AttributeValue::B(Blob::new(b"gAAAAA".to_vec()))),
        ),
        (
            "list",
            Some(AttributeValue::L(vec![AttributeValue::S(
                "v1:x".to_owned(),
            )])),
        ),
        (
            "map",
            Some(AttributeValue::M(std::collections::HashMap::from([(
                "S".to_owned(),
                AttributeValue::S("v1:x".to_owned()),
            )]))),
        ),
    ]
}

/// A tombstone as a delete with `RECOVERY_WINDOW_DAYS=0` has written it (written directly
/// here, so the test does not depend on what deletes write now): its key in org_c's recovery
/// partition, who removed the value, when it expires and the change ledger; no value, no
/// binding.
fn tombstone(sort_key: &str) -> std::collections::HashMap<String, AttributeValue> {
    let text = |value: &str| AttributeValue::S(value.to_owned());
    let entry = std::collections::HashMap::from([
        ("op".to_owned(), text("delete")),
        ("by".to_owned(), text("user-1")),
        ("request_id".to_owned(), text("req-1")),
        ("at".to_owned(), AttributeValue::N("1760000000".to_owned())),
    ]);
    std::collections::HashMap::from([
        ("org_id".to_owned(), text("\u{2}recovery:org_c")),
        ("secret_name".to_owned(), text(sort_key)),
        ("removed_at".to_owned(), text("2025-10-09T08:53:20Z")),
        ("removed_by".to_owned(), text("user-1")),
        (
            "expires_at".to_owned(),
            AttributeValue::N("4102444800".to_owned()),
        ),
        (
            "changes".to_owned(),
            AttributeValue::L(vec![AttributeValue::M(entry)]),
        ),
    ])
}

/// What `verify` says about an attribute of a shape from [`wrong_shapes`].
fn defect(attribute: &str, shape: &str) -> String {
    match shape {
        "missing" => format!("{attribute} is missing"),
        "number" => format!("{attribute} is a number (N), not a string"),
        "binary" => format!("{attribute} is a binary (B), not a string"),
        "list" => format!("{attribute} is a list (L), not a string"),
        "map" => format!("{attribute} is a map (M), not a string"),
        other => panic!("no such shape {other}"),
    }
}

/// org_a/x's token and binding copied onto org_b/x,
/// then the binding stripped, on a table that `create-table` marked bound at birth. `bind`
/// refuses (exit 1, nothing written), every reader keeps refusing the item, and `verify`
/// names it as stripped, never as something to bind.
#[tokio::test]
async fn bind_on_a_bound_table_never_launders_a_copied_token_whose_binding_was_stripped() {
    let app = seeded().await;
    let store = app.store();
    copy_token(store, ("org_a", "x"), ("org_b", "x")).await;
    strip_binding(store, "org_b", "x").await;

    for args in [&["bind"][..], &["bind", "--dry-run"]] {
        let (code, refused) = run_admin(store, KEY_A, args);
        assert_eq!(code, Some(1), "{args:?}: {refused}");
        assert!(refused.contains("bind: refused:"), "{refused}");
        assert!(refused.contains("is marked bound"), "{refused}");
        assert!(refused.contains("nothing was bound"), "{refused}");
    }
    // Nothing was written: org_b/x still has no binding, and every reader refuses it.
    let item = stored_item(store, "org_b", "x").await.unwrap();
    assert!(!item.contains_key("binding"), "bind wrote a binding");
    assert_eq!(
        read(store, KEY_A, "org_b", "x").await.unwrap_err(),
        ReadError::NotBound {
            org_id: "org_b".to_owned(),
            secret_name: "x".to_owned(),
            reason: BindingError::Missing,
        }
    );
    let refusal = python_reader(store, KEY_A, ("org_b", "x"), CANARY).unwrap_err();
    assert!(refusal.contains("binding is missing"), "{refusal}");
    // verify: exit 1, the item named as stripped, and no advice to bind it.
    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains("verify: org_b/x: the item has no binding, in a table marked bound"),
        "{report}"
    );
    assert!(!report.contains("run `secrets-admin bind`"), "{report}");
    assert!(
        report.contains("scanned 3, verified 2, undecryptable 0, unbound 1, binding mismatch 0"),
        "{report}"
    );
    // The original is untouched.
    assert_eq!(
        read(store, KEY_A, "org_a", "x").await.unwrap(),
        format!("{CANARY}-org_a-x")
    );
}

/// Every live item and recovery copy whose `encrypted_value` or `binding`
/// is missing or not a string is reported by name (exit 1); only a tombstone (a
/// deleted copy with nothing but its key, `removed_*`, `expires_at` and `changes`) is
/// skipped, and counted.
#[tokio::test]
async fn verify_reports_every_item_whose_token_or_binding_is_missing_or_not_a_string() {
    let app = seeded().await;
    let store = app.store();
    // One secret per case, each with a previous copy (org_a, after an update) and a deleted
    // copy (org_b, after a delete): the case's defect goes onto all three items.
    let mut cases = Vec::new();
    for attribute in ["encrypted_value", "binding"] {
        for (shape, value) in wrong_shapes() {
            cases.push((attribute, shape, value, format!("{attribute}_{shape}")));
        }
    }
    for (_, _, _, name) in &cases {
        app.seed("org_a", name, &format!("{CANARY}-{name}")).await;
        let updated = app.admin("org_a").update(name, "v2").await;
        assert_eq!(updated.status, 200, "{}", updated.text);
        app.seed("org_b", name, &format!("{CANARY}-{name}")).await;
        assert_eq!(app.admin("org_b").delete(name).await.status, 200);
    }
    for (attribute, _, value, name) in &cases {
        let places = [
            ("org_a".to_owned(), name.clone()),
            ("\u{2}recovery:org_a".to_owned(), format!("previous:{name}")),
            ("\u{2}recovery:org_b".to_owned(), format!("deleted:{name}")),
        ];
        for (partition, sort) in places {
            set_attribute(store, &partition, &sort, attribute, value.clone()).await;
        }
    }
    // A tombstone (a delete with recovery off), and three items that only look like one:
    // with a binding, with another attribute of a secret, and in the previous slot, where
    // tombstones never were.
    let bound = stored_item(store, "org_a", "y").await.unwrap();
    let mut with_binding = tombstone("deleted:half");
    with_binding.insert("binding".to_owned(), bound["binding"].clone());
    let mut with_created_at = tombstone("deleted:extra");
    with_created_at.insert("created_at".to_owned(), bound["created_at"].clone());
    for item in [
        tombstone("deleted:gone"),
        with_binding,
        with_created_at,
        tombstone("previous:ghost"),
    ] {
        put_raw_item(store, item).await;
    }

    let (code, report) = run_admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1), "{report}");
    for (attribute, shape, _, name) in &cases {
        let expected = if *attribute == "binding" && *shape == "missing" {
            "the item has no binding, in a table marked bound".to_owned()
        } else {
            format!("malformed: {}", defect(attribute, shape))
        };
        for place in [
            format!("org_a/{name}"),
            format!("org_a/{name} (previous copy)"),
            format!("org_b/{name} (deleted copy)"),
        ] {
            let line = format!("verify: {place}: {expected}");
            assert!(report.contains(&line), "no {line:?} in:\n{report}");
        }
    }
    for (place, expected) in [
        (
            "org_c/half (deleted copy)",
            "malformed: encrypted_value is missing",
        ),
        (
            "org_c/extra (deleted copy)",
            "malformed: encrypted_value is missing",
        ),
        (
            "org_c/ghost (previous copy)",
            "malformed: encrypted_value is missing, binding is missing",
        ),
    ] {
        let line = format!("verify: {place}: {expected}");
        assert!(report.contains(&line), "no {line:?} in:\n{report}");
    }
    assert!(!report.contains("org_c/gone"), "{report}");
    // 3 seeded and 10 live cases, 10 previous and 10 deleted copies, and the 4 in org_c;
    // verified: org_a/x, org_a/y and org_b/x.
    assert!(
        report.contains(
            "scanned 37, verified 3, undecryptable 0, unbound 3, binding mismatch 0, malformed 30, tombstones 1"
        ),
        "{report}"
    );
}

/// Attributes of the wrong type: both readers give the same typed refusal, never a crash
/// (an AttributeError or TypeError in Python): a token that is not a string is `malformed`,
/// a binding that is not a string (or none) is `not_bound`, as the storage contract's read
/// checks say.
#[tokio::test]
async fn both_readers_refuse_attributes_of_the_wrong_type_alike() {
    let app = seeded().await;
    let store = app.store();
    let rust_reader = SecretReader::new(store.clone(), Cipher::from_key_list(KEY_A).unwrap());
    let mut expected = Vec::new();
    for attribute in ["encrypted_value", "binding"] {
        for (shape, value) in wrong_shapes() {
            let name = format!("{attribute}_{shape}");
            app.seed("org_a", &name, &format!("{CANARY}-{name}")).await;
            set_attribute(store, "org_a", &name, attribute, value).await;
            let kind = if attribute == "binding" {
                "not_bound"
            } else {
                "malformed"
            };
            let rust = rust_reader
                .read(
                    &OrgId::parse("org_a").unwrap(),
                    &SecretName::parse(&name).unwrap(),
                )
                .await
                .map(|_| "read")
                .unwrap_or_else(|error| error.kind());
            assert_eq!(rust, kind, "{name}: the Rust reader");
            expected.push(format!("{name} {kind}"));
        }
    }
    let names: Vec<String> = expected
        .iter()
        .map(|line| line.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    let script = "import json, os, sys\n\
        import boto3\n\
        from org_secrets_reader import SecretReader, ReaderError\n\
        reader = SecretReader(os.environ['SECRETS_TABLE_NAME'], os.environ['ENCRYPTION_KEY'])\n\
        for name in json.loads(sys.argv[1]):\n\
        \x20   try:\n\
        \x20       reader.get('org_a', name)\n\
        \x20       print(name, 'read')\n\
        \x20   except ReaderError as err:\n\
        \x20       print(name, err.kind)\n";
    let output = Command::new(python())
        .args(["-c", script])
        .arg(serde_json::to_string(&names).unwrap())
        .env("ENCRYPTION_KEY", KEY_A)
        .env("SECRETS_TABLE_NAME", store.table().as_str())
        .envs(local_aws_env())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stdout.contains(CANARY));
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{stderr}");
    // The command line says so too, without a traceback.
    let refusal =
        python_reader(store, KEY_A, ("org_a", "encrypted_value_number"), CANARY).unwrap_err();
    assert!(
        refusal.starts_with("refused: org_a/encrypted_value_number:")
            && refusal.contains("(malformed)"),
        "{refusal}"
    );
    assert!(!refusal.contains("Traceback"), "{refusal}");
}

/// On a table marked bound, `rotate-keys` never re-encrypts an unbound
/// item (re-encrypting would keep a stripped copy readable under the new key alone): it is
/// reported failed and left as it is.
#[tokio::test]
async fn rotation_on_a_bound_table_fails_an_unbound_item_and_leaves_it_alone() {
    let app = seeded().await;
    let store = app.store();
    strip_binding(store, "org_a", "y").await;
    let before = stored_item(store, "org_a", "y").await.unwrap();
    let (code, rotated) = run_admin(store, &format!("{KEY_B},{KEY_A}"), &["rotate-keys"]);
    assert_eq!(code, Some(1), "{rotated}");
    assert!(
        rotated.contains(
            "rotate-keys: failed org_a/y: the item has no binding, in a table marked bound"
        ),
        "{rotated}"
    );
    assert!(
        rotated.contains("rotated 2, skipped 0, failed 1"),
        "{rotated}"
    );
    let after = stored_item(store, "org_a", "y").await.unwrap();
    assert_eq!(after.get("encrypted_value"), before.get("encrypted_value"));
    assert!(!after.contains_key("binding"));
    // In a table not marked bound (written before bindings) it is re-encrypted, and stays
    // unbound for `bind`.
    unmark(store).await;
    let (code, rotated) = run_admin(store, &format!("{KEY_B},{KEY_A}"), &["rotate-keys"]);
    assert_eq!(code, Some(0), "{rotated}");
    assert!(
        rotated.contains("rotated 1, skipped 2, failed 0"),
        "{rotated}"
    );
    let after = stored_item(store, "org_a", "y").await.unwrap();
    assert_ne!(after.get("encrypted_value"), before.get("encrypted_value"));
    assert!(!after.contains_key("binding"));
}

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
    crate::support::set_attribute(
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

/// `SecretReader` (and `verify`, and `rotate-keys`) apply the Fernet spec's 60 s clock-skew
/// rule (SECURITY.md: "The spec's 60 s clock-skew rule is applied"): a token stamped further
/// ahead is `Undecryptable`. The Python reader must too: `cryptography` checks the clock skew
/// only when `MultiFernet.decrypt` is given a `ttl`, so a reader that passes none returns
/// the value of the very item `SecretReader` refuses and `verify` reports.
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
    crate::support::set_attribute(
        &store,
        &key,
        "encrypted_value",
        AttributeValue::S(token.as_str().to_owned()),
    )
    .await;
    crate::support::set_attribute(
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
    let python = python_reader(&store, KEY_A, (ORG, "ahead"), CANARY);
    assert!(
        python.is_err(),
        "SecretReader refuses the item, the Python reader returns its value: {python:?}"
    );
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
