//! The `api_call` stage's `auth` block, and the credentials it puts on a request. The table
//! of types is `docs/storage-contract.md`'s "Credentials".

use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::cache::{CachingReader, SecretError};
use crate::domain::{OrgId, SecretName};

/// Where an `api_key` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Header,
    Query,
}

/// An `auth` block, parsed: each type holds exactly what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthBlock {
    None,
    Bearer {
        secret: SecretName,
    },
    Basic {
        secret: SecretName,
    },
    ApiKeyHeader {
        secret: SecretName,
        header: HeaderName,
    },
    ApiKeyQuery {
        secret: SecretName,
        parameter: String,
    },
    CustomHeader {
        secret: SecretName,
        header: HeaderName,
    },
}

/// What is wrong with an `auth` block; `as_str` is the contract's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProblem {
    NotAnObject,
    MissingType,
    UnknownType,
    MissingSecretRef,
    InvalidSecretRef,
    MissingKey,
    InvalidKey,
    InvalidLocation,
}

impl AuthProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthProblem::NotAnObject => "not_an_object",
            AuthProblem::MissingType => "missing_type",
            AuthProblem::UnknownType => "unknown_type",
            AuthProblem::MissingSecretRef => "missing_secret_ref",
            AuthProblem::InvalidSecretRef => "invalid_secret_ref",
            AuthProblem::MissingKey => "missing_key",
            AuthProblem::InvalidKey => "invalid_key",
            AuthProblem::InvalidLocation => "invalid_location",
        }
    }
}

/// A malformed `auth` block. Names what is wrong, never the block's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid auth block: {}", reason.as_str())]
pub struct InvalidAuth {
    pub reason: AuthProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    InvalidAuth(#[from] InvalidAuth),
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// `basic` needs the value as `user:pass`.
    #[error("secret {secret_name} holds no ':', so it is not user:pass for basic auth")]
    BasicWithoutColon { secret_name: SecretName },
    /// The value cannot be sent in a header: a character that is not printable ASCII.
    #[error("secret {secret_name} cannot go into a header: it holds a character that is not printable ASCII")]
    InvalidHeaderValue { secret_name: SecretName },
}

impl CredentialsError {
    /// The contract's name for the error.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialsError::InvalidAuth(_) => "invalid_auth",
            CredentialsError::Secret(error) => error.kind(),
            CredentialsError::BasicWithoutColon { .. } => "basic_without_colon",
            CredentialsError::InvalidHeaderValue { .. } => "invalid_header_value",
        }
    }
}

impl AuthBlock {
    /// Checks, in order: an object; `type`; `secret_ref` (unless `none`); for `api_key`
    /// `location`, then `key` (a header name for a header, any text for a query); for
    /// `custom_header` `key`. A `null` field counts as missing. Other fields are ignored.
    pub fn parse(block: &Value) -> Result<Self, InvalidAuth> {
        let fail = |reason| InvalidAuth { reason };
        let block = block.as_object().ok_or(fail(AuthProblem::NotAnObject))?;
        let field = |name| block.get(name).filter(|value| !value.is_null());
        let kind = field("type").ok_or(fail(AuthProblem::MissingType))?;
        let kind = kind.as_str().ok_or(fail(AuthProblem::UnknownType))?;
        if !["none", "bearer", "basic", "api_key", "custom_header"].contains(&kind) {
            return Err(fail(AuthProblem::UnknownType));
        }
        if kind == "none" {
            return Ok(AuthBlock::None);
        }
        let secret = field("secret_ref")
            .ok_or(fail(AuthProblem::MissingSecretRef))?
            .as_str()
            .and_then(|raw| SecretName::parse(raw).ok())
            .ok_or(fail(AuthProblem::InvalidSecretRef))?;
        let key = || -> Result<&str, InvalidAuth> {
            field("key")
                .ok_or(fail(AuthProblem::MissingKey))?
                .as_str()
                .filter(|key| !key.is_empty())
                .ok_or(fail(AuthProblem::InvalidKey))
        };
        let header = |name: &str| {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| fail(AuthProblem::InvalidKey))
        };
        Ok(match kind {
            "bearer" => AuthBlock::Bearer { secret },
            "basic" => AuthBlock::Basic { secret },
            "custom_header" => AuthBlock::CustomHeader {
                header: header(key()?)?,
                secret,
            },
            _ => {
                let location = match field("location").map(Value::as_str) {
                    None | Some(Some("header")) => Location::Header,
                    Some(Some("query")) => Location::Query,
                    Some(_) => return Err(fail(AuthProblem::InvalidLocation)),
                };
                match location {
                    Location::Header => AuthBlock::ApiKeyHeader {
                        header: header(key()?)?,
                        secret,
                    },
                    Location::Query => AuthBlock::ApiKeyQuery {
                        parameter: key()?.to_owned(),
                        secret,
                    },
                }
            }
        })
    }

    /// The secret the block reads, if any.
    pub fn secret(&self) -> Option<&SecretName> {
        match self {
            AuthBlock::None => None,
            AuthBlock::Bearer { secret }
            | AuthBlock::Basic { secret }
            | AuthBlock::ApiKeyHeader { secret, .. }
            | AuthBlock::ApiKeyQuery { secret, .. }
            | AuthBlock::CustomHeader { secret, .. } => Some(secret),
        }
    }
}

