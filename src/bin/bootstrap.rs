//! The Lambda function: `bootstrap` for the `provided.al2023` runtime.

// The request's future nests the SDK's query paginator (list) inside the runtime's service
// future; computing its layout takes more than the default 128 query levels. A compile-time
// limit only: nothing changes at run time.
#![recursion_limit = "256"]

use std::sync::Arc;
use std::time::Instant;

use lambda_http::{service_fn, Error, LambdaEvent};
use org_secrets::api::App;
use org_secrets::config::Config;
use org_secrets::logging;
use org_secrets::publisher::{Publisher, PublisherConfig};
use org_secrets::storage::SecretStore;
use serde_json::value::RawValue;

/// One execution environment serves one request at a time, so a single-threaded runtime
/// does all the work without starting (and paying for) worker threads at init.
fn main() -> Result<(), Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

/// The function's role: `ORG_SECRETS_FUNCTION` unset, blank or `api` is the API;
/// `publisher` the change-event publisher on the table's stream.
enum Role {
    Api,
    Publisher,
}

fn role() -> Result<Role, Error> {
    match std::env::var("ORG_SECRETS_FUNCTION") {
        Err(std::env::VarError::NotPresent) => Ok(Role::Api),
        Ok(role) if role.trim().is_empty() || role == "api" => Ok(Role::Api),
        Ok(role) if role == "publisher" => Ok(Role::Publisher),
        _ => Err(Error::from("ORG_SECRETS_FUNCTION must be api or publisher")),
    }
}

async fn serve() -> Result<(), Error> {
    logging::init_from_env();

    // Decided before the API's configuration is read: the publisher needs no ENCRYPTION_KEY.
    let role = role().inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration; the function cannot start");
    })?;
    if let Role::Publisher = role {
        return publish().await;
    }

    // A bad configuration stops the function at init, naming the variable (never its value).
    let config = Config::from_env().map_err(|err| {
        tracing::error!(error = %err, "invalid configuration; the function cannot start");
        Error::from(err.to_string())
    })?;

    let store = SecretStore::connect(config.table_name.clone()).await;

    let started = Instant::now();
    match store.warm_up().await {
        Ok(()) => tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "DynamoDB connection ready"
        ),
        // Not fatal: the first request will retry, and answer 503/500 if it still fails.
        Err(err) => tracing::warn!(error = %err, "DynamoDB warm-up call failed"),
    }

    let app = Arc::new(App::new(config, store));
    // The event arrives as raw JSON text, not lambda_http's typed request: no event can fail
    // to deserialize (or panic) before our code answers it (see org_secrets::event). A
    // direct invocation that fails ends in an invocation error named by its error code.
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let app = Arc::clone(&app);
        async move {
            app.handle_event(event.payload.get(), Some(event.context))
                .await
        }
    }))
    .await
}

/// The change-event publisher: each invocation is a batch of the table's stream records.
async fn publish() -> Result<(), Error> {
    let config = PublisherConfig::from_env().map_err(|err| {
        tracing::error!(error = %err, "invalid configuration; the function cannot start");
        Error::from(err)
    })?;
    let publisher = Arc::new(Publisher::connect(config).await);
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let publisher = Arc::clone(&publisher);
        async move { Ok::<_, Error>(publisher.handle(&event.payload).await) }
    }))
    .await
}
