//! Item conversion: the one place that knows the attribute names of the stored layout
//! (`docs/storage-contract.md`), each written once, in [`Attr`]. The rest of the module names
//! attributes through [`Attr`] and converts items with `From`/`TryFrom`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::admin::{
    AttributeDefect, BindingsMarker, Malformation, MalformedItem, ScannedItem, StoredRecord,
};
use super::{NewSecret, StoredSecret, StoredToken};
use crate::crypto::{EncryptedValue, TokenBinding};
use crate::domain::{Actor, OrgId, RecoveryWindow, RequestId};

/// Recovery copies live in a partition of their own per organization, so an
/// organization's partition (what list and Python consumers query) holds exactly what it
/// always held. Organization ids never contain control characters, so no organization's
/// partition can be this one.
pub(crate) const RECOVERY_PARTITION_PREFIX: &str = "\u{2}recovery:";

/// Change records live in a partition of their own per organization, for the same reason.
pub(crate) const CHANGE_PARTITION_PREFIX: &str = "\u{3}changes:";
/// The sort key of a change record: this, then its request identity's digest.
pub(crate) const RECORD_SORT_PREFIX: &str = "request:";
/// The sort key of an archived change record (a record whose identity a later request took
/// over after the replay horizon, kept for the history): this, the identity's digest, `:`,
/// the record's version, `:` and its secret's name (an identity may be taken over on other
/// names, whose versions may be the same).
const ARCHIVED_SORT_PREFIX: &str = "archived:";
/// The sort key of a secret name's version item, in its organization's partition: this,
/// then the name. The control character keeps it out of list and every consumer's query.
const VERSION_SORT_PREFIX: &str = "\u{4}version:";
/// Between the organization and the name in `history_key` (the history index's partition
/// key): neither may contain it.
const HISTORY_KEY_SEPARATOR: char = '\u{1f}';

/// The TTL attribute: DynamoDB deletes a recovery copy some time after this (Unix seconds).
pub const EXPIRY_ATTRIBUTE: &str = Attr::ExpiresAt.name();

/// The sort key of an organization's counter item. Valid secret names never contain control
/// characters, so this can never be a secret, and it sorts before every name.
pub const COUNTER_SORT_KEY: &str = "\u{1}org-secrets-count";

/// The key of the table's **bindings marker** (`secrets-admin bind` and `create-table` write
/// it; docs/storage-contract.md): a partition of its own, whose control character keeps it
/// out of every organization, so no list or reader ever sees it.
pub const BINDINGS_MARKER_PARTITION: &str = "\u{1}org-secrets";
pub const BINDINGS_MARKER_SORT_KEY: &str = "\u{1}bindings-complete";

pub(super) fn bindings_marker_key() -> RawItem {
    key(BINDINGS_MARKER_PARTITION, BINDINGS_MARKER_SORT_KEY)
}

impl From<&BindingsMarker> for RawItem {
    fn from(marker: &BindingsMarker) -> Self {
        let mut item = bindings_marker_key();
        for (name, value) in [
            (Attr::MarkedAt.name(), &marker.marked_at),
            (Attr::MarkedBy.name(), &marker.marked_by),
        ] {
            item.insert(name.to_owned(), AttributeValue::S(value.clone()));
        }
        item
    }
}

impl From<&RawItem> for BindingsMarker {
    /// Its presence is what counts; attributes someone else wrote read as `?`.
    fn from(item: &RawItem) -> Self {
        let text = |name| string_attr(item, name).unwrap_or_else(|| "?".to_owned());
        Self {
            marked_at: text(Attr::MarkedAt.name()),
            marked_by: text(Attr::MarkedBy.name()),
        }
    }
}

/// A raw DynamoDB item (or key).
pub(super) type RawItem = HashMap<String, AttributeValue>;

