//! `cargo bench`: a create through the whole handler (event JSON -> response) with DynamoDB
//! answered in-process, and the pieces: event parse, claims, body validation, encryption.
//!
//! The in-process DynamoDB is an HTTP client that answers every call with `200 {}`, so the
//! SDK still builds, signs and sends the request and parses the reply: only the network is
//! missing. That is what "handler CPU per create" means in docs/benchmarks.md.

use std::hint::black_box;

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use criterion::{criterion_group, criterion_main, Criterion};
use lambda_http::request::LambdaRequest;
use lambda_http::{Request, RequestExt};
use org_secrets::api::body::parse_create_body;
use org_secrets::api::App;
use org_secrets::auth::authenticate;
use org_secrets::config::{Config, TableName};
use org_secrets::domain::SecretValue;
use org_secrets::storage::SecretStore;

const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
const EVENT: &str = include_str!("../events/http-api-jwt-admin-create.json");
const BODY: &[u8] =
    br#"{"secret_name": "stripe_api_key", "secret_value": "sk_test_example_value_123"}"#;

/// Answers every DynamoDB call with an empty JSON object (a successful PutItem).
#[derive(Debug)]
struct InProcessDynamoDb;

impl HttpConnector for InProcessDynamoDb {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let mut response =
            HttpResponse::new(StatusCode::try_from(200).expect("200"), SdkBody::from("{}"));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

fn app() -> App {
    let config = Config::from_lookup(|name| match name {
        "ENCRYPTION_KEY" => Some(KEY.to_owned()),
        "SECRETS_TABLE_NAME" => Some("bench-secrets".to_owned()),
        _ => None,
    })
    .expect("config");
    let http_client = http_client_fn(|_, _| SharedHttpConnector::new(InProcessDynamoDb));
    let sdk = aws_sdk_dynamodb::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
        .http_client(http_client)
        .build();
    let store = SecretStore::new(
        aws_sdk_dynamodb::Client::from_conf(sdk),
        TableName::parse("bench-secrets").expect("table"),
    );
    App::new(config, store)
}

/// What the Lambda does with each event: read the raw JSON, sanitize it, deserialize,
/// sanitize the typed event, convert.
fn parse_event(event: &str) -> Request {
    org_secrets::event::parse_event(event)
        .expect("event")
        .request
}

/// The path before the raw-JSON sanitizer: straight into lambda_http's typed event (which
/// some events make fail or panic), then the typed sanitizer. For the cost comparison only.
fn parse_event_typed_only(event: &str) -> Request {
    let mut event = serde_json::from_str::<LambdaRequest>(event).expect("event");
    org_secrets::event::sanitize(&mut event).expect("sanitized");
    Request::from(event)
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = app();

    // Sanity: the whole path really answers 201, or the numbers mean nothing.
    let status = runtime.block_on(async {
        let request = parse_event(EVENT);
        app.handle(request).await.status()
    });
    assert_eq!(status, 201);

    c.bench_function(
        "create: event JSON -> response (DynamoDB in-process)",
        |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let request = parse_event(black_box(EVENT));
                    black_box(app.handle(request).await)
                })
            })
        },
    );
    c.bench_function(
        "create: raw event text -> Lambda response JSON (what the runtime calls)",
        |b| {
            b.iter(|| {
                runtime
                    .block_on(async { black_box(app.handle_event(black_box(EVENT), None).await) })
            })
        },
    );
    c.bench_function(
        "piece: event parse, typed only (before the raw-JSON sanitizer)",
        |b| b.iter(|| parse_event_typed_only(black_box(EVENT))),
    );
    c.bench_function(
        "piece: event parse (JSON, sanitize, deserialize, convert)",
        |b| b.iter(|| parse_event(black_box(EVENT))),
    );
    let request = parse_event(EVENT);
    let names = &app.config().claim_names;
    c.bench_function("piece: claims -> principal", |b| {
        b.iter(|| authenticate(black_box(request.request_context_ref()), names).expect("principal"))
    });
    c.bench_function("piece: body validation", |b| {
        b.iter(|| parse_create_body(black_box(BODY), 65_536).expect("valid"))
    });
    let cipher = &app.config().cipher;
    let value = SecretValue::parse("sk_test_example_value_123".to_owned(), 1024).expect("value");
    c.bench_function("piece: Fernet encryption (rustcrypto)", |b| {
        b.iter(|| cipher.encrypt(black_box(&value)))
    });
}

criterion_group!(handler, benches);
criterion_main!(handler);
