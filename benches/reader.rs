//! `make bench-reader`: the readers services use, on DynamoDB Local (the script starts it).
//! Prints figures against the targets of docs/benchmarks.md ("The readers"); asserts nothing
//! about time. Side by side in one run: what a consumer writes today (a `GetItem` and a
//! decrypt per use, `SecretReader::read`) and the caching reader (cold, cached, and a batch
//! of 100 names).
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it makes a few calls of each
//! kind, so the benchmark keeps working, and prints no figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::config::TableName;
use org_secrets::crypto::Cipher;
use org_secrets::domain::{OrgId, SecretName, SecretValue};
use org_secrets::reader::{CacheConfig, CachingReader, SecretReader};
use org_secrets::storage::{SecretStore, StoreSettings};

const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
const NAMES: usize = 100;

struct Runs {
    per_use: usize,
    cached: usize,
    batches: usize,
}

fn percentile(samples: &mut [Duration], pct: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * pct).round() as usize;
    samples[index]
}

fn show(label: &str, samples: &mut [Duration]) -> Duration {
    let p50 = percentile(samples, 0.5);
    let p99 = percentile(samples, 0.99);
    println!(
        "{label:<44} p50 {:>10.3} µs   p99 {:>10.3} µs   (n = {})",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        samples.len()
    );
    p50
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        println!("reader bench: AWS_ENDPOINT_URL_DYNAMODB is not set; run `make bench-reader`");
        return;
    }
    let runs = if full {
        Runs {
            per_use: 500,
            cached: 200_000,
            batches: 100,
        }
    } else {
        Runs {
            per_use: 3,
            cached: 3,
            batches: 2,
        }
    };

    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let table = TableName::parse(&format!("bench-reader-{}", std::process::id())).expect("table");
    let store = SecretStore::from_sdk_config(&sdk, table, &StoreSettings::default());
    store
        .create_table_if_missing()
        .await
        .expect("create the table");
    let cipher = || Cipher::from_key_list(KEY).expect("key");
    let org = OrgId::parse("org_bench").expect("org");
    let names: Vec<SecretName> = (0..NAMES)
        .map(|n| SecretName::parse(format!("service_{n:03}_api_key")).expect("name"))
        .collect();
    for name in &names {
        let value =
            SecretValue::parse(format!("sk_live_{name}_0123456789abcdef"), 65_536).expect("value");
        let token = cipher().encrypt(&value);
        let binding = cipher().bind("org_bench", name.as_str(), &token);
        store
            .client()
            .put_item()
            .table_name(store.table().as_str())
            .item("org_id", AttributeValue::S("org_bench".into()))
            .item("secret_name", AttributeValue::S(name.as_str().into()))
            .item("encrypted_value", AttributeValue::S(token.as_str().into()))
            .item("binding", AttributeValue::S(binding.as_str().into()))
            .send()
            .await
            .expect("seed");
    }

    let per_use = SecretReader::new(store.clone(), cipher());
    let cache = Arc::new(CachingReader::new(
        SecretReader::new(store.clone(), cipher()),
        CacheConfig::default(),
    ));
    let one = &names[0];

    // What a consumer writes today: a GetItem and a decrypt per use.
    let mut samples = Vec::with_capacity(runs.per_use);
    for i in 0..runs.per_use {
        let name = &names[i % NAMES];
        let started = Instant::now();
        per_use.read(&org, name).await.expect("read");
        samples.push(started.elapsed());
    }
    let per_use_p50 = full.then(|| {
        show(
            "GetItem + decrypt per use (SecretReader::read)",
            &mut samples,
        )
    });

    // The caching reader, cold: each get misses (invalidated first).
    let mut samples = Vec::with_capacity(runs.per_use);
    for i in 0..runs.per_use {
        let name = &names[i % NAMES];
        cache.invalidate(&org, name);
        let started = Instant::now();
        cache.get(&org, name).await.expect("get");
        samples.push(started.elapsed());
    }
    let cold_p50 = full.then(|| show("CachingReader::get, cold (a miss)", &mut samples));

    // Cached: the same secret again and again.
    cache.get(&org, one).await.expect("warm");
    let mut samples = Vec::with_capacity(runs.cached);
    for _ in 0..runs.cached {
        let started = Instant::now();
        let secret = cache.get(&org, one).await.expect("get");
        samples.push(started.elapsed());
        std::hint::black_box(secret);
    }
    let cached_p50 = full.then(|| show("CachingReader::get, cached", &mut samples));

    // get_many of 100 names, all cold: one round trip each time. Interleaved with where its
    // time goes: the same batch read without the checks (the storage layer alone), the SDK's
    // BatchGetItem alone (whole items, no projection), and the checks alone, in process.
    let keys: Vec<_> = names
        .iter()
        .map(|name| {
            std::collections::HashMap::from([
                ("org_id".to_owned(), AttributeValue::S("org_bench".into())),
                (
                    "secret_name".to_owned(),
                    AttributeValue::S(name.as_str().into()),
                ),
            ])
        })
        .collect();
    let checker = SecretReader::new(store.clone(), cipher());
    let mut samples = Vec::with_capacity(runs.batches);
    let mut storage_only = Vec::with_capacity(runs.batches);
    let mut sdk_only = Vec::with_capacity(runs.batches);
    let mut checks_only = Vec::with_capacity(runs.batches);
    let mut round_trips = Vec::with_capacity(runs.batches);
    for _ in 0..runs.batches {
        names.iter().for_each(|name| cache.invalidate(&org, name));
        let reads_before = cache.stats().reads;
        let started = Instant::now();
        let answers = cache.get_many(&org, &names).await;
        samples.push(started.elapsed());
        round_trips.push(cache.stats().reads - reads_before);
        assert!(answers.values().all(Result::is_ok), "every name is read");

        let started = Instant::now();
        let read = store.get_many(&org, &names).await.expect("batch");
        storage_only.push(started.elapsed());

        let started = Instant::now();
        for (name, stored) in read.found {
            checker.open(&org, &name, stored).expect("checks");
        }
        checks_only.push(started.elapsed());

        let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
            .set_keys(Some(keys.clone()))
            .consistent_read(true)
            .build()
            .expect("keys");
        let started = Instant::now();
        store
            .client()
            .batch_get_item()
            .request_items(store.table().as_str(), request)
            .send()
            .await
            .expect("batch");
        sdk_only.push(started.elapsed());
    }
    let batch_p50 = full.then(|| show("CachingReader::get_many, 100 names cold", &mut samples));
    if full {
        show(
            "  the batch read alone (SecretStore::get_many)",
            &mut storage_only,
        );
        show(
            "  the checks alone (decrypt + binding) x 100",
            &mut checks_only,
        );
        show("  BatchGetItem alone, SDK, whole items", &mut sdk_only);
    }
    let mut samples = Vec::with_capacity(runs.per_use);
    for _ in 0..runs.per_use {
        let started = Instant::now();
        store.get(&org, one).await.expect("get");
        samples.push(started.elapsed());
    }
    if full {
        show("GetItem, SDK only", &mut samples);
    }

    if let (Some(per_use), Some(cold), Some(cached), Some(batch)) =
        (per_use_p50, cold_p50, cached_p50, batch_p50)
    {
        println!();
        println!(
            "targets: cached get p50 {:.3} µs (target ≤ 1 µs); get_many(100) cold p50 = {:.2}× a cold get (target ≤ 2×), round trips per call: {}",
            cached.as_secs_f64() * 1e6,
            batch.as_secs_f64() / cold.as_secs_f64(),
            round_trips.iter().max().copied().unwrap_or(0),
        );
        println!(
            "per use vs cached: GetItem + decrypt p50 is {:.0}× the cached get's",
            per_use.as_secs_f64() / cached.as_secs_f64()
        );
    }
    store
        .client()
        .delete_table()
        .table_name(store.table().as_str())
        .send()
        .await
        .expect("drop the table");
}
