//! When the client tries again after its connection broke: the specification's
//! `RecoveryStrategy`, capped, with seeded jitter and an optional retry limit.
//!
//! The schedule is pure: [`Backoff::next_delay`] returns how long to wait before the next
//! attempt and never reads a clock, so the supervisor that sleeps can run on tokio's or
//! turmoil's time and a seed replays the same waits (decision D60).
//!
//! # Schedule
//! ```text
//! attempt n (0-based)   Immediate   ExponentialBackoff   LinearBackoff   AdaptiveBackoff
//! base delay            0           100 ms x 2^n         1000 ms x n     500 ms + 200 ms x n
//! delay = min(base, max_backoff) x (1 - jitter x u),  u uniform in [0, 1) from the seed
//! ```
//! Jitter only shortens a wait, so `max_backoff` stays a true bound; a device fleet that
//! lost its platform at the same instant spreads its reconnections over `jitter x` the wait.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The specification's four ways to space reconnection attempts (section "连接恢复").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryStrategy {
    /// Try again at once.
    Immediate,
    /// 100 ms x 2^n.
    #[default]
    ExponentialBackoff,
    /// 1000 ms x n.
    LinearBackoff,
    /// 500 ms + 200 ms x n.
    AdaptiveBackoff,
}

impl RecoveryStrategy {
    /// The wait before attempt `n` (0-based), before the cap and jitter.
    pub fn base_delay(self, n: u32) -> Duration {
        match self {
            RecoveryStrategy::Immediate => Duration::ZERO,
            // 2^n overflows u64 milliseconds past n = 56; any n past 40 is years anyway.
            RecoveryStrategy::ExponentialBackoff => {
                Duration::from_millis(100u64.saturating_mul(1u64 << n.min(40)))
            }
            RecoveryStrategy::LinearBackoff => Duration::from_millis(1000 * u64::from(n)),
            RecoveryStrategy::AdaptiveBackoff => Duration::from_millis(500 + 200 * u64::from(n)),
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RecoveryStrategy::Immediate => "immediate",
            RecoveryStrategy::ExponentialBackoff => "exponential",
            RecoveryStrategy::LinearBackoff => "linear",
            RecoveryStrategy::AdaptiveBackoff => "adaptive",
        }
    }
}

impl fmt::Display for RecoveryStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A strategy name that is not one of `immediate`, `exponential`, `linear`, `adaptive`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reconnect strategy {0:?}: expected immediate, exponential, linear or adaptive")]
pub struct UnknownStrategy(pub String);

impl FromStr for RecoveryStrategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "immediate" => Ok(RecoveryStrategy::Immediate),
            "exponential" => Ok(RecoveryStrategy::ExponentialBackoff),
            "linear" => Ok(RecoveryStrategy::LinearBackoff),
            "adaptive" => Ok(RecoveryStrategy::AdaptiveBackoff),
            _ => Err(UnknownStrategy(s.to_string())),
        }
    }
}

/// How a client reconnects after its connection broke.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    /// How attempts are spaced.
    pub strategy: RecoveryStrategy,
    /// No wait is longer than this (default 30 s).
    pub max_backoff: Duration,
    /// Attempts after which the client gives up; None retries forever (the default: an
    /// unattended device must).
    pub max_retries: Option<u32>,
    /// Fraction of each wait that is randomly taken off, 0.0-1.0 (default 0.2).
    pub jitter: f64,
    /// Seed of the jitter, so a simulation replays the same waits. A fleet of devices
    /// should give each device its own (the CLI draws one from the OS).
    pub seed: u64,
    /// A connection on which nothing arrived for this long while a transfer is under way
    /// is given up and replaced by a new one (default 2 s), whatever QUIC's own probe
    /// backoff would wait.
    pub stall_after: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            strategy: RecoveryStrategy::default(),
            max_backoff: Duration::from_secs(30),
            max_retries: None,
            jitter: 0.2,
            seed: 0,
            stall_after: Duration::from_secs(2),
        }
    }
}

/// The reconnection schedule of one client: the waits before successive attempts.
///
/// Call [`Backoff::next_delay`] before each attempt and [`Backoff::reset`] once a
/// connection completed its handshake, so the next break starts again from attempt 0.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: ReconnectPolicy,
    /// Attempts since the last reset.
    attempt: u32,
    /// Attempts over the client's life (for the report).
    total: u64,
    rng: SmallRng,
}

impl Backoff {
    /// A schedule at attempt 0.
    pub fn new(policy: ReconnectPolicy) -> Self {
        let rng = SmallRng::seed_from_u64(policy.seed);
        Backoff {
            policy,
            attempt: 0,
            total: 0,
            rng,
        }
    }

