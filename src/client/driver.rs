//! The task that owns one [`ClientSession`]: quinn input in, actions out, events logged
//! (`driver/events.rs`).

mod events;

use super::sender::{open_in_order, Outgoing, OutgoingSegment, PendingControl};
use super::stall::{Sample, Stall, StallWatch, SAMPLE_EVERY};
use super::streams::{prepare, read_binary, read_control};
use super::{ClientConfig, ClientError, ClientProgress, ClientSummary};
use crate::catalog::Catalog;
use crate::net::wall_clock;
use crate::session::{
    AfterConnection, ClientAction, ClientSession, ConnectionEnd, InOrder, PreparedTransfer,
    SegmentJob, TransferRefusal,
};
use crate::wire::{FileEntry, FileRequest, JsonEnvelope, StatusCode, TransferId, WireError};
use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

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
    /// Segment and control streams to open, in the machine's order ([`open_in_order`],
    /// D89, D120).
    segments: mpsc::UnboundedSender<Outgoing>,
    /// Control messages handed to the opener and not yet delivered (a closing driver
    /// lingers for them).
    control_pending: Arc<watch::Sender<usize>>,
    /// Control streams are delivered in the order the platform opened them.
    in_order: InOrder<Result<JsonEnvelope, WireError>>,
    progress: ClientProgress,
    progress_tx: watch::Sender<ClientProgress>,
    refused: Option<StatusCode>,
    closed_with: Option<(u64, String)>,
}

/// How one connection's run ended: its result and the machine's verdict (D68).
pub(super) struct RunEnd {
    /// The session's summary, or why the run failed.
    pub result: Result<ClientSummary, ClientError>,
    /// Connect again, or not.
    pub next: AfterConnection,
    /// Set when the driver gave the connection up (D67).
    pub stall: Option<Stall>,
}

/// Why the serving loop stopped.
enum Lost {
    /// The connection ended.
    Connection(quinn::ConnectionError),
    /// The stall watch gave it up (the connection is closed locally).
    Stalled(Stall),
}

