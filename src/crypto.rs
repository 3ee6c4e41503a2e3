//! Fernet encryption with Python `MultiFernet` semantics: the first key encrypts, any key
//! decrypts. Tokens are standard Fernet, so `cryptography`'s `Fernet` reads them unchanged.

use std::fmt;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use fernet::{Fernet, MultiFernet};
use secrecy::SecretString;

use crate::domain::SecretValue;

mod binding;

use binding::{seal_key, BindingKey};
pub use binding::{BindingError, TokenBinding};

/// A stored Fernet token. Not secret by itself, but only useful with the key.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedValue(String);

impl EncryptedValue {
    pub fn from_stored(token: String) -> Self {
        Self(token)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for EncryptedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedValue({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyListError {
    #[error("no key given")]
    Empty,
    /// Positions are 1-based; the key itself is never part of the message.
    #[error("entry {position} of {count} {problem}")]
    InvalidKey {
        position: usize,
        count: usize,
        problem: KeyProblem,
    },
}

/// Why one entry of the key list is refused. The Python consumers build their keys with
/// `MultiFernet([Fernet(k.strip()) for k in value.split(",")])`, so nothing that recipe
/// refuses may pass here; a few forms it tolerates (it silently skips characters outside the
/// alphabet) are refused too, each with the reason, because they are almost always a
/// copy-paste accident and a key must mean the same bytes to every reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("is empty (a doubled or trailing comma?)")]
    EmptyEntry,
    #[error("contains non-ASCII characters")]
    NotAscii,
    #[error("contains whitespace inside the key")]
    InnerWhitespace,
    #[error(
        "uses the standard base64 alphabet ('+' or '/'); Fernet keys are URL-safe ('-' and '_')"
    )]
    StandardAlphabet,
    #[error("contains characters outside URL-safe base64")]
    InvalidCharacter,
    #[error("is not padded: a Fernet key is 43 characters followed by '='")]
    Unpadded,
    #[error(
        "has misplaced or extra '=' padding: a Fernet key is 43 characters followed by one '='"
    )]
    BadPadding,
    #[error("is not canonical base64 (its last character carries non-zero spare bits)")]
    NonCanonical,
    #[error("decodes to {bytes} bytes; a Fernet key is 32 bytes")]
    WrongLength { bytes: usize },
}

/// The characters Python's `str.strip()` removes: Unicode `White_Space` plus the four
/// information separators U+001C..U+001F, which Python counts as whitespace and Rust does not.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// One entry of the key list, as Python's recipe sees it after `strip()`, checked strictly.
/// Returns the key in its canonical text form.
fn parse_key_entry(entry: &str) -> Result<&str, KeyProblem> {
    const KEY_BYTES: usize = 32;
    // 32 bytes are 43 base64 characters and one '=' of padding.
    const KEY_CHARS: usize = 44;
    if entry.is_empty() {
        return Err(KeyProblem::EmptyEntry);
    }
    if !entry.is_ascii() {
        return Err(KeyProblem::NotAscii);
    }
    if entry.chars().any(is_python_whitespace) {
        return Err(KeyProblem::InnerWhitespace);
    }
    if entry.contains(['+', '/']) {
        return Err(KeyProblem::StandardAlphabet);
    }
    let url_safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if !entry.bytes().all(|b| url_safe(b) || b == b'=') {
        return Err(KeyProblem::InvalidCharacter);
    }
    let data = entry.trim_end_matches('=');
    if data.contains('=') {
        return Err(KeyProblem::BadPadding);
    }
    let padding = entry.len() - data.len();
    if padding == 0 && data.len() % 4 != 0 {
        return Err(KeyProblem::Unpadded);
    }
    let bytes = URL_SAFE.decode(entry).map_err(|err| match err {
        base64::DecodeError::InvalidLastSymbol(..) => KeyProblem::NonCanonical,
        _ => KeyProblem::BadPadding,
    })?;
    if bytes.len() != KEY_BYTES || entry.len() != KEY_CHARS {
        return Err(KeyProblem::WrongLength { bytes: bytes.len() });
    }
    Ok(entry)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("no configured key can open this token (wrong key, tampered or malformed)")]
    NoKeyOpensToken,
    #[error("the decrypted value is not valid UTF-8")]
    NotUtf8,
}

/// The Fernet spec's allowance for a token stamped in the verifier's future.
const MAX_CLOCK_SKEW_SECS: u64 = 60;
const FERNET_VERSION: u8 = 0x80;

