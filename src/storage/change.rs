//! Change records: how the same write request sent again is recognised, and what it changed.
//!
//! Every write request (create, update, delete, restore of a deleted or a previous value)
//! puts one **change record** in the same `TransactWriteItems` as the change, on the
//! condition that no live record of the same request exists. The record is keyed by the
//! request's identity: its organization, its actor, and its `Idempotency-Key` (for an actor
//! with a subject) or else its request id. So a resend finds its record whatever happened to
//! the secret since, and is answered as the first time without writing; the same identity
//! used for another operation, name or value is refused; and nothing is ever written twice.
//!
//! A record says which secret changed, how, by whom, in which request and when, in plain
//! attributes (an organization's change history and change events read those), and holds
//! the same facts, plus a SHA-256 of a create's or update's value, **sealed**: a Fernet token
//! under a key derived from `ENCRYPTION_KEY` for this purpose alone ([`Cipher::seal`]).
//! Only the seal decides a resend, so a record forged or copied by someone who can write the
//! table but holds no key is never taken for a request's own, a value's digest is readable
//! by nobody without a key, and `rotate-keys` re-seals records like any token, so a retry
//! is recognised across a key rotation.

use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::item::{
    archived_record_key, change_record_key, history_key, primary_key, RawItem, RecordAttributes,
};
use crate::crypto::Cipher;
use crate::domain::{
    canonical_u64, Actor, DescriptionChange, HistoryRetention, IdempotencyKey, OrgId, RequestId,
    SecretName, SecretValue,
};

/// How long a request is recognised when sent again: 24 hours, like AWS Powertools'
/// idempotency default and Stripe's keys. After that its identity may name a new request.
pub const REPLAY_HORIZON_SECS: i64 = 24 * 60 * 60;
/// A seal dated further ahead than this is not ours (the Fernet spec's clock skew).
const MAX_CLOCK_SKEW_SECS: i64 = 60;
/// How a record names an identity that is an `Idempotency-Key`.
const KEY_KIND: &str = "key";
/// The sealed facts start with this, so a seal is never mistaken for another token.
const SEAL_MAGIC: &[u8] = b"org-secrets/change-record/v1";

/// The write a request makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
    RestoreDeleted,
    RestorePrevious,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
            ChangeOp::RestoreDeleted => "restore_deleted",
            ChangeOp::RestorePrevious => "restore_previous",
        }
    }
}

/// Who makes a change, in which request, and the keys that seal its record.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub org_id: &'a OrgId,
    pub actor: &'a Actor,
    pub request_id: &'a RequestId,
    /// The request's `Idempotency-Key`. It identifies the request only for an actor with a
    /// subject (without one, anyone could replay it); otherwise the request id does.
    pub idempotency_key: Option<&'a IdempotencyKey>,
    pub cipher: &'a Cipher,
    /// How long the change stays in the secret's history (its record's TTL).
    pub history: HistoryRetention,
}

/// What identifies a request in its change record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity<'a> {
    /// The `Idempotency-Key` of an actor with a subject.
    Key(&'a str),
    /// The request id.
    Request(&'a str),
}

impl<'a> Change<'a> {
    pub fn identity(&self) -> Identity<'a> {
        match self.idempotency_key {
            Some(key) if self.actor.subject().is_some() => Identity::Key(key.as_str()),
            _ => Identity::Request(self.request_id.as_str()),
        }
    }

    /// Where this request's change record is kept: (`org_id`, `secret_name`), for
    /// operators and tests.
    pub fn record_key(&self) -> (String, String) {
        let item = record_key(self);
        primary_key(&item)
            .map(|(partition, sort)| (partition.to_owned(), sort.to_owned()))
            .unwrap_or_default()
    }
}

impl Identity<'_> {
    fn kind(self) -> &'static str {
        match self {
            Identity::Key(_) => KEY_KIND,
            Identity::Request(_) => "request",
        }
    }

    fn value(&self) -> &str {
        match self {
            Identity::Key(value) | Identity::Request(value) => value,
        }
    }
}

/// SHA-256 of a value as one secret's value (organization and name go in, length-prefixed).
/// It only ever travels sealed ([`Cipher::seal`]): never stored or logged readable.
#[derive(Clone)]
pub struct ValueDigest([u8; 32]);

