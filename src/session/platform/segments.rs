//! Segment streams at the platform: the verdict on a header, the bookkeeping of written
//! segments, and the completion rule (profile section 5).

use std::time::{Duration, Instant};

use super::unknown::Sighting;
use super::{Incoming, PlatformSession, MAX_DAMAGED, MAX_PARKED};
use crate::session::util::merge_range;
use crate::session::{PlatformAction, SegmentVerdict, TransferOutcome, TransferState};
use crate::wire::{
    ErrorReport, SegmentFlags, SegmentHeader, SegmentId, StatusCode, TransferId, WireError,
};

impl PlatformSession {
    /// True when a whole copy of segment `index` (D121) may be stored although its
    /// header was judged `Duplicate` because its stream is being read: the transfer is
    /// receiving, not stopped, the index within its range and not held yet. Whichever of
    /// the copy and the stream is whole first is written ([`Self::handle_segment_written`]
    /// counts a segment once).
    pub fn copy_may_complete(&self, transfer: TransferId, index: u32) -> bool {
        self.transfers.get(&transfer).is_some_and(|t| {
            t.state == TransferState::Receiving
                && !t.stopped
                && index >= t.expected_start
                && index < t.ack.total_segments
                && !t.received.contains(index)
        })
    }

    /// True when segment `index` of `transfer` is held (written and counted).
    pub fn holds_segment(&self, transfer: TransferId, index: u32) -> bool {
        self.transfers
            .get(&transfer)
            .is_some_and(|t| t.received.contains(index))
    }
    /// Decides what to do with a segment stream from its header.
    ///
    /// - stream longer than `max_stream_len` → `Refuse(1006)` and ErrorReport 1006;
    /// - id not of the profile's v8 form (e.g. a random v4 id): appended in arrival order
    ///   to the most recently accepted transfer still receiving (the next index from its
    ///   expected start; the same id again is the same index); with no such transfer, or
    ///   past its last index, `Refuse(400)` and ErrorReport 400;
    /// - transfer not acknowledged → `NotYetKnown` until `unknown_transfer_grace` after
    ///   its first such segment, then `Refuse(400)`;
    /// - index not below `total_segments` → `Refuse(400)`;
    /// - already received, being written, below the expected start (before a seek's
    ///   restart point), or the transfer is no longer receiving or was stopped →
    ///   `Duplicate`;
    /// - else `Write`.
    ///
    /// A `NotYetKnown` header is parked in the machine: once its transfer is acknowledged,
    /// or its grace ends (`handle_timeout`), the machine judges it again and issues
    /// [`PlatformAction::SegmentJudged`] with its final verdict (D55). At most
    /// `MAX_PARKED` headers wait; past that a header is refused 400.
    pub fn handle_segment_header(
        &mut self,
        now: Instant,
        header: &SegmentHeader,
    ) -> SegmentVerdict {
        let verdict = self.judge(now, header);
        if verdict != SegmentVerdict::NotYetKnown {
            return verdict;
        }
        if self.parked.len() >= MAX_PARKED {
            let report = ErrorReport::new(
                StatusCode::BadRequest,
                "too many segments of unacknowledged transfers waiting",
            )
            .with_detail("segment_id", header.id().to_string());
            self.send_error(now, report);
            return SegmentVerdict::Refuse(StatusCode::BadRequest);
        }
        self.parked.push(header.clone());
        verdict
    }

    /// Judges the parked headers again (after an acknowledgement or a grace's end): each
    /// decided one leaves with a `SegmentJudged` action, in the order they arrived.
    pub(super) fn rejudge_parked(&mut self, now: Instant) {
        if self.parked.is_empty() {
            return;
        }
        for header in std::mem::take(&mut self.parked) {
            match self.judge(now, &header) {
                SegmentVerdict::NotYetKnown => self.parked.push(header),
                verdict => self
                    .actions
                    .push_back(PlatformAction::SegmentJudged { header, verdict }),
            }
        }
    }

