//! Key rotation (library and `secrets-admin rotate-keys`) and the internal reader, on
//! DynamoDB Local.

use std::collections::HashMap;
use std::process::Command;

use org_secrets::config::Config;
use org_secrets::crypto::{Cipher, DecryptError, EncryptedValue};
use org_secrets::domain::{OrgId, SecretName};
use org_secrets::reader::{ReadError, SecretReader};
use org_secrets::rotation::{rotate_keys, RotationOptions};
use org_secrets::storage::{Found, SecretStore};
use secrecy::ExposeSecret;

use crate::support::recovery::*;
use crate::support::*;

const CANARY: &str = "CANARY-rotation-41c2";

/// 12 secrets in two orgs, written through the API under key A alone.
async fn seed_under_key_a(store: &SecretStore) -> HashMap<(String, String), String> {
    let app = app_on(store.clone(), &[]);
    let mut expected = HashMap::new();
    for i in 0..12 {
        let org = if i % 2 == 0 { "org_a" } else { "org_b" };
        let name = format!("secret_{i:02}");
        let value = format!("{CANARY}-{i}");
        let answer = app.admin(org).create(&name, &value).await;
        assert_eq!(answer.status, 201);
        expected.insert((org.to_owned(), name), value);
    }
    expected
}

async fn all_tokens(store: &SecretStore) -> Vec<(String, String, EncryptedValue)> {
    let mut pages = store.scan_pages(1000);
    let page = pages.next().await.unwrap().unwrap();
    assert!(pages.next().await.is_none(), "one page holds the table");
    org_secrets::storage::tokens(&page)
        .map(|t| {
            let place = t.place.clone();
            (place.org_id, place.secret_name, t.encrypted_value.clone())
        })
        .collect()
}

fn cipher(keys: &str) -> Cipher {
    Cipher::from_key_list(keys).unwrap()
}

#[tokio::test]
async fn rotation_moves_every_token_to_the_new_key_and_resumes() {
    let store = fresh_store().await;
    let expected = seed_under_key_a(&store).await;
    let b_then_a = cipher(&format!("{KEY_B},{KEY_A}"));
    let only_b = cipher(KEY_B);
    let small_pages = |limit, dry_run| RotationOptions {
        dry_run,
        limit,
        page_size: 5,
    };

    // A dry run counts but writes nothing.
    let dry = rotate_keys(&store, &b_then_a, small_pages(None, true), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (dry.scanned, dry.rotated, dry.skipped, dry.failed),
        (12, 12, 0, 0)
    );
    assert!(all_tokens(&store)
        .await
        .iter()
        .all(|(_, _, t)| only_b.decrypt(t).is_err()));

    // Interrupted after 5 rotations...
    let first = rotate_keys(&store, &b_then_a, small_pages(Some(5), false), |_| {})
        .await
        .unwrap();
    assert_eq!(first.rotated, 5);
    assert!(first.stopped_early);
    // ...a rerun finishes the job, skipping what is done.
    let second = rotate_keys(&store, &b_then_a, small_pages(None, false), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            second.scanned,
            second.rotated,
            second.skipped,
            second.failed
        ),
        (12, 7, 5, 0)
    );
    assert!(!second.stopped_early);
    // A third run has nothing to do.
    let third = rotate_keys(&store, &b_then_a, small_pages(None, false), |_| {})
        .await
        .unwrap();
    assert_eq!((third.rotated, third.skipped), (0, 12));

    // Every token now opens under B alone, to the value it had.
    let tokens = all_tokens(&store).await;
    assert_eq!(tokens.len(), 12);
    for (org, name, token) in tokens {
        let value = only_b.decrypt(&token).unwrap();
        assert_eq!(value.expose_secret(), expected[&(org, name)]);
        assert_eq!(
            cipher(KEY_A).decrypt(&token).unwrap_err(),
            DecryptError::NoKeyOpensToken
        );
    }
}

#[tokio::test]
async fn a_token_no_key_opens_is_counted_as_failed_and_left_alone() {
    let store = fresh_store().await;
    seed_under_key_a(&store).await;
    // Key C knows nothing of these tokens.
    let unrelated = cipher("Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2M=");
    let summary = rotate_keys(&store, &unrelated, RotationOptions::default(), |_| {})
        .await
        .unwrap();
    // 12 tokens and the 12 change records of the creates that wrote them: no seal opens
    // either.
    assert_eq!(
        (summary.rotated, summary.resealed, summary.failed),
        (0, 0, 24)
    );
    assert!(all_tokens(&store)
        .await
        .iter()
        .all(|(_, _, t)| cipher(KEY_A).decrypt(t).is_ok()));
}

