//! The platform's async driver and library API: accept clients, one task per connection
//! owning a [`PlatformSession`], and a cloneable [`Platform`] handle to steer them.
//!
//! The driver decides nothing about the protocol. Each connection task reads the client's
//! streams (control envelopes, segment headers and data), asks the machine what to do,
//! writes accepted segment data through the transfer's [`ReceivedFile`], records the
//! `.debug` line and the reception figures, and at the end writes the `.report` with the
//! machine's checksum verdict.
//!
//! # The API (the specification's server example)
//! [`Platform::start`] with a pre-built endpoint; [`Platform::sessions`] /
//! [`Platform::wait_for_session`]; [`Platform::query_files`] returns the client's file
//! list; [`Platform::request_file`] returns a [`TransferHandle`] whose
//! [`finished`](TransferHandle::finished) resolves to the transfer's outcome and report;
//! [`Platform::stats`] (StatsRequest); [`Platform::playback`] returns the acknowledgement,
//! and so do the typed commands ([`Platform::seek`], [`Platform::set_rate`],
//! [`Platform::pause`], [`Platform::resume`], [`Platform::stop`],
//! [`Platform::adjust_quality`], [`Platform::set_buffer`], [`Platform::seek_request`]...);
//! [`script`] runs a schedule of them;
//! [`Platform::close_session`] and [`Platform::shutdown`] finish. Refusals come back as
//! [`PlatformError`] carrying the status code the client answered with.
//!
//! [`PlatformSession`]: crate::session::PlatformSession
//! [`ReceivedFile`]: crate::store::ReceivedFile

mod limits;
pub use limits::{ConnectionLimits, RefusalRetry};
mod budget;
mod connection;
mod observe;
mod output;
mod playback;
mod registry;
mod resume;
pub mod script;
mod streams;
mod supersede;
mod views;

use crate::net::TransportSettings;
use crate::session::{SessionConfig, SessionError, TransferOutcome};
use crate::store::{DiskBudget, FinishedFile, ReceptionFigures, ReceptionReport};
use crate::wire::{
    FileEntry, FileListQuery, FileRequest, FileRequestAck, Message, PlaybackAck, PlaybackControl,
    SegmentId, StatsRequest, StatusCode,
};
use budget::ReceiveBudget;
use rand::{RngCore, SeedableRng};
use registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

pub use crate::session::TransferStatus;
pub use observe::{Observation, Observed, Observer};
pub use resume::ResumedTransfer;
pub use script::{run_script, PlaybackScript, ScriptError, ScriptTarget, StepOutcome, StepReport};
pub use views::SessionDetails;

/// One transfer's progress: the machine's view and the receiver's figures so far.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferProgress {
    /// Segments, bytes, frames, ranges and state, as the machine counts them.
    pub status: TransferStatus,
    /// Reception figures (throughput, peak, mean segment time...) while its output is
    /// open; None once the transfer finished (its report holds the final figures).
    pub figures: Option<ReceptionFigures>,
}

