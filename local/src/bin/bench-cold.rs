//! `make bench-cold`: the release `bootstrap` as Lambda runs it (a process polling a Runtime
//! API) against DynamoDB Local, measured from outside:
//!
//! - init: spawn -> first `GET /next` (includes the DynamoDB warm-up call);
//! - first invoke: the first create's round trip through the Runtime API;
//! - warm p50/p99 over N creates in one environment;
//! - peak RSS (`VmHWM`) after 100 and after N invokes.
//!
//! usage: bench-cold --bootstrap PATH [--spawns 9] [--invokes 1000]
//! The function's environment (ENCRYPTION_KEY, SECRETS_TABLE_NAME, AWS_*) is inherited.

use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use org_secrets_local::runtime_api::{Invocation, RuntimeApi};
use serde_json::Value;

const EVENT: &str = include_str!("../../../events/http-api-jwt-admin-create.json");
const TIMEOUT: Duration = Duration::from_secs(30);

struct Function {
    runtime: RuntimeApi,
    child: Child,
    spawned: Instant,
}

impl Function {
    fn spawn(bootstrap: &str) -> Result<Self, String> {
        let runtime = RuntimeApi::start().map_err(|e| format!("runtime API: {e}"))?;
        let spawned = Instant::now();
        let child = Command::new(bootstrap)
            .envs(runtime.lambda_environment())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn run() -> Result<(), String> {
    let mut bootstrap = None;
    let mut spawns = 9usize;
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
            _ => {
                return Err(
                    "usage: bench-cold --bootstrap PATH [--spawns N] [--invokes N]".to_owned(),
                )
            }
        }
    }
    let bootstrap = bootstrap.ok_or("--bootstrap PATH is required")?;
    let run_id = format!("{}", std::process::id());

    let mut inits = Vec::new();
    let mut firsts = Vec::new();
    for spawn in 0..spawns {
        let function = Function::spawn(&bootstrap)?;
        inits.push(function.init()?);
        firsts.push(function.create(&format!("{run_id}_cold{spawn}"), 0)?);
    }
    inits.sort();
    firsts.sort();

    let function = Function::spawn(&bootstrap)?;
    function.init()?;
    let mut warm = Vec::with_capacity(invokes);
    let mut at_100 = (0, 0);
    for n in 0..invokes {
        warm.push(function.create(&format!("{run_id}_warm"), n)?);
        if n + 1 == 100 {
            at_100 = function.memory()?;
        }
    }
    let at_end = function.memory()?;
    // The first warm invoke is the environment's first request; leave it out of the warm figures.
    let mut steady: Vec<Duration> = warm[1..].to_vec();
    steady.sort();

    println!("bench-cold: {bootstrap}");
    println!("bench-cold: {spawns} cold starts, then {invokes} invokes in one environment");
    println!(
        "init (spawn -> first /next):   p50 {}   min {}   max {}",
        ms(percentile(&inits, 0.5)),
        ms(inits[0]),
        ms(inits[inits.len() - 1])
    );
    println!(
        "first invoke (create):         p50 {}   min {}   max {}",
        ms(percentile(&firsts, 0.5)),
        ms(firsts[0]),
        ms(firsts[firsts.len() - 1])
    );
    println!(
        "warm invoke (create):          p50 {}   p99 {}   max {}",
        ms(percentile(&steady, 0.5)),
        ms(percentile(&steady, 0.99)),
        ms(steady[steady.len() - 1])
    );
    println!(
        "peak RSS (VmHWM):              after 100: {} KiB   after {invokes}: {} KiB",
        at_100.0, at_end.0
    );
    println!(
        "resident (VmRSS):              after 100: {} KiB   after {invokes}: {} KiB",
        at_100.1, at_end.1
    );
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
