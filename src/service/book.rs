//! The service's record of transfers: what each acknowledgement announced, the latest
//! progress snapshot, a short window of byte counts for the rate, the last playback
//! acknowledgement and the final result. It is what `GET /api/transfers` answers from, and
//! what the event stream (`/api/transfers/{tid}/events`) publishes.
//!
//! Bounded: at most [`MAX_RECORDS`] transfers are kept; beyond that the oldest finished one
//! is forgotten (its `.report` file stays on disk).

use crate::platform::{TransferResult, TransferStatus};
use crate::session::{TransferOutcome, TransferState};
use crate::wire::{FileRequestAck, PlaybackAck, PlaybackState, TransferId};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Transfers remembered at most.
pub const MAX_RECORDS: usize = 1024;
/// The rate is measured over this much recent time.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// Something that happened to a transfer, as published on its event stream.
#[derive(Debug, Clone)]
pub struct TransferEvent {
    /// The transfer.
    pub transfer: TransferId,
    /// `progress`, `ack` (a playback acknowledgement) or `end`.
    pub kind: &'static str,
    /// The transfer's view (progress, end) or the acknowledgement (ack).
    pub data: Value,
}

/// The file a browser can play of a finished transfer's `output`: the output itself when
/// it is an MP4, else the playable copy the platform wrote beside it (`<output>.mp4`, D76).
fn playable(output: &str) -> Option<String> {
    let lower = output.to_ascii_lowercase();
    if lower.ends_with(".mp4") || lower.ends_with(".m4v") {
        return Some(output.to_owned());
    }
    let copy = format!("{output}.mp4");
    std::path::Path::new(&copy).is_file().then_some(copy)
}

/// Bytes, segments and index ranges received, from a transfer's result.
type FinalFigures = (u64, u64, Vec<(u32, u32)>);

/// How a transfer ended, as far as the service knows.
#[derive(Debug, Clone)]
struct Finished {
    outcome: TransferOutcome,
    /// Known when the transfer was requested through the service (its handle's verdict).
    sha256_ok: Option<bool>,
    report: Option<Value>,
    /// The final figures (bytes, segments, index ranges) when the result gave them: a
    /// transfer may end before the sampler ever saw it.
    figures: Option<FinalFigures>,
}

#[derive(Debug)]
struct TransferRecord {
    session: Uuid,
    file_path: String,
    ack: Option<FileRequestAck>,
    status: Option<TransferStatus>,
    samples: VecDeque<(Instant, u64)>,
    playback: Option<PlaybackAck>,
    finished: Option<Finished>,
    /// Requested through the service: its end comes from the handle, with the verdict.
    via_api: bool,
}

impl TransferRecord {
    fn new(session: Uuid) -> Self {
        TransferRecord {
            session,
            file_path: String::new(),
            ack: None,
            status: None,
            samples: VecDeque::new(),
            playback: None,
            finished: None,
            via_api: false,
        }
    }

    fn final_figures(&self) -> Option<&FinalFigures> {
        self.finished.as_ref().and_then(|f| f.figures.as_ref())
    }

    fn bytes(&self) -> u64 {
        match self.final_figures() {
            Some((bytes, _, _)) => *bytes,
            None => self.status.as_ref().map_or(0, |s| s.bytes),
        }
    }

    fn segments(&self) -> u64 {
        match self.final_figures() {
            Some((_, segments, _)) => *segments,
            None => self.status.as_ref().map_or(0, |s| s.received_segments),
        }
    }

    fn index_ranges(&self) -> Vec<(u32, u32)> {
        match self.final_figures() {
            Some((_, _, ranges)) => ranges.clone(),
            None => self
                .status
                .as_ref()
                .map(|s| s.index_ranges.clone())
                .unwrap_or_default(),
        }
    }

