//! [`ClientSession`]: the edge device's machine (it holds the files and uploads them).
//!
//! Phases: VersionNegotiation sent at construction → SessionStart sent after the platform's
//! 200 → established after the 200 that carries the session id. Then it answers the
//! platform's requests (file list, file requests, statistics, playback commands,
//! retransmission requests) and produces one [`SegmentJob`] per segment to send.
//!
//! Drain order after each input: `poll_action` until `None`, then `poll_event`, then re-arm
//! the timer at `poll_timeout`. `now` never goes backwards.

mod connection_end;
mod handshake;
mod pacing;
mod playback;
mod transfer;

pub use connection_end::{is_retryable, AfterConnection, ConnectionEnd};

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

use super::failure::{failed_transfer, transfer_failed_report};
use super::util::{IdGenerator, Outbox};
use super::{
    ClientAction, ClientEvent, PreparedTransfer, SessionConfig, TransferOutcome, TransferRefusal,
    DEFAULT_MAX_RETRIES,
};
use crate::wire::{
    ChecksumNotice, ErrorReport, FileEntry, FileListResponse, FileRequest, FileRequestAck,
    JsonEnvelope, Message, ProtocolVersion, ResumePoint, StatsRequest, StatusCode, StatusResponse,
    TransferId, WireError,
};
use transfer::Transfer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// VersionNegotiation sent with this sequence number.
    AwaitVersion(u64),
    /// SessionStart sent with this sequence number.
    AwaitStart(u64),
    Established,
    /// SessionEnd sent, or the handshake was refused.
    Closed,
}

/// The client's sans-IO machine: see the [module docs](self).
#[derive(Debug)]
pub struct ClientSession {
    config: SessionConfig,
    outbox: Outbox,
    phase: Phase,
    session_id: Option<Uuid>,
    resume_session: Option<Uuid>,
    ids: IdGenerator,
    /// FileRequests waiting for `handle_transfer_prepared`, by sequence number.
    pending: BTreeMap<u64, FileRequest>,
    /// FileListQueries waiting for `handle_file_list`.
    pending_lists: Vec<u64>,
    /// Transfers acknowledged with `"checksum": null`, by FileRequest sequence number,
    /// waiting for `handle_checksum_known` (D101).
    awaiting_checksum: BTreeMap<u64, TransferId>,
    /// Transfers in the order they were accepted (the last is the "most recent").
    transfers: Vec<Transfer>,
    /// SessionEnd was sent: the session is over, whatever happens to the connection.
    ended_by_client: bool,
    /// The platform refused the handshake with this code.
    refused: Option<StatusCode>,
    actions: VecDeque<ClientAction>,
    events: VecDeque<ClientEvent>,
}

impl ClientSession {
    /// A fresh machine that has queued VersionNegotiation (1.0.0). `resume_session` is the
    /// session id of a previous connection to re-attach (profile section 3), else `None`.
    pub fn new(config: SessionConfig, now: Instant, resume_session: Option<Uuid>) -> Self {
        let mut s = ClientSession {
            outbox: Outbox::new(now, config.epoch),
            ids: IdGenerator::new(config.seed),
            config,
            phase: Phase::Closed,
            session_id: None,
            resume_session,
            pending: BTreeMap::new(),
            pending_lists: Vec::new(),
            awaiting_checksum: BTreeMap::new(),
            transfers: Vec::new(),
            ended_by_client: false,
            refused: None,
            actions: VecDeque::new(),
            events: VecDeque::new(),
        };
        let seq = s.send(now, &Message::VersionNegotiation(ProtocolVersion::CURRENT));
        s.phase = Phase::AwaitVersion(seq);
        s
    }

    /// The session id the platform assigned, once established.
    pub fn session_id(&self) -> Option<Uuid> {
        self.session_id
    }

    /// True once the platform acknowledged SessionStart (and until the session ends).
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    /// The id written in outgoing envelopes.
    fn envelope_session(&self) -> Uuid {
        self.session_id
            .or(self.resume_session)
            .unwrap_or(Uuid::nil())
    }

