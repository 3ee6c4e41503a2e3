//! `GET /v1/organizations/secrets/{secret_name}/history` (ADMIN): a secret's changes,
//! newest first, from its change records; never a value. And the per-secret `version` that
//! describe, the history and the change events share.

use std::sync::Arc;

use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::support::*;

const ORG: &str = "org_history";
const CANARY: &str = "canary-history-51c2-never-shown";
const PROVISIONING: &str = "provisioning:org-onboarding";

/// `event`, sent, answered with `status`; its request id.
async fn sent(app: &TestApp, event: Value, status: u16) -> String {
    let request_id = event["requestContext"]["requestId"]
        .as_str()
        .expect("a request id")
        .to_owned();
    let answer = app.call(&event).await;
    assert_eq!(answer.status, status, "{}", answer.text);
    assert!(!answer.text.contains(CANARY));
    request_id
}

fn as_subject(mut event: Value, subject: &str) -> Value {
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::String(subject.into());
    event
}

/// The history's entries as (version, operation, actor, request id).
fn entries(answer: &Answer) -> Vec<(u64, String, String, String)> {
    answer.json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|change| {
            let text = |field: &str| change[field].as_str().expect(field).to_owned();
            assert!(text("changed_at").ends_with('Z'), "{change}");
            let keys: Vec<&String> = change.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                [
                    "changed_at",
                    "changed_by",
                    "operation",
                    "request_id",
                    "version"
                ],
                "exactly the published fields"
            );
            (
                change["version"].as_u64().expect("version"),
                text("operation"),
                text("changed_by"),
                text("request_id"),
            )
        })
        .collect()
}

/// Every kind of change, over two lives of one name: the history shows each, newest first,
/// with the version it made (one more each time, across the delete and the new create),
/// the operation, the actor and the request id; describe's version is the newest; nothing
/// shows the value.
#[tokio::test]
async fn the_history_shows_every_change_of_both_lives_newest_first() {
    let app = fresh_app().await;
    let name = "api_key";
    let by = |subject: &str, event: Value| as_subject(event, subject);
    let steps: Vec<(Value, u16, &str, &str)> = vec![
        (
            by("alice", admin(ORG).create_event(&create_body(name, CANARY))),
            201,
            "create",
            "alice",
        ),
        (
            by("bob", admin(ORG).update_event(name, &update_body("v2"))),
            200,
            "update",
            "bob",
        ),
        (
            by("carol", admin(ORG).restore_event(name, Some("previous"))),
            200,
            "restore_previous",
            "carol",
        ),
        (
            by("dave", admin(ORG).delete_event(name)),
            200,
            "delete",
            "dave",
        ),
        (
            by("erin", admin(ORG).restore_event(name, None)),
            200,
            "restore_deleted",
            "erin",
        ),
        (
            by("frank", admin(ORG).delete_event(name)),
            200,
            "delete",
            "frank",
        ),
        // A new secret of the same name: its history goes on.
        (
            by("grace", admin(ORG).create_event(&create_body(name, "v3"))),
            201,
            "create",
            "grace",
        ),
        (
            by("heidi", admin(ORG).update_event(name, &update_body("v4"))),
            200,
            "update",
            "heidi",
        ),
    ];
    let mut expected = Vec::new();
    let mut last_event = Value::Null;
    for (version, (event, status, operation, actor)) in (1u64..).zip(steps) {
        last_event = event.clone();
        let request_id = sent(&app, event, status).await;
        expected.push((version, operation.to_owned(), actor.to_owned(), request_id));
        let described = app.reader(ORG).describe(name).await;
        if operation == "delete" {
            assert_eq!(described.status, 404);
        } else {
            assert_eq!(described.json["version"], version, "{}", described.text);
        }
    }
    expected.reverse();

    let answer = app.admin(ORG).history(name, "").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(answer.json["secret_name"], name);
    assert_eq!(answer.json["count"], 8);
    assert!(answer.json["next_cursor"].is_null());
    assert_eq!(entries(&answer), expected);
    assert!(!answer.text.contains(CANARY));

    // A resend changes nothing, so it adds nothing to the history.
    assert_eq!(app.call(&last_event).await.status, 200);
    assert_eq!(
        entries(&app.admin(ORG).history(name, "").await),
        expected,
        "a resend is not a change"
    );
}

