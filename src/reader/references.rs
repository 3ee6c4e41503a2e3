//! `{{SECRET.name}}` and `{{secrets.name}}` references in a string or a JSON document,
//! resolved with one batch read. The grammar is `docs/storage-contract.md`'s "References".

use std::collections::{HashMap, HashSet};
use std::fmt;

use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::cache::{CachingReader, Secret, SecretError};
use crate::domain::{OrgId, SecretName};

const PREFIXES: [&str; 2] = ["SECRET.", "secrets."];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A reference whose name is not a valid secret name, or that is not closed with `}}`.
    /// Gives where it starts (in characters of its string), never the text.
    #[error("invalid secret reference at character {position}")]
    InvalidReference { position: usize },
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl ResolveError {
    /// The contract's name for the error.
    pub fn kind(&self) -> &'static str {
        match self {
            ResolveError::InvalidReference { .. } => "invalid_reference",
            ResolveError::Secret(error) => error.kind(),
        }
    }
}

/// A JSON document with its references replaced: secret as a whole. `Debug` shows nothing.
pub struct ResolvedDocument(Value);

impl ResolvedDocument {
    /// The document, with the values in it: only where it goes into a request.
    pub fn expose(&self) -> &Value {
        &self.0
    }
}

impl fmt::Debug for ResolvedDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResolvedDocument([REDACTED])")
    }
}

/// A piece of a string: text as it is, or a reference.
enum Piece<'a> {
    Text(&'a str),
    Reference(SecretName),
}

/// The string in pieces. At each `{{`, spaces may follow, then a prefix; then the name runs
/// to the next `}}`, its trailing spaces not part of it. A `{{` without a prefix stays text.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, ResolveError> {
    let mut pieces = Vec::new();
    let (mut text_from, mut at) = (0, 0);
    while let Some(found) = text[at..].find("{{") {
        let open = at + found;
        let inside = text[open + 2..].trim_start_matches(' ');
        let Some(prefix) = PREFIXES.iter().find(|prefix| inside.starts_with(**prefix)) else {
            at = open + 1;
            continue;
        };
        let name_from = text.len() - inside.len() + prefix.len();
        let invalid = || ResolveError::InvalidReference {
            position: text[..open].chars().count(),
        };
        let close = text[name_from..].find("}}").ok_or_else(invalid)? + name_from;
        let name = SecretName::parse(text[name_from..close].trim_end_matches(' '))
            .map_err(|_| invalid())?;
        pieces.push(Piece::Text(&text[text_from..open]));
        pieces.push(Piece::Reference(name));
        text_from = close + 2;
        at = text_from;
    }
    pieces.push(Piece::Text(&text[text_from..]));
    Ok(pieces)
}

/// Every string of `document` (not its keys), in reading order: arrays in order, objects
/// by key in code-point order (sorted here, whatever order the map keeps).
fn strings<'a>(document: &'a Value, found: &mut Vec<&'a str>) {
    match document {
        Value::String(text) => found.push(text),
        Value::Array(items) => items.iter().for_each(|item| strings(item, found)),
        Value::Object(members) => {
            let mut members: Vec<(&String, &Value)> = members.iter().collect();
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            members
                .into_iter()
                .for_each(|(_, item)| strings(item, found));
        }
        _ => {}
    }
}

/// The distinct names referenced, in reading order.
fn names<'a>(parsed: impl Iterator<Item = &'a Piece<'a>>) -> Vec<SecretName> {
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    for piece in parsed {
        if let Piece::Reference(name) = piece {
            if seen.insert(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// The values of `names` (one batch read), or the first one's error in reading order.
async fn read_all(
    reader: &CachingReader,
    org_id: &OrgId,
    names: &[SecretName],
) -> Result<HashMap<SecretName, Secret>, ResolveError> {
    let mut answers = reader.get_many(org_id, names).await;
    let mut values = HashMap::with_capacity(names.len());
    for name in names {
        match answers.remove(name) {
            Some(Ok(secret)) => {
                values.insert(name.clone(), secret);
            }
            Some(Err(error)) => return Err(error.into()),
            None => unreachable!("get_many answers every name it is given"),
        }
    }
    Ok(values)
}

fn substitute(pieces: &[Piece<'_>], values: &HashMap<SecretName, Secret>) -> Zeroizing<String> {
    let text = |piece: &Piece<'_>| match piece {
        Piece::Text(text) => text.len(),
        Piece::Reference(name) => values[name].value().expose_secret().len(),
    };
    // The whole length up front: a buffer that grew would leave its old copies unwiped.
    let mut out = Zeroizing::new(String::with_capacity(pieces.iter().map(text).sum()));
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Reference(name) => out.push_str(values[name].value().expose_secret()),
        }
    }
    out
}

impl CachingReader {
    /// `text` with each `{{SECRET.name}}` / `{{secrets.name}}` replaced by the value, in one
    /// pass (a value is never itself resolved).
    pub async fn resolve(&self, org_id: &OrgId, text: &str) -> Result<SecretString, ResolveError> {
        let parsed = pieces(text)?;
        let values = read_all(self, org_id, &names(parsed.iter())).await?;
        let mut resolved = substitute(&parsed, &values);
        // The buffer moves into the SecretString (wiped on drop), not copied.
        Ok(SecretString::from(std::mem::take(&mut *resolved)))
    }

    /// `document` with the references in every string replaced: one batch read for all.
    pub async fn resolve_document(
        &self,
        org_id: &OrgId,
        document: &Value,
    ) -> Result<ResolvedDocument, ResolveError> {
        let mut texts = Vec::new();
        strings(document, &mut texts);
        let parsed = texts
            .iter()
            .map(|text| pieces(text).map(|pieces| (*text, pieces)))
            .collect::<Result<HashMap<&str, Vec<Piece<'_>>>, _>>()?;
        let values = read_all(
            self,
            org_id,
            &names(texts.iter().flat_map(|text| parsed[text].iter())),
        )
        .await?;
        Ok(ResolvedDocument(replace(document, &parsed, &values)))
    }
}

fn replace(
    document: &Value,
    parsed: &HashMap<&str, Vec<Piece<'_>>>,
    values: &HashMap<SecretName, Secret>,
) -> Value {
    match document {
        Value::String(text) => Value::String(std::mem::take(&mut *substitute(
            &parsed[text.as_str()],
            values,
        ))),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| replace(item, parsed, values))
                .collect(),
        ),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(key, item)| (key.clone(), replace(item, parsed, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}
