//! An outside review of the change-event publisher (src/publisher.rs, template.yaml's
//! PublisherFunction, docs/operations.md "Change events"). Each test here failed when it was
//! written; each names the defect it shows.

use org_secrets::publisher::{classify, handle_batch, ChangeEvent, Classified, EventKind};
use serde_json::{json, Value};

use crate::support::{project_path, yaml_file};

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

/// A version item holding a large number is taken as it is (history.rs: "A version above
/// `i64::MAX` ... is written as it is"), so the API commits real changes at versions above
/// i64::MAX. Their events are refused by EventBridge on every attempt.
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

/// A change record written outside the function (the stream is believed, SECURITY.md) with a
/// 300 KB name: its entry is over 256 KB and refused on every attempt.
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

/// What a record EventBridge can never take does to the shard: the batch reports it as the
/// first failed record, Lambda redelivers from it, it fails again, ... until the record is 24
/// hours old (MaximumRecordAgeInSeconds) or 10,000 retries are spent. Every change after it on
/// the shard waits that long, and then Lambda gives up on the rest of the batch too: the good
/// changes behind it never get their events. A record that can never be published must be
/// skipped (logged, counted) like an Unreadable one, not retried.
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
            let flags: Vec<bool> = events
                .iter()
                .map(|event| !eventbridge_would_accept(event))
                .collect();
            for (event, refused) in events.iter().zip(&flags) {
                if !refused {
                    published.push(event.detail["name"].as_str().unwrap().to_owned());
                }
            }
            async move { Ok(flags) }
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

/// "A recovery copy's window ending" is a change event (issue 21, item 4), and the function
/// treats a copy past its expires_at as gone. But the event comes only from TTL's REMOVE:
/// when a write replaces (update, restore of the previous value, a second delete) or removes
/// (a delete with RECOVERY_WINDOW_DAYS=0) a copy whose window already ended, in the days TTL
/// takes to get to it, that window's end is never published. The stream record has it all:
/// the old image's expires_at is before the record's ApproximateCreationDateTime.
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

/// `secrets-admin rotate-keys` re-seals every change record in place, including those sealed
/// before versions (no `version`, no `history_key`; storage-contract.md "a record sealed
/// before versions has nine fields"). The contract says a MODIFY that keeps version and
/// history_key is not a change; the publisher instead logs each one as an Unreadable record
/// ("a change record ... which the function never writes"), a WARN the runbook treats as a
/// record that lost its event.
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

/// template.yaml: "A batch of up to 100 records is at most ten PutEvents calls of 10 s each at
/// worst. Timeout: 60". Ten calls of 10 s are 100 s: a slow EventBridge times the function out
/// in the middle of a batch, so it answers no batchItemFailures at all (a function error: the
/// whole batch again, bisected), and the code's partial-failure answer never happens. Either
/// the timeout covers the worst batch, or the publisher stops before its deadline
/// (Context::deadline) and reports the first record it did not send.
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

/// docs/operations.md: "Within the 24 hours, read the records with the failure record's
/// sequence numbers ... and publish them again", and the alarm: "Re-drive within the stream's
/// 24 hours". But MaximumRecordAgeInSeconds is 86400, the stream's retention itself: a batch
/// given up on for its age (the usual end of an outage, since 10,000 retries outlast most)
/// reaches the failure queue when its records are already at the end of the stream's
/// retention, so there is nothing left to re-drive. The age limit must leave time for the
/// runbook (or the docs must say those changes are lost).
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
/// record's own removal, a copy removed by a write and TTL removing anything else.
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
    let by_write = copy_record("REMOVE", Value::Null, copy.clone(), None);
    let mut live_ttl = copy_record("REMOVE", ttl, copy, None);
    live_ttl["dynamodb"]["Keys"]["org_id"] = json!({ "S": "o" });
    for record in [&archived, &own_removal, &by_write, &live_ttl] {
        assert!(!passes_template_filters(record), "{record}");
    }
}
