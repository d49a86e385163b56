//! One transfer as the client sends it: which segment goes next, what is in flight, pacing.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::media::plan::PlannedSegment;
use crate::session::{ClientEvent, PreparedTransfer, SegmentJob, SendSummary, TransferOutcome};
use crate::wire::{
    FileRequest, Pacing, PlaybackState, SegmentFlags, SegmentHeader, SegmentId, StatusCode,
    TransferId, VideoHeader,
};

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
    in_flight: BTreeSet<u32>,
    pub(crate) state: PlaybackState,
    pub(crate) rate: f64,
    /// Set once TransferFinished was emitted for the current run.
    finished: bool,
    // Figures.
    sent: u64,
    frames: u64,
    bytes: u64,
    failed: u64,
    first_open: Option<Instant>,
    last_done: Option<Instant>,
    peak_mbps: f64,
    /// Realtime pacing origin: (instant, media time) of the segment released first since
    /// the last start, seek or rate change.
    pace_origin: Option<(Instant, f64)>,
    /// Bandwidth cap: earliest instant the next segment may open.
    bw_next: Option<Instant>,
    pub(crate) quality: Value,
    pub(crate) buffer: Value,
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
            in_flight: BTreeSet::new(),
            state: PlaybackState::Streaming,
            rate,
            finished: false,
            sent: 0,
            frames: 0,
            bytes: 0,
            failed: 0,
            first_open: None,
            last_done: None,
            peak_mbps: 0.0,
            pace_origin: None,
            bw_next: None,
            quality: Value::Null,
            buffer: Value::Null,
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

    pub(crate) fn queue_retransmission(&mut self, index: u32) {
        if !self.retransmit.contains(&index) {
            self.retransmit.push_back(index);
        }
    }

    /// Drops segments not yet sent and restarts at `index`.
    pub(crate) fn restart_at(&mut self, index: u32) {
        self.retransmit.clear();
        self.next = index;
        self.finished = false;
        self.pace_origin = None;
    }

    /// Restarts the realtime pacing clock (after a rate change or a resume).
    pub(crate) fn reset_pacing(&mut self) {
        self.pace_origin = None;
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
        if !self.sending() || self.in_flight.len() >= limit.max(1) {
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
        let (t0, m0) = self.pace_origin?;
        let ts = self.segment(index)?.timestamp;
        let secs = ((ts - m0) / self.rate).max(0.0);
        Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| t0.checked_add(d))
    }

    /// The next job allowed at `now`, if any.
    pub(crate) fn next_job(&mut self, now: Instant, limit: usize) -> Option<SegmentJob> {
        if !self.sending() || self.in_flight.len() >= limit {
            return None;
        }
        if self.bw_next.is_some_and(|t| t > now) {
            return None;
        }
        let (index, recovery) = match self.retransmit.front() {
            Some(&i) if !self.in_flight.contains(&i) => (i, true),
            Some(_) => return None,
            None if self.next < self.total() => {
                if self.request.pacing == Pacing::Realtime {
                    if self.pace_origin.is_none() {
                        let m0 = self.segment(self.next).map_or(0.0, |s| s.timestamp);
                        self.pace_origin = Some((now, m0));
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
        let header = SegmentHeader::Video(VideoHeader {
            id: SegmentId::new(self.id, index),
            timestamp: seg.timestamp,
            duration: seg.duration,
            frame_count: seg.frame_count,
            flags,
            data_length: u32::try_from(seg.len).unwrap_or(u32::MAX),
            metadata: None,
        });
        if let Some(bw) = self.request.max_bandwidth {
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
        })
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
        if !final_code && self.retried.insert(index) && self.state != PlaybackState::Stopped {
            self.queue_retransmission(index);
        }
    }

    /// `TransferFinished{Completed}` once every segment of the range was sent.
    pub(crate) fn check_completed(&mut self, now: Instant) -> Option<ClientEvent> {
        if self.finished
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

    /// Stop: no more segments; true when TransferFinished{Stopped} must be emitted.
    pub(crate) fn stop(&mut self) -> bool {
        self.state = PlaybackState::Stopped;
        self.retransmit.clear();
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
