//! Restore (`POST /v1/organizations/secrets/{name}/restore`): the deleted or the previous
//! value back once, its `version` from either query field, the limit, the permission, and
//! restores racing creates and each other.

use std::sync::Arc;

use org_secrets::storage::RecoverySlot;
use serde_json::{json, Value};

use crate::support::hostile::error_code;
use crate::support::recovery::*;
use crate::support::*;

#[tokio::test]
async fn a_restore_brings_the_deleted_value_back_once() {
    let app = fresh_app().await;
    app.seed(ORG, "webhook", "whsec_1").await;
    assert_eq!(app.admin(ORG).delete("webhook").await.status, 200);

    let restored = app.admin(ORG).restore("webhook", None).await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(
        restored.json,
        serde_json::json!({"secret_name": "webhook", "restored": true,
            "created": null, "updated": null, "deleted": null})
    );
    assert_eq!(read(app.store(), "webhook").await.unwrap(), "whsec_1");
    assert_eq!(app.store().secret_count(&org()).await.unwrap(), 1);
    assert!(copy(app.store(), "webhook", RecoverySlot::Deleted)
        .await
        .is_none());
    let item = app.stored_item(ORG, "webhook").await.unwrap();
    assert_eq!(attr(&item, "restored_by"), "alice@acme.example");
    // `?version=deleted` is the default, spelled out.
    assert_eq!(app.admin(ORG).delete("webhook").await.status, 200);
    let spelled = app.admin(ORG).restore("webhook", Some("deleted")).await;
    assert_eq!(spelled.status, 200, "{}", spelled.text);

    // Nothing left to restore (already restored: the name is live, but there is nothing
    // to put over it), and never anything for an unknown name: 404, nothing written.
    assert_eq!(app.admin(ORG).delete("webhook").await.status, 200);
    assert_eq!(app.admin(ORG).restore("webhook", None).await.status, 200);
    let already = app.admin(ORG).restore("webhook", None).await;
    assert_eq!(already.status, 404, "{}", already.text);
    assert_eq!(already.json["error"]["code"], "nothing_to_restore");
    let unknown = app.admin(ORG).restore("never_existed", None).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.json["error"]["code"], "nothing_to_restore");
    assert_eq!(app.item_count().await, 1);
}

#[tokio::test]
async fn a_restore_counts_against_the_limit_and_keeps_the_copy_when_refused() {
    let store = fresh_store().await;
    let app = app_on(store, &[("MAX_SECRETS_PER_ORG", "1")]);
    app.seed(ORG, "a", "va").await;
    assert_eq!(app.admin(ORG).delete("a").await.status, 200);
    app.seed(ORG, "b", "vb").await;
    let refused = app.admin(ORG).restore("a", None).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "secret_limit_reached");
    assert!(copy(app.store(), "a", RecoverySlot::Deleted)
        .await
        .is_some());
    assert_eq!(app.admin(ORG).delete("b").await.status, 200);
    assert_eq!(app.admin(ORG).restore("a", None).await.status, 200);
    assert_eq!(read(app.store(), "a").await.unwrap(), "va");
}

#[tokio::test]
async fn restore_needs_a_known_version() {
    let app = fresh_app().await;
    app.seed(ORG, "n", "v").await;
    assert_eq!(app.admin(ORG).delete("n").await.status, 200);
    for version in ["Previous", "latest", "", "previous%00"] {
        let answer = app.admin(ORG).restore("n", Some(version)).await;
        assert_eq!(answer.status, 422, "{version:?}: {}", answer.text);
        assert!(!answer.text.contains("latest"), "the value is not echoed");
    }
    let mut twice = admin(ORG).restore_event("n", Some("previous"));
    twice["rawQueryString"] = serde_json::json!("version=previous&version=deleted");
    twice["queryStringParameters"] = serde_json::json!({ "version": "previous,deleted" });
    assert_eq!(app.call(&twice).await.status, 422);
    // None of those touched the kept copy.
    assert_eq!(app.admin(ORG).restore("n", None).await.status, 200);
}

