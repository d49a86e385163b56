//! The task that owns one [`ClientSession`]: quinn input in, actions out, events logged.

use super::sender::{open_in_order, Outgoing};
use super::streams::{prepare, read_binary, read_control};
use super::{ClientConfig, ClientError, ClientProgress, ClientSummary, UploadProgress};
use crate::catalog::Catalog;
use crate::net::wall_clock;
use crate::session::{
    ClientAction, ClientEvent, ClientSession, InOrder, PreparedTransfer, SendSummary,
    TransferOutcome, TransferRefusal,
};
use crate::store::mbps;
use crate::wire::{FileEntry, JsonEnvelope, SegmentMode, StatusCode, TransferId, WireError};
use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// How long a closing client waits for its last control messages to be acknowledged.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// What the helper tasks report to the owner task.
pub(super) enum Input {
    /// What control stream number `order` carried (None: nothing, the stream was lost);
    /// bidirectional streams have no number and are delivered at once.
    Control {
        order: Option<u64>,
        envelope: Option<Result<JsonEnvelope, WireError>>,
    },
    FileList {
        request_seq: u64,
        files: Vec<FileEntry>,
    },
    Prepared {
        request_seq: u64,
        result: Box<Result<PreparedTransfer, TransferRefusal>>,
    },
    /// The checksum of a file served before it was known (D101), or why it is not.
    ChecksumKnown {
        request_seq: u64,
        checksum: Result<String, String>,
    },
    SegmentSent {
        transfer: TransferId,
        index: u32,
        elapsed: Duration,
    },
    SegmentFailed {
        transfer: TransferId,
        index: u32,
        code: Option<StatusCode>,
    },
}

/// The clock the machines read: tokio's, so a paused or simulated clock applies.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct Connection {
    conn: quinn::Connection,
    catalog: Arc<Catalog>,
    config: ClientConfig,
    tx: mpsc::UnboundedSender<Input>,
    /// Open source files of running transfers.
    files: HashMap<TransferId, Arc<File>>,
    /// Transfers sent as fixed-size chunks (their log lines say `chunk`).
    chunked: HashMap<TransferId, bool>,
    control_sends: JoinSet<()>,
    /// Segments to open, in the machine's order ([`open_in_order`]).
    segments: mpsc::UnboundedSender<Outgoing>,
    /// Control streams are delivered in the order the platform opened them.
    in_order: InOrder<Result<JsonEnvelope, WireError>>,
    progress: ClientProgress,
    progress_tx: watch::Sender<ClientProgress>,
    refused: Option<StatusCode>,
    closed_with: Option<(u64, String)>,
}

/// Runs the session on `conn` until the connection ends.
pub(super) async fn run(
    conn: quinn::Connection,
    catalog: Arc<Catalog>,
    config: ClientConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    progress_tx: watch::Sender<ClientProgress>,
) -> Result<ClientSummary, ClientError> {
    let mut session_config = config.session.clone();
    session_config.epoch = wall_clock();
    let mut session = ClientSession::new(session_config, now(), config.resume_session);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut c = Connection::new(conn.clone(), catalog, config, tx, progress_tx);
    tokio::pin!(shutdown);
    let mut ending = false;
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
        // Branches in a fixed order: tokio's default random order would make a simulated
        // run depend on an unseeded generator.
        tokio::select! {
            biased;
            () = &mut shutdown, if !ending => {
                ending = true;
                c.end_session(&mut session).await;
            }
            stream = conn.accept_uni() => match stream {
                Ok(recv) => {
                    let order = accepted_streams;
                    accepted_streams += 1;
                    tokio::spawn(read_control(recv, order, c.tx.clone(), c.config.max_control_len));
                }
                Err(e) => break e,
            },
            stream = conn.accept_bi() => match stream {
                Ok((send, recv)) => {
                    tokio::spawn(read_binary(send, recv, c.tx.clone(), c.config.max_control_len));
                }
                Err(e) => break e,
            },
            Some(input) = rx.recv() => c.handle_input(&mut session, input),
            () = timer => session.handle_timeout(now()),
        }
    };
    // The machine ends what was still running as ConnectionLost (D48).
    session.handle_connection_lost(now());
    while let Some(event) = session.poll_event() {
        c.on_event(&session, event);
    }
    c.progress.active = false;
    c.progress_tx.send_replace(c.progress.clone());
    let summary = ClientSummary {
        session_id: c.progress.session_id,
        transfers: c.progress.transfers.clone(),
        closed_with: c.closed_with.clone(),
    };
    if let Some(code) = c.refused {
        return Err(ClientError::HandshakeRefused { code });
    }
    run_result(lost, summary)
}

