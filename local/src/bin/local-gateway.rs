//! `make run`: serves the API on loopback through a local API Gateway (HTTP API) in front of
//! the real `bootstrap`, which runs as a child process against a local Lambda Runtime API.
//!
//! usage: local-gateway --bootstrap PATH --identities FILE [--listen 127.0.0.1:3000]

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use org_secrets_local::gateway::{http_api_event, http_response_from_lambda, DevAuthorizer};
use org_secrets_local::http::{serve_connection, HttpRequest, HttpResponse};
use org_secrets_local::runtime_api::{Invocation, InvokeError, RuntimeApi};

const USAGE: &str =
    "usage: local-gateway --bootstrap PATH --identities FILE [--listen 127.0.0.1:3000]";
/// API Gateway's own integration timeout is 30 s; the function's is 10 s.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(15);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("local-gateway: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut bootstrap = None;
    let mut identities = None;
    let mut listen = "127.0.0.1:3000".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bootstrap" => bootstrap = args.next(),
            "--identities" => identities = args.next(),
            "--listen" => listen = args.next().ok_or(USAGE)?,
            _ => return Err(USAGE.to_owned()),
        }
    }
    let bootstrap = bootstrap.ok_or(USAGE)?;
    let identities = identities.ok_or(USAGE)?;

    let listen: SocketAddr = listen
        .parse()
        .map_err(|_| format!("--listen: not an address: {listen}"))?;
    // A dev authorizer that trusts a checked-in file must never be reachable from elsewhere.
    if !is_loopback(listen.ip()) {
        return Err(format!(
            "refusing to listen on {listen}: loopback addresses only"
        ));
    }
    let text = std::fs::read_to_string(&identities).map_err(|e| format!("{identities}: {e}"))?;
    let authorizer = Arc::new(DevAuthorizer::from_json(&text)?);

    let runtime = RuntimeApi::start().map_err(|e| format!("runtime API: {e}"))?;
    let mut child = Command::new(&bootstrap)
        .envs(runtime.lambda_environment())
        .spawn()
        .map_err(|e| format!("cannot start {bootstrap}: {e}"))?;

    let listener =
        TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    eprintln!("local-gateway: serving http://{listen} -> {bootstrap} (HTTP API payload 2.0, stage $default)");
    for (token, claims) in authorizer.tokens() {
        let org = claims.get("org_id").and_then(|v| v.as_str()).unwrap_or("?");
        let permissions = claims
            .get("permissions")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        eprintln!("local-gateway:   Authorization: Bearer {token}   (org {org}, permissions {permissions})");
    }

    let accept_runtime = runtime.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let runtime = accept_runtime.clone();
            let authorizer = Arc::clone(&authorizer);
            thread::spawn(move || {
                serve_connection(stream, |req| forward(&runtime, &authorizer, req))
            });
        }
    });

    // The gateway lives as long as the function does.
    let status = child
        .wait()
        .map_err(|e| format!("waiting for bootstrap: {e}"))?;
    Err(format!("bootstrap exited ({status}); see its log above"))
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

fn forward(runtime: &RuntimeApi, authorizer: &DevAuthorizer, request: HttpRequest) -> HttpResponse {
    let claims = authorizer.claims_for(request.header("authorization"));
    let event = http_api_event(&request, claims);
    match runtime.invoke(event.to_string().as_bytes(), INVOKE_TIMEOUT) {
        Ok(Invocation::Response(payload)) => http_response_from_lambda(&payload),
        // API Gateway answers a function error or timeout with these, not with the error body.
        Ok(Invocation::Error(_)) => {
            HttpResponse::json(502, r#"{"message":"Internal Server Error"}"#)
        }
        Err(InvokeError::Timeout) => {
            HttpResponse::json(504, r#"{"message":"Endpoint request timed out"}"#)
        }
        Err(InvokeError::InitFailed(_)) => {
            HttpResponse::json(502, r#"{"message":"Internal Server Error"}"#)
        }
    }
}
