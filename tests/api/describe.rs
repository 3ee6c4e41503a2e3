//! `GET /v1/organizations/secrets/{secret_name}`: who made, changed and restored a secret
//! and when, and what of it can be restored; never its value.

use std::collections::BTreeSet;

use org_secrets::api::response::SecretDescription;
use org_secrets::domain::SecretName;
use org_secrets::storage::SecretMetadata;
use serde_json::Value;

use crate::support::*;

const CANARY: &str = "canary-describe-9f3b-never-shown";

fn describe_event(org: &str, permissions: &str, name: &str) -> Value {
    caller(org, permissions).describe_event(name)
}

fn as_subject(mut event: Value, subject: &str) -> Value {
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::String(subject.into());
    event
}

/// A secret's life, step by step: each describe says who did what last, and when, and
/// whether the previous value can be restored; none shows the value.
#[tokio::test]
async fn describe_follows_a_secrets_changes_and_never_shows_its_value() {
    let app = fresh_app().await;
    let org = "org_describe";
    let created = app
        .call(&as_subject(
            admin(org).create_event(&create_body("api_key", CANARY)),
            "alice",
        ))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);

    let first = app.reader(org).describe("api_key").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["secret_name"], "api_key");
    assert_eq!(first.json["created_by"], "alice");
    assert!(first.json["created_at"]
        .as_str()
        .is_some_and(|at| at.ends_with('Z')));
    for field in [
        "updated_at",
        "updated_by",
        "restored_at",
        "restored_by",
        "previous_restorable_until",
    ] {
        assert!(
            first.json[field].is_null(),
            "{field} before any change: {}",
            first.text
        );
    }
    assert_eq!(first.headers["cache-control"], "no-store");

    let updated = app
        .call(&as_subject(
            admin(org).update_event("api_key", &update_body(&format!("{CANARY}-2"))),
            "bob",
        ))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let second = app.admin(org).describe("api_key").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json["created_by"], "alice");
    assert_eq!(second.json["created_at"], first.json["created_at"]);
    assert_eq!(second.json["updated_by"], "bob");
    let updated_at = second.json["updated_at"]
        .as_str()
        .expect("updated_at")
        .to_owned();
    let until = second.json["previous_restorable_until"]
        .as_str()
        .expect("until")
        .to_owned();
    // The default window is 7 days from the update.
    assert!(until > updated_at, "{until} after {updated_at}");
    assert_eq!(
        &until[..4],
        &updated_at[..4],
        "same year, give or take a week"
    );

    let restored = app
        .call(&as_subject(
            admin(org).restore_event("api_key", Some("previous")),
            "carol",
        ))
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    let third = app.reader(org).describe("api_key").await;
    assert_eq!(third.json["restored_by"], "carol");
    assert!(third.json["restored_at"].is_string());
    assert!(
        third.json["previous_restorable_until"].is_string(),
        "the value the restore replaced is the previous one now"
    );

    for answer in [&first, &second, &third] {
        assert!(
            !answer.text.contains(CANARY),
            "the value in a describe: {}",
            answer.text
        );
        assert!(
            !answer.text.contains("gAAAA"),
            "a token in a describe: {}",
            answer.text
        );
    }

    let deleted = app.call(&admin(org).delete_event("api_key")).await;
    assert_eq!(deleted.status, 200);
    let gone = app.reader(org).describe("api_key").await;
    assert_eq!(gone.status, 404, "{}", gone.text);
    assert_eq!(gone.json["error"]["code"], "secret_not_found");
}

/// A previous value left by a secret's earlier life (deleted, then created again) is not
/// this secret's: describe does not offer it, as restore would not take it.
#[tokio::test]
async fn a_previous_value_of_an_earlier_life_is_not_offered() {
    let app = fresh_app().await;
    let org = "org_lives";
    app.seed(org, "k", "v1").await;
    assert_eq!(
        app.admin(org)
            .update_body("k", &update_body("v2"))
            .await
            .status,
        200
    );
    assert_eq!(app.admin(org).delete("k").await.status, 200);
    app.seed(org, "k", "v3").await;
    let answer = app.reader(org).describe("k").await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.json["previous_restorable_until"].is_null(),
        "{}",
        answer.text
    );
    assert!(answer.json["updated_at"].is_null());
    assert_eq!(
        app.admin(org).restore("k", Some("previous")).await.status,
        404,
        "restore agrees: nothing to restore"
    );
}

/// With recovery off, an update keeps no previous value, and describe says so.
#[tokio::test]
async fn with_recovery_off_there_is_no_previous_value() {
    let app = app_on(fresh_store().await, &[("RECOVERY_WINDOW_DAYS", "0")]);
    app.seed("o", "k", "v1").await;
    assert_eq!(
        app.admin("o")
            .update_body("k", &update_body("v2"))
            .await
            .status,
        200
    );
    let answer = app.reader("o").describe("k").await;
    assert_eq!(answer.status, 200);
    assert!(answer.json["updated_at"].is_string());
    assert!(
        answer.json["previous_restorable_until"].is_null(),
        "{}",
        answer.text
    );
}

