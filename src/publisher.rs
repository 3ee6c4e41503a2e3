//! The change-event publisher: the `publisher` role of `bootstrap` (`ORG_SECRETS_FUNCTION=publisher`),
//! deployed as a function of its own on the table's DynamoDB stream (`NEW_AND_OLD_IMAGES`).
//!
//! The stream is the outbox: every committed write puts one change record in its transaction,
//! so a change record's stream record exists exactly when the change committed. Each batch of
//! stream records becomes EventBridge `PutEvents` calls of at most ten entries, in stream
//! order; the answer reports the first record not published (`batchItemFailures`), and Lambda
//! retries the batch from there. Delivery is at least once: a redelivered record yields the
//! same `event_id` ([`event_id`]), and a consumer orders one secret's events by `version`.
//!
//! What produces an event (docs/storage-contract.md, "The stream"):
//! - a change record's INSERT, or a MODIFY that carries another `version` or `history_key`
//!   than the old image (the record's identity slot reused after its 24 hours); a MODIFY with
//!   the same ones (`rotate-keys` re-sealing) is not a change;
//! - the removal of a recovery copy by DynamoDB's TTL (`userIdentity` is the DynamoDB
//!   service): its window ended.
//!
//! Nothing else does: archived change records, live secrets, counters, markers, a recovery
//! copy removed by a write. An event never carries a value, a token, a binding, a seal, a
//! digest or an idempotency key; logs name sequence numbers and counts only.
//!
//! The attribute names and key prefixes are the storage contract's own (`storage::item`,
//! docs/storage-contract.md); `tests/api/publisher.rs` runs real writes through this code.

use std::fmt::Write as _;
use std::future::Future;

use serde_json::{json, Map, Value};

use crate::storage::{
    Attr, RecoverySlot, CHANGE_PARTITION_PREFIX, RECORD_SORT_PREFIX, RECOVERY_PARTITION_PREFIX,
};
use sha2::{Digest, Sha256};

/// Who removes an item when its TTL passes, as the stream record's `userIdentity` names it.
const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";
/// PutEvents takes at most ten entries per call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;
/// The default `source` of every event (`EVENT_SOURCE`).
pub const DEFAULT_EVENT_SOURCE: &str = "org-secrets";

/// The kinds of change event, one `detail-type` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Created,
    Updated,
    Deleted,
    Restored,
    PreviousRestored,
    DeletedExpired,
    PreviousExpired,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        Self::Created,
        Self::Updated,
        Self::Deleted,
        Self::Restored,
        Self::PreviousRestored,
        Self::DeletedExpired,
        Self::PreviousExpired,
    ];

    /// The event's `detail-type`.
    pub const fn detail_type(self) -> &'static str {
        match self {
            Self::Created => "Secret Created",
            Self::Updated => "Secret Updated",
            Self::Deleted => "Secret Deleted",
            Self::Restored => "Secret Restored",
            Self::PreviousRestored => "Secret Previous Value Restored",
            Self::DeletedExpired => "Deleted Secret Expired",
            Self::PreviousExpired => "Previous Value Expired",
        }
    }

    /// The file name of the kind's JSON Schema under `docs/events/`.
    pub const fn schema_file(self) -> &'static str {
        match self {
            Self::Created => "secret-created.schema.json",
            Self::Updated => "secret-updated.schema.json",
            Self::Deleted => "secret-deleted.schema.json",
            Self::Restored => "secret-restored.schema.json",
            Self::PreviousRestored => "secret-previous-value-restored.schema.json",
            Self::DeletedExpired => "deleted-secret-expired.schema.json",
            Self::PreviousExpired => "previous-value-expired.schema.json",
        }
    }

    /// Whether the kind is a recovery copy's window ending (no actor, no request).
    pub const fn is_expiry(self) -> bool {
        matches!(self, Self::DeletedExpired | Self::PreviousExpired)
    }

    fn of_change_op(op: &str) -> Option<Self> {
        Some(match op {
            "create" => Self::Created,
            "update" => Self::Updated,
            "delete" => Self::Deleted,
            "restore_deleted" => Self::Restored,
            "restore_previous" => Self::PreviousRestored,
            _ => return None,
        })
    }
}

