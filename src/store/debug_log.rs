//! The per-segment `.debug` file, in the specification's format.
//!
//! # Format
//! ```text
//! SEGMENT|VIDEO|2.567000|2048|0.15ms|109.2Mbps|2026-11-24T21:30:00.123456Z
//! DETAIL|index=64|id=0123456789ab8000-8000-000000000040|frames=1|flags=KEY|SPS|PPS|IDR
//! ---SEGMENT_END---
//! ```
//! The first line is the specification's (`SEGMENT|type|timestamp|bytes|receive time|
//! throughput|arrival time`), with the arrival time in RFC 3339 UTC instead of Rust's
//! `SystemTime` debug rendering. The `DETAIL` line is ours: index, segment id, frame
//! count and flags, which is what one debugs a transfer with. Readers that expect only
//! the specification's line skip lines that do not start with `SEGMENT|`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Kind of segment, as the debug line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// A video segment (type byte 0x01).
    Video,
    /// An audio segment (type byte 0x02).
    Audio,
}

impl SegmentKind {
    /// `VIDEO` or `AUDIO`.
    pub fn label(self) -> &'static str {
        match self {
            SegmentKind::Video => "VIDEO",
            SegmentKind::Audio => "AUDIO",
        }
    }

    /// `video` or `audio`, as in the receiver's log line.
    pub fn lowercase(self) -> &'static str {
        match self {
            SegmentKind::Video => "video",
            SegmentKind::Audio => "audio",
        }
    }
}

/// One received segment, as logged.
#[derive(Debug, Clone)]
pub struct SegmentRecord<'a> {
    /// Video or audio.
    pub kind: SegmentKind,
    /// Index in the transfer.
    pub index: u32,
    /// Segment id, hyphenated.
    pub id: &'a str,
    /// Media timestamp in seconds.
    pub timestamp: f64,
    /// Data bytes.
    pub size: u64,
    /// Time from the stream's opening to its end.
    pub receive_time: Duration,
    /// Frames in the segment.
    pub frame_count: u32,
    /// Flags rendered (`KEY|SPS|PPS|IDR`, `-`).
    pub flags: &'a str,
    /// Wall-clock arrival time.
    pub arrived_at: SystemTime,
}

/// Throughput in Mbit/s of `bytes` moved in `time` (0 when the time is zero).
pub fn mbps(bytes: u64, time: Duration) -> f64 {
    let secs = time.as_secs_f64();
    if secs > 0.0 {
        bytes as f64 * 8.0 / secs / 1_000_000.0
    } else {
        0.0
    }
}

/// Appends segment records to a `.debug` file through a buffer.
pub struct DebugLog {
    out: BufWriter<File>,
}

impl DebugLog {
    /// Creates (truncating) the debug file.
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(DebugLog {
            out: BufWriter::with_capacity(64 * 1024, File::create(path)?),
        })
    }

    /// Opens the debug file to add records after those already there (a resumed
    /// transfer's, D64), creating it if needed.
    pub fn append(path: &Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(DebugLog {
            out: BufWriter::with_capacity(64 * 1024, file),
        })
    }

    /// Writes one segment's record.
    pub fn record(&mut self, r: &SegmentRecord<'_>) -> io::Result<()> {
        let arrived = time::OffsetDateTime::from(r.arrived_at);
        writeln!(
            self.out,
            "SEGMENT|{}|{:.6}|{}|{:.2}ms|{:.1}Mbps|{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            r.kind.label(),
            r.timestamp,
            r.size,
            r.receive_time.as_secs_f64() * 1000.0,
            mbps(r.size, r.receive_time),
            arrived.year(),
            u8::from(arrived.month()),
            arrived.day(),
            arrived.hour(),
            arrived.minute(),
            arrived.second(),
            arrived.microsecond(),
        )?;
        writeln!(
            self.out,
            "DETAIL|index={}|id={}|frames={}|flags={}",
            r.index, r.id, r.frame_count, r.flags
        )?;
        self.out.write_all(b"---SEGMENT_END---\n")
    }

    /// Flushes buffered records to disk.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_matches_the_specification_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.debug");
        let mut log = DebugLog::create(&path).unwrap();
        log.record(&SegmentRecord {
            kind: SegmentKind::Video,
            index: 3,
            id: "000000000001-8000-8000-000000000003",
            timestamp: 2.567,
            size: 2048,
            receive_time: Duration::from_micros(150),
            frame_count: 1,
            flags: "KEY|IDR",
            arrived_at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
        })
        .unwrap();
        log.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "SEGMENT|VIDEO|2.567000|2048|0.15ms|109.2Mbps|2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            lines[1],
            "DETAIL|index=3|id=000000000001-8000-8000-000000000003|frames=1|flags=KEY|IDR"
        );
        assert_eq!(lines[2], "---SEGMENT_END---");
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn throughput_of_zero_time_is_zero() {
        assert_eq!(mbps(1000, Duration::ZERO), 0.0);
        assert!((mbps(1_000_000, Duration::from_secs(1)) - 8.0).abs() < 1e-9);
    }
}
