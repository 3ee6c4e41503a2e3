//! Update, delete and restore: the writes that keep what they remove recoverable.
//!
//! Each reads the live item first (consistently; a restore also reads the copy it brings
//! back), then writes one transaction: the change, conditional on the live item still being
//! what it read, and the request's change record (module `change`). The live secret, its
//! recovery copy and the record change together or not at all. When the live item changed
//! between the read and the write, the operation reads again and decides again, a bounded
//! number of times. An answer that writes nothing (not found, nothing to restore, a name in
//! the way) is given only after the request's record says it is not a resend.

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::change::{Change, ChangeOp, ChangeRecord, ValueDigest};
use super::item::Snapshot;
use super::item::{key, recovery_key, Attr, RawItem, RecoverySlot, Removal, Restoration};
use super::store::{Committed, Now, Resend};
use super::{SecretStore, StoreError};
use crate::crypto::{EncryptedValue, TokenBinding};
use crate::domain::{Actor, DescriptionChange, RecoveryWindow, SecretName};

/// How often an operation reads and tries again after another writer changed the item
/// between its read and its write. Each attempt is itself retried on transaction conflicts.
const CHANGE_ATTEMPTS: u32 = 4;

/// An update's new value: its token, the token's binding to the secret, and what the update
/// does to the description.
#[derive(Debug, Clone)]
pub struct NewValue {
    pub token: EncryptedValue,
    pub binding: TokenBinding,
    pub description: DescriptionChange,
}