/// An attribute of the stored layout (docs/storage-contract.md): the one place its name is
/// written. `LegacyChanges` is a legacy attribute (docs/storage-contract.md), ignored and
/// dropped from an item on its next write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attr {
    OrgId,
    SecretName,
    EncryptedValue,
    CreatedAt,
    CreatedBy,
    RequestId,
    IdempotencyKey,
    UpdatedAt,
    UpdatedBy,
    SecretCount,
    Binding,
    RestoredAt,
    RestoredBy,
    RemovedAt,
    RemovedBy,
    LegacyChanges,
    ExpiresAt,
    ChangeOp,
    ChangedSecret,
    ChangedBy,
    ChangedAt,
    ReplayUntil,
    Seal,
    MarkedAt,
    MarkedBy,
    Description,
    Version,
    HistoryKey,
}

impl Attr {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Attr::OrgId => "org_id",
            Attr::SecretName => "secret_name",
            Attr::EncryptedValue => "encrypted_value",
            Attr::CreatedAt => "created_at",
            Attr::CreatedBy => "created_by",
            Attr::RequestId => "request_id",
            Attr::IdempotencyKey => "idempotency_key",
            Attr::UpdatedAt => "updated_at",
            Attr::UpdatedBy => "updated_by",
            Attr::SecretCount => "secret_count",
            Attr::Binding => "binding",
            Attr::RestoredAt => "restored_at",
            Attr::RestoredBy => "restored_by",
            Attr::RemovedAt => "removed_at",
            Attr::RemovedBy => "removed_by",
            Attr::LegacyChanges => "changes",
            Attr::ExpiresAt => "expires_at",
            Attr::ChangeOp => "change_op",
            Attr::ChangedSecret => "changed_secret",
            Attr::ChangedBy => "changed_by",
            Attr::ChangedAt => "changed_at",
            Attr::ReplayUntil => "replay_until",
            Attr::Seal => "seal",
            Attr::MarkedAt => "marked_at",
            Attr::MarkedBy => "marked_by",
            Attr::Description => "description",
            Attr::Version => "version",
            Attr::HistoryKey => "history_key",
        }
    }
}

/// The primary key of the item `org_id`/`name` (a secret, the counter or the warm-up key).
pub(super) fn key(org_id: &str, name: &str) -> RawItem {
    HashMap::from([
        (
            Attr::OrgId.name().to_owned(),
            AttributeValue::S(org_id.to_owned()),
        ),
        (
            Attr::SecretName.name().to_owned(),
            AttributeValue::S(name.to_owned()),
        ),
    ])
}

/// An item's partition and sort key, when both are strings.
pub(super) fn primary_key(item: &RawItem) -> Option<(&str, &str)> {
    let text = |attr: Attr| item.get(attr.name()).and_then(|v| v.as_s().ok());
    Some((
        text(Attr::OrgId)?.as_str(),
        text(Attr::SecretName)?.as_str(),
    ))
}

pub(super) fn string_attr(item: &RawItem, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// The secret name of a listed item.
#[cfg(feature = "lambda")]
pub(super) fn secret_name(item: &RawItem) -> Option<String> {
    string_attr(item, Attr::SecretName.name())
}

/// The counter item's `secret_count`, as stored (`None` when absent or not a number type).
pub(super) fn secret_count(item: &RawItem) -> Option<&str> {
    item.get(Attr::SecretCount.name())
        .and_then(|value| value.as_n().ok())
        .map(String::as_str)
}

/// A new secret's item, complete: key, token, binding, `created_*` and request id.
pub(super) struct NewItem<'a> {
    pub(super) org_id: &'a OrgId,
    pub(super) secret: NewSecret<'a>,
    pub(super) created_by: &'a Actor,
    pub(super) request_id: &'a RequestId,
    pub(super) created_at: String,
    pub(super) version: u64,
}

impl From<NewItem<'_>> for RawItem {
    fn from(new: NewItem<'_>) -> Self {
        let NewItem {
            org_id,
            secret,
            created_by,
            request_id,
            created_at,
            version,
        } = new;
        let mut item = key(org_id.as_str(), secret.name.as_str());
        let text = AttributeValue::S;
        item.extend([
            (
                Attr::EncryptedValue.name().to_owned(),
                text(secret.encrypted_value.into_string()),
            ),
            (Attr::CreatedAt.name().to_owned(), text(created_at)),
            (
                Attr::CreatedBy.name().to_owned(),
                text(created_by.as_str().to_owned()),
            ),
            (
                Attr::RequestId.name().to_owned(),
                text(request_id.as_str().to_owned()),
            ),
            (
                Attr::Binding.name().to_owned(),
                text(secret.binding.into_string()),
            ),
        ]);
        item.insert(
            Attr::Version.name().to_owned(),
            AttributeValue::N(version.to_string()),
        );
        if let Some(description) = secret.description {
            item.insert(
                Attr::Description.name().to_owned(),
                text(description.as_str().to_owned()),
            );
        }
        item
    }
}

