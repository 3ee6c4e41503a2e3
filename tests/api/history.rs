//! `GET /v1/organizations/secrets/{secret_name}/history` (ADMIN): a secret's changes,
//! newest first, from its change records; never a value. And the per-secret `version` that
//! describe, the history and the change events share.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::support::*;

const ORG: &str = "org_history";
const CANARY: &str = "canary-history-51c2-never-shown";

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
/// archived (`archived:<digest>:<version>`) in the transaction that takes its slot.
#[tokio::test]
async fn a_change_whose_request_id_is_taken_over_after_a_day_stays_in_the_history() {
    use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
    const PROVISIONING: &str = "provisioning:org-onboarding";
    let app = fresh_app().await;
    app.seed(ORG, "t", "v1").await;
    let mut delete = direct("DELETE", "/t", None, "reused");
    delete["requestContext"]["authorizer"]["lambda"]["org_id"] = Value::String(ORG.into());
    assert_eq!(deliver(&app, &delete).await.unwrap().status, 200);
    app.seed(ORG, "t", "v3").await;

    // The delete's record, aged past the replay horizon: sealed 25 hours ago.
    let slot = record_slot(&app, ORG, Some(PROVISIONING), "reused", None);
    let at = recovery::now() - 25 * 60 * 60;
    let facts = seals::sealed_versioned_delete_facts(
        ORG,
        "reused",
        &seals::sealed_actor(PROVISIONING),
        "t",
        at,
        2,
    );
    let aged = [
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
    for (name, value) in aged {
        set_attribute(app.store(), &slot, name, value).await;
    }
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
    let archived_sort = slot.1.replacen("request:", "archived:", 1) + ":2";
    assert!(
        app.stored_item(&slot.0, &archived_sort).await.is_some(),
        "the old record, archived"
    );
}
