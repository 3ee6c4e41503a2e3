//! The readers' shared contract, `tests/data/reader-contract/cases.json`, through the Rust
//! reader ([`CachingReader`]) on DynamoDB Local; the Python package runs the same file
//! (`python/tests/test_contract.py`). The stored items are `seeds.json`, which the Rust side
//! writes (`regenerate_seeds`) and `seeds_are_what_the_rust_side_writes` checks. Each
//! section's cases run in one test; a failure names the case. The canary of every plaintext
//! appears in no error, `Debug` output or log line (TRACE).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::crypto::{Cipher, EncryptedValue, TokenBinding};
use org_secrets::domain::{OrgId, SecretName, SecretValue};
use org_secrets::reader::{
    CacheConfig, CachingReader, Clock, CredentialsError, ResolveError, Secret, SecretError,
    SecretReader,
};
use org_secrets::storage::{SecretStore, StoreSettings};
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

use crate::support::reader::{bound_item, Logs, ManualClock};
use crate::support::{
    dynamodb_endpoint, fast_fail_settings, local_sdk_config, project_path, put_raw_item, Fault,
    FaultyDynamoDb,
};

const CASES: &str = "tests/data/reader-contract/cases.json";
const SEEDS: &str = "tests/data/reader-contract/seeds.json";

fn load(path: &str) -> Value {
    let text =
        std::fs::read_to_string(project_path(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cases() -> &'static Value {
    static CASES_JSON: OnceLock<Value> = OnceLock::new();
    CASES_JSON.get_or_init(|| load(CASES))
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {value}"))
}

fn canary() -> &'static str {
    text(cases(), "canary")
}

fn org() -> OrgId {
    OrgId::parse(text(cases(), "org_id")).unwrap()
}

fn name(raw: &str) -> SecretName {
    SecretName::parse(raw).unwrap()
}

pub(crate) fn key_list() -> &'static str {
    text(cases(), "encryption_key")
}

/// The cipher a seed's `written` names, and the keys it was written with.
fn writer(written: &str) -> Cipher {
    let keys: Vec<&str> = key_list().split(',').collect();
    match written {
        "previous_key" => Cipher::from_key_list(keys[1]).unwrap(),
        "unknown_key" => Cipher::from_key_list(text(cases(), "unknown_key")).unwrap(),
        _ => Cipher::from_key_list(key_list()).unwrap(),
    }
}

fn seeds() -> impl Iterator<Item = &'static Value> {
    cases()["seeds"].as_array().unwrap().iter()
}

fn s(value: &str) -> Value {
    json!({ "S": value })
}

/// Writes `seeds.json`: each seed's item as the Rust side writes it (Fernet under the named
/// key, bound by `Cipher::bind`), in DynamoDB's JSON. Run when cases.json's seeds change:
/// `cargo test --test api reader_contract::regenerate_seeds -- --ignored`.
#[test]
#[ignore = "writes tests/data/reader-contract/seeds.json"]
fn regenerate_seeds() {
    let org = text(cases(), "org_id");
    let mut written: HashMap<&str, Map<String, Value>> = HashMap::new();
    let mut items = Vec::new();
    for seed in seeds() {
        let label = text(seed, "label");
        let secret_name = text(seed, "secret_name");
        let how = text(seed, "written");
        let mut item = Map::new();
        item.insert("org_id".into(), s(org));
        item.insert("secret_name".into(), s(secret_name));
        if let Some(source) = how.strip_prefix("copied_from:") {
            let source = &written[source];
            for attr in ["encrypted_value", "binding"] {
                item.insert(attr.into(), source[attr].clone());
            }
        } else if how == "token_as_number" {
            item.insert("encrypted_value".into(), json!({ "N": "12345" }));
        } else if how != "without_token" {
            let cipher = writer(how);
            let plaintext = text(seed, "plaintext").to_owned();
            let token = cipher.encrypt(&SecretValue::parse(plaintext, 1 << 16).unwrap());
            item.insert("encrypted_value".into(), s(token.as_str()));
            if how != "without_binding" {
                let binding = cipher.bind(org, secret_name, &token);
                item.insert("binding".into(), s(binding.as_str()));
            }
        }
        if let Some(version) = seed["version"].as_u64() {
            item.insert("version".into(), json!({ "N": version.to_string() }));
        }
        written.insert(label, item.clone());
        items.push(json!({ "label": label, "item": item }));
    }
    let file = json!({
        "about": "Written by the Rust side (tests/api/reader_contract.rs, regenerate_seeds) from cases.json's seeds: each item as put into the table, in DynamoDB's JSON. Do not edit by hand.",
        "items": items,
    });
    let mut out = serde_json::to_string_pretty(&file).unwrap();
    out.push('\n');
    std::fs::write(project_path(SEEDS), out).unwrap();
}

