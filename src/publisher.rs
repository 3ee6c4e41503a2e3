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
/// EventBridge's limit on one entry, and on a PutEvents call's entries together (bytes).
pub const MAX_EVENTBRIDGE_BYTES: usize = 256 * 1024;
/// The longest `source` EventBridge takes: an entry's size is counted with it, whatever
/// `EVENT_SOURCE` is.
const MAX_SOURCE_BYTES: usize = 256;
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

/// Reads one stream record of the Lambda event (`Records[i]`). An event larger than
/// EventBridge takes (only a record written around the function can make one) is
/// unreadable: no attempt could publish it.
pub fn classify(record: &Value) -> Classified {
    match classify_record(record) {
        Classified::Event(event) if entry_size(&event) > MAX_EVENTBRIDGE_BYTES => {
            Classified::Unreadable(Unreadable("an event larger than EventBridge takes"))
        }
        other => other,
    }
}

fn classify_record(record: &Value) -> Classified {
    let stream = &record["dynamodb"];
    let keys = &stream["Keys"];
    let (Some(partition), Some(sort)) = (
        string_attr(keys, Attr::OrgId.name()),
        string_attr(keys, Attr::SecretName.name()),
    ) else {
        return Classified::Ignored;
    };
    if let Some(org) = partition.strip_prefix(CHANGE_PARTITION_PREFIX) {
        return classify_change_record(record, org, sort);
    }
    if let Some(org) = partition.strip_prefix(RECOVERY_PARTITION_PREFIX) {
        return classify_copy_removal(record, org, sort);
    }
    Classified::Ignored
}

/// A change record's INSERT is a change; so is a MODIFY that makes another version of a
/// secret (its identity slot taken over after 24 hours). A MODIFY that keeps `version` and
/// `history_key` as they were, present or not (`rotate-keys` re-sealing in place), is not.
fn classify_change_record(record: &Value, org: &str, sort: &str) -> Classified {
    if !sort.starts_with(RECORD_SORT_PREFIX) {
        return Classified::Ignored;
    }
    let stream = &record["dynamodb"];
    let new = &stream["NewImage"];
    match record["eventName"].as_str() {
        Some("INSERT") => from_change_record(org, new),
        Some("MODIFY") => {
            let old = &stream["OldImage"];
            let kept = |name| attr(new, name) == attr(old, name);
            if old.is_object() && kept(Attr::Version.name()) && kept(Attr::HistoryKey.name()) {
                Classified::Ignored
            } else {
                from_change_record(org, new)
            }
        }
        _ => Classified::Ignored,
    }
}

