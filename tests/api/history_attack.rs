//! Outside review of versions and the history (commits 7a96f4f, 8e1a8dc, 532facf): each
//! test here fails on the reviewed code and names one defect.

use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::support::*;

const ORG: &str = "org_history_attack";
const PROVISIONING: &str = "provisioning:org-onboarding";

/// The history's entries as (version, operation).
fn versions_and_ops(answer: &Answer) -> Vec<(u64, String)> {
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|change| {
            (
                change["version"].as_u64().expect("version"),
                change["operation"].as_str().expect("operation").to_owned(),
            )
        })
        .collect()
}

/// A direct (provisioning) delete of `name` in [`ORG`] with the request id `request_id`.
fn direct_delete(name: &str, request_id: &str) -> Value {
    let mut delete = direct("DELETE", &format!("/{name}"), None, request_id);
    delete["requestContext"]["authorizer"]["lambda"]["org_id"] = Value::String(ORG.into());
    delete
}

/// Rewrites the record in `slot` as the delete of `name` at `version` made at `at` (Unix
/// seconds), sealed under KEY_A: what a record of that age looks like. `expires_at` is set
/// only when given (else the one the function wrote stays).
async fn age_delete_record(
    app: &TestApp,
    slot: &(String, String),
    (request_id, name, version): (&str, &str, u64),
    at: i64,
    expires_at: Option<i64>,
) {
    let facts = seals::sealed_versioned_delete_facts(
        ORG,
        request_id,
        &seals::sealed_actor(PROVISIONING),
        name,
        at,
        version,
    );
    let mut edits = vec![
        (
            "seal",
            AttributeValue::S(seals::seal_fernet(KEY_A).encrypt(&facts)),
        ),
        (
            "changed_at",
            AttributeValue::S(
                DateTime::from_secs(at)
                    .fmt(DateTimeFormat::DateTime)
                    .unwrap(),
            ),
        ),
        (
            "replay_until",
            AttributeValue::N((at + 24 * 60 * 60).to_string()),
        ),
    ];
    if let Some(expires_at) = expires_at {
        edits.push(("expires_at", AttributeValue::N(expires_at.to_string())));
    }
    for (attribute, value) in edits {
        set_attribute(app.store(), slot, attribute, value).await;
    }
}

