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

fn names_of(answer: &Answer) -> Vec<&str> {
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
        names_of(&listed),
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
        names_of(&after),
        ["charlie"],
        "a restored secret is not deleted any more"
    );
    // The direct-invocation query field says the same.
    let mut direct_field = list_with_query(admin(org), "");
    direct_field["queryStringParameters"] = json!({ "state": "deleted" });
    assert_eq!(names_of(&app.call(&direct_field).await), ["charlie"]);

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
    set_copy_expiry(&app, org, "deleted", "expired", "1").await;
    let listed = app.admin(org).list_deleted().await;
    assert_eq!(names_of(&listed), ["kept"], "{}", listed.text);
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
        None,
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

/// Sets `expires_at` of `org`'s `slot` copy (`deleted`, `previous`) of `name`.
async fn set_copy_expiry(app: &TestApp, org: &str, slot: &str, name: &str, expires_at: &str) {
    let key = (format!("\u{2}recovery:{org}"), format!("{slot}:{name}"));
    set_attribute(
        app.store(),
        &key,
        "expires_at",
        AttributeValue::N(expires_at.to_owned()),
    )
    .await;
}

/// The list pages: `limit` entries at most, and `next_cursor` continues exactly where the
/// last answer ended until every restorable name was listed once. Expired copies never make
/// one answer read more than its share: an answer may hold fewer entries than `limit` and
/// still carry a cursor.
#[tokio::test]
async fn the_deleted_list_pages_with_a_cursor() {
    let app = fresh_app().await;
    let org = "org_pages";
    let names: Vec<String> = (0..9).map(|n| format!("s{n}")).collect();
    for name in &names {
        app.seed(org, name, "v").await;
        assert_eq!(app.admin(org).delete(name).await.status, 200);
    }
    // Six of them run past their window: only s0, s7 and s8 can still be restored.
    for name in &names[1..7] {
        set_copy_expiry(&app, org, "deleted", name, "1").await;
    }
    let mut listed = Vec::new();
    let mut answers = 0;
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("state=deleted&limit=2&cursor={cursor}"),
            None => "state=deleted&limit=2".to_owned(),
        };
        let answer = app.call(&list_with_query(admin(org), &query)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answers += 1;
        let page = names_of(&answer);
        assert!(page.len() <= 2, "{}", answer.text);
        assert_eq!(answer.json["count"], page.len());
        listed.extend(page.into_iter().map(str::to_owned));
        match answer.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(answers < 10, "the cursor moves on");
    }
    assert_eq!(
        listed,
        ["s0", "s7", "s8"],
        "each restorable name once, in order"
    );
    assert!(answers >= 2, "two entries per answer: {answers} answers");
    let everything = app.admin(org).list_deleted().await;
    assert_eq!(names_of(&everything), ["s0", "s7", "s8"]);
    assert!(everything.json["next_cursor"].is_null());
    // One entry per answer after s0: the expired s1..s6 come first, and an answer reads at
    // most four pages of them, so it ends empty, with a cursor to go on from.
    let after_s0 = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("s0")
    };
    let empty = app
        .call(&list_with_query(
            admin(org),
            &format!("state=deleted&limit=1&cursor={after_s0}"),
        ))
        .await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert!(names_of(&empty).is_empty(), "{}", empty.text);
    let next = empty.json["next_cursor"].as_str().expect("a cursor");
    let then = app
        .call(&list_with_query(
            admin(org),
            &format!("state=deleted&limit=1&cursor={next}"),
        ))
        .await;
    assert_eq!(names_of(&then), ["s7"], "{}", then.text);
}

/// `limit` and `cursor` the list cannot use are 422 at their own `loc`, never echoed.
#[tokio::test]
async fn limits_and_cursors_the_list_cannot_use_are_422() {
    let app = fresh_app().await;
    let not_a_name = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CANARY}\u{7}"))
    };
    let cases = [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=1&limit=2", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=not*base64", "cursor"),
        (&*format!("cursor={not_a_name}"), "cursor"),
        ("cursor=a&cursor=b", "cursor"),
    ];
    for (query, parameter) in cases {
        let answer = app
            .call(&list_with_query(
                admin("o"),
                &format!("state=deleted&{query}"),
            ))
            .await;
        assert_eq!(answer.status, 422, "{query}: {}", answer.text);
        assert_eq!(
            answer.json["detail"][0]["loc"],
            json!(["query", parameter]),
            "{query}"
        );
        assert!(!answer.text.contains(CANARY), "{query}: echoed");
    }
    let fine = app
        .call(&list_with_query(admin("o"), "state=deleted&limit=1000"))
        .await;
    assert_eq!(fine.status, 200, "{}", fine.text);
}

/// A copy whose expiry is further ahead than any window the function gives was not
/// written by it: it is not listed, not offered by describe, and not restored, so the
/// three always agree.
#[tokio::test]
async fn a_copy_dated_beyond_any_window_is_neither_listed_described_nor_restored() {
    let app = fresh_app().await;
    let org = "org_far";
    app.seed(org, "far", "v").await;
    assert_eq!(app.admin(org).delete("far").await.status, 200);
    // Past year 9999, and merely 40 days ahead: neither is a window the function writes.
    for expires_at in ["253402300800", &(recovery::now() + 40 * 86_400).to_string()] {
        set_copy_expiry(&app, org, "deleted", "far", expires_at).await;
        let listed = app.admin(org).list_deleted().await;
        assert!(
            names_of(&listed).is_empty(),
            "{expires_at}: {}",
            listed.text
        );
        let restored = app.admin(org).restore("far", None).await;
        assert_eq!(restored.status, 404, "{expires_at}: {}", restored.text);
    }
    // The previous value: not offered by describe, not restored.
    app.seed(org, "prev", "v1").await;
    assert_eq!(app.admin(org).update("prev", "v2").await.status, 200);
    set_copy_expiry(&app, org, "previous", "prev", "253402300800").await;
    let described = app.reader(org).describe("prev").await;
    assert!(
        described.json["previous_restorable_until"].is_null(),
        "{}",
        described.text
    );
    let restored = app.admin(org).restore("prev", Some("previous")).await;
    assert_eq!(restored.status, 404, "{}", restored.text);
    assert_eq!(app.stored_value(org, "prev").await, "v2");
}
