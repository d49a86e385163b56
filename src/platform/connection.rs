//! The task that owns one connection's [`PlatformSession`]: stream input in, actions out,
//! events to the API's waiters and the logs.

use super::observe::Observed;
use super::output::TransferOutput;
use super::resume::Resumable;
use super::streams::{read_bi, read_uni, Bounds, StreamInput, Verdict};
use super::{
    Command, Platform, PlatformError, Request, RequestReply, SessionInfo, TransferHandle,
    TransferProgress, TransferResult, TransferStatus,
};
use crate::session::{
    InOrder, PlatformAction, PlatformEvent, PlatformSession, SegmentVerdict, StorageFailure,
    TransferOutcome,
};
use crate::store::FinishedFile;
use crate::wire::{ErrorReport, JsonEnvelope, SegmentHeader, SegmentId, StatusCode, TransferId};
use order::Ordered;
// Ordered maps: what is drained at the end is answered in the same order every run.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use uuid::Uuid;

/// How long a closing connection waits for its last control messages to be acknowledged.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// quinn's default max_ack_delay: how long a receiver may hold an acknowledgement.
const ACK_DELAY: Duration = Duration::from_millis(25);
/// Round trips of silence that mean the client holds every acknowledgement: more than a
/// loss-probe timeout (about one round trip plus its variance and an ACK delay), twice,
/// since the probe itself may be lost. Three were too few under 5% loss (`cargo xtask sim
/// --scenario loss-5 --seed 18`: the client's last retransmission waited for its probe).
const QUIET_RTTS: u32 = 6;
/// Silence shorter than this never counts: a loss probe backs off (doubling) each time
/// one goes unanswered, past any small multiple of the round trip.
const MIN_QUIET: Duration = Duration::from_millis(500);
/// Longest a closing connection waits for the client to fall silent (its last segments
/// acknowledged) before sending CONNECTION_CLOSE.
const ACK_LINGER: Duration = Duration::from_secs(2);

#[path = "connection_copies.rs"]
mod copies;
#[path = "connection_order.rs"]
mod order;
#[path = "connection_resume.rs"]
mod resuming;

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

type ReplySender = oneshot::Sender<Result<RequestReply, PlatformError>>;
type DoneSender = oneshot::Sender<Result<TransferResult, PlatformError>>;

struct Connection {
    platform: Platform,
    conn: quinn::Connection,
    session_id: Uuid,
    /// This connection's number: a newer connection of the same session wins (D66).
    generation: u64,
    /// Resume requests sent, by request number, with the transfer they resume (D64).
    resuming: HashMap<u64, Resumable>,
    /// A newer connection of this session took over (D66).
    superseded: bool,
    /// API requests waiting for the client's answer, by request sequence number.
    pending: BTreeMap<u64, (ReplySender, Instant)>,
    /// When each request was sent (the report's "requested at").
    requested_at: HashMap<u64, (Instant, SystemTime)>,
    /// How each FileRequest asked (pacing, rate, cap), for its journal (D64).
    requested_as: HashMap<u64, crate::store::journal::RequestedAs>,
    /// Transfers being written.
    outputs: HashMap<TransferId, TransferOutput>,
    /// Waiters for each transfer's end.
    done: BTreeMap<TransferId, DoneSender>,
    /// Segment streams whose header the machine parked (`NotYetKnown`), by segment id,
    /// oldest first: answered when the machine issues `SegmentJudged` (D55).
    parked: HashMap<SegmentId, VecDeque<oneshot::Sender<Verdict>>>,
    /// Where the answer to a binary-enveloped request goes.
    binary_reply: Option<quinn::SendStream>,
    control_sends: JoinSet<()>,
    /// Control messages and segment headers are handled in the order the client opened
    /// their streams (docs/protocol.md D32, D45).
    in_order: InOrder<Ordered>,
    closing: bool,
    /// When this connection next samples its received-datagram counter (D117; once
    /// established).
    sample_at: Option<Instant>,
    /// When this connection, established, judges again an older silent connection of its
    /// device (D117).
    supersede_at: Option<Instant>,
    /// The device of the established session (None: anonymous, or not established).
    device_id: Option<String>,
    /// Segment copies being reassembled from datagrams, and what became of them (D121).
    copies: copies::Copies,
}