impl From<&RawItem> for StoredSecret {
    fn from(item: &RawItem) -> Self {
        Self {
            encrypted_value: string_attr(item, Attr::EncryptedValue.name())
                .map(EncryptedValue::from_stored),
            binding: string_attr(item, Attr::Binding.name()).map(TokenBinding::from_stored),
            // Versions start at 1: a 0 is no version, as in the Python reader.
            version: number_attr(item, Attr::Version.name()).filter(|version| *version >= 1),
        }
    }
}

/// What a table scan found: a token holder (a live secret or a recovery copy) as it stands,
/// whatever its attributes hold, or one of the items that hold no token. The one place that
/// decides what is a secret: a partition starting with a control character is never an
/// organization, so only the recovery partitions there hold secrets' items.
impl From<&RawItem> for ScannedItem {
    fn from(item: &RawItem) -> Self {
        let Some((partition, sort)) = primary_key(item) else {
            return ScannedItem::Other;
        };
        if partition == BINDINGS_MARKER_PARTITION && sort == BINDINGS_MARKER_SORT_KEY {
            return ScannedItem::Marker;
        }
        if sort == COUNTER_SORT_KEY && !partition.starts_with(char::is_control) {
            return ScannedItem::Counter;
        }
        if let Some(org_id) = partition.strip_prefix(CHANGE_PARTITION_PREFIX) {
            let attributes = RecordAttributes::from(item);
            return ScannedItem::ChangeRecord(Box::new(StoredRecord {
                place: ItemPlace {
                    org_id: org_id.to_owned(),
                    secret_name: attributes
                        .changed_secret
                        .clone()
                        .unwrap_or_else(|| "?".to_owned()),
                    copy: None,
                    change_record: Some(sort.to_owned()),
                },
                seal: attributes.seal.clone().map(EncryptedValue::from_stored),
                attributes,
                key: ItemKey(key(partition, sort)),
            }));
        }
        let Some(place) = ItemPlace::of(partition, sort) else {
            return ScannedItem::Other;
        };
        let value = item.get(Attr::EncryptedValue.name());
        let binding = item.get(Attr::Binding.name());
        match (value, binding) {
            (Some(AttributeValue::S(token)), None | Some(AttributeValue::S(_))) => {
                ScannedItem::Token(StoredToken {
                    encrypted_value: EncryptedValue::from_stored(token.clone()),
                    binding: string_attr(item, Attr::Binding.name()).map(TokenBinding::from_stored),
                    key: ItemKey(key(partition, sort)),
                    place,
                })
            }
            (None, None)
                if place.copy == Some(RecoverySlot::Deleted)
                    && item
                        .keys()
                        .all(|name| TOMBSTONE_ATTRIBUTES.contains(&name.as_str())) =>
            {
                ScannedItem::Tombstone(place)
            }
            _ => ScannedItem::Malformed(MalformedItem {
                place,
                defects: Malformation {
                    encrypted_value: AttributeDefect::of(value),
                    binding: AttributeDefect::of(binding),
                },
            }),
        }
    }
}

/// Every attribute of a tombstone, a legacy deleted copy without a value or binding
/// (docs/storage-contract.md): the key, who removed the value, its expiry and the change
/// ledger. Spelled out, so that a change of the layout never turns the tombstones in tables
/// into problems.
const TOMBSTONE_ATTRIBUTES: [&str; 6] = [
    "org_id",
    "secret_name",
    "removed_at",
    "removed_by",
    "expires_at",
    "changes",
];

