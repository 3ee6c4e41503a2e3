//! `GET /v1/organizations/secrets?state=deleted` (ADMIN): the deleted secrets that can
//! still be restored, with when, by whom and until when; never a value.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

use crate::support::*;

const CANARY: &str = "canary-deleted-4c1e-never-listed";

/// A list by `who` with this raw query string.
fn list_with_query(who: Identity, query: &str) -> Value {
    let mut event = who.list_event();
    event["rawQueryString"] = Value::String(query.to_owned());
    event
}

fn as_subject(mut event: Value, subject: &str) -> Value {
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::String(subject.into());
    event
}

fn names(answer: &Answer) -> Vec<&str> {
    answer.json["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .map(|entry| entry["secret_name"].as_str().expect("a name"))
        .collect()
}

/// Deletes show up with who and when until they are restored; the live list keeps its
/// published shape, with or without `state=live`; no value in any answer.
#[tokio::test]
async fn deleted_secrets_are_listed_until_restored() {
    let app = fresh_app().await;
    let org = "org_deleted";
    for name in ["charlie", "alpha", "bravo"] {
        app.seed(org, name, CANARY).await;
    }
    app.seed("org_other", "alpha", CANARY).await;
    for name in ["charlie", "alpha"] {
        let deleted = app
            .call(&as_subject(admin(org).delete_event(name), "bob"))
            .await;
        assert_eq!(deleted.status, 200);
    }
    assert_eq!(app.admin("org_other").delete("alpha").await.status, 200);

    let listed = app.admin(org).list_deleted().await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(
        names(&listed),
        ["alpha", "charlie"],
        "sorted, this org's only"
    );
    assert_eq!(listed.json["count"], 2);
    let entry = &listed.json["deleted"][0];
    assert_eq!(entry["deleted_by"], "bob");
    let deleted_at = entry["deleted_at"].as_str().expect("deleted_at");
    let until = entry["restorable_until"]
        .as_str()
        .expect("restorable_until");
    assert!(until > deleted_at, "{until} after {deleted_at}");
    let keys: BTreeSet<&str> = entry
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "deleted_at",
            "deleted_by",
            "restorable_until",
            "secret_name"
        ])
    );

    for query in ["", "state=live"] {
        let live = app.call(&list_with_query(caller(org, "READ"), query)).await;
        assert_eq!(live.status, 200, "{query}");
        assert_eq!(
            live.json,
            json!({ "count": 1, "secrets": ["bravo"] }),
            "{query}"
        );
    }

    assert_eq!(app.admin(org).restore("alpha", None).await.status, 200);
    let after = app.admin(org).list_deleted().await;
    assert_eq!(
        names(&after),
        ["charlie"],
        "a restored secret is not deleted any more"
    );
    // The direct-invocation query field says the same.
    let mut direct_field = list_with_query(admin(org), "");
    direct_field["queryStringParameters"] = json!({ "state": "deleted" });
    assert_eq!(names(&app.call(&direct_field).await), ["charlie"]);

    for answer in [&listed, &after] {
        assert!(!answer.text.contains(CANARY) && !answer.text.contains("gAAAA"));
    }
}

/// A copy past its window, and deletes with recovery off, are not listed: nothing of them
/// can be restored.
#[tokio::test]
async fn only_what_can_still_be_restored_is_listed() {
    let store = fresh_store().await;
    let app = app_on(store.clone(), &[]);
    let off = app_on(store, &[("RECOVERY_WINDOW_DAYS", "0")]);
    let org = "org_window";
    for name in ["kept", "expired", "unkept"] {
        app.seed(org, name, "v").await;
    }
    assert_eq!(app.admin(org).delete("kept").await.status, 200);
    assert_eq!(app.admin(org).delete("expired").await.status, 200);
    assert_eq!(off.admin(org).delete("unkept").await.status, 200);
    // The window of one copy ends, as its expires_at passing would end it.
    let key = std::collections::HashMap::from([
        (
            "org_id".to_owned(),
            AttributeValue::S(format!("\u{2}recovery:{org}")),
        ),
        (
            "secret_name".to_owned(),
            AttributeValue::S("deleted:expired".to_owned()),
        ),
    ]);
    app.store()
        .client()
        .update_item()
        .table_name(app.store().table().as_str())
        .set_key(Some(key))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::N("1".to_owned()))
        .send()
        .await
        .expect("ends the window");
    let listed = app.admin(org).list_deleted().await;
    assert_eq!(names(&listed), ["kept"], "{}", listed.text);
}

/// Who may ask, and which queries are refused, as a table; each status declared for the
/// list in openapi.yaml.
#[tokio::test]
async fn the_deleted_list_answers_each_caller_as_published() {
    let app = fresh_app().await;
    let secret_query = format!("state={CANARY}");
    let cases: Vec<(&str, Value, u16)> = vec![
        ("ADMIN", admin("o").list_deleted_event(), 200),
        (
            "READ",
            list_with_query(caller("o", "READ"), "state=deleted"),
            403,
        ),
        (
            "WRITE",
            list_with_query(caller("o", "WRITE"), "state=deleted"),
            403,
        ),
        (
            "an unknown state",
            list_with_query(admin("o"), &secret_query),
            422,
        ),
        (
            "state twice",
            list_with_query(admin("o"), "state=deleted&state=deleted"),
            422,
        ),
        (
            "an unknown state, READ",
            list_with_query(caller("o", "READ"), "state=gone"),
            422,
        ),
        (
            "the two query fields disagree",
            {
                let mut event = list_with_query(admin("o"), "state=live");
                event["queryStringParameters"] = json!({ "state": "deleted" });
                event
            },
            422,
        ),
    ];
    let mut observed = BTreeSet::new();
    for (case, event, expected) in cases {
        let answer = app.call(&event).await;
        assert_eq!(answer.status, expected, "{case}: {}", answer.text);
        if expected == 403 {
            assert_eq!(
                answer.json["error"]["details"]["required_permission"],
                "ADMIN"
            );
        }
        if expected == 422 {
            assert_eq!(
                answer.json["detail"][0]["loc"],
                json!(["query", "state"]),
                "{case}"
            );
            assert!(!answer.text.contains(CANARY), "{case}: the query echoed");
        }
        observed.insert(answer.status);
    }
    let document = openapi();
    assert_declared(&document, "/v1/organizations/secrets", "get", &observed);
    let parameters = document["paths"]["/v1/organizations/secrets"]["get"]["parameters"]
        .as_array()
        .expect("the list's parameters");
    assert!(
        parameters
            .iter()
            .any(|p| p["name"] == "state" && p["in"] == "query"),
        "the state parameter is published"
    );
    let body = serde_json::to_value(org_secrets::api::response::DeletedSecretListResponse::of(
        &[org_secrets::storage::DeletedSecret {
            secret_name: "n".into(),
            deleted_at: None,
            deleted_by: None,
            restorable_until: "2026-12-10T00:00:00Z".into(),
        }],
    ))
    .unwrap();
    let keys = |value: &Value| -> BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(
        keys(&body),
        schema_properties(&document, "DeletedSecretList")
    );
    assert_eq!(
        keys(&body["deleted"][0]),
        schema_properties(&document, "DeletedSecret")
    );
}
