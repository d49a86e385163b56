//! One transfer as the client sends it: which segment goes next, what is in flight, pacing,
//! and the playback acknowledgements that wait for the segments in flight (D40).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::pacing::PaceClock;
use crate::media::plan::{PlannedSegment, SampleRewrite};
use crate::session::{ClientEvent, PreparedTransfer, SegmentJob, SendSummary, TransferOutcome};
use crate::wire::{
    FileRequest, Pacing, PlaybackAck, PlaybackState, SegmentFlags, SegmentId, StatusCode,
    TransferId,
};

/// A playback acknowledgement not sent yet.
#[derive(Debug)]
struct HeldAck {
    ack: PlaybackAck,
    /// Sent only once no segment is in flight (seek, resume-from, stop), or at `deadline`.
    drain: bool,
    deadline: Option<Instant>,
    /// Fill in the transfer's statistics when it is sent (Stop with `send_statistics`).
    with_statistics: bool,
}

/// quinn priority of a video segment stream: `128 * 256 + FileRequest priority`, so every
/// video stream ranks below audio (`255 * 256 + ...`) and requests of higher priority first.
pub(crate) fn video_priority(request_priority: u8) -> i32 {
    128 * 256 + i32::from(request_priority)
}

#[derive(Debug)]
pub(crate) struct Transfer {
    pub(crate) id: TransferId,
    pub(crate) request: FileRequest,
    pub(crate) prepared: PreparedTransfer,
    /// Next index to send in order.
    pub(crate) next: u32,
    /// Segments re-sent on request (flag 0x20), before `next`.
    retransmit: VecDeque<u32>,
    /// Indices already requeued once after a failure.
    retried: HashSet<u32>,
    /// Resends asked for by the platform, per segment (bounded by `max_retries`, D49).
    resends: HashMap<u32, u32>,
    in_flight: BTreeSet<u32>,
    pub(crate) state: PlaybackState,
    pub(crate) rate: f64,
    /// Set once TransferFinished was emitted for the current run.
    finished: bool,
    /// Set once it failed or its connection was lost: final, whatever it was before.
    ended: bool,
    // Figures.
    sent: u64,
    frames: u64,
    bytes: u64,
    failed: u64,
    first_open: Option<Instant>,
    last_done: Option<Instant>,
    peak_mbps: f64,
    /// Realtime pacing clock, started by the first segment released after the start or
    /// a seek.
    pace: Option<PaceClock>,
    /// Bandwidth cap: earliest instant the next segment may open.
    bw_next: Option<Instant>,
    /// AdjustQuality's `target_bitrate`: a send-rate cap beside `max_bandwidth`.
    pub(crate) quality_cap: Option<u64>,
    /// BufferControl: seconds of media realtime sending may run ahead of the clock.
    pub(crate) run_ahead: f64,
    /// Acknowledgements waiting, in command order.
    held: VecDeque<HeldAck>,
    /// Segments in flight when the last seek or stop was applied: a failure of one of
    /// them is not requeued (it belongs before the seek).
    superseded: BTreeSet<u32>,
}

impl Transfer {
    pub(crate) fn new(
        id: TransferId,
        request: FileRequest,
        prepared: PreparedTransfer,
        start: u32,
        _now: Instant,
    ) -> Self {
        let rate = request.playback_rate;
        Transfer {
            id,
            request,
            prepared,
            next: start,
            retransmit: VecDeque::new(),
            retried: HashSet::new(),
            resends: HashMap::new(),
            in_flight: BTreeSet::new(),
            state: PlaybackState::Streaming,
            rate,
            finished: false,
            ended: false,
            sent: 0,
            frames: 0,
            bytes: 0,
            failed: 0,
            first_open: None,
            last_done: None,
            peak_mbps: 0.0,
            pace: None,
            bw_next: None,
            quality_cap: None,
            run_ahead: 0.0,
            held: VecDeque::new(),
            superseded: BTreeSet::new(),
        }
    }

