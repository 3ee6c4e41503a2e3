//! Configuration from the environment, read once at init. Errors name the variable and never
//! its value: `ENCRYPTION_KEY` must not reach a log even when it is malformed.

use std::fmt;

use crate::crypto::{Cipher, KeyListError};
use crate::domain::{HistoryRetention, RecoveryWindow};
use crate::reader::CacheConfig;

pub const ENCRYPTION_KEY: &str = "ENCRYPTION_KEY";
pub const SECRETS_TABLE_NAME: &str = "SECRETS_TABLE_NAME";
pub(crate) const MAX_SECRET_VALUE_BYTES: &str = "MAX_SECRET_VALUE_BYTES";
pub(crate) const ORG_ID_CLAIM: &str = "ORG_ID_CLAIM";
pub(crate) const PERMISSIONS_CLAIM: &str = "PERMISSIONS_CLAIM";
pub(crate) const SUBJECT_CLAIM: &str = "SUBJECT_CLAIM";
pub(crate) const MAX_SECRETS_PER_ORG: &str = "MAX_SECRETS_PER_ORG";
pub(crate) const RECOVERY_WINDOW_DAYS: &str = "RECOVERY_WINDOW_DAYS";
pub(crate) const CHANGE_HISTORY_DAYS: &str = "CHANGE_HISTORY_DAYS";
/// The readers' cache (`reader::CachingReader`, and the Python package, which reads the same).
pub const SECRETS_CACHE_TTL_SECONDS: &str = "SECRETS_CACHE_TTL_SECONDS";
pub const SECRETS_CACHE_MAX_ENTRIES: &str = "SECRETS_CACHE_MAX_ENTRIES";
pub const SECRETS_CACHE_MAX_STALE_SECONDS: &str = "SECRETS_CACHE_MAX_STALE_SECONDS";

/// GitHub's limit for an organization's secrets.
pub(crate) const DEFAULT_MAX_SECRETS_PER_ORG: u32 = 1_000;
/// At 10,000 names of the longest kind (100 four-byte characters), list's response is about
/// 4.1 MB, inside Lambda's 6 MB response limit; a larger limit could make list fail.
pub const MAX_SECRETS_PER_ORG_CEILING: u32 = 10_000;

pub(crate) const DEFAULT_MAX_SECRET_VALUE_BYTES: usize = 65_536;
/// A Fernet token is about 4/3 of the plaintext plus 76 bytes; at 256 KiB of plaintext the
/// token is ~350 KB, which with the key and metadata stays under DynamoDB's 400 KB item
/// limit. Larger settings are refused at init so that limit can never surface per request.
pub(crate) const MAX_SECRET_VALUE_BYTES_CEILING: usize = 262_144;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not set")]
    Missing { var: &'static str },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// Which authorizer claims carry the organization, the permissions and the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub org_id: String,
    pub permissions: String,
    pub subject: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            org_id: "org_id".to_owned(),
            permissions: "permissions".to_owned(),
            subject: "sub".to_owned(),
        }
    }
}

/// DynamoDB table names: 3-255 of `[A-Za-z0-9_.-]`.
#[derive(Clone, PartialEq, Eq)]
pub struct TableName(String);

impl TableName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let valid_chars = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !(3..=255).contains(&raw.len()) || !valid_chars {
            return Err("must be 3-255 characters of A-Z, a-z, 0-9, '_', '-', '.'".to_owned());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableName({:?})", self.0)
    }
}

#[derive(Debug)]
pub struct Config {
    pub cipher: Cipher,
    pub table_name: TableName,
    pub claim_names: ClaimNames,
    pub max_secret_value_bytes: usize,
    pub max_secrets_per_org: u32,
    /// How long deleted and replaced values stay recoverable (`RECOVERY_WINDOW_DAYS`).
    pub recovery_window: RecoveryWindow,
    /// How long a change stays in its secret's history (`CHANGE_HISTORY_DAYS`).
    pub history_retention: HistoryRetention,
}

/// `ENCRYPTION_KEY` as a [`Cipher`]; shared with the reader and the admin commands.
pub fn cipher_from(lookup: &impl Fn(&str) -> Option<String>) -> Result<Cipher, ConfigError> {
    let key_list = lookup(ENCRYPTION_KEY).ok_or(ConfigError::Missing {
        var: ENCRYPTION_KEY,
    })?;
    Cipher::from_key_list(&key_list).map_err(|err| match err {
        KeyListError::Empty => ConfigError::Missing {
            var: ENCRYPTION_KEY,
        },
        other => ConfigError::Invalid {
            var: ENCRYPTION_KEY,
            reason: other.to_string(),
        },
    })
}

