//! The compiled `bootstrap` run as Lambda runs it: a separate process polling a Lambda
//! Runtime API (a local one, from org-secrets-local), with DynamoDB Local behind it. Only
//! what the binary alone can show: init and its configuration errors, a request of each
//! caller kind (API Gateway, direct invocation), invocation errors as the runtime sends
//! them, the TRACE log canary, and hostile events answered by the one running process.
//! The stories behind each answer are the handler tests'.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use org_secrets_local::gateway::http_response_from_lambda;
use org_secrets_local::http::HttpResponse;
use org_secrets_local::runtime_api::{Invocation, RuntimeApi};
use serde_json::{json, Value};

use crate::support::*;

/// A compiled `bootstrap` behind its own local Runtime API (also the change-event
/// publisher's, in `publisher.rs`).
pub(crate) struct LambdaProcess {
    pub(crate) runtime: RuntimeApi,
    child: Child,
    log_path: PathBuf,
}

fn log_file_path(label: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "org-secrets-{label}-{}-{}.log",
        std::process::id(),
        unique_request_id()
    ))
}

impl LambdaProcess {
    pub(crate) fn start(label: &str, env: &[(&str, &str)]) -> Self {
        let runtime = RuntimeApi::start().expect("runtime API");
        let log_path = log_file_path(label);
        let log = File::create(&log_path).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .env_clear()
            .envs(runtime.lambda_environment())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start bootstrap");
        Self {
            runtime,
            child,
            log_path,
        }
    }

    fn invoke(&self, event: &Value) -> HttpResponse {
        match self
            .runtime
            .invoke(event.to_string().as_bytes(), Duration::from_secs(20))
        {
            Ok(Invocation::Response(payload)) => http_response_from_lambda(&payload),
            other => panic!("invocation failed: {other:?}; log:\n{}", self.log()),
        }
    }

    /// A direct invocation's outcome: the response, or the invocation error's payload
    /// (`errorType`, `errorMessage`).
    fn invoke_direct(&self, event: &Value) -> Result<HttpResponse, Value> {
        self.invoke_raw(&event.to_string())
    }

