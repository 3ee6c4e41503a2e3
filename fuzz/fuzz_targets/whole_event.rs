//! Any text as an invocation event, through the whole path the Lambda takes
//! (`App::handle_event`: read, sanitize, convert, authenticate, validate, store), with
//! DynamoDB answered in-process. A Lambda response must always come back: no panic, and a
//! status code API Gateway accepts.
#![no_main]

use std::sync::OnceLock;

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use libfuzzer_sys::fuzz_target;
use org_secrets::api::App;
use org_secrets::config::{Config, TableName};
use org_secrets::storage::SecretStore;

/// Answers every DynamoDB call with `200 {}`: a successful write, an empty read.
#[derive(Debug)]
struct EmptyReplies;

impl HttpConnector for EmptyReplies {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let mut response = HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from("{}"));
        response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

fn app() -> &'static (App, tokio::runtime::Runtime) {
    static APP: OnceLock<(App, tokio::runtime::Runtime)> = OnceLock::new();
    APP.get_or_init(|| {
        let config = Config::from_lookup(|name| match name {
            "ENCRYPTION_KEY" => Some("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=".to_owned()),
            "SECRETS_TABLE_NAME" => Some("fuzz-secrets".to_owned()),
            _ => None,
        })
        .unwrap();
        let sdk = aws_sdk_dynamodb::Config::builder()
            .behavior_version_latest()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("fuzz", "fuzz", None, None, "fuzz"))
            .http_client(http_client_fn(|_, _| SharedHttpConnector::new(EmptyReplies)))
            .build();
        let store = SecretStore::new(
            aws_sdk_dynamodb::Client::from_conf(sdk),
            TableName::parse("fuzz-secrets").unwrap(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        (App::new(config, store), runtime)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (app, runtime) = app();
    let response = match runtime.block_on(app.handle_event(text, None)) {
        Ok(response) => response,
        Err(err) => {
            // Only a direct invocation ends in an error, named by a code.
            let marked = serde_json::from_str::<serde_json::Value>(text)
                .is_ok_and(|event| event.get("directInvocation").is_some());
            assert!(marked, "invocation error for a gateway event");
            assert!(err.error_type.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            return;
        }
    };
    let status = response["statusCode"].as_u64().expect("every event gets a status code");
    assert!((200..600).contains(&status), "status {status}");
    assert!(response["body"].is_string(), "every response has a body");
});
