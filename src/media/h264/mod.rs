//! H.264 Annex-B elementary streams: start codes, NAL units, access units, stream info.
//!
//! The client sends a raw `.h264` file one access unit (or a run of them) per segment, so it
//! must know where each access unit starts and ends, which hold IDR pictures and parameter
//! sets, and what the stream's frame rate is. This module finds that out in one pass over
//! the file, in bounded memory:
//!
//! - [`annexb`]: a push scanner that finds start codes (memchr-based) and hands out each NAL
//!   unit's position and the first few bytes needed to parse its header.
//! - [`AccessUnitSplitter`]: groups NAL units into access units (H.264 §7.4.1.2.3 and
//!   §7.4.1.2.4) and reports each as an [`AccessUnit`]: a byte range plus flags, never the
//!   bytes themselves.
//! - [`probe_h264`] and [`H264Info`]: dimensions, profile, level and frame rate from the
//!   SPS, frame count and keyframes from the access units.
//!
//! Parsing of SPS, PPS and NAL headers is delegated to the `h264-reader` crate.
//!
//! # Boundaries
//! The access units of a stream partition it exactly: bytes before the first start code
//! belong to the first access unit; a NAL unit begins at its start code, counting the
//! `zero_byte` of a 4-byte start code (`00 00 00 01`) with the unit it introduces (further
//! zeros before it are the previous unit's `trailing_zero_8bits`); an access unit extends to
//! the start of the next access unit's first NAL unit, and the last one to end of stream.

pub mod annexb;
mod assembler;
pub(crate) mod info;
pub(crate) mod slice;
mod splitter;
pub(crate) mod sps;

pub use info::{probe_h264, H264Info, StreamInfo, DEFAULT_FRAME_RATE};
pub use splitter::{AccessUnitSplitter, ScanStats};

use crate::wire::SegmentFlags;
use std::fmt;

/// True when `nal` (an SPS NAL unit, header byte first) parses, leniently on level limits.
pub(crate) fn sps_parses(nal: &[u8]) -> bool {
    sps::parse_sps(nal).is_ok()
}

/// What kind of picture an access unit holds, as the sender log prints it (`KEY`, `I`, `P`, `B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// An IDR picture: decoding can start here.
    Key,
    /// Intra-coded, but not IDR (e.g. an open-GOP I frame).
    I,
    /// Predicted: at least one P or SP slice, no B slice.
    P,
    /// Bi-predicted: at least one B slice.
    B,
}

impl FrameType {
    /// The name the sender log prints: `KEY`, `I`, `P` or `B`.
    pub fn name(self) -> &'static str {
        match self {
            FrameType::Key => "KEY",
            FrameType::I => "I",
            FrameType::P => "P",
            FrameType::B => "B",
        }
    }

    /// A compact code (1..=4) used in packed tables; 0 means "no picture".
    pub(crate) fn to_code(ft: Option<FrameType>) -> u8 {
        match ft {
            None => 0,
            Some(FrameType::Key) => 1,
            Some(FrameType::I) => 2,
            Some(FrameType::P) => 3,
            Some(FrameType::B) => 4,
        }
    }

    /// The inverse of [`FrameType::to_code`].
    pub(crate) fn from_code(code: u8) -> Option<FrameType> {
        match code {
            1 => Some(FrameType::Key),
            2 => Some(FrameType::I),
            3 => Some(FrameType::P),
            4 => Some(FrameType::B),
            _ => None,
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One access unit of an Annex-B stream: where it lies and what it holds (not its bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessUnit {
    /// Absolute offset of its first byte in the stream.
    pub offset: u64,
    /// Length in bytes, up to the next access unit (or end of stream).
    pub len: u64,
    /// `KEYFRAME | IDR` when it holds an IDR picture; `SPS`, `PPS` when it carries them.
    pub flags: SegmentFlags,
    /// The picture's type, or `None` when the unit holds no slice (e.g. trailing parameter sets).
    pub frame_type: Option<FrameType>,
    /// Number of NAL units in it.
    pub nal_count: u32,
}

impl AccessUnit {
    /// True when the unit holds an IDR picture.
    pub fn is_idr(&self) -> bool {
        self.flags.contains(SegmentFlags::IDR)
    }

    /// True when the unit holds a coded picture (at least one slice).
    pub fn has_picture(&self) -> bool {
        self.frame_type.is_some()
    }
}
