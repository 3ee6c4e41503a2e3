//! The Fernet specification's own test vectors (tests/data/fernet-spec, copied from
//! github.com/fernet/spec, see SOURCE.md there) through the crypto module.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use org_secrets::crypto::{Cipher, DecryptError, EncryptedValue};
use org_secrets::domain::SecretValue;
use secrecy::ExposeSecret;
use serde_json::Value;

fn vectors(file: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/data/fernet-spec/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("JSON")
}

/// `1985-10-26T01:20:00-07:00` -> Unix seconds (the vectors' only timestamp format).
fn unix_seconds(rfc3339: &str) -> u64 {
    let (date, rest) = rfc3339.split_once('T').unwrap();
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, d) = (
        ymd.next().unwrap(),
        ymd.next().unwrap(),
        ymd.next().unwrap(),
    );
    let (time, offset) = rest.split_at(8);
    let mut hms = time.split(':').map(|p| p.parse::<i64>().unwrap());
    let (hh, mm, ss) = (
        hms.next().unwrap(),
        hms.next().unwrap(),
        hms.next().unwrap(),
    );
    let offset_secs = if offset == "Z" {
        0
    } else {
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (oh, om) = offset[1..].split_once(':').unwrap();
        sign * (oh.parse::<i64>().unwrap() * 3600 + om.parse::<i64>().unwrap() * 60)
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss - offset_secs).unwrap()
}

fn ttl(case: &Value) -> Option<u64> {
    case["ttl_sec"].as_u64()
}

#[test]
fn timestamp_helper_matches_source_md() {
    assert_eq!(unix_seconds("1985-10-26T01:20:00-07:00"), 499_162_800);
    assert_eq!(unix_seconds("1985-10-26T01:21:31-07:00"), 499_162_891);
}

#[test]
fn verify_vectors_decrypt_to_their_source() {
    for case in vectors("verify.json") {
        let cipher = Cipher::from_key_list(case["secret"].as_str().unwrap()).unwrap();
        let token = EncryptedValue::from_stored(case["token"].as_str().unwrap().to_owned());
        let now = unix_seconds(case["now"].as_str().unwrap());
        let plaintext = cipher
            .decrypt_at(&token, now, ttl(&case))
            .expect("verify vector");
        assert_eq!(plaintext.expose_secret(), case["src"].as_str().unwrap());
    }
}

#[test]
fn generate_vectors_decrypt_and_our_tokens_have_the_same_layout() {
    for case in vectors("generate.json") {
        let cipher = Cipher::from_key_list(case["secret"].as_str().unwrap()).unwrap();
        let expected = EncryptedValue::from_stored(case["token"].as_str().unwrap().to_owned());
        let now = unix_seconds(case["now"].as_str().unwrap());
        let src = case["src"].as_str().unwrap();
        assert_eq!(
            cipher
                .decrypt_at(&expected, now, None)
                .unwrap()
                .expose_secret(),
            src
        );

        // The IV is random in production, so the token bytes differ; the layout may not.
        let ours = cipher.encrypt(&SecretValue::parse(src.to_owned(), 1024).unwrap());
        let ours_bytes = URL_SAFE.decode(ours.as_str()).unwrap();
        let expected_bytes = URL_SAFE.decode(expected.as_str()).unwrap();
        assert_eq!(ours_bytes.len(), expected_bytes.len());
        assert_eq!(ours_bytes[0], 0x80, "version byte");
        let iv = &ours_bytes[9..25];
        let spec_iv: Vec<u8> = case["iv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        assert_ne!(
            iv,
            spec_iv.as_slice(),
            "a fresh token must not reuse the vector's fixed IV"
        );
        assert_eq!(cipher.decrypt(&ours).unwrap().expose_secret(), src);
    }
}

#[test]
fn invalid_vectors_are_all_rejected() {
    let cases = vectors("invalid.json");
    assert_eq!(cases.len(), 8);
    for case in cases {
        let cipher = Cipher::from_key_list(case["secret"].as_str().unwrap()).unwrap();
        let token = EncryptedValue::from_stored(case["token"].as_str().unwrap().to_owned());
        let now = unix_seconds(case["now"].as_str().unwrap());
        let result = cipher.decrypt_at(&token, now, ttl(&case));
        assert_eq!(
            result.map(|_| ()),
            Err(DecryptError::NoKeyOpensToken),
            "{}",
            case["desc"]
        );
    }
}

#[test]
fn tokens_decrypt_with_the_key_list_in_either_order() {
    const KEY_A: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const KEY_B: &str = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=";
    let a_then_b = Cipher::from_key_list(&format!("{KEY_A},{KEY_B}")).unwrap();
    let b_then_a = Cipher::from_key_list(&format!("{KEY_B}, {KEY_A}\n")).unwrap();
    let token = a_then_b.encrypt(&SecretValue::parse("rotate-me".to_owned(), 64).unwrap());
    assert_eq!(
        b_then_a.decrypt(&token).unwrap().expose_secret(),
        "rotate-me"
    );
    assert_eq!(
        a_then_b.decrypt(&token).unwrap().expose_secret(),
        "rotate-me"
    );
    // The first key encrypted it: A alone opens it, B alone does not.
    assert!(Cipher::from_key_list(KEY_A)
        .unwrap()
        .decrypt(&token)
        .is_ok());
    assert!(Cipher::from_key_list(KEY_B)
        .unwrap()
        .decrypt(&token)
        .is_err());
    assert!(a_then_b.is_current(&token));
    assert!(!b_then_a.is_current(&token));
}
