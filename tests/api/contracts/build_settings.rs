//! Build settings that must hold in every built artifact, checked on the artifact itself.
//!
//! aws-lc is built without its CPU-jitter entropy source (`.cargo/config.toml`; why:
//! SECURITY.md, "Randomness and TLS start-up"). `scripts/check-entropy-build.py` reads a
//! built binary and fails when the jitter source is linked in. Here it checks the
//! `bootstrap` this very `cargo test` built (the `cargo build` path); `make build` runs it on
//! bootstrap.zip (cargo lambda), `make sam-local-test` on `sam build`'s output and
//! `make bench-cold` on the release binary. Nothing here measures time.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::project_path;

fn check(artifact: &Path) -> Output {
    Command::new("python3")
        .arg(project_path("scripts/check-entropy-build.py"))
        .arg(artifact)
        .output()
        .expect("run python3 scripts/check-entropy-build.py")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_bootstrap_cargo_built_has_aws_lc_without_jitter_entropy() {
    let output = check(Path::new(env!("CARGO_BIN_EXE_bootstrap")));
    assert!(
        output.status.success(),
        "this build of bootstrap lost AWS_LC_SYS_NO_JITTER_ENTROPY (.cargo/config.toml):\n{}",
        describe(&output)
    );
}

/// The check can fail: on bytes shaped like a build with the jitter source, and on bytes that
/// are not an aws-lc build at all (where "no jitter tables" would prove nothing).
#[test]
fn the_entropy_check_fails_on_a_jitter_build_and_on_a_non_aws_lc_binary() {
    // jent_lag_global_cutoff_lookup, as aws-lc's copy of jitterentropy-health.c has it.
    let table: [u32; 20] = [
        66443, 93504, 104761, 110875, 114707, 117330, 119237, 120686, 121823, 122739, 123493,
        124124, 124660, 125120, 125520, 125871, 126181, 126457, 126704, 126926,
    ];
    let table: Vec<u8> = table.iter().flat_map(|n| n.to_le_bytes()).collect();
    let aws_lc = b"RNDGETENTCNT on /dev/urandom indicates that the entropy pool".as_slice();
    let elf = b"\x7fELF\x02\x01\x01\0".as_slice();

    let dir =
        std::env::temp_dir().join(format!("org-secrets-entropy-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases: [(&str, Vec<u8>, bool, &str); 3] = [
        (
            "without-jitter",
            [elf, b"..", aws_lc, b".."].concat(),
            true,
            "ok",
        ),
        (
            "with-jitter",
            [elf, aws_lc, b"....", &table, b".."].concat(),
            false,
            "jitter entropy source is linked in",
        ),
        (
            "not-aws-lc",
            [elf, b"ring", &[0; 64]].concat(),
            false,
            "not an aws-lc build",
        ),
    ];
    for (name, bytes, passes, says) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write the sample");
        let output = check(&path);
        assert_eq!(
            output.status.success(),
            passes,
            "{name}: {}",
            describe(&output)
        );
        assert!(
            describe(&output).contains(says),
            "{name}: {}",
            describe(&output)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