    /// The wait before the next attempt, or None when `max_retries` attempts were made
    /// since the last reset (give up).
    #[must_use]
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self
            .policy
            .max_retries
            .is_some_and(|max| self.attempt >= max)
        {
            return None;
        }
        let capped = self
            .policy
            .strategy
            .base_delay(self.attempt)
            .min(self.policy.max_backoff);
        let jitter = self.policy.jitter.clamp(0.0, 1.0);
        let u: f64 = self.rng.random();
        self.attempt = self.attempt.saturating_add(1);
        self.total = self.total.saturating_add(1);
        Some(capped.mul_f64(1.0 - jitter * u))
    }

    /// A connection succeeded: the next break starts again from attempt 0.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Attempts since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Attempts over the schedule's life.
    pub fn total_attempts(&self) -> u64 {
        self.total
    }

    /// The policy.
    pub fn policy(&self) -> &ReconnectPolicy {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_jitter(strategy: RecoveryStrategy) -> ReconnectPolicy {
        ReconnectPolicy {
            strategy,
            jitter: 0.0,
            max_backoff: Duration::from_secs(3600),
            ..ReconnectPolicy::default()
        }
    }

    fn first_millis(policy: ReconnectPolicy, n: usize) -> Vec<u128> {
        let mut b = Backoff::new(policy);
        (0..n)
            .map(|_| b.next_delay().map(|d| d.as_millis()).unwrap_or(u128::MAX))
            .collect()
    }

    #[test]
    fn each_strategy_follows_the_specification_formula() {
        use RecoveryStrategy::*;
        assert_eq!(first_millis(no_jitter(Immediate), 4), [0, 0, 0, 0]);
        assert_eq!(
            first_millis(no_jitter(ExponentialBackoff), 5),
            [100, 200, 400, 800, 1600]
        );
        assert_eq!(
            first_millis(no_jitter(LinearBackoff), 4),
            [0, 1000, 2000, 3000]
        );
        assert_eq!(
            first_millis(no_jitter(AdaptiveBackoff), 4),
            [500, 700, 900, 1100]
        );
    }

    #[test]
    fn waits_are_capped_by_max_backoff_and_never_overflow() {
        let policy = ReconnectPolicy {
            jitter: 0.0,
            ..ReconnectPolicy::default()
        };
        let waits = first_millis(policy, 200);
        assert_eq!(waits[8], 25_600);
        assert!(waits[9..].iter().all(|&w| w == 30_000), "{waits:?}");
        assert_eq!(
            RecoveryStrategy::ExponentialBackoff.base_delay(u32::MAX),
            Duration::from_millis(100 << 40)
        );
        assert!(RecoveryStrategy::LinearBackoff.base_delay(u32::MAX) > Duration::from_secs(1));
    }

    #[test]
    fn jitter_only_shortens_and_replays_by_seed() {
        let policy = ReconnectPolicy {
            strategy: RecoveryStrategy::AdaptiveBackoff,
            jitter: 0.5,
            seed: 7,
            ..ReconnectPolicy::default()
        };
        let a = first_millis(policy.clone(), 50);
        let b = first_millis(policy.clone(), 50);
        assert_eq!(a, b, "same seed, same waits");
        for (n, w) in a.iter().enumerate() {
            let base = 500 + 200 * n as u128;
            let base = base.min(30_000);
            assert!(*w <= base && *w >= base / 2, "attempt {n}: {w} of {base}");
        }
        let other = first_millis(ReconnectPolicy { seed: 8, ..policy }, 50);
        assert_ne!(a, other, "another seed spreads the waits differently");
    }

    #[test]
    fn max_retries_gives_up_and_reset_starts_over() {
        let mut b = Backoff::new(ReconnectPolicy {
            max_retries: Some(3),
            jitter: 0.0,
            ..ReconnectPolicy::default()
        });
        let waits: Vec<_> = (0..4).map(|_| b.next_delay()).collect();
        assert_eq!(
            waits,
            [
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(400)),
                None
            ]
        );
        b.reset();
        assert_eq!(b.next_delay(), Some(Duration::from_millis(100)));
        assert_eq!(b.total_attempts(), 4);
    }

    #[test]
    fn default_retries_forever() {
        let mut b = Backoff::new(ReconnectPolicy::default());
        assert!((0..10_000).all(|_| b.next_delay().is_some()));
    }

    #[test]
    fn strategy_names_round_trip_and_unknown_is_an_error() {
        for s in [
            RecoveryStrategy::Immediate,
            RecoveryStrategy::ExponentialBackoff,
            RecoveryStrategy::LinearBackoff,
            RecoveryStrategy::AdaptiveBackoff,
        ] {
            assert_eq!(s.name().parse::<RecoveryStrategy>(), Ok(s));
        }
        assert_eq!(
            "EXPONENTIAL".parse::<RecoveryStrategy>(),
            Ok(RecoveryStrategy::ExponentialBackoff)
        );
        assert_eq!(
            "fibonacci".parse::<RecoveryStrategy>(),
            Err(UnknownStrategy("fibonacci".into()))
        );
    }
}
