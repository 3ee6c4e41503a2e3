//! The consumers are Python services using `cryptography`'s Fernet/MultiFernet: tokens must
//! cross in both directions. The interpreter is support::python (ORG_SECRETS_PYTHON, or the
//! project venv with a pinned `cryptography`).

use std::io::Write;
use std::process::{Command, Stdio};

use org_secrets::crypto::{Cipher, EncryptedValue};
use org_secrets::domain::SecretValue;
use secrecy::ExposeSecret;

use crate::support::{python as interpreter, KEY_A, KEY_B};

/// Runs `script` with `input` on stdin; returns stdout.
fn python(script: &str, input: &str) -> String {
    let mut child = Command::new(interpreter())
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

/// `ENCRYPTION_KEY` values through the function's configuration, through `cryptography` as
/// any Python consumer splits the list, and through the Python reader package. The rule: the function never accepts a value that Python
/// refuses (and what both accept means the same keys); a value Python accepts but the
/// function refuses gets an init error naming the variable and the entry, never the key.
#[test]
fn encryption_key_variants_agree_with_python() {
    use org_secrets::config::{cipher_from, ENCRYPTION_KEY};
    let standard_alphabet = KEY_A.replace('_', "/").replace('-', "+");
    let inner_space = format!("{} {}", &KEY_A[..20], &KEY_A[20..]);
    let inner_newline = format!("{}\n{}", &KEY_A[..20], &KEY_A[20..]);
    let trailing_bits = format!("{}5=", &KEY_A[..42]); // 'e4=' -> 'e5=': a spare bit set
    let non_ascii = format!("{}é{}", &KEY_A[..10], &KEY_A[11..]);
    let bang = format!("{}!{}", &KEY_A[..10], &KEY_A[10..]);
    let mid_padding = format!("{}={}", &KEY_A[..10], &KEY_A[10..]);
    let bytes_31 = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMQ==";
    let bytes_33 = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIz";
    let variants: Vec<(&str, String)> = vec![
        ("canonical", KEY_A.to_owned()),
        ("unpadded", KEY_A.trim_end_matches('=').to_owned()),
        ("over-padded ==", format!("{KEY_A}=")),
        ("over-padded ===", format!("{KEY_A}==")),
        ("standard alphabet", standard_alphabet),
        ("inner space", inner_space),
        ("inner newline", inner_newline),
        ("NBSP around", format!("\u{a0}{KEY_A}\u{a0}")),
        (
            "ideographic space around",
            format!("\u{3000}{KEY_A}\u{3000}"),
        ),
        ("line separator around", format!("\u{2028}{KEY_A}\u{2029}")),
        ("NEL around", format!("\u{85}{KEY_A}\u{85}")),
        (
            "information separators around",
            format!("\u{1c}{KEY_A}\u{1f}"),
        ),
        ("zero-width space around", format!("\u{200b}{KEY_A}")),
        ("tab and vertical tab around", format!("\t{KEY_A}\u{b}")),
        ("non-zero trailing bits", trailing_bits),
        ("31 bytes", bytes_31.to_owned()),
        ("33 bytes", bytes_33.to_owned()),
        ("empty", String::new()),
        ("only a comma", ",".to_owned()),
        ("trailing comma", format!("{KEY_A},")),
        ("leading empty entry", format!(" ,{KEY_A}")),
        ("double comma", format!("{KEY_A},,{KEY_B}")),
        ("two keys", format!("{KEY_A},{KEY_B}")),
        ("two keys spaced", format!("{KEY_A} , {KEY_B}\n")),
        ("duplicates", format!("{KEY_A},{KEY_A}")),
        ("newline at the end", format!("{KEY_A}\n")),
        ("CRLF at the end", format!("{KEY_A}\r\n")),
        ("non-ASCII character", non_ascii),
        ("a character outside base64", bang),
        ("padding in the middle", mid_padding),
        (
            "second entry unpadded",
            format!("{KEY_A},{}", KEY_B.trim_end_matches('=')),
        ),
    ];
    assert!(variants.len() >= 20);

    // Python: split on ',' and stripped, as the storage contract says, for each variant; "ok" plus a token of
    // "probe" under the list, or "refused".
    let script = "import sys, json\n\
         from cryptography.fernet import Fernet, MultiFernet\n\
         for value in json.loads(sys.stdin.read()):\n\
         \x20   try:\n\
         \x20       keys = MultiFernet([Fernet(k.strip()) for k in value.split(',')])\n\
         \x20       print('ok ' + keys.encrypt(b'probe').decode())\n\
         \x20   except Exception:\n\
         \x20       print('refused')\n";
    let input =
        serde_json::to_string(&variants.iter().map(|(_, v)| v).collect::<Vec<_>>()).unwrap();
    let output = python(script, &input);
    let python_answers: Vec<&str> = output.lines().collect();
    assert_eq!(python_answers.len(), variants.len());

    let mut both_accept = 0;
    let mut we_are_stricter = 0;
    for ((label, value), python_answer) in variants.iter().zip(python_answers) {
        let rust = cipher_from(&|name: &str| (name == ENCRYPTION_KEY).then(|| value.clone()));
        match (rust, python_answer.strip_prefix("ok ")) {
            (Ok(cipher), Some(python_token)) => {
                both_accept += 1;
                // The same keys: each side opens the other's token.
                let opened = cipher
                    .decrypt(&EncryptedValue::from_stored(python_token.to_owned()))
                    .unwrap_or_else(|e| panic!("{label}: Python's token: {e}"));
                assert_eq!(opened.expose_secret(), "probe", "{label}");
                // And in the same order: Python's first key is our encrypting key.
                let token = EncryptedValue::from_stored(python_token.to_owned());
                assert!(cipher.is_current(&token), "{label}: key order differs");
            }
            (Ok(_), None) => panic!("{label}: the function accepts a key list Python refuses"),
            (Err(err), python) => {
                let message = err.to_string();
                assert!(message.contains(ENCRYPTION_KEY), "{label}: {message}");
                for key in [KEY_A, KEY_B] {
                    assert!(
                        !message.contains(&key[..12]),
                        "{label} leaks the key: {message}"
                    );
                }
                if python.is_some() {
                    we_are_stricter += 1;
                    // Refusing what Python accepts needs a reason and the entry's place.
                    assert!(message.contains("entry "), "{label}: {message}");
                    assert!(
                        message.len() > "ENCRYPTION_KEY is invalid: entry 1 of 1".len() + 10,
                        "{label}: {message}"
                    );
                }
            }
        }
    }
    // The table covers both sides of the rule.
    assert!(both_accept >= 8, "{both_accept}");
    assert!(we_are_stricter >= 4, "{we_are_stricter}");

    // The Python reader package accepts exactly the lists the function accepts.
    let script = "import sys, json\n\
         from org_secrets_reader.crypto import parse_key_list\n\
         for value in json.loads(sys.stdin.read()):\n\
         \x20   try:\n\
         \x20       print(len(parse_key_list(value)))\n\
         \x20   except ValueError:\n\
         \x20       print('refused')\n";
    let output = python(script, &input);
    for ((label, value), package) in variants.iter().zip(output.lines()) {
        let rust = cipher_from(&|name: &str| (name == ENCRYPTION_KEY).then(|| value.clone()))
            .map(|cipher| cipher.key_count().to_string())
            .unwrap_or_else(|_| "refused".to_owned());
        assert_eq!(
            package, rust,
            "{label}: the Python reader and the function differ"
        );
    }
}
