//! Domain newtypes: once constructed, a value is known to be valid, so handlers never re-check.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A secret's name: 1-100 Unicode characters (not bytes), no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretName(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretNameError {
    #[error("String should have at least 1 character")]
    Empty,
    #[error("String should have at most {max} characters")]
    TooLong { max: usize },
    #[error("String should not contain control characters")]
    ControlCharacter,
}

impl SecretName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: impl Into<String>) -> Result<Self, SecretNameError> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(SecretNameError::Empty);
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(SecretNameError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        if raw.chars().any(char::is_control) {
            return Err(SecretNameError::ControlCharacter);
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretName({:?})", self.0)
    }
}

/// The organization a request acts for; it only ever comes from authorizer claims.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OrgId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrgIdError {
    #[error("organization id is empty")]
    Empty,
    #[error("organization id is longer than {max} bytes")]
    TooLong { max: usize },
    #[error("organization id contains control characters")]
    ControlCharacter,
}

impl OrgId {
    /// Generous, but bounded: it is a DynamoDB partition key (limit 2048 bytes) and a log field.
    pub const MAX_BYTES: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, OrgIdError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(OrgIdError::Empty);
        }
        if trimmed.len() > Self::MAX_BYTES {
            return Err(OrgIdError::TooLong {
                max: Self::MAX_BYTES,
            });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(OrgIdError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({:?})", self.0)
    }
}

/// Who acted: the subject claim (or a REST Lambda authorizer's `principalId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    const MAX_BYTES: usize = 512;

    /// Used when the authorizer names no subject; the write is still attributed to something.
    pub fn unknown() -> Self {
        Self("unknown".to_owned())
    }

    /// Control characters are dropped and the length bounded, because the actor is written to
    /// logs and to the item verbatim.
    pub fn from_claim(raw: &str) -> Option<Self> {
        let cleaned: String = raw.trim().chars().filter(|c| !c.is_control()).collect();
        if cleaned.is_empty() {
            return None;
        }
        let mut end = cleaned.len().min(Self::MAX_BYTES);
        while !cleaned.is_char_boundary(end) {
            end -= 1;
        }
        Some(Self(cleaned[..end].to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client's `Idempotency-Key` for create (like Secrets Manager's `ClientRequestToken`):
/// 1-255 visible ASCII characters.
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    #[error("Idempotency-Key should have 1 to {max} characters")]
    Length { max: usize },
    #[error("Idempotency-Key should contain only visible ASCII characters")]
    Characters,
}

impl IdempotencyKey {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, IdempotencyKeyError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > Self::MAX_CHARS {
            return Err(IdempotencyKeyError::Length {
                max: Self::MAX_CHARS,
            });
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdempotencyKeyError::Characters);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({:?})", self.0)
    }
}

/// The plaintext of a secret: non-empty, at most the configured number of UTF-8 bytes.
/// It is only ever held inside a [`SecretString`], so `Debug` and logs cannot show it.
pub struct SecretValue(SecretString);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretValueError {
    #[error("String should have at least 1 character")]
    Empty,
    #[error("String should have at most {max_bytes} bytes of UTF-8")]
    TooLarge { max_bytes: usize },
}

impl SecretValue {
    /// Takes ownership so the plaintext is not copied: the `String`'s buffer moves into the
    /// `SecretString`, which zeroizes it on drop.
    pub fn parse(raw: String, max_bytes: usize) -> Result<Self, SecretValueError> {
        let value = SecretString::from(raw);
        let len = value.expose_secret().len();
        if len == 0 {
            return Err(SecretValueError::Empty);
        }
        if len > max_bytes {
            return Err(SecretValueError::TooLarge { max_bytes });
        }
        Ok(Self(value))
    }

    /// Constant-time comparison with another plaintext, for idempotent create.
    pub fn same_as(&self, other: &SecretString) -> bool {
        use subtle::ConstantTimeEq;
        let ours = self.expose_bytes();
        let theirs = other.expose_secret().as_bytes();
        ours.len() == theirs.len() && bool::from(ours.ct_eq(theirs))
    }

    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }

    pub fn len_bytes(&self) -> usize {
        self.0.expose_secret().len()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_name_counts_characters_not_bytes() {
        let hundred_snowmen = "☃".repeat(100);
        assert!(SecretName::parse(hundred_snowmen.clone()).is_ok());
        assert_eq!(
            SecretName::parse(format!("{hundred_snowmen}x")),
            Err(SecretNameError::TooLong { max: 100 })
        );
        assert_eq!(SecretName::parse(""), Err(SecretNameError::Empty));
        assert_eq!(
            SecretName::parse("a\nb"),
            Err(SecretNameError::ControlCharacter)
        );
        assert_eq!(
            SecretName::parse("a\u{7f}b"),
            Err(SecretNameError::ControlCharacter)
        );
        assert_eq!(
            SecretName::parse("stripe_api_key").unwrap().as_str(),
            "stripe_api_key"
        );
    }

    #[test]
    fn org_id_rejects_blank_and_oversized() {
        assert_eq!(OrgId::parse("  "), Err(OrgIdError::Empty));
        assert_eq!(
            OrgId::parse(&"o".repeat(257)),
            Err(OrgIdError::TooLong { max: 256 })
        );
        assert_eq!(OrgId::parse(" org_1 ").unwrap().as_str(), "org_1");
    }

    #[test]
    fn secret_value_limits_bytes_and_never_debug_prints() {
        let value = SecretValue::parse("canary-ÄÖÜ".to_owned(), 64).unwrap();
        assert_eq!(value.len_bytes(), "canary-ÄÖÜ".len());
        assert!(!format!("{value:?}").contains("canary"));
        assert_eq!(
            SecretValue::parse(String::new(), 64).unwrap_err(),
            SecretValueError::Empty
        );
        // 3 characters, 6 bytes: the limit is in bytes.
        assert_eq!(
            SecretValue::parse("äöü".to_owned(), 5).unwrap_err(),
            SecretValueError::TooLarge { max_bytes: 5 }
        );
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("3f6c1b2e-req-1").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert_eq!(
            IdempotencyKey::parse(&"k".repeat(256)).unwrap_err(),
            IdempotencyKeyError::Length { max: 255 }
        );
        assert_eq!(
            IdempotencyKey::parse("").unwrap_err(),
            IdempotencyKeyError::Length { max: 255 }
        );
        assert_eq!(
            IdempotencyKey::parse("a b").unwrap_err(),
            IdempotencyKeyError::Characters
        );
        assert_eq!(
            IdempotencyKey::parse("ключ").unwrap_err(),
            IdempotencyKeyError::Characters
        );
    }

    #[test]
    fn secret_values_compare_by_content() {
        let value = SecretValue::parse("abc".to_owned(), 10).unwrap();
        assert!(value.same_as(&SecretString::from("abc")));
        assert!(!value.same_as(&SecretString::from("abd")));
        assert!(!value.same_as(&SecretString::from("abcd")));
    }

    #[test]
    fn actor_drops_control_characters_and_is_bounded() {
        assert_eq!(Actor::from_claim("a\nb").unwrap().as_str(), "ab");
        assert!(Actor::from_claim("  ").is_none());
        assert_eq!(
            Actor::from_claim(&"é".repeat(600)).unwrap().as_str().len(),
            512
        );
    }
}
