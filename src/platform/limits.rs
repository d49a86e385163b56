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
    /// Live sessions one authenticated device may hold; its next SessionStart is refused
    /// with 1009 RateLimitExceeded (D96).
    pub max_sessions_per_device: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_sessions: 1000,
            handshakes_per_sec: 20.0,
            handshake_burst: 40.0,
            retry_above: 64,
            max_sessions_per_device: 4,
        }
    }
}

impl ConnectionLimits {
    /// The table of live sessions per device these limits ask for, if any (D96).
    pub(crate) fn device_sessions(&self) -> Option<std::sync::Arc<crate::auth::DeviceSessions>> {
        (self.max_sessions_per_device != usize::MAX)
            .then(|| crate::auth::DeviceSessions::new(self.max_sessions_per_device))
    }

    /// No limit: what [`crate::platform::PlatformConfig::new`] starts with, so that a
    /// library user (and the test suites, which open thousands of connections from one
    /// address) opts in; `vstream platform` applies [`ConnectionLimits::default`]'s values.
    pub fn unlimited() -> Self {
        ConnectionLimits {
            max_sessions: usize::MAX,
            handshakes_per_sec: f64::INFINITY,
            handshake_burst: f64::INFINITY,
            retry_above: usize::MAX,
            max_sessions_per_device: usize::MAX,
        }
    }
}

/// How the platform's request API honours a client's `retry_after` (D97): a request
/// refused with 1009 RateLimitExceeded or 503 ServiceUnavailable carrying `retry_after` is
/// sent again after that wait, at most `attempts` more times; a wait longer than
/// `max_wait` is not waited for (the refusal is returned). An API call thus ends after at
/// most `attempts` x (`max_wait` + the request timeout).
#[derive(Debug, Clone, PartialEq)]
pub struct RefusalRetry {
    /// Requests sent again at most, per API call (0: never).
    pub attempts: u32,
    /// The longest `retry_after` waited for.
    pub max_wait: std::time::Duration,
}

impl Default for RefusalRetry {
    /// 3 more attempts, waits up to 10 s each.
    fn default() -> Self {
        RefusalRetry {
            attempts: 3,
            max_wait: std::time::Duration::from_secs(10),
        }
    }
}

impl RefusalRetry {
    /// How long to wait before sending again a request that failed with `error` after
    /// `retried` retries; None: return the error.
    pub(crate) fn wait(
        &self,
        error: &super::PlatformError,
        retried: u32,
    ) -> Option<std::time::Duration> {
        use crate::wire::StatusCode;
        let super::PlatformError::Refused {
            code: StatusCode::RateLimitExceeded | StatusCode::ServiceUnavailable,
            retry_after: Some(wait),
            ..
        } = error
        else {
            return None;
        };
        (retried < self.attempts && *wait <= self.max_wait).then_some(*wait)
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

/// The log of refused connections: one line per source address per second at most, the
/// line saying how many refusals went unlogged since the previous one (a flood must not
/// flood the log too). Bounded like the buckets.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    /// Per source: when its last line was written, refusals since.
    sources: HashMap<IpAddr, (Instant, u64)>,
}

/// The least time between two log lines about one source.
const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl RefusalLog {
    /// Logs the refusal of a connection from `remote`, if a line is due (see [`Self::note`]).
    pub(crate) fn log(&mut self, now: Instant, remote: std::net::SocketAddr, why: &str) {
        match self.note(now, remote.ip()) {
            Some(0) => tracing::warn!("refused a connection from {remote}: {why}"),
            Some(n) => tracing::warn!(
                "refused a connection from {remote}: {why} ({n} more from {} since the last \
                 line)",
                remote.ip()
            ),
            None => {}
        }
    }

    /// A connection from `source` was refused: Some(n) when a line is due now, `n` the
    /// refusals not logged since the previous line; None: counted, not logged.
    pub(crate) fn note(&mut self, now: Instant, source: IpAddr) -> Option<u64> {
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&source) {
            self.sources
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < LOG_EVERY);
            if self.sources.len() >= MAX_SOURCES {
                self.sources.clear();
            }
        }
        match self.sources.get_mut(&source) {
            Some((at, unlogged)) if now.saturating_duration_since(*at) < LOG_EVERY => {
                *unlogged += 1;
                None
            }
            Some((at, unlogged)) => {
                *at = now;
                Some(std::mem::take(unlogged))
            }
            None => {
                self.sources.insert(source, (now, 0));
                Some(0)
            }
        }
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
    fn refusals_with_retry_after_are_retried_a_bounded_number_of_times() {
        use crate::platform::PlatformError;
        use crate::wire::StatusCode;
        use std::time::Duration;
        let policy = RefusalRetry {
            attempts: 2,
            max_wait: Duration::from_secs(1),
        };
        let refused = |code, wait: Option<u64>| PlatformError::Refused {
            code,
            message: String::new(),
            retry_after: wait.map(Duration::from_millis),
        };
        let busy = refused(StatusCode::RateLimitExceeded, Some(300));
        assert_eq!(policy.wait(&busy, 0), Some(Duration::from_millis(300)));
        assert_eq!(policy.wait(&busy, 1), Some(Duration::from_millis(300)));
        assert_eq!(policy.wait(&busy, 2), None, "attempts are bounded");
        let unavailable = refused(StatusCode::ServiceUnavailable, Some(1000));
        assert_eq!(policy.wait(&unavailable, 0), Some(Duration::from_secs(1)));
        let too_long = refused(StatusCode::RateLimitExceeded, Some(1001));
        assert_eq!(policy.wait(&too_long, 0), None, "longer than max_wait");
        assert_eq!(
            policy.wait(&refused(StatusCode::RateLimitExceeded, None), 0),
            None
        );
        let not_found = refused(StatusCode::NotFound, Some(10));
        assert_eq!(policy.wait(&not_found, 0), None, "only 1009 and 503");
        assert_eq!(policy.wait(&PlatformError::Timeout, 0), None);
    }

    #[test]
    fn refusals_are_logged_once_a_second_per_source_with_the_count_in_between() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(log.note(t0, ip), Some(0));
        for i in 1..=99u64 {
            let at = t0 + std::time::Duration::from_millis(i * 10 - 5);
            assert_eq!(log.note(at, ip), None);
        }
        assert_eq!(log.note(t0, other), Some(0), "sources are apart");
        assert_eq!(log.note(t0 + LOG_EVERY, ip), Some(99));
        assert_eq!(log.note(t0 + 3 * LOG_EVERY, ip), Some(0));
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
