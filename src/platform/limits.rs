//! Connection limits of the platform, applied to each incoming connection before its TLS
//! handshake (D95): sessions in total, handshake rate per source address, and QUIC address
//! validation (Retry) under load.

use std::collections::HashMap;
use std::net::IpAddr;
use tokio::time::Instant;

/// The platform's connection limits.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Live sessions at most; a connection beyond is refused (QUIC CONNECTION_REFUSED).
    pub max_sessions: usize,
    /// Handshakes per second one source address may start, sustained.
    pub handshakes_per_sec: f64,
    /// Handshakes one source address may start in a burst.
    pub handshake_burst: f64,
    /// From this many live sessions on, a client must prove its address with a QUIC Retry
    /// before its handshake costs the platform anything.
    pub retry_above: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_sessions: 1000,
            handshakes_per_sec: 20.0,
            handshake_burst: 40.0,
            retry_above: 64,
        }
    }
}

impl ConnectionLimits {
    /// No limit: what [`crate::platform::PlatformConfig::new`] starts with, so that a
    /// library user (and the test suites, which open thousands of connections from one
    /// address) opts in; `vstream platform` applies [`ConnectionLimits::default`]'s values.
    pub fn unlimited() -> Self {
        ConnectionLimits {
            max_sessions: usize::MAX,
            handshakes_per_sec: f64::INFINITY,
            handshake_burst: f64::INFINITY,
            retry_above: usize::MAX,
        }
    }
}

/// What to do with an incoming connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go on with the handshake.
    Accept,
    /// Ask the client to prove its address first.
    Retry,
    /// Refuse, and why.
    Refuse(&'static str),
}

/// Per-source token buckets (bounded: at most `MAX_SOURCES` addresses tracked; when full,
/// buckets that are full again are dropped, then all).
#[derive(Debug, Default)]
pub(crate) struct HandshakeLimiter {
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

const MAX_SOURCES: usize = 16 * 1024;

impl HandshakeLimiter {
    /// Decides on a connection from `source` with `live` sessions and `validated` telling
    /// whether the address was proven by a Retry.
    pub(crate) fn admit(
        &mut self,
        limits: &ConnectionLimits,
        now: Instant,
        source: IpAddr,
        live: usize,
        validated: bool,
    ) -> Admission {
        if live >= limits.max_sessions {
            return Admission::Refuse("the platform holds its maximum of sessions");
        }
        if live >= limits.retry_above && !validated {
            return Admission::Retry;
        }
        if !limits.handshakes_per_sec.is_finite() {
            return Admission::Accept;
        }
        if self.buckets.len() >= MAX_SOURCES && !self.buckets.contains_key(&source) {
            let full = limits.handshake_burst;
            let rate = limits.handshakes_per_sec;
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + rate * now.saturating_duration_since(*at).as_secs_f64() < full
            });
            if self.buckets.len() >= MAX_SOURCES {
                self.buckets.clear();
            }
        }
        let (tokens, at) = self
            .buckets
            .entry(source)
            .or_insert((limits.handshake_burst, now));
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *tokens = (*tokens + elapsed * limits.handshakes_per_sec).min(limits.handshake_burst);
        *at = now;
        if *tokens < 1.0 {
            return Admission::Refuse("too many handshakes from this address");
        }
        *tokens -= 1.0;
        Admission::Accept
    }
}

/// How long a refused source waits before its bucket holds a handshake again.
#[cfg(test)]
pub(crate) fn refill_time(limits: &ConnectionLimits) -> std::time::Duration {
    std::time::Duration::from_secs_f64(1.0 / limits.handshakes_per_sec.max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let limits = ConnectionLimits {
            handshakes_per_sec: 10.0,
            handshake_burst: 3.0,
            ..ConnectionLimits::default()
        };
        let mut l = HandshakeLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(l.admit(&limits, t0, ip, 0, false), Admission::Accept);
        }
        assert!(matches!(
            l.admit(&limits, t0, ip, 0, false),
            Admission::Refuse(_)
        ));
        assert_eq!(l.admit(&limits, t0, other, 0, false), Admission::Accept);
        let later = t0 + refill_time(&limits);
        assert_eq!(l.admit(&limits, later, ip, 0, false), Admission::Accept);
    }

    #[test]
    fn sessions_cap_and_retry_under_load() {
        let limits = ConnectionLimits {
            max_sessions: 5,
            retry_above: 2,
            ..ConnectionLimits::default()
        };
        let mut l = HandshakeLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(l.admit(&limits, t0, ip, 1, false), Admission::Accept);
        assert_eq!(l.admit(&limits, t0, ip, 2, false), Admission::Retry);
        assert_eq!(l.admit(&limits, t0, ip, 2, true), Admission::Accept);
        assert!(matches!(
            l.admit(&limits, t0, ip, 5, true),
            Admission::Refuse(_)
        ));
    }
}
