//! `openapi.yaml` declares every status the create route can answer with.

use std::collections::BTreeSet;

use org_secrets::api::error::{ApiError, ValidationIssue};
use org_secrets::auth::{AuthError, Permission};
use org_secrets::domain::SecretName;
use org_secrets::storage::StoreError;
use serde_json::{json, Value};

use crate::support::*;

fn declared_statuses() -> BTreeSet<u16> {
    declared(&openapi(), "/v1/organizations/secrets", "post")
}

/// One value of every `ApiError` variant. The match makes this fail to compile when a
/// variant is added, so a new error cannot skip the declaration check.
fn one_of_each_error() -> Vec<ApiError> {
    let errors = vec![
        ApiError::Unauthenticated(AuthError::NoAuthorizer),
        ApiError::Forbidden {
            needed: Permission::Admin,
        },
        ApiError::RouteNotFound,
        ApiError::MethodNotAllowed {
            allow: &["GET", "POST"],
        },
        ApiError::UnsupportedMediaType,
        ApiError::Validation(vec![ValidationIssue::body("Field required", "missing")]),
        ApiError::SecretNameTaken {
            name: SecretName::parse("n").unwrap(),
        },
        ApiError::SecretLimitReached { limit: 1_000 },
        ApiError::RequestReused {
            name: SecretName::parse("n").unwrap(),
            by_key: false,
        },
        ApiError::InvalidRequestId(org_secrets::domain::IdentifierError::TooLong { max: 2048 }),
        ApiError::NothingToRestore {
            name: SecretName::parse("n").unwrap(),
            slot: org_secrets::storage::RecoverySlot::Previous,
        },
        ApiError::RestoreBlocked {
            name: SecretName::parse("n").unwrap(),
        },
        ApiError::MalformedEvent("headers"),
        ApiError::StorageUnavailable(StoreError::Unavailable("timeout".to_owned())),
        ApiError::Internal(org_secrets::api::error::InternalError::NoRequestId),
    ];
    for error in &errors {
        match error {
            ApiError::Unauthenticated(_)
            | ApiError::Forbidden { .. }
            | ApiError::RouteNotFound
            | ApiError::MethodNotAllowed { .. }
            | ApiError::UnsupportedMediaType
            | ApiError::Validation(_)
            | ApiError::SecretNameTaken { .. }
            | ApiError::RequestReused { .. }
            | ApiError::InvalidRequestId(_)
            | ApiError::SecretNotFound { .. }
            | ApiError::SecretLimitReached { .. }
            | ApiError::NothingToRestore { .. }
            | ApiError::RestoreBlocked { .. }
            | ApiError::MalformedEvent(_)
            | ApiError::StorageUnavailable(_)
            | ApiError::Internal(_) => {}
        }
    }
    errors
}

#[test]
fn every_error_status_is_declared() {
    let declared = declared_statuses();
    let mut statuses: BTreeSet<u16> = one_of_each_error()
        .iter()
        .map(|e| e.status().as_u16())
        .collect();
    statuses.insert(201);
    let missing: Vec<_> = statuses.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "statuses not declared in openapi.yaml: {missing:?}"
    );
}

/// The statuses actually observed from the handler on this route are declared too.
#[tokio::test]
async fn observed_statuses_are_declared() {
    let declared = declared_statuses();
    let app = fresh_app().await;
    let mut observed = BTreeSet::new();
    let body = create_body("observed", "v");
    observed.insert(app.admin("o").create_body(&body).await.status);
    observed.insert(app.admin("o").create_body(&body).await.status);
    observed.insert(app.reader("o").create_body(&body).await.status);
    observed.insert(app.admin("o").create_body("{}").await.status);
    let anonymous = without_authorizer(admin("o").create_event(&body));
    observed.insert(app.call(&anonymous).await.status);
    let mut get = admin("o").create_event(&body);
    get["requestContext"]["http"]["method"] = json!("PATCH");
    observed.insert(app.call(&get).await.status);
    for fault in ["ValidationException", "ThrottlingException"] {
        let faulty = app_on(
            FaultyDynamoDb::always(Fault::Error(fault))
                .store_without_table()
                .await,
            &[],
        );
        observed.insert(faulty.admin("o").create_body(&body).await.status);
    }
    assert_eq!(
        observed,
        BTreeSet::from([201, 401, 403, 405, 409, 422, 500, 503]),
        "the matrix above should reach every status"
    );
    let missing: Vec<_> = observed.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "statuses not declared in openapi.yaml: {missing:?}"
    );
}

