//! A secret's change history: its change records, read through the table's history index
//! (partition `history_key`, sort `version`), newest first. The records are the history; no
//! second copy of their facts is written. Each entry is checked as `secrets-admin verify`
//! checks a record (its seal opens and says what its plain attributes say), so a record
//! written around the function is left out, never shown.

use aws_sdk_dynamodb::types::AttributeValue;

use super::change::check_record;
use super::error::classify;
use super::item::{history_key, key, Attr, RecordAttributes, HISTORY_INDEX};
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
        let mut changes = Vec::new();
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
                let entry = check_record(&item, &attributes, cipher)
                    .ok()
                    .and_then(|()| HistoryEntry::of(attributes));
                match entry {
                    Some(entry) => changes.push(entry),
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
        if below.is_none() && changes.is_empty() && next_below.is_none() {
            let live = self.read_item(key(org_id.as_str(), name.as_str())).await?;
            if live.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(HistoryPage {
            changes,
            next_below,
        }))
    }
}