impl ValueDigest {
    /// The digest of a create or update of `name` to `value`, with what it does to the
    /// description: the same request sent again must say the same of both.
    pub fn of(
        org_id: &OrgId,
        name: &SecretName,
        value: &SecretValue,
        description: &DescriptionChange,
    ) -> Self {
        let mut hasher = Sha256::new();
        if *description != DescriptionChange::Keep {
            // Its own domain: a length prefix never starts with 0xff (lengths are far below
            // 2^24), so no digest of the form below can equal one of this form.
            hasher.update(DESCRIBED_DIGEST_TAG);
            for part in [org_id.as_str(), name.as_str()] {
                hasher.update(length_prefix(part.len()));
                hasher.update(part.as_bytes());
            }
            hasher.update(length_prefix(value.expose_bytes().len()));
            hasher.update(value.expose_bytes());
            match description {
                DescriptionChange::Set(text) => {
                    hasher.update([1]);
                    hasher.update(length_prefix(text.as_str().len()));
                    hasher.update(text.as_str().as_bytes());
                }
                DescriptionChange::Remove | DescriptionChange::Keep => hasher.update([0]),
            }
            return Self(hasher.finalize().into());
        }
        // A request that leaves the description alone: the digest records written before
        // descriptions existed hold, so their resends are still recognised.
        for part in [org_id.as_str(), name.as_str()] {
            hasher.update(length_prefix(part.len()));
            hasher.update(part.as_bytes());
        }
        hasher.update(value.expose_bytes());
        Self(hasher.finalize().into())
    }
}

/// Starts the digest of a request that sets or removes a description.
const DESCRIBED_DIGEST_TAG: &[u8] = b"\xffdescribed/v1";

impl std::fmt::Debug for ValueDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueDigest(..)")
    }
}

fn length_prefix(len: usize) -> [u8; 4] {
    // Everything sealed is far below 4 GiB; saturate rather than wrap anyway.
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

/// What a stored record says about the request at hand.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict {
    /// This very request (same operation, name and value): it was done.
    SameRequest,
    /// Another request with the same identity: another operation, name or value.
    OtherRequest,
    /// A record older than the replay horizon: the identity is free again. Holds the seal,
    /// so that only this very record is replaced, and, for a record in a history, the key
    /// it is archived under (from its sealed facts, never its plain attributes).
    Expired {
        seal: String,
        archive_key: Option<RawItem>,
    },
    /// Not a record this function wrote for this identity (no key opens its seal, or the
    /// seal names another request): the table was written outside the function.
    Forged,
}

/// The facts a record seals.
#[derive(Clone, PartialEq, Eq)]
struct Facts {
    org_id: String,
    identity_kind: String,
    identity: String,
    actor: String,
    op: String,
    secret_name: String,
    at: i64,
    /// Empty for delete and restore.
    value_digest: Vec<u8>,
    /// The request's id, also when a key identifies it (it is not part of the identity, so
    /// a resend compares nothing with it; `verify` holds the plain `request_id` to it).
    request_id: String,
    /// The version of the secret the change produced (not part of what a resend compares:
    /// a resend made later would be given another). `None` in records sealed before
    /// versions were introduced.
    version: Option<u64>,
}

impl Facts {
    fn encode(&self) -> Vec<u8> {
        let at = self.at.to_string();
        let version = self.version.map(|v| v.to_string());
        let fields: [&[u8]; 9] = [
            self.org_id.as_bytes(),
            self.identity_kind.as_bytes(),
            self.identity.as_bytes(),
            self.actor.as_bytes(),
            self.op.as_bytes(),
            self.secret_name.as_bytes(),
            at.as_bytes(),
            &self.value_digest,
            self.request_id.as_bytes(),
        ];
        let mut out = SEAL_MAGIC.to_vec();
        for field in fields
            .into_iter()
            .chain(version.as_deref().map(str::as_bytes))
        {
            out.extend_from_slice(&length_prefix(field.len()));
            out.extend_from_slice(field);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut rest = bytes.strip_prefix(SEAL_MAGIC)?;
        let mut fields = Vec::new();
        while !rest.is_empty() {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
            if tail.len() < len {
                return None;
            }
            let (field, tail) = tail.split_at(len);
            fields.push(field.to_vec());
            rest = tail;
        }
        // The tenth field, the version, came later: a record sealed before has nine.
        if !(9..=10).contains(&fields.len()) {
            return None;
        }
        let mut fields = fields.into_iter();
        let mut next = || fields.next();
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).ok();
        Some(Self {
            org_id: text(next()?)?,
            identity_kind: text(next()?)?,
            identity: text(next()?)?,
            actor: text(next()?)?,
            op: text(next()?)?,
            secret_name: text(next()?)?,
            at: text(next()?)?.parse().ok()?,
            value_digest: next()?,
            request_id: text(next()?)?,
            version: match next() {
                None => None,
                // One spelling: a seal has one encoding of its facts.
                Some(version) => Some(canonical_u64(&text(version)?)?),
            },
        })
    }

