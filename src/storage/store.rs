//! The store the function and the reader use: create, update, delete, list and get a
//! secret, count an organization's secrets, and warm the connection up at init.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

use super::change::{Change, ChangeOp, ChangeRecord, ValueDigest, Verdict};
use super::client::dynamodb_client;
use super::error::classify;
use super::item::{self, key, number_attr, version_key, Attr, NewItem, RawItem, COUNTER_SORT_KEY};
#[cfg(feature = "lambda")]
use super::item::{DeletedSecret, RecoverySlot, SecretMetadata, Snapshot};
use super::{StoreError, StoreSettings};
use crate::config::TableName;
use crate::crypto::{EncryptedValue, TokenBinding};
use crate::domain::{Description, OrgId, SecretName};

/// How many pages of deleted copies (each up to 1 MB) one list of deleted secrets reads at
/// most before it answers with what it has and a cursor.
#[cfg(feature = "lambda")]
const DELETED_LIST_PAGES_READ: u32 = 4;

/// A query of one partition's items whose sort key (`#name`) meets `sort_condition` against
/// `:sort`.
#[cfg(feature = "lambda")]
struct PartitionQuery<'a> {
    partition: String,
    sort_condition: &'a str,
    sort: &'a str,
    /// Only these attributes, when given.
    projection: Option<&'a str>,
    /// The key of the item to start after.
    start_after: Option<RawItem>,
    /// Items read per page (DynamoDB's `Limit`).
    page_size: Option<i32>,
}

/// A query's pages, as the SDK's paginator yields them.
#[cfg(feature = "lambda")]
type QueryPages = aws_smithy_async::future::pagination_stream::PaginationStream<
    Result<
        aws_sdk_dynamodb::operation::query::QueryOutput,
        SdkError<
            aws_sdk_dynamodb::operation::query::QueryError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        >,
    >,
>;

/// The smallest sort key a secret can have: names start at U+0020 or above.
#[cfg(feature = "lambda")]
const FIRST_NAME_KEY: &str = " ";
/// How often a write is tried again when its transaction lost a race with another one on
/// the same items (DynamoDB's `TransactionConflict`). The request's one deadline
/// (`api::REQUEST_DEADLINE`) bounds the time.
const TRANSACTION_CONFLICT_ATTEMPTS: u32 = 8;
/// Cancellation reasons that mean "DynamoDB is busy, retry later" rather than a fault.
const RETRYABLE_REASONS: [&str; 3] = [
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "TransactionConflict",
];
/// The key the warm-up call reads; a control character keeps it out of every valid name.
const WARM_UP_KEY: &str = "\u{1}org-secrets-warm-up";

/// The warm-up call at init gives up after this, in one attempt: a DynamoDB that accepts
/// connections and never answers must not hold init for the 5 s a request may take.
pub const WARM_UP_TIMEOUT: Duration = Duration::from_secs(1);

pub struct NewSecret<'a> {
    pub name: &'a SecretName,
    pub encrypted_value: EncryptedValue,
    /// [`crate::crypto::Cipher::bind`] of the token to the organization and name.
    pub binding: TokenBinding,
    /// The digest of the value, sealed into the change record.
    pub value: &'a ValueDigest,
    /// What people are told the secret is for; never part of the secret.
    pub description: Option<&'a Description>,
    /// The organization's limit (`MAX_SECRETS_PER_ORG`).
    pub max_secrets: u32,
}

/// A stored secret as [`SecretStore::get`] reads it. The value stays encrypted here. Each
/// field is `None` when the item lacks that attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub encrypted_value: Option<EncryptedValue>,
    pub binding: Option<TokenBinding>,
    /// The version of the name the last change made; `None` on an item not changed since
    /// versions came (or one whose `version` is not a number).
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// This very request was made before (a retry, a redelivery): nothing was written.
    AlreadyCreated,
    /// The name is taken by a secret this request did not create.
    NameTaken,
    /// The organization already holds `max_secrets` secrets; nothing was written.
    LimitReached,
    /// This request's identity already named another change: nothing was written.
    RequestReused,
}

