//! D101 at the platform: the checksum of a transfer acknowledged with `"checksum": null`
//! arrives later, in a notice (StatusResponse 200 `{transfer_id, checksum}` without `ack`),
//! or the client reports it cannot come (ErrorReport 500 naming the transfer). A transfer
//! whose whole file is written before then has its verdict parked until one of the two,
//! or the end of the session.

use std::time::Instant;

use super::{status_of, PlatformSession};
use crate::session::{PlatformEvent, TransferState};
use crate::wire::{ChecksumNotice, ErrorReport, StatusCode, TransferId};

impl PlatformSession {
    /// A [`ChecksumNotice`] (D101): the checksum of a transfer acknowledged with
    /// `"checksum": null`. Refused (400) for a transfer not known or one whose checksum is
    /// already known and differs; the verdict of an output already finished is given now.
    pub(super) fn on_checksum_notice(&mut self, now: Instant, seq: u64, notice: ChecksumNotice) {
        let id = notice.transfer_id;
        let Some(t) = self.transfers.get_mut(&id) else {
            let why = format!("checksum for unknown transfer {id}");
            self.refuse(now, seq, StatusCode::BadRequest, why);
            return;
        };
        match &t.ack.checksum {
            Some(known) if *known == notice.checksum => return,
            Some(_) => {
                let why = format!("transfer {id} already has another checksum");
                self.refuse(now, seq, StatusCode::BadRequest, why);
                return;
            }
            None => t.ack.checksum = Some(notice.checksum.clone()),
        }
        self.events.push_back(PlatformEvent::ChecksumKnown {
            transfer: id,
            checksum: notice.checksum,
        });
        self.give_parked_verdict(id);
    }

    /// Emits the verdict of a transfer whose output finished while its checksum was still
    /// expected (D101), if it has one parked.
    pub(super) fn give_parked_verdict(&mut self, id: TransferId) {
        let Some(t) = self.transfers.get_mut(&id) else {
            return;
        };
        let Some((outcome, file)) = t.awaiting_checksum.take() else {
            return;
        };
        t.state = TransferState::Finished(outcome);
        let sha256_ok = file.checksum.is_some() && file.checksum == t.ack.checksum;
        let status = Box::new(status_of(id, t));
        self.events.push_back(PlatformEvent::TransferFinished {
            transfer: id,
            outcome,
            file,
            sha256_ok,
            status,
        });
    }

    /// An ErrorReport without `ack` naming a transfer still waiting for its checksum: the
    /// client could not hash the file, so its verdict is given without it.
    pub(super) fn on_checksum_failure(&mut self, r: &ErrorReport) {
        // The client could not hash a file served with `"checksum": null` (D101).
        let named = (r.details.as_ref())
            .and_then(|d| d.get("transfer_id"))
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<TransferId>().ok());
        if let Some(id) = named.filter(|_| r.ack().is_none()) {
            if let Some(t) = self.transfers.get_mut(&id) {
                if t.ack.checksum.is_none() {
                    t.checksum_failed = true;
                    self.give_parked_verdict(id);
                }
            }
        }
    }

    pub(super) fn give_all_parked_verdicts(&mut self) {
        let parked: Vec<TransferId> = (self.transfers.iter())
            .filter(|(_, t)| t.awaiting_checksum.is_some())
            .map(|(&id, _)| id)
            .collect();
        for id in parked {
            self.give_parked_verdict(id);
        }
    }
}
