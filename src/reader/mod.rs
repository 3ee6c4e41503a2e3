//! The readers: how other Rust services (the `api_call` stage, `{{SECRET.name}}` templates)
//! get a secret's value. A library API, deliberately not an HTTP endpoint: no endpoint of
//! this service ever returns a value. `docs/storage-contract.md` ("Reading a value") is the
//! contract, shared with the Python package in `python/`.
//!
//! - [`SecretReader`]: one `GetItem` and the checks, per call.
//! - [`CachingReader`]: what a service uses: a cache with a TTL, a bound and one read per
//!   miss, batch reads, serve-stale-on-error, invalidation by change events, and on top of
//!   it the request's [`Credentials`] from an `auth` block and `{{SECRET.name}}` references.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use org_secrets::domain::{OrgId, SecretName};
//! use org_secrets::reader::CachingReader;
//! use secrecy::ExposeSecret;
//!
//! // ENCRYPTION_KEY, SECRETS_TABLE_NAME and the optional SECRETS_CACHE_* settings.
//! let reader = CachingReader::from_env().await?;
//! let org = OrgId::parse("org_acme")?;
//! let secret = reader.get(&org, &SecretName::parse("stripe_api_key")?).await?;
//! if let Some(age) = secret.stale() {
//!     eprintln!("DynamoDB unreachable: using a value read {age:?} ago");
//! }
//! let header = format!("Bearer {}", secret.value().expose_secret());
//! # let _ = header;
//! let auth = serde_json::json!({"type": "bearer", "secret_ref": "stripe_api_key"});
//! let credentials = reader.credentials(&org, &auth).await?;
//! # let _ = credentials;
//! # Ok(())
//! # }
//! ```

mod cache;
mod credentials;
mod events;
mod lru;
mod references;

pub use cache::{CacheConfig, CacheStats, CachingReader, Clock, Secret, SecretError, SystemClock};
pub use credentials::{
    AuthBlock, AuthProblem, Credentials, CredentialsError, InvalidAuth, Location,
};
pub use events::{ChangeNotice, InvalidEvent};
pub use references::{ResolveError, ResolvedDocument};

use secrecy::SecretString;

use crate::config::{cipher_from, table_name_from, ConfigError};
use crate::crypto::{BindingError, Cipher, DecryptError};
use crate::domain::{OrgId, SecretName};
use crate::storage::{SecretStore, StoreError, StoredSecret};

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

impl ReadError {
    /// The contract's name for this kind of error (`docs/storage-contract.md`).
    pub fn kind(&self) -> &'static str {
        match self {
            ReadError::NotFound => "not_found",
            ReadError::Undecryptable(_) => "undecryptable",
            ReadError::NotBound { .. } => "not_bound",
            ReadError::Malformed => "malformed",
            ReadError::Storage(StoreError::Unavailable(_)) => "unavailable",
            ReadError::Storage(StoreError::Other(_)) => "storage",
        }
    }
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

    pub fn store(&self) -> &SecretStore {
        &self.store
    }

    /// The plaintext, wrapped so that it cannot be logged or `Debug`-printed by accident.
    /// Only the live secret is read (never a deleted or previous value), and only if its
    /// binding verifies.
    pub async fn read(&self, org_id: &OrgId, name: &SecretName) -> Result<SecretString, ReadError> {
        let stored = self.store.get(org_id, name).await?;
        self.open(org_id, name, stored)
    }

    /// What a read found, checked: decrypted first, so that a wrong key list is reported as
    /// such; the value is returned only if the binding verifies too (else it is wiped on
    /// drop). The one check both [`SecretReader::read`] and the batch reads apply.
    pub fn open(
        &self,
        org_id: &OrgId,
        name: &SecretName,
        stored: Option<StoredSecret>,
    ) -> Result<SecretString, ReadError> {
        let stored = stored.ok_or(ReadError::NotFound)?;
        let token = stored.encrypted_value.ok_or(ReadError::Malformed)?;
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
