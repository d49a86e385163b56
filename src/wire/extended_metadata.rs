//! The optional extended metadata of a video segment (JSON, profile section 7).
//!
//! The segment codec keeps metadata as raw JSON bytes (any JSON object is accepted); this
//! typed view carries the fields of the specification's example for senders that fill it
//! and receivers that read it.

use serde::{Deserialize, Serialize};

use super::error::VIDEO_SEGMENT;
use super::segment::corrupted;
use super::WireError;

/// The specification's example extended metadata (all fields optional; others kept).
///
/// ```text
/// {"codec":"h264","profile":"High","level":"4.1","resolution":"1920x1080",
///  "frame_rate":30.0,"bit_rate":5000000,"encoding_params":{...},
///  "quality_preserved":true,"segment_mode":"frame_level"}
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExtendedMetadata {
    /// `h264`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// Profile name, e.g. `High`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Level, e.g. `4.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// `WIDTHxHEIGHT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Frames per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
    /// Bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bit_rate: Option<u64>,
    /// Codec parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether the source quality is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_preserved: Option<bool>,
    /// E.g. `frame_level`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_mode: Option<String>,
    /// Any other field.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl ExtendedMetadata {
    /// The metadata as compact JSON bytes (for [`VideoHeader::metadata`](super::VideoHeader::metadata)).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads metadata bytes; 1005 if they are not such JSON.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        serde_json::from_slice(bytes).map_err(|e| corrupted(VIDEO_SEGMENT, e.to_string()))
    }
}