/// `SECRETS_TABLE_NAME` as a [`TableName`].
pub(crate) fn table_name_from(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<TableName, ConfigError> {
    let raw = lookup(SECRETS_TABLE_NAME)
        .filter(|raw| !raw.trim().is_empty())
        .ok_or(ConfigError::Missing {
            var: SECRETS_TABLE_NAME,
        })?;
    TableName::parse(&raw).map_err(|reason| ConfigError::Invalid {
        var: SECRETS_TABLE_NAME,
        reason,
    })
}

/// The `SECRETS_CACHE_*` settings; each unset one is its default. TTL and stale bound may be
/// 0 (no caching; never serve stale), up to a day and a week.
pub fn cache_config_from(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<CacheConfig, ConfigError> {
    let seconds = |var, default: std::time::Duration, ceiling| {
        bounded_number(lookup, var, default.as_secs(), (0, ceiling), " of seconds")
            .map(std::time::Duration::from_secs)
    };
    Ok(CacheConfig {
        ttl: seconds(SECRETS_CACHE_TTL_SECONDS, CacheConfig::DEFAULT_TTL, 86_400)?,
        max_entries: bounded_number(
            lookup,
            SECRETS_CACHE_MAX_ENTRIES,
            CacheConfig::DEFAULT_MAX_ENTRIES,
            (1, 1_000_000),
            "",
        )?,
        max_stale: seconds(
            SECRETS_CACHE_MAX_STALE_SECONDS,
            CacheConfig::DEFAULT_MAX_STALE,
            604_800,
        )?,
    })
}

/// An optional whole-number variable from `floor` to `ceiling`; `default` when unset.
fn bounded_number<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    (floor, ceiling): (T, T),
    unit: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
{
    let Some(raw) = lookup(var) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<T>()
        .ok()
        .filter(|n| (floor..=ceiling).contains(n))
        .ok_or_else(|| ConfigError::Invalid {
            var,
            reason: format!("must be a whole number{unit} from {floor} to {ceiling}"),
        })
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `lookup` stands in for the environment, so tests need not mutate process state.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let cipher = cipher_from(&lookup)?;
        let table_name = table_name_from(&lookup)?;

        let max_secret_value_bytes = bounded_number(
            &lookup,
            MAX_SECRET_VALUE_BYTES,
            DEFAULT_MAX_SECRET_VALUE_BYTES,
            (1, MAX_SECRET_VALUE_BYTES_CEILING),
            " of bytes",
        )?;
        let max_secrets_per_org = bounded_number(
            &lookup,
            MAX_SECRETS_PER_ORG,
            DEFAULT_MAX_SECRETS_PER_ORG,
            (1, MAX_SECRETS_PER_ORG_CEILING),
            "",
        )?;
        // 0 turns recovery off; at most 30 days, as AWS Secrets Manager's window: a deleted
        // value is kept readable by whoever holds the key, so not for longer than needed.
        let recovery_window = RecoveryWindow::days(bounded_number(
            &lookup,
            RECOVERY_WINDOW_DAYS,
            RecoveryWindow::DEFAULT_DAYS,
            (0, RecoveryWindow::MAX_DAYS),
            " of days",
        )?);
        // At least a day: a change record also recognises a resend for 24 hours.
        let history_retention = HistoryRetention::days(bounded_number(
            &lookup,
            CHANGE_HISTORY_DAYS,
            HistoryRetention::DEFAULT_DAYS,
            (HistoryRetention::MIN_DAYS, HistoryRetention::MAX_DAYS),
            " of days",
        )?);

        let defaults = ClaimNames::default();
        let claim = |var: &'static str, default: String| -> Result<String, ConfigError> {
            match lookup(var) {
                None => Ok(default),
                Some(raw) if raw.trim().is_empty() => Err(ConfigError::Invalid {
                    var,
                    reason: "must not be empty".to_owned(),
                }),
                Some(raw) => Ok(raw.trim().to_owned()),
            }
        };
        let claim_names = ClaimNames {
            org_id: claim(ORG_ID_CLAIM, defaults.org_id)?,
            permissions: claim(PERMISSIONS_CLAIM, defaults.permissions)?,
            subject: claim(SUBJECT_CLAIM, defaults.subject)?,
        };

        Ok(Self {
            cipher,
            table_name,
            claim_names,
            max_secret_value_bytes,
            max_secrets_per_org,
            recovery_window,
            history_retention,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply() {
        let config = load(&[(ENCRYPTION_KEY, KEY), (SECRETS_TABLE_NAME, "secrets")]).unwrap();
        assert_eq!(config.claim_names, ClaimNames::default());
        assert_eq!(config.max_secret_value_bytes, 65_536);
        assert_eq!(config.max_secrets_per_org, 1_000);
        assert_eq!(config.table_name.as_str(), "secrets");
    }

    #[test]
    fn table_names_show_themselves() {
        let table = TableName::parse(" org-secrets.v1_a ").unwrap();
        assert_eq!(table.to_string(), "org-secrets.v1_a");
        assert_eq!(format!("{table:?}"), "TableName(\"org-secrets.v1_a\")");
        for bad in ["ab", "a b", "tab/le", &"t".repeat(256)] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
        assert!(TableName::parse(&"t".repeat(255)).is_ok());
    }

    #[test]
    fn cognito_claim_names_by_configuration() {
        let config = load(&[
            (ENCRYPTION_KEY, KEY),
            (SECRETS_TABLE_NAME, "secrets"),
            (ORG_ID_CLAIM, "custom:org_id"),
            (PERMISSIONS_CLAIM, "cognito:groups"),
        ])
        .unwrap();
        assert_eq!(config.claim_names.org_id, "custom:org_id");
        assert_eq!(config.claim_names.permissions, "cognito:groups");
        assert_eq!(config.claim_names.subject, "sub");
    }

    #[test]
    fn missing_and_malformed_name_the_variable_not_the_value() {
        assert_eq!(
            load(&[(SECRETS_TABLE_NAME, "secrets")]).unwrap_err(),
            ConfigError::Missing {
                var: ENCRYPTION_KEY
            }
        );
        let canary = "CANARY-not-a-fernet-key";
        let err = load(&[(ENCRYPTION_KEY, canary), (SECRETS_TABLE_NAME, "secrets")]).unwrap_err();
        assert!(err.to_string().contains(ENCRYPTION_KEY));
        assert!(!err.to_string().contains(canary));
        assert_eq!(
            load(&[(ENCRYPTION_KEY, KEY)]).unwrap_err(),
            ConfigError::Missing {
                var: SECRETS_TABLE_NAME
            }
        );
        for bad in ["0", "abc", "262145", "-1"] {
            let err = load(&[
                (ENCRYPTION_KEY, KEY),
                (SECRETS_TABLE_NAME, "secrets"),
                (MAX_SECRET_VALUE_BYTES, bad),
            ])
            .unwrap_err();
            assert!(matches!(
                err,
                ConfigError::Invalid {
                    var: MAX_SECRET_VALUE_BYTES,
                    ..
                }
            ));
        }
        for bad in ["0", "x", "10001", "-5", ""] {
            let err = load(&[
                (ENCRYPTION_KEY, KEY),
                (SECRETS_TABLE_NAME, "secrets"),
                (MAX_SECRETS_PER_ORG, bad),
            ])
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        var: MAX_SECRETS_PER_ORG,
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
        for (raw, limit) in [("1", 1), (" 250 ", 250), ("10000", 10_000)] {
            let config = load(&[
                (ENCRYPTION_KEY, KEY),
                (SECRETS_TABLE_NAME, "secrets"),
                (MAX_SECRETS_PER_ORG, raw),
            ])
            .unwrap();
            assert_eq!(config.max_secrets_per_org, limit);
        }
        assert!(matches!(
            load(&[(ENCRYPTION_KEY, KEY), (SECRETS_TABLE_NAME, "a b")]).unwrap_err(),
            ConfigError::Invalid {
                var: SECRETS_TABLE_NAME,
                ..
            }
        ));
        assert!(matches!(
            load(&[
                (ENCRYPTION_KEY, KEY),
                (SECRETS_TABLE_NAME, "secrets"),
                (ORG_ID_CLAIM, " ")
            ])
            .unwrap_err(),
            ConfigError::Invalid {
                var: ORG_ID_CLAIM,
                ..
            }
        ));
    }
}
