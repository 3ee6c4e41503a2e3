//! Change events, end to end: real API changes on DynamoDB Local with the table's stream on,
//! the stream's real records (read with the DynamoDB Streams API), a recovery copy removed as
//! TTL removes it, and the compiled `bootstrap` in its publisher role as a Lambda (the local
//! Runtime API) sending to an EventBridge that is not our code: moto's server, whose bus
//! routes a rule to its SQS queue, from which the test reads what a consumer would get.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::publisher::{
    classify, handle_batch, ChangeEvent, Classified, EntryOutcome, EventKind,
};
use org_secrets_local::runtime_api::Invocation;
use serde_json::{json, Value};

use crate::contracts::event_schemas::{schema, violations};
use crate::lambda_binary::LambdaProcess;
use crate::support::*;

const ORG: &str = "org_events";
const BUS: &str = "org-secrets-events";
const SOURCE: &str = "org-secrets.test";
const CANARY: &str = "CANARY-event-value-5be1";

/// moto's server on a free loopback port, stopped on drop.
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
}

impl Moto {
    pub(crate) fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(python().with_file_name("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server (moto[server] in scripts/requirements-dev.txt)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tests/api/support/stream_and_bus.py` (boto3) and returns its stdout.
pub(crate) fn helper(args: &[&str]) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(python())
        .arg(project_path("tests/api/support/stream_and_bus.py"))
        .args(args)
        .output()
        .expect("run stream_and_bus.py");
    let stderr = String::from_utf8_lossy(&stderr);
    assert!(status.success(), "stream_and_bus.py {args:?}: {stderr}");
    String::from_utf8(stdout).expect("UTF-8 output")
}

fn helper_json(args: &[&str]) -> Value {
    serde_json::from_str(&helper(args)).expect("JSON from stream_and_bus.py")
}

fn key_of(record: &Value) -> (String, String) {
    let keys = &record["dynamodb"]["Keys"];
    let part = |name: &str| keys[name]["S"].as_str().unwrap_or_default().to_owned();
    (part("org_id"), part("secret_name"))
}

fn sequence_number(record: &Value) -> &str {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .expect("SequenceNumber")
}

/// Every string the stream holds that an event or a log line must never show: tokens,
/// bindings and seals.
fn stored_secrets(records: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for record in records {
        for image in ["NewImage", "OldImage"] {
            for attribute in ["encrypted_value", "binding", "seal"] {
                if let Some(text) = record["dynamodb"][image][attribute]["S"].as_str() {
                    found.push(text.to_owned());
                }
            }
        }
    }
    found
}

fn invoke(lambda: &LambdaProcess, batch: &[Value]) -> Value {
    let event = json!({ "Records": batch });
    match lambda
        .runtime
        .invoke(event.to_string().as_bytes(), Duration::from_secs(30))
    {
        Ok(Invocation::Response(payload)) => {
            serde_json::from_slice(&payload).expect("a JSON response")
        }
        other => panic!("publisher invocation: {other:?}; log:\n{}", lambda.log()),
    }
}

fn event_ids(events: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .map(|event| {
            event["detail"]["event_id"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn every_committed_change_is_published_once_per_delivery_without_a_value() {
    // The table, with its stream on as template.yaml sets it.
    let store = fresh_store().await;
    enable_stream(&store).await;
    let client = store.client().clone();
    let table = store.table().as_str().to_owned();
    let app = app_on(store, &[]);
    let admin = app.admin(ORG);
    let value = |n: u32| format!("{CANARY}-{n}");

    // Every kind of change through the handler.
    assert_eq!(admin.create("api_key", &value(1)).await.status, 201);
    assert_eq!(admin.update("api_key", &value(2)).await.status, 200);
    assert_eq!(admin.delete("api_key").await.status, 200);
    assert_eq!(admin.restore("api_key", None).await.status, 200);
    assert_eq!(admin.update("api_key", &value(3)).await.status, 200);
    assert_eq!(admin.restore("api_key", Some("previous")).await.status, 200);
    assert_eq!(admin.create("old_token", &value(4)).await.status, 201);
    assert_eq!(admin.delete("old_token").await.status, 200);
    // Not a change: a record re-sealed in place (as rotate-keys does), and a write that
    // commits nothing (404).
    let record = client
        .query()
        .table_name(&table)
        .key_condition_expression("org_id = :p")
        .expression_attribute_values(":p", AttributeValue::S(format!("\u{3}changes:{ORG}")))
        .limit(1)
        .send()
        .await
        .expect("a change record")
        .items()[0]
        .clone();
    client
        .update_item()
        .table_name(&table)
        .key("org_id", record["org_id"].clone())
        .key("secret_name", record["secret_name"].clone())
        .update_expression("SET seal = :s")
        .expression_attribute_values(":s", AttributeValue::S("resealed-by-the-test".into()))
        .send()
        .await
        .expect("re-seal a change record");
    assert_eq!(admin.update("missing", &value(5)).await.status, 404);
    // The deleted copy's window ends: removed as DynamoDB's TTL removes it.
    let copy_key = (
        format!("\u{2}recovery:{ORG}"),
        "deleted:old_token".to_owned(),
    );
    client
        .delete_item()
        .table_name(&table)
        .key("org_id", AttributeValue::S(copy_key.0.clone()))
        .key("secret_name", AttributeValue::S(copy_key.1.clone()))
        .send()
        .await
        .expect("remove the deleted copy");

    // The table's real stream. DynamoDB Local does not mark TTL removals: the test marks the
    // one it made as DynamoDB's TTL marks it.
    let mut records: Vec<Value> = helper_json(&["stream", &dynamodb_endpoint(), &table])
        .as_array()
        .expect("records")
        .clone();
    let removal = records
        .iter_mut()
        .find(|record| record["eventName"] == "REMOVE" && key_of(record) == copy_key)
        .expect("the copy's REMOVE record");
    removal["userIdentity"] = json!({ "type": "Service", "principalId": "dynamodb.amazonaws.com" });
    let secrets = stored_secrets(&records);
    assert!(!secrets.is_empty());

    let moto = Moto::start();
    let lambda = LambdaProcess::start(
        "publisher",
        &[
            ("ORG_SECRETS_FUNCTION", "publisher"),
            ("EVENT_BUS_NAME", BUS),
            ("EVENT_SOURCE", SOURCE),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", &moto.endpoint),
            ("RUST_LOG", "trace"),
        ],
    );

    // The bus does not exist yet: PutEvents fails, and the answer names the first change
    // record's stream record, from which Lambda would deliver the batch again.
    let first_change = records
        .iter()
        .position(|record| key_of(record).0.starts_with("\u{3}changes:"))
        .expect("a change record in the stream");
    let failed = invoke(&lambda, &records);
    assert_eq!(
        failed,
        json!({ "batchItemFailures": [{ "itemIdentifier": sequence_number(&records[first_change]) }] }),
        "{}",
        lambda.log()
    );

    // The bus comes; the batch is delivered again from the reported record, and goes through.
    let queue = helper(&["bus", &moto.endpoint, BUS, "changes", SOURCE]);
    let queue = queue.trim();
    let retry = &records[first_change..];
    assert_eq!(invoke(&lambda, retry), json!({ "batchItemFailures": [] }));
    let events: Vec<Value> = helper_json(&["drain", &moto.endpoint, queue])
        .as_array()
        .expect("messages")
        .clone();

    // One event per change, of the right kind, in version order per secret.
    let mut per_secret: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for event in &events {
        let detail = &event["detail"];
        assert_eq!(event["source"], SOURCE);
        assert_eq!(event["resources"], json!([]));
        assert_eq!(detail["organization"], ORG);
        let kind = EventKind::ALL
            .into_iter()
            .find(|kind| event["detail-type"] == kind.detail_type())
            .unwrap_or_else(|| panic!("unknown detail-type: {event}"));
        if kind.is_expiry() {
            assert_eq!(detail["actor"], Value::Null);
            assert!(detail.get("request_id").is_none());
            assert_eq!(detail["removed_by"], JWT_SUBJECT);
        } else {
            assert_eq!(detail["actor"], JWT_SUBJECT);
            assert!(detail["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()));
        }
        let problems = violations(&schema(kind), detail, kind.detail_type());
        assert!(problems.is_empty(), "{problems:#?}");
        let version = detail["version"]
            .as_u64()
            .unwrap_or_else(|| panic!("no version: {event}"));
        per_secret
            .entry(detail["name"].as_str().unwrap().to_owned())
            .or_default()
            .push((version, kind.detail_type().to_owned()));
    }
    // By version; a window's end follows the change that made the copy (same version).
    for changes in per_secret.values_mut() {
        changes.sort_by_key(|(version, detail_type)| (*version, detail_type.ends_with("Expired")));
    }
    let expected = |kinds: &[(u64, EventKind)]| {
        kinds
            .iter()
            .map(|(version, kind)| (*version, kind.detail_type().to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        per_secret.get("api_key"),
        Some(&expected(&[
            (1, EventKind::Created),
            (2, EventKind::Updated),
            (3, EventKind::Deleted),
            (4, EventKind::Restored),
            (5, EventKind::Updated),
            (6, EventKind::PreviousRestored),
        ])),
        "{events:#?}"
    );
    // The copy's window ending carries the version of the delete that made the copy.
    assert_eq!(
        per_secret.get("old_token"),
        Some(&expected(&[
            (1, EventKind::Created),
            (2, EventKind::Deleted),
            (2, EventKind::DeletedExpired),
        ])),
        "{events:#?}"
    );
    assert_eq!(per_secret.len(), 2, "{events:#?}");

    // The same batch delivered again: the same events, recognisable by their ids.
    assert_eq!(
        invoke(&lambda, &records),
        json!({ "batchItemFailures": [] })
    );
    let again: Vec<Value> = helper_json(&["drain", &moto.endpoint, queue])
        .as_array()
        .expect("messages")
        .clone();
    assert_eq!(event_ids(&again), event_ids(&events));
    let mut distinct = event_ids(&events);
    distinct.dedup();
    assert_eq!(distinct.len(), events.len());

    // No value, token, binding or seal in any event or any log line (TRACE), the failure's
    // included.
    let log = lambda.log();
    assert!(log.contains("stream batch done"), "{log}");
    let delivered =
        serde_json::to_string(&events).unwrap() + &serde_json::to_string(&again).unwrap();
    for text in [&log, &delivered] {
        assert!(!text.contains(CANARY));
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a stored secret leaked");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Found by an outside review: records no attempt can publish, windows that end before TTL,
// re-seals, and the mapping's time limits.
// ---------------------------------------------------------------------------------------

/// EventBridge's documented limits on a PutEvents entry that no retry can change: the entry
/// (time 14 bytes + source + detail-type + detail) under 256 KB, and every JSON integer of the
/// detail within i64 (PutEvents API reference: "For the JSON number (integer) data type, the
/// constraints are: a minimum value of -9,223,372,036,854,775,808 and a maximum value of
/// 9,223,372,036,854,775,807"). An entry outside them is refused every time it is sent.
fn eventbridge_would_accept(event: &ChangeEvent) -> bool {
    fn integers_fit(value: &Value) -> bool {
        match value {
            Value::Number(n) => n.is_i64() || !n.is_u64(),
            Value::Array(items) => items.iter().all(integers_fit),
            Value::Object(map) => map.values().all(integers_fit),
            _ => true,
        }
    }
    let size =
        14 + "org-secrets".len() + event.kind.detail_type().len() + event.detail.to_string().len();
    size < 256 * 1024 && integers_fit(&event.detail)
}

fn change_record(sequence: &str, sort: &str, name: &str, version: &str) -> Value {
    let image = json!({
        "change_op": { "S": "update" },
        "changed_secret": { "S": name },
        "changed_by": { "S": "alice" },
        "changed_at": { "S": "2026-01-02T03:04:05.678Z" },
        "request_id": { "S": "r" },
        "seal": { "S": "gAAAAA-seal" },
        "version": { "N": version },
        "history_key": { "S": format!("o\u{1f}{name}") },
    });
    json!({
        "eventName": "INSERT",
        "dynamodb": {
            "SequenceNumber": sequence,
            "Keys": { "org_id": { "S": "\u{3}changes:o" }, "secret_name": { "S": sort } },
            "NewImage": image,
        }
    })
}

/// A version above `i64::MAX` (only a record written around the function has one: versions
/// end there) is never an entry: EventBridge would refuse it on every attempt.
#[test]
fn a_change_at_a_version_above_i64_max_is_never_an_entry_eventbridge_refuses() {
    let version = (i64::MAX as u64 + 1).to_string();
    let record = change_record("1", "request:a", "k", &version);
    if let Classified::Event(event) = classify(&record) {
        assert!(
            eventbridge_would_accept(&event),
            "version {version} goes to PutEvents, which refuses it on every retry: {}",
            event.detail
        );
    }
}

/// A change record written outside the function with a 300 KB name is never an entry: over
/// 256 KB, EventBridge would refuse it on every attempt.
#[test]
fn an_oversized_record_is_never_an_entry_eventbridge_refuses() {
    let name = "n".repeat(300 * 1024);
    let record = change_record("1", "request:a", &name, "3");
    if let Classified::Event(event) = classify(&record) {
        assert!(
            eventbridge_would_accept(&event),
            "a {} byte detail goes to PutEvents, which refuses it on every retry",
            event.detail.to_string().len()
        );
    }
}

/// A record EventBridge can never take does not hold up the shard: it is skipped (logged,
/// counted) and the change behind it is published, through Lambda's redeliveries from the
/// reported record.
#[tokio::test]
async fn a_record_eventbridge_can_never_take_does_not_block_the_changes_behind_it() {
    let poison = change_record("100", "request:a", "k", &(i64::MAX as u64 + 1).to_string());
    let good = change_record("200", "request:b", "j", "1");
    let batch = json!({ "Records": [poison, good] });
    let mut published = Vec::new();
    let mut response = Value::Null;
    // Lambda delivering the batch again from the reported record, a few times.
    let mut records = batch["Records"].as_array().unwrap().clone();
    for _attempt in 0..5 {
        let report = handle_batch(&json!({ "Records": records }), |events| {
            let outcomes: Vec<EntryOutcome> = events
                .iter()
                .map(|event| match eventbridge_would_accept(event) {
                    true => EntryOutcome::Published,
                    false => EntryOutcome::Retry,
                })
                .collect();
            for (event, outcome) in events.iter().zip(&outcomes) {
                if *outcome == EntryOutcome::Published {
                    published.push(event.detail["name"].as_str().unwrap().to_owned());
                }
            }
            async move { Ok(outcomes) }
        })
        .await;
        response = report.response();
        let Some(from) = report.first_failed else {
            break;
        };
        let at = records
            .iter()
            .position(|r| r["dynamodb"]["SequenceNumber"] == from.as_str())
            .unwrap();
        records = records[at..].to_vec();
    }
    assert_eq!(
        response,
        json!({ "batchItemFailures": [] }),
        "the shard is stuck on a record EventBridge refuses every time"
    );
    assert_eq!(
        published,
        ["j"],
        "the good change behind it was never published"
    );
}

fn copy_record(event_name: &str, identity: Value, old: Value, new: Option<Value>) -> Value {
    let mut record = json!({
        "eventName": event_name,
        "userIdentity": identity,
        "dynamodb": {
            "SequenceNumber": "7",
            // One hour after the old copy's window ended; TTL had not got to it yet
            // (DynamoDB: "typically within a few days").
            "ApproximateCreationDateTime": 1_767_326_645u64,
            "Keys": {
                "org_id": { "S": "\u{2}recovery:o" },
                "secret_name": { "S": "previous:k" },
            },
            "OldImage": old,
        }
    });
    if let Some(new) = new {
        record["dynamodb"]["NewImage"] = new;
    }
    record
}

/// Lambda event filtering as far as the template's patterns use it: exact strings in a list,
/// `{"prefix": ...}`, and nested objects (all keys must match).
fn matches(pattern: &Value, event: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(key, sub)| event.get(key).is_some_and(|value| matches(sub, value))),
        Value::Array(options) => options.iter().any(|option| match option {
            Value::Object(rule) => rule["prefix"]
                .as_str()
                .zip(event.as_str())
                .is_some_and(|(prefix, text)| text.starts_with(prefix)),
            other => other == event,
        }),
        other => panic!("pattern element {other}"),
    }
}

fn passes_template_filters(record: &Value) -> bool {
    let template = yaml_file(&project_path("template.yaml"));
    let filters = template["Resources"]["PublisherFunction"]["Properties"]["Events"]["TableStream"]
        ["Properties"]["FilterCriteria"]["Filters"]
        .as_array()
        .expect("filters")
        .clone();
    filters.iter().any(|filter| {
        let pattern: Value = serde_json::from_str(filter["Pattern"].as_str().unwrap()).unwrap();
        matches(&pattern, record)
    })
}

/// A recovery copy's window ending is an event also when a write replaces (update, restore
/// of the previous value, a second delete) or removes (a delete with recovery off) the copy
/// after its `expires_at` but before TTL got to it (TTL runs up to days late): the old
/// image's `expires_at` is before the record's `ApproximateCreationDateTime`.
#[test]
fn a_copy_whose_window_ended_before_a_write_replaced_it_still_gets_its_expiry_event() {
    let expired = json!({
        "version": { "N": "4" },
        "expires_at": { "N": "1767323045" },
        "removed_at": { "S": "2025-12-26T03:04:05Z" },
        "removed_by": { "S": "alice" },
        "encrypted_value": { "S": "gAAAAA-token" },
    });
    let replacement = json!({
        "version": { "N": "7" },
        "expires_at": { "N": "1767931445" },
        "encrypted_value": { "S": "gAAAAA-token-2" },
    });
    for record in [
        copy_record("MODIFY", Value::Null, expired.clone(), Some(replacement)),
        copy_record("REMOVE", Value::Null, expired.clone(), None),
    ] {
        let event_name = record["eventName"].clone();
        let Classified::Event(event) = classify(&record) else {
            panic!("{event_name}: the copy's window ended (expires_at before the write) and no event says so");
        };
        assert_eq!(event.kind, EventKind::PreviousExpired, "{event_name}");
        assert_eq!(event.detail["version"], 4, "{event_name}");
        assert_eq!(event.time, "2026-01-02T03:04:05Z", "{event_name}");
        assert!(
            passes_template_filters(&record),
            "{event_name}: the template's FilterCriteria never hands it to the publisher"
        );
    }
    // A copy replaced inside its window is not an expiry (the change's own event says it).
    let mut live = copy_record("MODIFY", Value::Null, expired, None);
    live["dynamodb"]["ApproximateCreationDateTime"] = json!(1_767_300_000u64);
    assert_eq!(classify(&live), Classified::Ignored);
}

/// `secrets-admin rotate-keys` re-sealing in place a record from before versions (no
/// `version`, no `history_key`) is not a change and not an unreadable record.
#[test]
fn a_record_from_before_versions_resealed_in_place_is_not_a_change() {
    let image = |seal: &str| {
        json!({
            "change_op": { "S": "update" },
            "changed_secret": { "S": "k" },
            "changed_by": { "S": "alice" },
            "changed_at": { "S": "2026-01-02T03:04:05.678Z" },
            "request_id": { "S": "r" },
            "seal": { "S": seal },
        })
    };
    let record = json!({
        "eventName": "MODIFY",
        "dynamodb": {
            "SequenceNumber": "1",
            "Keys": { "org_id": { "S": "\u{3}changes:o" }, "secret_name": { "S": "request:a" } },
            "OldImage": image("gAAAAA-old-seal"),
            "NewImage": image("gAAAAA-new-seal"),
        }
    });
    assert_eq!(classify(&record), Classified::Ignored);
}

/// The publisher's timeout covers its worst batch (ten calls at the client's operation
/// timeout), so the partial-failure answer always comes; a timeout would redeliver the whole
/// batch, bisected.
#[test]
fn the_publisher_timeout_covers_its_worst_batch() {
    let template = yaml_file(&project_path("template.yaml"));
    let function = &template["Resources"]["PublisherFunction"]["Properties"];
    let timeout = function["Timeout"].as_u64().expect("Timeout");
    let batch = function["Events"]["TableStream"]["Properties"]["BatchSize"]
        .as_u64()
        .expect("BatchSize");
    let source = std::fs::read_to_string(project_path("src/publisher.rs")).unwrap();
    let per_call: u64 = source
        .split(".operation_timeout(Duration::from_secs(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .expect("the publisher's operation timeout");
    let calls = batch.div_ceil(org_secrets::publisher::MAX_ENTRIES_PER_CALL as u64);
    let uses_deadline = source.contains("deadline");
    assert!(
        uses_deadline || timeout > calls * per_call,
        "Timeout {timeout} s < {calls} calls x {per_call} s, and the publisher does not watch its deadline"
    );
}

/// A batch given up on for its age reaches the failure queue while the stream still holds
/// its records, so the runbook can publish them again.
#[test]
fn a_batch_given_up_on_for_its_age_can_still_be_re_driven() {
    let template = yaml_file(&project_path("template.yaml"));
    let age = template["Resources"]["PublisherFunction"]["Properties"]["Events"]["TableStream"]
        ["Properties"]["MaximumRecordAgeInSeconds"]
        .as_u64()
        .expect("MaximumRecordAgeInSeconds");
    let runbook = std::fs::read_to_string(project_path("docs/operations.md")).unwrap();
    let runbook = runbook.split_whitespace().collect::<Vec<_>>().join(" ");
    let promises_redrive = runbook.contains("Within the 24 hours, read the records");
    assert!(
        !promises_redrive || age <= 86400 - 3600,
        "MaximumRecordAgeInSeconds {age}: the failure record comes when the stream no longer \
         holds its records, yet the runbook re-drives from the stream"
    );
}

/// Held: the template's filters, as Lambda applies them (exact lists, `prefix`, nested keys,
/// control characters decoded from the pattern's `\u0003`/`\u0002` JSON escapes), pass every
/// record shape the publisher turns into an event, and drop archived records, a change
/// record's own removal and TTL removing anything else.
#[test]
fn held_the_template_filters_pass_exactly_the_records_that_can_be_events() {
    let insert = change_record("1", "request:a", "k", "3");
    let mut reused = insert.clone();
    reused["eventName"] = json!("MODIFY");
    reused["dynamodb"]["OldImage"] = insert["dynamodb"]["NewImage"].clone();
    reused["dynamodb"]["OldImage"]["version"] = json!({ "N": "2" });
    let ttl = json!({ "type": "Service", "principalId": "dynamodb.amazonaws.com" });
    let copy = json!({
        "version": { "N": "4" },
        "expires_at": { "N": "1767323045" },
    });
    let mut expired = copy_record("REMOVE", ttl.clone(), copy.clone(), None);
    expired["dynamodb"]["Keys"]["secret_name"] = json!({ "S": "deleted:k" });
    for record in [&insert, &reused, &expired] {
        assert!(matches!(classify(record), Classified::Event(_)));
        assert!(passes_template_filters(record), "{record}");
    }
    let archived = change_record("1", "archived:x:3:k", "k", "3");
    let mut own_removal = insert.clone();
    own_removal["eventName"] = json!("REMOVE");
    own_removal["userIdentity"] = ttl.clone();
    let mut live_ttl = copy_record("REMOVE", ttl, copy.clone(), None);
    live_ttl["dynamodb"]["Keys"]["org_id"] = json!({ "S": "o" });
    for record in [&archived, &own_removal, &live_ttl] {
        assert!(!passes_template_filters(record), "{record}");
    }
    // A copy removed by a write passes the filter (its window may have ended before TTL got
    // to it); inside its window the publisher makes nothing of it.
    let mut by_write = copy_record("REMOVE", Value::Null, copy, None);
    by_write["dynamodb"]["ApproximateCreationDateTime"] = json!(1_767_300_000u64);
    assert!(passes_template_filters(&by_write));
    assert_eq!(classify(&by_write), Classified::Ignored);
}
