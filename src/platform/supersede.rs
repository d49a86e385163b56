//! A restarted client is resumed in seconds (docs/protocol.md D117): when a session becomes
//! established and an older, *silent* connection of the same device still holds transfers,
//! the platform closes the older one (1007 ConnectionTimeout) so that its transfers break,
//! are parked (D64) and are claimed by the new session at once, instead of after QUIC's
//! idle timeout (30 s).
//!
//! The rule is sans-IO: [`judge`] decides from what the driver observed ([`Activity`]: the
//! samples of quinn's received-datagram counter, on tokio's clock); the driver only feeds
//! the samples and times and carries out the [`Verdict`].
//!
//! Why silence is safe to read as death: both sides send a keep-alive PING after
//! `TransportSettings::keep_alive` (5 s) without receiving anything, and a live peer
//! acknowledges a PING within a round trip (a lost one is probed again after a
//! probe timeout). A live connection, paused or not, is therefore never silent for much
//! longer than the keep-alive interval; the bound is that interval plus a margin plus four
//! round trips of the older connection.

use super::{Command, Platform};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How often a connection samples its received-datagram counter (its silence is known to
/// this precision, never overestimated).
pub(super) const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// When a connection last received anything, as far as the samples of its
/// received-datagram counter (`quinn::ConnectionStats::udp_rx.datagrams`) show.
#[derive(Debug, Clone, Copy)]
pub(super) struct Activity {
    datagrams: u64,
    since: Instant,
}

impl Activity {
    /// The first sample.
    pub(super) fn new(now: Instant, datagrams: u64) -> Activity {
        Activity {
            datagrams,
            since: now,
        }
    }

    /// A sample of the counter at `now`. A change means something arrived since the
    /// previous sample: the silence counts from now (the latest it can have arrived), so it
    /// is never overestimated.
    pub(super) fn observe(&mut self, now: Instant, datagrams: u64) {
        if datagrams != self.datagrams {
            self.datagrams = datagrams;
            self.since = now;
        }
    }

    /// How long nothing has arrived, at least.
    pub(super) fn silent_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.since)
    }
}

/// The session that just became established.
#[derive(Debug, Clone)]
pub(super) struct Newcomer {
    pub(super) session_id: Uuid,
    /// Its connection's number.
    pub(super) generation: u64,
    /// Its device (None: a client that does not name itself; None matches None, D64).
    pub(super) device_id: Option<String>,
}

/// Another live connection, as the rule sees it.
#[derive(Debug, Clone)]
pub(super) struct Other {
    pub(super) session_id: Uuid,
    pub(super) generation: u64,
    /// Its handshake completed (its device is known).
    pub(super) established: bool,
    pub(super) device_id: Option<String>,
    /// It holds transfers (being received or being asked for again).
    pub(super) holds_transfers: bool,
    /// How long it has received nothing, at least.
    pub(super) silent_for: Duration,
    /// Its smoothed round-trip time.
    pub(super) rtt: Duration,
    /// Already told to close.
    pub(super) closing: bool,
}

/// What the platform does about the other connections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Verdict {
    /// Connections to close now (1007 ConnectionTimeout): their transfers go to the table
    /// of unfinished transfers, where the newcomer claims them (D64).
    pub(super) close: Vec<Uuid>,
    /// Candidates not silent long enough yet: judge again after this long.
    pub(super) again_in: Option<Duration>,
}

/// How long an older connection of the same device must have been silent:
/// `silent_after` (more than the keep-alive interval) plus four of its round trips.
pub(super) fn bound(silent_after: Duration, rtt: Duration) -> Duration {
    silent_after.saturating_add(rtt.saturating_mul(4))
}

/// The rule (D117): an *older* connection (lower generation), established, of the same
/// device as the newcomer, holding transfers, is closed once it has been silent for
/// [`bound`]; one not silent that long yet is judged again when it would be. Anything else
/// is left alone: other devices, newer connections, connections without transfers, and
/// every live one (a paused transfer's connection still hears keep-alives).
pub(super) fn judge(silent_after: Duration, newcomer: &Newcomer, others: &[Other]) -> Verdict {
    let mut verdict = Verdict::default();
    for other in others {
        let candidate = other.session_id != newcomer.session_id
            && other.generation < newcomer.generation
            && other.established
            && !other.closing
            && other.holds_transfers
            && other.device_id == newcomer.device_id;
        if !candidate {
            continue;
        }
        let needed = bound(silent_after, other.rtt);
        if other.silent_for >= needed {
            verdict.close.push(other.session_id);
        } else {
            let left = needed - other.silent_for;
            verdict.again_in = Some(verdict.again_in.map_or(left, |t| t.min(left)));
        }
    }
    verdict
}

/// What the registry keeps per live connection for the rule.
#[derive(Debug, Clone, Copy)]
pub(super) struct Liveness {
    pub(super) activity: Activity,
    pub(super) holds_transfers: bool,
    /// Told to close by the rule (not told twice).
    pub(super) closing: bool,
}

