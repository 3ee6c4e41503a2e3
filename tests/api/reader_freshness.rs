//! The change events' end-to-end freshness, measured (`make bench-reader` runs it; ignored
//! in `make test`, since it prints figures and takes a minute): an update through the API
//! until a reader wired to the events serves it. The path is the deployed one, locally: the
//! handler on DynamoDB Local with the stream on; the stream polled every 250 ms as Lambda's
//! event source mapping polls a shard; the compiled `bootstrap` as the publisher (local
//! Runtime API); moto's EventBridge routing to its SQS queue; and the Python reader kept
//! fresh by `examples/reader-cache/watch_changes.py`. Asserts only that every update is
//! served; the figures are printed (docs/benchmarks.md, "The readers").

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use org_secrets_local::runtime_api::Invocation;
use serde_json::{json, Value};

use crate::lambda_binary::LambdaProcess;
use crate::publisher::{helper, Moto};
use crate::support::*;

const ORG: &str = "org_fresh";
const NAME: &str = "partner_api_key";
const UPDATES: u64 = 60;

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn python_child(args: &[&str], env: &[(&str, String)]) -> (Killed, BufReader<ChildStdout>) {
    let mut child = Command::new(python())
        .args(args)
        .envs(local_aws_env())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    (Killed(child), stdout)
}

#[tokio::test]
#[ignore = "a measurement: make bench-reader runs it"]
async fn a_reader_wired_to_change_events_serves_an_update_within_a_second() {
    let store = fresh_store().await;
    enable_stream(&store).await;
    let table = store.table().as_str().to_owned();
    let app = app_on(store, &[]);
    let admin = app.admin(ORG);
    assert_eq!(admin.create(NAME, "value-0").await.status, 201);

    let moto = Moto::start();
    let (bus, source) = ("org-secrets-fresh", "org-secrets.fresh");
    let queue_url = helper(&["bus", &moto.endpoint, bus, "reader-cache", source])
        .trim()
        .to_owned();
    let publisher = Arc::new(LambdaProcess::start(
        "fresh-publisher",
        &[
            ("ORG_SECRETS_FUNCTION", "publisher"),
            ("EVENT_BUS_NAME", bus),
            ("EVENT_SOURCE", source),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", &moto.endpoint),
        ],
    ));

    // The event source mapping: each poll's records, to the publisher, in order.
    let stream_helper = project_path("tests/api/support/stream_and_bus.py");
    let (_tail, tail_lines) = python_child(
        &[
            stream_helper.to_str().unwrap(),
            "tail",
            &dynamodb_endpoint(),
            &table,
            "250",
        ],
        &[],
    );
    let pump = Arc::clone(&publisher);
    std::thread::spawn(move || {
        for line in tail_lines.lines() {
            let Ok(line) = line else { break };
            let records: Value = serde_json::from_str(&line).expect("records");
            let event = json!({ "Records": records });
            match pump
                .runtime
                .invoke(event.to_string().as_bytes(), Duration::from_secs(30))
            {
                Ok(Invocation::Response(payload)) => {
                    let answer: Value = serde_json::from_slice(&payload).expect("JSON");
                    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
                }
                other => panic!("publisher: {other:?}\n{}", pump.log()),
            }
        }
    });

    // The reader, kept fresh by the example's thread.
    let watcher = project_path("tests/api/support/reader_watch.py");
    let (_reader, mut served) = python_child(
        &[
            watcher.to_str().unwrap(),
            &moto.endpoint,
            &queue_url,
            &table,
            ORG,
            NAME,
        ],
        &[("ENCRYPTION_KEY", KEY_A.to_owned())],
    );
    let mut line = String::new();
    served.read_line(&mut line).expect("the reader starts");
    assert_eq!(line.trim(), "ready");

    let mut latencies = Vec::new();
    for update in 1..=UPDATES {
        let started = epoch_seconds();
        assert_eq!(
            admin.update(NAME, &format!("value-{update}")).await.status,
            200
        );
        let version = 1 + update;
        loop {
            line.clear();
            let read = served.read_line(&mut line).expect("a line from the reader");
            assert!(
                read > 0,
                "the reader stopped before serving version {version}"
            );
            let applied: Value = serde_json::from_str(&line).expect("JSON");
            if applied["served_version"].as_u64() >= Some(version) {
                latencies.push(applied["applied_at"].as_f64().unwrap() - started);
                break;
            }
        }
        // Changes at no fixed phase of the stream's polling.
        tokio::time::sleep(Duration::from_millis(100 + (update * 37) % 200)).await;
    }
    latencies.sort_by(f64::total_cmp);
    let at = |pct: f64| latencies[((latencies.len() - 1) as f64 * pct).round() as usize];
    println!(
        "change events, end to end (update answered -> reader serves it), n = {}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        latencies.len(),
        at(0.5) * 1e3,
        at(0.99) * 1e3,
        at(1.0) * 1e3,
    );
}
