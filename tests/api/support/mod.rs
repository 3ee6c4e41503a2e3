//! Shared test helpers. Storage tests run against a real DynamoDB Local: the one `make test`
//! starts, or one this test binary starts for itself (see `services`). Each test gets a
//! table of its own, so tests run in parallel.

mod direct;
mod faults;
pub mod hostile;
pub mod reader;
pub mod recovery;
pub mod seals;
mod services;
pub mod shapes;
mod test_app;
mod yaml;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::api::App;
use org_secrets::config::{Config, TableName};
use org_secrets::storage::{SecretStore, StoreSettings};
use serde_json::Value;

pub use direct::{deliver, deliver_with_retries, direct, python_reader, record_slot, sha256_hex};
pub use faults::{Fault, FaultyDynamoDb};
pub use services::{dynamodb_endpoint, local_aws_env, python};
pub use test_app::{admin, caller, reader, Identity, TestApp};
pub use yaml::{assert_declared, declared, openapi, schema_properties, yaml_file};

/// The subject of the JWT sample event every `admin(..)` or `caller(..)` event carries.
pub const JWT_SUBJECT: &str = "alice@acme.example";

/// Every answer of the service is JSON and never cached.
pub fn assert_common_headers(answer: &Answer) {
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["cache-control"], "no-store");
}

/// The Fernet spec's own key, and a second one for rotation tests.
pub const KEY_A: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
pub const KEY_B: &str = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=";

/// SDK configuration for DynamoDB Local with static dummy credentials (no IMDS lookups).
pub async fn local_sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .load()
        .await
}

/// As [`local_sdk_config`] for DynamoDB Local, with every request going through `http` (a
/// fault-injecting client below the SDK).
pub async fn local_sdk_config_through(
    http: impl aws_smithy_runtime_api::client::http::HttpClient + 'static,
) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(dynamodb_endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .http_client(http)
        .load()
        .await
}

static TABLE_COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn unique_table_name() -> TableName {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "test-{}-{}-{}",
        std::process::id(),
        TABLE_COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    );
    TableName::parse(&name).expect("valid table name")
}

pub fn fast_fail_settings() -> StoreSettings {
    StoreSettings {
        connect_timeout: Duration::from_millis(300),
        attempt_timeout: Duration::from_millis(400),
        operation_timeout: Duration::from_millis(1500),
        max_attempts: 3,
    }
}

/// A store on a fresh table in DynamoDB Local.
pub async fn fresh_store() -> SecretStore {
    let sdk = local_sdk_config(&dynamodb_endpoint()).await;
    let store = SecretStore::from_sdk_config(&sdk, unique_table_name(), &StoreSettings::default());
    store
        .create_table_if_missing()
        .await
        .expect("create test table in DynamoDB Local");
    store
}

pub fn config_with(table: &TableName, overrides: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("ENCRYPTION_KEY".to_owned(), KEY_A.to_owned()),
        ("SECRETS_TABLE_NAME".to_owned(), table.as_str().to_owned()),
    ]);
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|name| vars.get(name).cloned()).expect("test config")
}

/// The function's handler on `store`, configured with `overrides`.
pub fn app_on(store: SecretStore, overrides: &[(&str, &str)]) -> TestApp {
    let config = config_with(store.table(), overrides);
    TestApp::new(App::new(config, store))
}

/// The function's handler on a fresh table, configured with the defaults.
pub async fn fresh_app() -> TestApp {
    app_on(fresh_store().await, &[])
}

pub fn project_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// One of the checked-in sample events in `events/`.
pub fn sample_event(file: &str) -> Value {
    let path = project_path("events").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("sample event is JSON")
}

/// The HTTP API JWT admin event with `body` and a request id of its own.
pub fn create_event(org: &str, permissions: &str, body: &str) -> Value {
    let mut event = sample_event("http-api-jwt-admin-create.json");
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    claims["org_id"] = Value::String(org.to_owned());
    claims["permissions"] = Value::String(permissions.to_owned());
    event["body"] = Value::String(body.to_owned());
    event["requestContext"]["requestId"] = Value::String(unique_request_id());
    event
}

pub fn create_body(name: &str, value: &str) -> String {
    serde_json::json!({ "secret_name": name, "secret_value": value }).to_string()
}

