//! Item conversion: the one place that knows the attribute names of the stored layout (see
//! the table in [`super`]). The rest of the module names attributes through [`Attr`] and
//! converts items with `From`/`TryFrom`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::crypto::EncryptedValue;

use super::{NewSecret, StoredSecret, StoredToken};

const ATTR_ORG_ID: &str = "org_id";
const ATTR_SECRET_NAME: &str = "secret_name";
const ATTR_ENCRYPTED_VALUE: &str = "encrypted_value";
const ATTR_CREATED_AT: &str = "created_at";
const ATTR_CREATED_BY: &str = "created_by";
const ATTR_REQUEST_ID: &str = "request_id";
const ATTR_IDEMPOTENCY_KEY: &str = "idempotency_key";
const ATTR_UPDATED_AT: &str = "updated_at";
const ATTR_UPDATED_BY: &str = "updated_by";
const ATTR_SECRET_COUNT: &str = "secret_count";

/// The sort key of an organization's counter item. Valid secret names never contain control
/// characters, so this can never be a secret, and it sorts before every name.
pub const COUNTER_SORT_KEY: &str = "\u{1}org-secrets-count";

/// A raw DynamoDB item (or key).
pub(super) type RawItem = HashMap<String, AttributeValue>;

/// An attribute of the stored layout, for expressions and key schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attr {
    OrgId,
    SecretName,
    EncryptedValue,
    UpdatedAt,
    UpdatedBy,
    IdempotencyKey,
    SecretCount,
}

impl Attr {
    pub(super) fn name(self) -> &'static str {
        match self {
            Attr::OrgId => ATTR_ORG_ID,
            Attr::SecretName => ATTR_SECRET_NAME,
            Attr::EncryptedValue => ATTR_ENCRYPTED_VALUE,
            Attr::UpdatedAt => ATTR_UPDATED_AT,
            Attr::UpdatedBy => ATTR_UPDATED_BY,
            Attr::IdempotencyKey => ATTR_IDEMPOTENCY_KEY,
            Attr::SecretCount => ATTR_SECRET_COUNT,
        }
    }
}

/// The primary key of the item `org_id`/`name` (a secret, the counter or the warm-up key).
pub(super) fn key(org_id: &str, name: &str) -> RawItem {
    HashMap::from([
        (ATTR_ORG_ID.to_owned(), AttributeValue::S(org_id.to_owned())),
        (
            ATTR_SECRET_NAME.to_owned(),
            AttributeValue::S(name.to_owned()),
        ),
    ])
}

fn string_attr(item: &RawItem, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// The secret name of a listed item.
#[cfg(feature = "lambda")]
pub(super) fn secret_name(item: &RawItem) -> Option<String> {
    string_attr(item, ATTR_SECRET_NAME)
}

/// The counter item's `secret_count`, as stored (`None` when absent or not a number type).
pub(super) fn secret_count(item: &RawItem) -> Option<&str> {
    item.get(ATTR_SECRET_COUNT)
        .and_then(|value| value.as_n().ok())
        .map(String::as_str)
}

/// A new secret's item, complete: key, token, `created_*`, request id and, when given, the
/// idempotency key.
pub(super) struct NewItem<'a> {
    pub(super) secret: NewSecret<'a>,
    pub(super) created_at: String,
}

impl From<NewItem<'_>> for RawItem {
    fn from(new: NewItem<'_>) -> Self {
        let NewItem { secret, created_at } = new;
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
        item
    }
}

impl From<&RawItem> for StoredSecret {
    fn from(item: &RawItem) -> Self {
        Self {
            request_id: string_attr(item, ATTR_REQUEST_ID),
            idempotency_key: string_attr(item, ATTR_IDEMPOTENCY_KEY),
            created_by: string_attr(item, ATTR_CREATED_BY),
            encrypted_value: string_attr(item, ATTR_ENCRYPTED_VALUE)
                .map(EncryptedValue::from_stored),
        }
    }
}

/// An item of the rotation scan that lacks its key or token (or holds them as another
/// type); the scan skips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAToken;

impl TryFrom<&RawItem> for StoredToken {
    type Error = NotAToken;

    fn try_from(item: &RawItem) -> Result<Self, Self::Error> {
        Ok(Self {
            org_id: string_attr(item, ATTR_ORG_ID).ok_or(NotAToken)?,
            secret_name: string_attr(item, ATTR_SECRET_NAME).ok_or(NotAToken)?,
            encrypted_value: EncryptedValue::from_stored(
                string_attr(item, ATTR_ENCRYPTED_VALUE).ok_or(NotAToken)?,
            ),
        })
    }
}
