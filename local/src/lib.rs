//! Local-only stand-ins for the AWS pieces around the function, std-only so they add nothing
//! to the Lambda's dependency tree and are never part of the deployed artifact:
//!
//! - [`runtime_api`]: the Lambda Runtime API, so the real `bootstrap` runs as in Lambda;
//! - [`gateway`]: API Gateway (HTTP API, payload 2.0) with a dev JWT-claims authorizer.

pub mod gateway;
pub mod http;
pub mod runtime_api;
