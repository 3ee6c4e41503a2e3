//! Table-wide checks of what the function stored: `secrets-admin verify` reports every item
//! whose token no configured key opens or whose binding does not verify, and
//! `secrets-admin bind` gives items written before bindings existed their binding.
//!
//! `bind` trusts the table as it stands, so run it once, right after deploying the version
//! that binds; from then on `verify` reports any unbound item, and an unbound item is a
//! finding to investigate (a binding can be stripped), not something to bind again.

use crate::crypto::{BindingError, Cipher};
use crate::storage::{Found, ItemPlace, SecretStore, StoreError, StoredToken};

/// What is wrong with one item. Names the problem, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ItemProblem {
    #[error("no configured key opens its token")]
    Undecryptable,
    #[error(transparent)]
    Binding(#[from] BindingError),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifySummary {
    pub scanned: u64,
    pub verified: u64,
    pub undecryptable: u64,
    pub unbound: u64,
    pub mismatched: u64,
}

impl VerifySummary {
    pub fn problems(&self) -> u64 {
        self.undecryptable + self.unbound + self.mismatched
    }
}

impl std::fmt::Display for VerifySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scanned {}, verified {}, undecryptable {}, unbound {}, binding mismatch {}",
            self.scanned, self.verified, self.undecryptable, self.unbound, self.mismatched
        )
    }
}

/// The problem with one scanned item, if any.
pub fn check_item(cipher: &Cipher, stored: &StoredToken) -> Result<(), ItemProblem> {
    if !cipher.opens(&stored.encrypted_value) {
        return Err(ItemProblem::Undecryptable);
    }
    let place = &stored.place;
    cipher.verify_binding(
        &place.org_id,
        &place.secret_name,
        &stored.encrypted_value,
        stored.binding.as_ref(),
    )?;
    Ok(())
}

/// Scans the whole table; `on_problem` hears of each item with a problem.
pub async fn verify_table(
    store: &SecretStore,
    cipher: &Cipher,
    page_size: i32,
    mut on_problem: impl FnMut(&ItemPlace, ItemProblem),
) -> Result<VerifySummary, StoreError> {
    let mut summary = VerifySummary::default();
    let mut start = None;
    loop {
        let page = store.scan_tokens(start.take(), page_size).await?;
        for stored in &page.tokens {
            summary.scanned += 1;
            match check_item(cipher, stored) {
                Ok(()) => summary.verified += 1,
                Err(problem) => {
                    match problem {
                        ItemProblem::Undecryptable => summary.undecryptable += 1,
                        ItemProblem::Binding(BindingError::Missing) => summary.unbound += 1,
                        ItemProblem::Binding(BindingError::Mismatch) => summary.mismatched += 1,
                    }
                    on_problem(&stored.place, problem);
                }
            }
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(summary),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindOptions {
    /// Count what would be bound; write nothing.
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
    pub scanned: u64,
    /// Given a binding now (or, in a dry run, would be).
    pub bound: u64,
    /// Had one already (whether or not it verifies: `bind` never replaces a binding).
    pub already_bound: u64,
    /// Changed by someone else since we read it (their write bound it), or no key opens
    /// its token (`verify` reports those): left as they are.
    pub skipped: u64,
}

impl std::fmt::Display for BindSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scanned {}, bound {}, already bound {}, skipped {}",
            self.scanned, self.bound, self.already_bound, self.skipped
        )
    }
}

/// Binds every unbound item whose token a configured key opens, with one conditional write
/// per item (still unbound, same token), so it is resumable and never overwrites a
/// concurrent change.
pub async fn bind_table(
    store: &SecretStore,
    cipher: &Cipher,
    options: BindOptions,
) -> Result<BindSummary, StoreError> {
    let mut summary = BindSummary::default();
    let mut start = None;
    loop {
        let page = store.scan_tokens(start.take(), options.page_size).await?;
        for stored in &page.tokens {
            summary.scanned += 1;
            if stored.binding.is_some() {
                summary.already_bound += 1;
                continue;
            }
            if !cipher.opens(&stored.encrypted_value) {
                summary.skipped += 1;
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
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(summary),
        }
    }
}
