//! What the tests need outside this process: DynamoDB Local and the Python venv.
//!
//! `make test` (scripts/test.sh) starts both and passes them in (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `ORG_SECRETS_PYTHON`); the tests then use those. Without them (plain `cargo test`), the
//! first test that needs one prepares it through the project's own scripts, once per test
//! binary: DynamoDB Local in memory on a free loopback port
//! (`scripts/dynamodb-local.sh start-for`, whose watchdog stops it when this process exits,
//! however it exits), and `.local/venv` (`scripts/python-env.sh`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::project_path;

/// A variable that is set and not blank (a blank endpoint counts as unset, as in the function).
fn given(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// DynamoDB Local's endpoint: the one `make test` started, or one started for this process.
/// If it cannot be started, every test that needs it fails with the reason.
pub fn dynamodb_endpoint() -> String {
    static ENDPOINT: OnceLock<Result<String, String>> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| given("AWS_ENDPOINT_URL_DYNAMODB").map_or_else(start_dynamodb_local, Ok))
        .clone()
        .unwrap_or_else(|reason| panic!("DynamoDB Local is not available: {reason}"))
}

fn start_dynamodb_local() -> Result<String, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("no free loopback port: {e}"))?
        .port();
    run_script(
        "scripts/dynamodb-local.sh",
        &[
            "start-for",
            &std::process::id().to_string(),
            &port.to_string(),
        ],
    )?;
    Ok(format!("http://127.0.0.1:{port}"))
}

/// The environment a child process that uses the AWS SDK's default configuration (e.g.
/// `secrets-admin`) needs to reach DynamoDB Local: scripts/local-aws-env.sh's variables.
pub fn local_aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "local".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

/// The Python interpreter with the pinned `cryptography` (interop tests): `ORG_SECRETS_PYTHON`,
/// or `.local/venv`'s, made or brought up to date by scripts/python-env.sh.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| match given("ORG_SECRETS_PYTHON") {
            Some(python) => Ok(PathBuf::from(python)),
            None => run_script("scripts/python-env.sh", &[])
                .map(|()| project_path(".local/venv/bin/python")),
        })
        .clone()
        .unwrap_or_else(|reason| panic!("the Python venv is not available: {reason}"))
}

/// Runs one of the project's scripts to completion. Its messages (e.g. a first download)
/// go to this process's stderr as they come.
fn run_script(script: &str, args: &[&str]) -> Result<(), String> {
    let status = Command::new(project_path(script))
        .args(args)
        .current_dir(project_path(""))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("{script}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{script} {}` failed ({status}); its messages are above",
            args.join(" ")
        ))
    }
}
