//! The HTTP API's entry: a Lambda event in, a response (or a direct caller's invocation
//! error) out, and one audit line per request. Each operation is a module of [`routes`],
//! reached through [`Operation`] with a [`context::RequestContext`] built once.

pub mod body;
pub(crate) mod context;
pub mod error;
pub mod operation;
pub mod response;
mod routes;

use lambda_http::http::StatusCode;
use lambda_http::lambda_runtime::{Context, Diagnostic};
use lambda_http::request::RequestContext as GatewayContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;

use crate::auth::Principal;
use crate::config::Config;
use crate::domain::{IdentifierError, RequestId, SecretName};
use crate::event::{self, Caller, EventDefects};
use crate::storage::{RecoverySlot, SecretStore};
use context::RequestContext;
use error::{ApiError, InternalError};
pub(crate) use operation::Operation;

/// The one deadline of a request: every DynamoDB call and every retry inside it (conflicting
/// transactions, an item changed between read and write, a change record's slot) ends by
/// then, and the request is answered 503 (worth retrying: a write that did commit is
/// recognised by its change record). Inside the function's 10 s timeout, and above one
/// DynamoDB call's own 5 s limit, so a single stuck call still ends with its own timeout.
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(8);

fn deadline_passed() -> crate::storage::StoreError {
    crate::storage::StoreError::Unavailable(format!(
        "the request's deadline ({} s) passed",
        REQUEST_DEADLINE.as_secs()
    ))
}

/// Shared state, built once at init and handed to every invocation.
#[derive(Debug)]
pub struct App {
    config: Config,
    store: SecretStore,
}

/// How a request ended, for the audit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Created,
    /// The same request again (SDK retry, redelivery) after its create had happened.
    CreatedOnRetry,
    /// A client's retry with the same Idempotency-Key and value.
    IdempotentReplay,
    Listed,
    ListedDeleted,
    Described,
    HistoryShown,
    Updated,
    /// The same update request again, after its write had happened: nothing written.
    UpdatedOnRetry,
    Deleted,
    /// The same delete request again, after its delete had happened.
    DeletedOnRetry,
    Restored(RecoverySlot),
    /// The same restore request again, after its restore had happened.
    RestoredOnRetry,
    /// Refused or failed: the error's `error.type`.
    Failed(&'static str),
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::CreatedOnRetry => "created_on_retry",
            Outcome::IdempotentReplay => "idempotent_replay",
            Outcome::Listed => "listed",
            Outcome::ListedDeleted => "listed_deleted",
            Outcome::Described => "described",
            Outcome::HistoryShown => "history_shown",
            Outcome::Updated => "updated",
            Outcome::UpdatedOnRetry => "updated_on_retry",
            Outcome::Deleted => "deleted",
            Outcome::DeletedOnRetry => "deleted_on_retry",
            Outcome::Restored(RecoverySlot::Deleted) => "restored_deleted",
            Outcome::Restored(RecoverySlot::Previous) => "restored_previous",
            Outcome::RestoredOnRetry => "restored_on_retry",
            Outcome::Failed(error_type) => error_type,
        }
    }
}

/// What the audit line says about one request. Filled in as the request is understood;
/// it has no field that could hold a secret value.
#[derive(Debug, Default)]
pub(crate) struct Audit {
    caller: Option<Caller>,
    operation: Option<&'static str>,
    principal: Option<Principal>,
    secret_name: Option<SecretName>,
}

/// How a direct invocation that did not succeed ends: a Lambda invocation error whose
/// `errorType` is the error code (`storage_unavailable`, `secret_name_taken`, ...) and whose
/// `errorMessage` is the `ErrorResponse` message. Neither ever holds a submitted value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct InvocationError {
    pub error_type: &'static str,
    pub message: String,
}

impl InvocationError {
    fn new(error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }
}

impl From<InvocationError> for Diagnostic {
    fn from(err: InvocationError) -> Self {
        Diagnostic {
            error_type: err.error_type.to_owned(),
            error_message: err.message,
        }
    }
}

/// A successful operation's response and its audit outcome.
pub(crate) type Handled = (Response<Body>, Outcome);