/// Runs one client connection to its end.
pub(super) async fn run(platform: Platform, conn: quinn::Connection) {
    let _window = platform.shared.budget.join(&conn);
    let number = platform.next_connection_number();
    let session_id = platform.next_session_id();
    let mut config = platform.config().session.clone();
    config.seed = config.seed.wrapping_add(number);
    config.epoch = crate::net::wall_clock();
    let bounds = Bounds {
        control: platform.config().max_control_len,
    };
    let mut session = PlatformSession::new(config, now(), session_id);
    session.set_certified_identity(crate::net::peer_certificate_identity(&conn));
    let (commands_tx, mut commands) = mpsc::unbounded_channel();
    let mut c = Connection::register(platform, conn.clone(), (session_id, number), commands_tx);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut accepted_streams: u64 = 0;
    // QUIC DATAGRAM frames (the client's tail probes, D109) carry nothing for the platform:
    // read as they come and discarded, counted for the log.
    let mut datagrams = (0u64, 0u64);
    let lost = loop {
        c.drain(&mut session).await;
        let deadline = [
            session.poll_timeout(),
            c.commit_deadline(),
            c.liveness_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        // Branches in a fixed order: tokio's default random order would make a simulated
        // run depend on an unseeded generator.
        tokio::select! {
            biased;
            stream = conn.accept_uni() => match stream {
                Ok(recv) => {
                    let order = accepted_streams;
                    accepted_streams += 1;
                    tokio::spawn(read_uni(recv, order, tx.clone(), bounds));
                }
                Err(e) => break e,
            },
            stream = conn.accept_bi() => match stream {
                Ok((send, recv)) => { tokio::spawn(read_bi(send, recv, tx.clone(), bounds)); }
                Err(e) => break e,
            },
            Some(input) = rx.recv() => c.handle_input(&mut session, input),
            Some(command) = commands.recv() => c.handle_command(&mut session, command).await,
            () = timer => {
                session.handle_timeout(now());
                c.commit_due(&mut session);
                c.liveness_due();
            }
            Ok(datagram) = conn.read_datagram() => {
                datagrams.0 += 1;
                datagrams.1 += datagram.len() as u64;
                c.segment_copy(&mut session, datagram);
            }
        }
    };
    if datagrams.0 > 0 {
        tracing::debug!(
            "session {session_id}: {} datagrams ({} bytes) received; segment copies stored {}, dropped {} (D121)",
            datagrams.0,
            datagrams.1,
            c.copies.stored,
            c.copies.dropped
        );
    }
    c.end(&mut session, lost, &mut commands).await;
}

impl Connection {
    /// Registers the new connection's session with the platform (not ready yet).
    fn register(
        platform: Platform,
        conn: quinn::Connection,
        (session_id, generation): (Uuid, u64),
        commands: mpsc::UnboundedSender<Command>,
    ) -> Connection {
        let info = SessionInfo {
            session_id,
            remote: conn.remote_address(),
            ready: false,
            ended: false,
            ended_with: None,
            previous_session: None,
            device: None,
        };
        platform.register(info, commands, generation);
        platform.attach_connection(session_id, &conn);
        tracing::info!(
            "client {} connected (session {session_id})",
            conn.remote_address()
        );
        Connection {
            platform,
            conn,
            session_id,
            generation,
            resuming: HashMap::new(),
            superseded: false,
            pending: BTreeMap::new(),
            requested_at: HashMap::new(),
            requested_as: HashMap::new(),
            outputs: HashMap::new(),
            copies: copies::Copies::default(),
            done: BTreeMap::new(),
            parked: HashMap::new(),
            binary_reply: None,
            control_sends: JoinSet::new(),
            in_order: InOrder::default(),
            closing: false,
            sample_at: None,
            supersede_at: None,
            device_id: None,
        }
    }

    /// The connection ended: the machine finishes what was open (reports written), every
    /// waiter hears it, and the session moves to the registry's history (D51).
    async fn end(
        &mut self,
        session: &mut PlatformSession,
        lost: quinn::ConnectionError,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) {
        tracing::info!("session {} ended: {lost}", self.session_id);
        // Transfers parked below must not be offered back to this connection.
        self.platform.mark_ended(self.session_id, self.generation);
        session.handle_connection_lost(now());
        self.drain(session).await;
        for (_, entry) in std::mem::take(&mut self.resuming) {
            self.platform.park(entry);
        }
        commands.close();
        while let Ok(command) = commands.try_recv() {
            if let Command::Resume(entries) = command {
                for entry in entries {
                    self.platform.park(entry);
                }
            }
        }
        for (_, (reply, _)) in std::mem::take(&mut self.pending) {
            let _ = reply.send(Err(PlatformError::ConnectionLost));
        }
        for (_, done) in std::mem::take(&mut self.done) {
            let _ = done.send(Err(PlatformError::ConnectionLost));
        }
        self.platform
            .retire(self.session_id, self.generation, |info| {
                info.ended = true;
                info.ended_with = Some(lost);
            });
    }

    /// Drains the machine: its actions until none is left, then its events (D54: every
    /// action carries what it needs, so the order matters only for the logs).
    async fn drain(&mut self, session: &mut PlatformSession) {
        loop {
            while let Some(action) = session.poll_action() {
                self.perform(session, action).await;
            }
            let mut any = false;
            while let Some(event) = session.poll_event() {
                any = true;
                self.on_event(session, event);
            }
            if !any {
                break;
            }
        }
        if let Some(mut unanswered) = self.binary_reply.take() {
            let _ = unanswered.finish();
        }
    }

    fn handle_input(&mut self, session: &mut PlatformSession, input: StreamInput) {
        let at = now();
        match input {
            StreamInput::Control {
                order,
                envelope,
                binary_reply,
            } => {
                let item = envelope.map(Ordered::Envelope);
                let ready = match order {
                    Some(order) => self.in_order.push(order, item),
                    None => item.into_iter().collect(),
                };
                self.deliver(session, ready, binary_reply);
            }
            StreamInput::SegmentHeader {
                order,
                header,
                verdict,
            } => {
                let ready = self
                    .in_order
                    .push(order, Some(Ordered::Header(header, verdict)));
                self.deliver(session, ready, None);
            }
            StreamInput::SegmentWritten {
                header,
                transfer,
                index,
                len,
                receive_time,
            } => {
                let recorded = match self.outputs.get_mut(&transfer) {
                    Some(output) => output.record_written(&header, index, len, receive_time, at),
                    None => Err(std::io::Error::other("the transfer has no open output")),
                };
                self.stored(
                    session,
                    (&header, transfer, index, len),
                    receive_time,
                    recorded,
                );
            }
            StreamInput::SegmentData {
                header,
                transfer,
                index,
                data,
                receive_time,
            } => {
                // Its copy (D121) was stored first: this is the same bytes again.
                if session.holds_segment(transfer, index) {
                    return;
                }
                let written = match self.outputs.get_mut(&transfer) {
                    Some(output) => output.write(&header, index, &data, receive_time, at),
                    None => Err(std::io::Error::other("the transfer has no open output")),
                };
                let len = data.len() as u64;
                self.stored(
                    session,
                    (&header, transfer, index, len),
                    receive_time,
                    written,
                );
            }
            StreamInput::OutputFailed {
                transfer,
                index,
                error,
            } => self.output_failed(session, transfer, Some(index), &error),
            StreamInput::SegmentFailed { header, error } => {
                tracing::warn!("segment stream failed: {error}");
                session.handle_segment_failed(at, header.as_ref(), error);
            }
        }
    }

    /// A segment's data was written (or could not be): the machine counts it, or fails
    /// its transfer (D48).
    fn stored(
        &mut self,
        session: &mut PlatformSession,
        (header, transfer, index, len): (&SegmentHeader, TransferId, u32, u64),
        receive_time: Duration,
        result: std::io::Result<()>,
    ) {
        match result {
            Ok(()) => {
                self.observe_stored(header, transfer, index, len);
                session.handle_segment_written(now(), header, receive_time);
            }
            Err(e) => self.output_failed(session, transfer, Some(index), &e),
        }
    }

    /// The output of `transfer` could not be opened or written: the machine decides
    /// (one ErrorReport, the transfer `Failed`); logged once, when it finishes.
    fn output_failed(
        &mut self,
        session: &mut PlatformSession,
        transfer: TransferId,
        index: Option<u32>,
        error: &std::io::Error,
    ) {
        tracing::debug!("cannot store segment {index:?} of {transfer}: {error}");
        let failure = StorageFailure::of(error);
        session.handle_output_failed(now(), transfer, index, failure, &error.to_string());
    }

    /// Tells the observer, if any, that a segment was stored.
    fn observe_stored(&self, header: &SegmentHeader, transfer: TransferId, index: u32, bytes: u64) {
        self.observe(Observed::SegmentStored {
            transfer,
            index,
            timestamp: header.timestamp(),
            flags: header.flags(),
            bytes,
        });
    }

    /// Shows a segment header to the machine and answers its stream task with the
    /// verdict; a header the machine parked (`NotYetKnown`) waits for its `SegmentJudged`.
    fn judge_header(
        &mut self,
        session: &mut PlatformSession,
        at: Instant,
        header: SegmentHeader,
        verdict: oneshot::Sender<Verdict>,
    ) {
        let judged = session.handle_segment_header(at, &header);
        // A segment stored from its copy first (D121) arrived then; its stream is the same
        // arrival, not a duplicate send.
        let copied = judged == SegmentVerdict::Duplicate && self.copies.came_first(&header);
        if !copied {
            self.observe_arrival(&header, &judged);
        }
        match judged {
            SegmentVerdict::NotYetKnown => {
                self.parked
                    .entry(header.id())
                    .or_default()
                    .push_back(verdict);
            }
            other => {
                let _ = verdict.send(self.verdict_with_target(other));
            }
        }
    }

    /// The machine decided a parked header: the oldest stream waiting with it gets the
    /// verdict. One whose task is gone gets nothing; if it was to be written, the machine
    /// hears that it failed (D55).
    fn judged(&mut self, session: &mut PlatformSession, header: SegmentHeader, v: SegmentVerdict) {
        self.observe_arrival(&header, &v);
        let id = header.id();
        let waiting = self.parked.get_mut(&id).and_then(VecDeque::pop_front);
        if self.parked.get(&id).is_some_and(VecDeque::is_empty) {
            self.parked.remove(&id);
        }
        let write = matches!(v, SegmentVerdict::Write { .. });
        let delivered = waiting.is_some_and(|w| w.send(self.verdict_with_target(v)).is_ok());
        if write && !delivered {
            let error = crate::wire::WireError::Truncated {
                kind: "Segment",
                needed: header.data_length() as usize,
                available: 0,
            };
            session.handle_segment_failed(now(), Some(&header), error);
        }
    }

    /// The machine's verdict, with the direct write target of a fixed-size transfer.
    fn verdict_with_target(&self, verdict: SegmentVerdict) -> Verdict {
        let target = match &verdict {
            SegmentVerdict::Write {
                transfer, index, ..
            } => self
                .outputs
                .get(transfer)
                .and_then(|output| output.direct_target(*index)),
            _ => None,
        };
        Verdict { verdict, target }
    }

    async fn handle_command(&mut self, session: &mut PlatformSession, command: Command) {
        let at = now();
        match command {
            Command::Request { request, reply } => {
                let is_file = matches!(request, Request::File(_));
                let asked = match &request {
                    Request::File(file) => Some(crate::store::journal::RequestedAs::of(file)),
                    _ => None,
                };
                let sent = match request {
                    Request::Query(filter) => session.query_files(at, filter),
                    Request::File(file) => session.request_file(at, file),
                    Request::Playback(control) => session.playback(at, control),
                    Request::Raw(message) => session.send_request(at, message),
                };
                match sent {
                    Ok(seq) => {
                        // Requests whose caller stopped waiting (timed out) are dropped.
                        self.pending.retain(|&seq, (waiting, _)| {
                            let keep = !waiting.is_closed();
                            if !keep {
                                session.cancel_request(seq);
                            }
                            keep
                        });
                        let (pending, resuming) = (&self.pending, &self.resuming);
                        let waited = |s: &u64| pending.contains_key(s) || resuming.contains_key(s);
                        self.requested_at.retain(|s, _| waited(s));
                        self.requested_as.retain(|s, _| waited(s));
                        self.pending.insert(seq, (reply, at));
                        // Only a FileRequest's time goes into a report (D50).
                        if is_file {
                            self.requested_at
                                .insert(seq, (at, crate::net::system_time()));
                        }
                        if let Some(asked) = asked {
                            self.requested_as.insert(seq, asked);
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(PlatformError::Session(e)));
                    }
                }
            }
            Command::Transfers { reply } => {
                let progress = session
                    .transfers()
                    .into_iter()
                    .map(|status| TransferProgress {
                        figures: self
                            .outputs
                            .get(&status.transfer)
                            .map(|output| output.figures(at)),
                        status,
                    })
                    .collect();
                let _ = reply.send(progress);
            }
            Command::Retransmit { segment, reason } => {
                if let Err(e) = session.request_retransmission(at, segment, reason.as_deref()) {
                    tracing::warn!("cannot request segment {segment} again: {e}");
                }
            }
            Command::Close { code, reason } => self.close(code, &reason).await,
            Command::Superseded(why) => self.superseded(why),
            Command::Resume(entries) => {
                for entry in entries {
                    self.resume(session, entry);
                }
            }
        }
    }

    async fn perform(&mut self, session: &mut PlatformSession, action: PlatformAction) {
        match action {
            PlatformAction::SendControl(envelope) => self.send_control(envelope).await,
            PlatformAction::OpenOutput { ack, placement } => {
                self.open_output(session, ack, placement);
            }
            PlatformAction::RestartOutput { transfer, index } => {
                let restarted = self.outputs.get_mut(&transfer).map(|o| o.restart_at(index));
                if let Some(Err(e)) = restarted {
                    tracing::error!("cannot restart the output of {transfer} at {index}: {e}");
                }
            }
            PlatformAction::FinishOutput { transfer, outcome } => {
                let finished = match self.outputs.get_mut(&transfer) {
                    Some(output) => output.finish(),
                    None => FinishedFile {
                        path: Default::default(),
                        size: 0,
                        checksum: None,
                    },
                };
                tracing::debug!("transfer {transfer} finishing ({outcome:?})");
                session.handle_output_finished(now(), transfer, finished);
            }
            PlatformAction::SegmentJudged { header, verdict } => {
                self.judged(session, header, verdict);
            }
            PlatformAction::LookupSession { previous } => {
                // The registry answers (and re-keys this connection's entry); the machine
                // decides (D52).
                let held = self.platform.reattach(self.session_id, previous);
                if held {
                    tracing::info!("re-attaching session {previous} (was {})", self.session_id);
                    self.session_id = previous;
                }
                session.handle_session_lookup(now(), previous, held);
            }
            PlatformAction::Close { code, reason } => self.close(code, &reason).await,
        }
    }

    async fn send_control(&mut self, envelope: JsonEnvelope) {
        if let Some(reply) = self.binary_reply.take() {
            // The first answer to a binary-enveloped request goes back on its stream.
            match crate::wire::BinaryEnvelope::from_json(&envelope) {
                Ok(binary) => {
                    let bytes = binary.to_bytes();
                    self.control_sends
                        .spawn(crate::net::send_message(reply, bytes));
                    return;
                }
                Err(e) => tracing::warn!("cannot answer in the binary envelope: {e}"),
            }
        }
        crate::net::spawn_control(&self.conn, &mut self.control_sends, &envelope).await;
    }

    async fn close(&mut self, code: StatusCode, reason: &str) {
        if self.closing {
            return;
        }
        self.closing = true;
        let linger = async { while self.control_sends.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(CLOSE_LINGER, linger).await;
        self.wait_until_quiet().await;
        tracing::info!("closing session {} with {code}: {reason}", self.session_id);
        self.conn.close(
            quinn::VarInt::from_u32(u32::from(code.to_u16())),
            reason.as_bytes(),
        );
    }

    /// The acknowledgements of the last segments must reach the client before the
    /// CONNECTION_CLOSE does, or it never learns they arrived (docs/protocol.md D35).
    /// A client holding every acknowledgement sends nothing more (until its keep-alive):
    /// wait until it has been silent for [`QUIET_RTTS`] round trips and two ACK delays, or
    /// [`ACK_LINGER`] at most.
    async fn wait_until_quiet(&self) {
        let deadline = tokio::time::Instant::now() + ACK_LINGER;
        let mut heard = self.conn.stats().udp_rx.datagrams;
        loop {
            let quiet = (self.conn.rtt() * QUIET_RTTS + 2 * ACK_DELAY).max(MIN_QUIET);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(quiet.min(left)).await;
            let now_heard = self.conn.stats().udp_rx.datagrams;
            if now_heard == heard {
                return;
            }
            heard = now_heard;
        }
    }

    fn on_event(&mut self, session: &PlatformSession, event: PlatformEvent) {
        match event {
            PlatformEvent::SessionEstablished { session_id, .. } => {
                self.session_established(session, session_id)
            }
            PlatformEvent::DeviceRefused { code, reason } => {
                tracing::warn!(
                    "refused device at {} ({code}): {reason}",
                    self.conn.remote_address()
                );
            }
            PlatformEvent::VersionRefused { theirs } => {
                tracing::warn!(
                    "refused protocol version {theirs} from {}",
                    self.conn.remote_address()
                );
            }
            PlatformEvent::FileList {
                request_seq: ack,
                files,
            } => {
                self.answer(ack, Ok(RequestReply::FileList(files)));
            }
            PlatformEvent::TransferAccepted(ack) => self.transfer_accepted(ack),
            PlatformEvent::RequestRefused {
                request_seq,
                report,
            } => self.request_refused(request_seq, report),
            PlatformEvent::PlaybackAcknowledged(ack) => {
                self.observe(Observed::PlaybackAcknowledged(ack.clone()));
                let seq = ack.ack;
                self.answer(seq, Ok(RequestReply::Playback(ack)));
            }
            PlatformEvent::Stats {
                request_seq: ack,
                stats,
            } => {
                self.answer(ack, Ok(RequestReply::Stats(stats)));
            }
            PlatformEvent::TransferFinished {
                transfer,
                outcome,
                file,
                sha256_ok,
                status,
            } => {
                self.observe(Observed::TransferFinished { transfer, outcome });
                self.finish_transfer(transfer, (outcome, sha256_ok), file, &status)
            }
            PlatformEvent::ChecksumKnown { transfer, checksum } => {
                tracing::info!("transfer {transfer}: the client announced {checksum}");
                if let Some(output) = self.outputs.get_mut(&transfer) {
                    output.checksum_known(&checksum);
                }
            }
            PlatformEvent::PeerError(report) => {
                tracing::warn!(
                    "client reported {}: {}",
                    report.error_code,
                    report.error_message
                );
            }
            PlatformEvent::SessionEnded => {
                tracing::info!("client ended session {}", self.session_id);
            }
        }
    }

    /// The client refused request `request_seq`: its caller gets the refusal (with the
    /// client's `retry_after`), and a refused resume is offered to other sessions (D64).
    fn request_refused(&mut self, request_seq: u64, report: ErrorReport) {
        tracing::warn!(
            "request {request_seq} refused: {} {}",
            report.error_code,
            report.error_message
        );
        self.requested_at.remove(&request_seq);
        self.requested_as.remove(&request_seq);
        if let Some(mut entry) = self.resuming.remove(&request_seq) {
            // Not this client's file after all (404...): offered to others.
            entry.refuse(self.session_id);
            self.platform.park(entry);
        }
        let code = report.error_code;
        self.observe(Observed::RequestRefused { request_seq, code });
        self.answer(
            request_seq,
            Err(PlatformError::Refused {
                code: report.error_code,
                message: report.error_message,
                retry_after: report.retry_after.map(Duration::from_millis),
            }),
        );
    }

    /// The handshake completed: the registry's entry says so (with the id in force).
    fn session_established(&mut self, session: &PlatformSession, session_id: Uuid) {
        let device = session.device().cloned();
        match &device {
            Some(d) => tracing::info!("session {session_id} ready, device {d}"),
            None => tracing::info!("session {session_id} ready"),
        }
        let old = self.session_id;
        self.session_id = session_id;
        let previous = session.requested_session();
        if let Some(previous) = previous {
            tracing::info!("the client named its previous session {previous}");
        }
        self.platform.update(old, |info| {
            info.session_id = session_id;
            info.ready = true;
            info.device = device.clone();
            if previous.is_some() {
                info.previous_session = previous;
            }
        });
        // Transfers this client left unfinished are asked for again (D64).
        self.platform.dispatch_unfinished();
        // An older silent connection of this device gives its transfers up (D117).
        self.device_id = device.and_then(|d| d.device_id);
        self.sample_at = Some(now());
        self.supersede_at = Some(now());
        self.liveness_due();
    }

    /// A FileRequest was accepted: its caller gets the handle whose end it can wait for.
    fn transfer_accepted(&mut self, ack: crate::wire::FileRequestAck) {
        tracing::info!(
            "transfer {} of {} accepted ({} bytes, {} segments)",
            ack.transfer_id,
            ack.file_path,
            ack.file_size,
            ack.total_segments
        );
        if self.done.contains_key(&ack.transfer_id) {
            // A resumed transfer: its first request's caller waits already (D64).
            return;
        }
        let (done_tx, done) = oneshot::channel();
        self.done.insert(ack.transfer_id, done_tx);
        let seq = ack.ack;
        self.answer(
            seq,
            Ok(RequestReply::Transfer(TransferHandle { ack, done })),
        );
    }

    fn answer(&mut self, seq: u64, result: Result<RequestReply, PlatformError>) {
        match self.pending.remove(&seq) {
            Some((reply, _)) => {
                let _ = reply.send(result);
            }
            None => tracing::debug!("answer to request {seq}, which nobody waits for"),
        }
    }

    /// Writes the report with the machine's verdict and hands the result to its waiter.
    fn finish_transfer(
        &mut self,
        transfer: TransferId,
        (outcome, sha256_ok): (TransferOutcome, bool),
        file: FinishedFile,
        status: &TransferStatus,
    ) {
        if let TransferOutcome::Failed(code) = outcome {
            tracing::error!("transfer {transfer} failed: {code}");
        }
        let Some(mut output) = self.outputs.remove(&transfer) else {
            // Its output could not even be created.
            let error = match outcome {
                TransferOutcome::Failed(code) => PlatformError::TransferFailed { code },
                _ => PlatformError::ConnectionLost,
            };
            if let Some(done) = self.done.remove(&transfer) {
                let _ = done.send(Err(error));
            }
            return;
        };
        let mut file = file;
        match outcome {
            // A demuxed MP4 (D78) is a remux, never the source's bytes: it is published
            // once every segment arrived without a gap (its verdict still reads mismatch).
            TransferOutcome::Completed
                if sha256_ok || (output.ack.demuxed.is_some() && file.checksum.is_some()) =>
            {
                if let Err(e) = output.publish(&mut file) {
                    tracing::error!("cannot publish {}: {e}", output.paths.file.display());
                }
            }
            // Completed but not publishable (a seek left a gap, or the digest differs):
            // every segment asked for arrived, so there is nothing to resume; the `.part`
            // stays for inspection and its journal goes.
            TransferOutcome::Stopped | TransferOutcome::Completed => output.forget(),
            _ => {}
        }
        let report = output.report(
            &self.session_id.to_string(),
            outcome,
            &file,
            sha256_ok,
            Some(status),
            now(),
        );
        let mut waiter = self.done.remove(&transfer);
        if outcome == TransferOutcome::ConnectionLost {
            // The transfer waits for its client (D65); its caller too, if it asked to.
            let keeps_waiting =
                self.platform.config().wait_through_breaks && (!self.closing || self.superseded);
            let kept = if keeps_waiting { waiter.take() } else { None };
            self.platform.park(output.into_resumable(kept));
        }
        if let Some(done) = waiter {
            let _ = done.send(Ok(TransferResult {
                outcome,
                sha256_ok,
                file,
                report,
            }));
        }
    }
}
