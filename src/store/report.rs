//! The `.report` summary of a received file: every figure of the specification's report
//! ("文件接收完成报告"), plus the SHA-256 verdict and the media ranges received.

use crate::store::debug_log::{mbps, SegmentKind};
use serde::Serialize;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Figures gathered while segments arrive. Times are arguments (no clock is read here),
/// so the same code runs under a simulated clock.
#[derive(Debug, Clone)]
pub struct ReceptionStats {
    requested_at: Instant,
    requested_wall: SystemTime,
    first_segment_at: Option<Instant>,
    first_stored_at: Option<Instant>,
    last_segment_at: Option<Instant>,
    bytes: u64,
    video_segments: u64,
    audio_segments: u64,
    peak_mbps: f64,
    total_receive_time: Duration,
}

impl ReceptionStats {
    /// Starts counting at the moment the file was requested.
    pub fn new(requested_at: Instant, requested_wall: SystemTime) -> Self {
        ReceptionStats {
            requested_at,
            requested_wall,
            first_segment_at: None,
            first_stored_at: None,
            last_segment_at: None,
            bytes: 0,
            video_segments: 0,
            audio_segments: 0,
            peak_mbps: 0.0,
            total_receive_time: Duration::ZERO,
        }
    }

    /// Counts one segment of `bytes` data bytes whose stream took `receive_time`,
    /// finished at `now`. Returns the segment's own throughput in Mbit/s.
    pub fn record(
        &mut self,
        kind: SegmentKind,
        bytes: u64,
        receive_time: Duration,
        now: Instant,
    ) -> f64 {
        let started = now.checked_sub(receive_time).unwrap_or(now);
        self.first_segment_at = Some(self.first_segment_at.map_or(started, |t| t.min(started)));
        self.first_stored_at = Some(self.first_stored_at.map_or(now, |t| t.min(now)));
        self.last_segment_at = Some(self.last_segment_at.map_or(now, |t| t.max(now)));
        self.bytes += bytes;
        match kind {
            SegmentKind::Video => self.video_segments += 1,
            SegmentKind::Audio => self.audio_segments += 1,
        }
        self.total_receive_time += receive_time;
        let rate = mbps(bytes, receive_time);
        self.peak_mbps = self.peak_mbps.max(rate);
        rate
    }

    /// Data bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Segments received so far.
    pub fn segments(&self) -> u64 {
        self.video_segments + self.audio_segments
    }

    /// The figures at `now`, for a report.
    pub fn figures(&self, now: Instant) -> ReceptionFigures {
        let total = now.saturating_duration_since(self.requested_at);
        let reception = match (self.first_segment_at, self.last_segment_at) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::ZERO,
        };
        let segments = self.segments();
        ReceptionFigures {
            started_at: rfc3339(self.requested_wall),
            total_secs: total.as_secs_f64(),
            first_segment_secs: self
                .first_stored_at
                .map(|t| t.saturating_duration_since(self.requested_at).as_secs_f64()),
            reception_secs: reception.as_secs_f64(),
            bytes: self.bytes,
            video_segments: self.video_segments,
            audio_segments: self.audio_segments,
            total_segments: segments,
            overall_mbps: mbps(self.bytes, reception),
            peak_mbps: self.peak_mbps,
            avg_segment_ms: if segments > 0 {
                self.total_receive_time.as_secs_f64() * 1000.0 / segments as f64
            } else {
                0.0
            },
            avg_segment_kb: if segments > 0 {
                self.bytes as f64 / 1024.0 / segments as f64
            } else {
                0.0
            },
            efficiency_pct: if total > Duration::ZERO {
                reception.as_secs_f64() / total.as_secs_f64() * 100.0
            } else {
                0.0
            },
        }
    }
}

