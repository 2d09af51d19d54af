//! Who is asking: the client's address and the browser's name, for limits and the audit log.
//!
//! S50: the address is the TCP peer, unless that peer is a configured trusted proxy; only
//! then is `X-Forwarded-For` read, from the right, skipping further trusted proxies, and
//! the first address that is not one of ours is the client. A header that does not parse
//! is ignored: a junk header neither bypasses nor resets a limit [authentik CVE-2024-47070].

use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use gatehouse_app::ClientInfo;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// Enough of a user agent to tell browsers apart in a log; no more.
const MAX_USER_AGENT: usize = 256;

/// Addresses (single or CIDR blocks) whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses "10.0.0.0/8, 192.0.2.7, fd00::/8"; an entry that does not parse is an error
    /// naming it.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut blocks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (address, bits) = match entry.split_once('/') {
                Some((a, b)) => (
                    a,
                    Some(
                        b.parse::<u8>()
                            .map_err(|_| format!("{entry:?} is not an address or CIDR block"))?,
                    ),
                ),
                None => (entry, None),
            };
            let address: IpAddr = address
                .parse()
                .map_err(|_| format!("{entry:?} is not an address or CIDR block"))?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let bits = bits.unwrap_or(max);
            if bits > max {
                return Err(format!("{entry:?} has a prefix longer than the address"));
            }
            blocks.push((address, bits));
        }
        Ok(Self(blocks))
    }

    pub(crate) fn contains(&self, address: IpAddr) -> bool {
        self.0
            .iter()
            .any(|(block, bits)| in_block(address, *block, *bits))
    }

    /// The client behind `peer`, given the request's headers.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        // A proxy may add its own header line instead of appending to the last one; the
        // lines together are one list (RFC 9110 §5.3), else a forged first line would count.
        let lines: Option<Vec<&str>> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().ok())
            .collect();
        let Some(lines) = lines.filter(|l| !l.is_empty()) else {
            return peer;
        };
        let forwarded = lines.join(",");
        let hops: Result<Vec<IpAddr>, _> = forwarded
            .split(',')
            .map(|h| h.trim().parse::<IpAddr>())
            .collect();
        let Ok(hops) = hops else {
            return peer;
        };
        hops.into_iter()
            .rev()
            .find(|hop| !self.contains(*hop))
            .unwrap_or(peer)
    }
}

fn in_block(address: IpAddr, block: IpAddr, bits: u8) -> bool {
    match (address, block) {
        (IpAddr::V4(a), IpAddr::V4(b)) => prefix_matches(&a.octets(), &b.octets(), bits),
        (IpAddr::V6(a), IpAddr::V6(b)) => prefix_matches(&a.octets(), &b.octets(), bits),
        (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

fn prefix_matches(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a.get(..full) != b.get(..full) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    matches!((a.get(full), b.get(full)), (Some(x), Some(y)) if x & mask == y & mask)
}

pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| {
                state
                    .trusted_proxies
                    .client_address(peer.ip(), &parts.headers)
                    .to_string()
            });
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        Ok(Self(ClientInfo {
            address,
            user_agent,
            request_id: parts
                .extensions
                .get::<crate::request_id::RequestId>()
                .map(|id| id.as_str().to_string()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static(value));
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            proxies.client_address(ip("198.51.100.9"), &forwarded("192.0.2.1")),
            ip("198.51.100.9")
        );
        assert_eq!(
            TrustedProxies::default().client_address(ip("10.1.1.1"), &forwarded("192.0.2.1")),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_outside_address_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").unwrap();
        // The client forged the leftmost entry; the proxies appended the real one.
        let headers = forwarded("203.0.113.66, 198.51.100.9, 192.0.2.7");
        assert_eq!(
            proxies.client_address(ip("10.2.3.4"), &headers),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn a_junk_header_neither_bypasses_nor_resets_a_limit() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        for junk in ["not an address", "198.51.100.9, ::::", ""] {
            assert_eq!(
                proxies.client_address(ip("10.2.3.4"), &forwarded(junk)),
                ip("10.2.3.4"),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn cidr_blocks_and_errors() {
        let proxies = TrustedProxies::parse("192.168.0.0/16, fd00::/8").unwrap();
        assert!(proxies.contains(ip("192.168.44.1")));
        assert!(!proxies.contains(ip("192.169.0.1")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(!proxies.contains(ip("fe80::1")));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.example").is_err());
    }

    #[test]
    fn a_prefix_longer_than_the_address_is_refused() {
        // 255 once stood for "no prefix" and slipped through as a single address.
        for entry in ["10.0.0.0/255", "10.0.0.0/64", "fd00::/129", "fd00::/255"] {
            assert!(TrustedProxies::parse(entry).is_err(), "{entry}");
        }
        let proxies = TrustedProxies::parse("10.0.0.7/32, fd00::1/128, 192.0.2.7").unwrap();
        assert!(proxies.contains(ip("10.0.0.7")));
        assert!(!proxies.contains(ip("10.0.0.8")));
        assert!(proxies.contains(ip("fd00::1")));
        assert!(proxies.contains(ip("192.0.2.7")));
        assert!(!proxies.contains(ip("192.0.2.8")));
    }

    #[test]
    fn every_forwarded_line_counts_not_only_the_first() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // The client sent a forged line; the proxy added its own line rather than appending.
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("203.0.113.66"));
        headers.append("x-forwarded-for", HeaderValue::from_static("198.51.100.9"));
        assert_eq!(
            proxies.client_address(ip("10.2.3.4"), &headers),
            ip("198.51.100.9")
        );
    }
}
