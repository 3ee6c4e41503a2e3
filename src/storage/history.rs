//! A secret's change history: its change records, read through the table's history index
//! (partition `history_key`, sort `version`), newest first. The records are the history; no
//! second copy of their facts is written. Each entry is checked as `secrets-admin verify`
//! checks a record (its seal opens and says what its plain attributes say), so a record
//! written around the function is left out, never shown.

use aws_sdk_dynamodb::types::AttributeValue;

use super::change::check_record;
use super::error::classify;
use super::item::{history_key, key, Attr, RecordAttributes, HISTORY_INDEX};
use super::store::Now;
use super::{SecretStore, StoreError};
use crate::crypto::Cipher;
use crate::domain::{OrgId, SecretName};

/// How many pages of the index (each up to 1 MB) one answer reads at most before it answers
/// with what it has and a cursor: one request's work stays bounded whatever the index holds.
const HISTORY_PAGES_READ: u32 = 4;

/// One change of a secret, as its history shows it: never a value, token, binding or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The version of the secret the change produced.
    pub version: u64,
    /// `create`, `update`, `delete`, `restore_deleted` or `restore_previous`.
    pub operation: String,
    pub changed_by: String,
    /// RFC 3339, UTC.
    pub changed_at: String,
    pub request_id: String,
}

impl HistoryEntry {
    fn of(attributes: RecordAttributes) -> Option<Self> {
        Some(Self {
            version: attributes.version?,
            operation: attributes.change_op?,
            changed_by: attributes.changed_by?,
            changed_at: attributes.changed_at?,
            request_id: attributes.request_id?,
        })
    }
}

/// A page of a secret's history, newest first, and the version the next page starts below
/// (`None`: this is the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub changes: Vec<HistoryEntry>,
    pub next_below: Option<u64>,
}

impl SecretStore {
    /// Up to `limit` changes of `name`, newest first, below version `below` when given.
    /// `None`: the name has no history (none kept, or never written) and no live secret.
    /// The index is eventually consistent: a change shows here typically within a second.
    pub(crate) async fn history(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        below: Option<u64>,
        limit: usize,
        cipher: &Cipher,
    ) -> Result<Option<HistoryPage>, StoreError> {
        let now = Now::get()?.epoch;
        let page = self
            .history_page(org_id, name, below, limit, cipher, now)
            .await?;
        if !page.changes.is_empty() || page.next_below.is_some() {
            return Ok(Some(page));
        }
        // Nothing to show: an answer only for a name that has a history or a live secret,
        // whatever the cursor (cursors are not bound to a name).
        if below.is_some() {
            let newest = self
                .history_page(org_id, name, None, 1, cipher, now)
                .await?;
            if !newest.changes.is_empty() || newest.next_below.is_some() {
                return Ok(Some(page));
            }
        }
        let live = self.read_item(key(org_id.as_str(), name.as_str())).await?;
        Ok(live.map(|_| page))
    }

    /// One page of [`SecretStore::history`], at `now` (Unix seconds).
    async fn history_page(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        below: Option<u64>,
        limit: usize,
        cipher: &Cipher,
        now: i64,
    ) -> Result<HistoryPage, StoreError> {
        let mut query = self
            .client()
            .query()
            .table_name(self.table().as_str())
            .index_name(HISTORY_INDEX)
            .expression_attribute_names("#history", Attr::HistoryKey.name())
            .expression_attribute_values(
                ":history",
                AttributeValue::S(history_key(org_id.as_str(), name.as_str())),
            )
            .scan_index_forward(false)
            // One more than asked for: a page that has it tells that there is a next page.
            .set_limit(i32::try_from(limit + 1).ok());
        query = match below {
            None => query.key_condition_expression("#history = :history"),
            Some(below) => query
                .key_condition_expression("#history = :history AND #version < :below")
                .expression_attribute_names("#version", Attr::Version.name())
                .expression_attribute_values(":below", AttributeValue::N(below.to_string())),
        };
        let mut pages = query.into_paginator().send();
        let mut changes: Vec<HistoryEntry> = Vec::new();
        let mut left_out = 0_usize;
        let mut pages_read = 0;
        let mut next_below = None;
        'pages: while let Some(page) = pages.next().await {
            let page = page.map_err(|err| classify(&err))?;
            pages_read += 1;
            let more = page
                .last_evaluated_key
                .as_ref()
                .is_some_and(|k| !k.is_empty());
            let items = page.items.unwrap_or_default();
            let count = items.len();
            for (index, item) in items.into_iter().enumerate() {
                let attributes = RecordAttributes::from(&item);
                let last_seen = attributes.version;
                // Past CHANGE_HISTORY_DAYS, whether or not DynamoDB's TTL removed it yet.
                let current = attributes.expires_at.is_some_and(|at| at > now);
                let entry = check_record(&item, &attributes, cipher)
                    .ok()
                    .and_then(|()| HistoryEntry::of(attributes));
                match entry {
                    // A version is made once; a second record of it is a copy of the first
                    // (written around the function), shown once.
                    Some(entry) if changes.last().map(|e| e.version) == Some(entry.version) => {}
                    Some(entry) if current => changes.push(entry),
                    Some(_) => {}
                    None => left_out += 1,
                }
                let rest_of_page = index + 1 < count;
                if changes.len() == limit {
                    next_below = last_seen.filter(|_| rest_of_page || more);
                    break 'pages;
                }
                if !rest_of_page && more && pages_read >= HISTORY_PAGES_READ {
                    next_below = last_seen;
                    break 'pages;
                }
            }
            if !more {
                break;
            }
        }
        if left_out > 0 {
            tracing::warn!(
                left_out,
                "history entries whose change record does not verify were left out \
                 (secrets-admin verify names them)"
            );
        }
        Ok(HistoryPage {
            changes,
            next_below,
        })
    }
}