/// A recovery copy's window ended when DynamoDB's TTL removes it, and also when a write
/// replaces or removes it after its `expires_at` but before TTL got to it (TTL runs up to
/// days late, and the function treats a copy past its window as gone): its old image's
/// `expires_at` is then at or before the stream record's time. A copy replaced or removed
/// inside its window (update, delete, restore) is not an expiry: that change has its own
/// event.
fn classify_copy_removal(record: &Value, org: &str, sort: &str) -> Classified {
    let stream = &record["dynamodb"];
    let old = &stream["OldImage"];
    let by_ttl = record["userIdentity"]["type"].as_str() == Some("Service")
        && record["userIdentity"]["principalId"].as_str() == Some(TTL_PRINCIPAL);
    let window_over = || {
        let written_at = stream["ApproximateCreationDateTime"]
            .as_f64()
            .map(|secs| secs.floor());
        let expired_at = number_attr(old, Attr::ExpiresAt.name());
        // Seconds since 1970 are exact in an f64 for millions of years.
        matches!((written_at, expired_at), (Some(written), Some(expires)) if expires as f64 <= written)
    };
    let ended = match record["eventName"].as_str() {
        Some("REMOVE") => by_ttl || window_over(),
        Some("MODIFY") => window_over(),
        _ => false,
    };
    if !ended {
        return Classified::Ignored;
    }
    let (kind, name) = if let Some(name) = sort.strip_prefix(RecoverySlot::Deleted.prefix()) {
        (EventKind::DeletedExpired, name)
    } else if let Some(name) = sort.strip_prefix(RecoverySlot::Previous.prefix()) {
        (EventKind::PreviousExpired, name)
    } else {
        return Classified::Ignored;
    };
    from_expired_copy(kind, org, name, old)
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
    if !fits_eventbridge(version) {
        return Classified::Unreadable(Unreadable("a version beyond EventBridge's integers"));
    }
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
    if !fits_eventbridge(version) {
        return Classified::Unreadable(Unreadable("a version beyond EventBridge's integers"));
    }
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

/// EventBridge takes JSON integers up to `i64::MAX` only; the function makes no version
/// above it (a version item that holds one stops the name's writes).
fn fits_eventbridge(version: u64) -> bool {
    i64::try_from(version).is_ok()
}

/// An entry's size as EventBridge counts it (the time's 14 bytes, the source, the
/// detail-type and the detail), with the longest source.
pub fn entry_size(event: &ChangeEvent) -> usize {
    14 + MAX_SOURCE_BYTES + event.kind.detail_type().len() + event.detail.to_string().len()
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

/// What EventBridge did with one entry of a PutEvents call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryOutcome {
    Published,
    /// Refused for a reason a later attempt can cure (throttling, an internal failure, and
    /// also the bus's permissions or the account, which an operator fixes): the batch is
    /// delivered again from this entry.
    Retry,
    /// Refused for what the entry is (`MalformedDetail`, `InvalidArgument`): no attempt can
    /// publish it, so it is skipped (an ERROR line names it) and the batch goes on.
    Undeliverable,
}

impl EntryOutcome {
    /// The outcome EventBridge's per-entry `ErrorCode` means (`None`: published).
    pub fn of_error_code(code: Option<&str>) -> Self {
        match code {
            None => Self::Published,
            Some("MalformedDetail" | "InvalidArgument") => Self::Undeliverable,
            Some(_) => Self::Retry,
        }
    }
}

/// What a PutEvents call did with a chunk of entries: one outcome per entry, or `Err` for a
/// call that failed as a whole.
pub type ChunkOutcome = Result<Vec<EntryOutcome>, String>;

/// The outcome of one batch, also what the summary log line says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub records: usize,
    pub published: usize,
    pub ignored: usize,
    pub unreadable: usize,
    /// Refused by EventBridge for what they are: skipped.
    pub undeliverable: usize,
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
    for chunk in chunks(&entries) {
        let outcome = put(chunk.iter().map(|entry| entry.event.clone()).collect()).await;
        let outcomes = match outcome {
            Ok(outcomes) if outcomes.len() == chunk.len() => outcomes,
            Ok(_) => {
                tracing::error!("PutEvents answered a different number of entries");
                vec![EntryOutcome::Retry; chunk.len()]
            }
            Err(error) => {
                tracing::error!(error = %error, entries = chunk.len(), "PutEvents failed");
                vec![EntryOutcome::Retry; chunk.len()]
            }
        };
        let retry_at = outcomes.iter().position(|o| *o == EntryOutcome::Retry);
        for (entry, outcome) in chunk
            .iter()
            .zip(&outcomes)
            .take(retry_at.unwrap_or(chunk.len()))
        {
            if *outcome == EntryOutcome::Undeliverable {
                report.undeliverable += 1;
                tracing::error!(
                    sequence_number = %entry.sequence_number,
                    event_id = %entry.event.event_id(),
                    "EventBridge refused an event no attempt can publish; skipped"
                );
            } else {
                report.published += 1;
            }
        }
        match retry_at {
            None => {}
            Some(index) => {
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
        undeliverable = report.undeliverable,
        failed_from = report.first_failed.as_deref().unwrap_or(""),
        "stream batch done"
    );
    report
}

/// The entries in PutEvents calls, in order: at most [`MAX_ENTRIES_PER_CALL`] per call and
/// at most [`MAX_EVENTBRIDGE_BYTES`] together.
fn chunks(entries: &[Entry]) -> Vec<&[Entry]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, entry) in entries.iter().enumerate() {
        let size = entry_size(&entry.event);
        if index > start
            && (index - start == MAX_ENTRIES_PER_CALL || bytes + size > MAX_EVENTBRIDGE_BYTES)
        {
            chunks.push(&entries[start..index]);
            start = index;
            bytes = 0;
        }
        bytes += size;
    }
    if start < entries.len() {
        chunks.push(&entries[start..]);
    }
    chunks
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
        let outcomes: Vec<EntryOutcome> = results
            .iter()
            .map(|result| match (result.error_code(), result.event_id()) {
                (None, None) => EntryOutcome::Retry,
                (code, _) => EntryOutcome::of_error_code(code),
            })
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
        Ok(outcomes)
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
            async move {
                Ok((0..chunk.len())
                    .map(|i| match (call, i) {
                        (2, 3) => EntryOutcome::Retry,
                        _ => EntryOutcome::Published,
                    })
                    .collect())
            }
        }));
        assert_eq!(calls, [10, 10]);
        assert_eq!(report.published, 13);
        assert_eq!(
            report.response(),
            json!({ "batchItemFailures": [{ "itemIdentifier": "013" }] })
        );
        // An entry refused for what it is is skipped; the batch goes on past it.
        let report = runtime.block_on(handle_batch(&event, |chunk| async move {
            Ok((0..chunk.len())
                .map(|i| match i {
                    1 => EntryOutcome::Undeliverable,
                    _ => EntryOutcome::Published,
                })
                .collect())
        }));
        assert_eq!((report.published, report.undeliverable), (22, 3));
        assert_eq!(report.response(), json!({ "batchItemFailures": [] }));
        // A call failing as a whole: its first record.
        let report = runtime.block_on(handle_batch(&event, |_| async { Err("down".to_owned()) }));
        assert_eq!(
            report.response(),
            json!({ "batchItemFailures": [{ "itemIdentifier": "000" }] })
        );
        // All published: no failure.
        let report = runtime.block_on(handle_batch(&event, |chunk| async move {
            Ok(vec![EntryOutcome::Published; chunk.len()])
        }));
        assert_eq!(
            (report.published, report.response()),
            (25, json!({ "batchItemFailures": [] }))
        );
    }

    #[test]
    fn error_codes_say_whether_a_retry_can_publish_an_entry() {
        let cases = [
            (None, EntryOutcome::Published),
            (Some("ThrottlingException"), EntryOutcome::Retry),
            (Some("InternalFailure"), EntryOutcome::Retry),
            // An operator fixes these; the events wait for the fix.
            (Some("AccessDeniedException"), EntryOutcome::Retry),
            (Some("NotAuthorizedForSourceException"), EntryOutcome::Retry),
            (Some("SomethingNew"), EntryOutcome::Retry),
            (Some("MalformedDetail"), EntryOutcome::Undeliverable),
            (Some("InvalidArgument"), EntryOutcome::Undeliverable),
        ];
        for (code, expected) in cases {
            assert_eq!(EntryOutcome::of_error_code(code), expected, "{code:?}");
        }
    }

    #[test]
    fn calls_hold_at_most_ten_entries_and_256_kb() {
        let event = |name_bytes: usize| Entry {
            sequence_number: "1".to_owned(),
            event: ChangeEvent {
                kind: EventKind::Created,
                time: "2026-01-01T00:00:00Z".to_owned(),
                detail: json!({ "name": "n".repeat(name_bytes) }),
            },
        };
        let small: Vec<Entry> = (0..25).map(|_| event(10)).collect();
        let sizes: Vec<usize> = chunks(&small).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let large: Vec<Entry> = (0..5).map(|_| event(100 * 1024)).collect();
        let sizes: Vec<usize> = chunks(&large).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        for chunk in chunks(&large) {
            let bytes: usize = chunk.iter().map(|e| entry_size(&e.event)).sum();
            assert!(bytes <= MAX_EVENTBRIDGE_BYTES);
        }
        assert!(chunks(&[]).is_empty());
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
