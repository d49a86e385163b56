//! The JSON acknowledgements carried in a StatusResponse's message (profile sections 4-7).
//!
//! Every reply names the request it answers with `ack` (the request's sequence number).
//! These types are what the platform reads back and the client writes: the handshake
//! acknowledgement, the FileRequest acknowledgement and the playback acknowledgement.
//! Unknown fields are ignored when reading.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{SegmentMode, StatusCode, StatusResponse, TransferId, WireError};

fn from_status<T: serde::de::DeserializeOwned>(
    kind: &'static str,
    r: &StatusResponse,
) -> Result<T, WireError> {
    serde_json::from_str(&r.message).map_err(|e| WireError::Json {
        kind,
        reason: e.to_string(),
    })
}

/// `{"ack": n}` with, in the reply to SessionStart, the session id the platform assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Sequence number of the request answered.
    pub ack: u64,
    /// The session id (reply to SessionStart; profile section 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
}

impl Ack {
    /// StatusResponse 200 carrying this acknowledgement.
    pub fn to_status_response(&self) -> StatusResponse {
        StatusResponse::with_json(StatusCode::Success, self)
    }

    /// Reads the acknowledgement from a StatusResponse's message.
    pub fn from_status_response(r: &StatusResponse) -> Result<Self, WireError> {
        from_status("Ack", r)
    }
}

/// The client's acceptance of a FileRequest (profile section 5).
///
/// # Format
/// ```text
/// {"ack":4,"transfer_id":"0123456789ab","file_path":"test_videos/video1.mp4",
///  "file_size":1048576,"checksum":"sha256:<hex>","segment_mode":"fixed",
///  "segment_size":262144,"total_segments":4,"start_segment":0}
/// ```
/// `segment_size` is `null` for frame and GOP segments. `checksum` is `null` when the client
/// serves the file before it has hashed it; a [`ChecksumNotice`] then follows (D101).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRequestAck {
    /// Sequence number of the FileRequest.
    pub ack: u64,
    /// The new transfer's id.
    pub transfer_id: TransferId,
    /// The path as requested.
    pub file_path: String,
    /// The file's size in bytes.
    pub file_size: u64,
    /// `sha256:<64 lowercase hex digits>` of the whole file; `null` when not known yet, and
    /// then sent in a [`ChecksumNotice`] (D101).
    pub checksum: Option<String>,
    /// The mode used (`fixed` for MP4 and other files).
    pub segment_mode: SegmentMode,
    /// Bytes per segment in fixed modes, else null.
    pub segment_size: Option<u64>,
    /// Segments in the whole file.
    pub total_segments: u32,
    /// First segment that will be sent (after seek or resume).
    pub start_segment: u32,
}

impl FileRequestAck {
    /// StatusResponse 200 carrying this acknowledgement.
    pub fn to_status_response(&self) -> StatusResponse {
        StatusResponse::with_json(StatusCode::Success, self)
    }

    /// Reads the acknowledgement from a StatusResponse's message.
    pub fn from_status_response(r: &StatusResponse) -> Result<Self, WireError> {
        from_status("FileRequestAck", r)
    }
}

/// The checksum of a transfer acknowledged with `"checksum": null`, sent when the client has
/// hashed the file (D101): a StatusResponse 200 without `ack` (it answers no request).
///
/// # Format
/// ```text
/// {"transfer_id":"0123456789ab","checksum":"sha256:<hex>"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksumNotice {
    /// The transfer whose file was hashed.
    pub transfer_id: TransferId,
    /// `sha256:<64 lowercase hex digits>` of the whole file.
    pub checksum: String,
}

impl ChecksumNotice {
    /// StatusResponse 200 carrying this notice.
    pub fn to_status_response(&self) -> StatusResponse {
        StatusResponse::with_json(StatusCode::Success, self)
    }

    /// Reads the notice from a StatusResponse's message.
    pub fn from_status_response(r: &StatusResponse) -> Result<Self, WireError> {
        from_status("ChecksumNotice", r)
    }
}

/// The state of a transfer after a playback command (profile section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaybackState {
    /// Segments are going out.
    Streaming,
    /// No new segment stream is opened.
    Paused,
    /// The transfer was stopped.
    Stopped,
    /// Every segment was sent.
    Completed,
}

