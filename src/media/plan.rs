//! The segment plan: how one file is cut into segments, computed once, before sending.
//!
//! [`SegmentPlan::build`] scans a file from a `Read + Seek` source in bounded memory and
//! returns the list of segments the sender iterates (and seeks in, for resume and seek):
//! each segment's byte range, media timestamp and duration, frame count and header flags.
//! The segments partition the file exactly and in order: their bytes, concatenated, are
//! the file. [`SegmentReader`] then reads one segment's bytes at a time.
//!
//! # Modes
//! | file | `frame` / `gop` / `time` | `fixed` | `auto` |
//! | --- | --- | --- | --- |
//! | H.264 | access-unit runs (below) | 256 KiB chunks | bandwidth > 10 Mbps or unknown: `frame`; else `gop` |
//! | MP4 | 256 KiB chunks | 256 KiB chunks | bandwidth > 50 Mbps: 512 KiB, > 10 Mbps: 256 KiB, else 128 KiB; unknown: 256 KiB |
//! | other | 512 KiB chunks | 512 KiB chunks | 512 KiB chunks |
//!
//! The specification cuts MP4 files into fixed chunks whatever the request says (its own
//! FileRequest example asks `frame` for `video1.mp4`), and any other file into 512 KiB
//! chunks. So access-unit modes on those files apply fixed chunks, and the acknowledgement
//! says so: its `segment_mode` is what was applied (`fixed`), never what was asked.
//! [`resolve_mode`] gives the decision without reading the file.
//!
//! H.264 access-unit modes (profile section 7):
//! - `frame`: one access unit per segment.
//! - `gop`: a segment starts at each IDR and closes before the next IDR, or before adding
//!   an access unit would take it past 64 KiB or 30 units; a unit larger than 64 KiB alone
//!   is a segment of its own.
//! - `time`: runs of `round(time_segment_secs * fps)` access units (at least one); a run
//!   also ends before an IDR once it holds at least half that many, so segments start at
//!   IDRs where the GOP structure allows without becoming much shorter than asked.
//!
//! A multi-unit segment carries SPS, PPS and IDR flags if any of its units does, and
//! KEYFRAME when its first unit is an IDR; its timestamp is its first unit's `i / fps`
//! (decode order), its duration `units / fps`, its `frame_count` the number of units, and
//! its frame type (for the sender log) the first unit's.
//!
//! Fixed-size segments (profile section 7): segment `i` holds bytes `[i * size, (i + 1) *
//! size)`; `frame_count` 0; timestamp and duration are the chunk's share of the media
//! duration (0 without a time axis); flags 0. Every plan sets END_OF_TRANSFER (0x10) on
//! its last segment, and an empty file is one empty segment.
//!
//! # Memory
//! H.264 access-unit plans keep 9 bytes per access unit (offset, flags and type) plus 4
//! per segment in `gop`/`time` mode; fixed plans are arithmetic and keep nothing per chunk.

mod reader;
mod units;

pub use reader::{read_segment, SegmentReader};
pub use units::{GOP_MAX_BYTES, GOP_MAX_FRAMES};

use crate::media::h264::info::scan_h264;
use crate::media::h264::{FrameType, H264Info, DEFAULT_FRAME_RATE};
use crate::media::{FileFormat, MediaError, SegmentMode};
use crate::wire::SegmentFlags;
use std::io::{Read, Seek, SeekFrom};
use units::UnitTable;

/// What the platform asked for and what the client knows, beyond the mode.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// Estimated bandwidth in bits per second, for `auto` (the specification's rule).
    pub bandwidth_bps: Option<u64>,
    /// Target media duration of a `time`-mode segment, in seconds (default 1.0).
    pub time_segment_secs: f64,
    /// An MP4 file's duration in seconds (from its `mvhd`/`mdhd`), for fixed-chunk timestamps.
    pub mp4_duration: Option<f64>,
    /// An MP4 file's sync samples as (decode time in seconds, byte offset), for seeking.
    pub mp4_sync_samples: Vec<(f64, u64)>,
    /// An MP4 file's video sample count and its sync samples' 0-based indices (what
    /// `vstream inspect` reports as frames and keyframe indices).
    pub mp4_video_samples: Option<(u64, Vec<u64>)>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            bandwidth_bps: None,
            time_segment_secs: 1.0,
            mp4_duration: None,
            mp4_sync_samples: Vec::new(),
            mp4_video_samples: None,
        }
    }
}

