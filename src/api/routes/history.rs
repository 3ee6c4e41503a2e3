//! `GET /v1/organizations/secrets/{secret_name}/history` (ADMIN): the secret's changes,
//! newest first, each with its operation, actor, request id, time and the version it made;
//! kept for `CHANGE_HISTORY_DAYS`. A name deleted and created again shows both lives.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use lambda_http::http::StatusCode;

use super::list::{query_issue, single_value};
use crate::api::context::RequestContext;
use crate::api::error::ApiError;
use crate::api::response::{json_response, HistoryResponse};
use crate::api::{Audit, Handled, Outcome};
use crate::domain::canonical_u64;

/// The most changes one answer lists, and how many when `limit` is not given.
pub(crate) const HISTORY_LIMIT: u32 = 100;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    segment: &str,
    audit: &mut Audit,
) -> Result<Handled, ApiError> {
    let name = ctx.secret_name(segment, audit)?;
    let limit = match single_value(ctx, "limit")? {
        None => HISTORY_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=HISTORY_LIMIT).contains(limit))
            .ok_or_else(|| {
                query_issue(
                    "limit",
                    "Input should be a whole number from 1 to 100",
                    "int_parsing",
                )
            })?,
    };
    let below = match single_value(ctx, "cursor")? {
        None => None,
        Some(raw) => Some(version_of_cursor(raw).ok_or_else(|| {
            query_issue(
                "cursor",
                "Input should be a next_cursor from an earlier answer",
                "value_error",
            )
        })?),
    };
    let page = ctx
        .store()
        .history(
            &ctx.principal.org_id,
            &name,
            below,
            limit as usize,
            &ctx.config().cipher,
        )
        .await?;
    let Some(page) = page else {
        return Err(ApiError::SecretNotFound { name });
    };
    let next_cursor = page.next_below.map(cursor_of_version);
    let body = HistoryResponse::of(&name, &page.changes, next_cursor.as_deref());
    Ok((json_response(StatusCode::OK, &body), Outcome::HistoryShown))
}

/// The cursor of the page that starts below `version`: opaque to clients.
fn cursor_of_version(version: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v{version}"))
}

/// The version a cursor names, if it is one [`cursor_of_version`] made.
fn version_of_cursor(cursor: &str) -> Option<u64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let digits = std::str::from_utf8(&bytes).ok()?.strip_prefix('v')?;
    canonical_u64(digits).filter(|version| *version > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_nothing_else_is_one() {
        for version in [1, 2, 99, u64::MAX] {
            assert_eq!(
                version_of_cursor(&cursor_of_version(version)),
                Some(version)
            );
        }
        let encode = |text: &str| URL_SAFE_NO_PAD.encode(text);
        for cursor in [
            String::new(),
            "!!".to_owned(),
            encode("v"),
            encode("v0"),
            encode("v01"),
            encode("v+1"),
            encode("v-1"),
            encode("7"),
            encode("v18446744073709551616"),
            encode("v1 "),
            URL_SAFE_NO_PAD.encode([b'v', 0xff]),
            format!("{}=", encode("v1")),
        ] {
            assert_eq!(version_of_cursor(&cursor), None, "{cursor:?}");
        }
    }
}