/// Every answer a describe can give, from a table of callers and requests, and each status
/// declared for the operation in openapi.yaml.
#[tokio::test]
async fn describe_answers_each_caller_as_published() {
    let app = fresh_app().await;
    app.seed("org_a", "present", "v").await;
    let anonymous = {
        let mut event = describe_event("org_a", "READ", "present");
        event["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        event
    };
    let cases: Vec<(&str, Value, u16)> = vec![
        ("READ", describe_event("org_a", "READ", "present"), 200),
        ("ADMIN", admin("org_a").describe_event("present"), 200),
        (
            "READ and ADMIN as a JSON array",
            describe_event("org_a", r#"["READ","ADMIN"]"#, "present"),
            200,
        ),
        (
            "no permission",
            describe_event("org_a", "NONE", "present"),
            403,
        ),
        ("no claims", anonymous, 401),
        (
            "another organization",
            describe_event("org_b", "READ", "present"),
            404,
        ),
        (
            "no such secret",
            describe_event("org_a", "READ", "absent"),
            404,
        ),
        (
            "a name the rule refuses",
            describe_event("org_a", "READ", "a%07b"),
            422,
        ),
        (
            "a malformed escape",
            describe_event("org_a", "READ", "a%zz"),
            422,
        ),
        (
            "an org_id in the query is ignored",
            {
                let mut event = describe_event("org_b", "READ", "present");
                event["rawQueryString"] = Value::String("org_id=org_a".into());
                event
            },
            404,
        ),
    ];
    let mut observed = BTreeSet::new();
    for (case, event, expected) in cases {
        let answer = app.call(&event).await;
        assert_eq!(answer.status, expected, "{case}: {}", answer.text);
        observed.insert(answer.status);
    }
    let not_allowed = app
        .call(&admin("org_a").event("POST", "/present", None))
        .await;
    assert_eq!(not_allowed.status, 405);
    assert_eq!(not_allowed.headers["allow"], "DELETE, GET, PUT");
    observed.insert(not_allowed.status);
    for (fault, expected) in [("ThrottlingException", 503), ("ValidationException", 500)] {
        let faulty = app_on(
            FaultyDynamoDb::always(Fault::Error(fault)).store().await,
            &[],
        );
        let answer = faulty
            .call(&describe_event("org_a", "READ", "present"))
            .await;
        assert_eq!(answer.status, expected, "{fault}: {}", answer.text);
        observed.insert(answer.status);
    }

    assert_declared(
        &openapi(),
        "/v1/organizations/secrets/{secret_name}",
        "get",
        &observed,
    );
}

/// The body is exactly the published `SecretDescription`, every field present (null when
/// the secret has none).
#[test]
fn the_description_serializes_exactly_its_published_schema() {
    let document = openapi();
    let published = schema_properties(&document, "SecretDescription");
    let required: BTreeSet<String> = document["components"]["schemas"]["SecretDescription"]
        ["required"]
        .as_array()
        .expect("required")
        .iter()
        .map(|name| name.as_str().expect("a name").to_owned())
        .collect();
    assert_eq!(published, required, "every field is always present");
    let name = SecretName::parse("n").unwrap();
    let metadata = SecretMetadata {
        description: None,
        created_at: None,
        created_by: None,
        updated_at: None,
        updated_by: None,
        restored_at: None,
        restored_by: None,
        version: 0,
        previous_restorable_until: None,
    };
    let body = serde_json::to_value(SecretDescription::of(&name, &metadata)).unwrap();
    let keys: BTreeSet<String> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, published);
}

/// The description describe shows for `org`/`name`.
async fn described(app: &TestApp, org: &str, name: &str) -> Value {
    let answer = app.call(&describe_event(org, "READ", name)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json["description"].clone()
}

fn body_with_description(name: Option<&str>, value: &str, description: Value) -> String {
    let mut body = serde_json::json!({ "secret_value": value, "description": description });
    if let Some(name) = name {
        body["secret_name"] = Value::String(name.to_owned());
    }
    body.to_string()
}

/// A description is set by a create, kept by an update that says nothing of it, replaced
/// or removed (`null`, `""`) by one that does, and left alone by a restore of the previous
/// value; describe shows it. The provisioning example's description is kept too.
#[tokio::test]
async fn a_description_is_set_kept_replaced_and_removed() {
    let app = fresh_app().await;
    let org = "org_acme";
    let created = app
        .admin(org)
        .create_body(&body_with_description(
            Some("k"),
            "v1",
            "For the \u{1F468}\u{200D}\u{1F469} team\n\tline two".into(),
        ))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        described(&app, org, "k").await,
        "For the \u{1F468}\u{200D}\u{1F469} team\n\tline two"
    );

    let steps: [(&str, String, Value); 5] = [
        (
            "an update that says nothing of it keeps it",
            update_body("v2"),
            "For the \u{1F468}\u{200D}\u{1F469} team\n\tline two".into(),
        ),
        (
            "a string replaces it",
            body_with_description(None, "v3", "Rotated by the billing job".into()),
            "Rotated by the billing job".into(),
        ),
        (
            "null removes it",
            body_with_description(None, "v4", Value::Null),
            Value::Null,
        ),
        (
            "a string sets it again",
            body_with_description(None, "v5", "Back again".into()),
            "Back again".into(),
        ),
        (
            "the empty string removes it",
            body_with_description(None, "v6", "".into()),
            Value::Null,
        ),
    ];
    for (step, body, expected) in steps {
        let answer = app.admin(org).update_body("k", &body).await;
        assert_eq!(answer.status, 200, "{step}: {}", answer.text);
        assert_eq!(described(&app, org, "k").await, expected, "{step}");
    }
    let item = app.stored_item(org, "k").await.expect("item");
    assert!(
        !item.contains_key("description"),
        "removed, not stored empty"
    );

    assert_eq!(
        app.admin(org)
            .update_body("k", &body_with_description(None, "v7", "Current".into()))
            .await
            .status,
        200
    );
    let restored = app.admin(org).restore("k", Some("previous")).await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(app.stored_value(org, "k").await, "v6");
    assert_eq!(
        described(&app, org, "k").await,
        "Current",
        "a description is not a value"
    );

    let provisioning = app.call(&sample_event("provisioning-create.json")).await;
    assert_eq!(provisioning.status, 201, "{}", provisioning.text);
    assert_eq!(
        described(&app, org, "webhook_signing_secret").await,
        "Signs webhooks sent to Acme"
    );
}

/// Descriptions the rule refuses, on create and on update: 422 at `["body", "description"]`,
/// nothing written, and the message never quotes the text.
#[tokio::test]
async fn descriptions_the_rule_refuses_are_422_and_change_nothing() {
    let app = fresh_app().await;
    app.seed("o", "k", "v1").await;
    let long = format!("{CANARY}{}", "x".repeat(2049 - CANARY.len()));
    let at_limit = "y".repeat(2048);
    let refused: [(&str, Value, &str); 5] = [
        ("2049 characters", long.clone().into(), "string_too_long"),
        (
            "a bell",
            format!("{CANARY}\u{7}").into(),
            "string_pattern_mismatch",
        ),
        (
            "a carriage return",
            format!("{CANARY}\r\n").into(),
            "string_pattern_mismatch",
        ),
        ("a number", 7.into(), "string_type"),
        (
            "an object",
            serde_json::json!({ "text": CANARY }),
            "string_type",
        ),
    ];
    for (case, description, kind) in refused {
        for answer in [
            app.admin("o")
                .create_body(&body_with_description(
                    Some("new"),
                    "v",
                    description.clone(),
                ))
                .await,
            app.admin("o")
                .update_body("k", &body_with_description(None, "v2", description.clone()))
                .await,
        ] {
            assert_eq!(answer.status, 422, "{case}: {}", answer.text);
            let issue = &answer.json["detail"][0];
            assert_eq!(
                issue["loc"],
                serde_json::json!(["body", "description"]),
                "{case}"
            );
            assert_eq!(issue["type"], kind, "{case}");
            assert!(!answer.text.contains(CANARY), "{case}: the text quoted");
        }
    }
    assert!(app.stored_item("o", "new").await.is_none());
    assert_eq!(app.stored_value("o", "k").await, "v1");
    let accepted = app
        .admin("o")
        .create_body(&body_with_description(
            Some("at_limit"),
            "v",
            at_limit.into(),
        ))
        .await;
    assert_eq!(
        accepted.status, 201,
        "2048 characters fit: {}",
        accepted.text
    );
}

/// The same request sent again is the same only with the same description: a keyed create
/// or a repeated request id with another description is refused, nothing written.
#[tokio::test]
async fn a_resend_must_say_the_same_of_the_description() {
    let app = fresh_app().await;
    let org = "org_acme";
    let first = body_with_description(Some("k"), "v", "first".into());
    assert_eq!(
        app.admin(org)
            .keyed("key-1")
            .create_body(&first)
            .await
            .status,
        201
    );
    let again = app.admin(org).keyed("key-1").create_body(&first).await;
    assert_eq!(again.status, 201, "the same request: {}", again.text);
    let other = body_with_description(Some("k"), "v", "second".into());
    let reused = app.admin(org).keyed("key-1").create_body(&other).await;
    assert_eq!(reused.status, 409, "{}", reused.text);
    assert_eq!(reused.json["error"]["code"], "idempotency_key_reused");
    let bare = app
        .admin(org)
        .keyed("key-1")
        .create_body(&create_body("k", "v"))
        .await;
    assert_eq!(
        bare.status, 409,
        "no description is another request: {}",
        bare.text
    );

    let update = admin(org)
        .keyed("key-2")
        .update_event("k", &body_with_description(None, "v2", "new".into()));
    assert_eq!(app.call(&update).await.status, 200);
    assert_eq!(app.call(&update).await.status, 200, "resent");
    let mut changed = update.clone();
    changed["body"] = Value::String(body_with_description(None, "v2", Value::Null).to_string());
    let refused = app.call(&changed).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    let described = app.reader(org).describe("k").await;
    assert_eq!(
        described.json["description"], "new",
        "nothing written by the refusals"
    );
}
