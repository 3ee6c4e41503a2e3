//! `GET /v1/organizations/secrets` (READ): the organization's secret names, sorted; with
//! `?state=deleted` (ADMIN), its deleted secrets that can still be restored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use lambda_http::http::StatusCode;

use crate::api::context::RequestContext;
use crate::api::error::{ApiError, ValidationIssue};
use crate::api::operation::STATE_PARAMETER;
use crate::api::response::{json_response, DeletedSecretListResponse, SecretListResponse};
use crate::api::{Handled, Outcome};
use crate::domain::SecretName;
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

/// The most deleted secrets one answer lists, and how many it lists when `limit` is not
/// given: about 1 MB of answer at most, far below Lambda's 6 MB.
pub(crate) const DELETED_LIST_LIMIT: u32 = 1000;

/// `?state=deleted[&limit=N][&cursor=C]`: a page of the deleted secrets that can still be
/// restored; `next_cursor` (URL-safe base64 of the name it ends at) asks for the next.
pub(crate) async fn handle_deleted(ctx: &RequestContext<'_>) -> Result<Handled, ApiError> {
    let limit = match single_value(ctx, "limit")? {
        None => DELETED_LIST_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=DELETED_LIST_LIMIT).contains(limit))
            .ok_or_else(|| {
                query_issue(
                    "limit",
                    "Input should be a whole number from 1 to 1000",
                    "int_parsing",
                )
            })?,
    };
    let after = match single_value(ctx, "cursor")? {
        None => None,
        Some(raw) => Some(
            URL_SAFE_NO_PAD
                .decode(raw)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|name| SecretName::parse(name).ok())
                .ok_or_else(|| {
                    query_issue(
                        "cursor",
                        "Input should be a next_cursor from an earlier answer",
                        "value_error",
                    )
                })?,
        ),
    };
    let (deleted, next) = ctx
        .store()
        .list_deleted(&ctx.principal.org_id, after.as_ref(), limit as usize)
        .await?;
    let next_cursor = next.map(|name| URL_SAFE_NO_PAD.encode(name));
    let body = DeletedSecretListResponse::of(&deleted, next_cursor.as_deref());
    Ok((json_response(StatusCode::OK, &body), Outcome::ListedDeleted))
}

/// The query parameter `name` given once (from either query field, which must agree), or
/// not at all; anything else is 422. The value is never echoed.
pub(super) fn single_value<'r>(
    ctx: &RequestContext<'r>,
    name: &'static str,
) -> Result<Option<&'r str>, ApiError> {
    match event::query_values(ctx.request, name).as_deref() {
        Ok([]) => Ok(None),
        Ok([value]) => Ok(Some(value)),
        Ok(_) => Err(query_issue(
            name,
            "Input should be given once",
            "value_error",
        )),
        Err(QueryConflict) => Err(query_issue(
            name,
            "rawQueryString and queryStringParameters should give the same value",
            "value_error",
        )),
    }
}

/// The query's `state` is refused; its value is never echoed.
fn state_issue(msg: &'static str) -> ApiError {
    query_issue(STATE_PARAMETER, msg, "enum")
}

pub(super) fn query_issue(name: &'static str, msg: &'static str, kind: &'static str) -> ApiError {
    ApiError::Validation(vec![ValidationIssue::query(name, msg, kind)])
}