/// Settings of the platform driver.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Where received files go (`<out>/<session id>/<name>`, `.debug`, `.report`).
    pub out_dir: PathBuf,
    /// The machines' settings (each connection's seed is this seed plus its number).
    pub session: SessionConfig,
    /// Seed of the session-id generator; None draws ids from the operating system.
    pub seed: Option<u64>,
    /// Bound on one control stream (JSON or binary envelope).
    pub max_control_len: usize,
    /// How long an API request waits for the client's answer.
    pub request_timeout: Duration,
    /// Bytes of received, not yet written data all connections together may hold: each
    /// live connection's receive window is `receive_budget / connections`, at least 4 MiB
    /// and at most `max_receive_window` (D38).
    pub receive_budget: u64,
    /// A lone connection's receive window (the specification's 50 MiB).
    pub max_receive_window: u64,
    /// Where to send [`Observation`]s (segment headers judged, segments stored with their
    /// arrival times, acknowledgements...), if anywhere: tests, simulations and progress
    /// displays.
    pub observer: Option<Observer>,
    /// Bytes of received data the platform may write under `out_dir` in all (files and
    /// their spools), None for no limit: past it a write fails as on a full disk, and the
    /// transfer fails with 1003 StorageFull (D48).
    pub disk_budget: Option<u64>,
    /// Finished sessions kept for [`Platform::sessions`] (and for re-attachment, D52);
    /// the oldest is forgotten first. Live sessions are always listed (D51).
    pub session_history: usize,
    /// Sessions in total and per device, handshake rate per source, Retry under load (D95,
    /// D96; default
    /// [`ConnectionLimits::unlimited`], the CLI's are [`ConnectionLimits::default`]).
    pub limits: ConnectionLimits,
    /// How the request API honours a client's `retry_after` (1009, 503): how many times
    /// it asks again, and the longest wait it accepts (D97).
    pub refusal_retry: RefusalRetry,
    /// What is written for an H.264 pull in frame, GOP or time mode: the byte-exact stream,
    /// a playable fragmented MP4 beside it (`<name>.mp4`), or both (D76).
    pub container: crate::store::container::Container,
    /// Journals of unfinished transfers (and their `.part`) older than this are removed
    /// at start-up (D65; default 7 days).
    pub journal_max_age: Duration,
    /// True: a [`TransferHandle`] whose connection breaks keeps waiting while the
    /// platform resumes the transfer when its client comes back (D65; the pull CLI);
    /// false (default): it resolves with the `connection_lost` report at the break, and
    /// the transfer is still resumed in the background.
    pub wait_through_breaks: bool,
    /// The durable store of received data: each transfer's `.part`, its spool and its
    /// journal (D61, D115). Default [`OsFs`](crate::store::durable_fs::OsFs), the
    /// operating system's files under `out_dir`; the simulator gives its platform host's
    /// filesystem (`TurmoilFs`), where a host crash is a power cut. The `.debug`, the
    /// `.report` and the MP4 copy are always the operating system's files.
    pub store_fs: std::sync::Arc<dyn crate::store::durable_fs::StoreFs>,
    /// A new session of a device closes an older connection of the same device that
    /// holds transfers once that one has received nothing for this long plus four of its
    /// round trips, and resumes its transfers at once (D117); None waits for QUIC's idle
    /// timeout instead. It must exceed both sides' keep-alive interval
    /// (`TransportSettings::keep_alive`): default that interval (5 s) plus 2 s.
    pub supersede_silent_after: Option<Duration>,
}

impl PlatformConfig {
    /// Defaults, writing under `out_dir`.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        PlatformConfig {
            out_dir: out_dir.into(),
            session: SessionConfig::default(),
            seed: None,
            max_control_len: 1024 * 1024,
            // Long enough for a client to hash a large file before acknowledging it.
            request_timeout: Duration::from_secs(120),
            receive_budget: 64 * 1024 * 1024,
            max_receive_window: u64::from(TransportSettings::default().receive_window),
            observer: None,
            disk_budget: None,
            session_history: 1000,
            limits: ConnectionLimits::unlimited(),
            refusal_retry: RefusalRetry::default(),
            container: crate::store::container::Container::Both,
            journal_max_age: Duration::from_secs(7 * 24 * 3600),
            wait_through_breaks: false,
            store_fs: std::sync::Arc::new(crate::store::durable_fs::OsFs),
            supersede_silent_after: Some(
                TransportSettings::default().keep_alive + Duration::from_secs(2),
            ),
        }
    }
}

/// Why a platform API call failed. Refusals carry the client's status code.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// No such session (never connected, or gone).
    #[error("no session {0}")]
    NoSuchSession(Uuid),
    /// The client refused the request (404 no such file, 1001 unsupported format, 400...).
    #[error("refused by the client: {code}: {message}")]
    Refused {
        /// The client's status code.
        code: StatusCode,
        /// The client's message.
        message: String,
        /// How long the client asked to wait before asking again (its ErrorReport's
        /// `retry_after`, milliseconds on the wire), if it did.
        retry_after: Option<Duration>,
    },
    /// The session machine refused the command before sending (400 for a field out of
    /// range, not ready, closed).
    #[error("{0}")]
    Session(#[from] SessionError),
    /// The client did not answer within the request timeout.
    #[error("no answer from the client")]
    Timeout,
    /// The connection ended before the answer.
    #[error("connection lost")]
    ConnectionLost,
    /// The transfer failed before any of it could be stored (its output could not be
    /// created): 1003 StorageFull or 500 (D48).
    #[error("transfer failed: {code}")]
    TransferFailed {
        /// Why.
        code: StatusCode,
    },
    /// The answer was not of the kind the call expects.
    #[error("unexpected answer: {0}")]
    UnexpectedReply(String),
}

