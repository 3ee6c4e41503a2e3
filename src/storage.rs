//! DynamoDB storage. The item layout is a contract: Python consumers read this table.
//!
//! | attribute         | type | meaning                                                   |
//! |-------------------|------|-----------------------------------------------------------|
//! | `org_id`          | S    | partition key: the organization                           |
//! | `secret_name`     | S    | sort key: unique within the organization                  |
//! | `encrypted_value` | S    | standard Fernet token of the value's UTF-8 bytes          |
//! | `created_at`      | S    | RFC 3339 UTC                                              |
//! | `created_by`      | S    | subject claim (or REST `principalId`)                     |
//! | `request_id`      | S    | API Gateway request id (else the Lambda request id)       |
//! | `idempotency_key` | S    | optional: the create's `Idempotency-Key` (until updated)  |
//! | `updated_at`      | S    | optional: RFC 3339 UTC of the last update                 |
//! | `updated_by`      | S    | optional: who updated it last                             |
//!
//! Each organization with secrets also has one counter item, `secret_name` =
//! [`COUNTER_SORT_KEY`] (a control character keeps it out of every valid name and sorts it
//! before them all), holding `secret_count` (N). Create and delete change it in the same
//! transaction as the secret, so `MAX_SECRETS_PER_ORG` is exact under any concurrency.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, Delete, KeySchemaElement,
    KeyType, Put, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TransactWriteItem,
    Update,
};
use aws_sdk_dynamodb::Client;

use crate::config::TableName;
use crate::crypto::EncryptedValue;
use crate::domain::{Actor, IdempotencyKey, OrgId, SecretName};

pub const ATTR_ORG_ID: &str = "org_id";
pub const ATTR_SECRET_NAME: &str = "secret_name";
pub const ATTR_ENCRYPTED_VALUE: &str = "encrypted_value";
pub const ATTR_CREATED_AT: &str = "created_at";
pub const ATTR_CREATED_BY: &str = "created_by";
pub const ATTR_REQUEST_ID: &str = "request_id";
pub const ATTR_IDEMPOTENCY_KEY: &str = "idempotency_key";
pub const ATTR_UPDATED_AT: &str = "updated_at";
pub const ATTR_UPDATED_BY: &str = "updated_by";
pub const ATTR_SECRET_COUNT: &str = "secret_count";
/// The sort key of an organization's counter item. Valid secret names never contain control
/// characters, so this can never be a secret, and it sorts before every name.
pub const COUNTER_SORT_KEY: &str = "\u{1}org-secrets-count";
/// The smallest sort key a secret can have: names start at U+0020 or above.
const FIRST_NAME_KEY: &str = " ";
/// How often a create or delete is tried again when its transaction lost a race with
/// another one on the same organization's counter (DynamoDB's `TransactionConflict`), and
/// for how long in all, so the handler still answers 503 itself well inside the Lambda's
/// 10 s timeout.
const TRANSACTION_CONFLICT_ATTEMPTS: u32 = 8;
const TRANSACTION_CONFLICT_BUDGET: Duration = Duration::from_secs(2);
/// Cancellation reasons that mean "DynamoDB is busy, retry later" rather than a fault.
const RETRYABLE_REASONS: [&str; 3] = [
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "TransactionConflict",
];
/// The key the warm-up call reads; a control character keeps it out of every valid name.
const WARM_UP_KEY: &str = "\u{1}org-secrets-warm-up";

/// The warm-up call at init gives up after this, in one attempt: a DynamoDB that accepts
/// connections and never answers must not hold init for the 5 s a request may take.
pub const WARM_UP_TIMEOUT: Duration = Duration::from_secs(1);

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

/// Builds the DynamoDB client from the standard AWS configuration chain (so
/// `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_REGION` apply) plus our timeouts and retries.
pub fn dynamodb_client(sdk_config: &SdkConfig, settings: &StoreSettings) -> Client {
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

/// The id of the request that performs a write. Stored on the item so that an SDK retry of
/// our own successful first attempt is recognised as ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn new(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        (!raw.is_empty() && raw.len() <= 256 && !raw.chars().any(char::is_control))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct NewSecret<'a> {
    pub org_id: &'a OrgId,
    pub name: &'a SecretName,
    pub encrypted_value: EncryptedValue,
    pub created_by: &'a Actor,
    pub request_id: &'a RequestId,
    pub idempotency_key: Option<&'a IdempotencyKey>,
    /// The organization's limit (`MAX_SECRETS_PER_ORG`).
    pub max_secrets: u32,
}

