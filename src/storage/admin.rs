//! Operator-only calls, never made by the function (its role is not granted them): table
//! setup for local runs and tests, the table scan behind key rotation, `verify` and `bind`
//! (`secrets-admin`, [`crate::rotation`], [`crate::integrity`]), and the bindings marker.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use super::change::{check_record, RecordProblem};
use super::error::{classify, found_unless_condition_failed};
use super::item::{bindings_marker_key, shown, Attr, RawItem, RecordAttributes, HISTORY_INDEX};
use super::store::Now;
use super::{Found, ItemKey, ItemPlace, SecretStore, StoreError, EXPIRY_ATTRIBUTE};
use crate::config::TableName;
use crate::crypto::{EncryptedValue, TokenBinding};

/// A token as a table scan sees it: which secret's item holds it (the live secret or one
/// of its recovery copies), the token and its binding.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub place: ItemPlace,
    pub encrypted_value: EncryptedValue,
    /// `None` for items written before bindings (`secrets-admin bind` adds it), or whose
    /// binding was stripped.
    pub binding: Option<TokenBinding>,
    /// Where to write back to.
    pub key: ItemKey,
}

/// What one item of a table scan is (the conversion from an item is in `item.rs`). A new
/// kind of item in the table gets its variant here.
#[derive(Debug, Clone)]
pub enum ScannedItem {
    /// A live secret or a recovery copy whose `encrypted_value` is a string, and whose
    /// `binding` is one or absent: what `verify`, `bind` and `rotate-keys` work on.
    Token(StoredToken),
    /// A live secret or a recovery copy whose `encrypted_value` or `binding` is missing or
    /// not a string (other than a tombstone): always a problem.
    Malformed(MalformedItem),
    /// A tombstone: a legacy deleted copy without a value (see `item.rs`).
    Tombstone(ItemPlace),
    /// An organization's counter item.
    Counter,
    /// The table's bindings marker ([`BindingsMarker`]).
    Marker,
    /// A change record (`change.rs`): re-sealed by `rotate-keys`, checked by `verify`.
    ChangeRecord(Box<StoredRecord>),
    /// Not an organization's item: a partition starting with a control character other than
    /// the recovery prefix (another engineer's change records, say), or a key no secret or
    /// recovery copy has.
    Other,
}

/// A change record as a table scan sees it.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// The organization and secret its plain attributes name, and its sort key.
    pub place: ItemPlace,
    /// Its seal, if that is a string: a Fernet token, re-sealed like any token.
    pub seal: Option<EncryptedValue>,
    pub(super) attributes: RecordAttributes,
    pub key: ItemKey,
}

impl StoredRecord {
    /// Whether the record is one the function wrote for the request its key names, saying
    /// what its plain attributes say.
    pub fn check(&self, cipher: &crate::crypto::Cipher) -> Result<(), RecordProblem> {
        check_record(&self.key.0, &self.attributes, cipher)
    }
}

/// A secret's item whose token attributes are not what the contract says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedItem {
    pub place: ItemPlace,
    pub defects: Malformation,
}

/// What is wrong with a malformed item's `encrypted_value` and `binding` (`None`: that one is
/// a string). Names types, never contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformation {
    pub encrypted_value: Option<AttributeDefect>,
    pub binding: Option<AttributeDefect>,
}