/// The token's timestamp, if it is a Fernet token at all (version byte and length checked
/// here; the MAC and padding by the decryption itself). Only the canonical, padded URL-safe
/// base64 every Fernet implementation writes: the fernet crate would also take it unpadded,
/// and Python's decoder skips characters outside the alphabet, so anything else is refused
/// here, and every reader answers the same for the same stored token.
fn token_timestamp(token: &str) -> Option<u64> {
    let bytes = URL_SAFE.decode(token).ok()?;
    // version (1) + timestamp (8) + IV (16) + at least one block (16) + HMAC (32)
    if bytes.len() < 73 || bytes[0] != FERNET_VERSION {
        return None;
    }
    let mut timestamp = [0u8; 8];
    timestamp.copy_from_slice(&bytes[1..9]);
    Some(u64::from_be_bytes(timestamp))
}

pub struct Cipher {
    keys: MultiFernet,
    primary: Fernet,
    key_count: usize,
    /// One per key, in the same order: the first binds, any verifies.
    binding_keys: Vec<BindingKey>,
    /// Derived per key, in the same order, for change records' seals: the first seals, any
    /// opens (see [`Cipher::seal`]).
    seal_keys: MultiFernet,
    seal_primary: Fernet,
}

impl Cipher {
    /// Parses `key[,key...]` exactly as the Python consumers' recipe splits it
    /// (`value.split(",")`, then `strip()` of each entry, so surrounding whitespace and a
    /// trailing newline from a file or a secret store are ignored), then checks each entry
    /// strictly (see [`KeyProblem`]).
    pub fn from_key_list(raw: &str) -> Result<Self, KeyListError> {
        let entries: Vec<&str> = raw
            .split(',')
            .map(|entry| entry.trim_matches(is_python_whitespace))
            .collect();
        if entries.len() == 1 && entries[0].is_empty() {
            return Err(KeyListError::Empty);
        }
        let count = entries.len();
        let mut binding_keys = Vec::with_capacity(count);
        let mut seal_fernets = Vec::with_capacity(count);
        let fernets = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let invalid = |problem| KeyListError::InvalidKey {
                    position: index + 1,
                    count,
                    problem,
                };
                let canonical = parse_key_entry(entry).map_err(invalid)?;
                let mut key_bytes = URL_SAFE
                    .decode(canonical)
                    .map_err(|_| invalid(KeyProblem::WrongLength { bytes: 0 }))?;
                binding_keys.push(BindingKey::derive(&key_bytes));
                // A derived 32-byte key in the standard encoding is always a valid one.
                seal_fernets.push(
                    Fernet::new(&seal_key(&key_bytes))
                        .ok_or(invalid(KeyProblem::WrongLength { bytes: 0 }))?,
                );
                secrecy::zeroize::Zeroize::zeroize(&mut key_bytes);
                // Cannot fail for a canonical 32-byte key; kept as an error, not a panic.
                Fernet::new(canonical).ok_or(invalid(KeyProblem::WrongLength { bytes: 0 }))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let primary = fernets[0].clone();
        let seal_primary = seal_fernets[0].clone();
        Ok(Self {
            keys: MultiFernet::new(fernets),
            primary,
            key_count: count,
            binding_keys,
            seal_keys: MultiFernet::new(seal_fernets),
            seal_primary,
        })
    }

    /// A fresh random key in the standard encoding, as Python's `Fernet.generate_key()`.
    pub fn generate_key() -> SecretString {
        SecretString::from(Fernet::generate_key())
    }

    pub fn key_count(&self) -> usize {
        self.key_count
    }

    pub fn encrypt(&self, value: &SecretValue) -> EncryptedValue {
        EncryptedValue(self.keys.encrypt(value.expose_bytes()))
    }