    /// The same request: same identity, operation, secret and value.
    fn same_request_as(&self, other: &Facts) -> bool {
        self.same_identity_as(other)
            && self.op == other.op
            && self.secret_name == other.secret_name
            && bool::from(self.value_digest.ct_eq(&other.value_digest))
    }

    fn same_identity_as(&self, other: &Facts) -> bool {
        self.org_id == other.org_id
            && self.identity_kind == other.identity_kind
            && self.identity == other.identity
            && self.actor == other.actor
    }

    /// The plain attributes a record of these facts has, but for the times it was written
    /// at (`changed_at` is formatted to the millisecond, the facts hold seconds) and the
    /// seal.
    fn plain_attributes(&self) -> RecordAttributes {
        RecordAttributes {
            change_op: Some(self.op.clone()),
            changed_secret: Some(self.secret_name.clone()),
            changed_by: Some(shown_actor(&self.actor).to_owned()),
            request_id: Some(self.request_id.clone()),
            idempotency_key: (self.identity_kind == KEY_KIND).then(|| self.identity.clone()),
            replay_until: Some(self.at + REPLAY_HORIZON_SECS),
            version: self.version,
            history_key: self
                .version
                .map(|_| history_key(&self.org_id, &self.secret_name)),
            ..RecordAttributes::default()
        }
    }
}

/// The change record of one request, ready to be sealed at the version its change makes
/// and written with it.
pub(super) struct ChangeRecord {
    facts: Facts,
    changed_at: String,
    expires_at: i64,
}

impl ChangeRecord {
    /// The record of `change` doing `op` to `name` at `now` (`rfc3339` and Unix seconds),
    /// with the digest of the value it writes (create and update).
    pub(super) fn new(
        change: &Change<'_>,
        op: ChangeOp,
        name: &SecretName,
        value: Option<&ValueDigest>,
        now: (&str, i64),
    ) -> Self {
        let (rfc3339, epoch) = now;
        let identity = change.identity();
        let facts = Facts {
            org_id: change.org_id.as_str().to_owned(),
            identity_kind: identity.kind().to_owned(),
            identity: identity.value().to_owned(),
            actor: actor_identity(change.actor),
            op: op.as_str().to_owned(),
            secret_name: name.as_str().to_owned(),
            at: epoch,
            value_digest: value.map(|digest| digest.0.to_vec()).unwrap_or_default(),
            request_id: change.request_id.as_str().to_owned(),
            version: None,
        };
        Self {
            facts,
            changed_at: rfc3339.to_owned(),
            expires_at: change.history.expires_at(epoch),
        }
    }

    /// The record's item, as the change that makes `version` of the secret, sealed.
    pub(super) fn item_at(&self, version: u64, cipher: &Cipher) -> RawItem {
        let facts = Facts {
            version: Some(version),
            ..self.facts.clone()
        };
        let attributes = RecordAttributes {
            changed_at: Some(self.changed_at.clone()),
            expires_at: Some(self.expires_at),
            seal: Some(cipher.seal(&facts.encode())),
            ..facts.plain_attributes()
        };
        attributes.into_item(record_key_of(&facts))
    }

    pub(super) fn key(&self) -> RawItem {
        record_key_of(&self.facts)
    }

