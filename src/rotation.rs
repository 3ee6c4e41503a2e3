//! Key rotation: re-encrypt every item whose token does not open under the first key of
//! `ENCRYPTION_KEY` (live secrets, their recovery copies, and the seals of change records),
//! one conditional write per item so a concurrent update is never overwritten. Idempotent, hence resumable: a rerun
//! skips what is already rotated.
//!
//! The new token is bound to its secret under the first key, but only when the old binding
//! verifies: rotation never vouches for an item it cannot. An item whose binding does not
//! verify is left alone and reported, and so is an unbound item in a table marked bound
//! ([`crate::integrity`]: its binding was stripped). In a table not yet marked, an unbound
//! item is re-encrypted and stays unbound (`secrets-admin bind` is for those). A malformed
//! item is reported; tombstones and the items that are not secrets are passed over.

use crate::crypto::{BindingError, Cipher};
use crate::integrity::ItemProblem;
use crate::storage::{
    Found, ItemPlace, RecordProblem, ScannedItem, SecretStore, StoreError, StoredRecord,
    StoredToken,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationOptions {
    /// Count what would be rotated; write nothing.
    pub dry_run: bool,
    /// Stop after this many writes (tokens re-encrypted and change records re-sealed: a
    /// batch); a rerun continues.
    pub limit: Option<u64>,
    /// Items per scan page.
    pub page_size: i32,
}

impl Default for RotationOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            limit: None,
            page_size: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotationSummary {
    /// Live secrets and recovery copies holding a token, and malformed ones.
    pub scanned: u64,
    /// Re-encrypted under the first key (or, in a dry run, would be).
    pub rotated: u64,
    /// Already under the first key, or changed by someone else since we read it. A change
    /// that wrote a new token used the first key; but delete, update and restore also move
    /// the token they read into a recovery copy, which this scan may already have passed.
    /// So a run with skips is followed by another, until it rotates nothing.
    pub skipped: u64,
    /// No configured key opens the token, its binding does not verify (or is missing in a
    /// table marked bound), the item is malformed, or the write failed; a rerun retries.
    /// Change records that do not verify count here too.
    pub failed: u64,
    /// Change records re-sealed under the first key (or, in a dry run, would be), so a
    /// retry of their request is still recognised once the old key is gone. Counted apart
    /// from the tokens above.
    pub resealed: u64,
    /// True when `limit` stopped the run before the scan finished.
    pub stopped_early: bool,
}

impl std::fmt::Display for RotationSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scanned {}, rotated {}, skipped {}, failed {}, change records resealed {}",
            self.scanned, self.rotated, self.skipped, self.failed, self.resealed
        )
    }
}

/// What happened to one item, for the caller's progress output. Names only, never values.
#[derive(Debug)]
pub enum ItemEvent<'a> {
    Failed { item: &'a ItemPlace, reason: String },
    PageDone(&'a RotationSummary),
}

pub async fn rotate_keys(
    store: &SecretStore,
    cipher: &Cipher,
    options: RotationOptions,
    mut on_event: impl FnMut(ItemEvent<'_>),
) -> Result<RotationSummary, StoreError> {
    let marked = store.bindings_marker().await?.is_some();
    let mut summary = RotationSummary::default();
    let mut pages = store.scan_pages(options.page_size);
    while let Some(page) = pages.next().await {
        for item in &page? {
            let place = match item {
                ScannedItem::Token(stored) => &stored.place,
                ScannedItem::Malformed(malformed) => &malformed.place,
                ScannedItem::ChangeRecord(record) => &record.place,
                ScannedItem::Tombstone(_)
                | ScannedItem::Counter
                | ScannedItem::Marker
                | ScannedItem::Other => continue,
            };
            if options
                .limit
                .is_some_and(|limit| summary.rotated + summary.resealed >= limit)
            {
                summary.stopped_early = true;
                on_event(ItemEvent::PageDone(&summary));
                return Ok(summary);
            }
            let is_record = matches!(item, ScannedItem::ChangeRecord(_));
            if !is_record {
                summary.scanned += 1;
            }
            let outcome = match item {
                ScannedItem::Token(stored) => {
                    rotate_token(store, cipher, stored, marked, options).await
                }
                ScannedItem::ChangeRecord(record) => reseal(store, cipher, record, options).await,
                ScannedItem::Malformed(malformed) => {
                    Err(ItemProblem::Malformed(malformed.defects).to_string())
                }
                _ => continue,
            };
            match outcome {
                Ok(Some(Found::Yes)) if is_record => summary.resealed += 1,
                // A record that changed or expired meanwhile needs nothing more.
                Ok(_) if is_record => {}
                Ok(Some(Found::Yes)) => summary.rotated += 1,
                Ok(Some(Found::No)) | Ok(None) => summary.skipped += 1,
                Err(reason) => {
                    summary.failed += 1;
                    on_event(ItemEvent::Failed {
                        item: place,
                        reason,
                    });
                }
            }
        }
        on_event(ItemEvent::PageDone(&summary));
    }
    Ok(summary)
}

/// One live secret or recovery copy: `Ok(None)` when its token is already under the first
/// key, else whether it was re-encrypted (`Found::No`: it changed meanwhile) or why not.
async fn rotate_token(
    store: &SecretStore,
    cipher: &Cipher,
    stored: &StoredToken,
    marked: bool,
    options: RotationOptions,
) -> Result<Option<Found>, String> {
    if cipher.is_current(&stored.encrypted_value) {
        return Ok(None);
    }
    let place = &stored.place;
    let bound = cipher.verify_binding(
        &place.org_id,
        &place.secret_name,
        &stored.encrypted_value,
        stored.binding.as_ref(),
    );
    match (bound, cipher.reencrypt(&stored.encrypted_value)) {
        (Err(BindingError::Mismatch), _) => Err(BindingError::Mismatch.to_string()),
        (Err(BindingError::Missing), _) if marked => Err(ItemProblem::Stripped.to_string()),
        (_, Err(err)) => Err(err.to_string()),
        (_, Ok(_)) if options.dry_run => Ok(Some(Found::Yes)),
        (bound, Ok(replacement)) => {
            let binding = bound
                .is_ok()
                .then(|| cipher.bind(&place.org_id, &place.secret_name, &replacement));
            store
                .replace_token(stored, replacement, binding)
                .await
                .map(Some)
                .map_err(|err| err.to_string())
        }
    }
}

/// One change record: its seal re-sealed under the first key, so a retry of its request is
/// still recognised after the old key is removed. A record that does not verify is left as
/// it is and reported, as rotation never vouches for what it cannot check.
async fn reseal(
    store: &SecretStore,
    cipher: &Cipher,
    record: &StoredRecord,
    options: RotationOptions,
) -> Result<Option<Found>, String> {
    let Some(seal) = &record.seal else {
        return Err(RecordProblem::NoSeal.to_string());
    };
    if cipher.seal_is_current(seal) {
        return Ok(None);
    }
    record
        .check(cipher)
        .map_err(|problem| problem.to_string())?;
    let replacement = cipher.reseal(seal).map_err(|err| err.to_string())?;
    if options.dry_run {
        return Ok(Some(Found::Yes));
    }
    store
        .replace_seal(record, seal, replacement)
        .await
        .map(Some)
        .map_err(|err| err.to_string())
}
