//! DynamoDB faults (injected per request by `support::FaultyDynamoDb`): throttling and
//! unavailability are 503 with `Retry-After`, other errors a generic 500 with the request
//! id, retries are bounded, one deadline bounds every request, and nothing half-written
//! is left behind.

use std::sync::Arc;

use org_secrets::storage::StoreSettings;
use serde_json::json;

use crate::support::recovery::*;
use crate::support::*;

const CANARY: &str = "CANARY-storage_faults-7e1a";

/// One deadline bounds a request (`api::REQUEST_DEADLINE`), whatever the DynamoDB client's
/// own limits are: here its timeouts are a minute, and every operation against a DynamoDB
/// that never answers ends at the deadline as 503 `storage_unavailable` (with
/// `Retry-After`), not as a Lambda timeout. Time is virtual (tokio's paused clock), so this
/// checks which limit fired, not speed.
#[tokio::test(start_paused = true)]
async fn one_deadline_bounds_every_operation_against_a_dynamodb_that_never_answers() {
    let minute = std::time::Duration::from_secs(60);
    let patient = org_secrets::storage::StoreSettings {
        connect_timeout: minute,
        attempt_timeout: minute,
        operation_timeout: minute,
        max_attempts: 3,
    };
    let faulty = FaultyDynamoDb::always(Fault::Hang);
    let store = faulty.store_with(&patient, false).await;
    let app = app_on(store, &[]);
    let events = [
        admin("org_acme").create_event(&create_body("n", "v")),
        admin("org_acme").list_event(),
        admin("org_acme").update_event("n", &update_body("v2")),
        admin("org_acme").delete_event("n"),
        admin("org_acme").restore_event("n", None),
    ];
    for event in &events {
        let started = tokio::time::Instant::now();
        let answer = app.call(event).await;
        let waited = started.elapsed();
        let route = &event["routeKey"];
        assert_eq!(answer.status, 503, "{route}: {}", answer.text);
        assert_eq!(answer.json["error"]["code"], "storage_unavailable");
        assert!(answer.headers.contains_key("retry-after"));
        assert!(
            waited >= org_secrets::api::REQUEST_DEADLINE && waited < minute,
            "{route}: virtual wait {waited:?}"
        );
    }
    // Every request met a DynamoDB that never answered (on a paused clock a timeout fires
    // before a real answer too, so the statuses alone would not show it).
    assert!(faulty.request_count() >= events.len() as u64);
    assert_eq!(faulty.hung_count(), faulty.request_count());
}

/// The warm-up call has its own short timeout: against a DynamoDB that accepts connections
/// and never answers it gives up after ~1 s, not after the 5 s a request may take. Time is
/// virtual here (tokio's paused clock), so this measures which timeout fired, not speed.
#[tokio::test(start_paused = true)]
async fn the_warm_up_gives_up_on_its_own_short_timeout() {
    let faulty = FaultyDynamoDb::always(Fault::Hang);
    let store = faulty
        .store_with(&org_secrets::storage::StoreSettings::default(), false)
        .await;
    let started = tokio::time::Instant::now();
    let err = store.warm_up().await.unwrap_err();
    assert!(faulty.request_count() >= 1);
    assert_eq!(
        faulty.hung_count(),
        faulty.request_count(),
        "only hung requests"
    );
    let waited = started.elapsed();
    // The operation timed out: the endpoint never answers, so no attempt can end first.
    assert_eq!(
        err,
        org_secrets::storage::StoreError::Unavailable("timeout".to_owned())
    );
    assert!(
        waited >= org_secrets::storage::WARM_UP_TIMEOUT
            && waited < org_secrets::storage::StoreSettings::default().attempt_timeout,
        "virtual wait {waited:?}"
    );
}

/// DynamoDB answers `TransactionInProgressException` when a retried `TransactWriteItems`
/// (the SDK retries with the same ClientRequestToken after an attempt timeout) meets the
/// first attempt still running; AWS's guidance is to retry. The SDK does not retry it and
/// `classify` makes it a 500 `internal_error`, which the provisioning contract says not to
/// retry: a create whose transaction then failed (or never ran) is dropped.
#[tokio::test]
async fn a_transaction_in_progress_is_answered_503_retry() {
    // The SDK's default timeouts: an attempt timing out on a loaded machine would be a 503
    // for the wrong reason.
    let store = FaultyDynamoDb::always(Fault::Error("TransactionInProgressException"))
        .store_with(&StoreSettings::default(), true)
        .await;
    let app = app_on(store, &[]);
    let answer = app.admin(ORG).create("in_progress", "v").await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    let mut event = sample_event("provisioning-create.json");
    event["body"] = json!(create_body("in_progress", "v"));
    let error = match deliver(&app, &event).await {
        Ok(answer) => panic!("created? {}", answer.text),
        Err(error) => error,
    };
    assert_eq!(error.error_type, "storage_unavailable", "{error:?}");
}

#[tokio::test]
async fn one_internal_error_then_success_is_201_and_stored_once() {
    let dynamodb = FaultyDynamoDb::new(|n| {
        if n == 0 {
            Fault::Error("InternalServerError")
        } else {
            Fault::Pass
        }
    });
    let store = dynamodb.store().await;
    let app = app_on(store, &[]);
    let answer = app.admin("org_acme").create("retried", "v").await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    // The version read failed once and was retried by the SDK, then the transaction: three
    // requests, or more when an attempt on a loaded machine outlived its own 2 s timeout.
    assert!(
        dynamodb.request_count() >= 3,
        "{}",
        dynamodb.request_count()
    );
    assert_eq!(app.item_count().await, 1);
}

