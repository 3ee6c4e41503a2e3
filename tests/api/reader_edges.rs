//! The Rust reader's edges an outside review found (each failed before its fix): changes
//! during reads in progress (single and batch), `refresh`, batch single-flight, 5xx without
//! a code, a failed resend, tokens that are not canonical base64, header-name length, and
//! what reaches the logs. Python's twins are in `python/tests/test_review_edges.py`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use org_secrets::crypto::Cipher;
use org_secrets::domain::{OrgId, SecretName};
use org_secrets::reader::{CacheConfig, CachingReader, Clock, SecretReader};
use org_secrets::storage::{SecretStore, StoreSettings};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::reader_contract::key_list;
use crate::support::reader::{bound_item, Logs, ManualClock};
use crate::support::{
    dynamodb_endpoint, local_sdk_config, local_sdk_config_through, put_raw_item, unique_table_name,
};

const ORG: &str = "org_attacks";

fn org() -> OrgId {
    OrgId::parse(ORG).unwrap()
}

fn name(raw: &str) -> SecretName {
    SecretName::parse(raw).unwrap()
}

/// The item as the function writes it: Fernet under the first key, bound, with a version.
fn item(secret_name: &str, value: &str, version: u64) -> HashMap<String, AttributeValue> {
    bound_item(key_list(), (ORG, secret_name), value, Some(version))
}

