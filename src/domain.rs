//! Domain newtypes: once constructed, a value is known to be valid, so handlers never re-check.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::is_nfc;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Characters that change how text is shown or split without being visible themselves:
/// controls (Cc), format characters (Cf: bidi overrides, zero-width joiners and spaces) and
/// the line and paragraph separators (Zl, Zp). None of them belongs in an identifier that is
/// compared byte for byte, written to logs and shown in consoles.
pub fn is_invisible_control(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Why a claim-borne identifier (organization id, subject) is refused. Shared by [`OrgId`]
/// and [`Actor`]: both are used exactly as presented, so anything that would let two
/// different claims look like one is refused rather than repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {max} bytes")]
    TooLong { max: usize },
    #[error("starts or ends with whitespace")]
    SurroundingWhitespace,
    #[error("contains control or format characters")]
    InvisibleCharacter,
    /// Present in the event, but `null` or another JSON type (request ids only).
    #[error("is not a string")]
    NotAString,
}

/// The rule for identifiers taken from claims: used byte for byte, so refused when they
/// could stand for another one (surrounding Unicode `White_Space`, invisible characters) or
/// would have to be cut (over `max_bytes`).
fn check_identifier(raw: &str, max_bytes: usize) -> Result<(), IdentifierError> {
    if raw.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if raw.len() > max_bytes {
        return Err(IdentifierError::TooLong { max: max_bytes });
    }
    let starts_or_ends_blank =
        raw.starts_with(char::is_whitespace) || raw.ends_with(char::is_whitespace);
    if starts_or_ends_blank {
        return Err(IdentifierError::SurroundingWhitespace);
    }
    if raw.chars().any(is_invisible_control) {
        return Err(IdentifierError::InvisibleCharacter);
    }
    Ok(())
}

/// A secret's name: 1-100 Unicode characters (not bytes) in NFC, with no control, format or
/// line-separator characters, so two names that look the same are the same bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretName(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretNameError {
    #[error("String should have at least 1 character")]
    Empty,
    #[error("String should have at most {max} characters")]
    TooLong { max: usize },
    #[error("String should not contain control or format characters")]
    ControlCharacter,
    #[error("String should be in Unicode normalization form C (NFC)")]
    NotNfc,
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
        if raw.chars().any(is_invisible_control) {
            return Err(SecretNameError::ControlCharacter);
        }
        if !is_nfc(&raw) {
            return Err(SecretNameError::NotNfc);
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

/// A secret's description: plain text for people, up to 2,048 characters (AWS Secrets
/// Manager's limit), not empty, with no control characters but tab and line feed (they
/// would corrupt the consoles and log viewers it is shown in). Never part of the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Description(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DescriptionError {
    #[error("String should have at most {max} characters")]
    TooLong { max: usize },
    #[error("String should not contain control characters other than tab and line feed")]
    ControlCharacter,
}

impl Description {
    pub const MAX_CHARS: usize = 2048;

    /// `None` for the empty string: no description.
    pub fn parse(raw: String) -> Result<Option<Self>, DescriptionError> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(DescriptionError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        if raw
            .chars()
            .any(|c| c.is_control() && c != '\t' && c != '\n')
        {
            return Err(DescriptionError::ControlCharacter);
        }
        Ok(Some(Self(raw)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Description({} characters)", self.0.chars().count())
    }
}

/// What a request does to a secret's description: an update that says nothing of it keeps
/// it; `null` or `""` removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescriptionChange {
    Keep,
    Remove,
    Set(Description),
}

/// The organization a request acts for; it only ever comes from authorizer claims.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OrgId(String);

impl OrgId {
    /// Generous, but bounded: it is a DynamoDB partition key (limit 2048 bytes) and a log field.
    pub(crate) const MAX_BYTES: usize = 256;