/// List, update and delete: the statuses a matrix of real requests reaches are declared
/// on each operation.
#[tokio::test]
async fn lifecycle_statuses_are_declared() {
    let document = openapi();
    let app = fresh_app().await;
    assert_eq!(app.admin("o").create("present", "v").await.status, 201);
    let throttled = app_on(
        FaultyDynamoDb::always(Fault::Error("ThrottlingException"))
            .store_without_table()
            .await,
        &[],
    );
    let broken = app_on(
        FaultyDynamoDb::always(Fault::Error("ValidationException"))
            .store_without_table()
            .await,
        &[],
    );
    let update = update_body("v2");
    let anonymous = without_authorizer;

    let mut list = BTreeSet::new();
    for event in [
        reader("o").list_event(),
        caller("o", "NONE").list_event(),
        anonymous(reader("o").list_event()),
    ] {
        list.insert(app.call(&event).await.status);
    }
    list.insert(throttled.reader("o").list().await.status);
    list.insert(broken.reader("o").list().await.status);
    assert_eq!(list, BTreeSet::from([200, 401, 403, 500, 503]));
    assert_declared(&document, "/v1/organizations/secrets", "get", &list);

    let mut put = BTreeSet::new();
    for event in [
        admin("o").update_event("present", &update),
        admin("o").update_event("absent", &update),
        admin("o").update_event("present", "{}"),
        reader("o").update_event("present", &update),
        admin("o").event("POST", "/present", Some(&update)),
        anonymous(admin("o").update_event("present", &update)),
    ] {
        put.insert(app.call(&event).await.status);
    }
    put.insert(
        throttled
            .admin("o")
            .update_body("present", &update)
            .await
            .status,
    );
    put.insert(
        broken
            .admin("o")
            .update_body("present", &update)
            .await
            .status,
    );
    assert_eq!(
        put,
        BTreeSet::from([200, 401, 403, 404, 405, 422, 500, 503])
    );
    assert_declared(
        &document,
        "/v1/organizations/secrets/{secret_name}",
        "put",
        &put,
    );

    let mut delete = BTreeSet::new();
    for event in [
        admin("o").delete_event("present"),
        admin("o").delete_event("present"),
        admin("o").delete_event("%FF"),
        caller("o", "WRITE").delete_event("present"),
        anonymous(admin("o").delete_event("present")),
    ] {
        delete.insert(app.call(&event).await.status);
    }
    delete.insert(throttled.admin("o").delete("x").await.status);
    delete.insert(broken.admin("o").delete("x").await.status);
    assert_eq!(delete, BTreeSet::from([200, 401, 403, 404, 422, 500, 503]));
    assert_declared(
        &document,
        "/v1/organizations/secrets/{secret_name}",
        "delete",
        &delete,
    );

    let limited = app_on(fresh_store().await, &[("MAX_SECRETS_PER_ORG", "1")]);
    limited.seed("o", "a", "v").await;
    assert_eq!(limited.admin("o").delete("a").await.status, 200);
    limited.seed("o", "b", "v").await;
    let mut restore = BTreeSet::new();
    restore.insert(limited.admin("o").restore("a", None).await.status);
    assert_eq!(app.admin("o").delete("present").await.status, 404);
    app.seed("o", "gone", "v").await;
    assert_eq!(app.admin("o").delete("gone").await.status, 200);
    app.seed("o", "taken", "v1").await;
    assert_eq!(app.admin("o").delete("taken").await.status, 200);
    app.seed("o", "taken", "v2").await;
    restore.insert(app.admin("o").restore("taken", None).await.status);
    for event in [
        admin("o").restore_event("gone", None),
        admin("o").restore_event("gone", None),
        admin("o").restore_event("never", None),
        admin("o").restore_event("gone", Some("latest")),
        reader("o").restore_event("gone", None),
        anonymous(admin("o").restore_event("gone", None)),
        admin("o").event("PUT", "/gone/restore", None),
    ] {
        restore.insert(app.call(&event).await.status);
    }
    restore.insert(throttled.admin("o").restore("x", None).await.status);
    restore.insert(broken.admin("o").restore("x", None).await.status);
    assert_eq!(
        restore,
        BTreeSet::from([200, 400, 401, 403, 404, 405, 409, 422, 500, 503])
    );
    assert_declared(
        &document,
        "/v1/organizations/secrets/{secret_name}/restore",
        "post",
        &restore,
    );
}

