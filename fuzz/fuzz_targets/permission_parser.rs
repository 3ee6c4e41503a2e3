//! Any bytes as a permissions claim, as text (JWT) and as JSON (Lambda authorizer).
//! Nothing may panic, and no string containing no permission word may grant one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use org_secrets::auth::{highest_permission, ClaimValue};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let granted = highest_permission(ClaimValue::Text(text));
    if granted.is_some() {
        let upper = text.to_ascii_uppercase();
        assert!(
            ["ADMIN", "DELETE", "WRITE", "READ"].iter().any(|word| upper.contains(word)),
            "a permission was granted from a claim that names none"
        );
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = highest_permission(ClaimValue::Json(&value));
    }
});
