//! `make bench-cold`: the release `bootstrap` as Lambda runs it (a process polling a Runtime
//! API) against DynamoDB Local, measured from outside, once per endpoint (plain HTTP, and
//! TLS through a terminator in front of the same DynamoDB Local):
//!
//! - init: spawn -> first `GET /next` (includes the DynamoDB warm-up call, so over TLS the
//!   handshake and everything the TLS stack does on first use);
//! - init CPU: the function's on-CPU time until then (its own work, without the waits for
//!   DynamoDB Local or the TLS terminator; Lambda gives a small function a fraction of a
//!   core, so this is the part that grows there);
//! - first invoke: the first create's round trip through the Runtime API;
//! - warm p50/p99 over N creates in one environment;
//! - peak RSS (`VmHWM`) after 100 and after N invokes.
//!
//! DynamoDB Local (a JVM) is warmed up first with creates that are not counted. The cold
//! starts of the endpoints are interleaved (HTTP, TLS, HTTP, TLS, ...), and so are the warm
//! invokes, so a change in the machine's or the emulator's speed during the run falls on
//! both alike. Each endpoint's figures are also printed as the difference to the first
//! endpoint run by the same bootstrap (TLS minus HTTP). Prints figures; asserts nothing
//! about time.
//!
//! usage: bench-cold --bootstrap PATH [--endpoint LABEL=URL]... [--spawns 21] [--invokes 1000]
//! The function's environment (ENCRYPTION_KEY, SECRETS_TABLE_NAME, AWS_*, SSL_CERT_FILE) is
//! inherited; `--endpoint` sets AWS_ENDPOINT_URL_DYNAMODB for that endpoint's functions,
//! which run the `--bootstrap` given last before it (so two builds can be compared in one
//! run: `--bootstrap OLD --endpoint tls-before=URL --bootstrap NEW --endpoint tls=URL`).
//! Without `--endpoint`, the inherited endpoint is used and labelled "inherited".

use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use org_secrets_local::runtime_api::{Invocation, RuntimeApi};
use serde_json::Value;

const EVENT: &str = include_str!("../../../events/http-api-jwt-admin-create.json");
const TIMEOUT: Duration = Duration::from_secs(30);
/// Creates through each endpoint before anything is measured (not counted).
const PRIMING_CREATES: usize = 200;

struct Endpoint {
    label: String,
    bootstrap: String,
    /// `None`: the inherited AWS_ENDPOINT_URL_DYNAMODB.
    url: Option<String>,
}

struct Function {
    runtime: RuntimeApi,
    child: Child,
    spawned: Instant,
}

impl Function {
    fn spawn(endpoint: &Endpoint) -> Result<Self, String> {
        let bootstrap = &endpoint.bootstrap;
        let runtime = RuntimeApi::start().map_err(|e| format!("runtime API: {e}"))?;
        let mut command = Command::new(bootstrap);
        command
            .envs(runtime.lambda_environment())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = &endpoint.url {
            command.env("AWS_ENDPOINT_URL_DYNAMODB", url);
        }
        let spawned = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("spawn {bootstrap}: {e}"))?;
        Ok(Self {
            runtime,
            child,
            spawned,
        })
    }

    fn init(&self) -> Result<Duration, String> {
        let polled = self
            .runtime
            .wait_for_first_poll(TIMEOUT)
            .ok_or("the function never polled for an event")?;
        Ok(polled.duration_since(self.spawned))
    }

    fn create(&self, run: &str, n: usize) -> Result<Duration, String> {
        let mut event: Value = serde_json::from_str(EVENT).map_err(|e| e.to_string())?;
        let name = format!("bench_{run}_{n}");
        event["body"] = Value::String(
            serde_json::json!({ "secret_name": name, "secret_value": "sk_test_bench_value_0123456789" })
                .to_string(),
        );
        event["requestContext"]["requestId"] = Value::String(format!("bench-{run}-{n}"));
        // Each environment writes into an organization of its own, so no run comes near
        // MAX_SECRETS_PER_ORG (the script also raises it to its ceiling for long runs).
        event["requestContext"]["authorizer"]["jwt"]["claims"]["org_id"] =
            Value::String(format!("bench_{run}"));
        let payload = event.to_string();
        let started = Instant::now();
        let answer = self
            .runtime
            .invoke(payload.as_bytes(), TIMEOUT)
            .map_err(|e| format!("invoke: {e:?}"))?;
        let elapsed = started.elapsed();
        match answer {
            Invocation::Response(body)
                if String::from_utf8_lossy(&body).contains("\"statusCode\":201") =>
            {
                Ok(elapsed)
            }
            other => Err(format!("unexpected answer: {other:?}")),
        }
    }

    /// The time the function's threads have spent on a CPU so far (`/proc/PID/task/*/schedstat`,
    /// nanoseconds): what init costs in CPU, which Lambda rations by memory size.
    fn cpu(&self) -> Result<Duration, String> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id()))
            .map_err(|e| e.to_string())?;
        let mut total = Duration::ZERO;
        for task in tasks {
            let path = task.map_err(|e| e.to_string())?.path().join("schedstat");
            // A thread that ended in between has no file any more; its time is lost.
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let nanos: u64 = text
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or(format!("{}: no on-CPU time", path.display()))?;
            total += Duration::from_nanos(nanos);
        }
        Ok(total)
    }

    /// (VmHWM, VmRSS) in KiB.
    fn memory(&self) -> Result<(u64, u64), String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .map_err(|e| e.to_string())?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse().ok())
                .ok_or(format!("{name} missing"))
        };
        Ok((field("VmHWM:")?, field("VmRSS:")?))
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One endpoint's figures.
#[derive(Default)]
struct Figures {
    inits: Vec<Duration>,
    /// On-CPU time of the function until its first poll.
    init_cpus: Vec<Duration>,
    firsts: Vec<Duration>,
    /// init + first invoke of the same cold start.
    cold_totals: Vec<Duration>,
    /// Warm invokes, the environment's first request left out.
    steady: Vec<Duration>,
    /// (VmHWM, VmRSS) in KiB after 100 invokes and after all of them.
    at_100: (u64, u64),
    at_end: (u64, u64),
}