/// The body's `secret_name` and the path's `{secret_name}` both use the `SecretName`
/// schema, and its rule (length, NFC, forbidden general categories) is the code's rule:
/// one sample character of every general category goes through `SecretName::parse`.
#[test]
fn the_secret_name_rule_in_openapi_is_the_codes_rule() {
    use org_secrets::domain::{SecretName, SecretNameError};
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

    let document = openapi();
    let body_ref = &document["components"]["schemas"]["CreateSecretRequest"]["properties"]
        ["secret_name"]["$ref"];
    let path_ref = &document["paths"]["/v1/organizations/secrets/{secret_name}"]["parameters"][0]
        ["schema"]["$ref"];
    assert_eq!(body_ref, "#/components/schemas/SecretName");
    assert_eq!(path_ref, "#/components/schemas/SecretName");
    let schema = &document["components"]["schemas"]["SecretName"];
    let rule = &schema["x-name-rule"];
    assert_eq!(schema["maxLength"], SecretName::MAX_CHARS);
    assert_eq!(rule["max_characters"], SecretName::MAX_CHARS);
    assert_eq!(schema["minLength"], 1);
    assert!(SecretName::parse("x".repeat(SecretName::MAX_CHARS)).is_ok());
    assert!(SecretName::parse("x".repeat(SecretName::MAX_CHARS + 1)).is_err());
    assert_eq!(rule["normalization"], "NFC");
    assert_eq!(
        SecretName::parse("cafe\u{301}"),
        Err(SecretNameError::NotNfc)
    );

    let declared: BTreeSet<String> = rule["forbidden_general_categories"]
        .as_array()
        .expect("forbidden_general_categories")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    // One character of each general category (Cs cannot occur in a Rust string), after an
    // 'x' so combining marks have something to combine with and stay NFC.
    let samples = [
        ("Lu", 'A'),
        ("Ll", 'a'),
        ("Lt", '\u{1c5}'),
        ("Lm", '\u{2b0}'),
        ("Lo", '\u{4e2d}'),
        ("Mn", '\u{300}'),
        ("Mc", '\u{93e}'),
        ("Me", '\u{20dd}'),
        ("Nd", '1'),
        ("Nl", '\u{2160}'),
        ("No", '\u{b2}'),
        ("Pc", '_'),
        ("Pd", '-'),
        ("Ps", '('),
        ("Pe", ')'),
        ("Pi", '\u{ab}'),
        ("Pf", '\u{bb}'),
        ("Po", '!'),
        ("Sm", '+'),
        ("Sc", '$'),
        ("Sk", '^'),
        ("So", '\u{a9}'),
        ("Zs", ' '),
        ("Zl", '\u{2028}'),
        ("Zp", '\u{2029}'),
        ("Cc", '\u{7}'),
        ("Cf", '\u{200b}'),
        ("Co", '\u{e000}'),
        ("Cn", '\u{378}'),
    ];
    let mut refused = BTreeSet::new();
    for (category, c) in samples {
        // The sample really is of the category it stands for.
        let actual = format!("{:?}", c.general_category());
        let expected = match category {
            "Lu" => GeneralCategory::UppercaseLetter,
            "Ll" => GeneralCategory::LowercaseLetter,
            "Lt" => GeneralCategory::TitlecaseLetter,
            "Lm" => GeneralCategory::ModifierLetter,
            "Lo" => GeneralCategory::OtherLetter,
            "Mn" => GeneralCategory::NonspacingMark,
            "Mc" => GeneralCategory::SpacingMark,
            "Me" => GeneralCategory::EnclosingMark,
            "Nd" => GeneralCategory::DecimalNumber,
            "Nl" => GeneralCategory::LetterNumber,
            "No" => GeneralCategory::OtherNumber,
            "Pc" => GeneralCategory::ConnectorPunctuation,
            "Pd" => GeneralCategory::DashPunctuation,
            "Ps" => GeneralCategory::OpenPunctuation,
            "Pe" => GeneralCategory::ClosePunctuation,
            "Pi" => GeneralCategory::InitialPunctuation,
            "Pf" => GeneralCategory::FinalPunctuation,
            "Po" => GeneralCategory::OtherPunctuation,
            "Sm" => GeneralCategory::MathSymbol,
            "Sc" => GeneralCategory::CurrencySymbol,
            "Sk" => GeneralCategory::ModifierSymbol,
            "So" => GeneralCategory::OtherSymbol,
            "Zs" => GeneralCategory::SpaceSeparator,
            "Zl" => GeneralCategory::LineSeparator,
            "Zp" => GeneralCategory::ParagraphSeparator,
            "Cc" => GeneralCategory::Control,
            "Cf" => GeneralCategory::Format,
            "Co" => GeneralCategory::PrivateUse,
            _ => GeneralCategory::Unassigned,
        };
        assert_eq!(actual, format!("{expected:?}"), "sample for {category}");
        match SecretName::parse(format!("x{c}")) {
            Ok(_) => {}
            Err(SecretNameError::ControlCharacter) => {
                refused.insert(category.to_owned());
            }
            Err(other) => panic!("{category}: unexpected {other:?}"),
        }
    }
    assert_eq!(refused, declared);
}