    fn judge(&mut self, now: Instant, header: &SegmentHeader) -> SegmentVerdict {
        let id = header.id();
        if let Err(e) = header.check_bound(self.config.max_stream_len) {
            let report = ErrorReport::new(StatusCode::StreamTooLong, e.to_string())
                .with_detail("segment_id", id.to_string());
            self.send_error(now, report);
            return SegmentVerdict::Refuse(StatusCode::StreamTooLong);
        }
        let Some((transfer, index)) = id.parts().or_else(|| self.foreign_slot(id)) else {
            let report = ErrorReport::new(
                StatusCode::BadRequest,
                "segment id not of the profile's form and no transfer to append it to",
            )
            .with_detail("segment_id", id.to_string());
            self.send_error(now, report);
            return SegmentVerdict::Refuse(StatusCode::BadRequest);
        };
        let Some(t) = self.transfers.get_mut(&transfer) else {
            let grace = self.config.unknown_transfer_grace;
            if self.unknown.sight(now, transfer, grace) == Sighting::Wait {
                return SegmentVerdict::NotYetKnown;
            }
            let report = ErrorReport::new(
                StatusCode::BadRequest,
                format!("segment of unknown transfer {transfer}"),
            )
            .with_detail("segment_id", id.to_string());
            self.send_error(now, report);
            return SegmentVerdict::Refuse(StatusCode::BadRequest);
        };
        if index >= t.ack.total_segments {
            let total = t.ack.total_segments;
            let report = ErrorReport::new(
                StatusCode::BadRequest,
                format!("segment index {index} outside 0-{total}"),
            )
            .with_detail("segment_id", id.to_string());
            self.send_error(now, report);
            return SegmentVerdict::Refuse(StatusCode::BadRequest);
        }
        if let TransferState::Finishing(TransferOutcome::Failed(code))
        | TransferState::Finished(TransferOutcome::Failed(code)) = t.state
        {
            // Reported once when it failed; its streams are stopped with its code (D48).
            return SegmentVerdict::Refuse(code);
        }
        if t.state != TransferState::Receiving
            || t.stopped
            || index < t.expected_start
            || t.received.contains(index)
            || t.writing.contains(&index)
        {
            return SegmentVerdict::Duplicate;
        }
        t.writing.insert(index);
        SegmentVerdict::Write {
            transfer,
            index,
            len: u64::from(header.data_length()),
            too_long: SegmentVerdict::TOO_LONG,
        }
    }

    /// The (transfer, index) of a segment id: the profile's form, else the slot a foreign
    /// id was given when it first arrived.
    fn resolve(&self, id: SegmentId) -> Option<(TransferId, u32)> {
        id.parts()
            .or_else(|| self.foreign.get(id.as_uuid()).copied())
    }

    /// The slot of a foreign (non-v8) id: the one it was given, or the next index of the
    /// most recently accepted transfer still receiving.
    fn foreign_slot(&mut self, id: SegmentId) -> Option<(TransferId, u32)> {
        if let Some(&slot) = self.foreign.get(id.as_uuid()) {
            return Some(slot);
        }
        let transfer = *self.accepted.iter().rev().find(|t| {
            self.transfers
                .get(t)
                .is_some_and(|x| x.state == TransferState::Receiving)
        })?;
        let t = self.transfers.get_mut(&transfer)?;
        let index = t.next_foreign.max(t.expected_start);
        if index >= t.ack.total_segments {
            return None;
        }
        t.next_foreign = index + 1;
        self.foreign.insert(*id.as_uuid(), (transfer, index));
        Some((transfer, index))
    }

    /// A segment's data was written: count it, and finish the transfer once complete.
    pub fn handle_segment_written(
        &mut self,
        _now: Instant,
        header: &SegmentHeader,
        receive_time: Duration,
    ) {
        let _ = receive_time;
        let Some((transfer, index)) = self.resolve(header.id()) else {
            return;
        };
        let Some(t) = self.transfers.get_mut(&transfer) else {
            return;
        };
        t.writing.remove(&index);
        if index >= t.ack.total_segments || !t.received.insert(index) {
            self.settle(transfer);
            return;
        }
        t.bytes += u64::from(header.data_length());
        if let SegmentHeader::Video(v) = header {
            t.frames += u64::from(v.frame_count);
        }
        if header.flags().contains(SegmentFlags::KEYFRAME) {
            t.keyframes += 1;
        }
        let ts = header.timestamp();
        merge_range(&mut t.media, ts, ts + header.duration().max(0.0));
        self.settle(transfer);
    }

