//! Change events, end to end: real API changes on DynamoDB Local with the table's stream on,
//! the stream's real records (read with the DynamoDB Streams API), a recovery copy removed as
//! TTL removes it, and the compiled `bootstrap` in its publisher role as a Lambda (the local
//! Runtime API) sending to an EventBridge that is not our code: moto's server, whose bus
//! routes a rule to its SQS queue, from which the test reads what a consumer would get.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, StreamSpecification, StreamViewType};
use org_secrets::publisher::EventKind;
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
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Self {
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
fn helper(args: &[&str]) -> String {
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
    let client = store.client().clone();
    let table = store.table().as_str().to_owned();
    client
        .update_table()
        .table_name(&table)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable the table's stream");
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
