//! `GET /v1/organizations/secrets` (READ): the organization's secret names, sorted.

use lambda_http::http::StatusCode;

use crate::api::context::RequestContext;
use crate::api::error::ApiError;
use crate::api::response::{json_response, SecretListResponse};
use crate::api::{Handled, Outcome};

pub(crate) async fn handle(ctx: &RequestContext<'_>) -> Result<Handled, ApiError> {
    let names = ctx.store().list_names(&ctx.principal.org_id).await?;
    let body = SecretListResponse {
        count: names.len(),
        secrets: &names,
    };
    Ok((json_response(StatusCode::OK, &body), Outcome::Listed))
}