impl Liveness {
    pub(super) fn new(now: Instant) -> Liveness {
        Liveness {
            activity: Activity::new(now, 0),
            holds_transfers: false,
            closing: false,
        }
    }
}

impl Platform {
    /// The connection `generation` of session `id` sampled its counter (`datagrams`) and
    /// says whether it holds transfers (every [`SAMPLE_EVERY`]).
    pub(super) fn record_activity(
        &self,
        (id, generation): (Uuid, u64),
        now: Instant,
        datagrams: u64,
        holds_transfers: bool,
    ) {
        let mut registry = self.lock_sessions();
        if !registry.is_generation(id, generation) {
            return;
        }
        if let Some(entry) = registry.live_mut(id) {
            entry.liveness.activity.observe(now, datagrams);
            entry.liveness.holds_transfers = holds_transfers;
        }
    }

    /// Judges the other live connections for the newly established `newcomer` (D117) and
    /// carries the verdict out: the silent ones are told to close. Returns when to judge
    /// again, if a candidate is not silent long enough yet.
    pub(super) fn supersede_silent(&self, newcomer: &Newcomer, now: Instant) -> Option<Instant> {
        let silent_after = self.config().supersede_silent_after?;
        let mut registry = self.lock_sessions();
        let ids = registry.live_ids();
        let mut others = Vec::new();
        for id in ids {
            let Some(entry) = registry.live_mut(id) else {
                continue;
            };
            let device_id = entry.info.device.as_ref().and_then(|d| d.device_id.clone());
            // Only possible candidates are sampled (`judge` checks them all again).
            if entry.generation >= newcomer.generation || device_id != newcomer.device_id {
                continue;
            }
            // A fresh sample: something that arrived since the owner's last one counts.
            let rtt = match entry.view.connection() {
                Some(conn) => {
                    let datagrams = conn.stats().udp_rx.datagrams;
                    entry.liveness.activity.observe(now, datagrams);
                    conn.rtt()
                }
                None => Duration::ZERO,
            };
            others.push(Other {
                session_id: entry.info.session_id,
                generation: entry.generation,
                established: entry.info.ready && !entry.info.ended,
                device_id,
                holds_transfers: entry.liveness.holds_transfers,
                silent_for: entry.liveness.activity.silent_for(now),
                rtt,
                closing: entry.liveness.closing,
            });
        }
        let verdict = judge(silent_after, newcomer, &others);
        for id in &verdict.close {
            let Some(entry) = registry.live_mut(*id) else {
                continue;
            };
            entry.liveness.closing = true;
            let silent = entry.liveness.activity.silent_for(now);
            tracing::info!(
                "session {id}: silent for {:.1} s while session {} of the same device is \
                 established; closing it (1007) so that the new session resumes its transfers",
                silent.as_secs_f64(),
                newcomer.session_id
            );
            let _ = entry
                .commands
                .send(Command::Superseded(Supersession::SilentDevice));
        }
        verdict.again_in.map(|left| now + left)
    }
}

/// Why a connection is closed in favour of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Supersession {
    /// A newer connection of the same session (D66): 200.
    SameSession,
    /// A new session of the same device while this connection was silent (D117): 1007.
    SilentDevice,
}