/// What a request's change record says when it is found before or instead of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resend {
    /// This very request was done: answer as the first time, write nothing.
    Same,
    /// The identity named another change: refuse, write nothing.
    Reused,
}

/// How a write with its change record ended.
pub(super) enum Committed {
    Yes,
    Resend(Resend),
    /// A condition on one of the change's own items failed (not the record's).
    ItemsChanged(Cancelled),
    /// Only the name's version moved since it was read: another change of the name
    /// committed in between. Read again and decide again.
    VersionMoved,
}

/// The version a change makes of a secret name: one more than its version item holds (which
/// outlives the secret, so a name deleted and created again goes on counting). Every write
/// puts the version item on the condition that it still holds what was read, so two changes
/// of a name never make the same version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NextVersion {
    /// `None`: the name has no version item (never written since versions came).
    read: Option<u64>,
    pub(super) next: u64,
}

/// How many times a write tries again when its record's slot held an expired record, or
/// one that vanished between the failed write and the read.
const RECORD_ATTEMPTS: u32 = 3;

/// How many times a create reads the name's version again after another change of the name
/// moved it (update, delete and restore read again within their own attempts).
const VERSION_ATTEMPTS: u32 = 4;

pub(super) fn version_kept_moving() -> StoreError {
    StoreError::Unavailable("the name's version kept moving under concurrent writes".to_owned())
}

/// Whether a conditional write found the item as it expected (operator tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Yes,
    No,
}

/// The time of a write, as stored (RFC 3339) and as compared (Unix seconds).
pub(super) struct Now {
    pub(super) rfc3339: String,
    pub(super) epoch: i64,
}

impl Now {
    pub(super) fn get() -> Result<Self, StoreError> {
        let now = SystemTime::now();
        let epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| StoreError::Other("clock before 1970".to_owned()))?
            .as_secs();
        Ok(Self {
            rfc3339: DateTime::from(now)
                .fmt(DateTimeFormat::DateTime)
                .map_err(|err| StoreError::Other(format!("timestamp: {err}")))?,
            epoch: i64::try_from(epoch).unwrap_or(i64::MAX),
        })
    }
}

/// The record in a request's slot was not written by the function for this request (its
/// seal does not open, or names another request): the table was written outside the
/// function. Nothing is written over it; `secrets-admin verify` names it.
fn forged_record() -> StoreError {
    StoreError::Other("the change record in this request's slot does not verify".to_owned())
}

#[derive(Debug, Clone)]
pub struct SecretStore {
    client: Client,
    table: TableName,
}

impl SecretStore {
    pub fn new(client: Client, table: TableName) -> Self {
        Self { client, table }
    }

    /// The store on `table`, with a client from the standard AWS configuration chain (so
    /// `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_REGION` apply) and the default [`StoreSettings`].
    pub async fn connect(table: TableName) -> Self {
        let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::from_sdk_config(&sdk_config, table, &StoreSettings::default())
    }

