//! Operator commands that are not part of the Lambda.
//!
//!   secrets-admin generate-key
//!       print a new Fernet key (for ENCRYPTION_KEY)
//!   secrets-admin create-table
//!       create SECRETS_TABLE_NAME if missing (local development), marked bound
//!   secrets-admin rotate-keys [--dry-run] [--limit N]
//!       re-encrypt every item whose token does not open under the first key of
//!       ENCRYPTION_KEY (recovery copies included), re-binding it; safe to interrupt
//!       and rerun
//!   secrets-admin verify
//!       report every item whose token no key opens, whose binding to its organization
//!       and name is missing or does not verify, or whose token or binding is not a
//!       string, and a table not marked bound; exit status 1 if any, 3 if the scan
//!       itself fails
//!   secrets-admin bind [--dry-run]
//!       once per table (after upgrading, or after the first deploy): bind the items
//!       written before bindings existed and mark the table bound; resumable, never
//!       replaces a binding, and refuses to run on a table marked bound
//!
//! AWS access comes from the standard configuration chain; verify needs dynamodb:Scan and
//! GetItem, rotate-keys also UpdateItem, bind also UpdateItem and PutItem on the table.

use std::process::ExitCode;

use org_secrets::config::{Config, TableName, SECRETS_TABLE_NAME};
use org_secrets::crypto::Cipher;
use org_secrets::integrity::{bind_table, verify_table, BindOptions, BindOutcome};
use org_secrets::rotation::{rotate_keys, ItemEvent, RotationOptions};
use org_secrets::storage::SecretStore;
use secrecy::ExposeSecret;

const USAGE: &str = "usage: secrets-admin generate-key | create-table | rotate-keys [--dry-run] [--limit N] | verify | bind [--dry-run]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("generate-key") if args.len() == 1 => {
            println!("{}", Cipher::generate_key().expose_secret());
            ExitCode::SUCCESS
        }
        Some("create-table") if args.len() == 1 => create_table().await,
        Some("rotate-keys") => match parse_rotation_options(&args[1..]) {
            Some(options) => rotate(options).await,
            None => usage(),
        },
        Some("verify") if args.len() == 1 => verify().await,
        Some("bind") => match &args[1..] {
            [] => bind(BindOptions::default()).await,
            [flag] if flag == "--dry-run" => {
                bind(BindOptions {
                    dry_run: true,
                    ..BindOptions::default()
                })
                .await
            }
            _ => usage(),
        },
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn parse_rotation_options(args: &[String]) -> Option<RotationOptions> {
    let mut options = RotationOptions::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dry-run" => options.dry_run = true,
            "--limit" => options.limit = Some(args.next()?.parse().ok().filter(|n| *n > 0)?),
            _ => return None,
        }
    }
    Some(options)
}

async fn create_table() -> ExitCode {
    let Some(raw) = std::env::var(SECRETS_TABLE_NAME).ok() else {
        eprintln!("secrets-admin: {SECRETS_TABLE_NAME} is not set");
        return ExitCode::from(2);
    };
    let table = match TableName::parse(&raw) {
        Ok(table) => table,
        Err(reason) => {
            eprintln!("secrets-admin: {SECRETS_TABLE_NAME} is invalid: {reason}");
            return ExitCode::from(2);
        }
    };
    let store = SecretStore::connect(table.clone()).await;
    match store.create_table_if_missing().await {
        Ok(true) => {
            println!("created table {table}, marked bound (every item it will hold is bound)");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("table {table} exists");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("secrets-admin: could not create table {table}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn dry_run_note(dry_run: bool) -> &'static str {
    if dry_run {
        " (dry run: nothing is written)"
    } else {
        ""
    }
}

/// The same variables, with the same never-print-the-value errors, as the function.
fn config_or_exit() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|err| {
        eprintln!("secrets-admin: {err}");
        ExitCode::from(2)
    })
}

async fn verify() -> ExitCode {
    let config = match config_or_exit() {
        Ok(config) => config,
        Err(code) => return code,
    };
    println!(
        "verify: table {}, {} key(s)",
        config.table_name,
        config.cipher.key_count()
    );
    let store = SecretStore::connect(config.table_name.clone()).await;
    let result = verify_table(&store, &config.cipher, 100, |item, problem| {
        println!("verify: {item}: {problem}");
    })
    .await;
    match result {
        Ok(summary) => {
            if let Some(finding) = summary.unmarked_finding() {
                println!("verify: table {}: {finding}", config.table_name);
            }
            if summary.problems() == 0 {
                println!("verify: ok: {summary}");
                ExitCode::SUCCESS
            } else {
                println!("verify: PROBLEMS: {summary}");
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("verify: scan failed: {err}");
            ExitCode::from(3)
        }
    }
}

async fn bind(options: BindOptions) -> ExitCode {
    let config = match config_or_exit() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let mode = dry_run_note(options.dry_run);
    let table = &config.table_name;
    let store = SecretStore::connect(table.clone()).await;
    let result = bind_table(&store, &config.cipher, options, |item, problem| {
        println!("bind: left unbound {item}: {problem}");
    })
    .await;
    match result {
        Ok(BindOutcome::Refused(marker)) => {
            println!(
                "bind: refused: table {table} is {marker}, so nothing was bound: \
                 every item had a binding then, and an item without one now had it stripped or \
                 was written around the function; `secrets-admin verify` names each"
            );
            ExitCode::FAILURE
        }
        // A dry run exits as the run would: 1 when the run would leave the table unmarked.
        Ok(BindOutcome::Done(summary)) if options.dry_run => {
            let (then, code) = if summary.complete() {
                ("a run would mark the table bound", ExitCode::SUCCESS)
            } else {
                (
                    "a run would leave the table unmarked (see above)",
                    ExitCode::FAILURE,
                )
            };
            println!("bind: done{mode}: {summary}; {then}");
            code
        }
        Ok(BindOutcome::Done(summary)) if summary.marked => {
            println!("bind: done: {summary}; table {table} marked bound");
            ExitCode::SUCCESS
        }
        Ok(BindOutcome::Done(summary)) => {
            let todo = if summary.failed > 0 {
                "deal with each item left unbound above, then rerun"
            } else {
                "items changed while it ran: rerun"
            };
            println!("bind: done: {summary}; table {table} NOT marked bound: {todo}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("bind: scan failed: {err}; rerun to resume (bound items are skipped)");
            ExitCode::FAILURE
        }
    }
}

async fn rotate(options: RotationOptions) -> ExitCode {
    let config = match config_or_exit() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let mode = dry_run_note(options.dry_run);
    println!(
        "rotate-keys: table {}, {} key(s); re-encrypting under the first{mode}",
        config.table_name,
        config.cipher.key_count()
    );
    let store = SecretStore::connect(config.table_name.clone()).await;
    let result = rotate_keys(&store, &config.cipher, options, |event| match event {
        ItemEvent::Failed { item, reason } => eprintln!("rotate-keys: failed {item}: {reason}"),
        ItemEvent::PageDone(progress) => println!("rotate-keys: progress: {progress}"),
    })
    .await;
    match result {
        Ok(summary) => {
            let state = if summary.stopped_early {
                "stopped at --limit; run again to continue"
            } else {
                "done"
            };
            println!("rotate-keys: {state}{mode}: {summary}");
            if summary.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!(
                "rotate-keys: scan failed: {err}; rerun to resume (rotated items are skipped)"
            );
            ExitCode::FAILURE
        }
    }
}
