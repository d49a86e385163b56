//! What an H.264 stream is: dimensions, profile, level, frame rate, frames and keyframes.

use super::splitter::{AccessUnitSplitter, ScanStats};
use super::AccessUnit;
use crate::media::{MediaError, MediaInfo};
use h264_reader::nal::sps::SeqParameterSet;
use std::io::Read;

/// Frame rate assumed when the SPS carries no VUI timing (what common tools assume).
pub const DEFAULT_FRAME_RATE: f64 = 25.0;

/// Read buffer used when scanning a stream from a reader.
pub(crate) const SCAN_BUFFER_LEN: usize = 256 * 1024;

/// What a sequence parameter set says about the pictures of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// Display width in pixels (after cropping).
    pub width: u32,
    /// Display height in pixels (after cropping).
    pub height: u32,
    /// `profile_idc`.
    pub profile_idc: u8,
    /// Profile name as ffprobe prints it, e.g. `Constrained Baseline`, `Main`, `High`.
    pub profile: String,
    /// `constraint_set0_flag` .. `constraint_set5_flag` as bits 7..2 of a byte.
    pub constraint_flags: u8,
    /// `level_idc`, e.g. 41.
    pub level_idc: u8,
    /// Level name, e.g. `4.1`, or `1b`.
    pub level: String,
    /// Frames per second from VUI timing: `time_scale / (2 * num_units_in_tick)`.
    pub vui_frame_rate: Option<f64>,
    /// `chroma_format_idc`: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
    /// Luma bit depth.
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
}

impl StreamInfo {
    /// Reads the fields of a parsed SPS; `None` when its dimensions are inconsistent.
    pub fn from_sps(sps: &SeqParameterSet) -> Option<StreamInfo> {
        let (width, height) = sps.pixel_dimensions().ok()?;
        let cf = sps.constraint_flags;
        let constraint_flags = [cf.flag0(), cf.flag1(), cf.flag2(), cf.flag3(), cf.flag4()]
            .iter()
            .chain(&[cf.flag5()])
            .enumerate()
            .fold(0u8, |acc, (i, &f)| acc | (u8::from(f) << (7 - i)));
        let profile_idc = sps.profile_idc.into();
        let vui_frame_rate = sps.fps().filter(|f| f.is_finite() && *f > 0.0);
        Some(StreamInfo {
            width,
            height,
            profile_idc,
            profile: profile_name(profile_idc, constraint_flags),
            constraint_flags,
            level_idc: sps.level_idc,
            level: level_name(profile_idc, constraint_flags, sps.level_idc),
            vui_frame_rate,
            chroma_format_idc: sps.chroma_info.chroma_format.to_u32() as u8,
            bit_depth_luma: sps.chroma_info.bit_depth_luma_minus8 + 8,
            bit_depth_chroma: sps.chroma_info.bit_depth_chroma_minus8 + 8,
        })
    }

    /// Frames per second: the VUI's, else [`DEFAULT_FRAME_RATE`].
    pub fn frame_rate(&self) -> f64 {
        self.vui_frame_rate.unwrap_or(DEFAULT_FRAME_RATE)
    }
}

/// Profile names as FFmpeg prints them (only intra and constrained-baseline flags matter).
fn profile_name(profile_idc: u8, constraint_flags: u8) -> String {
    let set1 = constraint_flags & 0x40 != 0;
    let set3 = constraint_flags & 0x10 != 0;
    let name = match profile_idc {
        66 if set1 => "Constrained Baseline",
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 if set3 => "High 10 Intra",
        110 => "High 10",
        122 if set3 => "High 4:2:2 Intra",
        122 => "High 4:2:2",
        244 if set3 => "High 4:4:4 Intra",
        244 => "High 4:4:4 Predictive",
        44 => "CAVLC 4:4:4",
        83 => "Scalable Baseline",
        86 => "Scalable High",
        118 => "Multiview High",
        128 => "Stereo High",
        other => return format!("Unknown ({other})"),
    };
    name.to_string()
}

