//! Table-wide checks of what the function stored: `secrets-admin verify` reports every item
//! whose token no configured key opens, whose binding is missing or does not verify, or
//! whose `encrypted_value` or `binding` is missing or not a string; `secrets-admin bind`
//! gives items written before bindings existed their binding.
//!
//! `bind` trusts the table as it stands, so it runs once per table: at the end of a pass that
//! left no item unbound and no failure, it writes the table's bindings marker
//! ([`BindingsMarker`]; `create-table` writes it at a new table's birth). On a marked table
//! `bind` binds nothing, `verify` reports an unbound item as stripped (never as something to
//! bind), and `rotate-keys` never re-encrypts one.

use crate::crypto::{BindingError, Cipher};
use crate::storage::{
    BindingsMarker, Found, ItemPlace, Malformation, RecordProblem, ScannedItem, SecretStore,
    StoreError, StoredToken,
};

/// What `bind` records as the marker's `marked_by`.
const MARKED_BY_BIND: &str = "bind";

/// What is wrong with one item. Names the problem, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ItemProblem {
    #[error("no configured key opens its token")]
    Undecryptable,
    /// A binding that does not verify; or none, in a table not marked bound (where the item
    /// may have been written before bindings).
    #[error(transparent)]
    Binding(#[from] BindingError),
    /// No binding, in a table marked bound: every item had one when it was marked.
    #[error(
        "the item has no binding, in a table marked bound: the binding was stripped or the item \
         written around the function (a token copied from another item?); `bind` will not bind it"
    )]
    Stripped,
    #[error("malformed: {0}")]
    Malformed(Malformation),
    /// A change record the function did not write as it stands.
    #[error(transparent)]
    Record(#[from] RecordProblem),
}

/// The problem with one scanned token, if any; `marked`: the table is marked bound.
pub fn check_item(cipher: &Cipher, stored: &StoredToken, marked: bool) -> Result<(), ItemProblem> {
    if !cipher.opens(&stored.encrypted_value) {
        return Err(ItemProblem::Undecryptable);
    }
    let place = &stored.place;
    match cipher.verify_binding(
        &place.org_id,
        &place.secret_name,
        &stored.encrypted_value,
        stored.binding.as_ref(),
    ) {
        Ok(()) => Ok(()),
        Err(BindingError::Missing) if marked => Err(ItemProblem::Stripped),
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifySummary {
    /// Live secrets and recovery copies (tombstones and malformed items included).
    pub scanned: u64,
    pub verified: u64,
    pub undecryptable: u64,
    /// Without a binding ([`ItemProblem::Stripped`] in a marked table).
    pub unbound: u64,
    pub mismatched: u64,
    pub malformed: u64,
    /// Tombstones: no token to check, and not a problem.
    pub tombstones: u64,
    /// Change records, and how many of them do not verify ([`RecordProblem`]).
    pub change_records: u64,
    pub bad_change_records: u64,
    /// The table's bindings marker; its absence is a problem of its own.
    pub marker: Option<BindingsMarker>,
}

impl VerifySummary {
    pub fn problems(&self) -> u64 {
        self.undecryptable
            + self.unbound
            + self.mismatched
            + self.malformed
            + self.bad_change_records
            + u64::from(self.marker.is_none())
    }

    /// What the missing marker means, given what the scan found (`None`: marked).
    pub fn unmarked_finding(&self) -> Option<&'static str> {
        if self.marker.is_some() {
            return None;
        }
        Some(if self.unbound > 0 {
            "the table is not marked bound: if its unbound items were written before bindings, \
             `secrets-admin bind` binds them and marks the table; it binds whatever token an \
             unbound item holds, so first confirm that none of them was copied"
        } else if self.verified + self.mismatched > 0 {
            "the table is not marked bound, though every item has a binding: either \
             `secrets-admin bind` has never completed on it, or someone deleted the marker \
             (find out which before running `bind`, which then marks it again)"
        } else {
            "the table is not marked bound: run `secrets-admin bind` once to mark it"
        })
    }
}

impl std::fmt::Display for VerifySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scanned {}, verified {}, undecryptable {}, unbound {}, binding mismatch {}, \
             malformed {}, tombstones {}; ",
            self.scanned,
            self.verified,
            self.undecryptable,
            self.unbound,
            self.mismatched,
            self.malformed,
            self.tombstones,
        )?;
        match &self.marker {
            Some(marker) => write!(f, "{marker}"),
            None => f.write_str("NOT marked bound"),
        }?;
        write!(
            f,
            "; change records {} ({} not verifying)",
            self.change_records, self.bad_change_records
        )
    }
}

