//! Any bytes as a create/update body, path segment or Idempotency-Key. Nothing may panic,
//! and whatever parses must hold the domain's invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use org_secrets::api::body::{
    parse_create_body, parse_idempotency_key, parse_path_name, parse_update_body, require_json,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse_create_body(data, 64) {
        let name = request.name.as_str();
        assert!(!name.is_empty() && name.chars().count() <= 100);
        assert!(!name.chars().any(char::is_control));
        assert!(request.value.len_bytes() >= 1 && request.value.len_bytes() <= 64);
        if let Some(description) = &request.description {
            assert_description(description.as_str());
        }
    }
    if let Ok(request) = parse_update_body(data, 64) {
        assert!(request.value.len_bytes() >= 1 && request.value.len_bytes() <= 64);
        if let org_secrets::domain::DescriptionChange::Set(description) = &request.description {
            assert_description(description.as_str());
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(name) = parse_path_name(text) {
            assert!(name.as_str().chars().count() <= 100);
        }
    }
    if let Ok(Some(key)) = parse_idempotency_key(Some(data)) {
        assert!(key.as_str().bytes().all(|b| b.is_ascii_graphic()));
    }
    let _ = require_json(Some(data));
});

fn assert_description(text: &str) {
    assert!(!text.is_empty() && text.chars().count() <= 2048);
    assert!(!text.chars().any(|c| c.is_control() && c != '\t' && c != '\n'));
}
