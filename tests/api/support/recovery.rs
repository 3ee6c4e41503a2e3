//! Recovery copies (the deleted and the previous value), read as stored: helpers of the
//! delete, update, restore and change-record tests.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::crypto::{Cipher, EncryptedValue};
use org_secrets::domain::{OrgId, SecretName};
use org_secrets::reader::{ReadError, SecretReader};
use org_secrets::storage::{RecoverySlot, SecretStore};
use secrecy::ExposeSecret;

use super::{all_items, attr, KEY_A};

pub const ORG: &str = "org_acme";

pub fn org() -> OrgId {
    OrgId::parse(ORG).unwrap()
}

pub fn name(raw: &str) -> SecretName {
    SecretName::parse(raw).unwrap()
}

/// The recovery copy of `raw` in `slot`, as stored.
pub async fn copy(
    store: &SecretStore,
    raw: &str,
    slot: RecoverySlot,
) -> Option<HashMap<String, AttributeValue>> {
    store.recovery_copy(&org(), &name(raw), slot).await.unwrap()
}

pub fn value_of(item: &HashMap<String, AttributeValue>) -> String {
    Cipher::from_key_list(KEY_A)
        .unwrap()
        .decrypt(&EncryptedValue::from_stored(
            attr(item, "encrypted_value").to_owned(),
        ))
        .unwrap()
        .expose_secret()
        .to_owned()
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn expires_at(item: &HashMap<String, AttributeValue>) -> i64 {
    item["expires_at"].as_n().unwrap().parse().unwrap()
}

pub async fn read(store: &SecretStore, raw: &str) -> Result<String, ReadError> {
    SecretReader::new(store.clone(), Cipher::from_key_list(KEY_A).unwrap())
        .read(&org(), &name(raw))
        .await
        .map(|value| value.expose_secret().to_owned())
}

/// Every value any item of the table holds (live secrets and recovery copies): what an
/// operator who turned recovery off must be able to trust is gone.
pub async fn every_value_in_the_table(store: &SecretStore) -> Vec<String> {
    let items = all_items(store).await;
    items
        .iter()
        .filter(|item| item.contains_key("encrypted_value"))
        .map(value_of)
        .collect()
}

/// The decrypted value of `org`/`name`'s recovery copy in `slot`, if there is one.
pub async fn recovery_value(
    app: &super::TestApp,
    org: &str,
    name: &str,
    slot: RecoverySlot,
) -> Option<String> {
    app.store()
        .recovery_copy(
            &OrgId::parse(org).unwrap(),
            &SecretName::parse(name).unwrap(),
            slot,
        )
        .await
        .unwrap()
        .map(|item| {
            app.config()
                .cipher
                .decrypt(&EncryptedValue::from_stored(
                    attr(&item, "encrypted_value").to_owned(),
                ))
                .expect("decrypts")
                .expose_secret()
                .to_owned()
        })
}
