//! Every metric the use cases record: their names, their labels, and one small function per
//! thing counted, so a call site is one short line. They go to the `metrics` facade; the
//! server installs the Prometheus recorder when `GATEHOUSE_METRICS_LISTEN` is set, and
//! without it every call here does nothing.
//!
//! Labels come only from fixed vocabularies (the audit log's stored names, budget kinds,
//! channels): never an e-mail address, an account id, a client address or anything else
//! a person typed or is, so a scrape can be shared without sharing personal data.

use crate::audit::{Delivery, Event};
use metrics::{counter, gauge};

const SECURITY_EVENTS: &str = "gatehouse_security_events_total";
const CODES_SENT: &str = "gatehouse_codes_sent_total";
const THROTTLE_REFUSALS: &str = "gatehouse_throttle_refusals_total";
const HASH_QUEUE_DEPTH: &str = "gatehouse_password_hash_queue_depth";
const HASH_REJECTIONS: &str = "gatehouse_password_hash_rejections_total";
const DATABASE_ERRORS: &str = "gatehouse_database_errors_total";

/// One recorded security event (S51), by its stored names; a code that left, by channel.
pub(crate) fn security_event(event: Event) {
    let (name, result) = event.stored();
    counter!(SECURITY_EVENTS, "event" => name, "result" => result).increment(1);
    match event {
        Event::CodeSent(Delivery::Sent) => counter!(CODES_SENT, "channel" => "email").increment(1),
        Event::TextSent(Delivery::Sent) => counter!(CODES_SENT, "channel" => "sms").increment(1),
        _ => {}
    }
}

/// A budget or a message window refused (S9, S47, S57), by the fixed name of its kind
/// (`Budget`, `Window` in `budget.rs`), never by its key, which names a person.
pub(crate) fn throttle_refused(kind: &'static str) {
    counter!(THROTTLE_REFUSALS, "budget" => kind).increment(1);
}

/// A password-hashing job waiting in the pool's queue: the gauge counts it until the guard
/// is dropped, when a worker takes the job or the job is turned away or lost.
pub(crate) struct QueuedHash(());

impl QueuedHash {
    pub(crate) fn enter() -> Self {
        gauge!(HASH_QUEUE_DEPTH).increment(1.0);
        Self(())
    }
}

impl Drop for QueuedHash {
    fn drop(&mut self) {
        gauge!(HASH_QUEUE_DEPTH).decrement(1.0);
    }
}

/// The hashing queue was full: the request got 503 (DESIGN.md §5).
pub(crate) fn hash_rejected() {
    counter!(HASH_REJECTIONS).increment(1);
}

/// A store failure that became a failure of a use case, or a security event not written.
pub(crate) fn database_error() {
    counter!(DATABASE_ERRORS).increment(1);
}

#[cfg(test)]
mod tests {
    use crate::budget::Budget;
    use gatehouse_core::AccountId;

    #[test]
    fn every_budget_has_a_label_that_holds_none_of_its_key() {
        let Some(id) = AccountId::parse("00000000-0000-7000-8000-000000000001") else {
            panic!("a fixed valid id");
        };
        let budgets = [
            (Budget::account("ann@example.com"), "account"),
            (Budget::client("192.0.2.7"), "client"),
            (Budget::client("2001:db8::1"), "client"),
            (Budget::second_step(&id), "second_step"),
            (Budget::known_browser(&id, "b1"), "known_browser"),
            (Budget::sign_up_guess("ann@example.com"), "sign_up_guess"),
        ];
        for (budget, label) in budgets {
            assert_eq!(budget.kind(), label, "{}", budget.key());
            for personal in ["ann@example.com", "192.0.2.7", "2001:db8", id.as_str()] {
                assert!(!budget.kind().contains(personal));
            }
        }
    }
}
