//! The DynamoDB client: the standard AWS configuration chain plus our timeouts and retries.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;

/// Timeouts and retries for the DynamoDB client. The defaults end a stuck call well inside a
/// 10 s Lambda timeout: at most 3 attempts of 2 s each, and 5 s in all, so the handler still
/// has time to answer 503 itself instead of the invocation timing out.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
    pub max_attempts: u32,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(5),
            max_attempts: 3,
        }
    }
}

/// Builds the DynamoDB client from `sdk_config` (so `AWS_ENDPOINT_URL_DYNAMODB` and
/// `AWS_REGION` apply) plus our timeouts and retries.
pub(super) fn dynamodb_client(sdk_config: &SdkConfig, settings: &StoreSettings) -> Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk_config);
    let variable = |name| std::env::var(name).ok();
    if let Some(endpoint) = endpoint_override(
        variable("AWS_ENDPOINT_URL_DYNAMODB").as_deref(),
        variable("AWS_ENDPOINT_URL").as_deref(),
    ) {
        builder.set_endpoint_url(endpoint);
    }
    let config = builder
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(settings.connect_timeout)
                .operation_attempt_timeout(settings.attempt_timeout)
                .operation_timeout(settings.operation_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts))
        .build();
    Client::from_conf(config)
}

/// The endpoint to use instead of the SDK's choice when an endpoint variable is set but
/// blank, as `sam local` sets a variable the template declares and `--env-vars` does not
/// give: the SDK would take "" for the endpoint and panic at the first call. Blank means
/// unset, as for any other variable. `None`: no blank variable, the SDK's choice stands.
fn endpoint_override(dynamodb: Option<&str>, any_service: Option<&str>) -> Option<Option<String>> {
    let blank = |value: Option<&str>| value.is_some_and(|v| v.trim().is_empty());
    let decides = match dynamodb {
        Some(_) => blank(dynamodb),
        None => blank(any_service),
    };
    let usable = |value: Option<&str>| value.filter(|v| !v.trim().is_empty()).map(str::to_owned);
    decides.then(|| usable(dynamodb).or_else(|| usable(any_service)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_endpoint_variables_count_as_unset() {
        let local = Some("http://127.0.0.1:8000");
        let other = Some("http://10.0.0.1:4566");
        let cases = [
            // (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, override)
            (None, None, None),
            (local, None, None),
            (local, Some(""), None),
            (None, other, None),
            (Some(""), None, Some(None)),
            (Some("  "), Some(""), Some(None)),
            (Some(""), other, Some(other.map(str::to_owned))),
            (None, Some(""), Some(None)),
            (None, Some(" \t"), Some(None)),
        ];
        for (dynamodb, any_service, expected) in cases {
            assert_eq!(
                endpoint_override(dynamodb, any_service),
                expected,
                "{dynamodb:?} {any_service:?}"
            );
        }
    }
}
