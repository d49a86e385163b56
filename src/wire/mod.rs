//! The wire layer: everything that crosses the network as bytes, and nothing else.
//!
//! Pure and synchronous: no tokio, no quinn, no clock. Every decoder takes untrusted
//! bytes and returns a typed value or a [`WireError`]-style error carrying the protocol
//! status code it maps to; none of them panics.

mod file_list;
mod segment_flags;

pub use file_list::{
    AspectRatio, CodecInfo, FileEntry, FileListQuery, FileListResponse, Resolution,
};
pub use segment_flags::SegmentFlags;
