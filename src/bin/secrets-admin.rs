//! Operator commands that are not part of the Lambda.
//!
//!   secrets-admin generate-key     print a new Fernet key (for ENCRYPTION_KEY)
//!   secrets-admin create-table     create SECRETS_TABLE_NAME if missing (local development)

use std::process::ExitCode;

use org_secrets::config::{TableName, SECRETS_TABLE_NAME};
use org_secrets::crypto::Cipher;
use org_secrets::storage::{create_table_if_missing, dynamodb_client, StoreSettings};
use secrecy::ExposeSecret;

const USAGE: &str = "usage: secrets-admin generate-key | create-table";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    match command.as_deref() {
        Some("generate-key") => {
            println!("{}", Cipher::generate_key().expose_secret());
            ExitCode::SUCCESS
        }
        Some("create-table") => create_table().await,
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
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
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = dynamodb_client(&sdk_config, &StoreSettings::default());
    match create_table_if_missing(&client, &table).await {
        Ok(true) => {
            println!("created table {table}");
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