/// seeds.json holds exactly cases.json's seeds, each as the Rust code writes it: the token
/// opens under the named key to the plaintext, and the binding verifies (or is absent, or
/// copied, as the seed says).
#[test]
fn seeds_are_what_the_rust_side_writes() {
    let file = load(SEEDS);
    let items: HashMap<&str, &Value> = file["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (text(entry, "label"), &entry["item"]))
        .collect();
    assert_eq!(items.len(), seeds().count(), "one item per seed");
    let org = text(cases(), "org_id");
    for seed in seeds() {
        let label = text(seed, "label");
        let item = items
            .get(label)
            .unwrap_or_else(|| panic!("no item for seed {label}"));
        let secret_name = text(seed, "secret_name");
        assert_eq!(item["org_id"], s(org), "{label}");
        assert_eq!(item["secret_name"], s(secret_name), "{label}");
        assert_eq!(
            item["version"]["N"].as_str().map(str::to_owned),
            seed["version"].as_u64().map(|v| v.to_string()),
            "{label}"
        );
        let how = text(seed, "written");
        let token = item["encrypted_value"]["S"]
            .as_str()
            .map(|t| EncryptedValue::from_stored(t.to_owned()));
        let binding = item["binding"]["S"]
            .as_str()
            .map(|b| TokenBinding::from_stored(b.to_owned()));
        match how {
            "without_token" => assert!(item.get("encrypted_value").is_none(), "{label}"),
            "token_as_number" => assert!(item["encrypted_value"]["N"].is_string(), "{label}"),
            _ if how.starts_with("copied_from:") => {
                let source = items[&how["copied_from:".len()..]];
                assert_eq!(
                    item["encrypted_value"], source["encrypted_value"],
                    "{label}"
                );
                assert_eq!(item["binding"], source["binding"], "{label}");
            }
            _ => {
                let cipher = writer(how);
                let token = token.unwrap_or_else(|| panic!("{label}: no token"));
                let value = cipher
                    .decrypt(&token)
                    .expect("the named key opens the token");
                assert_eq!(value.expose_secret(), text(seed, "plaintext"), "{label}");
                if how == "without_binding" {
                    assert!(binding.is_none(), "{label}");
                } else {
                    cipher
                        .verify_binding(org, secret_name, &token, binding.as_ref())
                        .unwrap_or_else(|e| panic!("{label}: {e}"));
                }
            }
        }
    }
}

/// DynamoDB JSON (S and N only: all the seeds use) to the SDK's values.
fn attribute_values(item: &Value) -> HashMap<String, AttributeValue> {
    item.as_object()
        .unwrap()
        .iter()
        .map(|(attr, value)| {
            let value = match (value.get("S"), value.get("N")) {
                (Some(text), _) => AttributeValue::S(text.as_str().unwrap().to_owned()),
                (_, Some(number)) => AttributeValue::N(number.as_str().unwrap().to_owned()),
                _ => panic!("unexpected attribute {attr}: {value}"),
            };
            (attr.clone(), value)
        })
        .collect()
}

fn seed_item(label: &str) -> HashMap<String, AttributeValue> {
    static ITEMS: OnceLock<HashMap<String, Value>> = OnceLock::new();
    let items = ITEMS.get_or_init(|| {
        load(SEEDS)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| (text(entry, "label").to_owned(), entry["item"].clone()))
            .collect()
    });
    attribute_values(&items[label])
}

