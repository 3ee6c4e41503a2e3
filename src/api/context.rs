//! What every operation starts from: the request, routed and authorized, built once.

use lambda_http::{Request, RequestExt};

use super::body::{parse_idempotency_key, parse_path_name, require_json};
use super::error::ApiError;
use super::{App, Audit, Operation};
use crate::auth::{self, Principal};
use crate::config::Config;
use crate::domain::{IdempotencyKey, RequestId, SecretName};
use crate::event::{Caller, EventDefects};
use crate::storage::{Change, Identity, SecretStore};

/// One request, as an operation's `handle` sees it: who asks (claims only), in which
/// request, from which kind of caller, and the request itself for its body and query.
pub(crate) struct RequestContext<'a> {
    app: &'a App,
    pub(crate) request: &'a Request,
    pub(crate) caller: Caller,
    pub(crate) principal: Principal,
    pub(crate) request_id: &'a RequestId,
}

impl<'a> RequestContext<'a> {
    /// The caller's principal, from the authorizer's claims alone, with the permission
    /// `operation` needs, and a JSON body where it takes one. Nothing here touches DynamoDB.
    pub(crate) fn authorize(
        app: &'a App,
        request: &'a Request,
        caller: Caller,
        request_id: &'a RequestId,
        (operation, audit): (&Operation<'_>, &mut Audit),
    ) -> Result<Self, ApiError> {
        let defects = request
            .extensions()
            .get::<EventDefects>()
            .copied()
            .unwrap_or_default();
        if defects.malformed_claims {
            return Err(ApiError::Unauthenticated(auth::AuthError::MalformedClaims));
        }
        let principal = auth::authenticate(request.request_context_ref(), &app.config.claim_names)
            .map_err(ApiError::Unauthenticated)?;
        audit.principal = Some(principal.clone());
        let needed = operation.required_permission();
        if !principal.has(needed) {
            return Err(ApiError::Forbidden { needed });
        }
        if operation.takes_json_body() {
            require_json(request.headers().get("content-type").map(|v| v.as_bytes()))?;
        }
        Ok(Self {
            app,
            request,
            caller,
            principal,
            request_id,
        })
    }

    pub(crate) fn config(&self) -> &'a Config {
        &self.app.config
    }

    pub(crate) fn store(&self) -> &'a SecretStore {
        &self.app.store
    }

    pub(crate) fn body(&self) -> &'a [u8] {
        self.request.body().as_ref()
    }

    /// The `{secret_name}` path segment as a name (422 when it is not one), noted for the
    /// audit line.
    pub(crate) fn secret_name(
        &self,
        segment: &str,
        audit: &mut Audit,
    ) -> Result<SecretName, ApiError> {
        let name = parse_path_name(segment)?;
        audit.secret_name = Some(name.clone());
        Ok(name)
    }

    /// The request's `Idempotency-Key` header, if any (422 when malformed).
    pub(crate) fn idempotency_key(&self) -> Result<Option<IdempotencyKey>, ApiError> {
        parse_idempotency_key(
            self.request
                .headers()
                .get("idempotency-key")
                .map(|v| v.as_bytes()),
        )
    }

    /// Who changes a secret in which request. An `Idempotency-Key` identifies the request
    /// only for an actor with a subject (without one, anyone could replay it); otherwise
    /// the request id does.
    pub(crate) fn change<'k>(&'k self, idempotency_key: Option<&'k IdempotencyKey>) -> Change<'k> {
        Change {
            org_id: &self.principal.org_id,
            actor: &self.principal.actor,
            request_id: self.request_id,
            idempotency_key,
            cipher: &self.app.config.cipher,
            history: self.app.config.history_retention,
        }
    }
}

/// A request whose identity (its Idempotency-Key, else its request id) already named
/// another change within the replay horizon.
pub(crate) fn reused(change: &Change<'_>, name: SecretName) -> ApiError {
    ApiError::RequestReused {
        name,
        by_key: matches!(change.identity(), Identity::Key(_)),
    }
}
