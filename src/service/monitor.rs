//! The service's two background tasks: one reads the platform's [`Observation`]s (segments
//! stored, acknowledgements, refusals, transfers ended) into the metrics and the transfer
//! book; one samples the platform twice a second (sessions, transfers' progress, quinn's
//! connection statistics).

use super::book::{outcome_name, TransferBook};
use super::metrics::{KindLabel, Metrics, OutcomeLabel};
use crate::platform::{Observation, Observed, Platform};
use crate::session::{SegmentVerdict, TransferOutcome};
use crate::wire::SegmentFlags;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// How often the sampler looks at the platform (progress events go out at this pace).
pub(super) const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Reads observations until the platform drops its sender.
pub(super) async fn observe(
    mut observations: mpsc::UnboundedReceiver<Observation>,
    metrics: Arc<Metrics>,
    book: Arc<TransferBook>,
) {
    while let Some(o) = observations.recv().await {
        match o.event {
            Observed::SegmentStored { flags, bytes, .. } => {
                metrics.bytes_received_total.inc_by(bytes);
                let kind = if flags.contains(SegmentFlags::KEYFRAME) {
                    "keyframe"
                } else {
                    "delta"
                };
                metrics
                    .segments_received_total
                    .get_or_create(&KindLabel { kind: kind.into() })
                    .inc();
                if flags.contains(SegmentFlags::ERROR_RECOVERY) {
                    metrics.segment_retransmissions_total.inc();
                }
            }
            Observed::TransferResumed { .. } => {
                metrics.resumes_total.inc();
            }
            Observed::PlaybackAcknowledged(ack) => book.playback_acknowledged(&ack, true),
            // Every refusal of the client, whoever asked (the API or a Rust caller).
            Observed::RequestRefused { code, .. } => metrics.error(code.to_u16()),
            Observed::TransferFinished { transfer, outcome } => {
                if let TransferOutcome::Failed(code) = outcome {
                    metrics.error(code.to_u16());
                }
                metrics
                    .transfers_total
                    .get_or_create(&OutcomeLabel {
                        outcome: outcome_name(outcome).into(),
                    })
                    .inc();
                book.output_final(o.session, transfer, outcome);
            }
            // A segment the platform refused (its stream stopped with the code).
            Observed::SegmentArrived {
                verdict: SegmentVerdict::Refuse(code),
                ..
            } => metrics.error(code.to_u16()),
            Observed::SegmentArrived { .. } => {}
        }
    }
}

/// What the sampler remembers between rounds.
#[derive(Default)]
struct Seen {
    /// Sessions counted, and the lost-packet count of each at the last round.
    sessions: HashMap<Uuid, u64>,
}

/// Samples the platform every [`SAMPLE_EVERY`], and its sessions whenever the session
/// table changes (so that a session shorter than a round is counted, and each new
/// connection's transport is sampled at once), forever.
pub(super) async fn sample(platform: Platform, metrics: Arc<Metrics>, book: Arc<TransferBook>) {
    let mut seen = Seen::default();
    let mut changes = platform.session_changes();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round: u64 = 0;
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    // The platform is gone: nothing moves any more.
                    return;
                }
                sample_sessions(&platform, &metrics, &mut seen, true);
                continue;
            }
            _ = tick.tick() => {}
        }
        round += 1;
        // Transport figures once a second.
        sample_sessions(&platform, &metrics, &mut seen, round % 2 == 0);
        let now = std::time::Instant::now();
        for (session, progress) in platform.all_transfers().await {
            book.update(session, progress.status, now);
        }
        metrics.transfers_active.set(clamp_i64(book.active()));
    }
}

fn sample_sessions(platform: &Platform, metrics: &Metrics, seen: &mut Seen, transport: bool) {
    let details = platform.session_details();
    let live = details.iter().filter(|d| !d.info.ended).count();
    metrics.sessions_active.set(clamp_i64(live));
    for d in &details {
        let id = d.info.session_id;
        let lost_before = match seen.sessions.get(&id) {
            Some(lost) => *lost,
            None => {
                metrics.sessions_total.inc();
                0
            }
        };
        let Some(stats) = d.connection.as_ref() else {
            seen.sessions.insert(id, lost_before);
            continue;
        };
        let lost = stats.path.lost_packets;
        metrics
            .lost_packets_total
            .inc_by(lost.saturating_sub(lost_before));
        seen.sessions.insert(id, lost.max(lost_before));
        if transport && !d.info.ended {
            metrics
                .connection_rtt_seconds
                .observe(stats.path.rtt.as_secs_f64());
            metrics
                .connection_congestion_window_bytes
                .observe(stats.path.cwnd as f64);
        }
    }
    // Forget sessions the platform no longer lists (re-keyed on resumption).
    seen.sessions
        .retain(|id, _| details.iter().any(|d| d.info.session_id == *id));
}

fn clamp_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
