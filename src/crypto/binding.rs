//! Binding a token to where it belongs. A Fernet token says nothing about which organization
//! or name it was written for, so a token copied from one item to another decrypts fine.
//! Each item therefore also stores a MAC over (organization, name, token), under a key
//! derived from the Fernet key with HKDF, so the Fernet key is never used for a second
//! purpose. The token itself stays standard Fernet: the binding is an addition.
//!
//! The construction is written down once, in docs/storage-contract.md ("The binding"),
//! whose Python recipe repeats it. Lengths in front of the organization and the name keep (`ab`, `c`) and (`a`, `bc`) apart;
//! the token is last and ASCII.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use secrecy::zeroize::Zeroize;
use sha2::Sha256;

use super::EncryptedValue;

const BINDING_INFO: &[u8] = b"org-secrets/token-binding/v1";
const SEAL_INFO: &[u8] = b"org-secrets/change-record-seal/v1";
const BINDING_PREFIX: &str = "v1:";

type HmacSha256 = Hmac<Sha256>;

/// The binding stored next to a token (`binding` attribute). Not secret: a MAC reveals
/// nothing about the value and is useless without the key.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenBinding(String);

impl TokenBinding {
    pub fn from_stored(binding: String) -> Self {
        Self(binding)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for TokenBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenBinding(..)")
    }
}

/// Why an item's token is not accepted as its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("the item has no binding (written before bindings existed: run `secrets-admin bind`)")]
    Missing,
    #[error(
        "the binding does not match this organization, name and token (copied from another item, or tampered with)"
    )]
    Mismatch,
}

/// 32 bytes derived from a Fernet key with HKDF-SHA256 for one purpose (`info`).
fn derive(fernet_key: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32: cannot fail.
    if Hkdf::<Sha256>::new(None, fernet_key)
        .expand(info, &mut out)
        .is_err()
    {
        unreachable!("HKDF output of 32 bytes is always valid");
    }
    out
}

/// The Fernet key (standard encoding) that seals change records, derived from one Fernet
/// key for that purpose alone: a token under the value key, whose plaintext an ADMIN
/// chooses, can never pass for a seal. Wiped when dropped.
pub(super) fn seal_key(fernet_key: &[u8]) -> secrecy::zeroize::Zeroizing<String> {
    let mut derived = derive(fernet_key, SEAL_INFO);
    let encoded = secrecy::zeroize::Zeroizing::new(URL_SAFE.encode(derived));
    derived.zeroize();
    encoded
}

/// HMAC-SHA256 under `key` of u32be(len(org)) || org || u32be(len(name)) || name || rest.
fn mac_of(key: &[u8; 32], org_id: &str, secret_name: &str, rest: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: cannot fail.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        unreachable!("HMAC accepts any key length");
    };
    for part in [org_id, secret_name] {
        let bytes = part.as_bytes();
        // Names and org ids are far below 4 GiB; saturate rather than wrap anyway.
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        mac.update(&length.to_be_bytes());
        mac.update(bytes);
    }
    mac.update(rest);
    mac
}

/// The MAC key derived from one Fernet key. Wiped when dropped.
pub(super) struct BindingKey([u8; 32]);

impl BindingKey {
    /// `fernet_key`: the 32 decoded bytes of one entry of `ENCRYPTION_KEY`.
    pub(super) fn derive(fernet_key: &[u8]) -> Self {
        Self(derive(fernet_key, BINDING_INFO))
    }

    fn mac(&self, org_id: &str, secret_name: &str, token: &EncryptedValue) -> HmacSha256 {
        mac_of(&self.0, org_id, secret_name, token.as_str().as_bytes())
    }

    pub(super) fn bind(
        &self,
        org_id: &str,
        secret_name: &str,
        token: &EncryptedValue,
    ) -> TokenBinding {
        let tag = self.mac(org_id, secret_name, token).finalize().into_bytes();
        TokenBinding(format!("{BINDING_PREFIX}{}", URL_SAFE.encode(tag)))
    }

    /// Constant-time comparison of the stored tag with ours.
    pub(super) fn verifies(
        &self,
        org_id: &str,
        secret_name: &str,
        token: &EncryptedValue,
        binding: &TokenBinding,
    ) -> bool {
        let Some(encoded) = binding.as_str().strip_prefix(BINDING_PREFIX) else {
            return false;
        };
        let Ok(tag) = URL_SAFE.decode(encoded) else {
            return false;
        };
        self.mac(org_id, secret_name, token)
            .verify_slice(&tag)
            .is_ok()
    }
}

impl Drop for BindingKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> BindingKey {
        BindingKey::derive(&[byte; 32])
    }

    #[test]
    fn a_binding_verifies_only_for_its_organization_name_token_and_key() {
        let token = EncryptedValue::from_stored("gAAAAAB-token".to_owned());
        let other_token = EncryptedValue::from_stored("gAAAAAB-other".to_owned());
        let binding = key(1).bind("org_a", "name", &token);
        assert!(binding.as_str().starts_with("v1:"));
        assert!(key(1).verifies("org_a", "name", &token, &binding));
        let cases = [
            ("another organization", key(1), "org_b", "name", &token),
            ("another name", key(1), "org_a", "other", &token),
            ("another token", key(1), "org_a", "name", &other_token),
            ("another key", key(2), "org_a", "name", &token),
            // The length prefixes: the same bytes split differently are another place.
            ("shifted boundary", key(1), "org_an", "ame", &token),
        ];
        for (case, key, org, name, token) in cases {
            assert!(!key.verifies(org, name, token, &binding), "{case}");
        }
        for malformed in ["", "v1:", "v2:AAAA", "v1:not base64!", "AAAA"] {
            let stored = TokenBinding::from_stored(malformed.to_owned());
            assert!(
                !key(1).verifies("org_a", "name", &token, &stored),
                "{malformed}"
            );
        }
    }

    #[test]
    fn bindings_are_deterministic_and_never_debug_printed() {
        let token = EncryptedValue::from_stored("t".to_owned());
        let binding = key(7).bind("o", "n", &token);
        assert_eq!(binding, key(7).bind("o", "n", &token));
        assert_eq!(format!("{binding:?}"), "TokenBinding(..)");
    }
}