impl PlatformError {
    /// The protocol status code of this error, when it has one.
    pub fn status_code(&self) -> Option<StatusCode> {
        match self {
            PlatformError::Refused { code, .. } => Some(*code),
            PlatformError::Session(SessionError::Invalid(e)) => Some(e.status()),
            PlatformError::Session(SessionError::NotReady) => Some(StatusCode::ServiceUnavailable),
            PlatformError::Timeout => Some(StatusCode::ConnectionTimeout),
            PlatformError::TransferFailed { code } => Some(*code),
            _ => None,
        }
    }
}

/// One client session, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    /// The session id the platform assigned.
    pub session_id: Uuid,
    /// The client's address.
    pub remote: SocketAddr,
    /// True once the handshake completed.
    pub ready: bool,
    /// True once the connection ended.
    pub ended: bool,
    /// Why the connection ended, once it did: `TimedOut` after the idle timeout, closed by
    /// either side (`ApplicationClosed`, `LocallyClosed`), reset...
    pub ended_with: Option<quinn::ConnectionError>,
    /// The previous session a reconnecting client named in SessionStart (not re-attached:
    /// this session has its own id and starts with no transfers).
    pub previous_session: Option<Uuid>,
    /// Who the client is, once its SessionStart was accepted (D93).
    pub device: Option<crate::auth::DeviceIdentity>,
}

/// A transfer's final result.
#[derive(Debug, Clone)]
pub struct TransferResult {
    /// How it ended.
    pub outcome: TransferOutcome,
    /// The machine's verdict: the written file's SHA-256 equals the announced checksum.
    pub sha256_ok: bool,
    /// The written file.
    pub file: FinishedFile,
    /// The report (also written to its `.report` file).
    pub report: ReceptionReport,
}

/// An accepted FileRequest: its acknowledgement, and its final result to come.
#[derive(Debug)]
pub struct TransferHandle {
    /// The client's acknowledgement (transfer id, size, checksum, segments...).
    pub ack: FileRequestAck,
    done: oneshot::Receiver<Result<TransferResult, PlatformError>>,
}

impl TransferHandle {
    /// Waits for the transfer's end: its outcome, verdict and report.
    pub async fn finished(self) -> Result<TransferResult, PlatformError> {
        self.done
            .await
            .unwrap_or(Err(PlatformError::ConnectionLost))
    }
}

/// The answer to a request sent with [`Platform::send_request`].
#[derive(Debug)]
pub enum RequestReply {
    /// A FileListResponse.
    FileList(Vec<FileEntry>),
    /// An accepted FileRequest.
    Transfer(TransferHandle),
    /// A playback acknowledgement.
    Playback(PlaybackAck),
    /// The client's statistics.
    Stats(serde_json::Value),
}

/// What an API call asks a connection task.
enum Command {
    Request {
        request: Request,
        reply: oneshot::Sender<Result<RequestReply, PlatformError>>,
    },
    Transfers {
        reply: oneshot::Sender<Vec<TransferProgress>>,
    },
    Retransmit {
        segment: SegmentId,
        reason: Option<String>,
    },
    Close {
        code: StatusCode,
        reason: String,
    },
    /// A newer connection of this session took it over (D66), or a new session of this
    /// device while this connection was silent (D117): close, and leave the transfers to
    /// be resumed there.
    Superseded(supersede::Supersession),
    /// Unfinished transfers this session may resume (D64).
    Resume(Vec<resume::Resumable>),
}

/// A request, by the machine method that sends it.
#[derive(Clone)]
enum Request {
    Query(Option<String>),
    File(FileRequest),
    Playback(PlaybackControl),
    Raw(Message),
}

struct Shared {
    config: PlatformConfig,
    endpoint: quinn::Endpoint,
    sessions: Mutex<Registry>,
    /// Bumped whenever the session table changes.
    changed: watch::Sender<u64>,
    ids: Mutex<Option<rand::rngs::StdRng>>,
    connections: Mutex<u64>,
    budget: Arc<ReceiveBudget>,
    /// What may still be written under the output folder (`PlatformConfig::disk_budget`).
    disk: Option<Arc<DiskBudget>>,
    /// Transfers that broke, waiting for their client (D64, D65).
    unfinished: Mutex<resume::Unfinished>,
}