impl App {
    pub fn new(config: Config, store: SecretStore) -> Self {
        Self { config, store }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &SecretStore {
        &self.store
    }

    /// Handles one invocation from its raw event text, as the Lambda runtime delivers it.
    ///
    /// An API Gateway (or ALB) event always gets a response in the shape its origin expects,
    /// errors included; an event that is not a usable request gets 400 `malformed_event`.
    /// A direct invocation gets the HTTP API response when it succeeds, and otherwise an
    /// [`InvocationError`] named by the error code.
    pub async fn handle_event(
        &self,
        raw_event: &str,
        context: Option<Context>,
    ) -> Result<Value, InvocationError> {
        match event::parse_event(raw_event) {
            Ok(parsed) => {
                let request = match context {
                    Some(context) => parsed.request.with_lambda_context(context),
                    None => parsed.request,
                };
                let (response, failure) = self.serve(request, parsed.caller).await;
                match (parsed.caller, failure) {
                    (Caller::Direct, Some(err)) => Err(err),
                    _ => Ok(event::lambda_response(&parsed.origin, response)),
                }
            }
            Err(unusable) => {
                let request_id = context.and_then(|ctx| RequestId::parse(&ctx.request_id).ok());
                let err = ApiError::MalformedEvent(unusable.malformed.reason);
                let audit = Audit {
                    caller: Some(unusable.caller),
                    ..Audit::default()
                };
                let (response, failure) = self.fail(err, &audit, request_id.as_ref());
                match unusable.caller {
                    Caller::Direct => Err(failure),
                    Caller::Gateway => Ok(event::lambda_response(&unusable.origin, response)),
                }
            }
        }
    }

    /// Handles one API Gateway request. Never fails: every error becomes a response.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        self.serve(request, Caller::Gateway).await.0
    }

    /// The response to one request, and for a failure the invocation error a direct caller
    /// gets instead.
    async fn serve(
        &self,
        request: Request,
        caller: Caller,
    ) -> (Response<Body>, Option<InvocationError>) {
        let mut audit = Audit {
            caller: Some(caller),
            ..Audit::default()
        };
        // Used exactly as received or refused: it names the request in its change record.
        let request_id = match request_id(&request) {
            Ok(request_id) => request_id,
            Err(err) => return self.answer(Err(err), &audit, None),
        };
        let dispatched = self.dispatch(&request, caller, &request_id, &mut audit);
        let result = tokio::time::timeout(REQUEST_DEADLINE, dispatched)
            .await
            .unwrap_or_else(|_| Err(ApiError::StorageUnavailable(deadline_passed())));
        self.answer(result, &audit, Some(&request_id))
    }

    /// An outcome as a response (and, for a failure, the invocation error a direct caller
    /// gets instead), with its audit line.
    fn answer(
        &self,
        result: Result<Handled, ApiError>,
        audit: &Audit,
        request_id: Option<&RequestId>,
    ) -> (Response<Body>, Option<InvocationError>) {
        match result {
            Ok((response, outcome)) => {
                log_audit(audit, response.status(), outcome, None, request_id);
                (response, None)
            }
            Err(err) => {
                let (response, failure) = self.fail(err, audit, request_id);
                (response, Some(failure))
            }
        }
    }

    /// The one place an error becomes a response, an invocation error and an audit line.
    fn fail(
        &self,
        err: ApiError,
        audit: &Audit,
        request_id: Option<&RequestId>,
    ) -> (Response<Body>, InvocationError) {
        let described = err.describe(request_id);
        let outcome = Outcome::Failed(described.error_type);
        let failure = InvocationError::new(described.code, described.message.clone());
        let response = err.to_response(described);
        let detail = err.to_string();
        log_audit(audit, response.status(), outcome, Some(&detail), request_id);
        (response, failure)
    }