#[tokio::test]
async fn restore_racing_create_has_one_winner_and_keeps_the_loser_recoverable() {
    let app = Arc::new(fresh_app().await);
    for round in 0..8 {
        let secret = format!("race_{round}");
        app.seed(ORG, &secret, "deleted_value").await;
        assert_eq!(app.admin(ORG).delete(&secret).await.status, 200);
        let body = create_body(&secret, "new_value");
        let (restored, created) = tokio::join!(
            app.admin(ORG).restore(&secret, None),
            app.admin(ORG).create_body(&body),
        );
        match (restored.status, created.status) {
            (200, 409) => {
                assert_eq!(read(app.store(), &secret).await.unwrap(), "deleted_value");
                assert!(copy(app.store(), &secret, RecoverySlot::Deleted)
                    .await
                    .is_none());
            }
            (409, 201) => {
                assert_eq!(read(app.store(), &secret).await.unwrap(), "new_value");
                let kept = copy(app.store(), &secret, RecoverySlot::Deleted).await;
                assert_eq!(value_of(&kept.unwrap()), "deleted_value");
            }
            other => panic!(
                "undocumented outcome {other:?}: {} / {}",
                restored.text, created.text
            ),
        }
    }
    assert_eq!(app.store().secret_count(&org()).await.unwrap(), 8);
}

#[tokio::test]
async fn two_restores_racing_restore_once() {
    let app = Arc::new(fresh_app().await);
    for round in 0..8 {
        let secret = format!("race_{round}");
        app.seed(ORG, &secret, "v").await;
        assert_eq!(app.admin(ORG).delete(&secret).await.status, 200);
        let (a, b) = tokio::join!(
            app.admin(ORG).restore(&secret, None),
            app.admin(ORG).restore(&secret, None),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        // The loser finds the name live and the copy gone (404), or reads between the
        // winner's two items (409); either way nothing is written twice.
        assert!(
            statuses == [200, 404] || statuses == [200, 409],
            "{statuses:?}: {} / {}",
            a.text,
            b.text
        );
        assert_eq!(read(app.store(), &secret).await.unwrap(), "v");
    }
    assert_eq!(app.store().secret_count(&org()).await.unwrap(), 8);

    // Two restores of the previous value racing: one swap, or two (each a documented
    // 200); never a value lost.
    app.seed(ORG, "swap", "v1").await;
    assert_eq!(app.admin(ORG).update("swap", "v2").await.status, 200);
    let (a, b) = tokio::join!(
        app.admin(ORG).restore("swap", Some("previous")),
        app.admin(ORG).restore("swap", Some("previous")),
    );
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.text, b.text);
    let live = read(app.store(), "swap").await.unwrap();
    let previous = value_of(
        &copy(app.store(), "swap", RecoverySlot::Previous)
            .await
            .unwrap(),
    );
    let mut both = [live, previous];
    both.sort();
    assert_eq!(both, ["v1".to_owned(), "v2".to_owned()]);
}

