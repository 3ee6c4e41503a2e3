//! The one error type at the HTTP edge, and the one place it becomes a response: the
//! published `ErrorResponse` envelope, or FastAPI's `HTTPValidationError` for 422.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::{json, Value};

use crate::auth::{AuthError, Permission};
use crate::domain::SecretName;
use crate::storage::{RequestId, StoreError};

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not authenticated: {0}")]
    Unauthenticated(AuthError),
    #[error("insufficient permissions: {needed:?} required")]
    Forbidden { needed: Permission },
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static [&'static str] },
    #[error("request body is not JSON (Content-Type)")]
    UnsupportedMediaType,
    #[error("request validation failed ({} problems)", .0.len())]
    Validation(Vec<ValidationIssue>),
    #[error("secret name already taken")]
    SecretNameTaken { name: SecretName },
    #[error("idempotency key reused with a different value")]
    IdempotencyKeyReused { name: SecretName },
    #[error("no such secret")]
    SecretNotFound { name: SecretName },
    #[error("the organization is at its limit of {limit} secrets")]
    SecretLimitReached { limit: u32 },
    #[error("the event is not a usable API Gateway request: {0}")]
    MalformedEvent(&'static str),
    #[error("storage unavailable: {0}")]
    StorageUnavailable(StoreError),
    /// The detail is for the log only; the client gets a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if err.is_retryable() {
            ApiError::StorageUnavailable(err)
        } else {
            ApiError::Internal(err.to_string())
        }
    }
}

