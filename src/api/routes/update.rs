//! `PUT /v1/organizations/secrets/{secret_name}` (ADMIN): a new value for an existing
//! secret; the value it replaces stays recoverable for the window.

use lambda_http::http::StatusCode;

use crate::api::body::parse_update_body;
use crate::api::context::{reused, RequestContext};
use crate::api::error::ApiError;
use crate::api::response::{json_response, SecretResponse};
use crate::api::{Audit, Handled, Outcome};
use crate::storage::{NewValue, UpdateOutcome, ValueDigest};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    segment: &str,
    audit: &mut Audit,
) -> Result<Handled, ApiError> {
    let name = ctx.secret_name(segment, audit)?;
    let config = ctx.config();
    let input = parse_update_body(ctx.body(), config.max_secret_value_bytes)?;
    let idempotency_key = ctx.idempotency_key()?;
    let change = ctx.change(idempotency_key.as_ref());
    let org_id = &ctx.principal.org_id;
    let token = config.cipher.encrypt(&input.value);
    let binding = config.cipher.bind(org_id.as_str(), name.as_str(), &token);
    // The same request again only if it sends the same value and description: their
    // digest, sealed, goes into the change record (never the value).
    let digest = ValueDigest::of(org_id, &name, &input.value, &input.description);
    let new = NewValue {
        token,
        binding,
        description: input.description,
    };
    let window = config.recovery_window;
    let outcome = match ctx
        .store()
        .update(&name, new, &digest, &change, window)
        .await?
    {
        UpdateOutcome::Updated => Outcome::Updated,
        UpdateOutcome::AlreadyUpdated => Outcome::UpdatedOnRetry,
        UpdateOutcome::RequestReused => return Err(reused(&change, name)),
        UpdateOutcome::NotFound => return Err(ApiError::SecretNotFound { name }),
    };
    let body = SecretResponse::updated(&name);
    Ok((json_response(StatusCode::OK, &body), outcome))
}
