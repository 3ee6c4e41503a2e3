//! org-secrets: an organization's secret vault served by one AWS Lambda behind API Gateway.
//!
//! Modules by concern: [`config`] (environment, read once at init), [`domain`] (validated
//! newtypes), [`auth`] (authorizer claims -> principal), [`crypto`] (Fernet), [`storage`]
//! (DynamoDB), [`api`] (HTTP routing, handlers and the error envelope), [`logging`],
//! [`reader`] (the internal reader other Rust services use to get a value) and [`rotation`]
//! (re-encrypting every item under the current key).

pub mod api;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod event;
pub mod logging;
pub mod reader;
pub mod rotation;
pub mod storage;