pub fn update_body(value: &str) -> String {
    serde_json::json!({ "secret_value": value }).to_string()
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn unique_request_id() -> String {
    format!(
        "req-{}-{}",
        std::process::id(),
        REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Answer {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub text: String,
    pub json: Value,
}

/// Feeds an event to the function the way the Lambda does: raw JSON text in, the Lambda
/// response JSON out (see `org_secrets::event`), read back as status, headers and body.
pub async fn call(app: &App, event: &Value) -> Answer {
    call_raw(app, &event.to_string()).await
}

/// As [`call`], from raw event text (which need not be an API Gateway event at all).
pub async fn call_raw(app: &App, raw_event: &str) -> Answer {
    // Lambda gives every invocation a request id; a direct invocation's own may be absent.
    let mut context = lambda_http::lambda_runtime::Context::default();
    context.request_id = unique_request_id();
    let response = app
        .handle_event(raw_event, Some(context))
        .await
        .unwrap_or_else(|err| panic!("an API Gateway event ended in an invocation error: {err}"));
    lambda_answer(&response)
}

/// Reads a Lambda proxy response (HTTP API, REST or ALB shape).
pub fn lambda_answer(response: &Value) -> Answer {
    let status = response["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("no statusCode in {response}")) as u16;
    let mut headers = lambda_http::http::HeaderMap::new();
    for field in ["headers", "multiValueHeaders"] {
        let Some(map) = response[field].as_object() else {
            continue;
        };
        for (name, value) in map {
            let values = match value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            for value in values {
                let name = lambda_http::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
                let value =
                    lambda_http::http::HeaderValue::from_str(value.as_str().unwrap()).unwrap();
                if !headers.get_all(&name).iter().any(|v| v == value) {
                    headers.append(name, value);
                }
            }
        }
    }
    let text = response["body"].as_str().unwrap_or_default().to_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        json,
    }
}

pub async fn stored_item(
    store: &SecretStore,
    org: &str,
    name: &str,
) -> Option<HashMap<String, AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table().as_str())
        .key("org_id", AttributeValue::S(org.to_owned()))
        .key("secret_name", AttributeValue::S(name.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("get_item")
        .item
}

/// Every item of the table, whole (one consistent scan: the tests' tables are small).
pub async fn all_items(store: &SecretStore) -> Vec<HashMap<String, AttributeValue>> {
    store
        .client()
        .scan()
        .table_name(store.table().as_str())
        .consistent_read(true)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default()
}

/// Every item of the table, sorted by key: what a request that must write nothing must
/// leave exactly as it was.
pub async fn snapshot(store: &SecretStore) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = all_items(store).await;
    items.sort_by_key(|item| {
        (
            attr(item, "org_id").to_owned(),
            attr(item, "secret_name").to_owned(),
        )
    });
    items
}

/// Deletes the table's bindings marker: the table is then as one written before bindings
/// (and before the marker) was, or as someone with write access can make it.
pub async fn unmark(store: &SecretStore) {
    store
        .client()
        .delete_item()
        .table_name(store.table().as_str())
        .key(
            "org_id",
            AttributeValue::S(org_secrets::storage::BINDINGS_MARKER_PARTITION.to_owned()),
        )
        .key(
            "secret_name",
            AttributeValue::S(org_secrets::storage::BINDINGS_MARKER_SORT_KEY.to_owned()),
        )
        .condition_expression("attribute_exists(org_id)")
        .send()
        .await
        .expect("the table was marked bound");
}

/// Turns the table's stream on as template.yaml sets it (new and old images).
pub async fn enable_stream(store: &SecretStore) {
    use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
    store
        .client()
        .update_table()
        .table_name(store.table().as_str())
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .expect("a stream specification"),
        )
        .send()
        .await
        .expect("enable the table's stream");
}

/// Writes `item` as it is, around the function: what a writer with table access can do.
pub async fn put_raw_item(store: &SecretStore, item: HashMap<String, AttributeValue>) {
    store
        .client()
        .put_item()
        .table_name(store.table().as_str())
        .set_item(Some(item))
        .send()
        .await
        .expect("put_item");
}

/// How many live secrets the table holds (every organization's; the per-organization
/// counter items, the names' version items, and the recovery copies, change records and
/// the bindings marker, in partitions of their own, are not counted).
pub async fn item_count(store: &SecretStore) -> usize {
    all_items(store)
        .await
        .iter()
        .filter(|item| {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            // Secrets only: not the counter or a name's version item (sort keys starting
            // with a control character), nor copies and records (partitions starting so).
            !text("secret_name").is_some_and(|sort| sort.starts_with(char::is_control))
                && !text("org_id").is_some_and(|org| org.starts_with(char::is_control))
        })
        .count()
}

/// The decrypted value stored for `org`/`name` (the item must exist).
pub async fn stored_value(app: &App, org: &str, name: &str) -> String {
    use secrecy::ExposeSecret;
    let item = stored_item(app.store(), org, name).await.expect("stored");
    let token =
        org_secrets::crypto::EncryptedValue::from_stored(attr(&item, "encrypted_value").to_owned());
    app.config()
        .cipher
        .decrypt(&token)
        .expect("decrypts")
        .expose_secret()
        .to_owned()
}

pub fn attr<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .unwrap_or_else(|| panic!("attribute {name} missing or not S"))
}

/// An HTTP API event for `method` on `/v1/organizations/secrets` plus `suffix` (e.g.
/// `"/stripe_api_key"`), for `org` with `permissions`, with an optional body.
pub fn op_event(
    method: &str,
    suffix: &str,
    org: &str,
    permissions: &str,
    body: Option<&str>,
) -> Value {
    let mut event = create_event(org, permissions, body.unwrap_or(""));
    let path = format!("/v1/organizations/secrets{suffix}");
    event["rawPath"] = Value::String(path.clone());
    event["requestContext"]["http"]["path"] = Value::String(path);
    event["requestContext"]["http"]["method"] = Value::String(method.to_owned());
    event["routeKey"] = Value::String(format!("{method} /v1/organizations/secrets{suffix}"));
    if body.is_none() {
        event.as_object_mut().unwrap().remove("body");
    }
    event
}

