//! The media layer: how the client cuts a file into segments, and what it knows of it.
//!
//! Pure and synchronous (no tokio, no quinn). Everything reads from disk through
//! `Read + Seek` in bounded memory: a file is scanned once into a compact
//! `SegmentPlan` ([`plan`]) (offsets, sizes, flags, timestamps), then each
//! segment's bytes are read at its offset when it is sent. The segments of a plan
//! partition the file exactly, in order, so a receiver that writes them back to back
//! reproduces the source byte for byte.

mod error;
pub mod fmp4;
pub mod h264;
pub mod mp4;
pub mod plan;
pub mod probe;
pub mod sniff;

/// How a FileRequest asks the client to cut a file: the wire's own type, shared here.
pub use crate::wire::SegmentMode;
pub use error::MediaError;

use serde::Serialize;
use std::fmt;
use std::path::Path;

/// What kind of file a path holds, which decides how it is segmented.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// A raw H.264 Annex-B elementary stream (start codes, NAL headers, an SPS; or a name
    /// ending `.h264`, `.264`, `.avc`, `.h26l` when the content says nothing): access-unit
    /// segments.
    H264,
    /// An ISO-BMFF file (`ftyp`/`moov` boxes; or `.mp4`, `.m4v`, `.mov` when the content
    /// says nothing): fixed-size chunks (256 KiB).
    Mp4,
    /// Anything else: fixed-size chunks (512 KiB). Holds the lowercase extension, or "" if none.
    Other(String),
}

impl FileFormat {
    /// The format of the file at `path` from its content, the extension as a fallback
    /// (see [`sniff`]). Reads at most [`sniff::SNIFF_LEN`] bytes and a few box headers.
    pub fn detect(path: &Path) -> std::io::Result<FileFormat> {
        sniff::detect_format(path)
    }

    /// The format the file name's extension suggests (a hint: see [`FileFormat::detect`]).
    pub fn from_path(path: &Path) -> FileFormat {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "h264" | "264" | "avc" | "h26l" => FileFormat::H264,
            "mp4" | "m4v" | "mov" => FileFormat::Mp4,
            _ => FileFormat::Other(ext),
        }
    }

    /// The format name used in FileListResponse `format` and in filters.
    pub fn name(&self) -> &str {
        match self {
            FileFormat::H264 => "h264",
            FileFormat::Mp4 => "mp4",
            FileFormat::Other(ext) if ext.is_empty() => "binary",
            FileFormat::Other(ext) => ext,
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the client knows of a file's media, for FileListResponse and segment metadata.
///
/// Every field is optional: a non-media file has only its format.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct MediaInfo {
    /// Duration in seconds.
    pub duration: Option<f64>,
    /// Display width in pixels (after cropping).
    pub width: Option<u32>,
    /// Display height in pixels (after cropping).
    pub height: Option<u32>,
    /// Frames per second.
    pub frame_rate: Option<f64>,
    /// Video codec name, e.g. `H.264`.
    pub video_codec: Option<String>,
    /// Audio codec name, e.g. `AAC`.
    pub audio_codec: Option<String>,
    /// Overall bit rate in bits per second.
    pub bit_rate: Option<u64>,
    /// Audio sample rate in Hz.
    pub audio_sample_rate: Option<u32>,
    /// Audio channel count.
    pub audio_channels: Option<u16>,
    /// H.264 profile name, e.g. `High`.
    pub profile: Option<String>,
    /// H.264 level, e.g. `4.1`.
    pub level: Option<String>,
}