    /// Queues `message`; returns its sequence number.
    fn send(&mut self, now: Instant, message: &Message) -> u64 {
        let session = self.envelope_session();
        let env = self.outbox.wrap(now, message, session);
        let seq = env.sequence_number;
        self.actions.push_back(ClientAction::SendControl(env));
        seq
    }

    fn send_status(&mut self, now: Instant, status: StatusResponse) {
        self.send(now, &Message::StatusResponse(status));
    }

    fn send_error(&mut self, now: Instant, report: ErrorReport) {
        self.send(now, &Message::ErrorReport(report));
    }

    /// ErrorReport `code` answering request `ack` (and [`ClientEvent::RequestRefused`]).
    fn refuse(&mut self, now: Instant, ack: u64, code: StatusCode, why: impl Into<String>) {
        self.refuse_path(now, ack, None, code, why.into());
    }

    /// [`refuse`](Self::refuse) of a request that named a file.
    fn refuse_path(
        &mut self,
        now: Instant,
        ack: u64,
        path: Option<String>,
        code: StatusCode,
        reason: String,
    ) {
        self.send_error(now, ErrorReport::new(code, reason.clone()).with_ack(ack));
        self.events.push_back(ClientEvent::RequestRefused {
            request_seq: ack,
            path,
            code,
            reason,
        });
    }

    /// Every control message from the platform.
    pub fn handle_message(&mut self, now: Instant, envelope: JsonEnvelope) {
        if self.phase == Phase::Closed {
            return;
        }
        let seq = envelope.sequence_number;
        let message = match envelope.message() {
            Ok(m) => m,
            Err(e) => {
                let code = e.status();
                self.refuse(now, seq, code, e.to_string());
                return;
            }
        };
        match message {
            Message::StatusResponse(r) => self.on_status(now, &envelope, r),
            Message::ErrorReport(r) => self.on_error_report(now, r),
            _ if self.phase != Phase::Established => {
                let name = envelope.message_type.name().unwrap_or("unknown");
                self.refuse(
                    now,
                    seq,
                    StatusCode::BadRequest,
                    format!("{name} before the handshake completed"),
                );
            }
            Message::FileListQuery(q) => {
                self.pending_lists.push(seq);
                self.actions.push_back(ClientAction::ListFiles {
                    request_seq: seq,
                    filter: q.filter,
                });
            }
            Message::FileRequest(request) => match request.validate() {
                Err(e) => {
                    let path = Some(request.file_path.clone());
                    self.refuse_path(now, seq, path, e.status(), e.to_string());
                }
                Ok(()) => {
                    self.pending.insert(seq, request.clone());
                    self.actions.push_back(ClientAction::PrepareTransfer {
                        request_seq: seq,
                        request,
                    });
                }
            },
            Message::StatsRequest(r) => self.on_stats(now, seq, &r),
            Message::PlaybackControl(c) => self.on_playback(now, seq, c),
            Message::SeekRequest(r) => self.on_seek_request(now, seq, r),
            Message::RateChange(r) => self.on_rate_change(now, seq, r),
            Message::PauseRequest(r) => self.on_pause_request(now, seq, r),
            Message::ResumeRequest(r) => self.on_resume_request(now, seq, r),
            other => {
                let t = other.message_type();
                let name = t
                    .name()
                    .map_or_else(|| format!("type {}", t.to_u8()), str::to_owned);
                self.refuse(
                    now,
                    seq,
                    StatusCode::BadRequest,
                    format!("{name} is not sent by a platform"),
                );
            }
        }
    }

    fn on_error_report(&mut self, now: Instant, r: ErrorReport) {
        if let Some(req) = r.retransmission_request() {
            let max_retries = r.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
            let found = req.segment_id.parts().and_then(|(t, i)| {
                let tr = self.transfers.iter_mut().find(|x| x.id == t)?;
                (i < tr.total()).then_some((tr, i))
            });
            match found {
                Some((tr, i)) => {
                    if !tr.request_resend(i, max_retries) {
                        let (id, code) = (tr.id, StatusCode::SegmentCorrupted);
                        let why = format!(
                            "segment {} asked for more than {max_retries} times",
                            req.segment_id
                        );
                        self.fail_transfer(now, id, code, Some(why));
                    }
                    self.pump(now);
                }
                None => {
                    let report = ErrorReport::new(
                        StatusCode::NotFound,
                        "retransmission request for an unknown segment",
                    )
                    .with_detail("segment_id", req.segment_id.to_string());
                    self.send_error(now, report);
                }
            }
            return;
        }
        if let Some(id) = failed_transfer(&r) {
            // The platform gave the transfer up (1003 no space, 500, 1005 past max_retries).
            self.fail_transfer(now, id, r.error_code, None);
        }
        self.events.push_back(ClientEvent::PeerError(r));
    }

