//! MP4 (ISO-BMFF) metadata: what a FileListResponse says about an MP4, and the seek table a
//! seek in fixed mode needs (profile section 6).
//!
//! The reader walks the top-level boxes from a `Read + Seek` source, seeking past `mdat`
//! (never reading it), loads only `moov` (bounded by [`Mp4ReadOptions::max_moov_size`]) and
//! decodes it with a small box parser of our own. The parser follows mp4-atom's habits: one
//! struct per box with the specification's field names, files nested like the box tree
//! (`moov/trak/stbl/...`), required and optional children declared by each container,
//! unknown boxes skipped, and every read bounds-checked. Nothing here panics on a hostile
//! file; it returns [`MediaError::MalformedBox`] or [`MediaError::InvalidMp4`] instead.
//!
//! We do not use the `mp4` crate (0.14), though it skips `mdat` and bounds most entry
//! counts: it requires `ftyp`, decodes every box of every track and fragment into its own
//! structures and error type, and in a quick experiment (av.mp4 with 4 random bytes flipped
//! inside `moov`, `Mp4Reader::read_header` only) it did not get through 1,000 cases in five
//! minutes, so some input makes it hang or run for minutes. We need a handful of fields, the
//! raw sample tables, the strictness policy of the design guide and typed errors; a small
//! parser we control and fuzz (tests/mp4_robustness.rs) is cheaper than auditing and
//! wrapping the crate.

mod atom;
mod file;
mod moov;
mod seek_table;
mod summary;

pub use atom::{FourCC, Strictness};

use crate::media::{MediaError, MediaInfo};
use std::io::{Read, Seek};

/// Options of [`read_mp4_info_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4ReadOptions {
    /// Trailing bytes and duplicate boxes: refused or ignored.
    pub strictness: Strictness,
    /// The largest `moov` box read into memory, in bytes (default 64 MiB; a 4 GB file's
    /// `moov` is a few MB).
    pub max_moov_size: u64,
}

impl Default for Mp4ReadOptions {
    fn default() -> Self {
        Mp4ReadOptions {
            strictness: Strictness::Lenient,
            max_moov_size: 64 * 1024 * 1024,
        }
    }
}

/// What an MP4 holds: its first video and audio tracks and the video seek table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mp4Info {
    /// Movie duration in seconds (`mvhd`, else the longest track).
    pub duration: f64,
    /// The first video track (handler `vide`).
    pub video: Option<VideoTrackInfo>,
    /// The first audio track (handler `soun`).
    pub audio: Option<AudioTrackInfo>,
    /// Overall bit rate in bit/s: file size x 8 / duration, rounded, as ffprobe computes it.
    pub bit_rate: Option<u64>,
    /// The video track's sync samples in increasing order (empty without a video track).
    pub sync_samples: Vec<SyncSample>,
    /// 0-based decode-order indices of the video track's sync samples (`stss`; every
    /// sample without one), as ffprobe flags its packets `K`.
    pub video_sync_indices: Vec<u32>,
}

/// The first video track of an MP4.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoTrackInfo {
    /// Coded width from the visual sample entry (the track header's if that is zero).
    pub width: u32,
    /// Coded height from the visual sample entry (the track header's if that is zero).
    pub height: u32,
    /// Codec name from the sample entry's format: `H.264`, `H.265`, `AV1`, ...
    pub codec: String,
    /// Average frame rate: sample count / sum of `stts` durations.
    pub frame_rate: Option<f64>,
    /// Number of video samples (frames).
    pub frame_count: u64,
    /// H.264 profile name from `avcC`, e.g. `Main`.
    pub profile: Option<String>,
    /// H.264 level from `avcC`, e.g. `3.0`.
    pub level: Option<String>,
}

/// The first audio track of an MP4.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioTrackInfo {
    /// Codec name: `AAC`, `MP3`, `Opus`, ...
    pub codec: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
}

/// One sync (key) sample of the video track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncSample {
    /// Presentation time in seconds: `stts` decode time + `ctts` offset + edit-list shift.
    pub time: f64,
    /// Absolute offset of the sample's first byte in the file.
    pub byte_offset: u64,
}

impl Mp4Info {
    /// The metadata a FileListResponse carries.
    pub fn to_media_info(&self) -> MediaInfo {
        let video = self.video.as_ref();
        let audio = self.audio.as_ref();
        MediaInfo {
            duration: Some(self.duration),
            width: video.map(|v| v.width),
            height: video.map(|v| v.height),
            frame_rate: video.and_then(|v| v.frame_rate),
            video_codec: video.map(|v| v.codec.clone()),
            audio_codec: audio.map(|a| a.codec.clone()),
            bit_rate: self.bit_rate,
            audio_sample_rate: audio.map(|a| a.sample_rate),
            audio_channels: audio.map(|a| a.channels),
            profile: video.and_then(|v| v.profile.clone()),
            level: video.and_then(|v| v.level.clone()),
        }
    }

    /// The last sync sample at or before `time` seconds (the first one if `time` precedes
    /// them all), where a seek restarts; `None` without a video track.
    pub fn sync_sample_at_or_before(&self, time: f64) -> Option<&SyncSample> {
        let after = self.sync_samples.partition_point(|s| s.time <= time);
        self.sync_samples.get(after.saturating_sub(1))
    }
}

/// Reads an MP4's metadata and video seek table with the default (lenient) options.
///
/// Memory: the `moov` box and its decoded sample tables; `mdat` is skipped by seeking.
pub fn read_mp4_info(source: &mut (impl Read + Seek)) -> Result<Mp4Info, MediaError> {
    read_mp4_info_with(source, &Mp4ReadOptions::default())
}

/// Reads an MP4's metadata and video seek table with explicit options.
pub fn read_mp4_info_with(
    source: &mut (impl Read + Seek),
    options: &Mp4ReadOptions,
) -> Result<Mp4Info, MediaError> {
    let located = file::read_moov(source, options)?;
    summary::summarize(&located.moov, located.file_size, options.strictness)
}
