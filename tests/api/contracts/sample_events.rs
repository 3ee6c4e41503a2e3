//! Every sample event in `events/` (the files docs/development.md's `sam local invoke` and
//! `cargo lambda invoke` examples use) gives its documented status. A new event file without
//! an entry in `events/expected-status.json` fails this test.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn every_sample_event_has_its_expected_status() {
    let dir = project_path("events");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected-status.json")).expect("expected-status.json"),
    )
    .expect("manifest is JSON");
    let manifest = manifest.as_object().expect("manifest is an object");

    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("events dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json") && name != "expected-status.json")
        .collect();
    let listed: BTreeSet<String> = manifest
        .keys()
        .filter(|k| !k.starts_with('_'))
        .cloned()
        .collect();
    assert_eq!(
        files, listed,
        "events/ and events/expected-status.json must list the same files"
    );
    assert!(files.len() >= 8);

    for file in &files {
        let expectation = &manifest[file];
        let status = expectation["status"].as_u64().expect("status") as u16;
        let overrides: Vec<(String, String)> = expectation["env"]
            .as_object()
            .map(|env| {
                env.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("env value").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let overrides: Vec<(&str, &str)> = overrides
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let store = fresh_store().await;
        let seeds = expectation["seed"].as_array().cloned().unwrap_or_default();
        let seeder = app_on(store.clone(), &[]);
        for seed in &seeds {
            let [org, name, value] = [0, 1, 2].map(|i| seed[i].as_str().expect("seed entry"));
            let seeded = seeder.admin(org).create(name, value).await;
            assert_eq!(seeded.status, 201, "{file}: seeding {name}");
        }
        let app = app_on(store, &overrides);
        let answer = app.call(&sample_event(file)).await;
        assert_eq!(answer.status, status, "{file}: {}", answer.text);
        let items_after = expectation["items_after"]
            .as_u64()
            .map_or(seeds.len() + usize::from(status == 201), |n| n as usize);
        assert_eq!(app.item_count().await, items_after, "{file}");
        if file.ends_with("-list.json") {
            assert_eq!(
                answer.json["secrets"],
                serde_json::json!(["github_token", "stripe_api_key"])
            );
        }
    }
}