/// Acknowledgement of a playback command (PlaybackControl or a standalone request).
///
/// # Format
/// ```text
/// {"ack":5,"state":"paused","position":12.5,"rate":1.0,"transfer_id":"0123456789ab"}
/// {"ack":7,"state":"streaming","position":28.0,"rate":1.0,"transfer_id":"0123456789ab",
///  "start_segment":840}
/// {"ack":8,"state":"streaming","position":30.1,"rate":1.0,"transfer_id":"0123456789ab",
///  "bandwidth_cap":500000,"not_applied":["max_resolution"]}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybackAck {
    /// Sequence number of the command.
    pub ack: u64,
    /// State after the command.
    pub state: PlaybackState,
    /// Position in seconds.
    pub position: f64,
    /// Playback rate.
    pub rate: f64,
    /// Extension: the transfer the command applied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<TransferId>,
    /// Extension: after a Seek, SeekRequest or Resume with `from_position`, the segment
    /// sending restarts at; the receiver's expected range then runs from it to the last
    /// (profile section 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_segment: Option<u32>,
    /// Extension: the send-rate cap in force after the command, bits per second (the
    /// lower of the FileRequest's `max_bandwidth` and AdjustQuality's `target_bitrate`);
    /// absent when sending is not capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_cap: Option<u64>,
    /// Extension: how far realtime sending may run ahead of the playback clock, seconds
    /// of media (BufferControl); absent when 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_ahead: Option<f64>,
    /// Extension: fields of the command that were accepted but have no effect here (e.g.
    /// `max_resolution`: the client does not transcode); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_applied: Vec<String>,
    /// Extension: a seek acknowledged when its `max_seek_time` ran out, with this many
    /// segments sent before it still in flight (they may arrive after the ack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_segments: Option<u32>,
    /// Extension: the client's statistics of the transfer (the StatsRequest object of one
    /// transfer), in the acknowledgement of a Stop with `send_statistics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<serde_json::Value>,
}

impl PlaybackAck {
    /// An acknowledgement with no extension field set.
    pub fn new(ack: u64, state: PlaybackState, position: f64, rate: f64) -> Self {
        PlaybackAck {
            ack,
            state,
            position,
            rate,
            transfer_id: None,
            start_segment: None,
            bandwidth_cap: None,
            run_ahead: None,
            not_applied: Vec::new(),
            late_segments: None,
            statistics: None,
        }
    }

    /// StatusResponse 200 carrying this acknowledgement.
    pub fn to_status_response(&self) -> StatusResponse {
        StatusResponse::with_json(StatusCode::Success, self)
    }

    /// Reads the acknowledgement from a StatusResponse's message.
    pub fn from_status_response(r: &StatusResponse) -> Result<Self, WireError> {
        from_status("PlaybackAck", r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_request_ack_has_every_profile_field() {
        let a = FileRequestAck {
            ack: 4,
            transfer_id: TransferId::new(0x0123_4567_89ab).unwrap(),
            file_path: "v.h264".into(),
            file_size: 10,
            checksum: Some("sha256:00".into()),
            segment_mode: SegmentMode::Frame,
            segment_size: None,
            total_segments: 3,
            start_segment: 0,
        };
        let r = a.to_status_response();
        assert_eq!(
            r.message,
            r#"{"ack":4,"transfer_id":"0123456789ab","file_path":"v.h264","file_size":10,"checksum":"sha256:00","segment_mode":"frame","segment_size":null,"total_segments":3,"start_segment":0}"#
        );
        assert_eq!(FileRequestAck::from_status_response(&r).unwrap(), a);
        assert_eq!(r.ack(), Some(4));
    }

    #[test]
    fn a_checksum_not_known_yet_is_null_and_follows_in_a_notice() {
        let a = FileRequestAck {
            ack: 4,
            transfer_id: TransferId::new(0x0123_4567_89ab).unwrap(),
            file_path: "v.mp4".into(),
            file_size: 10,
            checksum: None,
            segment_mode: SegmentMode::Fixed,
            segment_size: Some(4),
            total_segments: 3,
            start_segment: 0,
        };
        let r = a.to_status_response();
        assert!(r.message.contains(r#""checksum":null"#), "{}", r.message);
        assert_eq!(FileRequestAck::from_status_response(&r).unwrap(), a);
        let n = ChecksumNotice {
            transfer_id: a.transfer_id,
            checksum: "sha256:00".into(),
        };
        let r = n.to_status_response();
        assert_eq!(
            r.message,
            r#"{"transfer_id":"0123456789ab","checksum":"sha256:00"}"#
        );
        assert_eq!(r.ack(), None);
        assert_eq!(ChecksumNotice::from_status_response(&r).unwrap(), n);
        for bad in [
            r#"{"transfer_id":"0123456789ab"}"#,
            r#"{"checksum":"sha256:00"}"#,
            r#"{"transfer_id":"0123456789ab","checksum":"sha256:00","ack":3}"#,
            r#"{"transfer_id":"xyz","checksum":"sha256:00"}"#,
        ] {
            let r = StatusResponse::new(StatusCode::Success, bad.to_string());
            assert!(ChecksumNotice::from_status_response(&r).is_err(), "{bad}");
        }
    }

    #[test]
    fn playback_ack_reads_state_names() {
        let r = StatusResponse::new(
            StatusCode::Success,
            r#"{"ack":5,"state":"paused","position":12.5,"rate":1.0,"extra":1}"#,
        );
        let a = PlaybackAck::from_status_response(&r).unwrap();
        assert_eq!(a.state, PlaybackState::Paused);
        let bad = StatusResponse::new(StatusCode::Success, r#"{"ack":5,"state":"gone"}"#);
        assert_eq!(
            PlaybackAck::from_status_response(&bad)
                .unwrap_err()
                .status_code(),
            400
        );
    }
}
