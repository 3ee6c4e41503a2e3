//! Local-only stand-ins for the AWS pieces around the function, never part of the deployed
//! artifact (HTTP is `hyper`'s, already in the Lambda's tree through the AWS SDK's client):
//!
//! - [`runtime_api`]: the Lambda Runtime API, so the real `bootstrap` runs as in Lambda;
//! - [`gateway`]: API Gateway (HTTP API, payload 2.0) with a dev JWT-claims authorizer.

pub mod gateway;
pub mod http;
pub mod runtime_api;
