//! `DELETE /v1/organizations/secrets/{secret_name}` (ADMIN): the secret is gone from list
//! and readers at once, its name is free, and its value stays recoverable for the window.

use lambda_http::http::StatusCode;

use crate::api::context::{reused, RequestContext};
use crate::api::error::ApiError;
use crate::api::response::{json_response, SecretResponse};
use crate::api::{Audit, Handled, Outcome};
use crate::storage::DeleteOutcome;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    segment: &str,
    audit: &mut Audit,
) -> Result<Handled, ApiError> {
    let name = ctx.secret_name(segment, audit)?;
    let idempotency_key = ctx.idempotency_key()?;
    let change = ctx.change(idempotency_key.as_ref());
    let window = ctx.config().recovery_window;
    let outcome = match ctx.store().delete(&name, &change, window).await? {
        DeleteOutcome::Deleted => Outcome::Deleted,
        DeleteOutcome::AlreadyDeleted => Outcome::DeletedOnRetry,
        DeleteOutcome::RequestReused => return Err(reused(&change, name)),
        DeleteOutcome::NotFound => return Err(ApiError::SecretNotFound { name }),
    };
    let body = SecretResponse::deleted(&name);
    Ok((json_response(StatusCode::OK, &body), outcome))
}
