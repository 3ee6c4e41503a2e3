//! org-secrets: an organization's secret vault served by one AWS Lambda behind API Gateway.
//!
//! Modules by concern: [`config`] (environment, read once at init), [`domain`] (validated
//! newtypes), [`auth`] (authorizer claims -> principal), [`crypto`] (Fernet), [`storage`]
//! (DynamoDB), [`api`] (HTTP routing, handlers and the error envelope), [`logging`],
//! [`reader`] (the internal reader other Rust services use to get a value), [`rotation`]
//! (re-encrypting every item under the current key) and [`integrity`] (verifying and
//! adding the bindings that tie each token to its organization and name), and [`publisher`]
//! (the change events: the table's stream to EventBridge).
//!
//! `api`, `auth`, `event`, `logging` and `publisher` make up the Lambda function and need the default
//! feature `lambda`; a service that only reads secrets depends on this crate with
//! `default-features = false` (see docs/storage-contract.md).

// The Lambda function's parts (feature `lambda`, on by default). Readers and operator tools
// use the rest without compiling lambda_http.
#[cfg(feature = "lambda")]
pub mod api;
#[cfg(feature = "lambda")]
pub mod auth;
#[cfg(feature = "lambda")]
pub mod event;
#[cfg(feature = "lambda")]
pub mod logging;
#[cfg(feature = "lambda")]
pub mod publisher;

pub mod config;
pub mod crypto;
pub mod domain;
pub mod integrity;
pub mod reader;
pub mod rotation;
pub mod storage;