    pub(crate) fn total(&self) -> u32 {
        self.prepared.plan.len()
    }

    fn segment(&self, index: u32) -> Option<PlannedSegment> {
        self.prepared.plan.get(index)
    }

    /// Position in seconds: the timestamp of the next segment to send, or the duration.
    pub(crate) fn position(&self) -> f64 {
        match self.segment(self.next) {
            Some(s) if self.next < self.total() => s.timestamp,
            _ => self.prepared.plan.duration().unwrap_or(0.0),
        }
    }

    /// The platform asks for segment `index` again: queued, unless it was resent
    /// `max_retries` times already (then false: the transfer must fail, D49).
    pub(crate) fn request_resend(&mut self, index: u32, max_retries: u32) -> bool {
        let n = self.resends.entry(index).or_insert(0);
        if *n >= max_retries {
            return false;
        }
        *n += 1;
        if self.state != PlaybackState::Stopped {
            self.queue_retransmission(index);
        }
        true
    }

    pub(crate) fn queue_retransmission(&mut self, index: u32) {
        if !self.retransmit.contains(&index) {
            self.retransmit.push_back(index);
        }
    }

    /// Drops segments not yet sent and restarts at `index` (the pacing clock restarts
    /// with the first segment sent).
    pub(crate) fn restart_at(&mut self, index: u32) {
        self.retransmit.clear();
        self.superseded.extend(self.in_flight.iter().copied());
        self.next = index;
        self.finished = false;
        self.pace = None;
    }

    /// A new rate, applied to the pacing clock from `now` on.
    pub(crate) fn set_rate(&mut self, now: Instant, rate: f64) {
        self.rate = rate;
        if let Some(c) = &mut self.pace {
            c.set_rate(now, rate);
        }
    }

    /// Paused: the pacing clock freezes.
    pub(crate) fn pause(&mut self, now: Instant) {
        if self.state == PlaybackState::Streaming {
            self.state = PlaybackState::Paused;
            if let Some(c) = &mut self.pace {
                c.pause(now);
            }
        }
    }

    /// Streaming again: the pacing clock runs on from where it froze.
    pub(crate) fn resume(&mut self, now: Instant) {
        if self.state == PlaybackState::Paused {
            self.state = PlaybackState::Streaming;
        }
        if let Some(c) = &mut self.pace {
            c.resume(now);
        }
    }