/// The conditional write: a token that changed after the scan read it is not overwritten.
#[tokio::test]
async fn rotation_never_overwrites_a_concurrent_update() {
    let store = fresh_store().await;
    let app = app_on(store.clone(), &[]);
    assert_eq!(app.admin("org_a").create("k", "before").await.status, 201);
    let page = store.scan_pages(10).next().await.unwrap().unwrap();
    let stale = org_secrets::storage::tokens(&page)
        .next()
        .expect("the secret's token")
        .clone();
    let update = update_body("after");
    assert_eq!(
        app.admin("org_a").update_body("k", &update).await.status,
        200
    );

    let b_then_a = cipher(&format!("{KEY_B},{KEY_A}"));
    let replacement = b_then_a.reencrypt(&stale.encrypted_value).unwrap();
    assert_eq!(
        store
            .replace_token(&stale, replacement, None)
            .await
            .unwrap(),
        Found::No
    );
    let reader = SecretReader::new(store.clone(), cipher(KEY_A));
    let value = reader
        .read(
            &OrgId::parse("org_a").unwrap(),
            &SecretName::parse("k").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(value.expose_secret(), "after");
}

#[tokio::test]
async fn reader_returns_values_and_typed_errors() {
    let store = fresh_store().await;
    let app = app_on(store.clone(), &[]);
    assert_eq!(
        app.admin("org_a")
            .create("stripe_api_key", "sk_live_9")
            .await
            .status,
        201
    );
    let org = OrgId::parse("org_a").unwrap();
    let name = SecretName::parse("stripe_api_key").unwrap();

    let reader = SecretReader::new(store.clone(), cipher(&format!("{KEY_B},{KEY_A}")));
    let value = reader.read(&org, &name).await.unwrap();
    assert_eq!(value.expose_secret(), "sk_live_9");
    assert!(!format!("{value:?}").contains("sk_live_9"));

    let missing = reader
        .read(&org, &SecretName::parse("nope").unwrap())
        .await
        .unwrap_err();
    assert_eq!(missing, ReadError::NotFound);
    // Another org's name is missing from here.
    let other = reader
        .read(&OrgId::parse("org_b").unwrap(), &name)
        .await
        .unwrap_err();
    assert_eq!(other, ReadError::NotFound);
    // A key list that cannot open the token.
    let wrong_keys = SecretReader::new(store.clone(), cipher(KEY_B));
    assert_eq!(
        wrong_keys.read(&org, &name).await.unwrap_err(),
        ReadError::Undecryptable(DecryptError::NoKeyOpensToken)
    );
    // Storage trouble is its own error.
    let broken = SecretReader::new(
        FaultyDynamoDb::always(Fault::Error("ThrottlingException"))
            .store_without_table()
            .await,
        cipher(KEY_A),
    );
    assert!(matches!(
        broken.read(&org, &name).await.unwrap_err(),
        ReadError::Storage(_)
    ));
}

/// The operator command end to end: summaries, resumability, exit codes, and no value in
/// its output even with every log level at TRACE.
#[tokio::test]
async fn rotate_keys_command_reports_and_never_prints_values() {
    let store = fresh_store().await;
    seed_under_key_a(&store).await;
    let keys = format!("{KEY_B},{KEY_A}");
    let run = |args: &[&str]| {
        let args: Vec<&str> = ["rotate-keys"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        secrets_admin(&store, &keys, &args, &[CANARY])
    };

    let (code, dry) = run(&["--dry-run"]);
    assert_eq!(code, Some(0));
    assert!(dry.contains("dry run"), "{dry}");
    assert!(
        dry.contains("scanned 12, rotated 12, skipped 0, failed 0"),
        "{dry}"
    );

    let (code, partial) = run(&["--limit", "4"]);
    assert_eq!(code, Some(0));
    assert!(partial.contains("stopped at --limit"), "{partial}");
    assert!(partial.contains("rotated 4,"), "{partial}");
    assert!(partial.contains("rotate-keys: progress:"), "{partial}");

    let (code, rest) = run(&[]);
    assert_eq!(code, Some(0));
    assert!(
        rest.contains("done: scanned 12, rotated 8, skipped 4, failed 0"),
        "{rest}"
    );

    let (code, usage) = run(&["--limit", "zero"]);
    assert_eq!(code, Some(2));
    assert!(usage.contains("usage:"));

    let only_b = cipher(KEY_B);
    assert!(all_tokens(&store)
        .await
        .iter()
        .all(|(_, _, t)| only_b.decrypt(t).is_ok()));
}

#[test]
fn rotate_keys_command_names_a_bad_key_variable_without_its_value() {
    let output = Command::new(env!("CARGO_BIN_EXE_secrets-admin"))
        .args(["rotate-keys"])
        .env("ENCRYPTION_KEY", CANARY)
        .env("SECRETS_TABLE_NAME", "t_secrets")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(text.contains("ENCRYPTION_KEY"), "{text}");
    assert!(!text.contains(CANARY));
    // Config is the function's own loader, so the same rules apply.
    assert!(Config::from_lookup(|_| None).is_err());
}

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
