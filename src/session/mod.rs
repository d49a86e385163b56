//! The protocol's brain: sans-IO state machines for both roles.
//!
//! [`ClientSession`] (the edge device that holds files) and [`PlatformSession`] (the server
//! that pulls them) take decoded messages, segment headers and timer ticks, and return what
//! to send, write or report. They do no I/O, read no clock (time is an argument, and never
//! goes backwards) and draw no randomness of their own (transfer ids come from a seeded
//! generator given at construction), so every rule of the specification and of its wire
//! profile lives here once, is tested here without a network, and behaves identically on
//! real UDP and in the simulator.
//!
//! # Driving a machine
//! The async drivers (`client/`, `platform/`) own one machine per connection and loop:
//! 1. feed inputs: `handle_message` for each control stream's envelope, `handle_*` for
//!    segment and file events, `handle_timeout(now)` when the deadline of `poll_timeout`
//!    passes;
//! 2. drain `poll_action()` until `None`, performing each action (send an envelope on a new
//!    unidirectional stream, open a source, send a segment, open or finish an output file,
//!    close);
//! 3. drain `poll_event()` for what the application and the logs want to know;
//! 4. re-arm one timer at `poll_timeout()`.
//!
//! Actions are self-sufficient (D54): each carries what performing it needs (the source
//! file is opened by `ClientAction::OpenSource` before the first `SendSegment` of its
//! transfer; `PlatformEvent::TransferFinished` carries the transfer's final status), so no
//! action depends on an event having been handled first, and the drain order of steps 2
//! and 3 does not matter (`session::tests::pair`'s both-orders test proves it). Both
//! drivers drain actions first.
//!
//! # Who decides what
//! - The machines decide every protocol outcome: which reply, which status code, which
//!   segment next, when a transfer is complete, whether its checksum matches.
//! - The drivers move bytes: they read segment data from disk at the offsets a
//!   [`SegmentJob`] names, and write received data through `store::ReceivedFile`.
//! - File-system work the client needs before it can acknowledge a FileRequest (resolving
//!   the path in the catalog, hashing, planning segments) is requested with
//!   [`ClientAction::PrepareTransfer`] and answered with `handle_transfer_prepared`, so the
//!   machine never blocks on a disk.

mod client;
mod failure;
mod order;
mod platform;
mod util;

pub use client::{is_retryable, AfterConnection, ClientLimits, ClientSession, ConnectionEnd};
pub use failure::{StorageFailure, DEFAULT_MAX_RETRIES};
pub(crate) use order::InOrder;
pub use platform::PlatformSession;

use crate::media::plan::SegmentPlan;
use crate::media::MediaInfo;
use crate::store::{FinishedFile, Placement};
use crate::wire::{
    ErrorReport, FileEntry, FileRequest, FileRequestAck, JsonEnvelope, PlaybackAck, SegmentHeader,
    StatusCode, Timestamp, TransferId, WireError,
};
use std::time::Duration;
use uuid::Uuid;

