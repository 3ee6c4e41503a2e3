//! Who is calling, from API Gateway authorizer claims only: never from the body, path, query
//! string or ordinary headers, which the caller controls.

use std::collections::HashMap;

use lambda_http::request::RequestContext;
use serde_json::Value;

use crate::config::ClaimNames;
use crate::domain::{Actor, IdentifierError, OrgId};

/// Ordered so that a higher permission implies every lower one: ADMIN > DELETE > WRITE > READ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    Read,
    Write,
    Delete,
    Admin,
}

impl Permission {
    /// A whole token, case-insensitively: `admin` is ADMIN, `NOT_ADMIN` and `ADMINISTRATOR`
    /// are nothing.
    pub(crate) fn parse(token: &str) -> Option<Self> {
        const NAMES: [(&str, Permission); 4] = [
            ("ADMIN", Permission::Admin),
            ("DELETE", Permission::Delete),
            ("WRITE", Permission::Write),
            ("READ", Permission::Read),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(token))
            .map(|(_, permission)| *permission)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::Delete => "DELETE",
            Permission::Admin => "ADMIN",
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub org_id: OrgId,
    pub actor: Actor,
    /// The highest permission granted, if any.
    pub permission: Option<Permission>,
}

impl Principal {
    pub fn has(&self, needed: Permission) -> bool {
        self.permission.is_some_and(|granted| granted >= needed)
    }
}

/// Why a request is not authenticated; for the audit log only, the response is always 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request carries no authorizer data")]
    NoAuthorizer,
    #[error("the authorizer claims carry no organization")]
    NoOrganization,
    #[error("the organization claim is not a string")]
    OrganizationNotText,
    #[error("the organization claim {0}")]
    InvalidOrganization(IdentifierError),
    #[error("the subject claim is not a string")]
    SubjectNotText,
    #[error("the subject claim {0}")]
    InvalidSubject(IdentifierError),
    /// The event carried claims of a shape no authorizer produces (e.g. a JWT claim that is
    /// not a string); none of them is trusted.
    #[error("the authorizer claims are malformed")]
    MalformedClaims,
    /// A direct invocation's create without a subject: its Idempotency-Key could not be
    /// stored, so a redelivery would not be recognised.
    #[error("a direct invocation's create needs a subject claim")]
    NoSubjectForDirectCreate,
}

/// One claim's value as API Gateway delivers it: JWT claims arrive as strings, Lambda
/// authorizer contexts and REST Cognito claims as JSON values.
#[derive(Debug, Clone, Copy)]
pub enum ClaimValue<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl<'a> ClaimValue<'a> {
    /// Only a JSON string counts: an organization id is never a number, object or list.
    fn as_string(self) -> Option<&'a str> {
        match self {
            ClaimValue::Text(text) => Some(text),
            ClaimValue::Json(Value::String(text)) => Some(text),
            ClaimValue::Json(_) => None,
        }
    }

    fn as_scalar_string(self) -> Option<String> {
        match self {
            ClaimValue::Text(text) => Some(text.to_owned()),
            ClaimValue::Json(Value::String(text)) => Some(text.clone()),
            ClaimValue::Json(Value::Number(number)) => Some(number.to_string()),
            ClaimValue::Json(_) => None,
        }
    }
}

/// The claims of one request, wherever the event shape put them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Claims<'a> {
    Text(&'a HashMap<String, String>),
    JsonMap(&'a HashMap<String, Value>),
    JsonObject(&'a serde_json::Map<String, Value>),
}

impl<'a> Claims<'a> {
    pub(crate) fn get(&self, name: &str) -> Option<ClaimValue<'a>> {
        match *self {
            Claims::Text(map) => map.get(name).map(|v| ClaimValue::Text(v.as_str())),
            Claims::JsonMap(map) => map.get(name).map(ClaimValue::Json),
            Claims::JsonObject(map) => map.get(name).map(ClaimValue::Json),
        }
    }

    fn is_empty(&self) -> bool {
        match *self {
            Claims::Text(map) => map.is_empty(),
            Claims::JsonMap(map) => map.is_empty(),
            Claims::JsonObject(map) => map.is_empty(),
        }
    }
}

/// Where the claims and the REST `principalId` live for each API Gateway event shape.
struct AuthorizerData<'a> {
    claims: Claims<'a>,
    principal_id: Option<ClaimValue<'a>>,
}

