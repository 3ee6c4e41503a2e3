//! Change events as a reader's cache uses them: which secret changed, and to what version.
//! The events are the publisher's (`docs/events/`); a reader needs three fields of them.

use serde_json::Value;

use crate::domain::{OrgId, SecretName};

/// The detail-types of a change of the live value; the expiry events change no live value.
const LIVE_CHANGES: [&str; 5] = [
    "Secret Created",
    "Secret Updated",
    "Secret Deleted",
    "Secret Restored",
    "Secret Previous Value Restored",
];

/// An event no cache can use: not an object, or without a valid `detail-type`,
/// `detail.organization`, `detail.name` or `detail.version`. Names the field, never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a change event: its {field} is missing or invalid")]
pub struct InvalidEvent {
    pub field: &'static str,
}

/// What a change event says to a cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeNotice {
    pub detail_type: String,
    pub org_id: OrgId,
    pub secret_name: SecretName,
    pub version: u64,
}

impl InvalidEvent {
    /// The contract's name for the error.
    pub fn kind(&self) -> &'static str {
        "invalid_event"
    }
}

impl ChangeNotice {
    /// From the EventBridge event (`detail-type` and `detail`), as a rule's target gets it.
    pub fn parse(event: &Value) -> Result<Self, InvalidEvent> {
        let invalid = |field| InvalidEvent { field };
        let detail_type = event
            .get("detail-type")
            .and_then(Value::as_str)
            .ok_or(invalid("detail-type"))?;
        let detail = event
            .get("detail")
            .filter(|detail| detail.is_object())
            .ok_or(invalid("detail"))?;
        let text = |field| detail.get(field).and_then(Value::as_str);
        let org_id = text("organization")
            .and_then(|raw| OrgId::parse(raw).ok())
            .ok_or(invalid("detail.organization"))?;
        let secret_name = text("name")
            .and_then(|raw| SecretName::parse(raw).ok())
            .ok_or(invalid("detail.name"))?;
        let version = detail
            .get("version")
            .and_then(Value::as_u64)
            .filter(|version| *version >= 1)
            .ok_or(invalid("detail.version"))?;
        Ok(Self {
            detail_type: detail_type.to_owned(),
            org_id,
            secret_name,
            version,
        })
    }

    /// Whether the event is a change of the live secret (not the end of a recovery window).
    pub fn changes_live_value(&self) -> bool {
        LIVE_CHANGES.contains(&self.detail_type.as_str())
    }
}