impl Figures {
    fn sort(&mut self) {
        self.inits.sort();
        self.init_cpus.sort();
        self.firsts.sort();
        self.cold_totals.sort();
        self.steady.sort();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn p50(sorted: &[Duration]) -> Duration {
    percentile(sorted, 0.5)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `b - a` in milliseconds, signed.
fn delta(a: Duration, b: Duration) -> String {
    format!("{:+.2} ms", (b.as_secs_f64() - a.as_secs_f64()) * 1000.0)
}

fn print_figures(endpoint: &Endpoint, f: &Figures, invokes: usize) {
    let url = endpoint
        .url
        .as_deref()
        .unwrap_or("AWS_ENDPOINT_URL_DYNAMODB as inherited");
    println!("== {} ({url}; {})", endpoint.label, endpoint.bootstrap);
    println!(
        "init (spawn -> first /next):   p50 {}   min {}   max {}",
        ms(p50(&f.inits)),
        ms(f.inits[0]),
        ms(f.inits[f.inits.len() - 1])
    );
    println!(
        "init CPU (on-CPU until /next): p50 {}   min {}   max {}",
        ms(p50(&f.init_cpus)),
        ms(f.init_cpus[0]),
        ms(f.init_cpus[f.init_cpus.len() - 1])
    );
    println!(
        "first invoke (create):         p50 {}   min {}   max {}",
        ms(p50(&f.firsts)),
        ms(f.firsts[0]),
        ms(f.firsts[f.firsts.len() - 1])
    );
    println!(
        "init + first invoke:           p50 {}   min {}   max {}",
        ms(p50(&f.cold_totals)),
        ms(f.cold_totals[0]),
        ms(f.cold_totals[f.cold_totals.len() - 1])
    );
    println!(
        "warm invoke (create):          p50 {}   p99 {}   max {}",
        ms(p50(&f.steady)),
        ms(percentile(&f.steady, 0.99)),
        ms(f.steady[f.steady.len() - 1])
    );
    println!(
        "peak RSS (VmHWM):              after 100: {} KiB   after {invokes}: {} KiB",
        f.at_100.0, f.at_end.0
    );
    println!(
        "resident (VmRSS):              after 100: {} KiB   after {invokes}: {} KiB",
        f.at_100.1, f.at_end.1
    );
}

fn print_difference(base: (&Endpoint, &Figures), other: (&Endpoint, &Figures)) {
    let ((a_label, a), (b_label, b)) = ((&base.0.label, base.1), (&other.0.label, other.1));
    println!("== {b_label} minus {a_label}");
    println!(
        "init p50 {}   init CPU p50 {}   first invoke p50 {}   init + first p50 {}   warm p50 {}   warm p99 {}   VmHWM {:+} KiB",
        delta(p50(&a.inits), p50(&b.inits)),
        delta(p50(&a.init_cpus), p50(&b.init_cpus)),
        delta(p50(&a.firsts), p50(&b.firsts)),
        delta(p50(&a.cold_totals), p50(&b.cold_totals)),
        delta(p50(&a.steady), p50(&b.steady)),
        delta(percentile(&a.steady, 0.99), percentile(&b.steady, 0.99)),
        b.at_end.0 as i64 - a.at_end.0 as i64,
    );
}

fn print_table(results: &[(Endpoint, Figures)]) {
    println!("| endpoint | init p50 | init CPU p50 | first invoke p50 | init + first p50 | warm p50 | warm p99 | VmHWM |");
    println!("|---|---|---|---|---|---|---|---|");
    for (endpoint, f) in results {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} KiB |",
            endpoint.label,
            ms(p50(&f.inits)),
            ms(p50(&f.init_cpus)),
            ms(p50(&f.firsts)),
            ms(p50(&f.cold_totals)),
            ms(p50(&f.steady)),
            ms(percentile(&f.steady, 0.99)),
            f.at_end.0
        );
    }
}

fn parse_endpoint(value: Option<String>, bootstrap: Option<&String>) -> Result<Endpoint, String> {
    let bootstrap = bootstrap.ok_or("--bootstrap PATH must come before --endpoint")?;
    let value = value.ok_or("--endpoint needs LABEL=URL")?;
    match value.split_once('=') {
        Some((label, url)) if !label.is_empty() && !url.is_empty() => Ok(Endpoint {
            label: label.to_owned(),
            bootstrap: bootstrap.clone(),
            url: Some(url.to_owned()),
        }),
        _ => Err(format!("--endpoint needs LABEL=URL, got {value:?}")),
    }
}

fn run() -> Result<(), String> {
    let mut bootstrap = None;
    let mut endpoints = Vec::new();
    let mut spawns = 21usize;
    let mut invokes = 1000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or(format!("{what} needs a positive number"))
        };
        match arg.as_str() {
            "--bootstrap" => bootstrap = args.next(),
            "--spawns" => spawns = number("--spawns")?,
            "--invokes" => invokes = number("--invokes")?.max(100),
            "--endpoint" => endpoints.push(parse_endpoint(args.next(), bootstrap.as_ref())?),
            _ => {
                return Err(
                    "usage: bench-cold --bootstrap PATH [--endpoint LABEL=URL]... \
                     [--bootstrap PATH --endpoint LABEL=URL]... [--spawns N] [--invokes N]"
                        .to_owned(),
                )
            }
        }
    }
    let bootstrap = bootstrap.ok_or("--bootstrap PATH is required")?;
    if endpoints.is_empty() {
        endpoints.push(Endpoint {
            label: "inherited".to_owned(),
            bootstrap,
            url: None,
        });
    }
    let run_id = format!("{}", std::process::id());

    // DynamoDB Local is a JVM: its first few hundred requests are slower than the rest,
    // which DynamoDB in AWS never is. Warm it up through each endpoint before measuring.
    for (index, endpoint) in endpoints.iter().enumerate() {
        let function = Function::spawn(endpoint)?;
        function.init()?;
        for n in 0..PRIMING_CREATES {
            function
                .create(&format!("{run_id}_{index}_priming"), n)
                .map_err(|e| format!("{}: {e}", endpoint.label))?;
        }
    }

    let mut results: Vec<(Endpoint, Figures)> = endpoints
        .into_iter()
        .map(|endpoint| (endpoint, Figures::default()))
        .collect();
    for spawn in 0..spawns {
        for (index, (endpoint, figures)) in results.iter_mut().enumerate() {
            let function = Function::spawn(endpoint)?;
            let init = function.init()?;
            let init_cpu = function.cpu()?;
            let first = function
                .create(&format!("{run_id}_{index}_cold{spawn}"), 0)
                .map_err(|e| format!("{}: {e}", endpoint.label))?;
            figures.inits.push(init);
            figures.init_cpus.push(init_cpu);
            figures.firsts.push(first);
            figures.cold_totals.push(init + first);
        }
    }

    // The warm environments run side by side, one invoke each in turn.
    let warm_functions = results
        .iter()
        .map(|(endpoint, _)| {
            let function = Function::spawn(endpoint)?;
            function.init()?;
            Ok(function)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut warm: Vec<Vec<Duration>> = vec![Vec::with_capacity(invokes); results.len()];
    for n in 0..invokes {
        for (index, function) in warm_functions.iter().enumerate() {
            let (endpoint, figures) = &mut results[index];
            warm[index].push(
                function
                    .create(&format!("{run_id}_{index}_warm"), n)
                    .map_err(|e| format!("{}: {e}", endpoint.label))?,
            );
            if n + 1 == 100 {
                figures.at_100 = function.memory()?;
            }
        }
    }
    for ((function, durations), (_, figures)) in
        warm_functions.iter().zip(warm).zip(results.iter_mut())
    {
        figures.at_end = function.memory()?;
        // The first warm invoke is the environment's first request; leave it out.
        figures.steady = durations[1..].to_vec();
        figures.sort();
    }
    drop(warm_functions);

    println!(
        "bench-cold: {PRIMING_CREATES} creates per endpoint to warm DynamoDB Local up (not counted), \
         {spawns} cold starts per endpoint (interleaved), then {invokes} invokes in one environment \
         per endpoint (interleaved)"
    );
    for (endpoint, figures) in &results {
        print_figures(endpoint, figures, invokes);
    }
    // Each endpoint against the first one that ran the same bootstrap (TLS minus HTTP).
    for (index, (endpoint, figures)) in results.iter().enumerate() {
        if let Some((base_endpoint, base)) = results[..index]
            .iter()
            .find(|(other, _)| other.bootstrap == endpoint.bootstrap)
        {
            print_difference((base_endpoint, base), (endpoint, figures));
        }
    }
    print_table(&results);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench-cold: {message}");
            ExitCode::FAILURE
        }
    }
}
