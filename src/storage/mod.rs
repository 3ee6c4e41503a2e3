//! DynamoDB storage. The item layout is a contract: Python consumers read this table.
//!
//! | attribute         | type | meaning                                                   |
//! |-------------------|------|-----------------------------------------------------------|
//! | `org_id`          | S    | partition key: the organization                           |
//! | `secret_name`     | S    | sort key: unique within the organization                  |
//! | `encrypted_value` | S    | standard Fernet token of the value's UTF-8 bytes          |
//! | `created_at`      | S    | RFC 3339 UTC                                              |
//! | `created_by`      | S    | subject claim (or REST `principalId`)                     |
//! | `request_id`      | S    | API Gateway request id (else the Lambda request id)       |
//! | `idempotency_key` | S    | optional: the create's `Idempotency-Key` (until updated)  |
//! | `updated_at`      | S    | optional: RFC 3339 UTC of the last update                 |
//! | `updated_by`      | S    | optional: who updated it last                             |
//! | `binding`         | S    | HMAC binding the token to org and name (crypto::binding)  |
//! | `restored_at`     | S    | optional: RFC 3339 UTC of the last restore                |
//! | `restored_by`     | S    | optional: who restored it last                            |
//! | `changes`         | L    | the change ledger (module `ledger`): recent requests      |
//!
//! **Recovery copies** (module `lifecycle`): the last deleted and the last replaced value of
//! each secret, in the partition `"\u{2}recovery:" + org_id` under the sort keys
//! `"deleted:" + name` and `"previous:" + name`: the live item's attributes plus `removed_*`
//! and `expires_at` (N, the table's TTL attribute). Update, delete and restore write the
//! live item and its copy in one transaction.
//!
//! Each organization with secrets also has one counter item, `secret_name` =
//! [`COUNTER_SORT_KEY`] (a control character keeps it out of every valid name and sorts it
//! before them all), holding `secret_count` (N). Create and delete change it in the same
//! transaction as the secret, so `MAX_SECRETS_PER_ORG` is exact under any concurrency.
//!
//! Modules: `item` (the only place that knows the attribute names: items to and from the
//! types here), `store` ([`SecretStore`]: what the function and [`crate::reader`] call),
//! `lifecycle` (update, delete and restore, each with its recovery copy), `ledger` (how
//! the same request sent again is recognised),
//! `admin` (operator-only calls: table setup and the key-rotation scan), `client` (the
//! DynamoDB client's configuration) and `error` ([`StoreError`]).

mod admin;
mod client;
mod error;
mod item;
mod ledger;
mod lifecycle;
mod store;

pub use admin::{
    create_table_if_missing, AttributeDefect, BindingsMarker, Malformation, MalformedItem,
    ScanCursor, ScanPage, ScannedItem, StoredToken,
};
pub use client::StoreSettings;
pub use error::StoreError;
pub use item::{
    ItemKey, ItemPlace, RecoverySlot, BINDINGS_MARKER_PARTITION, BINDINGS_MARKER_SORT_KEY,
    COUNTER_SORT_KEY, EXPIRY_ATTRIBUTE,
};
pub use lifecycle::{
    BoundToken, Change, DeleteOutcome, RecoveryWindow, RestoreOutcome, UpdateOutcome,
};
pub use store::{
    CreateOutcome, Found, NewSecret, RequestId, SecretStore, StoredSecret, WARM_UP_TIMEOUT,
};
