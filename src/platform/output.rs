//! One transfer's output on disk: the received file, its `.debug` log, the reception
//! figures, and the `.report` written when the machine gives its verdict.

use crate::session::{TransferOutcome, TransferStatus};
use crate::store::{
    DebugLog, DiskBudget, FinishedFile, OutputPaths, Placement, ReceivedFile, ReceptionFigures,
    ReceptionReport, ReceptionStats, SegmentKind, SegmentRecord,
};
use crate::wire::{FileRequestAck, SegmentHeader};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Where a stream task writes a fixed-size segment itself: the file, the segment's offset,
/// and the disk budget to charge.
pub(super) struct DirectTarget {
    pub(super) file: Arc<std::fs::File>,
    pub(super) offset: u64,
    pub(super) budget: Option<Arc<DiskBudget>>,
}

/// Bookkeeping of one transfer being received.
pub(super) struct TransferOutput {
    pub(super) ack: FileRequestAck,
    pub(super) paths: OutputPaths,
    file: Option<ReceivedFile>,
    debug: DebugLog,
    stats: ReceptionStats,
}

impl TransferOutput {
    /// Creates the file and its `.debug` under `out_dir/<session>/`.
    pub(super) fn open(
        out_dir: &Path,
        session_id: &str,
        (ack, placement): (FileRequestAck, Placement),
        budget: Option<Arc<DiskBudget>>,
        requested_at: Instant,
        requested_wall: SystemTime,
    ) -> io::Result<Self> {
        let paths = OutputPaths::new(out_dir, session_id, &ack.file_path);
        let mut file = ReceivedFile::create(&paths.file, placement, ack.start_segment)?;
        file.set_budget(budget);
        let debug = DebugLog::create(&paths.debug)?;
        Ok(TransferOutput {
            ack,
            paths,
            file: Some(file),
            debug,
            stats: ReceptionStats::new(requested_at, requested_wall),
        })
    }

    /// Writes one segment's data at `index`, records its `.debug` line and figures, and
    /// logs the receiver's line.
    pub(super) fn write(
        &mut self,
        header: &SegmentHeader,
        index: u32,
        data: &[u8],
        receive_time: Duration,
        now: Instant,
    ) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("output already finished"));
        };
        file.note_timestamp(index, header.timestamp());
        file.write_segment(index, data)?;
        self.record(header, index, data.len() as u64, receive_time, now)
    }

    /// Writes a playable MP4 copy beside the file as well (D76), when `container` asks
    /// for one and segments come in order (frame, GOP and time modes).
    pub(super) fn attach_container(&mut self, container: crate::store::container::Container) {
        if let Some(file) = self.file.as_mut() {
            file.attach_mp4(container);
        }
    }

    /// A seek moved the range to start at `index`: see [`ReceivedFile::restart_at`].
    pub(super) fn restart_at(&mut self, index: u32) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.restart_at(index),
            None => Ok(()),
        }
    }

    /// Where a stream task may write segment `index` itself as its data arrives (fixed-size
    /// placement), so that received data never queues in the connection's task.
    pub(super) fn direct_target(&self, index: u32) -> Option<DirectTarget> {
        let file = self.file.as_ref()?;
        let (file_handle, offset) = file.direct_target(index)?;
        Some(DirectTarget {
            file: file_handle,
            offset,
            budget: file.budget(),
        })
    }

    /// A segment a stream task wrote at its direct target: digest, `.debug`, figures, log.
    pub(super) fn record_written(
        &mut self,
        header: &SegmentHeader,
        index: u32,
        len: u64,
        receive_time: Duration,
        now: Instant,
    ) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("output already finished"));
        };
        file.mark_written(index, len)?;
        self.record(header, index, len, receive_time, now)
    }

    fn record(
        &mut self,
        header: &SegmentHeader,
        index: u32,
        len: u64,
        receive_time: Duration,
        now: Instant,
    ) -> io::Result<()> {
        let (kind, frame_count) = match header {
            SegmentHeader::Video(v) => (SegmentKind::Video, v.frame_count),
            SegmentHeader::Audio(_) => (SegmentKind::Audio, 0),
        };
        let flags = header.flags();
        self.debug.record(&SegmentRecord {
            kind,
            index,
            id: &header.id().to_string(),
            timestamp: header.timestamp(),
            size: len,
            receive_time,
            frame_count,
            flags: &flags.to_string(),
            arrived_at: crate::net::system_time(),
        })?;
        let rate = self.stats.record(kind, len, receive_time, now);
        tracing::debug!(
            "Received {} segment {:.3}s ({} bytes, {:.2}ms, {:.1}Mbps) to {}",
            kind.lowercase(),
            header.timestamp(),
            len,
            receive_time.as_secs_f64() * 1000.0,
            rate,
            self.paths.file.display()
        );
        Ok(())
    }

    /// The reception figures so far.
    pub(super) fn figures(&self, now: Instant) -> ReceptionFigures {
        self.stats.figures(now)
    }

    /// Finishes the file (flush, digest). The output stays for [`TransferOutput::report`].
    pub(super) fn finish(&mut self) -> FinishedFile {
        let _ = self.debug.flush();
        match self.file.take().map(ReceivedFile::finish) {
            Some(Ok(finished)) => finished,
            Some(Err(e)) => {
                tracing::error!("cannot finish {}: {e}", self.paths.file.display());
                self.unfinished()
            }
            None => self.unfinished(),
        }
    }

    fn unfinished(&self) -> FinishedFile {
        FinishedFile {
            path: self.paths.file.clone(),
            size: 0,
            checksum: None,
        }
    }

    /// The report of the finished transfer, with the machine's verdict and counts
    /// (`status`); written to its file and logged in the specification's five lines.
    pub(super) fn report(
        &self,
        session_id: &str,
        outcome: TransferOutcome,
        file: &FinishedFile,
        sha256_ok: bool,
        status: Option<&TransferStatus>,
        now: Instant,
    ) -> ReceptionReport {
        let report = ReceptionReport {
            file_path: self.ack.file_path.clone(),
            session_id: session_id.to_string(),
            transfer_id: self.ack.transfer_id.to_string(),
            outcome: match outcome {
                TransferOutcome::Failed(code) => format!("failed ({code})"),
                other => other.name().to_string(),
            },
            figures: self.stats.figures(now),
            frames: status.map_or(0, |s| s.frames),
            keyframes: status.map_or(0, |s| s.keyframes),
            file_segments: self.ack.total_segments,
            index_ranges: status.map_or_else(Vec::new, |s| s.index_ranges.clone()),
            media_ranges: status.map_or_else(Vec::new, |s| s.media_ranges.clone()),
            client_statistics: status.and_then(|s| s.client_statistics.clone()),
            expected_checksum: self.ack.checksum.clone(),
            actual_checksum: file.checksum.clone(),
            sha256_ok,
            output: self.paths.file.clone(),
            debug_file: self.paths.debug.clone(),
            report_file: self.paths.report.clone(),
        };
        if let Err(e) = report.write() {
            tracing::error!("cannot write {}: {e}", self.paths.report.display());
        }
        for line in report.log_lines() {
            tracing::info!("{line}");
        }
        report
    }
}
