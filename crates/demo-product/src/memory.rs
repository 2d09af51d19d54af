//! A bounded in-memory map for the product's pending sign-ins and sessions. Entries expire
//! after a fixed age and the map never holds more than its cap: a stream of abandoned
//! sign-ins cannot grow it without limit. It knows nothing of what it stores, and the
//! caller passes the time in, so expiry is tested without sleeping.

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct Bounded<V> {
    entries: HashMap<String, (Instant, V)>,
    max_age: Duration,
    cap: usize,
}

impl<V> Bounded<V> {
    pub fn new(max_age: Duration, cap: usize) -> Self {
        Self {
            entries: HashMap::new(),
            max_age,
            cap: cap.max(1),
        }
    }

    fn live(&self, created: Instant, now: Instant) -> bool {
        now.saturating_duration_since(created) < self.max_age
    }

    /// Stores `value` under `key`, first dropping expired entries and then, when the map is
    /// still full, the oldest one.
    pub fn insert(&mut self, key: String, value: V, now: Instant) {
        let max_age = self.max_age;
        self.entries
            .retain(|_, (created, _)| now.saturating_duration_since(*created) < max_age);
        while self.entries.len() >= self.cap && !self.entries.contains_key(&key) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (created, _))| *created)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(oldest) => self.entries.remove(&oldest),
                None => break,
            };
        }
        self.entries.insert(key, (now, value));
    }

    /// The live value under `key`.
    pub fn get(&self, key: &str, now: Instant) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(created, _)| self.live(*created, now))
            .map(|(_, value)| value)
    }

    /// Removes and returns the live value under `key` when `accept` approves of it; a value
    /// it refuses stays where it is.
    pub fn take_if(
        &mut self,
        key: &str,
        now: Instant,
        accept: impl FnOnce(&V) -> bool,
    ) -> Option<V> {
        let approved = self.get(key, now).is_some_and(accept);
        if approved {
            self.entries.remove(key).map(|(_, value)| value)
        } else {
            None
        }
    }

    /// Removes and returns the live value under `key`.
    pub fn take(&mut self, key: &str, now: Instant) -> Option<V> {
        self.take_if(key, now, |_| true)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: Duration = Duration::from_secs(600);

    #[test]
    fn an_entry_lives_until_its_max_age() {
        let start = Instant::now();
        let mut map = Bounded::new(AGE, 10);
        map.insert("a".into(), 1, start);
        assert_eq!(map.get("a", start + AGE - Duration::from_secs(1)), Some(&1));
        assert_eq!(map.get("a", start + AGE), None);
        assert_eq!(map.take("a", start + AGE), None);
    }

    #[test]
    fn expired_entries_are_dropped_on_the_next_insert() {
        let start = Instant::now();
        let mut map = Bounded::new(AGE, 10);
        map.insert("old".into(), 1, start);
        map.insert("new".into(), 2, start + AGE);
        assert_eq!(map.len(), 1);
        assert_eq!(map.get("new", start + AGE), Some(&2));
    }

    #[test]
    fn a_full_map_drops_its_oldest_entry() {
        let start = Instant::now();
        let mut map = Bounded::new(AGE, 3);
        for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            map.insert(key.into(), i, start + Duration::from_secs(i as u64));
        }
        let now = start + Duration::from_secs(5);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("a", now), None);
        assert_eq!(map.get("b", now), None);
        assert_eq!(map.get("e", now), Some(&4));
    }

    #[test]
    fn replacing_a_key_in_a_full_map_keeps_the_others() {
        let start = Instant::now();
        let mut map = Bounded::new(AGE, 2);
        map.insert("a".into(), 1, start);
        map.insert("b".into(), 2, start);
        map.insert("b".into(), 3, start);
        assert_eq!(map.get("a", start), Some(&1));
        assert_eq!(map.get("b", start), Some(&3));
    }

    #[test]
    fn a_refused_take_leaves_the_entry() {
        let start = Instant::now();
        let mut map = Bounded::new(AGE, 10);
        map.insert("a".into(), 1, start);
        assert_eq!(map.take_if("a", start, |v| *v == 2), None);
        assert_eq!(map.take_if("a", start, |v| *v == 1), Some(1));
        assert_eq!(map.len(), 0);
    }
}