    /// Bits per second over the last few seconds.
    fn rate_bps(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, b0)), Some((t1, b1))) if t1 > t0 => {
                (b1.saturating_sub(*b0) as f64) * 8.0 / (*t1 - *t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    fn state(&self) -> &'static str {
        if let Some(f) = &self.finished {
            return outcome_name(f.outcome);
        }
        match self.status.as_ref().map(|s| s.state) {
            // The machine has ended it, but its output is not final yet (verification,
            // rename, report): a terminal state is shown only with its verdict.
            Some(TransferState::Finishing(_) | TransferState::Finished(_)) => "finishing",
            _ if self.playback.as_ref().map(|a| a.state) == Some(PlaybackState::Paused) => "paused",
            _ => "receiving",
        }
    }

    fn view(&self, id: TransferId) -> Value {
        let file_size = self.ack.as_ref().map(|a| a.file_size);
        let bytes = self.bytes();
        let rate = self.rate_bps();
        let finished = self.finished.is_some();
        let eta = match file_size {
            Some(size) if !finished && rate > 0.0 => {
                Some((size.saturating_sub(bytes) as f64) * 8.0 / rate)
            }
            _ if finished => Some(0.0),
            _ => None,
        };
        let percent = file_size
            .filter(|s| *s > 0)
            .map(|s| (bytes as f64 * 100.0 / s as f64).min(100.0));
        let report = self.finished.as_ref().and_then(|f| f.report.clone());
        json!({
            "transfer_id": id,
            "session_id": self.session,
            "state": self.state(),
            "file_path": self.file_path,
            "file_size": file_size,
            "checksum": self.ack.as_ref().map(|a| a.checksum.clone()),
            "segment_mode": self.ack.as_ref().map(|a| a.segment_mode.name().to_owned()),
            "bytes_received": bytes,
            "segments_received": self.segments(),
            "total_segments": self.status.as_ref().map(|s| s.total_segments)
                .or(self.ack.as_ref().map(|a| a.total_segments)),
            "percent": percent,
            "rate_bps": if finished { 0.0 } else { rate },
            "eta_secs": eta,
            "index_ranges": self.index_ranges(),
            "playback": self.playback,
            "output": report.as_ref().and_then(|r| r.get("output").cloned()),
            "playable": report
                .as_ref()
                .and_then(|r| r.get("output"))
                .and_then(Value::as_str)
                .and_then(playable),
            "sha256_ok": self.finished.as_ref().and_then(|f| f.sha256_ok),
            "report": report,
        })
    }
}

/// `completed`, `stopped`, `connection_lost`, `failed` (the library's names).
pub fn outcome_name(outcome: TransferOutcome) -> &'static str {
    outcome.name()
}

/// Every transfer the service knows, and the channel their events go out on.
pub struct TransferBook {
    records: Mutex<BTreeMap<TransferId, TransferRecord>>,
    events: broadcast::Sender<TransferEvent>,
}

impl Default for TransferBook {
    fn default() -> Self {
        Self::new()
    }
}

