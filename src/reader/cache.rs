//! [`CachingReader`]: the reader a service keeps for its lifetime. The rules (TTL, bound,
//! serve-stale-on-error, change events) are `docs/storage-contract.md`'s "The cache".

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::OnceCell;

use super::events::ChangeNotice;
use super::lru::{Lru, Read};
use super::{ReadError, SecretReader};
use crate::config::{cache_config_from, ConfigError};
use crate::domain::{OrgId, SecretName};
use crate::storage::{StoreError, StoredSecret, BATCH_GET_MAX_KEYS};

/// The cache's settings; [`CacheConfig::default`] is the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// A value read less than this long ago is served without a read.
    pub ttl: Duration,
    /// At most this many values are held; the least recently used goes first.
    pub max_entries: usize,
    /// How old a value may be when it is served because the store is unavailable.
    pub max_stale: Duration,
}

impl CacheConfig {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
    pub const DEFAULT_MAX_ENTRIES: usize = 1000;
    pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(3600);
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Self::DEFAULT_TTL,
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            max_stale: Self::DEFAULT_MAX_STALE,
        }
    }
}

/// Where the cache takes the time from: [`SystemClock`], or a test's own.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A value as the cache serves it: wrapped, with its version and how fresh it is.
#[derive(Clone)]
pub struct Secret {
    value: Arc<SecretString>,
    version: Option<u64>,
    age: Duration,
    stale: bool,
}

impl Secret {
    /// The value; `ExposeSecret` it only where it goes into a request.
    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// `Some(age)` when the value is served stale: the store was unavailable, and the value
    /// was read `age` ago (at most the stale bound). `None` for a fresh value.
    pub fn stale(&self) -> Option<Duration> {
        self.stale.then_some(self.age)
    }

    /// How long ago the value was read from the store.
    pub fn age(&self) -> Duration {
        self.age
    }

    /// The version the value was read at; `None` for an item not changed since versions came.
    pub fn version(&self) -> Option<u64> {
        self.version
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("value", &"[REDACTED]")
            .field("version", &self.version)
            .field("age", &self.age)
            .field("stale", &self.stale)
            .finish()
    }
}

/// Why a secret could not be served: which one, and the read's error. Never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {secret_name} of {org_id}: {kind}: {error}", kind = error.kind())]
pub struct SecretError {
    pub org_id: OrgId,
    pub secret_name: SecretName,
    pub error: ReadError,
}

impl SecretError {
    /// The contract's name for the error (`not_found`, `unavailable`, ...).
    pub fn kind(&self) -> &'static str {
        self.error.kind()
    }
}

/// What the cache did since it was made: the figures a service exports as metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Values served fresh from the cache.
    pub hits: u64,
    /// Reads of the store (a batch read counts once).
    pub reads: u64,
    /// Values served stale because the store was unavailable.
    pub stale_served: u64,
    /// Values dropped to keep within `max_entries`.
    pub evictions: u64,
    /// Values dropped by `invalidate` or a change event.
    pub invalidations: u64,
}

type Key = (OrgId, SecretName);

type Entries = Lru<Key, Arc<SecretString>>;

/// What a store read found for each of its names, when it began, and its place in the order
/// reads began in (its sequence number: clocks can tie, the counter cannot).
struct ReadOutcome {
    started: Instant,
    sequence: u64,
    found: HashMap<SecretName, Result<Option<StoredSecret>, StoreError>>,
}

/// A read of the store that one or more flights share: a `GetItem` for one name, or a
/// `BatchGetItem` (one chunk of up to 100) for `get_many`. Done once, by whichever of its
/// flights gets there first (so a cancelled caller never strands the others).
struct StoreRead {
    org_id: OrgId,
    names: Vec<SecretName>,
    outcome: OnceCell<ReadOutcome>,
}

impl StoreRead {
    fn new(org_id: &OrgId, names: Vec<SecretName>) -> Arc<Self> {
        Arc::new(Self {
            org_id: org_id.clone(),
            names,
            outcome: OnceCell::new(),
        })
    }
}

