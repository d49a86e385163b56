//! The upload client's async driver: one task owns a [`ClientSession`] per connection and
//! moves bytes between quinn streams, the machine and the disk.
//!
//! The driver decides nothing about the protocol. It reads the platform's control streams
//! and hands the envelopes to the machine; it performs the machine's actions (send an
//! envelope, list or prepare files on a blocking thread, send a segment read from disk at
//! the offsets the machine names, close); it turns the machine's events into the
//! specification's log lines and into the progress an application reads.
//!
//! # Entry points
//! - [`run_client`]: connect over a pre-built endpoint and serve until the connection
//!   ends or `shutdown` resolves (what `vstream client` runs).
//! - [`Client`]: the same driver behind a handle, for integrators: register files, list
//!   them, read the session's transfer progress, close.
//!
//! [`ClientSession`]: crate::session::ClientSession

mod driver;
mod reconnect;
mod sender;
mod stall;
mod streams;
mod supervisor;

pub use reconnect::{Backoff, ReconnectPolicy, RecoveryStrategy, UnknownStrategy};
pub use sender::TAIL_PROBES;
pub use stall::Stall;

use crate::catalog::{Catalog, CatalogError};
use crate::session::{SessionConfig, TransferOutcome};
use crate::wire::{FileEntry, StatusCode, TransferId};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// Settings of the client driver.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The machine's settings.
    pub session: SessionConfig,
    /// A previous session id to re-attach to (SessionStart's envelope), or None for a
    /// fresh session.
    pub resume_session: Option<Uuid>,
    /// Bytes read from disk per positioned read while sending a segment (64-256 KiB).
    pub read_chunk: usize,
    /// Bound on one incoming control stream.
    pub max_control_len: usize,
    /// How to reconnect after the connection broke (None: the run ends with the
    /// connection, as before).
    pub reconnect: Option<ReconnectPolicy>,
    /// Give a connection up when, for this long, datagrams went out and nothing came
    /// back, or segments were in flight and made no progress (D67). None: only QUIC's
    /// idle timeout ends a connection (the library's default, as before; the CLI's is
    /// [`DEFAULT_STALL_TIMEOUT`]).
    pub stall_timeout: Option<Duration>,
    /// How long one connection attempt may take to complete its handshake before it
    /// counts as failed (then the reconnection policy decides, D67). Default 10 s.
    pub connect_timeout: Duration,
    /// Tail probes after each segment of a realtime-paced transfer (D109): empty QUIC
    /// DATAGRAM frames, each in a packet of its own, so that a lost last packet is found
    /// within a round trip. Default [`TAIL_PROBES`] (3); 0 turns them off. None are sent
    /// to a platform that does not accept datagrams, nor for transfers at full speed.
    pub tail_probes: u8,
    /// Copies of small realtime segments (up to 8 KiB) in QUIC DATAGRAM frames after
    /// their streams, in place of as many tail probes (D121): the platform stores a copy
    /// that is whole before its stream, so a lost packet costs no round trip. Default
    /// true; sent only when tail probes are (realtime pacing, a platform that accepts
    /// datagrams).
    pub segment_copies: bool,
}

/// The CLI's stall timeout (D67): a few seconds, well above a loaded path's round trip,
/// well below QUIC's probe backoff after a long outage.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The default [`ClientConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            session: SessionConfig::default(),
            resume_session: None,
            read_chunk: 128 * 1024,
            max_control_len: 1024 * 1024,
            reconnect: None,
            stall_timeout: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            tail_probes: TAIL_PROBES,
            segment_copies: true,
        }
    }
}

/// Why a client run failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be started (bad address or configuration).
    #[error("cannot connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The QUIC connection failed or was closed by the platform with an error.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The platform refused the handshake (e.g. 1008 version mismatch).
    #[error("the platform refused the session: {code}")]
    HandshakeRefused {
        /// The platform's status.
        code: StatusCode,
    },
    /// No answer from the platform within [`ClientConfig::connect_timeout`].
    #[error("no answer from the platform within {after:?}")]
    ConnectTimeout {
        /// The connect timeout.
        after: Duration,
    },
    /// The client gave the connection up (D67).
    #[error("the connection stalled: {stall} for {after:?}")]
    Stalled {
        /// How.
        stall: Stall,
        /// The stall timeout.
        after: Duration,
    },
    /// The reconnection policy's `max_retries` retries failed in a row (D60).
    #[error("gave up after {retries} retries; the last attempt: {last}")]
    GaveUp {
        /// Retries made (attempts after the first of a row).
        retries: u32,
        /// How the last one failed.
        last: Box<ClientError>,
    },
    /// The driver task ended abnormally.
    #[error("client task failed: {0}")]
    Task(String),
}

impl ClientError {
    /// The protocol status code this error carries, if any: the handshake refusal's, or the
    /// application error code the platform closed the connection with.
    pub fn status_code(&self) -> Option<StatusCode> {
        match self {
            ClientError::HandshakeRefused { code } => Some(*code),
            ClientError::GaveUp { last, .. } => last.status_code(),
            ClientError::Connection(quinn::ConnectionError::ApplicationClosed(close)) => {
                let code = u16::try_from(close.error_code.into_inner()).ok()?;
                Some(StatusCode::from_u16(code))
            }
            _ => None,
        }
    }
}

