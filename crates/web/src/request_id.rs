//! `X-Request-Id`: one id per request, on the response, in the request's log line and in
//! the security events it caused, so an operator can follow one request from the proxy's
//! log to ours and to the audit log.
//!
//! An id sent by the client is believed only from a trusted proxy (as `X-Forwarded-For`
//! is, S50) and only when it is short and plain: anyone else could plant a chosen id, or a
//! line break, in our logs and audit rows. Otherwise the id is 128 random bits.

use crate::client::TrustedProxies;
use axum::http::{HeaderMap, HeaderName};
use std::net::IpAddr;

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Long enough for a UUID with a prefix, a trace id or a proxy's own scheme.
const MAX_LEN: usize = 128;

/// The id of one request, in the request's extensions for the handlers (`Client`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestId(String);

impl RequestId {
    /// The proxy's id when `peer` is a trusted proxy and the id is sane, else a new one.
    pub(crate) fn for_request(
        peer: Option<IpAddr>,
        headers: &HeaderMap,
        proxies: &TrustedProxies,
    ) -> Self {
        peer.filter(|peer| proxies.contains(*peer))
            .and_then(|_| from_proxy(headers))
            .unwrap_or_else(Self::generate)
    }

    fn generate() -> Self {
        Self(format!("{:032x}", rand::random::<u128>()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one `X-Request-Id` a proxy sent, if it is 1-128 characters of `[A-Za-z0-9._:-]`.
/// Two of them are as unusable as a bad one: which would be the proxy's?
fn from_proxy(headers: &HeaderMap) -> Option<RequestId> {
    let mut values = headers.get_all(X_REQUEST_ID).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() || !is_sane(value) {
        return None;
    }
    Some(RequestId(value.to_string()))
}

fn is_sane(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_id(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_trusted_proxys_sane_id_is_kept() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        for id in ["abc", "req-1.2:3_4", &"a".repeat(128)] {
            let got = RequestId::for_request(ip("10.1.2.3"), &with_id(id), &proxies);
            assert_eq!(got.as_str(), id);
        }
    }

    #[test]
    fn an_id_from_anyone_else_is_replaced_by_a_random_one() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let headers = with_id("chosen-by-the-client");
        for peer in [ip("192.0.2.1"), None] {
            let got = RequestId::for_request(peer, &headers, &proxies);
            assert_ne!(got.as_str(), "chosen-by-the-client");
            assert_eq!(got.as_str().len(), 32);
            assert!(got.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn a_bad_or_repeated_id_from_a_trusted_proxy_is_replaced() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        for bad in [
            "",
            "has space",
            "semi;colon",
            "quote\"",
            "é",
            &"a".repeat(129),
        ] {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(bad) {
                headers.insert(X_REQUEST_ID, value);
            }
            let got = RequestId::for_request(ip("10.1.2.3"), &headers, &proxies);
            assert_ne!(got.as_str(), bad, "{bad:?}");
            assert_eq!(got.as_str().len(), 32, "{bad:?}");
        }
        let mut twice = with_id("one");
        twice.append(X_REQUEST_ID, HeaderValue::from_static("two"));
        let got = RequestId::for_request(ip("10.1.2.3"), &twice, &proxies);
        assert!(!["one", "two"].contains(&got.as_str()));
    }

    #[test]
    fn generated_ids_differ() {
        let proxies = TrustedProxies::default();
        let a = RequestId::for_request(None, &HeaderMap::new(), &proxies);
        let b = RequestId::for_request(None, &HeaderMap::new(), &proxies);
        assert_ne!(a, b);
    }
}