/// One segment of a plan: where its bytes lie and what its header says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannedSegment {
    /// Index in the transfer (the last 4 bytes of its segment id).
    pub index: u32,
    /// Offset of its first byte in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Media timestamp in seconds.
    pub timestamp: f64,
    /// Media duration in seconds.
    pub duration: f64,
    /// Access units in it (0 for fixed-size chunks).
    pub frame_count: u32,
    /// Header flags, END_OF_TRANSFER included on the last segment.
    pub flags: SegmentFlags,
    /// Type of its first access unit, for the sender log (`None` for fixed-size chunks).
    pub frame_type: Option<FrameType>,
}

/// Fixed chunk size of MP4 files and of H.264 files in `fixed` mode.
pub const MP4_SEGMENT_SIZE: u64 = 256 * 1024;
/// Fixed chunk size of other files.
pub const OTHER_SEGMENT_SIZE: u64 = 512 * 1024;

/// The mode a plan will apply, and its chunk size for fixed modes, without reading the file.
///
/// Never fails today; the `Result` leaves room for modes a format cannot take.
pub fn resolve_mode(
    format: &FileFormat,
    mode: SegmentMode,
    bandwidth_bps: Option<u64>,
) -> Result<(SegmentMode, Option<u64>), MediaError> {
    const MBPS: u64 = 1_000_000;
    Ok(match (format, mode) {
        (FileFormat::H264, SegmentMode::Auto) => match bandwidth_bps {
            Some(bw) if bw <= 10 * MBPS => (SegmentMode::Gop, None),
            _ => (SegmentMode::Frame, None),
        },
        (FileFormat::H264, SegmentMode::Fixed) => (SegmentMode::Fixed, Some(MP4_SEGMENT_SIZE)),
        (FileFormat::H264, m) => (m, None),
        (FileFormat::Mp4, SegmentMode::Auto) => {
            let size = match bandwidth_bps {
                None => MP4_SEGMENT_SIZE,
                Some(bw) if bw > 50 * MBPS => 512 * 1024,
                Some(bw) if bw > 10 * MBPS => 256 * 1024,
                Some(_) => 128 * 1024,
            };
            (SegmentMode::Fixed, Some(size))
        }
        (FileFormat::Mp4, _) => (SegmentMode::Fixed, Some(MP4_SEGMENT_SIZE)),
        (FileFormat::Other(_), _) => (SegmentMode::Fixed, Some(OTHER_SEGMENT_SIZE)),
    })
}

#[derive(Debug, Clone)]
enum Layout {
    /// An empty file: one empty segment.
    Empty,
    /// Fixed-size chunks.
    Fixed { size: u64, count: u32 },
    /// Access-unit runs; `starts` is each segment's first unit (`None`: one unit each).
    Units {
        table: UnitTable,
        starts: Option<Vec<u32>>,
    },
}

/// How a file is cut into segments: see the [module docs](self) for the rules.
#[derive(Debug, Clone)]
pub struct SegmentPlan {
    mode: SegmentMode,
    /// Chunk size when `mode` is fixed.
    segment_size: Option<u64>,
    file_size: u64,
    layout: Layout,
    /// Frames per second of an H.264 file (VUI, else 25).
    fps: f64,
    duration: Option<f64>,
    /// H.264 access units holding a picture, or an MP4's video samples.
    frame_count: Option<u64>,
    /// True when `frame_count` counts H.264 access units (timed at `fps`).
    counts_access_units: bool,
    keyframes: Vec<u64>,
    /// (time, byte offset) of the points a seek may restart at, sorted by time.
    sync_points: Vec<(f64, u64)>,
    h264: Option<H264Info>,
}