impl std::fmt::Display for Malformation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let defects = [
            (Attr::EncryptedValue, self.encrypted_value),
            (Attr::Binding, self.binding),
        ];
        let mut first = true;
        for (attr, defect) in defects {
            if let Some(defect) = defect {
                let separator = if first { "" } else { ", " };
                write!(f, "{separator}{} {defect}", attr.name())?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Why an attribute that must be a string is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeDefect {
    Missing,
    /// Another DynamoDB type: how to say it, and its type tag.
    NotAString {
        kind: &'static str,
        tag: &'static str,
    },
}

impl AttributeDefect {
    /// `None` for a string.
    pub(super) fn of(value: Option<&AttributeValue>) -> Option<Self> {
        let (kind, tag) = match value {
            None => return Some(AttributeDefect::Missing),
            Some(AttributeValue::S(_)) => return None,
            Some(AttributeValue::N(_)) => ("a number", "N"),
            Some(AttributeValue::B(_)) => ("a binary", "B"),
            Some(AttributeValue::L(_)) => ("a list", "L"),
            Some(AttributeValue::M(_)) => ("a map", "M"),
            Some(AttributeValue::Bool(_)) => ("a boolean", "BOOL"),
            Some(AttributeValue::Null(_)) => ("null", "NULL"),
            Some(AttributeValue::Ss(_)) => ("a string set", "SS"),
            Some(AttributeValue::Ns(_)) => ("a number set", "NS"),
            Some(AttributeValue::Bs(_)) => ("a binary set", "BS"),
            Some(_) => ("of a type this version does not know", "?"),
        };
        Some(AttributeDefect::NotAString { kind, tag })
    }
}

impl std::fmt::Display for AttributeDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttributeDefect::Missing => f.write_str("is missing"),
            AttributeDefect::NotAString { kind, tag } => {
                write!(f, "is {kind} ({tag}), not a string")
            }
        }
    }
}

/// The table's **bindings marker**: written once every item of the table had a binding (by
/// `bind` at the end of a complete pass, or by `create-table` for a new table). From then on
/// `bind` binds nothing, and an unbound item is a finding. Its key is in `item.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingsMarker {
    /// RFC 3339 UTC (`?` when someone wrote the marker without it).
    pub marked_at: String,
    /// What wrote it: `bind` or `create-table`.
    pub marked_by: String,
}

impl std::fmt::Display for BindingsMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "marked bound at {} by {}",
            shown(&self.marked_at),
            shown(&self.marked_by)
        )
    }
}

/// A full-table scan, page by page (the SDK's paginator, consistent reads): for key
/// rotation, binding and verification.
pub struct ScanPages(
    aws_smithy_async::future::pagination_stream::PaginationStream<
        Result<
            aws_sdk_dynamodb::operation::scan::ScanOutput,
            aws_sdk_dynamodb::error::SdkError<
                aws_sdk_dynamodb::operation::scan::ScanError,
                aws_sdk_dynamodb::config::http::HttpResponse,
            >,
        >,
    >,
);

impl ScanPages {
    /// The next page, every item whole and classified ([`ScannedItem`]); `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Vec<ScannedItem>, StoreError>> {
        let page = self.0.next().await?;
        Some(
            page.map(|page| page.items().iter().map(ScannedItem::from).collect())
                .map_err(|err| classify(&err)),
        )
    }
}

/// The token holders among a page's items.
pub fn tokens(items: &[ScannedItem]) -> impl Iterator<Item = &StoredToken> {
    items.iter().filter_map(|item| match item {
        ScannedItem::Token(stored) => Some(stored),
        _ => None,
    })
}

impl SecretStore {
    /// A full-table scan in pages of up to `page_size` items.
    pub fn scan_pages(&self, page_size: i32) -> ScanPages {
        ScanPages(
            self.client()
                .scan()
                .table_name(self.table().as_str())
                .consistent_read(true)
                .into_paginator()
                .page_size(page_size)
                .send(),
        )
    }

