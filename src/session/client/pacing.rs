//! The realtime pacing clock of one transfer (docs/protocol.md D25, D41).
//!
//! A media clock that runs at the playback rate from an anchor: segment `i` is due when
//! the clock reaches its timestamp minus the allowed run-ahead. A rate change re-anchors
//! the clock where it stands, so the new cadence applies from that instant on and nothing
//! already due is released early or late; a pause freezes it and a resume restarts it from
//! where it froze; a seek drops it (the next segment sent starts a new clock).

use std::time::{Duration, Instant};

/// Media time as a function of wall time: `media + (now - at) * rate` while running.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PaceClock {
    at: Instant,
    media: f64,
    rate: f64,
    running: bool,
}

impl PaceClock {
    /// A clock showing `media` at `now`, running at `rate`.
    pub(crate) fn start(now: Instant, media: f64, rate: f64) -> Self {
        PaceClock {
            at: now,
            media,
            rate,
            running: true,
        }
    }

    /// The media time the clock shows at `now`.
    pub(crate) fn media_at(&self, now: Instant) -> f64 {
        if self.running {
            self.media + now.saturating_duration_since(self.at).as_secs_f64() * self.rate
        } else {
            self.media
        }
    }

    /// From `now` on, the clock runs at `rate` (from the media time it shows now).
    pub(crate) fn set_rate(&mut self, now: Instant, rate: f64) {
        self.media = self.media_at(now);
        self.at = now;
        self.rate = rate;
    }

    /// Freezes the clock at the media time it shows at `now`.
    pub(crate) fn pause(&mut self, now: Instant) {
        self.media = self.media_at(now);
        self.at = now;
        self.running = false;
    }

    /// Runs the clock again from where it froze.
    pub(crate) fn resume(&mut self, now: Instant) {
        if !self.running {
            self.at = now;
            self.running = true;
        }
    }

    /// When a segment of media timestamp `ts` is due, allowed `run_ahead` seconds of media
    /// ahead of the clock; None while frozen.
    pub(crate) fn due(&self, ts: f64, run_ahead: f64) -> Option<Instant> {
        if !self.running {
            return None;
        }
        let secs = ((ts - run_ahead - self.media) / self.rate).max(0.0);
        Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| self.at.checked_add(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_rate_change_applies_from_its_instant() {
        let t0 = Instant::now();
        let mut c = PaceClock::start(t0, 0.0, 1.0);
        assert_eq!(c.due(1.0, 0.0), Some(t0 + ms(1000)));
        // At +400 ms the clock shows 0.4 s; at rate 2 the 1.0 s segment is 300 ms later.
        c.set_rate(t0 + ms(400), 2.0);
        assert_eq!(c.due(1.0, 0.0), Some(t0 + ms(700)));
        // Already due: at once, never before the anchor.
        assert_eq!(c.due(0.2, 0.0), Some(t0 + ms(400)));
    }

    #[test]
    fn a_pause_freezes_and_a_resume_keeps_the_remaining_wait() {
        let t0 = Instant::now();
        let mut c = PaceClock::start(t0, 0.0, 1.0);
        c.pause(t0 + ms(300));
        assert_eq!(c.due(1.0, 0.0), None);
        assert!((c.media_at(t0 + ms(5000)) - 0.3).abs() < 1e-9);
        c.resume(t0 + ms(2000));
        assert_eq!(c.due(1.0, 0.0), Some(t0 + ms(2700)));
    }

    #[test]
    fn run_ahead_releases_earlier_by_that_much_media() {
        let t0 = Instant::now();
        let c = PaceClock::start(t0, 0.0, 2.0);
        assert_eq!(c.due(3.0, 1.0), Some(t0 + ms(1000)));
        assert_eq!(c.due(0.5, 1.0), Some(t0));
    }
}