    /// The store on `table`, with a client from `sdk_config` plus `settings` (timeouts and
    /// retries). A blank endpoint variable counts as unset, as in [`SecretStore::connect`].
    pub fn from_sdk_config(
        sdk_config: &SdkConfig,
        table: TableName,
        settings: &StoreSettings,
    ) -> Self {
        Self::new(dynamodb_client(sdk_config, settings), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// Writes the secret unless the name is taken in this organization (conditional put)
    /// or the organization is at its limit, in one transaction with the counter item and
    /// the request's change record.
    pub async fn create(
        &self,
        secret: NewSecret<'_>,
        change: &Change<'_>,
    ) -> Result<CreateOutcome, StoreError> {
        let now = Now::get()?;
        let org_id = change.org_id;
        let record = ChangeRecord::new(
            change,
            ChangeOp::Create,
            secret.name,
            Some(secret.value),
            (&now.rfc3339, now.epoch),
        );
        let max_secrets = secret.max_secrets;
        let name = secret.name;
        let mut item = RawItem::from(NewItem {
            org_id,
            secret,
            created_by: change.actor,
            request_id: change.request_id,
            created_at: now.rfc3339.clone(),
            version: 0,
        });
        let mut attempts = 0;
        let cancelled = loop {
            attempts += 1;
            let version = self.next_version(org_id, name).await?;
            item.insert(
                Attr::Version.name().to_owned(),
                AttributeValue::N(version.next.to_string()),
            );
            // The whole item first: no later call on the builder can drop an attribute.
            let put = Put::builder()
                .set_item(Some(item.clone()))
                .table_name(self.table.as_str())
                .condition_expression("attribute_not_exists(#org)")
                .expression_attribute_names("#org", Attr::OrgId.name())
                .build()
                .map_err(|err| StoreError::Other(format!("put: {err}")))?;
            let items = vec![
                TransactWriteItem::builder().put(put).build(),
                self.count(org_id, 1, max_secrets)?,
            ];
            let committed = self
                .commit(items, &record, change, (name, version), now.epoch)
                .await?;
            match committed {
                Committed::Yes => return Ok(CreateOutcome::Created),
                Committed::Resend(Resend::Same) => return Ok(CreateOutcome::AlreadyCreated),
                Committed::Resend(Resend::Reused) => return Ok(CreateOutcome::RequestReused),
                Committed::ItemsChanged(cancelled) => break cancelled,
                Committed::VersionMoved if attempts < VERSION_ATTEMPTS => continue,
                Committed::VersionMoved => return Err(version_kept_moving()),
            }
        };
        // The name first: a taken name is the answer even when the organization is full.
        let refusal = if cancelled.condition_failed(0) {
            CreateOutcome::NameTaken
        } else if cancelled.condition_failed(1) {
            CreateOutcome::LimitReached
        } else {
            return Err(cancelled.into_error());
        };
        // DynamoDB need not report the record's condition when another one failed too.
        Ok(match self.resend_of(&record, change, now.epoch).await? {
            Some(Resend::Same) => CreateOutcome::AlreadyCreated,
            Some(Resend::Reused) => CreateOutcome::RequestReused,
            None => refusal,
        })
    }

    /// Runs `items` and the put of `record` as one transaction. The record's put is
    /// conditional on its slot being empty; when that condition fails, the seal of the
    /// record found decides: this request was done already, or its identity named another
    /// one, or the record is past the replay horizon (the put is retried over exactly that
    /// record). A record whose seal does not verify is an error: nothing is written over it.
    ///
    /// The change makes `version` of the named secret: the version item is put with it, on
    /// the condition that it still holds the version read, and the record is sealed with it.
    /// A record taken over after the replay horizon is archived in the same transaction, so
    /// the history keeps it.
    pub(super) async fn commit(
        &self,
        items: Vec<TransactWriteItem>,
        record: &ChangeRecord,
        change: &Change<'_>,
        (name, version): (&SecretName, NextVersion),
        now_epoch: i64,
    ) -> Result<Committed, StoreError> {
        let mut expired_seal: Option<String> = None;
        let mut archive: Option<RawItem> = None;
        for _ in 0..RECORD_ATTEMPTS {
            let mut all = items.clone();
            let version_index = all.len();
            all.push(self.put_version(change.org_id, name, version)?);
            if let Some(archived) = archive.take() {
                all.push(self.put_archived(archived)?);
            }
            all.push(self.put_record(
                record.item_at(version.next, change.cipher),
                expired_seal.take(),
            )?);
            let record_index = all.len() - 1;
            let cancelled = match self.transact(all).await? {
                None => return Ok(Committed::Yes),
                Some(cancelled) if cancelled.condition_failed(record_index) => cancelled,
                Some(cancelled)
                    if cancelled.condition_failed(version_index)
                        && !(0..version_index).any(|index| cancelled.condition_failed(index)) =>
                {
                    return Ok(Committed::VersionMoved)
                }
                Some(cancelled) => return Ok(Committed::ItemsChanged(cancelled)),
            };
            let stored = match cancelled.item(record_index) {
                Some(stored) => Some(stored.clone()),
                // Older DynamoDB Local releases return no item with the reason.
                None => self.read_item(record.key()).await?,
            };
            // Gone since (TTL): try again.
            let Some(stored) = stored else { continue };
            match record.judge(&stored, change.cipher, now_epoch) {
                Verdict::SameRequest => return Ok(Committed::Resend(Resend::Same)),
                Verdict::OtherRequest => return Ok(Committed::Resend(Resend::Reused)),
                Verdict::Expired { seal, archive_key } => {
                    expired_seal = Some(seal);
                    // A record from before versions is in no history: nothing to keep.
                    archive = archive_key.map(|archived_key| {
                        let mut archived = stored.clone();
                        archived.extend(archived_key);
                        archived
                    });
                }
                Verdict::Forged => return Err(forged_record()),
            }
        }
        Err(StoreError::Unavailable(
            "the change record's slot kept changing".to_owned(),
        ))
    }

    /// Whether this request was made before, for an answer that writes nothing (not found,
    /// name taken, nothing to restore...): a resend gets its first answer instead.
    pub(super) async fn resend_of(
        &self,
        record: &ChangeRecord,
        change: &Change<'_>,
        now_epoch: i64,
    ) -> Result<Option<Resend>, StoreError> {
        let Some(stored) = self.read_item(record.key()).await? else {
            return Ok(None);
        };
        match record.judge(&stored, change.cipher, now_epoch) {
            Verdict::SameRequest => Ok(Some(Resend::Same)),
            Verdict::OtherRequest => Ok(Some(Resend::Reused)),
            Verdict::Expired { .. } => Ok(None),
            Verdict::Forged => Err(forged_record()),
        }
    }

    /// The put of a change record: into a free slot, or over exactly the expired record
    /// whose seal is given. Any record in the slot is judged by its seal, never by its plain
    /// attributes. On a failed condition DynamoDB returns the record in the slot.
    fn put_record(
        &self,
        record: RawItem,
        over_expired: Option<String>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(self.table.as_str())
            .set_item(Some(record))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let put = match over_expired {
            Some(seal) => put
                .condition_expression("#seal = :seal")
                .expression_attribute_names("#seal", Attr::Seal.name())
                .expression_attribute_values(":seal", AttributeValue::S(seal)),
            None => put
                .condition_expression("attribute_not_exists(#org)")
                .expression_attribute_names("#org", Attr::OrgId.name()),
        };
        let put = put
            .build()
            .map_err(|err| StoreError::Other(format!("record: {err}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The version `name` is at now, and the one a change makes of it.
    pub(super) async fn next_version(
        &self,
        org_id: &OrgId,
        name: &SecretName,
    ) -> Result<NextVersion, StoreError> {
        let read = match self
            .read_item(version_key(org_id.as_str(), name.as_str()))
            .await?
        {
            None => None,
            Some(item) => Some(
                number_attr(&item, Attr::Version.name())
                    // Versions stay within i64: EventBridge takes no larger JSON integer.
                    .filter(|version| {
                        version
                            .checked_add(1)
                            .is_some_and(|next| i64::try_from(next).is_ok())
                    })
                    .ok_or_else(|| {
                        StoreError::Other("a version item holds no version".to_owned())
                    })?,
            ),
        };
        Ok(NextVersion {
            read,
            next: read.map_or(1, |version| version + 1),
        })
    }

    /// The put of `name`'s version item at `version.next`, if it still holds what was read.
    fn put_version(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        version: NextVersion,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = version_key(org_id.as_str(), name.as_str());
        item.insert(
            Attr::Version.name().to_owned(),
            AttributeValue::N(version.next.to_string()),
        );
        let put = Put::builder()
            .table_name(self.table.as_str())
            .set_item(Some(item));
        let put = match version.read {
            None => put
                .condition_expression("attribute_not_exists(#org)")
                .expression_attribute_names("#org", Attr::OrgId.name()),
            Some(read) => put
                .condition_expression("#version = :read")
                .expression_attribute_names("#version", Attr::Version.name())
                .expression_attribute_values(":read", AttributeValue::N(read.to_string())),
        };
        let put = put
            .build()
            .map_err(|err| StoreError::Other(format!("version: {err}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The put of a change record kept for the history under its archive key, which no
    /// other record has (never over one: that would erase a change from the history).
    fn put_archived(&self, archived: RawItem) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(self.table.as_str())
            .set_item(Some(archived))
            .condition_expression("attribute_not_exists(#org)")
            .expression_attribute_names("#org", Attr::OrgId.name())
            .build()
            .map_err(|err| StoreError::Other(format!("archived record: {err}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// `ADD secret_count delta`: down only above zero (secrets from before the counter
    /// were never counted), up only below the limit.
    pub(super) fn count(
        &self,
        org_id: &OrgId,
        delta: i8,
        max_secrets: u32,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table.as_str())
            .set_key(Some(key(org_id.as_str(), COUNTER_SORT_KEY)))
            .update_expression("ADD #count :delta")
            .expression_attribute_names("#count", Attr::SecretCount.name())
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()));
        let update = if delta < 0 {
            update
                .condition_expression("#count > :zero")
                .expression_attribute_values(":zero", AttributeValue::N("0".to_owned()))
        } else {
            update
                .condition_expression("attribute_not_exists(#count) OR #count < :max")
                .expression_attribute_values(":max", AttributeValue::N(max_secrets.to_string()))
        };
        let update = update
            .build()
            .map_err(|err| StoreError::Other(format!("counter: {err}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Runs a write transaction. `Ok(None)`: committed. `Ok(Some(cancelled))`: cancelled by a
    /// condition, with DynamoDB's reason per item. A `TransactionConflict` (another
    /// transaction on the same items in flight) is retried here with a short, growing,
    /// jittered pause; the SDK does not retry it, and after the last attempt it counts as
    /// unavailable (503, worth retrying).
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Cancelled>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(None),
                Err(err) => err,
            };
            let reasons = match &err {
                SdkError::ServiceError(service) => match service.err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                        Some(cancelled.cancellation_reasons().to_vec())
                    }
                    _ => None,
                },
                _ => None,
            };
            let Some(cancelled) = reasons.map(Cancelled) else {
                return Err(classify(&err));
            };
            if cancelled.has("ConditionalCheckFailed") {
                return Ok(Some(cancelled));
            }
            if cancelled.has("TransactionConflict") && attempt < TRANSACTION_CONFLICT_ATTEMPTS {
                tokio::time::sleep(conflict_pause(attempt)).await;
                continue;
            }
            return Err(cancelled.into_error());
        }
    }

    /// The pages of `query`'s items, through the SDK's paginator, with consistent reads.
    #[cfg(feature = "lambda")]
    fn partition_pages(&self, query: PartitionQuery<'_>) -> QueryPages {
        self.client
            .query()
            .table_name(self.table.as_str())
            .key_condition_expression(format!("#org = :partition AND {}", query.sort_condition))
            .expression_attribute_names("#org", Attr::OrgId.name())
            .expression_attribute_names("#name", Attr::SecretName.name())
            .expression_attribute_values(":partition", AttributeValue::S(query.partition))
            .expression_attribute_values(":sort", AttributeValue::S(query.sort.to_owned()))
            .set_projection_expression(query.projection.map(str::to_owned))
            .set_exclusive_start_key(query.start_after)
            .set_limit(query.page_size)
            .consistent_read(true)
            .into_paginator()
            .send()
    }

    /// What describe shows of `name` (`None`: no such secret): one consistent read of the
    /// live item, and one of its previous copy when the secret exists.
    #[cfg(feature = "lambda")]
    pub(crate) async fn describe(
        &self,
        org_id: &OrgId,
        name: &SecretName,
    ) -> Result<Option<SecretMetadata>, StoreError> {
        let Some(live) = self.read_item(key(org_id.as_str(), name.as_str())).await? else {
            return Ok(None);
        };
        let previous_key =
            item::recovery_key(org_id.as_str(), RecoverySlot::Previous, name.as_str());
        let previous = self.read_item(previous_key).await?.map(Snapshot::from);
        let now = Now::get()?;
        Ok(Some(SecretMetadata::of(
            &Snapshot::from(live),
            previous.as_ref(),
            now.epoch,
        )))
    }

    /// A page of the organization's deleted secrets that can still be restored, in name
    /// order (DynamoDB's, UTF-8 bytes), after the name `after`: at most `limit` of them, from
    /// at most [`DELETED_LIST_PAGES_READ`] pages of its deleted copies, so that one request's
    /// work is bounded however many copies there are, expired or large. Also the name the
    /// next page starts after (`None`: there is no next page).
    #[cfg(feature = "lambda")]
    pub(crate) async fn list_deleted(
        &self,
        org_id: &OrgId,
        after: Option<&SecretName>,
        limit: usize,
    ) -> Result<(Vec<DeletedSecret>, Option<String>), StoreError> {
        let (partition, prefix) = item::recovery_prefix(org_id.as_str(), RecoverySlot::Deleted);
        let start_after = after.map(|name| key(&partition, &format!("{prefix}{}", name.as_str())));
        let mut pages = self.partition_pages(PartitionQuery {
            partition,
            sort_condition: "begins_with(#name, :sort)",
            sort: prefix,
            projection: None,
            start_after,
            page_size: i32::try_from(limit).ok(),
        });
        let now = Now::get()?;
        let mut deleted = Vec::new();
        let mut pages_read = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| classify(&err))?;
            pages_read += 1;
            let more = page
                .last_evaluated_key
                .as_ref()
                .is_some_and(|k| !k.is_empty());
            let mut last_seen = None;
            for copy in page.items.unwrap_or_default() {
                last_seen = item::recovery_copy_name(&copy, RecoverySlot::Deleted);
                if let Some(entry) = DeletedSecret::of(copy, now.epoch) {
                    deleted.push(entry);
                    if deleted.len() == limit {
                        return Ok((deleted, last_seen));
                    }
                }
            }
            if !more {
                break;
            }
            if pages_read >= DELETED_LIST_PAGES_READ && last_seen.is_some() {
                return Ok((deleted, last_seen));
            }
        }
        Ok((deleted, None))
    }

    /// Every secret name of one organization, sorted.
    #[cfg(feature = "lambda")]
    pub(crate) async fn list_names(&self, org_id: &OrgId) -> Result<Vec<String>, StoreError> {
        // The counter item sorts below the first possible name, so it is not listed.
        let mut pages = self.partition_pages(PartitionQuery {
            partition: org_id.as_str().to_owned(),
            sort_condition: "#name >= :sort",
            sort: FIRST_NAME_KEY,
            projection: Some("#name"),
            start_after: None,
            page_size: None,
        });
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            items.extend(
                page.map_err(|err| classify(&err))?
                    .items
                    .unwrap_or_default(),
            );
        }
        let mut names: Vec<String> = items.iter().filter_map(item::secret_name).collect();
        names.sort_unstable();
        Ok(names)
    }

    /// The organization's counter: how many secrets it holds as create and delete count
    /// them (0 when it has never had one).
    pub async fn secret_count(&self, org_id: &OrgId) -> Result<u64, StoreError> {
        let item = self
            .client
            .get_item()
            .table_name(self.table.as_str())
            .set_key(Some(key(org_id.as_str(), COUNTER_SORT_KEY)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| classify(&err))?
            .item;
        let count = item
            .as_ref()
            .and_then(item::secret_count)
            .map_or(Ok(0), str::parse::<i64>)
            .map_err(|_| StoreError::Other("counter is not a number".to_owned()))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// One cheap call at init, so the connection (and in AWS the TLS handshake) is paid
    /// before the first request instead of inside it. Also tells early if the table is
    /// missing or not permitted; the caller logs that and carries on.
    ///
    /// A `GetItem` of a key no secret has: the function already needs `GetItem`, and it
    /// costs half a read unit. (`DescribeTable` would need another permission and adds
    /// ~150 KB of response model to the binary.)
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        let short = aws_sdk_dynamodb::config::Builder::default()
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(WARM_UP_TIMEOUT)
                    .operation_attempt_timeout(WARM_UP_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(1));
        self.client
            .get_item()
            .table_name(self.table.as_str())
            .set_key(Some(key(WARM_UP_KEY, WARM_UP_KEY)))
            .customize()
            .config_override(short)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| classify(&err))
    }

    /// The stored secret (strongly consistent), for the reader and for tests; `None` when
    /// there is no secret of that name.
    pub async fn get(
        &self,
        org_id: &OrgId,
        name: &SecretName,
    ) -> Result<Option<StoredSecret>, StoreError> {
        Ok(self
            .read_item(key(org_id.as_str(), name.as_str()))
            .await?
            .as_ref()
            .map(StoredSecret::from))
    }

    /// One item by its key, strongly consistent; `None` when there is none.
    pub(super) async fn read_item(&self, item_key: RawItem) -> Result<Option<RawItem>, StoreError> {
        self.client
            .get_item()
            .table_name(self.table.as_str())
            .set_key(Some(item_key))
            .consistent_read(true)
            .send()
            .await
            .map(|output| output.item.filter(|item| !item.is_empty()))
            .map_err(|err| classify(&err))
    }
}

/// A cancelled transaction: DynamoDB's reason for each of its items, in order.
pub(super) struct Cancelled(Vec<CancellationReason>);

impl Cancelled {
    fn has(&self, code: &str) -> bool {
        self.0.iter().any(|reason| reason.code() == Some(code))
    }

    /// The item DynamoDB returned with the reason for item `index` (`ALL_OLD`), if any.
    fn item(&self, index: usize) -> Option<&RawItem> {
        self.0
            .get(index)
            .and_then(|reason| reason.item.as_ref())
            .filter(|item| !item.is_empty())
    }

    /// Whether the condition on item `index` is what failed.
    pub(super) fn condition_failed(&self, index: usize) -> bool {
        self.0.get(index).and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
    }

    /// Busy (throttled, conflicting): worth retrying later, 503. Anything else (a validation
    /// error, an item collection over its size limit, no reasons at all) is a fault, 500.
    pub(super) fn into_error(self) -> StoreError {
        let codes = self
            .0
            .iter()
            .map(|reason| reason.code().unwrap_or("None"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!("transaction cancelled ({codes})");
        if RETRYABLE_REASONS.iter().any(|code| self.has(code)) {
            StoreError::Unavailable(message)
        } else {
            StoreError::Other(message)
        }
    }
}

/// 10, 20, 40, ... ms (capped at 320), each with up to as much again of jitter so racing
/// writers spread out.
fn conflict_pause(attempt: u32) -> Duration {
    let base_ms = 10u64 << attempt.saturating_sub(1).min(5);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    Duration::from_millis(base_ms + nanos % (base_ms + 1))
}
