//! Authorization across every operation: who the caller is comes from the authorizer's
//! claims only (every authorizer shape, claims used exactly as presented or refused, the
//! organization never taken from the body, query, headers or path), what they may do from
//! the permission hierarchy, and a request refused here never reaches DynamoDB.

use serde_json::{json, Value};

use crate::support::shapes::*;
use crate::support::*;

const CANARY: &str = "CANARY-authorization-7e1a";

/// Each authorizer shape API Gateway produces, from the checked-in real-shaped payloads.
#[tokio::test]
async fn every_authorizer_shape_authenticates() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        ("http-api-jwt-admin-create.json", &[], "alice@acme.example"),
        (
            "http-api-jwt-named-stage-create.json",
            &[],
            "alice@acme.example",
        ),
        (
            "http-api-lambda-authorizer-create.json",
            &[],
            "provisioner@acme.example",
        ),
        (
            "rest-cognito-create.json",
            &[
                ("ORG_ID_CLAIM", "custom:org_id"),
                ("PERMISSIONS_CLAIM", "cognito:groups"),
            ],
            "7d8e9f10-1234-4abc-9def-0123456789ab",
        ),
        (
            "rest-lambda-authorizer-create.json",
            &[],
            "provisioner@acme.example",
        ),
        (
            "http-api-base64-body-create.json",
            &[],
            "alice@acme.example",
        ),
    ];
    for (file, overrides, actor) in cases {
        let app = app_on(fresh_store().await, overrides);
        let answer = app.call(&sample_event(file)).await;
        assert_eq!(answer.status, 201, "{file}: {}", answer.text);
        let item = app
            .stored_item("org_acme", "stripe_api_key")
            .await
            .unwrap_or_else(|| panic!("{file}: not stored under org_acme"));
        assert_eq!(attr(&item, "created_by"), actor, "{file}");
    }
}

