//! The HTTP API: routing, the create handler, and one audit line per request.

pub mod create;
pub mod error;

use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use crate::auth::{self, Permission, Principal};
use crate::config::Config;
use crate::domain::SecretName;
use crate::storage::{CreateOutcome, NewSecret, RequestId, SecretStore};
use create::parse_create_body;
use error::{json_response, ApiError};

pub const SECRETS_PATH: &str = "/v1/organizations/secrets";

/// Shared state, built once at init and handed to every invocation.
#[derive(Debug)]
pub struct App {
    config: Config,
    store: SecretStore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    CreateSecret,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::CreateSecret => "create_secret",
        }
    }
}

/// What the audit line says about one request. Filled in as the request is understood;
/// it has no field that could hold a secret value.
#[derive(Debug, Default)]
struct Audit {
    action: Option<Action>,
    principal: Option<Principal>,
    secret_name: Option<SecretName>,
}

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

    /// Handles one API Gateway request. Never fails: every error becomes a response.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let request_id = request_id(&request);
        let mut audit = Audit::default();
        let result = self
            .dispatch(&request, request_id.as_ref(), &mut audit)
            .await;
        let (response, outcome, detail) = match result {
            Ok((response, outcome)) => (response, outcome, None),
            Err(err) => {
                let outcome = err.error_type();
                let detail = err.to_string();
                (
                    err.into_response(request_id.as_ref()),
                    outcome,
                    Some(detail),
                )
            }
        };
        log_audit(
            &audit,
            response.status(),
            outcome,
            detail.as_deref(),
            request_id.as_ref(),
        );
        response
    }

    async fn dispatch(
        &self,
        request: &Request,
        request_id: Option<&RequestId>,
        audit: &mut Audit,
    ) -> Result<(Response<Body>, &'static str), ApiError> {
        let path = resource_path(request);
        // Method and path only: the body is never logged, at any level.
        tracing::trace!(method = %request.method(), path, "routing request");
        if path != SECRETS_PATH {
            return Err(ApiError::RouteNotFound);
        }
        if request.method() != Method::POST {
            return Err(ApiError::MethodNotAllowed { allow: &["POST"] });
        }
        audit.action = Some(Action::CreateSecret);
        let principal = auth::authenticate(request.request_context_ref(), &self.config.claim_names)
            .map_err(ApiError::Unauthenticated)?;
        audit.principal = Some(principal.clone());
        if !principal.has(Permission::Admin) {
            return Err(ApiError::Forbidden {
                needed: Permission::Admin,
            });
        }
        let input = parse_create_body(request.body().as_ref(), self.config.max_secret_value_bytes)?;
        audit.secret_name = Some(input.name.clone());
        let request_id = request_id
            .ok_or_else(|| ApiError::Internal("the event carries no request id".to_owned()))?;
        let outcome = self
            .store
            .create(NewSecret {
                org_id: &principal.org_id,
                name: &input.name,
                encrypted_value: self.config.cipher.encrypt(&input.value),
                created_by: &principal.actor,
                request_id,
            })
            .await?;
        let outcome = match outcome {
            CreateOutcome::Created => "created",
            CreateOutcome::CreatedByEarlierAttempt => "created_on_retry",
            CreateOutcome::NameTaken => return Err(ApiError::SecretNameTaken { name: input.name }),
        };
        let body = json!({
            "secret_name": input.name.as_str(),
            "created": true,
            "updated": null,
            "deleted": null,
        });
        Ok((json_response(StatusCode::CREATED, &body), outcome))
    }
}

fn log_audit(
    audit: &Audit,
    status: StatusCode,
    outcome: &str,
    detail: Option<&str>,
    request_id: Option<&RequestId>,
) {
    let principal = audit.principal.as_ref();
    tracing::info!(
        target: "org_secrets::audit",
        action = audit.action.map_or("none", Action::as_str),
        org_id = principal.map(|p| p.org_id.as_str()),
        actor = principal.map(|p| p.actor.as_str()),
        secret_name = audit.secret_name.as_ref().map(SecretName::as_str),
        outcome,
        status = status.as_u16(),
        detail,
        request_id = request_id.map(RequestId::as_str),
        "audit"
    );
}

/// The API Gateway request id, else the Lambda request id.
fn request_id(request: &Request) -> Option<RequestId> {
    let gateway_id = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.as_deref(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.as_deref(),
        _ => None,
    };
    gateway_id.and_then(RequestId::new).or_else(|| {
        request
            .lambda_context_ref()
            .and_then(|ctx| RequestId::new(&ctx.request_id))
    })
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
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.as_deref(),
        _ => None,
    };
    match stage {
        Some(stage) if stage != "$default" && raw != SECRETS_PATH => raw
            .strip_prefix('/')
            .and_then(|rest| rest.strip_prefix(stage))
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(raw),
        _ => raw,
    }
}