    /// Ends transfer `id` as `Failed(code)` (once); `tell`: the reason to report to the
    /// platform in an ErrorReport naming the transfer, when the client is the one giving
    /// up (D48, D49).
    fn fail_transfer(
        &mut self,
        now: Instant,
        id: TransferId,
        code: StatusCode,
        tell: Option<String>,
    ) {
        let Some(t) = self.transfers.iter_mut().find(|t| t.id == id) else {
            return;
        };
        if !t.end() {
            return;
        }
        let ev = Self::finished_event(t, now, TransferOutcome::Failed(code));
        self.events.push_back(ev);
        self.actions
            .push_back(ClientAction::CloseSource { transfer: id });
        if let Some(why) = tell {
            self.send_error(now, transfer_failed_report(id, code, why));
        }
    }

    /// The driver could not open the source of `transfer` ([`ClientAction::OpenSource`]):
    /// the transfer fails with 500 and the platform is told (D48).
    pub fn handle_source_failed(&mut self, now: Instant, transfer: TransferId, reason: &str) {
        let why = format!("the client cannot read transfer {transfer}: {reason}");
        self.fail_transfer(now, transfer, StatusCode::InternalError, Some(why));
    }

    /// The connection is gone: every transfer not yet finished ends `ConnectionLost`, and
    /// the machine produces nothing more.
    pub fn handle_connection_lost(&mut self, now: Instant) {
        self.phase = Phase::Closed;
        self.actions.clear();
        for t in &mut self.transfers {
            if !t.is_finished() && t.end() {
                let ev = Self::finished_event(t, now, TransferOutcome::ConnectionLost);
                self.events.push_back(ev);
            }
        }
    }

    /// The connection ended (`end`: how, as the driver saw it): every transfer not yet
    /// finished ends `ConnectionLost` (as [`handle_connection_lost`](Self::handle_connection_lost)),
    /// and the machine says whether to connect again naming this session (D68): not after
    /// SessionEnd, a final handshake refusal, a local close or a final close code; yes after
    /// a break, a stall, or a platform's 503/1007/1009.
    pub fn handle_connection_end(&mut self, now: Instant, end: ConnectionEnd) -> AfterConnection {
        let next = connection_end::verdict(self.ended_by_client, self.refused, end);
        self.handle_connection_lost(now);
        next
    }

    /// True while segment streams are handed to the driver and not yet reported sent or
    /// failed: the driver's stall watch waits for progress only then (D67).
    pub fn has_segments_in_flight(&self) -> bool {
        self.transfers.iter().any(Transfer::has_in_flight)
    }

    /// A control stream from the platform that did not decode: ErrorReport with the
    /// error's status code; the connection lives on.
    pub fn handle_bad_stream(&mut self, now: Instant, error: WireError) {
        let report = ErrorReport::new(error.status(), error.to_string());
        self.send_error(now, report);
    }

    /// The catalog's answer to [`ClientAction::ListFiles`].
    pub fn handle_file_list(&mut self, now: Instant, request_seq: u64, files: Vec<FileEntry>) {
        let Some(pos) = self.pending_lists.iter().position(|&s| s == request_seq) else {
            return;
        };
        self.pending_lists.remove(pos);
        let response = FileListResponse {
            files,
            ack: Some(request_seq),
        };
        self.send(now, &Message::FileListResponse(response));
    }