    /// The send-rate cap in force: the lower of `max_bandwidth` and AdjustQuality's.
    pub(crate) fn bandwidth_cap(&self) -> Option<u64> {
        match (self.request.max_bandwidth, self.quality_cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when an acknowledgement waits: later ones queue behind it.
    pub(crate) fn has_held_acks(&self) -> bool {
        !self.held.is_empty()
    }

    /// Queues `ack`; `drain`: it waits until no segment is in flight, or `deadline`.
    pub(crate) fn hold_ack(
        &mut self,
        ack: PlaybackAck,
        drain: bool,
        deadline: Option<Instant>,
        with_statistics: bool,
    ) {
        self.held.push_back(HeldAck {
            ack,
            drain,
            deadline,
            with_statistics,
        });
    }

    /// The acknowledgements that may go now, in order.
    pub(crate) fn release_acks(&mut self, now: Instant) -> Vec<PlaybackAck> {
        let mut out = Vec::new();
        while let Some(h) = self.held.front() {
            let drained = self.in_flight.is_empty();
            let expired = h.deadline.is_some_and(|d| d <= now);
            if h.drain && !drained && !expired {
                break;
            }
            let Some(h) = self.held.pop_front() else {
                break;
            };
            let mut ack = h.ack;
            if h.drain && !drained {
                ack.late_segments = u32::try_from(self.in_flight.len()).ok();
            }
            if h.with_statistics {
                ack.statistics = Some(self.stats());
            }
            out.push(ack);
        }
        out
    }

    /// When a waiting acknowledgement must go even though segments are in flight.
    /// Segments handed to the driver and not yet reported.
    pub(crate) fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    pub(crate) fn ack_deadline(&self) -> Option<Instant> {
        self.held.front().and_then(|h| h.deadline)
    }

    /// Streaming, or completed (a completed transfer still answers retransmission
    /// requests; nothing else is queued then).
    fn sending(&self) -> bool {
        matches!(
            self.state,
            PlaybackState::Streaming | PlaybackState::Completed
        )
    }

    /// When the next segment may be released, if pacing (not the in-flight limit or the
    /// state) is what holds it back.
    pub(crate) fn next_release(&self, limit: usize) -> Option<Instant> {
        if !self.sending() || self.has_held_acks() || self.in_flight.len() >= limit.max(1) {
            return None;
        }
        if self.retransmit.is_empty() && self.next >= self.total() {
            return None;
        }
        let paced = if self.retransmit.is_empty() {
            self.realtime_release(self.next)
        } else {
            None
        };
        match (paced, self.bw_next) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    fn realtime_release(&self, index: u32) -> Option<Instant> {
        if self.request.pacing != Pacing::Realtime {
            return None;
        }
        let ts = self.segment(index)?.timestamp;
        self.pace?.due(ts, self.run_ahead)
    }

    /// The next job allowed at `now`, if any.
    pub(crate) fn next_job(&mut self, now: Instant, limit: usize) -> Option<SegmentJob> {
        if !self.sending() || self.has_held_acks() || self.in_flight.len() >= limit {
            return None;
        }
        if self.bw_next.is_some_and(|t| t > now) {
            return None;
        }
        self.skip_held();
        let (index, recovery) = match self.retransmit.front() {
            Some(&i) if !self.in_flight.contains(&i) => (i, true),
            Some(_) => return None,
            None if self.next < self.total() => {
                if self.request.pacing == Pacing::Realtime {
                    if self.pace.is_none() {
                        let m0 = self.segment(self.next).map_or(0.0, |s| s.timestamp);
                        self.pace = Some(PaceClock::start(now, m0, self.rate));
                    }
                    if self.realtime_release(self.next).is_some_and(|t| t > now) {
                        return None;
                    }
                }
                (self.next, false)
            }
            None => return None,
        };
        if self.in_flight.contains(&index) {
            // Still being sent (a seek back onto it): send it again once it finishes.
            return None;
        }
        let seg = self.segment(index)?;
        if recovery {
            self.retransmit.pop_front();
        } else {
            self.next += 1;
        }
        let mut flags = seg.flags;
        if index + 1 == self.total() {
            flags = flags.with(SegmentFlags::END_OF_TRANSFER);
        }
        if recovery {
            flags = flags.with(SegmentFlags::ERROR_RECOVERY);
        }
        // A video header, or an audio one for an MP4's AAC samples in frame mode (D77).
        let header = seg.header(SegmentId::new(self.id, index), flags);
        if let Some(bw) = self.bandwidth_cap() {
            let secs = seg.len as f64 * 8.0 / bw as f64;
            let base = self.bw_next.map_or(now, |t| t.max(now));
            self.bw_next = Duration::try_from_secs_f64(secs)
                .ok()
                .and_then(|d| base.checked_add(d));
        }
        self.first_open.get_or_insert(now);
        self.in_flight.insert(index);
        Some(SegmentJob {
            transfer: self.id,
            index,
            header,
            offset: seg.offset,
            len: seg.len,
            priority: video_priority(self.request.priority),
            rewrite: SampleRewrite::of(&seg, &self.prepared.plan),
            tail_probes: self.request.pacing == Pacing::Realtime,
        })
    }

    /// Moves the next segment past those the platform said it holds (FileRequest's
    /// `held_segments`, D63): they are never sent.
    fn skip_held(&mut self) {
        while self.next < self.total() && self.request.is_held(self.next) {
            self.next += 1;
        }
    }

    /// A stream finished: figures and the transmitted event.
    pub(crate) fn on_sent(
        &mut self,
        now: Instant,
        index: u32,
        elapsed: Duration,
    ) -> Option<ClientEvent> {
        if !self.in_flight.remove(&index) {
            return None;
        }
        self.superseded.remove(&index);
        let seg = self.segment(index)?;
        self.sent += 1;
        self.frames += u64::from(seg.frame_count);
        self.bytes += seg.len;
        self.last_done = Some(now);
        let secs = elapsed.as_secs_f64();
        if secs > 0.0 {
            self.peak_mbps = self.peak_mbps.max(seg.len as f64 * 8.0 / secs / 1e6);
        }
        Some(ClientEvent::SegmentTransmitted {
            transfer: self.id,
            index,
            total: self.total(),
            bytes: seg.len,
            frame_type: seg.frame_type.map_or("-", |f| f.name()),
            elapsed,
        })
    }

    pub(crate) fn on_failed(&mut self, index: u32, code: Option<StatusCode>) {
        if !self.in_flight.remove(&index) {
            return;
        }
        self.failed += 1;
        let final_code = code == Some(StatusCode::StreamTooLong);
        let before_seek = self.superseded.remove(&index);
        if !final_code
            && !before_seek
            && self.retried.insert(index)
            && self.state != PlaybackState::Stopped
        {
            self.queue_retransmission(index);
        }
    }

    /// `TransferFinished{Completed}` once every segment of the range was sent.
    pub(crate) fn check_completed(&mut self, now: Instant) -> Option<ClientEvent> {
        self.skip_held();
        if self.finished
            || self.has_held_acks()
            || self.state != PlaybackState::Streaming
            || self.next < self.total()
            || !self.retransmit.is_empty()
            || !self.in_flight.is_empty()
        {
            return None;
        }
        self.finished = true;
        self.state = PlaybackState::Completed;
        Some(ClientEvent::TransferFinished {
            transfer: self.id,
            outcome: TransferOutcome::Completed,
            summary: self.summary(now),
        })
    }

    /// True once a TransferFinished was emitted (completed, stopped, failed or lost).
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Ends it for good (failed, or the connection lost), also after it completed:
    /// nothing more is sent; true the first time (its TransferFinished must be emitted).
    pub(crate) fn end(&mut self) -> bool {
        self.state = PlaybackState::Stopped;
        self.retransmit.clear();
        self.next = self.total();
        self.held.clear();
        self.finished = true;
        !std::mem::replace(&mut self.ended, true)
    }

    /// Stop: no more segments; true when TransferFinished{Stopped} must be emitted.
    pub(crate) fn stop(&mut self) -> bool {
        self.state = PlaybackState::Stopped;
        self.retransmit.clear();
        self.superseded.extend(self.in_flight.iter().copied());
        self.next = self.total();
        !std::mem::replace(&mut self.finished, true)
    }

    pub(crate) fn summary(&self, now: Instant) -> SendSummary {
        let elapsed = match (self.first_open, self.last_done) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            (Some(a), None) => now.saturating_duration_since(a),
            _ => Duration::ZERO,
        };
        SendSummary {
            segments: self.sent,
            frames: self.frames,
            bytes: self.bytes,
            elapsed,
            peak_mbps: self.peak_mbps,
        }
    }

    pub(crate) fn stats(&self) -> Value {
        json!({
            "transfer_id": self.id.to_string(),
            "file_path": self.request.file_path,
            "segments_sent": self.sent,
            "segments_total": self.total(),
            "segments_in_flight": self.in_flight.len(),
            "segments_failed": self.failed,
            "bytes_sent": self.bytes,
            "frames_sent": self.frames,
            "state": state_name(self.state),
            "position": self.position(),
            "rate": self.rate,
            "bandwidth_cap": self.bandwidth_cap(),
            "run_ahead": self.run_ahead,
        })
    }
}

pub(crate) fn state_name(s: PlaybackState) -> &'static str {
    match s {
        PlaybackState::Streaming => "streaming",
        PlaybackState::Paused => "paused",
        PlaybackState::Stopped => "stopped",
        PlaybackState::Completed => "completed",
    }
}