/// `limit` and `cursor` page through the history; the pages join to the whole history, in
/// order, without gaps or repeats. Every malformed `limit` or `cursor` is 422, never echoed.
#[tokio::test]
async fn the_history_pages_by_limit_and_cursor_and_refuses_malformed_ones() {
    let app = fresh_app().await;
    app.seed(ORG, "paged", "v0").await;
    for round in 1..=4 {
        let answer = app.admin(ORG).update("paged", &format!("v{round}")).await;
        assert_eq!(answer.status, 200);
    }
    let whole = entries(&app.admin(ORG).history("paged", "").await);
    assert_eq!(
        whole.iter().map(|entry| entry.0).collect::<Vec<_>>(),
        [5, 4, 3, 2, 1]
    );
    for limit in 1..=6 {
        let mut joined = Vec::new();
        let mut query = format!("limit={limit}");
        let mut pages = 0;
        loop {
            let answer = app.admin(ORG).history("paged", &query).await;
            assert_eq!(answer.status, 200, "{query}: {}", answer.text);
            let page = entries(&answer);
            assert!(page.len() <= limit, "{query}");
            assert_eq!(answer.json["count"], page.len());
            joined.extend(page);
            pages += 1;
            match answer.json["next_cursor"].as_str() {
                Some(cursor) => query = format!("limit={limit}&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(joined, whole, "limit {limit}");
        assert_eq!(pages, whole.len().div_ceil(limit).max(1), "limit {limit}");
    }

    let hostile = "CANARY-query-77e1";
    for query in [
        "limit=0".to_owned(),
        "limit=101".to_owned(),
        "limit=-1".to_owned(),
        "limit=1.5".to_owned(),
        format!("limit={hostile}"),
        "limit=1&limit=2".to_owned(),
        format!("cursor={hostile}"),
        "cursor=".to_owned(),
        "cursor=djA".to_owned(), // "v0"
        "cursor=MQ".to_owned(),  // "1": not one this API made
        "cursor=djE&cursor=djI".to_owned(),
    ] {
        let answer = app.admin(ORG).history("paged", &query).await;
        assert_eq!(answer.status, 422, "{query}: {}", answer.text);
        let field = query.split('=').next().unwrap();
        assert_eq!(
            answer.json["detail"][0]["loc"],
            serde_json::json!(["query", field]),
            "{query}"
        );
        assert!(!answer.text.contains(hostile), "{query}");
    }
}

/// A name that never existed (or another organization's) is 404 `secret_not_found`, like
/// every other endpoint; a deleted secret's history stays readable; a READ caller is 403.
#[tokio::test]
async fn history_is_404_for_unknown_names_and_stays_after_a_delete() {
    let app = fresh_app().await;
    app.seed(ORG, "gone", "v").await;
    assert_eq!(app.admin(ORG).delete("gone").await.status, 200);
    let answer = app.admin(ORG).history("gone", "").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let operations: Vec<String> = entries(&answer).into_iter().map(|e| e.1).collect();
    assert_eq!(operations, ["delete", "create"]);

    for (org, name) in [(ORG, "never"), ("org_other", "gone")] {
        let answer = app.admin(org).history(name, "").await;
        assert_eq!(answer.status, 404, "{org}/{name}: {}", answer.text);
        assert_eq!(answer.json["error"]["code"], "secret_not_found");
    }
    let answer = app.reader(ORG).history("gone", "").await;
    assert_eq!(answer.status, 403, "{}", answer.text);
}

/// A history entry is a change record that verifies: a record whose plain attributes were
/// edited in the table (the actor, the operation, the version) or that was written around
/// the function without a seal is left out, and the genuine ones stay.
#[tokio::test]
async fn records_edited_or_forged_in_the_table_are_left_out_of_the_history() {
    let app = fresh_app().await;
    let request_ids = [
        sent(&app, admin(ORG).create_event(&create_body("t", "v1")), 201).await,
        sent(&app, admin(ORG).update_event("t", &update_body("v2")), 200).await,
        sent(&app, admin(ORG).update_event("t", &update_body("v3")), 200).await,
    ];
    let record_of =
        |request_id: &str| record_slot(&app, ORG, Some("alice@acme.example"), request_id, None);
    let edits: [(&str, AttributeValue); 1] =
        [("changed_by", AttributeValue::S("mallory".to_owned()))];
    for (name, value) in edits {
        set_attribute(app.store(), &record_of(&request_ids[1]), name, value).await;
    }
    // A record written around the function, in the history index, with no seal.
    let (partition, _) = record_of(&request_ids[0]);
    put_raw_item(
        app.store(),
        std::collections::HashMap::from([
            ("org_id".to_owned(), AttributeValue::S(partition)),
            (
                "secret_name".to_owned(),
                AttributeValue::S("request:forged".to_owned()),
            ),
            (
                "history_key".to_owned(),
                AttributeValue::S(format!("{ORG}\u{1f}t")),
            ),
            ("version".to_owned(), AttributeValue::N("9".to_owned())),
            (
                "change_op".to_owned(),
                AttributeValue::S("delete".to_owned()),
            ),
            (
                "changed_by".to_owned(),
                AttributeValue::S("mallory".to_owned()),
            ),
            (
                "changed_at".to_owned(),
                AttributeValue::S("2026-01-01T00:00:00Z".to_owned()),
            ),
            (
                "request_id".to_owned(),
                AttributeValue::S("forged".to_owned()),
            ),
        ]),
    )
    .await;
    let answer = app.admin(ORG).history("t", "").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let shown: Vec<(u64, String)> = entries(&answer)
        .into_iter()
        .map(|(version, _, _, request_id)| (version, request_id))
        .collect();
    assert_eq!(
        shown,
        [(3, request_ids[2].clone()), (1, request_ids[0].clone())]
    );
    assert!(!answer.text.contains("mallory"));

    // A genuine record copied to its own archive key verifies there, and is shown once.
    let newest = record_of(&request_ids[2]);
    let mut copy = app
        .stored_item(&newest.0, &newest.1)
        .await
        .expect("the record");
    copy.insert(
        "secret_name".to_owned(),
        AttributeValue::S(newest.1.replacen("request:", "archived:", 1) + ":3:t"),
    );
    put_raw_item(app.store(), copy).await;
    let answer = app.admin(ORG).history("t", "").await;
    let versions: Vec<u64> = entries(&answer).into_iter().map(|entry| entry.0).collect();
    assert_eq!(
        versions,
        [3, 1],
        "a copy of version 3 is not a second change"
    );

    // Paged one at a time, the left-out entries neither show nor end the history early.
    let mut versions = Vec::new();
    let mut query = "limit=1".to_owned();
    loop {
        let answer = app.admin(ORG).history("t", &query).await;
        versions.extend(entries(&answer).into_iter().map(|entry| entry.0));
        match answer.json["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(versions, [3, 1]);
}

/// Two writers racing on one name never make the same version: after many concurrent
/// changes, the versions in the history are exactly 1..=n, each once, and describe's is n.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_changes_never_share_a_version() {
    let app = std::sync::Arc::new(fresh_app().await);
    app.seed(ORG, "raced", "v0").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let app = std::sync::Arc::clone(&app);
            tokio::spawn(async move {
                let event = admin(ORG).update_event("raced", &update_body(&format!("v{i}")));
                app.call_as_client(&event).await.status
            })
        })
        .collect();
    let mut updated = 0;
    for task in tasks {
        let status = task.await.unwrap();
        assert_eq!(status, 200);
        updated += 1;
    }
    let mut versions: Vec<u64> = entries(&app.admin(ORG).history("raced", "").await)
        .into_iter()
        .map(|entry| entry.0)
        .collect();
    versions.sort_unstable();
    let expected: Vec<u64> = (1..=updated + 1).collect();
    assert_eq!(versions, expected);
    let described = app.reader(ORG).describe("raced").await;
    assert_eq!(described.json["version"], updated + 1);
}

/// Every status the endpoint answers with is declared in openapi.yaml, and an answer's
/// fields are exactly the published `SecretHistory` and `SecretChange` properties.
#[tokio::test]
async fn the_history_answers_as_openapi_declares() {
    let app = fresh_app().await;
    app.seed(ORG, "declared", "v").await;
    let history = |identity: Identity, name: &str, query: &str| identity.history_event(name, query);
    let cases = [
        (history(admin(ORG), "declared", ""), 200),
        (without_authorizer(history(admin(ORG), "declared", "")), 401),
        (history(reader(ORG), "declared", ""), 403),
        (history(admin(ORG), "missing", ""), 404),
        (history(admin(ORG), "declared", "limit=0"), 422),
        (history(admin(ORG), "%FF", ""), 422),
        (
            {
                let mut event = history(admin(ORG), "declared", "");
                event["requestContext"]["http"]["method"] = Value::String("DELETE".into());
                event
            },
            405,
        ),
    ];
    let mut observed = std::collections::BTreeSet::new();
    for (event, expected) in cases {
        let answer = app.call(&event).await;
        assert_eq!(answer.status, expected, "{}", answer.text);
        observed.insert(answer.status);
        if expected == 200 {
            let document = openapi();
            let keys = |value: &Value| -> std::collections::BTreeSet<String> {
                value.as_object().unwrap().keys().cloned().collect()
            };
            assert_eq!(
                keys(&answer.json),
                schema_properties(&document, "SecretHistory")
            );
            assert_eq!(
                keys(&answer.json["changes"][0]),
                schema_properties(&document, "SecretChange")
            );
            // Serialized in name order, as every body of this API.
            let at = |field: &str| answer.text.find(&format!("\"{field}\":")).expect(field);
            for fields in [
                ["changes", "count", "next_cursor", "secret_name"].as_slice(),
                [
                    "changed_at",
                    "changed_by",
                    "operation",
                    "request_id",
                    "version",
                ]
                .as_slice(),
            ] {
                let positions: Vec<usize> = fields.iter().map(|field| at(field)).collect();
                assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", answer.text);
            }
        }
    }
    assert_declared(
        &openapi(),
        "/v1/organizations/secrets/{secret_name}/history",
        "get",
        &observed,
    );
}

/// A request id is recognised for 24 hours; after that another request may take the
/// identity over. The change the old record describes stays in the history: the record is
/// archived (`archived:<digest>:<version>:<name>`) in the transaction that takes its slot.
#[tokio::test]
async fn a_change_whose_request_id_is_taken_over_after_a_day_stays_in_the_history() {
    let app = fresh_app().await;
    app.seed(ORG, "t", "v1").await;
    let delete = direct_delete("t", "reused");
    assert_eq!(deliver(&app, &delete).await.unwrap().status, 200);
    app.seed(ORG, "t", "v3").await;

    // The delete's record, aged past the replay horizon: sealed 25 hours ago.
    let slot = record_slot(&app, ORG, Some(PROVISIONING), "reused", None);
    let at = recovery::now() - 25 * 60 * 60;
    age_delete_record(&app, &slot, ("reused", "t", 2), at, None).await;
    let before = entries(&app.admin(ORG).history("t", "").await);
    assert_eq!(
        before
            .iter()
            .map(|e| (e.0, e.1.as_str()))
            .collect::<Vec<_>>(),
        [(3, "create"), (2, "delete"), (1, "create")],
        "the aged record verifies"
    );

    // The same request id again is a new delete now.
    assert_eq!(deliver(&app, &delete).await.unwrap().status, 200);
    assert!(app.stored_item(ORG, "t").await.is_none(), "deleted again");
    let after = entries(&app.admin(ORG).history("t", "").await);
    assert_eq!(
        after
            .iter()
            .map(|e| (e.0, e.1.as_str(), e.3.as_str()))
            .collect::<Vec<_>>(),
        [
            (4, "delete", "reused"),
            (3, "create", before[0].3.as_str()),
            (2, "delete", "reused"),
            (1, "create", before[2].3.as_str()),
        ]
    );
    let archived_sort = slot.1.replacen("request:", "archived:", 1) + ":2:t";
    assert!(
        app.stored_item(&slot.0, &archived_sort).await.is_some(),
        "the old record, archived"
    );
}

// ---------------------------------------------------------------------------------------
// Found by an outside review: the edges of versions and the history.
// ---------------------------------------------------------------------------------------

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

/// The same identity taken over after the replay horizon on several names whose changes
/// made the same version keeps every archived change: an archive key names the secret too,
/// and an archive is never written over (else an actor could erase their own entry).
#[tokio::test]
async fn an_identity_reused_on_several_names_keeps_every_archived_change() {
    let app = fresh_app().await;
    for name in ["first", "second", "third"] {
        app.seed(ORG, name, "v1").await;
    }
    let slot = record_slot(&app, ORG, Some(PROVISIONING), "nightly", None);
    let day_and_more_ago = recovery::now() - 25 * 60 * 60;

    // Day 1: the identity deletes `first` (its version 2).
    let answer = deliver(&app, &direct_delete("first", "nightly"))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    age_delete_record(&app, &slot, ("nightly", "first", 2), day_and_more_ago, None).await;

    // Day 2: the same identity deletes `second` (also its version 2): `first`'s record is
    // archived at archived:<digest>:2.
    let answer = deliver(&app, &direct_delete("second", "nightly"))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        versions_and_ops(&app.admin(ORG).history("first", "").await),
        [(2, "delete".to_owned()), (1, "create".to_owned())],
        "first's delete is archived"
    );
    age_delete_record(
        &app,
        &slot,
        ("nightly", "second", 2),
        day_and_more_ago,
        None,
    )
    .await;

    // Day 3: the same identity deletes `third`: `second`'s record is archived at
    // archived:<digest>:2 too, over `first`'s.
    let answer = deliver(&app, &direct_delete("third", "nightly"))
        .await
        .unwrap();
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

/// Versions stay within `i64` (EventBridge takes no larger JSON integer): a version item at
/// `i64::MAX - 1` makes the last version, `i64::MAX`, which is in the history and verifies;
/// one at `i64::MAX` stops the name's writes like any unusable version item (500).
#[tokio::test]
async fn versions_end_at_i64_max_in_the_history_and_verify() {
    let app = fresh_app().await;
    app.seed(ORG, "big", "v1").await;
    let last = i64::MAX as u64;
    set_attribute(
        app.store(),
        &(ORG.to_owned(), "\u{4}version:big".to_owned()),
        "version",
        AttributeValue::N((last - 1).to_string()),
    )
    .await;
    let answer = app.admin(ORG).update("big", "v2").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let described = app.reader(ORG).describe("big").await;
    assert_eq!(described.json["version"].as_u64(), Some(last));
    let history = versions_and_ops(&app.admin(ORG).history("big", "").await);
    assert_eq!(
        history.first(),
        Some(&(last, "update".to_owned())),
        "the update describe shows is the newest history entry: {history:?}"
    );
    let (code, report) = secrets_admin(app.store(), KEY_A, &["verify"], &["v1", "v2"]);
    assert_eq!(
        code,
        Some(0),
        "verify on a table only the function wrote:\n{report}"
    );
    let answer = app.admin(ORG).update("big", "v3").await;
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert_eq!(app.stored_value(ORG, "big").await, "v2");
}

/// A change past `CHANGE_HISTORY_DAYS` is not shown even before DynamoDB's TTL removes its
/// record (TTL runs some time after), and a name with only such changes is 404.
#[tokio::test]
async fn changes_past_change_history_days_are_not_shown() {
    let app = fresh_app().await;
    app.seed(ORG, "old", "v1").await;
    let answer = deliver(&app, &direct_delete("old", "old-delete"))
        .await
        .unwrap();
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

/// With a `cursor` too, a name never written in the caller's organization is 404 (cursors
/// are not bound to a name).
#[tokio::test]
async fn a_name_never_written_is_404_with_a_cursor_too() {
    let app = fresh_app().await;
    app.seed(ORG, "paged", "v1").await;
    app.admin(ORG).update("paged", "v2").await;
    let first = app.admin(ORG).history("paged", "limit=1").await;
    let cursor = first.json["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let answer = app
        .admin(ORG)
        .history("never-written", &format!("cursor={cursor}"))
        .await;
    assert_eq!(answer.status, 404, "{}", answer.text);
}

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
    assert_eq!(
        versions(&app.admin(ORG).history("r", "").await),
        [4, 3, 2, 1]
    );
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
    for garbage in ["1.5", "-3", "9223372036854775807", "18446744073709551615"] {
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
        // The answer's own request id may contain the garbage's digits ("-3"): look past it.
        let mut error = answer.json["error"].clone();
        error["details"]["request_id"] = Value::Null;
        assert_eq!(error["message"], "Internal server error");
        assert!(!error.to_string().contains(garbage), "{}", answer.text);
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
    assert_eq!(
        versions(&on_b.admin(ORG).history("rot", "").await),
        [3, 2, 1]
    );
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