    /// The claim exactly as presented, or an error: never trimmed or otherwise repaired, so
    /// `" org_a"` can never act on `org_a`'s secrets.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        check_identifier(raw, Self::MAX_BYTES)?;
        Ok(Self(raw.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
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

/// Who acted: the subject claim (or a REST Lambda authorizer's `principalId`), exactly as
/// presented, or nobody named when the authorizer gives no subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(Option<String>);

impl Actor {
    pub const MAX_BYTES: usize = 512;
    /// What the item and the audit line say when the authorizer names no subject.
    pub(crate) const UNKNOWN: &'static str = "unknown";

    /// Used when the authorizer names no subject; the write is still attributed to something.
    pub fn unknown() -> Self {
        Self(None)
    }

    /// The subject claim as presented, or an error: an over-long subject is refused, never
    /// cut, because two subjects cut to one would be one actor.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        check_identifier(raw, Self::MAX_BYTES)?;
        Ok(Self(Some(raw.to_owned())))
    }

    /// The subject, when the authorizer named one.
    pub fn subject(&self) -> Option<&str> {
        self.0.as_deref()
    }

    pub(crate) fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or(Self::UNKNOWN)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id of the request that makes a change: API Gateway's `requestContext.requestId`, a
/// direct invocation's `requestContext.requestId`, else the Lambda request id. It names the
/// request in its change record, so it is used byte for byte or refused, never trimmed or
/// replaced: two ids that differ are two requests.
///
/// Sized for ids a workflow derives from its own: a Step Functions execution ARN (at most
/// 256 characters) plus a separator and a state name (at most 80 characters) is 337 bytes in
/// ASCII and under 1,345 bytes in UTF-8; see `docs/api.md`.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub const MAX_BYTES: usize = 2048;

    /// The id exactly as received, or why it is unusable: empty, over [`Self::MAX_BYTES`],
    /// surrounded by whitespace, or holding control, format or separator characters.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        check_identifier(raw, Self::MAX_BYTES)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({:?})", self.0)
    }
}

/// A client's `Idempotency-Key` for a write (like Secrets Manager's `ClientRequestToken`):
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

    /// The key exactly as received, or refused: never trimmed, so two keys that differ are
    /// two requests.
    pub fn parse(raw: &str) -> Result<Self, IdempotencyKeyError> {
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

    pub(crate) fn expose_bytes(&self) -> &[u8] {
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

/// How long a deleted or replaced value stays recoverable (`RECOVERY_WINDOW_DAYS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryWindow {
    days: u32,
}

impl RecoveryWindow {
    pub const DEFAULT_DAYS: u32 = 7;
    pub const MAX_DAYS: u32 = 30;

    /// `0` turns recovery off: deletes and updates keep no value.
    pub fn days(days: u32) -> Self {
        Self {
            days: days.min(Self::MAX_DAYS),
        }
    }

    pub fn as_days(self) -> u32 {
        self.days
    }

    pub(crate) fn keeps_values(self) -> bool {
        self.days > 0
    }

    /// Unix seconds: the end of the window for a value removed at `now`.
    pub(crate) fn expires_at(self, now: i64) -> i64 {
        now + i64::from(self.days) * 24 * 60 * 60
    }
}

/// A number written as [`u64`]'s `to_string` writes it, and only so: no sign, no leading zero,
/// nothing around it.
pub(crate) fn canonical_u64(text: &str) -> Option<u64> {
    let number: u64 = text.parse().ok()?;
    (number.to_string() == text).then_some(number)
}

/// How long a change stays in its secret's history (`CHANGE_HISTORY_DAYS`): the change
/// record's TTL. At least a day, since the record also recognises a resend for 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryRetention {
    days: u32,
}

impl HistoryRetention {
    pub const DEFAULT_DAYS: u32 = 30;
    pub const MIN_DAYS: u32 = 1;
    pub const MAX_DAYS: u32 = 365;

    pub fn days(days: u32) -> Self {
        Self {
            days: days.clamp(Self::MIN_DAYS, Self::MAX_DAYS),
        }
    }

