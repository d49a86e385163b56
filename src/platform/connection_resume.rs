//! The connection's part in durable output and resume (D61, D64-D66): opening a new or
//! resumed output, asking for the rest of an unfinished transfer, committing journals on
//! time, giving way to a newer connection of the session.

use super::{now, Connection, Observed, TransferOutput};
use crate::platform::resume::Resumable;
use crate::platform::supersede::{Newcomer, Supersession, SAMPLE_EVERY};
use crate::session::PlatformSession;
use crate::store::Placement;
use crate::wire::FileRequestAck;
use std::time::Instant;

impl Connection {
    /// Opens the output of an accepted transfer: a new `.part` and journal, or the
    /// `.part` of the unfinished transfer a resume request asked for (D64).
    pub(super) fn open_output(
        &mut self,
        session: &mut PlatformSession,
        ack: FileRequestAck,
        placement: Placement,
    ) {
        let requested = self
            .requested_at
            .remove(&ack.ack)
            .unwrap_or_else(|| (now(), crate::net::system_time()));
        let transfer = ack.transfer_id;
        let asked = self.requested_as.remove(&ack.ack);
        let disk = self.platform.shared.disk.clone();
        let opened = match self.resuming.remove(&ack.ack) {
            Some(mut entry) => {
                let session_id = self.session_id.to_string();
                let fs = std::sync::Arc::clone(&self.platform.config().store_fs);
                match TransferOutput::resume(fs, &entry, &session_id, (ack, placement), disk) {
                    Ok(output) => {
                        if let Some(waiter) = entry.waiter.take() {
                            self.done.insert(transfer, waiter);
                        }
                        Ok(output)
                    }
                    Err(e) => {
                        entry.refuse(self.session_id);
                        self.platform.park(entry);
                        Err(e)
                    }
                }
            }
            None => TransferOutput::open(
                (
                    std::sync::Arc::clone(&self.platform.config().store_fs),
                    &self.platform.config().out_dir,
                ),
                (
                    &self.session_id.to_string(),
                    session.device().and_then(|d| d.device_id.clone()),
                ),
                (ack, placement),
                disk,
                (requested, asked),
            ),
        };
        match opened {
            Ok(mut output) => {
                if output.attempts.resumed == 0 {
                    // A resumed stream's MP4 copy cannot continue (its muxer is
                    // gone): the byte-exact file is kept (D65).
                    output.attach_container(self.platform.config().container);
                }
                tracing::info!(
                    "receiving {} into {}",
                    output.ack.file_path,
                    output.paths.file.display()
                );
                self.outputs.insert(transfer, output);
            }
            Err(e) => self.output_failed(session, transfer, None, &e),
        }
    }

    /// Asks the client for the rest of an unfinished transfer (D64): the journal's
    /// request, `resume_from_segment` at the first missing index and `held_segments`.
    pub(super) fn resume(&mut self, session: &mut PlatformSession, entry: Resumable) {
        let request = entry.record.resume_request();
        let held = entry.record.held.count();
        match session.request_file(now(), request) {
            Ok(seq) => {
                tracing::info!(
                    "resuming {} in session {} ({} of {} segments held, from segment {})",
                    entry.record.file.path,
                    self.session_id,
                    held,
                    entry.record.transfer.total_segments,
                    entry.record.first_missing()
                );
                self.observe(Observed::TransferResumed {
                    request_seq: seq,
                    held,
                });
                self.requested_at.insert(seq, entry.requested);
                self.resuming.insert(seq, entry);
            }
            Err(e) => {
                tracing::warn!("cannot resume {}: {e}", entry.record.file.path);
                self.platform.park(entry);
            }
        }
    }

    /// When the earliest journal commit is due by age (D61).
    pub(super) fn commit_deadline(&self) -> Option<Instant> {
        self.outputs
            .values()
            .filter_map(TransferOutput::commit_deadline)
            .min()
    }

    /// Commits the journals that are due; a failure fails its transfer (D48).
    pub(super) fn commit_due(&mut self, session: &mut PlatformSession) {
        let at = now();
        let mut failed = Vec::new();
        for (&id, output) in self.outputs.iter_mut() {
            if let Err(e) = output.commit_if_due(at) {
                failed.push((id, e));
            }
        }
        for (id, e) in failed {
            self.output_failed(session, id, None, &e);
        }
    }

    /// A newer connection of this session took over (D66), or a new session of this
    /// device while this connection was silent (D117): close at once (nothing to linger
    /// for: the client left this connection); the transfers break and wait there.
    pub(super) fn superseded(&mut self, why: Supersession) {
        let (code, reason) = why.close();
        tracing::info!("session {}: closing with {code}: {reason}", self.session_id);
        self.superseded = true;
        self.closing = true;
        self.conn.close(
            quinn::VarInt::from_u32(u32::from(code.to_u16())),
            reason.as_bytes(),
        );
    }

    /// The next sample of the received-datagram counter or judgement of older silent
    /// connections (D117).
    pub(super) fn liveness_deadline(&self) -> Option<Instant> {
        match (self.sample_at, self.supersede_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Samples the counter (for the rule's view of this connection) and judges the older
    /// connections of this device when due (D117); the rule decides, this carries it out.
    pub(super) fn liveness_due(&mut self) {
        let at = now();
        if self.sample_at.is_some_and(|t| t <= at) {
            let holds = !self.outputs.is_empty() || !self.resuming.is_empty();
            let datagrams = self.conn.stats().udp_rx.datagrams;
            self.platform
                .record_activity((self.session_id, self.generation), at, datagrams, holds);
            self.sample_at = Some(at + SAMPLE_EVERY);
        }
        if self.supersede_at.is_some_and(|t| t <= at) {
            self.supersede_at = if self.closing {
                None
            } else {
                let newcomer = Newcomer {
                    session_id: self.session_id,
                    generation: self.generation,
                    device_id: self.device_id.clone(),
                };
                self.platform.supersede_silent(&newcomer, at)
            };
        }
    }
}