impl SegmentPlan {
    /// Scans `source` (from its start) and cuts it per `format`, `mode` and `opts`.
    ///
    /// H.264 files are read once, whatever the mode (fixed mode needs the duration and
    /// IDR positions too); MP4 and other files are not read at all, only measured.
    ///
    /// # Errors
    /// [`MediaError::InvalidH264`]
    /// for an access-unit mode on a non-empty H.264 file holding no coded picture;
    /// [`MediaError::Io`] when reading fails.
    pub fn build(
        mut source: impl Read + Seek,
        format: &FileFormat,
        mode: SegmentMode,
        opts: &PlanOptions,
    ) -> Result<SegmentPlan, MediaError> {
        let (applied, size) = resolve_mode(format, mode, opts.bandwidth_bps)?;
        let file_size = source.seek(SeekFrom::End(0))?;
        source.seek(SeekFrom::Start(0))?;
        let mut plan = SegmentPlan {
            mode: applied,
            segment_size: size,
            file_size,
            layout: Layout::Empty,
            fps: DEFAULT_FRAME_RATE,
            duration: None,
            frame_count: None,
            counts_access_units: false,
            keyframes: Vec::new(),
            sync_points: Vec::new(),
            h264: None,
        };
        if *format == FileFormat::H264 {
            let table = plan.scan_h264(source)?;
            if plan.file_size == 0 {
                return Ok(plan);
            }
            if applied != SegmentMode::Fixed {
                if !table.has_pictures() {
                    return Err(MediaError::InvalidH264(
                        "no coded picture found".to_string(),
                    ));
                }
                let starts = match applied {
                    SegmentMode::Gop => Some(table.group_gop()),
                    SegmentMode::Time => Some(table.group_time(time_target(opts, plan.fps))),
                    _ => None,
                };
                plan.layout = Layout::Units { table, starts };
                return Ok(plan);
            }
        } else if *format == FileFormat::Mp4 {
            plan.duration = opts.mp4_duration.filter(|d| d.is_finite() && *d > 0.0);
            if plan.duration.is_some() {
                plan.sync_points = opts.mp4_sync_samples.clone();
                plan.sync_points.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            if let Some((frames, keys)) = &opts.mp4_video_samples {
                plan.frame_count = Some(*frames);
                plan.keyframes = keys.clone();
            }
        }
        if plan.file_size > 0 {
            let size = size.unwrap_or(OTHER_SEGMENT_SIZE);
            let count = u32::try_from(plan.file_size.div_ceil(size))
                .map_err(|_| MediaError::InvalidH264("file too large to plan".to_string()))?;
            plan.layout = Layout::Fixed { size, count };
        }
        Ok(plan)
    }

    /// Reads the whole H.264 stream: access-unit table, IDRs, duration, stream info.
    fn scan_h264(&mut self, source: impl Read) -> Result<UnitTable, MediaError> {
        let mut table = UnitTable::default();
        let (stream, size, stats) = scan_h264(source, |unit, _| table.push(unit))?;
        table.close(size);
        self.file_size = size;
        if let Some(stream) = &stream {
            self.fps = stream.frame_rate();
        }
        if !table.has_pictures() {
            return Ok(table);
        }
        let frames = table.len() as u64;
        if u32::try_from(frames).is_err() {
            return Err(MediaError::InvalidH264("too many access units".to_string()));
        }
        self.frame_count = Some(frames);
        self.counts_access_units = true;
        self.duration = Some(frames as f64 / self.fps);
        self.keyframes = table.keyframes.clone();
        self.sync_points = (self.keyframes.iter())
            .map(|&k| (k as f64 / self.fps, table.offset(k as usize)))
            .collect();
        self.h264 = stream
            .map(|s| H264Info::from_scan(s, frames, self.keyframes.clone(), self.file_size, stats));
        Ok(table)
    }

    /// Number of segments (at least 1).
    pub fn len(&self) -> u32 {
        match &self.layout {
            Layout::Empty => 1,
            Layout::Fixed { count, .. } => *count,
            Layout::Units {
                starts: Some(s), ..
            } => s.len() as u32,
            Layout::Units { table, .. } => table.len() as u32,
        }
    }

    /// Always false: a plan has at least one segment (an empty file has one empty segment).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Segment `index`, or `None` past the end.
    pub fn get(&self, index: u32) -> Option<PlannedSegment> {
        if index >= self.len() {
            return None;
        }
        let mut seg = match &self.layout {
            Layout::Empty => PlannedSegment {
                index,
                offset: 0,
                len: 0,
                timestamp: 0.0,
                duration: 0.0,
                frame_count: 0,
                flags: SegmentFlags::empty(),
                frame_type: None,
            },
            Layout::Fixed { size, .. } => self.fixed_segment(index, *size),
            Layout::Units { table, starts } => {
                let i = index as usize;
                let (first, end) = match starts {
                    None => (i, i + 1),
                    Some(s) => (
                        s[i] as usize,
                        s.get(i + 1).map_or(table.len(), |&e| e as usize),
                    ),
                };
                let offset = table.offset(first);
                PlannedSegment {
                    index,
                    offset,
                    len: table.offset(end) - offset,
                    timestamp: first as f64 / self.fps,
                    duration: (end - first) as f64 / self.fps,
                    frame_count: (end - first) as u32,
                    flags: table.run_flags(first, end),
                    frame_type: table.frame_type(first),
                }
            }
        };
        if index + 1 == self.len() {
            seg.flags |= SegmentFlags::END_OF_TRANSFER;
        }
        Some(seg)
    }

    fn fixed_segment(&self, index: u32, size: u64) -> PlannedSegment {
        let offset = u64::from(index) * size;
        let len = size.min(self.file_size - offset);
        let share = |bytes: u64| match self.duration {
            Some(d) => bytes as f64 / self.file_size as f64 * d,
            None => 0.0,
        };
        PlannedSegment {
            index,
            offset,
            len,
            timestamp: share(offset),
            duration: share(len),
            frame_count: 0,
            flags: SegmentFlags::empty(),
            frame_type: None,
        }
    }

    /// The segments in order.
    pub fn iter(&self) -> impl Iterator<Item = PlannedSegment> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The mode applied: `frame`, `gop`, `time` or `fixed` (never `auto`).
    pub fn applied_mode(&self) -> SegmentMode {
        self.mode
    }

    /// Chunk size in bytes for fixed-size plans; `None` for access-unit plans.
    pub fn segment_size(&self) -> Option<u64> {
        self.segment_size
    }

    /// File length in bytes (as read, for H.264 files).
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Media duration in seconds, when the file has a time axis.
    pub fn duration(&self) -> Option<f64> {
        self.duration
    }

    /// Access units of an H.264 file, video samples of an MP4 whose `moov` was read
    /// (`None` for other files).
    pub fn frame_count(&self) -> Option<u64> {
        self.frame_count
    }

    /// Frames per second of an H.264 file (VUI timing, else 25); `None` for other files.
    pub fn frame_rate(&self) -> Option<f64> {
        self.counts_access_units.then_some(self.fps)
    }

    /// Access-unit indices of the IDR pictures of an H.264 file, 0-based sync sample
    /// indices of an MP4's video track (empty for other files).
    pub fn keyframe_indices(&self) -> &[u64] {
        &self.keyframes
    }

    /// What the H.264 scan found (`None` for other files, or without a valid SPS).
    pub fn h264_info(&self) -> Option<&H264Info> {
        self.h264.as_ref()
    }

    /// The segment to restart from for a seek to `t` seconds: the one holding the latest
    /// keyframe at or before `t` (H.264: the IDR access unit; fixed chunks: the chunk
    /// holding that sync point's byte offset, or the chunk at `t`'s share of the file when
    /// no sync points are known). A stream not starting with an IDR restarts at segment 0.
    /// Same as [`restart_segment`](Self::restart_segment) with [`SeekBias::AtOrBefore`].
    ///
    /// `None` when the file has no time axis, or `t` is negative, not finite or past the
    /// end (`t > duration`).
    pub fn segment_for_time(&self, t: f64) -> Option<u32> {
        self.restart_segment(t, SeekBias::AtOrBefore)
    }

    /// The segment a seek to `t` seconds restarts at, choosing among the restart points by
    /// `bias`. Restart points are the segments that *start* with an IDR access unit (every
    /// IDR in frame and GOP modes; in time mode an IDR inside a segment is not one, so
    /// that what is sent after a seek always begins with a decodable picture), segment 0,
    /// and in fixed mode the chunks holding a sync point (or, with none known, only the
    /// chunk at `t`'s share of the file).
    ///
    /// `AtOrAfter` with no restart point at or after `t` gives [`len`](Self::len): the
    /// end, nothing left to send. `None` when the file has no time axis, or `t` is
    /// negative, not finite or past the end.
    pub fn restart_segment(&self, t: f64, bias: SeekBias) -> Option<u32> {
        let duration = self.duration?;
        if !t.is_finite() || t < 0.0 || t > duration {
            return None;
        }
        let points = match &self.layout {
            Layout::Empty => return Some(0),
            Layout::Fixed { size, count } if self.sync_points.is_empty() => {
                let offset = (t / duration * self.file_size as f64) as u64;
                return Some(((offset / size) as u32).min(count - 1));
            }
            _ => self.restart_points(),
        };
        const EPS: f64 = 1e-9;
        let n = points.partition_point(|p| p.0 <= t + EPS);
        let before = n.checked_sub(1).map_or((0.0, 0), |i| points[i]);
        let after = points[n.saturating_sub(1)..]
            .iter()
            .find(|p| p.0 >= t - EPS)
            .copied();
        Some(match (bias, after) {
            (SeekBias::AtOrBefore, _) => before.1,
            (SeekBias::AtOrAfter, Some(a)) => a.1,
            (SeekBias::AtOrAfter, None) => self.len(),
            (SeekBias::Nearest, Some(a)) if a.0 - t < t - before.0 => a.1,
            (SeekBias::Nearest, _) => before.1,
        })
    }

    /// (time, segment) of every restart point, sorted by time (see `restart_segment`).
    fn restart_points(&self) -> Vec<(f64, u32)> {
        let mut points = Vec::new();
        match &self.layout {
            Layout::Empty => points.push((0.0, 0)),
            Layout::Fixed { size, count } => {
                points.extend(
                    (self.sync_points.iter())
                        .map(|&(time, offset)| (time, ((offset / size) as u32).min(count - 1))),
                );
            }
            Layout::Units { starts, .. } => {
                for &k in &self.keyframes {
                    let segment = match starts {
                        None => u32::try_from(k).ok(),
                        Some(s) => u32::try_from(k)
                            .ok()
                            .and_then(|k| s.binary_search(&k).ok())
                            .and_then(|i| u32::try_from(i).ok()),
                    };
                    if let Some(segment) = segment {
                        points.push((k as f64 / self.fps, segment));
                    }
                }
            }
        }
        if points.first().is_none_or(|p| p.1 != 0) {
            points.insert(0, (0.0, 0));
        }
        points
    }
}

/// Which restart point a seek picks (see [`SegmentPlan::restart_segment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekBias {
    /// The latest restart point at or before the target (a keyframe seek backward, an
    /// exact seek, the default of PlaybackControl's Seek).
    AtOrBefore,
    /// The earliest restart point at or after the target; none: the end.
    AtOrAfter,
    /// The nearer of the two in time; a tie, or none after, picks the one before.
    Nearest,
}

/// Access units per `time` segment: `round(secs * fps)`, at least 1.
fn time_target(opts: &PlanOptions, fps: f64) -> u32 {
    let n = (opts.time_segment_secs * fps).round();
    if n.is_finite() && n >= 1.0 {
        n.min(f64::from(u32::MAX)) as u32
    } else {
        1
    }
}