/// Settings shared by both machines.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Segment streams one transfer may have open at once (never blocks forever on the
    /// peer's stream limit: the default stays well under its 100 unidirectional streams).
    pub max_in_flight_segments: usize,
    /// Bytes one unidirectional stream may carry before the receiver stops it with 1006
    /// (profile section 2; default 16 MiB).
    pub max_stream_len: u64,
    /// How long a segment of a transfer not yet acknowledged may wait at the platform for
    /// the acknowledgement that names it (the two travel on different streams).
    pub unknown_transfer_grace: Duration,
    /// Seed of the generator that draws transfer ids (simulation passes its own).
    pub seed: u64,
    /// Wall-clock time at the `now` given to the machine's `new`: envelope timestamps are
    /// this plus the time elapsed since (the machines read no clock). Default: the Unix
    /// epoch; drivers pass the real time, simulations a fixed one.
    pub epoch: Timestamp,
    /// How many times the platform asks for one segment again before it fails the
    /// transfer (written as the ErrorReport's `max_retries`; D49).
    pub max_retries: u32,
    /// Who may start a session (platform only; default: anyone, D90-D92). Checked at
    /// SessionStart; a refusal is StatusResponse 1004 and a close with 1004.
    pub auth: crate::auth::DeviceAuth,
    /// What the client sends as SessionStart (client only; default `CLIENT_READY`, or the
    /// object form with a device id and token, D90).
    pub session_start: Option<crate::wire::SessionStart>,
    /// Live sessions per authenticated device (platform only; None: no limit). Shared by
    /// every connection of a platform; past it SessionStart is refused with 1009 (D96).
    pub device_sessions: Option<std::sync::Arc<crate::auth::DeviceSessions>>,
    /// Requests per second and transfers at once the client accepts from its platform
    /// (client only; default [`ClientLimits::unlimited`], `vstream client` applies
    /// [`ClientLimits::default`]; D97, D98).
    pub client_limits: ClientLimits,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_in_flight_segments: 64,
            max_stream_len: crate::wire::DEFAULT_MAX_STREAM_LEN,
            unknown_transfer_grace: Duration::from_secs(5),
            seed: 0,
            epoch: Timestamp::UNIX_EPOCH,
            max_retries: DEFAULT_MAX_RETRIES,
            auth: crate::auth::DeviceAuth::default(),
            session_start: None,
            device_sessions: None,
            client_limits: ClientLimits::unlimited(),
        }
    }
}

/// One segment the client driver must send: open a unidirectional stream with `priority`,
/// write `header` (its data length already set), then `len` bytes of the file read at
/// `offset` (or, with `rewrite`, the sample it describes), then finish the stream and call
/// `handle_segment_sent`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentJob {
    /// The transfer it belongs to.
    pub transfer: TransferId,
    /// Its index in the transfer.
    pub index: u32,
    /// The encoded header to write first.
    pub header: SegmentHeader,
    /// Where its data starts in the file.
    pub offset: u64,
    /// How many data bytes follow the header.
    pub len: u64,
    /// quinn stream priority (video 128, audio 255; FileRequest priority orders transfers).
    pub priority: i32,
    /// MP4 frame mode (D77): the data is not the file range as it is but a sample rewritten
    /// to Annex-B (then `len` counts what is sent, [`SampleRewrite::file_len`] what is read).
    pub rewrite: Option<crate::media::plan::SampleRewrite>,
    /// Realtime pacing: once the stream is finished, the driver probes the connection's
    /// tail so that a lost last packet is found within a round trip (D109).
    pub tail_probes: bool,
}

/// What the client driver found for a FileRequest: the resolved file and its plan.
#[derive(Debug, Clone)]
pub struct PreparedTransfer {
    /// Where the driver reads the file from.
    pub local_path: std::path::PathBuf,
    /// The path as the platform named it.
    pub file_path: String,
    /// Size in bytes.
    pub file_size: u64,
    /// `sha256:<hex>` of the whole file; `None` when not known yet: the acknowledgement then
    /// carries `"checksum": null` and the driver calls
    /// [`ClientSession::handle_checksum_known`] when it is (D101).
    pub checksum: Option<String>,
    /// How the file is cut.
    pub plan: SegmentPlan,
    /// What is known of its media.
    pub media: MediaInfo,
}

/// Why the client driver could not prepare a FileRequest (404, 1001, 500...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRefusal {
    /// The status code the client answers with.
    pub code: StatusCode,
    /// A readable reason.
    pub message: String,
}

