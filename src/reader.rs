//! The internal reader: how other Rust services (the `api_call` stage, `{{SECRET.name}}`
//! templates) get a secret's value. A library API, deliberately not an HTTP endpoint: no
//! endpoint of this service ever returns a value.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use org_secrets::domain::{OrgId, SecretName};
//! use org_secrets::reader::SecretReader;
//! use secrecy::ExposeSecret;
//!
//! let reader = SecretReader::from_env().await?; // ENCRYPTION_KEY, SECRETS_TABLE_NAME
//! let token = reader
//!     .read(&OrgId::parse("org_acme")?, &SecretName::parse("stripe_api_key")?)
//!     .await?;
//! let header = format!("Bearer {}", token.expose_secret());
//! # let _ = header;
//! # Ok(())
//! # }
//! ```

use secrecy::SecretString;

use crate::config::{cipher_from, table_name_from, ConfigError};
use crate::crypto::{BindingError, Cipher, DecryptError};
use crate::domain::{OrgId, SecretName};
use crate::storage::{SecretStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("no secret with that name in this organization")]
    NotFound,
    #[error("the stored token cannot be opened with any configured key: {0}")]
    Undecryptable(DecryptError),
    /// The item's token is not bound to this organization and name: copied from another
    /// item, tampered with, or written before bindings and not yet bound. Names the item.
    #[error("the item {org_id}/{secret_name} is refused: {reason}")]
    NotBound {
        org_id: String,
        secret_name: String,
        reason: BindingError,
    },
    #[error("the stored item has no encrypted value")]
    Malformed,
    #[error(transparent)]
    Storage(#[from] StoreError),
}

#[derive(Debug)]
pub struct SecretReader {
    store: SecretStore,
    cipher: Cipher,
}

impl SecretReader {
    pub fn new(store: SecretStore, cipher: Cipher) -> Self {
        Self { store, cipher }
    }

    /// From `ENCRYPTION_KEY` and `SECRETS_TABLE_NAME` and the standard AWS configuration.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let cipher = cipher_from(&env)?;
        let table = table_name_from(&env)?;
        Ok(Self::new(SecretStore::connect(table).await, cipher))
    }

    /// The plaintext, wrapped so that it cannot be logged or `Debug`-printed by accident.
    /// Only the live secret is read (never a deleted or previous value), and only if its
    /// binding verifies.
    pub async fn read(&self, org_id: &OrgId, name: &SecretName) -> Result<SecretString, ReadError> {
        let stored = self
            .store
            .get(org_id, name)
            .await?
            .ok_or(ReadError::NotFound)?;
        let token = stored.encrypted_value.ok_or(ReadError::Malformed)?;
        // Decrypted first, so that a wrong key list is reported as such; the value is
        // returned only if the binding verifies too (else it is wiped on drop).
        let value = self
            .cipher
            .decrypt(&token)
            .map_err(ReadError::Undecryptable)?;
        self.cipher
            .verify_binding(
                org_id.as_str(),
                name.as_str(),
                &token,
                stored.binding.as_ref(),
            )
            .map_err(|reason| ReadError::NotBound {
                org_id: org_id.as_str().to_owned(),
                secret_name: name.as_str().to_owned(),
                reason,
            })?;
        Ok(value)
    }
}