    /// The record stored at this request's key, judged by its seal alone (its plain
    /// attributes are for reading, and anyone who can write the table can change them).
    pub(super) fn judge(&self, stored: &RawItem, cipher: &Cipher, now_epoch: i64) -> Verdict {
        let Some(seal) = RecordAttributes::from(stored).seal else {
            return Verdict::Forged;
        };
        let Some(facts) = cipher
            .open_seal(&seal)
            .and_then(|plain| Facts::decode(&plain))
        else {
            return Verdict::Forged;
        };
        if !facts.same_identity_as(&self.facts) || facts.at > now_epoch + MAX_CLOCK_SKEW_SECS {
            return Verdict::Forged;
        }
        if facts.at + REPLAY_HORIZON_SECS <= now_epoch {
            let archive_key = facts.version.and_then(|version| {
                archived_record_key(&record_key_of(&facts), version, &facts.secret_name)
            });
            return Verdict::Expired { seal, archive_key };
        }
        if facts.same_request_as(&self.facts) {
            Verdict::SameRequest
        } else {
            Verdict::OtherRequest
        }
    }
}

/// The key of the record of `change`'s request.
fn record_key(change: &Change<'_>) -> RawItem {
    let identity = change.identity();
    key_of(
        change.org_id.as_str(),
        &actor_identity(change.actor),
        identity.kind(),
        identity.value(),
    )
}

/// The key of the record the request these facts describe has.
fn record_key_of(facts: &Facts) -> RawItem {
    key_of(
        &facts.org_id,
        &facts.actor,
        &facts.identity_kind,
        &facts.identity,
    )
}

/// The actor as a record names it: its subject, or no subject, never to be confused (a
/// subject may be the text `unknown`, which is how a caller without one is shown).
fn actor_identity(actor: &Actor) -> String {
    match actor.subject() {
        Some(subject) => format!("subject:{subject}"),
        None => "no-subject".to_owned(),
    }
}

/// How [`actor_identity`] is shown (`changed_by`, as `created_by` shows an actor).
fn shown_actor(identity: &str) -> &str {
    identity.strip_prefix("subject:").unwrap_or(Actor::UNKNOWN)
}

/// The key of the record of the request `identity` (of `kind`) by `actor` in `org_id`.
fn key_of(org_id: &str, actor: &str, kind: &str, identity: &str) -> RawItem {
    let mut hasher = Sha256::new();
    for part in [actor, kind, identity] {
        hasher.update(length_prefix(part.len()));
        hasher.update(part.as_bytes());
    }
    change_record_key(org_id, &URL_SAFE_NO_PAD.encode(hasher.finalize()))
}

/// What is wrong with a stored change record (`secrets-admin verify`, `rotate-keys`).
/// Names the problem, never a value or a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordProblem {
    #[error("change record: its seal is missing or not a string")]
    NoSeal,
    #[error("change record: no configured key opens its seal")]
    Undecryptable,
    #[error(
        "change record: its seal names another request than its key (copied from another \
         record's slot, or not written by the function)"
    )]
    Misplaced,
    #[error(
        "change record: its plain attributes say another change than its seal (edited outside \
         the function)"
    )]
    Relabelled,
}

