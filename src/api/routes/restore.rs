//! `POST /v1/organizations/secrets/{secret_name}/restore[?version=deleted|previous]`
//! (ADMIN): the last deleted value back as the live secret, or the previous value in place
//! of the live one.

use lambda_http::http::StatusCode;

use crate::api::body::parse_restore_version;
use crate::api::context::{reused, RequestContext};
use crate::api::error::{ApiError, InternalError};
use crate::api::response::{json_response, SecretResponse};
use crate::api::{Audit, Handled, Outcome};
use crate::crypto::{EncryptedValue, TokenBinding};
use crate::storage::{RestoreOutcome, RestorePolicy};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    segment: &str,
    audit: &mut Audit,
) -> Result<Handled, ApiError> {
    let name = ctx.secret_name(segment, audit)?;
    let slot = parse_restore_version(ctx.request)?;
    let idempotency_key = ctx.idempotency_key()?;
    let change = ctx.change(idempotency_key.as_ref());
    let config = ctx.config();
    // Only a copy that opens under our keys and is bound to this secret comes back;
    // anything else is a table someone tampered with, never restored.
    let org_id = ctx.principal.org_id.as_str();
    let accept = |token: &EncryptedValue, binding: Option<&TokenBinding>| {
        config.cipher.opens(token)
            && config
                .cipher
                .verify_binding(org_id, name.as_str(), token, binding)
                .is_ok()
    };
    let policy = RestorePolicy {
        window: config.recovery_window,
        max_secrets: config.max_secrets_per_org,
        accept,
    };
    let outcome = match ctx.store().restore(&name, slot, &change, &policy).await? {
        RestoreOutcome::Restored => Outcome::Restored(slot),
        RestoreOutcome::AlreadyRestored => Outcome::RestoredOnRetry,
        RestoreOutcome::RequestReused => return Err(reused(&change, name)),
        RestoreOutcome::NameTaken => return Err(ApiError::RestoreBlocked { name }),
        RestoreOutcome::NothingToRestore => return Err(ApiError::NothingToRestore { name, slot }),
        RestoreOutcome::Refused => {
            return Err(ApiError::Internal(InternalError::RecoveryCopyRefused(slot)))
        }
        RestoreOutcome::LimitReached => {
            return Err(ApiError::SecretLimitReached {
                limit: config.max_secrets_per_org,
            })
        }
    };
    let body = SecretResponse::restored(&name);
    Ok((json_response(StatusCode::OK, &body), outcome))
}
