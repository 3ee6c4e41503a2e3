//! DynamoDB storage. The item layout is a contract (Python consumers read this table), and
//! `docs/storage-contract.md` is where it is written down: live secrets, the counter item,
//! recovery copies and change records, and how each operation writes them.
//!
//! Modules: `item` (the only place that knows the attribute names: items to and from the
//! types here), `store` ([`SecretStore`]: what the function and [`crate::reader`] call, and
//! `commit`, which writes a change together with its change record), `change` (the change
//! record: how the same request sent again is recognised), `lifecycle` (update, delete and
//! restore, each with its recovery copy), `history` (a secret's change history, read from
//! the change records), `batch` (many secrets in one `BatchGetItem`, for the readers), `admin` (operator-only calls: table setup and the
//! key-rotation scan), `client` (the DynamoDB client's configuration) and `error`
//! ([`StoreError`]).

mod admin;
mod batch;
mod change;
mod client;
mod error;
#[cfg(feature = "lambda")]
mod history;
mod item;
mod lifecycle;
mod store;

pub use admin::{
    create_table_if_missing, tokens, AttributeDefect, BindingsMarker, Malformation, MalformedItem,
    ScanPages, ScannedItem, StoredRecord, StoredToken,
};
pub use batch::{BatchRead, BATCH_GET_MAX_KEYS};
pub use change::{Change, ChangeOp, Identity, RecordProblem, ValueDigest, REPLAY_HORIZON_SECS};
pub use client::StoreSettings;
pub use error::StoreError;
#[cfg(feature = "lambda")]
pub use history::{HistoryEntry, HistoryPage};
/// The stream's side of the layout (the change-event publisher reads the table's stream).
#[cfg(feature = "lambda")]
pub(crate) use item::{
    Attr, CHANGE_PARTITION_PREFIX, RECORD_SORT_PREFIX, RECOVERY_PARTITION_PREFIX,
};
pub use item::{
    DeletedSecret, ItemKey, ItemPlace, RecoverySlot, SecretMetadata, BINDINGS_MARKER_PARTITION,
    BINDINGS_MARKER_SORT_KEY, COUNTER_SORT_KEY, EXPIRY_ATTRIBUTE, HISTORY_INDEX,
};
pub use lifecycle::{DeleteOutcome, NewValue, RestoreOutcome, RestorePolicy, UpdateOutcome};
pub use store::{CreateOutcome, Found, NewSecret, SecretStore, StoredSecret, WARM_UP_TIMEOUT};
