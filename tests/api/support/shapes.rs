//! The four shapes in which an authorizer delivers identity (HTTP API JWT and Lambda, REST
//! Cognito and Lambda), as events with chosen org and subject claims.

use serde_json::{json, Value};

use super::{app_on, sample_event, unique_request_id, Answer, TestApp};

/// The four shapes in which an authorizer delivers identity.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    HttpApiJwt,
    HttpApiLambda,
    RestCognito,
    RestLambda,
}

pub const SHAPES: [Shape; 4] = [
    Shape::HttpApiJwt,
    Shape::HttpApiLambda,
    Shape::RestCognito,
    Shape::RestLambda,
];

/// An event of `shape` for `method` on the collection (`suffix` "") or one secret
/// (`"/name"`), with the given org and subject claims (`None`: claim absent).
pub fn shaped_event(
    shape: Shape,
    method: &str,
    suffix: &str,
    org: Option<&str>,
    sub: Option<&str>,
    body: Option<&str>,
) -> Value {
    let path = format!("/v1/organizations/secrets{suffix}");
    let (file, claims_at, org_claim, sub_claim): (_, &[&str], _, _) = match shape {
        Shape::HttpApiJwt => (
            "http-api-jwt-admin-create.json",
            &["requestContext", "authorizer", "jwt", "claims"],
            "org_id",
            "sub",
        ),
        Shape::HttpApiLambda => (
            "http-api-lambda-authorizer-create.json",
            &["requestContext", "authorizer", "lambda"],
            "org_id",
            "sub",
        ),
        Shape::RestCognito => (
            "rest-cognito-create.json",
            &["requestContext", "authorizer", "claims"],
            "custom:org_id",
            "sub",
        ),
        Shape::RestLambda => (
            "rest-lambda-authorizer-create.json",
            &["requestContext", "authorizer"],
            "org_id",
            "principalId",
        ),
    };
    let mut event = sample_event(file);
    let claims = claims_at
        .iter()
        .fold(&mut event, |value, key| &mut value[*key])
        .as_object_mut()
        .expect("claims object");
    match org {
        Some(org) => claims.insert(org_claim.to_owned(), json!(org)),
        None => claims.remove(org_claim),
    };
    match sub {
        Some(sub) => claims.insert(sub_claim.to_owned(), json!(sub)),
        None => claims.remove(sub_claim),
    };
    event["requestContext"]["requestId"] = json!(unique_request_id());
    match shape {
        Shape::HttpApiJwt | Shape::HttpApiLambda => {
            event["rawPath"] = json!(path);
            event["requestContext"]["http"]["path"] = json!(path);
            event["requestContext"]["http"]["method"] = json!(method);
        }
        Shape::RestCognito | Shape::RestLambda => {
            event["path"] = json!(path);
            event["httpMethod"] = json!(method);
            event["requestContext"]["httpMethod"] = json!(method);
            event["requestContext"]["path"] = json!(format!("/prod{path}"));
        }
    }
    match body {
        Some(body) => event["body"] = json!(body),
        None => {
            event.as_object_mut().unwrap().remove("body");
        }
    }
    event
}

/// The app as a deployment using `shape` configures it: REST Cognito pools name their claims
/// `custom:org_id` and `cognito:groups`. Every shape's app shares `store`.
pub fn app_for(shape: Shape, store: &org_secrets::storage::SecretStore) -> TestApp {
    match shape {
        Shape::RestCognito => app_on(
            store.clone(),
            &[
                ("ORG_ID_CLAIM", "custom:org_id"),
                ("PERMISSIONS_CLAIM", "cognito:groups"),
            ],
        ),
        _ => app_on(store.clone(), &[]),
    }
}

pub fn is_not_authenticated(answer: &Answer) -> bool {
    answer.status == 401 && answer.json["error"]["code"] == "not_authenticated"
}

pub fn without_subject(mut event: Value) -> Value {
    // pointer_mut, not indexing: indexing would add the maps a shape does not have.
    for path in ["/jwt/claims", "/lambda", "/claims", ""] {
        let claims = format!("/requestContext/authorizer{path}");
        if let Some(map) = event.pointer_mut(&claims).and_then(Value::as_object_mut) {
            map.remove("sub");
            map.remove("principalId");
        }
    }
    event
}
