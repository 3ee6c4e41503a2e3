//! What the code promises to documents and other programs, checked against them: the
//! OpenAPI document, the SAM template, the sample events, the provisioning example, the
//! Fernet spec's vectors, Python `cryptography`, and the build settings of the artifact.

mod build_settings;
pub(crate) mod event_schemas;
mod fernet_vectors;
mod openapi;
mod provisioning_example;
mod python_interop;
mod sample_events;
mod template;