/// The specification's reception figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReceptionFigures {
    /// When the file was requested (接收开始时间), RFC 3339 UTC.
    pub started_at: String,
    /// From request to now (总耗时), seconds.
    pub total_secs: f64,
    /// From the FileRequest to the first segment stored, seconds (`null`: none arrived).
    /// Issue 15's "first byte at once" figure (D100).
    pub first_segment_secs: Option<f64>,
    /// From the first segment's start to the last segment's end (实际接收耗时), seconds.
    pub reception_secs: f64,
    /// Data bytes received (总接收数据).
    pub bytes: u64,
    /// Video segments (视频分片数).
    pub video_segments: u64,
    /// Audio segments (音频分片数).
    pub audio_segments: u64,
    /// All segments (总分片数).
    pub total_segments: u64,
    /// bytes over reception time (总体接收速率), Mbit/s.
    pub overall_mbps: f64,
    /// Highest single-segment rate (峰值接收速率), Mbit/s.
    pub peak_mbps: f64,
    /// Mean stream time per segment (平均分片接收时间), ms.
    pub avg_segment_ms: f64,
    /// Mean segment size (平均分片大小), KiB.
    pub avg_segment_kb: f64,
    /// reception / total (接收效率), percent.
    pub efficiency_pct: f64,
}

/// The whole report of one transfer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReceptionReport {
    /// The source's path at the client (原始文件).
    pub file_path: String,
    /// Session id (会话ID).
    pub session_id: String,
    /// Transfer id (12 hex digits).
    pub transfer_id: String,
    /// How the transfer ended: `completed`, `stopped`, `connection_lost`...
    pub outcome: String,
    /// The figures.
    pub figures: ReceptionFigures,
    /// Frames received (H.264 modes), and how many were keyframes.
    pub frames: u64,
    /// Keyframes received.
    pub keyframes: u64,
    /// Segments in the whole file (the acknowledgement's `total_segments`).
    pub file_segments: u32,
    /// Segment index ranges received, inclusive, ascending (after a seek forward: the
    /// part before it and the part from the restart segment on).
    pub index_ranges: Vec<(u32, u32)>,
    /// Media time ranges received, seconds `[start, end)`, merged, ascending.
    pub media_ranges: Vec<(f64, f64)>,
    /// The client's statistics of the transfer, when its Stop acknowledgement carried
    /// them (`send_statistics`).
    pub client_statistics: Option<serde_json::Value>,
    /// The checksum the client announced.
    pub expected_checksum: Option<String>,
    /// The checksum of what was written (None if a gap remains).
    pub actual_checksum: Option<String>,
    /// True when both checksums are present and equal.
    pub sha256_ok: bool,
    /// The received file.
    pub output: PathBuf,
    /// The `.debug` file.
    pub debug_file: PathBuf,
    /// This report.
    pub report_file: PathBuf,
}

