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

    pub fn into_response(self, request_id: Option<&RequestId>) -> Response<Body> {
        let status = self.status();
        let request_id_details = || json!({ "request_id": request_id.map(RequestId::as_str) });
        let (message, code, details): (String, Option<&str>, Option<Value>) = match &self {
            ApiError::Validation(issues) => {
                return json_response(status, &json!({ "detail": issues }));
            }
            ApiError::Unauthenticated(_) => (
                "Authentication required".to_owned(),
                Some("not_authenticated"),
                None,
            ),
            ApiError::Forbidden { needed } => (
                "Insufficient permissions".to_owned(),
                Some("insufficient_permissions"),
                Some(json!({ "required_permission": needed.as_str() })),
            ),
            ApiError::RouteNotFound => ("Not found".to_owned(), Some("route_not_found"), None),
            ApiError::UnsupportedMediaType => (
                "The request body must be JSON (Content-Type: application/json)".to_owned(),
                Some("unsupported_media_type"),
                None,
            ),
            ApiError::MethodNotAllowed { allow } => (
                "Method not allowed".to_owned(),
                Some("method_not_allowed"),
                Some(json!({ "allow": allow })),
            ),
            ApiError::SecretNameTaken { name } => (
                format!("A secret named '{name}' already exists in this organization; use the update endpoint to change it"),
                Some("secret_name_taken"),
                Some(json!({ "secret_name": name.as_str() })),
            ),
            ApiError::IdempotencyKeyReused { name } => (
                format!("This Idempotency-Key already created '{name}' with a different value"),
                Some("idempotency_key_reused"),
                Some(json!({ "secret_name": name.as_str() })),
            ),
            ApiError::SecretNotFound { name } => (
                format!("No secret named '{name}' exists in this organization"),
                Some("secret_not_found"),
                Some(json!({ "secret_name": name.as_str() })),
            ),
            ApiError::SecretLimitReached { limit } => (
                format!("This organization already holds its limit of {limit} secrets; delete one before creating another"),
                Some("secret_limit_reached"),
                Some(json!({ "limit": limit })),
            ),
            ApiError::MalformedEvent(_) => (
                "The request could not be read".to_owned(),
                Some("malformed_event"),
                Some(request_id_details()),
            ),
            ApiError::StorageUnavailable(_) => (
                "The secrets store is temporarily unavailable; retry later".to_owned(),
                Some("storage_unavailable"),
                Some(request_id_details()),
            ),
            ApiError::Internal(_) => (
                "Internal server error".to_owned(),
                None,
                Some(request_id_details()),
            ),
        };
        let mut error = json!({ "message": message, "type": self.error_type() });
        if let Some(code) = code {
            error["code"] = json!(code);
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
