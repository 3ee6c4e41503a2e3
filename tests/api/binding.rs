//! Tokens bound to their organization and name: a token (with its binding) copied onto
//! another organization's item or another name is refused by `SecretReader`, by the Python
//! reader recipe (`examples/python/read_secret.py`, run here against DynamoDB Local) and by
//! `secrets-admin verify`; `bind` and `rotate-keys` keep bindings without laundering a copy.

use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::crypto::{BindingError, Cipher};
use org_secrets::domain::{OrgId, SecretName};
use org_secrets::reader::{ReadError, SecretReader};
use org_secrets::storage::SecretStore;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

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

/// Runs the Python recipe: `Ok(sha256 hex of the value)` or `Err(its refusal)`.
fn python_recipe(store: &SecretStore, keys: &str, org: &str, name: &str) -> Result<String, String> {
    let output = Command::new(python())
        .arg(project_path("examples/python/read_secret.py"))
        .args([org, name])
        .env("ENCRYPTION_KEY", keys)
        .env("SECRETS_TABLE_NAME", store.table().as_str())
        .envs(local_aws_env())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("run the Python recipe");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY));
    match output.status.code() {
        Some(0) => Ok(stdout),
        Some(1) => Err(stderr),
        other => panic!("recipe crashed ({other:?}): {stderr}"),
    }
}

fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `secrets-admin` with `args` (see support::secrets_admin); the canary never printed.
fn admin(store: &SecretStore, keys: &str, args: &[&str]) -> (Option<i32>, String) {
    secrets_admin(store, keys, args, &[CANARY])
}

#[tokio::test]
async fn the_python_recipe_reads_what_the_function_wrote() {
    let app = seeded().await;
    let store = app.store();
    for (org, name) in [("org_a", "x"), ("org_b", "x"), ("org_a", "y")] {
        let expected = sha256_hex(&format!("{CANARY}-{org}-{name}"));
        assert_eq!(python_recipe(store, KEY_A, org, name), Ok(expected));
    }
    // The key list in either order, as during a rotation.
    assert!(python_recipe(store, &format!("{KEY_B},{KEY_A}"), "org_a", "x").is_ok());
    assert!(python_recipe(store, KEY_B, "org_a", "x").is_err());
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
        // The Python recipe.
        let refusal = python_recipe(store, KEY_A, org, name).unwrap_err();
        assert!(refusal.contains("binding"), "{refusal}");
    }
    // The original still reads.
    assert_eq!(
        read(store, KEY_A, "org_a", "x").await.unwrap(),
        format!("{CANARY}-org_a-x")
    );
    assert!(python_recipe(store, KEY_A, "org_a", "x").is_ok());

    // secrets-admin verify names both, and only them.
    let (code, report) = admin(store, KEY_A, &["verify"]);
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
    assert_eq!(
        app.update("org_a", "ADMIN", "x", &update_body("v2"))
            .await
            .status,
        200
    );
    assert_eq!(app.delete("org_b", "ADMIN", "x").await.status, 200);
    let (code, report) = admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(0), "{report}");
    // Two live secrets, org_a/x's previous value and org_b/x's deleted one.
    assert!(
        report.contains("verify: ok: scanned 4, verified 4"),
        "{report}"
    );
    // A restored value still verifies where it belongs.
    assert_eq!(app.restore("org_b", "ADMIN", "x", None).await.status, 200);
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
    store
        .client()
        .put_item()
        .table_name(store.table().as_str())
        .set_item(Some(forged))
        .send()
        .await
        .unwrap();
    let (code, report) = admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains("verify: org_a/x (previous copy): the binding does not match"),
        "{report}"
    );
    // Restore refuses to bring it back: 500 (a table changed outside the function),
    // nothing written, the live value as it was.
    let refused = app.restore("org_a", "ADMIN", "x", Some("previous")).await;
    assert_eq!(refused.status, 500, "{}", refused.text);
    assert!(!refused.text.contains(CANARY));
    assert_eq!(read(store, KEY_A, "org_a", "x").await.unwrap(), "v2");
    // The same for a deleted copy holding another secret's token.
    assert_eq!(app.delete("org_a", "ADMIN", "y").await.status, 200);
    copy_token_to_copy(store, ("org_a", "x"), "org_a", "deleted:y").await;
    let refused = app.restore("org_a", "ADMIN", "y", None).await;
    assert_eq!(refused.status, 500, "{}", refused.text);
    assert!(app.stored_item("org_a", "y").await.is_none());
}

/// Overwrites a recovery copy's token and binding with a live secret's.
async fn copy_token_to_copy(store: &SecretStore, from: (&str, &str), org: &str, sort_key: &str) {
    let recovery_partition = format!("\u{2}recovery:{org}");
    copy_token(store, from, (&recovery_partition, sort_key)).await;
}

#[tokio::test]
async fn unbound_items_are_refused_until_bind_and_bind_never_launders_a_copy() {
    let app = seeded().await;
    let store = app.store();
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
    assert!(python_recipe(store, KEY_A, "org_a", "x").is_err());
    let (code, report) = admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1));
    assert!(
        report.contains("verify: org_a/x: the item has no binding"),
        "{report}"
    );
    assert!(report.contains("unbound 1, binding mismatch 1"), "{report}");

    let (code, dry) = admin(store, KEY_A, &["bind", "--dry-run"]);
    assert_eq!(code, Some(0), "{dry}");
    assert!(
        dry.contains(
            "bind: done (dry run: nothing is written): scanned 3, bound 1, already bound 2"
        ),
        "{dry}"
    );
    assert!(read(store, KEY_A, "org_a", "x").await.is_err());

    let (code, bound) = admin(store, KEY_A, &["bind"]);
    assert_eq!(code, Some(0), "{bound}");
    assert!(
        bound.contains("bind: done: scanned 3, bound 1, already bound 2, skipped 0"),
        "{bound}"
    );
    assert_eq!(
        read(store, KEY_A, "org_a", "x").await.unwrap(),
        format!("{CANARY}-org_a-x")
    );
    assert!(python_recipe(store, KEY_A, "org_a", "x").is_ok());
    // Resumable and idempotent: nothing left to bind.
    let (_, rerun) = admin(store, KEY_A, &["bind"]);
    assert!(rerun.contains("bound 0, already bound 3"), "{rerun}");
    // The copied token keeps its (wrong) binding and is still reported.
    let (code, report) = admin(store, KEY_A, &["verify"]);
    assert_eq!(code, Some(1));
    assert!(
        report.contains("verify: org_a/y: the binding does not match"),
        "{report}"
    );
    assert!(report.contains("unbound 0, binding mismatch 1"), "{report}");
    let (code, usage) = admin(store, KEY_A, &["bind", "--everything"]);
    assert_eq!(code, Some(2));
    assert!(usage.contains("usage:"));
}

#[tokio::test]
async fn rotation_rebinds_what_it_reencrypts_and_leaves_a_copied_token_alone() {
    let app = seeded().await;
    let store = app.store();
    copy_token(store, ("org_a", "x"), ("org_a", "y")).await;
    let (code, rotated) = admin(store, &format!("{KEY_B},{KEY_A}"), &["rotate-keys"]);
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
    let (code, report) = admin(store, KEY_B, &["verify"]);
    assert_eq!(code, Some(1));
    assert!(
        report.contains("scanned 3, verified 2, undecryptable 1, unbound 0, binding mismatch 0"),
        "{report}"
    );
}