    pub fn as_days(self) -> u32 {
        self.days
    }

    /// Unix seconds: when a change made at `at` leaves the history.
    pub(crate) fn expires_at(self, at: i64) -> i64 {
        at + i64::from(self.days) * 24 * 60 * 60
    }
}

impl Default for HistoryRetention {
    fn default() -> Self {
        Self::days(Self::DEFAULT_DAYS)
    }
}

impl Default for RecoveryWindow {
    fn default() -> Self {
        Self::days(Self::DEFAULT_DAYS)
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
        assert_eq!(OrgId::parse(""), Err(IdentifierError::Empty));
        assert_eq!(
            OrgId::parse("  "),
            Err(IdentifierError::SurroundingWhitespace)
        );
        assert_eq!(
            OrgId::parse(&"o".repeat(257)),
            Err(IdentifierError::TooLong { max: 256 })
        );
        assert_eq!(OrgId::parse(&"o".repeat(256)).unwrap().as_str().len(), 256);
        assert_eq!(OrgId::parse("org 1").unwrap().as_str(), "org 1");
        assert_eq!(format!("{}", OrgId::parse("org_1").unwrap()), "org_1");
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
    fn windows_expire_at_their_end_and_zero_keeps_nothing() {
        let now = 1_000_000;
        assert_eq!(RecoveryWindow::default().as_days(), 7);
        assert_eq!(RecoveryWindow::days(7).expires_at(now), now + 7 * 86_400);
        assert_eq!(RecoveryWindow::days(30).expires_at(now), now + 30 * 86_400);
        assert_eq!(RecoveryWindow::days(31).as_days(), 30);
        assert!(!RecoveryWindow::days(0).keeps_values());
        assert!(RecoveryWindow::days(1).keeps_values());
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
    fn actor_is_the_subject_as_presented_or_refused() {
        assert_eq!(
            Actor::parse("a\nb"),
            Err(IdentifierError::InvisibleCharacter)
        );
        assert_eq!(
            Actor::parse(" "),
            Err(IdentifierError::SurroundingWhitespace)
        );
        // Over-long subjects are refused, never cut: 'a' + 600 'é' is over 512 bytes.
        let long = format!("a{}", "é".repeat(600));
        assert_eq!(
            Actor::parse(&long),
            Err(IdentifierError::TooLong { max: 512 })
        );
        let exactly = "é".repeat(256);
        assert_eq!(Actor::parse(&exactly).unwrap().as_str(), exactly);
        assert_eq!(Actor::parse(&exactly).unwrap().subject(), Some(&*exactly));
        assert_eq!(Actor::unknown().as_str(), "unknown");
        assert_eq!(Actor::unknown().subject(), None);
        assert_ne!(Actor::parse("unknown").unwrap(), Actor::unknown());
    }

    /// The class of identifiers that must be refused, for the org id and the subject alike.
    #[test]
    fn identifiers_are_refused_rather_than_repaired() {
        let surrounding = [
            "org_a\u{3000}",
            "\u{a0}org_a",
            " org_a",
            "org_a\t",
            "org_a\u{2028}",
            "org_a\u{85}",
            "\u{2029}org_a",
            "org_a\u{1680}",
            "\u{202f}org_a",
            "org_a\u{205f}",
            "org_a\u{2000}",
            "org_a\u{200a}",
            "\u{b}org_a",
            "\u{c}org_a",
            "org_a\r",
            "org_a\n",
        ];
        for raw in surrounding {
            assert!(OrgId::parse(raw).is_err(), "org {raw:?}");
            assert!(Actor::parse(raw).is_err(), "subject {raw:?}");
        }
        let invisible = [
            "org\u{0}a",
            "org\u{1b}a",
            "org\u{7f}a",
            "org\u{9f}a",
            "org\u{200b}a",
            "org\u{200d}a",
            "org\u{202e}a",
            "org\u{2066}a",
            "org\u{feff}a",
            "\u{feff}org_a",
            "org\u{ad}a",
            "org\u{2028}a",
            "org\u{2029}a",
            "org\u{e0001}a",
        ];
        for raw in invisible {
            assert_eq!(
                OrgId::parse(raw),
                Err(IdentifierError::InvisibleCharacter),
                "org {raw:?}"
            );
            assert_eq!(
                Actor::parse(raw),
                Err(IdentifierError::InvisibleCharacter),
                "subject {raw:?}"
            );
        }
        for fine in ["org_a", "org a", "组织", "o", "org-ÄÖÜ"] {
            assert_eq!(OrgId::parse(fine).unwrap().as_str(), fine);
            assert_eq!(Actor::parse(fine).unwrap().as_str(), fine);
        }
    }

    #[test]
    fn names_that_look_alike_are_refused() {
        let cases: &[(&str, Option<SecretNameError>)] = &[
            ("caf\u{e9}", None),
            ("cafe\u{301}", Some(SecretNameError::NotNfc)),
            ("\u{212b}ngstrom", Some(SecretNameError::NotNfc)),
            ("\u{202e}yek", Some(SecretNameError::ControlCharacter)),
            ("a\u{200b}b", Some(SecretNameError::ControlCharacter)),
            ("a\u{200c}b", Some(SecretNameError::ControlCharacter)),
            ("a\u{200d}b", Some(SecretNameError::ControlCharacter)),
            ("\u{feff}key", Some(SecretNameError::ControlCharacter)),
            ("a\u{2066}b", Some(SecretNameError::ControlCharacter)),
            ("a\u{ad}b", Some(SecretNameError::ControlCharacter)),
            ("a\u{2028}b", Some(SecretNameError::ControlCharacter)),
            ("a\u{1b}b", Some(SecretNameError::ControlCharacter)),
            ("a\u{85}b", Some(SecretNameError::ControlCharacter)),
            ("stripe_api_key", None),
            ("a b", None),
            ("\u{1f511}", None),
            ("\u{d55c}\u{ae00}", None),
            ("\u{1112}\u{1161}\u{11ab}", Some(SecretNameError::NotNfc)),
        ];
        for (raw, expected) in cases {
            let parsed = SecretName::parse(*raw);
            match expected {
                None => assert_eq!(parsed.unwrap().as_str(), *raw),
                Some(err) => assert_eq!(parsed.unwrap_err(), *err, "{raw:?}"),
            }
        }
    }

    #[test]
    fn debug_and_display_show_identifiers_and_never_values() {
        assert_eq!(
            format!("{:?}", OrgId::parse("org_1").unwrap()),
            "OrgId(\"org_1\")"
        );
        assert_eq!(
            format!("{:?}", IdempotencyKey::parse("k-1").unwrap()),
            "IdempotencyKey(\"k-1\")"
        );
        assert_eq!(Actor::parse("alice").unwrap().to_string(), "alice");
        assert_eq!(Actor::unknown().to_string(), "unknown");
        let value = SecretValue::parse("canary".to_owned(), 64).unwrap();
        assert_eq!(format!("{value:?}"), "SecretValue([REDACTED])");
    }

    #[test]
    fn secret_values_may_fill_the_limit_exactly() {
        assert_eq!(
            SecretValue::parse("abcd".to_owned(), 4)
                .unwrap()
                .len_bytes(),
            4
        );
        assert_eq!(
            SecretValue::parse("abcde".to_owned(), 4).unwrap_err(),
            SecretValueError::TooLarge { max_bytes: 4 }
        );
    }

    #[test]
    fn secret_name_displays_itself() {
        let name = SecretName::parse("stripe_api_key").unwrap();
        assert_eq!(name.to_string(), "stripe_api_key");
        assert_eq!(format!("{name:?}"), "SecretName(\"stripe_api_key\")");
    }
}