/// A reader on a freshly seeded table, its clock, and the switch that makes DynamoDB
/// unreachable (every request's connection dropped, below the SDK).
struct Harness {
    reader: Arc<CachingReader>,
    direct: SecretStore,
    unreachable: Arc<AtomicBool>,
    clock: Arc<ManualClock>,
    faulty: FaultyDynamoDb,
}

impl Harness {
    async fn new(config: CacheConfig) -> Self {
        Self::with_plan(config, |_, _| Fault::Pass).await
    }

    /// As `new`, with a fault plan for the requests made while the store is reachable.
    async fn with_plan(
        config: CacheConfig,
        plan: impl Fn(u64, &AtomicU64) -> Fault + Send + Sync + 'static,
    ) -> Self {
        let unreachable = Arc::new(AtomicBool::new(false));
        let batch_calls = Arc::new(AtomicU64::new(0));
        let (switch, calls) = (Arc::clone(&unreachable), Arc::clone(&batch_calls));
        let faulty = FaultyDynamoDb::new(move |n| {
            if switch.load(Ordering::SeqCst) {
                Fault::Drop
            } else {
                plan(n, &calls)
            }
        });
        // One attempt per call: an unreachable store is the case's point, not the SDK's retries.
        let settings = StoreSettings {
            max_attempts: 1,
            ..fast_fail_settings()
        };
        let store = faulty.store_with(&settings, true).await;
        let direct = SecretStore::from_sdk_config(
            &local_sdk_config(&dynamodb_endpoint()).await,
            store.table().clone(),
            &StoreSettings::default(),
        );
        for seed in seeds().filter(|seed| seed["initial"] != json!(false)) {
            put_raw_item(&direct, seed_item(text(seed, "label"))).await;
        }
        let clock = ManualClock::new();
        let cipher = Cipher::from_key_list(key_list()).unwrap();
        let reader = Arc::new(CachingReader::with_clock(
            SecretReader::new(store, cipher),
            config,
            Arc::clone(&clock) as Arc<dyn Clock>,
        ));
        Self {
            reader,
            direct,
            unreachable,
            clock,
            faulty,
        }
    }

    /// Requests the reader has sent (the seeding went around it).
    fn requests(&self) -> u64 {
        self.faulty.request_count()
    }
}

/// No canary in an error's message or `Debug`.
fn assert_no_canary(shown: &str, context: &str) {
    assert!(
        !shown.contains(canary()),
        "{context}: a value shows in {shown}"
    );
}

fn check_secret(answer: &Result<Secret, SecretError>, expect: &Value, context: &str) {
    match answer {
        Ok(secret) => {
            assert_no_canary(&format!("{secret:?}"), context);
            let want = expect["value"]
                .as_str()
                .unwrap_or_else(|| panic!("{context}: expected {expect}, got a value"));
            assert_eq!(secret.value().expose_secret(), want, "{context}");
            if let Some(stale) = expect["stale"].as_bool() {
                assert_eq!(secret.stale().is_some(), stale, "{context}: stale");
            }
            if let Some(age) = expect["age_seconds"].as_u64() {
                assert_eq!(secret.age(), Duration::from_secs(age), "{context}: age");
            }
        }
        Err(error) => check_error(
            error.kind(),
            Some(error.secret_name.as_str()),
            None,
            &format!("{error} {error:?}"),
            expect,
            context,
        ),
    }
}

fn check_error(
    kind: &str,
    secret: Option<&str>,
    reason: Option<&str>,
    shown: &str,
    expect: &Value,
    context: &str,
) {
    assert_no_canary(shown, context);
    let want = expect["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: expected {expect}, got the error {shown}"));
    assert_eq!(kind, want, "{context}: {shown}");
    // Exactly: an error that should name no secret names none.
    assert_eq!(
        secret,
        expect["secret"].as_str(),
        "{context}: the secret the error names"
    );
    if let Some(want) = expect["reason"].as_str() {
        assert_eq!(reason, Some(want), "{context}: reason");
    }
}

