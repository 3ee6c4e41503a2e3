//! [`TestApp`]: the function's handler, called by a caller. A test reads as who asks for
//! what: `app.admin("org_acme").create("name", "value")`, `app.reader(org).list()`,
//! `app.caller(org, "WRITE,DELETE").delete("name")`. [`Identity`] builds the same requests as
//! events for tests that change a field first (`admin(org).create_event(&body)`), and
//! `app.call(&event)` sends any event, well-formed or not.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Deref;

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::api::App;
use serde_json::Value;

use super::{
    call, call_raw, create_body, create_event, op_event, restore_event, update_body, with_header,
    Answer,
};

/// How often [`TestApp::call_as_client`] sends a request answered 503 again.
pub const RESENDS_ON_503: usize = 20;

/// Who a request claims to be: an organization and a permissions claim (as the JWT
/// authorizer passes it), and optionally an `Idempotency-Key` on every request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub org: String,
    pub permissions: String,
    key: Option<String>,
}

/// An ADMIN of `org`.
pub fn admin(org: &str) -> Identity {
    caller(org, "ADMIN")
}

/// A READ caller of `org`.
pub fn reader(org: &str) -> Identity {
    caller(org, "READ")
}

/// A caller of `org` with this permissions claim, as presented (e.g. `"WRITE,DELETE"`).
pub fn caller(org: &str, permissions: &str) -> Identity {
    Identity {
        org: org.to_owned(),
        permissions: permissions.to_owned(),
        key: None,
    }
}

impl Identity {
    /// The same caller, sending `Idempotency-Key: key` with each request.
    pub fn keyed(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    fn keyed_event(&self, event: Value) -> Value {
        match &self.key {
            Some(key) => with_header(event, "idempotency-key", key),
            None => event,
        }
    }

    /// `POST /v1/organizations/secrets` with `body` as sent (an HTTP API JWT event with a
    /// request id of its own).
    pub fn create_event(&self, body: &str) -> Value {
        self.keyed_event(create_event(&self.org, &self.permissions, body))
    }

    /// `method` on `/v1/organizations/secrets` + `suffix` (e.g. `"/stripe_api_key"`), with
    /// an optional body.
    pub fn event(&self, method: &str, suffix: &str, body: Option<&str>) -> Value {
        self.keyed_event(op_event(method, suffix, &self.org, &self.permissions, body))
    }

    /// `PUT /v1/organizations/secrets/{name}` with `body` as sent.
    pub fn update_event(&self, name: &str, body: &str) -> Value {
        self.event("PUT", &format!("/{name}"), Some(body))
    }

    /// `DELETE /v1/organizations/secrets/{name}`.
    pub fn delete_event(&self, name: &str) -> Value {
        self.event("DELETE", &format!("/{name}"), None)
    }

    /// `GET /v1/organizations/secrets`.
    pub fn list_event(&self) -> Value {
        self.event("GET", "", None)
    }

    /// `GET /v1/organizations/secrets/{name}`: describe.
    pub fn describe_event(&self, name: &str) -> Value {
        self.event("GET", &format!("/{name}"), None)
    }

    /// `GET /v1/organizations/secrets?state=deleted`.
    pub fn list_deleted_event(&self) -> Value {
        let mut event = self.list_event();
        event["rawQueryString"] = Value::String("state=deleted".to_owned());
        event
    }

    /// `GET /v1/organizations/secrets/{name}/history`, with the raw query string given
    /// (`""` for none).
    pub fn history_event(&self, name: &str, query: &str) -> Value {
        let mut event = self.event("GET", &format!("/{name}/history"), None);
        event["rawQueryString"] = Value::String(query.to_owned());
        // As API Gateway fills both fields (the tests' queries need no decoding).
        let parameters: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_owned(), Value::String(value.to_owned())))
            .collect();
        if !parameters.is_empty() {
            event["queryStringParameters"] = Value::Object(parameters);
        }
        event
    }

    /// `POST /v1/organizations/secrets/{name}/restore`, with `?version=` when given.
    pub fn restore_event(&self, name: &str, version: Option<&str>) -> Value {
        self.keyed_event(restore_event(&self.org, &self.permissions, name, version))
    }

    /// One request of each operation this caller can send, on the secret `name`: what a
    /// property that holds "for every operation" is checked against. (label, event)
    pub fn every_operation(&self, name: &str) -> Vec<(&'static str, Value)> {
        vec![
            ("create", self.create_event(&create_body(name, "v"))),
            ("list", self.list_event()),
            ("list deleted", self.list_deleted_event()),
            ("describe", self.describe_event(name)),
            ("update", self.update_event(name, &update_body("v2"))),
            ("delete", self.delete_event(name)),
            ("restore", self.restore_event(name, None)),
            ("history", self.history_event(name, "")),
        ]
    }
}