/// DEFECT (high): the function's IAM policy grants `dynamodb:Query` on the table's ARN
/// only. A Query of a global secondary index is authorized against the index's ARN
/// (`<table arn>/index/<name>`), which the table's ARN does not cover, so in AWS every
/// `GET .../{name}/history` is denied by DynamoDB and answered 500. DynamoDB Local checks no
/// IAM, so no other test can see it.
#[test]
fn the_function_may_query_the_history_index() {
    let template = yaml_file(&project_path("template.yaml"));
    let statements: Vec<Value> = template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|resource| resource["Type"] == "AWS::IAM::Policy")
        .flat_map(|policy| {
            policy["Properties"]["PolicyDocument"]["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let query_resources: Vec<String> = statements
        .iter()
        .filter(|statement| statement["Effect"] == "Allow")
        .filter(|statement| {
            let actions = &statement["Action"];
            let list: Vec<&str> = match actions {
                Value::String(action) => vec![action.as_str()],
                Value::Array(actions) => actions.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            list.iter().any(|a| *a == "dynamodb:Query")
        })
        .map(|statement| statement["Resource"].to_string())
        .collect();
    assert!(!query_resources.is_empty(), "no statement allows dynamodb:Query");
    let index = org_secrets::storage::HISTORY_INDEX;
    assert!(
        query_resources.iter().any(|resource| resource.contains("SecretsTable")
            && (resource.contains(&format!("/index/{index}")) || resource.contains("/index/*"))),
        "dynamodb:Query is granted only on {query_resources:?}: a Query of the `{index}` index \
         needs its ARN (<table arn>/index/{index}), or every history request is denied in AWS"
    );
}

/// DEFECT (medium): an archived record's key is `archived:<identity digest>:<version>`, and
/// the archive put is unconditional. The identity digest does not depend on the secret, so
/// the same identity (a request id or an Idempotency-Key of the same actor) taken over on a
/// second and then a third name after the replay horizon archives the second name's record
/// at the key of the first's when both changes made the same version: the first name's
/// change silently leaves its history (and the actor can arrange that on purpose, erasing
/// their own audit entry through the API alone).
#[tokio::test]
async fn an_identity_reused_on_several_names_keeps_every_archived_change() {
    let app = fresh_app().await;
    for name in ["first", "second", "third"] {
        app.seed(ORG, name, "v1").await;
    }
    let slot = record_slot(&app, ORG, Some(PROVISIONING), "nightly", None);
    let day_and_more_ago = recovery::now() - 25 * 60 * 60;

    // Day 1: the identity deletes `first` (its version 2).
    let answer = deliver(&app, &direct_delete("first", "nightly")).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    age_delete_record(&app, &slot, ("nightly", "first", 2), day_and_more_ago, None).await;

    // Day 2: the same identity deletes `second` (also its version 2): `first`'s record is
    // archived at archived:<digest>:2.
    let answer = deliver(&app, &direct_delete("second", "nightly")).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        versions_and_ops(&app.admin(ORG).history("first", "").await),
        [(2, "delete".to_owned()), (1, "create".to_owned())],
        "first's delete is archived"
    );
    age_delete_record(&app, &slot, ("nightly", "second", 2), day_and_more_ago, None).await;

    // Day 3: the same identity deletes `third`: `second`'s record is archived at
    // archived:<digest>:2 too, over `first`'s.
    let answer = deliver(&app, &direct_delete("third", "nightly")).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);

    assert_eq!(
        versions_and_ops(&app.admin(ORG).history("second", "").await),
        [(2, "delete".to_owned()), (1, "create".to_owned())],
    );
    assert_eq!(
        versions_and_ops(&app.admin(ORG).history("first", "").await),
        [(2, "delete".to_owned()), (1, "create".to_owned())],
        "first's delete must stay in its history for CHANGE_HISTORY_DAYS"
    );
}

/// DEFECT (low): versions are `u64` everywhere (the version item, the live item, the seal,
/// the cursor), but a record's plain `version` is written only when it fits an `i64`
/// (`RecordAttributes::into_item`). A change that makes a version above `i64::MAX` commits
/// with a record that has no `version`: it is in no history, describe and the history
/// disagree, and `secrets-admin verify` reports the function's own record as edited outside
/// the function. (Reachable when a version item holds a large number.)
#[tokio::test]
async fn a_version_above_i64_max_is_in_the_history_and_verifies() {
    let app = fresh_app().await;
    app.seed(ORG, "big", "v1").await;
    let big = i64::MAX as u64;
    set_attribute(
        app.store(),
        &(ORG.to_owned(), "\u{4}version:big".to_owned()),
        "version",
        AttributeValue::N(big.to_string()),
    )
    .await;
    let answer = app.admin(ORG).update("big", "v2").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let described = app.reader(ORG).describe("big").await;
    assert_eq!(described.json["version"].as_u64(), Some(big + 1));
    let history = versions_and_ops(&app.admin(ORG).history("big", "").await);
    assert_eq!(
        history.first(),
        Some(&(big + 1, "update".to_owned())),
        "the update describe shows is the newest history entry: {history:?}"
    );
    let (code, report) = secrets_admin(app.store(), KEY_A, &["verify"], &["v1", "v2"]);
    assert_eq!(code, Some(0), "verify on a table only the function wrote:\n{report}");
}

/// DEFECT (low): docs/api.md says each change stays in the history for
/// `CHANGE_HISTORY_DAYS` and a name whose changes are past it is 404. The history reads the
/// index without looking at a record's `expires_at`, and DynamoDB's TTL removes an item only
/// some time (typically up to a few days) after it: until then a change past
/// `CHANGE_HISTORY_DAYS` is still shown, and a name with only such changes is 200, not 404.
/// (The list of deleted secrets and restore do ignore copies past their `expires_at`.)
#[tokio::test]
async fn changes_past_change_history_days_are_not_shown() {
    let app = fresh_app().await;
    app.seed(ORG, "old", "v1").await;
    let answer = deliver(&app, &direct_delete("old", "old-delete")).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    let slot = record_slot(&app, ORG, Some(PROVISIONING), "old-delete", None);
    // Made 40 days ago, past its 30 days since 10 days, not yet removed by TTL.
    let at = recovery::now() - 40 * 24 * 60 * 60;
    age_delete_record(
        &app,
        &slot,
        ("old-delete", "old", 2),
        at,
        Some(at + 30 * 24 * 60 * 60),
    )
    .await;
    assert_eq!(
        versions_and_ops(&app.admin(ORG).history("old", "").await),
        [(1, "create".to_owned())],
        "a change past CHANGE_HISTORY_DAYS is not in the history"
    );
}

/// DEFECT (low, docs vs behaviour): with a `cursor`, the history of a name that was never
/// written in the caller's organization is 200 with no changes, where docs/api.md promises
/// 404 `secret_not_found` for "a name with no history and no live secret".
#[tokio::test]
async fn a_name_never_written_is_404_with_a_cursor_too() {
    let app = fresh_app().await;
    app.seed(ORG, "paged", "v1").await;
    app.admin(ORG).update("paged", "v2").await;
    let first = app.admin(ORG).history("paged", "limit=1").await;
    let cursor = first.json["next_cursor"].as_str().expect("a cursor").to_owned();
    let answer = app
        .admin(ORG)
        .history("never-written", &format!("cursor={cursor}"))
        .await;
    assert_eq!(answer.status, 404, "{}", answer.text);
}
