//! The integration tests, as one test binary (`cargo test --test api`): the SDK and the
//! function are linked once, and DynamoDB Local and the Python venv are prepared once (see
//! `support`). A module per operation, then one per concern that spans them; narrow a run
//! by module, e.g. `cargo test --test api create::`.

mod support;

// The operations, through the handler on DynamoDB Local.
mod create;
mod delete;
mod describe;
mod history;
mod list;
mod list_deleted;
mod restore;
mod update;

// Concerns across every operation.
mod authorization;
mod change_records;
mod malformed_events;
mod routing;
mod storage_faults;

// The operator tools: key rotation, token bindings and `secrets-admin verify`.
mod binding;
mod rotation;

// The compiled `bootstrap`, and what the code promises to documents and other programs.
mod contracts;
mod lambda_binary;

// The change events: the table's stream through the compiled publisher to EventBridge.
mod publisher;

// The readers services use (Rust here, Python in python/): the shared case table.
mod reader_contract;
mod reader_edges;
// Measured, not tested (ignored; make bench-reader runs it): change events to a reader.
mod reader_freshness;