/// Scans the whole table; `on_problem` hears of each item with a problem (the missing marker
/// is in the summary: [`VerifySummary::unmarked_finding`]).
pub async fn verify_table(
    store: &SecretStore,
    cipher: &Cipher,
    page_size: i32,
    mut on_problem: impl FnMut(&ItemPlace, ItemProblem),
) -> Result<VerifySummary, StoreError> {
    let mut summary = VerifySummary {
        marker: store.bindings_marker().await?,
        ..VerifySummary::default()
    };
    let marked = summary.marker.is_some();
    let mut pages = store.scan_pages(page_size);
    while let Some(page) = pages.next().await {
        for item in &page? {
            let (place, outcome) = match item {
                ScannedItem::Token(stored) => (&stored.place, check_item(cipher, stored, marked)),
                ScannedItem::Malformed(item) => {
                    (&item.place, Err(ItemProblem::Malformed(item.defects)))
                }
                ScannedItem::Tombstone(_) => {
                    summary.scanned += 1;
                    summary.tombstones += 1;
                    continue;
                }
                ScannedItem::ChangeRecord(record) => {
                    summary.change_records += 1;
                    if let Err(problem) = record.check(cipher) {
                        summary.bad_change_records += 1;
                        on_problem(&record.place, problem.into());
                    }
                    continue;
                }
                ScannedItem::Counter | ScannedItem::Marker | ScannedItem::Other => continue,
            };
            summary.scanned += 1;
            match outcome {
                Ok(()) => summary.verified += 1,
                Err(problem) => {
                    match problem {
                        ItemProblem::Undecryptable => summary.undecryptable += 1,
                        ItemProblem::Binding(BindingError::Missing) | ItemProblem::Stripped => {
                            summary.unbound += 1
                        }
                        ItemProblem::Binding(BindingError::Mismatch) => summary.mismatched += 1,
                        ItemProblem::Malformed(_) => summary.malformed += 1,
                        ItemProblem::Record(_) => summary.bad_change_records += 1,
                    }
                    on_problem(place, problem);
                }
            }
        }
    }
    Ok(summary)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindOptions {
    /// Count what would be bound; write nothing (no binding, no marker).
    pub dry_run: bool,
    /// Items per scan page.
    pub page_size: i32,
}

impl Default for BindOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            page_size: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindSummary {
    /// Live secrets and recovery copies holding a token, and malformed ones.
    pub scanned: u64,
    /// Given a binding now (or, in a dry run, would be).
    pub bound: u64,
    /// Had one already (whether or not it verifies: `bind` never replaces a binding).
    pub already_bound: u64,
    /// Changed by someone else since we read it: left as it is (a rerun looks again).
    pub skipped: u64,
    /// Left unbound because no configured key opens its token, or malformed: the table is
    /// not marked until `verify` has nothing of the kind to report.
    pub failed: u64,
    /// The pass marked the table bound (it is now, whoever wrote the marker).
    pub marked: bool,
}

impl BindSummary {
    /// The pass left no unbound item and no failure: the table is (or, in a dry run, would
    /// be) marked bound.
    pub fn complete(&self) -> bool {
        self.skipped == 0 && self.failed == 0
    }
}

impl std::fmt::Display for BindSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scanned {}, bound {}, already bound {}, skipped {}, failed {}",
            self.scanned, self.bound, self.already_bound, self.skipped, self.failed
        )
    }
}

/// What `bind` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindOutcome {
    /// The table is marked bound: nothing was scanned or written.
    Refused(BindingsMarker),
    Done(BindSummary),
}

/// Binds every unbound item whose token a configured key opens, with one conditional write
/// per item (still unbound, same token), so it is resumable and never overwrites a
/// concurrent change; then, when nothing was left unbound and nothing failed, marks the table
/// bound. On a table already marked it does nothing. `on_failure` hears of each item left
/// unbound for a reason of its own ([`ItemProblem::Undecryptable`] or
/// [`ItemProblem::Malformed`]).
pub async fn bind_table(
    store: &SecretStore,
    cipher: &Cipher,
    options: BindOptions,
    mut on_failure: impl FnMut(&ItemPlace, ItemProblem),
) -> Result<BindOutcome, StoreError> {
    if let Some(marker) = store.bindings_marker().await? {
        return Ok(BindOutcome::Refused(marker));
    }
    let mut summary = BindSummary::default();
    let mut pages = store.scan_pages(options.page_size);
    while let Some(page) = pages.next().await {
        for item in &page? {
            let stored = match item {
                ScannedItem::Token(stored) => stored,
                ScannedItem::Malformed(item) => {
                    summary.scanned += 1;
                    summary.failed += 1;
                    on_failure(&item.place, ItemProblem::Malformed(item.defects));
                    continue;
                }
                // Change records hold no token to bind.
                ScannedItem::Tombstone(_)
                | ScannedItem::ChangeRecord(_)
                | ScannedItem::Counter
                | ScannedItem::Marker
                | ScannedItem::Other => continue,
            };
            summary.scanned += 1;
            if stored.binding.is_some() {
                summary.already_bound += 1;
                continue;
            }
            if !cipher.opens(&stored.encrypted_value) {
                summary.failed += 1;
                on_failure(&stored.place, ItemProblem::Undecryptable);
                continue;
            }
            if options.dry_run {
                summary.bound += 1;
                continue;
            }
            let place = &stored.place;
            let binding = cipher.bind(&place.org_id, &place.secret_name, &stored.encrypted_value);
            match store.add_binding(stored, binding).await? {
                Found::Yes => summary.bound += 1,
                Found::No => summary.skipped += 1,
            }
        }
    }
    if summary.complete() && !options.dry_run {
        // `Found::No`: another `bind` marked it meanwhile; marked either way.
        store.mark_bindings_complete(MARKED_BY_BIND).await?;
        summary.marked = true;
    }
    Ok(BindOutcome::Done(summary))
}