fn check_credentials(
    answer: Result<org_secrets::reader::Credentials, CredentialsError>,
    expect: &Value,
    context: &str,
) {
    match answer {
        Ok(credentials) => {
            assert_no_canary(&format!("{credentials:?}"), context);
            assert!(expect["error"].is_null(), "{context}: expected {expect}");
            let headers: Map<String, Value> = credentials
                .headers
                .iter()
                .map(|(header, value)| {
                    assert!(
                        value.is_sensitive(),
                        "{context}: {header} not marked sensitive"
                    );
                    (header.as_str().to_owned(), json!(value.to_str().unwrap()))
                })
                .collect();
            let query: Map<String, Value> = credentials
                .query
                .iter()
                .map(|(parameter, value)| (parameter.clone(), json!(value.expose_secret())))
                .collect();
            assert_eq!(
                Value::Object(headers),
                expect["headers"],
                "{context}: headers"
            );
            assert_eq!(Value::Object(query), expect["query"], "{context}: query");
        }
        Err(error) => {
            let (secret, reason) = match &error {
                CredentialsError::InvalidAuth(invalid) => (None, Some(invalid.reason.as_str())),
                CredentialsError::Secret(error) => (Some(error.secret_name.as_str()), None),
                CredentialsError::BasicWithoutColon { secret_name }
                | CredentialsError::InvalidHeaderValue { secret_name } => {
                    (Some(secret_name.as_str()), None)
                }
            };
            let shown = format!("{error} {error:?}");
            check_error(error.kind(), secret, reason, &shown, expect, context);
        }
    }
}

fn check_resolved(
    answer: Result<String, ResolveError>,
    field: &str,
    expect: &Value,
    context: &str,
) {
    match answer {
        Ok(resolved) => {
            let want = &expect[field];
            assert!(
                !want.is_null(),
                "{context}: expected {expect}, got a result"
            );
            let got: Value = if field == "text" {
                json!(resolved)
            } else {
                serde_json::from_str(&resolved).unwrap()
            };
            assert_eq!(&got, want, "{context}");
        }
        Err(error) => {
            let secret = match &error {
                ResolveError::Secret(error) => Some(error.secret_name.as_str()),
                ResolveError::InvalidReference { .. } => None,
            };
            let shown = format!("{error} {error:?}");
            check_error(error.kind(), secret, None, &shown, expect, context);
        }
    }
}

async fn resolve(reader: &CachingReader, template: &str) -> Result<String, ResolveError> {
    reader
        .resolve(&org(), template)
        .await
        .map(|value| value.expose_secret().to_owned())
}

fn section(name: &str) -> impl Iterator<Item = (String, &'static Value)> {
    let name = name.to_owned();
    cases()[name.as_str()]
        .as_array()
        .unwrap_or_else(|| panic!("no section {name}"))
        .iter()
        .enumerate()
        .map(move |(index, case)| (format!("{name}[{index}]"), case))
}

