//! Direct invocations (event-driven provisioning) as Lambda delivers them, and the Python
//! reader recipe as a consumer runs it: helpers more than one module of tests uses.

use std::process::Command;

use lambda_http::lambda_runtime::Context;
use org_secrets::api::{App, InvocationError};
use org_secrets::domain::{Actor, IdempotencyKey, OrgId, RequestId};
use org_secrets::storage::{Change, SecretStore};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{lambda_answer, local_aws_env, python, sample_event, unique_request_id, Answer};

/// One delivery of `event`, with a Lambda request id of its own, as Lambda gives every
/// invocation (and every retry or redelivery) a new one.
pub async fn deliver(app: &App, event: &Value) -> Result<Answer, InvocationError> {
    let mut context = Context::default();
    context.request_id = unique_request_id();
    app.handle_event(&event.to_string(), Some(context))
        .await
        .map(|response| lambda_answer(&response))
}

/// `event` delivered again while it ends in `storage_unavailable`, as the provisioning
/// workflow's retry policy does (docs/api.md, "Provisioning"), a bounded number of times.
pub async fn deliver_with_retries(app: &App, event: &Value) -> Result<Answer, InvocationError> {
    let mut outcome = deliver(app, event).await;
    for _ in 0..super::test_app::RESENDS_ON_503 {
        match &outcome {
            Err(err) if err.error_type == "storage_unavailable" => {
                outcome = deliver(app, event).await
            }
            _ => break,
        }
    }
    outcome
}

/// A direct invocation (the provisioning principal, subject `provisioning:org-onboarding`)
/// of `method` on `/v1/organizations/secrets` + `suffix`, carrying `request_id` as its
/// `requestContext.requestId`.
pub fn direct(method: &str, suffix: &str, body: Option<&str>, request_id: &str) -> Value {
    let mut event = sample_event("provisioning-update.json");
    let path = format!("/v1/organizations/secrets{suffix}");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["requestId"] = json!(request_id);
    event["routeKey"] = json!(format!("{method} {path}"));
    match body {
        Some(body) => event["body"] = json!(body),
        None => {
            event.as_object_mut().unwrap().remove("body");
        }
    }
    event
}

/// Runs the Python reader's command line (`python -m org_secrets_reader`, the package in
/// `python/`) against the table: `Ok(SHA-256 hex of the value)` or `Err(its refusal)`;
/// `canary` appears in neither.
pub fn python_reader(
    store: &SecretStore,
    keys: &str,
    (org, name): (&str, &str),
    canary: &str,
) -> Result<String, String> {
    let output = Command::new(python())
        .args(["-m", "org_secrets_reader", "--sha256"])
        .args([org, name])
        .env("ENCRYPTION_KEY", keys)
        .env("SECRETS_TABLE_NAME", store.table().as_str())
        .envs(local_aws_env())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("run the Python reader");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert!(!stdout.contains(canary) && !stderr.contains(canary));
    match output.status.code() {
        Some(0) => Ok(stdout),
        Some(1) => Err(stderr),
        other => panic!("the Python reader crashed ({other:?}): {stderr}"),
    }
}

pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Where the change record of a request in `org` by `actor` (its subject; `None`: none),
/// identified by `key` (for an actor with a subject) or else `request_id`, is kept.
pub fn record_slot(
    app: &App,
    org: &str,
    actor: Option<&str>,
    request_id: &str,
    key: Option<&str>,
) -> (String, String) {
    let org = OrgId::parse(org).unwrap();
    let actor = actor.map_or_else(Actor::unknown, |a| Actor::parse(a).unwrap());
    let request_id = RequestId::parse(request_id).unwrap();
    let key = key.map(|k| IdempotencyKey::parse(k).unwrap());
    Change {
        org_id: &org,
        actor: &actor,
        request_id: &request_id,
        idempotency_key: key.as_ref(),
        cipher: &app.config().cipher,
        history: app.config().history_retention,
    }
    .record_key()
}
