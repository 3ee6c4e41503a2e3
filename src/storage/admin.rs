//! Operator-only calls, never made by the function (its role is not granted them): table
//! setup for local runs and tests, and the key-rotation scan and swap (`secrets-admin`,
//! [`crate::rotation`]).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use super::error::{classify, found_unless_condition_failed};
use super::item::{Attr, RawItem};
use super::{Found, ItemKey, ItemPlace, SecretStore, StoreError, EXPIRY_ATTRIBUTE};
use crate::config::TableName;
use crate::crypto::{EncryptedValue, TokenBinding};

/// A token as a table scan sees it: which secret's item holds it (the live secret or one
/// of its recovery copies), the token and its binding.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub place: ItemPlace,
    pub encrypted_value: EncryptedValue,
    /// `None` for items written before bindings (`secrets-admin bind` adds it).
    pub binding: Option<TokenBinding>,
    /// Where to write back to.
    pub key: ItemKey,
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
    /// One page of a full-table scan (consistent), for key rotation, binding and
    /// verification: every item that holds a token (live secrets and recovery copies).
    pub async fn scan_tokens(
        &self,
        start: Option<ScanCursor>,
        page_size: i32,
    ) -> Result<ScanPage, StoreError> {
        let page = self
            .client()
            .scan()
            .table_name(self.table().as_str())
            .projection_expression("#org, #name, #value, #binding")
            .expression_attribute_names("#org", Attr::OrgId.name())
            .expression_attribute_names("#name", Attr::SecretName.name())
            .expression_attribute_names("#value", Attr::EncryptedValue.name())
            .expression_attribute_names("#binding", Attr::Binding.name())
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

    /// Swaps a token (and, given one, its binding) for its re-encryption only if the token is still
    /// the one we read, so a concurrent update is never overwritten. `Found::No` means it
    /// changed (or vanished).
    pub async fn replace_token(
        &self,
        stored: &StoredToken,
        replacement: EncryptedValue,
        binding: Option<TokenBinding>,
    ) -> Result<Found, StoreError> {
        let request = self
            .client()
            .update_item()
            .table_name(self.table().as_str())
            .set_key(Some(stored.key.0.clone()))
            .condition_expression("#value = :old")
            .expression_attribute_names("#value", Attr::EncryptedValue.name())
            .expression_attribute_values(":new", AttributeValue::S(replacement.into_string()));
        let request = match binding {
            Some(binding) => request
                .update_expression("SET #value = :new, #binding = :binding")
                .expression_attribute_names("#binding", Attr::Binding.name())
                .expression_attribute_values(":binding", AttributeValue::S(binding.into_string())),
            // Unbound stays unbound, and only if nobody (`bind`) bound the old token since
            // we read it: its binding would not fit the new token.
            None => request
                .update_expression("SET #value = :new")
                .condition_expression("#value = :old AND attribute_not_exists(#binding)")
                .expression_attribute_names("#binding", Attr::Binding.name()),
        };
        let result = request
            .expression_attribute_values(
                ":old",
                AttributeValue::S(stored.encrypted_value.as_str().to_owned()),
            )
            .send()
            .await;
        found_unless_condition_failed(result)
    }

    /// Adds a binding to an item that has none, only if it still has none and its token is
    /// still the one we read (`secrets-admin bind`). `Found::No`: it changed meanwhile.
    pub async fn add_binding(
        &self,
        stored: &StoredToken,
        binding: TokenBinding,
    ) -> Result<Found, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table().as_str())
            .set_key(Some(stored.key.0.clone()))
            .update_expression("SET #binding = :binding")
            .condition_expression("#value = :read AND attribute_not_exists(#binding)")
            .expression_attribute_names("#value", Attr::EncryptedValue.name())
            .expression_attribute_names("#binding", Attr::Binding.name())
            .expression_attribute_values(":binding", AttributeValue::S(binding.into_string()))
            .expression_attribute_values(
                ":read",
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
        Ok(_) => {
            // Recovery copies expire through TTL (the template enables it in AWS).
            client
                .update_time_to_live()
                .table_name(table.as_str())
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(EXPIRY_ATTRIBUTE)
                        .enabled(true)
                        .build()
                        .map_err(|e| StoreError::Other(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|err| classify(&err))?;
            Ok(true)
        }
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