#[tokio::test]
async fn reads_and_batch_reads_follow_the_shared_cases() {
    let logs = Logs::default();
    let _capture = logs.capture();
    let harness = Harness::new(CacheConfig::default()).await;
    for (context, case) in section("reads") {
        let answer = harness.reader.get(&org(), &name(text(case, "name"))).await;
        check_secret(&answer, &case["expect"], &context);
    }
    for (context, case) in section("batch_reads") {
        let names: Vec<SecretName> = case["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|raw| name(raw.as_str().unwrap()))
            .collect();
        let answers = harness.reader.get_many(&org(), &names).await;
        let expected = case["expect"].as_object().unwrap();
        assert_eq!(
            answers.len(),
            expected.len(),
            "{context}: one answer per distinct name"
        );
        for (raw, expect) in expected {
            let answer = answers
                .get(&name(raw))
                .unwrap_or_else(|| panic!("{context}: {raw}"));
            check_secret(answer, expect, &format!("{context} {raw}"));
        }
    }
    assert_no_canary(&logs.text(), "logs");
}

#[tokio::test]
async fn credentials_follow_the_shared_cases() {
    let logs = Logs::default();
    let _capture = logs.capture();
    let harness = Harness::new(CacheConfig::default()).await;
    for (context, case) in section("credentials") {
        let answer = harness.reader.credentials(&org(), &case["auth"]).await;
        check_credentials(answer, &case["expect"], &context);
    }
    assert_no_canary(&logs.text(), "logs");
}

#[tokio::test]
async fn references_follow_the_shared_cases() {
    let logs = Logs::default();
    let _capture = logs.capture();
    let harness = Harness::new(CacheConfig::default()).await;
    for (context, case) in section("templates") {
        let answer = resolve(&harness.reader, text(case, "template")).await;
        check_resolved(answer, "text", &case["expect"], &context);
    }
    for (context, case) in section("documents") {
        let answer = harness
            .reader
            .resolve_document(&org(), &case["document"])
            .await
            .map(|document| {
                assert_no_canary(&format!("{document:?}"), &context);
                document.expose().to_string()
            });
        check_resolved(answer, "document", &case["expect"], &context);
    }
    assert_no_canary(&logs.text(), "logs");
}

#[tokio::test]
async fn the_cache_follows_the_shared_scenarios() {
    for (context, case) in section("cache") {
        let logs = Logs::default();
        let _capture = logs.capture();
        let config = &case["config"];
        let harness = Harness::new(CacheConfig {
            ttl: Duration::from_secs(config["ttl_seconds"].as_u64().unwrap()),
            max_entries: config["max_entries"].as_u64().unwrap() as usize,
            max_stale: Duration::from_secs(config["max_stale_seconds"].as_u64().unwrap()),
        })
        .await;
        let mut served_stale = false;
        for (index, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let context = format!("{context} step {index} {step}");
            run_step(&harness, step, &context).await;
            served_stale |= step["expect"]["stale"] == json!(true);
        }
        let logged = logs.text();
        assert_no_canary(&logged, &context);
        assert_eq!(
            logged.contains("secret served stale"),
            served_stale,
            "{context}: a stale value is logged, a fresh one is not:\n{logged}"
        );
    }
}

async fn run_step(harness: &Harness, step: &Value, context: &str) {
    let reader = &harness.reader;
    let expect = &step["expect"];
    let step_name = |field: &str| step[field].as_str().map(name);
    if let Some(secret) = step_name("get") {
        check_secret(&reader.get(&org(), &secret).await, expect, context);
    } else if let Some(secret) = step_name("refresh") {
        check_secret(&reader.refresh(&org(), &secret).await, expect, context);
    } else if let Some(secret) = step_name("invalidate") {
        reader.invalidate(&org(), &secret);
    } else if let Some(names) = step["get_many"].as_array() {
        let names: Vec<SecretName> = names
            .iter()
            .map(|raw| name(raw.as_str().unwrap()))
            .collect();
        let answers = reader.get_many(&org(), &names).await;
        let expected = expect.as_object().unwrap();
        assert_eq!(
            answers.len(),
            expected.len(),
            "{context}: one answer per distinct name"
        );
        for (raw, expect) in expected {
            check_secret(&answers[&name(raw)], expect, &format!("{context} {raw}"));
        }
    } else if let Some(template) = step["resolve"].as_str() {
        check_resolved(resolve(reader, template).await, "text", expect, context);
    } else if step.get("credentials").is_some() {
        let answer = reader.credentials(&org(), &step["credentials"]).await;
        check_credentials(answer, expect, context);
    } else if let Some(seconds) = step["advance_seconds"].as_u64() {
        harness.clock.advance(Duration::from_secs(seconds));
    } else if let Some(state) = step["store"].as_str() {
        harness
            .unreachable
            .store(state == "unreachable", Ordering::SeqCst);
    } else if let Some(label) = step["put"].as_str() {
        let mut item = seed_item(label);
        if let Some(renamed) = step["as"].as_str() {
            item.insert("secret_name".into(), AttributeValue::S(renamed.to_owned()));
        }
        put_raw_item(&harness.direct, item).await;
    } else if let Some(secret) = step["delete"].as_str() {
        harness
            .direct
            .client()
            .delete_item()
            .table_name(harness.direct.table().as_str())
            .key("org_id", AttributeValue::S(org().to_string()))
            .key("secret_name", AttributeValue::S(secret.to_owned()))
            .send()
            .await
            .expect("delete_item");
    } else if step.get("event").is_some() {
        match reader.apply_change_event(&step["event"]) {
            Ok(dropped) => assert_eq!(Some(dropped), expect["dropped"].as_bool(), "{context}"),
            Err(invalid) => {
                let shown = format!("{invalid} {invalid:?}");
                check_error(invalid.kind(), None, None, &shown, expect, context);
            }
        }
    } else {
        panic!("{context}: unknown step");
    }
}

// Beyond the table: what only the Rust reader's own tests can see.

/// Puts a secret as the function writes it (Fernet under the first key, bound), around the
/// reader.
async fn put_secret(store: &SecretStore, secret_name: &str, value: &str) {
    let key = (text(cases(), "org_id"), secret_name);
    put_raw_item(store, bound_item(key_list(), key, value, None)).await;
}

/// Twenty callers missing one secret at once make one `GetItem` and share its answer, a
/// value or an error; the next ones are cache hits.
#[tokio::test]
async fn concurrent_misses_of_one_secret_make_one_read() {
    let harness = Harness::new(CacheConfig::default()).await;
    for (secret, expect) in [
        (
            "stripe_api_key",
            json!({"value": "sk_live_CANARY-7f3a_51H"}),
        ),
        (
            "never_written",
            json!({"error": "not_found", "secret": "never_written"}),
        ),
    ] {
        let before = harness.requests();
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let reader = Arc::clone(&harness.reader);
            callers.spawn(async move { reader.get(&org(), &name(secret)).await });
        }
        let answers = callers.join_all().await;
        assert_eq!(answers.len(), 20);
        for answer in &answers {
            check_secret(answer, &expect, secret);
        }
        assert_eq!(
            harness.requests() - before,
            1,
            "{secret}: one read for twenty misses"
        );
    }
    let stats = harness.reader.stats();
    assert_eq!(stats.reads, 2, "{stats:?}");
    assert!(stats.hits <= 38, "{stats:?}");
    // A hit is served without a request.
    let before = harness.requests();
    check_secret(
        &harness.reader.get(&org(), &name("stripe_api_key")).await,
        &json!({"value": "sk_live_CANARY-7f3a_51H"}),
        "hit",
    );
    assert_eq!(harness.requests(), before);
}