/// What the client driver must do.
#[derive(Debug, Clone)]
#[must_use]
pub enum ClientAction {
    /// Send this envelope on a new unidirectional stream, then finish it.
    SendControl(JsonEnvelope),
    /// Resolve and plan a requested file, then call `handle_transfer_prepared` with the
    /// same `request_seq`.
    PrepareTransfer {
        /// The FileRequest's sequence number.
        request_seq: u64,
        /// The request, already validated.
        request: FileRequest,
    },
    /// Open the source file of an accepted transfer for reading (issued before its first
    /// `SendSegment`); if it cannot be opened, call `handle_source_failed`.
    OpenSource {
        /// The transfer.
        transfer: TransferId,
        /// The file to read (the prepared transfer's `local_path`).
        path: std::path::PathBuf,
    },
    /// Send one segment (its transfer's source was opened by an earlier `OpenSource`).
    SendSegment(SegmentJob),
    /// The transfer ended for good (stopped, failed, connection lost): its source may be
    /// closed. A completed transfer keeps it (a retransmission request may follow, D26).
    CloseSource {
        /// The transfer.
        transfer: TransferId,
    },
    /// List the served files matching `filter` (catalog I/O), then call
    /// `handle_file_list` with the same `request_seq`.
    ListFiles {
        /// The FileListQuery's sequence number.
        request_seq: u64,
        /// The query's filter (profile section 7), as received.
        filter: Option<String>,
    },
    /// Close the connection with this application error code.
    Close {
        /// The status code, used as the QUIC application error code.
        code: StatusCode,
        /// Why.
        reason: String,
    },
}

/// How a transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOutcome {
    /// Every segment from the first to the last was sent (client) / received (platform).
    Completed,
    /// Stopped by a Stop command.
    Stopped,
    /// The connection ended first.
    ConnectionLost,
    /// Failed with this status code: the platform could not store it (1003 StorageFull,
    /// 500), or a segment stayed damaged past `max_retries` (1005). Both sides end it so
    /// (D48, D49).
    Failed(StatusCode),
}

impl TransferOutcome {
    /// The outcome's name in reports and logs: `completed`, `stopped`,
    /// `connection_lost`, `failed`.
    pub fn name(self) -> &'static str {
        match self {
            TransferOutcome::Completed => "completed",
            TransferOutcome::Stopped => "stopped",
            TransferOutcome::ConnectionLost => "connection_lost",
            TransferOutcome::Failed(_) => "failed",
        }
    }
}

/// Sender figures of one finished transfer (the specification's completion line).
#[derive(Debug, Clone, PartialEq)]
pub struct SendSummary {
    /// Segments sent.
    pub segments: u64,
    /// Frames sent (0 for fixed-size modes).
    pub frames: u64,
    /// Data bytes sent.
    pub bytes: u64,
    /// From the first segment opened to the last finished.
    pub elapsed: Duration,
    /// Highest single-segment rate, Mbit/s.
    pub peak_mbps: f64,
}

/// What the client application and logs want to know.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// The platform accepted the handshake and assigned this session id.
    SessionEstablished {
        /// The session id to use from now on.
        session_id: Uuid,
    },
    /// The platform refused our version or session (1008...): the connection closes.
    HandshakeRefused {
        /// The status the platform answered with.
        code: StatusCode,
    },
    /// A FileRequest was accepted; segments follow.
    TransferStarted(FileRequestAck),
    /// One segment stream finished (for the sender's `Transmitted ...` log line).
    SegmentTransmitted {
        /// Transfer.
        transfer: TransferId,
        /// Segment index.
        index: u32,
        /// Segments in the transfer.
        total: u32,
        /// Data bytes.
        bytes: u64,
        /// `KEY`, `I`, `P`, `B`, or `-` for fixed-size chunks.
        frame_type: &'static str,
        /// Time from opening the stream to finishing it.
        elapsed: Duration,
    },
    /// A transfer ended.
    TransferFinished {
        /// Transfer.
        transfer: TransferId,
        /// How.
        outcome: TransferOutcome,
        /// Figures.
        summary: SendSummary,
    },
    /// The platform reported an error.
    PeerError(ErrorReport),
    /// The client refused a request of the platform with an ErrorReport (the driver logs
    /// it: path, code, reason).
    RequestRefused {
        /// The refused request's sequence number.
        request_seq: u64,
        /// The file the request named (FileRequests), if any.
        path: Option<String>,
        /// The code it was refused with.
        code: StatusCode,
        /// Why.
        reason: String,
    },
}

