//! Outside review of versions and the history: attacks that the reviewed code withstood,
//! kept as regression tests.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::support::*;

const ORG: &str = "org_history_held";
const CANARY: &str = "canary-held-7f1e-never-shown";

fn versions(answer: &Answer) -> Vec<u64> {
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|change| change["version"].as_u64().expect("version"))
        .collect()
}

async fn described_version(app: &TestApp, name: &str) -> u64 {
    let answer = app.reader(ORG).describe(name).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json["version"].as_u64().expect("version")
}

async fn delete_raw(app: &TestApp, org: &str, sort: &str) {
    app.store()
        .client()
        .delete_item()
        .table_name(app.store().table().as_str())
        .key("org_id", AttributeValue::S(org.to_owned()))
        .key("secret_name", AttributeValue::S(sort.to_owned()))
        .send()
        .await
        .unwrap();
}

/// Resends after other writes keep their first answer and add no entry; refusals (404,
/// 409) bump no version and leave no version item.
#[tokio::test]
async fn resends_and_refusals_add_nothing_to_the_history() {
    let app = fresh_app().await;
    let create = admin(ORG).create_event(&create_body("r", CANARY));
    let update = admin(ORG).update_event("r", &update_body("v2"));
    let delete = admin(ORG).delete_event("r");
    for (event, status) in [(&create, 201), (&update, 200), (&delete, 200)] {
        assert_eq!(app.call(event).await.status, status);
    }
    app.seed(ORG, "r", "second-life").await;
    assert_eq!(described_version(&app, "r").await, 4);
    let before = snapshot(app.store()).await;
    for (event, status) in [(&delete, 200), (&update, 200), (&create, 201)] {
        let answer = app.call(event).await;
        assert_eq!(answer.status, status, "{}", answer.text);
        assert!(!answer.text.contains(CANARY));
    }
    let refusals = [
        (admin(ORG).update_event("nope", &update_body("x")), 404),
        (admin(ORG).delete_event("nope"), 404),
        (admin(ORG).create_event(&create_body("r", "x")), 409),
        (admin(ORG).restore_event("r", None), 409),
        (admin(ORG).restore_event("nope", Some("previous")), 404),
    ];
    for (event, status) in refusals {
        let answer = app.call(&event).await;
        assert_eq!(answer.status, status, "{}", answer.text);
    }
    assert_eq!(snapshot(app.store()).await, before, "nothing written");
    assert_eq!(versions(&app.admin(ORG).history("r", "").await), [4, 3, 2, 1]);
    assert_eq!(app.admin(ORG).history("nope", "").await.status, 404);
}

/// Racing creates, deletes and restores of one name: every committed change has its own
/// version, with no gap, and describe shows the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_deletes_creates_and_restores_make_contiguous_versions() {
    let app = Arc::new(fresh_app().await);
    app.seed(ORG, "churn", "v0").await;
    let tasks: Vec<_> = (0..18)
        .map(|i| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let event = match i % 3 {
                    0 => admin(ORG).delete_event("churn"),
                    1 => admin(ORG).create_event(&create_body("churn", &format!("v{i}"))),
                    _ => admin(ORG).restore_event("churn", None),
                };
                app.call_as_client(&event).await.status
            })
        })
        .collect();
    let mut committed = 1;
    for task in tasks {
        let status = task.await.unwrap();
        assert!(
            [200, 201, 404, 409].contains(&status),
            "unexpected {status}"
        );
        if status == 200 || status == 201 {
            committed += 1;
        }
    }
    let mut seen = versions(&app.admin(ORG).history("churn", "").await);
    seen.sort_unstable();
    assert_eq!(seen, (1..=committed).collect::<Vec<u64>>());
    if app.stored_item(ORG, "churn").await.is_some() {
        assert!(described_version(&app, "churn").await <= committed);
    }
}