/// `get_many` of 250 names is three `BatchGetItem` calls (100 keys each at most), and the
/// cached ones are not asked again; keys left unprocessed are resent until answered, and
/// past the resends each is `unavailable` on its own.
#[tokio::test]
async fn get_many_reads_at_most_100_names_a_call_and_resends_unprocessed_keys() {
    let harness = Harness::new(CacheConfig::default()).await;
    let names: Vec<String> = (0..250).map(|n| format!("bulk_{n:03}")).collect();
    for secret in &names {
        put_secret(
            &harness.direct,
            secret,
            &format!("value-{secret}-CANARY-7f3a"),
        )
        .await;
    }
    let parsed: Vec<SecretName> = names.iter().map(|raw| name(raw)).collect();
    let answers = harness.reader.get_many(&org(), &parsed).await;
    assert_eq!(harness.requests(), 3, "250 names in calls of at most 100");
    for secret in &names {
        let expect = json!({"value": format!("value-{secret}-CANARY-7f3a"), "stale": false});
        check_secret(&answers[&name(secret)], &expect, secret);
    }
    let again = harness.reader.get_many(&org(), &parsed[..120]).await;
    assert_eq!(again.len(), 120);
    assert_eq!(harness.requests(), 3, "fresh values come from the cache");

    // The first call's keys all come back unprocessed: resent, then answered.
    let throttled_once = Harness::with_plan(CacheConfig::default(), |_, calls| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Fault::AllUnprocessed
        } else {
            Fault::Pass
        }
    })
    .await;
    let two = [name("stripe_api_key"), name("legacy_token")];
    let answers = throttled_once.reader.get_many(&org(), &two).await;
    check_secret(
        &answers[&two[0]],
        &json!({"value": "sk_live_CANARY-7f3a_51H"}),
        "resent",
    );
    check_secret(
        &answers[&two[1]],
        &json!({"value": "legacy-CANARY-7f3a"}),
        "resent",
    );
    assert_eq!(throttled_once.requests(), 2, "one resend");

    // Never processed: each name is unavailable after the resends, nothing is cached.
    let throttled = Harness::with_plan(CacheConfig::default(), |_, _| Fault::AllUnprocessed).await;
    let answers = throttled.reader.get_many(&org(), &two).await;
    for secret in &two {
        let expect = json!({"error": "unavailable", "secret": secret.as_str()});
        check_secret(&answers[secret], &expect, "never processed");
    }
    assert_eq!(throttled.requests(), 7, "the first call and six resends");
}

