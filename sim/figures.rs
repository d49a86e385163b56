//! Figures measured in simulation (issue 15): frame latency under realtime pacing.
//!
//! [`frame_latency`] pulls an H.264 clip in frame mode with realtime pacing over a
//! 10 Mbit/s link, 20 ms one-way, 1% of datagrams lost each way (the interop link's
//! 25-packet queue), and gives, per access unit, the delay from its release by the client
//! to its storage at the platform, beside its serialization time on the link.
//!
//! Release times are not observed at the client: they follow from the pacing rule (D25):
//! the clock starts at the first segment's release with that segment's timestamp, and
//! segments leave in index order, each when the clock reaches its timestamp. The first
//! release lies between two bounds: no earlier than the FileRequest's send time plus one
//! one-way delay, and no later than any unit's storage minus its place on the clock, one
//! one-way delay and its serialization (no unit arrives faster than the link carries it).
//! The later bound is taken: the earlier one is off by the whole start-up when a packet of
//! the request or its acknowledgement is lost (one seed in twenty: every unit +~300 ms,
//! the probe timeout, though no unit was late), while the later one is off only by the
//! fastest unit's overhead on the link (~1.15 ms, D107), so each delay is exact within
//! that, at most that much low.

use super::harness::{ClientSpec, SimBuilder, SimError};
use super::scenarios::INTEROP_LINK;
use super::SimFile;
use crate::client::ClientConfig;
use crate::media::SegmentMode;
use crate::net::{Congestion, LinkFaults};
use crate::wire::{FileRequest, Pacing};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One-way delay of the frame-latency link.
pub const ONE_WAY: Duration = Duration::from_millis(20);
/// Loss each way on the frame-latency link.
pub const LOSS: f64 = 0.01;
/// The clip pulled (about 10 s of 1080p-class H.264 with B-frames).
pub const CLIP: &str = "main_bframes.h264";

/// One seed's frame delays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameLatencyReport {
    /// The seed.
    pub seed: u64,
    /// Whether the clip arrived whole and verified.
    pub passed: bool,
    /// Why not.
    pub error: Option<String>,
    /// One-way delay, milliseconds.
    pub one_way_ms: f64,
    /// Link rate, bits per second.
    pub link_bps: u64,
    /// Per access unit, in index order: (release-to-storage delay, serialization time of
    /// its bytes on the link), milliseconds.
    pub samples: Vec<(f64, f64)>,
    /// The client's tail probes per realtime segment (D109; 0: none).
    pub tail_probes: u8,
    /// UDP datagrams the client sent over the whole run (handshake and close included).
    pub client_datagrams: u64,
    /// UDP payload bytes the client sent over the whole run.
    pub client_bytes: u64,
    /// Seconds from the FileRequest to the last unit's storage.
    pub transfer_secs: f64,
}

/// Pulls [`CLIP`] once with seed `seed` and measures every access unit's delay, the client
/// sending `tail_probes` tail probes after each segment (D109; the default is
/// [`crate::client::TAIL_PROBES`]).
pub fn frame_latency(seed: u64, congestion: Congestion, tail_probes: u8) -> FrameLatencyReport {
    frame_latency_with(seed, congestion, tail_probes, true)
}

