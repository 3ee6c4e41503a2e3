//! Operator-only calls, never made by the function (its role is not granted them): table
//! setup for local runs and tests, and the key-rotation scan and swap (`secrets-admin`,
//! [`crate::rotation`]).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

use super::error::{classify, found_unless_condition_failed};
use super::item::{key, Attr, RawItem};
use super::{Found, SecretStore, StoreError};
use crate::config::TableName;
use crate::crypto::EncryptedValue;

/// A secret's name and token as the rotation scan sees them.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub org_id: String,
    pub secret_name: String,
    pub encrypted_value: EncryptedValue,
}

/// Where a table scan goes on: the last key of the page before (opaque).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanCursor(RawItem);

/// One page of a table scan and where the next one starts (`None`: the scan is complete).
#[derive(Debug, Clone)]
pub struct ScanPage {
    pub tokens: Vec<StoredToken>,
    pub next: Option<ScanCursor>,
}

impl SecretStore {
    /// One page of a full-table scan (consistent), for key rotation.
    pub async fn scan_tokens(
        &self,
        start: Option<ScanCursor>,
        page_size: i32,
    ) -> Result<ScanPage, StoreError> {
        let page = self
            .client()
            .scan()
            .table_name(self.table().as_str())
            .projection_expression("#org, #name, #value")
            .expression_attribute_names("#org", Attr::OrgId.name())
            .expression_attribute_names("#name", Attr::SecretName.name())
            .expression_attribute_names("#value", Attr::EncryptedValue.name())
            .consistent_read(true)
            .limit(page_size)
            .set_exclusive_start_key(start.map(|cursor| cursor.0))
            .send()
            .await
            .map_err(|err| classify(&err))?;
        let tokens = page
            .items()
            .iter()
            .filter_map(|item| StoredToken::try_from(item).ok())
            .collect();
        Ok(ScanPage {
            tokens,
            next: page
                .last_evaluated_key
                .filter(|k| !k.is_empty())
                .map(ScanCursor),
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
            .client()
            .update_item()
            .table_name(self.table().as_str())
            .set_key(Some(key(&stored.org_id, &stored.secret_name)))
            .update_expression("SET #value = :new")
            .condition_expression("#value = :old")
            .expression_attribute_names("#value", Attr::EncryptedValue.name())
            .expression_attribute_values(":new", AttributeValue::S(replacement.into_string()))
            .expression_attribute_values(
                ":old",
                AttributeValue::S(stored.encrypted_value.as_str().to_owned()),
            )
            .send()
            .await;
        found_unless_condition_failed(result)
    }

    /// [`create_table_if_missing`] for this store's table.
    pub async fn create_table_if_missing(&self) -> Result<bool, StoreError> {
        create_table_if_missing(self.client(), self.table()).await
    }
}

/// Creates the table with the contract's key schema if it does not exist (local development
/// and tests; in AWS the SAM template owns the table). `Ok(true)`: created now.
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
    let key = |attr: Attr, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr.name())
            .key_type(key_type)
            .build()
    };
    let attribute = |attr: Attr| {
        AttributeDefinition::builder()
            .attribute_name(attr.name())
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let result = client
        .create_table()
        .table_name(table.as_str())
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(Attr::OrgId, KeyType::Hash).map_err(|e| StoreError::Other(e.to_string()))?)
        .key_schema(
            key(Attr::SecretName, KeyType::Range).map_err(|e| StoreError::Other(e.to_string()))?,
        )
        .attribute_definitions(
            attribute(Attr::OrgId).map_err(|e| StoreError::Other(e.to_string()))?,
        )
        .attribute_definitions(
            attribute(Attr::SecretName).map_err(|e| StoreError::Other(e.to_string()))?,
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