/// The `SECRETS_CACHE_*` settings: defaults when unset, whole seconds and counts within
/// their bounds, and any other value refused naming the variable (never quoting it).
#[test]
fn cache_settings_come_from_the_environment() {
    use org_secrets::config::{cache_config_from, ConfigError};
    let settings = |vars: &[(&str, &str)]| {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        cache_config_from(&|name: &str| vars.get(name).cloned())
    };
    assert_eq!(settings(&[]), Ok(CacheConfig::default()));
    assert_eq!(
        CacheConfig::default(),
        CacheConfig {
            ttl: Duration::from_secs(300),
            max_entries: 1000,
            max_stale: Duration::from_secs(3600),
        }
    );
    assert_eq!(
        settings(&[
            ("SECRETS_CACHE_TTL_SECONDS", "0"),
            ("SECRETS_CACHE_MAX_ENTRIES", " 5 "),
            ("SECRETS_CACHE_MAX_STALE_SECONDS", "604800"),
        ]),
        Ok(CacheConfig {
            ttl: Duration::ZERO,
            max_entries: 5,
            max_stale: Duration::from_secs(604_800),
        })
    );
    for (var, raw) in [
        ("SECRETS_CACHE_TTL_SECONDS", "-1"),
        ("SECRETS_CACHE_TTL_SECONDS", "1.5"),
        ("SECRETS_CACHE_TTL_SECONDS", "86401"),
        ("SECRETS_CACHE_TTL_SECONDS", ""),
        ("SECRETS_CACHE_MAX_ENTRIES", "0"),
        ("SECRETS_CACHE_MAX_ENTRIES", "1000001"),
        ("SECRETS_CACHE_MAX_ENTRIES", "many"),
        ("SECRETS_CACHE_MAX_STALE_SECONDS", "604801"),
        ("SECRETS_CACHE_MAX_STALE_SECONDS", "1h"),
    ] {
        match settings(&[(var, raw)]) {
            Err(ConfigError::Invalid { var: named, reason }) => {
                assert_eq!(named, var);
                // The bounds, never the value given.
                assert!(reason.starts_with("must be a whole number"), "{reason}");
                assert!(!reason.contains(&format!("{raw:?}")), "{reason}");
            }
            other => panic!("{var}={raw:?}: {other:?}"),
        }
    }
}

/// Every section of the table is run here (as the Python suite checks too): a section added
/// to cases.json without a runner fails instead of passing unseen.
#[test]
fn every_section_of_the_table_is_run() {
    let run = [
        "reads",
        "batch_reads",
        "credentials",
        "templates",
        "documents",
        "cache",
    ];
    let about = [
        "about",
        "canary",
        "org_id",
        "encryption_key",
        "unknown_key",
        "seeds",
    ];
    let sections: Vec<&str> = cases()
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|section| !about.contains(section))
        .collect();
    let mut expected = run.to_vec();
    expected.sort_unstable();
    let mut sections = sections;
    sections.sort_unstable();
    assert_eq!(sections, expected);
}
