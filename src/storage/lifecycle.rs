//! Update, delete and restore: the writes that keep what they remove recoverable.
//!
//! Each reads the item first (consistently), then writes one transaction conditional on
//! the item still being what it read: the live secret and its recovery copy change together
//! or not at all. When the condition fails (another writer got there first), the operation
//! reads again and decides again, a bounded number of times.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::item::{key, recovery_key, Attr, RawItem, RecoverySlot, Removal, Restoration};
use super::item::{Snapshot, COUNTER_SORT_KEY};
use super::ledger::{Entry, Ledger, Op};
use super::store::now_rfc3339;
use super::{RequestId, SecretStore, StoreError};
use crate::crypto::{EncryptedValue, TokenBinding};
use crate::domain::{Actor, IdempotencyKey, OrgId, SecretName};

/// How often an operation reads and tries again after another writer changed the item
/// between its read and its write. Each attempt is itself retried on transaction conflicts.
const CHANGE_ATTEMPTS: u32 = 4;
/// With recovery off, a delete still leaves a tombstone (no value) for this long, so that a
/// retried delete is recognised.
const TOMBSTONE_SECS: i64 = 24 * 60 * 60;
const SECS_PER_DAY: i64 = 24 * 60 * 60;

/// How long a deleted or replaced value stays recoverable (`RECOVERY_WINDOW_DAYS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryWindow {
    days: u32,
}

impl RecoveryWindow {
    pub const DEFAULT_DAYS: u32 = 7;
    pub const MAX_DAYS: u32 = 30;

    /// `0` turns recovery off: deletes keep a tombstone only, updates keep nothing.
    pub fn days(days: u32) -> Self {
        Self {
            days: days.min(Self::MAX_DAYS),
        }
    }

    pub fn as_days(self) -> u32 {
        self.days
    }

    fn keeps_values(self) -> bool {
        self.days > 0
    }

    fn expires_at(self, now: i64) -> i64 {
        if self.keeps_values() {
            now + i64::from(self.days) * SECS_PER_DAY
        } else {
            now + TOMBSTONE_SECS
        }
    }
}

impl Default for RecoveryWindow {
    fn default() -> Self {
        Self::days(Self::DEFAULT_DAYS)
    }
}

/// Who makes a change, and in which request: stored, so that the same request sent again
/// (an SDK retry after a lost response, a redelivered event) is recognised.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub actor: &'a Actor,
    pub request_id: &'a RequestId,
    /// The request's `Idempotency-Key`, given only for an actor with a subject: a client's
    /// retry through API Gateway has a new request id but the same key.
    pub idempotency_key: Option<&'a IdempotencyKey>,
}

/// A value about to be written: its token and the token's binding to the secret.
#[derive(Debug, Clone)]
pub struct BoundToken {
    pub token: EncryptedValue,
    pub binding: TokenBinding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    Updated,
    /// This request already set this value (the same request sent again): nothing written.
    AlreadyUpdated,
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    /// No live secret, and the last delete of the name was this request's.
    AlreadyDeleted,
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreOutcome {
    Restored,
    /// This request already restored it (the same request sent again): nothing written.
    AlreadyRestored,
    /// A recoverable deleted value exists, but a live secret holds the name (restoring
    /// would overwrite it). The deleted value stays recoverable.
    NameTaken,
    /// Nothing of that kind is recoverable (never was, expired, or already restored):
    /// whether or not a live secret holds the name.
    NothingToRestore,
    /// The organization is at its limit; the deleted copy stays.
    LimitReached,
    /// The copy is not this secret's (no key opens it, or its binding does not verify):
    /// nothing was written. A finding for an operator (`secrets-admin verify`).
    Refused,
}

/// A secret's three items as read together.
struct Found {
    live: Option<Snapshot>,
    deleted: Option<Snapshot>,
    previous: Option<Snapshot>,
}

impl Found {
    /// The secret's change ledger: the union of its items' ledgers.
    fn ledger(&self, now: i64) -> Ledger {
        let ledgers = [&self.live, &self.deleted, &self.previous]
            .into_iter()
            .flatten()
            .filter_map(Snapshot::changes);
        Ledger::merge(ledgers, now)
    }
}

struct Now {
    rfc3339: String,
    epoch: i64,
}

impl Now {
    fn get() -> Result<Self, StoreError> {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| StoreError::Other("clock before 1970".to_owned()))?
            .as_secs();
        Ok(Self {
            rfc3339: now_rfc3339()?,
            epoch: i64::try_from(epoch).unwrap_or(i64::MAX),
        })
    }
}