/// What the platform driver should do with an incoming segment stream, decided from its
/// header. The machine also decides the stream's byte bound and the code a stream that
/// breaks it is stopped with (D53): the driver chooses no status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentVerdict {
    /// Read exactly `len` data bytes and write them through the transfer's output file at
    /// `index`; a stream carrying more is stopped with `too_long`.
    Write {
        /// Transfer.
        transfer: TransferId,
        /// Index.
        index: u32,
        /// The data bytes the header announced (within `max_stream_len`).
        len: u64,
        /// The stop code of a stream longer than announced (1006).
        too_long: StatusCode,
    },
    /// Already received: read and discard the data (at most the header's length, else stop
    /// with [`SegmentVerdict::TOO_LONG`]), write nothing.
    Duplicate,
    /// The transfer is not acknowledged yet: keep the stream unread; the machine parked
    /// the header and decides it later with [`PlatformAction::SegmentJudged`] (D55).
    NotYetKnown,
    /// Refuse: stop the stream with this code (the machine has queued the ErrorReport).
    Refuse(StatusCode),
}

impl SegmentVerdict {
    /// The stop code of a stream carrying more than its header announced (1006).
    pub const TOO_LONG: StatusCode = StatusCode::StreamTooLong;
}

/// What the platform driver must do.
#[derive(Debug, Clone)]
#[must_use]
pub enum PlatformAction {
    /// Send this envelope on a new unidirectional stream, then finish it.
    SendControl(JsonEnvelope),
    /// Create the output file of an accepted transfer (under `--out/<session id>/`).
    OpenOutput {
        /// The acknowledgement (path, size, mode, first segment).
        ack: FileRequestAck,
        /// Where its segments go.
        placement: Placement,
    },
    /// A seek moved the transfer's range to start at `index`: in-order output goes on with
    /// `index` right after what was written so far (segments below it still waiting behind
    /// a gap are written first, in index order). Requested once no segment below `index`
    /// is still being written.
    RestartOutput {
        /// Transfer.
        transfer: TransferId,
        /// The restart segment (the acknowledgement's `start_segment`).
        index: u32,
    },
    /// Every expected segment arrived (or the transfer stopped): finish the output file,
    /// then call `handle_output_finished`.
    FinishOutput {
        /// Transfer.
        transfer: TransferId,
        /// Why it ends.
        outcome: TransferOutcome,
    },
    /// A segment header answered `NotYetKnown` earlier is decided: answer the stream that
    /// carried it (the oldest such stream still waiting with this header's segment id).
    SegmentJudged {
        /// The header, as it arrived.
        header: SegmentHeader,
        /// Its verdict (never `NotYetKnown`).
        verdict: SegmentVerdict,
    },
    /// A reconnecting client named `previous` in SessionStart's envelope: ask the session
    /// registry whether it holds that finished session (and, if it does, give this
    /// connection its id), then call `handle_session_lookup` with the answer. The
    /// handshake's reply waits for it (D52).
    LookupSession {
        /// The session id the client named.
        previous: Uuid,
    },
    /// Close the connection with this application error code.
    Close {
        /// The status code, used as the QUIC application error code.
        code: StatusCode,
        /// Why.
        reason: String,
    },
}

