//! The task that owns one connection's [`PlatformSession`]: stream input in, actions out,
//! events to the API's waiters and the logs.

use super::observe::Observed;
use super::output::TransferOutput;
use super::streams::{read_bi, read_uni, Bounds, StreamInput, Verdict};
use super::{
    Command, Platform, PlatformError, Request, RequestReply, SessionInfo, TransferHandle,
    TransferProgress, TransferResult,
};
use crate::bridge::{json_to_binary, InOrder};
use crate::session::{
    PlatformAction, PlatformEvent, PlatformSession, SegmentVerdict, TransferOutcome,
};
use crate::store::FinishedFile;
use crate::wire::{JsonEnvelope, SegmentHeader, StatusCode, TransferId};
use order::Ordered;
// Ordered maps: what is drained at the end is answered in the same order every run.
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use uuid::Uuid;

/// How often parked segment streams (transfer not yet known) are shown to the machine
/// again when no control message arrives.
const PARK_RETRY: Duration = Duration::from_millis(50);
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

#[path = "connection_order.rs"]
mod order;

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

type ReplySender = oneshot::Sender<Result<RequestReply, PlatformError>>;
type DoneSender = oneshot::Sender<Result<TransferResult, PlatformError>>;

struct Connection {
    /// The machine's settings (a re-attached session gets a new machine with them).
    config: crate::session::SessionConfig,
    /// Whether a control message reached the machine yet (re-attachment happens before).
    first_message_seen: bool,
    platform: Platform,
    conn: quinn::Connection,
    session_id: Uuid,
    /// API requests waiting for the client's answer, by request sequence number.
    pending: BTreeMap<u64, (ReplySender, Instant)>,
    /// When each request was sent (the report's "requested at").
    requested_at: HashMap<u64, (Instant, SystemTime)>,
    /// Transfers being written.
    outputs: HashMap<TransferId, TransferOutput>,
    /// Waiters for each transfer's end.
    done: BTreeMap<TransferId, DoneSender>,
    /// Segment streams whose transfer the machine does not know yet.
    parked: Vec<(SegmentHeader, oneshot::Sender<Verdict>)>,
    /// Where the answer to a binary-enveloped request goes.
    binary_reply: Option<quinn::SendStream>,
    control_sends: JoinSet<()>,
    /// Control messages and segment headers are handled in the order the client opened
    /// their streams (docs/protocol.md D32, D45).
    in_order: InOrder<Ordered>,
    closing: bool,
}

