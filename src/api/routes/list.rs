//! `GET /v1/organizations/secrets` (READ): the organization's secret names, sorted; with
//! `?state=deleted` (ADMIN), its deleted secrets that can still be restored.

use lambda_http::http::StatusCode;

use crate::api::context::RequestContext;
use crate::api::error::{ApiError, ValidationIssue};
use crate::api::operation::STATE_PARAMETER;
use crate::api::response::{json_response, DeletedSecretListResponse, SecretListResponse};
use crate::api::{Handled, Outcome};
use crate::event::{self, QueryConflict};

pub(crate) async fn handle(ctx: &RequestContext<'_>) -> Result<Handled, ApiError> {
    // `?state=deleted` was routed to `handle_deleted`; the default, or `live`, lists here.
    match event::query_values(ctx.request, STATE_PARAMETER).as_deref() {
        Ok([] | ["live"]) => {}
        Ok(_) => {
            return Err(state_issue(
                "Input should be 'live' or 'deleted', given once",
            ))
        }
        Err(QueryConflict) => {
            return Err(state_issue(
                "rawQueryString and queryStringParameters should give the same value",
            ))
        }
    }
    let names = ctx.store().list_names(&ctx.principal.org_id).await?;
    let body = SecretListResponse {
        count: names.len(),
        secrets: &names,
    };
    Ok((json_response(StatusCode::OK, &body), Outcome::Listed))
}

pub(crate) async fn handle_deleted(ctx: &RequestContext<'_>) -> Result<Handled, ApiError> {
    let deleted = ctx.store().list_deleted(&ctx.principal.org_id).await?;
    let body = DeletedSecretListResponse::of(&deleted);
    Ok((json_response(StatusCode::OK, &body), Outcome::ListedDeleted))
}

/// The query's `state` is refused; its value is never echoed.
fn state_issue(msg: &'static str) -> ApiError {
    ApiError::Validation(vec![ValidationIssue::query(STATE_PARAMETER, msg, "enum")])
}