    /// The driver's answer to [`ClientAction::PrepareTransfer`].
    pub fn handle_transfer_prepared(
        &mut self,
        now: Instant,
        request_seq: u64,
        result: Result<PreparedTransfer, TransferRefusal>,
    ) {
        let Some(request) = self.pending.remove(&request_seq) else {
            return;
        };
        let prepared = match result {
            Ok(p) => p,
            Err(refusal) => {
                let path = Some(request.file_path.clone());
                self.refuse_path(now, request_seq, path, refusal.code, refusal.message);
                return;
            }
        };
        let total = prepared.plan.len();
        let start = match start_segment(&request, &prepared) {
            Ok(start) => start,
            Err(why) => {
                let path = Some(request.file_path.clone());
                self.refuse_path(now, request_seq, path, StatusCode::BadRequest, why);
                return;
            }
        };
        let id = {
            let transfers = &self.transfers;
            self.ids
                .transfer_id(|t| transfers.iter().any(|x| x.id == t))
        };
        let ack = FileRequestAck {
            ack: request_seq,
            transfer_id: id,
            file_path: request.file_path.clone(),
            file_size: prepared.file_size,
            checksum: prepared.checksum.clone(),
            segment_mode: prepared.plan.applied_mode(),
            segment_size: prepared.plan.segment_size(),
            total_segments: total,
            start_segment: start,
        };
        self.send_status(now, ack.to_status_response());
        if ack.checksum.is_none() {
            self.awaiting_checksum.insert(request_seq, id);
        }
        self.events.push_back(ClientEvent::TransferStarted(ack));
        self.actions.push_back(ClientAction::OpenSource {
            transfer: id,
            path: prepared.local_path.clone(),
        });
        self.transfers
            .push(Transfer::new(id, request, prepared, start, now));
        self.pump(now);
    }

    /// The driver's checksum of a file whose FileRequest (`request_seq`) was acknowledged
    /// with `"checksum": null` (D101): sends it in a [`ChecksumNotice`] naming the transfer,
    /// or, if the file could not be hashed (`Err`: why), ErrorReport 500 naming it, so the
    /// platform stops waiting and reports the file unverified. Ignored once the session is
    /// closed, or for a request not acknowledged that way.
    pub fn handle_checksum_known(
        &mut self,
        now: Instant,
        request_seq: u64,
        checksum: Result<String, String>,
    ) {
        let Some(transfer_id) = self.awaiting_checksum.remove(&request_seq) else {
            return;
        };
        if self.phase != Phase::Established {
            return;
        }
        match checksum {
            Ok(checksum) => {
                let notice = ChecksumNotice {
                    transfer_id,
                    checksum,
                };
                self.send_status(now, notice.to_status_response());
            }
            Err(why) => {
                let report = ErrorReport::new(
                    StatusCode::InternalError,
                    format!("checksum of transfer {transfer_id} not computed: {why}"),
                )
                .with_detail("transfer_id", transfer_id.to_string());
                self.send_error(now, report);
            }
        }
    }

    /// A segment stream finished.
    pub fn handle_segment_sent(
        &mut self,
        now: Instant,
        transfer: TransferId,
        index: u32,
        elapsed: Duration,
    ) {
        let Some(t) = self.transfers.iter_mut().find(|x| x.id == transfer) else {
            return;
        };
        if let Some(ev) = t.on_sent(now, index, elapsed) {
            self.events.push_back(ev);
        }
        self.pump(now);
    }

    /// A segment stream failed or the platform stopped it (`code`: its application code).
    ///
    /// 1006 StreamTooLong is final (resending the same bytes would fail again); any other
    /// failure requeues the segment once, with flag 0x20; a second failure drops it (the
    /// platform can still ask a retransmission).
    pub fn handle_segment_failed(
        &mut self,
        now: Instant,
        transfer: TransferId,
        index: u32,
        code: Option<StatusCode>,
    ) {
        let Some(t) = self.transfers.iter_mut().find(|x| x.id == transfer) else {
            return;
        };
        t.on_failed(index, code);
        if code == Some(StatusCode::StorageFull) {
            // The platform's disk is full: the stop code says the transfer failed (D48).
            self.fail_transfer(now, transfer, StatusCode::StorageFull, None);
        }
        self.pump(now);
    }

