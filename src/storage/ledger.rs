//! The change ledger: how the same update, delete or restore sent again is recognised,
//! wherever the secret's values went since.
//!
//! Every item of a secret (the live item and its recovery copies) carries `changes`, a
//! list of the last changes made to the secret within [`REPLAY_HORIZON_SECS`]: which
//! operation, who, in which request, with which `Idempotency-Key`, when, and for an update a
//! keyed digest of the value it wrote. A write reads the secret's three items, merges their
//! ledgers, answers "already done" when its own entry is there, and otherwise writes the
//! merged ledger plus its own entry onto every item it writes. So an entry travels with the
//! secret through later updates, swaps, deletes and restores, and a redelivered change never
//! overwrites a newer state.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::Change;

/// How long the same request sent again is recognised as such. After that a request id or
/// key seen again is a new request: a workflow that repeats ids from a template is not told
/// "done" for a change it made the day before.
pub(super) const REPLAY_HORIZON_SECS: i64 = 24 * 60 * 60;
/// At most this many entries per item (the newest), so a secret changed very often cannot
/// grow its items towards DynamoDB's 400 KB limit: about 3 KB at most.
pub(super) const ENTRIES_KEPT: usize = 16;

const FIELD_OP: &str = "op";
const FIELD_BY: &str = "by";
const FIELD_REQUEST_ID: &str = "request_id";
const FIELD_IDEMPOTENCY_KEY: &str = "idempotency_key";
const FIELD_AT: &str = "at";
const FIELD_VALUE_DIGEST: &str = "value_digest";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Update,
    Delete,
    RestoreDeleted,
    RestorePrevious,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Update => "update",
            Op::Delete => "delete",
            Op::RestoreDeleted => "restore_deleted",
            Op::RestorePrevious => "restore_previous",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [
            Op::Update,
            Op::Delete,
            Op::RestoreDeleted,
            Op::RestorePrevious,
        ]
        .into_iter()
        .find(|op| op.as_str() == raw)
    }
}

/// One change of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    op: Op,
    by: String,
    request_id: String,
    idempotency_key: Option<String>,
    /// Unix seconds.
    at: i64,
    /// An update's keyed digest of the value it wrote (see `Cipher::value_digest`).
    value_digest: Option<String>,
}

impl Entry {
    pub(super) fn new(op: Op, change: &Change<'_>, at: i64, value_digest: Option<&str>) -> Self {
        Self {
            op,
            by: change.actor.as_str().to_owned(),
            request_id: change.request_id.as_str().to_owned(),
            idempotency_key: change.idempotency_key.map(|key| key.as_str().to_owned()),
            at,
            value_digest: value_digest.map(str::to_owned),
        }
    }

    /// `change` sent again: the same operation and actor, and the same request id or
    /// `Idempotency-Key`.
    fn is(&self, op: Op, change: &Change<'_>) -> bool {
        self.op == op
            && self.by == change.actor.as_str()
            && (self.request_id == change.request_id.as_str()
                || change
                    .idempotency_key
                    .is_some_and(|key| self.idempotency_key.as_deref() == Some(key.as_str())))
    }

    fn from_attribute(value: &AttributeValue) -> Option<Self> {
        let map = value.as_m().ok()?;
        let text = |field: &str| map.get(field).and_then(|v| v.as_s().ok()).cloned();
        Some(Self {
            op: Op::parse(&text(FIELD_OP)?)?,
            by: text(FIELD_BY)?,
            request_id: text(FIELD_REQUEST_ID)?,
            idempotency_key: text(FIELD_IDEMPOTENCY_KEY),
            at: map.get(FIELD_AT)?.as_n().ok()?.parse().ok()?,
            value_digest: text(FIELD_VALUE_DIGEST),
        })
    }

    fn to_attribute(&self) -> AttributeValue {
        let text = |value: &str| AttributeValue::S(value.to_owned());
        let mut map = HashMap::from([
            (FIELD_OP.to_owned(), text(self.op.as_str())),
            (FIELD_BY.to_owned(), text(&self.by)),
            (FIELD_REQUEST_ID.to_owned(), text(&self.request_id)),
            (FIELD_AT.to_owned(), AttributeValue::N(self.at.to_string())),
        ]);
        if let Some(key) = &self.idempotency_key {
            map.insert(FIELD_IDEMPOTENCY_KEY.to_owned(), text(key));
        }
        if let Some(digest) = &self.value_digest {
            map.insert(FIELD_VALUE_DIGEST.to_owned(), text(digest));
        }
        AttributeValue::M(map)
    }
}

/// The recent changes of one secret, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Ledger(Vec<Entry>);