    /// The table's bindings marker, if it has one (a consistent read).
    pub async fn bindings_marker(&self) -> Result<Option<BindingsMarker>, StoreError> {
        let item = self
            .client()
            .get_item()
            .table_name(self.table().as_str())
            .set_key(Some(bindings_marker_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| classify(&err))?
            .item;
        Ok(item.as_ref().map(BindingsMarker::from))
    }

    /// Marks the table bound, now, by `marked_by`, unless it is already marked (then
    /// `Found::No`, and the marker already there stays as it is).
    pub async fn mark_bindings_complete(&self, marked_by: &str) -> Result<Found, StoreError> {
        put_bindings_marker(self.client(), self.table(), marked_by).await
    }

    /// Swaps a token (and, given one, its binding) for its re-encryption only if the token is still
    /// the one we read, so a concurrent update is never overwritten. `Found::No` means it
    /// changed (or vanished).
    pub async fn replace_token(
        &self,
        stored: &StoredToken,
        replacement: EncryptedValue,
        binding: Option<TokenBinding>,
    ) -> Result<Found, StoreError> {
        let request = self
            .client()
            .update_item()
            .table_name(self.table().as_str())
            .set_key(Some(stored.key.0.clone()))
            .condition_expression("#value = :old")
            .expression_attribute_names("#value", Attr::EncryptedValue.name())
            .expression_attribute_values(":new", AttributeValue::S(replacement.into_string()));
        let request = match binding {
            Some(binding) => request
                .update_expression("SET #value = :new, #binding = :binding")
                .expression_attribute_names("#binding", Attr::Binding.name())
                .expression_attribute_values(":binding", AttributeValue::S(binding.into_string())),
            // Unbound stays unbound, and only if nobody (`bind`) bound the old token since
            // we read it: its binding would not fit the new token.
            None => request
                .update_expression("SET #value = :new")
                .condition_expression("#value = :old AND attribute_not_exists(#binding)")
                .expression_attribute_names("#binding", Attr::Binding.name()),
        };
        let result = request
            .expression_attribute_values(
                ":old",
                AttributeValue::S(stored.encrypted_value.as_str().to_owned()),
            )
            .send()
            .await;
        found_unless_condition_failed(result)
    }

    /// Swaps a change record's seal for its re-encryption under the first key, only if the
    /// seal is still the one read. `Found::No`: it changed (or the record expired) meanwhile.
    pub async fn replace_seal(
        &self,
        record: &StoredRecord,
        seal: &EncryptedValue,
        replacement: EncryptedValue,
    ) -> Result<Found, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table().as_str())
            .set_key(Some(record.key.0.clone()))
            .update_expression("SET #seal = :new")
            .condition_expression("#seal = :old")
            .expression_attribute_names("#seal", Attr::Seal.name())
            .expression_attribute_values(":new", AttributeValue::S(replacement.into_string()))
            .expression_attribute_values(":old", AttributeValue::S(seal.as_str().to_owned()))
            .send()
            .await;
        found_unless_condition_failed(result)
    }

    /// Adds a binding to an item that has none, only if it still has none and its token is
    /// still the one we read (`secrets-admin bind`). `Found::No`: it changed meanwhile.
    pub async fn add_binding(
        &self,
        stored: &StoredToken,
        binding: TokenBinding,
    ) -> Result<Found, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table().as_str())
            .set_key(Some(stored.key.0.clone()))
            .update_expression("SET #binding = :binding")
            .condition_expression("#value = :read AND attribute_not_exists(#binding)")
            .expression_attribute_names("#value", Attr::EncryptedValue.name())
            .expression_attribute_names("#binding", Attr::Binding.name())
            .expression_attribute_values(":binding", AttributeValue::S(binding.into_string()))
            .expression_attribute_values(
                ":read",
                AttributeValue::S(stored.encrypted_value.as_str().to_owned()),
            )
            .send()
            .await;
        found_unless_condition_failed(result)
    }

    /// [`create_table_if_missing`] for this store's table.
    pub async fn create_table_if_missing(&self) -> Result<bool, StoreError> {
        create_table_if_missing(self.client(), self.table()).await
    }
}

async fn put_bindings_marker(
    client: &Client,
    table: &TableName,
    marked_by: &str,
) -> Result<Found, StoreError> {
    let marker = BindingsMarker {
        marked_at: Now::get()?.rfc3339,
        marked_by: marked_by.to_owned(),
    };
    let result = client
        .put_item()
        .table_name(table.as_str())
        .set_item(Some(RawItem::from(&marker)))
        .condition_expression("attribute_not_exists(#org)")
        .expression_attribute_names("#org", Attr::OrgId.name())
        .send()
        .await;
    found_unless_condition_failed(result)
}

fn key_element(attr: Attr, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(attr.name())
        .key_type(key_type)
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))
}

fn attribute_definition(
    attr: Attr,
    kind: ScalarAttributeType,
) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(attr.name())
        .attribute_type(kind)
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))
}

/// The history index (docs/storage-contract.md): change records by secret, newest version
/// last. All attributes are projected, so a history entry's seal is checked as the record's.
fn history_index() -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(HISTORY_INDEX)
        .key_schema(key_element(Attr::HistoryKey, KeyType::Hash)?)
        .key_schema(key_element(Attr::Version, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))
}