/// The key of a change record: its organization's change partition, and its request
/// identity's digest.
pub(super) fn change_record_key(org_id: &str, identity_digest: &str) -> RawItem {
    key(
        &format!("{CHANGE_PARTITION_PREFIX}{org_id}"),
        &format!("{RECORD_SORT_PREFIX}{identity_digest}"),
    )
}

/// Where the record at `record_key`, of `version` of `name`, is archived when a later
/// request takes over its identity.
pub(super) fn archived_record_key(
    record_key: &RawItem,
    version: u64,
    name: &str,
) -> Option<RawItem> {
    let (partition, sort) = primary_key(record_key)?;
    let digest = sort.strip_prefix(RECORD_SORT_PREFIX)?;
    Some(key(
        partition,
        &format!("{ARCHIVED_SORT_PREFIX}{digest}:{version}:{name}"),
    ))
}

/// The key of the item holding the last version of `name` in `org_id`: it outlives the
/// secret, so a name deleted and created again goes on counting.
pub(super) fn version_key(org_id: &str, name: &str) -> RawItem {
    key(org_id, &format!("{VERSION_SORT_PREFIX}{name}"))
}

/// The history index's partition key of `name` in `org_id`.
pub(super) fn history_key(org_id: &str, name: &str) -> String {
    format!("{org_id}{HISTORY_KEY_SEPARATOR}{name}")
}

/// The name of the table's history index (partition `history_key`, sort `version`).
pub const HISTORY_INDEX: &str = "history";

/// A number attribute as a `u64`, if it is one.
pub(super) fn number_attr(item: &RawItem, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
}

/// A change record's attributes besides its key, typed. Read back from a table, an
/// attribute that is missing or of another type reads as `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RecordAttributes {
    pub(super) change_op: Option<String>,
    pub(super) changed_secret: Option<String>,
    pub(super) changed_by: Option<String>,
    pub(super) changed_at: Option<String>,
    pub(super) request_id: Option<String>,
    pub(super) idempotency_key: Option<String>,
    pub(super) replay_until: Option<i64>,
    pub(super) expires_at: Option<i64>,
    pub(super) seal: Option<String>,
    /// The version of the secret this change produced, and the history index's key.
    pub(super) version: Option<u64>,
    pub(super) history_key: Option<String>,
}

impl RecordAttributes {
    /// The record's item under `record_key`.
    pub(super) fn into_item(self, record_key: RawItem) -> RawItem {
        let text = [
            (Attr::ChangeOp, self.change_op),
            (Attr::ChangedSecret, self.changed_secret),
            (Attr::ChangedBy, self.changed_by),
            (Attr::ChangedAt, self.changed_at),
            (Attr::RequestId, self.request_id),
            (Attr::IdempotencyKey, self.idempotency_key),
            (Attr::Seal, self.seal),
            (Attr::HistoryKey, self.history_key),
        ]
        .into_iter()
        .filter_map(|(attr, value)| Some((attr.name().to_owned(), AttributeValue::S(value?))));
        let numbers = [
            (Attr::ReplayUntil, self.replay_until),
            (Attr::ExpiresAt, self.expires_at),
        ]
        .into_iter()
        .filter_map(|(attr, value)| {
            Some((
                attr.name().to_owned(),
                AttributeValue::N(value?.to_string()),
            ))
        });
        let version = self.version.map(|v| {
            (
                Attr::Version.name().to_owned(),
                AttributeValue::N(v.to_string()),
            )
        });
        let mut item = record_key;
        item.extend(text.chain(numbers).chain(version));
        item
    }
}

impl From<&RawItem> for RecordAttributes {
    fn from(item: &RawItem) -> Self {
        let text = |attr: Attr| string_attr(item, attr.name());
        let number = |attr: Attr| {
            item.get(attr.name())
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
        };
        Self {
            change_op: text(Attr::ChangeOp),
            changed_secret: text(Attr::ChangedSecret),
            changed_by: text(Attr::ChangedBy),
            changed_at: text(Attr::ChangedAt),
            request_id: text(Attr::RequestId),
            idempotency_key: text(Attr::IdempotencyKey),
            replay_until: number(Attr::ReplayUntil),
            expires_at: number(Attr::ExpiresAt),
            seal: text(Attr::Seal),
            version: number_attr(item, Attr::Version.name()),
            history_key: text(Attr::HistoryKey),
        }
    }
}