/// What a taken name already holds, so the caller can tell a client's retry (same actor,
/// same `Idempotency-Key`, same value) from a conflict. The value stays encrypted here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingSecret {
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_by: Option<String>,
    pub encrypted_value: Option<EncryptedValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// The name is taken: by someone else, or by an earlier attempt of this very create
    /// (the caller tells which from what the item holds).
    NameTaken(ExistingSecret),
    /// The organization already holds `max_secrets` secrets; nothing was written.
    LimitReached,
}

/// Update and delete of a secret that does not exist report this instead of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Yes,
    No,
}

/// A secret's name and token as the rotation scan sees them.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub org_id: String,
    pub secret_name: String,
    pub encrypted_value: EncryptedValue,
}

/// One page of a table scan and where the next one starts (`None`: the scan is complete).
#[derive(Debug, Clone)]
pub struct ScanPage {
    pub tokens: Vec<StoredToken>,
    pub next: Option<HashMap<String, AttributeValue>>,
}

fn is_conditional_check_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(err, SdkError::ServiceError(service)
        if service.err().code() == Some("ConditionalCheckFailedException"))
}

/// A conditional write's outcome: done, or the condition said the item is not as required.
fn found_unless_condition_failed<T, E, R>(
    result: Result<T, SdkError<E, R>>,
) -> Result<Found, StoreError>
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: fmt::Debug,
{
    match result {
        Ok(_) => Ok(Found::Yes),
        Err(err) if is_conditional_check_failure(&err) => Ok(Found::No),
        Err(err) => Err(classify(&err)),
    }
}

fn now_rfc3339() -> Result<String, StoreError> {
    DateTime::from(SystemTime::now())
        .fmt(DateTimeFormat::DateTime)
        .map_err(|err| StoreError::Other(format!("timestamp: {err}")))
}

fn key(org_id: &str, name: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (ATTR_ORG_ID.to_owned(), AttributeValue::S(org_id.to_owned())),
        (
            ATTR_SECRET_NAME.to_owned(),
            AttributeValue::S(name.to_owned()),
        ),
    ])
}

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
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

const RETRYABLE_CODES: [&str; 6] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
];

