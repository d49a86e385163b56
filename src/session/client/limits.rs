//! What the client lets the platform ask of it (D97, D98): requests per second per session
//! (a token bucket; beyond it ErrorReport 1009 RateLimitExceeded) and transfers at once
//! (beyond it a FileRequest gets ErrorReport 503 ServiceUnavailable). Both refusals carry
//! `retry_after`, the specification's ErrorReport field, in milliseconds, and `details.ack`
//! naming the request (profile section 4); the platform's API waits that long and asks
//! again, a bounded number of times (`platform::RefusalRetry`).

use std::time::{Duration, Instant};

use super::ClientSession;
use crate::wire::{ErrorReport, Message, StatusCode};

/// The limits a client puts on its platform's requests.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientLimits {
    /// Requests one session may receive per second, sustained (every platform message
    /// after the handshake but StatusResponse and ErrorReport: file lists, file requests,
    /// statistics, playback commands).
    pub requests_per_sec: f64,
    /// Requests one session may receive in a burst.
    pub request_burst: f64,
    /// Transfers one session may have at once (accepted and not finished, or being
    /// prepared); a FileRequest beyond is refused with 503.
    pub max_transfers: usize,
    /// The `retry_after` a FileRequest refused for `max_transfers` carries.
    pub busy_retry_after: Duration,
}

impl Default for ClientLimits {
    /// What `vstream client` applies: 20 requests per second (bursts of 40), 8 transfers
    /// at once, "busy" refusals asking for 1 s.
    fn default() -> Self {
        ClientLimits {
            requests_per_sec: 20.0,
            request_burst: 40.0,
            max_transfers: 8,
            busy_retry_after: Duration::from_secs(1),
        }
    }
}

impl ClientLimits {
    /// No limit: what [`crate::session::SessionConfig::default`] starts with, so that a
    /// library user (and the test suites, which fire requests as fast as they can) opts in.
    pub fn unlimited() -> Self {
        ClientLimits {
            requests_per_sec: f64::INFINITY,
            request_burst: f64::INFINITY,
            max_transfers: usize::MAX,
            busy_retry_after: Duration::from_secs(1),
        }
    }
}

/// The session's request bucket.
#[derive(Debug, Default)]
pub(super) struct RequestBucket {
    /// Tokens left and when they were counted; None until the first request (full).
    state: Option<(f64, Instant)>,
}

impl RequestBucket {
    /// Takes one token; Err: how long until one is available again.
    fn take(&mut self, limits: &ClientLimits, now: Instant) -> Result<(), Duration> {
        if !limits.requests_per_sec.is_finite() {
            return Ok(());
        }
        let burst = limits.request_burst.max(1.0);
        let rate = limits.requests_per_sec.max(0.001);
        let (tokens, at) = self.state.unwrap_or((burst, now));
        let elapsed = now.saturating_duration_since(at).as_secs_f64();
        let tokens = (tokens + elapsed * rate).min(burst);
        if tokens < 1.0 {
            self.state = Some((tokens, now));
            return Err(Duration::from_secs_f64((1.0 - tokens) / rate));
        }
        self.state = Some((tokens - 1.0, now));
        Ok(())
    }
}

/// Milliseconds for `retry_after`, at least 1.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_micros().div_ceil(1000))
        .unwrap_or(u64::MAX)
        .max(1)
}

impl ClientSession {
    /// The refusal of request `seq` when it exceeds the session's request rate or (a
    /// FileRequest) its transfers at once; None: go on. StatusResponse and ErrorReport are
    /// answers, not requests, and never refused here.
    pub(super) fn over_limit(
        &mut self,
        now: Instant,
        seq: u64,
        message: &Message,
    ) -> Option<ErrorReport> {
        if matches!(
            message,
            Message::StatusResponse(_) | Message::ErrorReport(_)
        ) {
            return None;
        }
        let limits = &self.config.client_limits;
        if let Err(wait) = self.request_bucket.take(limits, now) {
            let why = format!(
                "more than {} requests per second (bursts of {})",
                limits.requests_per_sec, limits.request_burst
            );
            return Some(refusal(StatusCode::RateLimitExceeded, why, seq, wait));
        }
        if matches!(message, Message::FileRequest(_)) {
            let active = self.transfers.iter().filter(|t| !t.is_finished()).count();
            let busy = active + self.pending.len();
            if busy >= limits.max_transfers {
                let why = format!(
                    "{busy} transfers in progress (at most {})",
                    limits.max_transfers
                );
                let wait = limits.busy_retry_after;
                return Some(refusal(StatusCode::ServiceUnavailable, why, seq, wait));
            }
        }
        None
    }
}

fn refusal(code: StatusCode, why: String, ack: u64, wait: Duration) -> ErrorReport {
    let mut report = ErrorReport::new(code, why).with_ack(ack);
    report.retry_after = Some(millis(wait));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_gives_its_burst_then_its_rate_and_says_how_long_to_wait() {
        let limits = ClientLimits {
            requests_per_sec: 10.0,
            request_burst: 3.0,
            ..ClientLimits::default()
        };
        let mut bucket = RequestBucket::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(bucket.take(&limits, t0), Ok(()));
        }
        let wait = bucket.take(&limits, t0).unwrap_err();
        assert_eq!(millis(wait), 100);
        // Half-way, the wait is half as long; then a token is there again.
        let half = t0 + Duration::from_millis(50);
        assert_eq!(millis(bucket.take(&limits, half).unwrap_err()), 50);
        assert_eq!(
            bucket.take(&limits, t0 + Duration::from_millis(100)),
            Ok(())
        );
    }

    #[test]
    fn unlimited_never_refuses() {
        let limits = ClientLimits::unlimited();
        let mut bucket = RequestBucket::default();
        let t0 = Instant::now();
        assert!((0..100_000).all(|_| bucket.take(&limits, t0).is_ok()));
    }

    #[test]
    fn retry_after_is_in_whole_milliseconds_rounded_up() {
        assert_eq!(millis(Duration::from_micros(1)), 1);
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(1500)), 2);
        assert_eq!(millis(Duration::from_secs(1)), 1000);
    }
}
