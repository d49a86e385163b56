//! Observations of a platform's connections, timed on tokio's clock: what a test or a
//! simulation needs to prove timing claims (per-segment arrival, acknowledgement instants)
//! without parsing logs. Set [`PlatformConfig::observer`](super::PlatformConfig) to a
//! channel; each connection task sends to it as things happen, in the order it handles
//! them (a segment's header is judged, in stream order, before any control message opened
//! after it: docs/protocol.md D45).

use crate::session::{SegmentVerdict, TransferOutcome};
use crate::wire::{PlaybackAck, SegmentFlags, SegmentId, StatusCode, TransferId};
use std::time::Instant;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Where observations go.
pub type Observer = mpsc::UnboundedSender<Observation>;

/// One thing that happened on a connection, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// When, on tokio's clock (simulated under turmoil or a paused clock).
    pub at: Instant,
    /// The connection's session.
    pub session: Uuid,
    /// What.
    pub event: Observed,
}

/// What was observed.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// A segment stream's header arrived and was judged.
    SegmentArrived {
        /// Its id (transfer and index for the profile's ids).
        id: SegmentId,
        /// Its media timestamp, seconds.
        timestamp: f64,
        /// Its flags (keyframe, end of transfer...).
        flags: SegmentFlags,
        /// The machine's verdict.
        verdict: SegmentVerdict,
    },
    /// A segment's data was written to its transfer's output.
    SegmentStored {
        /// Transfer.
        transfer: TransferId,
        /// Index.
        index: u32,
        /// Its media timestamp in seconds (the header's).
        timestamp: f64,
        /// Its header flags (0x20 marks a resend).
        flags: SegmentFlags,
        /// Data bytes.
        bytes: u64,
    },
    /// A playback command was acknowledged (handled after every segment stream opened
    /// before the acknowledgement's stream was judged).
    PlaybackAcknowledged(PlaybackAck),
    /// A request was refused (by the client).
    RequestRefused {
        /// The request's sequence number.
        request_seq: u64,
        /// The client's code.
        code: StatusCode,
    },
    /// A broken transfer was asked for again, from the first index it lacks (D64).
    TransferResumed {
        /// The request's sequence number.
        request_seq: u64,
        /// Segments already held, which the client is told not to send.
        held: u64,
    },
    /// A transfer's output is final.
    TransferFinished {
        /// Transfer.
        transfer: TransferId,
        /// How it ended.
        outcome: TransferOutcome,
    },
}

/// Sends `event` to `observer`, if any.
pub(super) fn observe(observer: Option<&Observer>, session: Uuid, at: Instant, event: Observed) {
    if let Some(o) = observer {
        let _ = o.send(Observation { at, session, event });
    }
}
