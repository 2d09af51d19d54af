//! Who is asking: the client's address and the browser's name, for limits and the audit log.
//!
//! S50: the address is the TCP peer, unless that peer is a configured trusted proxy; only
//! then is `X-Forwarded-For` read, from the right, skipping further trusted proxies, and
//! the first address that is not one of ours is the client. Each hop was written by the
//! proxy to its right, so what lies left of the client is the sender's own say and is never
//! read: junk there changes nothing.
//!
//! A hop that does not parse ends the walk where it stands. Whoever wrote it (the nearest
//! good hop to its right, or the peer) vouches for a client we cannot name, so that client
//! is `ClientAddress::Unknown` via that hop: never an address further left (the sender
//! would pick it), never the proxy's own address (its bucket would be shared by everyone
//! who sends junk), and the same for every junk, so varying it neither bypasses nor resets
//! a limit [authentik CVE-2024-47070]. Hops written as `IP:port` or `[IPv6]:port`, as some
//! proxies do, are read as their address.

use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use gatehouse_app::ClientInfo;
use std::convert::Infallible;
use std::fmt;
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
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddress {
        if !self.contains(peer) {
            return ClientAddress::Ip(peer);
        }
        // A proxy may add its own header line instead of appending to the last one; the
        // lines together are one list (RFC 9110 §5.3), else a forged first line would count.
        // A line that is not text is one hop that does not parse.
        let hops: Vec<Option<IpAddr>> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|line| match line.to_str() {
                Ok(text) => text
                    .split(',')
                    .map(str::trim)
                    .filter(|hop| !hop.is_empty())
                    .map(parse_hop)
                    .collect(),
                Err(_) => vec![None],
            })
            .collect();
        let mut vouching = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(address) if self.contains(address) => vouching = address,
                Some(address) => return ClientAddress::Ip(address),
                None => return ClientAddress::Unknown { via: vouching },
            }
        }
        ClientAddress::Ip(vouching)
    }
}

/// Who a request comes from, as far as S50 lets us tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAddress {
    Ip(IpAddr),
    /// Behind the trusted proxy `via`, which forwarded a hop that does not parse.
    Unknown {
        via: IpAddr,
    },
}

/// The text limits are keyed on and the activity list shows: an address, or one fixed name
/// per proxy for the clients it could not name (its own bucket, not the proxy's).
impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(address) => write!(f, "{address}"),
            Self::Unknown { via } => write!(f, "unknown via {via}"),
        }
    }
}

/// One hop: an address, or an address with a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
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
            client("198.51.100.9")
        );
        assert_eq!(
            TrustedProxies::default().client_address(ip("10.1.1.1"), &forwarded("192.0.2.1")),
            client("10.1.1.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_outside_address_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").unwrap();
        // The client forged the leftmost entry; the proxies appended the real one.
        let headers = forwarded("203.0.113.66, 198.51.100.9, 192.0.2.7");
        assert_eq!(
            proxies.client_address(ip("10.2.3.4"), &headers),
            client("198.51.100.9")
        );
    }

    fn client(address: &str) -> ClientAddress {
        ClientAddress::Ip(ip(address))
    }

    #[test]
    fn junk_left_of_the_client_changes_nothing() {
        // The sender's own header, to which the proxy appended the address it saw: once a
        // junk hop dropped the whole header, and every such sender shared the proxy's bucket.
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        for junk in [
            "not an address, 198.51.100.9",
            "::::, 198.51.100.9",
            "203.0.113.66, <script>, 198.51.100.9, 10.0.0.5",
        ] {
            assert_eq!(
                proxies.client_address(ip("10.2.3.4"), &forwarded(junk)),
                client("198.51.100.9"),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn a_junk_hop_ends_the_walk_in_a_bucket_of_its_own() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = ip("10.2.3.4");
        let unknown = ClientAddress::Unknown { via: peer };
        // S50: the sender picks neither the address left of the junk nor the proxy's bucket,
        // and every junk gives the same client, so varying it resets nothing.
        for junk in [
            "not an address",
            "198.51.100.9, ::::",
            "198.51.100.9, junk-2",
        ] {
            let found = proxies.client_address(peer, &forwarded(junk));
            assert_eq!(found, unknown, "{junk:?}");
            assert_ne!(found.to_string(), peer.to_string());
        }
        // Junk behind a second trusted proxy is that proxy's unknown client.
        assert_eq!(
            proxies.client_address(peer, &forwarded("198.51.100.9, junk, 10.9.9.9")),
            ClientAddress::Unknown {
                via: ip("10.9.9.9")
            }
        );
        assert_eq!(unknown.to_string(), "unknown via 10.2.3.4");
        // A line that is not even text is one junk hop, not a reason to drop the others.
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("198.51.100.9"));
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert_eq!(proxies.client_address(peer, &headers), unknown);
    }

    #[test]
    fn an_empty_header_or_only_proxies_leave_the_nearest_proxy() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            proxies.client_address(ip("10.2.3.4"), &forwarded("")),
            client("10.2.3.4")
        );
        assert_eq!(
            proxies.client_address(ip("10.2.3.4"), &forwarded("10.0.0.9, 10.0.0.8")),
            client("10.0.0.9")
        );
    }

    #[test]
    fn hops_with_ports_are_read_as_their_address() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            proxies.client_address(ip("10.2.3.4"), &forwarded("198.51.100.9:4711")),
            client("198.51.100.9")
        );
        assert_eq!(
            proxies.client_address(
                ip("10.2.3.4"),
                &forwarded("[2001:db8::1]:4711, 10.0.0.5:80")
            ),
            client("2001:db8::1")
        );
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
            client("198.51.100.9")
        );
    }
}