/// The handler on its own table. Derefs to [`App`] for its store and configuration.
pub struct TestApp {
    app: App,
}

/// An [`Identity`] calling one [`TestApp`]: each method sends one request and returns the
/// answer. Derefs to the identity for its event builders.
pub struct Caller<'a> {
    app: &'a TestApp,
    identity: Identity,
}

impl Deref for Caller<'_> {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.identity
    }
}

impl<'a> Caller<'a> {
    /// The same caller, sending `Idempotency-Key: key` with each request.
    pub fn keyed(self, key: &str) -> Self {
        Self {
            app: self.app,
            identity: self.identity.keyed(key),
        }
    }

    /// Sends `event`, built now: the answer's future borrows only the app, so requests of
    /// one caller can race (`tokio::join!`).
    fn send(&self, event: Value) -> impl Future<Output = Answer> + 'a {
        let app = self.app;
        async move { app.call(&event).await }
    }

    /// Creates `name` = `value`.
    pub fn create(&self, name: &str, value: &str) -> impl Future<Output = Answer> + 'a {
        self.create_body(&create_body(name, value))
    }

    /// A create with `body` as sent.
    pub fn create_body(&self, body: &str) -> impl Future<Output = Answer> + 'a {
        self.send(self.create_event(body))
    }

    pub fn list(&self) -> impl Future<Output = Answer> + 'a {
        self.send(self.list_event())
    }

    /// Sets `name` (the path segment as sent: percent-encoded or not) to `value`.
    pub fn update(&self, name: &str, value: &str) -> impl Future<Output = Answer> + 'a {
        self.update_body(name, &update_body(value))
    }

    /// An update of `name` with `body` as sent.
    pub fn update_body(&self, name: &str, body: &str) -> impl Future<Output = Answer> + 'a {
        self.send(self.update_event(name, body))
    }

    /// Deletes `name` (the path segment as sent).
    pub fn delete(&self, name: &str) -> impl Future<Output = Answer> + 'a {
        self.send(self.delete_event(name))
    }

    /// Describes `name` (the path segment as sent).
    pub fn describe(&self, name: &str) -> impl Future<Output = Answer> + 'a {
        self.send(self.describe_event(name))
    }

    /// The deleted secrets that can still be restored.
    pub fn list_deleted(&self) -> impl Future<Output = Answer> + 'a {
        self.send(self.list_deleted_event())
    }

    /// The history of `name`, with the raw query string given (`""` for none).
    pub fn history(&self, name: &str, query: &str) -> impl Future<Output = Answer> + 'a {
        self.send(self.history_event(name, query))
    }

    /// Restores `name`: the deleted value, or the `version` given (`previous`, `deleted`).
    pub fn restore(&self, name: &str, version: Option<&str>) -> impl Future<Output = Answer> + 'a {
        self.send(self.restore_event(name, version))
    }
}

impl TestApp {
    pub fn new(app: App) -> Self {
        Self { app }
    }

    /// Requests by an ADMIN of `org`.
    pub fn admin(&self, org: &str) -> Caller<'_> {
        self.by(admin(org))
    }

    /// Requests by a READ caller of `org`.
    pub fn reader(&self, org: &str) -> Caller<'_> {
        self.by(reader(org))
    }

    /// Requests by a caller of `org` with this permissions claim, as presented.
    pub fn caller(&self, org: &str, permissions: &str) -> Caller<'_> {
        self.by(caller(org, permissions))
    }

    /// Requests by `identity`.
    pub fn by(&self, identity: Identity) -> Caller<'_> {
        Caller {
            app: self,
            identity,
        }
    }

    /// Any event, as the Lambda would be invoked with it.
    pub async fn call(&self, event: &Value) -> Answer {
        call(&self.app, event).await
    }

    /// `event`, sent again while it is answered 503 (with `Retry-After`), as a client does:
    /// many writers racing on one item lose transaction races past the retries inside one
    /// request, on a loaded machine more often. A bounded number of resends.
    pub async fn call_as_client(&self, event: &Value) -> Answer {
        let mut answer = self.call(event).await;
        for _ in 0..RESENDS_ON_503 {
            if answer.status != 503 {
                break;
            }
            assert!(
                answer.headers.contains_key("retry-after"),
                "a 503 without Retry-After: {}",
                answer.text
            );
            answer = self.call(event).await;
        }
        answer
    }

    /// Raw event text, which need not be an API Gateway event at all.
    pub async fn call_raw(&self, raw_event: &str) -> Answer {
        call_raw(&self.app, raw_event).await
    }

    /// Creates `name` = `value` in `org` as an ADMIN, and checks that it was created.
    pub async fn seed(&self, org: &str, name: &str, value: &str) {
        let answer = self.admin(org).create(name, value).await;
        assert_eq!(answer.status, 201, "seeding {org}/{name}: {}", answer.text);
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
