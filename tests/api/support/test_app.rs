//! [`TestApp`]: the function's handler with one method per API operation, so a test reads
//! as the requests it makes (`app.create(..)`, `app.list(..)`) rather than as the events
//! that carry them.

use std::collections::HashMap;
use std::ops::Deref;

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::api::App;
use serde_json::Value;

use super::{call, call_raw, create_event, op_event, with_header, Answer};

/// The handler on its own table. Derefs to [`App`] for its store and configuration.
pub struct TestApp {
    app: App,
}

impl TestApp {
    pub fn new(app: App) -> Self {
        Self { app }
    }

    /// Any event, as the Lambda would be invoked with it.
    pub async fn call(&self, event: &Value) -> Answer {
        call(&self.app, event).await
    }

    /// Raw event text, which need not be an API Gateway event at all.
    pub async fn call_raw(&self, raw_event: &str) -> Answer {
        call_raw(&self.app, raw_event).await
    }

    /// `POST /v1/organizations/secrets` with `body`, as a caller of `org` with `permissions`
    /// (an HTTP API JWT event with a request id of its own).
    pub async fn create(&self, org: &str, permissions: &str, body: &str) -> Answer {
        self.call(&create_event(org, permissions, body)).await
    }

    /// As [`TestApp::create`], with an `Idempotency-Key`.
    pub async fn create_keyed(
        &self,
        org: &str,
        permissions: &str,
        body: &str,
        idempotency_key: &str,
    ) -> Answer {
        let event = with_header(
            create_event(org, permissions, body),
            "idempotency-key",
            idempotency_key,
        );
        self.call(&event).await
    }

    /// Creates `name` = `value` in `org` as an ADMIN, and checks that it was created.
    pub async fn seed(&self, org: &str, name: &str, value: &str) {
        let answer = self
            .create(org, "ADMIN", &super::create_body(name, value))
            .await;
        assert_eq!(answer.status, 201, "seeding {org}/{name}: {}", answer.text);
    }

    /// `GET /v1/organizations/secrets`.
    pub async fn list(&self, org: &str, permissions: &str) -> Answer {
        let event = op_event("GET", "", org, permissions, None);
        self.call(&event).await
    }

    /// `PUT /v1/organizations/secrets/{name}` with `body`; `name` is the path segment as
    /// sent (percent-encoded or not).
    pub async fn update(&self, org: &str, permissions: &str, name: &str, body: &str) -> Answer {
        let event = op_event("PUT", &format!("/{name}"), org, permissions, Some(body));
        self.call(&event).await
    }

    /// `DELETE /v1/organizations/secrets/{name}`; `name` is the path segment as sent.
    pub async fn delete(&self, org: &str, permissions: &str, name: &str) -> Answer {
        let event = op_event("DELETE", &format!("/{name}"), org, permissions, None);
        self.call(&event).await
    }

    /// `POST /v1/organizations/secrets/{name}/restore`, with `?version=` when given.
    pub async fn restore(
        &self,
        org: &str,
        permissions: &str,
        name: &str,
        version: Option<&str>,
    ) -> Answer {
        self.call(&super::restore_event(org, permissions, name, version))
            .await
    }

    /// The stored item of `org`/`name`, read directly from the table.
    pub async fn stored_item(
        &self,
        org: &str,
        name: &str,
    ) -> Option<HashMap<String, AttributeValue>> {
        super::stored_item(self.app.store(), org, name).await
    }

    /// The decrypted value stored for `org`/`name` (the item must exist).
    pub async fn stored_value(&self, org: &str, name: &str) -> String {
        super::stored_value(&self.app, org, name).await
    }

    /// How many secrets the table holds, in every organization.
    pub async fn item_count(&self) -> usize {
        super::item_count(self.app.store()).await
    }
}

impl Deref for TestApp {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}