    /// Routes the request, authorizes it, and hands it to its operation's module.
    async fn dispatch(
        &self,
        request: &Request,
        caller: Caller,
        request_id: &RequestId,
        audit: &mut Audit,
    ) -> Result<Handled, ApiError> {
        let path = resource_path(request);
        // Method and path only: the body is never logged, at any level.
        tracing::trace!(method = %request.method(), path, "routing request");
        let operation = Operation::from_request(path, request.method())?.with_query(request);
        audit.operation = Some(operation.name());
        let ctx =
            RequestContext::authorize(self, request, caller, request_id, (&operation, audit))?;
        match operation {
            Operation::List => routes::list::handle(&ctx).await,
            Operation::ListDeleted => routes::list::handle_deleted(&ctx).await,
            Operation::Describe(segment) => routes::describe::handle(&ctx, segment, audit).await,
            Operation::Create => routes::create::handle(&ctx, audit).await,
            Operation::Update(segment) => routes::update::handle(&ctx, segment, audit).await,
            Operation::Delete(segment) => routes::delete::handle(&ctx, segment, audit).await,
            Operation::Restore(segment) => routes::restore::handle(&ctx, segment, audit).await,
            Operation::History(segment) => routes::history::handle(&ctx, segment, audit).await,
        }
    }
}

fn log_audit(
    audit: &Audit,
    status: StatusCode,
    outcome: Outcome,
    detail: Option<&str>,
    request_id: Option<&RequestId>,
) {
    let principal = audit.principal.as_ref();
    tracing::info!(
        target: "org_secrets::audit",
        caller = audit.caller.map_or("none", Caller::as_str),
        action = audit.operation.unwrap_or("none"),
        org_id = principal.map(|p| p.org_id.as_str()),
        actor = principal.map(|p| p.actor.as_str()),
        secret_name = audit.secret_name.as_ref().map(SecretName::as_str),
        outcome = outcome.as_str(),
        status = status.as_u16(),
        detail,
        request_id = request_id.map(RequestId::as_str),
        "audit"
    );
}

/// The API Gateway request id (a direct invocation's `requestContext.requestId`) exactly as
/// received, else the Lambda request id. An id that is there but unusable is refused, never
/// trimmed or replaced: a redelivery must find the first delivery's change record.
fn request_id(request: &Request) -> Result<RequestId, ApiError> {
    let defects = request.extensions().get::<EventDefects>();
    if defects.is_some_and(|defects| defects.request_id_not_a_string) {
        return Err(ApiError::InvalidRequestId(IdentifierError::NotAString));
    }
    let gateway_id = match request.request_context_ref() {
        Some(GatewayContext::ApiGatewayV1(ctx)) => ctx.request_id.as_deref(),
        Some(GatewayContext::ApiGatewayV2(ctx)) => ctx.request_id.as_deref(),
        _ => None,
    };
    if let Some(raw) = gateway_id {
        return RequestId::parse(raw).map_err(ApiError::InvalidRequestId);
    }
    request
        .lambda_context_ref()
        .and_then(|ctx| RequestId::parse(&ctx.request_id).ok())
        .ok_or(ApiError::Internal(InternalError::NoRequestId))
}

