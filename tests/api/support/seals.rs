//! Change records' seals as storage-contract.md describes them, built by hand: what a
//! writer around the function (or an aged record) would put in the table.

/// The Fernet key that seals change records under the Fernet key `key`, derived as
/// `storage-contract.md` describes (HKDF-SHA256, `info = "org-secrets/change-record-seal/v1"`).
pub fn seal_fernet(key: &str) -> fernet::Fernet {
    use base64::Engine;
    let ikm = base64::engine::general_purpose::URL_SAFE
        .decode(key)
        .unwrap();
    let mut derived = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(None, &ikm)
        .expand(b"org-secrets/change-record-seal/v1", &mut derived)
        .unwrap();
    fernet::Fernet::new(&base64::engine::general_purpose::URL_SAFE.encode(derived)).unwrap()
}

/// How a record names an actor with the subject `subject`.
pub fn sealed_actor(subject: &str) -> String {
    format!("subject:{subject}")
}

/// The facts the record of a delete identified by its request id seals, encoded as
/// `storage-contract.md` describes them (a delete seals no digest, so every byte is known).
pub fn sealed_delete_facts(
    org: &str,
    request_id: &str,
    actor: &str,
    name: &str,
    at: i64,
) -> Vec<u8> {
    let at = at.to_string();
    let mut out = b"org-secrets/change-record/v1".to_vec();
    for field in [
        org.as_bytes(),
        b"request",
        request_id.as_bytes(),
        actor.as_bytes(),
        b"delete",
        name.as_bytes(),
        at.as_bytes(),
        b"",
        request_id.as_bytes(),
    ] {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

/// The facts of [`sealed_delete_facts`] with the version the delete made: the tenth field.
pub fn sealed_versioned_delete_facts(
    org: &str,
    request_id: &str,
    actor: &str,
    name: &str,
    at: i64,
    version: u64,
) -> Vec<u8> {
    let mut out = sealed_delete_facts(org, request_id, actor, name, at);
    let version = version.to_string();
    out.extend_from_slice(&(version.len() as u32).to_be_bytes());
    out.extend_from_slice(version.as_bytes());
    out
}