/// DynamoDB goes away mid-run: requests get 503, nothing half-written appears, and once
/// it is back the same requests succeed.
#[tokio::test]
async fn dynamodb_stopping_mid_run_is_503_and_leaves_no_partial_state() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let down = Arc::new(AtomicBool::new(false));
    let switch = Arc::clone(&down);
    let dynamodb = FaultyDynamoDb::new(move |_| {
        if switch.load(Ordering::SeqCst) {
            Fault::Drop
        } else {
            Fault::Pass
        }
    });
    let app = app_on(dynamodb.store().await, &[]);
    assert_eq!(
        app.admin("org_acme").create("before", "v").await.status,
        201
    );

    down.store(true, Ordering::SeqCst);
    let update = update_body("during");
    for event in [
        admin("org_acme").create_event(&create_body("during", "v")),
        admin("org_acme").update_event("before", &update),
        admin("org_acme").delete_event("before"),
        reader("org_acme").list_event(),
    ] {
        let answer = app.call(&event).await;
        assert_eq!(answer.status, 503, "{}", answer.text);
        assert_eq!(answer.headers["retry-after"], "1");
    }

    down.store(false, Ordering::SeqCst);
    let list = app.reader("org_acme").list().await;
    assert_eq!(
        list.json["secrets"],
        json!(["before"]),
        "nothing from the outage was written"
    );
    assert_eq!(app.stored_value("org_acme", "before").await, "v");
    assert_eq!(
        app.admin("org_acme").create("during", "v").await.status,
        201
    );
}

/// A busy or stuck DynamoDB: 503 `ServiceUnavailableError` with `Retry-After: 1`, after a
/// bounded number of attempts, quoting nothing. Retries stop at 3 attempts or at the 1.5 s
/// operation timeout of these settings, whichever comes first (throttling backs off longer
/// than other errors; a stuck attempt ends at its own 0.4 s timeout).
#[tokio::test]
async fn unavailable_storage_is_503_with_retry_after_after_bounded_attempts() {
    let rows: [(&str, Fault, std::ops::RangeInclusive<u64>); 2] = [
        (
            "throttled on every attempt",
            Fault::Error("ProvisionedThroughputExceededException"),
            2..=3,
        ),
        ("never answers", Fault::Hang, 1..=3),
    ];
    for (label, fault, attempts) in rows {
        let dynamodb = FaultyDynamoDb::always(fault);
        let app = app_on(dynamodb.store().await, &[]);
        let answer = app.admin("org_acme").create("t", CANARY).await;
        assert_eq!(answer.status, 503, "{label}: {}", answer.text);
        assert_eq!(answer.headers["retry-after"], "1", "{label}");
        assert_eq!(
            answer.json["error"]["type"], "ServiceUnavailableError",
            "{label}"
        );
        assert_common_headers(&answer);
        assert_no_echo(&answer, CANARY);
        let sent = dynamodb.request_count();
        assert!(attempts.contains(&sent), "{label}: {sent} attempts");
    }
}

/// Every other DynamoDB error is a generic 500 `InternalServerError` that names the request
/// id and nothing else: no DynamoDB error name (internals stay in the log), no value, no
/// `Retry-After`. An error that cannot succeed on a retry is sent once.
#[tokio::test]
async fn other_storage_errors_are_a_generic_500_with_the_request_id() {
    // (label, plan, whether the table exists, what the answer must not name, attempts)
    let rows: [(&str, Fault, bool, &str, Option<u64>); 4] = [
        (
            "a validation error",
            Fault::Error("ValidationException"),
            false,
            "ValidationException",
            Some(1),
        ),
        (
            "access denied",
            Fault::Error("AccessDeniedException"),
            true,
            "AccessDenied",
            Some(1),
        ),
        (
            "a missing table (DynamoDB Local's own answer)",
            Fault::Pass,
            false,
            "ResourceNotFound",
            None,
        ),
        (
            "a transaction cancelled for no busy reason (here: no reasons at all)",
            Fault::Error("TransactionCanceledException"),
            false,
            "TransactionCanceled",
            None,
        ),
    ];
    for (label, fault, table, internal, attempts) in rows {
        let dynamodb = FaultyDynamoDb::always(fault);
        let store = if table {
            dynamodb.store().await
        } else {
            dynamodb.store_without_table().await
        };
        let app = app_on(store, &[]);
        let event = admin("org_acme").create_event(&create_body("t", CANARY));
        let answer = app.call(&event).await;
        assert_eq!(answer.status, 500, "{label}: {}", answer.text);
        assert_eq!(
            answer.json["error"]["type"], "InternalServerError",
            "{label}"
        );
        assert_eq!(
            answer.json["error"]["message"], "Internal server error",
            "{label}"
        );
        assert_eq!(
            answer.json["error"]["details"]["request_id"], event["requestContext"]["requestId"],
            "{label}"
        );
        assert!(!answer.text.contains(internal), "{label}: {}", answer.text);
        assert!(answer.headers.get("retry-after").is_none(), "{label}");
        assert_common_headers(&answer);
        assert_no_echo(&answer, CANARY);
        if let Some(attempts) = attempts {
            assert_eq!(dynamodb.request_count(), attempts, "{label}: not retried");
        }
    }
}
