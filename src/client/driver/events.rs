//! The machine's events of one connection: the specification's log lines and the progress
//! an application reads.

use super::Connection;
use crate::client::UploadProgress;
use crate::session::{ClientEvent, ClientSession, SendSummary, TransferOutcome};
use crate::store::mbps;
use crate::wire::{SegmentMode, TransferId};

impl Connection {
    /// Logs `event` and updates the progress.
    pub(super) fn on_event(&mut self, session: &ClientSession, event: ClientEvent) {
        let session_id = session
            .session_id()
            .map_or_else(|| "-".to_string(), |id| id.to_string());
        match event {
            ClientEvent::SessionEstablished { session_id } => {
                tracing::info!("session {session_id} established");
                self.progress.session_id = Some(session_id);
                self.progress.established = true;
            }
            ClientEvent::HandshakeRefused { code } => {
                tracing::error!("the platform refused the session: {code}");
                self.refused = Some(code);
            }
            ClientEvent::TransferStarted(ack) => self.transfer_started(&ack),
            ClientEvent::SegmentTransmitted {
                transfer,
                index,
                total,
                bytes,
                frame_type,
                elapsed,
            } => {
                let unit = if self.chunked.get(&transfer).copied().unwrap_or(false) {
                    "chunk"
                } else {
                    "H.264 frame"
                };
                tracing::debug!(
                    "Transmitted {unit} {}/{total} ({bytes} bytes, {frame_type}, {:.2}ms, {:.1}Mbps) for session {session_id}",
                    u64::from(index) + 1,
                    elapsed.as_secs_f64() * 1000.0,
                    mbps(bytes, elapsed),
                );
                self.segment_transmitted(transfer, bytes);
            }
            ClientEvent::TransferFinished {
                transfer,
                outcome,
                summary,
            } => {
                let chunked = self.chunked.remove(&transfer).unwrap_or(false);
                if let TransferOutcome::Failed(code) = outcome {
                    tracing::error!("transfer {transfer} failed: {code}");
                }
                log_completion(&session_id, chunked, outcome, &summary);
                if let Some(p) = self.transfer_mut(transfer) {
                    p.outcome = Some(outcome);
                }
            }
            ClientEvent::RequestRefused {
                request_seq,
                path,
                code,
                reason,
            } => {
                let what = path.map_or_else(|| "-".to_string(), |p| format!("{p:?}"));
                tracing::warn!("refused request {request_seq} (path {what}): {code}: {reason}");
            }
            ClientEvent::PeerError(report) => {
                tracing::warn!(
                    "platform reported {}: {}",
                    report.error_code,
                    report.error_message
                );
            }
        }
    }

    fn transfer_mut(&mut self, transfer: TransferId) -> Option<&mut UploadProgress> {
        self.progress
            .transfers
            .iter_mut()
            .rev()
            .find(|p| p.transfer == transfer)
    }

    /// One more segment of `transfer` in the progress.
    fn segment_transmitted(&mut self, transfer: TransferId, bytes: u64) {
        if let Some(p) = self.transfer_mut(transfer) {
            p.uploaded_segments += 1;
            p.bytes += bytes;
        }
    }

    /// A transfer was accepted: logged, and listed in the progress.
    fn transfer_started(&mut self, ack: &crate::wire::FileRequestAck) {
        tracing::info!(
            "transfer {} of {} started ({} segments, {})",
            ack.transfer_id,
            ack.file_path,
            ack.total_segments,
            ack.segment_mode.name()
        );
        self.chunked
            .insert(ack.transfer_id, ack.segment_mode == SegmentMode::Fixed);
        self.progress.transfers.push(UploadProgress {
            transfer: ack.transfer_id,
            file_path: ack.file_path.clone(),
            total_segments: ack.total_segments,
            uploaded_segments: 0,
            bytes: 0,
            total_bytes: (ack.start_segment == 0 && ack.demuxed.is_none()).then_some(ack.file_size),
            outcome: None,
        });
    }
}

/// The sender's completion line (specification, 发送端完成报告).
fn log_completion(session_id: &str, chunked: bool, outcome: TransferOutcome, s: &SendSummary) {
    let secs = s.elapsed.as_secs_f64();
    let (what, units, count) = if chunked {
        ("Chunk-level", "chunks", s.segments)
    } else {
        ("H.264 frame-level", "frames", s.frames.max(s.segments))
    };
    let per = if count > 0 {
        secs * 1000.0 / count as f64
    } else {
        0.0
    };
    let unit = &units[..units.len() - 1];
    let line = format!(
        "{what} transmission completed for session {session_id} ({count} {units}, {} bytes, {secs:.2}s, avg {per:.2}ms/{unit}, {:.1}Mbps overall, {:.1}Mbps peak)",
        s.bytes,
        mbps(s.bytes, s.elapsed),
        s.peak_mbps
    );
    match outcome {
        TransferOutcome::Completed => tracing::info!("{line}"),
        other => tracing::warn!("{line} [{other:?}]"),
    }
}