/// `POST .../secrets/{name}/restore` (with `?version=` when given) as an HTTP API event.
pub fn restore_event(org: &str, permissions: &str, name: &str, version: Option<&str>) -> Value {
    let mut event = op_event("POST", &format!("/{name}/restore"), org, permissions, None);
    if let Some(version) = version {
        event["rawQueryString"] = Value::String(format!("version={version}"));
        event["queryStringParameters"] = serde_json::json!({ "version": version });
    }
    event
}

/// `event` without its authorizer block: a request no authorizer vouched for.
pub fn without_authorizer(mut event: Value) -> Value {
    event["requestContext"]
        .as_object_mut()
        .expect("requestContext")
        .remove("authorizer");
    event
}

pub fn with_header(mut event: Value, name: &str, value: &str) -> Value {
    event["headers"][name] = Value::String(value.to_owned());
    event
}

/// Runs `secrets-admin` with `args` against `store`'s table, with `keys` as ENCRYPTION_KEY
/// and every log level at TRACE: its exit code and output (stdout then stderr), which must
/// hold none of `never` (values) and neither test key.
pub fn secrets_admin(
    store: &SecretStore,
    keys: &str,
    args: &[&str],
    never: &[&str],
) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_secrets-admin"))
        .args(args)
        .env("ENCRYPTION_KEY", keys)
        .env("SECRETS_TABLE_NAME", store.table().as_str())
        .envs(local_aws_env())
        .env("RUST_LOG", "trace")
        .env("AWS_LAMBDA_LOG_LEVEL", "TRACE")
        .output()
        .expect("run secrets-admin");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for value in never {
        assert!(
            !text.contains(value),
            "secrets-admin printed a value:\n{text}"
        );
    }
    assert!(
        !text.contains(KEY_A) && !text.contains(KEY_B),
        "secrets-admin printed a key"
    );
    (output.status.code(), text)
}

/// Writes an item as a version before the counter did: no counter item, and `unknown` with
/// the idempotency key when the caller had no subject.
pub async fn put_legacy_item(
    store: &org_secrets::storage::SecretStore,
    org: &str,
    name: &str,
    extra: &[(&str, &str)],
) {
    let mut request = store
        .client()
        .put_item()
        .table_name(store.table().as_str())
        .item("org_id", AttributeValue::S(org.to_owned()))
        .item("secret_name", AttributeValue::S(name.to_owned()))
        .item(
            "created_at",
            AttributeValue::S("2026-11-01T00:00:00Z".to_owned()),
        )
        .item("request_id", AttributeValue::S("legacy".to_owned()));
    for (attribute, value) in extra {
        request = request.item(*attribute, AttributeValue::S((*value).to_owned()));
    }
    request.send().await.unwrap();
}

pub fn request_id_of(event: &Value) -> String {
    event["requestContext"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn set_attribute(
    store: &SecretStore,
    key: &(String, String),
    name: &str,
    value: AttributeValue,
) {
    let mut item = stored_item(store, &key.0, &key.1).await.expect("the item");
    item.insert(name.to_owned(), value);
    put_raw_item(store, item).await;
}

pub fn is_record(item: &HashMap<String, AttributeValue>) -> bool {
    attr(item, "org_id").starts_with("\u{3}changes:")
}

/// (partition, sort key) -> the item's token, or its seal for a change record.
pub async fn tokens_and_seals(store: &SecretStore) -> HashMap<(String, String), String> {
    all_items(store)
        .await
        .into_iter()
        .filter_map(|item| {
            let field = if is_record(&item) {
                "seal"
            } else {
                "encrypted_value"
            };
            let value = item.get(field)?.as_s().ok()?.clone();
            Some((
                (
                    attr(&item, "org_id").to_owned(),
                    attr(&item, "secret_name").to_owned(),
                ),
                value,
            ))
        })
        .collect()
}

/// Neither the body nor any header of `answer` holds `canary` (a submitted value).
pub fn assert_no_echo(answer: &Answer, canary: &str) {
    assert!(
        !answer.text.contains(canary),
        "response echoed the value: {}",
        answer.text
    );
    for (name, value) in &answer.headers {
        assert!(
            !value.to_str().unwrap_or("").contains(canary),
            "header {name} echoed the value"
        );
    }
}

pub async fn set_limit_app(limit: u32) -> TestApp {
    let limit = limit.to_string();
    app_on(fresh_store().await, &[("MAX_SECRETS_PER_ORG", &limit)])
}

pub async fn sequential_create_statuses(app: &TestApp, names: &[&str]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for name in names {
        statuses.push(app.admin("org_a").create(name, "v").await.status);
    }
    statuses
}

/// How many change records the table holds.
pub async fn change_records(store: &SecretStore) -> usize {
    all_items(store)
        .await
        .iter()
        .filter(|item| attr(item, "org_id").starts_with("\u{3}changes:"))
        .count()
}
