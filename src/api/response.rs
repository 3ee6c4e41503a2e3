//! The bodies this API answers with, as types: what `openapi.yaml` publishes
//! (`SecretResponse`, `SecretListResponse`, `ErrorResponse`), checked against it by the
//! OpenAPI test. Fields are declared in alphabetical order, the order the bodies are
//! serialized in.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::Value;

use crate::domain::SecretName;
use crate::storage::{DeletedSecret, HistoryEntry, SecretMetadata};

/// The answer to a create, update, delete or restore: the flag of the operation that
/// happened is `true`, the other published ones are `null`. `restored` is not one of the
/// published three and appears only in a restore's answer, so the others stay byte for
/// byte as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretResponse<'a> {
    pub created: Option<bool>,
    pub deleted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<bool>,
    pub secret_name: &'a str,
    pub updated: Option<bool>,
}

impl<'a> SecretResponse<'a> {
    fn flagged(name: &'a SecretName) -> Self {
        Self {
            created: None,
            deleted: None,
            restored: None,
            secret_name: name.as_str(),
            updated: None,
        }
    }

    pub fn created(name: &'a SecretName) -> Self {
        Self {
            created: Some(true),
            ..Self::flagged(name)
        }
    }

    pub fn updated(name: &'a SecretName) -> Self {
        Self {
            updated: Some(true),
            ..Self::flagged(name)
        }
    }

    pub fn deleted(name: &'a SecretName) -> Self {
        Self {
            deleted: Some(true),
            ..Self::flagged(name)
        }
    }

    pub fn restored(name: &'a SecretName) -> Self {
        Self {
            restored: Some(true),
            ..Self::flagged(name)
        }
    }
}

/// The answer to a list: the organization's names, sorted, and how many there are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretListResponse<'a> {
    pub count: usize,
    pub secrets: &'a [String],
}

/// The answer to a list of deleted secrets (`?state=deleted`): a page of those that can
/// still be restored, in name order, how many it holds, and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletedSecretListResponse<'a> {
    pub count: usize,
    pub deleted: Vec<DeletedSecretEntry<'a>>,
    /// Where the next page starts (`cursor=`), `null` on the last page.
    pub next_cursor: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletedSecretEntry<'a> {
    pub deleted_at: Option<&'a str>,
    pub deleted_by: Option<&'a str>,
    pub restorable_until: &'a str,
    pub secret_name: &'a str,
}

impl<'a> DeletedSecretListResponse<'a> {
    pub fn of(deleted: &'a [DeletedSecret], next_cursor: Option<&'a str>) -> Self {
        Self {
            count: deleted.len(),
            next_cursor,
            deleted: deleted
                .iter()
                .map(|secret| DeletedSecretEntry {
                    deleted_at: secret.deleted_at.as_deref(),
                    deleted_by: secret.deleted_by.as_deref(),
                    restorable_until: &secret.restorable_until,
                    secret_name: &secret.secret_name,
                })
                .collect(),
        }
    }
}

/// The answer to a history request: a page of the secret's changes, newest first, how many
/// it holds, and where the next page starts. Never a value, token, binding or digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryResponse<'a> {
    pub changes: Vec<HistoryEntryResponse<'a>>,
    pub count: usize,
    /// Where the next page starts (`cursor=`), `null` on the last page.
    pub next_cursor: Option<&'a str>,
    pub secret_name: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntryResponse<'a> {
    pub changed_at: &'a str,
    pub changed_by: &'a str,
    pub operation: &'a str,
    pub request_id: &'a str,
    pub version: u64,
}

impl<'a> HistoryResponse<'a> {
    pub fn of(
        name: &'a SecretName,
        changes: &'a [HistoryEntry],
        next_cursor: Option<&'a str>,
    ) -> Self {
        Self {
            secret_name: name.as_str(),
            count: changes.len(),
            changes: changes
                .iter()
                .map(|change| HistoryEntryResponse {
                    version: change.version,
                    operation: &change.operation,
                    changed_by: &change.changed_by,
                    changed_at: &change.changed_at,
                    request_id: &change.request_id,
                })
                .collect(),
            next_cursor,
        }
    }
}

/// The answer to a describe: the secret's history in brief, never its value. A field the
/// item does not have (never updated, never restored, no previous value) is `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretDescription<'a> {
    pub created_at: Option<&'a str>,
    pub created_by: Option<&'a str>,
    pub description: Option<&'a str>,
    pub previous_restorable_until: Option<&'a str>,
    pub restored_at: Option<&'a str>,
    pub restored_by: Option<&'a str>,
    pub secret_name: &'a str,
    pub updated_at: Option<&'a str>,
    pub updated_by: Option<&'a str>,
    pub version: u64,
}

impl<'a> SecretDescription<'a> {
    pub fn of(name: &'a SecretName, metadata: &'a SecretMetadata) -> Self {
        Self {
            created_at: metadata.created_at.as_deref(),
            created_by: metadata.created_by.as_deref(),
            description: metadata.description.as_deref(),
            previous_restorable_until: metadata.previous_restorable_until.as_deref(),
            restored_at: metadata.restored_at.as_deref(),
            restored_by: metadata.restored_by.as_deref(),
            secret_name: name.as_str(),
            updated_at: metadata.updated_at.as_deref(),
            updated_by: metadata.updated_by.as_deref(),
            version: metadata.version,
        }
    }
}

/// The published error envelope (every error but 422, whose body is FastAPI's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorResponse {
    pub error: ErrorBody,
    pub status: u16,
    pub success: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    pub message: String,
    #[serde(rename = "type")]
    pub error_type: &'static str,
}

/// Every response of this service goes through here: JSON, never cached.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Serializing these types cannot fail (string keys, no non-finite floats).
    let text = serde_json::to_string(body).unwrap_or_default();
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