/// Which of a secret's items a scanned item is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPlace {
    pub org_id: String,
    /// The secret's name, also for its recovery copies (whose sort key is not the name).
    pub secret_name: String,
    /// `None` for the live secret.
    pub copy: Option<RecoverySlot>,
    /// For a change record (of a change to this secret): its sort key, to find it by.
    pub change_record: Option<String>,
}

impl ItemPlace {
    /// `None` for items that are not a secret or a copy of one (the counter item).
    fn of(partition: &str, sort: &str) -> Option<Self> {
        if let Some(org_id) = partition.strip_prefix(RECOVERY_PARTITION_PREFIX) {
            let (copy, secret_name) = [RecoverySlot::Deleted, RecoverySlot::Previous]
                .into_iter()
                .find_map(|slot| sort.strip_prefix(slot.prefix()).map(|name| (slot, name)))?;
            return Some(Self {
                org_id: org_id.to_owned(),
                secret_name: secret_name.to_owned(),
                copy: Some(copy),
                change_record: None,
            });
        }
        // Valid names never start with a control character; the counter's key does.
        if partition.starts_with(char::is_control) || sort.starts_with(char::is_control) {
            return None;
        }
        Some(Self {
            org_id: partition.to_owned(),
            secret_name: sort.to_owned(),
            copy: None,
            change_record: None,
        })
    }
}

impl std::fmt::Display for ItemPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", shown(&self.org_id), shown(&self.secret_name))?;
        match (self.copy, &self.change_record) {
            (_, Some(sort_key)) => write!(f, " (change record {})", shown(sort_key)),
            (Some(slot), None) => write!(f, " ({} copy)", slot.as_str()),
            (None, None) => Ok(()),
        }
    }
}

/// Text read from the table, fit for an operator's terminal: control characters (which
/// no name the function writes contains, but a writer around it may plant to forge or
/// erase report lines) are shown escaped (`\u{1b}`), never sent.
pub(crate) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// The primary key of a scanned item, for a conditional write back to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemKey(pub(super) RawItem);

/// The two recovery copies a secret can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoverySlot {
    /// The value the last delete removed.
    Deleted,
    /// The value the last update (or restore of the previous value) replaced.
    Previous,
}

impl RecoverySlot {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            RecoverySlot::Deleted => "deleted:",
            RecoverySlot::Previous => "previous:",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecoverySlot::Deleted => "deleted",
            RecoverySlot::Previous => "previous",
        }
    }
}

/// The key of a secret's recovery copy.
pub(super) fn recovery_key(org_id: &str, slot: RecoverySlot, name: &str) -> RawItem {
    key(
        &format!("{RECOVERY_PARTITION_PREFIX}{org_id}"),
        &format!("{}{name}", slot.prefix()),
    )
}

/// The partition and sort-key prefix under which `org_id`'s copies of `slot` are kept.
#[cfg(feature = "lambda")]
pub(super) fn recovery_prefix(org_id: &str, slot: RecoverySlot) -> (String, &'static str) {
    (
        format!("{RECOVERY_PARTITION_PREFIX}{org_id}"),
        slot.prefix(),
    )
}

/// The secret name of a recovery copy of `slot`, from its sort key.
#[cfg(feature = "lambda")]
pub(super) fn recovery_copy_name(item: &RawItem, slot: RecoverySlot) -> Option<String> {
    let (_, sort) = primary_key(item)?;
    sort.strip_prefix(slot.prefix()).map(str::to_owned)
}

/// A deleted secret that can still be restored: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedSecret {
    pub secret_name: String,
    pub deleted_at: Option<String>,
    pub deleted_by: Option<String>,
    /// RFC 3339: a restore can bring it back until then.
    pub restorable_until: String,
}