/// One secret's read in progress: those who miss it meanwhile wait for its answer. It
/// leaves the map when it ends, or as soon as a change makes it out of date (so that later
/// callers read again instead of joining it).
struct InFlight {
    answer: OnceCell<Result<Secret, SecretError>>,
    /// The newest version a change event announced while the read ran: an answer older than
    /// it is still given to those waiting, but not kept.
    changed_to: AtomicU64,
    /// Set by an `invalidate` while the read ran: its answer is not kept, whatever its version.
    invalidated: AtomicBool,
    read: Arc<StoreRead>,
}

impl InFlight {
    fn new(read: &Arc<StoreRead>) -> Arc<Self> {
        Arc::new(Self {
            answer: OnceCell::new(),
            changed_to: AtomicU64::new(0),
            invalidated: AtomicBool::new(false),
            read: Arc::clone(read),
        })
    }

    /// Whether a change was announced while it ran.
    fn overtaken(&self) -> bool {
        self.invalidated.load(Ordering::Relaxed) || self.changed_to.load(Ordering::Relaxed) != 0
    }

    /// Whether what it read (at `version`) may be cached: no change announced meanwhile is
    /// newer (a legacy item has no version to compare).
    fn may_keep(&self, version: Option<u64>) -> bool {
        let changed_to = self.changed_to.load(Ordering::Relaxed);
        !self.invalidated.load(Ordering::Relaxed)
            && (changed_to == 0 || version.is_some_and(|read| read >= changed_to))
    }
}

/// The reads in progress a caller started: if the caller goes away (its future dropped)
/// before they are answered, they leave the map, so that no later caller joins a read whose
/// leader is gone and nothing is left behind. Answered reads have left already.
struct Started<'a> {
    reader: &'a CachingReader,
    flights: Vec<(Key, Arc<InFlight>)>,
}

impl Started<'_> {
    /// A new read in progress of `key`, part of `read`: in the map, and this caller's.
    fn begin(
        &mut self,
        in_flight: &mut HashMap<Key, Vec<Arc<InFlight>>>,
        key: &Key,
        read: &Arc<StoreRead>,
    ) -> Arc<InFlight> {
        let flight = InFlight::new(read);
        in_flight
            .entry(key.clone())
            .or_default()
            .push(Arc::clone(&flight));
        self.flights.push((key.clone(), Arc::clone(&flight)));
        flight
    }
}

impl Drop for Started<'_> {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.reader.in_flight);
        for (key, flight) in &self.flights {
            forget(&mut in_flight, key, flight);
        }
    }
}

/// Takes `flight` out of `key`'s reads in progress, if it is still there.
fn forget(in_flight: &mut HashMap<Key, Vec<Arc<InFlight>>>, key: &Key, flight: &Arc<InFlight>) {
    if let Some(flights) = in_flight.get_mut(key) {
        flights.retain(|other| !Arc::ptr_eq(other, flight));
        if flights.is_empty() {
            in_flight.remove(key);
        }
    }
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    reads: AtomicU64,
    stale_served: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
}

pub struct CachingReader {
    reader: SecretReader,
    config: CacheConfig,
    clock: Arc<dyn Clock>,
    entries: Mutex<Entries>,
    /// Every read in progress per key, oldest first; a miss joins the newest one no change
    /// has overtaken and whose store read has not answered yet.
    in_flight: Mutex<HashMap<Key, Vec<Arc<InFlight>>>>,
    /// Numbers the store reads in the order they begin.
    reads_begun: AtomicU64,
    counters: Counters,
}

impl fmt::Debug for CachingReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingReader")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// How a lookup went: served from the cache, or what a read must know.
enum Lookup {
    Fresh(Secret),
    Miss,
}

/// The read of `key` a miss may join: the newest in progress, if no change has overtaken it
/// (its answer could be older than the change) and its store read has not answered yet
/// (then a new read is newer). Never an older one.
fn joinable(in_flight: &HashMap<Key, Vec<Arc<InFlight>>>, key: &Key) -> Option<Arc<InFlight>> {
    in_flight
        .get(key)?
        .last()
        .filter(|flight| !flight.overtaken() && flight.read.outcome.get().is_none())
        .cloned()
}