impl Supersession {
    /// The application close code and reason.
    pub(super) fn close(self) -> (crate::wire::StatusCode, &'static str) {
        use crate::wire::StatusCode;
        match self {
            Supersession::SameSession => (
                StatusCode::Success,
                "superseded by a newer connection of this session",
            ),
            Supersession::SilentDevice => (
                StatusCode::ConnectionTimeout,
                "silent while a new session of this device is established",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(7);
    const RTT: Duration = Duration::from_millis(50);

    fn newcomer(device: Option<&str>) -> Newcomer {
        Newcomer {
            session_id: Uuid::from_u128(9),
            generation: 9,
            device_id: device.map(String::from),
        }
    }

    fn old(device: Option<&str>, silent_for: Duration) -> Other {
        Other {
            session_id: Uuid::from_u128(1),
            generation: 1,
            established: true,
            device_id: device.map(String::from),
            holds_transfers: true,
            silent_for,
            rtt: RTT,
            closing: false,
        }
    }

    /// The owner's samples of a connection every second for `secs` seconds; the counter
    /// grows at the seconds in `heard`.
    fn sampled(start: Instant, secs: u64, heard: impl Fn(u64) -> bool) -> Activity {
        let mut activity = Activity::new(start, 100);
        let mut datagrams = 100;
        for s in 1..=secs {
            if heard(s) {
                datagrams += 1;
            }
            activity.observe(start + Duration::from_secs(s), datagrams);
        }
        activity
    }

    #[test]
    fn a_healthy_paused_connection_of_the_device_is_not_superseded() {
        // Paused: no data, only the keep-alive every 5 s (and its acknowledgement).
        let t0 = Instant::now();
        let activity = sampled(t0, 60, |s| s % 5 == 0);
        let now = t0 + Duration::from_secs(60) + Duration::from_millis(900);
        let silent = activity.silent_for(now);
        assert!(silent < Duration::from_secs(5) + SAMPLE_EVERY, "{silent:?}");
        let verdict = judge(
            AFTER,
            &newcomer(Some("cam-1")),
            &[old(Some("cam-1"), silent)],
        );
        assert!(verdict.close.is_empty(), "{verdict:?}");
        // Judged again when it would have been silent long enough: by then it was heard.
        assert_eq!(verdict.again_in, Some(bound(AFTER, RTT) - silent));
        // The worst a live connection shows: the keep-alive interval, one sample period
        // and a lost PING probed again (a few round trips); still under the bound.
        let worst = Duration::from_secs(5) + SAMPLE_EVERY + RTT * 3;
        let verdict = judge(
            AFTER,
            &newcomer(Some("cam-1")),
            &[old(Some("cam-1"), worst)],
        );
        assert!(verdict.close.is_empty(), "{verdict:?}");
    }

    #[test]
    fn a_silent_connection_of_the_device_is_closed_and_anonymous_matches_anonymous() {
        // Crashed at 20 s: nothing arrives any more.
        let t0 = Instant::now();
        let activity = sampled(t0, 30, |s| s <= 20);
        let now = t0 + Duration::from_secs(30);
        assert_eq!(activity.silent_for(now), Duration::from_secs(10));
        let silent = activity.silent_for(now);
        for device in [Some("cam-1"), None] {
            let verdict = judge(AFTER, &newcomer(device), &[old(device, silent)]);
            assert_eq!(verdict.close, [Uuid::from_u128(1)], "{device:?}");
            assert_eq!(verdict.again_in, None);
        }
        // Exactly at the bound: closed; just under it: judged again then.
        let at = bound(AFTER, RTT);
        let verdict = judge(AFTER, &newcomer(None), &[old(None, at)]);
        assert_eq!(verdict.close.len(), 1);
        let verdict = judge(AFTER, &newcomer(None), &[old(None, at - RTT)]);
        assert_eq!(
            verdict,
            Verdict {
                close: vec![],
                again_in: Some(RTT)
            }
        );
    }

    #[test]
    fn other_devices_newer_idle_unestablished_or_closing_connections_are_left_alone() {
        let long = Duration::from_secs(60);
        let n = newcomer(Some("cam-1"));
        let cases = [
            (
                "another device",
                Other {
                    device_id: Some("cam-2".into()),
                    ..old(Some("cam-1"), long)
                },
            ),
            ("anonymous vs named", old(None, long)),
            (
                "newer",
                Other {
                    generation: 10,
                    ..old(Some("cam-1"), long)
                },
            ),
            (
                "itself",
                Other {
                    session_id: n.session_id,
                    generation: 1,
                    ..old(Some("cam-1"), long)
                },
            ),
            (
                "no transfers",
                Other {
                    holds_transfers: false,
                    ..old(Some("cam-1"), long)
                },
            ),
            (
                "not established",
                Other {
                    established: false,
                    ..old(Some("cam-1"), long)
                },
            ),
            (
                "already closing",
                Other {
                    closing: true,
                    ..old(Some("cam-1"), long)
                },
            ),
        ];
        for (what, other) in cases {
            assert_eq!(judge(AFTER, &n, &[other]), Verdict::default(), "{what}");
        }
    }

    #[test]
    fn a_long_round_trip_lengthens_the_bound_and_the_soonest_candidate_sets_the_recheck() {
        assert_eq!(
            bound(AFTER, Duration::from_millis(500)),
            Duration::from_secs(9)
        );
        let n = newcomer(None);
        let a = Other {
            session_id: Uuid::from_u128(2),
            ..old(None, Duration::from_secs(3))
        };
        let b = Other {
            session_id: Uuid::from_u128(3),
            ..old(None, Duration::from_secs(5))
        };
        let verdict = judge(AFTER, &n, &[a, b]);
        assert_eq!(
            verdict.again_in,
            Some(bound(AFTER, RTT) - Duration::from_secs(5))
        );
    }

    #[test]
    fn a_sample_that_sees_new_datagrams_restarts_the_silence() {
        let t0 = Instant::now();
        let mut activity = Activity::new(t0, 5);
        activity.observe(t0 + Duration::from_secs(3), 5);
        assert_eq!(
            activity.silent_for(t0 + Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        activity.observe(t0 + Duration::from_secs(4), 6);
        assert_eq!(
            activity.silent_for(t0 + Duration::from_secs(4)),
            Duration::ZERO
        );
        // A clock that does not advance never underflows.
        assert_eq!(activity.silent_for(t0), Duration::ZERO);
    }
}