/// One entry of FastAPI's 422 `detail` list. It never carries the submitted input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationIssue {
    pub loc: Vec<LocPart>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum LocPart {
    Key(&'static str),
    Index(usize),
}

impl ValidationIssue {
    pub fn body(msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc: vec![LocPart::Key("body")],
            msg: msg.into(),
            kind,
        }
    }

    pub fn field(field: &'static str, msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc: vec![LocPart::Key("body"), LocPart::Key(field)],
            msg: msg.into(),
            kind,
        }
    }

    /// `body.secret_name`, `body[0]`: where the problem is, for a one-line message.
    pub fn location(&self) -> String {
        let mut out = String::new();
        for part in &self.loc {
            match part {
                LocPart::Key(key) if out.is_empty() => out.push_str(key),
                LocPart::Key(key) => {
                    out.push('.');
                    out.push_str(key);
                }
                LocPart::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::SecretNameTaken { .. } | ApiError::IdempotencyKeyReused { .. } => {
                StatusCode::CONFLICT
            }
            ApiError::SecretNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::SecretLimitReached { .. } | ApiError::MalformedEvent(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `error.type`, also used as the audit outcome.
    pub fn error_type(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "AuthenticationError",
            ApiError::Forbidden { .. } => "UnauthorizedError",
            ApiError::RouteNotFound => "NotFoundError",
            ApiError::MethodNotAllowed { .. } => "MethodNotAllowedError",
            ApiError::UnsupportedMediaType => "UnsupportedMediaTypeError",
            ApiError::Validation(_) => "ValidationError",
            ApiError::SecretNameTaken { .. } | ApiError::IdempotencyKeyReused { .. } => {
                "AlreadyExistsError"
            }
            ApiError::SecretNotFound { .. } => "NotFoundError",
            ApiError::SecretLimitReached { .. } | ApiError::MalformedEvent(_) => "BadRequestError",
            ApiError::StorageUnavailable(_) => "ServiceUnavailableError",
            ApiError::Internal(_) => "InternalServerError",
        }
    }

    /// The stable machine-readable code: `error.code` in the envelope (none for 422, whose
    /// body is FastAPI's), and the `errorType` of a failed direct invocation.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "not_authenticated",
            ApiError::Forbidden { .. } => "insufficient_permissions",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Validation(_) => "validation_error",
            ApiError::SecretNameTaken { .. } => "secret_name_taken",
            ApiError::IdempotencyKeyReused { .. } => "idempotency_key_reused",
            ApiError::SecretNotFound { .. } => "secret_not_found",
            ApiError::SecretLimitReached { .. } => "secret_limit_reached",
            ApiError::MalformedEvent(_) => "malformed_event",
            ApiError::StorageUnavailable(_) => "storage_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// What the caller is told: the envelope's `error.message`, and the `errorMessage` of a
    /// failed direct invocation. It names fields and secret names, never a submitted value.
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated(_) => "Authentication required".to_owned(),
            ApiError::Forbidden { .. } => "Insufficient permissions".to_owned(),
            ApiError::RouteNotFound => "Not found".to_owned(),
            ApiError::UnsupportedMediaType => {
                "The request body must be JSON (Content-Type: application/json)".to_owned()
            }
            ApiError::MethodNotAllowed { .. } => "Method not allowed".to_owned(),
            ApiError::Validation(issues) => {
                let problems: Vec<String> = issues
                    .iter()
                    .map(|issue| format!("{}: {}", issue.location(), issue.msg))
                    .collect();
                format!("Request validation failed: {}", problems.join("; "))
            }
            ApiError::SecretNameTaken { name } => format!(
                "A secret named '{name}' already exists in this organization; use the update endpoint to change it"
            ),
            ApiError::IdempotencyKeyReused { name } => {
                format!("This Idempotency-Key already created '{name}' with a different value")
            }
            ApiError::SecretNotFound { name } => {
                format!("No secret named '{name}' exists in this organization")
            }
            ApiError::SecretLimitReached { limit } => format!(
                "This organization already holds its limit of {limit} secrets; delete one before creating another"
            ),
            ApiError::MalformedEvent(_) => "The request could not be read".to_owned(),
            ApiError::StorageUnavailable(_) => {
                "The secrets store is temporarily unavailable; retry later".to_owned()
            }
            ApiError::Internal(_) => "Internal server error".to_owned(),
        }
    }

    pub fn into_response(self, request_id: Option<&RequestId>) -> Response<Body> {
        let status = self.status();
        let request_id_details = || json!({ "request_id": request_id.map(RequestId::as_str) });
        let details: Option<Value> = match &self {
            ApiError::Validation(issues) => {
                return json_response(status, &json!({ "detail": issues }));
            }
            ApiError::Unauthenticated(_)
            | ApiError::RouteNotFound
            | ApiError::UnsupportedMediaType => None,
            ApiError::Forbidden { needed } => {
                Some(json!({ "required_permission": needed.as_str() }))
            }
            ApiError::MethodNotAllowed { allow } => Some(json!({ "allow": allow })),
            ApiError::SecretNameTaken { name }
            | ApiError::IdempotencyKeyReused { name }
            | ApiError::SecretNotFound { name } => Some(json!({ "secret_name": name.as_str() })),
            ApiError::SecretLimitReached { limit } => Some(json!({ "limit": limit })),
            ApiError::MalformedEvent(_)
            | ApiError::StorageUnavailable(_)
            | ApiError::Internal(_) => Some(request_id_details()),
        };
        let mut error = json!({ "message": self.message(), "type": self.error_type() });
        // The published envelope has no code for internal errors.
        if !matches!(self, ApiError::Internal(_)) {
            error["code"] = json!(self.code());
        }
        if let Some(details) = details {
            error["details"] = details;
        }
        let mut response = json_response(
            status,
            &json!({ "success": false, "status": status.as_u16(), "error": error }),
        );
        let headers = response.headers_mut();
        match &self {
            ApiError::MethodNotAllowed { allow } => {
                if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                    headers.insert(header::ALLOW, value);
                }
            }
            ApiError::StorageUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            ApiError::Unauthenticated(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// Every response of this service goes through here: JSON, never cached.
pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_message_names_each_problem_where_it_is() {
        let err = ApiError::Validation(vec![
            ValidationIssue::field(
                "secret_name",
                "String should have at least 1 character",
                "string_too_short",
            ),
            ValidationIssue::body("Input should be a valid dictionary", "dict_type"),
            ValidationIssue {
                loc: vec![LocPart::Key("body"), LocPart::Index(3), LocPart::Key("x")],
                msg: "m".to_owned(),
                kind: "k",
            },
        ]);
        assert_eq!(err.code(), "validation_error");
        assert_eq!(
            err.message(),
            "Request validation failed: body.secret_name: String should have at least 1 \
             character; body: Input should be a valid dictionary; body[3].x: m"
        );
    }
}
