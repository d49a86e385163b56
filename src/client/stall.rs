//! The stall watch (decision D67): when to give a connection up although QUIC has not.
//!
//! QUIC's probe timeout doubles with every loss, so after a black hole of tens of seconds
//! an old connection may not probe again for as long; and a platform that stops granting
//! flow control leaves a sender waiting forever, the connection alive and acknowledged.
//! The driver samples the connection's counters every [`SAMPLE_EVERY`] and feeds them here:
//!
//! - **Silent**: datagrams went out and none at all came back for `stall_timeout`
//!   (keep-alives run, so an idle session notices too). The path is down.
//! - **Blocked**: segments are in flight (the machine says so) and for `stall_timeout` the
//!   connection made no progress, while nothing it sent waits for an answer: progress is
//!   new STREAM frames sent *and* new ACK frames received since the last progress. The
//!   platform answers what it gets (keep-alives are acknowledged) but grants no flow
//!   control or stream credit, so the client is held back, not cut off.
//!
//! The watch is pure (counters and instants in, a verdict out) so it is tested without a
//! connection.

use std::time::Duration;
use tokio::time::Instant;

/// How often the driver samples the connection's counters.
pub(super) const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// The connection counters the watch reads (`quinn::Connection::stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Sample {
    /// UDP datagrams received.
    pub rx_datagrams: u64,
    /// UDP datagrams sent.
    pub tx_datagrams: u64,
    /// STREAM frames sent (new data and retransmissions).
    pub tx_stream_frames: u64,
    /// ACK frames received.
    pub rx_acks: u64,
}

impl Sample {
    /// The counters of `conn` now.
    pub(super) fn of(conn: &quinn::Connection) -> Sample {
        let stats = conn.stats();
        Sample {
            rx_datagrams: stats.udp_rx.datagrams,
            tx_datagrams: stats.udp_tx.datagrams,
            tx_stream_frames: stats.frame_tx.stream,
            rx_acks: stats.frame_rx.acks,
        }
    }
}

/// Why a connection was given up (D67).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Sent, heard nothing: the path is down.
    Silent,
    /// Heard, but no segment made progress: the platform grants nothing.
    Blocked,
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stall::Silent => "nothing came back from the platform",
            Stall::Blocked => {
                "segments in flight made no progress (the platform granted no flow control)"
            }
        })
    }
}

/// Watches one connection (see the module doc).
#[derive(Debug)]
pub(super) struct StallWatch {
    stall_timeout: Duration,
    /// Counters at the last datagram received.
    heard: Sample,
    /// When the first datagram went out after the last one came in.
    unanswered_since: Option<Instant>,
    /// Counters at the last progress.
    progressed: Sample,
    /// When the last progress was seen (or nothing was in flight).
    progress_at: Instant,
}

impl StallWatch {
    /// A watch starting at `now` from the counters `first`.
    pub(super) fn new(stall_timeout: Duration, first: Sample, now: Instant) -> Self {
        StallWatch {
            stall_timeout,
            heard: first,
            unanswered_since: None,
            progressed: first,
            progress_at: now,
        }
    }

    /// Feeds the counters sampled at `now`; `in_flight`: segments are waiting on the
    /// transport. Returns the stall, once `stall_timeout` has passed without an answer or
    /// without progress.
    pub(super) fn observe(&mut self, now: Instant, s: Sample, in_flight: bool) -> Option<Stall> {
        if s.rx_datagrams != self.heard.rx_datagrams {
            self.heard = s;
            self.unanswered_since = None;
        } else if s.tx_datagrams > self.heard.tx_datagrams && self.unanswered_since.is_none() {
            self.unanswered_since = Some(now);
        }
        let progress = s.tx_stream_frames > self.progressed.tx_stream_frames
            && s.rx_acks > self.progressed.rx_acks;
        if progress || !in_flight {
            self.progressed = s;
            self.progress_at = now;
        }
        let unanswered = self
            .unanswered_since
            .is_some_and(|since| now.duration_since(since) >= self.stall_timeout);
        if unanswered {
            return Some(Stall::Silent);
        }
        // Stuck while nothing that went out is waiting for an answer: the client is held
        // back, not cut off (a cut path shows as unanswered sends, judged above).
        let stuck = now.duration_since(self.progress_at) >= self.stall_timeout;
        (stuck && self.unanswered_since.is_none()).then_some(Stall::Blocked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(2);

    /// Runs the watch over `steps` samples 100 ms apart, each `(rx, tx, stream, acks,
    /// in_flight)`; returns the index of the first stall and its kind.
    fn run(steps: impl IntoIterator<Item = (u64, u64, u64, u64, bool)>) -> Option<(usize, Stall)> {
        let t0 = Instant::now();
        let mut w = StallWatch::new(T, Sample::default(), t0);
        for (i, (rx, tx, stream, acks, in_flight)) in steps.into_iter().enumerate() {
            let s = Sample {
                rx_datagrams: rx,
                tx_datagrams: tx,
                tx_stream_frames: stream,
                rx_acks: acks,
            };
            let now = t0 + SAMPLE_EVERY * (i as u32 + 1);
            if let Some(stall) = w.observe(now, s, in_flight) {
                return Some((i, stall));
            }
        }
        None
    }

    #[test]
    fn a_healthy_upload_never_stalls() {
        let steps = (1..200u64).map(|i| (i, i * 3, i * 3, i, true));
        assert_eq!(run(steps), None);
    }

    #[test]
    fn an_idle_session_whose_keep_alives_are_answered_never_stalls() {
        // A keep-alive every 5 s, answered at once; nothing in flight.
        let steps = (0..200u64).map(|i| (i / 50, i / 50, 0, i / 50, false));
        assert_eq!(run(steps), None);
    }

    #[test]
    fn a_black_hole_is_silent_after_the_stall_timeout() {
        // Traffic for 1 s, then the path drops everything: sends go on, nothing comes back.
        let steps = (0..100u64).map(|i| {
            let rx = i.min(10);
            (rx, i * 2, i * 2, rx, true)
        });
        // Last answer and last progress at step 10, first unanswered send at step 11:
        // silent 2 s later, step 31 (never "blocked": its sends wait for an answer).
        assert_eq!(run(steps), Some((31, Stall::Silent)));
    }

    #[test]
    fn an_idle_session_in_a_black_hole_is_silent() {
        // Nothing in flight; keep-alives go out unanswered from step 11 on.
        let steps = (0..100u64).map(|i| (i.min(10), i, 0, i.min(10), false));
        assert_eq!(run(steps), Some((31, Stall::Silent)));
    }

    #[test]
    fn a_platform_that_grants_no_flow_control_is_blocked() {
        // Progress for 1 s, then only keep-alives both ways (answered): no STREAM frame.
        let steps = (0..100u64).map(|i| {
            let stream = i.min(10);
            (i, i + stream, stream, i, true)
        });
        assert_eq!(run(steps), Some((30, Stall::Blocked)));
    }

    #[test]
    fn retransmissions_without_acknowledgements_are_no_progress() {
        // STREAM frames go out (retransmitted) and datagrams come back (e.g. the platform's
        // own keep-alives), but no ACK frame: blocked.
        let steps = (0..100u64).map(|i| (i, 2 * i, i, 0, true));
        assert_eq!(run(steps), Some((19, Stall::Blocked)));
    }

    #[test]
    fn nothing_in_flight_is_never_blocked() {
        let steps = (0..100u64).map(|i| (i, i, 0, i, false));
        assert_eq!(run(steps), None);
    }
}