    /// Decrypts with any configured key. Vault tokens do not expire (no TTL).
    pub fn decrypt(&self, token: &EncryptedValue) -> Result<SecretString, DecryptError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.decrypt_at(token, now, None)
    }

    /// Decrypts as the Fernet spec's verifier does at time `now` (Unix seconds): a token
    /// stamped more than 60 s after `now` is refused (clock skew), and with a `ttl_secs` a
    /// token older than that is refused too.
    pub fn decrypt_at(
        &self,
        token: &EncryptedValue,
        now: u64,
        ttl_secs: Option<u64>,
    ) -> Result<SecretString, DecryptError> {
        let issued_at = token_timestamp(token.as_str()).ok_or(DecryptError::NoKeyOpensToken)?;
        if issued_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(DecryptError::NoKeyOpensToken);
        }
        if ttl_secs.is_some_and(|ttl| issued_at.saturating_add(ttl) < now) {
            return Err(DecryptError::NoKeyOpensToken);
        }
        let bytes = self
            .keys
            .decrypt(token.as_str())
            .map_err(|_| DecryptError::NoKeyOpensToken)?;
        String::from_utf8(bytes)
            .map(SecretString::from)
            .map_err(|_| DecryptError::NotUtf8)
    }

    /// The same plaintext under the encrypting key: for key rotation. The plaintext bytes
    /// (which need not be UTF-8 when another writer made the token) are wiped afterwards.
    pub fn reencrypt(&self, token: &EncryptedValue) -> Result<EncryptedValue, DecryptError> {
        use secrecy::zeroize::Zeroize;
        let mut plaintext = self
            .keys
            .decrypt(token.as_str())
            .map_err(|_| DecryptError::NoKeyOpensToken)?;
        let fresh = self.primary.encrypt(&plaintext);
        plaintext.zeroize();
        Ok(EncryptedValue(fresh))
    }

    /// The binding of `token` to `org_id`/`secret_name`, under the encrypting key (see
    /// [`TokenBinding`]). The name is the secret's name, whichever item holds the token.
    pub fn bind(&self, org_id: &str, secret_name: &str, token: &EncryptedValue) -> TokenBinding {
        self.binding_keys[0].bind(org_id, secret_name, token)
    }

    /// Whether `binding` binds `token` to `org_id`/`secret_name` under any configured key
    /// (during a rotation, items bound under the previous key still verify).
    pub fn verify_binding(
        &self,
        org_id: &str,
        secret_name: &str,
        token: &EncryptedValue,
        binding: Option<&TokenBinding>,
    ) -> Result<(), BindingError> {
        let binding = binding.ok_or(BindingError::Missing)?;
        if self
            .binding_keys
            .iter()
            .any(|key| key.verifies(org_id, secret_name, token, binding))
        {
            Ok(())
        } else {
            Err(BindingError::Mismatch)
        }
    }

    /// `facts` sealed: a Fernet token under a key HKDF-derived from the encrypting key for
    /// this purpose alone (`info = "org-secrets/change-record-seal/v1"`), so nobody without
    /// a key can read or forge them, not even with tokens of values they chose, and
    /// `rotate-keys` re-seals them ([`Cipher::reseal`]). For change records
    /// (`storage::change`), which must say what a request did without holding a readable
    /// digest of its value.
    pub(crate) fn seal(&self, facts: &[u8]) -> String {
        self.seal_primary.encrypt(facts)
    }

    /// True when the seal opens under the first key's seal key alone.
    pub fn seal_is_current(&self, seal: &EncryptedValue) -> bool {
        self.seal_primary.decrypt(seal.as_str()).is_ok()
    }

    /// The same sealed facts under the first key's seal key: for key rotation.
    pub fn reseal(&self, seal: &EncryptedValue) -> Result<EncryptedValue, DecryptError> {
        use secrecy::zeroize::Zeroize;
        let mut facts = self
            .seal_keys
            .decrypt(seal.as_str())
            .map_err(|_| DecryptError::NoKeyOpensToken)?;
        let fresh = self.seal_primary.encrypt(&facts);
        facts.zeroize();
        Ok(EncryptedValue(fresh))
    }

    /// What [`Cipher::seal`] sealed, under any configured key; `None` when no key opens it
    /// or it is stamped in the future (beyond the spec's clock skew). The bytes are wiped
    /// when dropped.
    pub(crate) fn open_seal(&self, seal: &str) -> Option<secrecy::zeroize::Zeroizing<Vec<u8>>> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let issued_at = token_timestamp(seal)?;
        if issued_at > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return None;
        }
        self.seal_keys
            .decrypt(seal)
            .ok()
            .map(secrecy::zeroize::Zeroizing::new)
    }

    /// True when a configured key opens the token (the plaintext is wiped at once).
    pub fn opens(&self, token: &EncryptedValue) -> bool {
        use secrecy::zeroize::Zeroize;
        match self.keys.decrypt(token.as_str()) {
            Ok(mut plaintext) => {
                plaintext.zeroize();
                true
            }
            Err(_) => false,
        }
    }

    /// True when the token opens under the encrypting key alone (key rotation needs no work).
    pub fn is_current(&self, token: &EncryptedValue) -> bool {
        self.primary.decrypt(token.as_str()).is_ok()
    }
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cipher")
            .field("keys", &self.key_count)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const KEY_A: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

    fn value(s: &str) -> SecretValue {
        SecretValue::parse(s.to_owned(), 1024).unwrap()
    }

    #[test]
    fn key_list_errors_name_the_position_but_never_the_key() {
        let bad = "not-a-key-but-a-canary";
        let err = Cipher::from_key_list(&format!("{KEY_A},{bad}")).unwrap_err();
        assert!(matches!(
            err,
            KeyListError::InvalidKey {
                position: 2,
                count: 2,
                ..
            }
        ));
        assert!(!err.to_string().contains(bad));
        assert_eq!(
            Cipher::from_key_list(" \n").unwrap_err(),
            KeyListError::Empty
        );
        assert!(matches!(
            Cipher::from_key_list(&format!("{KEY_A},")).unwrap_err(),
            KeyListError::InvalidKey { position: 2, .. }
        ));
    }

    #[test]
    fn each_key_problem_is_named() {
        let problem = |raw: &str| match Cipher::from_key_list(raw) {
            Err(KeyListError::InvalidKey { problem, .. }) => Some(problem),
            Err(KeyListError::Empty) => None,
            Ok(_) => panic!("{raw:?} accepted"),
        };
        let standard = KEY_A.replace('_', "/").replace('-', "+");
        let cases = [
            (format!("{KEY_A},"), KeyProblem::EmptyEntry),
            (
                format!("{}é{}", &KEY_A[..10], &KEY_A[11..]),
                KeyProblem::NotAscii,
            ),
            (
                format!("{} {}", &KEY_A[..20], &KEY_A[20..]),
                KeyProblem::InnerWhitespace,
            ),
            (
                format!("{}\u{1c}{}", &KEY_A[..20], &KEY_A[20..]),
                KeyProblem::InnerWhitespace,
            ),
            (standard, KeyProblem::StandardAlphabet),
            (
                format!("{}!{}", &KEY_A[..20], &KEY_A[21..]),
                KeyProblem::InvalidCharacter,
            ),
            (KEY_A.trim_end_matches('=').to_owned(), KeyProblem::Unpadded),
            (
                format!("{}={}", &KEY_A[..20], &KEY_A[21..]),
                KeyProblem::BadPadding,
            ),
            (format!("{KEY_A}="), KeyProblem::BadPadding),
            (format!("{}5=", &KEY_A[..42]), KeyProblem::NonCanonical),
            (
                "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMQ==".to_owned(),
                KeyProblem::WrongLength { bytes: 31 },
            ),
            (
                "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIz".to_owned(),
                KeyProblem::WrongLength { bytes: 33 },
            ),
            ("YWJj".to_owned(), KeyProblem::WrongLength { bytes: 3 }),
        ];
        for (raw, expected) in cases {
            assert_eq!(problem(&raw), Some(expected), "{raw:?}");
            let message = Cipher::from_key_list(&raw).unwrap_err().to_string();
            assert!(!message.contains(&KEY_A[..12]), "{message}");
        }
        assert_eq!(problem(""), None);
        assert_eq!(problem(" \n"), None);
        // Python's strip() removes U+001C..U+001F around an entry; so does the parser.
        assert!(Cipher::from_key_list(&format!("\u{1c}{KEY_A}\u{1f}")).is_ok());
        assert!(Cipher::from_key_list(&format!("\u{a0}{KEY_A}\u{3000}")).is_ok());
        // Positions are 1-based and count every entry.
        let err = Cipher::from_key_list(&format!("{KEY_A}, ,{KEY_A}")).unwrap_err();
        assert_eq!(
            err,
            KeyListError::InvalidKey {
                position: 2,
                count: 3,
                problem: KeyProblem::EmptyEntry
            }
        );
        assert_eq!(
            err.to_string(),
            "entry 2 of 3 is empty (a doubled or trailing comma?)"
        );
    }

    #[test]
    fn whitespace_and_trailing_newline_are_trimmed() {
        let cipher = Cipher::from_key_list(&format!("  {KEY_A} \n")).unwrap();
        assert_eq!(cipher.key_count(), 1);
    }

    #[test]
    fn debug_shows_no_key_material() {
        let cipher = Cipher::from_key_list(KEY_A).unwrap();
        assert!(!format!("{cipher:?}").contains(&KEY_A[..10]));
    }

    #[test]
    fn round_trip_and_utf8() {
        let cipher = Cipher::from_key_list(KEY_A).unwrap();
        let token = cipher.encrypt(&value("sk_live_ünïcødé"));
        assert!(token.as_str().starts_with("gAAAAA"));
        assert_eq!(
            cipher.decrypt(&token).unwrap().expose_secret(),
            "sk_live_ünïcødé"
        );
    }

    #[test]
    fn tampered_token_is_a_typed_error() {
        let cipher = Cipher::from_key_list(KEY_A).unwrap();
        let mut token = cipher.encrypt(&value("x")).into_string();
        token.replace_range(20..21, if &token[20..21] == "A" { "B" } else { "A" });
        assert_eq!(
            cipher
                .decrypt(&EncryptedValue::from_stored(token))
                .unwrap_err(),
            DecryptError::NoKeyOpensToken
        );
    }
}