/// Adds the history index to a table created before it (local development and tests; in
/// AWS the SAM template owns the table). `Ok(true)`: it was missing and is being built.
async fn add_history_index_if_missing(
    client: &Client,
    table: &TableName,
    description: &aws_sdk_dynamodb::types::TableDescription,
) -> Result<bool, StoreError> {
    if description
        .global_secondary_indexes()
        .iter()
        .any(|index| index.index_name() == Some(HISTORY_INDEX))
    {
        return Ok(false);
    }
    let index = history_index()?;
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(HISTORY_INDEX)
        .set_key_schema(Some(index.key_schema().to_vec()))
        .set_projection(index.projection().cloned())
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    client
        .update_table()
        .table_name(table.as_str())
        .attribute_definitions(attribute_definition(
            Attr::HistoryKey,
            ScalarAttributeType::S,
        )?)
        .attribute_definitions(attribute_definition(Attr::Version, ScalarAttributeType::N)?)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await
        .map_err(|err| classify(&err))?;
    Ok(true)
}

/// Creates the table with the contract's key schema and history index if it does not exist
/// (local development and tests; in AWS the SAM template owns the table), and marks it
/// bound at birth: it holds nothing, so nothing in it lacks a binding. A table from before
/// the history index gets it. `Ok(true)`: created now.
pub async fn create_table_if_missing(
    client: &Client,
    table: &TableName,
) -> Result<bool, StoreError> {
    match client
        .describe_table()
        .table_name(table.as_str())
        .send()
        .await
    {
        Ok(output) => {
            if let Some(description) = output.table() {
                add_history_index_if_missing(client, table, description).await?;
            }
            return Ok(false);
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(err) => return Err(classify(&err)),
    }
    let text = ScalarAttributeType::S;
    let result = client
        .create_table()
        .table_name(table.as_str())
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(Attr::OrgId, KeyType::Hash)?)
        .key_schema(key_element(Attr::SecretName, KeyType::Range)?)
        .attribute_definitions(attribute_definition(Attr::OrgId, text.clone())?)
        .attribute_definitions(attribute_definition(Attr::SecretName, text.clone())?)
        .attribute_definitions(attribute_definition(Attr::HistoryKey, text)?)
        .attribute_definitions(attribute_definition(Attr::Version, ScalarAttributeType::N)?)
        .global_secondary_indexes(history_index()?)
        .send()
        .await;
    match result {
        Ok(_) => {
            // Recovery copies expire through TTL (the template enables it in AWS).
            client
                .update_time_to_live()
                .table_name(table.as_str())
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(EXPIRY_ATTRIBUTE)
                        .enabled(true)
                        .build()
                        .map_err(|e| StoreError::Other(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|err| classify(&err))?;
            put_bindings_marker(client, table, "create-table")
                .await
                .map_err(|err| {
                    StoreError::Other(format!(
                        "table created, but not marked bound: {err}; `secrets-admin bind` marks it"
                    ))
                })?;
            Ok(true)
        }
        // Someone else created it between our describe and create: fine.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(false)
        }
        Err(err) => Err(classify(&err)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::primitives::Blob;

    use super::*;
    use crate::storage::RecoverySlot;

    fn item(partition: &str, sort: &str, attributes: &[(&str, AttributeValue)]) -> RawItem {
        let mut item = HashMap::from([
            ("org_id".to_owned(), AttributeValue::S(partition.to_owned())),
            ("secret_name".to_owned(), AttributeValue::S(sort.to_owned())),
        ]);
        for (name, value) in attributes {
            item.insert((*name).to_owned(), value.clone());
        }
        item
    }

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_owned())
    }

    fn kind(scanned: &ScannedItem) -> String {
        match scanned {
            ScannedItem::Token(token) => format!(
                "token {} {}",
                token.place,
                if token.binding.is_some() {
                    "bound"
                } else {
                    "unbound"
                }
            ),
            ScannedItem::Malformed(item) => format!("malformed {}: {}", item.place, item.defects),
            ScannedItem::Tombstone(place) => format!("tombstone {place}"),
            ScannedItem::ChangeRecord(record) => format!("change record {}", record.place),
            ScannedItem::Counter => "counter".to_owned(),
            ScannedItem::Marker => "marker".to_owned(),
            ScannedItem::Other => "other".to_owned(),
        }
    }

    /// Every kind of item a scan meets, and what it makes of it.
    #[test]
    fn a_scan_classifies_every_kind_of_item() {
        let token = [("encrypted_value", s("gAAAA")), ("binding", s("v1:x"))];
        let tombstone = [
            ("removed_at", s("2025-01-01T00:00:00Z")),
            ("removed_by", s("user")),
            ("expires_at", AttributeValue::N("1".to_owned())),
            ("changes", AttributeValue::L(vec![])),
        ];
        let with = |extra: (&'static str, AttributeValue)| {
            let mut attributes = tombstone.to_vec();
            attributes.push(extra);
            attributes
        };
        let cases: Vec<(RawItem, &str)> = vec![
            (item("org_a", "x", &token), "token org_a/x bound"),
            (item("org_a", "x", &token[..1]), "token org_a/x unbound"),
            (
                item("\u{2}recovery:org_a", "previous:x", &token),
                "token org_a/x (previous copy) bound",
            ),
            (
                item("org_a", "x", &[("binding", s("v1:x"))]),
                "malformed org_a/x: encrypted_value is missing",
            ),
            (
                item(
                    "org_a",
                    "x",
                    &[
                        (
                            "encrypted_value",
                            AttributeValue::B(Blob::new(b"x".to_vec())),
                        ),
                        ("binding", AttributeValue::Bool(true)),
                    ],
                ),
                "malformed org_a/x: encrypted_value is a binary (B), not a string, \
                 binding is a boolean (BOOL), not a string",
            ),
            (
                item("org_a", "x", &[]),
                "malformed org_a/x: encrypted_value is missing, binding is missing",
            ),
            (
                item("\u{2}recovery:org_a", "deleted:x", &tombstone),
                "tombstone org_a/x (deleted copy)",
            ),
            (
                item("\u{2}recovery:org_a", "deleted:x", &[]),
                "tombstone org_a/x (deleted copy)",
            ),
            (
                item("\u{2}recovery:org_a", "previous:x", &tombstone),
                "malformed org_a/x (previous copy): encrypted_value is missing, binding is missing",
            ),
            (
                item(
                    "\u{2}recovery:org_a",
                    "deleted:x",
                    &with(("created_at", s("2025-01-01T00:00:00Z"))),
                ),
                "malformed org_a/x (deleted copy): encrypted_value is missing, binding is missing",
            ),
            (
                item(
                    "\u{2}recovery:org_a",
                    "deleted:x",
                    &with(("binding", AttributeValue::Null(true))),
                ),
                "malformed org_a/x (deleted copy): encrypted_value is missing, \
                 binding is null (NULL), not a string",
            ),
            (
                item(
                    "org_a",
                    crate::storage::COUNTER_SORT_KEY,
                    &[("secret_count", AttributeValue::N("1".to_owned()))],
                ),
                "counter",
            ),
            (
                item(
                    crate::storage::BINDINGS_MARKER_PARTITION,
                    crate::storage::BINDINGS_MARKER_SORT_KEY,
                    &[("marked_at", s("t")), ("marked_by", s("bind"))],
                ),
                "marker",
            ),
            // Change records (another kind of item, in partitions of their own), or anything
            // else in a partition starting with a control character: not a secret.
            (
                item(
                    "\u{3}changes:org_a",
                    "request:x",
                    &[("changed_secret", s("n"))],
                ),
                "change record org_a/n (change record request:x)",
            ),
            (
                item("\u{3}changes:org_a", "request:y", &[]),
                "change record org_a/? (change record request:y)",
            ),
            (item("\u{1}org-secrets", "x", &token), "other"),
            (item("\u{2}recovery:org_a", "other:x", &token), "other"),
            (item("org_a", "\u{1}other", &token), "other"),
        ];
        for (raw, expected) in cases {
            assert_eq!(kind(&ScannedItem::from(&raw)), expected, "{raw:?}");
        }
        // The place a token is written back to is its own key.
        let scanned = ScannedItem::from(&item("\u{2}recovery:org_a", "deleted:x", &token));
        let ScannedItem::Token(stored) = scanned else {
            panic!("a token");
        };
        assert_eq!(stored.place.copy, Some(RecoverySlot::Deleted));
        assert_eq!(
            stored.key.0["org_id"],
            AttributeValue::S("\u{2}recovery:org_a".to_owned())
        );
    }
}