impl ReceptionReport {
    /// The report as text, one figure a line.
    pub fn render(&self) -> String {
        let f = &self.figures;
        let verdict = match (&self.expected_checksum, &self.actual_checksum) {
            (Some(_), Some(_)) if self.sha256_ok => "OK (matches the client's checksum)",
            _ if !self.is_whole() => "not verifiable (only part of the file was received)",
            (Some(_), Some(_)) => "MISMATCH",
            (_, None) => "not verifiable (the file did not arrive whole)",
            (None, Some(_)) => "not verifiable (no checksum announced)",
        };
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "-".to_string()
            } else {
                items.join(", ")
            }
        };
        let ranges = list(
            (self.media_ranges.iter())
                .map(|(a, b)| format!("{a:.3}-{b:.3}s"))
                .collect(),
        );
        let indices = list(
            (self.index_ranges.iter())
                .map(|(a, b)| format!("{a}-{b}"))
                .collect(),
        );
        let client = match &self.client_statistics {
            Some(v) => format!("Client statistics:      {v}\n"),
            None => String::new(),
        };
        format!(
            "=== File reception report ===\n\
             Source file:            {}\n\
             Session id:             {}\n\
             Transfer id:            {}\n\
             Outcome:                {}\n\
             Reception started:      {}\n\
             Total time:             {:.2} s\n\
             Actual reception time:  {:.2} s\n\
             First segment after:    {}\n\
             Bytes received:         {}\n\
             Video segments:         {}\n\
             Audio segments:         {}\n\
             Total segments:         {}\n\
             Frames (keyframes):     {} ({})\n\
             Segments received:      {}\n\
             Media ranges received:  {}\n\
             {}\
             \n\
             Output files:\n\
             - received file:        {}\n\
             - debug log:            {}\n\
             - this report:          {}\n\
             \n\
             Reception performance:\n\
             - overall rate:         {:.1} Mbps\n\
             - peak rate:            {:.1} Mbps\n\
             - mean segment time:    {:.2} ms\n\
             - mean segment size:    {:.1} KB\n\
             - reception efficiency: {:.1}%\n\
             \n\
             Integrity:\n\
             - expected:             {}\n\
             - received:             {}\n\
             - SHA-256 verdict:      {}\n\
             =============================\n",
            self.file_path,
            self.session_id,
            self.transfer_id,
            self.outcome,
            f.started_at,
            f.total_secs,
            f.reception_secs,
            f.first_segment_secs
                .map_or_else(|| "-".to_string(), |s| format!("{:.3} s", s)),
            f.bytes,
            f.video_segments,
            f.audio_segments,
            f.total_segments,
            self.frames,
            self.keyframes,
            indices,
            ranges,
            client,
            self.output.display(),
            self.debug_file.display(),
            self.report_file.display(),
            f.overall_mbps,
            f.peak_mbps,
            f.avg_segment_ms,
            f.avg_segment_kb,
            f.efficiency_pct,
            self.expected_checksum.as_deref().unwrap_or("-"),
            self.actual_checksum.as_deref().unwrap_or("-"),
            verdict,
        )
    }

    /// True when the segments received cover the whole file.
    pub fn is_whole(&self) -> bool {
        self.file_segments > 0 && self.index_ranges == [(0, self.file_segments - 1)]
    }

    /// The receiver's completion log lines, in the specification's format.
    pub fn log_lines(&self) -> [String; 5] {
        let f = &self.figures;
        let name = |p: &Path| p.display().to_string();
        [
            format!("File reception completed for session {}", self.session_id),
            format!(
                "Received: {} bytes in {:.2}s (actual reception: {:.2}s)",
                f.bytes, f.total_secs, f.reception_secs
            ),
            format!(
                "Segments: {} total ({} video, {} audio)",
                f.total_segments, f.video_segments, f.audio_segments
            ),
            format!(
                "Performance: {:.1}Mbps overall, {:.1}Mbps peak, avg {:.2}ms/segment",
                f.overall_mbps, f.peak_mbps, f.avg_segment_ms
            ),
            format!(
                "Files: {} ({}), {} (statistics), {} (summary)",
                name(&self.output),
                if self.sha256_ok {
                    "verified"
                } else {
                    "unverified"
                },
                name(&self.debug_file),
                name(&self.report_file)
            ),
        ]
    }

    /// Writes the rendered report to its file.
    pub fn write(&self) -> io::Result<()> {
        std::fs::write(&self.report_file, self.render())
    }
}

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_the_specification_definitions() {
        let t0 = Instant::now();
        let mut stats = ReceptionStats::new(t0, SystemTime::UNIX_EPOCH);
        // Two segments: 1 MB in 10 ms ending at +110 ms, 1 MB in 20 ms ending at +210 ms.
        let r1 = stats.record(
            SegmentKind::Video,
            1_000_000,
            Duration::from_millis(10),
            t0 + Duration::from_millis(110),
        );
        stats.record(
            SegmentKind::Audio,
            1_000_000,
            Duration::from_millis(20),
            t0 + Duration::from_millis(210),
        );
        assert!((r1 - 800.0).abs() < 1e-6);
        let f = stats.figures(t0 + Duration::from_millis(500));
        assert_eq!(f.started_at, "1970-01-01T00:00:00Z");
        assert!((f.total_secs - 0.5).abs() < 1e-9);
        assert_eq!(f.first_segment_secs, Some(0.11), "the first segment stored");
        assert!(
            (f.reception_secs - 0.11).abs() < 1e-9,
            "from +100 ms to +210 ms"
        );
        assert_eq!(
            (f.video_segments, f.audio_segments, f.total_segments),
            (1, 1, 2)
        );
        assert!((f.peak_mbps - 800.0).abs() < 1e-6);
        assert!((f.avg_segment_ms - 15.0).abs() < 1e-9);
        assert!((f.efficiency_pct - 22.0).abs() < 1e-9);
        assert!((f.overall_mbps - 16.0 / 0.11).abs() < 1e-6);
    }
}