/// One event to publish: what EventBridge needs besides the source and the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub kind: EventKind,
    /// RFC 3339: the change's time (for an expiry, the end of the copy's window).
    pub time: String,
    /// The `detail` object.
    pub detail: Value,
}

impl ChangeEvent {
    pub fn event_id(&self) -> &str {
        self.detail["event_id"].as_str().unwrap_or_default()
    }
}

/// The stable id of an event: hex SHA-256 of the length-prefixed kind, organization, name and
/// version, so the same change published twice (a redelivered batch) has the same id.
pub fn event_id(kind: EventKind, organization: &str, name: &str, version: u64) -> String {
    let mut hasher = Sha256::new();
    for part in [
        "org-secrets/change-event/v1",
        kind.detail_type(),
        organization,
        name,
        &version.to_string(),
    ] {
        hasher.update((part.len() as u32).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Why a stream record that looks like a change could not be read as one. The record is
/// skipped and logged by its sequence number; the reason never quotes an attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

/// What one stream record means.
#[derive(Debug, Clone, PartialEq)]
pub enum Classified {
    /// Not a change: no event.
    Ignored,
    /// A change, or a window's end: one event.
    Event(ChangeEvent),
    /// A change record or copy this code cannot read (missing attributes): no event.
    Unreadable(Unreadable),
}

/// Reads one stream record of the Lambda event (`Records[i]`).
pub fn classify(record: &Value) -> Classified {
    let stream = &record["dynamodb"];
    let keys = &stream["Keys"];
    let (Some(partition), Some(sort)) = (
        string_attr(keys, Attr::OrgId.name()),
        string_attr(keys, Attr::SecretName.name()),
    ) else {
        return Classified::Ignored;
    };
    match record["eventName"].as_str() {
        Some(op @ ("INSERT" | "MODIFY")) => {
            let (Some(org), Some(_)) = (
                partition.strip_prefix(CHANGE_PARTITION_PREFIX),
                sort.strip_prefix(RECORD_SORT_PREFIX),
            ) else {
                return Classified::Ignored;
            };
            let new = &stream["NewImage"];
            if op == "MODIFY" {
                let old = &stream["OldImage"];
                let same = |name| {
                    let new_value = attr(new, name);
                    new_value.is_some() && new_value == attr(old, name)
                };
                if same(Attr::Version.name()) && same(Attr::HistoryKey.name()) {
                    return Classified::Ignored;
                }
            }
            from_change_record(org, new)
        }
        Some("REMOVE") => {
            let by_ttl = record["userIdentity"]["type"].as_str() == Some("Service")
                && record["userIdentity"]["principalId"].as_str() == Some(TTL_PRINCIPAL);
            let Some(org) = partition.strip_prefix(RECOVERY_PARTITION_PREFIX) else {
                return Classified::Ignored;
            };
            if !by_ttl {
                return Classified::Ignored;
            }
            let (kind, name) = if let Some(name) = sort.strip_prefix(RecoverySlot::Deleted.prefix())
            {
                (EventKind::DeletedExpired, name)
            } else if let Some(name) = sort.strip_prefix(RecoverySlot::Previous.prefix()) {
                (EventKind::PreviousExpired, name)
            } else {
                return Classified::Ignored;
            };
            from_expired_copy(kind, org, name, &stream["OldImage"])
        }
        _ => Classified::Ignored,
    }
}

fn from_change_record(org: &str, image: &Value) -> Classified {
    let Some(kind) = string_attr(image, Attr::ChangeOp.name()).and_then(EventKind::of_change_op)
    else {
        return Classified::Unreadable(Unreadable("change record without a known change_op"));
    };
    let Some(name) = string_attr(image, Attr::ChangedSecret.name()) else {
        return Classified::Unreadable(Unreadable("change record without changed_secret"));
    };
    let Some(version) = number_attr(image, Attr::Version.name()) else {
        return Classified::Unreadable(Unreadable("change record without a version"));
    };
    let Some(time) = string_attr(image, Attr::ChangedAt.name()) else {
        return Classified::Unreadable(Unreadable("change record without changed_at"));
    };
    let (Some(actor), Some(request_id)) = (
        string_attr(image, Attr::ChangedBy.name()),
        string_attr(image, Attr::RequestId.name()),
    ) else {
        return Classified::Unreadable(Unreadable(
            "change record without changed_by or request_id",
        ));
    };
    let detail = json!({
        "event_id": event_id(kind, org, name, version),
        "organization": org,
        "name": name,
        "version": version,
        "actor": actor,
        "request_id": request_id,
        "time": time,
    });
    Classified::Event(ChangeEvent {
        kind,
        time: time.to_owned(),
        detail,
    })
}

fn from_expired_copy(kind: EventKind, org: &str, name: &str, image: &Value) -> Classified {
    let Some(version) = number_attr(image, Attr::Version.name()) else {
        return Classified::Unreadable(Unreadable("recovery copy without a version"));
    };
    let Some(expires_at) = number_attr(image, Attr::ExpiresAt.name()).and_then(rfc3339_of_epoch)
    else {
        return Classified::Unreadable(Unreadable("recovery copy without expires_at"));
    };
    let mut detail = Map::new();
    detail.insert("event_id".into(), json!(event_id(kind, org, name, version)));
    detail.insert("organization".into(), json!(org));
    detail.insert("name".into(), json!(name));
    detail.insert("version".into(), json!(version));
    // No one acted: the window ended. Who made the copy, and when, is kept apart.
    detail.insert("actor".into(), Value::Null);
    detail.insert("time".into(), json!(expires_at));
    detail.insert(
        "removed_at".into(),
        string_attr(image, Attr::RemovedAt.name()).map_or(Value::Null, |s| json!(s)),
    );
    detail.insert(
        "removed_by".into(),
        string_attr(image, Attr::RemovedBy.name()).map_or(Value::Null, |s| json!(s)),
    );
    Classified::Event(ChangeEvent {
        kind,
        time: expires_at,
        detail: Value::Object(detail),
    })
}

/// An attribute of a DynamoDB-JSON image, as `{"S": ...}` or `{"N": ...}`.
fn attr<'a>(image: &'a Value, name: &str) -> Option<&'a Value> {
    image.get(name)
}

fn string_attr<'a>(image: &'a Value, name: &str) -> Option<&'a str> {
    image.get(name)?.get("S")?.as_str()
}