/// A poisoned lock only means another thread panicked mid-update of plain data; the map
/// is still consistent (every update is one insert or remove), so keep going.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CachingReader {
    pub fn new(reader: SecretReader, config: CacheConfig) -> Self {
        Self::with_clock(reader, config, Arc::new(SystemClock))
    }

    pub fn with_clock(reader: SecretReader, config: CacheConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            reader,
            config,
            clock,
            entries: Mutex::default(),
            in_flight: Mutex::default(),
            reads_begun: AtomicU64::new(0),
            counters: Counters::default(),
        }
    }

    /// From `ENCRYPTION_KEY`, `SECRETS_TABLE_NAME`, the `SECRETS_CACHE_*` settings and the
    /// standard AWS configuration.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = cache_config_from(&|name: &str| std::env::var(name).ok())?;
        Ok(Self::new(SecretReader::from_env().await?, config))
    }

    pub fn config(&self) -> CacheConfig {
        self.config
    }

    pub fn stats(&self) -> CacheStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CacheStats {
            hits: load(&self.counters.hits),
            reads: load(&self.counters.reads),
            stale_served: load(&self.counters.stale_served),
            evictions: load(&self.counters.evictions),
            invalidations: load(&self.counters.invalidations),
        }
    }

    /// The secret: from the cache while fresh, else read (one read however many ask at
    /// once), else, if the store is unavailable, the cached value within the stale bound.
    pub async fn get(&self, org_id: &OrgId, name: &SecretName) -> Result<Secret, SecretError> {
        let key = (org_id.clone(), name.clone());
        match self.lookup(&key) {
            Lookup::Fresh(secret) => Ok(secret),
            Lookup::Miss => self.load(key, false).await,
        }
    }

    /// Reads the secret now, whatever the cache holds (falling back as `get` does when the
    /// store is unavailable).
    pub async fn refresh(&self, org_id: &OrgId, name: &SecretName) -> Result<Secret, SecretError> {
        self.load((org_id.clone(), name.clone()), true).await
    }

    /// How many reads of single secrets are in progress (a batch read counts once per name).
    pub fn reads_in_progress(&self) -> usize {
        lock(&self.in_flight).values().map(Vec::len).sum()
    }

    /// Drops the cached value, if any: the next `get` reads the store.
    pub fn invalidate(&self, org_id: &OrgId, name: &SecretName) {
        self.drop_entry(&(org_id.clone(), name.clone()), None);
    }

    /// Each distinct name's secret or error: fresh values from the cache, the rest in one
    /// `BatchGetItem` per 100 names, each checked as [`SecretReader::read`] checks it. A name
    /// another caller is reading already waits for that read instead.
    pub async fn get_many(
        &self,
        org_id: &OrgId,
        names: &[SecretName],
    ) -> HashMap<SecretName, Result<Secret, SecretError>> {
        let mut answers = HashMap::with_capacity(names.len());
        let mut misses = Vec::new();
        let mut seen = HashSet::with_capacity(names.len());
        for name in names {
            if !seen.insert(name) {
                continue;
            }
            match self.lookup(&(org_id.clone(), name.clone())) {
                Lookup::Fresh(secret) => {
                    answers.insert(name.clone(), Ok(secret));
                }
                Lookup::Miss => misses.push(name.clone()),
            }
        }
        // Join the reads in progress; lead the rest, a batch read per 100 names.
        let mut flights = Vec::with_capacity(misses.len());
        let mut started = Started {
            reader: self,
            flights: Vec::new(),
        };
        {
            let mut in_flight = lock(&self.in_flight);
            let mut leading = Vec::new();
            for name in misses {
                let key = (org_id.clone(), name);
                // A read that ended since the first look cached its value.
                if let Lookup::Fresh(secret) = self.lookup(&key) {
                    answers.insert(key.1, Ok(secret));
                    continue;
                }
                match joinable(&in_flight, &key) {
                    Some(flight) => flights.push((key, flight)),
                    None => leading.push(key),
                }
            }
            for chunk in leading.chunks(BATCH_GET_MAX_KEYS) {
                let names = chunk.iter().map(|(_, name)| name.clone()).collect();
                let read = StoreRead::new(org_id, names);
                for key in chunk {
                    let flight = started.begin(&mut in_flight, key, &read);
                    flights.push((key.clone(), flight));
                }
            }
        }
        for (key, flight) in flights {
            let answer = self.answer(&key, &flight).await;
            answers.insert(key.1, answer);
        }
        drop(started);
        answers
    }

    /// Applies a change event (the EventBridge event, as a rule's target receives it):
    /// `Ok(true)` when it dropped a cached value that the change made out of date.
    pub fn apply_change_event(
        &self,
        event: &serde_json::Value,
    ) -> Result<bool, super::InvalidEvent> {
        let notice = ChangeNotice::parse(event)?;
        Ok(self.apply(&notice))
    }

    /// Drops the cached value `notice` makes out of date: its secret's, if the notice is a
    /// change of the live secret newer than the cached version.
    pub fn apply(&self, notice: &ChangeNotice) -> bool {
        if !notice.changes_live_value() {
            return false;
        }
        self.drop_entry(
            &(notice.org_id.clone(), notice.secret_name.clone()),
            Some(notice.version),
        )
    }

    /// Drops the entry (for a change event, only if older than its `version`), and tells a
    /// read in progress that its answer may be out of date. `true` if a value was dropped.
    fn drop_entry(&self, key: &Key, version: Option<u64>) -> bool {
        for flight in lock(&self.in_flight).get(key).into_iter().flatten() {
            match version {
                Some(version) => {
                    flight.changed_to.fetch_max(version, Ordering::Relaxed);
                }
                None => flight.invalidated.store(true, Ordering::Relaxed),
            }
        }
        let mut entries = lock(&self.entries);
        let out_of_date = match (entries.peek(key), version) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(entry), Some(changed)) => entry.version.is_none_or(|cached| changed > cached),
        };
        if out_of_date {
            entries.remove(key);
            self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        }
        out_of_date
    }

    fn lookup(&self, key: &Key) -> Lookup {
        let now = self.clock.now();
        let mut entries = lock(&self.entries);
        let fresh = entries
            .peek(key)
            .is_some_and(|entry| now.saturating_duration_since(entry.read_at) < self.config.ttl);
        match entries.touch(key).filter(|_| fresh) {
            Some(entry) => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Fresh(Secret {
                    value: Arc::clone(&entry.value),
                    version: entry.version,
                    age: now.saturating_duration_since(entry.read_at),
                    stale: false,
                })
            }
            None => Lookup::Miss,
        }
    }

    /// One read of `key` however many callers miss it at once: the first reads, the others
    /// wait for its answer. A forced read (`refresh`) starts its own, which later callers join.
    async fn load(&self, key: Key, forced: bool) -> Result<Secret, SecretError> {
        let mut started = Started {
            reader: self,
            flights: Vec::new(),
        };
        let flight = {
            let mut in_flight = lock(&self.in_flight);
            // A caller that missed just as another's read ended finds its value here.
            if !forced {
                if let Lookup::Fresh(secret) = self.lookup(&key) {
                    return Ok(secret);
                }
            }
            match joinable(&in_flight, &key).filter(|_| !forced) {
                Some(flight) => flight,
                None => {
                    let read = StoreRead::new(&key.0, vec![key.1.clone()]);
                    started.begin(&mut in_flight, &key, &read)
                }
            }
        };
        let answer = self.answer(&key, &flight).await;
        drop(started);
        answer
    }

    /// The answer of `flight` for `key`: its store read's (done once, by whoever comes
    /// first), settled once; the flight then leaves the map if it is still there.
    async fn answer(&self, key: &Key, flight: &Arc<InFlight>) -> Result<Secret, SecretError> {
        let answer = flight
            .answer
            .get_or_init(|| async {
                let outcome = flight
                    .read
                    .outcome
                    .get_or_init(|| self.read_store(&flight.read))
                    .await;
                let read = outcome.found.get(&key.1).cloned().unwrap_or_else(|| {
                    Err(StoreError::Other(
                        "the read did not answer for this name".to_owned(),
                    ))
                });
                self.settle(key, read, outcome, flight)
            })
            .await
            .clone();
        forget(&mut lock(&self.in_flight), key, flight);
        answer
    }

    /// The store read itself: a `GetItem` for one name, a `BatchGetItem` for more.
    async fn read_store(&self, read: &StoreRead) -> ReadOutcome {
        self.counters.reads.fetch_add(1, Ordering::Relaxed);
        let started = self.clock.now();
        let sequence = self.reads_begun.fetch_add(1, Ordering::Relaxed) + 1;
        let store = self.reader.store();
        let mut outcomes = HashMap::with_capacity(read.names.len());
        if let [name] = read.names.as_slice() {
            outcomes.insert(name.clone(), store.get(&read.org_id, name).await);
            return ReadOutcome {
                started,
                sequence,
                found: outcomes,
            };
        }
        match store.get_many(&read.org_id, &read.names).await {
            Ok(batch) => {
                outcomes.extend(
                    batch
                        .found
                        .into_iter()
                        .map(|(name, found)| (name, Ok(found))),
                );
                outcomes.extend(
                    batch
                        .failed
                        .into_iter()
                        .map(|(name, error)| (name, Err(error))),
                );
            }
            Err(error) => {
                outcomes.extend(
                    read.names
                        .iter()
                        .map(|name| (name.clone(), Err(error.clone()))),
                );
            }
        }
        ReadOutcome {
            started,
            sequence,
            found: outcomes,
        }
    }

    /// What a read of `key` means for the cache and the caller: a checked value is cached
    /// (unless a change superseded the read) and served; a store that is unavailable falls
    /// back to the cached value within the stale bound; any other answer drops the cached
    /// value and is the error.
    fn settle(
        &self,
        key: &Key,
        read: Result<Option<StoredSecret>, StoreError>,
        outcome: &ReadOutcome,
        flight: &InFlight,
    ) -> Result<Secret, SecretError> {
        let (org_id, name) = key;
        let error = |error: ReadError| SecretError {
            org_id: org_id.clone(),
            secret_name: name.clone(),
            error,
        };
        let stored = match read {
            Ok(stored) => stored,
            Err(StoreError::Unavailable(cause)) => return self.stale_or(key, cause).map_err(error),
            Err(other) => return Err(error(ReadError::Storage(other))),
        };
        let version = stored.as_ref().and_then(|stored| stored.version);
        match self.reader.open(org_id, name, stored) {
            Ok(value) => {
                let value = Arc::new(value);
                self.keep(key.clone(), Arc::clone(&value), version, outcome, flight);
                Ok(Secret {
                    value,
                    version,
                    age: self.clock.now().saturating_duration_since(outcome.started),
                    stale: false,
                })
            }
            Err(refused) => {
                // The store has said what the item is: the cached value goes, unless a read
                // begun after this one cached it.
                let mut entries = lock(&self.entries);
                if entries
                    .peek(key)
                    .is_some_and(|cached| cached.sequence < outcome.sequence)
                {
                    entries.remove(key);
                }
                Err(error(refused))
            }
        }
    }

    /// Caches the value, unless a change announced during its read is newer than it (a
    /// legacy item has no version to compare). Checked under the entries' lock, which a
    /// change takes after announcing itself, so a change cannot slip between check and insert.
    fn keep(
        &self,
        key: Key,
        value: Arc<SecretString>,
        version: Option<u64>,
        outcome: &ReadOutcome,
        flight: &InFlight,
    ) {
        let mut entries = lock(&self.entries);
        if !flight.may_keep(version) {
            return;
        }
        // A read begun later (a refresh that overtook this one) already cached its value.
        if entries
            .peek(&key)
            .is_some_and(|cached| cached.sequence > outcome.sequence)
        {
            return;
        }
        let evicted = entries.insert(
            key,
            Read {
                value,
                version,
                read_at: outcome.started,
                sequence: outcome.sequence,
            },
            self.config.max_entries,
            (self.clock.now(), self.config.ttl, self.config.max_stale),
        );
        self.counters
            .evictions
            .fetch_add(evicted, Ordering::Relaxed);
    }

    fn stale_or(&self, key: &Key, cause: String) -> Result<Secret, ReadError> {
        let now = self.clock.now();
        let mut entries = lock(&self.entries);
        // A stale bound of 0 never serves a stale value, not even one of age 0.
        let within_bound = !self.config.max_stale.is_zero()
            && entries.peek(key).is_some_and(|entry| {
                now.saturating_duration_since(entry.read_at) <= self.config.max_stale
            });
        let Some(entry) = entries.touch(key).filter(|_| within_bound) else {
            return Err(ReadError::Storage(StoreError::Unavailable(cause)));
        };
        let age = now.saturating_duration_since(entry.read_at);
        self.counters.stale_served.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            org_id = %key.0,
            secret_name = %key.1,
            age_seconds = age.as_secs_f64(),
            cause = %cause,
            "secret served stale: the store is unavailable"
        );
        Ok(Secret {
            value: Arc::clone(&entry.value),
            version: entry.version,
            age,
            stale: true,
        })
    }
}