/// The path the route table sees. REST events carry the resource path without the stage.
/// HTTP API events carry it with a named stage in front (`/prod/v1/...`); that prefix is
/// removed unless the path already names one of our routes as it is.
fn resource_path(request: &Request) -> &str {
    let raw = request.raw_http_path();
    let raw = if raw.is_empty() {
        request.uri().path()
    } else {
        raw
    };
    let stage = match request.request_context_ref() {
        Some(GatewayContext::ApiGatewayV2(ctx)) => ctx.stage.as_deref(),
        _ => None,
    };
    match stage {
        Some(stage) if stage != "$default" && !Operation::is_our_path(raw) => raw
            .strip_prefix('/')
            .and_then(|rest| rest.strip_prefix(stage))
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(raw),
        _ => raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_of(event: serde_json::Value) -> Request {
        event::parse_event(&event.to_string())
            .expect("event parses")
            .request
    }

    #[test]
    fn resource_paths_drop_a_named_stage_only_when_it_is_one() {
        use serde_json::json;
        let http = |path: &str, stage: &str| {
            request_of(json!({
                "version": "2.0",
                "rawPath": path,
                "requestContext": { "http": { "method": "GET", "path": path }, "stage": stage },
            }))
        };
        let cases = [
            (
                "/v1/organizations/secrets",
                "$default",
                "/v1/organizations/secrets",
            ),
            (
                "/prod/v1/organizations/secrets",
                "prod",
                "/v1/organizations/secrets",
            ),
            // Already a route as it is: left alone even under a named stage.
            (
                "/v1/organizations/secrets",
                "prod",
                "/v1/organizations/secrets",
            ),
            // Another stage's prefix, or a prefix without a following '/', is not removed.
            (
                "/dev/v1/organizations/secrets",
                "prod",
                "/dev/v1/organizations/secrets",
            ),
            (
                "/prodv1/organizations/secrets",
                "prod",
                "/prodv1/organizations/secrets",
            ),
            (
                "/prod/v1/organizations/secrets",
                "$default",
                "/prod/v1/organizations/secrets",
            ),
            (
                "/$default/v1/organizations/secrets",
                "$default",
                "/$default/v1/organizations/secrets",
            ),
            // A stage named like the path's first segment: the route as it is wins.
            (
                "/v1/organizations/secrets",
                "v1",
                "/v1/organizations/secrets",
            ),
            (
                "/v1/v1/organizations/secrets",
                "v1",
                "/v1/organizations/secrets",
            ),
        ];
        for (path, stage, expected) in cases {
            assert_eq!(
                resource_path(&http(path, stage)),
                expected,
                "{path} on {stage}"
            );
        }
        // REST events carry the resource path without the stage.
        let rest = request_of(json!({
            "httpMethod": "GET",
            "path": "/v1/organizations/secrets",
            "requestContext": { "httpMethod": "GET", "stage": "prod", "requestId": "r" },
        }));
        assert_eq!(resource_path(&rest), "/v1/organizations/secrets");
    }

    #[test]
    fn request_ids_come_from_the_gateway_else_from_lambda() {
        use lambda_http::RequestExt;
        use serde_json::json;
        let http = request_of(json!({
            "version": "2.0",
            "rawPath": "/",
            "requestContext": { "http": { "method": "GET", "path": "/" }, "requestId": "gw-2" },
        }));
        assert_eq!(request_id(&http).unwrap().as_str(), "gw-2");
        let rest = request_of(json!({
            "httpMethod": "GET",
            "path": "/",
            "requestContext": { "httpMethod": "GET", "requestId": "gw-1" },
        }));
        assert_eq!(request_id(&rest).unwrap().as_str(), "gw-1");
        let bare = request_of(json!({
            "version": "2.0",
            "rawPath": "/",
            "requestContext": { "http": { "method": "GET", "path": "/" } },
        }));
        assert!(request_id(&bare).is_err());
        let mut context = Context::default();
        context.request_id = "lambda-1".to_owned();
        let with_lambda = bare.with_lambda_context(context);
        assert_eq!(request_id(&with_lambda).unwrap().as_str(), "lambda-1");
    }

    #[test]
    fn secret_responses_flag_what_happened() {
        use response::{json_response, SecretListResponse, SecretResponse};
        let name = SecretName::parse("n").unwrap();
        let cases = [
            (
                SecretResponse::created(&name),
                r#"{"created":true,"deleted":null,"secret_name":"n","updated":null}"#,
            ),
            (
                SecretResponse::updated(&name),
                r#"{"created":null,"deleted":null,"secret_name":"n","updated":true}"#,
            ),
            (
                SecretResponse::deleted(&name),
                r#"{"created":null,"deleted":true,"secret_name":"n","updated":null}"#,
            ),
        ];
        for (body, expected) in cases {
            let response = json_response(StatusCode::OK, &body);
            let Body::Text(text) = response.body() else {
                panic!("not text")
            };
            assert_eq!(text, expected);
        }
        let names = ["a".to_owned(), "b".to_owned()];
        let list = json_response(
            StatusCode::OK,
            &SecretListResponse {
                count: names.len(),
                secrets: &names,
            },
        );
        let Body::Text(text) = list.body() else {
            panic!("not text")
        };
        assert_eq!(text, r#"{"count":2,"secrets":["a","b"]}"#);
        let outcomes = [
            (Outcome::Created, "created"),
            (Outcome::CreatedOnRetry, "created_on_retry"),
            (Outcome::IdempotentReplay, "idempotent_replay"),
            (Outcome::Listed, "listed"),
            (Outcome::ListedDeleted, "listed_deleted"),
            (Outcome::Described, "described"),
            (Outcome::Updated, "updated"),
            (Outcome::Deleted, "deleted"),
            (Outcome::Failed("NotFoundError"), "NotFoundError"),
        ];
        for (outcome, text) in outcomes {
            assert_eq!(outcome.as_str(), text);
        }
    }
}