/// A restore's `version` from an HTTP API event's `rawQueryString` or its
/// `queryStringParameters`, one row per class of input, each sent as a direct invocation and
/// through API Gateway. A direct caller may fill either field (the provisioning events carry
/// `"rawQueryString": ""`); when both name `version` they must agree (compared as API
/// Gateway fills them: decoded, repeated values joined by commas), else 422
/// `validation_error`. No answer quotes the value.
#[tokio::test]
async fn a_restore_version_comes_from_either_query_field_and_both_must_agree() {
    const CANARY: &str = "CANARY-version-5e1f";
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Previous,
        Deleted,
        Refused,
    }
    use Expect::*;
    let absent = Value::Null;
    let rows: [(&str, Option<&str>, Value, Expect); 26] = [
        ("neither", Some(""), absent.clone(), Deleted),
        (
            "explicit deleted",
            Some("version=deleted"),
            absent.clone(),
            Deleted,
        ),
        (
            "only raw",
            Some("version=previous"),
            absent.clone(),
            Previous,
        ),
        (
            "only raw, params empty",
            Some("version=previous"),
            json!({}),
            Previous,
        ),
        (
            "only params, no raw",
            None,
            json!({"version": "previous"}),
            Previous,
        ),
        (
            "only params, raw empty",
            Some(""),
            json!({"version": "previous"}),
            Previous,
        ),
        (
            "only params, raw has others",
            Some("a=1"),
            json!({"version": "previous"}),
            Previous,
        ),
        (
            "both equal",
            Some("version=previous"),
            json!({"version": "previous"}),
            Previous,
        ),
        (
            "both equal, deleted",
            Some("version=deleted"),
            json!({"version": "deleted"}),
            Deleted,
        ),
        (
            "both differ",
            Some("version=deleted"),
            json!({"version": "previous"}),
            Refused,
        ),
        (
            "both differ, reversed",
            Some("version=previous"),
            json!({"version": "deleted"}),
            Refused,
        ),
        (
            "repeated in raw",
            Some("version=previous&version=previous"),
            absent.clone(),
            Refused,
        ),
        (
            "repeated, as API Gateway fills both",
            Some("version=previous&version=deleted"),
            json!({"version": "previous,deleted"}),
            Refused,
        ),
        (
            "empty value in raw",
            Some("version="),
            absent.clone(),
            Refused,
        ),
        (
            "empty value in params",
            None,
            json!({"version": ""}),
            Refused,
        ),
        (
            "unknown value in both",
            Some(&format!("version={CANARY}")),
            json!({"version": CANARY}),
            Refused,
        ),
        (
            "unknown value in params",
            Some(""),
            json!({"version": CANARY}),
            Refused,
        ),
        (
            "wrong case",
            Some("version=Previous"),
            absent.clone(),
            Refused,
        ),
        (
            "percent-encoded in raw",
            Some("version=%70revious"),
            absent.clone(),
            Previous,
        ),
        (
            "percent-encoded in raw, decoded in params (API Gateway)",
            Some("version=%70revious"),
            json!({"version": "previous"}),
            Previous,
        ),
        (
            "percent-encoded in params",
            None,
            json!({"version": "%70revious"}),
            Refused,
        ),
        (
            "comma-joined in params",
            None,
            json!({"version": "previous,deleted"}),
            Refused,
        ),
        (
            "a comma in raw",
            Some("version=previous,deleted"),
            absent.clone(),
            Refused,
        ),
        (
            "params as a list",
            None,
            json!({"version": ["previous"]}),
            Previous,
        ),
        (
            "other parameters, all agreeing",
            Some("a=1&version=previous&b=2"),
            json!({"a": "1", "version": "previous", "b": "2"}),
            Previous,
        ),
        (
            "other parameters differing, version agreeing",
            Some("a=1&version=previous"),
            json!({"a": "2", "version": "previous"}),
            Previous,
        ),
    ];
    let app = fresh_app().await;
    for (row, (label, raw, params, expect)) in rows.iter().enumerate() {
        for direct in [true, false] {
            // A live value v2 whose previous value v1 is kept; nothing was ever deleted.
            let name = format!("r{row}_{direct}");
            app.seed("org_a", &name, "v1").await;
            let updated = app.admin("org_a").update(&name, "v2").await;
            assert_eq!(updated.status, 200, "{label}");
            let mut event = admin("org_a").restore_event(&name, None);
            event["requestContext"]["requestId"] = json!(unique_request_id());
            match raw {
                Some(raw) => event["rawQueryString"] = json!(raw),
                None => {
                    event.as_object_mut().unwrap().remove("rawQueryString");
                }
            }
            if !params.is_null() {
                event["queryStringParameters"] = params.clone();
            }
            let outcome = if direct {
                event["directInvocation"] = json!(true);
                match app.handle_event(&event.to_string(), None).await {
                    Ok(response) => (response["statusCode"].as_u64(), String::new()),
                    Err(err) => {
                        assert!(!err.message.contains(CANARY), "{label}: {}", err.message);
                        (None, err.error_type.to_owned())
                    }
                }
            } else {
                let answer = app.call(&event).await;
                assert!(!answer.text.contains(CANARY), "{label}: {}", answer.text);
                let code = match answer.status {
                    422 => "validation_error".to_owned(),
                    _ => error_code(&answer),
                };
                (Some(u64::from(answer.status)), code)
            };
            let expected = match (expect, direct) {
                (Previous, _) => (Some(200), String::new()),
                (Deleted, true) => (None, "nothing_to_restore".to_owned()),
                (Deleted, false) => (Some(404), "nothing_to_restore".to_owned()),
                (Refused, true) => (None, "validation_error".to_owned()),
                (Refused, false) => (Some(422), "validation_error".to_owned()),
            };
            assert_eq!(outcome, expected, "{label} (direct: {direct})");
            let live = if *expect == Previous { "v1" } else { "v2" };
            assert_eq!(
                app.stored_value("org_a", &name).await,
                live,
                "{label} (direct: {direct})"
            );
        }
    }
}