/// How the run ended: closed by us or with 200 (or 0) by the platform is a success;
/// anything else is the connection's error.
fn run_result(
    lost: quinn::ConnectionError,
    summary: ClientSummary,
) -> Result<ClientSummary, ClientError> {
    match lost {
        quinn::ConnectionError::LocallyClosed => Ok(summary),
        quinn::ConnectionError::ApplicationClosed(close)
            if close.error_code.into_inner() == u64::from(StatusCode::Success.to_u16())
                || close.error_code.into_inner() == 0 =>
        {
            let reason = String::from_utf8_lossy(&close.reason).into_owned();
            tracing::info!("platform closed the session: {reason}");
            Ok(ClientSummary {
                closed_with: Some((close.error_code.into_inner(), reason)),
                ..summary
            })
        }
        other => Err(ClientError::Connection(other)),
    }
}

impl Connection {
    /// A driver for `conn`, with the task that opens segment streams in order started.
    fn new(
        conn: quinn::Connection,
        catalog: Arc<Catalog>,
        config: ClientConfig,
        tx: mpsc::UnboundedSender<Input>,
        progress_tx: watch::Sender<ClientProgress>,
    ) -> Connection {
        let (segments, outgoing) = mpsc::unbounded_channel();
        tokio::spawn(open_in_order(conn.clone(), outgoing, tx.clone()));
        Connection {
            conn,
            catalog,
            config,
            tx,
            files: HashMap::new(),
            chunked: HashMap::new(),
            control_sends: JoinSet::new(),
            segments,
            in_order: InOrder::default(),
            progress: ClientProgress::default(),
            progress_tx,
            refused: None,
            closed_with: None,
        }
    }

    /// SessionEnd, then close once it is acknowledged (or after the linger).
    async fn end_session(&mut self, session: &mut ClientSession) {
        tracing::info!("ending session");
        session.end_session(now());
        self.drain(session).await;
        self.close(StatusCode::Success, "session ended by the client")
            .await;
    }

    /// Drains the machine: its actions until none is left, then its events. Actions are
    /// self-sufficient (D54: the source is opened by `OpenSource`), so the order matters
    /// only for the logs.
    async fn drain(&mut self, session: &mut ClientSession) {
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
        self.progress_tx.send_replace(self.progress.clone());
    }

    fn handle_input(&mut self, session: &mut ClientSession, input: Input) {
        let at = now();
        match input {
            Input::Control { order, envelope } => {
                let ready = match order {
                    Some(order) => self.in_order.push(order, envelope),
                    None => envelope.into_iter().collect(),
                };
                for envelope in ready {
                    match envelope {
                        Ok(envelope) => session.handle_message(at, envelope),
                        Err(error) => {
                            tracing::warn!("bad stream from the platform: {error}");
                            session.handle_bad_stream(at, error)
                        }
                    }
                }
            }
            Input::FileList { request_seq, files } => {
                session.handle_file_list(at, request_seq, files)
            }
            Input::Prepared {
                request_seq,
                result,
            } => session.handle_transfer_prepared(at, request_seq, *result),
            Input::ChecksumKnown {
                request_seq,
                checksum,
            } => session.handle_checksum_known(at, request_seq, checksum),
            Input::SegmentSent {
                transfer,
                index,
                elapsed,
            } => session.handle_segment_sent(at, transfer, index, elapsed),
            Input::SegmentFailed {
                transfer,
                index,
                code,
            } => session.handle_segment_failed(at, transfer, index, code),
        }
    }