/// What goes on the request: headers (marked sensitive, so `http`'s `Debug` and clients
/// that honour it do not show them) and query parameters (only for `api_key` with
/// `location: query`). `Debug` never shows a value.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub query: Vec<(String, SecretString)>,
}

impl Credentials {
    /// The credentials `block` asks for, reading its secret through `reader`'s cache.
    pub async fn for_block(
        reader: &CachingReader,
        org_id: &OrgId,
        block: &AuthBlock,
    ) -> Result<Self, CredentialsError> {
        let Some(secret_name) = block.secret() else {
            return Ok(Self::default());
        };
        let secret = reader.get(org_id, secret_name).await?;
        let value = secret.value().expose_secret();
        let header_value = |text: &str| sensitive_header(text, secret_name);
        let authorization = http::header::AUTHORIZATION;
        let mut credentials = Self::default();
        match block {
            AuthBlock::None => {}
            AuthBlock::Bearer { .. } => credentials.headers.push((
                authorization,
                header_value(&Zeroizing::new(format!("Bearer {value}")))?,
            )),
            AuthBlock::Basic { .. } => {
                if !value.contains(':') {
                    return Err(CredentialsError::BasicWithoutColon {
                        secret_name: secret_name.clone(),
                    });
                }
                let encoded =
                    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(value));
                let text = Zeroizing::new(format!("Basic {}", encoded.as_str()));
                credentials
                    .headers
                    .push((authorization, header_value(&text)?));
            }
            AuthBlock::ApiKeyHeader { header, .. } | AuthBlock::CustomHeader { header, .. } => {
                credentials
                    .headers
                    .push((header.clone(), header_value(value)?));
            }
            AuthBlock::ApiKeyQuery { parameter, .. } => credentials
                .query
                .push((parameter.clone(), SecretString::from(value.to_owned()))),
        }
        Ok(credentials)
    }
}

/// A header value of printable ASCII (and tab), marked sensitive. The error names the
/// secret; the text (which holds the value) is never quoted.
fn sensitive_header(text: &str, secret_name: &SecretName) -> Result<HeaderValue, CredentialsError> {
    let printable = text
        .bytes()
        .all(|byte| byte == b'\t' || (b' '..=b'~').contains(&byte));
    let mut header = HeaderValue::from_str(text)
        .ok()
        .filter(|_| printable)
        .ok_or_else(|| CredentialsError::InvalidHeaderValue {
            secret_name: secret_name.clone(),
        })?;
    header.set_sensitive(true);
    Ok(header)
}

impl CachingReader {
    /// The request's credentials for the `auth` block (as the stage's JSON gives it).
    pub async fn credentials(
        &self,
        org_id: &OrgId,
        block: &Value,
    ) -> Result<Credentials, CredentialsError> {
        let block = AuthBlock::parse(block)?;
        Credentials::for_block(self, org_id, &block).await
    }
}
