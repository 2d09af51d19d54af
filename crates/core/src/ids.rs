//! Identifiers: random UUIDv7 text (DESIGN.md §3). The time part comes from the `now`
//! the caller passes, so this module reads no clock.

use crate::UnixTime;
use std::fmt;
use uuid::{NoContext, Timestamp, Uuid};

/// A new random id ordered by creation time.
pub fn new_id(now: UnixTime) -> String {
    let seconds = u64::try_from(now).unwrap_or(0);
    let nanos = millisecond_in(seconds) * 1_000_000;
    Uuid::new_v7(Timestamp::from_unix(NoContext, seconds, nanos)).to_string()
}

/// The clock gives whole seconds, and ids of one second would sort at random (their low
/// bits are random); lists ordered by id, such as the activity list, would then show events
/// of the same second out of order. So each id made in a second takes the next millisecond
/// slot of that second (the first 1,000 per second and process sort in the order made).
fn millisecond_in(seconds: u64) -> u32 {
    static LAST: std::sync::Mutex<(u64, u32)> = std::sync::Mutex::new((0, 0));
    let Ok(mut last) = LAST.lock() else {
        return 0;
    };
    let slot = if last.0 == seconds {
        (last.1 + 1).min(999)
    } else {
        0
    };
    *last = (seconds, slot);
    slot
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn generate(now: UnixTime) -> Self {
        Self(new_id(now))
    }

    /// Ids come back from our own database; anything that is not a UUID is refused.
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::parse_str(text).ok().map(|u| Self(u.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.0)
    }
}

/// Written out as its text, so the CLI's JSON shows the id as it is stored.
impl serde::Serialize for AccountId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_differ() {
        let a = AccountId::generate(1_700_000_000);
        let b = AccountId::generate(1_700_000_000);
        assert_ne!(a, b);
        assert_eq!(AccountId::parse(a.as_str()), Some(a));
        assert_eq!(AccountId::parse("not-an-id"), None);
    }

    #[test]
    fn ids_of_one_second_sort_in_the_order_they_were_made() {
        // A second of its own, so other tests' ids do not share its slots.
        let ids: Vec<String> = (0..50).map(|_| new_id(1_234_567_890)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        assert!(
            new_id(1_234_567_891) > ids[49],
            "a later second sorts later"
        );
    }
}