#[tokio::test]
async fn cognito_groups_without_admin_is_403() {
    let overrides = [
        ("ORG_ID_CLAIM", "custom:org_id"),
        ("PERMISSIONS_CLAIM", "cognito:groups"),
    ];
    let app = app_on(fresh_store().await, &overrides);
    let mut event = sample_event("rest-cognito-create.json");
    event["requestContext"]["authorizer"]["claims"]["cognito:groups"] = json!("READ,WRITE");
    assert_eq!(app.call(&event).await.status, 403);
    // With the default claim names the Cognito event has no org claim at all.
    let default_names = fresh_app().await;
    assert_eq!(
        default_names
            .call(&sample_event("rest-cognito-create.json"))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn permissions_hierarchy_and_whole_tokens() {
    let app = fresh_app().await;
    let cases = [
        ("[ADMIN WRITE]", 201),
        ("admin", 201),
        ("READ,ADMIN", 201),
        (r#"["WRITE","ADMIN"]"#, 201),
        ("read write", 403),
        ("DELETE", 403),
        ("WRITE", 403),
        ("READ", 403),
        ("NOT_ADMIN", 403),
        ("ADMINISTRATOR", 403),
        ("[ADMINS]", 403),
        ("", 403),
    ];
    for (index, (permissions, status)) in cases.into_iter().enumerate() {
        let body = create_body(&format!("perm_case_{index}"), "v");
        let answer = app.caller("org_acme", permissions).create_body(&body).await;
        assert_eq!(
            answer.status, status,
            "permissions {permissions:?}: {}",
            answer.text
        );
        if status == 403 {
            assert_eq!(answer.json["error"]["type"], "UnauthorizedError");
            assert_eq!(answer.json["error"]["message"], "Insufficient permissions");
            assert_common_headers(&answer);
        }
    }
    assert_eq!(app.item_count().await, 4);
}

#[tokio::test]
async fn permissions_as_a_json_array_in_a_lambda_authorizer_context() {
    let app = fresh_app().await;
    let mut event = sample_event("http-api-lambda-authorizer-create.json");
    event["requestContext"]["authorizer"]["lambda"]["permissions"] = json!(["READ", "NOT_ADMIN"]);
    assert_eq!(app.call(&event).await.status, 403);
    event["requestContext"]["authorizer"]["lambda"]["permissions"] = json!(["read", "admin"]);
    assert_eq!(app.call(&event).await.status, 201);
}

/// The hierarchy ADMIN > DELETE > WRITE > READ, as a table over every operation: list and
/// describe need READ; create, update, restore, delete and the list of deleted secrets need
/// ADMIN; a caller with no known permission
/// may do nothing. A refused request is 403 naming the permission it needed, and changes
/// no item; restore is refused even when there is a deleted value to bring back.
#[tokio::test]
async fn the_permission_hierarchy_on_every_operation() {
    let app = fresh_app().await;
    app.seed("org_acme", "existing", "v").await;
    app.seed("org_acme", "deleted_one", "v").await;
    assert_eq!(
        app.admin("org_acme").delete("deleted_one").await.status,
        200
    );
    // ADMIN last: its restore and delete change what the others are refused on.
    for permission in ["READ", "WRITE", "DELETE", "NOT_READ", "ADMIN"] {
        let who = caller("org_acme", permission);
        let is_admin = permission == "ADMIN";
        let rows = [
            (
                "create",
                who.create_event(&create_body(&format!("new_{permission}"), "v")),
                if is_admin { 201 } else { 403 },
            ),
            (
                "list",
                who.list_event(),
                if permission == "NOT_READ" { 403 } else { 200 },
            ),
            (
                "describe",
                who.describe_event("existing"),
                if permission == "NOT_READ" { 403 } else { 200 },
            ),
            (
                "list deleted",
                who.list_deleted_event(),
                if is_admin { 200 } else { 403 },
            ),
            (
                "update",
                who.update_event("existing", &update_body("changed")),
                if is_admin { 200 } else { 403 },
            ),
            (
                "restore",
                who.restore_event("deleted_one", None),
                if is_admin { 200 } else { 403 },
            ),
            (
                "delete",
                who.delete_event("existing"),
                if is_admin { 200 } else { 403 },
            ),
        ];
        for (operation, event, status) in rows {
            let before = snapshot(app.store()).await;
            let answer = app.call(&event).await;
            assert_eq!(
                answer.status, status,
                "{permission} {operation}: {}",
                answer.text
            );
            if status == 403 {
                assert_eq!(answer.json["error"]["type"], "UnauthorizedError");
                if !["list", "describe"].contains(&operation) {
                    assert_eq!(
                        answer.json["error"]["details"]["required_permission"], "ADMIN",
                        "{permission} {operation}"
                    );
                }
                assert_eq!(
                    snapshot(app.store()).await,
                    before,
                    "{permission} {operation} changed an item"
                );
            }
        }
    }
}

/// Org claims with surrounding Unicode whitespace, or control, format or separator
/// characters anywhere: each would have acted on `org_a` when it was trimmed.
const LOOK_ALIKE_ORGS: &[&str] = &[
    "org_a\u{3000}",
    "\u{a0}org_a",
    " org_a",
    "org_a ",
    "org_a\t",
    "org_a\n",
    "\rorg_a",
    "org_a\u{b}",
    "org_a\u{2028}",
    "org_a\u{2029}",
    "org_a\u{85}",
    "\u{1680}org_a",
    "org_a\u{2000}",
    "org_a\u{200a}",
    "\u{202f}org_a",
    "org_a\u{205f}",
    "org_a\u{200b}",
    "\u{feff}org_a",
    "org_a\u{200d}",
    "\u{202e}org_a",
    "org_a\u{2066}",
    "org\u{ad}_a",
    "org_a\u{0}",
    "org_a\u{1b}",
    "org_a\u{7f}",
    "org_a\u{9c}",
];

#[tokio::test]
async fn org_claims_are_used_as_presented_or_refused_in_every_shape_and_operation() {
    let app = fresh_app().await;
    let setup = shaped_event(
        Shape::HttpApiJwt,
        "POST",
        "",
        Some("org_a"),
        Some("alice"),
        Some(&create_body("shared", "original")),
    );
    assert_eq!(app.call(&setup).await.status, 201);

    for shape in SHAPES {
        let app = app_for(shape, app.store());
        // The control: the presented org itself works in this shape, so a 401 below is the
        // rule at work and not a shape the app cannot read.
        let list = app
            .call(&shaped_event(
                shape,
                "GET",
                "",
                Some("org_a"),
                Some("alice"),
                None,
            ))
            .await;
        assert_eq!(list.status, 200, "{shape:?}: {}", list.text);
        assert_eq!(list.json["secrets"], json!(["shared"]), "{shape:?}");
        for org in LOOK_ALIKE_ORGS {
            let operations = [
                ("GET", "", None),
                ("POST", "", Some(create_body("shared", "taken-over"))),
                ("POST", "", Some(create_body("planted", "x"))),
                (
                    "PUT",
                    "/shared",
                    Some(r#"{"secret_value": "taken-over"}"#.to_owned()),
                ),
                ("DELETE", "/shared", None),
            ];
            for (method, suffix, body) in operations {
                let event = shaped_event(
                    shape,
                    method,
                    suffix,
                    Some(org),
                    Some("mallory"),
                    body.as_deref(),
                );
                let answer = app.call(&event).await;
                assert!(
                    is_not_authenticated(&answer),
                    "{shape:?} {method}{suffix} as org {org:?}: {} {}",
                    answer.status,
                    answer.text
                );
            }
        }
    }
    // org_a's secret is exactly as it was, and nothing else was written anywhere.
    assert_eq!(app.stored_value("org_a", "shared").await, "original");
    assert_eq!(app.item_count().await, 1);
    // An org id with inner spaces or non-ASCII letters is an id like any other: used as is.
    for org in ["org a", "组织", "org-ÄÖÜ"] {
        let event = shaped_event(
            Shape::HttpApiLambda,
            "POST",
            "",
            Some(org),
            Some("alice"),
            Some(&create_body("shared", "theirs")),
        );
        assert_eq!(app.call(&event).await.status, 201, "{org:?}");
        assert_eq!(app.stored_value(org, "shared").await, "theirs");
    }
}

#[tokio::test]
async fn subject_claims_follow_the_same_rule_and_are_never_cut() {
    let store = fresh_store().await;
    let max = "é".repeat(256); // 512 bytes
    let refused: Vec<String> = LOOK_ALIKE_ORGS
        .iter()
        .map(|bad| bad.replace("org_a", "alice"))
        .chain([
            String::new(),
            format!("a{}", "é".repeat(600)),
            "x".repeat(513),
            format!("{max}a"),
        ])
        .collect();
    for shape in SHAPES {
        let app = app_for(shape, &store);
        for (i, sub) in refused.iter().enumerate() {
            let body = create_body(&format!("by_{i}"), "v");
            let event = shaped_event(shape, "POST", "", Some("org_a"), Some(sub), Some(&body));
            let answer = app.call(&event).await;
            assert!(
                is_not_authenticated(&answer),
                "{shape:?} subject #{i} ({} bytes): {} {}",
                sub.len(),
                answer.status,
                answer.text
            );
        }
        // The longest subject allowed is stored whole, as are a subject with inner spaces
        // and no subject at all ("unknown").
        for (name, sub, stored) in [
            ("longest", Some(max.as_str()), max.as_str()),
            ("spaced", Some("alice smith"), "alice smith"),
            ("anonymous", None, "unknown"),
        ] {
            let name = format!("{name}_{shape:?}");
            let event = shaped_event(
                shape,
                "POST",
                "",
                Some("org_a"),
                sub,
                Some(&create_body(&name, "v")),
            );
            // The REST Lambda authorizer's principalId is also its subject; remove both.
            let event = if sub.is_none() {
                without_subject(event)
            } else {
                event
            };
            let answer = app.call(&event).await;
            assert_eq!(answer.status, 201, "{shape:?} {name}: {}", answer.text);
            let item = app.stored_item("org_a", &name).await.unwrap();
            assert_eq!(attr(&item, "created_by"), stored, "{shape:?} {name}");
        }
    }
    assert_eq!(item_count(&store).await, 3 * SHAPES.len());
}

/// Every request authorization refuses is 401 `AuthenticationError` or 403
/// `UnauthorizedError`, in the service's envelope, quoting nothing; and DynamoDB sees not
/// one request. A table of adversaries on create (permissions that are near misses, org
/// claims of the wrong type or absent, claims in the wrong place, IAM, Function URL and
/// ALB events), then a table of refused callers over every operation.
#[tokio::test]
async fn a_request_refused_by_authorization_never_reaches_dynamodb() {
    let dynamodb = FaultyDynamoDb::new(|_| Fault::Pass);
    let app = app_on(dynamodb.store().await, &[]);
    let body = create_body("target", CANARY);

    let mut cases: Vec<(String, Value, u16)> = Vec::new();
    for permissions in [
        "ADMINISTRATOR",
        "NOT_ADMIN",
        "[READ]",
        "READ,ADMINX",
        "ADMIN_",
        "AD MIN",
        "[]",
        "null",
    ] {
        cases.push((
            format!("permissions {permissions:?}"),
            caller("org_acme", permissions).create_event(&body),
            403,
        ));
    }
    let mut lambda = sample_event("http-api-lambda-authorizer-create.json");
    lambda["body"] = json!(body);
    for permissions in [
        json!(["admin "]),
        json!([" ADMIN"]),
        json!(["READ ADMIN"]),
        json!({"ADMIN": true}),
        json!(1),
    ] {
        let mut event = lambda.clone();
        event["requestContext"]["authorizer"]["lambda"]["permissions"] = permissions.clone();
        cases.push((format!("lambda permissions {permissions}"), event, 403));
    }
    for org in [
        json!(""),
        json!("   "),
        json!(12345),
        json!({"id": "org_acme"}),
        json!(["org_acme"]),
        json!(null),
    ] {
        let mut event = lambda.clone();
        event["requestContext"]["authorizer"]["lambda"]["org_id"] = org.clone();
        cases.push((format!("org claim {org}"), event, 401));
    }
    let mut missing_org = lambda.clone();
    missing_org["requestContext"]["authorizer"]["lambda"]
        .as_object_mut()
        .unwrap()
        .remove("org_id");
    cases.push(("missing org claim".to_owned(), missing_org, 401));
    let mut rest = sample_event("rest-lambda-authorizer-create.json");
    rest["body"] = json!(body);
    let mut claims_string = rest.clone();
    claims_string["requestContext"]["authorizer"] =
        json!({"claims": "org_id=org_acme", "principalId": "x"});
    cases.push(("claims of the wrong type".to_owned(), claims_string, 401));
    let mut claims_list = rest.clone();
    claims_list["requestContext"]["authorizer"] =
        json!({"claims": ["org_acme"], "permissions": "ADMIN"});
    cases.push(("claims as a list".to_owned(), claims_list, 401));
    let mut no_authorizer = without_authorizer(admin("org_acme").create_event(&body));
    no_authorizer["headers"]["x-org-id"] = json!("org_acme");
    no_authorizer["rawQueryString"] = json!("org_id=org_acme&permissions=ADMIN");
    cases.push((
        "org and permissions only in header and query".to_owned(),
        no_authorizer,
        401,
    ));
    let mut iam = admin("org_acme").create_event(&body);
    iam["requestContext"]["authorizer"] = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012",
        "callerId": "AIDA", "principalOrgId": null, "userArn": "arn:aws:iam::123456789012:user/x", "userId": "AIDA"}});
    cases.push(("IAM authorizer".to_owned(), iam, 401));
    let mut url = sample_event("http-api-no-authorizer-create.json");
    url["requestContext"]["domainName"] = json!("abcdefghij.lambda-url.us-east-1.on.aws");
    cases.push(("Function URL".to_owned(), url, 401));
    let alb = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/0123456789abcdef"}},
        "httpMethod": "POST", "path": "/v1/organizations/secrets", "queryStringParameters": {},
        "headers": {"content-type": "application/json", "x-org-id": "org_acme"}, "body": body, "isBase64Encoded": false
    });
    cases.push(("ALB".to_owned(), alb, 401));

    let mut no_org = admin("org_acme").create_event(&body);
    no_org["requestContext"]["authorizer"]["jwt"]["claims"]
        .as_object_mut()
        .unwrap()
        .remove("org_id");
    cases.push(("JWT: no org claim".to_owned(), no_org, 401));
    let mut empty_org = admin("org_acme").create_event(&body);
    empty_org["requestContext"]["authorizer"]["jwt"]["claims"]["org_id"] = json!("  ");
    cases.push(("JWT: blank org claim".to_owned(), empty_org, 401));
    let no_authorizer = without_authorizer(admin("org_acme").create_event(&body));
    cases.push(("no authorizer".to_owned(), no_authorizer, 401));
    cases.push((
        "READ creating".to_owned(),
        reader("org_acme").create_event(&body),
        403,
    ));

    // Every operation, for callers that may not perform it.
    let anonymous = without_authorizer;
    for (operation, event) in admin("org_acme").every_operation("target") {
        cases.push((
            format!("{operation} without an authorizer"),
            anonymous(event),
            401,
        ));
    }
    for (operation, event) in caller("org_acme", "NOT_READ").every_operation("target") {
        cases.push((format!("{operation} with no permission"), event, 403));
    }
    for (operation, event) in reader("org_acme").every_operation("target") {
        if !["list", "describe"].contains(&operation) {
            cases.push((format!("{operation} by READ"), event, 403));
        }
    }

    for (label, event, status) in &cases {
        let answer = app.call(event).await;
        assert_eq!(answer.status, *status, "{label}: {}", answer.text);
        let error_type = if *status == 401 {
            "AuthenticationError"
        } else {
            "UnauthorizedError"
        };
        assert_eq!(answer.json["error"]["type"], error_type, "{label}");
        assert_common_headers(&answer);
        assert_no_echo(&answer, CANARY);
    }
    assert_eq!(
        dynamodb.request_count(),
        0,
        "an unauthorized request reached DynamoDB"
    );
}