/// Checks a stored record (its key and attributes): its seal opens under a configured key,
/// names the request its key is derived from, and says what its plain attributes say.
pub(super) fn check_record(
    stored_key: &RawItem,
    stored: &RecordAttributes,
    cipher: &Cipher,
) -> Result<(), RecordProblem> {
    let seal = stored.seal.as_deref().ok_or(RecordProblem::NoSeal)?;
    let plain = cipher.open_seal(seal).ok_or(RecordProblem::Undecryptable)?;
    let facts = Facts::decode(&plain).ok_or(RecordProblem::Misplaced)?;
    let own_key = record_key_of(&facts);
    let archive_key = facts
        .version
        .and_then(|version| archived_record_key(&own_key, version, &facts.secret_name));
    let stored_at = primary_key(stored_key);
    if stored_at != primary_key(&own_key) && stored_at != archive_key.as_ref().and_then(primary_key)
    {
        return Err(RecordProblem::Misplaced);
    }
    let changed_at = stored.changed_at.as_deref().and_then(|at| {
        DateTime::from_str(at, DateTimeFormat::DateTime)
            .ok()
            .map(|at| at.secs())
    });
    let expected = facts.plain_attributes();
    let times_agree = changed_at == Some(facts.at)
        && stored
            .expires_at
            .zip(expected.replay_until)
            .is_some_and(|(expires, replay_until)| expires >= replay_until);
    let plain = RecordAttributes {
        changed_at: None,
        expires_at: None,
        seal: None,
        ..stored.clone()
    };
    if !times_agree || plain != expected {
        return Err(RecordProblem::Relabelled);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::super::item::Attr;
    use super::*;

    /// [`check_record`] on a whole item, as a table scan reads it.
    fn check(item: &RawItem, keys: &Cipher) -> Result<(), RecordProblem> {
        check_record(item, &RecordAttributes::from(item), keys)
    }

    fn cipher(key_byte: u8) -> Cipher {
        let key = URL_SAFE_NO_PAD.encode([key_byte; 32]);
        Cipher::from_key_list(&format!("{key}=")).expect("key")
    }

    struct Request {
        org: OrgId,
        actor: Actor,
        request_id: RequestId,
        key: Option<IdempotencyKey>,
    }

    impl Request {
        fn new(actor: &str, request_id: &str, key: Option<&str>) -> Self {
            Self {
                org: OrgId::parse("org_a").unwrap(),
                actor: Actor::parse(actor).unwrap(),
                request_id: RequestId::parse(request_id).unwrap(),
                key: key.map(|k| IdempotencyKey::parse(k).unwrap()),
            }
        }

        fn change<'a>(&'a self, cipher: &'a Cipher) -> Change<'a> {
            Change {
                org_id: &self.org,
                actor: &self.actor,
                request_id: &self.request_id,
                idempotency_key: self.key.as_ref(),
                cipher,
                history: HistoryRetention::default(),
            }
        }
    }

    fn rfc3339(at: i64) -> String {
        DateTime::from_secs(at)
            .fmt(DateTimeFormat::DateTime)
            .unwrap()
    }

    fn digest(value: &str) -> ValueDigest {
        ValueDigest::of(
            &OrgId::parse("org_a").unwrap(),
            &SecretName::parse("n").unwrap(),
            &SecretValue::parse(value.to_owned(), 64).unwrap(),
            &DescriptionChange::Keep,
        )
    }

    fn record(
        request: &Request,
        cipher: &Cipher,
        op: ChangeOp,
        name: &str,
        value: Option<&str>,
        at: i64,
    ) -> Sealed {
        let digest = value.map(digest);
        let record = ChangeRecord::new(
            &request.change(cipher),
            op,
            &SecretName::parse(name).unwrap(),
            digest.as_ref(),
            (&rfc3339(at), at),
        );
        let item = record.item_at(SEALED_VERSION, cipher);
        Sealed { record, item }
    }

    /// The version the records of these tests are sealed at.
    const SEALED_VERSION: u64 = 7;

    /// A record, and its item as sealed at [`SEALED_VERSION`].
    struct Sealed {
        record: ChangeRecord,
        item: RawItem,
    }

    impl Sealed {
        fn item(&self) -> &RawItem {
            &self.item
        }

        fn judge(&self, stored: &RawItem, cipher: &Cipher, now_epoch: i64) -> Verdict {
            self.record.judge(stored, cipher, now_epoch)
        }
    }

    #[test]
    fn a_record_recognises_its_own_request_and_refuses_every_other_use_of_its_identity() {
        let now = 1_796_000_000;
        let keys = cipher(1);
        let first = Request::new("alice", "r1", None);
        let stored = record(&first, &keys, ChangeOp::Update, "n", Some("v1"), now);
        let cases = [
            (
                "the same update",
                ChangeOp::Update,
                "n",
                Some("v1"),
                now + 5,
                Verdict::SameRequest,
            ),
            (
                "another value",
                ChangeOp::Update,
                "n",
                Some("v2"),
                now + 5,
                Verdict::OtherRequest,
            ),
            (
                "another name",
                ChangeOp::Update,
                "m",
                Some("v1"),
                now + 5,
                Verdict::OtherRequest,
            ),
            (
                "another operation",
                ChangeOp::Delete,
                "n",
                None,
                now + 5,
                Verdict::OtherRequest,
            ),
            (
                "just inside the horizon",
                ChangeOp::Update,
                "n",
                Some("v1"),
                now + 86_399,
                Verdict::SameRequest,
            ),
        ];
        for (case, op, name, value, at, expected) in cases {
            let ours = record(&first, &keys, op, name, value, at);
            assert_eq!(ours.judge(stored.item(), &keys, at), expected, "{case}");
        }
        let later = record(
            &first,
            &keys,
            ChangeOp::Update,
            "n",
            Some("v1"),
            now + 86_400,
        );
        assert!(matches!(
            later.judge(stored.item(), &keys, now + 86_400),
            Verdict::Expired { .. }
        ));
    }

    #[test]
    fn records_are_keyed_by_organization_actor_and_key_else_request_id() {
        let keys = cipher(1);
        let key_of = |actor: &str, request_id: &str, key: Option<&str>| {
            let request = Request::new(actor, request_id, key);
            record(&request, &keys, ChangeOp::Delete, "n", None, 1)
                .record
                .key()
        };
        assert_eq!(key_of("alice", "r1", None), key_of("alice", "r1", None));
        assert_ne!(key_of("alice", "r1", None), key_of("bob", "r1", None));
        assert_ne!(key_of("alice", "r1", None), key_of("alice", "r2", None));
        // A key names the request for an actor with a subject, whatever its request id.
        assert_eq!(
            key_of("alice", "r1", Some("k")),
            key_of("alice", "r2", Some("k"))
        );
        assert_ne!(
            key_of("alice", "r1", Some("k")),
            key_of("alice", "r1", None)
        );
        // A key and a request id with the same text are different identities.
        assert_ne!(key_of("alice", "r1", Some("x")), key_of("alice", "x", None));
    }

    #[test]
    fn forged_copied_tampered_and_future_records_are_never_taken_for_a_request() {
        let now = 1_796_000_000;
        let keys = cipher(1);
        let alice = Request::new("alice", "r1", None);
        let ours = record(&alice, &keys, ChangeOp::Delete, "n", None, now);
        let with_seal = |seal: AttributeValue| {
            let mut item = ours.item().clone();
            item.insert(Attr::Seal.name().to_owned(), seal);
            item
        };
        let sealed_by = |request: &Request, cipher: &Cipher, at: i64| {
            record(request, cipher, ChangeOp::Delete, "n", None, at).item()[Attr::Seal.name()]
                .clone()
        };
        let bob = Request::new("bob", "r1", None);
        let mut no_seal = ours.item().clone();
        no_seal.remove(Attr::Seal.name());
        let cases = [
            ("no seal", no_seal),
            (
                "a seal of no key of ours",
                with_seal(sealed_by(&alice, &cipher(2), now)),
            ),
            (
                "another request's seal",
                with_seal(sealed_by(&bob, &keys, now)),
            ),
            (
                "a seal dated tomorrow",
                with_seal(sealed_by(&alice, &keys, now + 86_400)),
            ),
            ("not a string", with_seal(AttributeValue::N("1".to_owned()))),
            (
                "not a token",
                with_seal(AttributeValue::S("gAAAA".to_owned())),
            ),
        ];
        for (case, stored) in cases {
            assert_eq!(ours.judge(&stored, &keys, now), Verdict::Forged, "{case}");
        }
        // Plain attributes say nothing: the seal decides.
        let mut relabelled = ours.item().clone();
        relabelled.insert(
            Attr::ChangeOp.name().to_owned(),
            AttributeValue::S("update".to_owned()),
        );
        assert_eq!(ours.judge(&relabelled, &keys, now), Verdict::SameRequest);
    }

    #[test]
    fn a_seal_opens_under_any_configured_key_so_rotation_keeps_retries_recognised() {
        let now = 1_796_000_000;
        let old = cipher(1);
        let request = Request::new("alice", "r1", None);
        let stored = record(&request, &old, ChangeOp::Update, "n", Some("v"), now);
        let old_key = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let new_key = URL_SAFE_NO_PAD.encode([2u8; 32]);
        let rotating = Cipher::from_key_list(&format!("{new_key}=,{old_key}=")).unwrap();
        let retry = record(
            &request,
            &rotating,
            ChangeOp::Update,
            "n",
            Some("v"),
            now + 60,
        );
        assert_eq!(
            retry.judge(stored.item(), &rotating, now + 60),
            Verdict::SameRequest
        );
    }

    #[test]
    fn sealed_facts_round_trip_and_refuse_trailing_or_short_input() {
        let facts_at = |version| Facts {
            org_id: "o".to_owned(),
            identity_kind: "request".to_owned(),
            identity: "r".to_owned(),
            actor: "subject:a".to_owned(),
            op: "update".to_owned(),
            secret_name: "n".to_owned(),
            at: 42,
            value_digest: vec![7; 32],
            request_id: "r".to_owned(),
            version,
        };
        // Records sealed before versions have nine fields; since, ten.
        for version in [None, Some(0), Some(12), Some(u64::MAX)] {
            let facts = facts_at(version);
            let bytes = facts.encode();
            assert!(Facts::decode(&bytes) == Some(facts.clone()), "{version:?}");
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Facts::decode(&longer).is_none());
            assert!(Facts::decode(&bytes[..bytes.len() - 1]).is_none());
            let mut one_more = bytes.clone();
            one_more.extend_from_slice(&length_prefix(1));
            one_more.push(b'1');
            // Nine fields and one more is a versioned seal; ten and one more is nothing.
            assert_eq!(
                Facts::decode(&one_more).map(|f| f.version),
                version.is_none().then_some(Some(1)),
                "{version:?}"
            );
        }
        assert!(Facts::decode(b"other").is_none());
        // A version has one spelling.
        let nine = facts_at(None).encode();
        for spelling in [
            "",
            "012",
            "+1",
            " 1",
            "1 ",
            "-1",
            "18446744073709551616",
            "1e3",
        ] {
            let mut bytes = nine.clone();
            bytes.extend_from_slice(&length_prefix(spelling.len()));
            bytes.extend_from_slice(spelling.as_bytes());
            assert!(Facts::decode(&bytes).is_none(), "{spelling:?}");
        }
    }

    #[test]
    fn stored_records_are_checked_by_their_seal_key_and_plain_attributes() {
        let keys = cipher(1);
        let request = Request::new("alice", "r1", Some("k1"));
        let record = record(
            &request,
            &keys,
            ChangeOp::Update,
            "n",
            Some("v"),
            1_796_000_000,
        );
        assert_eq!(check(record.item(), &keys), Ok(()));
        let other = record_of_bob(&keys);
        let edit = |attr: Attr, value: AttributeValue| {
            let mut item = record.item().clone();
            item.insert(attr.name().to_owned(), value);
            item
        };
        let text = |value: &str| AttributeValue::S(value.to_owned());
        let mut no_seal = record.item().clone();
        no_seal.remove(Attr::Seal.name());
        let cases = [
            ("no seal", no_seal, RecordProblem::NoSeal),
            (
                "a numeric seal",
                edit(Attr::Seal, AttributeValue::N("1".to_owned())),
                RecordProblem::NoSeal,
            ),
            (
                "another key's seal",
                edit(Attr::Seal, other_seal(&cipher(2))),
                RecordProblem::Undecryptable,
            ),
            (
                "another request's seal",
                edit(Attr::Seal, other.item()[Attr::Seal.name()].clone()),
                RecordProblem::Misplaced,
            ),
            (
                "relabelled secret",
                edit(Attr::ChangedSecret, text("m")),
                RecordProblem::Relabelled,
            ),
            (
                "relabelled operation",
                edit(Attr::ChangeOp, text("delete")),
                RecordProblem::Relabelled,
            ),
            (
                "relabelled actor",
                edit(Attr::ChangedBy, text("bob")),
                RecordProblem::Relabelled,
            ),
            (
                "relabelled key",
                edit(Attr::IdempotencyKey, text("k2")),
                RecordProblem::Relabelled,
            ),
        ];
        for (case, item, expected) in cases {
            assert_eq!(check(&item, &keys), Err(expected), "{case}");
        }
    }

    fn record_of_bob(keys: &Cipher) -> Sealed {
        let bob = Request::new("bob", "r1", Some("k1"));
        record(&bob, keys, ChangeOp::Update, "n", Some("v"), 1_796_000_000)
    }

    fn other_seal(keys: &Cipher) -> AttributeValue {
        let alice = Request::new("alice", "r1", Some("k1"));
        record(
            &alice,
            keys,
            ChangeOp::Update,
            "n",
            Some("v"),
            1_796_000_000,
        )
        .item()[Attr::Seal.name()]
        .clone()
    }

    #[test]
    fn value_digests_never_debug_print() {
        assert_eq!(format!("{:?}", digest("canary")), "ValueDigest(..)");
    }
}