/// A non-negative integer `N` attribute.
fn number_attr(image: &Value, name: &str) -> Option<u64> {
    image.get(name)?.get("N")?.as_str()?.trim().parse().ok()
}

/// Unix seconds as RFC 3339 UTC (`1970-01-01T00:00:00Z`), as the function writes times.
fn rfc3339_of_epoch(secs: u64) -> Option<String> {
    use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
    DateTime::from_secs(i64::try_from(secs).ok()?)
        .fmt(DateTimeFormat::DateTime)
        .ok()
}

/// An event as one PutEvents entry: the detail serialized, the rest as fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The stream record it came from (`dynamodb.SequenceNumber`).
    pub sequence_number: String,
    pub event: ChangeEvent,
}

/// What a PutEvents call did with a chunk of entries: `Ok(n_failed_per_entry)` with one flag per
/// entry (true: EventBridge refused it), or `Err` for a call that failed as a whole.
pub type ChunkOutcome = Result<Vec<bool>, String>;

/// The outcome of one batch, also what the summary log line says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub records: usize,
    pub published: usize,
    pub ignored: usize,
    pub unreadable: usize,
    /// The sequence number of the first record not published, if any.
    pub first_failed: Option<String>,
}

impl BatchReport {
    /// The Lambda response for a stream batch with `ReportBatchItemFailures`.
    pub fn response(&self) -> Value {
        let failures: Vec<Value> = self
            .first_failed
            .iter()
            .map(|seq| json!({ "itemIdentifier": seq }))
            .collect();
        json!({ "batchItemFailures": failures })
    }
}

