//! The one error type at the HTTP edge, and the one place it becomes a response: the
//! published `ErrorResponse` envelope, or FastAPI's `HTTPValidationError` for 422.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::{json, Value};

use super::response::{json_response, ErrorBody, ErrorResponse};
use crate::auth::{AuthError, Permission};
use crate::crypto::DecryptError;
use crate::domain::{IdentifierError, RequestId, SecretName};
use crate::storage::{RecoverySlot, StoreError};

/// Seconds a client should wait before retrying after a 503.
pub(crate) const RETRY_AFTER_SECONDS: u32 = 1;

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
    /// The request's identity (its Idempotency-Key, else its request id) already named
    /// another change (operation, secret or value) within the replay horizon.
    #[error("request identity reused for another change (by key: {by_key})")]
    RequestReused { name: SecretName, by_key: bool },
    /// The event's request id is there but unusable: it is never trimmed or replaced.
    #[error("unusable request id: it {0}")]
    InvalidRequestId(IdentifierError),
    #[error("no such secret")]
    SecretNotFound { name: SecretName },
    #[error("nothing to restore ({})", slot.as_str())]
    NothingToRestore {
        name: SecretName,
        slot: RecoverySlot,
    },
    #[error("a live secret holds the name")]
    RestoreBlocked { name: SecretName },
    #[error("the organization is at its limit of {limit} secrets")]
    SecretLimitReached { limit: u32 },
    #[error("the event is not a usable API Gateway request: {0}")]
    MalformedEvent(&'static str),
    #[error("storage unavailable: {0}")]
    StorageUnavailable(StoreError),
    /// The detail is for the log only; the client gets a generic message.
    #[error("internal error: {0}")]
    Internal(#[from] InternalError),
}

/// What went wrong inside the function: logged, never shown to the caller.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// A DynamoDB error that retrying will not fix (validation, access denied, ...).
    #[error("{0}")]
    Store(StoreError),
    /// A stored token that the configured keys cannot open.
    #[error("stored token: {0}")]
    StoredToken(#[from] DecryptError),
    /// A stored item without its token.
    #[error("stored item has no token")]
    MissingToken,
    /// A recovery copy no configured key opens, or whose binding does not verify: the
    /// table was changed outside the function. Nothing was restored.
    #[error("the {} copy does not open or is not bound to this secret", .0.as_str())]
    RecoveryCopyRefused(RecoverySlot),
    /// Neither the event nor the Lambda context carries a request id.
    #[error("the event carries no request id")]
    NoRequestId,
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if err.is_retryable() {
            ApiError::StorageUnavailable(err)
        } else {
            ApiError::Internal(InternalError::Store(err))
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

    pub(crate) fn field(field: &'static str, msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc: vec![LocPart::Key("body"), LocPart::Key(field)],
            msg: msg.into(),
            kind,
        }
    }

    pub(crate) fn query(name: &'static str, msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc: vec![LocPart::Key("query"), LocPart::Key(name)],
            msg: msg.into(),
            kind,
        }
    }

    pub(crate) fn header(name: &'static str, msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc: vec![LocPart::Key("header"), LocPart::Key(name)],
            msg: msg.into(),
            kind,
        }
    }

    /// `body.secret_name`, `body[0]`: where the problem is, for a one-line message.
    pub(crate) fn location(&self) -> String {
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

/// Everything a caller is told about an error, decided in one place ([`ApiError::describe`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub status: StatusCode,
    /// The envelope's `error.type`, also the audit outcome.
    pub error_type: &'static str,
    /// The envelope's `error.code` (not published for 500) and the `errorType` of a failed
    /// direct invocation.
    pub code: &'static str,
    /// The envelope's `error.message` and a failed direct invocation's `errorMessage`. It
    /// names fields and secret names, never a submitted value.
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    /// Per variant: status, type, code, message and details, each decided below in one
    /// table of its own.
    pub fn describe(&self, request_id: Option<&RequestId>) -> Described {
        let (status, error_type, code) = self.kind();
        Described {
            status,
            error_type,
            code,
            message: self.caller_message(),
            details: self.details(request_id),
        }
    }

    /// Status, the envelope's `error.type` and `error.code`.
    fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::Unauthenticated(_) => {
                (S::UNAUTHORIZED, "AuthenticationError", "not_authenticated")
            }
            ApiError::Forbidden { .. } => (
                S::FORBIDDEN,
                "UnauthorizedError",
                "insufficient_permissions",
            ),
            ApiError::RouteNotFound => (S::NOT_FOUND, "NotFoundError", "route_not_found"),
            ApiError::MethodNotAllowed { .. } => (
                S::METHOD_NOT_ALLOWED,
                "MethodNotAllowedError",
                "method_not_allowed",
            ),
            ApiError::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaTypeError",
                "unsupported_media_type",
            ),
            ApiError::Validation(_) => (
                S::UNPROCESSABLE_ENTITY,
                "ValidationError",
                "validation_error",
            ),
            ApiError::SecretNameTaken { .. } | ApiError::RestoreBlocked { .. } => {
                (S::CONFLICT, "AlreadyExistsError", "secret_name_taken")
            }
            ApiError::RequestReused { by_key: true, .. } => {
                (S::CONFLICT, "AlreadyExistsError", "idempotency_key_reused")
            }
            ApiError::RequestReused { by_key: false, .. } => {
                (S::CONFLICT, "AlreadyExistsError", "request_id_reused")
            }
            ApiError::InvalidRequestId(_) => {
                (S::BAD_REQUEST, "BadRequestError", "invalid_request_id")
            }
            ApiError::SecretNotFound { .. } => (S::NOT_FOUND, "NotFoundError", "secret_not_found"),
            ApiError::NothingToRestore { .. } => {
                (S::NOT_FOUND, "NotFoundError", "nothing_to_restore")
            }
            ApiError::SecretLimitReached { .. } => {
                (S::BAD_REQUEST, "BadRequestError", "secret_limit_reached")
            }
            ApiError::MalformedEvent(_) => (S::BAD_REQUEST, "BadRequestError", "malformed_event"),
            ApiError::StorageUnavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "ServiceUnavailableError",
                "storage_unavailable",
            ),
            ApiError::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "internal_error",
            ),
        }
    }

    /// The envelope's `error.message`: names fields and secret names, never a submitted
    /// value.
    fn caller_message(&self) -> String {
        match self {
            ApiError::Unauthenticated(_) => "Authentication required".to_owned(),
            ApiError::Forbidden { .. } => "Insufficient permissions".to_owned(),
            ApiError::RouteNotFound => "Not found".to_owned(),
            ApiError::MethodNotAllowed { .. } => "Method not allowed".to_owned(),
            ApiError::UnsupportedMediaType => "The request body must be JSON (Content-Type: application/json)".to_owned(),
            ApiError::Validation(issues) => {
                let problems: Vec<String> = issues
                    .iter()
                    .map(|issue| format!("{}: {}", issue.location(), issue.msg))
                    .collect();
                format!("Request validation failed: {}", problems.join("; "))
            }
            ApiError::SecretNameTaken { name } => format!("A secret named '{name}' already exists in this organization; use the update endpoint to change it"),
            ApiError::RequestReused { name, by_key: true } => format!("This Idempotency-Key was already used in the last 24 hours for another change (another operation, secret or value) than this one to '{name}'; nothing was written. Send a new key for a new change"),
            ApiError::RequestReused { name, by_key: false } => format!("This request id was already used in the last 24 hours for another change (another operation, secret or value) than this one to '{name}'; nothing was written. Derive a new request id for a new change"),
            ApiError::InvalidRequestId(problem) => format!("The event's requestContext.requestId is unusable: it {problem} (1 to {} bytes, no surrounding whitespace, no control, format or separator characters)", RequestId::MAX_BYTES),
            ApiError::SecretNotFound { name } => format!("No secret named '{name}' exists in this organization"),
            ApiError::NothingToRestore { name, slot: RecoverySlot::Deleted } => format!("No deleted value of '{name}' is recoverable in this organization"),
            ApiError::NothingToRestore { name, slot: RecoverySlot::Previous } => format!("No previous value of '{name}' is recoverable in this organization"),
            ApiError::RestoreBlocked { name } => format!("A secret named '{name}' exists in this organization, so its deleted value cannot be restored over it; the deleted value stays recoverable until the name's next delete replaces it"),
            ApiError::SecretLimitReached { limit } => format!("This organization already holds its limit of {limit} secrets; delete one before creating another"),
            ApiError::MalformedEvent(_) => "The request could not be read".to_owned(),
            ApiError::StorageUnavailable(_) => "The secrets store is temporarily unavailable; retry later".to_owned(),
            ApiError::Internal(_) => "Internal server error".to_owned(),
        }
    }

    /// The envelope's `error.details`.
    fn details(&self, request_id: Option<&RequestId>) -> Option<Value> {
        match self {
            ApiError::Forbidden { needed } => {
                Some(json!({ "required_permission": needed.as_str() }))
            }
            ApiError::MethodNotAllowed { allow } => Some(json!({ "allow": allow })),
            ApiError::SecretNameTaken { name }
            | ApiError::RequestReused { name, .. }
            | ApiError::SecretNotFound { name }
            | ApiError::RestoreBlocked { name } => Some(json!({ "secret_name": name.as_str() })),
            ApiError::NothingToRestore { name, slot } => {
                Some(json!({ "secret_name": name.as_str(), "version": slot.as_str() }))
            }
            ApiError::SecretLimitReached { limit } => Some(json!({ "limit": limit })),
            ApiError::MalformedEvent(_)
            | ApiError::StorageUnavailable(_)
            | ApiError::Internal(_) => {
                Some(json!({ "request_id": request_id.map(RequestId::as_str) }))
            }
            ApiError::Unauthenticated(_)
            | ApiError::RouteNotFound
            | ApiError::UnsupportedMediaType
            | ApiError::Validation(_)
            | ApiError::InvalidRequestId(_) => None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.describe(None).status
    }

    /// The stable `error.type`, also used as the audit outcome.
    pub fn error_type(&self) -> &'static str {
        self.describe(None).error_type
    }

    /// The stable machine-readable code (see [`Described::code`]).
    pub fn code(&self) -> &'static str {
        self.describe(None).code
    }

    /// What the caller is told (see [`Described::message`]).
    pub fn message(&self) -> String {
        self.describe(None).message
    }

    /// The HTTP answer for this error, as [`ApiError::describe`] described it.
    pub(crate) fn to_response(&self, described: Described) -> Response<Body> {
        let status = described.status;
        let mut response = match self {
            ApiError::Validation(issues) => json_response(status, &json!({ "detail": issues })),
            _ => json_response(
                status,
                &ErrorResponse {
                    error: ErrorBody {
                        // The published envelope has no code for internal errors.
                        code: (status != StatusCode::INTERNAL_SERVER_ERROR)
                            .then_some(described.code),
                        details: described.details,
                        message: described.message,
                        error_type: described.error_type,
                    },
                    status: status.as_u16(),
                    success: false,
                },
            ),
        };
        let headers = response.headers_mut();
        match self {
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
