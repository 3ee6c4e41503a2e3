//! The integration tests, as one test binary (`cargo test --test api`): the SDK and the
//! function are linked once, and DynamoDB Local and the Python venv are prepared once (see
//! `support`). A module per area; narrow a run by module, e.g.
//! `cargo test --test api hardening::`.

mod support;

mod adversarial;
mod binding;
mod build_settings;
mod change_records;
mod create_secret;
mod deploy;
mod describe;
mod events;
mod fernet_vectors;
mod hardening;
mod lambda_binary;
mod lifecycle;
mod list_deleted;
mod openapi;
mod provisioning_example;
mod python_interop;
mod recovery;
mod review2;
mod review_change_records;
mod rotation;