/// Runs the session on `conn` until the connection ends (or stalls, with
/// [`ClientConfig::stall_timeout`]).
pub(super) async fn run(
    conn: quinn::Connection,
    catalog: Arc<Catalog>,
    config: ClientConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    progress_tx: watch::Sender<ClientProgress>,
) -> RunEnd {
    let mut session_config = config.session.clone();
    session_config.epoch = wall_clock();
    let mut session = ClientSession::new(session_config, now(), config.resume_session);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut c = Connection::new(conn, catalog, config, tx, progress_tx);
    let lost = c.serve(&mut session, &mut rx, shutdown).await;
    c.finish(&mut session, lost)
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

/// The machine's input for a connection error (D68).
pub(super) fn connection_end(e: &quinn::ConnectionError) -> ConnectionEnd {
    use quinn::ConnectionError as E;
    /// TLS alerts travel as transport codes 0x100-0x1ff (RFC 9001 section 4.8).
    fn is_tls(code: quinn::TransportErrorCode) -> bool {
        (0x100..0x200).contains(&u64::from(code))
    }
    match e {
        E::LocallyClosed => ConnectionEnd::ClosedLocally,
        E::ApplicationClosed(close) => {
            let code = u16::try_from(close.error_code.into_inner()).unwrap_or(u16::MAX);
            ConnectionEnd::ClosedByPlatform(StatusCode::from_u16(code))
        }
        E::ConnectionClosed(close) if is_tls(close.error_code) => ConnectionEnd::TlsRefused,
        E::TransportError(error) if is_tls(error.code) => ConnectionEnd::TlsRefused,
        _ => ConnectionEnd::Broken,
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
            segments,
            control_pending: Arc::new(watch::channel(0).0),
            in_order: InOrder::default(),
            progress: ClientProgress::default(),
            progress_tx,
            refused: None,
            closed_with: None,
        }
    }

    /// The serving loop: quinn input in, the machine's actions out, until the connection
    /// ends or the stall watch gives it up.
    async fn serve(
        &mut self,
        session: &mut ClientSession,
        rx: &mut mpsc::UnboundedReceiver<Input>,
        shutdown: impl Future<Output = ()>,
    ) -> Lost {
        let conn = self.conn.clone();
        tokio::pin!(shutdown);
        let mut ending = false;
        let mut accepted_streams: u64 = 0;
        let mut watch = self.config.stall_timeout.map(|timeout| {
            StallWatch::new(timeout, Sample::of(&conn), tokio::time::Instant::now())
        });
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            self.drain(session).await;
            let deadline = session.poll_timeout();
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let bound = self.config.max_control_len;
            // Branches in a fixed order: tokio's default random order would make a
            // simulated run depend on an unseeded generator.
            tokio::select! {
                biased;
                () = &mut shutdown, if !ending => {
                    ending = true;
                    self.end_session(session).await;
                }
                stream = conn.accept_uni() => match stream {
                    Ok(recv) => {
                        let order = accepted_streams;
                        accepted_streams += 1;
                        tokio::spawn(read_control(recv, order, self.tx.clone(), bound));
                    }
                    Err(e) => return Lost::Connection(e),
                },
                stream = conn.accept_bi() => match stream {
                    Ok((send, recv)) => {
                        tokio::spawn(read_binary(send, recv, self.tx.clone(), bound));
                    }
                    Err(e) => return Lost::Connection(e),
                },
                Some(input) = rx.recv() => self.handle_input(session, input),
                () = timer => session.handle_timeout(now()),
                _ = tick.tick(), if watch.is_some() && !ending => {
                    let sample = Sample::of(&conn);
                    let in_flight = session.has_segments_in_flight();
                    let at = tokio::time::Instant::now();
                    if let Some(stall) = watch.as_mut().and_then(|w| w.observe(at, sample, in_flight)) {
                        conn.close(0u32.into(), b"stalled");
                        return Lost::Stalled(stall);
                    }
                }
            }
        }
    }

    /// After the loop: the machine learns how the connection ended (it ends what was
    /// still running as ConnectionLost, D48, and gives its verdict, D68); the summary.
    fn finish(&mut self, session: &mut ClientSession, lost: Lost) -> RunEnd {
        let end = match &lost {
            Lost::Stalled(_) => ConnectionEnd::Stalled,
            Lost::Connection(e) => connection_end(e),
        };
        let next = session.handle_connection_end(now(), end);
        while let Some(event) = session.poll_event() {
            self.on_event(session, event);
        }
        self.progress.established = false;
        self.progress_tx.send_replace(self.progress.clone());
        let summary = ClientSummary {
            session_id: self.progress.session_id,
            transfers: self.progress.transfers.clone(),
            closed_with: self.closed_with.clone(),
        };
        let (result, stall) = match (self.refused, lost) {
            (Some(code), _) => (Err(ClientError::HandshakeRefused { code }), None),
            (None, Lost::Stalled(stall)) => {
                let after = self.config.stall_timeout.unwrap_or_default();
                tracing::warn!("giving the connection up: {stall} for {after:?}");
                (Err(ClientError::Stalled { stall, after }), Some(stall))
            }
            (None, Lost::Connection(e)) => (run_result(e, summary), None),
        };
        RunEnd {
            result,
            next,
            stall,
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
            ClientAction::SendControl(envelope) => self.send_control(envelope),
            ClientAction::ListFiles {
                request_seq,
                filter,
            } => self.list_files(request_seq, filter),
            ClientAction::PrepareTransfer {
                request_seq,
                request,
            } => self.prepare_transfer(request_seq, request),
            ClientAction::SendSegment(job) => self.send_segment(job),
            ClientAction::Close { code, reason } => self.close(code, &reason).await,
        }
    }

    /// Lists the catalog on a blocking thread; the answer comes back as [`Input::FileList`].
    fn list_files(&self, request_seq: u64, filter: Option<String>) {
        let catalog = Arc::clone(&self.catalog);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let files = crate::net::run_blocking(move || catalog.list(filter.as_deref()))
                .await
                .unwrap_or_default();
            let _ = tx.send(Input::FileList { request_seq, files });
        });
    }

    /// Resolves and plans a requested file on a blocking thread ([`Input::Prepared`]);
    /// a file served before its checksum was known gets it later ([`Input::ChecksumKnown`],
    /// D101).
    fn prepare_transfer(&self, request_seq: u64, request: FileRequest) {
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

    /// Hands a segment to the task that opens streams in order ([`open_in_order`]).
    fn send_segment(&self, job: SegmentJob) {
        let (transfer, index) = (job.transfer, job.index);
        let Some(file) = self.files.get(&transfer).cloned() else {
            tracing::warn!("segment {index} of unknown transfer {transfer}: no source file");
            let _ = self.tx.send(Input::SegmentFailed {
                transfer,
                index,
                code: Some(StatusCode::InternalError),
            });
            return;
        };
        let _ = self.segments.send(Outgoing::Segment(OutgoingSegment {
            job,
            file,
            chunk: self.config.read_chunk,
            probes: self.config.tail_probes,
            copies: self.config.segment_copies,
        }));
    }

    /// Hands `envelope` to the opener, which opens its stream in the machine's order and
    /// writes it before the next stream opens (D89); the driver never waits on the
    /// transport for it (D120).
    fn send_control(&mut self, envelope: JsonEnvelope) {
        let pending = PendingControl::new(&self.control_pending);
        let _ = self.segments.send(Outgoing::Control { envelope, pending });
    }

    /// Lets the last control messages arrive, then closes with `code`.
    async fn close(&mut self, code: StatusCode, reason: &str) {
        let mut pending = self.control_pending.subscribe();
        let linger = async {
            let _ = pending.wait_for(|n| *n == 0).await;
        };
        let _ = tokio::time::timeout(CLOSE_LINGER, linger).await;
        self.closed_with = Some((u64::from(code.to_u16()), reason.to_string()));
        self.conn.close(
            quinn::VarInt::from_u32(u32::from(code.to_u16())),
            reason.as_bytes(),
        );
    }
}