fn authorizer_data(context: Option<&RequestContext>) -> Option<AuthorizerData<'_>> {
    match context? {
        // HTTP API (payload 2.0): a JWT authorizer's claims, else a Lambda authorizer's context.
        RequestContext::ApiGatewayV2(ctx) => {
            let authorizer = ctx.authorizer.as_ref()?;
            let claims = match &authorizer.jwt {
                Some(jwt) if !jwt.claims.is_empty() => Claims::Text(&jwt.claims),
                _ => Claims::JsonMap(&authorizer.fields),
            };
            Some(AuthorizerData {
                claims,
                principal_id: None,
            })
        }
        // REST API (payload 1.0): Cognito user pools put claims under `claims`; a Lambda
        // authorizer's context keys sit directly under `authorizer`, beside `principalId`.
        RequestContext::ApiGatewayV1(ctx) => {
            let fields = &ctx.authorizer.fields;
            let claims = match fields.get("claims") {
                Some(Value::Object(cognito)) => Claims::JsonObject(cognito),
                _ => Claims::JsonMap(fields),
            };
            Some(AuthorizerData {
                claims,
                principal_id: fields.get("principalId").map(ClaimValue::Json),
            })
        }
        // ALB, WebSocket and anything else carry no authorizer claims we could trust.
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Authenticates from the request context alone. Authorization (which permission an
/// operation needs) is the caller's decision, via [`Principal::has`].
pub fn authenticate(
    context: Option<&RequestContext>,
    names: &ClaimNames,
) -> Result<Principal, AuthError> {
    let data = authorizer_data(context).ok_or(AuthError::NoAuthorizer)?;
    if data.claims.is_empty() {
        return Err(AuthError::NoAuthorizer);
    }
    let org_raw = data
        .claims
        .get(&names.org_id)
        .ok_or(AuthError::NoOrganization)?
        .as_string()
        .ok_or(AuthError::OrganizationNotText)?;
    // Exactly as presented, or refused: see OrgId::parse.
    let org_id = OrgId::parse(org_raw).map_err(AuthError::InvalidOrganization)?;
    let actor = match data.claims.get(&names.subject).or(data.principal_id) {
        None => Actor::unknown(),
        Some(claim) => {
            let raw = claim.as_scalar_string().ok_or(AuthError::SubjectNotText)?;
            Actor::parse(&raw).map_err(AuthError::InvalidSubject)?
        }
    };
    let permission = data
        .claims
        .get(&names.permissions)
        .and_then(highest_permission);
    Ok(Principal {
        org_id,
        actor,
        permission,
    })
}

/// The highest permission in a claim, whatever form the authorizer gave it: a JSON array,
/// HTTP API's flattened `"[ADMIN WRITE]"`, REST Cognito's `"ADMIN,WRITE"`, a JSON array
/// serialized into a string, or space-separated tokens.
pub fn highest_permission(claim: ClaimValue<'_>) -> Option<Permission> {
    match claim {
        ClaimValue::Text(text) => highest_in_text(text),
        ClaimValue::Json(Value::String(text)) => highest_in_text(text),
        // A real array holds one permission per element, exactly: `"admin "` is not ADMIN.
        ClaimValue::Json(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter_map(Permission::parse)
            .max(),
        ClaimValue::Json(_) => None,
    }
}

fn highest_in_text(text: &str) -> Option<Permission> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        if let Ok(items) = serde_json::from_str::<Vec<String>>(trimmed) {
            return items.iter().filter_map(|item| highest_in_text(item)).max();
        }
    }
    trimmed
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|token| token.trim_matches(|c| c == '"' || c == '\''))
        .filter_map(Permission::parse)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Option<Permission> {
        highest_permission(ClaimValue::Text(s))
    }

    #[test]
    fn every_published_form_parses() {
        assert_eq!(text("ADMIN"), Some(Permission::Admin));
        assert_eq!(text("[ADMIN WRITE]"), Some(Permission::Admin));
        assert_eq!(text("[read write]"), Some(Permission::Write));
        assert_eq!(text("ADMIN,WRITE"), Some(Permission::Admin));
        assert_eq!(text("read, delete"), Some(Permission::Delete));
        assert_eq!(text("read write"), Some(Permission::Write));
        assert_eq!(text(r#"["READ","ADMIN"]"#), Some(Permission::Admin));
        // Python's repr of a list, and quoted tokens: the quotes are not part of the name.
        assert_eq!(text("['READ', 'ADMIN']"), Some(Permission::Admin));
        assert_eq!(text("['read']"), Some(Permission::Read));
        assert_eq!(text("\"WRITE\""), Some(Permission::Write));
        assert_eq!(text(" ADMIN "), Some(Permission::Admin));
        // A JSON array serialized into a string: each element is read as a string claim.
        assert_eq!(text(r#"["READ","admin "]"#), Some(Permission::Admin));
        assert_eq!(text(r#"["READ", "DELETE"]"#), Some(Permission::Delete));
        let array = serde_json::json!(["read", "WRITE"]);
        assert_eq!(
            highest_permission(ClaimValue::Json(&array)),
            Some(Permission::Write)
        );
        // Array elements are whole tokens: no trimming, no splitting.
        let padded = serde_json::json!(["admin ", "READ ADMIN"]);
        assert_eq!(highest_permission(ClaimValue::Json(&padded)), None);
    }

    #[test]
    fn substrings_never_match() {
        for not_admin in [
            "NOT_ADMIN",
            "ADMINISTRATOR",
            "xADMIN",
            "ADMIN_READONLY",
            "ADMIN:true",
        ] {
            assert_eq!(text(not_admin), None, "{not_admin}");
        }
        assert_eq!(text("NOT_ADMIN READ"), Some(Permission::Read));
        assert_eq!(text(""), None);
        assert_eq!(
            highest_permission(ClaimValue::Json(&serde_json::json!(true))),
            None
        );
    }

    /// Authenticates an event given as JSON, through the same parsing the Lambda uses.
    fn principal_of(event: Value, names: &ClaimNames) -> Result<Principal, AuthError> {
        use lambda_http::RequestExt;
        let parsed = crate::event::parse_event(&event.to_string()).expect("event parses");
        authenticate(parsed.request.request_context_ref(), names)
    }

    fn http_api(authorizer: Value) -> Value {
        serde_json::json!({
            "version": "2.0",
            "rawPath": "/v1/organizations/secrets",
            "requestContext": {
                "http": { "method": "GET", "path": "/v1/organizations/secrets" },
                "requestId": "r",
                "authorizer": authorizer,
            },
        })
    }

    fn rest(authorizer: Value) -> Value {
        serde_json::json!({
            "httpMethod": "GET",
            "path": "/v1/organizations/secrets",
            "requestContext": { "httpMethod": "GET", "requestId": "r", "authorizer": authorizer },
        })
    }

    #[test]
    fn every_authorizer_shape_yields_its_principal() {
        use serde_json::json;
        let names = ClaimNames::default();
        let cognito = ClaimNames {
            org_id: "custom:org_id".to_owned(),
            permissions: "cognito:groups".to_owned(),
            subject: "sub".to_owned(),
        };
        let cases = [
            (
                http_api(
                    json!({ "jwt": { "claims": { "org_id": "o1", "permissions": "[READ ADMIN]", "sub": "alice" } } }),
                ),
                &names,
                ("o1", "alice", Some(Permission::Admin)),
            ),
            // Empty JWT claims: the Lambda authorizer's context is used.
            (
                http_api(
                    json!({ "jwt": { "claims": {} }, "lambda": { "org_id": "o2", "permissions": ["WRITE"], "sub": "bob" } }),
                ),
                &names,
                ("o2", "bob", Some(Permission::Write)),
            ),
            (
                http_api(json!({ "lambda": { "org_id": "o3", "permissions": "READ" } })),
                &names,
                ("o3", "unknown", Some(Permission::Read)),
            ),
            (
                rest(
                    json!({ "claims": { "custom:org_id": "o4", "cognito:groups": "ADMIN,WRITE", "sub": "carol" } }),
                ),
                &cognito,
                ("o4", "carol", Some(Permission::Admin)),
            ),
            // REST Lambda authorizer: keys beside principalId, which names the actor.
            (
                rest(json!({ "principalId": "dave", "org_id": "o5", "permissions": "DELETE" })),
                &names,
                ("o5", "dave", Some(Permission::Delete)),
            ),
            // A numeric principalId is a subject too (REST authorizers may return one).
            (
                rest(json!({ "principalId": 42, "org_id": "o6" })),
                &names,
                ("o6", "42", None),
            ),
            // The subject claim wins over principalId.
            (
                rest(json!({ "principalId": "p", "sub": "s", "org_id": "o7" })),
                &names,
                ("o7", "s", None),
            ),
        ];
        for (event, names, (org, actor, permission)) in cases {
            let principal =
                principal_of(event.clone(), names).unwrap_or_else(|e| panic!("{event}: {e}"));
            assert_eq!(principal.org_id.as_str(), org, "{event}");
            assert_eq!(principal.actor.as_str(), actor, "{event}");
            assert_eq!(principal.permission, permission, "{event}");
        }
    }

    #[test]
    fn unusable_claims_are_typed_refusals() {
        use serde_json::json;
        let names = ClaimNames::default();
        let cases = [
            (http_api(json!(null)), AuthError::NoAuthorizer),
            (http_api(json!({ "lambda": {} })), AuthError::NoAuthorizer),
            (
                http_api(json!({ "jwt": { "claims": {} } })),
                AuthError::NoAuthorizer,
            ),
            (rest(json!({})), AuthError::NoAuthorizer),
            (
                http_api(json!({ "lambda": { "sub": "a" } })),
                AuthError::NoOrganization,
            ),
            (
                http_api(json!({ "lambda": { "org_id": 5 } })),
                AuthError::OrganizationNotText,
            ),
            (
                http_api(json!({ "lambda": { "org_id": ["o"] } })),
                AuthError::OrganizationNotText,
            ),
            (
                http_api(json!({ "lambda": { "org_id": " o" } })),
                AuthError::InvalidOrganization(IdentifierError::SurroundingWhitespace),
            ),
            (
                http_api(json!({ "jwt": { "claims": { "org_id": "" } } })),
                AuthError::InvalidOrganization(IdentifierError::Empty),
            ),
            (
                http_api(json!({ "lambda": { "org_id": "o", "sub": ["a"] } })),
                AuthError::SubjectNotText,
            ),
            (
                http_api(json!({ "lambda": { "org_id": "o", "sub": null } })),
                AuthError::SubjectNotText,
            ),
            (
                http_api(json!({ "lambda": { "org_id": "o", "sub": "a\u{200b}" } })),
                AuthError::InvalidSubject(IdentifierError::InvisibleCharacter),
            ),
            (
                rest(json!({ "org_id": "o", "principalId": "x".repeat(513) })),
                AuthError::InvalidSubject(IdentifierError::TooLong { max: 512 }),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(
                principal_of(event.clone(), &names),
                Err(expected),
                "{event}"
            );
        }
    }

    #[test]
    fn permission_names_are_the_published_ones() {
        let all = [
            Permission::Read,
            Permission::Write,
            Permission::Delete,
            Permission::Admin,
        ];
        let names: Vec<&str> = all.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["READ", "WRITE", "DELETE", "ADMIN"]);
        for permission in all {
            assert_eq!(Permission::parse(permission.as_str()), Some(permission));
        }
    }

    #[test]
    fn hierarchy_is_ordered() {
        assert!(Permission::Admin > Permission::Delete);
        assert!(Permission::Delete > Permission::Write);
        assert!(Permission::Write > Permission::Read);
        let principal = Principal {
            org_id: OrgId::parse("o").unwrap(),
            actor: Actor::unknown(),
            permission: Some(Permission::Delete),
        };
        assert!(principal.has(Permission::Read));
        assert!(principal.has(Permission::Delete));
        assert!(!principal.has(Permission::Admin));
    }
}