/// Handles one Lambda stream event: classifies every record, publishes the events in order
/// through `put` (at most [`MAX_ENTRIES_PER_CALL`] per call), and stops at the first chunk
/// that did not go through whole: the earliest record of it not published is reported, and
/// Lambda redelivers the batch from there (events already sent come again with the same ids).
pub async fn handle_batch<F, Fut>(event: &Value, mut put: F) -> BatchReport
where
    F: FnMut(Vec<ChangeEvent>) -> Fut,
    Fut: Future<Output = ChunkOutcome>,
{
    let records = event["Records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut report = BatchReport {
        records: records.len(),
        ..BatchReport::default()
    };
    let mut entries = Vec::new();
    for record in records {
        let sequence_number = record["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match classify(record) {
            Classified::Ignored => report.ignored += 1,
            Classified::Unreadable(Unreadable(reason)) => {
                report.unreadable += 1;
                tracing::warn!(
                    sequence_number = %sequence_number,
                    reason,
                    "stream record skipped: not readable as a change"
                );
            }
            Classified::Event(event) => entries.push(Entry {
                sequence_number,
                event,
            }),
        }
    }
    for chunk in entries.chunks(MAX_ENTRIES_PER_CALL) {
        let outcome = put(chunk.iter().map(|entry| entry.event.clone()).collect()).await;
        let failed_at = match outcome {
            Ok(flags) if flags.len() == chunk.len() => flags.iter().position(|failed| *failed),
            Ok(_) => {
                tracing::error!("PutEvents answered a different number of entries");
                Some(0)
            }
            Err(error) => {
                tracing::error!(error = %error, entries = chunk.len(), "PutEvents failed");
                Some(0)
            }
        };
        match failed_at {
            None => report.published += chunk.len(),
            Some(index) => {
                report.published += index;
                let first = &chunk[index];
                tracing::warn!(
                    sequence_number = %first.sequence_number,
                    event_id = %first.event.event_id(),
                    "event not published; the batch is retried from its record"
                );
                report.first_failed = Some(first.sequence_number.clone());
                break;
            }
        }
    }
    tracing::info!(
        records = report.records,
        published = report.published,
        ignored = report.ignored,
        unreadable = report.unreadable,
        failed_from = report.first_failed.as_deref().unwrap_or(""),
        "stream batch done"
    );
    report
}

/// The publisher's configuration: `EVENT_BUS_NAME` (a name or ARN; required) and
/// `EVENT_SOURCE` (default `org-secrets`). It needs no key: it never sees a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherConfig {
    pub bus: String,
    pub source: String,
}

impl PublisherConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let given = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let bus = given("EVENT_BUS_NAME").ok_or_else(|| {
            "EVENT_BUS_NAME is required for ORG_SECRETS_FUNCTION=publisher".to_owned()
        })?;
        let source = given("EVENT_SOURCE").unwrap_or_else(|| DEFAULT_EVENT_SOURCE.to_owned());
        // EventBridge's limits: a bus name or ARN of at most 1600 characters, a source of at
        // most 256 that does not start with `aws.` (reserved).
        if bus.len() > 1600 || bus.chars().any(char::is_whitespace) {
            return Err("EVENT_BUS_NAME is not an event bus name or ARN".to_owned());
        }
        if source.len() > 256 || source.starts_with("aws.") || source.chars().any(char::is_control)
        {
            return Err("EVENT_SOURCE must be 1-256 characters, not starting with aws.".to_owned());
        }
        Ok(Self { bus, source })
    }

    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// The publisher with its EventBridge client.
pub struct Publisher {
    config: PublisherConfig,
    client: aws_sdk_eventbridge::Client,
}

impl Publisher {
    /// The client from the standard AWS configuration (`AWS_ENDPOINT_URL_EVENTBRIDGE` points it
    /// elsewhere), with bounded timeouts and the SDK's standard retries.
    pub async fn connect(config: PublisherConfig) -> Self {
        use aws_sdk_eventbridge::config::retry::RetryConfig;
        use aws_sdk_eventbridge::config::timeout::TimeoutConfig;
        use std::time::Duration;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let client_config = aws_sdk_eventbridge::config::Builder::from(&sdk)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(Duration::from_secs(3))
                    .operation_timeout(Duration::from_secs(10))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .build();
        Self {
            config,
            client: aws_sdk_eventbridge::Client::from_conf(client_config),
        }
    }

    /// Handles one Lambda stream event and returns the Lambda response.
    pub async fn handle(&self, event: &Value) -> Value {
        handle_batch(event, |events| self.put(events))
            .await
            .response()
    }

