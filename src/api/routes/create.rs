//! `POST /v1/organizations/secrets` (ADMIN): a new secret, unique by name in the
//! organization, counted against its limit, with the request's change record.

use lambda_http::http::StatusCode;

use crate::api::body::parse_create_body;
use crate::api::context::{reused, RequestContext};
use crate::api::error::{ApiError, ValidationIssue};
use crate::api::response::{json_response, SecretResponse};
use crate::api::{Audit, Handled, Outcome};
use crate::auth::AuthError;
use crate::domain::{DescriptionChange, IdempotencyKey};
use crate::event::Caller;
use crate::storage::{CreateOutcome, Identity, NewSecret, ValueDigest};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    audit: &mut Audit,
) -> Result<Handled, ApiError> {
    let idempotency_key = ctx.idempotency_key()?;
    if ctx.caller == Caller::Direct {
        require_redelivery_identity(ctx, idempotency_key.as_ref())?;
    }
    let config = ctx.config();
    let input = parse_create_body(ctx.body(), config.max_secret_value_bytes)?;
    audit.secret_name = Some(input.name.clone());
    let change = ctx.change(idempotency_key.as_ref());
    let org_id = &ctx.principal.org_id;
    let encrypted_value = config.cipher.encrypt(&input.value);
    let binding = config
        .cipher
        .bind(org_id.as_str(), input.name.as_str(), &encrypted_value);
    // A create without a description digests as one did before descriptions existed.
    let described = input
        .description
        .clone()
        .map_or(DescriptionChange::Keep, DescriptionChange::Set);
    let digest = ValueDigest::of(org_id, &input.name, &input.value, &described);
    let new_secret = NewSecret {
        name: &input.name,
        encrypted_value,
        binding,
        value: &digest,
        description: input.description.as_ref(),
        max_secrets: config.max_secrets_per_org,
    };
    let outcome = match ctx.store().create(new_secret, &change).await? {
        CreateOutcome::Created => Outcome::Created,
        // This very request again (same identity, name and value), whatever happened to
        // the secret since: its first answer. A client's retry is recognised by its
        // Idempotency-Key; an SDK retry or a redelivered event by its request id.
        CreateOutcome::AlreadyCreated => match change.identity() {
            Identity::Key(_) => Outcome::IdempotentReplay,
            Identity::Request(_) => Outcome::CreatedOnRetry,
        },
        CreateOutcome::RequestReused => return Err(reused(&change, input.name)),
        CreateOutcome::NameTaken => return Err(ApiError::SecretNameTaken { name: input.name }),
        CreateOutcome::LimitReached => {
            return Err(ApiError::SecretLimitReached {
                limit: config.max_secrets_per_org,
            })
        }
    };
    let body = SecretResponse::created(&input.name);
    Ok((json_response(StatusCode::CREATED, &body), outcome))
}

/// At least once is safe only if a redelivery can be recognised: by its Idempotency-Key,
/// which identifies a request only with a subject. A direct create without either is
/// refused before anything is written.
fn require_redelivery_identity(
    ctx: &RequestContext<'_>,
    idempotency_key: Option<&IdempotencyKey>,
) -> Result<(), ApiError> {
    if ctx.principal.actor.subject().is_none() {
        return Err(ApiError::Unauthenticated(
            AuthError::NoSubjectForDirectCreate,
        ));
    }
    if idempotency_key.is_none() {
        return Err(ApiError::Validation(vec![ValidationIssue::header(
            "idempotency-key",
            "Field required: a direct invocation's create must carry one, derived from the \
             upstream event",
            "missing",
        )]));
    }
    Ok(())
}