impl DeletedSecret {
    /// The deleted copy `item` as listed, if it is one and still recoverable at `now_epoch`.
    #[cfg(feature = "lambda")]
    pub(super) fn of(item: RawItem, now_epoch: i64) -> Option<Self> {
        let (_, sort) = primary_key(&item)?;
        let secret_name = sort
            .strip_prefix(RecoverySlot::Deleted.prefix())?
            .to_owned();
        let copy = Snapshot::from(item);
        if !copy.is_recoverable(now_epoch) {
            return None;
        }
        let restorable_until = copy.expires_at().and_then(|at| {
            aws_sdk_dynamodb::primitives::DateTime::from_secs(at)
                .fmt(aws_sdk_dynamodb::primitives::DateTimeFormat::DateTime)
                .ok()
        })?;
        Some(Self {
            secret_name,
            deleted_at: copy.string(Attr::RemovedAt.name()).map(str::to_owned),
            deleted_by: copy.string(Attr::RemovedBy.name()).map(str::to_owned),
            restorable_until,
        })
    }
}

/// What describe shows of a secret: who made, changed and restored it and when, and until
/// when its previous value can be restored. Never a value, token, binding or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMetadata {
    pub description: Option<String>,
    /// `None` only for an item written around the function without them.
    pub created_at: Option<String>,
    pub created_by: Option<String>,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
    pub restored_at: Option<String>,
    pub restored_by: Option<String>,
    /// Increases by one with every change of the name; 0 for a secret not changed since
    /// versions were introduced.
    pub version: u64,
    /// Until when (RFC 3339) the previous value, the one the last update or restore of the
    /// previous value replaced, can be restored. `None`: there is none.
    pub previous_restorable_until: Option<String>,
}

impl SecretMetadata {
    /// The live item's metadata, with its previous copy if that is still this secret's
    /// and recoverable at `now_epoch` (as a restore of the previous value would judge it).
    #[cfg(feature = "lambda")]
    pub(super) fn of(live: &Snapshot, previous: Option<&Snapshot>, now_epoch: i64) -> Self {
        let text = |attr: Attr| live.string(attr.name()).map(str::to_owned);
        let previous_restorable_until = previous
            .filter(|copy| copy.is_recoverable(now_epoch) && copy.same_secret_as(live))
            .and_then(Snapshot::expires_at)
            .and_then(|at| {
                aws_sdk_dynamodb::primitives::DateTime::from_secs(at)
                    .fmt(aws_sdk_dynamodb::primitives::DateTimeFormat::DateTime)
                    .ok()
            });
        Self {
            description: text(Attr::Description),
            created_at: text(Attr::CreatedAt),
            created_by: text(Attr::CreatedBy),
            updated_at: text(Attr::UpdatedAt),
            updated_by: text(Attr::UpdatedBy),
            restored_at: text(Attr::RestoredAt),
            restored_by: text(Attr::RestoredBy),
            version: live.version().unwrap_or(0),
            previous_restorable_until,
        }
    }
}

/// Who removed a value from the live item, and until when its copy is kept.
pub(super) struct Removal<'a> {
    pub(super) at: &'a str,
    pub(super) by: &'a Actor,
    /// Unix seconds, the TTL.
    pub(super) expires_at: i64,
    /// The version of the change that removed it.
    pub(super) version: u64,
}

/// Who restored a value, in the change of which version.
pub(super) struct Restoration<'a> {
    pub(super) at: &'a str,
    pub(super) by: &'a Actor,
    pub(super) version: u64,
}

/// An item as read (a live secret or a recovery copy), for the lifecycle operations.
#[derive(Debug, Clone)]
pub(super) struct Snapshot(RawItem);

impl From<RawItem> for Snapshot {
    fn from(item: RawItem) -> Self {
        Self(item)
    }
}

/// Attributes a recovery copy has and a live secret does not.
const COPY_ONLY: [&str; 3] = [
    Attr::RemovedAt.name(),
    Attr::RemovedBy.name(),
    Attr::ExpiresAt.name(),
];
/// The legacy attributes a write drops (docs/storage-contract.md): a create's idempotency
/// key and the change ledger, whose work change records do.
const DROPPED_ON_WRITE: [&str; 2] = [Attr::IdempotencyKey.name(), Attr::LegacyChanges.name()];

impl Snapshot {
    pub(super) fn encrypted_value(&self) -> Option<&str> {
        self.string(Attr::EncryptedValue.name())
    }