    async fn put(&self, events: Vec<ChangeEvent>) -> ChunkOutcome {
        use aws_sdk_eventbridge::primitives::{DateTime, DateTimeFormat};
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        let entries = events
            .iter()
            .map(|event| {
                let time = DateTime::from_str(&event.time, DateTimeFormat::DateTime).ok();
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.config.bus)
                    .source(&self.config.source)
                    .detail_type(event.kind.detail_type())
                    .detail(event.detail.to_string())
                    .set_time(time)
                    .build()
            })
            .collect::<Vec<_>>();
        let count = entries.len();
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            // The SDK's error names the service's code and message, never the request's entries.
            .map_err(|err| aws_sdk_eventbridge::error::DisplayErrorContext(err).to_string())?;
        let results = output.entries();
        if results.len() != count {
            return Ok(Vec::new());
        }
        let flags: Vec<bool> = results
            .iter()
            .map(|result| result.error_code().is_some() || result.event_id().is_none())
            .collect();
        for (result, event) in results.iter().zip(&events) {
            if let Some(code) = result.error_code() {
                tracing::warn!(
                    event_id = %event.event_id(),
                    error_code = code,
                    "EventBridge refused an entry"
                );
            }
        }
        Ok(flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_become_rfc3339() {
        assert_eq!(rfc3339_of_epoch(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_of_epoch(951_782_400).unwrap(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339_of_epoch(1_767_225_599).unwrap(),
            "2025-12-31T23:59:59Z"
        );
        assert_eq!(rfc3339_of_epoch(u64::MAX), None);
    }

    #[test]
    fn event_ids_are_stable_and_distinct_per_part() {
        let id = event_id(EventKind::Created, "org_a", "x", 1);
        assert_eq!(id, event_id(EventKind::Created, "org_a", "x", 1));
        assert_eq!(id.len(), 64);
        assert_ne!(id, event_id(EventKind::Updated, "org_a", "x", 1));
        assert_ne!(id, event_id(EventKind::Created, "org_a", "x", 2));
        // Length prefixes: moving a character across the boundary changes the id.
        assert_ne!(
            event_id(EventKind::Created, "org_ax", "", 1),
            event_id(EventKind::Created, "org_a", "x", 1)
        );
    }

    fn change_record(event_name: &str, sort: &str, version: &str, history_key: &str) -> Value {
        let image = json!({
            "change_op": { "S": "update" },
            "changed_secret": { "S": "k" },
            "changed_by": { "S": "alice" },
            "changed_at": { "S": "2026-01-02T03:04:05.678Z" },
            "request_id": { "S": "r" },
            "seal": { "S": "gAAAAA-seal" },
            "version": { "N": version },
            "history_key": { "S": history_key },
        });
        json!({
            "eventName": event_name,
            "dynamodb": {
                "SequenceNumber": "1",
                "Keys": { "org_id": { "S": "\u{3}changes:o" }, "secret_name": { "S": sort } },
                "NewImage": image,
                "OldImage": image,
            }
        })
    }

    fn is_event(record: &Value) -> bool {
        matches!(classify(record), Classified::Event(_))
    }

    /// What produces an event and what does not (docs/storage-contract.md "The stream").
    #[test]
    fn only_changes_and_ttl_removals_of_copies_are_events() {
        assert!(is_event(&change_record(
            "INSERT",
            "request:a",
            "3",
            "o\u{1f}k"
        )));
        // Archived copies of a record, and a record's own removal, are not.
        assert!(!is_event(&change_record(
            "INSERT",
            "archived:a:3",
            "3",
            "o\u{1f}k"
        )));
        assert!(!is_event(&change_record(
            "REMOVE",
            "request:a",
            "3",
            "o\u{1f}k"
        )));
        // Re-sealed in place (same version and history key): not a change.
        assert!(!is_event(&change_record(
            "MODIFY",
            "request:a",
            "3",
            "o\u{1f}k"
        )));
        // The slot reused after 24 hours: a new change.
        let mut reused = change_record("MODIFY", "request:a", "3", "o\u{1f}k");
        reused["dynamodb"]["OldImage"]["version"] = json!({ "N": "2" });
        assert!(is_event(&reused));
        let mut other_secret = change_record("MODIFY", "request:a", "3", "o\u{1f}k");
        other_secret["dynamodb"]["OldImage"]["history_key"] = json!({ "S": "o\u{1f}j" });
        assert!(is_event(&other_secret));
        // A record without a version is not published (and is logged).
        let mut old = change_record("INSERT", "request:a", "3", "o\u{1f}k");
        old["dynamodb"]["NewImage"]
            .as_object_mut()
            .unwrap()
            .remove("version");
        assert!(matches!(classify(&old), Classified::Unreadable(_)));

        let copy = |identity: Value, partition: &str, sort: &str| {
            json!({
                "eventName": "REMOVE",
                "userIdentity": identity,
                "dynamodb": {
                    "SequenceNumber": "2",
                    "Keys": { "org_id": { "S": partition }, "secret_name": { "S": sort } },
                    "OldImage": {
                        "version": { "N": "4" },
                        "expires_at": { "N": "1767323045" },
                        "encrypted_value": { "S": "gAAAAA-token" },
                    },
                }
            })
        };
        let ttl = json!({ "type": "Service", "principalId": "dynamodb.amazonaws.com" });
        let recovery = "\u{2}recovery:o";
        assert!(is_event(&copy(ttl.clone(), recovery, "deleted:k")));
        assert!(is_event(&copy(ttl.clone(), recovery, "previous:k")));
        // Removed by a write (restore, a delete with recovery off): not an expiry.
        assert!(!is_event(&copy(Value::Null, recovery, "deleted:k")));
        assert!(!is_event(&copy(
            json!({ "type": "Service", "principalId": "x" }),
            recovery,
            "deleted:k"
        )));
        // TTL removing anything else: a live item, a version head, a marker.
        assert!(!is_event(&copy(ttl.clone(), "o", "k")));
        assert!(!is_event(&copy(ttl.clone(), "o", "\u{4}version:k")));
        assert!(!is_event(&copy(
            ttl,
            "\u{1}org-secrets",
            "\u{1}bindings-complete"
        )));
    }

    #[test]
    fn a_batch_stops_at_the_first_chunk_not_published_and_reports_its_first_failed_record() {
        let records: Vec<Value> = (0..25)
            .map(|n| {
                let mut record =
                    change_record("INSERT", "request:a", &(n + 1).to_string(), "o\u{1f}k");
                record["dynamodb"]["SequenceNumber"] = json!(format!("{:03}", n));
                record
            })
            .collect();
        let event = json!({ "Records": records });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // The second chunk's fourth entry is refused: records 0-12 are published.
        let mut calls = Vec::new();
        let report = runtime.block_on(handle_batch(&event, |chunk| {
            calls.push(chunk.len());
            let call = calls.len();
            async move { Ok((0..chunk.len()).map(|i| call == 2 && i == 3).collect()) }
        }));
        assert_eq!(calls, [10, 10]);
        assert_eq!(report.published, 13);
        assert_eq!(
            report.response(),
            json!({ "batchItemFailures": [{ "itemIdentifier": "013" }] })
        );
        // A call failing as a whole: its first record.
        let report = runtime.block_on(handle_batch(&event, |_| async { Err("down".to_owned()) }));
        assert_eq!(
            report.response(),
            json!({ "batchItemFailures": [{ "itemIdentifier": "000" }] })
        );
        // All published: no failure.
        let report = runtime.block_on(handle_batch(&event, |chunk| async move {
            Ok(vec![false; chunk.len()])
        }));
        assert_eq!(
            (report.published, report.response()),
            (25, json!({ "batchItemFailures": [] }))
        );
    }

    #[test]
    fn configuration_needs_a_bus_and_defaults_the_source() {
        let config = PublisherConfig::from_lookup(|name| {
            (name == "EVENT_BUS_NAME").then(|| "org-secrets-events".to_owned())
        })
        .unwrap();
        assert_eq!(config.source, "org-secrets");
        assert!(PublisherConfig::from_lookup(|_| None).is_err());
        assert!(PublisherConfig::from_lookup(|name| Some(match name {
            "EVENT_BUS_NAME" => "b".to_owned(),
            _ => "aws.secrets".to_owned(),
        }))
        .is_err());
    }
}