/// Runs one client connection to its end.
pub(super) async fn run(platform: Platform, conn: quinn::Connection) {
    let _window = platform.shared.budget.join(&conn);
    let number = platform.next_connection_number();
    let session_id = platform.next_session_id();
    let mut config = platform.config().session.clone();
    config.seed = config.seed.wrapping_add(number);
    config.epoch = crate::bridge::wall_clock();
    let bounds = Bounds {
        control: platform.config().max_control_len,
        stream: config.max_stream_len,
    };
    let mut session = PlatformSession::new(config.clone(), now(), session_id);
    let (commands_tx, mut commands) = mpsc::unbounded_channel();
    platform.register(
        SessionInfo {
            session_id,
            remote: conn.remote_address(),
            ready: false,
            ended: false,
            ended_with: None,
            previous_session: None,
        },
        commands_tx,
    );
    platform.attach_connection(session_id, &conn);
    tracing::info!(
        "client {} connected (session {session_id})",
        conn.remote_address()
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut c = Connection {
        config,
        first_message_seen: false,
        platform,
        conn: conn.clone(),
        session_id,
        pending: BTreeMap::new(),
        requested_at: HashMap::new(),
        outputs: HashMap::new(),
        done: BTreeMap::new(),
        parked: Vec::new(),
        binary_reply: None,
        control_sends: JoinSet::new(),
        in_order: InOrder::default(),
        closing: false,
    };
    let mut accepted_streams: u64 = 0;
    let lost = loop {
        c.drain(&mut session).await;
        let deadline = session.poll_timeout();
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let park_retry = async {
            if c.parked.is_empty() {
                std::future::pending().await
            } else {
                tokio::time::sleep(PARK_RETRY).await
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
            () = timer => session.handle_timeout(now()),
            () = park_retry => c.retry_parked(&mut session),
        }
    };
    tracing::info!("session {} ended: {lost}", c.session_id);
    session.handle_connection_lost(now());
    c.drain(&mut session).await;
    for (_, (reply, _)) in std::mem::take(&mut c.pending) {
        let _ = reply.send(Err(PlatformError::ConnectionLost));
    }
    for (_, done) in std::mem::take(&mut c.done) {
        let _ = done.send(Err(PlatformError::ConnectionLost));
    }
    c.platform.detach_connection(c.session_id);
    c.platform.update(c.session_id, |info| {
        info.ended = true;
        info.ended_with = Some(lost);
    });
}

impl Connection {
    async fn drain(&mut self, session: &mut PlatformSession) {
        loop {
            while let Some(event) = session.poll_event() {
                self.on_event(session, event);
            }
            match session.poll_action() {
                Some(action) => self.perform(session, action).await,
                None => break,
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
                self.retry_parked(session);
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
                match recorded {
                    Ok(()) => {
                        self.observe_stored(&header, transfer, index, len);
                        session.handle_segment_written(at, &header, receive_time)
                    }
                    Err(e) => {
                        tracing::error!("cannot record segment {index} of {transfer}: {e}");
                        let error = crate::wire::WireError::CorruptedSegment {
                            kind: "Segment",
                            reason: format!("the platform could not store it: {e}"),
                        };
                        session.handle_segment_failed(at, Some(&header), error);
                    }
                }
            }
            StreamInput::SegmentData {
                header,
                transfer,
                index,
                data,
                receive_time,
            } => {
                let written = match self.outputs.get_mut(&transfer) {
                    Some(output) => output.write(&header, index, &data, receive_time, at),
                    None => Err(std::io::Error::other("the transfer has no open output")),
                };
                match written {
                    Ok(()) => {
                        self.observe_stored(&header, transfer, index, data.len() as u64);
                        session.handle_segment_written(at, &header, receive_time)
                    }
                    Err(e) => {
                        tracing::error!("cannot write segment {index} of {transfer}: {e}");
                        let error = crate::wire::WireError::CorruptedSegment {
                            kind: "Segment",
                            reason: format!("the platform could not store it: {e}"),
                        };
                        session.handle_segment_failed(at, Some(&header), error);
                    }
                }
            }
            StreamInput::SegmentFailed { header, error } => {
                tracing::warn!("segment stream failed: {error}");
                session.handle_segment_failed(at, header.as_ref(), error);
            }
        }
    }

    /// Re-attachment (profile section 3, docs/protocol.md D20): a reconnecting client's
    /// envelopes carry its previous session id from the first one on. If the platform
    /// holds that session and its connection ended, this connection takes its id: a new
    /// machine constructed with it replaces the untouched one (the old machine's
    /// transfers are not carried over; the client resumes them with
    /// `resume_from_segment`).
    fn reattach(&mut self, session: &mut PlatformSession, previous: Uuid) {
        if previous.is_nil() || previous == self.session_id {
            return;
        }
        if !self.platform.reattach(self.session_id, previous) {
            return;
        }
        tracing::info!("re-attaching session {previous} (was {})", self.session_id);
        *session = PlatformSession::new(self.config.clone(), now(), previous);
        self.session_id = previous;
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

    /// Shows parked segment headers to the machine again.
    fn retry_parked(&mut self, session: &mut PlatformSession) {
        let at = now();
        for (header, verdict) in std::mem::take(&mut self.parked) {
            if verdict.is_closed() {
                continue;
            }
            self.judge_header(session, at, header, verdict);
        }
    }

    /// Shows a segment header to the machine and answers its stream task with the
    /// verdict; a header of a transfer not yet known is parked for [`PARK_RETRY`].
    fn judge_header(
        &mut self,
        session: &mut PlatformSession,
        at: Instant,
        header: SegmentHeader,
        verdict: oneshot::Sender<Verdict>,
    ) {
        let judged = session.handle_segment_header(at, &header);
        self.observe_arrival(&header, &judged);
        match judged {
            SegmentVerdict::NotYetKnown => self.parked.push((header, verdict)),
            other => {
                let _ = verdict.send(self.verdict_with_target(other));
            }
        }
    }

    /// The machine's verdict, with the direct write target of a fixed-size transfer.
    fn verdict_with_target(&self, verdict: SegmentVerdict) -> Verdict {
        let target = match &verdict {
            SegmentVerdict::Write { transfer, index } => self
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
                let sent = match request {
                    Request::Query(filter) => session.query_files(at, filter),
                    Request::File(file) => session.request_file(at, file),
                    Request::Playback(control) => session.playback(at, control),
                    Request::Raw(message) => session.send_request(at, message),
                };
                match sent {
                    Ok(seq) => {
                        self.pending.insert(seq, (reply, at));
                        self.requested_at
                            .insert(seq, (at, crate::net::system_time()));
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
        }
    }

    async fn perform(&mut self, session: &mut PlatformSession, action: PlatformAction) {
        match action {
            PlatformAction::SendControl(envelope) => self.send_control(envelope).await,
            PlatformAction::OpenOutput { ack, placement } => {
                let (requested_at, requested_wall) = self
                    .requested_at
                    .remove(&ack.ack)
                    .unwrap_or_else(|| (now(), crate::net::system_time()));
                let transfer = ack.transfer_id;
                match TransferOutput::open(
                    &self.platform.config().out_dir,
                    &self.session_id.to_string(),
                    ack,
                    placement,
                    requested_at,
                    requested_wall,
                ) {
                    Ok(output) => {
                        tracing::info!(
                            "receiving {} into {}",
                            output.ack.file_path,
                            output.paths.file.display()
                        );
                        self.outputs.insert(transfer, output);
                    }
                    Err(e) => tracing::error!("cannot create the output of {transfer}: {e}"),
                }
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
            PlatformAction::Close { code, reason } => self.close(code, &reason).await,
        }
    }

    async fn send_control(&mut self, envelope: JsonEnvelope) {
        if let Some(reply) = self.binary_reply.take() {
            // The first answer to a binary-enveloped request goes back on its stream.
            match json_to_binary(&envelope) {
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
            PlatformEvent::SessionReady { session_id } => {
                tracing::info!("session {session_id} ready");
                let old = self.session_id;
                self.session_id = session_id;
                let previous = session.requested_session();
                if let Some(previous) = previous {
                    tracing::info!("the client named its previous session {previous}");
                }
                self.platform.update(old, |info| {
                    info.session_id = session_id;
                    info.ready = true;
                    if previous.is_some() {
                        info.previous_session = previous;
                    }
                });
            }
            PlatformEvent::VersionRefused { theirs } => {
                tracing::warn!(
                    "refused protocol version {theirs} from {}",
                    self.conn.remote_address()
                );
            }
            PlatformEvent::FileList { ack, files } => {
                self.answer(ack, Ok(RequestReply::FileList(files)));
            }
            PlatformEvent::TransferAccepted(ack) => {
                tracing::info!(
                    "transfer {} of {} accepted ({} bytes, {} segments)",
                    ack.transfer_id,
                    ack.file_path,
                    ack.file_size,
                    ack.total_segments
                );
                let (done_tx, done) = oneshot::channel();
                self.done.insert(ack.transfer_id, done_tx);
                let seq = ack.ack;
                self.answer(
                    seq,
                    Ok(RequestReply::Transfer(TransferHandle { ack, done })),
                );
            }
            PlatformEvent::RequestRefused { ack, report } => {
                tracing::warn!(
                    "request {ack} refused: {} {}",
                    report.error_code,
                    report.error_message
                );
                self.requested_at.remove(&ack);
                let code = report.error_code;
                self.observe(Observed::RequestRefused { ack, code });
                self.answer(
                    ack,
                    Err(PlatformError::Refused {
                        code: report.error_code,
                        message: report.error_message,
                    }),
                );
            }
            PlatformEvent::PlaybackAcknowledged(ack) => {
                self.observe(Observed::PlaybackAcknowledged(ack.clone()));
                let seq = ack.ack;
                self.answer(seq, Ok(RequestReply::Playback(ack)));
            }
            PlatformEvent::Stats { ack, stats } => {
                self.answer(ack, Ok(RequestReply::Stats(stats)));
            }
            PlatformEvent::TransferFinished {
                transfer,
                outcome,
                file,
                sha256_ok,
            } => {
                self.observe(Observed::TransferFinished { transfer, outcome });
                self.finish_transfer(session, transfer, outcome, file, sha256_ok)
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
        session: &PlatformSession,
        transfer: TransferId,
        outcome: TransferOutcome,
        file: FinishedFile,
        sha256_ok: bool,
    ) {
        let Some(output) = self.outputs.remove(&transfer) else {
            tracing::warn!("transfer {transfer} finished without an output");
            return;
        };
        let status = session
            .transfers()
            .into_iter()
            .find(|t| t.transfer == transfer);
        let report = output.report(
            &self.session_id.to_string(),
            outcome,
            &file,
            sha256_ok,
            status.as_ref(),
            now(),
        );
        if let Some(done) = self.done.remove(&transfer) {
            let _ = done.send(Ok(TransferResult {
                outcome,
                sha256_ok,
                file,
                report,
            }));
        }
    }
}