    pub(super) fn binding(&self) -> Option<&str> {
        self.string(Attr::Binding.name())
    }

    /// The version the item was written at; `None` before versions were introduced.
    #[cfg(feature = "lambda")]
    pub(super) fn version(&self) -> Option<u64> {
        number_attr(&self.0, Attr::Version.name())
    }

    fn string(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }

    /// The condition that the item is still the one read: its token is unchanged (every
    /// change of value writes a new token, whose IV is random). Compared as stored, whatever
    /// its type, so an item written around the function with a token that is not a string
    /// can still be updated or deleted instead of looking changed forever.
    pub(super) fn unchanged_condition(&self) -> (String, RawItem) {
        match self.0.get(Attr::EncryptedValue.name()) {
            Some(token) => (
                format!("{} = :read_value", Attr::EncryptedValue.name()),
                HashMap::from([(":read_value".to_owned(), token.clone())]),
            ),
            None => (
                format!(
                    "attribute_exists({}) AND attribute_not_exists({})",
                    Attr::OrgId.name(),
                    Attr::EncryptedValue.name()
                ),
                HashMap::new(),
            ),
        }
    }

    /// A recovery copy's `expires_at` (Unix seconds), if it is a number.
    fn expires_at(&self) -> Option<i64> {
        self.0
            .get(Attr::ExpiresAt.name())
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    }

    /// The copy holds a value and its window is open: `expires_at` is still ahead (DynamoDB's
    /// TTL removes items some time after it), and no further ahead than the longest window
    /// the function ever gives (plus a day for clocks that disagree). A later expiry was not
    /// written by the function: such a copy is neither restored, described nor listed.
    pub(super) fn is_recoverable(&self, now_epoch: i64) -> bool {
        let latest = now_epoch + (i64::from(RecoveryWindow::MAX_DAYS) + 1) * 24 * 60 * 60;
        self.encrypted_value().is_some()
            && self
                .expires_at()
                .is_some_and(|at| at > now_epoch && at <= latest)
    }

    /// A previous value belongs to the live secret only if that secret is the same one
    /// (same create), not a new secret of the same name created after a delete.
    pub(super) fn same_secret_as(&self, other: &Snapshot) -> bool {
        [Attr::CreatedAt.name(), Attr::RequestId.name()]
            .iter()
            .all(|name| self.string(name) == other.string(name))
    }

    /// This item as a recovery copy under `key`: everything it holds (value, binding,
    /// history) and who removed it, until when.
    pub(super) fn recovery_copy(&self, copy_key: RawItem, removal: &Removal<'_>) -> RawItem {
        let mut item = self.0.clone();
        for name in DROPPED_ON_WRITE {
            item.remove(name);
        }
        item.extend(copy_key);
        for (name, value) in [
            (Attr::RemovedAt.name(), removal.at),
            (Attr::RemovedBy.name(), removal.by.as_str()),
        ] {
            item.insert(name.to_owned(), AttributeValue::S(value.to_owned()));
        }
        item.insert(
            Attr::ExpiresAt.name().to_owned(),
            AttributeValue::N(removal.expires_at.to_string()),
        );
        item.insert(
            Attr::Version.name().to_owned(),
            AttributeValue::N(removal.version.to_string()),
        );
        item
    }

    /// This recovery copy as the live secret again: what it held when it was removed, with
    /// who restored it. A create's idempotency key does not come back: the secret has
    /// changed since.
    pub(super) fn restored(&self, live_key: RawItem, restoration: &Restoration<'_>) -> RawItem {
        let mut item = self.0.clone();
        for name in COPY_ONLY.iter().chain(&DROPPED_ON_WRITE) {
            item.remove(*name);
        }
        item.extend(live_key);
        for (name, value) in [
            (Attr::RestoredAt.name(), restoration.at),
            (Attr::RestoredBy.name(), restoration.by.as_str()),
        ] {
            item.insert(name.to_owned(), AttributeValue::S(value.to_owned()));
        }
        item.insert(
            Attr::Version.name().to_owned(),
            AttributeValue::N(restoration.version.to_string()),
        );
        item
    }
}
