//! The wire layer: everything that crosses the network as bytes, and nothing else.
//!
//! Pure and synchronous: no tokio, no quinn, no clock, no randomness. Every decoder takes
//! untrusted bytes and returns a typed value or a [`WireError`] carrying the protocol status
//! code it maps to; none of them panics. Encoders write into a [`bytes::BufMut`] and cannot
//! fail: constructors refuse values the wire cannot carry.
//!
//! # Layout
//! - [`MessageType`], [`Message`]: the 14 message types and their typed payloads.
//! - [`JsonEnvelope`] (unidirectional streams) and [`BinaryEnvelope`] (bidirectional
//!   streams), profile section 2.
//! - Payloads: [`ProtocolVersion`], [`StatusResponse`]/[`StatusCode`], [`ErrorReport`],
//!   [`FileRequest`], [`PlaybackControl`], the standalone requests, file lists.
//! - Acknowledgements carried in StatusResponse messages: [`Ack`], [`FileRequestAck`],
//!   [`PlaybackAck`].
//! - Segments: [`SegmentHeader`], [`Segment`], [`SegmentId`], [`TransferId`],
//!   [`classify_stream`], [`UniStream`].
//!
//! `docs/protocol.md` lists the decisions taken here beyond the specification and profile,
//! each with its conformance case.

mod acks;
mod binary_envelope;
mod envelope_convert;
mod error;
mod error_report;
mod extended_metadata;
mod file_list;
mod file_request;
mod json_envelope;
mod json_fields;
mod message;
mod message_type;
mod playback;
mod requests;
mod segment;
mod segment_copy;
mod segment_flags;
mod segment_id;
mod session_start;
mod status;
mod stream;
mod timestamp;
mod version;

pub use acks::{
    Ack, ChecksumNotice, DemuxedAudio, DemuxedSource, FileRequestAck, PlaybackAck, PlaybackState,
};
pub use binary_envelope::BinaryEnvelope;
pub use error::WireError;
pub use error_report::{
    ErrorReport, RetransmissionReason, RetransmissionRequest, SegmentRetransmissionRequest,
};
pub use extended_metadata::ExtendedMetadata;
pub use file_list::{
    AspectRatio, CodecInfo, FileEntry, FileListQuery, FileListResponse, Resolution,
};
pub use file_request::{
    FileRequest, Pacing, QualityPreference, ResumePoint, SegmentMode, MAX_HELD_RANGES,
};
pub use json_envelope::{base64_decode, base64_encode, JsonEnvelope};
pub use message::Message;
pub use message_type::MessageType;
pub use playback::{
    AdjustQuality, BufferControl, Pause, PlaybackCommand, PlaybackControl, Resume, Seek, SetRate,
    Stop,
};
pub use requests::{
    AudioHandling, PauseRequest, RateChange, ResumeRequest, SeekDirection, SeekRequest, SeekType,
    StatsRequest,
};
pub use segment::{AudioHeader, Segment, SegmentHeader, VideoHeader, DEFAULT_MAX_STREAM_LEN};
pub use segment_copy::{CopyFragment, COPY_MAGIC, COPY_PREFIX, MAX_COPY_FRAGMENTS, MAX_COPY_LEN};
pub use segment_flags::SegmentFlags;
pub use segment_id::{ParseTransferIdError, SegmentId, TransferId};
pub use session_start::{is_valid_device_id, SessionStart, MAX_DEVICE_ID_LEN, MAX_TOKEN_LEN};
pub use status::{StatusCode, StatusResponse};
pub use stream::{classify_stream, StreamKind, UniStream};
pub use timestamp::Timestamp;
pub use version::ProtocolVersion;
