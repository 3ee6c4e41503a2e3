//! The compiled `bootstrap` run as Lambda runs it: a separate process polling a Lambda
//! Runtime API (a local one, from org-secrets-local), with DynamoDB Local behind it.

mod support;

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
use support::*;

struct LambdaProcess {
    runtime: RuntimeApi,
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
    fn start(label: &str, env: &[(&str, &str)]) -> Self {
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

    fn log(&self) -> String {
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

#[tokio::test]
async fn bootstrap_answers_201_then_409_for_the_same_event() {
    let store = fresh_store().await;
    let endpoint = dynamodb_endpoint();
    let lambda = LambdaProcess::start(
        "create",
        &[
            ("ENCRYPTION_KEY", KEY_A),
            ("SECRETS_TABLE_NAME", store.table().as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
        ],
    );
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
}

/// Every event that used to end in a panic, a process exit or an invocation error gets a
/// response (never an `/error` post) from the one running process, which then serves the
/// next ordinary event. Nothing is written by any of them.
#[tokio::test]
async fn bootstrap_survives_every_hostile_event_and_answers_the_next() {
    let store = fresh_store().await;
    let endpoint = dynamodb_endpoint();
    let lambda = LambdaProcess::start(
        "hostile",
        &[
            ("ENCRYPTION_KEY", KEY_A),
            ("SECRETS_TABLE_NAME", store.table().as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
        ],
    );
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
            let delete = op_event("DELETE", "/from_bad_event", "org_a", "ADMIN", None);
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
    let next = lambda.invoke(&create_event("org_a", "ADMIN", &create_body("after", "v")));
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
                create_event("org_acme", "ADMIN", &create_body(&name, canary)),
                201,
            ),
            (
                create_event("org_acme", "ADMIN", &create_body(&name, canary)),
                409,
            ),
            (
                create_event("org_acme", "ADMIN", &create_body("", canary)),
                422,
            ),
            (
                create_event(
                    "org_acme",
                    "ADMIN",
                    &format!("{{\"secret_name\":\"x\",\"secret_value\":\"{canary}"),
                ),
                422,
            ),
            (
                create_event(
                    "org_acme",
                    "ADMIN",
                    &create_body("too_big", &format!("{canary}{}", "x".repeat(70_000))),
                ),
                422,
            ),
            (
                create_event("org_acme", "READ", &create_body("forbidden", canary)),
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
        let mut encoded = create_event("org_acme", "ADMIN", "");
        encoded["body"] = json!(STANDARD.encode(create_body(&format!("b64_{format}"), canary)));
        encoded["isBase64Encoded"] = json!(true);
        responses.push(lambda.invoke(&encoded));
        // The lifecycle endpoints, with the canary as the new value.
        let update = json!({ "secret_value": format!("{canary}-updated") }).to_string();
        let lifecycle = [
            (
                op_event(
                    "PUT",
                    &format!("/{name}"),
                    "org_acme",
                    "ADMIN",
                    Some(&update),
                ),
                200,
            ),
            (
                op_event("PUT", "/missing", "org_acme", "ADMIN", Some(&update)),
                404,
            ),
            (op_event("GET", "", "org_acme", "READ", None), 200),
            (
                op_event("DELETE", &format!("/{name}"), "org_acme", "ADMIN", None),
                200,
            ),
        ];
        // Adversarial outcomes too (tests/adversarial.rs has the full set in process).
        let mut bad_base64 = create_event("org_acme", "ADMIN", "");
        bad_base64["body"] = json!(format!("%%{canary}%%"));
        bad_base64["isBase64Encoded"] = json!(true);
        let mut form = create_event("org_acme", "ADMIN", &create_body("form", canary));
        form["headers"]["content-type"] = json!("application/x-www-form-urlencoded");
        let mut numeric_org = sample_event("http-api-lambda-authorizer-create.json");
        numeric_org["body"] = json!(create_body("numeric_org", canary));
        numeric_org["requestContext"]["authorizer"]["lambda"]["org_id"] = json!(12345);
        let mut bad_host = create_event(
            "org_acme",
            "ADMIN",
            &create_body(&format!("bad_host_{format}"), canary),
        );
        bad_host["headers"]["host"] = json!("api.example:notaport");
        let lifecycle = lifecycle.into_iter().chain([
            (bad_base64, 422),
            (form, 415),
            (
                create_event(
                    "org_acme",
                    "ADMINISTRATOR",
                    &create_body("near_miss", canary),
                ),
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
        logs.push(lambda.log());
    }

    for (error_type, status) in [
        ("ValidationException", 500),
        ("ProvisionedThroughputExceededException", 503),
    ] {
        let fault = failing_dynamodb(error_type);
        let mut env = vec![
            ("ENCRYPTION_KEY", KEY_A),
            ("SECRETS_TABLE_NAME", "faulty_table"),
            ("AWS_ENDPOINT_URL_DYNAMODB", fault.as_str()),
        ];
        env.extend(trace_env);
        let lambda = LambdaProcess::start("canary-fault", &env);
        let response = lambda.invoke(&create_event(
            "org_acme",
            "ADMIN",
            &create_body("fault", canary),
        ));
        assert_eq!(
            response.status,
            status,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        responses.push(response);
        logs.push(lambda.log());
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
    assert_eq!(audit_lines, 34, "{all_logs}");
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

/// 64 separate Lambda environments (processes) create the same name at once: exactly one
/// wins, and the stored token decrypts to the winner's value.
#[tokio::test]
async fn sixty_four_environments_racing_for_one_name_have_one_winner() {
    let store = fresh_store().await;
    let endpoint = dynamodb_endpoint();
    let env = [
        ("ENCRYPTION_KEY", KEY_A),
        ("SECRETS_TABLE_NAME", store.table().as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
    ];
    let lambdas: Vec<LambdaProcess> = (0..64)
        .map(|_| LambdaProcess::start("race", &env))
        .collect();
    for lambda in &lambdas {
        assert!(
            lambda
                .runtime
                .wait_for_first_poll(Duration::from_secs(60))
                .is_some(),
            "an environment did not finish init:\n{}",
            lambda.log()
        );
    }
    let results: Vec<(String, u16)> = std::thread::scope(|scope| {
        let handles: Vec<_> = lambdas
            .iter()
            .enumerate()
            .map(|(i, lambda)| {
                scope.spawn(move || {
                    let value = format!("environment-{i}");
                    let event =
                        create_event("org_acme", "ADMIN", &create_body("raced_name", &value));
                    (value, lambda.invoke(&event).status)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("invoker thread"))
            .collect()
    });
    let winners: Vec<&String> = results
        .iter()
        .filter(|(_, s)| *s == 201)
        .map(|(v, _)| v)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results.iter().all(|(_, s)| [201, 409].contains(s)),
        "{results:?}"
    );
    let item = stored_item(&store, "org_acme", "raced_name").await.unwrap();
    let stored = org_secrets::crypto::Cipher::from_key_list(KEY_A)
        .unwrap()
        .decrypt(&org_secrets::crypto::EncryptedValue::from_stored(
            attr(&item, "encrypted_value").to_owned(),
        ))
        .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(stored.expose_secret(), winners[0].as_str());
}