impl TransferBook {
    /// An empty book.
    pub fn new() -> Self {
        TransferBook {
            records: Mutex::new(BTreeMap::new()),
            events: broadcast::channel(1024).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<TransferId, TransferRecord>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Events of every transfer from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TransferEvent> {
        self.events.subscribe()
    }

    fn publish(&self, transfer: TransferId, kind: &'static str, data: Value) {
        // No subscriber is not an error.
        let _ = self.events.send(TransferEvent {
            transfer,
            kind,
            data,
        });
    }

    /// The record of `id`, created for `session` if new (forgetting the oldest finished
    /// record when the book is full).
    fn entry(
        records: &mut BTreeMap<TransferId, TransferRecord>,
        id: TransferId,
        session: Uuid,
    ) -> &mut TransferRecord {
        if !records.contains_key(&id) && records.len() >= MAX_RECORDS {
            let oldest_finished = records
                .iter()
                .find(|(_, r)| r.finished.is_some())
                .map(|(k, _)| *k);
            if let Some(k) = oldest_finished.or_else(|| records.keys().next().copied()) {
                records.remove(&k);
            }
        }
        records
            .entry(id)
            .or_insert_with(|| TransferRecord::new(session))
    }

    /// A transfer requested through the service was acknowledged.
    pub fn acknowledged(&self, session: Uuid, ack: &FileRequestAck) {
        let mut records = self.lock();
        let r = Self::entry(&mut records, ack.transfer_id, session);
        r.file_path = ack.file_path.clone();
        r.ack = Some(ack.clone());
        r.via_api = true;
    }

    /// A progress snapshot from the platform; publishes it unless nothing moved.
    pub fn update(&self, session: Uuid, status: TransferStatus, now: Instant) {
        let id = status.transfer;
        let mut records = self.lock();
        let r = Self::entry(&mut records, id, session);
        if r.finished.is_some() {
            return;
        }
        let moved = r.status.as_ref() != Some(&status);
        r.samples.push_back((now, status.bytes));
        while r
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            r.samples.pop_front();
        }
        if r.file_path.is_empty() {
            r.file_path = status.file_path.clone();
        }
        r.status = Some(status);
        let receiving = r.state() == "receiving";
        let view = r.view(id);
        drop(records);
        if moved || receiving {
            self.publish(id, "progress", view);
        }
    }

    /// A playback acknowledgement naming its transfer (published as an `ack` event when
    /// `publish`).
    pub fn playback_acknowledged(&self, ack: &PlaybackAck, publish: bool) {
        let Some(id) = ack.transfer_id else { return };
        let mut records = self.lock();
        let Some(r) = records.get_mut(&id) else {
            return;
        };
        r.playback = Some(ack.clone());
        drop(records);
        if publish {
            self.publish(id, "ack", json!(ack));
        }
    }

    /// A transfer's output is final (observed); ends the record of a transfer not
    /// requested through the service (those end with their verdict in [`Self::finished`]).
    pub fn output_final(&self, session: Uuid, id: TransferId, outcome: TransferOutcome) {
        let mut records = self.lock();
        let r = Self::entry(&mut records, id, session);
        if r.via_api || r.finished.is_some() {
            return;
        }
        r.finished = Some(Finished {
            outcome,
            sha256_ok: None,
            report: None,
            figures: None,
        });
        let view = r.view(id);
        drop(records);
        self.publish(id, "end", view);
    }

    /// A transfer requested through the service ended: its verdict and report.
    pub fn finished(&self, id: TransferId, result: &TransferResult) {
        let mut records = self.lock();
        let Some(r) = records.get_mut(&id) else {
            return;
        };
        r.finished = Some(Finished {
            outcome: result.outcome,
            sha256_ok: Some(result.sha256_ok),
            report: serde_json::to_value(&result.report).ok(),
            figures: Some((
                result.report.figures.bytes,
                result.report.figures.total_segments,
                result.report.index_ranges.clone(),
            )),
        });
        let view = r.view(id);
        drop(records);
        self.publish(id, "end", view);
    }

    /// A transfer requested through the service failed before its end (connection lost).
    pub fn failed(&self, id: TransferId) {
        let mut records = self.lock();
        let Some(r) = records.get_mut(&id) else {
            return;
        };
        r.finished = Some(Finished {
            outcome: TransferOutcome::ConnectionLost,
            sha256_ok: Some(false),
            report: None,
            figures: None,
        });
        let view = r.view(id);
        drop(records);
        self.publish(id, "end", view);
    }

    /// The session of a transfer.
    pub fn session_of(&self, id: TransferId) -> Option<Uuid> {
        self.lock().get(&id).map(|r| r.session)
    }

    /// Whether the transfer has ended.
    pub fn is_finished(&self, id: TransferId) -> bool {
        self.lock().get(&id).is_some_and(|r| r.finished.is_some())
    }

    /// One transfer's view.
    pub fn view(&self, id: TransferId) -> Option<Value> {
        self.lock().get(&id).map(|r| r.view(id))
    }

    /// Every transfer's view, by id.
    pub fn views(&self) -> Vec<Value> {
        self.lock().iter().map(|(id, r)| r.view(*id)).collect()
    }

    /// The ids of a session's transfers.
    pub fn transfers_of(&self, session: Uuid) -> Vec<TransferId> {
        self.lock()
            .iter()
            .filter(|(_, r)| r.session == session)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Transfers neither finished nor finishing.
    pub fn active(&self) -> usize {
        self.lock()
            .values()
            .filter(|r| matches!(r.state(), "receiving" | "paused"))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: TransferId, state: TransferState) -> TransferStatus {
        TransferStatus {
            transfer: id,
            file_path: "a.mp4".into(),
            received_segments: 3,
            total_segments: 3,
            expected_start: 0,
            bytes: 300,
            state,
            frames: 0,
            keyframes: 0,
            index_ranges: vec![(0, 2)],
            media_ranges: vec![],
            client_statistics: None,
        }
    }

    /// The machine's `Finished` comes before the output is verified and renamed: an API
    /// client polling for `completed` must find the verdict with it (CI once read
    /// `completed` with `sha256_ok: null` in that gap).
    #[test]
    fn a_transfer_shows_completed_only_with_its_verdict() {
        let book = TransferBook::new();
        let session = Uuid::nil();
        let id = TransferId::new(7).unwrap();
        let now = Instant::now();
        book.update(session, status(id, TransferState::Receiving), now);
        assert_eq!(book.view(id).unwrap()["state"], "receiving");
        book.update(
            session,
            status(id, TransferState::Finished(TransferOutcome::Completed)),
            now,
        );
        let view = book.view(id).unwrap();
        assert_eq!(view["state"], "finishing", "{view}");
        assert_eq!(view["sha256_ok"], Value::Null);
        book.output_final(session, id, TransferOutcome::Completed);
        assert_eq!(book.view(id).unwrap()["state"], "completed");
    }
}