impl Ledger {
    /// The union of the ledgers of a secret's items (each its `changes` attribute), without
    /// entries older than the horizon, newest first, at most [`ENTRIES_KEPT`].
    pub(super) fn merge<'a>(
        ledgers: impl IntoIterator<Item = &'a AttributeValue>,
        now: i64,
    ) -> Self {
        let mut entries: Vec<Entry> = Vec::new();
        for ledger in ledgers {
            let Ok(list) = ledger.as_l() else { continue };
            for entry in list.iter().filter_map(Entry::from_attribute) {
                if entry.at > now - REPLAY_HORIZON_SECS && !entries.contains(&entry) {
                    entries.push(entry);
                }
            }
        }
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.at));
        entries.truncate(ENTRIES_KEPT);
        Self(entries)
    }

    /// The entry of `change` sent again, if it is here; `same_value` decides for an
    /// update's digest (an update is the same only with the same value).
    pub(super) fn find(
        &self,
        op: Op,
        change: &Change<'_>,
        same_value: impl Fn(&str) -> bool,
    ) -> Option<&Entry> {
        self.0.iter().find(|entry| {
            entry.is(op, change)
                && match op {
                    Op::Update => entry.value_digest.as_deref().is_some_and(&same_value),
                    _ => true,
                }
        })
    }

    /// This ledger with `entry` as its newest.
    pub(super) fn with(&self, entry: Entry) -> Self {
        let mut entries = Vec::with_capacity(self.0.len() + 1);
        entries.push(entry);
        entries.extend(self.0.iter().cloned());
        entries.truncate(ENTRIES_KEPT);
        Self(entries)
    }

    pub(super) fn to_attribute(&self) -> AttributeValue {
        AttributeValue::L(self.0.iter().map(Entry::to_attribute).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, IdempotencyKey};
    use crate::storage::RequestId;

    #[test]
    fn a_change_is_the_same_request_by_id_or_key_operation_and_actor_for_one_day() {
        let alice = Actor::parse("alice").unwrap();
        let bob = Actor::parse("bob").unwrap();
        let r1 = RequestId::new("r1").unwrap();
        let r2 = RequestId::new("r2").unwrap();
        let k1 = IdempotencyKey::parse("k1").unwrap();
        let k2 = IdempotencyKey::parse("k2").unwrap();
        let change = |actor, request_id, idempotency_key| Change {
            actor,
            request_id,
            idempotency_key,
        };
        let noon = 1_795_780_800;
        let first = change(&alice, &r1, Some(&k1));
        let stored = Ledger::default()
            .with(Entry::new(Op::Delete, &first, noon, None))
            .to_attribute();
        let cases = [
            (
                "same request id",
                Op::Delete,
                change(&alice, &r1, None),
                noon + 60,
                true,
            ),
            (
                "same key, new request id",
                Op::Delete,
                change(&alice, &r2, Some(&k1)),
                noon + 60,
                true,
            ),
            (
                "another key",
                Op::Delete,
                change(&alice, &r2, Some(&k2)),
                noon + 60,
                false,
            ),
            (
                "no key, new request id",
                Op::Delete,
                change(&alice, &r2, None),
                noon + 60,
                false,
            ),
            (
                "another actor",
                Op::Delete,
                change(&bob, &r1, Some(&k1)),
                noon + 60,
                false,
            ),
            (
                "another operation",
                Op::RestoreDeleted,
                change(&alice, &r1, None),
                noon + 60,
                false,
            ),
            (
                "a day later",
                Op::Delete,
                change(&alice, &r1, Some(&k1)),
                noon + 86_400,
                false,
            ),
            (
                "just inside the day",
                Op::Delete,
                change(&alice, &r1, None),
                noon + 86_399,
                true,
            ),
        ];
        for (case, op, change, now, expected) in cases {
            let ledger = Ledger::merge([&stored], now);
            assert_eq!(
                ledger.find(op, &change, |_| true).is_some(),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn an_update_is_the_same_only_with_the_same_value_digest() {
        let alice = Actor::parse("alice").unwrap();
        let r1 = RequestId::new("r1").unwrap();
        let update = Change {
            actor: &alice,
            request_id: &r1,
            idempotency_key: None,
        };
        let ledger = Ledger::default().with(Entry::new(Op::Update, &update, 100, Some("d1")));
        assert!(ledger.find(Op::Update, &update, |d| d == "d1").is_some());
        assert!(ledger.find(Op::Update, &update, |d| d == "d2").is_none());
        // An update entry without a digest never matches.
        let bare = Ledger::default().with(Entry::new(Op::Update, &update, 100, None));
        assert!(bare.find(Op::Update, &update, |_| true).is_none());
    }

    #[test]
    fn ledgers_merge_without_duplicates_newest_first_and_bounded() {
        let alice = Actor::parse("alice").unwrap();
        let ids: Vec<RequestId> = (0..40)
            .map(|i| RequestId::new(&format!("r{i}")).unwrap())
            .collect();
        let mut a = Ledger::default();
        for (i, id) in ids.iter().enumerate().take(20) {
            let change = Change {
                actor: &alice,
                request_id: id,
                idempotency_key: None,
            };
            a = a.with(Entry::new(Op::Delete, &change, 1_000 + i as i64, None));
        }
        assert_eq!(a.0.len(), ENTRIES_KEPT);
        let a = a.to_attribute();
        let merged = Ledger::merge([&a, &a], 1_100);
        assert_eq!(merged.0.len(), ENTRIES_KEPT);
        assert_eq!(merged.0[0].request_id, "r19");
        // Malformed entries and attributes are skipped, not fatal.
        let junk = AttributeValue::L(vec![AttributeValue::S("x".to_owned())]);
        let not_a_list = AttributeValue::S("x".to_owned());
        assert_eq!(Ledger::merge([&junk, &not_a_list], 0), Ledger::default());
    }
}
