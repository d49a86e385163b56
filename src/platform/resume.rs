//! Transfers that broke before they completed, kept by the platform (not by a connection)
//! until their client comes back (docs/protocol.md D64, D65).
//!
//! A transfer whose connection is lost leaves its `.part` and journal on disk and its
//! entry here, with whoever waits for its end. When a session becomes ready, the platform
//! hands it the entries it may resume: those of its own session id (re-attached, D52),
//! and those of the same device (the client restarted and lost its session id; the
//! file's identity is checked against the acknowledgement). A restarted platform loads
//! every journal under `--out` into this table at start-up.

use super::{Command, Platform, PlatformError, SessionInfo, Shared, TransferResult};
use crate::store::journal::{JournalPaths, JournalRecord, SegmentRanges};
use std::sync::MutexGuard;
use std::time::{Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Where the end of a transfer is announced.
pub(super) type DoneSender = oneshot::Sender<Result<TransferResult, super::PlatformError>>;

/// Breaks survived and bytes received twice, across the attempts of one transfer.
#[derive(Debug, Clone, Default)]
pub(super) struct Attempts {
    /// Times the transfer was re-requested after a break.
    pub(super) resumed: u32,
    /// Bytes of segments stored again that an earlier attempt had stored already (in
    /// this process; after a platform restart, what the journal did not record is not
    /// known, and at most one commit interval of data).
    pub(super) resent_bytes: u64,
    /// Indices stored by any attempt (in this process).
    pub(super) stored: SegmentRanges,
}

/// One unfinished transfer, waiting for its client.
pub(super) struct Resumable {
    pub(super) paths: JournalPaths,
    pub(super) record: JournalRecord,
    pub(super) attempts: Attempts,
    /// The caller of the first request, waiting for the end (None after a restart).
    pub(super) waiter: Option<DoneSender>,
    /// When the file was first requested (the report's start).
    pub(super) requested: (Instant, SystemTime),
    /// Sessions that refused it (not their file): it is not offered to them again.
    pub(super) refused_by: Vec<Uuid>,
}

/// Sessions remembered per entry as having refused it (the most recent).
const MAX_REFUSALS: usize = 64;

impl Resumable {
    /// Session `id` refused this transfer (not its file): not offered to it again.
    pub(super) fn refuse(&mut self, id: Uuid) {
        if self.refused_by.len() >= MAX_REFUSALS {
            self.refused_by.remove(0);
        }
        self.refused_by.push(id);
    }
}

/// What a ready session is: its id, whether it was re-attached, its device.
#[derive(Debug, Clone)]
pub(super) struct Claimant {
    pub(super) session_id: Uuid,
    pub(super) device_id: Option<String>,
}

/// The unfinished transfers, bounded by what is on disk (one per journal).
#[derive(Default)]
pub(super) struct Unfinished {
    entries: Vec<Resumable>,
}

impl Unfinished {
    /// Adds (or replaces, by journal path) an entry no session is resuming.
    pub(super) fn park(&mut self, entry: Resumable) {
        self.entries
            .retain(|e| e.paths.journal != entry.paths.journal);
        self.entries.push(entry);
    }

    /// The entries `claimant` may resume, taken out of the table (the claiming
    /// connection parks them again if it breaks too): its own session's (re-attached or
    /// not) and those of the same device (None matching None: a client that does not name
    /// itself), oldest first. At most one entry per file path, so one client is never
    /// asked for one file twice at once.
    pub(super) fn claim(&mut self, claimant: &Claimant) -> Vec<Resumable> {
        let id = claimant.session_id.to_string();
        let mut claimed = Vec::new();
        let mut kept = Vec::new();
        for entry in std::mem::take(&mut self.entries) {
            let free =
                !entry.record.is_complete() && !entry.refused_by.contains(&claimant.session_id);
            let own = entry.record.transfer.session_id == id;
            let same_device = entry.record.device_id == claimant.device_id;
            let taken = claimed
                .iter()
                .any(|c: &Resumable| c.record.file.path == entry.record.file.path);
            if free && (own || same_device) && !taken {
                claimed.push(entry);
            } else {
                kept.push(entry);
            }
        }
        self.entries = kept;
        claimed
    }

    /// Waits for the end of the unfinished transfer of `file_path` (the pull of a
    /// restarted platform): true when there is one.
    pub(super) fn wait_for(
        &mut self,
        file_path: &str,
        waiter: DoneSender,
    ) -> Result<(), DoneSender> {
        match self
            .entries
            .iter_mut()
            .find(|e| e.record.file.path == file_path && e.waiter.is_none())
        {
            Some(entry) => {
                entry.waiter = Some(waiter);
                Ok(())
            }
            None => Err(waiter),
        }
    }

    /// The file paths of the unfinished transfers.
    pub(super) fn paths(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| e.record.file.path.clone())
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Platform {
    fn lock_unfinished(&self) -> MutexGuard<'_, Unfinished> {
        self.shared
            .unfinished
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The file paths of the transfers that broke and wait for their client (loaded from
    /// the journals under `out_dir` at start-up, D65).
    pub fn unfinished(&self) -> Vec<String> {
        self.lock_unfinished().paths()
    }

    /// Waits for the end of the unfinished transfer of `file_path` (as the client names
    /// it), resumed when its client comes back: None when there is none (D65).
    pub fn wait_for_unfinished(&self, file_path: &str) -> Option<ResumedTransfer> {
        let (tx, done) = oneshot::channel();
        self.lock_unfinished()
            .wait_for(file_path, tx)
            .ok()
            .map(|()| ResumedTransfer { done })
    }

    /// A transfer broke: it waits here for its client; a ready session that may resume
    /// it gets it at once (D64).
    pub(super) fn park(&self, entry: Resumable) {
        self.lock_unfinished().park(entry);
        self.dispatch_unfinished();
    }

    /// Offers the unfinished transfers to every ready session that may resume them.
    pub(super) fn dispatch_unfinished(&self) {
        if self.lock_unfinished().len() == 0 {
            return;
        }
        let ready: Vec<SessionInfo> = self
            .sessions()
            .into_iter()
            .filter(|s| s.ready && !s.ended)
            .collect();
        for info in ready {
            let claimant = Claimant {
                session_id: info.session_id,
                device_id: info.device.as_ref().and_then(|d| d.device_id.clone()),
            };
            let claimed = self.lock_unfinished().claim(&claimant);
            if claimed.is_empty() {
                continue;
            }
            let sender = self
                .lock_sessions()
                .entry(info.session_id)
                .map(|e| e.commands.clone());
            let refused = match sender {
                Some(tx) => match tx.send(Command::Resume(claimed)) {
                    Ok(()) => None,
                    Err(mpsc::error::SendError(Command::Resume(back))) => Some(back),
                    Err(_) => None,
                },
                None => Some(claimed),
            };
            for entry in refused.into_iter().flatten() {
                self.lock_unfinished().park(entry);
            }
        }
    }
}

/// At start-up: expires old journals, then loads the others as unfinished transfers.
pub(super) fn load_journals(shared: &Shared) {
    use crate::store::journal;
    let (fs, out) = (&*shared.config.store_fs, &shared.config.out_dir);
    let now_ms = super::output::unix_ms();
    for removed in journal::expire(fs, out, shared.config.journal_max_age, now_ms) {
        tracing::info!("expired {} and its .part", removed.display());
    }
    let mut unfinished = shared
        .unfinished
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for found in journal::scan(fs, out) {
        match found {
            Ok((paths, record)) => {
                tracing::info!(
                    "unfinished transfer of {} ({} of {} segments held) in {}",
                    record.file.path,
                    record.held.count(),
                    record.transfer.total_segments,
                    paths.part.display()
                );
                unfinished.park(Resumable {
                    paths,
                    record,
                    attempts: Attempts::default(),
                    waiter: None,
                    requested: (
                        tokio::time::Instant::now().into_std(),
                        crate::net::system_time(),
                    ),
                    refused_by: Vec::new(),
                });
            }
            Err(e) => tracing::warn!("journal not used: {e}"),
        }
    }
}

/// The end of an unfinished transfer of a restarted platform (D65).
#[derive(Debug)]
pub struct ResumedTransfer {
    done: oneshot::Receiver<Result<TransferResult, PlatformError>>,
}

impl ResumedTransfer {
    /// Waits for the transfer's end: its outcome, verdict and report.
    pub async fn finished(self) -> Result<TransferResult, PlatformError> {
        self.done
            .await
            .unwrap_or(Err(PlatformError::ConnectionLost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::{FileIdentity, TransferParams, JOURNAL_VERSION};
    use std::path::Path;

    fn entry(session: &str, device: Option<&str>, path: &str) -> Resumable {
        Resumable {
            paths: JournalPaths::new(&Path::new("/out").join(session).join(path)),
            record: JournalRecord {
                version: JOURNAL_VERSION,
                file: FileIdentity {
                    path: path.into(),
                    size: 100,
                    checksum: String::new(),
                },
                transfer: TransferParams {
                    session_id: session.into(),
                    transfer_id: "0123456789ab".into(),
                    segment_mode: "fixed".into(),
                    segment_size: Some(10),
                    total_segments: 10,
                    start_segment: 0,
                },
                held: SegmentRanges::new(),
                durable_prefix: 0,
                updated_unix_ms: 0,
                device_id: device.map(String::from),
                requested_as: None,
            },
            attempts: Attempts::default(),
            waiter: None,
            requested: (Instant::now(), SystemTime::now()),
            refused_by: Vec::new(),
        }
    }

    #[test]
    fn a_session_claims_its_own_transfers_and_those_of_its_device_once() {
        let s1 = Uuid::from_u128(1);
        let s2 = Uuid::from_u128(2);
        let mut u = Unfinished::default();
        u.park(entry(&s1.to_string(), Some("cam-1"), "a.bin"));
        u.park(entry(&s1.to_string(), Some("cam-2"), "b.bin"));
        u.park(entry("other", Some("cam-1"), "c.bin"));
        // Another device's new session gets nothing of cam-1's.
        let cam3 = Claimant {
            session_id: s2,
            device_id: Some("cam-3".into()),
        };
        assert!(u.claim(&cam3).is_empty());
        // cam-1 restarted (new session id): its transfers by device.
        let cam1 = Claimant {
            session_id: s2,
            device_id: Some("cam-1".into()),
        };
        let got: Vec<String> = u
            .claim(&cam1)
            .iter()
            .map(|e| e.record.file.path.clone())
            .collect();
        assert_eq!(got, ["a.bin", "c.bin"]);
        // The re-attached session s1 gets its own transfer whatever its device.
        let back = Claimant {
            session_id: s1,
            device_id: None,
        };
        let got: Vec<String> = u
            .claim(&back)
            .iter()
            .map(|e| e.record.file.path.clone())
            .collect();
        assert_eq!(got, ["b.bin"]);
        assert_eq!(u.len(), 0);
    }
}