/// How an update, delete or restore ended. `AlreadyDone`: this very request was made
/// before (a retry, a redelivery), and nothing was written now. `RequestReused`: the
/// request's identity already named another change, and nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    Updated,
    AlreadyUpdated,
    RequestReused,
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    AlreadyDeleted,
    RequestReused,
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreOutcome {
    Restored,
    AlreadyRestored,
    RequestReused,
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

/// What a restore needs besides the request: the window for the value it swaps out, the
/// organization's limit for a value it brings back, and the check a copy must pass.
pub struct RestorePolicy<A> {
    pub window: RecoveryWindow,
    pub max_secrets: u32,
    /// Sees the copy's token and binding first: a copy it refuses (no key opens it, or it
    /// is not bound to this secret) is never brought back.
    pub accept: A,
}

fn gave_up() -> StoreError {
    StoreError::Unavailable("the item kept changing under concurrent writes".to_owned())
}

/// One attempt of a change: done (with the answer), or read and try again.
enum Attempt<T> {
    Done(T),
    Again,
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

    /// A `Delete`, conditional when a condition is given (a copy that may not exist is
    /// deleted unconditionally: deleting nothing is not an error).
    fn delete_item(
        &self,
        item_key: RawItem,
        condition: Option<(String, RawItem)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut delete = Delete::builder()
            .table_name(self.table().as_str())
            .set_key(Some(item_key));
        if let Some((expression, values)) = condition {
            delete = delete
                .condition_expression(expression)
                .set_expression_attribute_values((!values.is_empty()).then_some(values));
        }
        let delete = delete
            .build()
            .map_err(|err| StoreError::Other(format!("delete: {err}")))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Sets the live item's value to `value` if it is still `live`, with `stamp` (when and
    /// who), dropping the legacy attributes (a create's idempotency key, the change ledger;
    /// docs/storage-contract.md).
    fn set_value(
        &self,
        item_key: RawItem,
        live: &Snapshot,
        value: (&str, &str),
        description: &DescriptionChange,
        stamp: [(Attr, &str); 2],
        version: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, mut values) = live.unchanged_condition();
        let (token, binding) = value;
        let mut sets: Vec<(Attr, &str)> =
            vec![(Attr::EncryptedValue, token), (Attr::Binding, binding)];
        sets.extend(stamp);
        let mut removals = vec!["#idem", "#ledger"];
        match description {
            DescriptionChange::Set(text) => sets.push((Attr::Description, text.as_str())),
            DescriptionChange::Remove => removals.push("#description"),
            DescriptionChange::Keep => {}
        }
        let mut update = Update::builder()
            .table_name(self.table().as_str())
            .set_key(Some(item_key))
            .expression_attribute_names("#idem", Attr::IdempotencyKey.name())
            .expression_attribute_names("#ledger", Attr::LegacyChanges.name())
            .expression_attribute_names("#version", Attr::Version.name());
        if *description == DescriptionChange::Remove {
            update = update.expression_attribute_names("#description", Attr::Description.name());
        }
        let mut assignments = vec!["#version = :version".to_owned()];
        values.insert(
            ":version".to_owned(),
            AttributeValue::N(version.to_string()),
        );
        for (index, (attr, value)) in sets.into_iter().enumerate() {
            assignments.push(format!("#set{index} = :set{index}"));
            update = update.expression_attribute_names(format!("#set{index}"), attr.name());
            values.insert(format!(":set{index}"), AttributeValue::S(value.to_owned()));
        }
        let update = update
            .update_expression(format!(
                "SET {} REMOVE {}",
                assignments.join(", "),
                removals.join(", ")
            ))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|err| StoreError::Other(format!("update: {err}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The answer when a change would write nothing: a resend of this request gets its
    /// first answer (`done`), a reused identity `reused`, anything else `otherwise`.
    async fn unless_resent<T>(
        &self,
        record: &ChangeRecord,
        change: &Change<'_>,
        now: &Now,
        answers: [T; 3],
    ) -> Result<T, StoreError> {
        let [done, reused, otherwise] = answers;
        Ok(match self.resend_of(record, change, now.epoch).await? {
            Some(Resend::Same) => done,
            Some(Resend::Reused) => reused,
            None => otherwise,
        })
    }

    /// Replaces the value of an existing secret; `created_*` stay, and the value it
    /// replaces is kept as the previous value for the recovery window (with recovery off,
    /// an older previous value is removed instead).
    ///
    /// `value` is the digest of the new value, sealed into the change record: the same
    /// request sent again is the same only with the same value, so a workflow that repeats
    /// request ids never gets a 200 for a value it did not store.
    pub async fn update(
        &self,
        name: &SecretName,
        new: NewValue,
        value: &ValueDigest,
        change: &Change<'_>,
        window: RecoveryWindow,
    ) -> Result<UpdateOutcome, StoreError> {
        let now = Now::get()?;
        let record = ChangeRecord::new(
            change,
            ChangeOp::Update,
            name,
            Some(value),
            (&now.rfc3339, now.epoch),
        );
        let org = change.org_id.as_str();
        let live_key = || key(org, name.as_str());
        let copy_key = || recovery_key(org, RecoverySlot::Previous, name.as_str());
        for _ in 0..CHANGE_ATTEMPTS {
            let (live, version) = tokio::try_join!(
                self.read(live_key()),
                self.next_version(change.org_id, name)
            )?;
            let Some(live) = live else {
                let answers = [
                    UpdateOutcome::AlreadyUpdated,
                    UpdateOutcome::RequestReused,
                    UpdateOutcome::NotFound,
                ];
                return self.unless_resent(&record, change, &now, answers).await;
            };
            let set = self.set_value(
                live_key(),
                &live,
                (new.token.as_str(), new.binding.as_str()),
                &new.description,
                [
                    (Attr::UpdatedAt, &now.rfc3339),
                    (Attr::UpdatedBy, change.actor.as_str()),
                ],
                version.next,
            )?;
            let keep = if window.keeps_values() {
                let removal = removal(&now, change.actor, window, version.next);
                // The copy follows the live item: every writer of it first changes the live
                // item, which the condition above guards.
                self.put(live.recovery_copy(copy_key(), &removal), None)?
            } else {
                // Recovery is off: an older previous value must not stay behind.
                self.delete_item(copy_key(), None)?
            };
            match self
                .commit(vec![set, keep], &record, change, (name, version), now.epoch)
                .await?
            {
                Committed::VersionMoved => continue,
                Committed::Yes => return Ok(UpdateOutcome::Updated),
                Committed::Resend(Resend::Same) => return Ok(UpdateOutcome::AlreadyUpdated),
                Committed::Resend(Resend::Reused) => return Ok(UpdateOutcome::RequestReused),
                Committed::ItemsChanged(cancelled) if cancelled.condition_failed(0) => continue,
                Committed::ItemsChanged(cancelled) => return Err(cancelled.into_error()),
            }
        }
        Err(gave_up())
    }

    /// Deletes the secret, keeps its value recoverable for the window, and counts it off
    /// the organization's counter: one transaction. With recovery off, nothing of the
    /// secret's values stays: its previous copy and any older deleted copy go too.
    ///
    /// The counter never goes below zero: a secret written before the counter existed was
    /// never counted, and when the counter is missing or zero it is deleted without it.
    pub async fn delete(
        &self,
        name: &SecretName,
        change: &Change<'_>,
        window: RecoveryWindow,
    ) -> Result<DeleteOutcome, StoreError> {
        let now = Now::get()?;
        let record = ChangeRecord::new(
            change,
            ChangeOp::Delete,
            name,
            None,
            (&now.rfc3339, now.epoch),
        );
        let org = change.org_id.as_str();
        let live_key = || key(org, name.as_str());
        let copy_key = |slot| recovery_key(org, slot, name.as_str());
        let mut counted = true;
        for _ in 0..CHANGE_ATTEMPTS {
            let (live, version) = tokio::try_join!(
                self.read(live_key()),
                self.next_version(change.org_id, name)
            )?;
            let Some(live) = live else {
                let answers = [
                    DeleteOutcome::AlreadyDeleted,
                    DeleteOutcome::RequestReused,
                    DeleteOutcome::NotFound,
                ];
                return self.unless_resent(&record, change, &now, answers).await;
            };
            let mut items = vec![self.delete_item(live_key(), Some(live.unchanged_condition()))?];
            if window.keeps_values() {
                // Replaces an older deleted copy: the most recent delete is the one kept.
                let removal = removal(&now, change.actor, window, version.next);
                let copy = live.recovery_copy(copy_key(RecoverySlot::Deleted), &removal);
                items.push(self.put(copy, None)?);
            } else {
                for slot in [RecoverySlot::Deleted, RecoverySlot::Previous] {
                    items.push(self.delete_item(copy_key(slot), None)?);
                }
            }
            let counter_index = items.len();
            if counted {
                items.push(self.count(change.org_id, -1, 0)?);
            }
            let committed = self
                .commit(items, &record, change, (name, version), now.epoch)
                .await?;
            match committed {
                Committed::VersionMoved => continue,
                Committed::Yes => return Ok(DeleteOutcome::Deleted),
                Committed::Resend(Resend::Same) => return Ok(DeleteOutcome::AlreadyDeleted),
                Committed::Resend(Resend::Reused) => return Ok(DeleteOutcome::RequestReused),
                Committed::ItemsChanged(cancelled) if cancelled.condition_failed(0) => continue,
                // The counter is missing or zero: the secret was never counted.
                Committed::ItemsChanged(cancelled)
                    if counted && cancelled.condition_failed(counter_index) =>
                {
                    counted = false;
                }
                Committed::ItemsChanged(cancelled) => return Err(cancelled.into_error()),
            }
        }
        Err(gave_up())
    }

    /// Brings back the value in `slot`: the last deleted value as the live secret again
    /// (counted against `max_secrets`), or the live secret's previous value in place of
    /// its current one (which becomes the previous value in turn, so a restore can be
    /// undone the same way).
    pub async fn restore<A>(
        &self,
        name: &SecretName,
        slot: RecoverySlot,
        change: &Change<'_>,
        policy: &RestorePolicy<A>,
    ) -> Result<RestoreOutcome, StoreError>
    where
        A: Fn(&EncryptedValue, Option<&TokenBinding>) -> bool,
    {
        let now = Now::get()?;
        let op = match slot {
            RecoverySlot::Deleted => ChangeOp::RestoreDeleted,
            RecoverySlot::Previous => ChangeOp::RestorePrevious,
        };
        let record = ChangeRecord::new(change, op, name, None, (&now.rfc3339, now.epoch));
        let restore = Restore {
            name,
            change,
            record: &record,
            now: &now,
        };
        for _ in 0..CHANGE_ATTEMPTS {
            let attempt = match slot {
                RecoverySlot::Deleted => self.bring_back(&restore, policy).await?,
                RecoverySlot::Previous => self.swap_back(&restore, policy).await?,
            };
            let outcome = match attempt {
                Attempt::Done(outcome) => outcome,
                Attempt::Again => continue,
            };
            return match outcome {
                RestoreOutcome::Restored
                | RestoreOutcome::AlreadyRestored
                | RestoreOutcome::RequestReused => Ok(outcome),
                refusal => {
                    let answers = [
                        RestoreOutcome::AlreadyRestored,
                        RestoreOutcome::RequestReused,
                        refusal,
                    ];
                    self.unless_resent(&record, change, &now, answers).await
                }
            };
        }
        Err(gave_up())
    }

    /// The deleted copy as the live secret again, if it is recoverable and accepted and no
    /// live secret holds the name.
    async fn bring_back<A>(
        &self,
        restore: &Restore<'_>,
        policy: &RestorePolicy<A>,
    ) -> Result<Attempt<RestoreOutcome>, StoreError>
    where
        A: Fn(&EncryptedValue, Option<&TokenBinding>) -> bool,
    {
        let Restore {
            name,
            change,
            record,
            now,
        } = *restore;
        let org = change.org_id.as_str();
        let live_key = key(org, name.as_str());
        let copy_key = recovery_key(org, RecoverySlot::Deleted, name.as_str());
        let (live, copy, version) = tokio::try_join!(
            self.read(live_key.clone()),
            self.read(copy_key.clone()),
            self.next_version(change.org_id, name)
        )?;
        let Some(copy) = copy.filter(|copy| copy.is_recoverable(now.epoch)) else {
            return Ok(Attempt::Done(RestoreOutcome::NothingToRestore));
        };
        if accepted(&copy, &policy.accept).is_none() {
            return Ok(Attempt::Done(RestoreOutcome::Refused));
        }
        if live.is_some() {
            return Ok(Attempt::Done(RestoreOutcome::NameTaken));
        }
        let restoration = Restoration {
            at: &now.rfc3339,
            by: change.actor,
            version: version.next,
        };
        let items = vec![
            self.put(
                copy.restored(live_key, &restoration),
                Some(absent_condition()),
            )?,
            self.delete_item(copy_key, Some(copy.unchanged_condition()))?,
            self.count(change.org_id, 1, policy.max_secrets)?,
        ];
        let committed = self
            .commit(items, record, change, (name, version), now.epoch)
            .await?;
        Ok(match committed {
            Committed::VersionMoved => Attempt::Again,
            Committed::Yes => Attempt::Done(RestoreOutcome::Restored),
            Committed::Resend(Resend::Same) => Attempt::Done(RestoreOutcome::AlreadyRestored),
            Committed::Resend(Resend::Reused) => Attempt::Done(RestoreOutcome::RequestReused),
            Committed::ItemsChanged(c) if c.condition_failed(0) || c.condition_failed(1) => {
                Attempt::Again
            }
            Committed::ItemsChanged(c) if c.condition_failed(2) => {
                Attempt::Done(RestoreOutcome::LimitReached)
            }
            Committed::ItemsChanged(c) => return Err(c.into_error()),
        })
    }

    /// The previous value in place of the live one, which becomes the previous value in
    /// turn (or, with recovery now off, is not kept).
    async fn swap_back<A>(
        &self,
        restore: &Restore<'_>,
        policy: &RestorePolicy<A>,
    ) -> Result<Attempt<RestoreOutcome>, StoreError>
    where
        A: Fn(&EncryptedValue, Option<&TokenBinding>) -> bool,
    {
        let Restore {
            name,
            change,
            record,
            now,
        } = *restore;
        let org = change.org_id.as_str();
        let live_key = || key(org, name.as_str());
        let copy_key = || recovery_key(org, RecoverySlot::Previous, name.as_str());
        let (live, previous, version) = tokio::try_join!(
            self.read(live_key()),
            self.read(copy_key()),
            self.next_version(change.org_id, name)
        )?;
        let Some(live) = live else {
            return Ok(Attempt::Done(RestoreOutcome::NothingToRestore));
        };
        // A previous value applies only to the secret it was replaced in.
        let previous =
            previous.filter(|copy| copy.is_recoverable(now.epoch) && copy.same_secret_as(&live));
        let Some(previous) = previous else {
            return Ok(Attempt::Done(RestoreOutcome::NothingToRestore));
        };
        let Some((token, binding)) = accepted(&previous, &policy.accept) else {
            return Ok(Attempt::Done(RestoreOutcome::Refused));
        };
        let swap_in = self.set_value(
            live_key(),
            &live,
            (&token, &binding),
            // A description says what the secret is for, not which value it holds.
            &DescriptionChange::Keep,
            [
                (Attr::RestoredAt, &now.rfc3339),
                (Attr::RestoredBy, change.actor.as_str()),
            ],
            version.next,
        )?;
        let swap_out = if policy.window.keeps_values() {
            let removal = removal(now, change.actor, policy.window, version.next);
            self.put(
                live.recovery_copy(copy_key(), &removal),
                Some(previous.unchanged_condition()),
            )?
        } else {
            self.delete_item(copy_key(), Some(previous.unchanged_condition()))?
        };
        Ok(
            match self
                .commit(
                    vec![swap_in, swap_out],
                    record,
                    change,
                    (name, version),
                    now.epoch,
                )
                .await?
            {
                Committed::VersionMoved => Attempt::Again,
                Committed::Yes => Attempt::Done(RestoreOutcome::Restored),
                Committed::Resend(Resend::Same) => Attempt::Done(RestoreOutcome::AlreadyRestored),
                Committed::Resend(Resend::Reused) => Attempt::Done(RestoreOutcome::RequestReused),
                Committed::ItemsChanged(c) if c.condition_failed(0) || c.condition_failed(1) => {
                    Attempt::Again
                }
                Committed::ItemsChanged(c) => return Err(c.into_error()),
            },
        )
    }

    /// A recovery copy as stored (for the reader's and operators' checks and for tests).
    pub async fn recovery_copy(
        &self,
        org_id: &crate::domain::OrgId,
        name: &SecretName,
        slot: RecoverySlot,
    ) -> Result<Option<RawItem>, StoreError> {
        self.read_item(recovery_key(org_id.as_str(), slot, name.as_str()))
            .await
    }
}

/// One restore request, as its attempts share it.
#[derive(Clone, Copy)]
struct Restore<'a> {
    name: &'a SecretName,
    change: &'a Change<'a>,
    record: &'a ChangeRecord,
    now: &'a Now,
}

/// The copy's token and binding, if `accept` takes them.
fn accepted(
    copy: &Snapshot,
    accept: impl Fn(&EncryptedValue, Option<&TokenBinding>) -> bool,
) -> Option<(String, String)> {
    let token = copy.encrypted_value()?;
    let binding = copy.binding()?;
    accept(
        &EncryptedValue::from_stored(token.to_owned()),
        Some(&TokenBinding::from_stored(binding.to_owned())),
    )
    .then(|| (token.to_owned(), binding.to_owned()))
}

fn removal<'a>(now: &'a Now, by: &'a Actor, window: RecoveryWindow, version: u64) -> Removal<'a> {
    Removal {
        at: &now.rfc3339,
        by,
        expires_at: window.expires_at(now.epoch),
        version,
    }
}

/// The condition that there is no item at the key written.
fn absent_condition() -> (String, RawItem) {
    (
        format!("attribute_not_exists({})", Attr::OrgId.name()),
        RawItem::new(),
    )
}