/// `4.1` for level_idc 41; `1b` for level_idc 9, or 11 with constraint_set3 in
/// Baseline/Main/Extended.
fn level_name(profile_idc: u8, constraint_flags: u8, level_idc: u8) -> String {
    let set3 = constraint_flags & 0x10 != 0;
    if level_idc == 9 || (level_idc == 11 && set3 && matches!(profile_idc, 66 | 77 | 88)) {
        return "1b".to_string();
    }
    format!("{}.{}", level_idc / 10, level_idc % 10)
}

/// What [`probe_h264`] found in a whole stream.
#[derive(Debug, Clone, PartialEq)]
pub struct H264Info {
    /// What the first valid SPS says.
    pub stream: StreamInfo,
    /// Frames per second used for timestamps: VUI timing, else 25.
    pub frame_rate: f64,
    /// Access units holding a picture (one per frame, or per field of interlaced video).
    pub frame_count: u64,
    /// Indices (decode order) of the access units holding an IDR picture.
    pub keyframe_indices: Vec<u64>,
    /// `frame_count / frame_rate`, in seconds.
    pub duration: f64,
    /// Stream length in bytes.
    pub byte_size: u64,
    /// Oddities counted while scanning.
    pub stats: ScanStats,
}

impl H264Info {
    /// Assembles the totals of a finished scan.
    pub(crate) fn from_scan(
        stream: StreamInfo,
        frame_count: u64,
        keyframe_indices: Vec<u64>,
        byte_size: u64,
        stats: ScanStats,
    ) -> Self {
        let frame_rate = stream.frame_rate();
        H264Info {
            stream,
            frame_rate,
            frame_count,
            keyframe_indices,
            duration: frame_count as f64 / frame_rate,
            byte_size,
            stats,
        }
    }

    /// Average bit rate: `byte_size * 8 / duration`, or `None` for an empty stream.
    pub fn bit_rate(&self) -> Option<u64> {
        (self.duration > 0.0).then(|| (self.byte_size as f64 * 8.0 / self.duration) as u64)
    }

    /// The protocol's view of the stream (FileListResponse, segment metadata).
    pub fn to_media_info(&self) -> MediaInfo {
        MediaInfo {
            duration: Some(self.duration),
            width: Some(self.stream.width),
            height: Some(self.stream.height),
            frame_rate: Some(self.frame_rate),
            video_codec: Some("H.264".to_string()),
            bit_rate: self.bit_rate(),
            profile: Some(self.stream.profile.clone()),
            level: Some(self.stream.level.clone()),
            ..MediaInfo::default()
        }
    }
}

/// Scans a whole Annex-B stream, calling `on_unit` for each access unit in order.
///
/// Returns the first valid SPS's info (if any), the stream length and the scan counts.
pub(crate) fn scan_h264(
    mut reader: impl Read,
    mut on_unit: impl FnMut(&AccessUnit, Option<&StreamInfo>),
) -> Result<(Option<StreamInfo>, u64, ScanStats), MediaError> {
    let mut splitter = AccessUnitSplitter::new();
    let mut buf = vec![0u8; SCAN_BUFFER_LEN];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        splitter.push(&buf[..n]);
        while let Some(unit) = splitter.poll_access_unit() {
            on_unit(&unit, splitter.stream_info());
        }
    }
    splitter.finish();
    while let Some(unit) = splitter.poll_access_unit() {
        on_unit(&unit, splitter.stream_info());
    }
    let info = splitter.stream_info().cloned();
    Ok((info, splitter.position(), splitter.stats()))
}

/// Reads a whole H.264 Annex-B stream and reports what it is.
///
/// # Errors
/// [`MediaError::Io`] when reading fails; [`MediaError::InvalidH264`] when the stream has
/// no valid SPS or no coded picture.
pub fn probe_h264(reader: impl Read) -> Result<H264Info, MediaError> {
    let mut frames = 0u64;
    let mut keyframes = Vec::new();
    let (stream, size, stats) = scan_h264(reader, |unit, _| {
        if unit.has_picture() {
            if unit.is_idr() {
                keyframes.push(frames);
            }
            frames += 1;
        }
    })?;
    let stream = stream.ok_or_else(|| {
        MediaError::InvalidH264("no valid sequence parameter set found".to_string())
    })?;
    if frames == 0 {
        return Err(MediaError::InvalidH264(
            "no coded picture found".to_string(),
        ));
    }
    Ok(H264Info::from_scan(stream, frames, keyframes, size, stats))
}