/// What the platform application and logs want to know.
#[derive(Debug, Clone)]
pub enum PlatformEvent {
    /// The client completed the handshake.
    SessionEstablished {
        /// The session id assigned (or re-attached).
        session_id: Uuid,
        /// True when `session_id` is the previous session the client named, re-attached
        /// because the registry held it (D52).
        reattached: bool,
    },
    /// The device was refused at SessionStart: 1004 AuthenticationFailed (D93), or 1009
    /// RateLimitExceeded when it holds its maximum of sessions (D96). The connection closes.
    DeviceRefused {
        /// 1004 or 1009.
        code: crate::wire::StatusCode,
        /// Why (never holds a token).
        reason: String,
    },
    /// The client's version was refused (1008): the connection closes.
    VersionRefused {
        /// What the client offered, `major.minor.patch`.
        theirs: String,
    },
    /// Answer to a FileListQuery.
    FileList {
        /// The query's sequence number.
        request_seq: u64,
        /// The files.
        files: Vec<FileEntry>,
    },
    /// A FileRequest was accepted.
    TransferAccepted(FileRequestAck),
    /// The checksum of a transfer acknowledged with `"checksum": null` arrived (D101).
    ChecksumKnown {
        /// Transfer.
        transfer: TransferId,
        /// `sha256:<hex>` of the whole file.
        checksum: String,
    },
    /// A request (FileRequest, playback command, stats) was refused.
    RequestRefused {
        /// The request's sequence number.
        request_seq: u64,
        /// The client's report (404, 1001, 400...).
        report: ErrorReport,
    },
    /// A playback command was acknowledged.
    PlaybackAcknowledged(PlaybackAck),
    /// Answer to a StatsRequest: the client's figures.
    Stats {
        /// The request's sequence number.
        request_seq: u64,
        /// The client's JSON object.
        stats: serde_json::Value,
    },
    /// A transfer's output is final.
    TransferFinished {
        /// Transfer.
        transfer: TransferId,
        /// How it ended.
        outcome: TransferOutcome,
        /// The written file and its digest.
        file: FinishedFile,
        /// True when the digest equals the acknowledged checksum (or, for a transfer
        /// acknowledged with `"checksum": null`, the one that followed: D101).
        sha256_ok: bool,
        /// Its final counts and ranges (for the report), as of its end.
        status: Box<TransferStatus>,
    },
    /// The client reported an error not tied to a request.
    PeerError(ErrorReport),
    /// The client ended the session (SessionEnd).
    SessionEnded,
}

/// Where a transfer stands at the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    /// Segments are arriving.
    Receiving,
    /// `FinishOutput` was requested; waiting for `handle_output_finished`.
    Finishing(TransferOutcome),
    /// The output file is final.
    Finished(TransferOutcome),
}

/// One transfer as the platform sees it (for its API and reports).
#[derive(Debug, Clone, PartialEq)]
pub struct TransferStatus {
    /// Transfer.
    pub transfer: TransferId,
    /// The path as acknowledged.
    pub file_path: String,
    /// Distinct segments received (written).
    pub received_segments: u64,
    /// Segments in the whole file.
    pub total_segments: u32,
    /// First index expected (the acknowledgement's `start_segment`, moved by seeks).
    pub expected_start: u32,
    /// Data bytes received (distinct segments).
    pub bytes: u64,
    /// Where it stands.
    pub state: TransferState,
    /// Frames received (0 for fixed-size modes).
    pub frames: u64,
    /// Segments received flagged keyframe (0x01).
    pub keyframes: u64,
    /// Index ranges received, inclusive, ascending.
    pub index_ranges: Vec<(u32, u32)>,
    /// Media time ranges received, seconds `[start, end)`, merged, ascending.
    pub media_ranges: Vec<(f64, f64)>,
    /// The client's statistics of the transfer, from a Stop acknowledgement sent with
    /// `send_statistics`.
    pub client_statistics: Option<serde_json::Value>,
}

/// A command the application gave that the machine cannot carry out now.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    /// The handshake has not completed.
    #[error("the session is not established yet")]
    NotReady,
    /// The session is closing or closed.
    #[error("the session is closed")]
    Closed,
    /// The request is invalid before sending (e.g. FileRequest fields out of range).
    #[error("invalid request: {0}")]
    Invalid(#[from] WireError),
    /// No transfer with this id (or no transfer at all for a playback command).
    #[error("no such transfer")]
    NoSuchTransfer,
}

#[cfg(test)]
mod tests;
