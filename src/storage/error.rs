//! Why a storage call failed, and how an SDK error is classified.

use std::error::Error as StdError;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use super::Found;

/// Why a storage call failed. Messages carry SDK error codes, never item contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out or unreachable after the SDK's retries: worth retrying later.
    #[error("DynamoDB unavailable ({0})")]
    Unavailable(String),
    #[error("DynamoDB error ({0})")]
    Other(String),
}

impl StoreError {
    #[cfg(feature = "lambda")]
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

const RETRYABLE_CODES: [&str; 7] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    // An SDK retry of a transaction (same client request token) met its first attempt
    // still running: AWS's guidance is to retry.
    "TransactionInProgressException",
];

pub(super) fn classify<E>(err: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match err {
        SdkError::TimeoutError(_) => StoreError::Unavailable("timeout".to_owned()),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            StoreError::Unavailable("connect timeout".to_owned())
        }
        // The request could not be sent, or its response not read (connection refused,
        // reset or closed): DynamoDB is unreachable right now, which a retry may fix.
        SdkError::DispatchFailure(_) => StoreError::Unavailable("connection failed".to_owned()),
        SdkError::ResponseError(_) => StoreError::Unavailable("response lost".to_owned()),
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown").to_owned();
            // A 5xx without a retryable code (a proxy's 502, an unnamed 503) is the service
            // being unreachable all the same.
            if RETRYABLE_CODES.contains(&code.as_str()) || service.raw().status().is_server_error()
            {
                StoreError::Unavailable(code)
            } else {
                StoreError::Other(code)
            }
        }
        other => StoreError::Other(format!(
            "{}",
            aws_sdk_dynamodb::error::DisplayErrorContext(other)
        )),
    }
}

fn is_conditional_check_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(err, SdkError::ServiceError(service)
        if service.err().code() == Some("ConditionalCheckFailedException"))
}

/// A conditional write's outcome: done, or the condition said the item is not as required.
pub(super) fn found_unless_condition_failed<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<Found, StoreError>
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match result {
        Ok(_) => Ok(Found::Yes),
        Err(err) if is_conditional_check_failure(&err) => Ok(Found::No),
        Err(err) => Err(classify(&err)),
    }
}
