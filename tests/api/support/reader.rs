//! What the reader tests share: a clock only the test moves, and a capture of every log
//! line at TRACE.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use org_secrets::crypto::Cipher;
use org_secrets::domain::SecretValue;
use org_secrets::reader::Clock;

/// A live item as the function writes it: `value` encrypted under the first key of `keys`
/// and bound to `org`/`name`, with `version` if given.
pub fn bound_item(
    keys: &str,
    (org, name): (&str, &str),
    value: &str,
    version: Option<u64>,
) -> HashMap<String, AttributeValue> {
    let cipher = Cipher::from_key_list(keys).expect("a key list");
    let token = cipher.encrypt(&SecretValue::parse(value.to_owned(), 1 << 16).expect("a value"));
    let binding = cipher.bind(org, name, &token);
    let mut item = HashMap::from([
        ("org_id".to_owned(), AttributeValue::S(org.to_owned())),
        ("secret_name".to_owned(), AttributeValue::S(name.to_owned())),
        (
            "encrypted_value".to_owned(),
            AttributeValue::S(token.as_str().to_owned()),
        ),
        (
            "binding".to_owned(),
            AttributeValue::S(binding.as_str().to_owned()),
        ),
    ]);
    if let Some(version) = version {
        item.insert("version".to_owned(), AttributeValue::N(version.to_string()));
    }
    item
}

/// The time a reader's cache sees: moved only by [`ManualClock::advance`].
pub struct ManualClock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        })
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().unwrap()
    }
}

/// Every line logged on this thread while [`Logs::capture`]'s guard lives, at TRACE (the
/// tests run on a current-thread runtime).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // Call sites remember who was interested when first hit: ask again, or a line another
        // test's run found no one for would not reach this capture.
        tracing::callsite::rebuild_interest_cache();
        guard
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}