    /// After a segment was written or failed, or a playback acknowledgement: requests the
    /// output restart of a seek once no segment below its restart index is still being
    /// written (D43); finishes a stopped transfer once nothing is being written (D44);
    /// else finishes it as Completed if every expected index has arrived.
    pub(super) fn settle(&mut self, transfer: TransferId) {
        let Some(t) = self.transfers.get_mut(&transfer) else {
            return;
        };
        if t.state != TransferState::Receiving {
            return;
        }
        if let Some(k) = t.pending_restart {
            if t.writing.range(..k).next().is_some() {
                return;
            }
            t.pending_restart = None;
            self.actions
                .push_back(PlatformAction::RestartOutput { transfer, index: k });
        }
        let Some(t) = self.transfers.get_mut(&transfer) else {
            return;
        };
        if t.stopped {
            if t.writing.is_empty() {
                self.finish(transfer, TransferOutcome::Stopped);
            }
            return;
        }
        self.check_complete(transfer);
    }

    /// Finishes `transfer` as Completed if every expected index has arrived.
    pub(super) fn check_complete(&mut self, transfer: TransferId) {
        let done = self
            .transfers
            .get(&transfer)
            .is_some_and(|t| t.state == TransferState::Receiving && is_complete(t));
        if done {
            self.finish(transfer, TransferOutcome::Completed);
        }
    }

    /// A segment stream failed (truncated, corrupted, too long): ErrorReport with the
    /// error's code, and when the header was read, a retransmission request (1005 with
    /// `details.segment_id`) unless the stream was too long (1006: resending would fail).
    /// A segment asked for `max_retries` times already fails its transfer instead (D49).
    pub fn handle_segment_failed(
        &mut self,
        now: Instant,
        header: Option<&SegmentHeader>,
        error: WireError,
    ) {
        let code = error.status();
        let Some(h) = header else {
            self.send_error(now, ErrorReport::new(code, error.to_string()));
            return;
        };
        let id = h.id();
        let mut retry = None;
        let mut settle = None;
        if let Some((transfer, index)) = self.resolve(id) {
            if let Some(t) = self.transfers.get_mut(&transfer) {
                t.writing.remove(&index);
                let known = t.state == TransferState::Receiving
                    && !t.stopped
                    && index >= t.expected_start
                    && index < t.ack.total_segments
                    && !t.received.contains(index);
                if known && code != StatusCode::StreamTooLong {
                    retry = Some((transfer, count_retry(t, index)));
                }
                settle = Some(transfer);
            }
        }
        let max = self.config.max_retries;
        if let Some((transfer, tries)) = retry {
            match tries {
                Some(n) if n <= max => {
                    // The retransmission request is itself the report (1005, segment_id).
                    let _ = self.request_retransmission(now, id, Some("corrupted"));
                }
                _ => {
                    let why = format!("segment {id} still damaged after {max} retransmissions");
                    self.fail_transfer(now, transfer, StatusCode::SegmentCorrupted, why);
                }
            }
        } else {
            let report =
                ErrorReport::new(code, error.to_string()).with_detail("segment_id", id.to_string());
            self.send_error(now, report);
        }
        if let Some(transfer) = settle {
            self.settle(transfer);
        }
    }
}

/// Counts one more failure of segment `index`: the retransmissions it would take, or None
/// when the transfer already has too many distinct damaged segments to track.
fn count_retry(t: &mut Incoming, index: u32) -> Option<u32> {
    if t.retries.len() >= MAX_DAMAGED && !t.retries.contains_key(&index) {
        return None;
    }
    let n = t.retries.entry(index).or_insert(0);
    *n = n.saturating_add(1);
    Some(*n)
}

/// Every index from the expected start to the last has arrived.
fn is_complete(t: &Incoming) -> bool {
    let start = t.expected_start.min(t.ack.total_segments);
    t.received.covers(start, t.ack.total_segments)
}
