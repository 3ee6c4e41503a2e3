//! The consumers are Python services using `cryptography`'s Fernet/MultiFernet: tokens must
//! cross in both directions. `make test` provides the interpreter (ORG_SECRETS_PYTHON, a
//! venv with a pinned `cryptography`).

use std::io::Write;
use std::process::{Command, Stdio};

use org_secrets::crypto::{Cipher, EncryptedValue};
use org_secrets::domain::SecretValue;
use secrecy::ExposeSecret;

const KEY_A: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
const KEY_B: &str = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=";

/// Runs `script` with `input` on stdin; returns stdout.
fn python(script: &str, input: &str) -> String {
    let interpreter = std::env::var("ORG_SECRETS_PYTHON")
        .expect("ORG_SECRETS_PYTHON is not set: run the tests with `make test`");
    let mut child = Command::new(interpreter)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn python_multifernet_decrypts_our_tokens_with_either_key_order() {
    let value = "sk_live_ünï:cødé/🔑";
    let cipher = Cipher::from_key_list(&format!("{KEY_A},{KEY_B}")).unwrap();
    let token = cipher.encrypt(&SecretValue::parse(value.to_owned(), 1024).unwrap());
    let script = format!(
        "import sys\nfrom cryptography.fernet import Fernet, MultiFernet\n\
         token = sys.stdin.read().strip().encode()\n\
         for keys in (['{KEY_A}', '{KEY_B}'], ['{KEY_B}', '{KEY_A}'], ['{KEY_A}']):\n\
         \x20   out = MultiFernet([Fernet(k) for k in keys]).decrypt(token)\n\
         \x20   sys.stdout.write(out.decode('utf-8') + '\\n')\n"
    );
    let output = python(&script, token.as_str());
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines, [value, value, value]);
}

#[test]
fn we_decrypt_python_tokens() {
    let script = format!(
        "import sys\nfrom cryptography.fernet import Fernet\n\
         sys.stdout.write(Fernet('{KEY_B}').encrypt(sys.stdin.read().encode('utf-8')).decode())\n"
    );
    let token = python(&script, "from-python-ä");
    let cipher = Cipher::from_key_list(&format!("{KEY_A},{KEY_B}")).unwrap();
    let plaintext = cipher.decrypt(&EncryptedValue::from_stored(token)).unwrap();
    assert_eq!(plaintext.expose_secret(), "from-python-ä");
}