fn classify<E, R>(err: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: fmt::Debug,
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
            if RETRYABLE_CODES.contains(&code.as_str()) {
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

#[derive(Debug, Clone)]
pub struct SecretStore {
    client: Client,
    table: TableName,
}

impl SecretStore {
    pub fn new(client: Client, table: TableName) -> Self {
        Self { client, table }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// Writes the secret unless the name is taken in this organization (conditional put)
    /// or the organization is at its limit, in one transaction with the counter item.
    pub async fn create(&self, secret: NewSecret<'_>) -> Result<CreateOutcome, StoreError> {
        let created_at = now_rfc3339()?;
        let mut item = key(secret.org_id.as_str(), secret.name.as_str());
        item.insert(
            ATTR_ENCRYPTED_VALUE.to_owned(),
            AttributeValue::S(secret.encrypted_value.into_string()),
        );
        item.insert(ATTR_CREATED_AT.to_owned(), AttributeValue::S(created_at));
        item.insert(
            ATTR_CREATED_BY.to_owned(),
            AttributeValue::S(secret.created_by.as_str().to_owned()),
        );
        item.insert(
            ATTR_REQUEST_ID.to_owned(),
            AttributeValue::S(secret.request_id.as_str().to_owned()),
        );
        if let Some(idempotency_key) = secret.idempotency_key {
            item.insert(
                ATTR_IDEMPOTENCY_KEY.to_owned(),
                AttributeValue::S(idempotency_key.as_str().to_owned()),
            );
        }
        let put = Put::builder()
            .table_name(self.table.as_str())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(org_id)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|err| StoreError::Other(format!("put: {err}")))?;
        let count_up = Update::builder()
            .table_name(self.table.as_str())
            .set_key(Some(key(secret.org_id.as_str(), COUNTER_SORT_KEY)))
            .update_expression("ADD #count :one")
            .condition_expression("attribute_not_exists(#count) OR #count < :max")
            .expression_attribute_names("#count", ATTR_SECRET_COUNT)
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
            .expression_attribute_values(":max", AttributeValue::N(secret.max_secrets.to_string()))
            .build()
            .map_err(|err| StoreError::Other(format!("counter: {err}")))?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(count_up).build(),
        ];
        let Some(cancelled) = self.transact(items).await? else {
            return Ok(CreateOutcome::Created);
        };
        // The name first: a replay of an existing secret is answered as such even when the
        // organization is full.
        if cancelled.condition_failed(0) {
            // Older DynamoDB Local releases return no item with the reason; a consistent
            // read gives the same answer.
            let old_item = match cancelled.0.first().and_then(|r| r.item.clone()) {
                Some(item) if !item.is_empty() => Some(item),
                _ => self.get_item(secret.org_id, secret.name).await?,
            };
            let Some(old_item) = old_item else {
                // Deleted between our write and our read: still a conflict for this attempt.
                return Ok(CreateOutcome::NameTaken(ExistingSecret {
                    request_id: None,
                    idempotency_key: None,
                    created_by: None,
                    encrypted_value: None,
                }));
            };
            return Ok(CreateOutcome::NameTaken(ExistingSecret {
                request_id: string_attr(&old_item, ATTR_REQUEST_ID),
                idempotency_key: string_attr(&old_item, ATTR_IDEMPOTENCY_KEY),
                created_by: string_attr(&old_item, ATTR_CREATED_BY),
                encrypted_value: string_attr(&old_item, ATTR_ENCRYPTED_VALUE)
                    .map(EncryptedValue::from_stored),
            }));
        }
        if cancelled.condition_failed(1) {
            return Ok(CreateOutcome::LimitReached);
        }
        Err(cancelled.into_error())
    }

    /// Runs a write transaction. `Ok(None)`: committed. `Ok(Some(cancelled))`: cancelled by a
    /// condition, with DynamoDB's reason per item. A `TransactionConflict` (another
    /// transaction on the same items in flight) is retried here with a short, growing,
    /// jittered pause; the SDK does not retry it, and after the last attempt it counts as
    /// unavailable (503, worth retrying).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Cancelled>, StoreError> {
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(None),
                Err(err) => err,
            };
            let reasons = match &err {
                SdkError::ServiceError(service) => match service.err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                        Some(cancelled.cancellation_reasons().to_vec())
                    }
                    _ => None,
                },
                _ => None,
            };
            let Some(cancelled) = reasons.map(Cancelled) else {
                return Err(classify(&err));
            };
            if cancelled.has("ConditionalCheckFailed") {
                return Ok(Some(cancelled));
            }
            let pause = conflict_pause(attempt);
            let may_retry = attempt < TRANSACTION_CONFLICT_ATTEMPTS
                && started.elapsed() + pause < TRANSACTION_CONFLICT_BUDGET;
            if cancelled.has("TransactionConflict") && may_retry {
                tokio::time::sleep(pause).await;
                continue;
            }
            return Err(cancelled.into_error());
        }
    }

    /// Every secret name of one organization, sorted; follows all pages of the query.
    pub async fn list_names(&self, org_id: &OrgId) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(self.table.as_str())
                // The counter item sorts below the first possible name, so it is not listed.
                .key_condition_expression("#org = :org AND #name >= :first")
                .expression_attribute_names("#org", ATTR_ORG_ID)
                .expression_attribute_names("#name", ATTR_SECRET_NAME)
                .expression_attribute_values(":org", AttributeValue::S(org_id.as_str().to_owned()))
                .expression_attribute_values(":first", AttributeValue::S(FIRST_NAME_KEY.to_owned()))
                .projection_expression("#name")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| classify(&err))?;
            names.extend(
                page.items()
                    .iter()
                    .filter_map(|item| string_attr(item, ATTR_SECRET_NAME)),
            );
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    /// Replaces the value of an existing secret; `created_*` stay. A create's idempotency
    /// key is dropped: once changed, a late retry of that create is a plain conflict.
    pub async fn update(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        encrypted_value: EncryptedValue,
        updated_by: &Actor,
    ) -> Result<Found, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.table.as_str())
            .set_key(Some(key(org_id.as_str(), name.as_str())))
            .update_expression("SET #value = :value, #at = :at, #by = :by REMOVE #idem")
            .condition_expression("attribute_exists(#org)")
            .expression_attribute_names("#value", ATTR_ENCRYPTED_VALUE)
            .expression_attribute_names("#at", ATTR_UPDATED_AT)
            .expression_attribute_names("#by", ATTR_UPDATED_BY)
            .expression_attribute_names("#idem", ATTR_IDEMPOTENCY_KEY)
            .expression_attribute_names("#org", ATTR_ORG_ID)
            .expression_attribute_values(":value", AttributeValue::S(encrypted_value.into_string()))
            .expression_attribute_values(":at", AttributeValue::S(now_rfc3339()?))
            .expression_attribute_values(":by", AttributeValue::S(updated_by.as_str().to_owned()))
            .send()
            .await;
        found_unless_condition_failed(result)
    }

    /// Deletes the secret and counts it off the organization's counter, in one transaction.
    ///
    /// The counter never goes below zero: a secret written before the counter existed was
    /// never counted, and when the counter is missing or zero it is deleted alone. (In an
    /// organization with both kinds, deleting an uncounted secret still counts one off, so
    /// such an organization can hold at most its uncounted secrets over the limit.)
    pub async fn delete(&self, org_id: &OrgId, name: &SecretName) -> Result<Found, StoreError> {
        let delete = Delete::builder()
            .table_name(self.table.as_str())
            .set_key(Some(key(org_id.as_str(), name.as_str())))
            .condition_expression("attribute_exists(#org)")
            .expression_attribute_names("#org", ATTR_ORG_ID)
            .build()
            .map_err(|err| StoreError::Other(format!("delete: {err}")))?;
        let count_down = Update::builder()
            .table_name(self.table.as_str())
            .set_key(Some(key(org_id.as_str(), COUNTER_SORT_KEY)))
            .update_expression("ADD #count :minus_one")
            .condition_expression("#count > :zero")
            .expression_attribute_names("#count", ATTR_SECRET_COUNT)
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".to_owned()))
            .expression_attribute_values(":zero", AttributeValue::N("0".to_owned()))
            .build()
            .map_err(|err| StoreError::Other(format!("counter: {err}")))?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(count_down).build(),
        ];
        let Some(cancelled) = self.transact(items).await? else {
            return Ok(Found::Yes);
        };
        if cancelled.condition_failed(0) {
            return Ok(Found::No);
        }
        if !cancelled.condition_failed(1) {
            return Err(cancelled.into_error());
        }
        // The counter is missing or zero: the secret was never counted.
        let result = self
            .client
            .delete_item()
            .table_name(self.table.as_str())
            .set_key(Some(key(org_id.as_str(), name.as_str())))
            .condition_expression("attribute_exists(#org)")
            .expression_attribute_names("#org", ATTR_ORG_ID)
            .send()
            .await;
        found_unless_condition_failed(result)
    }

    /// The organization's counter: how many secrets it holds as create and delete count
    /// them (0 when it has never had one).
    pub async fn secret_count(&self, org_id: &OrgId) -> Result<u64, StoreError> {
        let item = self
            .client
            .get_item()
            .table_name(self.table.as_str())
            .set_key(Some(key(org_id.as_str(), COUNTER_SORT_KEY)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| classify(&err))?
            .item;
        let count = item
            .as_ref()
            .and_then(|item| item.get(ATTR_SECRET_COUNT))
            .and_then(|value| value.as_n().ok())
            .map_or(Ok(0), |n| n.parse::<i64>())
            .map_err(|_| StoreError::Other("counter is not a number".to_owned()))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// One page of a full-table scan (consistent), for key rotation.
    pub async fn scan_tokens(
        &self,
        start: Option<HashMap<String, AttributeValue>>,
        page_size: i32,
    ) -> Result<ScanPage, StoreError> {
        let page = self
            .client
            .scan()
            .table_name(self.table.as_str())
            .projection_expression("#org, #name, #value")
            .expression_attribute_names("#org", ATTR_ORG_ID)
            .expression_attribute_names("#name", ATTR_SECRET_NAME)
            .expression_attribute_names("#value", ATTR_ENCRYPTED_VALUE)
            .consistent_read(true)
            .limit(page_size)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|err| classify(&err))?;
        let tokens = page
            .items()
            .iter()
            .filter_map(|item| {
                Some(StoredToken {
                    org_id: string_attr(item, ATTR_ORG_ID)?,
                    secret_name: string_attr(item, ATTR_SECRET_NAME)?,
                    encrypted_value: EncryptedValue::from_stored(string_attr(
                        item,
                        ATTR_ENCRYPTED_VALUE,
                    )?),
                })
            })
            .collect();
        Ok(ScanPage {
            tokens,
            next: page.last_evaluated_key.filter(|k| !k.is_empty()),
        })
    }

    /// Swaps a token for its re-encryption only if it is still the one we read, so a
    /// concurrent update is never overwritten. `Found::No` means it changed (or vanished).
    pub async fn replace_token(
        &self,
        stored: &StoredToken,
        replacement: EncryptedValue,
    ) -> Result<Found, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.table.as_str())
            .set_key(Some(key(&stored.org_id, &stored.secret_name)))
            .update_expression("SET #value = :new")
            .condition_expression("#value = :old")
            .expression_attribute_names("#value", ATTR_ENCRYPTED_VALUE)
            .expression_attribute_values(":new", AttributeValue::S(replacement.into_string()))
            .expression_attribute_values(
                ":old",
                AttributeValue::S(stored.encrypted_value.as_str().to_owned()),
            )
            .send()
            .await;
        found_unless_condition_failed(result)
    }

    /// One cheap call at init, so the connection (and in AWS the TLS handshake) is paid
    /// before the first request instead of inside it. Also tells early if the table is
    /// missing or not permitted; the caller logs that and carries on.
    ///
    /// A `GetItem` of a key no secret has: the function already needs `GetItem`, and it
    /// costs half a read unit. (`DescribeTable` would need another permission and adds
    /// ~150 KB of response model to the binary.)
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        let short = aws_sdk_dynamodb::config::Builder::default()
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(WARM_UP_TIMEOUT)
                    .operation_attempt_timeout(WARM_UP_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(1));
        self.client
            .get_item()
            .table_name(self.table.as_str())
            .set_key(Some(key(WARM_UP_KEY, WARM_UP_KEY)))
            .customize()
            .config_override(short)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| classify(&err))
    }

    /// The raw stored item (strongly consistent), for the reader and for tests.
    pub async fn get_item(
        &self,
        org_id: &OrgId,
        name: &SecretName,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        self.client
            .get_item()
            .table_name(self.table.as_str())
            .key(ATTR_ORG_ID, AttributeValue::S(org_id.as_str().to_owned()))
            .key(
                ATTR_SECRET_NAME,
                AttributeValue::S(name.as_str().to_owned()),
            )
            .consistent_read(true)
            .send()
            .await
            .map(|output| output.item)
            .map_err(|err| classify(&err))
    }
}

