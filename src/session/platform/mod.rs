//! [`PlatformSession`]: the server's machine, one per connection.
//!
//! It answers the client's handshake (VersionNegotiation, then SessionStart), sends the
//! application's requests (file list, file requests, playback commands, statistics,
//! retransmission requests) and matches each reply to its request by `ack` (profile
//! section 4). Segment streams are judged from their header ([`SegmentVerdict`]) and
//! counted once written; a transfer completes exactly once, when every index from its
//! first expected segment to its last has arrived.
//!
//! Drain order after each input: `poll_action` until `None`, then `poll_event`, then re-arm
//! the timer at `poll_timeout`. `now` never goes backwards.

mod checksum;
mod device_limit;
mod requests;
mod segments;
mod unknown;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use uuid::Uuid;

use super::failure::{failed_transfer, transfer_failed_report};
use super::util::{Outbox, RunSet};
use super::{
    PlatformAction, PlatformEvent, SessionConfig, StorageFailure, TransferOutcome, TransferState,
    TransferStatus,
};
use crate::store::{FinishedFile, Placement};
use crate::wire::{
    Ack, ErrorReport, FileListResponse, FileRequestAck, JsonEnvelope, Message, PlaybackAck,
    ProtocolVersion, SegmentMode, SessionStart, StatusCode, StatusResponse, TransferId, WireError,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitVersion,
    AwaitStart,
    /// SessionStart named a previous session: waiting for the registry's answer
    /// (`handle_session_lookup`) before replying to request `ack`.
    AwaitRegistry {
        ack: u64,
        previous: Uuid,
    },
    Ready,
    /// SessionEnd received, version refused, or connection lost.
    Closed,
}

/// A request sent and not yet answered.
#[derive(Debug, Clone)]
enum Outstanding {
    FileList,
    /// A FileRequest, with the `held_segments` it named (D63, D64): those indices count as
    /// received once the transfer is accepted.
    File {
        held: Vec<(u32, u32)>,
    },
    /// A playback command (`seek`: it moves the expected range).
    Playback {
        seek: bool,
    },
    Stats,
}

/// One transfer as the platform receives it.
#[derive(Debug)]
struct Incoming {
    ack: FileRequestAck,
    state: TransferState,
    received: RunSet,
    /// Indices handed out as `Write` and not yet written or failed (bounded by the
    /// streams in flight).
    writing: BTreeSet<u32>,
    expected_start: u32,
    bytes: u64,
    frames: u64,
    keyframes: u64,
    media: Vec<(f64, f64)>,
    /// A Stop was acknowledged for it: it finishes once the segments being written are.
    stopped: bool,
    /// A seek moved the range to start here; `RestartOutput` waits until no segment below
    /// it is still being written.
    pending_restart: Option<u32>,
    /// The client's statistics from a Stop acknowledgement (`send_statistics`).
    statistics: Option<serde_json::Value>,
    /// Next index given to a foreign (non-v8) segment id.
    next_foreign: u32,
    /// The output finished before the checksum of a transfer acknowledged with
    /// `"checksum": null` arrived: the verdict waits for it (D101).
    awaiting_checksum: Option<(TransferOutcome, FinishedFile)>,
    /// The client reported that it could not compute the checksum (D101).
    checksum_failed: bool,
    /// Retransmissions requested per damaged segment (at most `MAX_DAMAGED` entries).
    retries: HashMap<u32, u32>,
}

/// Segment headers of unacknowledged transfers the machine keeps waiting (D55).
const MAX_PARKED: usize = 1024;

/// Distinct damaged segments one transfer may have before it fails (bounds `retries`).
const MAX_DAMAGED: usize = 4096;

/// The platform's sans-IO machine: see the [module docs](self).
#[derive(Debug)]
pub struct PlatformSession {
    config: SessionConfig,
    outbox: Outbox,
    session_id: Uuid,
    /// The previous session a reconnecting client named in SessionStart's envelope.
    requested_session: Option<Uuid>,
    /// The identity of the client's TLS certificate (mutual TLS), given by the driver.
    certified: Option<String>,
    /// Who the client is, once SessionStart was accepted (D93).
    device: Option<crate::auth::DeviceIdentity>,
    /// The place this session holds among its device's live sessions (D96).
    device_slot: Option<crate::auth::DeviceSlot>,
    phase: Phase,
    outstanding: BTreeMap<u64, Outstanding>,
    transfers: BTreeMap<TransferId, Incoming>,
    /// Transfers seen in segment ids before their acknowledgement (capped, D51).
    unknown: unknown::UnknownTransfers,
    /// Headers judged `NotYetKnown`, waiting to be judged again (D55), arrival order.
    parked: Vec<crate::wire::SegmentHeader>,
    /// Transfer ids in the order they were accepted.
    accepted: Vec<TransferId>,
    /// Slots given to foreign (non-v8) segment ids: one entry per such segment.
    foreign: HashMap<Uuid, (TransferId, u32)>,
    actions: VecDeque<PlatformAction>,
    events: VecDeque<PlatformEvent>,
}