/// The response types are what openapi.yaml publishes: each serializes exactly the schema's
/// properties (a misspelt or extra field fails here) and always the required ones.
#[test]
fn response_types_serialize_exactly_their_published_schemas() {
    use org_secrets::api::response::{
        ErrorBody, ErrorResponse, SecretListResponse, SecretResponse,
    };

    let document = openapi();
    let schemas = &document["components"]["schemas"];
    let keys = |value: &Value| -> BTreeSet<String> {
        value
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    };
    let published = |schema: &str| keys(&schemas[schema]["properties"]);
    let required = |schema: &str| -> BTreeSet<String> {
        schemas[schema]["required"]
            .as_array()
            .expect("required")
            .iter()
            .map(|name| name.as_str().unwrap().to_owned())
            .collect()
    };

    let name = SecretName::parse("n").unwrap();
    // `restored` appears only in a restore's answer; the others are as first published.
    let mut without_restored = published("SecretResponse");
    assert!(without_restored.remove("restored"));
    for (response, expected) in [
        (SecretResponse::created(&name), &without_restored),
        (SecretResponse::updated(&name), &without_restored),
        (SecretResponse::deleted(&name), &without_restored),
        (
            SecretResponse::restored(&name),
            &published("SecretResponse"),
        ),
    ] {
        let serialized = serde_json::to_value(response).unwrap();
        assert_eq!(&keys(&serialized), expected);
        assert!(keys(&serialized).is_superset(&required("SecretResponse")));
    }
    let names = ["a".to_owned()];
    let list = serde_json::to_value(SecretListResponse {
        count: 1,
        secrets: &names,
    })
    .unwrap();
    assert_eq!(keys(&list), published("SecretListResponse"));
    assert!(keys(&list).is_superset(&required("SecretListResponse")));

    let full = ErrorResponse {
        error: ErrorBody {
            code: Some("c"),
            details: Some(json!({})),
            message: "m".to_owned(),
            error_type: "T",
        },
        status: 400,
        success: false,
    };
    let serialized = serde_json::to_value(&full).unwrap();
    assert_eq!(keys(&serialized), published("ErrorResponse"));
    assert_eq!(keys(&serialized["error"]), published("ErrorDetail"));
    let minimal = ErrorResponse {
        error: ErrorBody {
            code: None,
            details: None,
            ..full.error.clone()
        },
        ..full
    };
    let serialized = serde_json::to_value(&minimal).unwrap();
    assert!(keys(&serialized).is_superset(&required("ErrorResponse")));
    assert_eq!(keys(&serialized["error"]), required("ErrorDetail"));
}

