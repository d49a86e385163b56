//! Playable, crash-safe output: an H.264 Annex-B byte stream in, a fragmented MP4 out
//! (decisions D73-D75).
//!
//! [`H264Fmp4Muxer`] takes the stream's bytes in any chunking (a whole file, or segments as
//! they arrive), splits access units with the same [`AccessUnitSplitter`] the client plans
//! with, and writes:
//!
//! - the init segment (`ftyp`, `moov` with an `avc1`/`avcC` sample entry built from the
//!   first SPS and PPS) once the first IDR picture is known;
//! - one fragment (`moof` + `mdat`) per GOP, or per second of a longer GOP (cut before a
//!   picture that is presented after every picture of the fragment so far), each written
//!   with a single `write_all`.
//!
//! A file cut at any instant (a crash, `kill -9`, a stop) is therefore an init segment
//! followed by complete fragments and at most one partial one: FFmpeg plays it up to its
//! last complete fragment. Access units before the first IDR cannot be decoded and are
//! dropped (counted in [`Fmp4Stats::dropped_before_idr`]).
//!
//! # Timestamps
//! Timescale 90 kHz; every access unit lasts `90000 / fps` ticks (the SPS's VUI frame rate,
//! else 25, as the plan uses). Decode times follow decode order from the fragment's `tfdt`.
//! Presentation order comes from the picture order count (POC type 0: `pic_order_cnt_lsb`
//! with its MSB tracked across reference pictures, reset at IDR; types 1 and 2: decode
//! order): within a fragment, the k-th picture in POC order is presented at the k-th
//! frame slot, so `trun` (version 1) carries signed composition offsets and B-frames play
//! in order. [`H264Fmp4Muxer::seek_to`] restarts the timeline at a media time (a seek).
//!
//! # Why our own writer
//! The `mp4` crate (0.14, named in the design card) writes only progressive files: its
//! `Mp4Writer` writes `moov` when it is finalised, so a crash leaves an unplayable file, and
//! it has no fragment writer. `mp4-atom` encodes `moof`/`traf`/`trun`, but would be a new
//! dependency (and its tree) on a 2-core build machine for ~250 lines of box layout that
//! sit beside our own box reader (`media::mp4`), which the tests read the output back with.
//! `cargo xtask bench media` prints the muxer's throughput ("fMP4 muxing") beside the
//! splitter's.

mod boxes;
mod muxer;

pub use muxer::{Fmp4Options, Fmp4Stats, H264Fmp4Muxer};

#[cfg(doc)]
use crate::media::h264::AccessUnitSplitter;