fn gave_up() -> StoreError {
    StoreError::Unavailable("the item kept changing under concurrent writes".to_owned())
}

impl SecretStore {
    async fn read(&self, item_key: RawItem) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.read_item(item_key).await?.map(Snapshot::from))
    }

    fn put(
        &self,
        item: RawItem,
        condition: Option<(String, RawItem)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder()
            .table_name(self.table().as_str())
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None);
        if let Some((expression, values)) = condition {
            put = put
                .condition_expression(expression)
                .set_expression_attribute_values((!values.is_empty()).then_some(values));
        }
        let put = put
            .build()
            .map_err(|err| StoreError::Other(format!("put: {err}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete_if(
        &self,
        item_key: RawItem,
        condition: (String, RawItem),
    ) -> Result<TransactWriteItem, StoreError> {
        let (expression, values) = condition;
        let delete = Delete::builder()
            .table_name(self.table().as_str())
            .set_key(Some(item_key))
            .condition_expression(expression)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(|err| StoreError::Other(format!("delete: {err}")))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// `ADD secret_count delta`: down only above zero (secrets from before the counter
    /// were never counted), up only below the limit.
    fn count(
        &self,
        org_id: &OrgId,
        delta: i8,
        max_secrets: u32,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table().as_str())
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

    /// Sets the live item's value to `value` if it is still `live`: with `stamp` (when and
    /// who) and the secret's ledger, and without a create's idempotency key.
    fn set_value(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        live: &Snapshot,
        value: (&str, &str),
        stamp: [(Attr, &str); 2],
        ledger: &Ledger,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, mut values) = live.unchanged_condition();
        let (token, binding) = value;
        let mut sets: Vec<(Attr, AttributeValue)> = vec![
            (Attr::EncryptedValue, AttributeValue::S(token.to_owned())),
            (Attr::Binding, AttributeValue::S(binding.to_owned())),
            (Attr::Changes, ledger.to_attribute()),
        ];
        sets.extend(
            stamp
                .into_iter()
                .map(|(attr, text)| (attr, AttributeValue::S(text.to_owned()))),
        );
        let mut update = Update::builder()
            .table_name(self.table().as_str())
            .set_key(Some(key(org_id.as_str(), name.as_str())))
            .expression_attribute_names("#idem", Attr::IdempotencyKey.name());
        let mut assignments = Vec::new();
        for (index, (attr, value)) in sets.into_iter().enumerate() {
            assignments.push(format!("#set{index} = :set{index}"));
            update = update.expression_attribute_names(format!("#set{index}"), attr.name());
            values.insert(format!(":set{index}"), value);
        }
        let update = update
            .update_expression(format!("SET {} REMOVE #idem", assignments.join(", ")))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|err| StoreError::Other(format!("update: {err}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The live secret and its two recovery copies, read at once (consistently).
    async fn read_secret(&self, org_id: &OrgId, name: &SecretName) -> Result<Found, StoreError> {
        let (org, name) = (org_id.as_str(), name.as_str());
        let (live, deleted, previous) = tokio::try_join!(
            self.read(key(org, name)),
            self.read(recovery_key(org, RecoverySlot::Deleted, name)),
            self.read(recovery_key(org, RecoverySlot::Previous, name)),
        )?;
        Ok(Found {
            live,
            deleted,
            previous,
        })
    }

    /// Replaces the value of an existing secret; `created_*` stay, and the value it
    /// replaces is kept as the previous value for the recovery window.
    ///
    /// `value_digests` are [`crate::crypto::Cipher::value_digests`] of the new value (the
    /// first is recorded): the same request sent again is recognised by its request id (or
    /// key), actor **and** value, so a workflow that repeats request ids never gets a 200
    /// for a value it did not store. It is recognised through the secret's change ledger,
    /// wherever its value went since, so a redelivery never overwrites a newer value.
    pub async fn update(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        new: BoundToken,
        change: Change<'_>,
        window: RecoveryWindow,
        value_digests: &[String],
    ) -> Result<UpdateOutcome, StoreError> {
        for _ in 0..CHANGE_ATTEMPTS {
            let found = self.read_secret(org_id, name).await?;
            let now = Now::get()?;
            let ledger = found.ledger(now.epoch);
            let same_value = |digest: &str| value_digests.iter().any(|ours| ours == digest);
            if ledger.find(Op::Update, &change, same_value).is_some() {
                return Ok(UpdateOutcome::AlreadyUpdated);
            }
            let Some(live) = &found.live else {
                return Ok(UpdateOutcome::NotFound);
            };
            let entry = Entry::new(
                Op::Update,
                &change,
                now.epoch,
                value_digests.first().map(String::as_str),
            );
            let ledger = ledger.with(entry);
            let mut items = vec![self.set_value(
                org_id,
                name,
                live,
                (new.token.as_str(), new.binding.as_str()),
                [
                    (Attr::UpdatedAt, &now.rfc3339),
                    (Attr::UpdatedBy, change.actor.as_str()),
                ],
                &ledger,
            )?];
            let copy_key = || recovery_key(org_id.as_str(), RecoverySlot::Previous, name.as_str());
            if window.keeps_values() {
                let removal = removal(&now, change.actor, window, &ledger);
                items.push(self.put(
                    live.recovery_copy(copy_key(), &removal),
                    Some(still_as_read(found.previous.as_ref())),
                )?);
            } else if let Some(previous) = &found.previous {
                // Recovery is off now: an older previous value must not stand in for the
                // value this update replaces.
                items.push(self.delete_if(copy_key(), previous.unchanged_condition())?);
            }
            match self.transact(items).await? {
                None => return Ok(UpdateOutcome::Updated),
                // Changed since we read it: read again.
                Some(cancelled)
                    if cancelled.condition_failed(0) || cancelled.condition_failed(1) =>
                {
                    continue
                }
                Some(cancelled) => return Err(cancelled.into_error()),
            }
        }
        Err(gave_up())
    }

    /// Deletes the secret, keeps its value recoverable for the window (or, with recovery
    /// off, a tombstone) and counts it off the organization's counter: one transaction.
    ///
    /// The same delete sent again is recognised through the secret's change ledger and
    /// writes nothing, even if the name holds a new secret by then. The counter never goes
    /// below zero: a secret written before the counter existed was never counted, and when
    /// the counter is missing or zero it is deleted without it.
    pub async fn delete(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        change: Change<'_>,
        window: RecoveryWindow,
    ) -> Result<DeleteOutcome, StoreError> {
        let live_key = || key(org_id.as_str(), name.as_str());
        let copy_key = || recovery_key(org_id.as_str(), RecoverySlot::Deleted, name.as_str());
        for _ in 0..CHANGE_ATTEMPTS {
            let found = self.read_secret(org_id, name).await?;
            let now = Now::get()?;
            let ledger = found.ledger(now.epoch);
            if ledger.find(Op::Delete, &change, |_| true).is_some() {
                return Ok(DeleteOutcome::AlreadyDeleted);
            }
            let Some(live) = &found.live else {
                return Ok(DeleteOutcome::NotFound);
            };
            let ledger = ledger.with(Entry::new(Op::Delete, &change, now.epoch, None));
            let removal = removal(&now, change.actor, window, &ledger);
            let delete_live = self.delete_if(live_key(), live.unchanged_condition())?;
            // Overwrites an older deleted copy (still the one read): the most recent delete
            // is the one kept.
            let keep = self.put(
                live.recovery_copy(copy_key(), &removal),
                Some(still_as_read(found.deleted.as_ref())),
            )?;
            let items = vec![
                delete_live.clone(),
                keep.clone(),
                self.count(org_id, -1, 0)?,
            ];
            let cancelled = match self.transact(items).await? {
                None => return Ok(DeleteOutcome::Deleted),
                Some(cancelled) => cancelled,
            };
            if cancelled.condition_failed(0) || cancelled.condition_failed(1) {
                continue;
            }
            if !cancelled.condition_failed(2) {
                return Err(cancelled.into_error());
            }
            // The counter is missing or zero: the secret was never counted.
            match self.transact(vec![delete_live, keep]).await? {
                None => return Ok(DeleteOutcome::Deleted),
                Some(cancelled)
                    if cancelled.condition_failed(0) || cancelled.condition_failed(1) =>
                {
                    continue
                }
                Some(cancelled) => return Err(cancelled.into_error()),
            }
        }
        Err(gave_up())
    }

    /// Brings back the value in `slot`: the last deleted value as the live secret again
    /// (counted against `max_secrets`), or the live secret's previous value in place of
    /// its current one (which becomes the previous value in turn, so a restore can be
    /// undone the same way).
    ///
    /// `accept` sees the copy's token and binding first: a copy it refuses (no key opens
    /// it, or it is not bound to this secret) is never brought back. The same restore sent
    /// again is recognised through the secret's change ledger and writes nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn restore(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        slot: RecoverySlot,
        change: Change<'_>,
        window: RecoveryWindow,
        max_secrets: u32,
        accept: impl Fn(&EncryptedValue, Option<&TokenBinding>) -> bool,
    ) -> Result<RestoreOutcome, StoreError> {
        let op = match slot {
            RecoverySlot::Deleted => Op::RestoreDeleted,
            RecoverySlot::Previous => Op::RestorePrevious,
        };
        for _ in 0..CHANGE_ATTEMPTS {
            let found = self.read_secret(org_id, name).await?;
            let now = Now::get()?;
            let ledger = found.ledger(now.epoch);
            if ledger.find(op, &change, |_| true).is_some() {
                return Ok(RestoreOutcome::AlreadyRestored);
            }
            let ledger = ledger.with(Entry::new(op, &change, now.epoch, None));
            // The copy's token and binding, if `accept` takes them.
            let accepted = |copy: &Snapshot| -> Option<(String, String)> {
                let token = copy.encrypted_value()?;
                let binding = copy.binding()?;
                accept(
                    &EncryptedValue::from_stored(token.to_owned()),
                    Some(&TokenBinding::from_stored(binding.to_owned())),
                )
                .then(|| (token.to_owned(), binding.to_owned()))
            };
            let attempt = match slot {
                RecoverySlot::Deleted => {
                    let Some(copy) = found
                        .deleted
                        .as_ref()
                        .filter(|c| c.is_recoverable(now.epoch))
                    else {
                        return Ok(RestoreOutcome::NothingToRestore);
                    };
                    if accepted(copy).is_none() {
                        return Ok(RestoreOutcome::Refused);
                    }
                    if found.live.is_some() {
                        return Ok(RestoreOutcome::NameTaken);
                    }
                    let restoration = Restoration {
                        at: &now.rfc3339,
                        by: change.actor,
                        ledger: &ledger,
                    };
                    self.bring_back(org_id, name, copy, &restoration, max_secrets)
                        .await?
                }
                RecoverySlot::Previous => {
                    let Some(live) = &found.live else {
                        return Ok(RestoreOutcome::NothingToRestore);
                    };
                    let previous = found
                        .previous
                        .as_ref()
                        .filter(|copy| copy.is_recoverable(now.epoch) && copy.same_secret_as(live));
                    let Some(previous) = previous else {
                        return Ok(RestoreOutcome::NothingToRestore);
                    };
                    let Some(value) = accepted(previous) else {
                        return Ok(RestoreOutcome::Refused);
                    };
                    let swap = Swap {
                        live,
                        previous,
                        value: (&value.0, &value.1),
                        now: &now,
                        by: change.actor,
                        window,
                        ledger: &ledger,
                    };
                    self.swap_back(org_id, name, swap).await?
                }
            };
            if let Some(outcome) = attempt {
                return Ok(outcome);
            }
        }
        Err(gave_up())
    }

    /// The deleted copy as the live secret again. `None`: something changed between the
    /// read and the write (a create took the name, or the copy changed); read again.
    async fn bring_back(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        copy: &Snapshot,
        restoration: &Restoration<'_>,
        max_secrets: u32,
    ) -> Result<Option<RestoreOutcome>, StoreError> {
        let live_key = key(org_id.as_str(), name.as_str());
        let copy_key = recovery_key(org_id.as_str(), RecoverySlot::Deleted, name.as_str());
        let put_live = self.put(
            copy.restored(live_key, restoration),
            Some(still_as_read(None)),
        )?;
        let items = vec![
            put_live,
            self.delete_if(copy_key, copy.unchanged_condition())?,
            self.count(org_id, 1, max_secrets)?,
        ];
        Ok(match self.transact(items).await? {
            None => Some(RestoreOutcome::Restored),
            Some(cancelled) if cancelled.condition_failed(0) || cancelled.condition_failed(1) => {
                None
            }
            Some(cancelled) if cancelled.condition_failed(2) => Some(RestoreOutcome::LimitReached),
            Some(cancelled) => return Err(cancelled.into_error()),
        })
    }

    /// The previous value in place of the live one, which becomes the previous value in
    /// turn (or, with recovery now off, is not kept). `None`: something changed; read again.
    async fn swap_back(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        swap: Swap<'_>,
    ) -> Result<Option<RestoreOutcome>, StoreError> {
        let Swap {
            live,
            previous,
            value,
            now,
            by,
            window,
            ledger,
        } = swap;
        let copy_key = || recovery_key(org_id.as_str(), RecoverySlot::Previous, name.as_str());
        let swap_in = self.set_value(
            org_id,
            name,
            live,
            value,
            [
                (Attr::RestoredAt, &now.rfc3339),
                (Attr::RestoredBy, by.as_str()),
            ],
            ledger,
        )?;
        let swap_out = if window.keeps_values() {
            let removal = removal(now, by, window, ledger);
            self.put(
                live.recovery_copy(copy_key(), &removal),
                Some(previous.unchanged_condition()),
            )?
        } else {
            self.delete_if(copy_key(), previous.unchanged_condition())?
        };
        Ok(match self.transact(vec![swap_in, swap_out]).await? {
            None => Some(RestoreOutcome::Restored),
            Some(cancelled) if cancelled.condition_failed(0) || cancelled.condition_failed(1) => {
                None
            }
            Some(cancelled) => return Err(cancelled.into_error()),
        })
    }

    /// A recovery copy as stored (for the reader's and operators' checks and for tests).
    pub async fn recovery_copy(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        slot: RecoverySlot,
    ) -> Result<Option<RawItem>, StoreError> {
        self.read_item(recovery_key(org_id.as_str(), slot, name.as_str()))
            .await
    }
}

fn removal<'a>(
    now: &'a Now,
    by: &'a Actor,
    window: RecoveryWindow,
    ledger: &'a Ledger,
) -> Removal<'a> {
    Removal {
        at: &now.rfc3339,
        by,
        expires_at: window.expires_at(now.epoch),
        keep_value: window.keeps_values(),
        ledger,
    }
}

/// The condition that a copy about to be overwritten is still the one read (or, if none
/// was read, that there still is none), so that a write never rests on a stale read.
fn still_as_read(read: Option<&Snapshot>) -> (String, RawItem) {
    match read {
        Some(copy) => copy.unchanged_condition(),
        None => (
            format!("attribute_not_exists({})", Attr::OrgId.name()),
            RawItem::new(),
        ),
    }
}

/// What a restore of the previous value swaps, and with what.
struct Swap<'a> {
    live: &'a Snapshot,
    previous: &'a Snapshot,
    /// The previous copy's token and binding, as `accept` checked them.
    value: (&'a str, &'a str),
    now: &'a Now,
    by: &'a Actor,
    window: RecoveryWindow,
    ledger: &'a Ledger,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_expire_at_their_end_and_zero_keeps_a_day_long_tombstone() {
        let now = 1_000_000;
        assert_eq!(RecoveryWindow::default().as_days(), 7);
        assert_eq!(RecoveryWindow::days(7).expires_at(now), now + 7 * 86_400);
        assert_eq!(RecoveryWindow::days(30).expires_at(now), now + 30 * 86_400);
        assert_eq!(RecoveryWindow::days(31).as_days(), 30);
        let off = RecoveryWindow::days(0);
        assert!(!off.keeps_values());
        assert_eq!(off.expires_at(now), now + 86_400);
    }
}
