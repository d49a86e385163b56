//! Errors of the media layer, each mapped to the protocol status code a client reports.

/// Why a file could not be read, probed or segmented.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// Reading the file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not valid H.264 Annex-B where it must be.
    #[error("invalid H.264 stream: {0}")]
    InvalidH264(String),
    /// The file is not a valid MP4 where it must be.
    #[error("invalid MP4 file: {0}")]
    InvalidMp4(String),
    /// One MP4 box is malformed: truncated, lying about its size or counts, or missing a
    /// required child.
    #[error("malformed MP4 box {kind}: {reason}")]
    MalformedBox {
        /// The four-character type of the box at fault (or of its parent).
        kind: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file has no time axis (a seek or time mode is impossible).
    #[error("file has no time axis")]
    NoTimeAxis,
}

impl MediaError {
    /// The protocol status code this error maps to (400, 404, 500, 1001...).
    pub fn status_code(&self) -> u16 {
        match self {
            MediaError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => 404,
            MediaError::Io(_) => 500,
            MediaError::InvalidH264(_) | MediaError::InvalidMp4(_) => 1001,
            MediaError::MalformedBox { .. } => 1001,
            MediaError::NoTimeAxis => 400,
        }
    }
}
