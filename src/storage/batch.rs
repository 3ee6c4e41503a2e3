//! Many secrets of one organization in one round trip: `BatchGetItem`, for the readers'
//! `get_many` and secret references.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnConsumedCapacity};

use super::error::classify;
use super::item::{key, string_attr, Attr, RawItem};
use super::{SecretStore, StoreError, StoredSecret};
use crate::domain::{OrgId, SecretName};

/// DynamoDB's limit of keys per `BatchGetItem`.
pub const BATCH_GET_MAX_KEYS: usize = 100;

/// How often keys DynamoDB left unprocessed (throttling, the 16 MB response limit) are sent
/// again, with doubling pauses from [`UNPROCESSED_FIRST_PAUSE`], before they count as
/// unavailable: 20 + 40 + ... + 640 ms, 1.3 s in all.
const UNPROCESSED_RESENDS: u32 = 6;
const UNPROCESSED_FIRST_PAUSE: Duration = Duration::from_millis(20);

/// What one batch read found: each name's item (`None`: no such secret), and the names it
/// could not read, with why: still unprocessed after every resend, or a resend that failed.
#[derive(Debug, Default)]
pub struct BatchRead {
    pub found: HashMap<SecretName, Option<StoredSecret>>,
    pub failed: Vec<(SecretName, StoreError)>,
}

impl SecretStore {
    /// The live items of `names` (distinct) in `org_id`, strongly consistent: one
    /// `BatchGetItem` per [`BATCH_GET_MAX_KEYS`] names, unprocessed keys resent with backoff.
    /// A call that fails fails only the names it sent: what other calls read is kept.
    pub async fn get_many(
        &self,
        org_id: &OrgId,
        names: &[SecretName],
    ) -> Result<BatchRead, StoreError> {
        let mut read = BatchRead::default();
        for chunk in names.chunks(BATCH_GET_MAX_KEYS) {
            let by_name: HashMap<&str, &SecretName> =
                chunk.iter().map(|name| (name.as_str(), name)).collect();
            let mut pending: Vec<RawItem> = chunk
                .iter()
                .map(|name| key(org_id.as_str(), name.as_str()))
                .collect();
            let mut pause = UNPROCESSED_FIRST_PAUSE;
            for resend in 0..=UNPROCESSED_RESENDS {
                if resend > 0 {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                // Only what a reader checks: a smaller answer to read and parse.
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .projection_expression("#name, #token, #binding, #version")
                    .expression_attribute_names("#name", Attr::SecretName.name())
                    .expression_attribute_names("#token", Attr::EncryptedValue.name())
                    .expression_attribute_names("#binding", Attr::Binding.name())
                    .expression_attribute_names("#version", Attr::Version.name())
                    .build()
                    .map_err(|err| StoreError::Other(err.to_string()))?;
                let sent = request.keys().to_vec();
                let output = match self
                    .client()
                    .batch_get_item()
                    .request_items(self.table().as_str(), request)
                    .return_consumed_capacity(ReturnConsumedCapacity::None)
                    .send()
                    .await
                {
                    Ok(output) => output,
                    Err(err) => {
                        let error = classify(&err);
                        for item_key in &sent {
                            if let Some(name) = name_of(item_key, &by_name) {
                                read.failed.push((name.clone(), error.clone()));
                            }
                        }
                        pending.clear();
                        break;
                    }
                };
                for item in output
                    .responses
                    .and_then(|mut tables| tables.remove(self.table().as_str()))
                    .unwrap_or_default()
                {
                    if let Some(name) = name_of(&item, &by_name) {
                        read.found
                            .insert(name.clone(), Some(StoredSecret::from(&item)));
                    }
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut tables| tables.remove(self.table().as_str()))
                    .map(|keys| keys.keys)
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
            }
            for item_key in &pending {
                if let Some(name) = name_of(item_key, &by_name) {
                    let unprocessed = StoreError::Unavailable("unprocessed keys".to_owned());
                    read.failed.push((name.clone(), unprocessed));
                }
            }
            let failed: std::collections::HashSet<&SecretName> =
                read.failed.iter().map(|(name, _)| name).collect();
            let absent: Vec<SecretName> = chunk
                .iter()
                .filter(|name| !failed.contains(name) && !read.found.contains_key(*name))
                .cloned()
                .collect();
            for name in absent {
                read.found.insert(name, None);
            }
        }
        Ok(read)
    }
}

/// Which of the asked names an item (or a key) is.
fn name_of<'a>(item: &RawItem, by_name: &HashMap<&str, &'a SecretName>) -> Option<&'a SecretName> {
    string_attr(item, Attr::SecretName.name())
        .and_then(|stored| by_name.get(stored.as_str()).copied())
}