/// A secret from before versions (no `version`, no version item, no versioned record):
/// describe shows 0, the next change makes 1 and is the history.
#[tokio::test]
async fn a_secret_from_before_versions_starts_at_one() {
    let app = fresh_app().await;
    app.seed(ORG, "legacy", "v1").await;
    let mut live = app.stored_item(ORG, "legacy").await.unwrap();
    live.remove("version");
    put_raw_item(app.store(), live).await;
    delete_raw(&app, ORG, "\u{4}version:legacy").await;
    for item in all_items(app.store()).await {
        if is_record(&item) {
            delete_raw(&app, attr(&item, "org_id"), attr(&item, "secret_name")).await;
        }
    }
    assert_eq!(described_version(&app, "legacy").await, 0);
    assert_eq!(app.admin(ORG).history("legacy", "").await.json["count"], 0);
    assert_eq!(app.admin(ORG).update("legacy", "v2").await.status, 200);
    assert_eq!(described_version(&app, "legacy").await, 1);
    assert_eq!(versions(&app.admin(ORG).history("legacy", "").await), [1]);
}

/// A version item that holds no usable version stops writes of that name with a generic
/// 500 (nothing of the item in the answer), and writes of other names go on.
#[tokio::test]
async fn a_garbage_version_item_fails_closed_and_quietly() {
    let app = fresh_app().await;
    app.seed(ORG, "g", "v1").await;
    app.seed(ORG, "other", "v1").await;
    for garbage in ["1.5", "-3", "18446744073709551615"] {
        set_attribute(
            app.store(),
            &(ORG.to_owned(), "\u{4}version:g".to_owned()),
            "version",
            AttributeValue::N(garbage.to_owned()),
        )
        .await;
        let answer = app.admin(ORG).update("g", "v2").await;
        assert_eq!(answer.status, 500, "{garbage}: {}", answer.text);
        assert!(!answer.text.contains("version item"), "{}", answer.text);
        assert!(!answer.text.contains(garbage), "{}", answer.text);
    }
    assert_eq!(app.admin(ORG).update("other", "v2").await.status, 200);
}

/// `rotate-keys` re-seals every record, the archived ones too: after it, a deployment on
/// the new key alone still shows the whole history, and verify finds nothing.
#[tokio::test]
async fn the_history_verifies_after_a_key_rotation() {
    let store = fresh_store().await;
    let on_a = app_on(store.clone(), &[]);
    on_a.seed(ORG, "rot", "v1").await;
    assert_eq!(on_a.admin(ORG).update("rot", "v2").await.status, 200);
    assert_eq!(on_a.admin(ORG).delete("rot").await.status, 200);
    let (code, report) = secrets_admin(
        &store,
        &format!("{KEY_B},{KEY_A}"),
        &["rotate-keys"],
        &["v1", "v2"],
    );
    assert_eq!(code, Some(0), "{report}");
    let on_b = app_on(store.clone(), &[("ENCRYPTION_KEY", KEY_B)]);
    assert_eq!(versions(&on_b.admin(ORG).history("rot", "").await), [3, 2, 1]);
    let (code, report) = secrets_admin(&store, KEY_B, &["verify"], &["v1", "v2"]);
    assert_eq!(code, Some(0), "{report}");
}

/// Names that look like routes or need percent-encoding have their own history.
#[tokio::test]
async fn odd_names_have_their_own_history() {
    let app = fresh_app().await;
    for (name, segment) in [
        ("history", "history"),
        ("a/history", "a%2Fhistory"),
        ("ü b", "%C3%BC%20b"),
        ("restore", "restore"),
    ] {
        let answer = app.admin(ORG).create(name, "v").await;
        assert_eq!(answer.status, 201, "{name}: {}", answer.text);
        let answer = app.admin(ORG).history(segment, "").await;
        assert_eq!(versions(&answer), [1], "{name}");
        assert_eq!(answer.json["secret_name"], Value::String(name.to_owned()));
    }
    let answer = app.admin(ORG).describe("history").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["secret_name"], "history");
}