/// How far one upload has gone.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadProgress {
    /// The transfer.
    pub transfer: TransferId,
    /// The file, as the platform named it.
    pub file_path: String,
    /// Segments in the transfer.
    pub total_segments: u32,
    /// Segments sent so far.
    pub uploaded_segments: u32,
    /// Data bytes sent so far.
    pub bytes: u64,
    /// Bytes this transfer sends in all: the file's size when it starts at its beginning
    /// (None after a seek or a resume, whose share of the file the ack does not give, and
    /// for a demuxed MP4, whose samples are not the file).
    pub total_bytes: Option<u64>,
    /// None while uploading, then how it ended.
    pub outcome: Option<TransferOutcome>,
}

/// What an application can read of a running client at any time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientProgress {
    /// The session id the platform assigned (None before the handshake completes).
    pub session_id: Option<Uuid>,
    /// True once the handshake completed, false again after the connection ended.
    pub established: bool,
    /// Every transfer of the session, oldest first.
    pub transfers: Vec<UploadProgress>,
}

/// What a finished client run leaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSummary {
    /// The session id, if the handshake completed.
    pub session_id: Option<Uuid>,
    /// Every transfer and how it ended.
    pub transfers: Vec<UploadProgress>,
    /// The application code and reason the connection was closed with, if known.
    pub closed_with: Option<(u64, String)>,
}

/// Connects to `server` over `endpoint` and serves `catalog` until the connection ends or
/// `shutdown` resolves (then the session is ended with SessionEnd and the connection
/// closed).
///
/// With [`ClientConfig::reconnect`] set, a connection that breaks or stalls is replaced by
/// a new one that names the previous session (see `client/supervisor.rs`), until the
/// platform ends the session, `shutdown` resolves or `max_retries` is spent.
///
/// # Returns
/// The session's summary when the connection ended normally (closed by either side with
/// status 200, or by `shutdown`); [`ClientError`] when it could not be established, the
/// handshake was refused, or the platform closed it with an error code.
pub async fn run_client(
    endpoint: quinn::Endpoint,
    server: SocketAddr,
    server_name: &str,
    catalog: Arc<Catalog>,
    config: ClientConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<ClientSummary, ClientError> {
    let (progress_tx, _progress_rx) = watch::channel(ClientProgress::default());
    run_client_watched(
        endpoint,
        server,
        server_name,
        catalog,
        config,
        shutdown,
        progress_tx,
    )
    .await
}

/// [`run_client`], publishing the session's [`ClientProgress`] on `progress_tx` as it
/// goes (the command line's progress bars read it).
pub async fn run_client_watched(
    endpoint: quinn::Endpoint,
    server: SocketAddr,
    server_name: &str,
    catalog: Arc<Catalog>,
    config: ClientConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    progress_tx: watch::Sender<ClientProgress>,
) -> Result<ClientSummary, ClientError> {
    let target = supervisor::Target {
        endpoint,
        server,
        server_name: server_name.to_string(),
    };
    supervisor::supervise(target, catalog, config, shutdown, progress_tx).await
}

/// A running client, for integrators (the specification's client example): connect,
/// register files, list them, watch the session's uploads, close.
pub struct Client {
    catalog: Arc<Catalog>,
    progress: watch::Receiver<ClientProgress>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<ClientSummary, ClientError>>,
}

impl Client {
    /// Connects to the platform and starts serving `catalog` (files registered later are
    /// served too). Returns once the QUIC connection is up; the protocol handshake follows
    /// (see [`Client::wait_active`]).
    pub async fn connect(
        endpoint: &quinn::Endpoint,
        server: SocketAddr,
        server_name: &str,
        catalog: Arc<Catalog>,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let target = supervisor::Target {
            endpoint: endpoint.clone(),
            server,
            server_name: server_name.to_string(),
        };
        let conn = target.connect(config.connect_timeout, None).await?;
        let (progress_tx, progress) = watch::channel(ClientProgress::default());
        let (stop, stop_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let run = driver::run(conn, Arc::clone(&catalog), config, shutdown, progress_tx);
        let task = tokio::spawn(async move { run.await.result });
        Ok(Client {
            catalog,
            progress,
            stop: Some(stop),
            task,
        })
    }

    /// Registers a file, or every file under a directory, relative to the catalog's root.
    pub async fn register(&self, path: impl Into<PathBuf>) -> Result<usize, CatalogError> {
        let catalog = Arc::clone(&self.catalog);
        let path = path.into();
        match crate::net::run_blocking(move || catalog.register(path)).await {
            Some(found) => found,
            None => Err(CatalogError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other("registration panicked"),
            }),
        }
    }

    /// The files this client serves (every field filled; changed files re-probed).
    pub async fn available_files(&self) -> Vec<FileEntry> {
        let catalog = Arc::clone(&self.catalog);
        crate::net::run_blocking(move || catalog.list(None))
            .await
            .unwrap_or_default()
    }

    /// The session and its uploads, now.
    pub fn progress(&self) -> ClientProgress {
        self.progress.borrow().clone()
    }

    /// Waits until the handshake completed and returns the session id, or the error the
    /// run ended with first.
    pub async fn wait_active(&mut self) -> Option<Uuid> {
        let seen = self
            .progress
            .wait_for(|p| p.session_id.is_some() && p.established)
            .await
            .ok()?;
        seen.session_id
    }

    /// Ends the session (SessionEnd, then close) and waits for the driver to finish.
    pub async fn close(mut self) -> Result<ClientSummary, ClientError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finished().await
    }

    /// Waits until the connection ends by itself.
    pub async fn finished(self) -> Result<ClientSummary, ClientError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(ClientError::Task(e.to_string())),
        }
    }
}
