//! The cache's entries: a map with an order of use, so that the least recently used entry
//! is found without a scan, and entries nothing can serve any more are swept.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A value as a read found it: its version, when the read began, and the read's place in
/// the order reads began in.
pub(super) struct Read<V> {
    pub(super) value: V,
    pub(super) version: Option<u64>,
    pub(super) read_at: Instant,
    pub(super) sequence: u64,
}

/// What is kept of a value.
pub(super) struct Entry<V> {
    read: Read<V>,
    last_used: u64,
}

impl<V> std::ops::Deref for Entry<V> {
    type Target = Read<V>;

    fn deref(&self) -> &Read<V> {
        &self.read
    }
}

/// Entries by key, and keys by the count at their last use.
pub(super) struct Lru<K, V> {
    map: HashMap<K, Entry<V>>,
    order: BTreeMap<u64, K>,
    uses: u64,
    inserts: u64,
}

/// How many inserts between two sweeps: a sweep visits every entry, so it runs rarely.
const SWEEP_EVERY: u64 = 256;

impl<K: Clone + Eq + Hash, V> Default for Lru<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            order: BTreeMap::new(),
            uses: 0,
            inserts: 0,
        }
    }
}

impl<K: Clone + Eq + Hash, V> Lru<K, V> {
    pub(super) fn peek(&self, key: &K) -> Option<&Entry<V>> {
        self.map.get(key)
    }

    /// The entry, now the most recently used.
    pub(super) fn touch(&mut self, key: &K) -> Option<&Entry<V>> {
        let entry = self.map.get_mut(key)?;
        self.uses += 1;
        self.order.remove(&entry.last_used);
        entry.last_used = self.uses;
        self.order.insert(self.uses, key.clone());
        Some(entry)
    }

    /// Inserts (or replaces) the entry as the most recently used; then evicts the least
    /// recently used beyond `max_entries`, and every `SWEEP_EVERY` inserts drops the entries
    /// that can be served neither fresh (age at least `ttl`) nor stale (age over
    /// `max_stale`). Returns how many were evicted to fit.
    pub(super) fn insert(
        &mut self,
        key: K,
        read: Read<V>,
        max_entries: usize,
        (now, ttl, max_stale): (Instant, Duration, Duration),
    ) -> u64 {
        self.remove(&key);
        self.uses += 1;
        self.order.insert(self.uses, key.clone());
        let entry = Entry {
            read,
            last_used: self.uses,
        };
        self.map.insert(key, entry);
        let mut evicted = 0;
        while self.map.len() > max_entries.max(1) {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&oldest);
            evicted += 1;
        }
        self.inserts += 1;
        if self.inserts % SWEEP_EVERY == 0 {
            let useless: Vec<K> = self
                .map
                .iter()
                .filter(|(_, entry)| {
                    let age = now.saturating_duration_since(entry.read_at);
                    age >= ttl && age > max_stale
                })
                .map(|(key, _)| key.clone())
                .collect();
            useless.iter().for_each(|key| {
                self.remove(key);
            });
        }
        evicted
    }

    pub(super) fn remove(&mut self, key: &K) -> bool {
        match self.map.remove(key) {
            Some(entry) => {
                self.order.remove(&entry.last_used);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(at: Instant) -> Read<u8> {
        Read {
            value: 0,
            version: None,
            read_at: at,
            sequence: 0,
        }
    }

    fn insert(lru: &mut Lru<&'static str, u8>, key: &'static str, max: usize, at: Instant) -> u64 {
        let minute = Duration::from_secs(60);
        lru.insert(key, read(at), max, (at, minute, minute))
    }

    #[test]
    fn the_least_recently_used_goes_first_and_a_touch_counts_as_use() {
        let now = Instant::now();
        let mut lru = Lru::default();
        assert_eq!(insert(&mut lru, "a", 2, now), 0);
        assert_eq!(insert(&mut lru, "b", 2, now), 0);
        assert!(lru.touch(&"a").is_some());
        assert_eq!(insert(&mut lru, "c", 2, now), 1);
        assert!(lru.peek(&"b").is_none(), "b was the least recently used");
        assert!(lru.peek(&"a").is_some() && lru.peek(&"c").is_some());
        // Replacing an entry is a use, not a second entry.
        assert_eq!(insert(&mut lru, "a", 2, now), 0);
        assert_eq!(insert(&mut lru, "d", 2, now), 1);
        assert!(lru.peek(&"c").is_none());
        assert!(lru.remove(&"a") && !lru.remove(&"a"));
        assert!(lru.touch(&"a").is_none());
    }

    #[test]
    fn entries_past_their_use_are_swept_every_256_inserts() {
        let start = Instant::now();
        let mut lru: Lru<String, u8> = Lru::default();
        let (ttl, max_stale) = (Duration::from_secs(30), Duration::from_secs(60));
        lru.insert("old".into(), read(start), 1000, (start, ttl, max_stale));
        let later = start + Duration::from_secs(61);
        for n in 1..SWEEP_EVERY {
            lru.insert(format!("k{n}"), read(later), 1000, (later, ttl, max_stale));
            if n < SWEEP_EVERY - 1 {
                assert!(lru.peek(&"old".to_owned()).is_some(), "swept early at {n}");
            }
        }
        assert!(lru.peek(&"old".to_owned()).is_none(), "not swept");
        assert!(lru.peek(&"k1".to_owned()).is_some());
    }
}