impl PlatformSession {
    /// A machine for a new connection; `session_id` is the id the platform assigns.
    pub fn new(config: SessionConfig, now: Instant, session_id: Uuid) -> Self {
        PlatformSession {
            outbox: Outbox::new(now, config.epoch),
            config,
            session_id,
            requested_session: None,
            certified: None,
            device: None,
            device_slot: None,
            phase: Phase::AwaitVersion,
            outstanding: BTreeMap::new(),
            transfers: BTreeMap::new(),
            unknown: unknown::UnknownTransfers::default(),
            parked: Vec::new(),
            accepted: Vec::new(),
            foreign: HashMap::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The session id (assigned at construction, or re-attached by the client's
    /// SessionStart).
    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    /// The session id a reconnecting client named in SessionStart's envelope (not nil and
    /// not this machine's id), for a driver that re-attaches sessions (profile section 3).
    pub fn requested_session(&self) -> Option<Uuid> {
        self.requested_session
    }

    /// The subject name of the client's TLS certificate, when it presented one (mutual
    /// TLS): the driver gives it before the first message.
    pub fn set_certified_identity(&mut self, identity: Option<String>) {
        self.certified = identity;
    }

    /// Who the client is, once SessionStart was accepted (D93).
    pub fn device(&self) -> Option<&crate::auth::DeviceIdentity> {
        self.device.as_ref()
    }

    /// True once the handshake completed (and until the session ends).
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Ready
    }

    fn send(&mut self, now: Instant, message: &Message) -> u64 {
        let env = self.outbox.wrap(now, message, self.session_id);
        let seq = env.sequence_number;
        self.actions.push_back(PlatformAction::SendControl(env));
        seq
    }

    fn send_error(&mut self, now: Instant, report: ErrorReport) {
        self.send(now, &Message::ErrorReport(report));
    }

    fn refuse(&mut self, now: Instant, ack: u64, code: StatusCode, why: impl Into<String>) {
        self.send_error(now, ErrorReport::new(code, why).with_ack(ack));
    }

    /// Every control message from the client (an acknowledgement may decide parked
    /// segment headers, D55).
    pub fn handle_message(&mut self, now: Instant, envelope: JsonEnvelope) {
        self.on_message(now, envelope);
        self.rejudge_parked(now);
    }

    fn on_message(&mut self, now: Instant, envelope: JsonEnvelope) {
        let seq = envelope.sequence_number;
        let message = match envelope.message() {
            Ok(m) => m,
            Err(e) => {
                if self.phase != Phase::Closed {
                    self.refuse(now, seq, e.status(), e.to_string());
                }
                return;
            }
        };
        let name = {
            let t = message.message_type();
            t.name()
                .map_or_else(|| format!("type {}", t.to_u8()), str::to_owned)
        };
        match (self.phase, message) {
            (Phase::Closed, _) => {}
            (Phase::AwaitVersion, Message::VersionNegotiation(v)) => self.on_version(now, seq, &v),
            (Phase::AwaitStart, Message::SessionStart(s)) => {
                self.on_session_start(now, seq, envelope.session_id, &s)
            }
            (Phase::Ready, Message::FileListResponse(r)) => self.on_file_list(now, seq, r),
            (Phase::Ready, Message::StatusResponse(r)) => self.on_status(now, seq, r),
            (_, Message::ErrorReport(r)) => self.on_error_report(r),
            (Phase::Ready, Message::SessionEnd) => {
                self.phase = Phase::Closed;
                self.give_all_parked_verdicts();
                self.finish_open(|t| {
                    if t.stopped {
                        TransferOutcome::Stopped
                    } else {
                        TransferOutcome::ConnectionLost
                    }
                });
                self.events.push_back(PlatformEvent::SessionEnded);
            }
            (
                _,
                Message::VersionNegotiation(_)
                | Message::SessionStart(_)
                | Message::FileListResponse(_)
                | Message::StatusResponse(_)
                | Message::SessionEnd,
            ) => {
                self.refuse(
                    now,
                    seq,
                    StatusCode::BadRequest,
                    format!("{name} out of order"),
                );
            }
            (_, _) => {
                self.refuse(
                    now,
                    seq,
                    StatusCode::BadRequest,
                    format!("{name} is not sent by a client"),
                );
            }
        }
    }

    /// VersionNegotiation: 200 when compatible, else 1008 and close (D20).
    fn on_version(&mut self, now: Instant, seq: u64, v: &ProtocolVersion) {
        match ProtocolVersion::CURRENT.check_compatible(v) {
            Ok(()) => {
                let r = Ack {
                    ack: seq,
                    session_id: None,
                }
                .to_status_response();
                self.send(now, &Message::StatusResponse(r));
                self.phase = Phase::AwaitStart;
            }
            Err(e) => {
                let r = StatusResponse::new(
                    StatusCode::ProtocolVersionMismatch,
                    serde_json::json!({"ack": seq, "error": e.to_string(),
                        "supported": ProtocolVersion::CURRENT.to_string()})
                    .to_string(),
                );
                self.send(now, &Message::StatusResponse(r));
                self.phase = Phase::Closed;
                self.events.push_back(PlatformEvent::VersionRefused {
                    theirs: v.to_string(),
                });
                self.actions.push_back(PlatformAction::Close {
                    code: StatusCode::ProtocolVersionMismatch,
                    reason: e.to_string(),
                });
            }
        }
    }

    /// SessionStart `CLIENT_READY`: ready, or first the registry's answer when the
    /// envelope names a previous session (D52).
    fn on_session_start(&mut self, now: Instant, seq: u64, named: Uuid, s: &SessionStart) {
        if !s.is_client_ready() {
            self.refuse(
                now,
                seq,
                StatusCode::BadRequest,
                "SessionStart is not CLIENT_READY",
            );
            return;
        }
        match self.config.auth.authenticate(self.certified.as_deref(), s) {
            Ok(identity) => {
                if let Err(over) = self.claim_device_slot(&identity) {
                    return self.refuse_device(now, seq, StatusCode::RateLimitExceeded, over);
                }
                self.device = Some(identity);
            }
            Err(refusal) => {
                let code = StatusCode::AuthenticationFailed;
                return self.refuse_device(now, seq, code, refusal.to_string());
            }
        }
        // A reconnecting client names its previous session (profile section 3):
        // the registry decides whether it is re-attached (D52).
        if !named.is_nil() && named != self.session_id {
            self.requested_session = Some(named);
            self.phase = Phase::AwaitRegistry {
                ack: seq,
                previous: named,
            };
            self.actions
                .push_back(PlatformAction::LookupSession { previous: named });
            return;
        }
        self.start_session(now, seq, false);
    }

    /// A device that did not authenticate (1004, D93) or holds its maximum of sessions
    /// (1009, D96): StatusResponse `code` (with `ack` and `error`), then the connection
    /// closes with `code`.
    fn refuse_device(&mut self, now: Instant, seq: u64, code: StatusCode, reason: String) {
        let r = StatusResponse::new(
            code,
            serde_json::json!({"ack": seq, "error": reason}).to_string(),
        );
        self.send(now, &Message::StatusResponse(r));
        self.phase = Phase::Closed;
        self.events.push_back(PlatformEvent::DeviceRefused {
            code,
            reason: reason.clone(),
        });
        self.actions
            .push_back(PlatformAction::Close { code, reason });
    }

    /// FileListResponse: the `ack` extension names the query; without it, the oldest (D21).
    fn on_file_list(&mut self, now: Instant, seq: u64, r: FileListResponse) {
        // The `ack` extension names the query; without it, the oldest one.
        let is_query = |o: &Outstanding| matches!(o, Outstanding::FileList);
        let first = match r.ack {
            Some(a) => self.outstanding.get(&a).filter(|o| is_query(o)).map(|_| a),
            None => self
                .outstanding
                .iter()
                .find(|(_, o)| is_query(o))
                .map(|(&s, _)| s),
        };
        match first {
            Some(ack) => {
                self.outstanding.remove(&ack);
                self.events.push_back(PlatformEvent::FileList {
                    request_seq: ack,
                    files: r.files,
                });
            }
            None => self.refuse(
                now,
                seq,
                StatusCode::BadRequest,
                "FileListResponse without a FileListQuery",
            ),
        }
    }

    /// The handshake's last step: 200 with the session id to `ack`, then ready.
    fn start_session(&mut self, now: Instant, ack: u64, reattached: bool) {
        let r = Ack {
            ack,
            session_id: Some(self.session_id),
        }
        .to_status_response();
        self.send(now, &Message::StatusResponse(r));
        self.phase = Phase::Ready;
        self.events.push_back(PlatformEvent::SessionEstablished {
            session_id: self.session_id,
            reattached,
        });
    }

    /// The registry's answer to [`PlatformAction::LookupSession`]: `held` when it holds
    /// the finished session `previous` (and gave this connection its id). The machine then
    /// takes that id (re-attached) or keeps its own, and completes the handshake (D52).
    pub fn handle_session_lookup(&mut self, now: Instant, previous: Uuid, held: bool) {
        let Phase::AwaitRegistry {
            ack,
            previous: asked,
        } = self.phase
        else {
            return;
        };
        if asked != previous {
            return;
        }
        if held {
            self.session_id = previous;
            self.requested_session = None;
        }
        self.start_session(now, ack, held);
    }

    fn on_status(&mut self, now: Instant, seq: u64, r: StatusResponse) {
        let Some(ack) = r.ack() else {
            if r.code == StatusCode::Success {
                if let Ok(notice) = crate::wire::ChecksumNotice::from_status_response(&r) {
                    self.on_checksum_notice(now, seq, notice);
                    return;
                }
            }
            self.refuse(
                now,
                seq,
                StatusCode::BadRequest,
                "StatusResponse without ack",
            );
            return;
        };
        let Some(request) = self.outstanding.remove(&ack) else {
            self.refuse(
                now,
                seq,
                StatusCode::BadRequest,
                format!("StatusResponse for unknown request {ack}"),
            );
            return;
        };
        if r.code != StatusCode::Success {
            let report = ErrorReport::new(r.code, r.message.clone()).with_ack(ack);
            self.events.push_back(PlatformEvent::RequestRefused {
                request_seq: ack,
                report,
            });
            return;
        }
        match request {
            Outstanding::File { held } => match FileRequestAck::from_status_response(&r) {
                Ok(a) if self.transfers.contains_key(&a.transfer_id) => {
                    // A second transfer under a live id would corrupt the first.
                    let why = format!("transfer id {} already in use", a.transfer_id);
                    self.refuse(now, seq, StatusCode::BadRequest, why.clone());
                    let report = ErrorReport::new(StatusCode::BadRequest, why).with_ack(ack);
                    self.events.push_back(PlatformEvent::RequestRefused {
                        request_seq: ack,
                        report,
                    });
                }
                Ok(a) => self.on_transfer_accepted(a, &held),
                Err(e) => self.refuse(now, seq, e.status(), e.to_string()),
            },
            Outstanding::Playback { seek } => self.on_playback_ack(now, seq, seek, &r),
            Outstanding::Stats => {
                let mut stats: serde_json::Value =
                    serde_json::from_str(&r.message).unwrap_or(serde_json::Value::Null);
                if let serde_json::Value::Object(m) = &mut stats {
                    m.remove("ack");
                }
                self.events.push_back(PlatformEvent::Stats {
                    request_seq: ack,
                    stats,
                });
            }
            Outstanding::FileList => {
                self.refuse(
                    now,
                    seq,
                    StatusCode::BadRequest,
                    format!("StatusResponse does not answer request {ack}"),
                );
            }
        }
    }

    /// The client's acknowledgement of a playback command: a Stop marks the transfer, a
    /// seek moves its expected range (D22, D43), statistics are kept.
    fn on_playback_ack(&mut self, now: Instant, seq: u64, seek: bool, r: &StatusResponse) {
        match PlaybackAck::from_status_response(r) {
            Ok(a) => {
                if let Some(t) = a.transfer_id.and_then(|id| self.transfers.get_mut(&id)) {
                    if a.state == crate::wire::PlaybackState::Stopped {
                        t.stopped = true;
                    }
                    if a.statistics.is_some() {
                        t.statistics = a.statistics.clone();
                    }
                    if let (true, Some(k), false) = (seek, a.start_segment, t.stopped) {
                        // After a seek the expected range runs from the restart
                        // segment to the last (profile section 7), and the output
                        // goes on there (D43).
                        t.expected_start = k;
                        t.pending_restart = Some(k);
                    }
                }
                let id = a.transfer_id;
                self.events
                    .push_back(PlatformEvent::PlaybackAcknowledged(a));
                if let Some(id) = id {
                    self.settle(id);
                }
            }
            Err(e) => self.refuse(now, seq, e.status(), e.to_string()),
        }
    }

    fn on_transfer_accepted(&mut self, a: FileRequestAck, held: &[(u32, u32)]) {
        let placement = match (a.segment_mode, a.segment_size) {
            (SegmentMode::Fixed, Some(size)) if size > 0 => {
                Placement::AtOffset { segment_size: size }
            }
            _ => Placement::InOrder,
        };
        self.unknown.accepted(a.transfer_id);
        self.accepted.push(a.transfer_id);
        // What the platform already holds (D64): never expected, never written again.
        let mut received = RunSet::default();
        if let Some(end) = a.total_segments.checked_sub(1) {
            for &(first, last) in held {
                for index in first.max(a.start_segment)..=last.min(end) {
                    received.insert(index);
                }
            }
        }
        self.transfers.insert(
            a.transfer_id,
            Incoming {
                ack: a.clone(),
                state: TransferState::Receiving,
                received,
                writing: BTreeSet::new(),
                expected_start: a.start_segment,
                bytes: 0,
                frames: 0,
                keyframes: 0,
                media: Vec::new(),
                stopped: false,
                pending_restart: None,
                statistics: None,
                next_foreign: 0,
                awaiting_checksum: None,
                checksum_failed: false,
                retries: HashMap::new(),
            },
        );
        self.events
            .push_back(PlatformEvent::TransferAccepted(a.clone()));
        let id = a.transfer_id;
        self.actions
            .push_back(PlatformAction::OpenOutput { ack: a, placement });
        // Nothing expected (start_segment at or past total_segments): complete at once.
        self.check_complete(id);
    }

    fn on_error_report(&mut self, r: ErrorReport) {
        self.on_checksum_failure(&r);
        match r.ack() {
            Some(ack) if self.outstanding.contains_key(&ack) => {
                self.outstanding.remove(&ack);
                self.events.push_back(PlatformEvent::RequestRefused {
                    request_seq: ack,
                    report: r,
                });
            }
            _ => {
                // The client gave a transfer up (a segment past `max_retries`, D49).
                if let Some(id) = failed_transfer(&r) {
                    self.finish(id, TransferOutcome::Failed(r.error_code));
                }
                self.events.push_back(PlatformEvent::PeerError(r));
            }
        }
    }

    /// Ends `transfer` as `Failed(code)` and tells the client once (ErrorReport with
    /// `details.transfer_id`, D48): its later segment streams are stopped with `code`.
    /// Nothing happens when it is no longer receiving, so a failure seen by many streams
    /// is reported once.
    pub(super) fn fail_transfer(
        &mut self,
        now: Instant,
        transfer: TransferId,
        code: StatusCode,
        why: String,
    ) {
        let receiving = self
            .transfers
            .get(&transfer)
            .is_some_and(|t| t.state == TransferState::Receiving);
        if !receiving {
            return;
        }
        if self.phase != Phase::Closed {
            self.send_error(now, transfer_failed_report(transfer, code, why));
        }
        self.finish(transfer, TransferOutcome::Failed(code));
    }

    /// The driver could not open or write the output of `transfer` (`index`: the segment
    /// being written, if any): the transfer fails with 1003 StorageFull (no space) or 500,
    /// the client gets one ErrorReport, and no segment is asked for again (D48).
    pub fn handle_output_failed(
        &mut self,
        now: Instant,
        transfer: TransferId,
        index: Option<u32>,
        failure: StorageFailure,
        reason: &str,
    ) {
        if let (Some(t), Some(i)) = (self.transfers.get_mut(&transfer), index) {
            t.writing.remove(&i);
        }
        let why = format!("the platform cannot store transfer {transfer}: {reason}");
        self.fail_transfer(now, transfer, failure.status(), why);
    }

    /// Garbage on a stream: ErrorReport with the error's status code; the connection lives.
    pub fn handle_bad_stream(&mut self, now: Instant, error: WireError) {
        if self.phase == Phase::Closed {
            return;
        }
        self.send_error(now, ErrorReport::new(error.status(), error.to_string()));
    }

    /// The output of `transfer` is final.
    pub fn handle_output_finished(
        &mut self,
        _now: Instant,
        transfer: TransferId,
        file: FinishedFile,
    ) {
        let Some(t) = self.transfers.get_mut(&transfer) else {
            return;
        };
        let outcome = match t.state {
            TransferState::Finishing(o) => o,
            TransferState::Receiving => TransferOutcome::ConnectionLost,
            TransferState::Finished(_) => return,
        };
        let checksum_expected = t.ack.checksum.is_none() && !t.checksum_failed;
        if checksum_expected && file.checksum.is_some() && self.phase != Phase::Closed {
            // The whole file is here but its checksum is not yet (D101): the verdict waits.
            t.awaiting_checksum = Some((outcome, file));
            return;
        }
        t.state = TransferState::Finished(outcome);
        let sha256_ok = file.checksum.is_some() && file.checksum == t.ack.checksum;
        let status = Box::new(status_of(transfer, t));
        self.events.push_back(PlatformEvent::TransferFinished {
            transfer,
            outcome,
            file,
            sha256_ok,
            status,
        });
    }

    /// The connection is gone: every open transfer finishes as ConnectionLost (and one whose
    /// checksum never came is given its verdict: not verified).
    pub fn handle_connection_lost(&mut self, _now: Instant) {
        self.phase = Phase::Closed;
        self.device_slot = None;
        self.parked.clear();
        self.give_all_parked_verdicts();
        self.finish_open(|t| {
            if t.stopped {
                TransferOutcome::Stopped
            } else {
                TransferOutcome::ConnectionLost
            }
        });
    }

    fn finish_open(&mut self, outcome: impl Fn(&Incoming) -> TransferOutcome) {
        let open: Vec<(TransferId, TransferOutcome)> = self
            .transfers
            .iter()
            .filter(|(_, t)| t.state == TransferState::Receiving)
            .map(|(&id, t)| (id, outcome(t)))
            .collect();
        for (id, o) in open {
            self.finish(id, o);
        }
    }

    /// Requests FinishOutput once per transfer.
    fn finish(&mut self, id: TransferId, outcome: TransferOutcome) {
        if let Some(t) = self.transfers.get_mut(&id) {
            if t.state == TransferState::Receiving {
                t.state = TransferState::Finishing(outcome);
                self.actions.push_back(PlatformAction::FinishOutput {
                    transfer: id,
                    outcome,
                });
            }
        }
    }

    /// Every transfer of the session, oldest id first.
    pub fn transfers(&self) -> Vec<TransferStatus> {
        self.transfers
            .iter()
            .map(|(&id, t)| status_of(id, t))
            .collect()
    }

    /// Expires the grace of segments whose transfer was never acknowledged.
    /// Their parked headers are refused (`SegmentJudged`, D55).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.unknown.expire(now, self.config.unknown_transfer_grace);
        self.rejudge_parked(now);
    }

    /// The end of the earliest unknown-transfer grace still running (the machine judges
    /// its parked headers again then).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.unknown.deadline(self.config.unknown_transfer_grace)
    }

    /// Unknown transfer ids remembered (for tests of the bound, D51).
    #[cfg(test)]
    pub(crate) fn unknown_transfers(&self) -> usize {
        self.unknown.len()
    }

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<PlatformAction> {
        self.actions.pop_front()
    }

    /// The next thing the application should know.
    pub fn poll_event(&mut self) -> Option<PlatformEvent> {
        self.events.pop_front()
    }
}

/// The status of transfer `id`.
fn status_of(id: TransferId, t: &Incoming) -> TransferStatus {
    TransferStatus {
        transfer: id,
        file_path: t.ack.file_path.clone(),
        received_segments: t.received.len(),
        total_segments: t.ack.total_segments,
        expected_start: t.expected_start.min(t.ack.total_segments),
        bytes: t.bytes,
        state: t.state,
        frames: t.frames,
        keyframes: t.keyframes,
        index_ranges: t.received.runs(),
        media_ranges: t.media.clone(),
        client_statistics: t.statistics.clone(),
    }
}