/// The organization comes from the authorizer's claim only, in every operation: an
/// `org_id` in the body, the query, a header or the path parameters changes nothing. The
/// attacker's requests act on the attacker's own secret of the same name, and the victim's
/// secrets stay as they were.
#[tokio::test]
async fn the_organization_comes_from_the_claim_only_in_every_operation() {
    let app = fresh_app().await;
    app.seed("org_victim", "spoof", "victim-value").await;
    app.seed("org_victim", "victim_only", "victim-value").await;
    let spoofed = |mut event: Value| {
        event["rawQueryString"] = json!("org_id=org_victim");
        event["queryStringParameters"] = json!({"org_id": "org_victim"});
        event["headers"]["x-org-id"] = json!("org_victim");
        event["pathParameters"]["org_id"] = json!("org_victim");
        event
    };
    let attacker = admin("org_attacker");
    let victim_unchanged = || async {
        assert_eq!(
            app.stored_value("org_victim", "spoof").await,
            "victim-value"
        );
        assert_eq!(
            app.stored_value("org_victim", "victim_only").await,
            "victim-value"
        );
    };

    let body =
        json!({"secret_name": "spoof", "secret_value": "attacker-value", "org_id": "org_victim"})
            .to_string();
    let created = app.call(&spoofed(attacker.create_event(&body))).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        app.stored_value("org_attacker", "spoof").await,
        "attacker-value"
    );
    victim_unchanged().await;

    let update = json!({"secret_value": "overwritten", "org_id": "org_victim"}).to_string();
    let updated = app
        .call(&spoofed(attacker.update_event("spoof", &update)))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(
        app.stored_value("org_attacker", "spoof").await,
        "overwritten"
    );
    victim_unchanged().await;

    let listed = app.call(&spoofed(attacker.list_event())).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json["secrets"], json!(["spoof"]));

    let deleted = app.call(&spoofed(attacker.delete_event("spoof"))).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert!(app.stored_item("org_attacker", "spoof").await.is_none());
    victim_unchanged().await;

    let restored = app
        .call(&spoofed(attacker.restore_event("spoof", None)))
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(
        app.stored_value("org_attacker", "spoof").await,
        "overwritten"
    );
    victim_unchanged().await;
    assert_eq!(app.item_count().await, 3);
}