    /// Queues SessionEnd; no further segment is produced.
    pub fn end_session(&mut self, now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        self.send(now, &Message::SessionEnd);
        self.phase = Phase::Closed;
        self.ended_by_client = true;
    }

    fn on_stats(&mut self, now: Instant, seq: u64, r: &StatsRequest) {
        let mut stats = self.stats_for(r.transfer_id);
        if let Value::Object(map) = &mut stats {
            map.insert("ack".into(), json!(seq));
        }
        self.send_status(now, StatusResponse::with_json(StatusCode::Success, &stats));
    }

    /// The client's figures: the object a StatsRequest gets (without `ack`).
    pub fn stats(&self) -> Value {
        self.stats_for(None)
    }

    fn stats_for(&self, only: Option<TransferId>) -> Value {
        let transfers: Vec<Value> = self
            .transfers
            .iter()
            .filter(|t| only.is_none_or(|o| o == t.id))
            .map(Transfer::stats)
            .collect();
        json!({
            "session_id": self.session_id.map(|u| u.to_string()),
            "established": self.is_established(),
            "transfers": transfers,
        })
    }

    /// Releases paced segments whose time has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.pump(now);
    }

    /// The earliest instant a paced segment may be released.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase != Phase::Established {
            return None;
        }
        let limit = self.config.max_in_flight_segments;
        self.transfers
            .iter()
            .flat_map(|t| [t.next_release(limit), t.ack_deadline()])
            .flatten()
            .min()
    }

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<ClientAction> {
        self.actions.pop_front()
    }

    /// The next thing the application should know.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Sends the playback acknowledgements whose wait is over, then produces every segment
    /// job allowed now, transfers of higher FileRequest priority first (ties: the older
    /// transfer first). An acknowledgement thus always precedes the segments it allows.
    fn pump(&mut self, now: Instant) {
        if self.phase != Phase::Established {
            return;
        }
        let mut order: Vec<usize> = (0..self.transfers.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.transfers[i].request.priority));
        let limit = self.config.max_in_flight_segments.max(1);
        for i in order {
            let acks = match self.transfers.get_mut(i) {
                Some(t) => t.release_acks(now),
                None => continue,
            };
            for ack in acks {
                self.send_status(now, ack.to_status_response());
            }
            let Some(t) = self.transfers.get_mut(i) else {
                continue;
            };
            while let Some(job) = t.next_job(now, limit) {
                self.actions.push_back(ClientAction::SendSegment(job));
            }
            if let Some(ev) = t.check_completed(now) {
                self.events.push_back(ev);
            }
        }
    }

    /// The transfer a playback command names, or the most recent one.
    fn target(&mut self, named: Option<TransferId>) -> Option<&mut Transfer> {
        match named {
            Some(id) => self.transfers.iter_mut().find(|t| t.id == id),
            None => self.transfers.last_mut(),
        }
    }

    fn finished_event(t: &Transfer, now: Instant, outcome: TransferOutcome) -> ClientEvent {
        ClientEvent::TransferFinished {
            transfer: t.id,
            outcome,
            summary: t.summary(now),
        }
    }
}

/// Where a FileRequest starts: its `resume_from_segment`, else the segment of its
/// `seek_position`, else 0; or why the request is refused (400).
fn start_segment(request: &FileRequest, prepared: &PreparedTransfer) -> Result<u32, String> {
    let total = prepared.plan.len();
    match (request.resume_from_segment, request.seek_position) {
        (Some(point), _) => match point.index() {
            Some(i) if i < total => Ok(i),
            _ => {
                let shown = match point {
                    ResumePoint::Index(i) => i.to_string(),
                    ResumePoint::SegmentId(id) => id.to_string(),
                };
                Err(format!("resume_from_segment {shown} outside 0-{total}"))
            }
        },
        (None, Some(t)) if t > 0.0 => match prepared.plan.segment_for_time(t) {
            Some(i) => Ok(i),
            None => Err(match prepared.plan.duration() {
                Some(d) => format!("seek_position {t} past the end ({d} s)"),
                None => "seek_position on a file with no time axis".to_owned(),
            }),
        },
        _ => Ok(0),
    }
}