/// What the scripted HTTP client does with request `n`.
#[derive(Clone, Copy)]
enum Action {
    /// No answer, ever (the caller gives up: a timeout, a cancelled task).
    Never,
    Pass,
    /// Forwarded; DynamoDB's answer (already decided) is held until `release`.
    Hold,
    /// Answered with this status and a non-JSON body (a proxy or load balancer's error page).
    Status(u16),
    /// Forwarded; the item of this name is moved from `Responses` to `UnprocessedKeys`.
    Unprocess(&'static str),
    /// The connection closes without an answer.
    Drop,
}

#[derive(Clone)]
struct Scripted {
    plan: Arc<dyn Fn(u64) -> Action + Send + Sync>,
    requests: Arc<AtomicU64>,
    arrived: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
    upstream: SharedHttpConnector,
    /// Each request's operation (`X-Amz-Target`), in order.
    targets: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Scripted {
    fn new(plan: impl Fn(u64) -> Action + Send + Sync + 'static) -> Self {
        Self {
            plan: Arc::new(plan),
            requests: Arc::new(AtomicU64::new(0)),
            arrived: Arc::new(tokio::sync::Notify::new()),
            release: Arc::new(tokio::sync::Notify::new()),
            upstream: SharedHttpConnector::new(Connector::builder().build_http()),
            targets: Arc::default(),
        }
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

fn json_response(status: u16, body: String, content_type: &'static str) -> HttpResponse {
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response.headers_mut().insert("content-type", content_type);
    response.headers_mut().insert("x-amzn-requestid", "ATTACK");
    response
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

impl HttpConnector for Scripted {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        let target = request.headers().get("x-amz-target").unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        self.targets.lock().unwrap().push(operation);
        match (self.plan)(n) {
            Action::Never => HttpConnectorFuture::new(std::future::pending()),
            Action::Pass => self.upstream.call(request),
            Action::Hold => {
                let (upstream, arrived, release) = (
                    self.upstream.clone(),
                    Arc::clone(&self.arrived),
                    Arc::clone(&self.release),
                );
                HttpConnectorFuture::new(async move {
                    let response = upstream.call(request).await?;
                    arrived.notify_one();
                    release.notified().await;
                    Ok(response)
                })
            }
            Action::Status(status) => HttpConnectorFuture::ready(Ok(json_response(
                status,
                "<html><body>502 Bad Gateway</body></html>".to_owned(),
                "text/html",
            ))),
            Action::Drop => HttpConnectorFuture::ready(Err(
                aws_smithy_runtime_api::client::result::ConnectorError::io(
                    "attack: connection closed".into(),
                ),
            )),
            Action::Unprocess(moved) => {
                let upstream = self.upstream.clone();
                HttpConnectorFuture::new(async move {
                    let response = upstream.call(request).await?;
                    let bytes =
                        aws_smithy_types::byte_stream::ByteStream::new(response.into_body())
                            .collect()
                            .await
                            .unwrap()
                            .to_vec();
                    let mut body: Value = serde_json::from_slice(&bytes).unwrap();
                    let responses = body["Responses"].as_object_mut().unwrap();
                    let (table, items) = responses.iter_mut().next().unwrap();
                    let table = table.clone();
                    let items = items.as_array_mut().unwrap();
                    items.retain(|item| item["secret_name"]["S"] != json!(moved));
                    body["UnprocessedKeys"] = json!({ table: { "Keys": [
                        { "org_id": {"S": ORG}, "secret_name": {"S": moved} }
                    ], "ConsistentRead": true } });
                    Ok(json_response(
                        200,
                        body.to_string(),
                        "application/x-amz-json-1.0",
                    ))
                })
            }
        }
    }
}

impl HttpClient for Scripted {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

struct Setup {
    reader: Arc<CachingReader>,
    direct: SecretStore,
    http: Scripted,
    clock: Arc<ManualClock>,
}

async fn setup(config: CacheConfig, plan: impl Fn(u64) -> Action + Send + Sync + 'static) -> Setup {
    let table = unique_table_name();
    let direct = SecretStore::from_sdk_config(
        &local_sdk_config(&dynamodb_endpoint()).await,
        table.clone(),
        &StoreSettings::default(),
    );
    direct.create_table_if_missing().await.unwrap();
    let http = Scripted::new(plan);
    let sdk = local_sdk_config_through(http.clone()).await;
    let settings = StoreSettings {
        max_attempts: 1,
        ..StoreSettings::default()
    };
    let store = SecretStore::from_sdk_config(&sdk, table, &settings);
    let clock = ManualClock::new();
    let reader = Arc::new(CachingReader::with_clock(
        SecretReader::new(store, Cipher::from_key_list(key_list()).unwrap()),
        config,
        Arc::clone(&clock) as Arc<dyn Clock>,
    ));
    Setup {
        reader,
        direct,
        http,
        clock,
    }
}

/// The plan that holds the first request's answer until released, and passes the rest.
fn hold_the_first_request(n: u64) -> Action {
    if n == 0 {
        Action::Hold
    } else {
        Action::Pass
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn value_of(
    answer: &Result<org_secrets::reader::Secret, org_secrets::reader::SecretError>,
) -> String {
    match answer {
        Ok(secret) => secret.value().expose_secret().to_owned(),
        Err(error) => format!("error {}", error.kind()),
    }
}

/// A change during a batch read in progress (an `invalidate`, or a newer version's event;
/// through `get_many` or a reference): the value that read found, older than the change, is
/// answered but not kept, so the next `get` reads the store again.
#[tokio::test]
async fn a_change_during_a_batch_read_is_not_undone_by_it() {
    let event = json!({"detail-type": "Secret Updated",
        "detail": {"organization": ORG, "name": "rotating", "version": 2}});
    for (change, through_reference) in [("invalidate", false), ("event", false), ("event", true)] {
        let context = format!("{change}, through a reference: {through_reference}");
        let s = setup(CacheConfig::default(), hold_the_first_request).await;
        put_raw_item(&s.direct, item("rotating", "old-CANARY", 1)).await;
        put_raw_item(&s.direct, item("other", "other-CANARY", 1)).await;
        let reader = Arc::clone(&s.reader);
        // Two names: a BatchGetItem (one name would be a GetItem).
        let batch = tokio::spawn(async move {
            if through_reference {
                let text = "{{SECRET.rotating}}{{SECRET.other}}";
                reader.resolve(&org(), text).await.map(|_| ()).unwrap();
            } else {
                reader
                    .get_many(&org(), &[name("rotating"), name("other")])
                    .await;
            }
        });
        s.http.arrived.notified().await; // DynamoDB has answered with the old value
        put_raw_item(&s.direct, item("rotating", "new-CANARY", 2)).await;
        if change == "invalidate" {
            s.reader.invalidate(&org(), &name("rotating"));
        } else {
            s.reader.apply_change_event(&event).unwrap();
        }
        s.http.release.notify_one();
        batch.await.unwrap();
        let after = s.reader.get(&org(), &name("rotating")).await;
        assert_eq!(
            value_of(&after),
            "new-CANARY",
            "{context}: the older value was kept"
        );
        let other = s.reader.get(&org(), &name("other")).await;
        assert_eq!(value_of(&other), "other-CANARY", "{context}");
        assert_eq!(
            s.http.requests(),
            2,
            "{context}: other was cached, rotating read again"
        );
    }
}

/// A `get` that starts after `invalidate()` does not join the read in flight before it: it
/// reads the store itself ("the next get reads the store"), as in the Python reader
/// (`python/tests/test_review_edges.py`).
#[tokio::test]
async fn a_get_after_an_invalidate_does_not_join_the_older_read() {
    let s = setup(CacheConfig::default(), hold_the_first_request).await;
    put_raw_item(&s.direct, item("rotating", "old-CANARY", 1)).await;
    let reader = Arc::clone(&s.reader);
    let first = tokio::spawn(async move { reader.get(&org(), &name("rotating")).await });
    s.http.arrived.notified().await;
    put_raw_item(&s.direct, item("rotating", "new-CANARY", 2)).await;
    s.reader.invalidate(&org(), &name("rotating"));
    let reader = Arc::clone(&s.reader);
    let second = tokio::spawn(async move { reader.get(&org(), &name("rotating")).await });
    tokio::time::sleep(Duration::from_millis(100)).await; // `second` is waiting now
    s.http.release.notify_one();
    first.await.unwrap().unwrap();
    let second = second.await.unwrap();
    assert_eq!(
        value_of(&second),
        "new-CANARY",
        "the get issued after invalidate() got the value read before it"
    );
}

/// `refresh` reads now: it never joins a `get` read begun before the store changed, and that
/// older read, ending after it, does not put its value back in the cache.
#[tokio::test]
async fn refresh_never_joins_an_older_read() {
    let s = setup(CacheConfig::default(), hold_the_first_request).await;
    put_raw_item(&s.direct, item("rotating", "old-CANARY", 1)).await;
    let reader = Arc::clone(&s.reader);
    let first = tokio::spawn(async move { reader.get(&org(), &name("rotating")).await });
    s.http.arrived.notified().await;
    put_raw_item(&s.direct, item("rotating", "new-CANARY", 2)).await;
    s.clock.advance(Duration::from_secs(1));
    let reader = Arc::clone(&s.reader);
    let refreshed = tokio::spawn(async move { reader.refresh(&org(), &name("rotating")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.http.release.notify_one();
    first.await.unwrap().unwrap();
    let refreshed = refreshed.await.unwrap();
    assert_eq!(
        value_of(&refreshed),
        "new-CANARY",
        "refresh() issued after the change returned the value of a read started before it"
    );
    // The older read, ending after the refresh, does not put its value back in the cache.
    let cached = s.reader.get(&org(), &name("rotating")).await;
    assert_eq!(value_of(&cached), "new-CANARY");
}

/// "Concurrent misses of one secret make one read" holds for `get_many` (and so `resolve`
/// and `resolve_document`) too: ten concurrent callers make one read.
#[tokio::test]
async fn concurrent_get_many_misses_make_one_read_each() {
    let s = setup(CacheConfig::default(), hold_the_first_request).await;
    put_raw_item(&s.direct, item("hot", "hot-CANARY", 1)).await;
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let reader = Arc::clone(&s.reader);
        callers.spawn(async move {
            reader
                .resolve(&org(), "Bearer {{SECRET.hot}}")
                .await
                .map(|_| ())
        });
    }
    s.http.arrived.notified().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.http.release.notify_one();
    for answer in callers.join_all().await {
        answer.unwrap();
    }
    assert_eq!(
        s.http.requests(),
        1,
        "ten concurrent misses of one secret, {} reads",
        s.http.requests()
    );
}

/// A 502 from a proxy or load balancer (no DynamoDB error code) is `unavailable`, as any 5xx
/// is in the contract: the cached value is served stale, as in the Python reader.
#[tokio::test]
async fn a_5xx_without_a_dynamodb_code_is_unavailable() {
    let s = setup(CacheConfig::default(), |n| {
        if n == 0 {
            Action::Pass
        } else {
            Action::Status(502)
        }
    })
    .await;
    put_raw_item(&s.direct, item("cached", "cached-CANARY", 1)).await;
    assert_eq!(
        value_of(&s.reader.get(&org(), &name("cached")).await),
        "cached-CANARY"
    );
    s.clock.advance(Duration::from_secs(301)); // past the TTL
    let answer = s.reader.get(&org(), &name("cached")).await;
    assert!(
        answer.as_ref().is_ok_and(|secret| secret.stale().is_some()),
        "a 502 should be unavailable and serve the cached value stale; got {}",
        value_of(&answer)
    );
}

/// `BatchGetItem` answers one name and leaves the other unprocessed; the resend fails. The
/// name already answered keeps its value; only the resent one is `unavailable`.
#[tokio::test]
async fn a_failed_resend_keeps_the_names_already_read() {
    let s = setup(CacheConfig::default(), |n| match n {
        0 => Action::Unprocess("second"),
        _ => Action::Drop,
    })
    .await;
    put_raw_item(&s.direct, item("first", "first-CANARY", 1)).await;
    put_raw_item(&s.direct, item("second", "second-CANARY", 1)).await;
    let answers = s
        .reader
        .get_many(&org(), &[name("first"), name("second")])
        .await;
    assert_eq!(value_of(&answers[&name("second")]), "error unavailable");
    assert_eq!(
        value_of(&answers[&name("first")]),
        "first-CANARY",
        "the value read in the first call is thrown away"
    );
}

/// A token whose base64 padding was stripped is no standard Fernet token: `undecryptable`
/// (the fernet crate alone would open it; the Python reader's twin is in
/// `test_review_edges.py`).
#[tokio::test]
async fn an_unpadded_token_is_undecryptable() {
    let s = setup(CacheConfig::default(), |_| Action::Pass).await;
    let mut stored = item("short", "CANARY", 1); // 73 bytes of token: "==" padding
    let AttributeValue::S(token) = stored["encrypted_value"].clone() else {
        unreachable!()
    };
    assert!(token.ends_with("=="));
    stored.insert(
        "encrypted_value".to_owned(),
        AttributeValue::S(token.trim_end_matches('=').to_owned()),
    );
    put_raw_item(&s.direct, stored).await;
    let answer = s.reader.get(&org(), &name("short")).await;
    assert_eq!(value_of(&answer), "error undecryptable");
}

/// A header `key` is an HTTP token of at most 65,535 bytes (the `http` crate's limit, which
/// the contract and the Python reader adopt): one byte more is `invalid_key`, before any read.
#[tokio::test]
async fn a_header_name_over_65535_bytes_is_an_invalid_key() {
    let s = setup(CacheConfig::default(), |_| Action::Pass).await;
    put_raw_item(&s.direct, item("api", "api-CANARY", 1)).await;
    let longest = json!({"type": "custom_header", "secret_ref": "api", "key": "x".repeat(65_535)});
    assert!(s.reader.credentials(&org(), &longest).await.is_ok());
    let auth = json!({"type": "custom_header", "secret_ref": "api", "key": "x".repeat(65_536)});
    match s.reader.credentials(&org(), &auth).await {
        Err(org_secrets::reader::CredentialsError::InvalidAuth(invalid)) => {
            assert_eq!(invalid.reason.as_str(), "invalid_key");
        }
        other => panic!("{:?}", other.map(|_| "credentials")),
    }
}

/// The reader itself never logs the token or the value. The AWS SDK logs the response it
/// read at TRACE (`aws_smithy_runtime`): the token and binding, never the value; the storage
/// contract tells services to cap the SDK's targets below TRACE, as the function does.
#[tokio::test]
async fn only_the_sdk_logs_the_token_and_nothing_logs_the_value() {
    let logs = Logs::default();
    let _capture = logs.capture();
    let s = setup(CacheConfig::default(), |_| Action::Pass).await;
    let stored = item("logged", "logged-CANARY", 1);
    let AttributeValue::S(token) = stored["encrypted_value"].clone() else {
        unreachable!()
    };
    put_raw_item(&s.direct, stored).await;
    logs.clear();
    s.reader.get(&org(), &name("logged")).await.unwrap();
    let text = logs.text();
    // The capture works: the SDK's own TRACE lines of this read are there.
    assert!(
        text.lines()
            .any(|line| line.contains(" aws_smithy_") && line.contains("TRACE")),
        "nothing captured: {}",
        text.len()
    );
    assert!(
        !text.contains("logged-CANARY"),
        "the value is in the TRACE logs"
    );
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&token[..40]) && !l.contains(" aws_smithy_"))
        .collect();
    assert!(
        lines.is_empty(),
        "the token is logged by another target than the SDK's: {}",
        lines
            .iter()
            .map(|l| &l[..l.len().min(300)])
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A change reaches every read in progress of its secret, not only the newest: a read of
/// v5 still running when a later read cached v6 and the v6 event arrived must not put v5
/// back in the cache when it ends (the second review's finding).
#[tokio::test]
async fn a_change_reaches_every_read_in_progress_not_only_the_newest() {
    let s = setup(CacheConfig::default(), hold_the_first_request).await;
    put_raw_item(&s.direct, item("rotating", "v5-CANARY", 5)).await;
    let reader = Arc::clone(&s.reader);
    let slow = tokio::spawn(async move { reader.get(&org(), &name("rotating")).await });
    s.http.arrived.notified().await;
    let event = |version: u64| {
        json!({"detail-type": "Secret Updated", "source": "org-secrets",
               "detail": {"organization": ORG, "name": "rotating", "version": version}})
    };
    // The v5 event: the slow read may not be joined any more, but its v5 is still current.
    s.reader.apply_change_event(&event(5)).unwrap();
    put_raw_item(&s.direct, item("rotating", "v6-CANARY", 6)).await;
    let fresh = s.reader.get(&org(), &name("rotating")).await;
    assert_eq!(value_of(&fresh), "v6-CANARY");
    assert!(
        !s.reader.apply_change_event(&event(6)).unwrap(),
        "v6 is cached already"
    );
    s.http.release.notify_one();
    assert_eq!(value_of(&slow.await.unwrap()), "v5-CANARY");
    let cached = s.reader.get(&org(), &name("rotating")).await;
    assert_eq!(
        value_of(&cached),
        "v6-CANARY",
        "the slow v5 read was cached over v6"
    );
    assert_eq!(s.http.requests(), 2);
}

/// Reads are ordered by when they began, by a counter, not a clock: a `get` whose read began
/// at the same clock instant as a `refresh` (a coarse clock) and ends after it does not put
/// its older value over the refresh's.
#[tokio::test]
async fn an_older_read_begun_at_the_same_instant_does_not_overwrite_a_refresh() {
    let s = setup(CacheConfig::default(), hold_the_first_request).await;
    put_raw_item(&s.direct, item("tick", "v1-CANARY", 1)).await;
    let reader = Arc::clone(&s.reader);
    let first = tokio::spawn(async move { reader.get(&org(), &name("tick")).await });
    s.http.arrived.notified().await; // v1 read, answer held
    put_raw_item(&s.direct, item("tick", "v2-CANARY", 2)).await;
    // Same instant on the cache's clock: no advance.
    let refreshed = s.reader.refresh(&org(), &name("tick")).await;
    assert_eq!(value_of(&refreshed), "v2-CANARY");
    s.http.release.notify_one();
    assert_eq!(value_of(&first.await.unwrap()), "v1-CANARY");
    let cached = s.reader.get(&org(), &name("tick")).await;
    assert_eq!(
        value_of(&cached),
        "v2-CANARY",
        "the older read, begun at the same instant, put v1 back over the refresh's v2"
    );
}

/// `invalidate` during a read is never undone by it, whatever the version read (u64::MAX
/// included: an invalidation is its own mark, not a version).
#[tokio::test]
async fn an_invalidate_during_a_read_of_version_u64_max_is_not_undone() {
    let s = setup(CacheConfig::default(), hold_the_first_request).await;
    put_raw_item(&s.direct, item("maxed", "old-CANARY", u64::MAX)).await;
    let reader = Arc::clone(&s.reader);
    let first = tokio::spawn(async move { reader.get(&org(), &name("maxed")).await });
    s.http.arrived.notified().await;
    put_raw_item(&s.direct, item("maxed", "new-CANARY", u64::MAX)).await;
    s.reader.invalidate(&org(), &name("maxed"));
    s.http.release.notify_one();
    let first = first.await.unwrap();
    assert_eq!(first.as_ref().unwrap().version(), Some(u64::MAX));
    let after = s.reader.get(&org(), &name("maxed")).await;
    assert_eq!(
        value_of(&after),
        "new-CANARY",
        "the value read before invalidate() was cached (version u64::MAX == the invalidate mark)"
    );
}

/// "A stale bound of 0 never serves a stale value", not even one read at this very instant.
#[tokio::test]
async fn a_stale_bound_of_zero_never_serves_stale() {
    let config = CacheConfig {
        max_stale: Duration::ZERO,
        ..CacheConfig::default()
    };
    let s = setup(config, |n| {
        if n == 0 {
            Action::Pass
        } else {
            Action::Status(503)
        }
    })
    .await;
    put_raw_item(&s.direct, item("zero", "zero-CANARY", 1)).await;
    s.reader.get(&org(), &name("zero")).await.unwrap();
    let answer = s.reader.refresh(&org(), &name("zero")).await;
    assert_eq!(
        value_of(&answer),
        "error unavailable",
        "served stale with a stale bound of 0: {:?}",
        answer.as_ref().ok().map(|secret| secret.stale())
    );
}

/// An older read's refusal does not drop what a read begun after it cached: a `not_found`
/// from before the secret was created leaves the value a later `refresh` read.
#[tokio::test]
async fn a_not_found_from_an_older_read_does_not_drop_a_newer_value() {
    let s = setup(CacheConfig::default(), hold_the_first_request).await;
    let reader = Arc::clone(&s.reader);
    let first = tokio::spawn(async move { reader.get(&org(), &name("born")).await });
    s.http.arrived.notified().await; // "no such item", held
    put_raw_item(&s.direct, item("born", "born-CANARY", 1)).await;
    s.clock.advance(secs(1));
    assert_eq!(
        value_of(&s.reader.refresh(&org(), &name("born")).await),
        "born-CANARY"
    );
    s.http.release.notify_one();
    assert_eq!(value_of(&first.await.unwrap()), "error not_found");
    let cached = s.reader.get(&org(), &name("born")).await;
    assert_eq!(value_of(&cached), "born-CANARY");
    assert_eq!(
        s.http.requests(),
        2,
        "the older not_found dropped the refresh's newer value: the get read again"
    );
}

/// Cancelled callers (a timeout around `get`, `get_many` or `refresh`) leave no read in
/// progress behind: not one later invalidated, not the rest of a batch another caller ended.
#[tokio::test]
async fn cancelled_callers_leave_no_read_in_progress_behind() {
    let never = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let plan_never = Arc::clone(&never);
    let s = setup(CacheConfig::default(), move |_| {
        if plan_never.load(Ordering::SeqCst) {
            Action::Never
        } else {
            Action::Pass
        }
    })
    .await;
    let org_id = org();
    for n in 0..20 {
        let single = name(&format!("single_{n:02}"));
        let wait = Duration::ZERO;
        assert!(tokio::time::timeout(wait, s.reader.get(&org_id, &single))
            .await
            .is_err());
        assert!(
            tokio::time::timeout(wait, s.reader.refresh(&org_id, &single))
                .await
                .is_err()
        );
        s.reader.invalidate(&org_id, &single);
        let pair = [name(&format!("a_{n:02}")), name(&format!("b_{n:02}"))];
        assert!(
            tokio::time::timeout(wait, s.reader.get_many(&org_id, &pair))
                .await
                .is_err()
        );
        assert_eq!(s.reader.reads_in_progress(), 0, "round {n}");
    }
    // A caller still waiting keeps its read; its end removes it.
    never.store(false, Ordering::SeqCst);
    let answered = s.reader.get(&org_id, &name("a_00")).await;
    assert_eq!(value_of(&answered), "error not_found");
    assert_eq!(s.reader.reads_in_progress(), 0);
}

/// A cancelled caller's reads leave with it: a `get` after a cancelled `get_many` of 100
/// names sends a `GetItem` of its own name, not the whole batch again.
#[tokio::test]
async fn a_get_after_a_cancelled_get_many_reads_only_its_own_name() {
    let s = setup(CacheConfig::default(), |n| {
        if n == 0 {
            Action::Never
        } else {
            Action::Pass
        }
    })
    .await;
    put_raw_item(&s.direct, item("mine", "mine-CANARY", 1)).await;
    let names: Vec<SecretName> = std::iter::once(name("mine"))
        .chain((0..99).map(|n| name(&format!("other_{n:02}"))))
        .collect();
    let org_id = org();
    let batch = s.reader.get_many(&org_id, &names);
    assert!(tokio::time::timeout(Duration::from_millis(100), batch)
        .await
        .is_err());
    assert_eq!(
        value_of(&s.reader.get(&org(), &name("mine")).await),
        "mine-CANARY"
    );
    let targets = s.http.targets.lock().unwrap().clone();
    assert_eq!(
        targets,
        ["BatchGetItem", "GetItem"],
        "a get of one name, after a get_many of 100 was cancelled, sent: {targets:?}"
    );
}
