//! `GET /v1/organizations/secrets/{secret_name}` (READ): who created, updated and restored
//! the secret and when, and until when its previous value can be restored. Never its value,
//! token, binding or any digest of it.

use lambda_http::http::StatusCode;

use crate::api::context::RequestContext;
use crate::api::error::ApiError;
use crate::api::response::{json_response, SecretDescription};
use crate::api::{Audit, Handled, Outcome};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    segment: &str,
    audit: &mut Audit,
) -> Result<Handled, ApiError> {
    let name = ctx.secret_name(segment, audit)?;
    let Some(metadata) = ctx.store().describe(&ctx.principal.org_id, &name).await? else {
        return Err(ApiError::SecretNotFound { name });
    };
    let body = SecretDescription::of(&name, &metadata);
    Ok((json_response(StatusCode::OK, &body), Outcome::Described))
}