/// [`frame_latency`], with the client's segment copies (D121) on or off.
pub fn frame_latency_with(
    seed: u64,
    congestion: Congestion,
    tail_probes: u8,
    segment_copies: bool,
) -> FrameLatencyReport {
    let link = LinkFaults {
        loss: LOSS,
        ..INTEROP_LINK
    };
    let rate = INTEROP_LINK.rate_bps.unwrap_or(10_000_000);
    let world = SimBuilder::new(seed)
        .congestion(congestion)
        .latency(ONE_WAY)
        .link(link)
        .client(ClientSpec {
            config: ClientConfig {
                tail_probes,
                segment_copies,
                ..ClientConfig::default()
            },
            ..ClientSpec::serving(vec![SimFile::test_video(CLIP)])
        });
    let run = world.run(move |ctx| async move {
        let session = ctx.platform.wait_for_session().await.session_id;
        let mut request = FileRequest::new(CLIP);
        request.segment_mode = SegmentMode::Frame;
        request.pacing = Pacing::Realtime;
        let pulled = ctx.pull(session, request).await?;
        ctx.check_identical(&pulled.result, 0, CLIP)?;
        let mut arrivals = ctx.arrivals();
        arrivals.sort_by_key(|a| a.index);
        let m0 = arrivals.first().map_or(0.0, |a| a.timestamp);
        let mut due = 0.0f64;
        // Each unit: (storage, place on the pacing clock, serialization), seconds.
        let mut units = Vec::with_capacity(arrivals.len());
        for a in &arrivals {
            due = due.max(a.timestamp - m0);
            let serialization = a.bytes as f64 * 8.0 / rate as f64;
            units.push((a.at.as_secs_f64(), due, serialization));
        }
        let earliest = (pulled.requested_at + ONE_WAY).as_secs_f64();
        let latest = units
            .iter()
            .map(|&(at, due, ser)| at - due - ONE_WAY.as_secs_f64() - ser)
            .fold(f64::INFINITY, f64::min);
        let first_release = latest.max(earliest);
        let samples: Vec<(f64, f64)> = units
            .iter()
            .map(|&(at, due, ser)| ((at - first_release - due) * 1e3, ser * 1e3))
            .collect();
        if samples.is_empty() {
            return Err(SimError::Check("no segment stored".into()));
        }
        let last = arrivals.iter().map(|a| a.at).max().unwrap_or_default();
        let transfer = last.saturating_sub(pulled.requested_at).as_secs_f64();
        Ok((samples, transfer))
    });
    let (passed, error, (samples, transfer_secs)) = match run.script {
        Ok(measured) => (true, None, measured),
        Err(e) => (false, Some(e.to_string()), (Vec::new(), 0.0)),
    };
    let link = run
        .clients
        .first()
        .and_then(Option::as_ref)
        .map(|c| c.link)
        .unwrap_or_default();
    FrameLatencyReport {
        seed,
        passed,
        error,
        one_way_ms: ONE_WAY.as_secs_f64() * 1e3,
        link_bps: rate,
        samples,
        tail_probes,
        client_datagrams: link.sent,
        client_bytes: link.bytes,
        transfer_secs,
    }
}

/// The `q` quantile (0..=1) of `values` (nearest rank; 0 when empty).
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_is_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    /// One seed on the figure's link: the clip arrives whole, every access unit has a
    /// sample, and no delay is below the one-way delay plus the unit's serialization (the
    /// release bound), the fastest unit's exactly that.
    #[test]
    fn frame_latency_measures_every_access_unit() {
        let r = frame_latency(3, Congestion::Cubic, crate::client::TAIL_PROBES);
        assert!(r.passed, "{:?}", r.error);
        assert!(r.samples.len() > 100, "{} samples", r.samples.len());
        let mut fastest = f64::INFINITY;
        for &(delay, ser) in &r.samples {
            assert!(delay >= r.one_way_ms + ser - 1e-6, "delay {delay} ms");
            assert!(ser > 0.0);
            fastest = fastest.min(delay - ser);
        }
        assert!((fastest - r.one_way_ms).abs() < 1e-6, "{fastest}");
    }

    /// D109: the same seed with and without tail probes: every realtime segment is followed
    /// by its probes, each in a UDP datagram of its own (queued with the segment's data or
    /// with each other, quinn would put them in one packet and the count would not grow).
    #[test]
    fn tail_probes_go_in_packets_of_their_own() {
        let without = frame_latency(5, Congestion::Bbr, 0);
        let with = frame_latency(5, Congestion::Bbr, 3);
        assert!(
            without.passed && with.passed,
            "{:?} {:?}",
            without.error,
            with.error
        );
        let units = with.samples.len() as u64;
        let extra = with
            .client_datagrams
            .saturating_sub(without.client_datagrams);
        assert!(
            extra >= 3 * units * 95 / 100,
            "{extra} more datagrams for {units} segments"
        );
        assert!(
            extra <= 3 * units + units / 10,
            "{extra} for {units} segments"
        );
    }

    /// D121: with segment copies, a unit hit by a loss is stored without waiting for its
    /// retransmission: over three seeds no more than 1% of the units take longer than
    /// one-way + 1 RTT beyond their serialization (60 ms; without copies 2-3% do).
    #[test]
    fn segment_copies_store_realtime_units_without_a_round_trip() {
        let mut excess = Vec::new();
        for seed in 1..=3 {
            let r = frame_latency(seed, Congestion::Bbr, crate::client::TAIL_PROBES);
            assert!(r.passed, "seed {seed}: {:?}", r.error);
            excess.extend(r.samples.iter().map(|(delay, ser)| delay - ser));
        }
        let late = excess.iter().filter(|e| **e > 60.0).count();
        assert!(
            late * 100 <= excess.len(),
            "{late} of {} late",
            excess.len()
        );
        assert!(
            quantile(&excess, 0.99) <= 60.0,
            "p99 {}",
            quantile(&excess, 0.99)
        );
    }
}