/// A cancelled transaction: DynamoDB's reason for each of its items, in order.
struct Cancelled(Vec<CancellationReason>);

impl Cancelled {
    fn has(&self, code: &str) -> bool {
        self.0.iter().any(|reason| reason.code() == Some(code))
    }

    /// Whether the condition on item `index` is what failed.
    fn condition_failed(&self, index: usize) -> bool {
        self.0.get(index).and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
    }

    /// Busy (throttled, conflicting): worth retrying later, 503. Anything else (a validation
    /// error, an item collection over its size limit, no reasons at all) is a fault, 500.
    fn into_error(self) -> StoreError {
        let codes = self
            .0
            .iter()
            .map(|reason| reason.code().unwrap_or("None"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!("transaction cancelled ({codes})");
        if RETRYABLE_REASONS.iter().any(|code| self.has(code)) {
            StoreError::Unavailable(message)
        } else {
            StoreError::Other(message)
        }
    }
}

/// 10, 20, 40, ... ms (capped at 320), each with up to as much again of jitter so racing
/// writers spread out.
fn conflict_pause(attempt: u32) -> Duration {
    let base_ms = 10u64 << attempt.saturating_sub(1).min(5);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    Duration::from_millis(base_ms + nanos % (base_ms + 1))
}

fn string_attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// Creates the table with the contract's key schema if it does not exist (local development
/// and tests; in AWS the SAM template owns the table).
pub async fn create_table_if_missing(
    client: &Client,
    table: &TableName,
) -> Result<bool, StoreError> {
    match client
        .describe_table()
        .table_name(table.as_str())
        .send()
        .await
    {
        Ok(_) => return Ok(false),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(err) => return Err(classify(&err)),
    }
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let result = client
        .create_table()
        .table_name(table.as_str())
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(ATTR_ORG_ID, KeyType::Hash).map_err(|e| StoreError::Other(e.to_string()))?)
        .key_schema(
            key(ATTR_SECRET_NAME, KeyType::Range).map_err(|e| StoreError::Other(e.to_string()))?,
        )
        .attribute_definitions(
            attribute(ATTR_ORG_ID).map_err(|e| StoreError::Other(e.to_string()))?,
        )
        .attribute_definitions(
            attribute(ATTR_SECRET_NAME).map_err(|e| StoreError::Other(e.to_string()))?,
        )
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        // Someone else created it between our describe and create: fine.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(false)
        }
        Err(err) => Err(classify(&err)),
    }
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