/// The name rule's forbidden characters as a portable `pattern` too, for schema-driven
/// fuzzers and generated clients that ignore `x-name-rule`: a negated character class of
/// exactly the code points the code refuses in a name (Cc, Cf, Zl and Zp, by the Unicode
/// tables it uses). The failure message is the pattern to write.
#[test]
fn the_secret_name_pattern_excludes_exactly_the_forbidden_categories() {
    use org_secrets::domain::{is_invisible_control as forbidden, SecretName, SecretNameError};

    let mut ranges: Vec<(char, char)> = Vec::new();
    for c in (0..=0x10FFFF)
        .filter_map(char::from_u32)
        .filter(|&c| forbidden(c))
    {
        match ranges.last_mut() {
            Some((_, end)) if u32::from(*end) + 1 == u32::from(c) => *end = c,
            _ => ranges.push((c, c)),
        }
    }
    // Beyond U+FFFF no escape is understood alike by ECMA-262, Python and Rust, so those
    // code points stand in the pattern as themselves (openapi.yaml writes them as YAML
    // `\U` escapes).
    let escaped = |c: char| match u16::try_from(u32::from(c)) {
        Ok(unit) => format!("\\u{unit:04X}"),
        Err(_) => c.to_string(),
    };
    let class: String = ranges
        .iter()
        .map(|&(start, end)| match u32::from(end) - u32::from(start) {
            0 => escaped(start),
            1 => format!("{}{}", escaped(start), escaped(end)),
            _ => format!("{}-{}", escaped(start), escaped(end)),
        })
        .collect();
    let expected = format!("^[^{class}]{{1,{}}}$", SecretName::MAX_CHARS);

    let schema = &openapi()["components"]["schemas"]["SecretName"];
    assert_eq!(
        schema["pattern"].as_str(),
        Some(expected.as_str()),
        "SecretName.pattern in openapi.yaml must be:\n{expected}"
    );
    // The code refuses every range's ends and accepts what is next to them (when that is
    // allowed): the pattern's classes and the parser's rule are the same set.
    for &(start, end) in &ranges {
        for c in [start, end] {
            assert_eq!(
                SecretName::parse(format!("x{c}")),
                Err(SecretNameError::ControlCharacter),
                "U+{:04X}",
                u32::from(c)
            );
        }
        for outside in [u32::from(start).checked_sub(1), Some(u32::from(end) + 1)]
            .into_iter()
            .flatten()
        {
            if let Some(c) = char::from_u32(outside).filter(|&c| !forbidden(c)) {
                assert_ne!(
                    SecretName::parse(format!("x{c}")),
                    Err(SecretNameError::ControlCharacter),
                    "U+{outside:04X}"
                );
            }
        }
    }
}