/// A running platform: cloneable handle over the accept loop and its sessions.
#[derive(Clone)]
pub struct Platform {
    shared: Arc<Shared>,
}

impl Platform {
    /// Starts accepting clients on `endpoint` (a pre-built server endpoint: real UDP or
    /// the simulator's). Must run inside a tokio runtime.
    pub fn start(endpoint: quinn::Endpoint, mut config: PlatformConfig) -> Platform {
        config.session.device_sessions = config.limits.device_sessions();
        let ids = config.seed.map(rand::rngs::StdRng::seed_from_u64);
        let config_budget = (config.receive_budget, config.max_receive_window);
        let config_disk = config.disk_budget;
        let session_history = config.session_history;
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            config,
            endpoint: endpoint.clone(),
            sessions: Mutex::new(Registry::new(session_history)),
            changed,
            ids: Mutex::new(ids),
            connections: Mutex::new(0),
            budget: ReceiveBudget::new(config_budget.0, config_budget.1),
            disk: config_disk.map(|bytes| Arc::new(DiskBudget::new(bytes))),
            unfinished: Mutex::new(resume::Unfinished::default()),
        });
        resume::load_journals(&shared);
        let platform = Platform { shared };
        let accepting = platform.clone();
        tokio::spawn(async move {
            let mut limiter = limits::HandshakeLimiter::default();
            let mut refusals = limits::RefusalLog::default();
            while let Some(incoming) = endpoint.accept().await {
                let remote = incoming.remote_address();
                let live = accepting.registry_size().0;
                let now = tokio::time::Instant::now();
                let admission = limiter.admit(
                    &accepting.shared.config.limits,
                    now,
                    remote.ip(),
                    live,
                    incoming.remote_address_validated(),
                );
                match admission {
                    limits::Admission::Accept => {}
                    limits::Admission::Retry => {
                        if let Err(e) = incoming.retry() {
                            e.into_incoming().ignore();
                        }
                        continue;
                    }
                    limits::Admission::Refuse(why) => {
                        refusals.log(now, remote, why);
                        incoming.refuse();
                        continue;
                    }
                }
                let platform = accepting.clone();
                tokio::spawn(async move {
                    let remote = incoming.remote_address();
                    match incoming.await {
                        Ok(conn) => connection::run(platform, conn).await,
                        Err(e) => tracing::info!("handshake with {remote} failed: {e}"),
                    }
                });
            }
        });
        platform
    }

    /// The address the platform listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.shared.endpoint.local_addr()
    }

    /// Every live session, ready or not, by session id, then the finished sessions kept
    /// (at most `PlatformConfig::session_history`, oldest first).
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.lock_sessions().list()
    }

    /// Sessions in the registry: (live, finished kept in the history).
    pub fn registry_size(&self) -> (usize, usize) {
        let registry = self.lock_sessions();
        (registry.live_len(), registry.finished_len())
    }

    /// Waits until at least `n` sessions are ready and returns them.
    pub async fn wait_for_sessions(&self, n: usize) -> Vec<SessionInfo> {
        let mut changed = self.shared.changed.subscribe();
        loop {
            let ready: Vec<SessionInfo> = self
                .sessions()
                .into_iter()
                .filter(|s| s.ready && !s.ended)
                .collect();
            if ready.len() >= n {
                return ready;
            }
            if changed.changed().await.is_err() {
                return ready;
            }
        }
    }

    /// Waits for the first ready session of `device`, authenticated (certificate or token):
    /// sessions of other devices, and unproven claims to be `device`, are ignored (D94).
    pub async fn wait_for_device(&self, device: &str) -> SessionInfo {
        let mut changed = self.shared.changed.subscribe();
        loop {
            let found = self.sessions().into_iter().find(|s| {
                s.ready
                    && !s.ended
                    && s.device.as_ref().is_some_and(|d| {
                        d.is_authenticated() && d.device_id.as_deref() == Some(device)
                    })
            });
            if let Some(session) = found {
                return session;
            }
            if changed.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Waits for the first ready session.
    pub async fn wait_for_session(&self) -> SessionInfo {
        loop {
            if let Some(first) = self.wait_for_sessions(1).await.into_iter().next() {
                return first;
            }
        }
    }

    /// Asks the client for its files (FileListQuery with `filter`).
    pub async fn query_files(
        &self,
        session: Uuid,
        filter: Option<String>,
    ) -> Result<Vec<FileEntry>, PlatformError> {
        match self.request(session, Request::Query(filter)).await? {
            RequestReply::FileList(files) => Ok(files),
            other => Err(unexpected(other)),
        }
    }

    /// Requests a file. Resolves when the client accepted (the handle then resolves to the
    /// transfer's end) or refused (404, 1001, 400... in [`PlatformError::Refused`]).
    pub async fn request_file(
        &self,
        session: Uuid,
        request: FileRequest,
    ) -> Result<TransferHandle, PlatformError> {
        match self.request(session, Request::File(request)).await? {
            RequestReply::Transfer(handle) => Ok(handle),
            other => Err(unexpected(other)),
        }
    }

    /// Sends a playback command; returns the client's acknowledgement or its refusal.
    pub async fn playback(
        &self,
        session: Uuid,
        control: PlaybackControl,
    ) -> Result<PlaybackAck, PlatformError> {
        match self.request(session, Request::Playback(control)).await? {
            RequestReply::Playback(ack) => Ok(ack),
            other => Err(unexpected(other)),
        }
    }

    /// Asks the client for its statistics (StatsRequest).
    pub async fn stats(
        &self,
        session: Uuid,
        request: StatsRequest,
    ) -> Result<serde_json::Value, PlatformError> {
        let reply = self
            .request(session, Request::Raw(Message::StatsRequest(request)))
            .await?;
        match reply {
            RequestReply::Stats(stats) => Ok(stats),
            other => Err(unexpected(other)),
        }
    }

    /// Sends any platform-to-client request as is (the machine still checks it) and waits
    /// for its answer.
    pub async fn send_request(
        &self,
        session: Uuid,
        message: Message,
    ) -> Result<RequestReply, PlatformError> {
        let request = match message {
            Message::FileRequest(r) => Request::File(r),
            Message::FileListQuery(FileListQuery { filter }) => Request::Query(filter),
            Message::PlaybackControl(c) => Request::Playback(c),
            other => Request::Raw(other),
        };
        self.request(session, request).await
    }

    /// The session's transfers and their reception figures (the specification's session
    /// statistics: segments, bytes, throughput, peak, mean segment time).
    pub async fn transfers(&self, session: Uuid) -> Result<Vec<TransferProgress>, PlatformError> {
        let (reply, answer) = oneshot::channel();
        self.command(session, Command::Transfers { reply })?;
        answer.await.map_err(|_| PlatformError::ConnectionLost)
    }

    /// Asks the client to send a segment again.
    pub fn request_retransmission(
        &self,
        session: Uuid,
        segment: SegmentId,
        reason: Option<String>,
    ) -> Result<(), PlatformError> {
        self.command(session, Command::Retransmit { segment, reason })
    }

    /// Finalizes a session: closes its connection with 200 (transfers still running end
    /// as connection-lost and get their reports).
    pub fn close_session(&self, session: Uuid) -> Result<(), PlatformError> {
        self.command(
            session,
            Command::Close {
                code: StatusCode::Success,
                reason: "session finalized by the platform".into(),
            },
        )
    }

    /// Stops accepting clients, closes every connection with 200 and waits (a few
    /// seconds at most) until each connection task wrote its reports and the closes were
    /// sent.
    pub async fn shutdown(&self) {
        self.shared.endpoint.set_server_config(None);
        let ids: Vec<Uuid> = self.lock_sessions().live_ids();
        for id in ids {
            let _ = self.close_session(id);
        }
        let mut changed = self.shared.changed.subscribe();
        let all_ended = async {
            while !self.sessions().iter().all(|s| s.ended) {
                if changed.changed().await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), all_ended).await;
        let _ =
            tokio::time::timeout(Duration::from_secs(1), self.shared.endpoint.wait_idle()).await;
    }

    /// Sends `request` and waits for its answer; a refusal with `retry_after` (1009, 503)
    /// is asked again after that wait, as `PlatformConfig::refusal_retry` allows (D97).
    async fn request(
        &self,
        session: Uuid,
        request: Request,
    ) -> Result<RequestReply, PlatformError> {
        let policy = self.shared.config.refusal_retry.clone();
        let mut retried = 0;
        loop {
            let result = self.request_once(session, request.clone()).await;
            let Some(wait) = result.as_ref().err().and_then(|e| policy.wait(e, retried)) else {
                return result;
            };
            tracing::info!("session {session}: the client asked to wait {wait:?}; asking again");
            tokio::time::sleep(wait).await;
            retried += 1;
        }
    }

    async fn request_once(
        &self,
        session: Uuid,
        request: Request,
    ) -> Result<RequestReply, PlatformError> {
        let (reply, answer) = oneshot::channel();
        self.command(session, Command::Request { request, reply })?;
        match tokio::time::timeout(self.shared.config.request_timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(PlatformError::ConnectionLost),
            Err(_) => Err(PlatformError::Timeout),
        }
    }

    fn command(&self, session: Uuid, command: Command) -> Result<(), PlatformError> {
        let sessions = self.lock_sessions();
        let entry = sessions
            .entry(session)
            .ok_or(PlatformError::NoSuchSession(session))?;
        entry
            .commands
            .send(command)
            .map_err(|_| PlatformError::ConnectionLost)
    }

    fn lock_sessions(&self) -> MutexGuard<'_, Registry> {
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new session id from the platform's generator.
    fn next_session_id(&self) -> Uuid {
        let mut ids = self
            .shared
            .ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match ids.as_mut() {
            Some(rng) => {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                uuid::Builder::from_random_bytes(bytes).into_uuid()
            }
            None => Uuid::new_v4(),
        }
    }

    /// The number of this connection (0, 1, ...), for per-connection seeds.
    fn next_connection_number(&self) -> u64 {
        let mut n = self
            .shared
            .connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *n += 1;
        *n - 1
    }

    fn register(
        &self,
        info: SessionInfo,
        commands: mpsc::UnboundedSender<Command>,
        generation: u64,
    ) {
        let now = tokio::time::Instant::now().into_std();
        self.lock_sessions()
            .register(info, commands, (generation, now));
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// The connection `generation` of session `id` is ending: listed as ended (unless a
    /// newer connection took the entry over, D66).
    fn mark_ended(&self, id: Uuid, generation: u64) {
        let mut registry = self.lock_sessions();
        if registry.is_generation(id, generation) {
            registry.update(id, |info| info.ended = true);
        }
        drop(registry);
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// Updates a live session's entry (re-keyed when its id changed).
    fn update(&self, id: Uuid, f: impl FnOnce(&mut SessionInfo)) {
        self.lock_sessions().update(id, f);
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// The connection of session `id` ended: its entry, updated by `f`, moves to the
    /// bounded history of finished sessions (D51).
    fn retire(&self, id: Uuid, generation: u64, f: impl FnOnce(&mut SessionInfo)) {
        let mut registry = self.lock_sessions();
        if !registry.is_generation(id, generation) {
            // A newer connection of this session took its entry over (D66).
            return;
        }
        registry.update(id, f);
        registry.retire(id);
        drop(registry);
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// The registry's answer to the machine's re-attachment question (D52): the live
    /// session `current` takes the id `previous` if `previous` is a finished session the
    /// history holds, or a live one of an older connection, which is then told it was
    /// superseded (D66).
    fn reattach(&self, current: Uuid, previous: Uuid) -> bool {
        let answer = self.lock_sessions().reattach(current, previous);
        let done = match answer {
            registry::Reattach::NotHeld => false,
            registry::Reattach::Finished => true,
            registry::Reattach::Superseding(old) => {
                let _ = old.send(Command::Superseded(supersede::Supersession::SameSession));
                true
            }
        };
        if done {
            self.shared.changed.send_modify(|n| *n += 1);
        }
        done
    }

    fn config(&self) -> &PlatformConfig {
        &self.shared.config
    }
}

fn unexpected(reply: RequestReply) -> PlatformError {
    PlatformError::UnexpectedReply(format!("{reply:?}"))
}
