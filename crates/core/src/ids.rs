//! Identifiers: random UUIDv7 text (DESIGN.md §3). The time part comes from the `now`
//! the caller passes, so this module reads no clock.

use crate::UnixTime;
use std::fmt;
use uuid::{NoContext, Timestamp, Uuid};

/// A new random id ordered by creation time.
pub fn new_id(now: UnixTime) -> String {
    let seconds = u64::try_from(now).unwrap_or(0);
    Uuid::new_v7(Timestamp::from_unix(NoContext, seconds, 0)).to_string()
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
}