    async fn perform(&mut self, session: &mut ClientSession, action: ClientAction) {
        match action {
            ClientAction::OpenSource { transfer, path } => match File::open(&path) {
                Ok(file) => {
                    self.files.insert(transfer, Arc::new(file));
                }
                Err(e) => {
                    tracing::warn!("cannot open {}: {e}", path.display());
                    session.handle_source_failed(now(), transfer, &e.to_string());
                }
            },
            ClientAction::CloseSource { transfer } => {
                self.files.remove(&transfer);
            }
            ClientAction::SendControl(envelope) => self.send_control(envelope).await,
            ClientAction::ListFiles {
                request_seq,
                filter,
            } => {
                let catalog = Arc::clone(&self.catalog);
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let filter: Option<String> = filter;
                    let files = crate::net::run_blocking(move || catalog.list(filter.as_deref()))
                        .await
                        .unwrap_or_default();
                    let _ = tx.send(Input::FileList { request_seq, files });
                });
            }
            ClientAction::PrepareTransfer {
                request_seq,
                request,
            } => {
                let catalog = Arc::clone(&self.catalog);
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let preparing = Arc::clone(&catalog);
                    let result = crate::net::run_blocking(move || prepare(&preparing, &request))
                        .await
                        .unwrap_or_else(|| {
                            Err(TransferRefusal {
                                code: StatusCode::InternalError,
                                message: "preparing the file failed".into(),
                            })
                        });
                    let (result, later) = match result {
                        Ok((prepared, later)) => (Ok(prepared), later),
                        Err(refusal) => (Err(refusal), None),
                    };
                    let _ = tx.send(Input::Prepared {
                        request_seq,
                        result: Box::new(result),
                    });
                    // Served before its checksum was known: send it when it is (D101).
                    if let Some(served) = later {
                        let checksum = crate::net::run_blocking(move || {
                            catalog.checksum(&served).map_err(|e| e.to_string())
                        })
                        .await
                        .unwrap_or_else(|| Err("hashing failed".into()));
                        let _ = tx.send(Input::ChecksumKnown {
                            request_seq,
                            checksum,
                        });
                    }
                });
            }
            ClientAction::SendSegment(job) => {
                let tx = self.tx.clone();
                let (transfer, index) = (job.transfer, job.index);
                let Some(file) = self.files.get(&transfer).cloned() else {
                    tracing::warn!(
                        "segment {index} of unknown transfer {transfer}: no source file"
                    );
                    let _ = tx.send(Input::SegmentFailed {
                        transfer,
                        index,
                        code: Some(StatusCode::InternalError),
                    });
                    return;
                };
                let _ = self.segments.send(Outgoing {
                    job,
                    file,
                    chunk: self.config.read_chunk,
                });
            }
            ClientAction::Close { code, reason } => self.close(code, &reason).await,
        }
    }

    /// Opens a stream now (so control messages open in the machine's order) and writes the
    /// envelope in the background.
    async fn send_control(&mut self, envelope: JsonEnvelope) {
        crate::net::spawn_control(&self.conn, &mut self.control_sends, &envelope).await;
    }

    /// Lets the last control messages arrive, then closes with `code`.
    async fn close(&mut self, code: StatusCode, reason: &str) {
        let linger = async { while self.control_sends.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(CLOSE_LINGER, linger).await;
        self.closed_with = Some((u64::from(code.to_u16()), reason.to_string()));
        self.conn.close(
            quinn::VarInt::from_u32(u32::from(code.to_u16())),
            reason.as_bytes(),
        );
    }

    fn on_event(&mut self, session: &ClientSession, event: ClientEvent) {
        let session_id = session
            .session_id()
            .map_or_else(|| "-".to_string(), |id| id.to_string());
        match event {
            ClientEvent::SessionEstablished { session_id } => {
                tracing::info!("session {session_id} established");
                self.progress.session_id = Some(session_id);
                self.progress.active = true;
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
                if let Some(p) = self.transfer_mut(transfer) {
                    p.uploaded_segments += 1;
                    p.bytes += bytes;
                }
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
            ClientEvent::PeerError(report) => {
                tracing::warn!(
                    "platform reported {}: {}",
                    report.error_code,
                    report.error_message
                );
            }
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
            outcome: None,
        });
    }

    fn transfer_mut(&mut self, transfer: TransferId) -> Option<&mut UploadProgress> {
        self.progress
            .transfers
            .iter_mut()
            .rev()
            .find(|p| p.transfer == transfer)
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