    /// As [`LambdaProcess::invoke_direct`], from raw payload text.
    fn invoke_raw(&self, payload: &str) -> Result<HttpResponse, Value> {
        match self
            .runtime
            .invoke(payload.as_bytes(), Duration::from_secs(20))
        {
            Ok(Invocation::Response(payload)) => Ok(http_response_from_lambda(&payload)),
            Ok(Invocation::Error(payload)) => {
                Err(serde_json::from_slice(&payload).expect("error payload is JSON"))
            }
            other => panic!("invocation failed: {other:?}; log:\n{}", self.log()),
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

fn body_json(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

fn header<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The compiled function: a create, the same create as a new request (409), a REST create,
/// then describe, the deleted list and the history of what it created.
#[tokio::test]
async fn bootstrap_answers_201_then_409_for_the_same_event() {
    let store = fresh_store().await;
    let endpoint = dynamodb_endpoint();
    let lambda = local_lambda("create", store.table().as_str(), &endpoint, &[]);
    let event = sample_event("http-api-jwt-admin-create.json");
    let first = lambda.invoke(&event);
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(header(&first, "content-type"), Some("application/json"));
    assert_eq!(header(&first, "cache-control"), Some("no-store"));
    assert_eq!(body_json(&first)["created"], true);

    // The same event, but a new API Gateway request: the name is taken.
    let mut again = event.clone();
    again["requestContext"]["requestId"] = json!("another-request");
    let second = lambda.invoke(&again);
    assert_eq!(
        second.status,
        409,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    assert_eq!(body_json(&second)["error"]["code"], "secret_name_taken");
    assert!(stored_item(&store, "org_acme", "stripe_api_key")
        .await
        .is_some());

    // A REST API event through the same process gets a REST-shaped answer.
    let rest = sample_event("rest-lambda-authorizer-create.json");
    let mut rest = rest;
    rest["body"] = json!(create_body("rest_secret", "v"));
    assert_eq!(lambda.invoke(&rest).status, 201);

    // Describe, the deleted list and the history, as their sample events ask.
    let described = lambda.invoke(&sample_event("http-api-jwt-describe.json"));
    assert_eq!(described.status, 200);
    assert_eq!(body_json(&described)["version"], 1);
    let deleted = lambda.invoke(&sample_event("http-api-jwt-list-deleted.json"));
    assert_eq!(deleted.status, 200);
    assert_eq!(body_json(&deleted)["count"], 0);
    let history = lambda.invoke(&sample_event("http-api-jwt-history.json"));
    assert_eq!(history.status, 200);
    let changes = &body_json(&history)["changes"];
    assert_eq!(changes[0]["operation"], "create");
    assert_eq!(changes[0]["version"], 1);
    assert_eq!(changes.as_array().map(Vec::len), Some(1));
}

/// Every hostile event (`support::hostile`: events that would otherwise end in a panic, a
/// process exit or an invocation error) gets a response (never an `/error` post) from the one running process, which then serves the
/// next ordinary event. Nothing is written by any of them.
#[tokio::test]
async fn bootstrap_survives_every_hostile_event_and_answers_the_next() {
    let store = fresh_store().await;
    let endpoint = dynamodb_endpoint();
    let lambda = local_lambda("hostile", store.table().as_str(), &endpoint, &[]);
    for (label, raw, status, code) in hostile::hostile_events() {
        let payload = match lambda
            .runtime
            .invoke(raw.as_bytes(), Duration::from_secs(20))
        {
            Ok(Invocation::Response(payload)) => payload,
            other => panic!("{label}: not a response: {other:?}; log:\n{}", lambda.log()),
        };
        let answer = lambda_answer(&serde_json::from_slice(&payload).expect("response JSON"));
        assert_eq!(answer.status, status, "{label}: {}", answer.text);
        if !code.is_empty() {
            assert_eq!(hostile::error_code(&answer), code, "{label}");
        }
        if status == 201 {
            let delete = admin("org_a").delete_event("from_bad_event");
            assert_eq!(lambda.invoke(&delete).status, 200, "{label}");
        }
    }
    assert_eq!(item_count(&store).await, 0);
    let mut lambda = lambda;
    assert!(
        lambda.child.try_wait().expect("child status").is_none(),
        "the process exited; log:\n{}",
        lambda.log()
    );
    let next = lambda.invoke(&admin("org_a").create_event(&create_body("after", "v")));
    assert_eq!(next.status, 201, "{}", String::from_utf8_lossy(&next.body));
    assert!(!lambda.log().contains("panicked"), "{}", lambda.log());
}

#[test]
fn bad_configuration_stops_init_naming_the_variable_not_the_value() {
    let canary = "CANARY-bad-key-7f3a";
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[
                ("ENCRYPTION_KEY", canary),
                ("SECRETS_TABLE_NAME", "t_secrets"),
            ],
            "ENCRYPTION_KEY",
        ),
        (&[("SECRETS_TABLE_NAME", "t_secrets")], "ENCRYPTION_KEY"),
        (&[("ENCRYPTION_KEY", KEY_A)], "SECRETS_TABLE_NAME"),
    ];
    for (env, variable) in cases {
        let mut lambda = LambdaProcess::start("init", env);
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = lambda.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "bootstrap did not stop at init");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(!status.success());
        let log = lambda.log();
        assert!(log.contains(variable), "log should name {variable}: {log}");
        assert!(!log.contains(canary), "log leaked the value: {log}");
    }
}

/// Acceptance: a canary value sent through 201, 409, 422, 403, update, list, delete and
/// DynamoDB failures, with every log level at TRACE, appears in no response and no log line.
#[tokio::test]
async fn canary_never_appears_in_responses_or_trace_logs() {
    let canary = "CANARY-9d8c7b6a5f4e";
    let canary_b64 = STANDARD.encode(canary);
    let trace_env = [("RUST_LOG", "trace"), ("AWS_LAMBDA_LOG_LEVEL", "TRACE")];
    let store = fresh_store().await;
    let endpoint = dynamodb_endpoint();
    let mut responses: Vec<HttpResponse> = Vec::new();
    let mut error_payloads: Vec<Value> = Vec::new();
    let mut logs = Vec::new();

    for format in ["JSON", "Text"] {
        let mut env = vec![
            ("ENCRYPTION_KEY", KEY_A),
            ("SECRETS_TABLE_NAME", store.table().as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
            ("AWS_LAMBDA_LOG_FORMAT", format),
        ];
        env.extend(trace_env);
        let lambda = LambdaProcess::start("canary", &env);
        let name = format!("canary_{format}");
        let cases = [
            (
                admin("org_acme").create_event(&create_body(&name, canary)),
                201,
            ),
            (
                admin("org_acme").create_event(&create_body(&name, canary)),
                409,
            ),
            (
                admin("org_acme").create_event(&create_body("", canary)),
                422,
            ),
            (
                admin("org_acme").create_event(&format!(
                    "{{\"secret_name\":\"x\",\"secret_value\":\"{canary}"
                )),
                422,
            ),
            (
                admin("org_acme").create_event(&create_body(
                    "too_big",
                    &format!("{canary}{}", "x".repeat(70_000)),
                )),
                422,
            ),
            (
                reader("org_acme").create_event(&create_body("forbidden", canary)),
                403,
            ),
        ];
        for (event, status) in cases {
            let response = lambda.invoke(&event);
            assert_eq!(
                response.status,
                status,
                "{format}: {}",
                String::from_utf8_lossy(&response.body)
            );
            responses.push(response);
        }
        // The base64-encoded body form too.
        let mut encoded = admin("org_acme").create_event("");
        encoded["body"] = json!(STANDARD.encode(create_body(&format!("b64_{format}"), canary)));
        encoded["isBase64Encoded"] = json!(true);
        responses.push(lambda.invoke(&encoded));
        // The lifecycle endpoints, with the canary as the new value.
        let update = json!({ "secret_value": format!("{canary}-updated") }).to_string();
        let lifecycle = [
            (
                admin("org_acme").event("PUT", &format!("/{name}"), Some(&update)),
                200,
            ),
            (admin("org_acme").update_event("missing", &update), 404),
            (reader("org_acme").list_event(), 200),
            (
                admin("org_acme").event("DELETE", &format!("/{name}"), None),
                200,
            ),
            // Restore moves the canary's tokens between items: still never in a log.
            (admin("org_acme").restore_event(&name, None), 200),
            (admin("org_acme").restore_event(&name, None), 404),
            (
                admin("org_acme").restore_event(&name, Some("previous")),
                200,
            ),
            (admin("org_acme").restore_event(&name, Some(canary)), 422),
            // Describe reads the items that hold the canary's tokens, and shows none.
            (
                reader("org_acme").event("GET", &format!("/{name}"), None),
                200,
            ),
        ];
        // Adversarial outcomes too (the adversarial module has the full set in process).
        let mut bad_base64 = admin("org_acme").create_event("");
        bad_base64["body"] = json!(format!("%%{canary}%%"));
        bad_base64["isBase64Encoded"] = json!(true);
        let mut form = admin("org_acme").create_event(&create_body("form", canary));
        form["headers"]["content-type"] = json!("application/x-www-form-urlencoded");
        let mut numeric_org = sample_event("http-api-lambda-authorizer-create.json");
        numeric_org["body"] = json!(create_body("numeric_org", canary));
        numeric_org["requestContext"]["authorizer"]["lambda"]["org_id"] = json!(12345);
        let mut bad_host =
            admin("org_acme").create_event(&create_body(&format!("bad_host_{format}"), canary));
        bad_host["headers"]["host"] = json!("api.example:notaport");
        let lifecycle = lifecycle.into_iter().chain([
            (bad_base64, 422),
            (form, 415),
            (
                caller("org_acme", "ADMINISTRATOR").create_event(&create_body("near_miss", canary)),
                403,
            ),
            (numeric_org, 401),
            (bad_host, 201),
        ]);
        for (event, status) in lifecycle {
            let response = lambda.invoke(&event);
            assert_eq!(
                response.status,
                status,
                "{format}: {}",
                String::from_utf8_lossy(&response.body)
            );
            responses.push(response);
        }
        // Direct invocations (provisioning): success is a response, anything else an
        // invocation error; neither may carry the value.
        let direct = |permissions: &str, key: &str, body: String| {
            let mut event = sample_event("provisioning-create.json");
            event["body"] = json!(body);
            event["headers"]["idempotency-key"] = json!(format!("canary-{format}-{key}"));
            event["requestContext"]["authorizer"]["lambda"]["permissions"] = json!([permissions]);
            event
        };
        let direct_name = format!("direct_{format}");
        let direct_cases = [
            (
                direct("ADMIN", "1", create_body(&direct_name, canary)),
                None,
            ),
            (
                direct("ADMIN", "1", create_body(&direct_name, canary)),
                None,
            ),
            (
                direct("ADMIN", "2", create_body(&direct_name, canary)),
                Some("secret_name_taken"),
            ),
            (
                direct(
                    "ADMIN",
                    "1",
                    create_body(&direct_name, &format!("{canary}-2")),
                ),
                Some("idempotency_key_reused"),
            ),
            (
                direct("READ", "3", create_body("direct_reader", canary)),
                Some("insufficient_permissions"),
            ),
            (
                direct(
                    "ADMIN",
                    "4",
                    format!("{{\"secret_name\":\"x\",\"secret_value\":\"{canary}"),
                ),
                Some("validation_error"),
            ),
        ];
        for (event, expected_error) in direct_cases {
            match (lambda.invoke_direct(&event), expected_error) {
                (Ok(response), None) => {
                    assert_eq!(response.status, 201, "{format}");
                    responses.push(response);
                }
                (Err(error), Some(code)) => {
                    assert_eq!(error["errorType"], code, "{format}");
                    error_payloads.push(error);
                }
                (other, expected) => panic!("{format}: {expected:?} expected, got {other:?}"),
            }
        }
        logs.push(lambda.log());
    }

    for (error_type, status) in [
        ("ValidationException", 500),
        ("ProvisionedThroughputExceededException", 503),
    ] {
        let fault = FaultyDynamoDb::always(Fault::Error(error_type)).serve();
        let mut env = vec![
            ("ENCRYPTION_KEY", KEY_A),
            ("SECRETS_TABLE_NAME", "faulty_table"),
            ("AWS_ENDPOINT_URL_DYNAMODB", fault.as_str()),
        ];
        env.extend(trace_env);
        let lambda = LambdaProcess::start("canary-fault", &env);
        let response =
            lambda.invoke(&admin("org_acme").create_event(&create_body("fault", canary)));
        assert_eq!(
            response.status,
            status,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        responses.push(response);
        let mut direct = sample_event("provisioning-create.json");
        direct["body"] = json!(create_body("fault", canary));
        let error = lambda.invoke_direct(&direct).expect_err("store fault");
        let code = if status == 503 {
            "storage_unavailable"
        } else {
            "internal_error"
        };
        assert_eq!(error["errorType"], code);
        error_payloads.push(error);
        logs.push(lambda.log());
    }

    assert_eq!(error_payloads.len(), 10);
    for error in &error_payloads {
        let text = error.to_string();
        assert!(
            !text.contains(canary) && !text.contains(&canary_b64),
            "invocation error leaked: {text}"
        );
    }

    for response in &responses {
        let body = String::from_utf8_lossy(&response.body);
        assert!(
            !body.contains(canary) && !body.contains(&canary_b64),
            "response leaked: {body}"
        );
        for (name, value) in &response.headers {
            assert!(!value.contains(canary), "header {name} leaked");
        }
    }
    let all_logs = logs.join("\n");
    // The logs are real: TRACE from our crate and one audit line per request are there.
    assert!(
        all_logs.contains("routing request"),
        "TRACE logging is not on:\n{all_logs}"
    );
    let audit_lines = all_logs
        .lines()
        .filter(|line| line.contains("org_secrets::audit"))
        .count();
    assert_eq!(audit_lines, 58, "{all_logs}");
    // The DynamoDB failures are diagnosable from the log: the error code and request id.
    assert!(all_logs.contains("ValidationException"), "{all_logs}");
    assert!(
        all_logs.contains("ProvisionedThroughputExceededException"),
        "{all_logs}"
    );
    assert!(!all_logs.contains(canary), "a log line leaked the canary");
    assert!(
        !all_logs.contains(&canary_b64),
        "a log line leaked the base64 canary"
    );
}

fn local_lambda(label: &str, table: &str, endpoint: &str, extra: &[(&str, &str)]) -> LambdaProcess {
    let mut env = vec![
        ("ENCRYPTION_KEY", KEY_A),
        ("SECRETS_TABLE_NAME", table),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
    ];
    // A later entry for the same variable wins (Command::envs).
    env.extend_from_slice(extra);
    LambdaProcess::start(label, &env)
}

fn with_body_value(mut event: Value, name: &str, value: &str) -> Value {
    event["body"] = json!(create_body(name, value));
    event
}

/// A direct invocation that does not succeed ends in an invocation error named by the error
/// code, with the envelope's message; the same request through API Gateway keeps its HTTP
/// answer. One row per kind of failure.
#[tokio::test]
async fn direct_invocation_failures_are_errors_named_by_their_code() {
    let store = fresh_store().await;
    let endpoint = dynamodb_endpoint();
    let table = store.table().as_str().to_owned();
    let lambda = local_lambda(
        "direct-errors",
        &table,
        &endpoint,
        &[("MAX_SECRETS_PER_ORG", "2")],
    );
    let provisioning = sample_event("provisioning-create.json");
    let update = sample_event("provisioning-update.json");
    let created = lambda.invoke_direct(&provisioning).expect("first create");
    assert_eq!(created.status, 201);

    let mut taken = with_body_value(provisioning.clone(), "webhook_signing_secret", "other");
    taken["headers"]["idempotency-key"] = json!("another-upstream-event");
    let mut key_reused = provisioning.clone();
    key_reused["body"] = json!(create_body("webhook_signing_secret", "a different value"));
    let mut reader = with_body_value(provisioning.clone(), "read_only", "v");
    reader["requestContext"]["authorizer"]["lambda"]["permissions"] = json!(["READ"]);
    let anonymous = without_authorizer(with_body_value(provisioning.clone(), "anonymous", "v"));
    let mut invalid = provisioning.clone();
    invalid["body"] = json!(r#"{"secret_name": "x"}"#);
    let mut missing = update.clone();
    missing["rawPath"] = json!("/v1/organizations/secrets/missing");
    missing["requestContext"]["http"]["path"] = json!("/v1/organizations/secrets/missing");
    let mut bad_key = provisioning.clone();
    bad_key["headers"]["idempotency-key"] = json!("");
    let mut form = provisioning.clone();
    form["headers"]["content-type"] = json!("text/plain");
    let mut wrong_route = provisioning.clone();
    wrong_route["rawPath"] = json!("/v1/organizations");
    wrong_route["requestContext"]["http"]["path"] = json!("/v1/organizations");
    let mut wrong_method = provisioning.clone();
    wrong_method["requestContext"]["http"]["method"] = json!("PATCH");
    let second = with_body_value(provisioning.clone(), "second_secret", "v");
    let mut over_limit = with_body_value(provisioning.clone(), "third_secret", "v");
    over_limit["headers"]["idempotency-key"] = json!("third");
    let mut second_keyed = second.clone();
    second_keyed["headers"]["idempotency-key"] = json!("second");
    assert_eq!(
        lambda.invoke_direct(&second_keyed).expect("second").status,
        201
    );

    let cases = [
        (taken, "secret_name_taken", 409),
        (key_reused, "idempotency_key_reused", 409),
        (reader, "insufficient_permissions", 403),
        (anonymous, "not_authenticated", 401),
        (invalid, "validation_error", 422),
        (missing, "secret_not_found", 404),
        (bad_key, "validation_error", 422),
        (form, "unsupported_media_type", 415),
        (wrong_route, "route_not_found", 404),
        (wrong_method, "method_not_allowed", 405),
        (over_limit, "secret_limit_reached", 400),
    ];
    for (direct, code, status) in cases {
        let error = lambda
            .invoke_direct(&direct)
            .expect_err(&format!("{code}: a direct invocation must fail"));
        assert_eq!(error["errorType"], code, "{error}");
        // The same request as API Gateway delivers it: the published HTTP answer, whose
        // message is the invocation error's.
        let mut gateway = direct.clone();
        gateway.as_object_mut().unwrap().remove("directInvocation");
        let answer = lambda
            .invoke_direct(&gateway)
            .expect("a gateway event gets a response");
        assert_eq!(answer.status, status, "{code}");
        let body = body_json(&answer);
        if status == 422 {
            let first_problem = body["detail"][0]["msg"].as_str().unwrap();
            let message = error["errorMessage"].as_str().unwrap();
            assert!(
                message.starts_with("Request validation failed: "),
                "{message}"
            );
            assert!(message.contains(first_problem), "{message}");
        } else {
            assert_eq!(body["error"]["code"], code);
            assert_eq!(error["errorMessage"], body["error"]["message"], "{code}");
        }
    }
    // Events a direct caller got wrong are its errors too, never a response it might
    // mistake for success.
    let mut not_true = provisioning.clone();
    not_true["directInvocation"] = json!("yes");
    let mut rest_shaped = sample_event("rest-lambda-authorizer-create.json");
    rest_shaped["directInvocation"] = json!(true);
    for event in [not_true, rest_shaped] {
        let error = lambda
            .invoke_direct(&event)
            .expect_err("malformed direct event");
        assert_eq!(error["errorType"], "malformed_event", "{error}");
    }
    // The audit lines say who called: both malformed direct events are recorded as direct.
    let log = lambda.log();
    let malformed_direct = log
        .lines()
        .filter(|line| line.contains("org_secrets::audit") && line.contains("not a usable"))
        .filter(|line| line.contains("caller=\"direct\""))
        .count();
    assert_eq!(malformed_direct, 2, "{log}");
    // A direct create must be recognisable when it is delivered again: without an
    // Idempotency-Key, or without a subject (the key is stored only with one), it is
    // refused before anything is written. Through API Gateway both are ordinary creates.
    let mut keyless = with_body_value(provisioning.clone(), "keyless", "v");
    keyless["headers"]
        .as_object_mut()
        .unwrap()
        .remove("idempotency-key");
    let mut subjectless = with_body_value(provisioning.clone(), "subjectless", "v");
    subjectless["requestContext"]["authorizer"]["lambda"]
        .as_object_mut()
        .unwrap()
        .remove("sub");
    for (event, code) in [
        (keyless, "validation_error"),
        (subjectless, "not_authenticated"),
    ] {
        let error = lambda
            .invoke_direct(&event)
            .expect_err("an unrecognisable direct create");
        assert_eq!(error["errorType"], code, "{error}");
    }
    // Nothing above wrote anything.
    assert_eq!(item_count(&store).await, 2);

    // A busy or unreachable store: `storage_unavailable`, the one type worth retrying; API
    // Gateway still gets its 503.
    // Port 1: below the ephemeral range, so no listener another test binds on port 0 can
    // take it (a port bound and released here could be, and answer with an error of its
    // own: every suite shares this process).
    let closed_port = "http://127.0.0.1:1".to_owned();
    for unavailable in [
        FaultyDynamoDb::always(Fault::Error("ProvisionedThroughputExceededException")).serve(),
        closed_port,
    ] {
        let lambda = local_lambda("direct-unavailable", &table, &unavailable, &[]);
        let error = lambda
            .invoke_direct(&provisioning)
            .expect_err("storage unavailable");
        assert_eq!(error["errorType"], "storage_unavailable", "{error}");
        assert_eq!(
            error["errorMessage"],
            "The secrets store is temporarily unavailable; retry later"
        );
        let mut gateway = provisioning.clone();
        gateway.as_object_mut().unwrap().remove("directInvocation");
        let answer = lambda.invoke_direct(&gateway).expect("gateway response");
        assert_eq!(answer.status, 503);
        assert_eq!(header(&answer, "retry-after"), Some("1"));
        let log = lambda.log();
        assert!(
            log.contains("caller=\"direct\"") && log.contains("caller=\"gateway\""),
            "{log}"
        );
    }
}

/// A payload that is not a JSON object cannot come from API Gateway or an ALB, which always
/// send one, so whoever sent it invoked the function directly: an invocation error
/// `malformed_event` (not a 400 response, which Lambda would count as a success),
/// marker or not. An object is API Gateway's unless it has the marker, even when it is too
/// deep to read. A direct event must say `"version": "2.0"` (anything else is
/// refused). Nothing is written, no answer or log line quotes the payload, and the process
/// serves the next event.
#[tokio::test]
async fn payloads_that_are_not_objects_and_direct_events_not_2_0_are_invocation_errors() {
    const CANARY: &str = "CANARY-payload-3c2b";
    let store = fresh_store().await;
    let endpoint = dynamodb_endpoint();
    let lambda = local_lambda("not-objects", store.table().as_str(), &endpoint, &[]);
    let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let deep_object = |marker: &str| {
        format!(
            r#"{{{marker}"version": "2.0", "note": "{CANARY}", "x": {}}}"#,
            nested(100_000)
        )
    };
    // (label, payload, Err(errorType) or Ok(status))
    let mut cases: Vec<(&str, String, Result<u16, &str>)> = vec![
        ("an empty list", "[]".to_owned(), Err("malformed_event")),
        ("a list", "[1, 2]".to_owned(), Err("malformed_event")),
        (
            "a list holding an event",
            json!([sample_event("provisioning-create.json")]).to_string(),
            Err("malformed_event"),
        ),
        ("null", "null".to_owned(), Err("malformed_event")),
        ("a number", "7".to_owned(), Err("malformed_event")),
        (
            "a negative number",
            "-1.5".to_owned(),
            Err("malformed_event"),
        ),
        (
            "a string",
            json!(CANARY).to_string(),
            Err("malformed_event"),
        ),
        ("true", "true".to_owned(), Err("malformed_event")),
        ("false", "false".to_owned(), Err("malformed_event")),
        (
            "a list nested 100,000 deep",
            nested(100_000),
            Err("malformed_event"),
        ),
        (
            "a marked object nested 100,000 deep",
            deep_object(r#""directInvocation": true, "#),
            Err("malformed_event"),
        ),
        (
            "a marked object with a lone surrogate",
            format!(r#"{{"directInvocation": true, "version": "2.0", "body": "\ud800{CANARY}"}}"#),
            Err("malformed_event"),
        ),
        // Objects without the marker are answered as API Gateway's, as before.
        ("an empty object", "{}".to_owned(), Ok(400)),
        (
            "an unmarked object nested 100,000 deep",
            deep_object(""),
            Ok(400),
        ),
    ];
    // A direct event must say version "2.0"; without the marker the field is not checked.
    let direct = |version: Option<Value>| {
        let mut event = sample_event("provisioning-create.json");
        event["headers"]["idempotency-key"] = json!(unique_request_id());
        event["body"] = json!(create_body("versioned", CANARY));
        match version {
            Some(version) => event["version"] = version,
            None => {
                event.as_object_mut().unwrap().remove("version");
            }
        }
        event.to_string()
    };
    for (label, version) in [
        ("version missing", None),
        ("version 1.0", Some(json!("1.0"))),
        ("version 2 (a number)", Some(json!(2))),
        ("version \"2.0 \"", Some(json!("2.0 "))),
        ("version null", Some(Value::Null)),
    ] {
        cases.push((label, direct(version), Err("malformed_event")));
    }
    for (label, payload, expected) in cases {
        let outcome = lambda.invoke_raw(&payload);
        match (&outcome, expected) {
            (Err(error), Err(code)) => {
                assert_eq!(error["errorType"], code, "{label}: {error}");
                assert!(!error.to_string().contains(CANARY), "{label}: {error}");
            }
            (Ok(response), Ok(status)) => {
                assert_eq!(response.status, status, "{label}");
                assert_eq!(body_json(response)["error"]["code"], "malformed_event");
                assert!(!String::from_utf8_lossy(&response.body).contains(CANARY));
            }
            _ => panic!("{label}: {expected:?} expected, got {outcome:?}"),
        }
    }
    assert_eq!(item_count(&store).await, 0);
    // The same event saying "2.0" is served; the process survived every payload above.
    let served = lambda
        .invoke_raw(&direct(Some(json!("2.0"))))
        .expect("a 2.0 direct event");
    assert_eq!(served.status, 201);
    let log = lambda.log();
    assert!(
        !log.contains(CANARY),
        "a log line quoted the payload:\n{log}"
    );
    let malformed_direct = log
        .lines()
        .filter(|line| line.contains("org_secrets::audit") && line.contains("not a usable"))
        .filter(|line| line.contains("caller=\"direct\""))
        .count();
    assert_eq!(malformed_direct, 17, "{log}");
}

/// `sam local invoke` without `--env-vars` passes every variable the template declares, so
/// AWS_ENDPOINT_URL_DYNAMODB arrives blank; the SDK would take "" for the endpoint and abort
/// the process at the first call. Blank counts as unset: the general AWS_ENDPOINT_URL (here
/// DynamoDB Local) applies, and without it the regional endpoint (unreachable here: 503).
#[tokio::test]
async fn a_blank_endpoint_variable_counts_as_unset() {
    let store = fresh_store().await;
    let endpoint = dynamodb_endpoint();
    let table = store.table().as_str().to_owned();
    let event = admin("org_acme").create_event(&create_body("blank_endpoint", "v"));
    let cases: [(&[(&str, &str)], u16); 3] = [
        (&[("AWS_ENDPOINT_URL", endpoint.as_str())], 201),
        (&[("AWS_ENDPOINT_URL", " ")], 503),
        (&[], 503),
    ];
    for (extra, status) in cases {
        let mut env = vec![("AWS_ENDPOINT_URL_DYNAMODB", "")];
        env.extend_from_slice(extra);
        let lambda = local_lambda("blank-endpoint", &table, "", &env);
        let mut event = event.clone();
        event["requestContext"]["requestId"] = json!(unique_request_id());
        let response = lambda.invoke(&event);
        assert_eq!(response.status, status, "{extra:?}: {}", lambda.log());
    }
}
